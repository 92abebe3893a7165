// GET /health: connectivity check at the start of every agent session, the place where the
// platform's answers to an org's feedback surface (unread_responses), and the state of the
// deployment's scheduled work (jobs, mailWorker, outbox), so that work which stopped does
// not stop silently.
// An org also hears there that the CRM disabled one of its webhooks (warnings, next_steps).
// Public: without a key it checks the database and reports the scheduled work. With a
// workspace key it also lists that org's unread responses. A bad key does not fail the
// check (agents call health to test connectivity): the reply says ok, with a warning about
// the key.
// What each caller sees: jobs, mailWorker and outbox are in every reply; they hold no org's
// data (job names, counts, times, worker names). A job's last error text may quote a row,
// so it is shown only with the operator key (EIR_ADMIN_KEY). Warnings and next steps about
// the scheduled work go to callers checking the deployment (no key, or the operator key);
// a workspace key's warnings stay about that workspace.
import { createRoute, z } from "@hono/zod-openapi";
import type { Sql } from "../db.ts";
import { acknowledgeStep } from "../feedback/responses.ts";
import { isOperator } from "../http/admin.ts";
import { optionalApiKey } from "../http/openapi.ts";
import { errorResponse, json } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { sha256Hex } from "../http/digest.ts";
import { readApiKey } from "../http/tenant.ts";

/** At most this many unread responses are listed; the rest wait for the next session. */
const MAX_UNREAD = 20;
/** Due mail waiting this long is reported. */
const MAIL_WAIT_WARNING_SECONDS = 15 * 60;
/** A worker whose last heartbeat is older than this is taken as not running. */
const WORKER_SILENT_SECONDS = 5 * 60;

const UnreadResponse = z.object({
  feedbackId: z.string(),
  title: z.string(),
  status: z.string(),
  response: z.string(),
  acknowledge: z.string().openapi({ example: "PATCH /api/openclaw/feedback/fb_xxx { acknowledged: true }" }),
});

const count = (description: string) => z.number().int().openapi({ description });
const FailingJob = z.object({
  name: z.string(),
  failedRuns: count("Failed runs in a row since the last success (within pg_cron's kept history)."),
  lastError: z.string().nullable().openapi({ description: "The last failed run's error; shown only with the operator key (it may quote a row)." }),
  lastRunAt: z.string().nullable().openapi({ description: "When the job last started." }),
  overdue: z.boolean().openapi({ description: "Whether the job has not started for longer than its schedule allows." }),
});
const JobHealth = z
  .object({
    pgCron: z.enum(["installed", "absent"]),
    scheduler: z.enum(["running", "stopped", "unknown"]).nullable()
      .openapi({ description: "Whether pg_cron's scheduler runs for this database (unknown: not visible to the database role; null without pg_cron)." }),
    hint: z.string().nullable().openapi({ description: "What to enable when pg_cron is absent or its scheduler stopped." }),
    missing: z.array(z.string()).openapi({ description: "Jobs of app.scheduled_jobs not registered with pg_cron (all of them without pg_cron)." }),
    outdated: z.array(z.object({ name: z.string(), reason: z.enum(["schedule differs", "command differs", "inactive"]) }))
      .openapi({ description: "Jobs registered otherwise than declared, or paused." }),
    failing: z.array(FailingJob).openapi({ description: "Jobs whose last finished run failed, or which are overdue." }),
  })
  .openapi("JobHealth");
const TickCounts = z.object({
  enqueued: z.number().int(), claimed: z.number().int(), sent: z.number().int(),
  failed: z.number().int(), deferred: z.number().int(), skipped: z.number().int(),
});
const MailWorkerHealth = z
  .object({
    lastHeartbeat: z.string().nullable().openapi({ description: "When a mail worker last ticked (null: none in the last day)." }),
    workers: z.array(z.object({ name: z.string(), lastSeen: z.string(), ticks: z.number().int(), lastTick: TickCounts }))
      .openapi({ description: "The workers seen in the last day, most recent first (at most 20)." }),
  })
  .openapi("MailWorkerHealth");
