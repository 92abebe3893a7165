// Proposal tracking over HTTP: the public beacon endpoint (text/plain JSON as sendBeacon
// sends it) and the rollup agents read at GET /api/tracking/proposal.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { as, call, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";

const BROWSER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
let ws: Workspace;
let other: Workspace;

beforeAll(async () => {
  [ws, other] = await Promise.all([signup(), signup()]);
});

const visitId = () => randomBytes(16).toString("hex");

/** A report as the page's beacon sends it: JSON in a text/plain body. */
function beacon(report: Record<string, unknown>, headers: Record<string, string> = {}) {
  return call("POST", "/api/tracking/events", undefined, {
    raw: JSON.stringify(report), headers: { "content-type": "text/plain;charset=UTF-8", "user-agent": BROWSER_UA, ...headers },
  });
}

async function newProposal(client: Workspace = ws) {
  const { id, lead: created } = expectOk(await as(client).post("/leads", lead()), 201);
  return { leadId: id as string, slug: created.proposalId as string };
}

const rollup = async (leadId: string, client: Workspace = ws) => expectOk(await as(client).get(`/api/tracking/proposal?leadId=${leadId}`));

describe("POST /api/tracking/events", () => {
  it("records a visit: view, time on page, sections, video milestones and CTA clicks", async () => {
    const { leadId, slug } = await newProposal();
    const visit = visitId();
    expect(expectOk(await beacon({ slug, visitId: visit, kind: "view" }))).toMatchObject({ recorded: true, firstView: true });
    expectOk(await beacon({ slug, visitId: visit, kind: "section", section: "hero" }));
    expectOk(await beacon({ slug, visitId: visit, kind: "section", section: "pricing" }));
    expectOk(await beacon({ slug, visitId: visit, kind: "section", section: "hero" }));
    expectOk(await beacon({ slug, visitId: visit, kind: "video", percent: 25 }));
    expectOk(await beacon({ slug, visitId: visit, kind: "video", percent: 50 }));
    expectOk(await beacon({ slug, visitId: visit, kind: "heartbeat", seconds: 2 }));
    expectOk(await beacon({ slug, visitId: visit, kind: "cta", label: "Book a call", url: "https://cal.example.com/x" }));
    const body = await rollup(leadId);
    expect(body).toMatchObject({ leadId, totalViews: 1, sectionsViewed: ["hero", "pricing"], videoCompletion: 50, ctaClicks: 1 });
    expect(body.timeOnPage).toBe(2);
    expect(Date.parse(body.lastViewedAt)).toBeGreaterThan(Date.now() - 60_000);
    // The same rollup rides along with the proposal.
    expect(expectOk(await as(ws).get(`/proposals?leadId=${leadId}`)).tracking).toEqual(
      { totalViews: 1, timeOnPage: 2, sectionsViewed: ["hero", "pricing"], videoCompletion: 50, ctaClicks: 1, lastViewedAt: body.lastViewedAt });
  });

  it("counts a visit once however often its view is reported, and a new page load as a new view", async () => {
    const { leadId, slug } = await newProposal();
    const visit = visitId();
    expect(expectOk(await beacon({ slug, visitId: visit, kind: "view" })).firstView).toBe(true);
    expect(expectOk(await beacon({ slug, visitId: visit, kind: "view" })).firstView).toBe(false);
    expect((await rollup(leadId)).totalViews).toBe(1);
    expectOk(await beacon({ slug, visitId: visitId(), kind: "view" }));
    expect((await rollup(leadId)).totalViews).toBe(2);
  });

  it("accepts application/json too", async () => {
    const { leadId, slug } = await newProposal();
    expectOk(await call("POST", "/api/tracking/events", { slug, visitId: visitId(), kind: "view" }, { headers: { "user-agent": BROWSER_UA } }));
    expect((await rollup(leadId)).totalViews).toBe(1);
  });

  it.each([
    ["Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"],
    ["headless Chrome", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36"],
    ["curl", "curl/8.5.0"],
    ["no user agent", ""],
  ])("does not count %s", async (_label, ua) => {
    const { leadId, slug } = await newProposal();
    expect(expectOk(await beacon({ slug, visitId: visitId(), kind: "view" }, { "user-agent": ua }))).toMatchObject({ recorded: false, reason: "bot" });
    expect((await rollup(leadId)).totalViews).toBe(0);
  });

  it("does not count the workspace's own requests (its API key), but does count a stranger's", async () => {
    const { leadId, slug } = await newProposal();
    expect(expectOk(await beacon({ slug, visitId: visitId(), kind: "view" }, { authorization: `Bearer ${ws.apiKey}` })))
      .toMatchObject({ recorded: false, reason: "preview" });
    expect(expectOk(await beacon({ slug, visitId: visitId(), kind: "view" }, { "x-api-key": other.apiKey }))).toMatchObject({ recorded: true });
    expect((await rollup(leadId)).totalViews).toBe(1);
  });

  it.each([
    [{ slug: undefined }, "invalid_request"],
    [{ visitId: "short" }, "invalid_request"],
    [{ kind: "dance" }, "invalid_request"],
    [{ kind: "section", section: "footer" }, "invalid_section"],
    [{ kind: "video", percent: 33 }, "invalid_percent"],
    [{ kind: "heartbeat" }, "invalid_seconds"],
  ])("refuses an invalid report (%j) with 400", async (change, code) => {
    const { slug } = await newProposal();
    expectError(await beacon({ slug, visitId: visitId(), kind: "view", ...change }), 400, code);
  });

  it("refuses a body that is not JSON, or too large", async () => {
    const bad = await call("POST", "/api/tracking/events", undefined, { raw: "not json", headers: { "content-type": "text/plain" } });
    expectError(bad, 400, "invalid_json");
    const { slug } = await newProposal();
    const big = await beacon({ slug, visitId: visitId(), kind: "cta", label: "x".repeat(150), url: "https://a.example/" + "y".repeat(1900) });
    expectError(big, 413, "payload_too_large");
  });

  it("answers 404 for an unknown slug and for an unpublished proposal", async () => {
    expectError(await beacon({ slug: "nobody-abcdefgh", visitId: visitId(), kind: "view" }), 404, "not_found");
    const { leadId, slug } = await newProposal();
    expectOk(await as(ws).put("/proposals", { leadId, published: false }));
    expectError(await beacon({ slug, visitId: visitId(), kind: "view" }), 404, "not_found");
  });

  it("refuses a visit id reused for another proposal", async () => {
    const [a, b] = await Promise.all([newProposal(), newProposal()]);
    const visit = visitId();
    expectOk(await beacon({ slug: a.slug, visitId: visit, kind: "view" }));
    expectError(await beacon({ slug: b.slug, visitId: visit, kind: "view" }), 409, "visit_conflict");
  });
});

describe("GET /api/tracking/proposal", () => {
  it("starts at zero", async () => {
    const { leadId } = await newProposal();
    expect(await rollup(leadId)).toMatchObject({ totalViews: 0, timeOnPage: 0, sectionsViewed: [], videoCompletion: 0, ctaClicks: 0, lastViewedAt: null });
  });

  it("answers 404 for another workspace's lead, 400 without leadId, 401 without a key", async () => {
    const { leadId } = await newProposal();
    expectError(await as(other).get(`/api/tracking/proposal?leadId=${leadId}`), 404, "not_found");
    const error = expectError(await as(ws).get("/api/tracking/proposal"), 400, "invalid_request");
    expect(error.hint).toContain("leadId");
    expectError(await call("GET", `/api/tracking/proposal?leadId=${leadId}`), 401, "missing_api_key");
  });

  it("is listed in the OpenAPI document", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    expect(doc.paths["/api/tracking/proposal"].get.responses["200"]).toBeDefined();
    expect(doc.paths["/api/tracking/events"].post.requestBody.content["text/plain"]).toBeDefined();
  });
});
