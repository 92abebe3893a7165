// Authentication and the per-request transaction.
// The key is hashed here and looked up by app.authenticate_api_key, which sets the
// org's JWT claims for the transaction; the same statement switches to the
// authenticated role, so everything the handler runs is under row-level security.
// A reply of 4xx/5xx rolls the whole transaction back: nothing is half-written.
// Each goes through whenAvailable, so while the database is down a request answers 503 at
// once instead of waiting on the pool.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { type Tx, whenAvailable } from "../db.ts";
import type { AppEnv } from "./context.ts";
import { ApiError } from "./errors.ts";

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
  keyId: string;
  /** The key may not be used: revoked, or expired after rotation (then expired is true). */
  revoked: boolean;
  expired: boolean;
  expiresAt: Date | null;
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

/**
 * Routes whose work is one transaction: authenticate and act as the org in the same
 * transaction as the handler.
 */
export const tenantTransaction = createMiddleware<AppEnv>(async (c, next) => {
  const keyHash = await requestKeyHash(c);
  await readBody(c);

  try {
    await whenAvailable(c.var.sql, () => c.var.sql.begin(async (tx) => {
      const [check] = await tx<KeyCheck[]>`
        select a.org_id as "orgId", a.key_id as "keyId", a.revoked, a.expired, a.expires_at as "expiresAt",
               case when not a.revoked then set_config('role', 'authenticated', true) end as role
        from app.authenticate_api_key(${keyHash}) a`;
      const auth = accept(check);
      c.set("db", tx);
      c.set("orgId", auth.orgId);
      c.set("keyId", auth.keyId);
      await next();
      if (c.res.status >= 400) throw rollback;
    }));
  } catch (err) {
    if (err !== rollback) throw err;
  }
});

/**
 * Routes that wait on the outside world (enrichment, mail, Calendly): authenticate
 * only, so no transaction is held across a network call; the handler then opens short
 * transactions of its own with asTenant().
 */
export const tenantAuthenticated = createMiddleware<AppEnv>(async (c, next) => {
  const keyHash = await requestKeyHash(c);
  await readBody(c);
  const [check] = await whenAvailable(c.var.sql, () => c.var.sql<KeyCheck[]>`
    select a.org_id as "orgId", a.key_id as "keyId", a.revoked, a.expired, a.expires_at as "expiresAt"
    from app.authenticate_api_key(${keyHash}) a`);
  const auth = accept(check);
  c.set("orgId", auth.orgId);
  c.set("keyId", auth.keyId);
  await next();
});

/** One transaction acting as the request's (already authenticated) org, under RLS. */
export function asTenant<T>(c: Context<AppEnv>, work: (tx: Tx) => Promise<T>): Promise<T> {
  const claims = JSON.stringify({ role: "authenticated", org_id: c.var.orgId, key_id: c.var.keyId });
  return whenAvailable(c.var.sql, () => c.var.sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${claims}, true), set_config('role', 'authenticated', true)`;
    return work(tx);
  }) as Promise<T>);
}
