// Authentication and the per-request transaction, sent the way PostgREST sends a request: one
// write and one round trip for a route whose work is a statement or two.
//
// A request acts as an org with an API key (Authorization: Bearer rcm_live_… or x-api-key) or
// with a member's browser session (the session cookie, session.ts); a key wins when both are
// sent. Either way it ends in the same claims and the same transaction: an API key as
// { role: authenticated, org_id, key_id } (keys have no role: they act as owners), a session as
// { role: authenticated, org_id, member_id, member_role, session_id }; row-level security and
// the role rules (10_foundation.sql, 98_roles.sql) take it from there. c.var.identity says
// which. Cookie-authenticated writes pass the CSRF checks first (session.ts), before anything
// reaches the database.
//
//   select … from app.authenticate_request(<key hash>, <limits>, <ticket>)   on its own
//     (or app.authenticate_session(<session token hash>, <limits>, <ticket>))
//   begin
//   select app.begin_request(<ticket>)                                        the identity
//   <the route's statements>
//   commit                                                                    finishWith()
//
// The credential's statement (sql/22_rate_limits.sql, sql/24_members.sql) looks the key or the
// session up and takes the request from its rate-limit bucket (rate-limit.ts) in a transaction
// of its own, so the bucket's row is locked for that statement only, never for a whole
// request; when both let the request through it admits the request's ticket (a random id per
// request) in the session, with the claims the request acts with. The transaction's first
// statement takes on those claims and the authenticated role, or fails when the ticket was not
// admitted: then the transaction is aborted, none of the route's statements runs as anyone,
// and the COMMIT behind them rolls back. The handler runs as soon as the statements are sent,
// before the credential's answer is back; the answer is read after the handler (a bad key's or
// session's request is answered 401 or 429 whatever the handler made of its aborted
// statements), and it is back before any answer of the handler's own statements, so by then
// c.var.orgId, keyId and identity are set. Before its first statement's answer a handler knows
// who it acts as only in SQL: app.current_org_id(), app.current_member_id(), the claims.
//
// A reply of 4xx/5xx rolls the transaction back, unless the route sent COMMIT with its last
// statements (finishWith: routes whose whole work those statements are): nothing is half-written
// either way (the request still counts against the limit).
//
// Expensive routes also pass the fair-share caps (fair-share.ts), which need the org before
// a connection is taken: they wait for the credential's answer first, then send the
// transaction. The database calls go through whenAvailable (db.ts), so while the database is
// down a request answers 503 at once instead of waiting on the pool.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { type Sql, type Statement, type Transaction, transaction, type Tx, whenAvailable } from "../db.ts";
import type { AppEnv, Identity, MemberRole } from "./context.ts";
import { sha256Hex } from "./digest.ts";
import { ApiError } from "./errors.ts";
import { admitExpensive, claimExpensiveSlot, refuseWhileKeyBusy } from "./fair-share.ts";
import { announce, type LimitState, rateLimited } from "./rate-limit.ts";
import {
  checkCsrf, clearSessionCookie, csrfTokenFor, endedSession, missingSession, readSessionToken, wellFormedSessionToken,
} from "./session.ts";

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

/** The rate limit's columns, as both credential statements answer them (null when nothing was taken). */
interface LimitColumns {
  tier: string;
  quota: number | null;
  windowSeconds: number | null;
  allowed: boolean | null;
  remaining: number | null;
  resetAfter: number | null;
  retryAfter: number | null;
}

interface KeyCheck extends LimitColumns {
  orgId: string;
  keyId: string;
  /** The key may not be used: revoked, or expired after rotation (then expired is true). */
  revoked: boolean;
  expired: boolean;
  expiresAt: Date | null;
}

interface SessionCheck extends LimitColumns {
  orgId: string;
  sessionId: string;
  memberId: string;
  memberRole: MemberRole;
  email: string;
  status: "active" | "expired" | "revoked";
  expiresAt: Date;
  idleExpiresAt: Date;
}

/** What a route accepts: an API key or a browser session (the API), or a session only (a person's own things). */
type Credentials = "key-or-session" | "session";

/**
 * The request's credential, checked for shape (and, for a session's writes, CSRF) before
 * anything reaches the database: an API key's hash, or a session token with its hash and CSRF
 * token. A key wins over a cookie.
 */
type Credential =
  | { kind: "api_key"; keyHash: string }
  | { kind: "session"; tokenHash: string; csrfToken: string };

/** The key's hash, checked for shape first so garbage never reaches the database. */
async function keyCredential(key: string): Promise<Credential> {
  if (!/^rcm_live_[0-9a-f]{64}$/.test(key)) throw unknownKey();
  return { kind: "api_key", keyHash: await sha256Hex(key) };
}

