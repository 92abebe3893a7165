// POST /api/openclaw/internal/mail/run: the worker tick pg_cron calls through pg_net on
// Supabase. Off unless MAIL_WORKER_SECRET is set (the suite's main app has none: 404);
// refused without the right x-worker-secret; with it, one tick sends a due enrolment's
// email through SMTP (the mail catcher on loopback) and answers what it did. The app under
// test is a second one with its own env, on the suite's database.
import { serve, type ServerType } from "@hono/node-server";
import { randomBytes, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, type Sql } from "../functions/db.ts";
import { type MailCatcher, startMailCatcher } from "../functions/node/mail-catcher.ts";
import { createNodeApp } from "../functions/node/app.ts";
import { as, call, expectError, expectOk, lead, signup } from "./support/api.ts";

const ROUTE = "/api/openclaw/internal/mail/run";
const SECRET = randomBytes(32).toString("hex");
let sql: Sql;
let catcher: MailCatcher;
let server: ServerType | undefined;
let url = "";

beforeAll(async () => {
  sql = connect(inject("databaseUrl"), { max: 4 });
  catcher = await startMailCatcher({ smtpPort: 0, httpPort: 0 });
  // pool=false: no idle SMTP connection outlives a tick (the catcher closes at once).
  // WEBHOOKS_WORKER=off: the tick would also deliver webhooks, which are tests/webhooks.test.ts's
  // to send (with its own settings); the webhook part of the tick is tested there.
  const settings: Record<string, string> = {
    MAIL_WORKER_SECRET: SECRET, SMTP_URL: `${catcher.smtpUrl}?pool=false`, MAIL_WORKER_ENQUEUE: "true", MAIL_WORKER_BATCH: "50",
    WEBHOOKS_WORKER: "off",
  };
  const app = createNodeApp(sql, (name) => (name in settings ? settings[name] : process.env[name]), 0);
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(info.port));
  });
  url = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await catcher?.close();
  await sql?.end({ timeout: 2 });
});

async function run(path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, { method: "POST", headers });
  return { status: response.status, body: await response.json() as any, headers: response.headers };
}

describe("POST /internal/mail/run", () => {
  it("does not exist where MAIL_WORKER_SECRET is unset (the default)", async () => {
    expectError(await call("POST", "/internal/mail/run", undefined, { headers: { "x-worker-secret": SECRET } }), 404, "route_not_found");
  });

  it("refuses a request without the secret, or with a wrong one, and sends nothing", async () => {
    expectError(await run(ROUTE), 403, "invalid_worker_secret");
    expectError(await run(ROUTE, { "x-worker-secret": SECRET.toUpperCase() }), 403, "invalid_worker_secret");
    expectError(await run(ROUTE, { "x-worker-secret": "" }), 403, "invalid_worker_secret");
  });

  it("with the secret runs one tick: a due enrolment's email arrives over SMTP and is recorded", async () => {
    const workspace = await signup({ workspace_name: "Edge Mail" });
    const client = as(workspace);
    const campaignId = expectOk(await client.post("/campaigns", {
      name: `Edge ${randomUUID()}`, steps: [{ delayMinutes: 0, subject: "Hello {{firstName}}", body: "Hi {{firstName}}, sent by the HTTP worker." }],
    }), 201).id;
    const email = `edge-${randomUUID()}@example.test`;
    const leadId = expectOk(await client.post("/leads", lead({ email, firstName: "Ada" })), 201).id;
    expectOk(await client.post(`/campaigns/${campaignId}/enroll`, { leadId }), 201);

    // Under the Edge Function's prefix, as pg_net calls it on Supabase.
    const res = await run(`/openclaw${ROUTE}`, { "x-worker-secret": SECRET });
    const body = expectOk(res);
    expect(body).toMatchObject({
      enqueued: expect.any(Number), claimed: expect.any(Number), sent: expect.any(Number),
      failed: expect.any(Number), deferred: expect.any(Number), skipped: expect.any(Number),
    });
    expect(body.claimed).toBeGreaterThanOrEqual(1);
    expect(body.sent).toBeGreaterThanOrEqual(1);

    const mails = catcher.messages.filter((m) => m.envelope.to.includes(email));
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe("Hello Ada");
    expect(mails[0]!.text).toContain("Hi Ada, sent by the HTTP worker.");
    const state = expectOk(await client.get(`/campaigns/${campaignId}/enrollments?leadId=${leadId}`)).enrollments[0];
    expect(state.messages[0]).toMatchObject({ step: 0, status: "sent", messageId: mails[0]!.messageId });

    // A second tick has nothing of this lead's left to send.
    expectOk(await run(ROUTE, { "x-worker-secret": SECRET }));
    expect(catcher.messages.filter((m) => m.envelope.to.includes(email))).toHaveLength(1);
  });
});
