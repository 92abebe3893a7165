import { describe, expect, it } from "vitest";
import { as, call, createLead, expectError, expectOk, lead, signup } from "./support/api.ts";

const DEFAULT_STAGES = ["Prospects", "Leads", "Engaged", "Contacted", "Negotiated", "Re-engage later", "Closed Won", "Closed Lost"];

type Client = ReturnType<typeof as>;
interface StageView { id: string; name: string; order: number; color: string | null; isDefault: boolean; outcome: string; stallAfterDays: number | null; leadCount: number }

/** A fresh workspace per test: pipelines are per org and these tests change them. */
async function workspace() {
  const ws = await signup();
  return { ws, client: as(ws) };
}
const stagesOf = async (client: Client): Promise<StageView[]> => expectOk(await client.get("/stages")).stages;
const names = (stages: StageView[]) => stages.map((s) => s.name);
const byName = async (client: Client, name: string) => (await stagesOf(client)).find((s) => s.name === name)!;
const leadStage = async (client: Client, id: string): Promise<string> => expectOk(await client.get(`/leads/${id}`)).lead.stage;

describe("GET /stages", () => {
  it("lists a new workspace's eight stages in order, Prospects the default, with the Stage shape", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.get("/stages"));
    expect(names(body.stages)).toEqual(DEFAULT_STAGES);
    expect(body.stages.map((s: StageView) => s.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(body.stages[0]).toEqual({ id: expect.stringMatching(/^stg_[0-9a-f]{24}$/), name: "Prospects", order: 0, color: "#94A3B8", isDefault: true, outcome: "open", stallAfterDays: 7, leadCount: 0 });
    expect(body.stages.filter((s: StageView) => s.isDefault)).toHaveLength(1);
    expect(body).toMatchObject({ total: 8, limit: 50, offset: 0, warnings: [], next_steps: [] });
  });

  it("counts live leads per stage; soft-deleted leads are not counted", async () => {
    const { client } = await workspace();
    await createLead(client);
    await createLead(client, { stage: "Engaged" });
    const gone = await createLead(client, { stage: "Engaged" });
    expectOk(await client.delete(`/leads/${gone}`));
    const stages = await stagesOf(client);
    expect(Object.fromEntries(stages.map((s) => [s.name, s.leadCount]))).toMatchObject({ Prospects: 1, Engaged: 1, Leads: 0 });
  });

  it("pages with limit and offset and points at the next page", async () => {
    const { client } = await workspace();
    const page = expectOk(await client.get("/stages?limit=3&offset=3"));
    expect(names(page.stages)).toEqual(["Contacted", "Negotiated", "Re-engage later"]);
    expect(page).toMatchObject({ total: 8, limit: 3, offset: 3 });
    expect(page.next_steps).toEqual(["GET /api/openclaw/stages?offset=6&limit=3 for the next page"]);
    const capped = expectOk(await client.get("/stages?limit=500"));
    expect(capped.limit).toBe(200);
    expect(capped.warnings).toEqual(["limit capped at 200"]);
  });

  it("refuses a bad limit with 400", async () => {
    const { client } = await workspace();
    expect(expectError(await client.get("/stages?limit=0"), 400, "invalid_request").fields[0].field).toBe("limit");
  });

  it("needs an API key", async () => {
    expectError(await call("GET", "/stages"), 401, "missing_api_key");
    expectError(await call("POST", "/stages", { name: "X" }), 401, "missing_api_key");
    expectError(await call("PUT", "/stages", { id: "stg_x", name: "X" }), 401, "missing_api_key");
    expectError(await call("DELETE", "/stages?id=stg_x"), 401, "missing_api_key");
    expectError(await call("GET", "/stages/history?leadId=rp_x"), 401, "missing_api_key");
  });
});

