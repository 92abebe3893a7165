// Authentication and the per-request transaction.
// The key is hashed here and looked up by app.authenticate_api_key, which sets the
// org's JWT claims for the transaction; the same statement switches to the
// authenticated role, so everything the handler runs is under row-level security.
// A reply of 4xx/5xx rolls the whole transaction back: nothing is half-written.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
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

const unknownKey = () =>
  new ApiError(401, "invalid_api_key", "The API key is not valid",
    "Check you copied the whole key (rcm_live_ followed by 64 hex digits). Keys are shown once at signup.");

const revokedKey = () =>
  new ApiError(401, "revoked_api_key", "The API key has been revoked", "Use a current key for this workspace.");

export const tenantTransaction = createMiddleware<AppEnv>(async (c, next) => {
  const key = readApiKey(c);
  if (!key) throw missingKey();
  if (!/^rcm_live_[0-9a-f]{64}$/.test(key)) throw unknownKey();
  const keyHash = await sha256Hex(key);
  // Read the whole body before taking a connection: a slow client must not hold a
  // transaction open while it uploads. Hono caches it for the validators.
  if (c.req.method !== "GET" && c.req.method !== "HEAD") await c.req.text();

  try {
    await c.var.sql.begin(async (tx) => {
      const [auth] = await tx<{ orgId: string; revoked: boolean }[]>`
        select a.org_id as "orgId", a.revoked,
               case when not a.revoked then set_config('role', 'authenticated', true) end as role
        from app.authenticate_api_key(${keyHash}) a`;
      if (!auth) throw unknownKey();
      if (auth.revoked) throw revokedKey();
      c.set("db", tx);
      c.set("orgId", auth.orgId);
      await next();
      if (c.res.status >= 400) throw rollback;
    });
  } catch (err) {
    if (err !== rollback) throw err;
  }
});
