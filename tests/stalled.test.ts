import { describe, expect, it } from "vitest";
import { as, call, createLead, expectError, expectOk, signup } from "./support/api.ts";
import { setLeadScore } from "./support/db.ts";

type Client = ReturnType<typeof as>;
const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();

async function workspace() {
  const ws = await signup();
  return { ws, client: as(ws) };
}
/** A lead in a stage whose last touch was `idleDays` ago (a backdated touchpoint). */
async function idleLead(client: Client, stage: string, idleDays: number, overrides: Record<string, unknown> = {}): Promise<string> {
  const id = await createLead(client, { stage, ...overrides });
  expectOk(await client.post("/touchpoints", { leadId: id, type: "email", occurredAt: daysAgo(idleDays) }), 201);
  return id;
}
const stalled = async (client: Client, query = "") => expectOk(await client.get(`/leads/stalled${query}`));
const stalledIds = async (client: Client) => (await stalled(client)).leads.map((l: { leadId: string }) => l.leadId);

describe("GET /leads/stalled", () => {
  it("lists nothing in a new workspace and says how to tighten a threshold", async () => {
    const { client } = await workspace();
    const body = await stalled(client);
    expect(body).toMatchObject({ leads: [], total: 0, limit: 50, offset: 0, warnings: [] });
    expect(body.next_steps[0]).toMatch(/stallAfterDays/);
  });

  it("reports a lead idle past its stage's threshold with why, what to do and how urgently", async () => {
    const { client } = await workspace();
    const id = await idleLead(client, "Prospects", 10, { firstName: "Ada", lastName: "Lovelace", email: "ada-stalled@example.com" });
    const body = await stalled(client);
    expect(body.total).toBe(1);
    expect(body.leads[0]).toEqual({
      leadId: id, name: "Ada Lovelace", email: "ada-stalled@example.com", stage: "Prospects", stageId: expect.stringMatching(/^stg_/),
      daysSinceTouch: 10, stalledReason: 'No touch for 10 days; "Prospects" stalls after 7 days',
      suggestedAction: "send_follow_up_email", priority: "medium",
    });
    expect(body.next_steps).toContain(`After acting, POST /api/openclaw/touchpoints { "leadId": "${id}", "type": "email" } clears it from this list`);
  });

  it("does not list a lead touched within its stage's threshold", async () => {
    const { client } = await workspace();
    await idleLead(client, "Prospects", 6);
    await idleLead(client, "Engaged", 2);
    expect((await stalled(client)).total).toBe(0);
  });

  it("calls late-stage and hot leads, breaks up with long-idle ones, and sorts by priority then most overdue", async () => {
    const { client } = await workspace();
    const followUp = await idleLead(client, "Leads", 6);
    const breakup = await idleLead(client, "Leads", 16);
    const lateStage = await idleLead(client, "Negotiated", 4);
    const lateStageOlder = await idleLead(client, "Contacted", 9);
    const hot = await idleLead(client, "Prospects", 40);
    await setLeadScore(hot, 85, "hot");
    const body = await stalled(client);
    expect(body.leads.map((l: { leadId: string }) => l.leadId)).toEqual([hot, lateStageOlder, lateStage, followUp, breakup]);
    const byId = Object.fromEntries(body.leads.map((l: { leadId: string }) => [l.leadId, l]));
    expect(byId[hot]).toMatchObject({ suggestedAction: "check_in_call", priority: "high", stalledReason: expect.stringContaining("hot lead (score 85)") });
    expect(byId[lateStage]).toMatchObject({ suggestedAction: "check_in_call", priority: "high", stalledReason: expect.stringContaining("late in the pipeline") });
    expect(byId[followUp]).toMatchObject({ suggestedAction: "send_follow_up_email", priority: "medium" });
    expect(byId[breakup]).toMatchObject({ suggestedAction: "send_breakup_email", priority: "low", stalledReason: expect.stringContaining("over 3x that (15 days)") });
  });

  it("never lists won, lost or deleted leads", async () => {
    const { client } = await workspace();
    await idleLead(client, "Closed Won", 60);
    await idleLead(client, "Closed Lost", 60);
    await idleLead(client, "Prospects", 60, { status: "Won" });
    await idleLead(client, "Prospects", 60, { status: "lost" });
    const gone = await idleLead(client, "Prospects", 60);
    expectOk(await client.delete(`/leads/${gone}`));
    expect((await stalled(client)).total).toBe(0);
  });

  it("drops a lead as soon as a touchpoint is logged", async () => {
    const { client } = await workspace();
    const id = await idleLead(client, "Engaged", 5);
    expect(await stalledIds(client)).toEqual([id]);
    expectOk(await client.post("/touchpoints", { leadId: id, type: "call" }), 201);
    expect(await stalledIds(client)).toEqual([]);
  });

  it("follows the stage's stallAfterDays: a shorter one stalls sooner, null never stalls", async () => {
    const { client } = await workspace();
    const id = await idleLead(client, "Prospects", 3);
    expect(await stalledIds(client)).toEqual([]);
    expectOk(await client.put("/stages", { id: "Prospects", stallAfterDays: 2 }));
    expect(await stalledIds(client)).toEqual([id]);
    expect((await stalled(client)).leads[0].stalledReason).toMatch(/stalls after 2 days/);
    expectOk(await client.put("/stages", { id: "Prospects", stallAfterDays: null }));
    expect(await stalledIds(client)).toEqual([]);
  });

  it("pages with limit and offset, totals every stalled lead and caps the limit", async () => {
    const { client } = await workspace();
    const newest = await idleLead(client, "Prospects", 8);
    const older = await idleLead(client, "Prospects", 9);
    const oldest = await idleLead(client, "Prospects", 10);
    const first = await stalled(client, "?limit=2");
    expect(first.leads.map((l: { leadId: string }) => l.leadId)).toEqual([oldest, older]);
    expect(first).toMatchObject({ total: 3, limit: 2, offset: 0 });
    expect(first.next_steps).toContain("GET /api/openclaw/leads/stalled?offset=2&limit=2 for the next page");
    const second = await stalled(client, "?limit=2&offset=2");
    expect(second.leads.map((l: { leadId: string }) => l.leadId)).toEqual([newest]);
    expect(second.total).toBe(3);
    expect(await stalled(client, "?offset=10")).toMatchObject({ leads: [], total: 3 });
    const capped = await stalled(client, "?limit=1000");
    expect(capped.limit).toBe(200);
    expect(capped.warnings).toEqual(["limit capped at 200"]);
  });

  it("shows each workspace only its own stalled leads", async () => {
    const a = await workspace();
    const b = await workspace();
    const id = await idleLead(a.client, "Prospects", 30);
    expect(await stalledIds(a.client)).toEqual([id]);
    expect(await stalledIds(b.client)).toEqual([]);
  });

  it("refuses a bad page with 400 and no key with 401", async () => {
    const { client } = await workspace();
    expect(expectError(await client.get("/leads/stalled?limit=0"), 400, "invalid_request").fields[0].field).toBe("limit");
    expect(expectError(await client.get("/leads/stalled?offset=-1"), 400, "invalid_request").fields[0].field).toBe("offset");
    expectError(await call("GET", "/leads/stalled"), 401, "missing_api_key");
  });
});