describe("POST /stages", () => {
  it("adds a stage at the end by default and answers 201 with the stage and the whole pipeline", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.post("/stages", { name: "  Qualified ", color: "#112233" }), 201);
    expect(body.stage).toEqual({ id: body.id, name: "Qualified", order: 8, color: "#112233", isDefault: false, outcome: "open", stallAfterDays: 7, leadCount: 0 });
    expect(names(body.stages)).toEqual([...DEFAULT_STAGES, "Qualified"]);
    expect(body.next_steps).toEqual(['PATCH /api/openclaw/leads/{leadId} { "stage": "Qualified" } moves a lead into it']);
    expect(names(await stagesOf(client))).toEqual([...DEFAULT_STAGES, "Qualified"]);
  });

  it("inserts at the given order and shifts the later stages down, keeping the order dense", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.post("/stages", { name: "Qualified", order: 1 }), 201);
    expect(body.stage.order).toBe(1);
    expect(names(body.stages)).toEqual(["Prospects", "Qualified", ...DEFAULT_STAGES.slice(1)]);
    expect(body.stages.map((s: StageView) => s.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const past = expectOk(await client.post("/stages", { name: "Far away", order: 99 }), 201);
    expect(past.stage.order).toBe(9);
  });

  it("makes the new stage the default when asked: the flag moves and new leads land there", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.post("/stages", { name: "Inbox", order: 0, isDefault: true }), 201);
    expect(body.stage).toMatchObject({ name: "Inbox", order: 0, isDefault: true });
    expect(body.stages.filter((s: StageView) => s.isDefault).map((s: StageView) => s.name)).toEqual(["Inbox"]);
    expect(await leadStage(client, await createLead(client))).toBe("Inbox");
  });

  it("refuses a name already used (case-insensitive) with 409 naming the existing stage", async () => {
    const { client } = await workspace();
    const leads = await byName(client, "Leads");
    const error = expectError(await client.post("/stages", { name: "LEADS" }), 409, "stage_exists");
    expect(error.message).toContain(leads.id);
    expect(error.hint).toContain(`PUT /api/openclaw/stages { "id": "${leads.id}"`);
    expect(await stagesOf(client)).toHaveLength(8);
  });

  it("refuses a missing or blank name, a bad colour and a negative order with 400 naming the field", async () => {
    const { client } = await workspace();
    for (const [body, field] of [[{}, "name"], [{ name: "   " }, "name"], [{ name: "X", color: "red" }, "color"], [{ name: "X", order: -1 }, "order"], [{ name: "X", isDefault: "yes" }, "isDefault"]] as const) {
      const error = expectError(await client.post("/stages", body), 400, "invalid_request");
      expect(error.fields.map((f: { field: string }) => f.field)).toEqual([field]);
    }
  });

  it("ignores unknown fields and names them in warnings", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.post("/stages", { name: "Odd", colour: "#000000" }), 201);
    expect(body.warnings).toEqual(["Ignored field(s): colour. A stage has name, order, color, isDefault, stallAfterDays and outcome."]);
  });

  it("gives parallel creates distinct places: the order stays 0..n-1 with no duplicates", async () => {
    const { client } = await workspace();
    const created = await Promise.all(Array.from({ length: 6 }, (_, i) => client.post("/stages", { name: `Parallel ${i}` })));
    for (const res of created) expectOk(res, 201);
    const stages = await stagesOf(client);
    expect(stages.map((s) => s.order)).toEqual(Array.from({ length: 14 }, (_, i) => i));
    expect(names(stages).slice(0, 8)).toEqual(DEFAULT_STAGES);
  });

  it("keeps exactly one default when several stages are made default at once", async () => {
    const { client } = await workspace();
    const stages = await stagesOf(client);
    const results = await Promise.all(stages.slice(1).map((s) => client.put("/stages", { id: s.id, isDefault: true })));
    for (const res of results) expectOk(res);
    expect((await stagesOf(client)).filter((s) => s.isDefault)).toHaveLength(1);
  });

  it("replays a retried create with the same Idempotency-Key instead of adding a second stage", async () => {
    const { client } = await workspace();
    const headers = { "idempotency-key": crypto.randomUUID() };
    const first = await client.post("/stages", { name: "Once" }, { headers });
    const again = await client.post("/stages", { name: "Once" }, { headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(first.body.id);
    expect(names(await stagesOf(client)).filter((n) => n === "Once")).toHaveLength(1);
  });
});

