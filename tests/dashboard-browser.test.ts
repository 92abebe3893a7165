// The dashboard in a real browser: headless Chromium (Debian's chromium, driven by
// playwright-core, as tests/proposal-browser.test.ts). A person is invited, follows the link
// from the mail catcher, signs in and works the pipeline board; a viewer's move is refused by
// the database; another org's lead is not found; a lead named like an XSS payload stays text;
// a form another site posts is refused; signing out ends the session. Every page answers with
// the strict CSP and loads nothing from another origin. The board and analytics screenshots in
// docs/screenshots/ (shown by README) are written here: UPDATE_SCREENSHOTS=1 npx vitest run
// tests/dashboard-browser.test.ts (with the test database up, as npm test leaves it).
import { mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { as, baseUrl, createLead, expectError, expectOk, signup, uniqueEmail, type Workspace } from "./support/api.ts";
import { asSession, mailFor, type Mailbox, openMailbox, sessionCookieIn, signInLink } from "./support/sessions.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
// Every run takes them; they land in docs/screenshots/ only
// when asked (UPDATE_SCREENSHOTS=1), since each run's workspace, names and dates differ.
const SCREENSHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)),
  process.env.UPDATE_SCREENSHOTS === "1" ? "../docs/screenshots" : "../.local/screenshots");
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

if (!available && !process.env.CI) {
  console.warn(`[dashboard-browser] skipped: no chromium at ${CHROMIUM}. Install it with \`sudo bash scripts/browser.sh install\` (CI installs it and never skips).`);
}

/** What a page did that it must not: dialogs (a script that ran), requests to other origins, CSP violations. */
function watch(page: Page) {
  const seen = { dialogs: [] as string[], foreign: [] as string[], violations: [] as string[] };
  const own = new URL(baseUrl()).origin;
  page.on("dialog", (d) => { seen.dialogs.push(d.message()); void d.dismiss(); });
  page.on("request", (r) => { if (!r.url().startsWith("data:") && new URL(r.url()).origin !== own) seen.foreign.push(r.url()); });
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) seen.violations.push(m.text()); });
  return seen;
}

