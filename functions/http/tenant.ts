// Authentication and the per-request transaction.
// The key is hashed here and looked up by app.authenticate_request, one statement of its own
// before the transaction: it finds the key's org and takes the request from the key's rate-limit
// bucket (rate-limit.ts), so a limited request is refused before any work, and the bucket's row
// is locked for that statement only, never for a whole request. The transaction then takes on
// the org's claims and the authenticated role, sent together with the handler's first query,
// so everything the handler runs is under row-level security; the request still costs the same
// round trips as a lookup inside the transaction would. A reply of 4xx/5xx rolls the whole
// transaction back: nothing is half-written (the request still counts against the limit).
// Expensive routes also pass the fair-share caps (fair-share.ts). The database calls go through
// whenAvailable, so while the database is down a request answers 503 at once instead of waiting
// on the pool.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { type Tx, whenAvailable } from "../db.ts";
import type { AppEnv } from "./context.ts";
import { ApiError } from "./errors.ts";
import { admitExpensive, claimExpensiveSlot, refuseWhileKeyBusy } from "./fair-share.ts";
import { enforce, type LimitState } from "./rate-limit.ts";

const rollback = Symbol("rollback");

export function readApiKey(c: Context): string | undefined {
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer ?? c.req.header("x-api-key")?.trim() ?? undefined;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const missingKey = () =>
  new ApiError(401, "missing_api_key", "This endpoint needs your API key",
    "Send Authorization: Bearer rcm_live_… (or x-api-key: rcm_live_…). No key yet? POST /api/openclaw/signup.");

const recoverHowTo = "Lost every key? POST /api/openclaw/keys/recover { \"email\": \"<the workspace owner's email>\" } mails a one-time link that issues a new one.";

const unknownKey = () =>
  new ApiError(401, "invalid_api_key", "The API key is not valid",
    `Check you copied the whole key (rcm_live_ followed by 64 hex digits). Keys are shown once, when created. ${recoverHowTo}`);

const revokedKey = () =>
  new ApiError(401, "revoked_api_key", "The API key has been revoked", `Use a current key for this workspace. ${recoverHowTo}`);

const expiredKey = (expiresAt: Date | null) =>
  new ApiError(401, "expired_api_key", `The API key was rotated and stopped working${expiresAt ? ` at ${expiresAt.toISOString()}` : ""}`,
    `Use the key that replaced it (POST /api/openclaw/keys/{id}/rotate returned it; GET /api/openclaw/keys lists the workspace's keys). ${recoverHowTo}`);

interface KeyCheck {
  orgId: string;
  tier: string;
  keyId: string;
  /** The key may not be used: revoked, or expired after rotation (then expired is true). */
  revoked: boolean;
  expired: boolean;
  expiresAt: Date | null;
  /** The key's rate limit (null for a revoked key, which takes nothing). */
  quota: number | null;
  windowSeconds: number | null;
  allowed: boolean | null;
  remaining: number | null;
  resetAfter: number | null;
  retryAfter: number | null;
}

/** The key's hash, checked for shape first so garbage never reaches the database. */
async function requestKeyHash(c: Context): Promise<string> {
  const key = readApiKey(c);
  if (!key) throw missingKey();
  if (!/^rcm_live_[0-9a-f]{64}$/.test(key)) throw unknownKey();
  return sha256Hex(key);
}

function accept(check: KeyCheck | undefined): KeyCheck {
  if (!check) throw unknownKey();
  if (check.expired) throw expiredKey(check.expiresAt);
  if (check.revoked) throw revokedKey();
  return check;
}

/** Read the whole body before taking a connection: a slow client must not hold a
 * transaction open while it uploads. Hono caches it for the validators. */
async function readBody(c: Context): Promise<void> {
  if (c.req.method !== "GET" && c.req.method !== "HEAD") await c.req.text();
}

/** The deployment's per-tier overrides of the keys' limit, as app.authenticate_request takes them. */
function keyLimits(c: Context<AppEnv>): Record<string, { limit: number; window: number }> {
  return Object.fromEntries(Object.entries(c.var.config.limits.keyTiers)
    .map(([tier, policy]) => [tier, { limit: policy.limit, window: policy.windowSeconds }]));
}

/**
 * Authenticates the request's key and counts it against the key's rate limit, in one statement
 * outside any transaction; announces the limit on the reply and refuses (401, 429) here.
 */
async function authenticate(c: Context<AppEnv>, keyHash: string): Promise<KeyCheck> {
  await readBody(c);
  const sql = c.var.sql;
  const [check] = await whenAvailable(sql, () => sql<KeyCheck[]>`
    select a.org_id as "orgId", a.tier, a.key_id as "keyId", a.revoked, a.expired, a.expires_at as "expiresAt",
           a.quota, a.window_seconds as "windowSeconds",
           a.allowed, a.remaining, a.reset_after as "resetAfter", a.retry_after as "retryAfter"
    from app.authenticate_request(${keyHash}, ${sql.json(keyLimits(c))}) a`);
  const auth = accept(check);
  if (auth.allowed !== null) {
    const state: LimitState = {
      policy: "api-key", quota: auth.quota!, windowSeconds: auth.windowSeconds!, allowed: auth.allowed,
      remaining: auth.remaining!, resetAfter: auth.resetAfter!, retryAfter: auth.retryAfter!,
    };
    enforce(c, [state], auth.tier);
  }
  c.set("orgId", auth.orgId);
  c.set("keyId", auth.keyId);
  return auth;
}

/** The claims a request of this org and key acts with (what PostgREST sets from a JWT). */
const claimsOf = (c: Context<AppEnv>) =>
  JSON.stringify({ role: "authenticated", org_id: c.var.orgId, key_id: c.var.keyId });

/**
 * The transaction a route's work runs in, acting as the authenticated org. `expensive` says
 * whether this request is expensive work, which fair share caps (fair-share.ts).
 */
function transaction(expensive: (c: Context<AppEnv>) => boolean | Promise<boolean>) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const keyHash = await requestKeyHash(c);
    const isExpensive = await expensive(c);
    // A key whose expensive requests already fill its org's share here is refused before any
    // database work: an impatient client retrying at once costs next to nothing. Its body is
    // read first all the same: a refusal sent while the body is still arriving leaves the rest
    // on the connection, which the server then drops, and the client sees no answer at all.
    if (isExpensive) {
      await readBody(c);
      refuseWhileKeyBusy(c, keyHash);
    }
    const auth = await authenticate(c, keyHash);
    const release = isExpensive ? admitExpensive(c, auth.orgId, keyHash) : undefined;
    try {
      await whenAvailable(c.var.sql, () => c.var.sql.begin(async (tx) => {
        // Not awaited: it goes out with the next query, on the same connection, ahead of it.
        tx`select set_config('request.jwt.claims', ${claimsOf(c)}, true), set_config('role', 'authenticated', true)`.execute();
        if (release) await claimExpensiveSlot(c, tx);
        c.set("db", tx);
        await next();
        if (c.res.status >= 400) throw rollback;
      }));
    } catch (err) {
      if (err !== rollback) throw err;
    } finally {
      release?.();
    }
  });
}

