// Request validation failures, in the agent-facing error shape: which fields were
// wrong, what was expected, and how to fix it.
import type { Hook } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "./context.ts";
import { ApiError, errorReply } from "./errors.ts";

const where: Record<string, string> = { json: "body", query: "query string", param: "path", header: "headers" };

export function invalidRequest(error: z.ZodError, target: string): ApiError {
  const fields = error.issues.map((issue) => ({
    field: issue.path.join(".") || "(root)",
    message: issue.message,
  }));
  const summary = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  return new ApiError(400, "invalid_request", `Invalid ${where[target] ?? target}: ${summary}`,
    "Fix the fields listed in error.fields and retry; GET /openapi.json has every field's type.", { fields });
}

// deno-lint-ignore no-explicit-any -- the hook is shared by routes of every shape
export const validationHook: Hook<any, AppEnv, any, any> = (result, c) => {
  if (!result.success) return errorReply(c, invalidRequest(result.error, result.target));
};

/**
 * Request validation whose hint also says how to fix the named fields (a missing leadId,
 * an unknown type), not only that they are wrong.
 */
// deno-lint-ignore no-explicit-any -- the path and response types are the route's own
export function validationWithHints<I>(hints: Record<string, string>): Hook<I, AppEnv, any, any> {
  return (result, c) => {
    if (result.success) return;
    const generic = invalidRequest(result.error, result.target);
    const specific = [...new Set(result.error.issues.flatMap((issue) => hints[String(issue.path[0])] ?? []))];
    if (specific.length === 0) return errorReply(c, generic);
    return errorReply(c, new ApiError(400, generic.code, generic.message, [...specific, generic.hint].join(" "), generic.extra));
  };
}

/** Top-level keys of a body that its schema does not know (reported as warnings). */
export function unknownFields(body: Record<string, unknown>, known: Iterable<string>): string[] {
  const knownSet = new Set(known);
  return Object.keys(body).filter((key) => !knownSet.has(key));
}

/** "Ignored field(s): a, b" for body fields the schema does not know (then note, when given); none when all are known. */
export function ignoredFieldWarnings(body: Record<string, unknown>, known: Iterable<string>, note?: string): string[] {
  const ignored = unknownFields(body, known);
  return ignored.length === 0 ? [] : [`Ignored field(s): ${ignored.join(", ")}${note ? `. ${note}` : ""}`];
}
