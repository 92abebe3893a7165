// The success envelope every route answers with.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "@hono/zod-openapi";

export interface Guidance {
  warnings?: string[];
  next_steps?: string[];
}

export function reply<T extends object, S extends ContentfulStatusCode = 200>(
  c: Context,
  body: T,
  guidance: Guidance = {},
  status?: S,
) {
  return c.json(
    { success: true as const, ...body, warnings: guidance.warnings ?? [], next_steps: guidance.next_steps ?? [] },
    (status ?? 200) as S,
  );
}

// ---------------------------------------------------------------------------
// The envelope as OpenAPI schemas, for route definitions.
// ---------------------------------------------------------------------------
const guidanceShape = {
  warnings: z.array(z.string()).openapi({ description: "Things the agent should know about what just happened." }),
  next_steps: z.array(z.string()).openapi({ description: "What the agent should do next, as concrete calls." }),
};

export const ErrorSchema = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: z.string().openapi({ example: "invalid_request" }),
      message: z.string(),
      hint: z.string().openapi({ description: "How to fix the request." }),
    }).passthrough(),
    ...guidanceShape,
  })
  .openapi("Error");

/** A success body: `success: true`, the route's fields, warnings and next_steps. */
export function envelope<T extends z.ZodRawShape>(shape: T) {
  return z.object({ success: z.literal(true), ...shape, ...guidanceShape });
}

export const json = <S extends z.ZodType>(schema: S, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

/** A response that answers with the error envelope, for createRoute's responses. */
export const errorResponse = (description: string) => json(ErrorSchema, description);

/** A 429: the error envelope, with Retry-After and the RateLimit fields (http/rate-limit.ts). */
export const rateLimitedResponse = (description: string) => ({
  ...errorResponse(description),
  headers: {
    "Retry-After": { description: "Seconds to wait before sending the request again.", schema: { type: "integer" as const } },
    "RateLimit-Policy": { description: "The limits this route counts against (draft-ietf-httpapi-ratelimit-headers), e.g. \"api-key\";q=120;w=60.", schema: { type: "string" as const } },
    RateLimit: { description: "What is left of each: r requests, whole again in t seconds, e.g. \"api-key\";r=0;t=13.", schema: { type: "string" as const } },
  },
});

/** The errors every authenticated route can answer with. */
export const commonErrors = {
  400: errorResponse("Invalid input: error.hint says what to fix."),
  401: errorResponse("Missing, unknown or revoked API key, or no working browser session."),
  403: errorResponse("Not allowed: the caller's role may not do this (a viewer changes nothing; members and API keys are managed by owners and admins), or a browser-session write from another site or without its CSRF token."),
  413: errorResponse("Body too large."),
  429: rateLimitedResponse("Too many requests for this API key (rate_limited), or too many expensive requests of this workspace at once (too_many_concurrent): retry after Retry-After seconds."),
  500: errorResponse("Our fault; retry once after 2 s."),
  503: errorResponse("Database unavailable."),
} as const;

export const notFoundError = { 404: errorResponse("Not found, or not in this workspace.") } as const;
export const conflictError = { 409: errorResponse("Conflicts with an existing record.") } as const;
export const limitError = { 402: errorResponse("Plan limit reached: see GET /api/openclaw/org/tier.") } as const;
export const idempotencyError = { 422: errorResponse("Idempotency-Key reused for a different request.") } as const;

/** An API key, or a member's browser session (the session cookie; writes also send x-csrf-token). */
export const bearerAuth: Record<string, string[]>[] = [{ bearerAuth: [] }, { apiKeyHeader: [] }, { sessionCookie: [] }];
/** A member's browser session only (GET /auth/session, the member's own sessions). */
export const sessionAuth: Record<string, string[]>[] = [{ sessionCookie: [] }];
