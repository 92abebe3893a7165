// Calendly and meeting bots over real HTTP, against loopback Calendly and Recall.ai servers
// speaking their documented shapes (tests/support/calendly-loopback.ts).
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { expectError, expectOk, uniqueEmail, type Workspace } from "./support/api.ts";
import {
  calendlyDelivery, calendlySignature, type CalendlySubscription, type IntegrationStack, recallHeaders,
  startIntegrationStack, transcriptDone,
} from "./support/calendly-loopback.ts";

let plain: IntegrationStack;
let bots: IntegrationStack;
let db: postgres.Sql;

beforeAll(async () => {
  [plain, bots] = await Promise.all([startIntegrationStack({ recall: false }), startIntegrationStack({ recall: true })]);
  db = postgres(inject("databaseUrl"), { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await Promise.all([plain?.close(), bots?.close(), db?.end({ timeout: 2 })]);
});

async function connected(stack: IntegrationStack): Promise<{ ws: Workspace; subscription: CalendlySubscription; body: any }> {
  const ws = await stack.signup();
  const res = await stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken });
  const body = expectOk(res, 201);
  const subscription = stack.calendly.subscriptions.get(body.subscriptionUri)!;
  return { ws, subscription, body };
}

const writtenFor = async (orgId: string) => {
  const [row] = await db<{ deliveries: number; events: number; touchpoints: number; leads: number }[]>`
    select (select count(*)::int from app.calendly_events where org_id = ${orgId}) as deliveries,
           (select count(*)::int from app.events where org_id = ${orgId} and type in ('meeting_booked', 'meeting_canceled')) as events,
           (select count(*)::int from app.touchpoints where org_id = ${orgId}) as touchpoints,
           (select count(*)::int from app.leads where org_id = ${orgId}) as leads`;
  return row!;
};

describe("POST /integrations/calendly", () => {
  it("refuses a token Calendly does not accept with a 400 and a hint, storing nothing", async () => {
    const ws = await plain.signup();
    const before = plain.calendly.subscriptions.size;
    const error = expectError(await plain.as(ws).post("/integrations/calendly", { token: "not-a-real-calendly-token-123" }), 400, "invalid_calendly_token");
    expect(error.hint).toMatch(/personal access token/i);
    expect(plain.calendly.subscriptions.size).toBe(before);
    expect(expectOk(await plain.as(ws).get("/integrations/calendly")).connected).toBe(false);
  });

  it("verifies the token, subscribes our webhook URL with a generated signing key, and never echoes the token", async () => {
    const { ws, subscription, body } = await connected(plain);
    expect(body).toMatchObject({
      connected: true, userName: "Casey Host", userEmail: "casey@example.com", schedulingUrl: "https://calendly.com/casey-host",
      meetingBots: { enabled: false, note: "no meeting bot scheduled: RECALL_API_KEY is not set" },
    });
    expect(body.webhookUrl).toMatch(/\/api\/openclaw\/integrations\/calendly\/webhook\/[0-9a-f]{48}$/);
    expect(subscription).toMatchObject({
      callback_url: body.webhookUrl, events: ["invitee.created", "invitee.canceled"], scope: "user",
      user: plain.calendly.userUri, organization: plain.calendly.organizationUri,
    });
    expect(subscription.signing_key).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(body)).not.toContain(plain.calendly.goodToken);
    expect(JSON.stringify(body)).not.toContain(subscription.signing_key);

    // Stored encrypted: neither the token nor any recognisable part of it is in the row.
    const [row] = await db<{ stored: string }[]>`select row_to_json(c)::text as stored from app.calendly_connections c where org_id = ${ws.orgId}`;
    expect(row!.stored).not.toContain(plain.calendly.goodToken);
    expect(row!.stored).not.toContain(plain.calendly.goodToken.slice(-24));
    expect(row!.stored).not.toContain(Buffer.from(plain.calendly.goodToken).toString("base64").slice(0, 20));

    const status = expectOk(await plain.as(ws).get("/integrations/calendly"));
    expect(status).toMatchObject({ connected: true, userEmail: "casey@example.com", webhookUrl: body.webhookUrl, connectedAt: expect.any(String) });
    expect(JSON.stringify(status)).not.toContain(plain.calendly.goodToken);
  });

  it("reconnecting replaces the connection and deletes the old subscription at Calendly", async () => {
    const { ws, subscription } = await connected(plain);
    const again = expectOk(await plain.as(ws).post("/integrations/calendly", { token: plain.calendly.goodToken }), 201);
    expect(plain.calendly.subscriptions.has(subscription.uri)).toBe(false);
    expect(plain.calendly.subscriptions.has(again.subscriptionUri)).toBe(true);
    // The old URL no longer answers.
    expectError(await plain.deliver(subscription, calendlyDelivery("invitee.created", { email: uniqueEmail("old") })), 404);
  });

  it("answers 502 when Calendly fails, leaving nothing stored", async () => {
    const ws = await plain.signup();
    plain.calendly.failNextSubscribe = 500;
    const error = expectError(await plain.as(ws).post("/integrations/calendly", { token: plain.calendly.goodToken }), 502, "calendly_unavailable");
    expect(error.hint).toMatch(/retry/i);
    expect(expectOk(await plain.as(ws).get("/integrations/calendly")).connected).toBe(false);
  });
});