/**
 * Routes whose work is one transaction: authenticate and act as the org in the same
 * transaction as the handler.
 */
export const tenantTransaction = transaction(() => false);

/**
 * The same for expensive work (analytics, the spider web, rescoring all leads, large lists, bulk
 * deletes): capped per org and per process, under a statement timeout. `when` narrows it to the
 * requests that are expensive (a large page, { all: true }).
 */
export const expensiveTransaction = (when: (c: Context<AppEnv>) => boolean | Promise<boolean> = () => true) => transaction(when);

/**
 * Routes that wait on the outside world (enrichment, mail, Calendly): authenticate
 * only, so no transaction is held across a network call; the handler then opens short
 * transactions of its own with asTenant().
 */
export const tenantAuthenticated = createMiddleware<AppEnv>(async (c, next) => {
  await authenticate(c, await requestKeyHash(c));
  await next();
});

/** One transaction acting as the request's (already authenticated) org, under RLS. */
export function asTenant<T>(c: Context<AppEnv>, work: (tx: Tx) => Promise<T>): Promise<T> {
  return whenAvailable(c.var.sql, () => c.var.sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${claimsOf(c)}, true), set_config('role', 'authenticated', true)`;
    return work(tx);
  }) as Promise<T>);
}

/** A COPY … TO STDOUT's stream as postgres.js hands it over (a Node Readable, also under Deno). */
export type CopyStream = AsyncIterable<Uint8Array> & {
  readonly destroyed: boolean;
  once(event: "close", listener: () => void): unknown;
};

/**
 * Expensive work whose reply streams from the database (an export's COPY … TO STDOUT): one
 * transaction acting as the (already authenticated) org, under the fair-share caps, that
 * outlives the handler. work() starts the COPY inside it; the reply's body then reads it with
 * backpressure (nothing is buffered beyond the stream's chunks), and only when the body has been
 * read to its end does the transaction commit and give back its connection and slot. A failure
 * before the first chunk is thrown as usual (the reply is then an error); a client that goes away
 * cancels the query (cancel()) and the transaction rolls back. Either way the transaction ends
 * only once the COPY stream has closed: until then the connection is still in the COPY, and a
 * COMMIT or ROLLBACK sent then would be refused, leaving the connection's transaction open.
 * statementTimeoutMs replaces the expensive-work timeout for the stream: a large export to a
 * slow client takes longer.
 */
export async function streamingTransaction(
  c: Context<AppEnv>,
  statementTimeoutMs: number,
  work: (tx: Tx) => Promise<{ stream: CopyStream; cancel(): void }>,
): Promise<ReadableStream<Uint8Array>> {
  const keyHash = await requestKeyHash(c);
  refuseWhileKeyBusy(c, keyHash);
  const release = admitExpensive(c, c.var.orgId, keyHash);
  return new Promise<ReadableStream<Uint8Array>>((resolve, reject) => {
    let streaming = false;
    whenAvailable(c.var.sql, () => c.var.sql.begin(async (tx) => {
      tx`select set_config('request.jwt.claims', ${claimsOf(c)}, true), set_config('role', 'authenticated', true)`.execute();
      await claimExpensiveSlot(c, tx);
      await tx`select set_config('statement_timeout', ${String(statementTimeoutMs)}, true)`;
      const { stream, cancel } = await work(tx);
      // The stream closes once the COPY has ended on the connection: read to its end, or failed.
      const closed = stream.destroyed ? Promise.resolve() : new Promise<void>((ok) => stream.once("close", ok));
      const iterator = stream[Symbol.asyncIterator]();
      let failure: unknown;
      let cancelled = false;
      resolve(new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const next = await iterator.next();
            if (cancelled) return;
            if (next.done) controller.close();
            else controller.enqueue(next.value);
          } catch (error) {
            failure ??= error;
            if (!cancelled) controller.error(error);
          }
        },
        async cancel() {
          // The client went away: stop the query, then read what is in flight until the COPY ends.
          cancelled = true;
          failure ??= new Error("the client went away");
          cancel();
          try {
            for (let next = await iterator.next(); !next.done; next = await iterator.next()) { /* discarded */ }
          } catch {
            // the COPY ended with the cancel's error
          }
        },
      }));
      streaming = true;
      await closed;
      if (failure !== undefined) {
        if (!cancelled) console.error(`${c.req.method} ${c.req.path}: the stream failed part-way:`, failure);
        throw failure;
      }
    })).catch((error) => {
      if (!streaming) reject(error);
    }).finally(release);
  });
}
