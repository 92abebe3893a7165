import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { as, createLead, expectError, expectOk, signup, type Workspace } from "./support/api.ts";
import { recordEvent } from "./support/db.ts";

let wsA: Workspace;
let wsB: Workspace;
let a: ReturnType<typeof as>;
let b: ReturnType<typeof as>;
const stageIds: Record<string, string> = {};

beforeAll(async () => {
  [wsA, wsB] = await Promise.all([signup(), signup()]);
  a = as(wsA);
  b = as(wsB);
  for (const stage of expectOk(await a.get("/stages")).stages) stageIds[stage.name] = stage.id;
});

const TRIGGERS = ["meeting_booked", "proposal_viewed", "cta_clicked", "quiz_completed", "no_touch"];
const rule = (overrides: Record<string, unknown> = {}) => ({
  name: `Rule ${randomUUID().slice(0, 8)}`, triggerEvent: "meeting_booked", targetStage: "Negotiated", ...overrides,
});
const create = async (client: typeof a, overrides: Record<string, unknown> = {}) =>
  expectOk(await client.post("/automation/rules", rule(overrides)), 201);
const stageOf = async (client: typeof a, leadId: string): Promise<string> =>
  expectOk(await client.get(`/leads/${leadId}`)).lead.stage;

describe("GET /automation/rules", () => {
  it("lists no rules for a new org, with the triggers and condition keys the database knows", async () => {
    const fresh = as(await signup());
    const body = expectOk(await fresh.get("/automation/rules"));
    expect(body).toMatchObject({ rules: [], total: 0, limit: 50, offset: 0, warnings: [] });
    expect(body.availableTriggers.map((t: { name: string }) => t.name)).toEqual(TRIGGERS);
    for (const trigger of body.availableTriggers) expect(trigger.description).not.toBe("");
    expect(body.conditionKeys.map((k: { key: string }) => k.key)).toEqual(["fromStage", "tier", "viewCount", "confidenceScore", "noTouchDays"]);
    expect(body.conditionKeys.find((k: { key: string }) => k.key === "noTouchDays")).toMatchObject({
      default: { gte: 7 }, triggers: ["no_touch"], min: 1, max: 3650, example: { gte: 7 },
    });
    expect(body.conditionKeys.find((k: { key: string }) => k.key === "confidenceScore")).toMatchObject({ min: 0, max: 100, default: null, triggers: TRIGGERS });
    expect(body.next_steps).toEqual([expect.stringMatching(/^POST \/api\/openclaw\/automation\/rules/)]);
  });

  it("lists rules in the order they are tried: highest priority first, then oldest", async () => {
    const ws = as(await signup());
    const low = (await create(ws, { priority: 1 })).id;
    const high = (await create(ws, { priority: 9 })).id;
    const lowLater = (await create(ws, { priority: 1 })).id;
    const body = expectOk(await ws.get("/automation/rules"));
    expect(body.rules.map((r: { id: string }) => r.id)).toEqual([high, low, lowLater]);
    expect(body.total).toBe(3);
    const page = expectOk(await ws.get("/automation/rules?limit=1&offset=1"));
    expect(page.rules.map((r: { id: string }) => r.id)).toEqual([low]);
    expect(page.next_steps).toEqual(["GET /api/openclaw/automation/rules?offset=2&limit=1 for the next page"]);
  });
});

