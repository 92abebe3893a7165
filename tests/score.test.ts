import { beforeAll, describe, expect, it } from "vitest";
import { as, createLead, createLeads, expectError, expectOk, signup, type Workspace } from "./support/api.ts";
import { setOrgTier } from "./support/db.ts";

let ws: Workspace;
let client: ReturnType<typeof as>;

beforeAll(async () => {
  ws = await signup();
  client = as(ws);
});


describe("POST /leads/score { leadId }", () => {
  it("answers the score, label, every factor with its points, and a suggested action", async () => {
    const leadId = await createLead(client, { tier: "high" });
    expectOk(await client.post("/events", { leadId, type: "quiz_completed", data: { score: 100 } }), 201);
    expectOk(await client.post("/events", { leadId, type: "proposal_viewed" }), 201);
    const body = expectOk(await client.post("/leads/score", { leadId }));
    expect(body).toMatchObject({ leadId, score: 46, label: "warm", suggestedAction: "follow_up" });
    expect(body.factors.map((f: { factor: string }) => f.factor)).toEqual(
      ["quiz_score", "tier", "proposal_views", "video_watched", "cta_click", "meeting_booked", "enrichment", "staleness"]);
    expect(body.factors[0]).toEqual({ factor: "quiz_score", points: 25, detail: "Quiz score 100/100" });
    expect(body.factors.find((f: { factor: string }) => f.factor === "video_watched")).toMatchObject({ points: 0 });
    expect(body.factors.reduce((sum: number, f: { points: number }) => sum + f.points, 0)).toBe(46);
  });

  it("is what the lead shows as score and scoreLabel", async () => {
    const leadId = await createLead(client);
    const { lead: fresh } = expectOk(await client.get(`/leads/${leadId}`));
    expect(fresh).toMatchObject({ score: 0, scoreLabel: "cold" });
    expectOk(await client.post("/events", { leadId, type: "meeting_booked" }), 201);
    const scored = expectOk(await client.post("/leads/score", { leadId }));
    const list = expectOk(await client.get("/leads?limit=200"));
    expect(list.leads.find((l: { id: string }) => l.id === leadId)).toMatchObject({ score: scored.score, scoreLabel: scored.label });
  });

  it("does not change the lead's updatedAt", async () => {
    const leadId = await createLead(client);
    const before = expectOk(await client.get(`/leads/${leadId}`)).lead.updatedAt;
    expectOk(await client.post("/events", { leadId, type: "cta_clicked" }), 201);
    expectOk(await client.post("/leads/score", { leadId }));
    expect(expectOk(await client.get(`/leads/${leadId}`)).lead.updatedAt).toBe(before);
  });

  it("answers 404 for another workspace's lead and for an unknown id", async () => {
    const leadId = await createLead(client);
    const other = as(await signup());
    expectError(await other.post("/leads/score", { leadId }), 404, "not_found");
    expectError(await client.post("/leads/score", { leadId: "rp_000000000000000000000000" }), 404, "not_found");
  });
});

describe("POST /leads/score { all: true }", () => {
  it("rescores every lead and answers the label distribution", async () => {
    const fresh = as(await signup());
    const ids = await createLeads(fresh, 3);
    expectOk(await fresh.post("/events", { leadId: ids[0], type: "quiz_completed", data: { score: 80 } }), 201);
    const body = expectOk(await fresh.post("/leads/score", { all: true }));
    expect(body).toMatchObject({ scored: 3, distribution: { hot: 0, warm: 0, cool: 1, cold: 2 } });
    expect(body.warnings).toEqual([]);
  });

  it("warns when the contract's cap of 500 would have applied, having rescored them all", async () => {
    const big = await signup();
    await setOrgTier(big.orgId, "pro");
    const bigClient = as(big);
    await createLeads(bigClient, 501, () => ({}), 50);
    const body = expectOk(await bigClient.post("/leads/score", { all: true }));
    expect(body.scored).toBe(501);
    expect(body.warnings).toEqual([expect.stringContaining("caps { all: true } at 500 leads; all 501 leads")]);
  }, 120_000);
});

describe("POST /leads/score refusals", () => {
  it("refuses both leadId and all, and neither, with a hint", async () => {
    const leadId = await createLead(client);
    const both = expectError(await client.post("/leads/score", { leadId, all: true }), 400, "invalid_request");
    expect(both.hint).toContain("{ \"all\": true }");
    expectError(await client.post("/leads/score", {}), 400, "invalid_request");
    expectError(await client.post("/leads/score", { all: false }), 400, "invalid_request");
    expectError(await client.post("/leads/score", { all: "yes" }), 400, "invalid_request");
  });

  it("needs an API key", async () => {
    expectError(await as({ ...ws, apiKey: "" }).post("/leads/score", { all: true }), 401);
  });
});
