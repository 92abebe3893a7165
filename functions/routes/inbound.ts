// Inbound events for stage sync sources: POST /inbound/{token}. Public (no API key): the
// URL's token finds the source and the source's secret authenticates the sender, checked
// here on the raw body before anything is written. The ingest itself is one call to
// app.ingest_sync_event (claim the event id, create or update the lead, move it, log a
// touchpoint), in one transaction as the anon role: any refusal leaves nothing behind.
//
// Authentication by type (see authenticationGuide):
//   generic_webhook            a signature, timestamp within 5 minutes: Standard Webhooks
//                              (HMAC-SHA256 over "<webhook-id>.<timestamp>.<raw body>") or v1
//                              (HMAC-SHA256 over "<timestamp>.<raw body>");
//   form_webhook, api_sdr      X-OpenClaw-Secret or Authorization: Bearer (a signature accepted too);
//   gmail                      ?secret= on the Pub/Sub push endpoint, or the header (a signature accepted too).
// A signed request's event id must not be open to change by whoever replays it: under Standard
// Webhooks it is the signed webhook-id; under v1, which does not sign X-OpenClaw-Event-Id, the
// digest of the signed "<timestamp>.<raw body>" is claimed alongside the id, so the same signed
// request under another id is a duplicate.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { asAnonymous } from "../db.ts";
import { assertStorableText, isJsonObject, readJson } from "../http/body.ts";
import type { AppEnv } from "../http/context.ts";
import { syncEventOutcomes, type SyncSourceType } from "../http/enums.ts";
import { ApiError } from "../http/errors.ts";
import { limitOpenRoute } from "../http/rate-limit.ts";
import { envelope, errorResponse, json, rateLimitedResponse, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { authenticationGuide, inboundHeaders, SIGNATURE_TOLERANCE_SECONDS, standardHeaders } from "../sync-sources/inbound.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const TokenParam = z.object({
  token: z.string().openapi({ param: { name: "token", in: "path" }, description: "The source's inbound token (from its inboundUrl)." }),
});
const StageLink = z.object({ id: z.string(), name: z.string() });
const InboundReply = envelope({
  outcome: z.enum(syncEventOutcomes),
  duplicate: z.boolean().openapi({ description: "true when this event id was received before: the first outcome, nothing written again." }),
  syncSourceId: z.string(),
  event: z.string(),
  eventId: z.string(),
  leadId: z.string().optional(),
  email: z.string().optional(),
  stage: StageLink.optional(),
  previousStage: StageLink.nullable().optional(),
  moved: z.boolean().optional(),
  touchpointId: z.string().optional(),
  reason: z.string().optional().openapi({ description: "Why an event was ignored." }),
}).openapi("InboundEventReply");
type IngestResult = Omit<z.infer<typeof InboundReply>, "success" | "warnings" | "next_steps">;

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------
interface InboundSource {
  id: string;
  type: SyncSourceType;
  secret: string;
}

const encoder = new TextEncoder();

const unknownInbound = () =>
  new ApiError(404, "not_found", "No sync source for this inbound URL",
    "Check the URL: the sync source may have been deleted or its URL rotated (GET /api/openclaw/stages/sync-sources shows the current one).");

const unauthorized = (code: string, message: string, type: SyncSourceType) =>
  new ApiError(401, code, message, authenticationGuide(type));

/** Equal strings, compared as SHA-256 digests so the time taken says nothing about the secret. */
async function sameSecret(given: string, secret: string): Promise<boolean> {
  const [a, b] = await Promise.all([given, secret].map(async (s) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(s)))));
  let diff = 0;
  for (let i = 0; i < a!.length; i++) diff |= a![i]! ^ b![i]!;
  return diff === 0;
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return undefined;
  return Uint8Array.from(hex.match(/../g)!, (byte) => parseInt(byte, 16));
}

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const binary = atob(text);
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** prefix + the raw body, the bytes a signature covers. */
function signedBytes(prefix: string, raw: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const head = encoder.encode(prefix);
  const signed = new Uint8Array(head.length + raw.length);
  signed.set(head);
  signed.set(raw, head.length);
  return signed;
}

function checkTimestamp(source: InboundSource, header: string, value: string): void {
  if (!/^\d{1,12}$/.test(value)) {
    throw unauthorized("invalid_timestamp", `${header} must be Unix time in seconds`, source.type);
  }
  if (Math.abs(Date.now() / 1000 - Number(value)) > SIGNATURE_TOLERANCE_SECONDS) {
    throw unauthorized("stale_timestamp", `${header} is more than ${SIGNATURE_TOLERANCE_SECONDS / 60} minutes from our clock`, source.type);
  }
}

