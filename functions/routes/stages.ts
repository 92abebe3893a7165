// Pipeline stages: list (with live lead counts), create, change or reorder, delete (moving
// the stage's leads), and a lead's stage history. Each stage also carries its outcome
// (open/won/lost) and stallAfterDays, the threshold stalled detection uses. The rules live in the database
// (app.create_stage, app.update_stage, app.reorder_stages, app.delete_stage, the
// one-default-stage triggers); this file validates, calls and shapes the reply.
//
// /stages/history is registered here before anything parameterised; /stages/sync-sources
// has its own router, registered before this one.
import { createRoute, z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import { stageOutcomes } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const hexColor = z.string().regex(/^#[0-9A-Fa-f]{6}$/, "must be a hex colour like #1A2B3C");
const StageName = z.string().trim().min(1).max(100).openapi({ example: "Qualified" });
const StageRef = z.string().trim().min(1).max(100).openapi({ description: "A stage id (stg_…) or name.", example: "stg_3f9c0a1b2c3d4e5f6a7b8c9d" });
const Index = z.number().int().min(0).max(10_000);
const StallAfterDays = z.number().int().min(1).max(365).nullable()
  .openapi({ description: "Days without a touch after which a lead here is stalled (GET /leads/stalled); null = never. Won and lost stages never stall.", example: 5 });
const Outcome = z.enum(stageOutcomes, { error: "must be open, won or lost" }).nullable()
  .openapi({ description: "open (in play), won or lost (closed deals: never stalled). null or left out on create: taken from the name (\"Closed Won\" → won)." });
/** The pipeline rules a stage carries besides its place and look. */
const ruleFields = { stallAfterDays: StallAfterDays.optional(), outcome: Outcome.optional() };
const ruleKeys = Object.keys(ruleFields) as (keyof typeof ruleFields)[];

const createFields = {
  name: StageName,
  order: Index.optional().openapi({ description: "Place in the pipeline, 0 first; default last. Later stages shift down." }),
  color: hexColor.nullable().optional(),
  isDefault: z.boolean().optional().openapi({ description: "New leads land here; the flag moves from the current default stage." }),
  ...ruleFields,
};
const CreateStage = z.looseObject(createFields).openapi("CreateStageRequest");

const updateFields = {
  id: StageRef.optional().openapi({ description: "The stage to change (id or current name). Leave out to reorder." }),
  name: StageName.optional().openapi({ description: "New name; the stage's leads stay attached." }),
  order: z.union([Index, z.array(StageRef).min(1).max(500)], {
    error: "must be the stage's new index (0 first) or, to reorder the pipeline, the list of every stage id",
  }).optional().openapi({ description: "With id: the stage's new index (0 first; the others shift). Without id: the whole pipeline, every stage id (or name) once, first to last." }),
  color: hexColor.nullable().optional().openapi({ description: "#RRGGBB, or null to clear." }),
  isDefault: z.boolean().optional().openapi({ description: "true moves the default flag here; the default stage cannot be unmarked, only replaced." }),
  ...ruleFields,
};
const UpdateStage = z.looseObject(updateFields).openapi("UpdateStageRequest");

const Stage = z.object({
  id: z.string(),
  name: z.string(),
  order: z.number().int(),
  color: z.string().nullable(),
  isDefault: z.boolean(),
  outcome: z.enum(stageOutcomes),
  stallAfterDays: z.number().int().nullable().openapi({ description: "Days without a touch before a lead here is stalled; null = never." }),
  leadCount: z.number().int().openapi({ description: "Live (not soft-deleted) leads in the stage." }),
}).openapi("PipelineStage");
type StageRow = z.infer<typeof Stage>;

const ListQuery = z.object(pageQuery);
const ListReply = envelope({
  stages: z.array(Stage).openapi({ description: "In pipeline order." }),
  ...pageFields,
}).openapi("StageListReply");

const StageReply = envelope({
  id: z.string(),
  stage: Stage,
  stages: z.array(Stage).openapi({ description: "The whole pipeline after the change, in order." }),
}).openapi("StageReply");
const ReorderReply = envelope({ stages: z.array(Stage) }).openapi("StageReorderReply");

const DeleteQuery = z.object({
  id: StageRef,
  moveTo: StageRef.optional().openapi({ description: "Stage (id or name) that receives the deleted stage's leads; required when it holds any, soft-deleted ones included." }),
});
const DeletedReply = envelope({
  id: z.string(),
  name: z.string(),
  deleted: z.literal(true),
  leadsMoved: z.number().int(),
  movedTo: z.object({ id: z.string(), name: z.string() }).nullable(),
  stages: z.array(Stage),
}).openapi("DeletedStageReply");

const HistoryQuery = z.object({
  leadId: z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  ...pageQuery,
});
const StageChange = z.object({
  fromStage: z.string().nullable().openapi({ description: "The stage's name at the time; null for the lead's first stage." }),
  toStage: z.string().nullable(),
  fromStageId: z.string().nullable(),
  toStageId: z.string().nullable(),
  changedAt: z.string(),
  changedBy: z.string().openapi({ description: "The API key, actor or database user that moved the lead." }),
  source: z.string().openapi({ description: "api, sql, or the sync source / automation that moved it." }),
  ruleId: z.string().nullable().openapi({ description: "The automation rule that moved it, if one did." }),
}).openapi("StageChange");
const HistoryReply = envelope({
  leadId: z.string(),
  history: z.array(StageChange).openapi({ description: "Newest first." }),
  ...pageFields,
}).openapi("StageHistoryReply");

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const stageSelect = `id, name, position as "order", color, is_default as "isDefault", outcome,
  stall_after_days as "stallAfterDays", lead_count as "leadCount"`;

const pipeline = (db: Tx) =>
  db<StageRow[]>`select ${db.unsafe(stageSelect)} from app.stage_details order by position, lower(name), id`;

const ignoredFields = (body: Record<string, unknown>, known: string[]) =>
  ignoredFieldWarnings(body, known, "A stage has name, order, color, isDefault, stallAfterDays and outcome.");

/** The rule fields that were sent, for app.create_stage / app.update_stage. */
const sentRules = (input: Partial<Record<(typeof ruleKeys)[number], unknown>>) =>
  Object.fromEntries(ruleKeys.filter((k) => input[k] !== undefined).map((k) => [k, input[k]]));

function closedStageWarning(stage: StageRow, input: { stallAfterDays?: number | null }): string[] {
  return typeof input.stallAfterDays === "number" && stage.outcome !== "open"
    ? [`"${stage.name}" is a ${stage.outcome} stage: closed deals never stall, so stallAfterDays was cleared`]
    : [];
}

const moveLeadStep = (name: string) => `PATCH /api/openclaw/leads/{leadId} { "stage": "${name}" } moves a lead into it`;

const updateUsage = "PUT /api/openclaw/stages { \"id\": \"stg_…\", \"name\"?, \"order\"?, \"color\"?, \"isDefault\"?, \"stallAfterDays\"?, \"outcome\"? } changes one stage; "
  + "PUT /api/openclaw/stages { \"order\": [\"stg_…\", …] } (every stage id, first to last) reorders the pipeline.";

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  operationId: "listStages",
  method: "get", path: "/stages", tags: ["Pipeline"], summary: "The pipeline's stages in order, with live lead counts",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "The stages in pipeline order."), ...commonErrors },
});
const historyRoute = createRoute({
  operationId: "listStageHistory",
  method: "get", path: "/stages/history", tags: ["Pipeline"], summary: "A lead's stage history, newest first",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: HistoryQuery },
  responses: { 200: json(HistoryReply, "Every stage the lead entered: from, to, when, by whom."), ...notFoundError, ...commonErrors },
});
const createStageRoute = createRoute({
  operationId: "createStage",
  method: "post", path: "/stages", tags: ["Pipeline"], summary: "Add a stage (default last)",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(CreateStage),
  responses: { 201: json(StageReply, "Stage created."), ...conflictError, ...idempotencyError, ...commonErrors },
});
const updateRoute = createRoute({
  operationId: "updateStage",
  method: "put", path: "/stages", tags: ["Pipeline"],
  summary: "Change one stage ({ id, name?, order?, color?, isDefault? }) or reorder the pipeline ({ order: [every stage id] })",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(UpdateStage),
  responses: {
    200: json(z.union([StageReply, ReorderReply]), "The changed stage and the pipeline, or the reordered pipeline."),
    ...notFoundError, ...conflictError, ...commonErrors,
  },
});
const deleteRoute = createRoute({
  operationId: "deleteStage",
  method: "delete", path: "/stages", tags: ["Pipeline"], summary: "Delete a stage, moving its leads to moveTo",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: DeleteQuery },
  responses: { 200: json(DeletedReply, "Stage deleted."), ...notFoundError, ...conflictError, ...commonErrors },
});

