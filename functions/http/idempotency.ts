// Idempotency-Key for POST: the same key and body replay the first answer (status and
// body); the same key with another request is refused. Two shapes:
//   * idempotency: the key is claimed inside the request's transaction
//     (app.claim_idempotency_key), so a concurrent duplicate waits for the first and then
//     replays it, and a failed request leaves no key behind;
//   * idempotencyOutsideTransaction: for routes that hold no transaction across calls to the
//     outside world (connecting Calendly). The claim is committed first, unfinished
//     (app.start_idempotent_request): a duplicate meanwhile gets 409 idempotency_key_in_progress
//     without calling out again; a success stores the answer, a failure releases the claim.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./context.ts";
import { ApiError } from "./errors.ts";
import { sha256Hex } from "./digest.ts";
import { asTenant, holdCommit } from "./tenant.ts";

interface Claim {
  outcome: "new" | "replay" | "mismatch" | "in_progress";
  responseStatus: number | null;
  responseBody: unknown;
}

interface KeyedRequest {
  key: string;
  method: string;
  path: string;
  requestHash: string;
}

/** The request's key and body hash, or undefined when the key does not apply. */
async function keyedRequest(c: Context<AppEnv>): Promise<KeyedRequest | undefined> {
  const key = c.req.header("idempotency-key");
  if (c.req.method !== "POST" || key === undefined) return undefined;
  if (key.length < 1 || key.length > 255) {
    throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 characters", "Use a UUID per logical request and resend the same one on retry.");
  }
  return { key, method: c.req.method, path: c.req.path, requestHash: await sha256Hex(await c.req.text()) };
}

/** The stored answer for a replay; throws for a reused or still running key; undefined = go ahead. */
function answerClaim(c: Context<AppEnv>, claim: Claim) {
  if (claim.outcome === "mismatch") {
    throw new ApiError(422, "idempotency_key_reused", "This Idempotency-Key was already used for a different request",
      "Send a new Idempotency-Key for a new request; reuse a key only to retry the exact same request.");
  }
  if (claim.outcome === "in_progress") {
    throw new ApiError(409, "idempotency_key_in_progress", "A request with this Idempotency-Key is still being processed",
      "Retry the same request with the same Idempotency-Key in a few seconds: once the first one has finished, its answer is replayed (and if it failed, the retry runs again).");
  }
  if (claim.outcome === "replay") {
    c.header("Idempotent-Replayed", "true");
    return c.json(claim.responseBody as object, claim.responseStatus as 200);
  }
  return undefined;
}

const storedBody = async (c: Context<AppEnv>): Promise<never> => (await c.res.clone().json()) as never;

export const idempotency = createMiddleware<AppEnv>(async (c, next) => {
  const request = await keyedRequest(c);
  if (!request) return next();
  // The answer is stored after the handler, in the same transaction.
  holdCommit(c);
  const db = c.var.db;
  const [claim] = await db<Claim[]>`
    select outcome, response_status as "responseStatus", response_body as "responseBody"
    from app.claim_idempotency_key(${request.key}, ${request.method}, ${request.path}, ${request.requestHash})`;
  const replay = answerClaim(c, claim!);
  if (replay) return replay;

  await next();
  if (c.res.status < 400) {
    await db`select app.complete_idempotency_key(${request.key}, ${c.res.status}, ${db.json(await storedBody(c))})`;
  }
});

export const idempotencyOutsideTransaction = createMiddleware<AppEnv>(async (c, next) => {
  const request = await keyedRequest(c);
  if (!request) return next();
  const [claim] = await asTenant(c, (tx) => tx<Claim[]>`
    select outcome, response_status as "responseStatus", response_body as "responseBody"
    from app.start_idempotent_request(${request.key}, ${request.method}, ${request.path}, ${request.requestHash})`);
  const replay = answerClaim(c, claim!);
  if (replay) return replay;

  let succeeded = false;
  try {
    await next();
    succeeded = c.res.status < 400;
  } finally {
    if (succeeded) {
      const body = await storedBody(c);
      await asTenant(c, (tx) => tx`select app.complete_idempotency_key(${request.key}, ${c.res.status}, ${tx.json(body)})`);
    } else {
      await asTenant(c, (tx) => tx`select app.release_idempotency_key(${request.key})`);
    }
  }
});
