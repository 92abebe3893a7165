// Authentication and the per-request transaction.
// A request acts as an org with an API key (Authorization: Bearer rcm_live_… or x-api-key) or
// with a member's browser session (the session cookie, session.ts); a key wins when both are
// sent. Either way it ends in the same claims and the same transaction: an API key as
// { role: authenticated, org_id, key_id } (keys have no role: they act as owners), a session as
// { role: authenticated, org_id, member_id, member_role, session_id }; row-level security and
// the role rules (10_foundation.sql, 98_roles.sql) take it from there. c.var.identity says
// which. Cookie-authenticated writes pass the CSRF checks first (session.ts).
// The key is hashed here and looked up by app.authenticate_request, one statement of its own
// before the transaction: it finds the key's org and takes the request from the key's rate-limit
// bucket (rate-limit.ts), so a limited request is refused before any work, and the bucket's row
// is locked for that statement only, never for a whole request. A session is looked up the same
// way by app.authenticate_session (the member's current role, the session's rolling expiry, the
// member's rate-limit bucket). The transaction then takes on the claims and the authenticated
// role, sent together with the handler's first query, so everything the handler runs is under
// row-level security; the request still costs the same round trips as a lookup inside the
// transaction would. A reply of 4xx/5xx rolls the whole transaction back: nothing is
// half-written (the request still counts against the limit).
// Expensive routes also pass the fair-share caps (fair-share.ts). The database calls go through
// whenAvailable, so while the database is down a request answers 503 at once instead of waiting
// on the pool.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { type Tx, whenAvailable } from "../db.ts";
import type { AppEnv, Identity, MemberRole } from "./context.ts";
import { ApiError } from "./errors.ts";
import { admitExpensive, claimExpensiveSlot, refuseWhileKeyBusy } from "./fair-share.ts";
import { enforce, type LimitState } from "./rate-limit.ts";
import {
  checkCsrf, clearSessionCookie, csrfTokenFor, endedSession, missingSession, readSessionToken, sha256Hex,
  wellFormedSessionToken,
} from "./session.ts";

export { sha256Hex };

const rollback = Symbol("rollback");

export function readApiKey(c: Context): string | undefined {
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer ?? c.req.header("x-api-key")?.trim() ?? undefined;
}

const missingKey = () =>
  new ApiError(401, "missing_api_key", "This endpoint needs your API key",
    "Send Authorization: Bearer rcm_live_… (or x-api-key: rcm_live_…). No key yet? POST /api/openclaw/signup. People sign in instead: POST /api/openclaw/auth/sign-in { \"email\": \"…\" } mails a link that starts a browser session.");

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
async function authenticateKey(c: Context<AppEnv>, keyHash: string): Promise<void> {
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
  c.set("identity", { kind: "api_key", keyId: auth.keyId });
}

interface SessionCheck {
  orgId: string;
  tier: string;
  sessionId: string;
  memberId: string;
  memberRole: MemberRole;
  email: string;
  status: "active" | "expired" | "revoked";
  expiresAt: Date;
  idleExpiresAt: Date;
  /** The member's rate limit (null for a session that no longer works). */
  quota: number | null;
  windowSeconds: number | null;
  allowed: boolean | null;
  remaining: number | null;
  resetAfter: number | null;
  retryAfter: number | null;
}

/**
 * Authenticates a browser session: the CSRF checks of a write first, then one statement
 * (app.authenticate_session) outside any transaction, as for keys, which also takes one request
 * from the member's rate-limit bucket. A session that no longer works loses its cookie.
 */
