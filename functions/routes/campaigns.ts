// Campaigns: email sequences (1-8 steps) with a trigger, AI settings and a status, plus
// the workspace's send settings (daily cap, send window). The rules live in Postgres:
// template variables and step shape (app._validate_campaign), the tier's campaign limit
// (402), archiving stopping enrolments, the guardrails. This file validates, calls and
// shapes the reply. /campaigns/settings is registered before /campaigns/{campaignId}.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { Step, Steps, templateVariables } from "../campaigns/steps.ts";
import type { Tx } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import type { AppEnv } from "../http/context.ts";
import { campaignKinds, campaignStatuses, campaignTriggers } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, limitError, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, unknownFields, validationWithHints } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas (the steps are campaigns/steps.ts, shared with POST /email/send-sequence)
// ---------------------------------------------------------------------------
const AiConfig = z.object({
  model: z.string().min(1).max(100).optional().openapi({ example: "gpt-4o-mini" }),
  tone: z.string().min(1).max(200).optional().openapi({ example: "warm and concise" }),
  maxRetries: z.number().int().min(0).max(5).optional().openapi({ description: "Rewrite attempts before falling back to the template (default 2)." }),
}).openapi("CampaignAiConfig");

const Trigger = z.enum(campaignTriggers, { error: `must be one of: ${campaignTriggers.join(", ")}` });
const editableFields = {
  name: z.string().trim().min(1).max(200).openapi({ example: "Quiz follow-up" }),
  steps: Steps,
  trigger: Trigger.optional().openapi({ description: "What enrols a lead automatically; manual (default) = only POST /campaigns/{campaignId}/enroll." }),
  triggerStage: z.string().trim().min(1).max(100).nullable().optional()
    .openapi({ description: "For trigger stage_changed: the stage (name or id) whose entry enrols the lead." }),
  ai_enabled: z.boolean().optional().openapi({
    description: "Rewrite each email with the AI model, using the lead's enrichment. Without an AI API configured (AI_API_KEY or AI_BASE_URL) "
      + "the templates are sent as written, and turning it on (or resuming such a campaign) answers with a warning saying so.",
  }),
  ai_config: AiConfig.optional(),
  fromName: z.string().trim().min(1).max(200).nullable().optional().openapi({ description: "Sender name; default the workspace name." }),
};
const createFields = {
  ...editableFields,
  status: z.enum(campaignStatuses).extract(["active", "paused"], { error: "must be active or paused" }).optional().openapi({ description: "Default active." }),
};
const CreateCampaign = z.looseObject(createFields).openapi("CreateCampaignRequest");
const updateFields = { ...editableFields, name: editableFields.name.optional(), steps: Steps.optional() };
const UpdateCampaign = z.looseObject(updateFields).openapi("UpdateCampaignRequest");

const Campaign = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(campaignKinds).openapi({ description: "adhoc: made by POST /email/send-sequence; not counted against the plan." }),
  status: z.enum(campaignStatuses),
  steps: z.array(Step),
  trigger: Trigger,
  triggerStage: z.object({ id: z.string(), name: z.string() }).nullable(),
  ai_enabled: z.boolean(),
  ai_config: AiConfig,
  fromName: z.string().nullable(),
  enrollments: z.object({ active: z.number().int(), completed: z.number().int(), stopped: z.number().int() }),
  stats: z.object({
    enrolled: z.number().int().openapi({ description: "Enrolments ever made." }),
    sent: z.number().int().openapi({ description: "Emails sent." }),
    opened: z.number().int().openapi({ description: "Enrolled leads that opened an email while enrolled." }),
    replied: z.number().int(),
    bounced: z.number().int(),
    unsubscribed: z.number().int(),
  }).openapi({ description: "The campaign's results, from app.campaign_stats: emails sent, and enrolled leads that opened, replied, bounced or unsubscribed while enrolled." }),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Campaign");
type CampaignRow = z.infer<typeof Campaign>;

