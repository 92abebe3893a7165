// Outbound webhooks end to end: subscriptions over HTTP, every event type driven through the
// real API (leads, enrichment, campaign mail, replies, bounces, unsubscribes, a Calendly
// booking, a proposal view, a quiz, an operator's answer), delivered by the real worker to
// loopback receivers that verify each signature with the standardwebhooks package; retries
// after 500s and time-outs, disabling, redelivery, a worker killed mid-delivery, rolled-back
// changes and tenancy.
//
// Only this file subscribes endpoints, so the deliveries its workers claim are its own. Time
// is moved by backdating rows (next_attempt_at, leases, the failure streak), never by
// waiting for a retry.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, type Sql } from "../functions/db.ts";
import { createSmtpSender } from "../functions/mail/smtp.ts";
import { runTick } from "../functions/mail/worker.ts";
import { startMailCatcher } from "../functions/node/mail-catcher.ts";
import { nodeResolveHost } from "../functions/node/dns.ts";
import { readWebhooksConfig, type WebhooksConfig } from "../functions/webhooks/config.ts";
import { runWebhookTick } from "../functions/webhooks/worker.ts";
import { as, call, createLead, expectError, expectOk, lead, uniqueEmail, type Workspace } from "./support/api.ts";
import { startApp, type TestApp } from "./support/app.ts";
import { calendlyDelivery, startIntegrationStack } from "./support/calendly-loopback.ts";
import { type EnrichmentStack, homePage, startEnrichmentStack, uniqueDomain } from "./support/enrichment-stack.ts";
import { mailConfig } from "./support/smtp.ts";
import { waitFor, within } from "./support/wait.ts";
import { type Delivery, startWebhookReceiver, verify, type WebhookReceiver } from "./support/webhook-receiver.ts";

// Receivers listen on loopback over plain http: the apps and workers of this file allow it.
const LOOPBACK = { WEBHOOKS_ALLOW_PRIVATE_NETWORK: "true", WEBHOOKS_ALLOW_HTTP: "true" };
const BROWSER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";

let sql: Sql;
let stack: EnrichmentStack;
let api: string;

beforeAll(async () => {
  sql = connect(inject("databaseUrl"), { max: 4 });
  stack = await startEnrichmentStack(LOOPBACK);
  api = stack.url;
});
afterAll(async () => {
  await stack?.close();
  await sql?.end({ timeout: 2 });
});
// Each test's subscriptions go with it (and their pending retries), so no later test's
// worker sends to a receiver that is gone.
const subscriptions: string[] = [];
afterEach(async () => {
  if (subscriptions.length) await sql`delete from app.webhook_subscriptions where id in ${sql(subscriptions.splice(0))}`;
});

const workerConfig = (settings: Record<string, string> = {}): WebhooksConfig =>
  readWebhooksConfig((name) => ({ ...LOOPBACK, ...settings } as Record<string, string>)[name]);

/** Runs worker ticks (as `npm run worker` does) until nothing is due. */
async function deliverDue(settings: Record<string, string> = {}) {
  const deps = { sql, config: workerConfig(settings), resolveHost: nodeResolveHost(), name: `test-${randomUUID().slice(0, 8)}` };
  const total = { claimed: 0, delivered: 0, retried: 0, failed: 0, disabled: 0 };
  for (let round = 0; round < 20; round++) {
    const tick = await runWebhookTick(deps);
    for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += tick[key];
    if (tick.claimed === 0) break;
  }
  return total;
}

/** A workspace on the webhook-enabled app, and a subscription of it to a path of the receiver. */
async function subscribed(receiver: WebhookReceiver, path: string, events: string[] = ["*"], ws?: Workspace) {
  const workspace = ws ?? await stack.signup();
  const client = as(workspace, api);
  const body = expectOk(await client.post("/webhooks", { url: `${receiver.url}${path}`, events }), 201);
  subscriptions.push(body.id);
  return { ws: workspace, client, id: body.id as string, secret: body.secret as string };
}

const at = (path: string) => (request: { path: string }) => request.path === path;

