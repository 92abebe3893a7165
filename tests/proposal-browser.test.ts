// A real browser on a proposal page: headless Chromium (Debian's chromium, driven by
// playwright-core) opens a lead's page, scrolls through it, plays the video, clicks the
// CTA; the beacon's reports must show up in the rollup agents read, in the lead's
// engagement and as engagement events, raise the lead's score and fire an automation rule.
// A lead named like an XSS payload stays text.
import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { as, baseUrl, expectOk, lead, signup, type Workspace } from "./support/api.ts";
import { leadEngagement, leadEvents } from "./support/db.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
// Headless Chromium says "HeadlessChrome", which the tracking rules treat as a bot: the
// test browses as a person's desktop Chrome would.
const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

if (!available && !process.env.CI) {
  console.warn(`[proposal-browser] skipped: no chromium at ${CHROMIUM}. Install it with \`sudo bash scripts/browser.sh install\` (CI installs it and never skips).`);
}

describe.skipIf(!available && !process.env.CI)("a proposal page in headless Chromium", () => {
  let browser: Browser;
  let ws: Workspace;

  beforeAll(async () => {
    if (!available) throw new Error(`CI needs chromium at ${CHROMIUM}: run \`bash scripts/browser.sh install\` as root before the tests.`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    ws = await signup();
    // The CTA defaults to the booking link: one on this server, so the click lands somewhere real.
    expectOk(await as(ws).post("/setup", { org: { name: "Northwind Growth", primaryColor: "#0B5FFF", bookingLink: `${baseUrl()}/api/openclaw/health` } }));
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function mobileContext(): Promise<BrowserContext> {
    return browser.newContext({ userAgent: USER_AGENT, viewport: { width: 390, height: 640 }, isMobile: true, hasTouch: true });
  }

  const pathOf = (url: string) => new URL(url).pathname + new URL(url).search;
  const rollup = async (leadId: string) => expectOk(await as(ws).get(`/api/tracking/proposal?leadId=${leadId}`));

  it("tracks a visit: view, every section, the video to 100 %, time on page and the CTA click; score and automation follow", async () => {
    const { id: leadId, lead: created } = expectOk(await as(ws).post("/leads", lead({ firstName: "Maya", companyName: "Harbor Pediatrics", title: "COO" })), 201);
    const rule = expectOk(await as(ws).post("/automation/rules", {
      name: "Clicked the proposal's CTA", triggerEvent: "cta_clicked", targetStage: "Engaged", priority: 10,
    }), 201);
    const scoreBefore = created.score as number;
    const long = Array.from({ length: 6 }, (_, i) => `Paragraph ${i + 1}: ${"details that take room on a phone screen. ".repeat(8)}`).join("\n\n");
    expectOk(await as(ws).put("/proposals", { leadId, content: {
      hero: { headline: "Fewer no-shows at Harbor Pediatrics" },
      problem: { body: long, points: ["18 % no-show rate", "Front desk on the phone all day"] },
      offer: { body: long, points: ["Two-way SMS reminders", "Waitlist autofill"] },
      pricing: { body: "One plan, cancel any time.", items: [{ name: "Clinic", price: "$390/month" }] },
      // Never fetched successfully (.invalid): the test drives playback events itself.
      video: { url: "https://video.invalid/tour.mp4", title: "A 2-minute tour" },
      cta: { label: "Book your walkthrough" },
    } }));

    const context = await mobileContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
    const violations: string[] = [];
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });

    await page.goto(`${baseUrl()}${pathOf(created.proposalUrl)}`, { waitUntil: "load" });
    expect(await page.locator("h1").textContent()).toBe("Fewer no-shows at Harbor Pediatrics");
    await expect.poll(async () => (await rollup(leadId)).totalViews, { timeout: 10_000 }).toBe(1);

    // Scroll through the page, section by section, as a reader would.
    for (const section of ["problem", "offer", "pricing", "video", "cta"]) {
      await page.locator(`#${section}`).scrollIntoViewIfNeeded();
      await page.waitForTimeout(150);
    }
    await expect.poll(async () => (await rollup(leadId)).sectionsViewed, { timeout: 10_000 })
      .toEqual(["cta", "hero", "offer", "pricing", "problem", "video"]);

    // Deterministic playback: a 120 s video seeked through to the end.
    await page.locator("video").evaluate((video: HTMLVideoElement) => {
      let time = 0;
      Object.defineProperty(video, "duration", { configurable: true, get: () => 120 });
      Object.defineProperty(video, "currentTime", { configurable: true, get: () => time, set: (t: number) => { time = t; } });
      for (const t of [12, 31, 64, 95, 120]) {
        time = t;
        video.dispatchEvent(new Event("timeupdate"));
      }
      video.dispatchEvent(new Event("ended"));
    });
    await expect.poll(async () => (await rollup(leadId)).videoCompletion, { timeout: 10_000 }).toBe(100);

    await page.waitForTimeout(1200);
    await Promise.all([page.waitForURL(`${baseUrl()}/api/openclaw/health`), page.getByRole("link", { name: "Book your walkthrough" }).click()]);

    await expect.poll(async () => {
      const r = await rollup(leadId);
      return { views: r.totalViews, clicks: r.ctaClicks, timed: r.timeOnPage >= 1 };
    }, { timeout: 10_000 }).toEqual({ views: 1, clicks: 1, timed: true });
    expect(dialogs).toEqual([]);
    expect(violations).toEqual([]);
    await context.close();

    // What scoring, automation and campaign triggers see.
    const engagement = await leadEngagement(leadId);
    expect(engagement).toMatchObject({ proposal_views: 1, video_percent: 100, cta_clicks: 1 });
    expect(engagement!.proposal_seconds as number).toBeGreaterThanOrEqual(1);
    const events = (await leadEvents(leadId)).filter((e) => e.source === "proposal");
    // Beacons sent together may arrive in any order.
    expect(events.map((e) => e.type).sort()).toEqual(["cta_clicked", "proposal_viewed", "video_watched", "video_watched", "video_watched", "video_watched"]);
    expect(events[0]!.type).toBe("proposal_viewed");
    expect(events.filter((e) => e.type === "video_watched").map((e) => e.data.percent as number).sort((a, b) => a - b)).toEqual([25, 50, 75, 100]);
    expect(events.find((e) => e.type === "cta_clicked")!.data).toMatchObject({ cta: "Book your walkthrough", url: `${baseUrl()}/api/openclaw/health` });

    // The database reacted to those events: a higher score (view 5 + video 10 + click 5 points),
    // and the CTA rule moved the lead, with the rule in its stage history.
    const after = expectOk(await as(ws).get(`/leads/${leadId}`)).lead;
    expect(after.score).toBe(scoreBefore + 20);
    expect(after.stage).toBe("Engaged");
    const { history } = expectOk(await as(ws).get(`/stages/history?leadId=${leadId}`));
    expect(history[0]).toMatchObject({ toStage: "Engaged", source: "automation", ruleId: rule.id });
  });

  it("renders a lead named <img src=x onerror=alert(1)> as inert text", async () => {
    const payload = "<img src=x onerror=alert(1)>";
    const { id: leadId, lead: created } = expectOk(await as(ws).post("/leads", lead({ firstName: payload, lastName: "<script>alert(2)</script>", companyName: null, organizationName: null })), 201);
    const context = await mobileContext();
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
    const response = await page.goto(`${baseUrl()}${pathOf(created.proposalUrl)}`, { waitUntil: "load" });
    const html = await response!.text();
    expect(html).not.toContain(payload);
    expect(await page.locator("h1").textContent()).toBe(`A proposal for ${payload} <script>alert(2)</script>`);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.locator("script").count()).toBe(1);
    await page.waitForTimeout(500);
    expect(dialogs).toEqual([]);
    await expect.poll(async () => (await rollup(leadId)).totalViews, { timeout: 10_000 }).toBe(1);
    await context.close();
  });

  it("does not count the workspace's preview link", async () => {
    const { id: leadId } = expectOk(await as(ws).post("/leads", lead()), 201);
    const { proposal } = expectOk(await as(ws).get(`/proposals?leadId=${leadId}`));
    const context = await mobileContext();
    const page = await context.newPage();
    await page.goto(`${baseUrl()}${pathOf(proposal.previewUrl)}`, { waitUntil: "load" });
    expect(await page.getByRole("note").textContent()).toContain("not counted");
    await page.getByRole("link", { name: "Book a call" }).click();
    await page.waitForTimeout(500);
    await context.close();
    expect(await rollup(leadId)).toMatchObject({ totalViews: 0, ctaClicks: 0 });
  });
});
