// Stage sync sources: outside systems (Gmail via Pub/Sub, an SDR tool, a form, any webhook)
// that create or update leads and move them through the pipeline by posting to their own
// inbound URL (routes/inbound.ts). The rules live in the database (app.sync_sources, its
// checks, app.create_sync_source, app.update_sync_source); this file validates, calls and
// shapes the reply, including how the sender must authenticate.
//
// POST does not honour Idempotency-Key: its answer carries the secret, which is never stored
// for a replay. Names are unique per workspace, so a retried create answers 409 naming the
// source that exists.
import { createRoute, z } from "@hono/zod-openapi";
import type { AppConfig } from "../config.ts";
import type { Tx } from "../db.ts";
import { capped, jsonBody } from "../http/body.ts";
import { jsonCaps } from "../http/caps.ts";
import { type SyncSourceType, syncSourceTypes } from "../http/enums.ts";
import { notFound } from "../http/errors.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import { bearerAuth, commonErrors, conflictError, envelope, json, notFoundError, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { unknownFields, validationWithHints } from "../http/validation.ts";
import {
  authenticationGuide, hmacHowTo, inboundHeaders, inboundUrl, secretHowTo, SIGNATURE_TOLERANCE_SECONDS, standardHeaders, standardHowTo,
} from "../sync-sources/inbound.ts";

// ---------------------------------------------------------------------------
// How senders connect (the inbound URL and its authentication: sync-sources/inbound.ts)
// ---------------------------------------------------------------------------
const eventIdHowTo = `Give every event a unique id: ${standardHeaders.id} when you sign with Standard Webhooks (it is signed), otherwise ${inboundHeaders.eventId} (or eventId / event_id in the JSON body). A redelivery with the same id is answered with the first outcome and writes nothing; without an id, the body's SHA-256 is the id`;

/** What the sender has to do, step by step, given the credentials just issued. */
function setupSteps(type: SyncSourceType, url: string, secret: string): string[] {
  const store = "Store the secret now: it is shown only once (PUT /api/openclaw/stages/sync-sources { \"id\": …, \"rotateSecret\": true } issues a new one)";
  if (type === "gmail") {
    return [
      store,
      "In Google Cloud: create a Pub/Sub topic and have your forwarder (Apps Script trigger, Cloud Function on the Gmail watch) publish one message per email with data = JSON { \"event\": \"reply_received\" | \"email_received\" | \"email_sent\", \"from\", \"to\", \"subject\", \"snippet\", \"messageId\", \"threadId\", \"date\" }",
      `Create a push subscription on that topic with push endpoint ${url}?secret=${secret}`,
      "The lead is the other party: from (to for email_sent); Pub/Sub's messageId makes redeliveries idempotent. A raw Gmail watch notification ({ emailAddress, historyId }) is acknowledged and ignored",
      "Map events to stages with eventStages, e.g. { \"reply_received\": \"Engaged\" }; other events go to the source's stage",
    ];
  }
  const auth = type === "generic_webhook"
    ? [
      `POST each event as JSON to ${url}, signed with the secret. ${standardHowTo}`,
      `Or sign as first documented: ${hmacHowTo}`,
      `Sign each delivery, retries included, when it is sent: a timestamp more than ${SIGNATURE_TOLERANCE_SECONDS / 60} minutes from our clock is refused`,
    ]
    : [`POST each event as JSON to ${url} and ${secretHowTo.replaceAll("<secret>", secret)}`];
  return [
    store,
    ...auth,
    eventIdHowTo,
    "The lead is matched by email (created when new); the payload fields are read as fieldMapping says, and eventStages picks the stage per event",
  ];
}

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const SourceType = z.enum(syncSourceTypes, { error: `must be one of: ${syncSourceTypes.join(", ")}` });
const Name = z.string().trim().min(1).max(100).openapi({ example: "Website contact form" });
const StageRef = z.string().trim().min(1).max(100).openapi({ description: "A stage name or id.", example: "Leads" });
const EventName = z.string().min(1).max(100);
const MappingPath = z.union([
  z.string().trim().min(1).max(200),
  z.array(z.string().trim().min(1).max(200)).min(1).max(10),
], { error: "must be a payload path (\"contact.email\") or a list of 1-10 paths" });
const FieldMapping = z.record(z.string(), MappingPath.nullable()).openapi({
  description: "Field -> payload path (dot-separated, digits index arrays) or list of paths (first with a value wins); null removes a field. "
    + "Fields: email (required), firstName, lastName, name (full name, split), organizationName, businessType, phone, title, companyName, linkedinUrl, "
    + "event, occurredAt, summary, direction. Defaults per type fill the rest.",
  example: { email: "contact.email", firstName: "contact.first_name", organizationName: "company" },
});