async function authenticateSession(c: Context<AppEnv>, token: string): Promise<void> {
  await readBody(c);
  if (!wellFormedSessionToken(token)) {
    clearSessionCookie(c);
    throw endedSession("unknown");
  }
  await checkCsrf(c, token);
  const sql = c.var.sql;
  const tokenHash = await sha256Hex(token);
  const [check] = await whenAvailable(sql, () => sql<SessionCheck[]>`
    select a.org_id as "orgId", a.tier, a.session_id as "sessionId", a.member_id as "memberId", a.member_role as "memberRole",
           a.email, a.status, a.expires_at as "expiresAt", a.idle_expires_at as "idleExpiresAt",
           a.quota, a.window_seconds as "windowSeconds",
           a.allowed, a.remaining, a.reset_after as "resetAfter", a.retry_after as "retryAfter"
    from app.authenticate_session(${tokenHash}, ${sql.json(keyLimits(c))}) a`);
  if (!check || check.status !== "active") {
    clearSessionCookie(c);
    throw endedSession(check?.status === "expired" ? "expired" : check ? "revoked" : "unknown");
  }
  if (check.allowed !== null) {
    enforce(c, [{
      policy: "member", quota: check.quota!, windowSeconds: check.windowSeconds!, allowed: check.allowed,
      remaining: check.remaining!, resetAfter: check.resetAfter!, retryAfter: check.retryAfter!,
    }], check.tier);
  }
  c.set("orgId", check.orgId);
  c.set("keyId", undefined);
  c.set("identity", {
    kind: "session", sessionId: check.sessionId, memberId: check.memberId, email: check.email, role: check.memberRole,
    csrfToken: await csrfTokenFor(token), expiresAt: check.expiresAt, idleExpiresAt: check.idleExpiresAt,
  });
}

/** What a route accepts: an API key or a browser session (the API), or a session only (a person's own things). */
type Credentials = "key-or-session" | "session";

/** Authenticates the request with what it carries (a key wins over a cookie); refuses (401, 403, 429) here. */
async function authenticate(c: Context<AppEnv>, credentials: Credentials): Promise<void> {
  const key = credentials === "key-or-session" ? readApiKey(c) : undefined;
  if (key !== undefined) return authenticateKey(c, await requestKeyHash(c));
  const token = readSessionToken(c);
  if (token === undefined) throw credentials === "session" ? missingSession() : missingKey();
  return authenticateSession(c, token);
}

/** The claims a request acts with (what PostgREST sets from a JWT): its org, and its key or its member. */
function claimsOf(c: Context<AppEnv>): string {
  const identity: Identity = c.var.identity;
  return JSON.stringify(identity.kind === "api_key"
    ? { role: "authenticated", org_id: c.var.orgId, key_id: identity.keyId }
    : { role: "authenticated", org_id: c.var.orgId, member_id: identity.memberId, member_role: identity.role, session_id: identity.sessionId });
}

/**
 * The transaction a route's work runs in, acting as the authenticated org. `expensive` says
 * whether this request is expensive work, which fair share caps (fair-share.ts).
 */
function transaction(expensive: (c: Context<AppEnv>) => boolean | Promise<boolean>, credentials: Credentials = "key-or-session") {
  return createMiddleware<AppEnv>(async (c, next) => {
    const isExpensive = await expensive(c);
    // Fair share counts expensive requests per key (by its hash, before it is even looked up)
    // and per org; a session's are counted as its org's.
    const keyHash = credentials === "key-or-session" && readApiKey(c) !== undefined ? await requestKeyHash(c) : undefined;
    // A key whose expensive requests already fill its org's share here is refused before any
    // database work: an impatient client retrying at once costs next to nothing. Its body is
    // read first all the same: a refusal sent while the body is still arriving leaves the rest
    // on the connection, which the server then drops, and the client sees no answer at all.
    if (isExpensive) {
      await readBody(c);
      if (keyHash) refuseWhileKeyBusy(c, keyHash);
    }
    await (keyHash ? authenticateKey(c, keyHash) : authenticate(c, credentials));
    const release = isExpensive ? admitExpensive(c, c.var.orgId, keyHash ?? `org:${c.var.orgId}`) : undefined;
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
  await authenticate(c, "key-or-session");
  await next();
});

/**
 * A person's own things (GET /auth/session, their sessions; dashboard pages): the same
 * transaction as tenantTransaction, but only a browser session is accepted (401 not_signed_in
 * otherwise, even with an API key), so c.var.identity is always a session.
 */
export const memberTransaction = transaction(() => false, "session");

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
  const keyHash = readApiKey(c) !== undefined ? await requestKeyHash(c) : undefined;
  if (keyHash) refuseWhileKeyBusy(c, keyHash);
  const release = admitExpensive(c, c.var.orgId, keyHash ?? `org:${c.var.orgId}`);
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
