// JSON bodies: how a route declares one (validated by the router's hook), how a free-form
// field is capped, the guard every route's body passes before it is parsed, and how the
// public webhooks, which verify a signature over the raw bytes first, read one themselves.
import { z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { capProblem, findBadCharacters, type JsonCap, MAX_BODY_DEPTH, tooDeepAt } from "./caps.ts";
import { bodyTooDeep, type CapIssueParams, invalidCharacters } from "./validation.ts";

/** A required application/json body checked against schema, for createRoute's request. */
export const jsonBody = <S extends z.ZodType>(schema: S) => ({ body: { content: { "application/json": { schema } }, required: true } });

/** A free-form JSON object, as replies carry one (requests take boundedJson). */
export const jsonObject = z.record(z.string(), z.unknown());

interface CapDocs {
  /** The field's own description; the cap is added to it. */
  description: string;
  /** How to fix a value over the cap (where else the data belongs). */
  hint: string;
  example?: unknown;
}

/**
 * schema, held to a cap (caps.ts jsonCaps): over it, the request is answered 400
 * value_too_large or too_deep naming the field, with the hint. The cap is added to the
 * description, and to the document as x-max-bytes and x-max-depth.
 */
export function capped<S extends z.ZodType>(schema: S, cap: JsonCap, { description, hint, example }: CapDocs) {
  return schema.superRefine((value, ctx) => {
    const problem = capProblem(value, cap);
    if (!problem) return;
    const params: CapIssueParams = { apiCode: problem.kind, hint, maxBytes: cap.maxBytes, maxDepth: cap.maxDepth };
    ctx.addIssue({ code: "custom", message: problem.message, params });
  }).openapi({
    description: `${description} At most ${cap.maxBytes.toLocaleString("en-US")} bytes as JSON (counted as Postgres prints it: UTF-8, with a space after each : and ,) and nested at most ${cap.maxDepth} deep.`,
    ...(example === undefined ? {} : { example }),
    "x-max-bytes": cap.maxBytes,
    "x-max-depth": cap.maxDepth,
  });
}

/** A free-form JSON object a request may send, held to its cap (see capped). */
export const boundedJson = (cap: JsonCap, docs: CapDocs) => capped(jsonObject, cap, docs);

export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Every route's body, before anything parses it (createRouter adds this after the route's
 * own middleware, so a route's tighter body limit and its authentication come first): a
 * JSON body nested deeper than MAX_BODY_DEPTH is refused with 400 too_deep. JSON.parse would
 * cope, but the serialisers and walkers after it recurse. The bytes are read once, here,
 * and kept for the validators and for webhooks that verify a signature over them.
 */
export const bodyGuard = createMiddleware(async (c, next) => {
  if (c.req.method === "GET" || c.req.method === "HEAD" || !c.req.raw.body) return next();
  const field = tooDeepAt(new Uint8Array(await c.req.arrayBuffer()), MAX_BODY_DEPTH);
  if (field !== undefined) throw bodyTooDeep(field);
  await next();
});

/**
 * The body parsed as JSON; what invalid() returns is thrown when it is not JSON. Like a
 * validated body, it is refused when nested deeper than MAX_BODY_DEPTH (too_deep) or when a
 * string holds NUL or an unpaired surrogate (invalid_characters, naming where).
 */
export function readJson(body: string | Uint8Array, invalid: () => Error): unknown {
  const deepField = tooDeepAt(body, MAX_BODY_DEPTH);
  if (deepField !== undefined) throw bodyTooDeep(deepField);
  let value: unknown;
  try {
    value = JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body));
  } catch {
    throw invalid();
  }
  assertStorableText(value, "json");
  return value;
}

/** The body parsed as a JSON object; what invalid() returns is thrown when it is not one. */
export function readJsonObject(body: string | Uint8Array, invalid: () => Error): Record<string, unknown> {
  const value = readJson(body, invalid);
  if (!isJsonObject(value)) throw invalid();
  return value;
}

/** Throws invalid_characters when a string in value (a form read by hand, a parsed body) could not be stored. */
export function assertStorableText(value: unknown, target: string): void {
  const problem = findBadCharacters(value);
  if (problem) throw invalidCharacters(problem, target);
}
