// Request validation failures, in the agent-facing error shape: which fields were
// wrong, what was expected, and how to fix it.
import type { Hook } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import { type CharacterProblem, findBadCharacters, MAX_BODY_DEPTH } from "./caps.ts";
import type { AppEnv } from "./context.ts";
import { ApiError, errorReply } from "./errors.ts";

const where: Record<string, string> = { json: "body", form: "body", query: "query string", param: "path", header: "headers" };

/**
 * What a refinement puts in a zod issue's params to be answered with its own code (a
 * free-form field over its cap: body.ts boundedJson) rather than invalid_request.
 */
export interface CapIssueParams {
  apiCode: "too_deep" | "value_too_large";
  hint: string;
  maxBytes: number;
  maxDepth: number;
}

const capParams = (issue: z.core.$ZodIssue): CapIssueParams | undefined => {
  const params = (issue as { params?: Partial<CapIssueParams> }).params;
  return typeof params?.apiCode === "string" ? params as CapIssueParams : undefined;
};

export function invalidRequest(error: z.ZodError, target: string): ApiError {
  const fields = error.issues.map((issue) => ({
    field: issue.path.join(".") || "(root)",
    message: issue.message,
  }));
  const summary = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  const message = `Invalid ${where[target] ?? target}: ${summary}`;
  const cap = error.issues.map(capParams).find((params) => params !== undefined);
  if (cap) {
    const others = fields.length > 1 ? " Fix the other fields listed in error.fields too." : "";
    return new ApiError(400, cap.apiCode, message, cap.hint + others, { fields, maxBytes: cap.maxBytes, maxDepth: cap.maxDepth });
  }
  return new ApiError(400, "invalid_request", message,
    "Fix the fields listed in error.fields and retry; GET /openapi.json has every field's type.", { fields });
}

/** 400 invalid_characters naming the field (body path, query or path parameter). */
export function invalidCharacters(problem: CharacterProblem, target: string): ApiError {
  return new ApiError(400, "invalid_characters", `Invalid ${where[target] ?? target}: ${problem.field} ${problem.message}`,
    "Remove NUL characters (\\u0000) and unpaired surrogates (a \\ud800-\\udfff escape without its other half) from the field; send text as valid Unicode (UTF-8).",
    { fields: [{ field: problem.field, message: problem.message }] });
}

/** 400 too_deep for a body nested deeper than MAX_BODY_DEPTH, naming the top-level field it happens in. */
export function bodyTooDeep(field: string): ApiError {
  const name = field || "(root)";
  return new ApiError(400, "too_deep", `Invalid body: ${name} is nested more than ${MAX_BODY_DEPTH} levels deep`,
    `A request body may nest objects and arrays at most ${MAX_BODY_DEPTH} deep (free-form fields such as crmData at most 10): flatten ${name}.`,
    { fields: [{ field: name, message: `nested more than ${MAX_BODY_DEPTH} levels deep` }], maxDepth: MAX_BODY_DEPTH });
}

/** The request's validated values hold no string that a text column would refuse; else the error to answer. */
export function characterError(data: unknown, target: string): ApiError | undefined {
  const problem = findBadCharacters(data);
  return problem ? invalidCharacters(problem, target) : undefined;
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
