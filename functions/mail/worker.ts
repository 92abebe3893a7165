// The delivery loop. One tick: (optionally) app.enqueue_due_steps(), then app.claim_outbox()
// for a batch, and for each claimed row: render (+ AI rewrite) → app.begin_send() → SMTP →
// app.complete_send() or app.fail_send(); then the same for system mail (key recovery and sign-in links):
// app.claim_system_mail() → app.begin_system_mail() (which makes the content) → SMTP →
// app.complete_system_mail() or app.fail_system_mail(); last, app.record_mail_worker_tick(),
// the worker's heartbeat that GET /health reports. The database owns every rule (guardrails at
// claim time, leases, backoff, what happens to the enrolment); this file only talks to SMTP and AI.
//
// Crash safety is the order of the calls: begin_send commits 'sending' before the SMTP
// conversation starts, so a worker that dies after the server accepted the message leaves a
// 'sending' row that the next claim turns into 'unconfirmed' (never resent automatically);
// a worker that dies before begin_send leaves a 'claimed' row whose lease expires and which
// is claimed again. The Message-ID is derived from the outbox id, the same on every retry.
// Runtime-neutral (postgres.js + fetch): the SMTP sender (Node's nodemailer) is passed in.
import type { Sql } from "../db.ts";
import { personalise } from "./ai.ts";
import { Claim } from "./claim.ts";
import type { MailConfig } from "./config.ts";
import { composeEmail, renderContent } from "./render.ts";
import type { MailSender } from "./smtp.ts";
import { composeSystemEmail, SystemClaim, SystemMail } from "./system.ts";

export interface WorkerDeps {
  sql: Sql;
  sender: MailSender;
  config: MailConfig;
  /** Identifies this worker in claimed_by (e.g. host:pid). */
  name: string;
  /** The clock passed to every SQL call as p_now (tests move it). */
  now?: () => Date;
  log?: (line: string) => void;
  /** Called after the SMTP server accepted a message and before it is recorded (tests simulate a crash by throwing). */
  afterSmtpAccept?: (claim: Claim) => void | Promise<void>;
}

/** What a runtime entry hands the app for POST /internal/mail/run (built only when MAIL_WORKER_SECRET is set). */
export interface MailWorker {
  sender: MailSender;
  config: MailConfig;
  /** Recorded in claimed_by. */
  name: string;
}

export interface TickResult {
  enqueued: number;
  claimed: number;
  sent: number;
  /** Refused for good by the SMTP server (or malformed). */
  failed: number;
  /** Transient SMTP failures, retried later with backoff. */
  deferred: number;
  /** Rows whose lease was lost before sending (another worker or the sweep took them). */
  skipped: number;
}

export type Outcome = "sent" | "failed" | "deferred" | "skipped";

/** One pass of the loop; `enqueue` says whether to move due steps into the outbox first. */
export async function runTick(deps: WorkerDeps, enqueue: boolean): Promise<TickResult> {
  const { sql, config, name } = deps;
  const now = clock(deps);
  const result: TickResult = { enqueued: 0, claimed: 0, sent: 0, failed: 0, deferred: 0, skipped: 0 };
  if (enqueue) {
    const [row] = await sql<{ count: number }[]>`select app.enqueue_due_steps(${now()}) as count`;
    result.enqueued = row?.count ?? 0;
  }
  const rows = await sql<{ claim: unknown }[]>`
    select app.claim_outbox(${name}, ${config.worker.batch}::integer, make_interval(secs => ${config.worker.leaseSeconds}), ${now()}) as claim`;
  result.claimed = rows.length;
  for (const row of rows) result[await deliver(deps, row.claim)]++;
  const system = await runSystemMailTick(deps);
  for (const count of ["claimed", "sent", "failed", "deferred", "skipped"] as const) result[count] += system[count];
  await heartbeat(deps, result);
  return result;
}

/** The system mail half of a tick: claim a batch of due system mail and send it. */
export async function runSystemMailTick(deps: WorkerDeps): Promise<TickResult> {
  const { sql, config, name } = deps;
  const now = clock(deps);
  const result: TickResult = { enqueued: 0, claimed: 0, sent: 0, failed: 0, deferred: 0, skipped: 0 };
  const rows = await sql<{ claim: unknown }[]>`
    select app.claim_system_mail(${name}, ${config.worker.batch}::integer, make_interval(secs => ${config.worker.leaseSeconds}), ${now()}) as claim`;
  result.claimed = rows.length;
  for (const row of rows) result[await deliverSystemMail(deps, row.claim)]++;
  return result;
}

/**
 * Records the tick as this worker's heartbeat (GET /health shows it). The mail is sent and
 * recorded by then, so a failure here is logged, not thrown: the tick did its work.
 */