describe("POST /automation/rules", () => {
  it("creates a rule, storing stage names as ids, and answers with the stages' names and ids", async () => {
    const body = await create(a, {
      name: "Viewed twice", triggerEvent: "proposal_viewed", targetStage: "negotiated", priority: 5,
      conditions: { fromStage: "Contacted", tier: "pro", viewCount: { gte: 2 }, confidenceScore: { gte: 40 } },
    });
    expect(body.id).toMatch(/^rule_[0-9a-f]{24}$/);
    expect(body.rule).toEqual({
      id: body.id, name: "Viewed twice", triggerEvent: "proposal_viewed",
      conditions: { fromStage: stageIds.Contacted, tier: "pro", viewCount: { gte: 2 }, confidenceScore: { gte: 40 } },
      fromStage: { id: stageIds.Contacted, name: "Contacted" },
      targetStage: { id: stageIds.Negotiated, name: "Negotiated" },
      priority: 5, enabled: true, createdAt: expect.any(String), updatedAt: expect.any(String),
    });
    expect(body.warnings).toEqual([]);
    expect(body.next_steps[0]).toMatch(/fires when a proposal_viewed event is recorded/);
    expectOk(await a.delete(`/automation/rules?id=${body.id}`));
  });

  it("fills in noTouchDays for a no_touch rule and says so; a disabled rule is flagged", async () => {
    const body = await create(a, { triggerEvent: "no_touch", targetStage: stageIds["Re-engage later"], conditions: {}, enabled: false });
    expect(body.rule).toMatchObject({ conditions: { noTouchDays: { gte: 7 } }, fromStage: null, enabled: false, priority: 0 });
    expect(body.warnings).toEqual([
      expect.stringMatching(/^The rule is disabled: PUT/),
      "conditions.noTouchDays defaulted to {\"gte\":7}",
    ]);
    expect(body.next_steps[0]).toMatch(/every 15 minutes/);
    expectOk(await a.delete(`/automation/rules?id=${body.id}`));
  });

  it("refuses an unknown trigger, listing the valid ones", async () => {
    const error = expectError(await a.post("/automation/rules", rule({ triggerEvent: "stage_changed" })), 400, "unknown_trigger");
    expect(error.hint).toBe(`triggerEvent is one of: ${TRIGGERS.join(", ")}.`);
  });

  it("refuses an unknown condition key, listing the keys the trigger takes", async () => {
    const error = expectError(await a.post("/automation/rules", rule({ conditions: { noTouchDays: { gte: 3 } } })), 400, "unknown_condition");
    expect(error.message).toBe("Unknown condition(s) for a meeting_booked rule: \"noTouchDays\"");
    expect(error.hint).toMatch(/^conditions of a meeting_booked rule take: fromStage, tier, viewCount, confidenceScore/);
  });

  it("refuses a malformed or out-of-range condition with its shape as the hint", async () => {
    for (const conditions of [{ viewCount: 2 }, { confidenceScore: { gte: 120 } }, { viewCount: { gte: "2" } }, { tier: "" }, { fromStage: 3 }]) {
      const error = expectError(await a.post("/automation/rules", rule({ conditions })), 400, "invalid_condition");
      expect(error.hint).toMatch(/^conditions\.\w+ takes /);
    }
  });

  it("refuses an unknown stage (target or fromStage), listing the org's stages", async () => {
    for (const body of [rule({ targetStage: "Nowhere" }), rule({ conditions: { fromStage: "Nowhere" } })]) {
      const error = expectError(await a.post("/automation/rules", body), 400, "unknown_stage");
      expect(error.hint).toMatch(/^Use one of: "Prospects", "Leads", .*"Closed Lost"\.$/);
    }
  });

  it("refuses a rule whose fromStage is its target", async () => {
    const error = expectError(await a.post("/automation/rules", rule({ targetStage: "Leads", conditions: { fromStage: "leads" } })), 400, "rule_does_not_move");
    expect(error.hint).toMatch(/targetStage other than conditions\.fromStage/);
  });

  it("refuses missing fields and conditions that are not an object, naming the fields", async () => {
    const error = expectError(await a.post("/automation/rules", { conditions: [] }), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field).sort()).toEqual(["conditions", "name", "targetStage", "triggerEvent"]);
    expect(error.hint).toMatch(/availableTriggers/);
  });

  it("ignores unknown fields, naming them in warnings", async () => {
    const body = await create(a, { colour: "red" });
    expect(body.warnings).toEqual([expect.stringMatching(/^Ignored field\(s\): colour\./)]);
    expectOk(await a.delete(`/automation/rules?id=${body.id}`));
  });

  it("replays a retry with the same Idempotency-Key instead of creating the rule twice", async () => {
    const ws = as(await signup());
    const headers = { "idempotency-key": randomUUID() };
    const first = expectOk(await ws.post("/automation/rules", rule({ name: "Once" }), { headers }), 201);
    const again = await ws.post("/automation/rules", rule({ name: "Once" }), { headers });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(first.id);
    expect(expectOk(await ws.get("/automation/rules")).total).toBe(1);
  });
});