describe("DELETE /integrations/calendly", () => {
  it("deletes the subscription at Calendly and forgets the connection", async () => {
    const { ws, subscription } = await connected(plain);
    const res = expectOk(await plain.as(ws).delete("/integrations/calendly"));
    expect(res).toMatchObject({ connected: false, subscriptionDeleted: true });
    expect(plain.calendly.subscriptions.has(subscription.uri)).toBe(false);
    expect(expectOk(await plain.as(ws).get("/integrations/calendly")).connected).toBe(false);
    expectError(await plain.as(ws).delete("/integrations/calendly"), 404, "not_connected");
  });

  it("org B's key neither sees nor deletes org A's connection", async () => {
    const { ws: a, subscription } = await connected(plain);
    const b = await plain.signup();
    expect(expectOk(await plain.as(b).get("/integrations/calendly"))).toMatchObject({ connected: false, webhookUrl: null });
    expectError(await plain.as(b).delete("/integrations/calendly"), 404);
    expect(plain.calendly.subscriptions.has(subscription.uri)).toBe(true);
    expect(expectOk(await plain.as(a).get("/integrations/calendly")).connected).toBe(true);
  });
});

describe("POST /integrations/calendly/webhook/{token}", () => {
  it("a signed booking creates the lead, logs a meeting touchpoint and records meeting_booked (no bot: no key)", async () => {
    const { ws, subscription } = await connected(plain);
    const email = uniqueEmail("invitee");
    const delivery = calendlyDelivery("invitee.created", { email, name: "Jane Q Public" });
    const body = expectOk(await plain.deliver(subscription, delivery), 201);
    expect(body).toMatchObject({
      outcome: "created", duplicate: false, event: "invitee.created", email,
      meetingBot: { status: "not_scheduled", note: "no meeting bot scheduled: RECALL_API_KEY is not set" },
    });
    expect(body.warnings).toContain("no meeting bot scheduled: RECALL_API_KEY is not set");

    const lead = expectOk(await plain.as(ws).get(`/leads/${body.leadId}`));
    expect(lead.lead ?? lead).toMatchObject({ firstName: "Jane", lastName: "Q Public", email });
    const touchpoints = expectOk(await plain.as(ws).get(`/touchpoints?leadId=${body.leadId}`)).touchpoints;
    const payload = delivery.payload as any;
    expect(touchpoints).toHaveLength(1);
    expect(touchpoints[0]).toMatchObject({ type: "meeting", direction: "inbound" });
    expect(Date.parse(touchpoints[0].occurredAt)).toBe(Date.parse(payload.created_at));
    expect(touchpoints[0].metadata).toMatchObject({
      startTime: payload.scheduled_event.start_time, eventTypeName: "30 Minute Discovery Call",
      joinUrl: "https://meet.google.com/abc-defg-hij", cancelUrl: payload.cancel_url, rescheduleUrl: payload.reschedule_url,
      meetingBot: { status: "not_scheduled", note: "no meeting bot scheduled: RECALL_API_KEY is not set" },
    });
    const [event] = await db`select type, external_id, data from app.events where org_id = ${ws.orgId} and type = 'meeting_booked'`;
    expect(event).toMatchObject({ external_id: payload.uri, data: { startsAt: payload.scheduled_event.start_time, url: "https://meet.google.com/abc-defg-hij" } });
  });

  it("refuses tampered bodies, wrong keys, stale timestamps and missing signatures with 401, writing nothing", async () => {
    const { ws, subscription } = await connected(plain);
    const delivery = calendlyDelivery("invitee.created", { email: uniqueEmail("forged") });
    const raw = JSON.stringify(delivery);
    const cases: [string, (raw: string) => string | undefined, string][] = [
      ["tampered", () => calendlySignature(raw.replace("Jane", "Eve"), subscription.signing_key), "invalid_signature"],
      ["wrong key", (r) => calendlySignature(r, "f".repeat(64)), "invalid_signature"],
      ["stale", (r) => calendlySignature(r, subscription.signing_key, Math.floor(Date.now() / 1000) - 600), "stale_timestamp"],
      ["missing", () => undefined, "missing_signature"],
      ["malformed", () => "v1=abc", "invalid_signature"],
    ];
    for (const [label, sign, code] of cases) {
      const res = await plain.deliver(subscription, delivery, sign);
      expect(res.status, label).toBe(401);
      expectError(res, 401, code);
    }
    expect(await writtenFor(ws.orgId)).toEqual({ deliveries: 0, events: 0, touchpoints: 0, leads: 0 });
  });

  it("a replayed delivery answers with the first outcome and writes nothing", async () => {
    const { ws, subscription } = await connected(plain);
    const delivery = calendlyDelivery("invitee.created", { email: uniqueEmail("replay") });
    const first = expectOk(await plain.deliver(subscription, delivery), 201);
    const again = expectOk(await plain.deliver(subscription, delivery), 200);
    expect(again).toMatchObject({ duplicate: true, leadId: first.leadId, touchpointId: first.touchpointId, eventId: first.eventId });
    expect(await writtenFor(ws.orgId)).toEqual({ deliveries: 1, events: 1, touchpoints: 1, leads: 1 });
  });

  it("a cancellation updates the lead and records meeting_canceled with the reason", async () => {
    const { ws, subscription } = await connected(plain);
    const email = uniqueEmail("cancel");
    const booked = calendlyDelivery("invitee.created", { email });
    const inviteeUri = (booked.payload as any).uri;
    const first = expectOk(await plain.deliver(subscription, booked), 201);
    const res = expectOk(await plain.deliver(subscription, calendlyDelivery("invitee.canceled", { email, inviteeUri, reason: "Double booked" })), 200);
    expect(res).toMatchObject({ outcome: "updated", event: "invitee.canceled", leadId: first.leadId, meetingId: first.meetingId });
    const [event] = await db`select data from app.events where org_id = ${ws.orgId} and type = 'meeting_canceled'`;
    expect(event!.data).toMatchObject({ reason: "Double booked", meetingId: first.meetingId });
    const [meeting] = await db`select status, canceled_reason from app.meetings where id = ${first.meetingId}`;
    expect(meeting).toEqual({ status: "canceled", canceled_reason: "Double booked" });
  });

  it("an unknown webhook URL is a 404", async () => {
    expectError(await plain.post(`/integrations/calendly/webhook/${"0".repeat(48)}`, "{}", { "Calendly-Webhook-Signature": "t=1,v1=00" }), 404);
  });
});

