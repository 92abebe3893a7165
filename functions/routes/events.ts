// Engagement events: the signals agents observe (quiz completed, proposal viewed, video
// watched, CTA clicked, meeting booked, email opened/replied/bounced, …). Touchpoints are
// the human interaction log; logging one already records touch_logged, and a stage move
// stage_changed, so those two are not recordable here. The database checks the type
// (app.require_event_type, hint from app.event_types), the lead, the data ranges and the
// externalId dedup, and rescores the lead; this file validates, calls and shapes the reply.
import { createRoute, z } from "@hono/zod-openapi";
import { boundedJson, jsonBody, jsonObject } from "../http/body.ts";
import { jsonCaps } from "../http/caps.ts";
import { type ScoreLabel, scoreLabels } from "../http/enums.ts";
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
const LeadId = z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" });
const EventType = z.string({ error: "is required" }).min(1).max(100)
  .openapi({ description: "quiz_completed, proposal_viewed, video_watched, cta_clicked, meeting_booked, meeting_canceled, email_sent, email_opened, email_replied, email_bounced or unsubscribed.", example: "proposal_viewed" });

const recordFields = {
  leadId: LeadId,
  type: EventType,
  data: boundedJson(jsonCaps.eventData, {
    description: "Details: quiz_completed { score: 0-100 }, proposal_viewed { seconds }, video_watched { percent: 0-100 }, cta_clicked { cta }, meeting_booked { startsAt, url }.",
    hint: "Keep data to the event's details; put large content in a note (POST /api/openclaw/notes).",
    example: { seconds: 95 },
  }).optional(),
  occurredAt: z.iso.datetime({ offset: true, error: "must be an ISO 8601 time with a zone, e.g. 2026-01-31T14:00:00Z" }).optional()
    .openapi({ description: "When the lead did it; default now. At most 5 minutes in the future." }),
  externalId: z.string().min(1).max(300).optional()
    .openapi({ description: "Your id for the event (beacon, webhook or message id): recording it again is answered with the first event (duplicate: true) and counts nothing twice." }),
};
const RecordEvent = z.looseObject(recordFields).openapi("RecordEventRequest");

const RecordedReply = envelope({
  eventId: z.string(),
  duplicate: z.boolean().openapi({ description: "true: this externalId was recorded before; nothing new was counted." }),
  leadId: z.string(),
  type: z.string(),
  score: z.number().int().nullable().openapi({ description: "The lead's confidence score after the event." }),
  label: z.enum(scoreLabels).nullable(),
}).openapi("RecordedEventReply");

const Event = z.object({
  id: z.string(),
  leadId: z.string(),
  type: z.string(),
  occurredAt: z.string(),
  data: jsonObject,
  source: z.string().openapi({ description: "api, sql, or the integration that recorded it." }),
  actor: z.string(),
  externalId: z.string().nullable(),
  createdAt: z.string(),
}).openapi("Event");
type EventRow = z.infer<typeof Event>;

const ListQuery = z.object({
  leadId: LeadId.optional().openapi({ description: "One lead's events; leave out for the whole workspace." }),
  type: EventType.optional(),
  ...pageQuery,
});
const ListReply = envelope({
  events: z.array(Event),
  ...pageFields,
}).openapi("EventListReply");

const hints = {
  leadId: "Pass the lead's id as leadId (rp_…); GET /api/openclaw/leads lists your leads.",
  type: "type names the signal, e.g. proposal_viewed, quiz_completed or meeting_booked.",
  occurredAt: "Send occurredAt as an ISO 8601 time with a zone (2026-01-31T14:00:00Z), or leave it out for now.",
  data: "data is a JSON object, e.g. { \"score\": 80 } for quiz_completed.",
  externalId: "externalId is 1-300 characters.",
};

const eventSelect = `
  id, lead_id as "leadId", type, occurred_at as "occurredAt", data, source, actor,
  external_id as "externalId", created_at as "createdAt"`;

interface Recorded {
  id: string;
  duplicate: boolean;
  leadId: string;
  type: string;
  score: number | null;
  label: ScoreLabel | null;
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const recordRoute = createRoute({
  operationId: "recordEvent",
  method: "post", path: "/events", tags: ["Events"], summary: "Record an engagement signal (rescores the lead)",
  security: bearerAuth, middleware: [tenantTransaction, idempotency],
  request: jsonBody(RecordEvent),
  responses: {
    201: json(RecordedReply, "Event recorded; the lead's score after it."),
    200: json(RecordedReply, "Duplicate externalId: the first event, nothing counted twice."),
    ...notFoundError, ...idempotencyError, ...commonErrors,
  },
});
const listRoute = createRoute({
  operationId: "listEvents",
  method: "get", path: "/events", tags: ["Events"], summary: "Engagement events, newest first (one lead or the whole workspace)",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of events."), ...notFoundError, ...commonErrors },
});

export const eventsRoutes = createRouter()
  .openapi(recordRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const [row] = await db<{ recorded: Recorded }[]>`
      select app.record_event(${input.leadId}, ${input.type}, ${db.json((input.data ?? {}) as never)},
        ${input.occurredAt ?? null}, ${input.externalId ?? null}) as recorded`;
    const r = row!.recorded;
    const body = { eventId: r.id, duplicate: r.duplicate, leadId: r.leadId, type: r.type, score: r.score, label: r.label };
    const guidance = {
      warnings: [
        ...(r.duplicate ? [`Event ${r.id} already has this externalId; nothing was recorded or counted again`] : []),
        ...ignoredFieldWarnings(input, Object.keys(recordFields), "Put extra details in data."),
      ],
      next_steps: [
        `POST /api/openclaw/leads/score { "leadId": "${r.leadId}" } explains the score factor by factor`,
        `GET /api/openclaw/events?leadId=${r.leadId} lists the lead's events`,
      ],
    };
    return r.duplicate ? reply(c, body, guidance, 200) : reply(c, body, guidance, 201);
  }, validationWithHints(hints))
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/events",
      sort: [{ sql: "occurred_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
      filters: { leadId: query.leadId, type: query.type },
    });
    if (query.type !== undefined) await db`select app.require_event_type(${query.type}, false)`;
    if (query.leadId !== undefined) {
      const [lead] = await db`select 1 from app.leads where id = ${query.leadId}`;
      if (!lead) throw notFound("Lead", query.leadId);
    }
    const conditions = [
      ...(query.leadId !== undefined ? [db`lead_id = ${query.leadId}`] : []),
      ...(query.type !== undefined ? [db`type = ${query.type}`] : []),
    ];
    const where = conditions.reduce((acc, cond) => db`${acc} and ${cond}`, db`true`);
    const [fetched, [count]] = await Promise.all([
      db<EventRow[]>`select ${db.unsafe(eventSelect)}, ${page.keys(db)} from app.events where ${where} and ${page.after(db)}
        order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.events where ${where}`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { events: rows, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: page.next("/events", { leadId: query.leadId, type: query.type }),
    });
  }, validationWithHints(hints));
