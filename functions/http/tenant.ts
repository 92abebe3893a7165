// Authentication and the per-request transaction, sent the way PostgREST sends a request: one
// write and one round trip for a route whose work is a statement or two.
//
//   select … from app.authenticate_request(<key hash>, <limits>, <ticket>)   on its own
//   begin
//   select app.begin_request(<ticket>)                                        the identity
//   <the route's statements>
//   commit                                                                    finishWith()
//
// The key's statement (sql/22_rate_limits.sql) looks the key up and takes the request from the
// key's rate-limit bucket (rate-limit.ts) in a transaction of its own, so the bucket's row is
// locked for that statement only, never for a whole request; when both let the request
// through it admits the request's ticket (a random id per request) in the session. The
// transaction's first statement takes on the admitted org's claims and the authenticated
// role, or fails when the ticket was not admitted: then the transaction is aborted, none of
// the route's statements runs as anyone, and the COMMIT behind them rolls back. The handler
// runs as soon as the statements are sent, before the key's answer is back; the answer is
// read after the handler (a bad key's request is answered 401 or 429 whatever the handler
// made of its aborted statements), and it is back before any answer of the handler's own
// statements, so by then c.var.orgId and c.var.keyId are set. Before its first statement's
// answer a handler knows the org only in SQL: app.current_org_id().
//
// A reply of 4xx/5xx rolls the transaction back, unless the route sent COMMIT with its last
// statements (finishWith: routes whose whole work those statements are): nothing is half-written
// either way (the request still counts against the limit).
//
// Another authenticator (a member's session cookie) plugs in the same way: a statement of its
// own that checks the credential, takes its bucket and admits the ticket with the claims the
// request acts with (app._admit_request); the transaction is the same.
//
// Expensive routes also pass the fair-share caps (fair-share.ts), which need the org before
// a connection is taken: they wait for the key's answer first, then send the transaction.
// The database calls go through whenAvailable (db.ts), so while the database is down a
// request answers 503 at once instead of waiting on the pool.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { type Sql, type Statement, type Transaction, transaction, type Tx, whenAvailable } from "../db.ts";
import type { AppEnv } from "./context.ts";
import { ApiError } from "./errors.ts";
import { admitExpensive, claimExpensiveSlot, refuseWhileKeyBusy } from "./fair-share.ts";
import { announce, type LimitState, rateLimited } from "./rate-limit.ts";

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

/** The key's statement: who it is and its bucket, admitting the ticket when both let the request through. */
function checkKey(sql: Sql, c: Context<AppEnv>, keyHash: string, ticket: string | null) {
  return sql<KeyCheck[]>`
    select a.org_id as "orgId", a.tier, a.key_id as "keyId", a.revoked, a.expired, a.expires_at as "expiresAt",
           a.quota, a.window_seconds as "windowSeconds",
           a.allowed, a.remaining, a.reset_after as "resetAfter", a.retry_after as "retryAfter"
    from app.authenticate_request(${keyHash}, ${sql.json(keyLimits(c))}, ${ticket}) a`;
}

/** The limit's state as the RateLimit headers announce it (none for a revoked key). */
function limitState(check: KeyCheck): LimitState | undefined {
  if (check.allowed === null) return undefined;
  return {
    policy: "api-key", quota: check.quota!, windowSeconds: check.windowSeconds!, allowed: check.allowed,
    remaining: check.remaining!, resetAfter: check.resetAfter!, retryAfter: check.retryAfter!,
  };
}

/**
 * Takes the key's answer: announces its limit on the reply and, for a key that may act, sets
 * c.var.orgId and keyId. Returns the refusal (401, 429) to answer with, if any.
 */
function takeAnswer(c: Context<AppEnv>, check: KeyCheck | undefined): ApiError | undefined {
  if (!check) return unknownKey();
  if (check.expired) return expiredKey(check.expiresAt);
  if (check.revoked) return revokedKey();
  const state = limitState(check);
  if (state) {
    announce(c, [state]);
    if (!state.allowed) return rateLimited(c, state, check.tier);
  }
  c.set("orgId", check.orgId);
  c.set("keyId", check.keyId);
  return undefined;
}

/**
 * Authenticates the request's key and counts it against the key's rate limit, in one statement
 * outside any transaction; announces the limit on the reply and refuses (401, 429) here.
 */