describe("PUT /automation/rules", () => {
  it("changes only the fields sent; conditions are replaced whole and validated", async () => {
    const { id } = await create(a, { conditions: { fromStage: "Prospects", tier: "pro" }, priority: 1 });
    const body = expectOk(await a.put("/automation/rules", { id, enabled: false, priority: 7, targetStage: "Engaged", conditions: { viewCount: { gte: 1 } } }));
    expect(body.rule).toMatchObject({
      id, enabled: false, priority: 7, conditions: { viewCount: { gte: 1 } }, fromStage: null,
      targetStage: { id: stageIds.Engaged, name: "Engaged" }, triggerEvent: "meeting_booked",
    });
    const renamed = expectOk(await a.put("/automation/rules", { id, name: "Renamed" }));
    expect(renamed.rule).toMatchObject({ name: "Renamed", priority: 7, targetStage: { name: "Engaged" } });
    expectError(await a.put("/automation/rules", { id, targetStage: "Nowhere" }), 400, "unknown_stage");
    expectError(await a.put("/automation/rules", { id, triggerEvent: "email_opened" }), 400, "unknown_trigger");
    expectOk(await a.delete(`/automation/rules?id=${id}`));
  });

  it("warns when there is nothing to change, and answers 404 for an unknown id", async () => {
    const { id } = await create(a);
    const body = expectOk(await a.put("/automation/rules", { id }));
    expect(body.warnings).toEqual([expect.stringMatching(/^Nothing to change/)]);
    expectError(await a.put("/automation/rules", { id: "rule_000000000000000000000000", enabled: false }), 404, "not_found");
    expectError(await a.put("/automation/rules", { id: "rule_000000000000000000000000" }), 404, "not_found");
    const missing = expectError(await a.put("/automation/rules", { enabled: false }), 400, "invalid_request");
    expect(missing.hint).toMatch(/rule's id/);
    expectOk(await a.delete(`/automation/rules?id=${id}`));
  });
});

describe("DELETE /automation/rules", () => {
  it("deletes a rule once, then answers 404", async () => {
    const { id, rule: created } = await create(a);
    const body = expectOk(await a.delete(`/automation/rules?id=${id}`));
    expect(body).toMatchObject({ id, name: created.name, deleted: true });
    expectError(await a.delete(`/automation/rules?id=${id}`), 404, "not_found");
    expectError(await a.delete("/automation/rules"), 400, "invalid_request");
  });
});

describe("rules firing in the database", () => {
  it("an event recorded in SQL moves the lead; the stage history and the firing log name the rule", async () => {
    const ws = await signup();
    const client = as(ws);
    const { id: ruleId } = await create(client, { name: "Booked", triggerEvent: "meeting_booked", targetStage: "Negotiated", conditions: { fromStage: "Prospects" } });
    const leadId = await createLead(client);
    await recordEvent(ws.orgId, leadId, "meeting_booked");
    expect(await stageOf(client, leadId)).toBe("Negotiated");

    const history = expectOk(await client.get(`/stages/history?leadId=${leadId}`)).history;
    expect(history[0]).toMatchObject({ fromStage: "Prospects", toStage: "Negotiated", ruleId, source: "automation", changedBy: ruleId });

    const runs = expectOk(await client.get(`/automation/runs?leadId=${leadId}`));
    expect(runs.runs).toEqual([{
      id: expect.stringMatching(/^run_/), ruleId, ruleName: "Booked", leadId, triggerEvent: "meeting_booked", eventId: expect.stringMatching(/^evt_/),
      fromStage: { id: expect.any(String), name: "Prospects" }, toStage: { id: expect.any(String), name: "Negotiated" }, ranAt: expect.any(String),
    }]);
    expect(expectOk(await client.get(`/automation/runs?ruleId=${ruleId}`)).total).toBe(1);

    // The same event again: the rule's fromStage no longer matches, nothing moves.
    await recordEvent(ws.orgId, leadId, "meeting_booked");
    expect(expectOk(await client.get(`/automation/runs?leadId=${leadId}`)).total).toBe(1);

    // A deleted rule's moves stay in the log.
    expectOk(await client.delete(`/automation/rules?id=${ruleId}`));
    expect(expectOk(await client.get(`/automation/runs?leadId=${leadId}`)).runs[0]).toMatchObject({ ruleId: null, ruleName: "Booked" });
  });

  it("the runs log answers 404 for an unknown lead", async () => {
    expectError(await a.get("/automation/runs?leadId=rp_000000000000000000000000"), 404, "not_found");
  });

  it("a stage a rule uses cannot be deleted until the rule lets go of it", async () => {
    const ws = as(await signup());
    const { id } = await create(ws, { targetStage: "Re-engage later" });
    const error = expectError(await ws.delete("/stages?id=Re-engage%20later"), 409, "stage_used_by_rules");
    expect(error.message).toContain(id);
    expectOk(await ws.put("/automation/rules", { id, targetStage: "Leads" }));
    expectOk(await ws.delete("/stages?id=Re-engage%20later"));
  });
});

describe("tenancy", () => {
  let ruleA: string;
  let leadA: string;

  beforeAll(async () => {
    ruleA = (await create(a, { name: "A's rule", triggerEvent: "cta_clicked", targetStage: "Engaged" })).id;
    leadA = await createLead(a);
    await recordEvent(wsA.orgId, leadA, "cta_clicked");
  });

  it("org B cannot see org A's rules or their runs", async () => {
    const body = expectOk(await b.get("/automation/rules"));
    expect(body.rules.map((r: { id: string }) => r.id)).not.toContain(ruleA);
    expectError(await b.get(`/automation/runs?leadId=${leadA}`), 404, "not_found");
    expect(expectOk(await b.get(`/automation/runs?ruleId=${ruleA}`)).runs).toEqual([]);
  });

  it("org B cannot change or delete org A's rule", async () => {
    expectError(await b.put("/automation/rules", { id: ruleA, enabled: false }), 404, "not_found");
    expectError(await b.delete(`/automation/rules?id=${ruleA}`), 404, "not_found");
    expect(expectOk(await a.get("/automation/rules")).rules.find((r: { id: string }) => r.id === ruleA)).toMatchObject({ enabled: true });
  });

  it("org B cannot point a rule at org A's stage", async () => {
    expectError(await b.post("/automation/rules", rule({ targetStage: stageIds.Engaged })), 400, "unknown_stage");
  });

  it("org B's events never fire org A's rules", async () => {
    expect(await stageOf(a, leadA)).toBe("Engaged");
    const leadB = await createLead(b);
    await recordEvent(wsB.orgId, leadB, "cta_clicked");
    expect(await stageOf(b, leadB)).toBe("Prospects");
    expect(expectOk(await a.get(`/automation/runs?ruleId=${ruleA}`)).total).toBe(1);
  });
});