/** Reads and checks the request's credential; refuses (401, 403) here. */
async function requestCredential(c: Context<AppEnv>, credentials: Credentials): Promise<Credential> {
  const key = credentials === "key-or-session" ? readApiKey(c) : undefined;
  if (key !== undefined) return keyCredential(key);
  const token = readSessionToken(c);
  if (token === undefined) throw credentials === "session" ? missingSession() : missingKey();
  if (!wellFormedSessionToken(token)) {
    clearSessionCookie(c);
    throw endedSession("unknown");
  }
  await checkCsrf(c, token);
  return { kind: "session", tokenHash: await sha256Hex(token), csrfToken: await csrfTokenFor(token) };
}

/**
 * Reads the whole body, first of all: before a connection is taken, so that a slow client never
 * holds a transaction open while it uploads, and before any refusal (401, 403, 429), so that a
 * request refused at once is still answered after its body: a reply sent while the body is
 * still arriving leaves the rest unread, and the Node server then closes the connection after a
 * short drain, which the client sees as no answer at all. Hono caches it for the validators.
 */
async function readBody(c: Context): Promise<void> {
  if (c.req.method !== "GET" && c.req.method !== "HEAD") await c.req.text();
}

/** The deployment's per-tier overrides of the limit, as the credential statements take them. */
function tierLimits(c: Context<AppEnv>): Record<string, { limit: number; window: number }> {
  return Object.fromEntries(Object.entries(c.var.config.limits.keyTiers)
    .map(([tier, policy]) => [tier, { limit: policy.limit, window: policy.windowSeconds }]));
}

const limitColumns = `a.tier, a.quota, a.window_seconds as "windowSeconds",
  a.allowed, a.remaining, a.reset_after as "resetAfter", a.retry_after as "retryAfter"`;

/** The key's statement: who it is and its bucket, admitting the ticket when both let the request through. */
function checkKey(sql: Sql, c: Context<AppEnv>, keyHash: string, ticket: string | null) {
  return sql<KeyCheck[]>`
    select a.org_id as "orgId", a.key_id as "keyId", a.revoked, a.expired, a.expires_at as "expiresAt", ${sql.unsafe(limitColumns)}
    from app.authenticate_request(${keyHash}, ${sql.json(tierLimits(c))}, ${ticket}) a`;
}

/** The session's statement: its member, current role and bucket, admitting the ticket when they let the request through. */
function checkSession(sql: Sql, c: Context<AppEnv>, tokenHash: string, ticket: string | null) {
  return sql<SessionCheck[]>`
    select a.org_id as "orgId", a.session_id as "sessionId", a.member_id as "memberId", a.member_role as "memberRole",
           a.email, a.status, a.expires_at as "expiresAt", a.idle_expires_at as "idleExpiresAt", ${sql.unsafe(limitColumns)}
    from app.authenticate_session(${tokenHash}, ${sql.json(tierLimits(c))}, ${ticket}) a`;
}

/** The limit's state as the RateLimit headers announce it (none when nothing was taken). */
function limitState(check: LimitColumns, policy: "api-key" | "member"): LimitState | undefined {
  if (check.allowed === null) return undefined;
  return {
    policy, quota: check.quota!, windowSeconds: check.windowSeconds!, allowed: check.allowed,
    remaining: check.remaining!, resetAfter: check.resetAfter!, retryAfter: check.retryAfter!,
  };
}

/** Announces the limit on the reply; the 429 when it refused. */
function limitRefusal(c: Context<AppEnv>, check: LimitColumns, policy: "api-key" | "member"): ApiError | undefined {
  const state = limitState(check, policy);
  if (!state) return undefined;
  announce(c, [state]);
  return state.allowed ? undefined : rateLimited(c, state, check.tier);
}

/**
 * Takes the key's answer: announces its limit on the reply and, for a key that may act, sets
 * c.var.orgId, keyId and identity. Returns the refusal (401, 429) to answer with, if any.
 */
function takeKeyAnswer(c: Context<AppEnv>, check: KeyCheck | undefined): ApiError | undefined {
  if (!check) return unknownKey();
  if (check.expired) return expiredKey(check.expiresAt);
  if (check.revoked) return revokedKey();
  const refusal = limitRefusal(c, check, "api-key");
  if (refusal) return refusal;
  c.set("orgId", check.orgId);
  c.set("keyId", check.keyId);
  c.set("identity", { kind: "api_key", keyId: check.keyId });
  return undefined;
}

/**
 * Takes the session's answer: a session that no longer works loses its cookie (401); a working
 * one announces the member's limit and, when let through, sets c.var.orgId and identity.
 */
function takeSessionAnswer(c: Context<AppEnv>, check: SessionCheck | undefined, csrfToken: string): ApiError | undefined {
  if (!check || check.status !== "active") {
    clearSessionCookie(c);
    return endedSession(check?.status === "expired" ? "expired" : check ? "revoked" : "unknown");
  }
  const refusal = limitRefusal(c, check, "member");
  if (refusal) return refusal;
  c.set("orgId", check.orgId);
  c.set("keyId", undefined);
  c.set("identity", {
    kind: "session", sessionId: check.sessionId, memberId: check.memberId, email: check.email, role: check.memberRole,
    csrfToken, expiresAt: check.expiresAt, idleExpiresAt: check.idleExpiresAt,
  });
  return undefined;
}