async function authenticate(c: Context<AppEnv>, keyHash: string): Promise<KeyCheck> {
  await readBody(c);
  const sql = c.var.sql;
  const [check] = await whenAvailable(sql, () => checkKey(sql, c, keyHash, null));
  const refusal = takeAnswer(c, check);
  if (refusal) throw refusal;
  return check!;
}

/** The claims a request of this org and key acts with (what PostgREST sets from a JWT). */
const claimsOf = (c: Context<AppEnv>) =>
  JSON.stringify({ role: "authenticated", org_id: c.var.orgId, key_id: c.var.keyId });

/** The identity statement of a request already authenticated: its claims and role, set directly. */
const actAsTenant = (c: Context<AppEnv>) => (tx: Tx) =>
  tx`select set_config('request.jwt.claims', ${claimsOf(c)}, true), set_config('role', 'authenticated', true)`;

/** Runs the handler in the transaction, which a reply of 4xx/5xx rolls back. */
async function handleIn(c: Context<AppEnv>, next: () => Promise<void>, t: Transaction): Promise<void> {
  c.set("db", t.tx);
  c.set("transaction", t);
  await next();
  if (c.res.status >= 400) t.rollbackAtEnd();
}

/**
 * The transaction a route's work runs in, acting as the authenticated org. `expensive` says
 * whether this request is expensive work, which fair share caps (fair-share.ts).
 */
function tenantRequest(expensive: (c: Context<AppEnv>) => boolean | Promise<boolean>) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const keyHash = await requestKeyHash(c);
    if (await expensive(c)) {
      // A key whose expensive requests already fill its org's share here is refused before any
      // database work: an impatient client retrying at once costs next to nothing.
      refuseWhileKeyBusy(c, keyHash);
      const auth = await authenticate(c, keyHash);
      const release = admitExpensive(c, auth.orgId, keyHash);
      try {
        await transaction(c.var.sql, { identity: actAsTenant(c) }, async (t) => {
          await claimExpensiveSlot(c, t.tx);
          await handleIn(c, next, t);
        });
      } finally {
        release();
      }
      return;
    }

    await readBody(c);
    const ticket = crypto.randomUUID();
    let answer!: Promise<ApiError | undefined>;
    await transaction(c.var.sql, {
      ahead: (conn) => {
        // Taken as soon as it is back, which is before any answer to the handler's statements.
        answer = checkKey(conn, c, keyHash, ticket).then(([check]) => takeAnswer(c, check));
        // Its failure (the connection lost) is reported once the handler is done, below; until
        // then it is not an unhandled rejection.
        answer.catch(() => {});
      },
      identity: (tx) => tx`select app.begin_request(${ticket})`,
    }, async (t) => {
      try {
        await handleIn(c, next, t);
      } finally {
        const refusal = await answer;
        if (refusal) throw refusal;
      }
    });
  });
}

/**
 * Routes whose work is one transaction: authenticate and act as the org in the same
 * transaction as the handler.
 */
export const tenantTransaction = tenantRequest(() => false);

/**
 * The same for expensive work (analytics, the spider web, rescoring all leads, large lists, bulk
 * deletes): capped per org and per process, under a statement timeout. `when` narrows it to the
 * requests that are expensive (a large page, { all: true }).
 */
export const expensiveTransaction = (when: (c: Context<AppEnv>) => boolean | Promise<boolean> = () => true) => tenantRequest(when);

/**
 * The request's last statements: COMMIT goes out right behind them, in the same write, so a
 * route whose work is these statements answers in one round trip. Pass the statements
 * themselves (made, not yet awaited) and await the result, one row list per statement:
 *   const [rows] = await finishWith(c, db`select …`);
 * Only for statements that are the whole of the request's work: a refusal the handler makes
 * after them can no longer roll anything back (a refusal the database makes still does).
 * While the request's commit is held (an Idempotency-Key stores the reply after the handler),
 * COMMIT waits for the end as usual.
 */
export function finishWith<T extends readonly Statement[]>(c: Context<AppEnv>, ...statements: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  // Sent now, in this order, so that they go out ahead of the COMMIT (awaiting a query would
  // send it a step later, behind it).
  for (const statement of statements) statement.execute();
  const results = Promise.all(statements);
  c.var.transaction.commitNow();
  return results as Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }>;
}

/** Keeps the request's COMMIT for the end of the request: for middleware that writes after the handler. */
export function holdCommit(c: Context<AppEnv>): void {
  c.var.transaction.holdCommit();
}

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
  return transaction(c.var.sql, { identity: actAsTenant(c) }, (t) => work(t.tx));
}

