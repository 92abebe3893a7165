// Feedback: agents file bugs, errors and requests; the platform operator (EIR, with the
// deployment's admin key) answers with a status and a response; the org reads answers
// here and in GET /health, and acknowledges them. Who may change what is decided in the
// database (app.feedback's column grants and policies, app.respond_to_feedback); this
// file picks the caller's path, validates, calls and shapes the reply.
import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { acknowledgeStep } from "../feedback/responses.ts";
import { adminTransaction, isAdminRequest } from "../http/admin.ts";
import { boundedJson, jsonBody, jsonObject } from "../http/body.ts";
import { jsonCaps } from "../http/caps.ts";
import type { AppEnv } from "../http/context.ts";
import { feedbackPriorities, feedbackStatuses, feedbackTypes } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, envelope, errorResponse, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { unknownFields } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const createFields = {
  type: z.enum(feedbackTypes).openapi({ example: "bug" }),
  agent: z.string().trim().min(1).max(200).optional().openapi({ example: "your-agent-name" }),
  priority: z.enum(feedbackPriorities).optional().openapi({ description: "Default medium." }),
  title: z.string().trim().min(1).max(300).openapi({ example: "API Error: POST /api/openclaw/enrich" }),
  description: z.string().max(20_000).optional(),
  context: boundedJson(jsonCaps.feedbackContext, {
    description: "Anything that helps reproduce: endpoint, statusCode, errorMessage, requestBody.",
    hint: "Shorten context: keep the endpoint, status code and error, and cut long values such as requestBody down to the fields that matter; longer explanations go in description.",
    example: { endpoint: "/api/openclaw/enrich", statusCode: 500 },
  }).optional(),
};
const CreateFeedback = z.looseObject(createFields).openapi("CreateFeedbackRequest");

const patchFields = {
  acknowledged: z.literal(true).optional().openapi({ description: "Workspace keys: mark the response as read (the only change a workspace may make)." }),
  status: z.enum(feedbackStatuses).optional().openapi({ description: "Operator (EIR admin key) only." }),
  response: z.string().trim().min(1).max(20_000).optional().openapi({ description: "Operator only. Shown to the workspace in GET /health until acknowledged." }),
  responder: z.string().trim().min(1).max(200).optional().openapi({ description: "Operator only: who answered (default \"eir\")." }),
};
const PatchFeedback = z.looseObject(patchFields).openapi("PatchFeedbackRequest");

