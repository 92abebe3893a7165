// Touchpoints: a lead's interaction log (email, call, meeting, …). Logging one moves the
// lead's last_touch_at forward, which is what clears "stalled": the database does that
// (app._touch_lead), refuses interactions dated in the future and keeps other orgs'
// leads unreachable (touchpoints_lead_fkey answers 404). This file validates, calls,
// reads the lead's last touch back from the same transaction and shapes the reply.
import { createRoute, z } from "@hono/zod-openapi";
import { boundedJson, jsonBody, jsonObject } from "../http/body.ts";
import { jsonCaps } from "../http/caps.ts";
import { touchpointDirections, touchpointTypes } from "../http/enums.ts";
import { notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const typeList = touchpointTypes.join(", ");
const TouchpointType = z.enum(touchpointTypes, { error: `must be one of: ${typeList}` });
const LeadId = z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" });

const createFields = {
  leadId: LeadId,
  type: TouchpointType.optional().openapi({ description: "What kind of interaction. Required unless channel is sent.", example: "call" }),
  channel: TouchpointType.optional().openapi({ description: "Alias of type." }),
  direction: z.enum(touchpointDirections, { error: "must be inbound or outbound" }).nullable().optional(),
  summary: z.string().trim().max(10_000).nullable().optional().openapi({ example: "Discovery call: budget approved, demo booked." }),
  occurredAt: z.iso.datetime({ offset: true, error: "must be an ISO 8601 time with a zone, e.g. 2026-01-31T14:00:00Z" }).optional()
    .openapi({ description: "When it happened; default now. At most 5 minutes in the future." }),
  metadata: boundedJson(jsonCaps.touchpointMetadata, {
    description: "Anything else worth keeping (message id, recording URL, duration, …).",
    hint: "Keep metadata to references and short facts (ids, URLs, durations); put a transcript or long text in a note: POST /api/openclaw/notes.",
    example: { durationMinutes: 25 },
  }).optional(),
};
const CreateTouchpoint = z.looseObject(createFields)
  .refine((b) => b.type !== undefined || b.channel !== undefined, { message: "is required (or send channel)", path: ["type"] })
  .openapi("CreateTouchpointRequest");

const Touchpoint = z.object({
  id: z.string(),
  leadId: z.string(),
  type: z.enum(touchpointTypes),
  channel: z.enum(touchpointTypes).openapi({ description: "Same as type." }),
  direction: z.enum(touchpointDirections).nullable(),
  summary: z.string().nullable(),
  occurredAt: z.string(),
  metadata: jsonObject,
  source: z.string().openapi({ description: "Where it was logged from: api, sql, or an integration's name." }),
  createdBy: z.string().openapi({ description: "The API key (or actor, or database user) that logged it." }),
  createdAt: z.string(),
}).openapi("Touchpoint");
type TouchpointRow = z.infer<typeof Touchpoint>;

const LoggedReply = envelope({
  id: z.string(),
  touchpoint: Touchpoint,
  lead: z.object({
    id: z.string(),
    lastTouchAt: z.string().nullable().openapi({ description: "The lead's last touch as the database now has it." }),
  }),
}).openapi("LoggedTouchpointReply");

const ListQuery = z.object({
  leadId: LeadId,
  type: TouchpointType.optional(),
  channel: TouchpointType.optional().openapi({ description: "Alias of type." }),
  ...pageQuery,
});
const ListReply = envelope({
  leadId: z.string(),
  lastTouchAt: z.string().nullable(),
  touchpoints: z.array(Touchpoint),
  ...pageFields,
}).openapi("TouchpointListReply");

const typeHint = `type (or its alias channel) is one of: ${typeList}.`;
const hints = {
  leadId: "Pass the lead's id as leadId (e.g. leadId=rp_…); GET /api/openclaw/leads lists your leads.",
  type: typeHint,
  channel: typeHint,
  occurredAt: "Send occurredAt as an ISO 8601 time with a zone (2026-01-31T14:00:00Z), or leave it out for now.",
};

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const touchpointSelect = `
  id, lead_id as "leadId", type, type as channel, direction, summary, occurred_at as "occurredAt",
  metadata, source, created_by as "createdBy", created_at as "createdAt"`;

const deletedLeadWarning = (leadId: string) =>
  `Lead ${leadId} is soft-deleted; its touchpoints stay with it (restore: PATCH /api/openclaw/leads/${leadId} { "restore": true })`;

function aliasWarning(type: string | undefined, channel: string | undefined): string[] {
  return type !== undefined && channel !== undefined && type !== channel
    ? [`Both type (${type}) and channel (${channel}) were sent; type was used`]
    : [];
}

const listNext = (leadId: string) => `GET /api/openclaw/touchpoints?leadId=${leadId} shows the lead's history`;

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  operationId: "listTouchpoints",
  method: "get", path: "/touchpoints", tags: ["Touchpoints"], summary: "A lead's interaction history, newest first",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of the lead's touchpoints and its last touch."), ...notFoundError, ...commonErrors },
});
const logRoute = createRoute({
  operationId: "logTouchpoint",
  method: "post", path: "/touchpoints", tags: ["Touchpoints"], summary: "Log an interaction (moves the lead's last touch forward, clearing stalled)",
  security: bearerAuth, middleware: [tenantTransaction, idempotency],
  request: jsonBody(CreateTouchpoint),
  responses: { 201: json(LoggedReply, "Touchpoint logged."), ...notFoundError, ...idempotencyError, ...commonErrors },
});

