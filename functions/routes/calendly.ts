// Calendly: connect with a personal access token, read the connection, disconnect; and the
// public webhook Calendly delivers bookings and cancellations to.
//
// Connecting verifies the token (GET /users/me), subscribes our webhook URL for this org (an
// unguessable token in the path, a signing key we generate) and stores the connection with the
// access token encrypted (functions/integrations/crypto.ts); the token is never returned. No
// transaction is held across a call to Calendly: the network first, then one short write,
// and a failed write deletes the subscription it just made. An Idempotency-Key is therefore
// claimed in a transaction of its own before Calendly is called (idempotencyOutsideTransaction).
//
// The webhook verifies Calendly-Webhook-Signature (t=<unix>,v1=<hex HMAC-SHA256 of
// "t.<raw body>">) in constant time within a bounded clock skew, then hands the delivery to
// app.ingest_calendly_event (lead, touchpoint, meeting, event: all or nothing, idempotent per
// invitee and event). A meeting bot is scheduled (or canceled) after that commits.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppConfig } from "../config.ts";
import { asAnonymous, type Tx } from "../db.ts";
import { jsonBody, readJsonObject } from "../http/body.ts";
import type { AppEnv } from "../http/context.ts";
import { meetingBotStatuses } from "../http/enums.ts";
import { ApiError } from "../http/errors.ts";
import { idempotencyOutsideTransaction } from "../http/idempotency.ts";
import { bearerAuth, commonErrors, envelope, errorResponse, idempotencyError, json, notFoundError, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { asTenant, tenantAuthenticated } from "../http/tenant.ts";
import { validationWithHints } from "../http/validation.ts";
import { createSubscription, currentUser, deleteSubscription, tokenHint } from "../integrations/calendly.ts";
import { decryptSecret, encryptSecret, hexBytes, hmacSha256, randomHex, sameBytes, utf8 } from "../integrations/crypto.ts";
import { cancelBot, NO_KEY_NOTE, scheduleBot } from "../integrations/recall.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const AccessToken = z.string().trim().min(20, "is too short for a Calendly personal access token").max(4000);
// personal_access_token is the contract's name; token is accepted as an alias.
const ConnectRequest = z.object({
  personal_access_token: AccessToken.optional()
    .openapi({ description: "A Calendly personal access token. Verified with Calendly, stored encrypted, never returned." }),
  token: AccessToken.optional().openapi({ description: "Alias of personal_access_token." }),
}).refine((body) => body.personal_access_token !== undefined || body.token !== undefined,
  { message: "is required (the Calendly personal access token; token is accepted as an alias)", path: ["personal_access_token"] })
  .openapi("ConnectCalendlyRequest");

const MeetingBots = z.object({
  enabled: z.boolean().openapi({ description: "true when RECALL_API_KEY is set: booked video meetings get a recording bot." }),
  note: z.string().optional(),
});
const Connection = {
  connected: z.boolean(),
  userName: z.string().nullable(),
  userEmail: z.string().nullable(),
  userUri: z.string().nullable(),
  organizationUri: z.string().nullable(),
  schedulingUrl: z.string().nullable(),
  webhookUrl: z.string().nullable().openapi({ description: "Where Calendly delivers invitee.created and invitee.canceled for this workspace." }),
  subscriptionUri: z.string().nullable(),
  connectedAt: z.string().nullable(),
  lastEventAt: z.string().nullable(),
  meetingBots: MeetingBots,
};
const ConnectionReply = envelope(Connection).openapi("CalendlyConnectionReply");
const DisconnectedReply = envelope({
  connected: z.literal(false),
  subscriptionDeleted: z.boolean().openapi({ description: "false when Calendly no longer had the subscription or no longer accepts the token." }),
}).openapi("CalendlyDisconnectedReply");

const MeetingBot = z.object({
  status: z.enum(meetingBotStatuses),
  botId: z.string().optional(),
  note: z.string().optional().openapi({ description: "Why no bot was scheduled, or what became of it." }),
});
const WebhookReply = envelope({
  outcome: z.enum(["created", "updated", "ignored"]),
  duplicate: z.boolean().openapi({ description: "true for a redelivery: the first outcome, nothing written again." }),
  event: z.string().optional(),
  leadId: z.string().optional(),
  email: z.string().optional(),
  meetingId: z.string().optional(),
  touchpointId: z.string().optional(),
  eventId: z.string().optional().openapi({ description: "The meeting_booked or meeting_canceled engagement event." }),
  startsAt: z.string().optional(),
  joinUrl: z.string().optional(),
  meetingBot: MeetingBot.optional(),
  reason: z.string().optional(),
}).openapi("CalendlyWebhookReply");
type WebhookResult = Omit<z.infer<typeof WebhookReply>, "success" | "warnings" | "next_steps">;

const TokenParam = z.object({
  token: z.string().openapi({ param: { name: "token", in: "path" }, description: "The workspace's webhook token (from webhookUrl)." }),
});

// ---------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------
interface ConnectionRow {
  webhookToken: string;
  tokenCiphertext: string;
  userName: string | null;
  userEmail: string | null;
  userUri: string;
  organizationUri: string | null;
  schedulingUrl: string | null;
  subscriptionUri: string;
  connectedAt: string;
  lastEventAt: string | null;
}

const webhookUrl = (config: AppConfig, token: string) => `${config.publicUrl}/api/openclaw/integrations/calendly/webhook/${token}`;

const meetingBots = (config: AppConfig) =>
  config.integrations.recall.apiKey ? { enabled: true } : { enabled: false, note: NO_KEY_NOTE };

function connectionView(config: AppConfig, row: ConnectionRow | undefined) {
  return {
    connected: row !== undefined,
    userName: row?.userName ?? null,
    userEmail: row?.userEmail ?? null,
    userUri: row?.userUri ?? null,
    organizationUri: row?.organizationUri ?? null,
    schedulingUrl: row?.schedulingUrl ?? null,
    webhookUrl: row ? webhookUrl(config, row.webhookToken) : null,
    subscriptionUri: row?.subscriptionUri ?? null,
    connectedAt: row?.connectedAt ?? null,
    lastEventAt: row?.lastEventAt ?? null,
    meetingBots: meetingBots(config),
  };
}

async function selectConnection(tx: Tx): Promise<ConnectionRow | undefined> {
  const [row] = await tx<ConnectionRow[]>`
    select webhook_token as "webhookToken", token_ciphertext as "tokenCiphertext", user_name as "userName",
           user_email as "userEmail", user_uri as "userUri", organization_uri as "organizationUri",
           scheduling_url as "schedulingUrl", subscription_uri as "subscriptionUri", connected_at as "connectedAt",
           last_event_at as "lastEventAt"
    from app.calendly_connections`;
  return row;
}

const readConnection = (c: Context<AppEnv>) => asTenant(c, selectConnection);

const notConnected = () =>
  new ApiError(404, "not_connected", "Calendly is not connected to this workspace",
    `POST /api/openclaw/integrations/calendly { "token": "…" } connects it. ${tokenHint}`);

/** Deletes a replaced subscription; a failure is a warning, the new connection stands. */
async function removeReplaced(c: Context<AppEnv>, uri: string, ciphertext: string, newToken: string): Promise<string[]> {
  const settings = c.var.config.integrations;
  const oldToken = await decryptSecret(settings.encryptionKey, ciphertext) ?? newToken;
  try {
    const outcome = await deleteSubscription(settings.calendly, oldToken, uri);
    if (outcome !== "unauthorized" || oldToken === newToken) return [];
    await deleteSubscription(settings.calendly, newToken, uri);
    return [];
  } catch {
    return [`The previous webhook subscription (${uri}) could not be deleted at Calendly; it points at a URL that no longer answers, so it does no harm. Delete it in Calendly if you like.`];
  }
}

// ---------------------------------------------------------------------------
// Webhook signature
// ---------------------------------------------------------------------------
const SIGNATURE_HEADER = "Calendly-Webhook-Signature";

const unauthorized = (code: string, message: string) =>
  new ApiError(401, code, message,
    `Calendly signs each delivery with ${SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the subscription's signing key>. Only the subscription this workspace created can deliver here; reconnect (POST /api/openclaw/integrations/calendly) if deliveries keep failing.`);

async function verifySignature(signingKey: string, header: string | undefined, raw: Uint8Array, toleranceSeconds: number): Promise<void> {
  if (!header) throw unauthorized("missing_signature", `The ${SIGNATURE_HEADER} header is missing`);
  const parts = header.split(",").map((part) => part.trim().split("=", 2) as [string, string | undefined]);
  const t = parts.find(([name]) => name === "t")?.[1];
  const candidates = parts.filter(([name]) => name === "v1").map(([, value]) => value ?? "");
  if (!t || !/^\d{1,12}$/.test(t) || candidates.length === 0) {
    throw unauthorized("invalid_signature", `${SIGNATURE_HEADER} must look like t=<unix seconds>,v1=<hex>`);
  }
  if (Math.abs(Date.now() / 1000 - Number(t)) > toleranceSeconds) {
    throw unauthorized("stale_timestamp", `The signature's timestamp is more than ${toleranceSeconds} seconds from our clock`);
  }
  const expected = await hmacSha256(utf8(signingKey), `${t}.`, raw);
  const matches = candidates.some((candidate) => {
    const given = hexBytes(candidate);
    return given !== undefined && sameBytes(given, expected);
  });
  if (!matches) throw unauthorized("invalid_signature", "The signature does not match the body");
}

const unknownWebhook = () =>
  new ApiError(404, "not_found", "No Calendly connection for this webhook URL",
    "The workspace may have disconnected or reconnected Calendly (which changes the URL); GET /api/openclaw/integrations/calendly shows the current one.");

const invalidDelivery = () =>
  new ApiError(400, "invalid_payload", "The delivery must be a JSON object",
    "Calendly delivers { event, created_at, payload: { uri, email, name, scheduled_event, … } }.");

/** After the delivery is committed: schedule a bot for a booking, cancel it for a cancellation. */
async function followUpBot(c: Context<AppEnv>, token: string, result: WebhookResult): Promise<WebhookResult> {
  const recall = c.var.config.integrations.recall;
  const bot = result.meetingBot;
  if (result.duplicate || !bot || !result.meetingId || !recall.apiKey) return result;
  let next: { status: "scheduled" | "failed" | "canceled"; botId?: string; note?: string } | undefined;
  if (result.event === "invitee.created" && bot.status === "scheduling" && result.joinUrl) {
    const scheduled = await scheduleBot(recall, {
      meetingUrl: result.joinUrl,
      joinAt: result.startsAt,
      metadata: { lead_id: result.leadId ?? "", meeting_id: result.meetingId },
    });
    next = "botId" in scheduled
      ? { status: "scheduled", botId: scheduled.botId, note: `meeting bot scheduled to join at ${result.startsAt ?? "the start"}` }
      : { status: "failed", note: `no meeting bot scheduled: ${scheduled.error}` };
  } else if (result.event === "invitee.canceled" && bot.status === "scheduled" && bot.botId) {
    next = await cancelBot(recall, bot.botId)
      ? { status: "canceled", botId: bot.botId, note: "the meeting was canceled, so its bot was removed" }
      : { status: "scheduled", botId: bot.botId, note: "the meeting was canceled but Recall did not remove its bot (it may have joined already)" };
  }
  if (!next) return result;
  const settled = next;
  await asAnonymous(c.var.sql, (tx) => tx`
    select app.record_meeting_bot(${token}, ${result.meetingId!}, ${settled.status}, ${settled.botId ?? null}, ${settled.note ?? null})`);
  return { ...result, meetingBot: settled };
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const calendlyErrors = {
  502: errorResponse("Calendly failed, refused or did not answer in time: nothing was changed."),
  503: errorResponse("No encryption key is configured for stored tokens (INTEGRATIONS_ENCRYPTION_KEY), or the database is unavailable."),
};

const connectRoute = createRoute({
  operationId: "connectCalendly",
  method: "post", path: "/integrations/calendly", tags: ["Integrations"],
  summary: "Connect Calendly with a personal access token (reconnecting replaces the connection)",
  description: "Verifies the token with Calendly (GET /users/me), subscribes this workspace's webhook URL to invitee.created and invitee.canceled with a signing key we generate, and stores the connection with the token encrypted. The token is never returned. Bookings then create or update leads, log meeting touchpoints and record meeting_booked / meeting_canceled.\n\n"
    + "Send an Idempotency-Key to retry safely: the same key and body replay the first answer (status and body, with Idempotent-Replayed: true) without calling Calendly again; the same key with another body answers 422 idempotency_key_reused; a failed attempt keeps no key, so a retry really retries. "
    + "The key is claimed before Calendly is called, so while the first request with a key is still running, a second one answers 409 idempotency_key_in_progress (retry it a few seconds later to get the first answer) and never creates a second subscription. A claim left unfinished by a crash is released after 5 minutes.",
  security: bearerAuth, middleware: [tenantAuthenticated, idempotencyOutsideTransaction],
  request: jsonBody(ConnectRequest),
  responses: {
    201: json(ConnectionReply, "Connected (or, with Idempotent-Replayed: true, the first answer to this Idempotency-Key)."),
    409: errorResponse("idempotency_key_in_progress: the first request with this Idempotency-Key is still running; retry shortly."),
    ...idempotencyError, ...commonErrors, ...calendlyErrors,
  },
});
const statusRoute = createRoute({
  operationId: "getCalendlyConnection",
  method: "get", path: "/integrations/calendly", tags: ["Integrations"], summary: "The Calendly connection (never the token)",
  security: bearerAuth, middleware: [tenantAuthenticated],
  responses: { 200: json(ConnectionReply, "The connection, or connected: false."), ...commonErrors },
});
const disconnectRoute = createRoute({
  operationId: "disconnectCalendly",
  method: "delete", path: "/integrations/calendly", tags: ["Integrations"],
  summary: "Disconnect Calendly: delete the webhook subscription at Calendly and forget the connection",
  security: bearerAuth, middleware: [tenantAuthenticated],
  responses: { 200: json(DisconnectedReply, "Disconnected."), ...notFoundError, ...commonErrors, ...calendlyErrors },
});
const webhookRoute = createRoute({
  operationId: "receiveCalendlyWebhook",
  method: "post", path: "/integrations/calendly/webhook/{token}", tags: ["Integrations"],
  summary: "Calendly's deliveries (no API key: Calendly-Webhook-Signature authenticates)",
  security: [],
  description: "Calendly POSTs invitee.created and invitee.canceled here, signed with Calendly-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"t.<raw body>\">. The lead is created or updated by the invitee's email, a meeting touchpoint is logged (booking time; start time, event type, join and cancel/reschedule URLs in metadata) and meeting_booked or meeting_canceled is recorded. A redelivery of the same invitee event writes nothing. With RECALL_API_KEY set, a booked video meeting gets a recording bot; meetingBot says what happened or why not.",
  request: { params: TokenParam },
  responses: {
    200: json(WebhookReply, "Lead updated (or a redelivery: duplicate true)."),
    201: json(WebhookReply, "Lead created."),
    202: json(WebhookReply, "Acknowledged; not an event we handle."),
    400: errorResponse("The delivery is not a Calendly invitee event."),
    401: errorResponse("Missing, malformed, wrong or stale signature: nothing was written."),
    402: errorResponse("The workspace is at its plan's lead limit: nothing was written."),
    404: errorResponse("No Calendly connection has this webhook URL."),
    413: errorResponse("Body too large."),
    500: errorResponse("Our fault; Calendly retries."),
    503: errorResponse("Database unavailable; Calendly retries."),
  },
});

export const calendlyRoutes = createRouter()
  .openapi(connectRoute, async (c) => {
    const body = c.req.valid("json");
    const token = (body.personal_access_token ?? body.token)!;
    const aliasWarnings = body.personal_access_token !== undefined && body.token !== undefined && body.token !== body.personal_access_token
      ? ["Both personal_access_token and token were sent; personal_access_token was used"] : [];
    const config = c.var.config;
    const settings = config.integrations;
    const ciphertext = await encryptSecret(settings.encryptionKey, token);
    const user = await currentUser(settings.calendly, token);
    const hookToken = randomHex(24);
    const signingKey = randomHex(32);
    const subscriptionUri = await createSubscription(settings.calendly, token, user, webhookUrl(config, hookToken), signingKey);
    interface Replaced { previousSubscriptionUri: string | null; previousTokenCiphertext: string | null }
    let saved: { previous: Replaced; row: ConnectionRow | undefined };
    try {
      saved = await asTenant(c, async (tx) => {
        const [result] = await tx<{ previous: Replaced }[]>`
          select app.save_calendly_connection(${hookToken}, ${signingKey}, ${ciphertext},
            ${tx.json(user as never)}, ${subscriptionUri}) as previous`;
        return { previous: result!.previous, row: await selectConnection(tx) };
      });
    } catch (err) {
      // Nothing half-written: the subscription we just made goes too.
      await deleteSubscription(settings.calendly, token, subscriptionUri).catch(() => "gone");
      throw err;
    }
    const { previous, row } = saved;
    const warnings = previous.previousSubscriptionUri && previous.previousTokenCiphertext
      ? await removeReplaced(c, previous.previousSubscriptionUri, previous.previousTokenCiphertext, token)
      : [];
    return reply(c, connectionView(config, row), {
      warnings: [...aliasWarnings, ...warnings, ...(previous.previousSubscriptionUri ? ["Replaced the previous Calendly connection; its webhook URL no longer answers"] : [])],
      next_steps: [
        `Share ${user.scheduling_url ?? "your Calendly scheduling link"}: each booking creates or updates the lead and records meeting_booked`,
        "GET /api/openclaw/integrations/calendly shows the connection",
      ],
    }, 201);
  }, validationWithHints({ personal_access_token: tokenHint, token: tokenHint }))
  .openapi(statusRoute, async (c) => {
    const row = await readConnection(c);
    return reply(c, connectionView(c.var.config, row), {
      next_steps: row ? [] : [`POST /api/openclaw/integrations/calendly { "token": "…" } to connect. ${tokenHint}`],
    });
  })
  .openapi(disconnectRoute, async (c) => {
    const settings = c.var.config.integrations;
    const row = await readConnection(c);
    if (!row) throw notConnected();
    const token = await decryptSecret(settings.encryptionKey, row.tokenCiphertext);
    const outcome = token ? await deleteSubscription(settings.calendly, token, row.subscriptionUri) : "unauthorized";
    await asTenant(c, (tx) => tx`delete from app.calendly_connections where webhook_token = ${row.webhookToken}`);
    const warnings = outcome === "deleted" ? [] : outcome === "gone"
      ? ["Calendly no longer had the webhook subscription"]
      : [`The stored token no longer works, so the webhook subscription (${row.subscriptionUri}) could not be deleted at Calendly; its deliveries are refused here. Remove it in Calendly if you like.`];
    return reply(c, { connected: false as const, subscriptionDeleted: outcome === "deleted" }, {
      warnings, next_steps: ["POST /api/openclaw/integrations/calendly { \"token\": \"…\" } connects again"],
    }, 200);
  })
  .openapi(webhookRoute, async (c) => {
    const { token } = c.req.valid("param");
    if (!/^[0-9a-f]{48}$/.test(token)) throw unknownWebhook();
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const settings = c.var.config.integrations;
    const committed = await asAnonymous(c.var.sql, async (tx) => {
      const [found] = await tx<{ key: string | null }[]>`select app.calendly_signing_key(${token}) as key`;
      if (!found?.key) throw unknownWebhook();
      await verifySignature(found.key, c.req.header(SIGNATURE_HEADER), raw, settings.calendly.webhookToleranceSeconds);
      const delivery = readJsonObject(raw, invalidDelivery);
      const event = typeof delivery.event === "string" ? delivery.event : null;
      const [row] = await tx<{ result: WebhookResult }[]>`
        select app.ingest_calendly_event(${token}, ${event}, ${tx.json(delivery as never)}, ${settings.recall.apiKey !== undefined}) as result`;
      return row!.result;
    });
    const result = await followUpBot(c, token, committed);
    const warnings = [
      ...(result.reason ? [result.reason] : []),
      ...(result.duplicate ? ["This delivery was received before: its first outcome is repeated and nothing was written again"] : []),
      ...(result.meetingBot?.note && result.meetingBot.status !== "scheduled" ? [result.meetingBot.note] : []),
    ];
    const status = result.outcome === "ignored" ? 202 : result.outcome === "created" && !result.duplicate ? 201 : 200;
    return reply(c, result, { warnings }, status);
  });