/** What authenticating the request established about its event id. */
interface Authenticated {
  /** The event id the signature covers (Standard Webhooks' webhook-id). */
  signedId?: string;
  /** SHA-256 (hex) of what a v1 signature covers, which does not include the event id. */
  signedDigest?: string;
}

/** v1: X-OpenClaw-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the whole secret>. */
async function verifyV1(source: InboundSource, signature: string | undefined, timestamp: string | undefined, raw: Uint8Array<ArrayBuffer>): Promise<Authenticated> {
  if (signature === undefined || timestamp === undefined) {
    throw unauthorized("missing_signature", `A signed request needs both ${inboundHeaders.timestamp} and ${inboundHeaders.signature}`, source.type);
  }
  checkTimestamp(source, inboundHeaders.timestamp, timestamp.trim());
  const key = await crypto.subtle.importKey("raw", encoder.encode(source.secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const signed = signedBytes(`${timestamp.trim()}.`, raw);
  // Several "v1=<hex>" separated by commas are allowed; one valid signature is enough.
  for (const part of signature.split(",")) {
    const candidate = part.trim().match(/^v1=(.+)$/)?.[1];
    const bytes = candidate === undefined ? undefined : hexBytes(candidate);
    if (bytes && await crypto.subtle.verify("HMAC", key, bytes, signed)) {
      return { signedDigest: toHex(await crypto.subtle.digest("SHA-256", signed)) };
    }
  }
  throw unauthorized("invalid_signature", "The signature does not match the body", source.type);
}

/**
 * Standard Webhooks: webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">
 * (several space-separated), keyed with the base64-decoded secret after "whsec_", as the
 * standardwebhooks libraries do. The id may not contain a dot, so the signed string splits one way only.
 */
async function verifyStandard(source: InboundSource, id: string | undefined, timestamp: string | undefined, signature: string | undefined, raw: Uint8Array<ArrayBuffer>): Promise<Authenticated> {
  if (id === undefined || timestamp === undefined || signature === undefined) {
    throw unauthorized("missing_signature", `A Standard Webhooks request needs ${standardHeaders.id}, ${standardHeaders.timestamp} and ${standardHeaders.signature}`, source.type);
  }
  const eventId = id.trim();
  if (!/^[^\s.]{1,255}$/.test(eventId)) {
    throw unauthorized("invalid_event_id", `${standardHeaders.id} must be 1-255 characters without spaces or dots`, source.type);
  }
  checkTimestamp(source, standardHeaders.timestamp, timestamp.trim());
  const secret = base64Bytes(source.secret.replace(/^whsec_/, ""));
  if (secret) {
    const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const signed = signedBytes(`${eventId}.${timestamp.trim()}.`, raw);
    for (const part of signature.trim().split(/\s+/)) {
      const candidate = part.match(/^v1,(.+)$/)?.[1];
      const bytes = candidate === undefined ? undefined : base64Bytes(candidate);
      if (bytes && await crypto.subtle.verify("HMAC", key, bytes, signed)) return { signedId: eventId };
    }
  }
  throw unauthorized("invalid_signature", `The signature does not match the ${standardHeaders.id}, timestamp and body`, source.type);
}

async function authenticate(c: Context<AppEnv>, source: InboundSource, raw: Uint8Array<ArrayBuffer>): Promise<Authenticated> {
  const standard = [standardHeaders.id, standardHeaders.timestamp, standardHeaders.signature].map((name) => c.req.header(name));
  if (standard.some((value) => value !== undefined)) return verifyStandard(source, standard[0], standard[1], standard[2], raw);
  const signature = c.req.header(inboundHeaders.signature);
  const timestamp = c.req.header(inboundHeaders.timestamp);
  if (signature !== undefined || timestamp !== undefined || source.type === "generic_webhook") {
    return verifyV1(source, signature, timestamp, raw);
  }
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  // A Pub/Sub push with OIDC auth carries Google's token as the bearer: any match will do.
  const presented = [c.req.header(inboundHeaders.secret)?.trim(), bearer, source.type === "gmail" ? c.req.query("secret") : undefined]
    .filter((s): s is string => s !== undefined && s !== "");
  if (presented.length === 0) throw unauthorized("missing_secret", "This inbound URL needs the source's secret", source.type);
  const matches = await Promise.all(presented.map((given) => sameSecret(given, source.secret)));
  if (!matches.includes(true)) throw unauthorized("invalid_secret", "The secret is not this source's", source.type);
  return {};
}

const toHex = (digest: ArrayBuffer) => Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");

// ---------------------------------------------------------------------------
// The event: payload and id
// ---------------------------------------------------------------------------
interface InboundEvent {
  eventId: string;
  payload: Record<string, unknown>;
  warnings: string[];
}

const invalidPayload = (message: string, hint: string) => new ApiError(400, "invalid_payload", message, hint);

const webhookHint = "Send the event as a JSON object (Content-Type: application/json) or as a form (application/x-www-form-urlencoded), e.g. { \"event\": \"form_submitted\", \"email\": \"jane@acme.com\", \"firstName\": \"Jane\" }.";
const gmailHint = "Send a Pub/Sub push body { \"message\": { \"data\": base64(JSON), \"messageId\": \"…\" }, \"subscription\": \"…\" } whose data is { \"event\": \"reply_received\", \"from\", \"to\", \"subject\", \"snippet\", \"messageId\", \"threadId\", \"date\" } (or that data object itself).";

const notJson = (hint: string) => () => invalidPayload("The body is not valid JSON", hint);

function decodeBase64Json(data: string): unknown {
  const notBase64Json = () => invalidPayload("message.data is not base64-encoded JSON", gmailHint);
  let bytes: Uint8Array;
  try {
    const binary = atob(data.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(data.length / 4) * 4, "="));
    bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  } catch {
    throw notBase64Json();
  }
  // Held to the same nesting and character rules as the body it came in.
  return readJson(bytes, notBase64Json);
}

/** Pub/Sub push envelope -> the forwarder's data and Pub/Sub's message id. */
function gmailEvent(body: unknown): { payload: Record<string, unknown>; messageId: string | undefined } {
  if (!isJsonObject(body)) throw invalidPayload("The body must be a JSON object", gmailHint);
  if (!("message" in body)) return { payload: body, messageId: undefined };
  const message = body.message;
  if (!isJsonObject(message) || typeof message.data !== "string" || message.data === "") {
    throw invalidPayload("message.data is missing: this is not a Pub/Sub push message", gmailHint);
  }
  const payload = decodeBase64Json(message.data);
  if (!isJsonObject(payload)) throw invalidPayload("message.data must decode to a JSON object", gmailHint);
  const id = message.messageId ?? message.message_id;
  return { payload, messageId: typeof id === "string" || typeof id === "number" ? String(id) : undefined };
}

function webhookPayload(c: Context<AppEnv>, text: string): Record<string, unknown> {
  if (/^application\/x-www-form-urlencoded/i.test(c.req.header("content-type") ?? "")) {
    const form = Object.fromEntries(new URLSearchParams(text));
    assertStorableText(form, "form");
    return form;
  }
  const body = readJson(text, notJson(webhookHint));
  if (!isJsonObject(body)) throw invalidPayload("The body must be a JSON object", webhookHint);
  return body;
}

async function readEvent(c: Context<AppEnv>, type: SyncSourceType, raw: Uint8Array<ArrayBuffer>, auth: Authenticated): Promise<InboundEvent> {
  const text = new TextDecoder().decode(raw);
  let payload: Record<string, unknown>;
  let bodyId: unknown;
  if (type === "gmail") {
    const gmail = gmailEvent(readJson(text, notJson(gmailHint)));
    payload = gmail.payload;
    bodyId = gmail.messageId ?? payload.eventId ?? payload.messageId;
  } else {
    payload = webhookPayload(c, text);
    // Not `id`: in most payloads it names the record (contact, form), not the delivery.
    bodyId = payload.eventId ?? payload.event_id;
  }
  const headerId = c.req.header(inboundHeaders.eventId)?.trim();
  if (auth.signedId !== undefined) {
    return {
      eventId: auth.signedId, payload,
      warnings: headerId && headerId !== auth.signedId
        ? [`${inboundHeaders.eventId} was ignored: the signed ${standardHeaders.id} (${auth.signedId}) is the event id`]
        : [],
    };
  }
  const given = headerId || (typeof bodyId === "string" || typeof bodyId === "number" ? String(bodyId) : undefined);
  if (given) return { eventId: given, payload, warnings: [] };

  return {
    eventId: `sha256:${toHex(await crypto.subtle.digest("SHA-256", raw))}`,
    payload,
    warnings: [`No event id was sent, so the body's SHA-256 stands in: an identical body counts as the same event. Send ${inboundHeaders.eventId} (or eventId in the body) to tell events apart`],
  };
}

// ---------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------
const inboundRoute = createRoute({
  operationId: "receiveInboundEvent",
  method: "post", path: "/inbound/{token}", tags: ["Sync sources"],
  summary: "Receive an event for a sync source (no API key: the source's secret authenticates)",
  security: [],
  description: [
    "The body is the sender's event: JSON (or a urlencoded form) for api_sdr, form_webhook and generic_webhook;",
    "for gmail a Google Pub/Sub push message whose base64 data is the forwarder's JSON { event, from, to, subject, snippet, messageId, threadId, date }.",
    "generic_webhook requests are signed, the timestamp within 5 minutes: Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of \"<id>.<timestamp>.<raw body>\" keyed with the base64-decoded secret after whsec_>),",
    "or v1: X-OpenClaw-Timestamp and X-OpenClaw-Signature: v1=<hex HMAC-SHA256 of \"<timestamp>.<raw body>\" keyed with the whole secret>.",
    "form_webhook and api_sdr send X-OpenClaw-Secret (or Authorization: Bearer <secret>); gmail puts ?secret=<secret> on the push endpoint.",
    "The event id makes redeliveries idempotent: the same id is answered with the first outcome (duplicate: true) and writes nothing. It is the signed webhook-id under Standard Webhooks;",
    "otherwise X-OpenClaw-Event-Id (or eventId in the body; Pub/Sub's messageId for gmail). v1 does not sign X-OpenClaw-Event-Id, so the same v1-signed timestamp and body under another id is a duplicate as well.",
    "201 lead created, 200 updated (or a duplicate), 202 acknowledged but ignored (a bare Gmail watch notification).",
  ].join(" "),
  // Per client IP, before the body is read or the token looked up.
  middleware: [limitOpenRoute((_c, ip) => [{ policy: "inbound-ip", key: ip }])],
  request: { params: TokenParam },
  responses: {
    200: json(InboundReply, "Lead updated and moved (or a redelivery: duplicate true)."),
    201: json(InboundReply, "Lead created in the event's stage."),
    202: json(InboundReply, "Acknowledged, nothing to map (outcome ignored)."),
    400: errorResponse("The payload cannot be mapped: error.hint names the field and the mapping."),
    401: errorResponse("Missing or wrong secret, bad signature (or a signed id that is not 1-255 characters without dots), or a timestamp more than 5 minutes off."),
    402: errorResponse("The workspace is at its plan's lead limit: nothing was written."),
    404: errorResponse("No sync source has this inbound URL."),
    409: errorResponse("The sync source is disabled."),
    413: errorResponse("Body too large."),
    429: rateLimitedResponse("Too many events from this address (inbound-ip): retry after Retry-After seconds; nothing was written."),
    500: errorResponse("Our fault; retry."),
    503: errorResponse("Database unavailable; retry."),
  },
});

export const inboundRoutes = createRouter()
  .openapi(inboundRoute, async (c) => {
    const { token } = c.req.valid("param");
    if (!/^[0-9a-f]{48}$/.test(token)) throw unknownInbound();
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const { result, warnings } = await asAnonymous(c.var.sql, async (tx) => {
      const [source] = await tx<InboundSource[]>`select id, type, secret from app.sync_source_for_token(${token})`;
      if (!source) throw unknownInbound();
      const auth = await authenticate(c, source, raw);
      const event = await readEvent(c, source.type, raw, auth);
      const [row] = await tx<{ result: IngestResult }[]>`
        select app.ingest_sync_event(${source.id}, ${event.eventId}, ${tx.json(event.payload as never)}, ${auth.signedDigest ?? null}) as result`;
      return { result: row!.result, warnings: event.warnings };
    });
    if (result.reason) warnings.push(result.reason);
    if (result.duplicate) warnings.push(`Event ${result.eventId} was received before: this is its first outcome; nothing was written again`);
    const status = result.duplicate ? 200 : result.outcome === "created" ? 201 : result.outcome === "ignored" ? 202 : 200;
    return reply(c, result, { warnings }, status);
  });