const CampaignId = z.object({ campaignId: z.string().min(1).max(100).openapi({ param: { name: "campaignId", in: "path" }, example: "cmp_3f9c0a1b2c3d4e5f6a7b8c9d" }) });
const CampaignReply = envelope({ id: z.string(), campaign: Campaign }).openapi("CampaignReply");
const ListQuery = z.object({
  status: z.enum(campaignStatuses).optional(),
  kind: z.enum([...campaignKinds, "all"]).default("sequence").openapi({ description: "Default sequence; adhoc lists send-sequence campaigns." }),
  ...pageQuery,
});
const ListReply = envelope({ campaigns: z.array(Campaign), ...pageFields }).openapi("CampaignListReply");

const SendWindow = z.object({
  start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be HH:MM").openapi({ example: "09:00" }),
  end: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be HH:MM").openapi({ example: "17:00" }),
  timeZone: z.string().min(1).max(100).optional().openapi({ description: "Sets the workspace's timeZone.", example: "Europe/Berlin" }),
  weekdaysOnly: z.boolean().optional().openapi({ description: "Monday to Friday only. Default false." }),
}).openapi("SendWindow");
const Settings = z.object({
  dailyCap: z.number().int().openapi({ description: "Campaign emails per calendar day (in timeZone) for the whole workspace. Default 500." }),
  timeZone: z.string().openapi({ description: "IANA zone for the daily cap's day and the send window. Default UTC." }),
  sendWindow: z.object({ start: z.string(), end: z.string(), weekdaysOnly: z.boolean() }).nullable()
    .openapi({ description: "Local hours emails may go out; null = any time." }),
}).openapi("CampaignSettings");
const settingsFields = {
  dailyCap: z.number().int().min(1).max(100_000).optional(),
  timeZone: z.string().min(1).max(100).optional(),
  sendWindow: SendWindow.nullable().optional(),
};
const UpdateSettings = z.looseObject(settingsFields).openapi("UpdateCampaignSettingsRequest");
const SettingsReply = envelope({ settings: Settings }).openapi("CampaignSettingsReply");

const hints = {
  steps: `steps is a list of 1-8 { delayMinutes, subject, body, condition? }; templates may use ${templateVariables}.`,
  trigger: `trigger is one of: ${campaignTriggers.join(", ")}.`,
  ai_config: "ai_config is { model?, tone?, maxRetries? (0-5) }.",
};

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const campaignSelect = `
  c.id, c.name, c.kind, c.status, c.steps, c.trigger_event as "trigger",
  case when c.trigger_stage_id is not null then jsonb_build_object('id', s.id, 'name', s.name) end as "triggerStage",
  c.ai_enabled, c.ai_config, c.from_name as "fromName",
  (select jsonb_build_object(
     'active', count(*) filter (where e.status = 'active'), 'completed', count(*) filter (where e.status = 'completed'),
     'stopped', count(*) filter (where e.status = 'stopped'))
   from app.enrollments e where e.org_id = c.org_id and e.campaign_id = c.id) as enrollments,
  app.campaign_stats(c.id) as stats,
  c.created_at as "createdAt", c.updated_at as "updatedAt"`;

function readCampaign(db: Tx, id: string) {
  return db<CampaignRow[]>`
    select ${db.unsafe(campaignSelect)} from app.campaigns c left join app.stages s on s.id = c.trigger_stage_id
    where c.id = ${id}`.then(([row]) => {
    if (!row) throw notFound("Campaign", id);
    return row;
  });
}

type Editable = z.infer<z.ZodObject<typeof updateFields>>;

