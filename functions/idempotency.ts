// Idempotency-Key for POST: the same key and body replay the first answer (status and
// body); the same key with another request is refused. The key is claimed inside the
// request's transaction (app.claim_idempotency_key), so a concurrent duplicate waits
// for the first and then replays it, and a failed request leaves no key behind.
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./context.ts";
import { ApiError } from "./errors.ts";
import { sha256Hex } from "./tenant.ts";

interface Claim {
  outcome: "new" | "replay" | "mismatch";
  responseStatus: number | null;
  responseBody: unknown;
}

export const idempotency = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (c.req.method !== "POST" || key === undefined) return next();
  if (key.length < 1 || key.length > 255) {
    throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 characters", "Use a UUID per logical request and resend the same one on retry.");
  }

  const requestHash = await sha256Hex(await c.req.text());
  const [claim] = await c.var.db<Claim[]>`
    select outcome, response_status as "responseStatus", response_body as "responseBody"
    from app.claim_idempotency_key(${key}, ${c.req.method}, ${c.req.path}, ${requestHash})`;

  if (claim!.outcome === "mismatch") {
    throw new ApiError(422, "idempotency_key_reused", "This Idempotency-Key was already used for a different request",
      "Send a new Idempotency-Key for a new request; reuse a key only to retry the exact same request.");
  }
  if (claim!.outcome === "replay") {
    c.header("Idempotent-Replayed", "true");
    return c.json(claim!.responseBody as object, claim!.responseStatus as 200);
  }

  await next();
  if (c.res.status < 400) {
    const body: unknown = await c.res.clone().json();
    await c.var.db`select app.complete_idempotency_key(${key}, ${c.res.status}, ${c.var.db.json(body as never)})`;
  }
});