const eventStagesHint = "Map only the events the source sends to a stage each; remove events you no longer use with null.";

const createFields = {
  name: Name,
  type: SourceType.openapi({ description: "gmail (Pub/Sub push), api_sdr, form_webhook (shared secret), generic_webhook (HMAC-signed)." }),
  stage: StageRef.optional().openapi({ description: "Where the source's leads go unless eventStages says otherwise (name or id); default: the workspace's default stage." }),
  eventStages: capped(z.record(EventName, StageRef), jsonCaps.eventStages, {
    description: "Event name -> stage (name or id).", hint: eventStagesHint,
    example: { reply_received: "Engaged", meeting_booked: "Negotiated" },
  }).optional(),
  fieldMapping: FieldMapping.optional(),
  enabled: z.boolean().optional().openapi({ description: "Default true; a disabled source refuses events with 409." }),
};
const CreateSyncSource = z.looseObject(createFields).openapi("CreateSyncSourceRequest");

const updateFields = {
  id: z.string().trim().min(1).max(100).openapi({ example: "ss_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  name: Name.optional(),
  stage: StageRef.optional(),
  eventStages: capped(z.record(EventName, StageRef.nullable()), jsonCaps.eventStages, {
    description: "Merged into the current map; null removes an event.", hint: eventStagesHint,
  }).optional(),
  fieldMapping: FieldMapping.optional().openapi({ description: "Merged into the current mapping; null removes a field (email cannot be removed)." }),
  enabled: z.boolean().optional(),
  rotateSecret: z.boolean().optional().openapi({ description: "Issue a new secret (returned once); the old one stops working at once." }),
  rotateToken: z.boolean().optional().openapi({ description: "Issue a new inbound URL; the old one answers 404 from now on." }),
};
const UpdateSyncSource = z.looseObject(updateFields).openapi("UpdateSyncSourceRequest");

const StageLink = z.object({ id: z.string(), name: z.string().nullable() });
const SyncSource = z.object({
  id: z.string(),
  name: z.string(),
  type: z.enum(syncSourceTypes),
  enabled: z.boolean(),
  stage: z.string(),
  stageId: z.string(),
  eventStages: z.record(z.string(), StageLink),
  fieldMapping: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
  inboundUrl: z.string().openapi({ description: "Where the sender POSTs events (no API key: the secret authenticates)." }),
  authentication: z.string().openapi({ description: "How the sender authenticates." }),
  lastEventAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("SyncSource");
type SyncSourceRow = Omit<z.infer<typeof SyncSource>, "inboundUrl" | "authentication"> & { inboundToken: string };

const credentials = {
  secret: z.string().openapi({ description: "whsec_…: shown only now. Store it with the sender." }),
  pushEndpoint: z.string().optional().openapi({ description: "gmail only: the Pub/Sub push endpoint, secret included." }),
};
const CreatedReply = envelope({ id: z.string(), syncSource: SyncSource, inboundUrl: z.string(), ...credentials }).openapi("CreatedSyncSourceReply");
const UpdatedReply = envelope({
  id: z.string(),
  syncSource: SyncSource,
  secret: credentials.secret.optional().openapi({ description: "Only when rotateSecret was sent." }),
  pushEndpoint: credentials.pushEndpoint,
}).openapi("UpdatedSyncSourceReply");
const DeletedReply = envelope({ id: z.string(), deleted: z.literal(true) }).openapi("DeletedSyncSourceReply");

const ListQuery = z.object({
  type: SourceType.optional(),
  ...pageQuery,
});
const ListReply = envelope({
  syncSources: z.array(SyncSource),
  ...pageFields,
}).openapi("SyncSourceListReply");
const DeleteQuery = z.object({ id: z.string().trim().min(1).max(100) });

const hints = {
  type: `type is one of: ${syncSourceTypes.join(", ")}.`,
  stage: "stage is the name or id of one of your stages (GET /api/openclaw/stages).",
  fieldMapping: "fieldMapping maps fields to payload paths, e.g. { \"email\": \"contact.email\", \"firstName\": [\"first_name\", \"contact.first_name\"] }.",
  eventStages: "eventStages maps event names to stages, e.g. { \"reply_received\": \"Engaged\" }.",
};

// ---------------------------------------------------------------------------
// Database access
// ---------------------------------------------------------------------------
const sourceSelect = `
  id, name, type, enabled, stage, stage_id as "stageId", event_stages as "eventStages",
  field_mapping as "fieldMapping", inbound_token as "inboundToken", last_event_at as "lastEventAt",
  created_at as "createdAt", updated_at as "updatedAt"`;

function present(config: AppConfig, row: SyncSourceRow): z.infer<typeof SyncSource> {
  const { inboundToken, ...rest } = row;
  return { ...rest, inboundUrl: inboundUrl(config, inboundToken), authentication: authenticationGuide(row.type) };
}

async function findSource(db: Tx, id: string): Promise<SyncSourceRow | undefined> {
  const [row] = await db<SyncSourceRow[]>`select ${db.unsafe(sourceSelect)} from app.sync_source_details where id = ${id}`;
  return row;
}

function ignoredFields(body: Record<string, unknown>, known: string[]): string[] {
  const ignored = unknownFields(body, known);
  if (ignored.length === 0) return [];
  const typeNote = ignored.includes("type") ? " The type of a source cannot change: create a new source instead." : "";
  return [`Ignored field(s): ${ignored.join(", ")}.${typeNote}`];
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const path = "/stages/sync-sources";
const tags = ["Sync sources"];

const listRoute = createRoute({
  operationId: "listSyncSources",
  method: "get", path, tags, summary: "List sync sources (never their secrets)",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of sync sources, oldest first."), ...commonErrors },
});
const createSourceRoute = createRoute({
  operationId: "createSyncSource",
  method: "post", path, tags, summary: "Create a sync source: returns its inbound URL and secret (shown once)",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(CreateSyncSource),
  responses: { 201: json(CreatedReply, "Sync source created; next_steps say how to connect the sender."), ...conflictError, ...commonErrors },
});
const updateRoute = createRoute({
  operationId: "updateSyncSource",
  method: "put", path, tags, summary: "Change a sync source, or rotate its secret or inbound URL",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(UpdateSyncSource),
  responses: { 200: json(UpdatedReply, "Sync source changed."), ...notFoundError, ...conflictError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "deleteSyncSource",
  method: "delete", path, tags, summary: "Delete a sync source (its inbound URL stops working)",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: DeleteQuery },
  responses: { 200: json(DeletedReply, "Sync source deleted."), ...notFoundError, ...commonErrors },
});

export const syncSourcesRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/stages/sync-sources",
      sort: [{ sql: "created_at", type: "timestamptz" }, { sql: "id", type: "text" }],
      filters: { type: query.type },
    });
    const where = query.type !== undefined ? db`type = ${query.type}` : db`true`;
    const [fetched, [count]] = await Promise.all([
      db<SyncSourceRow[]>`select ${db.unsafe(sourceSelect)}, ${page.keys(db)} from app.sync_source_details where ${where} and ${page.after(db)}
                          order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.sync_sources where ${where}`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { syncSources: rows.map((r) => present(c.var.config, r)), ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: [
        ...page.next("/stages/sync-sources", { type: query.type }),
        ...(total === 0 ? ["POST /api/openclaw/stages/sync-sources { \"name\": \"Website form\", \"type\": \"form_webhook\", \"stage\": \"Leads\" } connects a first source"] : []),
      ],
    });
  }, validationWithHints(hints))
  .openapi(createSourceRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const [created] = await db<{ id: string; secret: string }[]>`
      select id, secret from app.create_sync_source(${input.name}, ${input.type}, ${input.stage ?? null},
        ${input.eventStages === undefined ? null : db.json(input.eventStages)},
        ${input.fieldMapping === undefined ? null : db.json(input.fieldMapping as never)}, ${input.enabled ?? true})`;
    const syncSource = present(c.var.config, (await findSource(db, created!.id))!);
    const secret = created!.secret;
    const warnings = ignoredFields(input, Object.keys(createFields));
    if (c.req.header("idempotency-key") !== undefined) {
      warnings.push("Idempotency-Key is not honoured here (the answer holds the secret, which is never stored): a retry answers 409 naming this source");
    }
    if (!syncSource.enabled) warnings.push("The source is disabled: it refuses events until enabled");
    if (input.stage === undefined) {
      warnings.push(`No stage given: the source's leads go to the workspace's default stage "${syncSource.stage}" (change it with PUT /api/openclaw/stages/sync-sources { "id": "${syncSource.id}", "stage": "…" })`);
    }
    return reply(c, {
      id: syncSource.id, syncSource, inboundUrl: syncSource.inboundUrl, secret,
      ...(syncSource.type === "gmail" ? { pushEndpoint: `${syncSource.inboundUrl}?secret=${secret}` } : {}),
    }, { warnings, next_steps: setupSteps(syncSource.type, syncSource.inboundUrl, secret) }, 201);
  }, validationWithHints(hints))
  .openapi(updateRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const warnings = ignoredFields(input, Object.keys(updateFields));
    const changes = Object.fromEntries(Object.entries(input).filter(([k, v]) => v !== undefined && k !== "id" && k in updateFields));
    if (Object.keys(changes).length === 0) warnings.push("Nothing to change: send name, stage, eventStages, fieldMapping, enabled, rotateSecret or rotateToken");
    const [updated] = await db<{ id: string; secret: string | null }[]>`
      select id, secret from app.update_sync_source(${input.id}, ${db.json(changes as never)})`;
    const syncSource = present(c.var.config, (await findSource(db, updated!.id))!);
    const secret = updated!.secret;
    const next_steps: string[] = [];
    if (secret !== null) {
      warnings.push("New secret issued: the old one no longer works. It is shown only now");
      next_steps.push(...setupSteps(syncSource.type, syncSource.inboundUrl, secret).slice(1));
    }
    if (input.rotateToken) {
      warnings.push(`New inbound URL issued: the old one answers 404 from now on. Point the sender at ${syncSource.inboundUrl}`);
    }
    return reply(c, {
      id: syncSource.id, syncSource,
      ...(secret !== null ? { secret } : {}),
      ...(secret !== null && syncSource.type === "gmail" ? { pushEndpoint: `${syncSource.inboundUrl}?secret=${secret}` } : {}),
    }, { warnings, next_steps });
  }, validationWithHints(hints))
  .openapi(deleteRoute, async (c) => {
    const { id } = c.req.valid("query");
    const [row] = await c.var.db`delete from app.sync_sources where id = ${id} returning id`;
    if (!row) throw notFound("Sync source", id);
    return reply(c, { id, deleted: true as const }, {
      warnings: ["Its inbound URL now answers 404; leads and touchpoints it created stay"],
    });
  });
