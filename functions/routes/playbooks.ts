// Playbooks: SDR workflows as data (ordered steps with channel, delay and template hint)
// for leads of a tier, stage, score label and stalled state; every workspace starts with a
// default set. GET lists them, POST { leadId } recommends one for a lead, POST { name,
// steps } creates one, PUT { id, … } changes one, DELETE ?id= removes one.
// The rules live in the database: steps are validated by app.playbooks' trigger, the
// recommendation (app.recommend_playbook) reads the lead's tier, stage, score and stalled
// state; this file validates, calls and shapes the reply.
import { createRoute, z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import { playbookChannels, scoreLabels, stalledActions, stalledPriorities, touchpointTypes } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const Step = z.object({
  order: z.number().int().min(1).max(1000).openapi({ description: "Position in the playbook; distinct per step." }),
  channel: z.enum(playbookChannels, { error: `must be one of: ${playbookChannels.join(", ")}` }),
  delayDays: z.number().int().min(0).max(365).openapi({ description: "Days after the previous step (the first: after the lead enters its stage)." }),
  action: z.string().trim().min(1).max(500).openapi({ example: "Send a personal intro email" }),
  templateHint: z.string().max(2000).nullable().optional().openapi({ example: "Reference their business type and one concrete outcome." }),
}).openapi("PlaybookStep");
const Steps = z.array(Step).min(1).max(30);

const StageRef = z.string().trim().min(1).max(100).openapi({ description: "A stage id (stg_…) or name.", example: "Contacted" });
const PlaybookId = z.string({ error: "is required" }).min(1).max(100).openapi({ example: "pb_3f9c0a1b2c3d4e5f6a7b8c9d" });

/** Who a playbook is for; null (or left out on create) = any. */
const audienceFields = {
  description: z.string().max(2000).nullable().optional(),
  tier: z.string().trim().min(1).max(50).nullable().optional().openapi({ description: "Lead tier it is for (e.g. high); null = any.", example: "high" }),
  stage: StageRef.nullable().optional().openapi({ description: "Stage (id or name) it is for; null = any. Deleting the stage deletes the playbook." }),
  scoreLabel: z.enum(scoreLabels, { error: `must be one of: ${scoreLabels.join(", ")}` }).nullable().optional()
    .openapi({ description: "Score label it is for; null = any." }),
  stalled: z.boolean().nullable().optional().openapi({ description: "true: only stalled leads; false: only leads that are not; null = either." }),
};
const postFields = {
  leadId: z.string().min(1).max(100).optional().openapi({ description: "Recommend a playbook for this lead (the other fields are then ignored).", example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  name: z.string().trim().min(1).max(100).optional().openapi({ description: "With steps and no leadId: create a playbook.", example: "Webinar follow-up" }),
  steps: Steps.optional(),
  ...audienceFields,
};
const PostPlaybook = z.looseObject(postFields).openapi("PlaybookPostRequest", {
  description: "Either { leadId } for a recommendation, or { name, steps, description?, tier?, stage?, scoreLabel?, stalled? } to create a playbook.",
});
const contentFields = {
  name: z.string().trim().min(1).max(100).optional(),
  steps: Steps.optional().openapi({ description: "Replaces every step." }),
  ...audienceFields,
};
const updateFields = { id: PlaybookId, ...contentFields };
const UpdatePlaybook = z.looseObject(updateFields).openapi("UpdatePlaybookRequest");

const Playbook = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  tier: z.string().nullable(),
  stageId: z.string().nullable(),
  stage: z.string().nullable(),
  scoreLabel: z.enum(scoreLabels).nullable(),
  stalled: z.boolean().nullable(),
  steps: z.array(Step).openapi({ description: "In order." }),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Playbook");
type PlaybookRow = z.infer<typeof Playbook>;

const ListQuery = z.object({
  tier: z.string().trim().min(1).max(50).optional().openapi({ description: "Only playbooks for leads of this tier (its own and those for any tier)." }),
  stage: StageRef.optional().openapi({
    description: "Only playbooks for this stage (id or name; its own and those for any stage). A lead status works too (stage=new: the stages new leads are in, the default stage included); a value that is neither lists nothing, with a warning naming the valid values.",
    example: "new",
  }),
});
const ListReply = envelope({
  playbooks: z.array(Playbook).openapi({ description: "By name." }),
  total: z.number().int(),
  channels: z.array(z.enum(playbookChannels)).openapi({ description: "The channels a step can use." }),
}).openapi("PlaybookListReply");

const PlaybookReply = envelope({ id: z.string(), playbook: Playbook }).openapi("PlaybookReply");
const RecommendationReply = envelope({
  leadId: z.string(),
  playbook: Playbook.nullable().openapi({ description: "The most specific fitting playbook; null for a closed lead or when none fits." }),
  nextAction: z.object({
    step: z.number().int(),
    channel: z.enum(playbookChannels),
    action: z.string(),
    templateHint: z.string().nullable(),
    delayDays: z.number().int(),
    due: z.string().openapi({ description: "delayDays after the last touch in this stage (or after entering it)." }),
    overdue: z.boolean(),
  }).nullable().openapi({ description: "The next step: touchpoints logged since the lead entered its stage count as steps done. null when all are done." }),
  stalled: z.object({
    daysSinceTouch: z.number().int(),
    stalledReason: z.string(),
    suggestedAction: z.enum(stalledActions),
    priority: z.enum(stalledPriorities),
  }).nullable().openapi({ description: "The lead's stalled state (as GET /leads/stalled reports it), or null." }),
  alsoMatching: z.array(z.string()).openapi({ description: "Other fitting playbooks, most specific first." }),
  reasoning: z.array(z.string()).openapi({ description: "Why this playbook and this step." }),
}).openapi("PlaybookRecommendationReply");
type Recommendation = Omit<z.infer<typeof RecommendationReply>, "success" | "warnings" | "next_steps">;

const DeleteQuery = z.object({ id: PlaybookId });
const DeletedReply = envelope({ id: z.string(), name: z.string(), deleted: z.literal(true) }).openapi("DeletedPlaybookReply");

const stepsHint = `steps is a list of { order, channel (${playbookChannels.join(", ")}), delayDays (0-365), action, templateHint? }.`;
const hints = {
  steps: stepsHint,
  scoreLabel: `scoreLabel is one of: ${scoreLabels.join(", ")}, or null for any.`,
  leadId: "Pass the lead's id as leadId; GET /api/openclaw/leads lists your leads.",
  id: "Pass the playbook's id (pb_…); GET /api/openclaw/playbooks lists them.",
};

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const byId = async (db: Tx, id: string) => (await db<PlaybookRow[]>`select * from app.playbook_details where id = ${id}`)[0];

type PlaybookFields = z.infer<ReturnType<typeof z.object<typeof contentFields>>>;

/** The table's columns for the fields that were sent (null clears an audience field: any). */
async function columns(db: Tx, input: PlaybookFields) {
  const stageId = input.stage === undefined || input.stage === null ? null
    : (await db<{ id: string }[]>`select app.resolve_stage(${input.stage}) as id`)[0]!.id;
  const values: Record<string, string | boolean | null | ReturnType<Tx["json"]>> = {};
  if (input.name !== undefined) values.name = input.name;
  if (input.description !== undefined) values.description = input.description;
  if (input.tier !== undefined) values.tier = input.tier;
  if (input.stage !== undefined) values.stage_id = stageId;
  if (input.scoreLabel !== undefined) values.score_label = input.scoreLabel;
  if (input.stalled !== undefined) values.stalled = input.stalled;
  if (input.steps !== undefined) values.steps = db.json(input.steps as never);
  return values;
}

const ignored = (body: Record<string, unknown>, known: string[]) =>
  ignoredFieldWarnings(body, known, "A playbook has name, description, tier, stage, scoreLabel, stalled and steps.");

const postUsage = "POST /api/openclaw/playbooks { \"leadId\": \"rp_…\" } recommends a playbook for a lead; "
  + "POST /api/openclaw/playbooks { \"name\": \"…\", \"steps\": [{ \"order\": 1, \"channel\": \"email\", \"delayDays\": 0, \"action\": \"…\" }] } creates one.";

function recommendationSteps(r: Recommendation): string[] {
  if (!r.playbook) return ["POST /api/openclaw/playbooks { \"name\": \"…\", \"steps\": […] } creates a playbook for leads like this one"];
  const touch = touchpointTypes.find((t) => t === r.nextAction?.channel) ?? (r.nextAction ? "other" : "email");
  return [
    `After acting, POST /api/openclaw/touchpoints { "leadId": "${r.leadId}", "type": "${touch}" } records the step (and clears stalled)`,
    ...(r.nextAction ? [] : [`PATCH /api/openclaw/leads/${r.leadId} { "stage": "…" } moves the lead on`]),
  ];
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  operationId: "listPlaybooks",
  method: "get", path: "/playbooks", tags: ["Playbooks"], summary: "The workspace's playbooks, optionally those for a tier and/or stage",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "Playbooks by name."), ...commonErrors },
});
const postRoute = createRoute({
  operationId: "recommendOrCreatePlaybook",
  method: "post", path: "/playbooks", tags: ["Playbooks"],
  summary: "Recommend a playbook and next action for a lead ({ leadId }), or create a playbook ({ name, steps, … })",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(PostPlaybook),
  responses: {
    200: json(RecommendationReply, "The recommended playbook, next action and reasoning."),
    201: json(PlaybookReply, "Playbook created."),
    ...notFoundError, ...conflictError, ...idempotencyError, ...commonErrors,
  },
});
const updateRoute = createRoute({
  operationId: "updatePlaybook",
  method: "put", path: "/playbooks", tags: ["Playbooks"], summary: "Change a playbook (id in body; only the fields sent change, null = any)",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(UpdatePlaybook),
  responses: { 200: json(PlaybookReply, "Playbook updated."), ...notFoundError, ...conflictError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "deletePlaybook",
  method: "delete", path: "/playbooks", tags: ["Playbooks"], summary: "Delete a playbook",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: DeleteQuery },
  responses: { 200: json(DeletedReply, "Playbook deleted."), ...notFoundError, ...commonErrors },
});

