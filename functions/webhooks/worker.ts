// The webhook delivery loop. One tick: app.claim_webhook_deliveries() for a batch (across
// orgs, for update skip locked, leased), then for each claimed delivery, side by side: check
// the URL against the SSRF guard → POST the Standard Webhooks body, signed → record the
// answer with app.complete_webhook_delivery() (2xx) or app.fail_webhook_delivery()
// (anything else, a time-out, a refused URL). The database owns every rule: the retry
// schedule, disabling an endpoint that keeps failing, leases.
//
// At least once, never lost: the event and its delivery were written in the transaction
// that made the change; a worker that dies mid-delivery leaves the delivery leased, and
// once the lease runs out the next claim sends it again, under the same webhook-id, so the
// receiver can deduplicate. Per-endpoint order is not kept: a retried delivery goes out
// after newer ones.
// Runtime-neutral (postgres.js + fetch + Web Crypto): `npm run worker` runs it on Node, and
// POST /internal/mail/run runs one tick in the Edge Function.
import { z } from "zod";
import type { Sql } from "../db.ts";
import type { ResolveHost } from "../enrichment/http.ts";
import type { WebhooksConfig } from "./config.ts";
import { signatureHeaders } from "./sign.ts";
import { webhookUrlRefusal } from "./urls.ts";

/** One claimed delivery as app.claim_webhook_deliveries() returns it. */
const Claim = z.object({
  id: z.string().min(1),
  orgId: z.string().min(1),
  subscriptionId: z.string().min(1),
  attempt: z.number().int().positive(),
  webhookId: z.string().min(1),
  type: z.string().min(1),
  timestamp: z.string().min(1),
  data: z.record(z.string(), z.unknown()),
  url: z.string().min(1),
  secrets: z.array(z.string().min(1)).min(1),
});
type Claim = z.infer<typeof Claim>;

export interface WebhookWorkerDeps {
  sql: Sql;
  config: WebhooksConfig;
  /** A/AAAA lookups for the SSRF guard (the runtime's resolver). */
  resolveHost: ResolveHost;
  /** Recorded as claimed_by (e.g. host:pid). */
  name: string;
  /** The clock passed to the SQL calls as p_now and used for webhook-timestamp. */
  now?: () => Date;
  log?: (line: string) => void;
}

export interface WebhookTickResult {
  claimed: number;
  /** Answered 2xx and recorded. */
  delivered: number;
  /** Failed attempts that will be retried (the schedule in app.webhook_retry_delay). */
  retried: number;
  /** Failed for good: that was the last attempt. */
  failed: number;
  /** Failed attempts that disabled their subscription (every attempt failed for 24 hours). */
  disabled: number;
}

type Outcome = "delivered" | "retried" | "failed" | "disabled" | "ignored";

/** The start of an endpoint's answer kept for the delivery log. */
const RESPONSE_BYTES = 1000;
const USER_AGENT = "OpenClaw-CRM-Webhooks/1.0 (+https://www.standardwebhooks.com)";

/** One pass: claim a batch, send each delivery, record each outcome. */
export async function runWebhookTick(deps: WebhookWorkerDeps): Promise<WebhookTickResult> {
  const { sql, config, name } = deps;
  const now = deps.now ?? (() => new Date());
  const rows = await sql<{ claim: unknown }[]>`
    select app.claim_webhook_deliveries(${name}, ${config.worker.batch}::integer,
      make_interval(secs => ${config.worker.leaseSeconds}), ${now()}) as claim`;
  const result: WebhookTickResult = { claimed: rows.length, delivered: 0, retried: 0, failed: 0, disabled: 0 };
  const outcomes = await Promise.all(rows.map((row) => deliver(deps, row.claim)));
  for (const outcome of outcomes) if (outcome !== "ignored") result[outcome]++;
  return result;
}

interface Attempt {
  ok: boolean;
  status: number | null;
  error: string | null;
  response: string | null;
  ms: number;
}