/**
 * The credential's statement on `sql` (admitting `ticket` for the transaction that follows it,
 * when one does) and what its answer makes of the request: the refusal to answer with, if any.
 */
function checkCredential(sql: Sql, c: Context<AppEnv>, credential: Credential, ticket: string | null): Promise<ApiError | undefined> {
  return credential.kind === "api_key"
    ? checkKey(sql, c, credential.keyHash, ticket).then(([check]) => takeKeyAnswer(c, check))
    : checkSession(sql, c, credential.tokenHash, ticket).then(([check]) => takeSessionAnswer(c, check, credential.csrfToken));
}

/**
 * Authenticates the request's credential and counts it against its rate limit, in one statement
 * outside any transaction; announces the limit on the reply and refuses (401, 429) here.
 */
async function authenticate(c: Context<AppEnv>, credential: Credential): Promise<void> {
  const sql = c.var.sql;
  const refusal = await whenAvailable(sql, () => checkCredential(sql, c, credential, null));
  if (refusal) throw refusal;
}

/** The claims a request acts with (what PostgREST sets from a JWT): its org, and its key or its member. */
function claimsOf(c: Context<AppEnv>): string {
  const identity: Identity = c.var.identity;
  return JSON.stringify(identity.kind === "api_key"
    ? { role: "authenticated", org_id: c.var.orgId, key_id: identity.keyId }
    : { role: "authenticated", org_id: c.var.orgId, member_id: identity.memberId, member_role: identity.role, session_id: identity.sessionId });
}

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
function tenantRequest(expensive: (c: Context<AppEnv>) => boolean | Promise<boolean>, credentials: Credentials = "key-or-session") {
  return createMiddleware<AppEnv>(async (c, next) => {
    await readBody(c);
    const credential = await requestCredential(c, credentials);
    if (await expensive(c)) {
      // Fair share counts expensive requests per key (by its hash, before it is even looked
      // up) and per org; a session's are counted as its org's. A key whose expensive requests
      // already fill its org's share here is refused before any database work: an impatient
      // client retrying at once costs next to nothing.
      if (credential.kind === "api_key") refuseWhileKeyBusy(c, credential.keyHash);
      await authenticate(c, credential);
      const release = admitExpensive(c, c.var.orgId, credential.kind === "api_key" ? credential.keyHash : `org:${c.var.orgId}`);
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

    const ticket = crypto.randomUUID();
    let answer!: Promise<ApiError | undefined>;
    await transaction(c.var.sql, {
      ahead: (conn) => {
        // Taken as soon as it is back, which is before any answer to the handler's statements.
        answer = checkCredential(conn, c, credential, ticket);
        // Its failure (the connection lost) is reported once the handler is done, below; until
        // then it is not an unhandled rejection.
        answer.catch(() => {});
        c.set("identified", answer.then(() => undefined, () => undefined));
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
 * A person's own things (GET /auth/session, their sessions; dashboard pages): the same
 * transaction as tenantTransaction, but only a browser session is accepted (401 not_signed_in
 * otherwise, even with an API key), so c.var.identity is always a session.
 */
export const memberTransaction = tenantRequest(() => false, "session");

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
  await readBody(c);
  await authenticate(c, await requestCredential(c, "key-or-session"));
  await next();
});

/** One transaction acting as the request's (already authenticated) org, under RLS. */
export function asTenant<T>(c: Context<AppEnv>, work: (tx: Tx) => Promise<T>): Promise<T> {
  return transaction(c.var.sql, { identity: actAsTenant(c) }, (t) => work(t.tx));
}

/** A COPY … TO STDOUT's stream as postgres.js hands it over (a Node Readable, also under Deno). */
export type CopyStream = AsyncIterable<Uint8Array> & {
  readonly destroyed: boolean;
  once(event: "close", listener: () => void): unknown;
};

/**
 * Expensive work whose reply streams from the database (an export's COPY … TO STDOUT): one
 * transaction acting as the (already authenticated: tenantAuthenticated) org, under the
 * fair-share caps, that outlives the handler. It is a transaction() like any other: BEGIN and
 * the identity statement go out together with the slot's claim, so nothing in it runs before it
 * acts as the org. work() starts the COPY inside it; the reply's body then reads it with
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
  // tenantAuthenticated has checked the key (a key wins over a cookie): its hash is its fair-share name.
  const key = readApiKey(c);
  const keyHash = key !== undefined ? await sha256Hex(key) : undefined;
  if (keyHash) refuseWhileKeyBusy(c, keyHash);
  const release = admitExpensive(c, c.var.orgId, keyHash ?? `org:${c.var.orgId}`);
  return new Promise<ReadableStream<Uint8Array>>((resolve, reject) => {
    let streaming = false;
    transaction(c.var.sql, { identity: actAsTenant(c) }, async ({ tx }) => {
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
    }).catch((error) => {
      if (!streaming) reject(error);
    }).finally(release);
  });
}
