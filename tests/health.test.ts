import { serve, type ServerType } from "@hono/node-server";
import { randomUUID } from "node:crypto";
import { createServer, type AddressInfo, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, type Sql } from "../functions/db.ts";
import { runTick } from "../functions/mail/worker.ts";
import { createNodeApp } from "../functions/node/app.ts";
import { as, call, createLead, expectOk, signup, type Workspace } from "./support/api.ts";
import { revokeOrgKeys } from "./support/db.ts";
import { mailConfig } from "./support/smtp.ts";

describe("GET /health", () => {
  it("answers ok with the final shape and no action required", async () => {
    const res = await call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, status: "ok", database: "reachable", action_required: false, unread_responses: [] });
    expect(Array.isArray(res.body.next_steps)).toBe(true);
  });

  it("answers the same under the Edge Function prefix /openclaw", async () => {
    // The mail workers and the outbox move while other files run: compared by shape.
    const steady = ({ mailWorker, outbox, ...rest }: Record<string, unknown>) => ({ ...rest, mailWorker: typeof mailWorker, outbox: typeof outbox });
    const direct = await call("GET", "/health");
    const prefixed = await call("GET", "/openclaw/api/openclaw/health");
    expect(prefixed.status).toBe(200);
    expect(steady(prefixed.body)).toEqual(steady(direct.body));
  });
});

describe("GET /health with a key", () => {
  it("checks the workspace's notifications with a valid key (authenticated: true)", async () => {
    const res = await as(await signup()).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, status: "ok", authenticated: true, action_required: false, unread_responses: [], warnings: [], next_steps: [] });
  });

  it("without a key answers ok and suggests sending it to see notifications", async () => {
    const res = await call("GET", "/health");
    expect(res.body.authenticated).toBe(false);
    expect(res.body.next_steps.join(" ")).toContain("Authorization: Bearer");
  });

  it.each([
    ["unknown", `rcm_live_${"0".repeat(64)}`],
    ["malformed", "not-a-key"],
  ])("still answers 200 ok with an %s key, warning that the key is not valid", async (_label, key) => {
    const res = await call("GET", "/health", undefined, { key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, status: "ok", database: "reachable", authenticated: false, action_required: false, unread_responses: [] });
    expect(res.body.warnings).toEqual(["The API key sent is not valid, so unread responses were not checked"]);
    expect(res.body.next_steps.join(" ")).toContain("rcm_live_");
  });

  it("still answers 200 ok with a revoked key, warning that it is revoked", async () => {
    const ws = await signup();
    await revokeOrgKeys(ws.orgId);
    const res = await as(ws).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", authenticated: false, action_required: false });
    expect(res.body.warnings).toEqual(["The API key sent has been revoked, so unread responses were not checked"]);
  });
});

describe("GET /health when the database does not answer", () => {
  // A loopback "database" that accepts connections and never says a word: the API must
  // report it within its timeout rather than hang.
  let silent: Server;
  let api: ServerType;
  let apiUrl: string;
  let sql: Sql;

  beforeAll(async () => {
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const dbPort = (silent.address() as AddressInfo).port;
    sql = connect(`postgresql://postgres:postgres@127.0.0.1:${dbPort}/postgres`, { max: 1 });
    const env = (name: string) => ({ HEALTH_DB_TIMEOUT_MS: "500" } as Record<string, string>)[name];
    const app = createNodeApp(sql, env, 0);
    const port = await new Promise<number>((resolve) => {
      api = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port));
    });
    apiUrl = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => api.close(() => resolve()));
    await sql.end({ timeout: 0 });
    silent.close();
  });

  it("answers 503 with database unreachable within the timeout", async () => {
    const started = Date.now();
    const res = await fetch(`${apiUrl}/api/openclaw/health`);
    const body = await res.json();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    expect(body).toMatchObject({ success: false, status: "unavailable", database: "unreachable", action_required: false, unread_responses: [] });
    expect(body.next_steps.length).toBeGreaterThan(0);
  });

  it("answers 503 within the timeout when a key is sent too", async () => {
    const started = Date.now();
    const res = await fetch(`${apiUrl}/api/openclaw/health`, { headers: { authorization: `Bearer rcm_live_${"a".repeat(64)}` } });
    const body = await res.json();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    expect(body).toMatchObject({ success: false, status: "unavailable", authenticated: false, action_required: false, unread_responses: [] });
  });
});