const OutboxBacklog = z
  .object({
    queued: count("Emails of active campaigns waiting to be sent, now or later."),
    due: count("Of those, the ones a worker may send now."),
    oldestDueSeconds: z.number().int().nullable().openapi({ description: "How long the oldest due email has waited (null: none due)." }),
  })
  .openapi("OutboxBacklog");

const HealthReply = z
  .object({
    success: z.boolean(),
    status: z.enum(["ok", "unavailable"]),
    database: z.enum(["reachable", "unreachable"]),
    authenticated: z.boolean().openapi({ description: "Whether a valid workspace key was sent, i.e. whether unread_responses was checked." }),
    action_required: z.boolean(),
    unread_responses: z.array(UnreadResponse),
    jobs: JobHealth.nullable().openapi({ description: "pg_cron and the scheduled jobs (null when the database did not answer)." }),
    mailWorker: MailWorkerHealth.nullable().openapi({ description: "The mail workers' heartbeats (null when the database did not answer)." }),
    outbox: OutboxBacklog.nullable().openapi({ description: "Campaign mail waiting to be sent (null when the database did not answer)." }),
    warnings: z.array(z.string()),
    next_steps: z.array(z.string()),
  })
  .openapi("HealthReply");

const healthRoute = createRoute({
  operationId: "getHealth",
  method: "get",
  path: "/health",
  tags: ["Health"],
  summary: "Connectivity check, unread notifications and the state of scheduled work (call at every session start, with your key)",
  security: optionalApiKey,
  responses: {
    200: json(HealthReply, "The API and its database are up; with a valid key, the workspace's unread responses."),
    503: json(HealthReply, "The database did not answer in time."),
    500: errorResponse("Our fault."),
  },
});

type Unread = z.infer<typeof UnreadResponse>;
type Operations = { jobs: z.infer<typeof JobHealth>; mailWorker: z.infer<typeof MailWorkerHealth>; outbox: z.infer<typeof OutboxBacklog> };
type KeyOutcome = "none" | "invalid" | "revoked" | "valid" | "operator";
interface DisabledWebhook {
  id: string;
  url: string;
  reason: string;
}

interface Check {
  key: KeyOutcome;
  unread: Unread[];
  /** The org's webhook subscriptions the CRM disabled after persistent delivery failures. */
  disabledWebhooks?: DisabledWebhook[];
}

/** The org's unread responses, read as the org (RLS) in one short transaction. */
async function unreadFor(sql: Sql, keyHash: string): Promise<Check> {
  return await sql.begin(async (tx) => {
    const [auth] = await tx<{ revoked: boolean }[]>`
      select a.revoked, case when not a.revoked then set_config('role', 'authenticated', true) end as role
      from app.authenticate_api_key(${keyHash}) a`;
    if (!auth) return { key: "invalid" as const, unread: [] };
    if (auth.revoked) return { key: "revoked" as const, unread: [] };
    const rows = await tx<Omit<Unread, "acknowledge">[]>`
      select id as "feedbackId", title, status, response
      from app.feedback where unread
      order by responded_at, id
      limit ${MAX_UNREAD + 1}`;
    const disabledWebhooks = await tx<DisabledWebhook[]>`
      select id, url, disabled_reason as reason from app.webhook_subscriptions
      where not enabled and disabled_reason is not null order by disabled_at, id limit 5`;
    return { key: "valid" as const, unread: rows.map((r) => ({ ...r, acknowledge: acknowledgeStep(r.feedbackId) })), disabledWebhooks };
  }) as Check;
}

async function check(sql: Sql, key: string | undefined, operator: boolean): Promise<Check> {
  if (operator || key === undefined) {
    await sql`select 1`;
    return { key: operator ? "operator" : "none", unread: [] };
  }
  if (!/^rcm_live_[0-9a-f]{64}$/.test(key)) {
    await sql`select 1`;
    return { key: "invalid", unread: [] };
  }
  return unreadFor(sql, await sha256Hex(key));
}