async function deliver(deps: WebhookWorkerDeps, payload: unknown): Promise<Outcome> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? (() => {});
  const parsed = Claim.safeParse(payload);
  if (!parsed.success) {
    const row = payload as { id?: unknown; orgId?: unknown } | null;
    if (typeof row?.id !== "string" || typeof row.orgId !== "string") {
      throw new Error(`app.claim_webhook_deliveries returned a row without its ids: ${JSON.stringify(payload)}`);
    }
    return record(deps, row.orgId, row.id, { ok: false, status: null, error: `the claimed delivery is malformed: ${parsed.error.message.slice(0, 500)}`, response: null, ms: 0 });
  }
  const claim = parsed.data;
  const attempt = await send(deps, claim, now());
  const outcome = await record(deps, claim.orgId, claim.id, attempt);
  log(`[webhooks] ${claim.id} (${claim.type}, ${claim.webhookId}) attempt ${claim.attempt} → ${claim.url}: `
    + `${attempt.ok ? `HTTP ${attempt.status}` : attempt.error} → ${outcome}`);
  return outcome;
}

async function record(deps: WebhookWorkerDeps, orgId: string, id: string, attempt: Attempt): Promise<Outcome> {
  const { sql, name } = deps;
  const now = (deps.now ?? (() => new Date()))();
  if (attempt.ok) {
    const [row] = await sql<{ ok: boolean }[]>`
      select app.complete_webhook_delivery(${orgId}, ${id}, ${name}, ${attempt.status}, ${attempt.ms}, ${attempt.response}, ${now}) as ok`;
    return row?.ok ? "delivered" : "ignored";
  }
  const [row] = await sql<{ outcome: string }[]>`
    select app.fail_webhook_delivery(${orgId}, ${id}, ${name}, ${attempt.status}, ${attempt.error}, ${attempt.ms},
                                     ${attempt.response}, ${now}) as outcome`;
  switch (row?.outcome) {
    case "retry": return "retried";
    case "failed": return "failed";
    case "disabled": return "disabled";
    default: return "ignored";
  }
}

/** One attempt: the URL checked, the signed body POSTed, the answer's status and first bytes read, all within the time limit. */
async function send(deps: WebhookWorkerDeps, claim: Claim, at: Date): Promise<Attempt> {
  const { config } = deps;
  const started = Date.now();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, config.timeoutMs);
  const failed = (error: string, status: number | null = null, response: string | null = null): Attempt =>
    ({ ok: false, status, error, response, ms: Date.now() - started });
  try {
    const refusal = await webhookUrlRefusal(claim.url, config, deps.resolveHost, controller.signal);
    if (refusal) return failed(`refused to send to ${claim.url}: ${refusal}`);
    const body = JSON.stringify({ type: claim.type, timestamp: claim.timestamp, data: claim.data });
    const signed = await signatureHeaders(claim.secrets, claim.webhookId, Math.floor(at.getTime() / 1000), body);
    const response = await fetch(claim.url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": USER_AGENT, ...signed },
      body,
      // A redirect could lead anywhere, a private address included: never followed.
      redirect: "manual",
      signal: controller.signal,
    });
    const text = await readStart(response, RESPONSE_BYTES);
    if (response.status >= 200 && response.status < 300) {
      return { ok: true, status: response.status, error: null, response: text, ms: Date.now() - started };
    }
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      return failed(`HTTP ${response.status}: redirects are not followed${location ? ` (to ${location.slice(0, 300)})` : ""}; point the subscription at the final URL`,
        response.status, text);
    }
    return failed(`HTTP ${response.status}`, response.status, text);
  } catch (error) {
    if (timedOut) return failed(`no answer within ${config.timeoutMs} ms`);
    return failed(`could not reach ${claim.url}: ${describe(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The first `max` bytes of the body as text (the rest is not downloaded). */
async function readStart(response: Response, max: number): Promise<string | null> {
  if (!response.body) return null;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value.subarray(0, max - total));
      total += Math.min(value.byteLength, max - total);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const text = new TextDecoder().decode(bytes);
  return text === "" ? null : text;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

export interface RunningWebhookWorker {
  /** Finishes the tick in progress (no new one starts) and resolves. */
  stop(): Promise<void>;
}

/** Ticks every intervalMs until stopped (at once again after a full batch); a failing tick is logged and the loop goes on. */
export function startWebhookWorker(deps: WebhookWorkerDeps): RunningWebhookWorker {
  const log = deps.log ?? (() => {});
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: Promise<void> = Promise.resolve();
  const loop = () => {
    let full = false;
    current = runWebhookTick(deps)
      .then((result) => {
        full = result.claimed >= deps.config.worker.batch;
        if (result.claimed) log(`[webhooks] tick: ${JSON.stringify(result)}`);
      })
      .catch((error: unknown) => log(`[webhooks] tick failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, full ? 0 : deps.config.worker.intervalMs);
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