describe.skipIf(!available && !process.env.CI)("the dashboard in headless Chromium", () => {
  let browser: Browser;
  let mailbox: Mailbox;
  let ws: Workspace;
  let stages: { id: string; name: string }[];

  beforeAll(async () => {
    if (!available) throw new Error(`CI needs chromium at ${CHROMIUM}: run \`bash scripts/browser.sh install\` as root before the tests.`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    mailbox = await openMailbox();
    ws = await signup({ workspace_name: "Harbor Growth" });
    stages = expectOk(await as(ws).get("/stages")).stages;
  });
  afterAll(async () => {
    await browser?.close();
    await mailbox?.close();
  });

  const stageNamed = (name: string) => stages.find((s) => s.name === name)!;

  /** Invites `email` as `role`, takes the invitation's link from the mail catcher, and signs in with it in a new browser context. */
  async function signInAs(role: string, email = uniqueEmail(role)): Promise<{ context: BrowserContext; page: Page; seen: ReturnType<typeof watch>; email: string }> {
    const mail = await mailFor(mailbox, email, /^You are invited to /, async (attempt) => {
      if (attempt === 0) expectOk(await as(ws).post("/members", { email, role }), 201);
      else await as(ws).post("/auth/sign-in", { email });
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // Fail a missing element well before the test's own timeout.
    context.setDefaultTimeout(8_000);
    const page = await context.newPage();
    const seen = watch(page);
    await page.goto(signInLink(mail).url);
    await Promise.all([page.waitForURL(`${baseUrl()}/app/`), page.getByRole("button", { name: "Sign in" }).click()]);
    return { context, page, seen, email };
  }

  it("invite → mailed link → sign in → the board shows the org's leads → move a lead → its history shows the move", async () => {
    const adaId = await createLead(as(ws), { firstName: "Ada", lastName: "Lovelace", companyName: "Analytical Engines", tier: "high" });
    const graceId = await createLead(as(ws), { firstName: "Grace", lastName: "Hopper", companyName: "Compilers Inc", tier: "medium" });
    const { context, page, seen, email } = await signInAs("member");

    const board = await page.reload();
    expect(board!.status()).toBe(200);
    expect(board!.headers()["content-security-policy"]).toBe(CSP);
    const prospects = page.locator(`section[data-stage-id="${stageNamed("Prospects").id}"]`);
    const adaCard = prospects.locator(`article[data-lead-id="${adaId}"]`);
    await expect(adaCard.locator("h3").textContent()).resolves.toBe("Ada Lovelace");
    expect(await adaCard.locator(".company").textContent()).toBe("Analytical Engines");
    expect(await adaCard.locator(".touch").textContent()).toBe("0 days since touch");
    expect(await prospects.locator(`article[data-lead-id="${graceId}"]`).count()).toBe(1);
    expect(Number(await prospects.locator("h2 .count").textContent())).toBe(2);
    await mkdir(SCREENSHOTS, { recursive: true });

    // Filters: by tier, then by search.
    await page.getByLabel("Tier").selectOption("medium");
    await Promise.all([page.waitForURL(/tier=medium/), page.getByRole("button", { name: "Filter" }).click()]);
    expect(await page.locator("article[data-lead-id]").evaluateAll((cards) => cards.map((c) => c.getAttribute("data-lead-id")))).toEqual([graceId]);
    await page.goto(`${baseUrl()}/app/?q=lovelace`);
    expect(await page.locator("article[data-lead-id]").evaluateAll((cards) => cards.map((c) => c.getAttribute("data-lead-id")))).toEqual([adaId]);
    await page.goto(`${baseUrl()}/app/`);

    // Move Ada from Prospects to Engaged, on the board.
    const engaged = stageNamed("Engaged");
    await page.locator(`article[data-lead-id="${adaId}"] select[name="stage"]`).selectOption(engaged.id);
    await page.locator(`article[data-lead-id="${adaId}"]`).getByRole("button", { name: "Move" }).click();
    await page.locator(`section[data-stage-id="${engaged.id}"] article[data-lead-id="${adaId}"]`).waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, "board.png"), fullPage: true });

    // Recorded like any other move: the stage history, by this member.
    const { history } = expectOk(await as(ws).get(`/stages/history?leadId=${adaId}`));
    const members = expectOk(await as(ws).get("/members")).members as { id: string; email: string }[];
    expect(history[0]).toMatchObject({ fromStage: "Prospects", toStage: "Engaged", changedBy: members.find((m) => m.email === email)!.id });

    // The lead page shows it in the timeline.
    await Promise.all([page.waitForURL(`${baseUrl()}/app/leads/${adaId}`), page.getByRole("link", { name: "Ada Lovelace" }).click()]);
    expect(await page.locator("#current-stage").textContent()).toBe("Engaged");
    expect(await page.locator("#timeline li.stage").first().textContent()).toContain("Prospects → Engaged");

    // Notes: add one, then pin it.
    await page.getByLabel("New note").fill("Prefers email; call after the board meeting.");
    await page.getByRole("button", { name: "Add note" }).click();
    await page.locator("#notes li", { hasText: "Prefers email" }).getByRole("button", { name: "Pin" }).click();
    await page.locator("#notes li.pinned", { hasText: "Prefers email" }).waitFor();
    const { notes } = expectOk(await as(ws).get(`/notes?leadId=${adaId}`));
    expect(notes).toMatchObject([{ content: "Prefers email; call after the board meeting.", pinned: true }]);

    // Analytics: the charts are drawn by the chart library the app serves.
    const analytics = await page.goto(`${baseUrl()}/app/analytics`);
    expect(analytics!.headers()["content-security-policy"]).toBe(CSP);
    await page.waitForFunction(() => document.documentElement.dataset.chartsDrawn === "true");
    expect(await page.locator("canvas[data-chart]").count()).toBe(4);
    await page.screenshot({ path: path.join(SCREENSHOTS, "analytics.png"), fullPage: true });

    for (const page of ["stalled", "campaigns", "settings"]) {
      const res = await context.pages()[0]!.goto(`${baseUrl()}/app/${page}`);
      expect(res!.status(), page).toBe(200);
      expect(res!.headers()["content-security-policy"], page).toBe(CSP);
    }
    expect(seen).toEqual({ dialogs: [], foreign: [], violations: [] });
    await context.close();
  });

  it("a viewer cannot move a lead: the database refuses and the page shows why", async () => {
    const leadId = await createLead(as(ws), { firstName: "Vera", lastName: "Viewer" });
    const { context, page, seen } = await signInAs("viewer");
    expect(await page.locator(".notice").textContent()).toContain("You are a viewer");
    const target = stageNamed("Contacted");
    await page.locator(`article[data-lead-id="${leadId}"] select[name="stage"]`).selectOption(target.id);
    await page.locator(`article[data-lead-id="${leadId}"]`).getByRole("button", { name: "Move" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/viewer/i);
    expect(expectOk(await as(ws).get(`/leads/${leadId}`)).lead.stage).toBe("Prospects");
    expect(seen).toEqual({ dialogs: [], foreign: [], violations: [] });
    await context.close();
  });

  it("another org's lead id in the URL is a 404", async () => {
    const other = await signup();
    const theirs = await createLead(as(other), { firstName: "Secret", lastName: "Elsewhere" });
    const { context, page } = await signInAs("admin");
    const res = await page.goto(`${baseUrl()}/app/leads/${theirs}`);
    expect(res!.status()).toBe(404);
    expect(await page.locator("main").textContent()).toContain(`Lead ${theirs} does not exist in this workspace`);
    expect(await page.content()).not.toContain("Secret");
    await context.close();
  });

  it("a lead named with HTML and script is shown as text and runs nothing", async () => {
    const firstName = "<img src=x onerror=alert(1)>";
    const lastName = "<script>alert(2)</script>";
    const leadId = await createLead(as(ws), { firstName, lastName, companyName: "\"><svg onload=alert(3)>" });
    const { context, page, seen } = await signInAs("member");
    const card = page.locator(`article[data-lead-id="${leadId}"]`);
    expect(await card.locator("h3").textContent()).toBe(`${firstName} ${lastName}`);
    expect(await card.locator(".company").textContent()).toBe("\"><svg onload=alert(3)>");
    await page.goto(`${baseUrl()}/app/leads/${leadId}`);
    expect(await page.locator("h1").textContent()).toBe(`${firstName} ${lastName}`);
    expect(await page.locator("main img, main svg").count()).toBe(0);
    // Only our own script tag (and none of the page's content) is a script.
    expect(await page.locator("script:not([type='application/json'])").count()).toBe(1);
    expect(seen).toEqual({ dialogs: [], foreign: [], violations: [] });
    await context.close();
  });

  it("refuses a form another site posts with the session cookie", async () => {
    const leadId = await createLead(as(ws), { firstName: "Target", lastName: "Lead" });
    const { context, page } = await signInAs("member");
    // Another site: a page on another port of the same host (the cookie goes along: same site).
    const target = `${baseUrl()}/api/openclaw/notes`;
    const server: Server = createServer((_req, res) => {
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><form method="post" action="${target}"><input name="leadId" value="${leadId}"><input name="content" value="forged"><button>Go</button></form>`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      const [response] = await Promise.all([page.waitForResponse(target), page.getByRole("button", { name: "Go" }).click()]);
      expect(response.status()).toBe(403);
      expect((await response.json()).error.code).toBe("cross_site_request");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(expectOk(await as(ws).get(`/notes?leadId=${leadId}`)).notes).toEqual([]);
    await context.close();
  });

  it("signing out ends the session: the dashboard sends the browser to sign in again", async () => {
    const { context, page } = await signInAs("member");
    const cookie = (await context.cookies()).find((c) => c.name === "openclaw_session")!;
    await Promise.all([page.waitForURL(`${baseUrl()}/api/openclaw/auth/sign-in`), page.getByRole("button", { name: "Sign out" }).click()]);
    await page.goto(`${baseUrl()}/app/`);
    expect(page.url()).toBe(`${baseUrl()}/api/openclaw/auth/sign-in`);
    // The old cookie no longer works anywhere, even replayed.
    const session = { cookie: `${cookie.name}=${cookie.value}`, token: cookie.value, csrfToken: "", orgId: ws.orgId, memberId: "", role: "member", sessionId: "" };
    expectError(await asSession(session).get("/auth/session"), 401, "session_ended");
    await context.close();
  });

  it("sends signed-out visitors to the sign-in page", async () => {
    const res = await fetch(`${baseUrl()}/app/leads/rp_000000000000000000000000`, { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get("location")!, res.url).href).toBe(`${baseUrl()}/api/openclaw/auth/sign-in`);
    const root = await fetch(`${baseUrl()}/app`, { redirect: "manual" });
    expect(new URL(root.headers.get("location")!, `${baseUrl()}/app`).href).toBe(`${baseUrl()}/app/`);
    expect(sessionCookieIn(res)).toBeUndefined();
  });
});
