import { describe, expect, it } from "vitest";
import { as, call, createLead, expectError, expectOk, signup } from "./support/api.ts";
import { setLeadScore } from "./support/db.ts";

type Client = ReturnType<typeof as>;
interface PlaybookView { id: string; name: string; tier: string | null; stage: string | null; stageId: string | null; steps: { order: number }[] }

const DEFAULTS = ["High-tier fast track", "Hot lead close", "Low-tier nurture", "Negotiation close", "New prospect opener",
  "Re-engagement", "Stalled revival", "Standard outreach"];

async function workspace() {
  const ws = await signup();
  return { ws, client: as(ws) };
}
const list = async (client: Client, query = ""): Promise<PlaybookView[]> => expectOk(await client.get(`/playbooks${query}`)).playbooks;
const names = (playbooks: PlaybookView[]) => playbooks.map((p) => p.name);
const recommend = async (client: Client, leadId: string) => expectOk(await client.post("/playbooks", { leadId }));
const steps = [
  { order: 2, channel: "call", delayDays: 2, action: "Call about the webinar" },
  { order: 1, channel: "email", delayDays: 0, action: "Send the recording", templateHint: "Link plus one takeaway." },
];

describe("GET /playbooks", () => {
  it("lists a new workspace's default playbooks by name, with their steps and the channels", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.get("/playbooks"));
    expect(names(body.playbooks)).toEqual(DEFAULTS);
    expect(body.total).toBe(8);
    expect(body.channels).toEqual(["email", "call", "linkedin", "sms", "meeting", "task"]);
    const negotiation = body.playbooks.find((p: PlaybookView) => p.name === "Negotiation close");
    expect(negotiation).toMatchObject({ id: expect.stringMatching(/^pb_[0-9a-f]{24}$/), tier: null, stage: "Negotiated", stageId: expect.stringMatching(/^stg_/), scoreLabel: null, stalled: null });
    expect(negotiation.steps[0]).toEqual({ order: 1, channel: "call", delayDays: 0, action: "Call to address open questions", templateHint: "Ask what would stop them signing this week." });
  });

  it("filters by tier and by stage (id or name), keeping the playbooks for any tier or stage", async () => {
    const { client } = await workspace();
    const high = names(await list(client, "?tier=HIGH"));
    expect(high).toContain("High-tier fast track");
    expect(high).toContain("Standard outreach");
    expect(high).not.toContain("Low-tier nurture");
    const negotiated = await list(client, "?stage=negotiated");
    expect(names(negotiated)).toContain("Negotiation close");
    expect(names(negotiated)).not.toContain("New prospect opener");
    const stageId = negotiated.find((p) => p.name === "Negotiation close")!.stageId!;
    expect(names(await list(client, `?stage=${stageId}&tier=low`))).toEqual(["Hot lead close", "Low-tier nurture", "Negotiation close", "Stalled revival", "Standard outreach"]);
  });

  it("answers the contract's example GET /playbooks?tier=high&stage=new with the playbooks for new, high-tier leads", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.get("/playbooks?tier=high&stage=new"));
    // "new" is a lead status: new leads are in the default stage (Prospects).
    expect(names(body.playbooks)).toEqual(["High-tier fast track", "Hot lead close", "New prospect opener", "Stalled revival", "Standard outreach"]);
    expect(body.warnings).toEqual([]);
  });

  it("takes a lead status in use as the stages its leads are in", async () => {
    const { client } = await workspace();
    await createLead(client, { status: "negotiating", stage: "Negotiated" });
    expect(names(await list(client, "?stage=Negotiating"))).toContain("Negotiation close");
  });

  it("answers an unknown stage with an empty list and a warning naming the stages and statuses", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.get("/playbooks?stage=nowhere"));
    expect(body.playbooks).toEqual([]);
    expect(body.total).toBe(0);
    expect(body.warnings[0]).toMatch(/"nowhere" is neither a stage nor a lead status/);
    expect(body.warnings[0]).toContain("Prospects, Leads, Engaged");
    expect(body.warnings[0]).toMatch(/lead statuses: new/);
  });

  it("needs an API key", async () => {
    expectError(await call("GET", "/playbooks"), 401, "missing_api_key");
    expectError(await call("POST", "/playbooks", { leadId: "rp_x" }), 401, "missing_api_key");
    expectError(await call("PUT", "/playbooks", { id: "pb_x", name: "X" }), 401, "missing_api_key");
    expectError(await call("DELETE", "/playbooks?id=pb_x"), 401, "missing_api_key");
  });
});