/** The campaign's columns from a request body; the trigger stage resolved by name or id. */
async function columns(db: Tx, input: Editable, current?: CampaignRow) {
  const trigger = input.trigger ?? current?.trigger ?? "manual";
  const stage = input.triggerStage !== undefined ? input.triggerStage : trigger === "stage_changed" ? current?.triggerStage?.id ?? null : null;
  if (trigger === "stage_changed" && !stage) {
    throw new ApiError(400, "trigger_stage_required", "trigger stage_changed needs triggerStage",
      "Send triggerStage with the stage (name or id) whose entry enrols a lead, e.g. { \"trigger\": \"stage_changed\", \"triggerStage\": \"Qualified\" }.");
  }
  if (trigger !== "stage_changed" && input.triggerStage) {
    throw new ApiError(400, "trigger_stage_unused", "triggerStage only applies to trigger stage_changed",
      "Leave triggerStage out, or send trigger \"stage_changed\" with it.");
  }
  const [resolved] = stage ? await db<{ id: string }[]>`select app.resolve_stage(${stage}) as id` : [{ id: null }];
  return {
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.steps !== undefined ? { steps: db.json(input.steps as never) } : {}),
    trigger_event: trigger,
    trigger_stage_id: resolved!.id,
    ...(input.ai_enabled !== undefined ? { ai_enabled: input.ai_enabled } : {}),
    ...(input.ai_config !== undefined ? { ai_config: db.json(input.ai_config as never) } : {}),
    ...(input.fromName !== undefined ? { from_name: input.fromName } : {}),
  };
}

const ignoredFields = (body: Record<string, unknown>, known: string[]) =>
  ignoredFieldWarnings(body, known, "A campaign has name, steps, trigger, triggerStage, ai_enabled, ai_config, fromName (and status on create).");

/**
 * The warning for a campaign that asks for AI the deployment does not have, given when the
 * campaign is created or changed with ai_enabled: true, or resumed. The mail worker decides with
 * the same setting (mail/ai-config.ts `configured`) and otherwise warns only per sent email.
 */
const aiWarnings = (c: Context<AppEnv>, campaign: CampaignRow) =>
  campaign.ai_enabled && !c.var.config.ai.configured
    ? ["ai_enabled is on but no AI API is configured: each email will be sent as its template is written, without AI personalisation; "
      + "set AI_API_KEY (OpenAI) or AI_BASE_URL (any OpenAI-compatible API, with AI_MODEL for its model) where the API and the mail worker run to turn it on"]
    : [];

const enrollStep = (id: string) => `POST /api/openclaw/campaigns/${id}/enroll { "leadId": "rp_…" } enrols a lead`;
const enrollmentsStep = (id: string) => `GET /api/openclaw/campaigns/${id}/enrollments shows each lead's progress`;

const settingsSelect = `daily_cap as "dailyCap", time_zone as "timeZone",
  case when window_start is not null then jsonb_build_object('start', to_char(window_start, 'HH24:MI'),
    'end', to_char(window_end, 'HH24:MI'), 'weekdaysOnly', weekdays_only) end as "sendWindow"`;
type SettingsRow = z.infer<typeof Settings>;

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const tags = ["Campaigns"];

const getSettingsRoute = createRoute({
  operationId: "getCampaignSettings",
  method: "get", path: "/campaigns/settings", tags, summary: "The workspace's send settings: daily cap, time zone, send window",
  security: bearerAuth, middleware: [tenantTransaction],
  responses: { 200: json(SettingsReply, "The settings."), ...commonErrors },
});
const putSettingsRoute = createRoute({
  operationId: "updateCampaignSettings",
  method: "put", path: "/campaigns/settings", tags, summary: "Change the daily cap, time zone or send window (only the fields sent change)",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(UpdateSettings),
  responses: { 200: json(SettingsReply, "Settings changed."), ...commonErrors },
});
const listRoute = createRoute({
  operationId: "listCampaigns",
  method: "get", path: "/campaigns", tags, summary: "The workspace's campaigns, newest first, with enrolment counts",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of campaigns."), ...commonErrors },
});
const createCampaignRoute = createRoute({
  operationId: "createCampaign",
  method: "post", path: "/campaigns", tags, summary: "Create an email sequence (1-8 steps)",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(CreateCampaign),
  responses: { 201: json(CampaignReply, "Campaign created."), ...limitError, ...idempotencyError, ...commonErrors },
});
const getRoute = createRoute({
  operationId: "getCampaign",
  method: "get", path: "/campaigns/{campaignId}", tags, summary: "One campaign",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: CampaignId },
  responses: { 200: json(CampaignReply, "The campaign."), ...notFoundError, ...commonErrors },
});
const updateRoute = createRoute({
  operationId: "updateCampaign",
  method: "put", path: "/campaigns/{campaignId}", tags, summary: "Change a campaign (only the fields sent change)",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: CampaignId, ...jsonBody(UpdateCampaign) },
  responses: { 200: json(CampaignReply, "Campaign changed."), ...notFoundError, ...conflictError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "archiveCampaign",
  method: "delete", path: "/campaigns/{campaignId}", tags, summary: "Archive a campaign: its enrolments stop, history stays, the plan slot frees",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: CampaignId },
  responses: { 200: json(CampaignReply, "Campaign archived."), ...notFoundError, ...commonErrors },
});
const statusRoute = (action: "pause" | "resume") => createRoute({
  operationId: `${action}Campaign`,
  method: "post", path: `/campaigns/{campaignId}/${action}`, tags,
  summary: action === "pause" ? "Pause: nothing is sent until resumed (enrolments keep their place)" : "Resume a paused campaign",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: CampaignId },
  responses: { 200: json(CampaignReply, action === "pause" ? "Campaign paused." : "Campaign active."), ...notFoundError, ...conflictError, ...commonErrors },
});