async function heartbeat(deps: WorkerDeps, r: TickResult): Promise<void> {
  try {
    await deps.sql`
      select app.record_mail_worker_tick(${deps.name}, ${r.enqueued}, ${r.claimed}, ${r.sent}, ${r.failed}, ${r.deferred}, ${r.skipped})`;
  } catch (error) {
    deps.log?.(`[mail] heartbeat not recorded: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Sends one claimed row and records the outcome in the database. */
export async function deliver(deps: WorkerDeps, payload: unknown): Promise<Outcome> {
  const { sql, sender, config, name } = deps;
  const now = clock(deps);
  const log = deps.log ?? (() => {});
  const parsed = Claim.safeParse(payload);
  if (!parsed.success) {
    const id = (payload as { id?: unknown } | null)?.id;
    if (typeof id !== "string") throw new Error(`app.claim_outbox returned a row without an id: ${JSON.stringify(payload)}`);
    await sql`select app.fail_send(${id}, ${name}, ${`the claimed row is malformed: ${parsed.error.message.slice(0, 500)}`}, true, ${now()})`;
    return "failed";
  }
  const claim = parsed.data;
  const { content, warnings } = await personalise(claim, renderContent(claim, config.publicUrl), config.ai);
  const email = composeEmail(claim, content, config);

  const [started] = await sql<{ ok: boolean }[]>`select app.begin_send(${claim.id}, ${name}, ${now()}) as ok`;
  if (!started?.ok) {
    log(`[mail] ${claim.id}: lease lost before sending, left to the database`);
    return "skipped";
  }
  let sent;
  try {
    sent = await sender.send(email);
  } catch (error) {
    const failure = sender.classify(error);
    await sql`select app.fail_send(${claim.id}, ${name}, ${failure.message}, ${failure.permanent}, ${now()})`;
    log(`[mail] ${claim.id}: ${failure.permanent ? "refused" : "deferred"} (${failure.message})`);
    return failure.permanent ? "failed" : "deferred";
  }
  await deps.afterSmtpAccept?.(claim);
  await sql`
    select app.complete_send(${claim.id}, ${name}, ${email.messageId}, ${sent.response}, ${email.subject}, ${email.text},
                             ${warnings}::text[], ${now()})`;
  log(`[mail] ${claim.id}: sent to ${claim.to} ${email.messageId}${warnings.length ? ` (${warnings.join(" ")})` : ""}`);
  return "sent";
}

/** Sends one claimed system mail; its content comes from app.begin_system_mail, made right before SMTP. */
export async function deliverSystemMail(deps: WorkerDeps, payload: unknown): Promise<Outcome> {
  const { sql, sender, config, name } = deps;
  const now = clock(deps);
  const log = deps.log ?? (() => {});
  const claim = SystemClaim.safeParse(payload);
  if (!claim.success) {
    throw new Error(`app.claim_system_mail returned a malformed row: ${JSON.stringify(payload)}`);
  }
  const { id } = claim.data;
  const [started] = await sql<{ mail: unknown }[]>`select app.begin_system_mail(${id}, ${name}, ${now()}) as mail`;
  if (!started?.mail) {
    log(`[mail] ${id}: nothing to send (lease lost, or the mail is no longer owed)`);
    return "skipped";
  }
  const mail = SystemMail.safeParse(started.mail);
  if (!mail.success) {
    await sql`select app.fail_system_mail(${id}, ${name}, ${`the mail's content is malformed: ${mail.error.message.slice(0, 500)}`}, true, ${now()})`;
    return "failed";
  }
  const email = composeSystemEmail(mail.data, config);
  let sent;
  try {
    sent = await sender.send(email);
  } catch (error) {
    const failure = sender.classify(error);
    await unlessDeleted(deps, id, sql`select app.fail_system_mail(${id}, ${name}, ${failure.message}, ${failure.permanent}, ${now()})`);
    log(`[mail] ${id}: ${failure.permanent ? "refused" : "deferred"} (${failure.message})`);
    return failure.permanent ? "failed" : "deferred";
  }
  await unlessDeleted(deps, id, sql`select app.complete_system_mail(${id}, ${name}, ${email.messageId}, ${sent.response}, ${now()})`);
  log(`[mail] ${id}: ${mail.data.kind} mail sent to ${mail.data.to} ${email.messageId}`);
  return "sent";
}

/**
 * Records a system mail's outcome, unless the mail is gone: it goes with its link, whose
 * member or workspace may be removed while the mail is being sent (404 from the database).
 */
async function unlessDeleted(deps: WorkerDeps, id: string, record: Promise<unknown>): Promise<void> {
  try {
    await record;
  } catch (error) {
    if ((error as { code?: unknown }).code !== "CR404") throw error;
    (deps.log ?? (() => {}))(`[mail] ${id}: removed (with its member, link or workspace) while it was being sent`);
  }
}

/**
 * Whether ticks should run app.enqueue_due_steps() themselves: always/never as configured;
 * auto = only when pg_cron does not run the 'enqueue-due-steps' job in this database
 * (plain Postgres without pg_cron, the job missing or inactive, or pg_cron's scheduler
 * stopped).
 */
export async function shouldEnqueue(sql: Sql, mode: MailConfig["worker"]["enqueue"]): Promise<boolean> {
  if (mode !== "auto") return mode === "always";
  try {
    const [row] = await sql<{ scheduled: boolean }[]>`
      select to_regclass('cron.job') is not null
         and app.pg_cron_scheduler() <> 'stopped'
         and exists (select 1 from cron.job j where j.jobname = 'enqueue-due-steps' and j.active
                       and j.database = current_database()) as scheduled`;
    return !row?.scheduled;
  } catch {
    return true;
  }
}

export interface RunningWorker {
  /** Finishes the tick in progress (no new one starts) and resolves. */
  stop(): Promise<void>;
}

/** Ticks every intervalMs until stopped; a failing tick is logged and the loop goes on. */
export function startWorker(deps: WorkerDeps, enqueue: boolean): RunningWorker {
  const log = deps.log ?? (() => {});
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: Promise<void> = Promise.resolve();
  const loop = () => {
    current = runTick(deps, enqueue)
      .then((result) => {
        if (result.claimed || result.enqueued) log(`[mail] tick: ${JSON.stringify(result)}`);
      })
      .catch((error: unknown) => log(`[mail] tick failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, deps.config.worker.intervalMs);
      });
  };
  loop();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}

function clock(deps: WorkerDeps): () => Date {
  return deps.now ?? (() => new Date());
}
