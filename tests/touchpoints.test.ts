import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { as, call, createLead, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";

const TYPES = ["email", "call", "meeting", "linkedin", "sms", "note", "form", "chat", "other"];

let ws: Workspace;
let client: ReturnType<typeof as>;

beforeAll(async () => {
  ws = await signup();
  client = as(ws);
});

const log = async (leadId: string, fields: Record<string, unknown> = {}) =>
  expectOk(await client.post("/touchpoints", { leadId, type: "email", ...fields }), 201);
const history = async (query: string) => expectOk(await client.get(`/touchpoints?${query}`));
const lastTouchOf = async (leadId: string) => expectOk(await client.get(`/leads/${leadId}`)).lead.lastTouchAt;
const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
const sameInstant = (a: string | null, b: string) => expect(a && new Date(a).getTime()).toBe(new Date(b).getTime());

describe("POST /touchpoints", () => {
  it("logs an interaction and answers 201 with the touchpoint and the lead's new last touch", async () => {
    const leadId = await createLead(client);
    const occurredAt = ago(30);
    const body = await log(leadId, {
      type: "call", direction: "outbound", summary: "Discovery call: budget approved", occurredAt, metadata: { durationMinutes: 25 },
    });
    expect(body.id).toMatch(/^tp_[0-9a-f]{24}$/);
    expect(body.touchpoint).toEqual({
      id: body.id, leadId, type: "call", channel: "call", direction: "outbound", summary: "Discovery call: budget approved",
      occurredAt: expect.any(String), metadata: { durationMinutes: 25 }, source: "api",
      createdBy: expect.stringMatching(/^key_[0-9a-f]{24}$/), createdAt: expect.any(String),
    });
    sameInstant(body.touchpoint.occurredAt, occurredAt);
    expect(body.lead.id).toBe(leadId);
    sameInstant(body.lead.lastTouchAt, occurredAt);
    expect(body.warnings).toEqual([]);
    expect(body.next_steps).toEqual([`GET /api/openclaw/touchpoints?leadId=${leadId} shows the lead's history`]);
  });

  it("updates the lead's lastTouchAt as GET /leads/{id} shows it", async () => {
    const leadId = await createLead(client);
    expect(await lastTouchOf(leadId)).toBeNull();
    const body = await log(leadId, { occurredAt: ago(5) });
    expect(await lastTouchOf(leadId)).toBe(body.lead.lastTouchAt);
    sameInstant(await lastTouchOf(leadId), body.touchpoint.occurredAt);
  });

  it("defaults occurredAt to now, metadata to {} and direction and summary to null", async () => {
    const leadId = await createLead(client);
    const before = Date.now();
    const body = await log(leadId, { type: "linkedin" });
    const at = new Date(body.touchpoint.occurredAt).getTime();
    expect(at).toBeGreaterThanOrEqual(before - 5_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(body.touchpoint).toMatchObject({ metadata: {}, direction: null, summary: null });
    expect(body.lead.lastTouchAt).toBe(body.touchpoint.occurredAt);
  });

  it("accepts channel as an alias of type", async () => {
    const body = await log(await createLead(client), { type: undefined, channel: "sms" });
    expect(body.touchpoint).toMatchObject({ type: "sms", channel: "sms" });
    expect(body.warnings).toEqual([]);
  });

  it("uses type when type and channel disagree, and warns", async () => {
    const body = await log(await createLead(client), { type: "call", channel: "sms" });
    expect(body.touchpoint.type).toBe("call");
    expect(body.warnings).toEqual(["Both type (call) and channel (sms) were sent; type was used"]);
  });

  it("accepts every documented type", async () => {
    const leadId = await createLead(client);
    for (const type of TYPES) expect((await log(leadId, { type })).touchpoint.type).toBe(type);
  });

  it("refuses an unknown type with a hint listing the valid types", async () => {
    const leadId = await createLead(client);
    for (const body of [{ leadId, type: "fax" }, { leadId, channel: "pigeon" }]) {
      const error = expectError(await client.post("/touchpoints", body), 400, "invalid_request");
      expect(error.hint).toContain(TYPES.join(", "));
    }
  });

  it("refuses a touchpoint without type or channel, with a hint listing the valid types", async () => {
    const error = expectError(await client.post("/touchpoints", { leadId: await createLead(client), summary: "what kind?" }), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "type", message: "is required (or send channel)" }]);
    expect(error.hint).toContain(TYPES.join(", "));
  });

  it("refuses a missing leadId with a hint", async () => {
    const error = expectError(await client.post("/touchpoints", { type: "call" }), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "leadId", message: "is required" }]);
    expect(error.hint).toMatch(/leadId.*GET \/api\/openclaw\/leads/);
  });

  it("refuses an occurredAt more than 5 minutes in the future, saying how to fix it", async () => {
    const leadId = await createLead(client);
    const occurredAt = new Date(Date.now() + 60 * 60_000).toISOString();
    const error = expectError(await client.post("/touchpoints", { leadId, type: "meeting", occurredAt }), 400, "occurred_at_in_future");
    expect(error.message).toMatch(/^occurredAt .* is in the future$/);
    expect(error.hint).toMatch(/no later than 5 minutes from now/);
    expect(await lastTouchOf(leadId)).toBeNull();
  });

  it("accepts an occurredAt a minute or two ahead (clock skew)", async () => {
    const occurredAt = new Date(Date.now() + 2 * 60_000).toISOString();
    sameInstant((await log(await createLead(client), { occurredAt })).lead.lastTouchAt, occurredAt);
  });

  it("accepts occurredAt with a zone offset and refuses one without a zone or not a time at all", async () => {
    const leadId = await createLead(client);
    const body = await log(leadId, { occurredAt: "2025-06-01T10:00:00+02:00" });
    sameInstant(body.touchpoint.occurredAt, "2025-06-01T08:00:00Z");
    for (const occurredAt of ["2025-06-01T10:00:00", "yesterday", "2025-13-01T00:00:00Z"]) {
      const error = expectError(await client.post("/touchpoints", { leadId, type: "call", occurredAt }), 400, "invalid_request");
      expect(error.fields[0].field).toBe("occurredAt");
      expect(error.hint).toMatch(/ISO 8601/);
    }
  });

  it("does not move lastTouchAt back for a backdated touchpoint, and says so", async () => {
    const leadId = await createLead(client);
    const recent = await log(leadId, { occurredAt: ago(60) });
    const old = await log(leadId, { type: "call", occurredAt: ago(60 * 24 * 7) });
    expect(old.lead.lastTouchAt).toBe(recent.lead.lastTouchAt);
    expect(old.warnings).toEqual([expect.stringMatching(/older than the lead's last touch/)]);
    expect(await lastTouchOf(leadId)).toBe(recent.lead.lastTouchAt);
  });

  it("refuses a bad direction, a non-object metadata and an over-long summary", async () => {
    const leadId = await createLead(client);
    for (const [field, value] of [["direction", "sideways"], ["metadata", ["a"]], ["metadata", "text"], ["summary", "x".repeat(10_001)]] as const) {
      const error = expectError(await client.post("/touchpoints", { leadId, type: "call", [field]: value }), 400, "invalid_request");
      expect(error.fields[0].field).toBe(field);
    }
  });

  it("answers 404 for a lead that does not exist", async () => {
    const error = expectError(await client.post("/touchpoints", { leadId: "rp_000000000000000000000000", type: "call" }), 404, "not_found");
    expect(error.hint).toMatch(/GET \/api\/openclaw\/leads/);
  });

  it("logs a touchpoint on a soft-deleted lead, with a warning", async () => {
    const leadId = await createLead(client);
    expectOk(await client.delete(`/leads/${leadId}`));
    const body = await log(leadId);
    expect(body.lead.lastTouchAt).toBe(body.touchpoint.occurredAt);
    expect(body.warnings).toEqual([expect.stringContaining(`Lead ${leadId} is soft-deleted`)]);
  });

  it("ignores unknown fields and names them in warnings", async () => {
    const body = await log(await createLead(client), { mood: "great" });
    expect(body.warnings).toEqual(["Ignored field(s): mood. Put extra data in metadata."]);
  });

  it("replays a retry with the same Idempotency-Key instead of logging twice", async () => {
    const leadId = await createLead(client);
    const headers = { "idempotency-key": randomUUID() };
    const first = expectOk(await client.post("/touchpoints", { leadId, type: "call" }, { headers }), 201);
    const again = await client.post("/touchpoints", { leadId, type: "call" }, { headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(first.id);
    expect((await history(`leadId=${leadId}`)).total).toBe(1);
  });
});

describe("GET /touchpoints", () => {
  let leadId: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    leadId = await createLead(client);
    // Logged out of order: the list sorts by when each happened, not when it was logged.
    ids.twoDays = (await log(leadId, { type: "call", occurredAt: ago(60 * 48) })).id;
    ids.now = (await log(leadId, { type: "email", direction: "inbound" })).id;
    ids.week = (await log(leadId, { type: "email", occurredAt: ago(60 * 24 * 7) })).id;
    ids.hour = (await log(leadId, { type: "meeting", occurredAt: ago(60) })).id;
  });

  it("lists the lead's touchpoints newest occurredAt first, with the lead's lastTouchAt", async () => {
    const body = await history(`leadId=${leadId}`);
    expect(body.touchpoints.map((t: { id: string }) => t.id)).toEqual([ids.now, ids.hour, ids.twoDays, ids.week]);
    expect(body).toMatchObject({ leadId, total: 4, limit: 50, offset: 0, warnings: [], next_steps: [] });
    expect(body.lastTouchAt).toBe(body.touchpoints[0].occurredAt);
    expect(body.lastTouchAt).toBe(await lastTouchOf(leadId));
    expect(body.touchpoints[0]).toMatchObject({ id: ids.now, leadId, type: "email", channel: "email", direction: "inbound", source: "api" });
  });

  it("filters by type, or by its alias channel", async () => {
    expect((await history(`leadId=${leadId}&type=email`)).touchpoints.map((t: { id: string }) => t.id)).toEqual([ids.now, ids.week]);
    const byChannel = await history(`leadId=${leadId}&channel=meeting`);
    expect(byChannel.touchpoints.map((t: { id: string }) => t.id)).toEqual([ids.hour]);
    expect(byChannel.total).toBe(1);
  });

  it("pages with limit and offset, pointing at the next page", async () => {
    const first = await history(`leadId=${leadId}&limit=3`);
    expect(first.touchpoints.map((t: { id: string }) => t.id)).toEqual([ids.now, ids.hour, ids.twoDays]);
    expect(first.next_steps).toEqual([`GET /api/openclaw/touchpoints?leadId=${leadId}&offset=3&limit=3 for the next page`]);
    const last = await history(`leadId=${leadId}&limit=3&offset=3`);
    expect(last.touchpoints.map((t: { id: string }) => t.id)).toEqual([ids.week]);
    expect(last).toMatchObject({ total: 4, offset: 3, next_steps: [] });
  });

  it("caps limit at 200 with a warning", async () => {
    const body = await history(`leadId=${leadId}&limit=1000`);
    expect(body.limit).toBe(200);
    expect(body.warnings).toEqual(["limit capped at 200"]);
  });

  it("answers an empty history and a null lastTouchAt for an untouched lead, suggesting how to log one", async () => {
    const fresh = await createLead(client);
    const body = await history(`leadId=${fresh}`);
    expect(body).toMatchObject({ touchpoints: [], total: 0, lastTouchAt: null });
    expect(body.next_steps).toEqual([`POST /api/openclaw/touchpoints { "leadId": "${fresh}", "type": "email" } to log one`]);
  });

  it("requires leadId, and refuses an unknown type filter with the valid types in the hint", async () => {
    const missing = expectError(await client.get("/touchpoints"), 400, "invalid_request");
    expect(missing.fields).toEqual([{ field: "leadId", message: "is required" }]);
    expect(missing.hint).toMatch(/^Pass the lead's id as leadId/);
    expect(expectError(await client.get(`/touchpoints?leadId=${leadId}&type=fax`), 400).hint).toContain(TYPES.join(", "));
    expect(expectError(await client.get(`/touchpoints?leadId=${leadId}&limit=0`), 400).fields[0].field).toBe("limit");
  });

  it("answers 404 for a lead that does not exist", async () => {
    expectError(await client.get("/touchpoints?leadId=rp_000000000000000000000000"), 404, "not_found");
  });

  it("keeps a soft-deleted lead's history readable, with a warning", async () => {
    const gone = await createLead(client);
    const id = (await log(gone)).id;
    expectOk(await client.delete(`/leads/${gone}`));
    const body = await history(`leadId=${gone}`);
    expect(body.touchpoints.map((t: { id: string }) => t.id)).toEqual([id]);
    expect(body.warnings).toEqual([expect.stringContaining(`Lead ${gone} is soft-deleted`)]);
  });
});

describe("touchpoints need an API key", () => {
  it("answers 401 to both routes without a key", async () => {
    expectError(await call("GET", "/touchpoints?leadId=rp_x"), 401, "missing_api_key");
    expectError(await call("POST", "/touchpoints", { leadId: "rp_x", type: "call" }), 401, "missing_api_key");
  });
});

describe("touchpoints tenancy: one workspace never sees or touches another's history", () => {
  let orgB: ReturnType<typeof as>;
  let leadA: string;
  let lastTouchA: string;

  beforeAll(async () => {
    orgB = as(await signup());
    leadA = await createLead(client);
    lastTouchA = (await log(leadA, { occurredAt: ago(60 * 24 * 30) })).lead.lastTouchAt;
    expectOk(await orgB.post("/leads", lead()), 201);
  });

  it("answers 404 to reading another workspace's lead's history", async () => {
    expectError(await orgB.get(`/touchpoints?leadId=${leadA}`), 404, "not_found");
    expectError(await orgB.get(`/touchpoints?leadId=${leadA}&type=email`), 404, "not_found");
  });

  it("answers 404 to logging on another workspace's lead, which keeps its last touch", async () => {
    expectError(await orgB.post("/touchpoints", { leadId: leadA, type: "call" }), 404, "not_found");
    const body = await history(`leadId=${leadA}`);
    expect(body.total).toBe(1);
    expect(body.lastTouchAt).toBe(lastTouchA);
  });
});