export const touchpointsRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const type = query.type ?? query.channel;
    const page = await pageOf(c, query, {
      list: "/touchpoints",
      sort: [{ sql: "occurred_at", type: "timestamptz", desc: true }, { sql: "created_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
      filters: { leadId: query.leadId, type },
    });
    const where = type !== undefined ? db`lead_id = ${query.leadId} and type = ${type}` : db`lead_id = ${query.leadId}`;
    const [[lead], fetched, [count]] = await Promise.all([
      db<{ lastTouchAt: string | null; deleted: boolean }[]>`
        select last_touch_at as "lastTouchAt", deleted_at is not null as deleted from app.leads where id = ${query.leadId}`,
      db<TouchpointRow[]>`
        select ${db.unsafe(touchpointSelect)}, ${page.keys(db)} from app.touchpoints where ${where} and ${page.after(db)}
        order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.touchpoints where ${where}`,
    ]);
    if (!lead) throw notFound("Lead", query.leadId);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { leadId: query.leadId, lastTouchAt: lead.lastTouchAt, touchpoints: rows, ...page.fields(total) }, {
      warnings: [
        ...page.warnings,
        ...aliasWarning(query.type, query.channel),
        ...(lead.deleted ? [deletedLeadWarning(query.leadId)] : []),
      ],
      next_steps: [
        ...page.next("/touchpoints", { leadId: query.leadId, type }),
        ...(total === 0 ? [`POST /api/openclaw/touchpoints { "leadId": "${query.leadId}", "type": "email" } to log one`] : []),
      ],
    });
  }, validationWithHints(hints))
  .openapi(logRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = {
      lead_id: input.leadId,
      type: (input.type ?? input.channel)!,
      ...(input.direction !== undefined ? { direction: input.direction } : {}),
      ...(input.summary !== undefined ? { summary: input.summary } : {}),
      ...(input.occurredAt !== undefined ? { occurred_at: input.occurredAt } : {}),
      ...(input.metadata !== undefined ? { metadata: db.json(input.metadata as never) } : {}),
    };
    // The lead's last touch is moved by a trigger at the end of the insert, so it is read
    // back by the next statement of this transaction.
    const [touchpoint] = await db<TouchpointRow[]>`insert into app.touchpoints ${db(values)} returning ${db.unsafe(touchpointSelect)}`;
    const [lead] = await db<{ lastTouchAt: string | null; deleted: boolean; older: boolean }[]>`
      select l.last_touch_at as "lastTouchAt", l.deleted_at is not null as deleted, l.last_touch_at > t.occurred_at as older
      from app.touchpoints t join app.leads l on l.id = t.lead_id
      where t.id = ${touchpoint!.id}`;
    const leadId = touchpoint!.leadId;
    return reply(c, { id: touchpoint!.id, touchpoint: touchpoint!, lead: { id: leadId, lastTouchAt: lead!.lastTouchAt } }, {
      warnings: [
        ...aliasWarning(input.type, input.channel),
        ...(lead!.older ? ["This touchpoint is older than the lead's last touch, which stays as it was (last touch only moves forward)"] : []),
        ...(lead!.deleted ? [deletedLeadWarning(leadId)] : []),
        ...ignoredFieldWarnings(input, Object.keys(createFields), "Put extra data in metadata."),
      ],
      next_steps: [listNext(leadId)],
    }, 201);
  }, validationWithHints(hints));
