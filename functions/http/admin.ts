// The platform operator (ClawCRM EIR): one deployment-wide key, EIR_ADMIN_KEY, sent as
// Authorization: Bearer <key>. It is never a workspace key: an operator request runs
// in a transaction of its own as service_role, without any org's identity, and may
// only do what service_role is granted (answering feedback across orgs).
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppConfig } from "../config.ts";
import type { AppEnv } from "./context.ts";
import { sameBytes, sha256Of } from "./digest.ts";
import { ApiError } from "./errors.ts";

/** Shorter keys are treated as not configured: the operator key must not be guessable. */
export const MIN_ADMIN_KEY_LENGTH = 32;

const rollback = Symbol("rollback");

/** The operator key, when one is configured that can be told apart from workspace keys. */
function configuredKey(config: AppConfig): string | undefined {
  const key = config.eirAdminKey;
  return key !== undefined && key.length >= MIN_ADMIN_KEY_LENGTH && !key.startsWith("rcm_") ? key : undefined;
}

/**
 * Whether the request presents itself as the operator's: a bearer token that is not shaped
 * like a workspace key (rcm_…). Such a request is checked against EIR_ADMIN_KEY and never
 * handled as a tenant.
 */
export function isAdminRequest(c: Context): boolean {
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer !== undefined && !bearer.startsWith("rcm_");
}

/**
 * Whether the request carries this deployment's operator key (for replies that show the
 * operator more, such as GET /health's job errors, without requiring the key).
 */
export async function isOperator(c: Context<AppEnv>): Promise<boolean> {
  const expected = configuredKey(c.var.config);
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return expected !== undefined && bearer !== undefined && !bearer.startsWith("rcm_") && await sameKey(bearer, expected);
}

/** Compares digests (fixed length) in constant time, so timing reveals nothing of the key. */
export async function sameKey(presented: string, expected: string): Promise<boolean> {
  return sameBytes(sha256Of(presented), sha256Of(expected));
}

const notConfigured = () =>
  new ApiError(403, "admin_not_configured", "Operator (EIR) access is not configured on this deployment",
    `Workspace keys start with rcm_live_. The operator key is set by whoever runs the deployment: EIR_ADMIN_KEY, at least ${MIN_ADMIN_KEY_LENGTH} random characters not starting with rcm_ (e.g. openssl rand -hex 32), then restart and send Authorization: Bearer <key>.`);

const wrongKey = () =>
  new ApiError(401, "invalid_api_key", "The key is neither a workspace API key nor this deployment's operator key",
    "Workspace keys look like rcm_live_ followed by 64 hex digits (send them as Authorization: Bearer or x-api-key). The operator key is the deployment's EIR_ADMIN_KEY.");

/**
 * Authenticates the operator key and runs the handler in one transaction as service_role
 * (claims carry actor "eir", so changes are recorded as the operator's). A reply of
 * 4xx/5xx rolls it back.
 */
export const adminTransaction = createMiddleware<AppEnv>(async (c, next) => {
  const expected = configuredKey(c.var.config);
  if (expected === undefined) throw notConfigured();
  const presented = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1] ?? "";
  if (!(await sameKey(presented, expected))) throw wrongKey();
  // Read the body before taking a connection, as tenant requests do.
  if (c.req.method !== "GET" && c.req.method !== "HEAD") await c.req.text();

  const claims = JSON.stringify({ role: "service_role", actor: "eir" });
  try {
    await c.var.sql.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', ${claims}, true), set_config('role', 'service_role', true)`;
      c.set("db", tx);
      await next();
      if (c.res.status >= 400) throw rollback;
    });
  } catch (err) {
    if (err !== rollback) throw err;
  }
});
