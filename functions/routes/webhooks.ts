// Outbound webhook subscriptions: an org's endpoints, the event catalogue, the delivery log
// and manual redelivery. The rules live in the database (sql/86_webhooks.sql: known event
// types, at most 20 endpoints, the secret no API role can read, the fan-out, retries and
// disabling); this file checks the URL against the SSRF guard, calls and shapes the reply.
// Delivery itself is the worker's (functions/webhooks/worker.ts).
//
// POST /webhooks and /rotate-secret do not honour Idempotency-Key: their answer carries the
// secret, which is never stored for a replay.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Tx } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import type { AppEnv } from "../http/context.ts";
import { webhookDeliveryStatuses as deliveryStatuses } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import { bearerAuth, commonErrors, conflictError, envelope, json, notFoundError, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";
import { webhookUrlRefusal } from "../webhooks/urls.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const Url = z.string({ error: "is required" }).trim().min(1).max(2000)
  .openapi({ description: "Where events are POSTed: https, public address, port 443 (or 80 with WEBHOOKS_ALLOW_HTTP).", example: "https://hooks.example.com/openclaw" });
const EventTypes = z.array(z.string().trim().min(1).max(100), { error: "must be a list of event types" }).min(1).max(50)
  .openapi({ description: "Event types to receive (GET /api/openclaw/webhooks/event-types), or [\"*\"] for every type.", example: ["lead.created", "lead.stage_changed", "meeting.booked"] });
const Description = z.string().trim().max(500).openapi({ example: "Sync to our data warehouse" });
const WebhookIdParam = z.object({
  webhookId: z.string().min(1).max(100).openapi({ param: { name: "webhookId", in: "path" }, example: "wh_3f9c0a1b2c3d4e5f6a7b8c9d" }),
});
const DeliveryParams = WebhookIdParam.extend({
  deliveryId: z.string().min(1).max(100).openapi({ param: { name: "deliveryId", in: "path" }, example: "whdlv_3f9c0a1b2c3d4e5f6a7b8c9d" }),
});

const createFields = {
  url: Url,
  events: EventTypes,
  description: Description.optional(),
  enabled: z.boolean().optional().openapi({ description: "Default true." }),
};
const CreateWebhook = z.looseObject(createFields).openapi("CreateWebhookRequest");
const updateFields = {
  url: Url.optional(),
  events: EventTypes.optional(),
  description: Description.nullable().optional().openapi({ description: "null removes it." }),
  enabled: z.boolean().optional().openapi({ description: "false stops deliveries; true resumes them (pending ones go out at once) and clears an automatic disable." }),
};
const UpdateWebhook = z.looseObject(updateFields).openapi("UpdateWebhookRequest");

const Webhook = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  description: z.string().nullable(),
  enabled: z.boolean(),
  disabledAt: z.string().nullable(),
  disabledReason: z.string().nullable().openapi({ description: "Set when the CRM disabled it after persistent delivery failures." }),
  failingSince: z.string().nullable().openapi({ description: "Start of the current run of failed attempts; null after a success." }),
  consecutiveFailures: z.number().int(),
  lastSuccessAt: z.string().nullable(),
  lastFailureAt: z.string().nullable(),
  previousSecretExpiresAt: z.string().nullable().openapi({ description: "Until then deliveries carry a second signature made with the secret before the last rotation." }),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Webhook");
type WebhookRow = z.infer<typeof Webhook>;

const DeliveryCounts = z.object({
  pending: z.number().int(), sending: z.number().int(), delivered: z.number().int(), failed: z.number().int(),
}).openapi("WebhookDeliveryCounts");

const Delivery = z.object({
  id: z.string(),
  webhookId: z.string().openapi({ description: "The webhook-id header: the same on every attempt and redelivery." }),
  type: z.string(),
  status: z.enum(deliveryStatuses),
  attempts: z.number().int().openapi({ description: "Attempts so far (a redelivery starts again from 0)." }),
  nextAttemptAt: z.string().nullable().openapi({ description: "When a pending delivery is next tried." }),
  lastAttemptAt: z.string().nullable(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  lastResponse: z.string().nullable().openapi({ description: "The first 1,000 bytes of the endpoint's last answer." }),
  lastDurationMs: z.number().int().nullable(),
  deliveredAt: z.string().nullable(),
  redeliveries: z.number().int(),
  createdAt: z.string(),
}).openapi("WebhookDelivery");

const EventType = z.object({
  type: z.string(),
  description: z.string().openapi({ description: "When it is sent." }),
  data: z.string().openapi({ description: "What the body's data holds." }),
  sourceEvent: z.string().nullable().openapi({ description: "The engagement event (GET /api/openclaw/events) it reports, if any." }),
}).openapi("WebhookEventType");

const secretField = z.string().openapi({ description: "whsec_…: the signing secret, shown only now.", example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" });
const WebhookReply = envelope({ id: z.string(), webhook: Webhook }).openapi("WebhookReply");
const WebhookDetailReply = envelope({ id: z.string(), webhook: Webhook, deliveries: DeliveryCounts }).openapi("WebhookDetailReply");
const CreatedReply = envelope({ id: z.string(), webhook: Webhook, secret: secretField }).openapi("CreatedWebhookReply");
const RotatedReply = envelope({ id: z.string(), secret: secretField, previousSecretExpiresAt: z.string() }).openapi("RotatedWebhookSecretReply");
const DeletedReply = envelope({ id: z.string(), deleted: z.literal(true) }).openapi("DeletedWebhookReply");
const ListReply = envelope({ webhooks: z.array(Webhook), ...pageFields }).openapi("WebhookListReply");
const DeliveryListReply = envelope({ webhookId: z.string(), deliveries: z.array(Delivery), ...pageFields }).openapi("WebhookDeliveryListReply");
const RedeliveredReply = envelope({ delivery: Delivery }).openapi("RedeliveredWebhookReply");
const EventTypesReply = envelope({ eventTypes: z.array(EventType) }).openapi("WebhookEventTypesReply");

const DeliveryQuery = z.object({
  status: z.enum(deliveryStatuses, { error: `must be one of: ${deliveryStatuses.join(", ")}` }).optional(),
  ...pageQuery,
});

const hints = {
  url: "url is where events are POSTed, e.g. \"https://hooks.example.com/openclaw\".",
  events: "events lists the event types to receive, e.g. [\"lead.created\", \"meeting.booked\"], or [\"*\"] for all; GET /api/openclaw/webhooks/event-types lists them.",
  status: `status is one of: ${deliveryStatuses.join(", ")}.`,
};

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
// Every column but the secrets, which the tenant role may not read.
const webhookSelect = `
  id, url, event_types as "events", description, enabled, disabled_at as "disabledAt", disabled_reason as "disabledReason",
  failing_since as "failingSince", consecutive_failures as "consecutiveFailures", last_success_at as "lastSuccessAt",
  last_failure_at as "lastFailureAt", previous_secret_expires_at as "previousSecretExpiresAt",
  created_at as "createdAt", updated_at as "updatedAt"`;

const deliverySelect = `
  d.id, d.event_id as "webhookId", e.type, d.status, d.attempts,
  case when d.status = 'pending' then d.next_attempt_at end as "nextAttemptAt", d.last_attempt_at as "lastAttemptAt",
  d.last_status_code as "lastStatusCode", d.last_error as "lastError", d.last_response as "lastResponse",
  d.last_duration_ms as "lastDurationMs", d.delivered_at as "deliveredAt", d.redeliveries, d.created_at as "createdAt"`;

async function findWebhook(db: Tx, id: string): Promise<WebhookRow | undefined> {
  const [row] = await db<WebhookRow[]>`select ${db.unsafe(webhookSelect)} from app.webhook_subscriptions where id = ${id}`;
  return row;
}

/** Refuses (400) a URL webhooks may not be sent to, saying why. */
async function checkTarget(c: Context<AppEnv>, url: string): Promise<void> {
  const refusal = await webhookUrlRefusal(url, c.var.config.webhooks, c.var.resolveHost);
  if (refusal) {
    throw new ApiError(400, "webhook_url_not_allowed", `Webhooks cannot be sent to ${url}: ${refusal}`,
      "Use a public https URL on port 443 (no private, loopback or link-local addresses, no credentials in the URL); "
        + "redirects are not followed, so give the final URL.", { field: "url" });
  }
}

const verifySteps = (id: string) => [
  "Store the secret now: it is shown only once (POST /api/openclaw/webhooks/" + id + "/rotate-secret issues a new one)",
  "Verify each delivery before trusting it: new Webhook(secret).verify(rawBody, headers) with the standardwebhooks package, "
    + "or HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${rawBody}` keyed with the base64-decoded part after whsec_, compared with each v1, signature",
  "Answer 2xx within 10 seconds and do the work afterwards; deduplicate on the webhook-id header (a delivery may arrive more than once)",
  `GET /api/openclaw/webhooks/${id}/deliveries shows every delivery, its attempts and the last answer`,
];

const rotationWarning = "Idempotency-Key is not honoured here (the answer holds the secret, which is never stored)";

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const tags = ["Webhooks"];

const eventTypesRoute = createRoute({
  operationId: "listWebhookEventTypes",
  method: "get", path: "/webhooks/event-types", tags, summary: "The webhook event catalogue: each type, when it is sent and what its data holds",
  security: bearerAuth, middleware: [tenantTransaction],
  responses: { 200: json(EventTypesReply, "Every event type, in catalogue order."), ...commonErrors },
});
const listRoute = createRoute({
  operationId: "listWebhooks",
  method: "get", path: "/webhooks", tags, summary: "List webhook subscriptions (never their secrets)",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: z.object(pageQuery) },
  responses: { 200: json(ListReply, "A page of subscriptions, oldest first."), ...commonErrors },
});
const createWebhookRoute = createRoute({
  operationId: "createWebhook",
  method: "post", path: "/webhooks", tags, summary: "Subscribe a URL to events: returns the signing secret (shown once)",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(CreateWebhook),
  responses: { 201: json(CreatedReply, "Subscription created; next_steps say how to verify deliveries."), ...conflictError, ...commonErrors },
});
const getRoute = createRoute({
  operationId: "getWebhook",
  method: "get", path: "/webhooks/{webhookId}", tags, summary: "One subscription, with its deliveries counted by status",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: WebhookIdParam },
  responses: { 200: json(WebhookDetailReply, "The subscription."), ...notFoundError, ...commonErrors },
});
const updateRoute = createRoute({
  operationId: "updateWebhook",
  method: "patch", path: "/webhooks/{webhookId}", tags, summary: "Change a subscription's URL, events, description, or switch it on or off",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: WebhookIdParam, ...jsonBody(UpdateWebhook) },
  responses: { 200: json(WebhookReply, "Subscription changed."), ...notFoundError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "deleteWebhook",
  method: "delete", path: "/webhooks/{webhookId}", tags, summary: "Delete a subscription and its delivery log (nothing more is sent to it)",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: WebhookIdParam },
  responses: { 200: json(DeletedReply, "Subscription deleted."), ...notFoundError, ...commonErrors },
});
const rotateRoute = createRoute({
  operationId: "rotateWebhookSecret",
  method: "post", path: "/webhooks/{webhookId}/rotate-secret", tags, summary: "Issue a new signing secret (shown once); the old one keeps signing for 24 hours",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: WebhookIdParam },
  responses: { 200: json(RotatedReply, "New secret issued."), ...notFoundError, ...commonErrors },
});
const deliveriesRoute = createRoute({
  operationId: "listWebhookDeliveries",
  method: "get", path: "/webhooks/{webhookId}/deliveries", tags, summary: "A subscription's delivery log, newest first: status, attempts, last answer",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: WebhookIdParam, query: DeliveryQuery },
  responses: { 200: json(DeliveryListReply, "A page of deliveries."), ...notFoundError, ...commonErrors },
});
const redeliverRoute = createRoute({
  operationId: "redeliverWebhook",
  method: "post", path: "/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver", tags,
  summary: "Send a delivered or failed delivery again (same webhook-id, a fresh retry schedule)",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: DeliveryParams },
  responses: { 200: json(RedeliveredReply, "Queued: the worker sends it within seconds."), ...notFoundError, ...conflictError, ...commonErrors },
});