/** The scheduled work's state, read as the service role (app.job_health and the rest are granted to it alone). */
async function operations(sql: Sql): Promise<Operations> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('role', 'service_role', true)`;
    const [row] = await tx<Operations[]>`
      select app.job_health() as jobs, app.mail_worker_status() as "mailWorker", app.outbox_backlog() as outbox`;
    return row!;
  }) as Operations;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error?: unknown };

/** The work's outcome, or a failure when it fails or does not finish within the timeout. */
async function settleWithin<T>(work: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false }), ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const keyWarnings: Record<KeyOutcome, string[]> = {
  none: [],
  invalid: ["The API key sent is not valid, so unread responses were not checked"],
  revoked: ["The API key sent has been revoked, so unread responses were not checked"],
  valid: [],
  operator: [],
};
const keySteps: Record<KeyOutcome, string[]> = {
  none: ["Send your API key (Authorization: Bearer rcm_live_…) to GET /api/openclaw/health to see unread responses to your feedback"],
  invalid: ["Check you copied the whole key (rcm_live_ followed by 64 hex digits); other calls will answer 401 with it"],
  revoked: ["Use a current key for this workspace; other calls will answer 401 with this one"],
  valid: [],
  operator: [],
};

const registerJobs = "Register the declared jobs again as the database owner (on Supabase: SQL editor): select app.schedule_jobs();";

/** What is wrong with the scheduled work, and what whoever runs the deployment should do. */
function scheduledWorkAdvice(ops: Operations, operator: boolean): { warnings: string[]; next_steps: string[] } {
  const warnings: string[] = [];
  const steps: string[] = [];
  const { jobs, mailWorker, outbox } = ops;
  if (jobs.pgCron === "absent") {
    warnings.push(`pg_cron is not installed in this database, so none of the ${jobs.missing.length} scheduled jobs runs`);
  } else {
    if (jobs.scheduler === "stopped") warnings.push("pg_cron's scheduler is not running for this database, so no scheduled job runs");
    if (jobs.missing.length > 0) warnings.push(`Scheduled jobs not registered with pg_cron: ${jobs.missing.join(", ")}`);
    if (jobs.outdated.length > 0) {
      warnings.push(`Scheduled jobs registered otherwise than declared: ${jobs.outdated.map((j) => `${j.name} (${j.reason})`).join(", ")}`);
    }
  }
  if (jobs.hint) steps.push(jobs.hint);
  if (jobs.pgCron === "installed" && (jobs.missing.length > 0 || jobs.outdated.some((j) => j.reason !== "inactive"))) steps.push(registerJobs);
  const paused = jobs.outdated.filter((j) => j.reason === "inactive").map((j) => `'${j.name}'`);
  if (paused.length > 0) {
    steps.push(`Resume paused jobs: select cron.alter_job(jobid, active := true) from cron.job where jobname in (${paused.join(", ")});`);
  }
  for (const job of jobs.failing) {
    warnings.push(job.overdue
      ? `Scheduled job ${job.name} has not run since ${job.lastRunAt}, longer than its schedule allows`
      : `Scheduled job ${job.name} is failing: ${job.failedRuns} failed run(s) in a row, the last started at ${job.lastRunAt}`);
  }
  if (jobs.failing.length > 0) {
    steps.push(operator
      ? "Read jobs.failing[].lastError, fix the cause, and watch the next runs: select * from cron.job_run_details order by start_time desc limit 20;"
      : "See each failing job's last error: GET /api/openclaw/health with the operator key (Authorization: Bearer <EIR_ADMIN_KEY>), or in SQL: select * from cron.job_run_details order by start_time desc limit 20;");
  }
  if (outbox.due > 0 && (outbox.oldestDueSeconds ?? 0) >= MAIL_WAIT_WARNING_SECONDS) {
    const waiting = `${outbox.due} due email(s) waiting, the oldest for ${Math.floor((outbox.oldestDueSeconds ?? 0) / 60)} minutes`;
    const last = mailWorker.lastHeartbeat;
    if (last === null || Date.now() - Date.parse(last) > WORKER_SILENT_SECONDS * 1000) {
      warnings.push(`${waiting}, and no mail worker has ticked ${last === null ? "in the last day" : `since ${last}`}`);
      steps.push("Run the mail worker: npm run worker next to the database (DATABASE_URL, SMTP_URL), or on Supabase let pg_cron call the Edge Function: select app.schedule_mail_worker_http('https://<ref>.supabase.co/functions/v1/openclaw/api/openclaw/internal/mail/run', '<MAIL_WORKER_SECRET>'); (README: Deploying to Supabase)");
    } else {
      warnings.push(`${waiting}, although a mail worker ticked at ${last}`);
      steps.push("Check the mail worker's log ([mail] lines) and its SMTP_URL; on Supabase, jobs.failing shows whether mail-worker-http fails");
    }
  }
  return { warnings, next_steps: steps };
}

/** Job errors may quote a row: only the operator sees them. */
function forCaller(ops: Operations, operator: boolean): Operations {
  if (operator) return ops;
  return { ...ops, jobs: { ...ops.jobs, failing: ops.jobs.failing.map((job) => ({ ...job, lastError: null })) } };
}

export const healthRoutes = createRouter()
  .openapi(healthRoute, async (c) => {
    const operator = await isOperator(c);
    const timeoutMs = c.var.config.healthTimeoutMs;
    const [result, ops] = await Promise.all([
      settleWithin(check(c.var.sql, operator ? undefined : readApiKey(c), operator), timeoutMs),
      settleWithin(operations(c.var.sql), timeoutMs),
    ]);
    if (!result.ok) {
      return c.json({
        success: false,
        status: "unavailable" as const,
        database: "unreachable" as const,
        authenticated: false,
        action_required: false,
        unread_responses: [],
        jobs: null,
        mailWorker: null,
        outbox: null,
        warnings: [`The database did not answer within ${timeoutMs} ms`],
        next_steps: ["Retry GET /api/openclaw/health in a few seconds before other calls"],
      }, 503);
    }
    const { key, unread: all, disabledWebhooks: disabled = [] } = result.value;
    const unread = all.slice(0, MAX_UNREAD);
    const more = all.length > MAX_UNREAD;
    // Advice on the scheduled work is for whoever checks the deployment, not a workspace.
    const forDeployment = key === "none" || key === "operator";
    const advice = !forDeployment ? { warnings: [], next_steps: [] }
      : ops.ok ? scheduledWorkAdvice(ops.value, operator)
      : { warnings: [`The state of scheduled work could not be read${ops.error instanceof Error ? `: ${ops.error.message}` : " in time"}`], next_steps: [] };
    const shown = ops.ok ? forCaller(ops.value, operator) : undefined;
    return c.json({
      success: true,
      status: "ok" as const,
      database: "reachable" as const,
      authenticated: key === "valid",
      action_required: unread.length > 0,
      unread_responses: unread,
      jobs: shown?.jobs ?? null,
      mailWorker: shown?.mailWorker ?? null,
      outbox: shown?.outbox ?? null,
      warnings: [
        ...keyWarnings[key],
        ...(more ? [`More than ${MAX_UNREAD} unread responses: acknowledge these to see the rest (or GET /api/openclaw/feedback?unread=true)`] : []),
        ...advice.warnings,
        ...disabled.map((w) => `Webhook ${w.id} (${w.url}) is disabled: ${w.reason}`),
      ],
      next_steps: [
        ...(unread.length > 0 ? ["Read unread_responses and act on them", "PATCH acknowledged:true when done"] : keySteps[key]),
        ...advice.next_steps,
        ...disabled.map((w) => `Fix ${w.url}, then PATCH /api/openclaw/webhooks/${w.id} { "enabled": true } (GET /api/openclaw/webhooks/${w.id}/deliveries shows what failed)`),
      ],
    }, 200);
  });