const Feedback = z.object({
  id: z.string(),
  orgId: z.string(),
  type: z.enum(feedbackTypes),
  agent: z.string().nullable(),
  priority: z.enum(feedbackPriorities),
  title: z.string(),
  description: z.string().nullable(),
  context: jsonObject,
  status: z.enum(feedbackStatuses),
  response: z.string().nullable(),
  respondedAt: z.string().nullable(),
  respondedBy: z.string().nullable(),
  acknowledgedAt: z.string().nullable(),
  unread: z.boolean().openapi({ description: "A response the workspace has not acknowledged since it was given." }),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Feedback");
type FeedbackRow = z.infer<typeof Feedback>;

const CreatedReply = envelope({ feedbackId: z.string(), feedback: Feedback }).openapi("CreatedFeedbackReply");
const FeedbackReply = envelope({ feedbackId: z.string(), feedback: Feedback }).openapi("FeedbackReply");

const ListQuery = z.object({
  status: z.enum(feedbackStatuses).optional(),
  type: z.enum(feedbackTypes).optional(),
  id: z.string().min(1).max(100).optional().openapi({ example: "fb_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  unread: z.enum(["true", "false"]).transform((v) => v === "true").optional().openapi({ description: "Only items with (true) or without (false) an unread response." }),
  orgId: z.string().min(1).max(100).optional().openapi({ description: "Operator: one workspace's feedback. A workspace key only ever sees its own." }),
  ...pageQuery,
});
const ListReply = envelope({
  feedback: z.array(Feedback),
  ...pageFields,
}).openapi("FeedbackListReply");

const IdParam = z.object({ id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" }, example: "fb_3f9c0a1b2c3d4e5f6a7b8c9d" }) });

const forbiddenError = { 403: errorResponse("Only the operator (EIR admin key) may do that, or operator access is not configured.") } as const;

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const feedbackSelect = `
  id, org_id as "orgId", type, agent, priority, title, description, context, status, response,
  responded_at as "respondedAt", responded_by as "respondedBy", acknowledged_at as "acknowledgedAt",
  unread, created_at as "createdAt", updated_at as "updatedAt"`;

const ignoredFields = (body: Record<string, unknown>, known: string[]) => {
  const ignored = unknownFields(body, known);
  return ignored.length === 0 ? [] : [`Ignored unknown field(s): ${ignored.join(", ")}`];
};

const eirOnly = (id: string) =>
  new ApiError(403, "eir_only", "Only ClawCRM EIR (the platform operator) can set status or response",
    `A workspace key may only acknowledge a response: PATCH /api/openclaw/feedback/${id} { "acknowledged": true }. To add information, POST /api/openclaw/feedback with a new item that mentions ${id}.`);

/** Workspace keys go through the tenant transaction; any other bearer token is the operator's. */
const tenantOrAdmin = createMiddleware<AppEnv>((c, next) =>
  isAdminRequest(c) ? adminTransaction(c, next) : tenantTransaction(c, next));

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const createFeedbackRoute = createRoute({
  operationId: "submitFeedback",
  method: "post", path: "/feedback", tags: ["Feedback"], summary: "Report a bug, error, question or request to ClawCRM EIR",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(CreateFeedback),
  responses: { 201: json(CreatedReply, "Feedback filed."), ...idempotencyError, ...commonErrors },
});
const listRoute = createRoute({
  operationId: "listFeedback",
  method: "get", path: "/feedback", tags: ["Feedback"],
  summary: "Your feedback and EIR's responses (with the operator key: every workspace's)",
  security: bearerAuth, middleware: [tenantOrAdmin], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of feedback, newest first."), ...commonErrors, ...forbiddenError },
});
const patchRoute = createRoute({
  operationId: "updateFeedback",
  method: "patch", path: "/feedback/{id}", tags: ["Feedback"],
  summary: "Workspace: acknowledge a response ({ acknowledged: true }). Operator: set status and response",
  security: bearerAuth, middleware: [tenantOrAdmin], request: { params: IdParam, ...jsonBody(PatchFeedback) },
  responses: { 200: json(FeedbackReply, "Feedback updated."), ...notFoundError, ...commonErrors, ...forbiddenError },
});

export const feedbackRoutes = createRouter()
  .openapi(createFeedbackRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = {
      type: input.type,
      title: input.title,
      ...(input.agent !== undefined ? { agent: input.agent } : {}),
      ...(input.priority !== undefined ? { priority: input.priority } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.context !== undefined ? { context: db.json(input.context as never) } : {}),
    };
    const [row] = await db<FeedbackRow[]>`insert into app.feedback ${db(values)} returning ${db.unsafe(feedbackSelect)}`;
    const feedback = row!;
    return reply(c, { feedbackId: feedback.id, feedback }, {
      warnings: ignoredFields(input, Object.keys(createFields)),
      next_steps: [
        `GET /api/openclaw/feedback?id=${feedback.id} to check for a response`,
        "GET /api/openclaw/health at session start shows responses",
      ],
    }, 201);
  })
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/feedback",
      sort: [{ sql: "created_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
      filters: { status: query.status, type: query.type, id: query.id, unread: query.unread, orgId: query.orgId },
    });
    // A workspace key reads under row-level security (its own org only); the operator reads every org.
    const filters = [
      db`true`,
      ...(query.status !== undefined ? [db`status = ${query.status}`] : []),
      ...(query.type !== undefined ? [db`type = ${query.type}`] : []),
      ...(query.id !== undefined ? [db`id = ${query.id}`] : []),
      ...(query.unread !== undefined ? [db`unread = ${query.unread}`] : []),
      ...(query.orgId !== undefined ? [db`org_id = ${query.orgId}`] : []),
    ];
    const where = filters.reduce((all, f) => db`${all} and ${f}`);
    const [fetched, [count]] = await Promise.all([
      db<FeedbackRow[]>`select ${db.unsafe(feedbackSelect)}, ${page.keys(db)} from app.feedback where ${where} and ${page.after(db)}
                        order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.feedback where ${where}`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { feedback: rows, ...page.fields(total) }, {
      warnings: [
        ...page.warnings,
        ...(query.id !== undefined && total === 0
          ? [`No feedback ${query.id} matches${isAdminRequest(c) ? "" : " in this workspace (ids belong to one workspace)"}`] : []),
      ],
      next_steps: [
        ...(isAdminRequest(c) ? [] : rows.filter((r) => r.unread).map((r) => acknowledgeStep(r.id))),
        ...page.next("/feedback", {
          status: query.status, type: query.type, id: query.id,
          unread: query.unread === undefined ? undefined : String(query.unread), orgId: query.orgId,
        }),
      ],
    });
  })
  .openapi(patchRoute, async (c) => {
    const { id } = c.req.valid("param");
    const input = c.req.valid("json");
    const db = c.var.db;
    const warnings = ignoredFields(input, Object.keys(patchFields));

    if (isAdminRequest(c)) {
      if (input.acknowledged !== undefined) warnings.push("acknowledged was ignored: acknowledging is the workspace's receipt of a response");
      const [row] = await db<FeedbackRow[]>`
        select ${db.unsafe(feedbackSelect)}
        from app.respond_to_feedback(${id}, ${input.status ?? null}, ${input.response ?? null}, ${input.responder ?? null})`;
      return reply(c, { feedbackId: id, feedback: row! }, {
        warnings,
        next_steps: input.response !== undefined
          ? [`The workspace sees this response in GET /api/openclaw/health (unread_responses) until it sends ${acknowledgeStep(id)}`]
          : [],
      });
    }

    if (input.status !== undefined || input.response !== undefined || input.responder !== undefined) throw eirOnly(id);
    if (input.acknowledged !== true) {
      throw new ApiError(400, "nothing_to_change", "Send { \"acknowledged\": true } to mark the response as read",
        `A workspace key may only acknowledge responses: PATCH /api/openclaw/feedback/${id} { "acknowledged": true }.`);
    }
    const [row] = await db<FeedbackRow[]>`
      update app.feedback set acknowledged_at = now() where id = ${id} returning ${db.unsafe(feedbackSelect)}`;
    if (!row) throw notFound("Feedback", id);
    if (row.response === null) warnings.push("There is no response to acknowledge yet; a response given later will still show as unread");
    return reply(c, { feedbackId: id, feedback: row }, { warnings });
  });