export const webhooksRoutes = createRouter()
  // Before /webhooks/{webhookId}, which would take "event-types" for an id.
  .openapi(eventTypesRoute, async (c) => {
    const eventTypes = await c.var.db<z.infer<typeof EventType>[]>`
      select name as type, description, data, source_event as "sourceEvent" from app.webhook_event_types order by position`;
    return reply(c, { eventTypes }, {
      next_steps: ["POST /api/openclaw/webhooks { \"url\": \"https://…\", \"events\": [\"lead.created\", …] } subscribes an endpoint"],
    });
  })
  .openapi(listRoute, async (c) => {
    const db = c.var.db;
    const page = await pageOf(c, c.req.valid("query"), {
      list: "/webhooks",
      sort: [{ sql: "created_at", type: "timestamptz" }, { sql: "id", type: "text" }],
    });
    const [fetched, [count]] = await Promise.all([
      db<WebhookRow[]>`select ${db.unsafe(webhookSelect)}, ${page.keys(db)} from app.webhook_subscriptions where ${page.after(db)}
                       order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.webhook_subscriptions`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    const disabled = rows.filter((w) => w.disabledReason !== null);
    return reply(c, { webhooks: rows, ...page.fields(total) }, {
      warnings: [...page.warnings, ...disabled.map((w) => `Webhook ${w.id} (${w.url}) was disabled: ${w.disabledReason}`)],
      next_steps: [
        ...page.next("/webhooks"),
        ...disabled.map((w) => `Fix ${w.url}, then PATCH /api/openclaw/webhooks/${w.id} { "enabled": true }`),
        ...(total === 0 ? ["POST /api/openclaw/webhooks { \"url\": \"https://…\", \"events\": [\"lead.created\"] } subscribes a first endpoint"] : []),
      ],
    });
  })
  .openapi(createWebhookRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    await checkTarget(c, input.url);
    const [created] = await db<{ id: string; secret: string }[]>`
      select id, secret from app.create_webhook_subscription(${input.url}, ${input.events}::text[],
        ${input.description ?? null}, ${input.enabled ?? true})`;
    const webhook = (await findWebhook(db, created!.id))!;
    const warnings = ignoredFieldWarnings(input, Object.keys(createFields), "A webhook has url, events, description and enabled.");
    if (c.req.header("idempotency-key") !== undefined) warnings.push(`${rotationWarning}: a retry creates a second subscription, so list them first (GET /api/openclaw/webhooks)`);
    if (!webhook.enabled) warnings.push("The subscription is disabled: nothing is sent until PATCH { \"enabled\": true }");
    return reply(c, { id: webhook.id, webhook, secret: created!.secret }, { warnings, next_steps: verifySteps(webhook.id) }, 201);
  }, validationWithHints(hints))
  .openapi(getRoute, async (c) => {
    const { webhookId } = c.req.valid("param");
    const db = c.var.db;
    const webhook = await findWebhook(db, webhookId);
    if (!webhook) throw notFound("Webhook", webhookId);
    const counts = await db<{ status: typeof deliveryStatuses[number]; count: number }[]>`
      select status, count(*)::integer as count from app.webhook_deliveries where subscription_id = ${webhookId} group by status`;
    const deliveries = { pending: 0, sending: 0, delivered: 0, failed: 0 };
    for (const row of counts) deliveries[row.status] = row.count;
    return reply(c, { id: webhook.id, webhook, deliveries }, {
      warnings: webhook.disabledReason ? [`Disabled: ${webhook.disabledReason}`] : [],
      next_steps: [
        ...(webhook.disabledReason ? [`Fix ${webhook.url}, then PATCH /api/openclaw/webhooks/${webhook.id} { "enabled": true }`] : []),
        `GET /api/openclaw/webhooks/${webhook.id}/deliveries shows the delivery log`,
      ],
    });
  })
  .openapi(updateRoute, async (c) => {
    const { webhookId } = c.req.valid("param");
    const input = c.req.valid("json");
    const db = c.var.db;
    if (input.url !== undefined) await checkTarget(c, input.url);
    const values = {
      ...(input.url !== undefined ? { url: input.url } : {}),
      ...(input.events !== undefined ? { event_types: input.events } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
    };
    const warnings = ignoredFieldWarnings(input, Object.keys(updateFields), "PATCH changes url, events, description and enabled; POST …/rotate-secret issues a new secret.");
    const before = await findWebhook(db, webhookId);
    if (!before) throw notFound("Webhook", webhookId);
    if (Object.keys(values).length === 0) {
      warnings.push("Nothing to change: send url, events, description or enabled");
    } else {
      await db`update app.webhook_subscriptions set ${db(values as Record<string, unknown>)} where id = ${webhookId}`;
    }
    const webhook = (await findWebhook(db, webhookId))!;
    if (webhook.enabled && !before.enabled) warnings.push("Enabled: deliveries that waited go out now");
    if (!webhook.enabled && before.enabled) warnings.push("Disabled: nothing is sent and no new deliveries are made until it is enabled again");
    return reply(c, { id: webhook.id, webhook }, { warnings, next_steps: [`GET /api/openclaw/webhooks/${webhook.id}/deliveries shows the delivery log`] });
  }, validationWithHints(hints))
  .openapi(deleteRoute, async (c) => {
    const { webhookId } = c.req.valid("param");
    const [row] = await c.var.db`delete from app.webhook_subscriptions where id = ${webhookId} returning id`;
    if (!row) throw notFound("Webhook", webhookId);
    return reply(c, { id: webhookId, deleted: true as const }, {
      warnings: ["Subscription deleted with its delivery log: pending deliveries will not be sent"],
    });
  })
  .openapi(rotateRoute, async (c) => {
    const { webhookId } = c.req.valid("param");
    const [rotated] = await c.var.db<{ id: string; secret: string; previousSecretExpiresAt: Date }[]>`
      select id, secret, previous_secret_expires_at as "previousSecretExpiresAt" from app.rotate_webhook_secret(${webhookId})`;
    const until = rotated!.previousSecretExpiresAt.toISOString();
    return reply(c, { id: webhookId, secret: rotated!.secret, previousSecretExpiresAt: until }, {
      warnings: [
        `New secret issued, shown only now. Until ${until} every delivery carries two signatures (new and old secret), so switch the receiver to the new one before then`,
        ...(c.req.header("idempotency-key") !== undefined ? [rotationWarning] : []),
      ],
      next_steps: ["Store the new secret with the receiver: new Webhook(secret).verify(rawBody, headers) accepts a delivery when any v1 signature matches"],
    });
  })
  .openapi(deliveriesRoute, async (c) => {
    const { webhookId } = c.req.valid("param");
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: `/webhooks/${webhookId}/deliveries`,
      sort: [{ sql: "d.created_at", type: "timestamptz", desc: true }, { sql: "d.id", type: "text", desc: true }],
      filters: { status: query.status },
    });
    const where = query.status !== undefined
      ? db`d.subscription_id = ${webhookId} and d.status = ${query.status}`
      : db`d.subscription_id = ${webhookId}`;
    const [webhook, fetched, [count]] = await Promise.all([
      findWebhook(db, webhookId),
      db<z.infer<typeof Delivery>[]>`
        select ${db.unsafe(deliverySelect)}, ${page.keys(db)} from app.webhook_deliveries d
        join app.webhook_events e on e.org_id = d.org_id and e.id = d.event_id
        where ${where} and ${page.after(db)} order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.webhook_deliveries d where ${where}`,
    ]);
    if (!webhook) throw notFound("Webhook", webhookId);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { webhookId, deliveries: rows, ...page.fields(total) }, {
      warnings: [...page.warnings, ...(webhook.disabledReason ? [`Disabled: ${webhook.disabledReason}`] : [])],
      next_steps: [
        ...page.next(`/webhooks/${webhookId}/deliveries`, { status: query.status }),
        ...(rows.some((d) => d.status === "failed")
          ? [`POST /api/openclaw/webhooks/${webhookId}/deliveries/{deliveryId}/redeliver sends a failed delivery again`] : []),
      ],
    });
  }, validationWithHints(hints))
  .openapi(redeliverRoute, async (c) => {
    const { webhookId, deliveryId } = c.req.valid("param");
    const db = c.var.db;
    await db`select app.redeliver_webhook(${webhookId}, ${deliveryId})`;
    const [delivery] = await db<z.infer<typeof Delivery>[]>`
      select ${db.unsafe(deliverySelect)} from app.webhook_deliveries d
      join app.webhook_events e on e.org_id = d.org_id and e.id = d.event_id
      where d.id = ${deliveryId}`;
    return reply(c, { delivery: delivery! }, {
      next_steps: [`GET /api/openclaw/webhooks/${webhookId}/deliveries?status=pending shows it until it is sent`],
    });
  });
