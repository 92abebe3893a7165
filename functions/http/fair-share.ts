// Fair share between tenants for expensive work (pipeline analytics, the spider web, rescoring
// every lead, large list pages, bulk deletes): one tenant hammering them must not slow down the
// others' everyday requests. Three caps, cheapest first:
//   1. per org, in this process: a request over EXPENSIVE_CONCURRENCY_PER_ORG is refused before it
//      takes a database connection (429 too_many_concurrent, Retry-After: 1);
//   2. per process: expensive requests hold at most EXPENSIVE_CONCURRENCY_PER_PROCESS connections
//      (default: half the pool), so cheap requests of every tenant always find one (503
//      server_busy, Retry-After: 1);
//   3. per org, across every process and Edge isolate: app.begin_expensive_work takes one of the
//      org's slots (a transaction-scoped advisory lock, released at commit, rollback or crash)
//      and sets the transaction's statement_timeout (EXPENSIVE_STATEMENT_TIMEOUT_MS; a query that
//      runs over is answered 503 query_timeout by errors.ts).
// The replies announce the concurrency policy: RateLimit-Policy: "expensive";q=1;qu="concurrent-requests".
// Why one per org by default: an expensive query keeps a database core busy while it runs, and
// a tenant allowed two at once keeps both cores of a small database (Supabase's smaller computes,
// this project's 2-core test machine) busy, which doubles everyone else's latency; raise
// EXPENSIVE_CONCURRENCY_PER_ORG on a bigger database.
import type { Context } from "hono";
import type { Sql, Tx } from "../db.ts";
import type { AppEnv } from "./context.ts";
import { ApiError } from "./errors.ts";

interface Running {
  total: number;
  perOrg: Map<string, number>;
  /** The same by API key (its hash), so a key can be refused before it is even looked up. */
  perKey: Map<string, number>;
}

// Per pool: the cap protects a pool's connections, and a process may hold several apps.
const running = new WeakMap<Sql, Running>();

function runningOn(sql: Sql): Running {
  let state = running.get(sql);
  if (!state) running.set(sql, state = { total: 0, perOrg: new Map(), perKey: new Map() });
  return state;
}

/** Expensive requests this process runs at once: the setting, or half the pool (at least 1). */
function processCap(c: Context<AppEnv>): number {
  return c.var.config.limits.fairShare.perProcess ?? Math.max(1, Math.floor((c.var.sql.options.max ?? 10) / 2));
}

const RETRY_AFTER_SECONDS = 1;

function tooManyConcurrent(c: Context, perOrg: number): ApiError {
  c.header("Retry-After", String(RETRY_AFTER_SECONDS));
  c.header("RateLimit", `"expensive";r=0;t=${RETRY_AFTER_SECONDS}`, { append: true });
  return new ApiError(429, "too_many_concurrent",
    `This workspace is already running ${perOrg} expensive request(s) at once (analytics, spider web, rescoring all leads, large list pages, bulk deletes)`,
    `Retry after ${RETRY_AFTER_SECONDS} s (Retry-After), once one has finished: send these one at a time. Everyday calls (a lead, a small page) are not limited this way.`,
    { retryAfter: RETRY_AFTER_SECONDS });
}

function serverBusy(c: Context): ApiError {
  c.header("Retry-After", String(RETRY_AFTER_SECONDS));
  return new ApiError(503, "server_busy", "This server is running as much expensive work as it takes at once",
    `Retry after ${RETRY_AFTER_SECONDS} s (Retry-After). Everyday calls (a lead, a small page) are not affected.`,
    { retryAfter: RETRY_AFTER_SECONDS });
}

const announcePolicy = (c: Context<AppEnv>, perOrg: number) =>
  c.header("RateLimit-Policy", `"expensive";q=${perOrg};qu="concurrent-requests"`, { append: true });

/**
 * Before the key is looked up: refuses (429) when this key's expensive requests in this process
 * already fill its org's share, so retrying at once costs no database work. A key belongs to one
 * org, so this never refuses what the per-org cap would let through.
 */
export function refuseWhileKeyBusy(c: Context<AppEnv>, keyHash: string): void {
  const perOrg = c.var.config.limits.fairShare.perOrg;
  if ((runningOn(c.var.sql).perKey.get(keyHash) ?? 0) < perOrg) return;
  announcePolicy(c, perOrg);
  throw tooManyConcurrent(c, perOrg);
}

function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}

/**
 * Admits an expensive request of the org in this process, before it takes a connection, or
 * throws 429/503. Returns the release, to call once the request's transaction has ended.
 */
export function admitExpensive(c: Context<AppEnv>, orgId: string, keyHash: string): () => void {
  const perOrg = c.var.config.limits.fairShare.perOrg;
  announcePolicy(c, perOrg);
  const state = runningOn(c.var.sql);
  const mine = state.perOrg.get(orgId) ?? 0;
  if (mine >= perOrg) throw tooManyConcurrent(c, perOrg);
  if (state.total >= processCap(c)) throw serverBusy(c);
  state.total += 1;
  state.perOrg.set(orgId, mine + 1);
  state.perKey.set(keyHash, (state.perKey.get(keyHash) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    state.total -= 1;
    decrement(state.perOrg, orgId);
    decrement(state.perKey, keyHash);
  };
}

/**
 * In the request's transaction, already acting as the org: one of the org's slots across every
 * process (429 when they are all taken) and the statement timeout for the rest of it.
 */
export async function claimExpensiveSlot(c: Context<AppEnv>, tx: Tx): Promise<void> {
  const { perOrg, statementTimeoutMs } = c.var.config.limits.fairShare;
  const [row] = await tx<{ slot: number | null }[]>`select app.begin_expensive_work(${perOrg}, ${statementTimeoutMs}) as slot`;
  if (row?.slot == null) throw tooManyConcurrent(c, perOrg);
}