describe("POST /playbooks (create)", () => {
  it("creates a playbook with its steps in order and answers 201", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.post("/playbooks", { name: " Webinar follow-up ", description: "After a webinar", tier: "high", stage: "Engaged", scoreLabel: "warm", stalled: false, steps }), 201);
    expect(body.playbook).toMatchObject({
      id: body.id, name: "Webinar follow-up", description: "After a webinar", tier: "high", stage: "Engaged", scoreLabel: "warm", stalled: false,
    });
    expect(body.playbook.steps.map((s: { order: number }) => s.order)).toEqual([1, 2]);
    expect(body.playbook.steps[0]).toEqual(steps[1]);
    expect(names(await list(client))).toContain("Webinar follow-up");
  });

  it("refuses a name already used (any case) with 409", async () => {
    const { client } = await workspace();
    const error = expectError(await client.post("/playbooks", { name: "standard OUTREACH", steps }), 409, "playbook_exists");
    expect(error.hint).toMatch(/PUT \/api\/openclaw\/playbooks/);
  });

  it("refuses invalid steps with 400 and the expected shape", async () => {
    const { client } = await workspace();
    const fax = expectError(await client.post("/playbooks", { name: "Fax", steps: [{ order: 1, channel: "fax", delayDays: 0, action: "Fax them" }] }), 400, "invalid_request");
    expect(fax.hint).toContain("email, call, linkedin, sms, meeting, task");
    expectError(await client.post("/playbooks", { name: "Empty", steps: [] }), 400, "invalid_request");
    const twice = expectError(await client.post("/playbooks", { name: "Twice", steps: [steps[0], { ...steps[1], order: 2 }] }), 400, "invalid_playbook_steps");
    expect(twice.message).toMatch(/share order 2/);
    expect(twice.hint).toMatch(/delayDays 0-365/);
  });

  it("refuses a body with neither leadId nor name and steps, and an unknown stage", async () => {
    const { client } = await workspace();
    const error = expectError(await client.post("/playbooks", { name: "No steps" }), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "steps", message: "is required to create a playbook" }]);
    expect(error.hint).toMatch(/leadId/);
    expectError(await client.post("/playbooks", { name: "Nowhere", stage: "Nowhere", steps }), 400, "unknown_stage");
  });
});

describe("PUT /playbooks", () => {
  it("changes only the fields sent; null widens a playbook to any tier or stage", async () => {
    const { client } = await workspace();
    const id = expectOk(await client.post("/playbooks", { name: "Webinar", tier: "high", stage: "Engaged", steps }), 201).id;
    const body = expectOk(await client.put("/playbooks", { id, name: "Webinar v2", stage: null, steps: [steps[1]] }));
    expect(body.playbook).toMatchObject({ id, name: "Webinar v2", tier: "high", stage: null, stageId: null });
    expect(body.playbook.steps).toHaveLength(1);
    const unchanged = expectOk(await client.put("/playbooks", { id }));
    expect(unchanged.warnings[0]).toMatch(/Nothing to change/);
  });

  it("answers 404 for an unknown playbook and for another workspace's", async () => {
    const a = await workspace();
    const b = await workspace();
    const id = expectOk(await a.client.post("/playbooks", { name: "Mine", steps }), 201).id;
    expectError(await a.client.put("/playbooks", { id: "pb_missing", name: "X" }), 404, "not_found");
    expectError(await b.client.put("/playbooks", { id, name: "Stolen" }), 404, "not_found");
    expect(names(await list(b.client))).not.toContain("Mine");
    expect((await list(a.client)).find((p) => p.id === id)!.name).toBe("Mine");
  });

  it("refuses invalid steps with 400 from the database", async () => {
    const { client } = await workspace();
    const id = (await list(client))[0]!.id;
    expectError(await client.put("/playbooks", { id, steps: [{ ...steps[0], order: 1 }, { ...steps[1], order: 1 }] }), 400, "invalid_playbook_steps");
  });
});