async function deliveryRow(webhookId: string) {
  const [row] = await sql<{ id: string; status: string; attempts: number; event_id: string }[]>`
    select id, status, attempts, event_id from app.webhook_deliveries where subscription_id = ${webhookId} order by created_at desc, id desc limit 1`;
  return row!;
}

/** Makes a subscription's pending deliveries due now, as if their retry wait had passed. */
async function passRetryWait(webhookId: string) {
  await sql`update app.webhook_deliveries set next_attempt_at = now() - interval '1 second'
            where subscription_id = ${webhookId} and status = 'pending'`;
}

// ---------------------------------------------------------------------------
describe("webhook subscriptions over HTTP", () => {
  it("lists the event catalogue, each type with when it is sent and what its data holds", async () => {
    const ws = await stack.signup();
    const body = expectOk(await as(ws, api).get("/webhooks/event-types"));
    expect(body.eventTypes.map((t: any) => t.type)).toEqual([
      "lead.created", "lead.updated", "lead.stage_changed", "lead.deleted", "enrichment.completed", "email.sent", "email.replied",
      "email.bounced", "email.unsubscribed", "meeting.booked", "proposal.viewed", "quiz.completed", "feedback.answered",
    ]);
    for (const type of body.eventTypes) expect(type).toMatchObject({ description: expect.any(String), data: expect.any(String) });
    expect(body.eventTypes.find((t: any) => t.type === "email.sent").sourceEvent).toBe("email_sent");
  });

  it("creates a subscription, shows the secret once, and never again", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const ws = await stack.signup();
      const client = as(ws, api);
      const created = expectOk(await client.post("/webhooks", {
        url: `${receiver.url}/crm`, events: ["lead.created", "meeting.booked", "lead.created"], description: "Warehouse", extra: 1,
      }, { headers: { "idempotency-key": randomUUID() } }), 201);
      expect(created.id).toMatch(/^wh_[0-9a-f]{24}$/);
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(created.webhook).toMatchObject({
        id: created.id, url: `${receiver.url}/crm`, events: ["lead.created", "meeting.booked"], description: "Warehouse", enabled: true,
        disabledReason: null, consecutiveFailures: 0,
      });
      expect(created.warnings.join(" ")).toMatch(/Ignored field\(s\): extra/);
      expect(created.warnings.join(" ")).toMatch(/Idempotency-Key is not honoured/);
      expect(created.next_steps.join(" ")).toMatch(/shown only once/);
      expect(created.next_steps.join(" ")).toMatch(/standardwebhooks/);

      const listed = expectOk(await client.get("/webhooks"));
      expect(listed).toMatchObject({ total: 1, limit: 50, offset: 0 });
      const one = expectOk(await client.get(`/webhooks/${created.id}`));
      expect(one.deliveries).toEqual({ pending: 0, sending: 0, delivered: 0, failed: 0 });
      expect(JSON.stringify([listed, one])).not.toContain(created.secret);
      expect(JSON.stringify([listed, one])).not.toContain("whsec_");
    } finally {
      await receiver.close();
    }
  });

  it("refuses URLs the SSRF guard refuses, and plain http where it is not allowed, with hints", async () => {
    const ws = await stack.signup();
    // The suite's own app runs with the production defaults: https only, public addresses only.
    const strict = as(ws);
    for (const url of ["http://hooks.example.com/x", "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook",
      "https://[::1]/hook", "https://user:pw@hooks.example.com/x", "https://hooks.internal/x", "https://169.254.169.254/latest", "ftp://x.example/"]) {
      const error = expectError(await strict.post("/webhooks", { url, events: ["lead.created"] }), 400, "webhook_url_not_allowed");
      expect(error.hint).toMatch(/public https URL/);
    }
    expectError(await strict.post("/webhooks", { url: "not a url", events: ["lead.created"] }), 400, "webhook_url_not_allowed");
    const unknown = expectError(await strict.post("/webhooks", { url: "https://93.184.215.14/hook", events: ["lead.exploded"] }), 400, "unknown_webhook_event_type");
    expect(unknown.hint).toContain("lead.created, lead.updated, lead.stage_changed");
    const missing = expectError(await strict.post("/webhooks", { url: "https://93.184.215.14/hook" }), 400, "invalid_request");
    expect(missing.hint).toMatch(/event-types/);
    expect(expectOk(await strict.get("/webhooks")).total).toBe(0);
  });

  it("changes, rotates and deletes; another workspace sees and touches none of it", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const { client, id, secret } = await subscribed(receiver, "/a", ["lead.created"]);
      const other = as(await stack.signup(), api);
      expectError(await other.get(`/webhooks/${id}`), 404, "not_found");
      expectError(await other.patch(`/webhooks/${id}`, { enabled: false }), 404, "not_found");
      expectError(await other.post(`/webhooks/${id}/rotate-secret`), 404, "not_found");
      expectError(await other.delete(`/webhooks/${id}`), 404, "not_found");
      expectError(await other.get(`/webhooks/${id}/deliveries`), 404, "not_found");

      const patched = expectOk(await client.patch(`/webhooks/${id}`, { events: ["*"], description: "All", url: `${receiver.url}/b` }));
      expect(patched.webhook).toMatchObject({ events: ["*"], description: "All", url: `${receiver.url}/b` });
      expectError(await client.patch(`/webhooks/${id}`, { url: "https://user:secret@hooks.example.com/x" }), 400, "webhook_url_not_allowed");
      expect(expectOk(await client.patch(`/webhooks/${id}`, { description: null })).webhook.description).toBeNull();

      // After a rotation every delivery carries both signatures for 24 hours: either secret verifies it.
      const rotated = expectOk(await client.post(`/webhooks/${id}/rotate-secret`));
      expect(rotated.secret).not.toBe(secret);
      expect(Date.parse(rotated.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3_600_000);
      await createLead(client);
      await deliverDue();
      const [request] = receiver.requests;
      expect(request!.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
      expect(verify(request!, rotated.secret).type).toBe("lead.created");
      expect(verify(request!, secret).type).toBe("lead.created");

      expect(expectOk(await client.delete(`/webhooks/${id}`)).deleted).toBe(true);
      expectError(await client.get(`/webhooks/${id}`), 404, "not_found");
    } finally {
      await receiver.close();
    }
  });
});

