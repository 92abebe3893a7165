// Inbound events over HTTP: POST /inbound/{token} with no API key. The source's secret (or
// an HMAC signature) authenticates; the event creates or updates the lead by email, moves
// it, logs a touchpoint; a redelivered event id answers the first outcome and writes
// nothing; anything refused writes nothing.
import { createHmac, randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { type ApiResponse, as, call, createLeads, expectError, expectOk, signup, uniqueEmail, type Workspace } from "./support/api.ts";

const PATH = "/stages/sync-sources";

interface Source {
  id: string;
  secret: string;
  path: string;
}

let owner: Workspace;
let api: ReturnType<typeof as>;

beforeAll(async () => {
  owner = await signup();
  api = as(owner);
});

async function createSource(body: Record<string, unknown>, client = api): Promise<Source> {
  const res = expectOk(await client.post(PATH, { name: `Source ${randomUUID()}`, stage: "Leads", ...body }), 201);
  return { id: res.id, secret: res.secret, path: new URL(res.inboundUrl).pathname };
}

const post = (source: Source, raw: string, headers: Record<string, string> = {}, query = "") =>
  call("POST", `${source.path}${query}`, undefined, { raw, headers: { "content-type": "application/json", ...headers } });

const withSecret = (source: Source, payload: unknown, headers: Record<string, string> = {}) =>
  post(source, JSON.stringify(payload), { "x-openclaw-secret": source.secret, ...headers });

function signature(secret: string, timestamp: number, raw: string) {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${raw}`).digest("hex")}`;
}

function signed(source: Source, payload: unknown, options: { timestamp?: number; secret?: string; headers?: Record<string, string> } = {}) {
  const raw = JSON.stringify(payload);
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return post(source, raw, {
    "x-openclaw-timestamp": String(timestamp),
    "x-openclaw-signature": signature(options.secret ?? source.secret, timestamp, raw),
    ...options.headers,
  });
}

const pubsub = (data: unknown, messageId: string = randomUUID()) => JSON.stringify({
  message: { data: Buffer.from(JSON.stringify(data)).toString("base64"), messageId, message_id: messageId, publishTime: new Date().toISOString(), attributes: {} },
  subscription: "projects/acme/subscriptions/openclaw-gmail",
});

async function leadsWithEmail(email: string, client = api) {
  return expectOk(await client.get(`/leads?q=${encodeURIComponent(email)}`));
}

async function touchpoints(leadId: string, client = api) {
  return expectOk(await client.get(`/touchpoints?leadId=${leadId}`)).touchpoints;
}

function expectEvent(res: ApiResponse, status: number) {
  const body = expectOk(res, status);
  expect(body).toMatchObject({ outcome: expect.any(String), duplicate: expect.any(Boolean), eventId: expect.any(String) });
  return body;
}

describe("form_webhook (shared secret)", () => {
  let form: Source;
  beforeAll(async () => {
    form = await createSource({ type: "form_webhook", eventStages: { demo_requested: "Engaged" } });
  });

  it("creates the lead in the source's stage, logs a touchpoint and records the move", async () => {
    const email = uniqueEmail("form");
    const body = expectEvent(await withSecret(form, { email, first_name: "Ada", last_name: "Lovelace", company: "Engines Ltd", phone: "555-0100" },
      { "x-openclaw-event-id": randomUUID() }), 201);
    expect(body).toMatchObject({ outcome: "created", duplicate: false, event: "form_submitted", email, stage: { name: "Leads" }, syncSourceId: form.id });
    const lead = expectOk(await api.get(`/leads/${body.leadId}`)).lead;
    expect(lead).toMatchObject({ firstName: "Ada", lastName: "Lovelace", email, organizationName: "Engines Ltd", phone: "555-0100", stage: "Leads" });
    expect(lead.lastTouchAt).not.toBeNull();
    const [touchpoint] = await touchpoints(body.leadId);
    expect(touchpoint).toMatchObject({ id: body.touchpointId, type: "form", direction: "inbound", source: "sync_source", createdBy: `sync_source:${form.id}` });
    expect(touchpoint.metadata).toMatchObject({ syncSourceId: form.id, event: "form_submitted", payload: { email, company: "Engines Ltd" } });
    const history = expectOk(await api.get(`/stages/history?leadId=${body.leadId}`)).history;
    expect(history[0]).toMatchObject({ toStage: "Leads", source: "sync_source", changedBy: `sync_source:${form.id}` });
  });

  it("updates a known lead and moves it to the event's stage", async () => {
    const email = uniqueEmail("known");
    const created = expectOk(await api.post("/leads", { firstName: "Grace", email, phone: "555-0199" }), 201);
    const body = expectEvent(await withSecret(form, { event: "Demo Requested", email: email.toUpperCase(), title: "CTO" },
      { "x-openclaw-event-id": randomUUID() }), 200);
    expect(body).toMatchObject({ outcome: "updated", leadId: created.id, moved: true, stage: { name: "Engaged" }, previousStage: { name: "Prospects" } });
    const lead = expectOk(await api.get(`/leads/${created.id}`)).lead;
    expect(lead).toMatchObject({ firstName: "Grace", phone: "555-0199", title: "CTO", stage: "Engaged" });
    expect((await leadsWithEmail(email)).total).toBe(1);
  });

  it("accepts the secret as a bearer token", async () => {
    const res = await post(form, JSON.stringify({ email: uniqueEmail("bearer") }), { authorization: `Bearer ${form.secret}`, "x-openclaw-event-id": randomUUID() });
    expectEvent(res, 201);
  });

  it("accepts an HMAC signature instead of the secret", async () => {
    expectEvent(await signed(form, { email: uniqueEmail("signed-form"), eventId: randomUUID() }), 201);
  });

  it("accepts an urlencoded form post", async () => {
    const email = uniqueEmail("urlencoded");
    const res = await post(form, new URLSearchParams({ email, firstName: "Uma", eventId: randomUUID() }).toString(),
      { "content-type": "application/x-www-form-urlencoded", "x-openclaw-secret": form.secret });
    const body = expectEvent(res, 201);
    expect(expectOk(await api.get(`/leads/${body.leadId}`)).lead.firstName).toBe("Uma");
  });

  it("refuses a wrong secret with 401 and writes nothing", async () => {
    const email = uniqueEmail("wrong");
    const error = expectError(await withSecret(form, { email }, { "x-openclaw-secret": `whsec_${"0".repeat(64)}` }), 401, "invalid_secret");
    expect(error.hint).toContain("X-OpenClaw-Secret");
    expect((await leadsWithEmail(email)).total).toBe(0);
  });

  it("refuses a missing secret with 401", async () => {
    expectError(await post(form, JSON.stringify({ email: uniqueEmail("none") })), 401, "missing_secret");
  });

  it("does not take an API key instead of the secret", async () => {
    expectError(await post(form, JSON.stringify({ email: uniqueEmail("apikey") }), { authorization: `Bearer ${owner.apiKey}` }), 401, "invalid_secret");
  });

  it("refuses malformed JSON with 400 and writes nothing", async () => {
    const error = expectError(await post(form, "{\"email\": \"broken@example.com\"", { "x-openclaw-secret": form.secret }), 400, "invalid_payload");
    expect(error.hint).toContain("JSON object");
    expect((await leadsWithEmail("broken@example.com")).total).toBe(0);
  });

  it("refuses a JSON array with 400", async () => {
    expectError(await post(form, "[{\"email\": \"a@example.com\"}]", { "x-openclaw-secret": form.secret }), 400, "invalid_payload");
  });

  it("refuses a payload without an email with 400 naming the mapping, and records nothing", async () => {
    const eventId = randomUUID();
    const error = expectError(await withSecret(form, { first_name: "Nobody" }, { "x-openclaw-event-id": eventId }), 400, "missing_email");
    expect(error.message).toContain("contact.email");
    expect(error.hint).toContain("fieldMapping");
    // The refused event id was not recorded: fixed and resent, it is processed.
    const email = uniqueEmail("fixed");
    expectEvent(await withSecret(form, { email }, { "x-openclaw-event-id": eventId }), 201);
  });

  it("refuses an invalid email with 400", async () => {
    expectError(await withSecret(form, { email: "not an email" }, { "x-openclaw-event-id": randomUUID() }), 400, "invalid_email");
  });

  it("refuses an unreadable occurredAt with 400 and writes nothing", async () => {
    const email = uniqueEmail("when");
    expectError(await withSecret(form, { email, occurredAt: "someday" }, { "x-openclaw-event-id": randomUUID() }), 400, "invalid_occurred_at");
    expect((await leadsWithEmail(email)).total).toBe(0);
  });
});

describe("idempotency on the sender's event id", () => {
  it("answers a redelivery with the first outcome and writes nothing again", async () => {
    const source = await createSource({ type: "api_sdr" });
    const email = uniqueEmail("replay");
    const eventId = randomUUID();
    const first = expectEvent(await withSecret(source, { email, firstName: "Rita" }, { "x-openclaw-event-id": eventId }), 201);
    const again = expectEvent(await withSecret(source, { email, firstName: "Rita" }, { "x-openclaw-event-id": eventId }), 200);
    expect(again.duplicate).toBe(true);
    const { success: _a, warnings: _w1, next_steps: _n1, duplicate: _d1, ...firstOutcome } = first;
    const { success: _b, warnings, next_steps: _n2, duplicate: _d2, ...againOutcome } = again;
    expect(againOutcome).toEqual(firstOutcome);
    expect(warnings.join(" ")).toContain("received before");
    expect((await leadsWithEmail(email)).total).toBe(1);
    expect(await touchpoints(first.leadId)).toHaveLength(1);
  });

  it("reads the event id from the body when there is no header", async () => {
    const source = await createSource({ type: "api_sdr" });
    const eventId = randomUUID();
    const first = expectEvent(await withSecret(source, { eventId, email: uniqueEmail("body-id") }), 201);
    expect(first.eventId).toBe(eventId);
    expect(expectEvent(await withSecret(source, { eventId, email: uniqueEmail("other") }), 200).duplicate).toBe(true);
  });

  it("uses the body's hash when no event id is sent, with a warning", async () => {
    const source = await createSource({ type: "api_sdr" });
    const payload = { email: uniqueEmail("hashed") };
    const first = expectEvent(await withSecret(source, payload), 201);
    expect(first.eventId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(first.warnings.join(" ")).toContain("X-OpenClaw-Event-Id");
    expect(expectEvent(await withSecret(source, payload), 200).duplicate).toBe(true);
    expect(await touchpoints(first.leadId)).toHaveLength(1);
  });

  it("processes concurrent deliveries of one event once", async () => {
    const source = await createSource({ type: "api_sdr" });
    const email = uniqueEmail("concurrent");
    const eventId = randomUUID();
    const answers = await Promise.all(Array.from({ length: 5 }, () => withSecret(source, { email }, { "x-openclaw-event-id": eventId })));
    const bodies = answers.map((res) => expectOk(res, res.status));
    expect(bodies.filter((b) => !b.duplicate)).toHaveLength(1);
    expect(new Set(bodies.map((b) => b.leadId)).size).toBe(1);
    expect(await touchpoints(bodies[0].leadId)).toHaveLength(1);
  });
});

describe("concurrent events for a new email", () => {
  it("create one lead and log every event", async () => {
    const source = await createSource({ type: "api_sdr" });
    const email = uniqueEmail("race");
    const answers = await Promise.all(Array.from({ length: 4 }, () => withSecret(source, { email }, { "x-openclaw-event-id": randomUUID() })));
    const bodies = answers.map((res) => expectOk(res, res.status));
    expect(bodies.map((b) => b.outcome).sort()).toEqual(["created", "updated", "updated", "updated"]);
    expect(new Set(bodies.map((b) => b.leadId)).size).toBe(1);
    expect((await leadsWithEmail(email)).total).toBe(1);
    expect(await touchpoints(bodies[0].leadId)).toHaveLength(4);
  });
});

describe("generic_webhook (HMAC)", () => {
  let hook: Source;
  beforeAll(async () => {
    hook = await createSource({ type: "generic_webhook", fieldMapping: { email: "data.person.email", firstName: "data.person.given", event: "type" }, eventStages: { "deal.won": "Closed Won" } });
  });

  it("accepts a valid signature and maps nested fields", async () => {
    const email = uniqueEmail("hmac");
    const body = expectEvent(await signed(hook, { id: "ignored-record-id", type: "deal.won", data: { person: { email, given: "Hedy" } } },
      { headers: { "x-openclaw-event-id": randomUUID() } }), 201);
    expect(body).toMatchObject({ event: "deal.won", stage: { name: "Closed Won" } });
    const lead = expectOk(await api.get(`/leads/${body.leadId}`)).lead;
    expect(lead).toMatchObject({ firstName: "Hedy", email, stage: "Closed Won" });
    const [touchpoint] = await touchpoints(body.leadId);
    expect(touchpoint).toMatchObject({ type: "other", source: "sync_source" });
  });

  it("refuses a bad signature with 401 and writes nothing", async () => {
    const email = uniqueEmail("badsig");
    expectError(await signed(hook, { data: { person: { email } } }, { secret: `whsec_${"1".repeat(64)}` }), 401, "invalid_signature");
    expect((await leadsWithEmail(email)).total).toBe(0);
  });

  it("refuses a body changed after signing", async () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const raw = JSON.stringify({ data: { person: { email: uniqueEmail("tampered") } } });
    const res = await post(hook, raw.replace("tampered", "evil"), {
      "x-openclaw-timestamp": String(timestamp), "x-openclaw-signature": signature(hook.secret, timestamp, raw),
    });
    expectError(res, 401, "invalid_signature");
  });

  it("refuses a timestamp more than 5 minutes old, even correctly signed", async () => {
    const email = uniqueEmail("stale");
    const error = expectError(await signed(hook, { data: { person: { email } } }, { timestamp: Math.floor(Date.now() / 1000) - 301 }), 401, "stale_timestamp");
    expect(error.hint).toContain("5 minutes");
    expect((await leadsWithEmail(email)).total).toBe(0);
  });

  it("refuses a timestamp from the future", async () => {
    expectError(await signed(hook, { data: { person: { email: uniqueEmail("future") } } }, { timestamp: Math.floor(Date.now() / 1000) + 600 }), 401, "stale_timestamp");
  });

  it("needs a signature: the bare secret is not enough", async () => {
    const error = expectError(await withSecret(hook, { data: { person: { email: uniqueEmail("plain") } } }), 401, "missing_signature");
    expect(error.hint).toContain("X-OpenClaw-Signature");
  });

  it("accepts one valid signature among several", async () => {
    const raw = JSON.stringify({ data: { person: { email: uniqueEmail("multi") } } });
    const timestamp = Math.floor(Date.now() / 1000);
    const res = await post(hook, raw, {
      "x-openclaw-timestamp": String(timestamp),
      "x-openclaw-signature": `v1=${"0".repeat(64)}, ${signature(hook.secret, timestamp, raw)}`,
    });
    expectEvent(res, 201);
  });

  it("stops accepting the old secret once it is rotated", async () => {
    const source = await createSource({ type: "generic_webhook" });
    const rotated = expectOk(await api.put(PATH, { id: source.id, rotateSecret: true })).secret;
    expectError(await signed(source, { email: uniqueEmail("old") }), 401, "invalid_signature");
    expectEvent(await signed(source, { email: uniqueEmail("new") }, { secret: rotated }), 201);
  });
});

describe("signed requests: the event id cannot be swapped", () => {
  let hook: Source;
  beforeAll(async () => {
    hook = await createSource({ type: "generic_webhook" });
  });

  /** Standard Webhooks, as its libraries sign: base64 HMAC-SHA256 keyed with the base64-decoded secret after whsec_. */
  function standardHeaders(secret: string, id: string, timestamp: number, raw: string) {
    const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
    const sig = createHmac("sha256", key).update(`${id}.${timestamp}.${raw}`).digest("base64");
    return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${sig}` };
  }
  const now = () => Math.floor(Date.now() / 1000);

  it("v1: the same signed request replayed with another X-OpenClaw-Event-Id is a duplicate", async () => {
    const email = uniqueEmail("replayed");
    const raw = JSON.stringify({ email, firstName: "Vera" });
    const timestamp = now();
    const signedHeaders = { "x-openclaw-timestamp": String(timestamp), "x-openclaw-signature": signature(hook.secret, timestamp, raw) };
    const first = expectEvent(await post(hook, raw, { ...signedHeaders, "x-openclaw-event-id": "evt-original" }), 201);
    for (const forged of ["evt-forged-1", "evt-forged-2", undefined]) {
      const replay = expectEvent(await post(hook, raw, { ...signedHeaders, ...(forged ? { "x-openclaw-event-id": forged } : {}) }), 200);
      expect(replay).toMatchObject({ duplicate: true, eventId: "evt-original", leadId: first.leadId });
    }
    expect((await leadsWithEmail(email)).total).toBe(1);
    expect(await touchpoints(first.leadId)).toHaveLength(1);
  });

  it("v1: a retry signed afresh keeps its event id and stays a duplicate; a new event is new", async () => {
    const email = uniqueEmail("resigned");
    const eventId = randomUUID();
    const first = expectEvent(await signed(hook, { email }, { timestamp: now() - 5, headers: { "x-openclaw-event-id": eventId } }), 201);
    expect(expectEvent(await signed(hook, { email }, { headers: { "x-openclaw-event-id": eventId } }), 200).duplicate).toBe(true);
    const next = expectEvent(await signed(hook, { email, event: "demo_booked" }, { headers: { "x-openclaw-event-id": randomUUID() } }), 200);
    expect(next).toMatchObject({ duplicate: false, outcome: "updated", leadId: first.leadId });
    expect(await touchpoints(first.leadId)).toHaveLength(2);
  });

  it("Standard Webhooks: the signed webhook-id is the event id; a properly signed new event is new", async () => {
    const email = uniqueEmail("standard");
    const raw = JSON.stringify({ email, firstName: "Sol" });
    const timestamp = now();
    const first = expectEvent(await post(hook, raw, standardHeaders(hook.secret, "msg_first", timestamp, raw)), 201);
    expect(first.eventId).toBe("msg_first");
    const again = expectEvent(await post(hook, raw, standardHeaders(hook.secret, "msg_first", timestamp, raw)), 200);
    expect(again.duplicate).toBe(true);
    const next = expectEvent(await post(hook, raw, standardHeaders(hook.secret, "msg_second", timestamp, raw)), 200);
    expect(next).toMatchObject({ duplicate: false, eventId: "msg_second", leadId: first.leadId });
    expect(await touchpoints(first.leadId)).toHaveLength(2);
  });

  it("Standard Webhooks: a replay with a changed webhook-id is refused; X-OpenClaw-Event-Id does not override the signed id", async () => {
    const email = uniqueEmail("standard-replay");
    const raw = JSON.stringify({ email });
    const headers = standardHeaders(hook.secret, "msg_signed", now(), raw);
    const first = expectEvent(await post(hook, raw, headers), 201);
    expectError(await post(hook, raw, { ...headers, "webhook-id": "msg_tampered" }), 401, "invalid_signature");
    const swapped = expectEvent(await post(hook, raw, { ...headers, "x-openclaw-event-id": "evt-forged" }), 200);
    expect(swapped).toMatchObject({ duplicate: true, eventId: "msg_signed" });
    expect(swapped.warnings.join(" ")).toContain("X-OpenClaw-Event-Id was ignored");
    expect(await touchpoints(first.leadId)).toHaveLength(1);
  });

  it("refuses an unsigned event id, a signed id with a dot, and a stale Standard Webhooks timestamp", async () => {
    const email = uniqueEmail("unsigned");
    expectError(await post(hook, JSON.stringify({ email }), { "x-openclaw-event-id": randomUUID() }), 401, "missing_signature");
    const raw = JSON.stringify({ email });
    expectError(await post(hook, raw, standardHeaders(hook.secret, "msg.1", now(), raw)), 401, "invalid_event_id");
    expectError(await post(hook, raw, standardHeaders(hook.secret, "msg_old", now() - 301, raw)), 401, "stale_timestamp");
    expectError(await post(hook, raw, { "webhook-id": "msg_only" }), 401, "missing_signature");
    expect((await leadsWithEmail(email)).total).toBe(0);
  });
});

describe("gmail (Pub/Sub push)", () => {
  let gmail: Source;
  beforeAll(async () => {
    gmail = await createSource({ type: "gmail", eventStages: { reply_received: "Engaged" } });
  });

  it("turns a reply into a lead in the reply stage, authenticated by ?secret= on the push endpoint", async () => {
    const from = uniqueEmail("replier");
    const messageId = `${Date.now()}${Math.floor(Math.random() * 1000)}`;
    const raw = pubsub({ event: "reply_received", from: `"Bob Stone" <${from}>`, to: "me@mycompany.com", subject: "Re: our proposal",
      snippet: "Sounds good, let's talk", messageId: "<abc@mail.gmail.com>", threadId: "t-1", date: "Tue, 1 Jul 2025 10:00:00 +0000" }, messageId);
    const body = expectEvent(await post(gmail, raw, {}, `?secret=${gmail.secret}`), 201);
    expect(body).toMatchObject({ outcome: "created", event: "reply_received", eventId: messageId, stage: { name: "Engaged" }, email: from });
    const lead = expectOk(await api.get(`/leads/${body.leadId}`)).lead;
    expect(lead).toMatchObject({ firstName: "Bob", lastName: "Stone", email: from, stage: "Engaged" });
    const [touchpoint] = await touchpoints(body.leadId);
    expect(touchpoint).toMatchObject({ type: "email", direction: "inbound", summary: "Re: our proposal", occurredAt: "2025-07-01T10:00:00.000Z" });
    expect(touchpoint.metadata.payload).toMatchObject({ snippet: "Sounds good, let's talk", threadId: "t-1" });

    // Pub/Sub redelivers until acknowledged: the same messageId is a duplicate.
    const again = expectEvent(await post(gmail, raw, {}, `?secret=${gmail.secret}`), 200);
    expect(again).toMatchObject({ duplicate: true, leadId: body.leadId });
    expect(await touchpoints(body.leadId)).toHaveLength(1);
  });

  it("makes the recipient of a sent email the lead, as an outbound email", async () => {
    const to = uniqueEmail("recipient");
    const body = expectEvent(await post(gmail, pubsub({ event: "email_sent", from: "me@mycompany.com", to, subject: "Intro" }), {
      "x-openclaw-secret": gmail.secret,
    }), 201);
    expect(body).toMatchObject({ email: to, stage: { name: "Leads" } });
    const [touchpoint] = await touchpoints(body.leadId);
    expect(touchpoint).toMatchObject({ type: "email", direction: "outbound", summary: "Intro" });
  });

  it("acknowledges a bare Gmail watch notification with 202, ignored, and writes no lead", async () => {
    const body = expectEvent(await post(gmail, pubsub({ emailAddress: "me@mycompany.com", historyId: "987654" }), {}, `?secret=${gmail.secret}`), 202);
    expect(body).toMatchObject({ outcome: "ignored", duplicate: false });
    expect(body.leadId).toBeUndefined();
    expect(body.warnings.join(" ")).toContain("historyId");
    expect((await leadsWithEmail("me@mycompany.com")).total).toBe(0);
  });

  it("also accepts the forwarder's data posted directly", async () => {
    const from = uniqueEmail("direct");
    const res = await post(gmail, JSON.stringify({ event: "email_received", from, subject: "Hello", messageId: randomUUID() }), { "x-openclaw-secret": gmail.secret });
    expect(expectEvent(res, 201)).toMatchObject({ email: from, event: "email_received" });
  });

  it("refuses a push message without data with 400", async () => {
    const error = expectError(await post(gmail, JSON.stringify({ message: { messageId: "1" }, subscription: "s" }), {}, `?secret=${gmail.secret}`),
      400, "invalid_payload");
    expect(error.hint).toContain("base64");
  });

  it("refuses data that is not base64 JSON with 400", async () => {
    const raw = JSON.stringify({ message: { data: Buffer.from("not json").toString("base64"), messageId: "2" } });
    expectError(await post(gmail, raw, {}, `?secret=${gmail.secret}`), 400, "invalid_payload");
  });

  it("refuses a wrong ?secret= with 401", async () => {
    expectError(await post(gmail, pubsub({ event: "reply_received", from: uniqueEmail("x") }), {}, `?secret=whsec_${"2".repeat(64)}`), 401, "invalid_secret");
  });

  it("accepts ?secret= next to a Pub/Sub OIDC bearer token", async () => {
    const res = await post(gmail, pubsub({ event: "reply_received", from: uniqueEmail("oidc") }), { authorization: "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig" },
      `?secret=${gmail.secret}`);
    expectEvent(res, 201);
  });
});

describe("the inbound URL", () => {
  it("answers 404 for an unknown token, revealing nothing", async () => {
    const error = expectError(await call("POST", `/api/openclaw/inbound/${"ab".repeat(24)}`, { email: "x@example.com" }), 404, "not_found");
    expect(error.message).toBe("No sync source for this inbound URL");
    expectError(await call("POST", "/api/openclaw/inbound/not-a-token", { email: "x@example.com" }), 404, "not_found");
  });

  it("refuses events while the source is disabled (409), then takes them", async () => {
    const source = await createSource({ type: "api_sdr", enabled: false });
    const email = uniqueEmail("disabled");
    const eventId = randomUUID();
    const error = expectError(await withSecret(source, { email }, { "x-openclaw-event-id": eventId }), 409, "sync_source_disabled");
    expect(error.hint).toContain("\"enabled\": true");
    expect((await leadsWithEmail(email)).total).toBe(0);
    expectOk(await api.put(PATH, { id: source.id, enabled: true }));
    expectEvent(await withSecret(source, { email }, { "x-openclaw-event-id": eventId }), 201);
  });

  it("checks the secret before saying the source is disabled", async () => {
    const source = await createSource({ type: "api_sdr", enabled: false });
    expectError(await withSecret(source, { email: uniqueEmail("x") }, { "x-openclaw-secret": "wrong" }), 401, "invalid_secret");
  });

  it("records when the source last received an event", async () => {
    const source = await createSource({ type: "api_sdr" });
    expectEvent(await withSecret(source, { email: uniqueEmail("last") }), 201);
    const listed = expectOk(await api.get(PATH)).syncSources.find((s: { id: string }) => s.id === source.id);
    expect(listed.lastEventAt).not.toBeNull();
  });

  it("keeps a workspace's events in that workspace", async () => {
    const source = await createSource({ type: "api_sdr" });
    const email = uniqueEmail("mine");
    const body = expectEvent(await withSecret(source, { email }), 201);
    const intruder = as(await signup());
    expectError(await intruder.get(`/leads/${body.leadId}`), 404);
    expect((await leadsWithEmail(email, intruder)).total).toBe(0);
  });
});

describe("the plan's lead limit", () => {
  it("refuses a new lead beyond the limit with 402 and writes nothing; known leads still update", async () => {
    const workspace = await signup();
    const client = as(workspace);
    const ids = await createLeads(client, 100);
    const source = await createSource({ type: "api_sdr", stage: "Engaged" }, client);
    const email = uniqueEmail("over");
    const eventId = randomUUID();
    const error = expectError(await withSecret(source, { email }, { "x-openclaw-event-id": eventId }), 402, "lead_limit_reached");
    expect(error.upgrade_url).toEqual(expect.any(String));
    expect((await leadsWithEmail(email, client)).total).toBe(0);
    const listed = expectOk(await client.get(PATH)).syncSources[0];
    expect(listed.lastEventAt).toBeNull();

    const known = expectOk(await client.get(`/leads/${ids[0]}`)).lead;
    const body = expectEvent(await withSecret(source, { email: known.email }, { "x-openclaw-event-id": randomUUID() }), 200);
    expect(body).toMatchObject({ outcome: "updated", leadId: known.id, stage: { name: "Engaged" } });
  });
});