describe("meeting bots (Recall.ai)", () => {
  it("a booked video meeting schedules a bot for its URL and start time; canceling removes it", async () => {
    const { ws, subscription, body: connection } = await connected(bots);
    expect(connection.meetingBots).toEqual({ enabled: true });
    const email = uniqueEmail("bot");
    const startTime = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const booked = calendlyDelivery("invitee.created", { email, startTime, joinUrl: "https://meet.google.com/xyz-abcd-efg" });
    const res = expectOk(await bots.deliver(subscription, booked), 201);
    const bot = bots.recall.bots.at(-1)!;
    expect(bot).toMatchObject({ meeting_url: "https://meet.google.com/xyz-abcd-efg", join_at: startTime, metadata: { lead_id: res.leadId, meeting_id: res.meetingId } });
    expect(bot.bot_name).toEqual(expect.any(String));
    expect(bot.recording_config).toMatchObject({ transcript: expect.any(Object) });
    expect(res.meetingBot).toMatchObject({ status: "scheduled", botId: bot.id });
    const replay = expectOk(await bots.deliver(subscription, booked));
    expect(replay).toMatchObject({ duplicate: true, meetingBot: { status: "scheduled", botId: bot.id } });
    expect(bots.recall.bots.filter((b) => b.meeting_url === "https://meet.google.com/xyz-abcd-efg")).toHaveLength(1);
    const [touchpoint] = expectOk(await bots.as(ws).get(`/touchpoints?leadId=${res.leadId}`)).touchpoints;
    expect(touchpoint.metadata.meetingBot).toMatchObject({ status: "scheduled", botId: bot.id });

    const canceled = expectOk(await bots.deliver(subscription, calendlyDelivery("invitee.canceled", { email, inviteeUri: (booked.payload as any).uri })));
    expect(canceled.meetingBot).toMatchObject({ status: "canceled", botId: bot.id });
    expect(bot.deleted).toBe(true);
  });

  it("a meeting without a video link gets no bot, and says why", async () => {
    const { subscription } = await connected(bots);
    const before = bots.recall.bots.length;
    const res = expectOk(await bots.deliver(subscription, calendlyDelivery("invitee.created", { email: uniqueEmail("inperson"), joinUrl: null })), 201);
    expect(res.meetingBot).toEqual({ status: "not_scheduled", note: "no meeting bot scheduled: the meeting has no video join URL" });
    expect(bots.recall.bots.length).toBe(before);
  });

  it("the transcript webhook stores a transcript_summary note once, and refuses unsigned requests", async () => {
    const { ws, subscription } = await connected(bots);
    const res = expectOk(await bots.deliver(subscription, calendlyDelivery("invitee.created", { email: uniqueEmail("transcript") })), 201);
    const botId = res.meetingBot.botId;
    const transcriptId = crypto.randomUUID();
    bots.recall.transcripts.set(transcriptId, [
      { participant: { id: 1, name: "Casey Host" }, words: [{ text: "Thanks for joining." }, { text: "What brings you here?" }] },
      { participant: { id: 2, name: "Jane Q Public" }, words: [{ text: "We need a CRM our agents can drive." }] },
      { participant: { id: 2, name: "Jane Q Public" }, words: [{ text: "Budget is approved for Q3." }] },
    ]);
    const raw = JSON.stringify(transcriptDone(botId, transcriptId));

    const forged = recallHeaders(raw, `whsec_${Buffer.from("not the secret").toString("base64")}`);
    expectError(await bots.post("/integrations/recall/webhook", raw, forged), 401, "invalid_signature");
    expectError(await bots.post("/integrations/recall/webhook", raw, {}), 401);

    const stored = expectOk(await bots.post("/integrations/recall/webhook", raw, recallHeaders(raw, bots.recall.webhookSecret)), 201);
    expect(stored).toMatchObject({ outcome: "stored", duplicate: false, leadId: res.leadId, meetingId: res.meetingId });
    const notes = expectOk(await bots.as(ws).get(`/notes?leadId=${res.leadId}&type=transcript_summary`)).notes;
    expect(notes).toHaveLength(1);
    expect(notes[0].content).toContain("Casey Host: Thanks for joining. What brings you here?");
    expect(notes[0].content).toContain("Jane Q Public: We need a CRM our agents can drive. Budget is approved for Q3.");

    const replay = expectOk(await bots.post("/integrations/recall/webhook", raw, recallHeaders(raw, bots.recall.webhookSecret)), 200);
    expect(replay).toMatchObject({ duplicate: true, noteId: stored.noteId });
    expect(expectOk(await bots.as(ws).get(`/notes?leadId=${res.leadId}`)).notes).toHaveLength(1);
  });

  it("without RECALL_API_KEY the transcript webhook answers 503 with what to set", async () => {
    const raw = JSON.stringify(transcriptDone("bot", "t"));
    const error = expectError(await plain.post("/integrations/recall/webhook", raw, {}), 503, "meeting_bots_not_configured");
    expect(error.hint).toContain("RECALL_API_KEY");
  });
});
