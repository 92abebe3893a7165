import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { as, createLead, expectError, expectOk, signup, type Workspace } from "./support/api.ts";

let ws: Workspace;
let client: ReturnType<typeof as>;
let other: ReturnType<typeof as>;

beforeAll(async () => {
  ws = await signup();
  client = as(ws);
  other = as(await signup());
});

const record = async (leadId: string, fields: Record<string, unknown> = {}, status = 201) =>
  expectOk(await client.post("/events", { leadId, type: "proposal_viewed", ...fields }), status);

describe("POST /events", () => {
  it("records a signal and answers 201 with the lead's score after it", async () => {
    const leadId = await createLead(client);
    const body = await record(leadId, { type: "quiz_completed", data: { score: 80 } });
    expect(body).toMatchObject({ eventId: expect.stringMatching(/^evt_[0-9a-f]{24}$/), duplicate: false, leadId, type: "quiz_completed", score: 20, label: "cool" });
    expect(body.warnings).toEqual([]);
    expect(body.next_steps).toContain(`GET /api/openclaw/events?leadId=${leadId} lists the lead's events`);
  });

  it("moves the score stored on the lead", async () => {
    const leadId = await createLead(client, { tier: "high" });
    await record(leadId, { type: "meeting_booked" });
    const { lead: stored } = expectOk(await client.get(`/leads/${leadId}`));
    expect(stored).toMatchObject({ score: 41, scoreLabel: "cool" });
  });

  it("answers a repeated externalId with the first event, 200 and duplicate true, counting nothing twice", async () => {
    const leadId = await createLead(client);
    const externalId = `beacon-${randomUUID()}`;
    const first = await record(leadId, { externalId });
    const again = await record(leadId, { externalId }, 200);
    expect(again).toMatchObject({ eventId: first.eventId, duplicate: true, leadId, score: first.score });
    expect(again.warnings[0]).toMatch(/already has this externalId/);
    const list = expectOk(await client.get(`/events?leadId=${leadId}&type=proposal_viewed`));
    expect(list.total).toBe(1);
    expect(first.score).toBe(5);
  });

  it("replays the first answer for the same Idempotency-Key", async () => {
    const leadId = await createLead(client);
    const headers = { "idempotency-key": randomUUID() };
    const first = await client.post("/events", { leadId, type: "cta_clicked" }, { headers });
    const again = await client.post("/events", { leadId, type: "cta_clicked" }, { headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.eventId).toBe(first.body.eventId);
    expect(expectOk(await client.get(`/events?leadId=${leadId}`)).total).toBe(1);
  });

  it("refuses a type only the CRM records, listing the recordable ones", async () => {
    const leadId = await createLead(client);
    const error = expectError(await client.post("/events", { leadId, type: "touch_logged" }), 400, "event_type_not_recordable");
    expect(error.hint).toMatch(/^Record one of: .*cta_clicked, email_bounced.*quiz_completed/);
    expect(error.hint).not.toMatch(/stage_changed,/);
  });

  it("refuses an unknown type with the valid ones in the hint", async () => {
    const leadId = await createLead(client);
    const error = expectError(await client.post("/events", { leadId, type: "quiz_taken" }), 400, "unknown_event_type");
    expect(error.hint).toContain("quiz_completed");
  });

  it("refuses data out of range", async () => {
    const leadId = await createLead(client);
    const error = expectError(await client.post("/events", { leadId, type: "quiz_completed", data: { score: 120 } }), 400, "invalid_event_data");
    expect(error.hint).toContain("score");
  });

  it("refuses an event from the future, a missing leadId and a bad occurredAt", async () => {
    const leadId = await createLead(client);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expectError(await client.post("/events", { leadId, type: "cta_clicked", occurredAt: future }), 400, "occurred_at_in_future");
    const missing = expectError(await client.post("/events", { type: "cta_clicked" }), 400, "invalid_request");
    expect(missing.hint).toContain("leadId");
    expectError(await client.post("/events", { leadId, type: "cta_clicked", occurredAt: "yesterday" }), 400, "invalid_request");
  });

  it("answers 404 for another workspace's lead and for an unknown one", async () => {
    const leadId = await createLead(client);
    expectError(await other.post("/events", { leadId, type: "cta_clicked" }), 404, "not_found");
    expectError(await client.post("/events", { leadId: "rp_000000000000000000000000", type: "cta_clicked" }), 404, "not_found");
  });

  it("needs an API key", async () => {
    const res = await as({ ...ws, apiKey: "" }).post("/events", { leadId: "rp_x", type: "cta_clicked" });
    expectError(res, 401);
  });
});

describe("GET /events", () => {
  it("lists a lead's events newest first, paginated, with a type filter", async () => {
    const leadId = await createLead(client);
    const at = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    await record(leadId, { type: "email_opened", occurredAt: at(30) });
    await record(leadId, { type: "proposal_viewed", occurredAt: at(10), data: { seconds: 40 } });
    await record(leadId, { type: "cta_clicked", occurredAt: at(20), data: { cta: "pricing" } });
    const page = expectOk(await client.get(`/events?leadId=${leadId}&limit=2`));
    expect(page.total).toBe(3);
    expect(page.events.map((e: { type: string }) => e.type)).toEqual(["proposal_viewed", "cta_clicked"]);
    expect(page.events[0]).toMatchObject({ leadId, data: { seconds: 40 }, source: "api", externalId: null });
    expect(page.next_steps[0]).toBe(`GET /api/openclaw/events?leadId=${leadId}&offset=2&limit=2 for the next page`);
    const rest = expectOk(await client.get(`/events?leadId=${leadId}&limit=2&offset=2`));
    expect(rest.events.map((e: { type: string }) => e.type)).toEqual(["email_opened"]);
    const filtered = expectOk(await client.get(`/events?leadId=${leadId}&type=cta_clicked`));
    expect(filtered.events).toHaveLength(1);
  });

  it("lists the whole workspace's events without leadId, including system-recorded ones", async () => {
    const leadId = await createLead(client);
    expectOk(await client.post("/touchpoints", { leadId, type: "call" }), 201);
    const touched = expectOk(await client.get("/events?type=touch_logged"));
    expect(touched.events.some((e: { leadId: string }) => e.leadId === leadId)).toBe(true);
    const all = expectOk(await client.get("/events"));
    expect(all.total).toBeGreaterThan(1);
  });

  it("refuses an unknown type filter with the valid ones, and 404s another workspace's lead", async () => {
    const error = expectError(await client.get("/events?type=nope"), 400, "unknown_event_type");
    expect(error.hint).toContain("touch_logged");
    const leadId = await createLead(client);
    expectError(await other.get(`/events?leadId=${leadId}`), 404, "not_found");
    expect(expectOk(await other.get("/events")).events.every((e: { leadId: string }) => e.leadId !== leadId)).toBe(true);
  });
});