describe("DELETE /playbooks", () => {
  it("deletes a playbook; deleting it again or another workspace's answers 404", async () => {
    const a = await workspace();
    const b = await workspace();
    const [first] = await list(a.client);
    expectError(await b.client.delete(`/playbooks?id=${first!.id}`), 404, "not_found");
    expect(expectOk(await a.client.delete(`/playbooks?id=${first!.id}`))).toMatchObject({ id: first!.id, name: first!.name, deleted: true });
    expect(names(await list(a.client))).not.toContain(first!.name);
    expectError(await a.client.delete(`/playbooks?id=${first!.id}`), 404, "not_found");
    expectError(await a.client.delete("/playbooks"), 400, "invalid_request");
  });
});

describe("POST /playbooks (recommend)", () => {
  it("recommends the stage's playbook for a new lead, with its first step and the reasoning", async () => {
    const { client } = await workspace();
    const id = await createLead(client);
    const body = await recommend(client, id);
    expect(body).toMatchObject({ leadId: id, stalled: null, alsoMatching: ["Standard outreach"] });
    expect(body.playbook).toMatchObject({ name: "New prospect opener", stage: "Prospects" });
    expect(body.nextAction).toMatchObject({ step: 1, channel: "email", action: "Send a personal intro email", delayDays: 0, due: expect.any(String) });
    expect(body.reasoning).toEqual(expect.arrayContaining([
      "No tier: only playbooks for any tier fit", 'Stage "Prospects"', expect.stringMatching(/^Not stalled/),
      expect.stringMatching(/^Playbook "New prospect opener" fits: made for this stage, the most specific of 2/),
    ]));
    expect(body.next_steps[0]).toBe(`After acting, POST /api/openclaw/touchpoints { "leadId": "${id}", "type": "email" } records the step (and clears stalled)`);
  });

  it("moves to the next step as touchpoints are logged", async () => {
    const { client } = await workspace();
    const id = await createLead(client);
    expectOk(await client.post("/touchpoints", { leadId: id, type: "email" }), 201);
    const body = await recommend(client, id);
    expect(body.nextAction).toMatchObject({ step: 2, channel: "linkedin", delayDays: 1, overdue: false });
    expect(body.reasoning).toContainEqual(expect.stringMatching(/^1 of 4 steps done/));
  });

  it("picks by tier and score label, the score label weighing more", async () => {
    const { client } = await workspace();
    const high = await createLead(client, { tier: "high", stage: "Engaged" });
    expect((await recommend(client, high)).playbook.name).toBe("High-tier fast track");
    await setLeadScore(high, 82, "hot");
    const hot = await recommend(client, high);
    expect(hot.playbook.name).toBe("Hot lead close");
    expect(hot.alsoMatching).toEqual(["High-tier fast track", "Standard outreach"]);
    expect(hot.reasoning).toContain("Score 82 (hot)");
  });

  it("recommends the stalled playbook for a stalled lead, with its stalled state", async () => {
    const { client } = await workspace();
    const id = await createLead(client, { stage: "Leads" });
    expectOk(await client.post("/touchpoints", { leadId: id, type: "email", occurredAt: new Date(Date.now() - 8 * 86_400_000).toISOString() }), 201);
    const body = await recommend(client, id);
    expect(body.playbook.name).toBe("Stalled revival");
    expect(body.stalled).toEqual({ daysSinceTouch: 8, stalledReason: 'No touch for 8 days; "Leads" stalls after 5 days', suggestedAction: "send_follow_up_email", priority: "medium" });
    expect(body.reasoning).toContainEqual(expect.stringMatching(/^Stalled: No touch for 8 days/));
  });

  it("recommends nothing for a closed lead", async () => {
    const { client } = await workspace();
    const id = await createLead(client, { stage: "Closed Won" });
    const body = await recommend(client, id);
    expect(body).toMatchObject({ playbook: null, nextAction: null, stalled: null, alsoMatching: [] });
    expect(body.reasoning[0]).toMatch(/closed/);
  });

  it("answers 404 for an unknown lead and another workspace's, 409 for a deleted one", async () => {
    const a = await workspace();
    const b = await workspace();
    const id = await createLead(a.client);
    expectError(await a.client.post("/playbooks", { leadId: "rp_missing" }), 404, "not_found");
    expectError(await b.client.post("/playbooks", { leadId: id }), 404, "not_found");
    expectOk(await a.client.delete(`/leads/${id}`));
    expectError(await a.client.post("/playbooks", { leadId: id }), 409, "lead_deleted");
  });
});