async function setStatus(db: Tx, id: string, action: "pause" | "resume") {
  const current = await readCampaign(db, id);
  if (current.status === "archived") {
    throw new ApiError(409, "campaign_archived", `Campaign ${id} is archived`, "Archived campaigns cannot run again; create a new one with POST /api/openclaw/campaigns.");
  }
  const target = action === "pause" ? "paused" : "active";
  if (current.status === target) return { campaign: current, warnings: [`Campaign ${id} was already ${target}`] };
  await db`update app.campaigns set status = ${target} where id = ${id}`;
  return { campaign: await readCampaign(db, id), warnings: [] };
}

export const campaignsRoutes = createRouter()
  .openapi(getSettingsRoute, async (c) => {
    const [settings] = await c.var.db<SettingsRow[]>`select ${c.var.db.unsafe(settingsSelect)} from app.campaign_settings`;
    return reply(c, { settings: settings! }, { next_steps: ["PUT /api/openclaw/campaigns/settings { \"dailyCap\": 200, \"sendWindow\": { \"start\": \"09:00\", \"end\": \"17:00\", \"timeZone\": \"Europe/Berlin\", \"weekdaysOnly\": true } }"] });
  })
  .openapi(putSettingsRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const window = input.sendWindow;
    if (window && window.start >= window.end) {
      throw new ApiError(400, "invalid_send_window", "sendWindow.start must be before sendWindow.end",
        "Send local times like { \"start\": \"09:00\", \"end\": \"17:00\" }; windows across midnight are not supported.");
    }
    const timeZone = window?.timeZone ?? input.timeZone;
    const values = {
      ...(input.dailyCap !== undefined ? { daily_cap: input.dailyCap } : {}),
      ...(timeZone !== undefined ? { time_zone: timeZone } : {}),
      ...(window !== undefined ? { window_start: window?.start ?? null, window_end: window?.end ?? null, weekdays_only: window?.weekdaysOnly ?? false } : {}),
    };
    const warnings = unknownFields(input, Object.keys(settingsFields)).map((f) => `Ignored field: ${f}`);
    const [settings] = Object.keys(values).length > 0
      ? await db<SettingsRow[]>`update app.campaign_settings set ${db(values)} returning ${db.unsafe(settingsSelect)}`
      : await db<SettingsRow[]>`select ${db.unsafe(settingsSelect)} from app.campaign_settings`;
    return reply(c, { settings: settings! }, { warnings });
  }, validationWithHints({ sendWindow: "sendWindow is { start: \"HH:MM\", end: \"HH:MM\", timeZone?, weekdaysOnly? } or null for any time." }))
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/campaigns",
      sort: [{ sql: "c.created_at", type: "timestamptz", desc: true }, { sql: "c.id", type: "text", desc: true }],
      filters: { kind: query.kind, status: query.status },
    });
    const filters = [
      db`true`,
      ...(query.kind !== "all" ? [db`c.kind = ${query.kind}`] : []),
      ...(query.status !== undefined ? [db`c.status = ${query.status}`] : []),
    ];
    const where = filters.reduce((all, f) => db`${all} and ${f}`);
    const [fetched, [count]] = await Promise.all([
      db<CampaignRow[]>`
        select ${db.unsafe(campaignSelect)}, ${page.keys(db)} from app.campaigns c left join app.stages s on s.id = c.trigger_stage_id
        where ${where} and ${page.after(db)} order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.campaigns c where ${where}`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { campaigns: rows, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: total === 0 ? ["POST /api/openclaw/campaigns { \"name\": \"…\", \"steps\": [{ \"delayMinutes\": 0, \"subject\": \"…\", \"body\": \"Hi {{firstName}}\" }] } creates one"]
        : page.next("/campaigns", { kind: query.kind === "sequence" ? undefined : query.kind, status: query.status }),
    });
  })
  .openapi(createCampaignRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = { ...(await columns(db, input)), status: input.status ?? "active" };
    const [row] = await db<{ id: string }[]>`insert into app.campaigns ${db(values)} returning id`;
    const campaign = await readCampaign(db, row!.id);
    return reply(c, { id: campaign.id, campaign }, {
      warnings: [...aiWarnings(c, campaign), ...ignoredFields(input, Object.keys(createFields))],
      next_steps: [enrollStep(campaign.id), ...(campaign.trigger !== "manual" ? [`Leads are enrolled automatically on ${campaign.trigger}`] : [])],
    }, 201);
  }, validationWithHints(hints))
  .openapi(getRoute, async (c) => {
    const { campaignId } = c.req.valid("param");
    const campaign = await readCampaign(c.var.db, campaignId);
    return reply(c, { id: campaign.id, campaign }, { next_steps: [enrollmentsStep(campaign.id)] });
  })
  .openapi(updateRoute, async (c) => {
    const { campaignId } = c.req.valid("param");
    const input = c.req.valid("json");
    const db = c.var.db;
    const current = await readCampaign(db, campaignId);
    if (current.status === "archived") {
      throw new ApiError(409, "campaign_archived", `Campaign ${campaignId} is archived`, "Archived campaigns cannot change; create a new one with POST /api/openclaw/campaigns.");
    }
    await db`update app.campaigns set ${db(await columns(db, input, current))} where id = ${campaignId}`;
    const campaign = await readCampaign(db, campaignId);
    const warnings = [...(input.ai_enabled === true ? aiWarnings(c, campaign) : []), ...ignoredFields(input, Object.keys(updateFields))];
    if (input.steps && campaign.enrollments.active > 0) {
      warnings.push(`${campaign.enrollments.active} active enrolment(s) continue with the new steps from the step they are at`);
    }
    return reply(c, { id: campaign.id, campaign }, { warnings, next_steps: ["POST /api/openclaw/campaigns/{campaignId}/pause or /resume changes the status"] });
  }, validationWithHints(hints))
  .openapi(deleteRoute, async (c) => {
    const { campaignId } = c.req.valid("param");
    const db = c.var.db;
    const before = await readCampaign(db, campaignId);
    await db`update app.campaigns set status = 'archived' where id = ${campaignId}`;
    const campaign = await readCampaign(db, campaignId);
    return reply(c, { id: campaign.id, campaign }, {
      warnings: before.enrollments.active > 0 ? [`${before.enrollments.active} active enrolment(s) stopped (reason: campaign archived)`] : [],
      next_steps: [enrollmentsStep(campaign.id)],
    });
  })
  .openapi(statusRoute("pause"), async (c) => {
    const { campaign, warnings } = await setStatus(c.var.db, c.req.valid("param").campaignId, "pause");
    return reply(c, { id: campaign.id, campaign }, { warnings, next_steps: [`POST /api/openclaw/campaigns/${campaign.id}/resume sends again`] });
  })
  .openapi(statusRoute("resume"), async (c) => {
    const { campaign, warnings } = await setStatus(c.var.db, c.req.valid("param").campaignId, "resume");
    return reply(c, { id: campaign.id, campaign }, { warnings: [...warnings, ...aiWarnings(c, campaign)], next_steps: [enrollmentsStep(campaign.id)] });
  });
