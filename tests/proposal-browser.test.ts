// A real browser on a proposal page: headless Chromium (Debian's chromium, driven by
// playwright-core) opens a lead's page, scrolls through it, plays the video, clicks the
// CTA; the beacon's reports must show up in the rollup agents read, in the lead's
// engagement and as engagement events, raise the lead's score and fire an automation rule.
// A lead named like an XSS payload stays text.
import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { as, baseUrl, expectOk, lead, signup, type Workspace } from "./support/api.ts";
import { leadEngagement, leadEvents } from "./support/db.ts";
import { waitFor, within } from "./support/wait.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
// Headless Chromium says "HeadlessChrome", which the tracking rules treat as a bot: the
// test browses as a person's desktop Chrome would.
const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/** One report of the page's beacon (functions/proposals/beacon.ts). */
type BeaconReport = { kind: string; section?: string; percent?: number; seconds?: number };

/**
 * The beacon reports a page sends, and a way to wait for one: `answered(test, what)`
 * resolves once a matching report's response has arrived, that is once the server has
 * recorded it (app.track_proposal commits before the endpoint answers).
 */
function beaconOf(page: Page) {
  const sent: BeaconReport[] = [];
  const answered: BeaconReport[] = [];
  let waiting: { matches: (report: BeaconReport) => boolean; resolve: () => void }[] = [];
  const isBeacon = (url: string) => new URL(url).pathname.endsWith("/api/tracking/events");
  page.on("request", (request) => {
    if (isBeacon(request.url())) sent.push(JSON.parse(request.postData() ?? "{}"));
  });
  page.on("requestfinished", (request) => {
    if (!isBeacon(request.url())) return;
    const report: BeaconReport = JSON.parse(request.postData() ?? "{}");
    answered.push(report);
    const met = waiting.filter((waiter) => waiter.matches(report));
    waiting = waiting.filter((waiter) => !met.includes(waiter));
    for (const waiter of met) waiter.resolve();
  });
  return {
    sent,
    answered(matches: (report: BeaconReport) => boolean, what: string): Promise<void> {
      if (answered.some(matches)) return Promise.resolve();
      return within(new Promise<void>((resolve) => waiting.push({ matches, resolve })), { what: `the beacon's ${what} report to be recorded`, timeoutMs: 10_000 });
    },
  };
}

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
    // The page's clock is simulated, so time on the page passes without the test sleeping.
    await context.clock.install();
    const page = await context.newPage();
    const beacon = beaconOf(page);
    const dialogs: string[] = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
    const violations: string[] = [];
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });

    await page.goto(`${baseUrl()}${pathOf(created.proposalUrl)}`, { waitUntil: "load" });
    expect(await page.locator("h1").textContent()).toBe("Fewer no-shows at Harbor Pediatrics");
    await beacon.answered((r) => r.kind === "view", "view");
    expect((await rollup(leadId)).totalViews).toBe(1);

    // Scroll through the page, section by section, as a reader would: each section is
    // reported once it has been in view, before the reader moves on.
    await beacon.answered((r) => r.kind === "section" && r.section === "hero", "hero section");
    for (const section of ["problem", "offer", "pricing", "video", "cta"]) {
      await page.locator(`#${section}`).scrollIntoViewIfNeeded();
      await beacon.answered((r) => r.kind === "section" && r.section === section, `${section} section`);
    }
    expect((await rollup(leadId)).sectionsViewed).toEqual(["cta", "hero", "offer", "pricing", "problem", "video"]);

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
    for (const percent of [25, 50, 75, 100]) await beacon.answered((r) => r.kind === "video" && r.percent === percent, `video ${percent} %`);
    expect((await rollup(leadId)).videoCompletion).toBe(100);

    // The reader stays a while before clicking: over a second on the page's clock.
    await page.clock.fastForward(1_200);
    await Promise.all([page.waitForURL(`${baseUrl()}/api/openclaw/health`), page.getByRole("link", { name: "Book your walkthrough" }).click()]);
    // The click is reported as the browser leaves the page, which then never sees the answer:
    // the rollup is the only place to see it arrive.
    const r = await waitFor(async () => {
      const tracking = await rollup(leadId);
      return tracking.ctaClicks > 0 && tracking;
    }, { what: "the CTA click to reach the rollup", timeoutMs: 10_000 });
    expect({ views: r.totalViews, clicks: r.ctaClicks, timed: r.timeOnPage >= 1 }).toEqual({ views: 1, clicks: 1, timed: true });
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
    const beacon = beaconOf(page);
    const dialogs: string[] = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
    const response = await page.goto(`${baseUrl()}${pathOf(created.proposalUrl)}`, { waitUntil: "load" });
    const html = await response!.text();
    expect(html).not.toContain(payload);
    expect(await page.locator("h1").textContent()).toBe(`A proposal for ${payload} <script>alert(2)</script>`);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.locator("script").count()).toBe(1);
    // The view is the beacon script's last step: once it is recorded, everything on the page has run.
    await beacon.answered((r) => r.kind === "view", "view");
    expect(dialogs).toEqual([]);
    expect((await rollup(leadId)).totalViews).toBe(1);
    await context.close();
  });

  it("does not count the workspace's preview link", async () => {
    const { id: leadId } = expectOk(await as(ws).post("/leads", lead()), 201);
    const { proposal } = expectOk(await as(ws).get(`/proposals?leadId=${leadId}`));
    const context = await mobileContext();
    const page = await context.newPage();
    const beacon = beaconOf(page);
    await page.goto(`${baseUrl()}${pathOf(proposal.previewUrl)}`, { waitUntil: "load" });
    expect(await page.getByRole("note").textContent()).toContain("not counted");
    // A beacon would report the click before the browser leaves the page.
    const link = page.getByRole("link", { name: "Book a call" });
    const target = await link.getAttribute("href");
    await Promise.all([page.waitForURL(new URL(target!, page.url()).href), link.click()]);
    expect(beacon.sent).toEqual([]);
    await context.close();
    expect(await rollup(leadId)).toMatchObject({ totalViews: 0, ctaClicks: 0 });
  });
});