export const playbooksRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const { tier, stage } = c.req.valid("query");
    const db = c.var.db;
    const [stages] = stage !== undefined ? await db<{ ids: string[] | null }[]>`select app.playbook_stages(${stage}) as ids` : [];
    if (stages && stages.ids === null) {
      const [valid] = await db<{ v: { stages: string[]; statuses: string[] } }[]>`select app.playbook_stage_values() as v`;
      return reply(c, { playbooks: [], total: 0, channels: [...playbookChannels] }, {
        warnings: [`stage "${stage}" is neither a stage nor a lead status of this workspace, so no playbooks are listed. Stages: ${valid!.v.stages.join(", ")}; lead statuses: ${valid!.v.statuses.join(", ")}`],
        next_steps: ["GET /api/openclaw/playbooks?stage=<one of those> (or without stage for all)"],
      });
    }
    const filters = [
      db`true`,
      ...(tier !== undefined ? [db`(tier is null or lower(tier) = lower(${tier}))`] : []),
      ...(stages ? [db`("stageId" is null or "stageId" = any (${db.array(stages.ids!)}))`] : []),
    ];
    const where = filters.reduce((all, f) => db`${all} and ${f}`);
    const playbooks = await db<PlaybookRow[]>`select * from app.playbook_details where ${where} order by lower(name), id`;
    return reply(c, { playbooks, total: playbooks.length, channels: [...playbookChannels] }, {
      next_steps: playbooks.length > 0
        ? ["POST /api/openclaw/playbooks { \"leadId\": \"rp_…\" } picks the best one for a lead and its next step"]
        : ["POST /api/openclaw/playbooks { \"name\": \"…\", \"steps\": […] } creates one"],
    });
  }, validationWithHints(hints))
  .openapi(postRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    if (input.leadId !== undefined) {
      const [row] = await db<{ r: Recommendation }[]>`select app.recommend_playbook(${input.leadId}) as r`;
      const r = row!.r;
      const extra = Object.keys(postFields).filter((k) => k !== "leadId" && input[k as keyof typeof input] !== undefined);
      return reply(c, r, {
        warnings: extra.length > 0 ? [`With leadId the request is a recommendation: ${extra.join(", ")} ignored`] : [],
        next_steps: recommendationSteps(r),
      }, 200);
    }
    if (input.name === undefined || input.steps === undefined) {
      throw new ApiError(400, "invalid_request", "Send leadId for a recommendation, or name and steps to create a playbook", `${postUsage} ${stepsHint}`, {
        fields: [...(input.name === undefined ? [{ field: "name", message: "is required to create a playbook" }] : []),
          ...(input.steps === undefined ? [{ field: "steps", message: "is required to create a playbook" }] : [])],
      });
    }
    const [created] = await db<{ id: string }[]>`insert into app.playbooks ${db(await columns(db, input))} returning id`;
    const playbook = (await byId(db, created!.id))!;
    return reply(c, { id: playbook.id, playbook }, {
      warnings: ignored(input, Object.keys(postFields)),
      next_steps: ["GET /api/openclaw/playbooks lists every playbook", `PUT /api/openclaw/playbooks { "id": "${playbook.id}", … } changes it`],
    }, 201);
  }, validationWithHints(hints))
  .openapi(updateRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = await columns(db, input);
    const warnings = ignored(input, Object.keys(updateFields));
    const [row] = Object.keys(values).length > 0
      ? await db<{ id: string }[]>`update app.playbooks set ${db(values)} where id = ${input.id} returning id`
      : await db<{ id: string }[]>`select id from app.playbooks where id = ${input.id}`;
    if (!row) throw notFound("Playbook", input.id);
    if (Object.keys(values).length === 0) warnings.push("Nothing to change: send name, description, tier, stage, scoreLabel, stalled and/or steps");
    const playbook = (await byId(db, row.id))!;
    return reply(c, { id: playbook.id, playbook }, { warnings });
  }, validationWithHints(hints))
  .openapi(deleteRoute, async (c) => {
    const { id } = c.req.valid("query");
    const db = c.var.db;
    const [row] = await db<{ id: string; name: string }[]>`delete from app.playbooks where id = ${id} returning id, name`;
    if (!row) throw notFound("Playbook", id);
    return reply(c, { id: row.id, name: row.name, deleted: true as const }, {
      next_steps: ["GET /api/openclaw/playbooks lists the remaining playbooks"],
    });
  }, validationWithHints(hints));