describe("GET /health and scheduled work", () => {
  // Arrange steps reach the database directly (runs, registrations, an outbox row): there is
  // no route for them. Every assertion is on the API's reply.
  let sql: Sql;
  let workspace: Workspace;
  const operator = () => ({ key: inject("eirAdminKey") });
  beforeAll(async () => {
    sql = connect(inject("databaseUrl"), { max: 3 });
    workspace = await signup({ workspace_name: "Scheduled Work" });
  });
  afterAll(async () => {
    await sql?.end({ timeout: 2 });
  });
  const cronInstalled = async () => (await sql<{ ok: boolean }[]>`select to_regclass('cron.job') is not null as ok`)[0]!.ok;

  it("reports pg_cron and the jobs, the mail workers and the outbox in every reply", async () => {
    for (const res of [await call("GET", "/health"), await as(workspace).get("/health"), await call("GET", "/health", undefined, operator())]) {
      expect(res.status).toBe(200);
      expect(res.body.jobs).toMatchObject({
        pgCron: expect.stringMatching(/^(installed|absent)$/), missing: expect.any(Array), outdated: expect.any(Array), failing: expect.any(Array),
      });
      expect(res.body.mailWorker).toMatchObject({ workers: expect.any(Array) });
      expect(res.body.outbox).toMatchObject({ queued: expect.any(Number), due: expect.any(Number) });
    }
  });

  it("keeps a workspace's warnings about the workspace, whatever the scheduled work's state", async () => {
    expect((await as(workspace).get("/health")).body).toMatchObject({ authenticated: true, warnings: [], next_steps: [] });
  });

  it("records a mail worker's tick as its heartbeat", async () => {
    const name = `health-test-${randomUUID().slice(0, 8)}`;
    const sender = { send: () => Promise.reject(new Error("nothing to send")), classify: () => ({ permanent: false, message: "" }), close: () => {} };
    // A clock at 1970: the tick claims nothing of other files' mail, and still ticks.
    const tick = await runTick({ sql, sender, name, now: () => new Date(0), config: mailConfig({ worker: { intervalMs: 50, batch: 10, leaseSeconds: 120, enqueue: "never" } }) }, false);
    expect(tick).toMatchObject({ claimed: 0, sent: 0 });

    const { mailWorker } = (await call("GET", "/health")).body;
    const worker = mailWorker.workers.find((w: { name: string }) => w.name === name);
    expect(worker).toMatchObject({ name, ticks: 1, lastTick: { enqueued: 0, claimed: 0, sent: 0, failed: 0, deferred: 0, skipped: 0 } });
    expect(Date.now() - Date.parse(worker.lastSeen)).toBeLessThan(60_000);
    expect(Date.parse(mailWorker.lastHeartbeat)).toBeGreaterThanOrEqual(Date.parse(worker.lastSeen));
  });

  it("counts due mail, and warns whoever checks the deployment when it has waited too long", async () => {
    const client = as(workspace);
    const campaignId = expectOk(await client.post("/campaigns", {
      name: `Backlog ${randomUUID()}`, steps: [{ delayMinutes: 24 * 60, subject: "Later", body: "Not yet" }],
    }), 201).id;
    const leadId = await createLead(client, { email: `backlog-${randomUUID()}@example.test` });
    const enrollmentId = expectOk(await client.post(`/campaigns/${campaignId}/enroll`, { leadId }), 201).id;
    const before = (await call("GET", "/health")).body.outbox;
    // Workers pass over an org whose claim lock is held (app.claim_outbox): held here, so no
    // other file's worker sends this row while the test looks at it.
    await sql.begin(async (lock) => {
      await lock`select pg_advisory_xact_lock(hashtextextended(${`app.claim_outbox:${workspace.orgId}`}, 0))`;
      const [row] = await sql<{ id: string }[]>`
        insert into app.outbox (org_id, enrollment_id, campaign_id, lead_id, step_index, to_email, next_attempt_at)
        values (${workspace.orgId}, ${enrollmentId}, ${campaignId}, ${leadId}, 0, 'backlog@example.test', now() - interval '2 hours')
        returning id`;
      try {
        const res = await call("GET", "/health");
        expect(res.body.outbox.due).toBeGreaterThanOrEqual(1);
        expect(res.body.outbox.queued).toBeGreaterThanOrEqual(res.body.outbox.due);
        expect(res.body.outbox.oldestDueSeconds).toBeGreaterThanOrEqual(2 * 3600);
        expect(res.body.outbox.queued).toBeGreaterThanOrEqual(before.queued + 1 - before.due);
        expect(res.body.warnings.join(" ")).toMatch(/\d+ due email\(s\) waiting, the oldest for \d+ minutes/);
        expect(res.body.next_steps.join(" ")).toMatch(/npm run worker|SMTP_URL/);
        // A workspace's reply carries the numbers, not the warning.
        const mine = await client.get("/health");
        expect(mine.body.outbox.oldestDueSeconds).toBeGreaterThanOrEqual(2 * 3600);
        expect(mine.body.warnings).toEqual([]);
      } finally {
        await sql`delete from app.outbox where org_id = ${workspace.orgId} and id = ${row!.id}`;
      }
    });
  });

  it("names a failing job, with its last error for the operator only", async (ctx) => {
    if (!(await cronInstalled())) ctx.skip();
    const message = `ERROR:  test failure ${randomUUID()}`;
    const [run] = await sql<{ runid: string }[]>`
      insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
      select j.jobid, -(floor(random() * 1e9)::bigint + 1), 0, current_database(), current_user, j.command, 'failed', ${message}, now(), now()
      from cron.job j where j.jobname = 'purge-sync-events'
      returning runid`;
    try {
      const anonymous = (await call("GET", "/health")).body;
      expect(anonymous.jobs.failing).toContainEqual(expect.objectContaining({ name: "purge-sync-events", failedRuns: 1, lastError: null, overdue: false }));
      expect(anonymous.warnings).toContainEqual(expect.stringMatching(/^Scheduled job purge-sync-events is failing: 1 failed run/));
      expect(anonymous.next_steps.join(" ")).toContain("operator key");

      const asOperator = (await call("GET", "/health", undefined, operator())).body;
      expect(asOperator).toMatchObject({ status: "ok", authenticated: false });
      expect(asOperator.jobs.failing).toContainEqual(expect.objectContaining({ name: "purge-sync-events", lastError: message }));
      expect(asOperator.warnings.filter((w: string) => /API key/.test(w))).toEqual([]);

      expect((await as(workspace).get("/health")).body.jobs.failing).toContainEqual(expect.objectContaining({ name: "purge-sync-events", lastError: null }));
    } finally {
      await sql`delete from cron.job_run_details where runid = ${run!.runid}`;
    }
  });

  it("names a job that is not registered with pg_cron, and says how to register it", async (ctx) => {
    if (!(await cronInstalled())) ctx.skip();
    await sql`select cron.unschedule('purge-sync-events')`;
    try {
      const res = (await call("GET", "/health")).body;
      expect(res.jobs.missing).toEqual(["purge-sync-events"]);
      expect(res.warnings).toContain("Scheduled jobs not registered with pg_cron: purge-sync-events");
      expect(res.next_steps.join(" ")).toContain("select app.schedule_jobs();");
    } finally {
      await sql`select app.schedule_jobs()`;
    }
    expect((await call("GET", "/health")).body.jobs.missing).toEqual([]);
  });
});