describe("PUT /stages (one stage)", () => {
  it("renames a stage and its leads stay attached", async () => {
    const { client } = await workspace();
    const engaged = await byName(client, "Engaged");
    const leadId = await createLead(client, { stage: "Engaged" });
    const body = expectOk(await client.put("/stages", { id: engaged.id, name: "Interested" }));
    expect(body.stage).toMatchObject({ id: engaged.id, name: "Interested", order: 2, leadCount: 1 });
    const fetched = expectOk(await client.get(`/leads/${leadId}`)).lead;
    expect(fetched).toMatchObject({ stage: "Interested", stageId: engaged.id });
    expect(expectOk(await client.get("/leads?stage=Interested")).leads.map((l: { id: string }) => l.id)).toEqual([leadId]);
  });

  it("finds the stage by its current name as well as by id", async () => {
    const { client } = await workspace();
    const body = expectOk(await client.put("/stages", { id: "closed lost", color: "#000000" }));
    expect(body.stage).toMatchObject({ name: "Closed Lost", color: "#000000" });
  });

  it("moves a stage to another place; the others shift and the order stays 0..n-1", async () => {
    const { client } = await workspace();
    const won = await byName(client, "Closed Won");
    const up = expectOk(await client.put("/stages", { id: won.id, order: 1 }));
    expect(names(up.stages)).toEqual(["Prospects", "Closed Won", "Leads", "Engaged", "Contacted", "Negotiated", "Re-engage later", "Closed Lost"]);
    const down = expectOk(await client.put("/stages", { id: won.id, order: 5 }));
    expect(names(down.stages)).toEqual(["Prospects", "Leads", "Engaged", "Contacted", "Negotiated", "Closed Won", "Re-engage later", "Closed Lost"]);
    expect(down.stages.map((s: StageView) => s.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("clears a colour with null", async () => {
    const { client } = await workspace();
    const leads = await byName(client, "Leads");
    expect(expectOk(await client.put("/stages", { id: leads.id, color: null })).stage.color).toBeNull();
  });

  it("moves the default flag with isDefault: true; new leads land in the new default", async () => {
    const { client } = await workspace();
    const leads = await byName(client, "Leads");
    const body = expectOk(await client.put("/stages", { id: leads.id, isDefault: true }));
    expect(body.stages.filter((s: StageView) => s.isDefault).map((s: StageView) => s.id)).toEqual([leads.id]);
    expect(body.warnings).toEqual(['"Leads" is now the default stage: new leads land here']);
    expect(await leadStage(client, await createLead(client))).toBe("Leads");
  });

  it("refuses to unmark the default stage with 409 and a hint to mark another one", async () => {
    const { client } = await workspace();
    const prospects = await byName(client, "Prospects");
    const error = expectError(await client.put("/stages", { id: prospects.id, isDefault: false }), 409, "default_stage_required");
    expect(error.hint).toMatch(/"isDefault": true/);
    expect((await byName(client, "Prospects")).isDefault).toBe(true);
  });

  it("refuses a rename onto another stage's name with 409, changing nothing", async () => {
    const { client } = await workspace();
    const leads = await byName(client, "Leads");
    expectError(await client.put("/stages", { id: leads.id, name: "engaged", color: "#000000" }), 409, "stage_exists");
    expect(await byName(client, "Leads")).toEqual(leads);
  });

  it("allows changing only the case of a stage's own name", async () => {
    const { client } = await workspace();
    const leads = await byName(client, "Leads");
    expect(expectOk(await client.put("/stages", { id: leads.id, name: "LEADS" })).stage.name).toBe("LEADS");
  });

  it("answers 404 for an unknown stage", async () => {
    const { client } = await workspace();
    const error = expectError(await client.put("/stages", { id: "stg_000000000000000000000000", name: "X" }), 404, "not_found");
    expect(error.hint).toMatch(/GET \/api\/openclaw\/stages/);
  });

  it("refuses a body without id (and without a reorder list) with a hint on both shapes", async () => {
    const { client } = await workspace();
    const error = expectError(await client.put("/stages", { name: "X", order: 2 }), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "id", message: "is required to change one stage" }]);
    expect(error.hint).toMatch(/\{ "order": \["stg_…", …\] \}/);
  });

  it("refuses a bad order with 400 describing both shapes", async () => {
    const { client } = await workspace();
    const leads = await byName(client, "Leads");
    const error = expectError(await client.put("/stages", { id: leads.id, order: "first" }), 400, "invalid_request");
    expect(error.fields[0]).toMatchObject({ field: "order", message: expect.stringMatching(/index.*list of every stage id/) });
  });

  it("warns when there is nothing to change", async () => {
    const { client } = await workspace();
    const leads = await byName(client, "Leads");
    expect(expectOk(await client.put("/stages", { id: leads.id })).warnings).toEqual(["Nothing to change: send name, order, color, isDefault, stallAfterDays and/or outcome"]);
  });
});

describe("stage outcome and stallAfterDays", () => {
  it("gives the default pipeline its outcomes and stall thresholds; closed stages never stall", async () => {
    const { client } = await workspace();
    const stages = await stagesOf(client);
    expect(stages.map((s) => [s.name, s.outcome, s.stallAfterDays])).toEqual([
      ["Prospects", "open", 7], ["Leads", "open", 5], ["Engaged", "open", 3], ["Contacted", "open", 5],
      ["Negotiated", "open", 3], ["Re-engage later", "open", 30], ["Closed Won", "won", null], ["Closed Lost", "lost", null],
    ]);
  });

  it("takes stallAfterDays and outcome on create; the outcome otherwise follows the name", async () => {
    const { client } = await workspace();
    expect(expectOk(await client.post("/stages", { name: "Demo booked", stallAfterDays: 2 }), 201).stage)
      .toMatchObject({ outcome: "open", stallAfterDays: 2 });
    expect(expectOk(await client.post("/stages", { name: "Signed" }), 201).stage).toMatchObject({ outcome: "won", stallAfterDays: null });
    expect(expectOk(await client.post("/stages", { name: "Parked", outcome: "lost" }), 201).stage).toMatchObject({ outcome: "lost", stallAfterDays: null });
    expect(expectOk(await client.post("/stages", { name: "Nurture", stallAfterDays: null }), 201).stage).toMatchObject({ outcome: "open", stallAfterDays: null });
  });

  it("changes them with PUT; closing a stage clears its threshold (with a warning if one was sent), reopening restores the default", async () => {
    const { client } = await workspace();
    expect(expectOk(await client.put("/stages", { id: "Engaged", stallAfterDays: 10 })).stage.stallAfterDays).toBe(10);
    const closed = expectOk(await client.put("/stages", { id: "Engaged", outcome: "lost", stallAfterDays: 4 }));
    expect(closed.stage).toMatchObject({ outcome: "lost", stallAfterDays: null });
    expect(closed.warnings).toEqual(['"Engaged" is a lost stage: closed deals never stall, so stallAfterDays was cleared']);
    expect(expectOk(await client.put("/stages", { id: "Engaged", outcome: "open" })).stage).toMatchObject({ outcome: "open", stallAfterDays: 3 });
  });

  it("refuses an invalid stallAfterDays or outcome with 400", async () => {
    const { client } = await workspace();
    expect(expectError(await client.put("/stages", { id: "Leads", stallAfterDays: 0 }), 400, "invalid_request").fields[0].field).toBe("stallAfterDays");
    expect(expectError(await client.put("/stages", { id: "Leads", stallAfterDays: 2.5 }), 400, "invalid_request").fields[0].field).toBe("stallAfterDays");
    expect(expectError(await client.post("/stages", { name: "X", outcome: "maybe" }), 400, "invalid_request").fields[0].field).toBe("outcome");
    expectError(await client.put("/stages", { order: ["Leads"], stallAfterDays: 3 }), 400, "invalid_request");
  });
});

describe("PUT /stages { order: [...] } (reorder)", () => {
  it("puts the pipeline in the given order of ids", async () => {
    const { client } = await workspace();
    const stages = await stagesOf(client);
    const reversed = [...stages].reverse();
    const body = expectOk(await client.put("/stages", { order: reversed.map((s) => s.id) }));
    expect(names(body.stages)).toEqual([...DEFAULT_STAGES].reverse());
    expect(body.stages.map((s: StageView) => s.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(names(await stagesOf(client))).toEqual([...DEFAULT_STAGES].reverse());
  });

  it("accepts stage names in the list too", async () => {
    const { client } = await workspace();
    const order = ["Closed Won", "Closed Lost", ...DEFAULT_STAGES.slice(0, 6)];
    expect(names(expectOk(await client.put("/stages", { order })).stages)).toEqual(order);
  });

  it("refuses a list that leaves stages out, naming them, with the full list of ids in the hint", async () => {
    const { client } = await workspace();
    const stages = await stagesOf(client);
    const error = expectError(await client.put("/stages", { order: stages.slice(1).map((s) => s.id) }), 400, "invalid_stage_order");
    expect(error.message).toContain(`"Prospects" (${stages[0]!.id})`);
    for (const s of stages) expect(error.hint).toContain(s.id);
    expect(names(await stagesOf(client))).toEqual(DEFAULT_STAGES);
  });

  it("refuses repeated and unknown stages", async () => {
    const { client } = await workspace();
    const ids = (await stagesOf(client)).map((s) => s.id);
    expect(expectError(await client.put("/stages", { order: [...ids, ids[0]] }), 400, "invalid_stage_order").message).toMatch(/more than once/);
    expect(expectError(await client.put("/stages", { order: [...ids, "stg_000000000000000000000000"] }), 400, "invalid_stage_order").message)
      .toMatch(/Not a stage of this workspace: "stg_000000000000000000000000"/);
  });

  it("refuses a reorder mixed with changes to one stage", async () => {
    const { client } = await workspace();
    const ids = (await stagesOf(client)).map((s) => s.id);
    const error = expectError(await client.put("/stages", { id: ids[0], order: ids }), 400, "invalid_request");
    expect(error.message).toBe("A reorder takes only order, not id");
  });
});

describe("DELETE /stages", () => {
  it("deletes an empty stage and closes the gap in the order", async () => {
    const { client } = await workspace();
    const engaged = await byName(client, "Engaged");
    const body = expectOk(await client.delete(`/stages?id=${engaged.id}`));
    expect(body).toMatchObject({ id: engaged.id, name: "Engaged", deleted: true, leadsMoved: 0, movedTo: null });
    expect(names(body.stages)).toEqual(DEFAULT_STAGES.filter((n) => n !== "Engaged"));
    expect(body.stages.map((s: StageView) => s.order)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expectError(await client.delete(`/stages?id=${engaged.id}`), 404, "not_found");
  });

  it("refuses to delete a stage holding leads (soft-deleted ones count) without moveTo: 409 naming the count and moveTo", async () => {
    const { client } = await workspace();
    const engaged = await byName(client, "Engaged");
    await createLead(client, { stage: "Engaged" });
    const gone = await createLead(client, { stage: "Engaged" });
    expectOk(await client.delete(`/leads/${gone}`));
    const error = expectError(await client.delete(`/stages?id=${engaged.id}`), 409, "stage_has_leads");
    expect(error.message).toBe('Stage "Engaged" holds 2 lead(s) (1 live, 1 soft-deleted)');
    expect(error.hint).toContain(`DELETE /api/openclaw/stages?id=${engaged.id}&moveTo=`);
    expect(await byName(client, "Engaged")).toBeDefined();
  });

  it("moves every lead (soft-deleted too) to moveTo, deletes the stage and records the moves in stage history", async () => {
    const { client } = await workspace();
    const engaged = await byName(client, "Engaged");
    const contacted = await byName(client, "Contacted");
    const live = await createLead(client, { stage: "Engaged" });
    const gone = await createLead(client, { stage: "Engaged" });
    expectOk(await client.delete(`/leads/${gone}`));

    const body = expectOk(await client.delete(`/stages?id=${engaged.id}&moveTo=contacted`));
    expect(body).toMatchObject({ deleted: true, leadsMoved: 2, movedTo: { id: contacted.id, name: "Contacted" } });
    expect(body.warnings).toEqual(['2 lead(s) moved from "Engaged" to "Contacted" (recorded in their stage history)']);
    expect(body.next_steps).toEqual([`GET /api/openclaw/leads?stage=${contacted.id} lists the moved leads`]);
    expect(body.stages.find((s: StageView) => s.name === "Contacted").leadCount).toBe(1);

    for (const id of [live, gone]) {
      expect(expectOk(await client.get(`/leads/${id}`)).lead.stageId).toBe(contacted.id);
      const [latest] = expectOk(await client.get(`/stages/history?leadId=${id}`)).history;
      expect(latest).toMatchObject({ fromStage: "Engaged", fromStageId: engaged.id, toStage: "Contacted", toStageId: contacted.id, source: "api" });
    }
  });

  it("accepts the stage's name as id and moveTo by id", async () => {
    const { client } = await workspace();
    const won = await byName(client, "Closed Won");
    await createLead(client, { stage: "Negotiated" });
    const body = expectOk(await client.delete(`/stages?id=Negotiated&moveTo=${won.id}`));
    expect(body).toMatchObject({ name: "Negotiated", leadsMoved: 1, movedTo: { id: won.id } });
  });

  it("refuses to delete the default stage until another stage is the default", async () => {
    const { client } = await workspace();
    const prospects = await byName(client, "Prospects");
    const error = expectError(await client.delete(`/stages?id=${prospects.id}&moveTo=Leads`), 409, "default_stage");
    expect(error.hint).toMatch(/"isDefault": true/);
    expectOk(await client.put("/stages", { id: "Leads", isDefault: true }));
    expect(expectOk(await client.delete(`/stages?id=${prospects.id}`)).deleted).toBe(true);
  });

  it("refuses an unknown moveTo with 400 listing the stages, and moveTo equal to the stage itself", async () => {
    const { client } = await workspace();
    await createLead(client, { stage: "Engaged" });
    const error = expectError(await client.delete("/stages?id=Engaged&moveTo=Nowhere"), 400, "unknown_stage");
    expect(error.hint).toContain('"Prospects"');
    expect(error.hint).not.toContain('"Engaged"');
    expectError(await client.delete("/stages?id=Engaged&moveTo=engaged"), 400, "invalid_move_to");
    expect((await byName(client, "Engaged")).leadCount).toBe(1);
  });

  it("answers 404 for an unknown stage and 400 without id", async () => {
    const { client } = await workspace();
    expectError(await client.delete("/stages?id=stg_000000000000000000000000"), 404, "not_found");
    expect(expectError(await client.delete("/stages"), 400, "invalid_request").fields[0].field).toBe("id");
  });
});

describe("GET /stages/history", () => {
  it("lists every stage the lead entered, newest first, with who, when and how", async () => {
    const { client } = await workspace();
    const leadId = await createLead(client);
    expectOk(await client.patch(`/leads/${leadId}`, { stage: "Engaged" }));
    expectOk(await client.patch(`/leads/${leadId}`, { stage: "Closed Won" }));
    const stages = await stagesOf(client);
    const id = (name: string) => stages.find((s) => s.name === name)!.id;

    const body = expectOk(await client.get(`/stages/history?leadId=${leadId}`));
    expect(body).toMatchObject({ leadId, total: 3, limit: 50, offset: 0 });
    expect(body.history.map((h: { fromStage: string | null; toStage: string }) => [h.fromStage, h.toStage]))
      .toEqual([["Engaged", "Closed Won"], ["Prospects", "Engaged"], [null, "Prospects"]]);
    expect(body.history[0]).toEqual({
      fromStage: "Engaged", toStage: "Closed Won", fromStageId: id("Engaged"), toStageId: id("Closed Won"),
      changedAt: expect.any(String), changedBy: expect.stringMatching(/^key_[0-9a-f]{24}$/), source: "api", ruleId: null,
    });
    const times = body.history.map((h: { changedAt: string }) => Date.parse(h.changedAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it("keeps the names a stage had when the lead entered it", async () => {
    const { client } = await workspace();
    const leadId = await createLead(client, { stage: "Leads" });
    expectOk(await client.put("/stages", { id: "Leads", name: "Qualified" }));
    const [entry] = expectOk(await client.get(`/stages/history?leadId=${leadId}`)).history;
    expect(entry.toStage).toBe("Leads");
  });

  it("pages with limit and offset", async () => {
    const { client } = await workspace();
    const leadId = await createLead(client);
    for (const stage of ["Leads", "Engaged", "Contacted"]) expectOk(await client.patch(`/leads/${leadId}`, { stage }));
    const page = expectOk(await client.get(`/stages/history?leadId=${leadId}&limit=2&offset=1`));
    expect(page.history.map((h: { toStage: string }) => h.toStage)).toEqual(["Engaged", "Leads"]);
    expect(page).toMatchObject({ total: 4, limit: 2, offset: 1 });
    expect(page.next_steps).toEqual([`GET /api/openclaw/stages/history?leadId=${leadId}&offset=3&limit=2 for the next page`]);
  });

  it("answers for a soft-deleted lead, with a warning", async () => {
    const { client } = await workspace();
    const leadId = await createLead(client);
    expectOk(await client.delete(`/leads/${leadId}`));
    const body = expectOk(await client.get(`/stages/history?leadId=${leadId}`));
    expect(body.history).toHaveLength(1);
    expect(body.warnings).toEqual([`Lead ${leadId} is soft-deleted`]);
  });

  it("answers 404 for an unknown lead and 400 without leadId", async () => {
    const { client } = await workspace();
    expectError(await client.get("/stages/history?leadId=rp_000000000000000000000000"), 404, "not_found");
    expect(expectError(await client.get("/stages/history"), 400, "invalid_request").fields).toEqual([{ field: "leadId", message: "is required" }]);
  });
});

describe("stages across workspaces", () => {
  it("org B neither sees, changes, moves into nor deletes org A's stages", async () => {
    const a = await workspace();
    const b = await workspace();
    const aStages = await stagesOf(a.client);
    const aEngaged = aStages.find((s) => s.name === "Engaged")!;
    const aLead = await createLead(a.client, { stage: "Engaged" });
    const bLead = await createLead(b.client);

    const bIds = (await stagesOf(b.client)).map((s) => s.id);
    expect(bIds.filter((id) => aStages.some((s) => s.id === id))).toEqual([]);

    expectError(await b.client.put("/stages", { id: aEngaged.id, name: "Hacked" }), 404, "not_found");
    expectError(await b.client.put("/stages", { id: aEngaged.id, isDefault: true }), 404, "not_found");
    expectError(await b.client.delete(`/stages?id=${aEngaged.id}&moveTo=Prospects`), 404, "not_found");
    expectError(await b.client.put("/stages", { order: [...bIds.slice(1), aEngaged.id] }), 400, "invalid_stage_order");
    expectError(await b.client.patch(`/leads/${bLead}`, { stage: aEngaged.id }), 400, "unknown_stage");
    expectError(await b.client.post("/leads", lead({ stage: aEngaged.id })), 400, "unknown_stage");
    expectError(await b.client.delete(`/stages?id=Leads&moveTo=${aEngaged.id}`), 400, "unknown_stage");
    expectError(await b.client.get(`/stages/history?leadId=${aLead}`), 404, "not_found");

    expect(await stagesOf(a.client)).toEqual(aStages.map((s) => (s.id === aEngaged.id ? { ...s, leadCount: 1 } : s)));
    expect(await leadStage(b.client, bLead)).toBe("Prospects");
  });
});