// ---------------------------------------------------------------------------
describe("every event type, signed and delivered", () => {
  it("sends all thirteen types, each verified with the standardwebhooks package", async () => {
    const receiver = await startWebhookReceiver();
    const calendly = await startIntegrationStack({ recall: false });
    const catcher = await startMailCatcher({ smtpPort: 0, httpPort: 0 });
    const sender = createSmtpSender(`${catcher.smtpUrl}?pool=false`, "OpenClaw CRM <crm@localhost>");
    try {
      const { ws, client, id, secret } = await subscribed(receiver, "/all");
      // A lead at a company whose website the enrichment stack knows.
      const domain = uniqueDomain("hooks");
      stack.sites[domain] = { html: homePage("Hookline") };
      stack.mx[domain] = [`mx1.${domain}`];
      const email = `jane@${domain}`;
      const leadId = await createLead(client, { email, firstName: "Jane" });
      expectOk(await client.patch(`/leads/${leadId}`, { phone: "+1 555 0100" }));
      expectOk(await client.patch(`/leads/${leadId}`, { stage: "Engaged" }));
      expect(expectOk(await client.post("/enrich", { leadId })).status).toBe("complete");

      // A campaign email, sent by the mail worker through SMTP.
      const campaignId = expectOk(await client.post("/campaigns", {
        name: `Hooks ${randomUUID()}`, steps: [{ delayMinutes: 0, subject: "Hi {{firstName}}", body: "One email." }],
      }), 201).id;
      expectOk(await client.post(`/campaigns/${campaignId}/enroll`, { leadId }), 201);
      await waitFor(async () => {
        await runTick({ sql, sender, name: `test-${randomUUID().slice(0, 8)}`,
          config: mailConfig({ worker: { intervalMs: 50, batch: 50, leaseSeconds: 120, enqueue: "always" } }) }, true);
        const [sent] = await sql`select 1 from app.events where lead_id = ${leadId} and type = 'email_sent'`;
        return sent !== undefined;
      }, { what: "the campaign email to be sent", timeoutMs: 15_000 });
      expectOk(await client.post("/events", { leadId, type: "email_replied", data: { subject: "Re: Hi Jane" } }), 201);
      expectOk(await client.post("/email/bounces", { email, type: "soft", reason: "mailbox full" }));
      const [{ token }] = await sql<[{ token: string }]>`select token from app.unsubscribe_tokens where lead_id = ${leadId}`;
      expectOk(await call("POST", `/email/unsubscribe/${token}`, undefined, {
        raw: "List-Unsubscribe=One-Click", headers: { "content-type": "application/x-www-form-urlencoded" },
      }));

      // A Calendly booking by the same person.
      expectOk(await calendly.as(ws).post("/integrations/calendly", { token: calendly.calendly.goodToken }), 201);
      const calendlySub = [...calendly.calendly.subscriptions.values()].at(-1)!;
      expectOk(await calendly.deliver(calendlySub, calendlyDelivery("invitee.created", { email, name: "Jane Doe" })), 200);

      // The proposal page opened in a browser.
      const slug = expectOk(await client.get(`/leads/${leadId}`)).lead.proposalId;
      expectOk(await call("POST", "/api/tracking/events", undefined, {
        raw: JSON.stringify({ slug, visitId: randomBytes(16).toString("hex"), kind: "view" }),
        headers: { "content-type": "text/plain;charset=UTF-8", "user-agent": BROWSER_UA },
      }));

      // A quiz taken by the lead.
      const quiz = expectOk(await client.post("/quizzes", {
        title: "Ready?", status: "published",
        questions: [{ id: "size", text: "Team size?", options: [{ id: "small", label: "1-5", points: 0 }, { id: "large", label: "50+", points: 10 }] }],
        resultBands: [{ min: 0, max: 49, label: "Start", message: "Basics." }, { min: 50, max: 100, label: "Ready", message: "Talk." }],
      }), 201).quiz;
      expectOk(await call("POST", `/api/openclaw/public/quizzes/${quiz.slug}/submissions`, { email, answers: { size: "large" } }), 201);

      // Feedback the operator answers (the suite's app holds the operator key).
      const feedbackId = expectOk(await client.post("/feedback", { type: "question", title: "Do you send webhooks?" }), 201).feedbackId;
      expectOk(await call("PATCH", `/feedback/${feedbackId}`, { status: "resolved", response: "Yes, signed." }, { key: inject("eirAdminKey") }));

      expectOk(await client.delete(`/leads/${leadId}`));

      await deliverDue();
      const deliveries = receiver.verified(secret, at("/all"));
      // The first of each type (a booking or a quiz by the lead may also update it).
      const byType = new Map<string, Delivery>();
      for (const delivery of deliveries) if (!byType.has(delivery.type)) byType.set(delivery.type, delivery);
      expect([...byType.keys()].sort()).toEqual([
        "email.bounced", "email.replied", "email.sent", "email.unsubscribed", "enrichment.completed", "feedback.answered",
        "lead.created", "lead.deleted", "lead.stage_changed", "lead.updated", "meeting.booked", "proposal.viewed", "quiz.completed",
      ]);
      for (const delivery of deliveries) {
        expect(delivery.id).toMatch(/^whmsg_[0-9a-f]{24}$/);
        expect(delivery.request.headers["content-type"]).toBe("application/json");
        expect(Math.abs(delivery.timestamp - Date.now() / 1000)).toBeLessThan(60);
        expect(delivery.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        if (delivery.type !== "feedback.answered") expect(delivery.data.lead.id).toBe(leadId);
      }
      expect(new Set(deliveries.map((d) => d.id)).size).toBe(deliveries.length);
      const data = (type: string) => byType.get(type)!.data;
      expect(data("lead.created").lead).toMatchObject({ email, firstName: "Jane", stage: "Prospects" });
      expect(data("lead.updated")).toMatchObject({ changedFields: ["phone"], previous: { phone: null }, lead: { phone: "+1 555 0100" } });
      expect(data("lead.stage_changed")).toMatchObject({ fromStage: "Prospects", toStage: "Engaged", source: "api" });
      expect(data("enrichment.completed")).toMatchObject({ lead: { enrichmentStatus: "complete" }, sources: expect.arrayContaining(["website"]) });
      expect(data("email.sent")).toMatchObject({ campaignId, subject: "Hi Jane", messageId: expect.any(String) });
      expect(data("email.replied")).toMatchObject({ subject: "Re: Hi Jane" });
      expect(data("email.bounced")).toMatchObject({ type: "soft", reason: "mailbox full" });
      expect(data("email.unsubscribed")).toMatchObject({ email });
      expect(data("meeting.booked")).toMatchObject({ startsAt: expect.any(String), source: expect.any(String) });
      expect(data("proposal.viewed")).toMatchObject({ visitId: expect.any(String) });
      expect(data("quiz.completed")).toMatchObject({ quizId: quiz.id, score: 100, band: "Ready" });
      expect(data("feedback.answered")).toMatchObject({ feedbackId, status: "resolved", response: "Yes, signed." });
      expect(data("lead.deleted")).toMatchObject({ permanent: false, lead: { deletedAt: expect.any(String) } });
      // Everything in the log, delivered on the first attempt.
      const log = expectOk(await client.get(`/webhooks/${id}/deliveries?limit=200`));
      expect(log.deliveries.length).toBe(deliveries.length);
      for (const row of log.deliveries) expect(row).toMatchObject({ status: "delivered", attempts: 1, lastStatusCode: 204 });
    } finally {
      sender.close();
      await Promise.all([receiver.close(), calendly.close(), catcher.close()]);
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------
describe("in the changing transaction", () => {
  it("one org's events never reach another org's endpoint", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const a = await subscribed(receiver, "/org-a");
      const b = await subscribed(receiver, "/org-b");
      const aLeads = await Promise.all([createLead(a.client), createLead(a.client)]);
      const bLeads = await Promise.all([createLead(b.client)]);
      await deliverDue();
      const toA = receiver.verified(a.secret, at("/org-a")).map((d) => d.data.lead.id);
      const toB = receiver.verified(b.secret, at("/org-b")).map((d) => d.data.lead.id);
      expect(toA.sort()).toEqual([...aLeads].sort());
      expect(toB).toEqual(bLeads);
      // Signed with each org's own secret: B's secret verifies nothing sent to A.
      expect(() => receiver.verified(b.secret, at("/org-a"))).toThrow();
    } finally {
      await receiver.close();
    }
  });

  it("a change that rolls back sends nothing, though its event was written inside the transaction", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const { ws, id, secret } = await subscribed(receiver, "/rollback", ["lead.created"]);
      const email = uniqueEmail("ghost");
      let seenInside = 0;
      await expect(sql.begin(async (tx) => {
        await tx`select set_config('request.jwt.claims', ${JSON.stringify({ role: "authenticated", org_id: ws.orgId })}, true),
                        set_config('role', 'authenticated', true)`;
        await tx`insert into app.leads (first_name, email) values ('Ghost', ${email})`;
        await tx`select set_config('role', 'none', true)`;
        [{ count: seenInside }] = await tx<[{ count: number }]>`select count(*)::int as count from app.webhook_deliveries where subscription_id = ${id}`;
        throw new Error("the request failed after the insert");
      })).rejects.toThrow(/failed after the insert/);
      expect(seenInside).toBe(1);
      // A request refused by the database after writing (a duplicate email: 409) is rolled back too.
      const existing = uniqueEmail("dup");
      await createLead(as(ws, api), { email: existing });
      expectError(await as(ws, api).post("/leads", lead({ email: existing })), 409, "lead_exists");
      await deliverDue();
      const sent = receiver.verified(secret, at("/rollback"));
      expect(sent.map((d) => d.data.lead.email)).toEqual([existing]);
    } finally {
      await receiver.close();
    }
  });
});

// ---------------------------------------------------------------------------
describe("delivery: retries, disabling, redelivery", () => {
  it("retries after a 500 with the same webhook-id, and records each answer", async () => {
    const receiver = await startWebhookReceiver([{ status: 500, body: "database on fire" }, { status: 200, json: { ok: true } }]);
    try {
      const { client, id, secret } = await subscribed(receiver, "/flaky", ["lead.created"]);
      await createLead(client);
      expect(await deliverDue()).toMatchObject({ claimed: 1, retried: 1, delivered: 0 });
      const pending = expectOk(await client.get(`/webhooks/${id}/deliveries`)).deliveries[0];
      expect(pending).toMatchObject({ status: "pending", attempts: 1, lastStatusCode: 500, lastError: "HTTP 500", lastResponse: "database on fire" });
      const wait = Date.parse(pending.nextAttemptAt) - Date.parse(pending.lastAttemptAt);
      expect(wait).toBeGreaterThanOrEqual(5_000);
      expect(wait).toBeLessThanOrEqual(6_000 + 1_000);
      expect(expectOk(await client.get(`/webhooks/${id}`)).webhook.consecutiveFailures).toBe(1);

      expect(await deliverDue()).toMatchObject({ claimed: 0 });
      await passRetryWait(id);
      expect(await deliverDue()).toMatchObject({ claimed: 1, delivered: 1 });
      const [first, second] = receiver.verified(secret);
      expect(second!.id).toBe(first!.id);
      expect(second!.request.body).toBe(first!.request.body);
      expect(expectOk(await client.get(`/webhooks/${id}/deliveries`)).deliveries[0]).toMatchObject({
        status: "delivered", attempts: 2, lastStatusCode: 200, lastError: null, deliveredAt: expect.any(String), nextAttemptAt: null,
      });
      expect(expectOk(await client.get(`/webhooks/${id}`)).webhook).toMatchObject({ consecutiveFailures: 0, failingSince: null });
    } finally {
      await receiver.close();
    }
  });

  it("retries after a time-out, and treats a redirect as a failure it does not follow", async () => {
    let slowCalls = 0;
    const receiver = await startWebhookReceiver((request) =>
      request.path === "/slow" ? (slowCalls++ === 0 ? "hang" : { status: 202 }) : { status: 302, headers: { location: "http://169.254.169.254/" } });
    try {
      const slow = await subscribed(receiver, "/slow", ["lead.created"]);
      const moved = await subscribed(receiver, "/moved", ["lead.created"]);
      await Promise.all([createLead(slow.client), createLead(moved.client)]);
      const started = Date.now();
      expect(await deliverDue({ WEBHOOKS_TIMEOUT_MS: "500" })).toMatchObject({ claimed: 2, retried: 2 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(expectOk(await slow.client.get(`/webhooks/${slow.id}/deliveries`)).deliveries[0])
        .toMatchObject({ status: "pending", attempts: 1, lastStatusCode: null, lastError: "no answer within 500 ms" });
      expect(expectOk(await moved.client.get(`/webhooks/${moved.id}/deliveries`)).deliveries[0].lastError)
        .toMatch(/^HTTP 302: redirects are not followed/);
      expect(receiver.requests.filter((r) => r.path !== "/slow" && r.path !== "/moved")).toEqual([]);

      await passRetryWait(slow.id);
      expect(await deliverDue({ WEBHOOKS_TIMEOUT_MS: "500" })).toMatchObject({ claimed: 1, delivered: 1 });
      const [first, second] = receiver.verified(slow.secret, at("/slow"));
      expect(second!.id).toBe(first!.id);
      expect((await deliveryRow(slow.id))).toMatchObject({ status: "delivered", attempts: 2 });
    } finally {
      await receiver.close();
    }
  });

  it("disables an endpoint whose every attempt failed for a day, says so on /health, and recovers by redelivery", async () => {
    let healthy = false;
    const receiver = await startWebhookReceiver(() => (healthy ? { status: 204 } : { status: 503 }));
    try {
      const { ws, client, id, secret } = await subscribed(receiver, "/down", ["lead.created"]);
      await createLead(client);
      // Eight attempts; before the last, the failures are a day old (the schedule spans 27 h).
      for (let attempt = 1; attempt <= 8; attempt++) {
        if (attempt === 8) await sql`update app.webhook_subscriptions set failing_since = now() - interval '25 hours' where id = ${id}`;
        await passRetryWait(id);
        const tick = await deliverDue();
        expect(tick.claimed).toBe(1);
        if (attempt < 8) expect(tick.retried).toBe(1);
        else expect(tick.disabled).toBe(1);
      }
      expect(receiver.requests).toHaveLength(8);
      expect(new Set(receiver.verified(secret).map((d) => d.id)).size).toBe(1);
      const row = await deliveryRow(id);
      expect(row).toMatchObject({ status: "failed", attempts: 8 });
      const webhook = expectOk(await client.get(`/webhooks/${id}`)).webhook;
      expect(webhook).toMatchObject({ enabled: false, consecutiveFailures: 8 });
      expect(webhook.disabledReason).toMatch(/every delivery attempt since .* failed \(8 in a row; the last: HTTP 503\)/);

      // GET /health, with the workspace's key, tells the agent; its shape is unchanged.
      const health = expectOk(await call("GET", "/health", undefined, { key: ws.apiKey }));
      expect(health.warnings.join(" ")).toContain(`Webhook ${id} (${receiver.url}/down) is disabled`);
      expect(health.next_steps.join(" ")).toContain(`PATCH /api/openclaw/webhooks/${id} { "enabled": true }`);
      expect(Object.keys(health).sort()).toEqual(["action_required", "authenticated", "database", "jobs", "mailWorker", "next_steps", "outbox", "status", "success", "unread_responses", "warnings"]);

      // Nothing new is made for a disabled endpoint, and a disabled one cannot be redelivered to.
      await createLead(client);
      expect(await deliverDue()).toMatchObject({ claimed: 0 });
      expectError(await client.post(`/webhooks/${id}/deliveries/${row.id}/redeliver`), 409, "webhook_disabled");

      healthy = true;
      const enabled = expectOk(await client.patch(`/webhooks/${id}`, { enabled: true }));
      expect(enabled.webhook).toMatchObject({ enabled: true, disabledReason: null, consecutiveFailures: 0, failingSince: null });
      const redelivered = expectOk(await client.post(`/webhooks/${id}/deliveries/${row.id}/redeliver`));
      expect(redelivered.delivery).toMatchObject({ id: row.id, status: "pending", attempts: 0, redeliveries: 1 });
      expectError(await client.post(`/webhooks/${id}/deliveries/${row.id}/redeliver`), 409, "delivery_in_progress");
      expect(await deliverDue()).toMatchObject({ claimed: 1, delivered: 1 });
      const last = receiver.verified(secret).at(-1)!;
      expect(last.id).toBe(row.event_id);
      expect(expectOk(await call("GET", "/health", undefined, { key: ws.apiKey })).warnings).toEqual([]);
      expectError(await client.post(`/webhooks/${id}/deliveries/whdlv_000000000000000000000000/redeliver`), 404, "not_found");
    } finally {
      await receiver.close();
    }
  });

  it("lists a subscription's deliveries newest first, by status, in pages", async () => {
    const receiver = await startWebhookReceiver();
    try {
      const { client, id } = await subscribed(receiver, "/log", ["lead.created"]);
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await createLead(client));
      await deliverDue();
      const page = expectOk(await client.get(`/webhooks/${id}/deliveries?limit=2`));
      expect(page).toMatchObject({ total: 3, limit: 2, offset: 0 });
      expect(page.deliveries.map((d: any) => d.type)).toEqual(["lead.created", "lead.created"]);
      expect(page.next_steps[0]).toContain(`/webhooks/${id}/deliveries?offset=2&limit=2`);
      expect(expectOk(await client.get(`/webhooks/${id}/deliveries?status=failed`)).total).toBe(0);
      expectError(await client.get(`/webhooks/${id}/deliveries?status=lost`), 400, "invalid_request");
    } finally {
      await receiver.close();
    }
  });
});

// ---------------------------------------------------------------------------
describe("workers", () => {
  function startWorkerProcess(): { child: ChildProcess; output: () => string } {
    let output = "";
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/worker.ts"], {
      env: {
        ...process.env, ...LOOPBACK, DATABASE_URL: inject("databaseUrl"), MAIL_WORKER: "off",
        WEBHOOKS_WORKER_INTERVAL_MS: "100", WEBHOOKS_TIMEOUT_MS: "30000", MAIL_WORKER_NAME: `child-${randomUUID().slice(0, 8)}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (chunk) => (output += chunk));
    child.stderr!.on("data", (chunk) => (output += chunk));
    return { child, output: () => output };
  }
  const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));

  it("a worker killed mid-delivery: a new worker delivers again with the same webhook-id", async () => {
    const receiver = await startWebhookReceiver((_request, call) => (call === 0 ? "hang" : { status: 200 }));
    const workers: ChildProcess[] = [];
    try {
      const { client, id, secret } = await subscribed(receiver, "/crash", ["lead.created"]);
      const first = startWorkerProcess();
      workers.push(first.child);
      const arrived = receiver.nextRequest();
      await createLead(client);
      await within(arrived, { what: `the first worker's delivery (worker output: ${first.output()})`, timeoutMs: 20_000 });
      // Killed after the endpoint got the request and before it answered.
      first.child.kill("SIGKILL");
      await exited(first.child);
      const held = await deliveryRow(id);
      expect(held).toMatchObject({ status: "sending", attempts: 1 });

      // Its lease would run out after the time-out; here it already has.
      await sql`update app.webhook_deliveries set lease_until = now() - interval '1 second' where id = ${held.id}`;
      const again = receiver.nextRequest();
      const second = startWorkerProcess();
      workers.push(second.child);
      await within(again, { what: `the second worker's delivery (worker output: ${second.output()})`, timeoutMs: 20_000 });
      const row = await waitFor(async () => {
        const current = await deliveryRow(id);
        return current.status === "delivered" ? current : undefined;
      }, { what: "the redelivery to be recorded" });
      expect(row.attempts).toBe(2);
      const [lost, delivered] = receiver.verified(secret);
      expect(delivered!.id).toBe(lost!.id);
      expect(delivered!.id).toBe(held.event_id);
      const log = expectOk(await client.get(`/webhooks/${id}/deliveries`)).deliveries[0];
      expect(log.lastStatusCode).toBe(200);
      second.child.kill("SIGTERM");
      await exited(second.child);
      expect(second.child.exitCode).toBe(0);
    } finally {
      for (const child of workers) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await receiver.close();
    }
  }, 60_000);

  it("POST /internal/mail/run (pg_cron through pg_net on Supabase) delivers webhooks in the same tick", async () => {
    const receiver = await startWebhookReceiver();
    const secretHeader = randomBytes(32).toString("hex");
    let app: TestApp | undefined;
    try {
      // MAIL_WORKER=off: this app's ticks leave other files' campaign mail alone.
      app = await startApp({ ...LOOPBACK, MAIL_WORKER_SECRET: secretHeader, MAIL_WORKER: "off", SMTP_URL: "smtp://127.0.0.1:1" });
      const { client, secret } = await subscribed(receiver, "/edge", ["lead.created"]);
      const leadId = await createLead(client);
      const response = await fetch(`${app.url}/openclaw/api/openclaw/internal/mail/run`, { method: "POST", headers: { "x-worker-secret": secretHeader } });
      const body = expectOk({ status: response.status, body: await response.json(), headers: response.headers });
      expect(body).toMatchObject({ claimed: 0, sent: 0, webhooks: { claimed: 1, delivered: 1, retried: 0, failed: 0, disabled: 0 } });
      expect(receiver.verified(secret).map((d) => d.data.lead.id)).toEqual([leadId]);
    } finally {
      await app?.close();
      await receiver.close();
    }
  });
});
