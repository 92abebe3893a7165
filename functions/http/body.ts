// JSON bodies: how a route declares one (validated by the router's hook), and how the public
// webhooks, which verify a signature over the raw bytes first, read one themselves.
import { z } from "@hono/zod-openapi";

/** A required application/json body checked against schema, for createRoute's request. */
export const jsonBody = <S extends z.ZodType>(schema: S) => ({ body: { content: { "application/json": { schema } }, required: true } });

/** A free-form JSON object (crmData, metadata, context, …). */
export const jsonObject = z.record(z.string(), z.unknown());

export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The body parsed as JSON; what invalid() returns is thrown when it is not JSON. */
export function readJson(body: string | Uint8Array, invalid: () => Error): unknown {
  try {
    return JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body));
  } catch {
    throw invalid();
  }
}

/** The body parsed as a JSON object; what invalid() returns is thrown when it is not one. */
export function readJsonObject(body: string | Uint8Array, invalid: () => Error): Record<string, unknown> {
  const value = readJson(body, invalid);
  if (!isJsonObject(value)) throw invalid();
  return value;
}