export const stagesRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const page = await pageOf(c, c.req.valid("query"), {
      list: "/stages",
      sort: [{ sql: "position", type: "integer" }, { sql: "lower(name)", type: "text" }, { sql: "id", type: "text" }],
    });
    const db = c.var.db;
    const [fetched, [count]] = await Promise.all([
      db<StageRow[]>`select ${db.unsafe(stageSelect)}, ${page.keys(db)} from app.stage_details where ${page.after(db)}
                     order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.stages`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { stages: rows, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: [
        ...page.next("/stages"),
        ...(total === 0 ? ["POST /api/openclaw/stages { \"name\": \"Prospects\" } adds the first stage (it becomes the default)"] : []),
      ],
    });
  })
  .openapi(historyRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/stages/history",
      sort: [{ sql: "changed_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
      filters: { leadId: query.leadId },
    });
    const [[lead], fetched, [count]] = await Promise.all([
      db<{ deleted: boolean }[]>`select deleted_at is not null as deleted from app.leads where id = ${query.leadId}`,
      db<z.infer<typeof StageChange>[]>`
        select from_stage_name as "fromStage", to_stage_name as "toStage",
               from_stage_id as "fromStageId", to_stage_id as "toStageId", changed_at as "changedAt",
               changed_by as "changedBy", source, rule_id as "ruleId", ${page.keys(db)}
        from app.stage_changes where lead_id = ${query.leadId} and ${page.after(db)}
        order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.stage_changes where lead_id = ${query.leadId}`,
    ]);
    if (!lead) throw notFound("Lead", query.leadId);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { leadId: query.leadId, history: rows, ...page.fields(total) }, {
      warnings: [...page.warnings, ...(lead.deleted ? [`Lead ${query.leadId} is soft-deleted`] : [])],
      next_steps: page.next("/stages/history", { leadId: query.leadId }),
    });
  })
  .openapi(createStageRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const [row] = await db<{ id: string }[]>`
      select app.create_stage(${input.name}, ${input.order ?? null}, ${input.color ?? null}, ${input.isDefault ?? false},
                              p_rules => ${db.json(sentRules(input) as never)}) as id`;
    const stages = await pipeline(db);
    const stage = stages.find((s) => s.id === row!.id)!;
    return reply(c, { id: stage.id, stage, stages }, {
      warnings: [
        ...(stage.isDefault && !input.isDefault ? ["It is the only stage, so it is the default: new leads land here"] : []),
        ...closedStageWarning(stage, input),
        ...ignoredFields(input, Object.keys(createFields)),
      ],
      next_steps: [moveLeadStep(stage.name)],
    }, 201);
  })
  .openapi(updateRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const { id, order, ...rest } = input;
    const warnings = ignoredFields(input, Object.keys(updateFields));

    if (Array.isArray(order)) {
      const extra = ["id", "name", "color", "isDefault", ...ruleKeys].filter((k) => input[k as keyof typeof input] !== undefined);
      if (extra.length > 0) {
        throw new ApiError(400, "invalid_request", `A reorder takes only order, not ${extra.join(", ")}`, updateUsage);
      }
      await db`select app.reorder_stages(${db.array(order)}::text[])`;
      return reply(c, { stages: await pipeline(db) }, { warnings });
    }
    if (id === undefined) {
      throw new ApiError(400, "invalid_request", "Send the stage's id, or order as the list of every stage id to reorder", updateUsage, {
        fields: [{ field: "id", message: "is required to change one stage" }],
      });
    }
    const changes = Object.fromEntries(Object.entries({ ...rest, order }).filter(([k, v]) => v !== undefined && k in updateFields));
    if (Object.keys(changes).length === 0) warnings.push("Nothing to change: send name, order, color, isDefault, stallAfterDays and/or outcome");
    const [row] = await db<{ id: string }[]>`select app.update_stage(${id}, ${db.json(changes as never)}) as id`;
    const stages = await pipeline(db);
    const stage = stages.find((s) => s.id === row!.id)!;
    if (input.isDefault === true) warnings.push(`"${stage.name}" is now the default stage: new leads land here`);
    warnings.push(...closedStageWarning(stage, input));
    return reply(c, { id: stage.id, stage, stages }, { warnings });
  })
  .openapi(deleteRoute, async (c) => {
    const { id, moveTo } = c.req.valid("query");
    const db = c.var.db;
    const [row] = await db<{ result: { id: string; name: string; leadsMoved: number; movedTo: { id: string; name: string } | null } }[]>`
      select app.delete_stage(${id}, ${moveTo ?? null}) as result`;
    const result = row!.result;
    const stages = await pipeline(db);
    return reply(c, { ...result, deleted: true as const, stages }, {
      warnings: result.leadsMoved > 0
        ? [`${result.leadsMoved} lead(s) moved from "${result.name}" to "${result.movedTo!.name}" (recorded in their stage history)`]
        : [],
      next_steps: result.movedTo ? [`GET /api/openclaw/leads?stage=${encodeURIComponent(result.movedTo.id)} lists the moved leads`] : [],
    });
  });
