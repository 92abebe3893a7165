// Leads: list, create, full and partial update, fetch, soft delete, restore and
// permanent delete, and bulk delete by source (a flood of quiz leads, say). Uniqueness,
// limits, stage defaults, soft-delete rules and where a lead came from live in the database
// (app.leads); this file validates, calls and shapes the reply.
//
// Routes under /leads/{literal} added later (e.g. /leads/score, /leads/stalled) must be
// registered before this router so /leads/{leadId} does not capture them.
import { createRoute, z } from "@hono/zod-openapi";
import type { AppConfig } from "../config.ts";
import type { Tx } from "../db.ts";
import { boundedJson, jsonBody, jsonObject } from "../http/body.ts";
import { jsonCaps } from "../http/caps.ts";
import { enrichmentStatuses, scoreLabels } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, limitError, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { expensiveTransaction, finishWith, tenantTransaction } from "../http/tenant.ts";
import { unknownFields } from "../http/validation.ts";
import { proposalUrl } from "../proposals/urls.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const text = (max: number) => z.string().trim().max(max).nullable().optional();

/** Fields an agent may write, with the column each is stored in. */
const columns = {
  firstName: "first_name",
  lastName: "last_name",
  email: "email",
  organizationName: "organization_name",
  businessType: "business_type",
  phone: "phone",
  tier: "tier",
  status: "status",
  title: "title",
  seniority: "seniority",
  companyName: "company_name",
  linkedinUrl: "linkedin_url",
  companySize: "company_size",
  companyRevenue: "company_revenue",
} as const;
type TextField = keyof typeof columns;

const leadFields = {
  firstName: z.string().trim().min(1).max(200).openapi({ example: "Jane" }),
  lastName: text(200),
  email: z.email().max(320).openapi({ example: "jane@acme.com" }),
  organizationName: text(300),
  clinicName: text(300).openapi({ description: "Alias of organizationName." }),
  businessType: text(200),
  practiceType: text(200).openapi({ description: "Alias of businessType." }),
  phone: text(50),
  tier: text(50).openapi({ example: "high" }),
  status: z.string().trim().min(1).max(50).optional().openapi({ example: "new" }),
  stage: z.string().trim().min(1).max(100).optional().openapi({ description: "Stage name or id; defaults to the workspace's default stage." }),
  customFields: boundedJson(jsonCaps.customFields, {
    description: "Values of the workspace's custom fields (GET /api/openclaw/fields), by key.",
    hint: "Send only the values of your custom fields (GET /api/openclaw/fields lists them); long text belongs in a note (POST /api/openclaw/notes).",
  }).optional(),
  crmData: boundedJson(jsonCaps.crmData, {
    description: "Free-form data (specialty, location, website, …).",
    hint: "Keep crmData to short facts about the lead; put long text (transcripts, documents) in a note: POST /api/openclaw/notes { \"leadId\", \"content\" }.",
  }).optional(),
  title: text(300),
  seniority: text(100),
  companyName: text(300),
  linkedinUrl: text(2000),
  companySize: text(100),
  companyRevenue: text(100),
};
const knownFields = [...Object.keys(leadFields), "id", "restore"];

const CreateLead = z.looseObject(leadFields).openapi("CreateLeadRequest");
const ReplaceLead = z.looseObject({ id: z.string().min(1), ...leadFields }).openapi("ReplaceLeadRequest");
const patchFields = {
  ...z.object(leadFields).partial().shape,
  restore: z.literal(true).optional().openapi({ description: "Restore a soft-deleted lead." }),
};
const PatchLead = z.looseObject(patchFields).openapi("PatchLeadRequest");
const PatchLeadWithId = z.looseObject({ id: z.string().min(1), ...patchFields }).openapi("PatchLeadByBodyRequest");

const Lead = z.object({
  id: z.string(),
  firstName: z.string(),
  lastName: z.string().nullable(),
  email: z.string(),
  organizationName: z.string().nullable(),
  clinicName: z.string().nullable(),
  businessType: z.string().nullable(),
  practiceType: z.string().nullable(),
  phone: z.string().nullable(),
  tier: z.string().nullable(),
  status: z.string(),
  stage: z.string().nullable(),
  stageId: z.string().nullable(),
  customFields: jsonObject,
  crmData: jsonObject,
  title: z.string().nullable(),
  seniority: z.string().nullable(),
  companyName: z.string().nullable(),
  linkedinUrl: z.string().nullable(),
  companySize: z.string().nullable(),
  companyRevenue: z.string().nullable(),
  enrichmentStatus: z.enum(enrichmentStatuses),
  enrichment: jsonObject.nullable(),
  enrichedAt: z.string().nullable(),
  lastTouchAt: z.string().nullable(),
  score: z.number().int().nullable().openapi({ description: "Confidence score 0-100, kept current by the database (POST /api/openclaw/leads/score explains it)." }),
  scoreLabel: z.enum(scoreLabels).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  deletedAt: z.string().nullable(),
  source: z.string().openapi({ description: "What created the lead, set by the database: api, quiz, sync_source, calendly or sql (Studio, scripts).", example: "api" }),
  createdBy: z.string().openapi({ description: "Who created it: the API key's id, the member's id (a browser session), quiz:<id>, sync_source:<id>, calendly, or the database user.", example: "key_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  // The lead's proposal page (app.proposals; every lead has one).
  proposalId: z.string().nullable().openapi({ description: "The proposal's slug, e.g. cool-startup-inc-abc123de.", example: "acme-clinic-k3v9x2qa" }),
  proposalUrl: z.string().nullable().openapi({ description: "The public proposal page: $PUBLIC_URL/p/{proposalId}." }),
}).openapi("Lead");
type LeadRow = Omit<z.infer<typeof Lead>, "clinicName" | "practiceType" | "proposalUrl">;

/** The free-form documents a list leaves out unless fields= asks for them (GET /leads/{leadId} has them all). */
const listExtras = ["crmData", "customFields", "enrichment"] as const;
type ListExtra = (typeof listExtras)[number];
const ListedLead = Lead.partial({ crmData: true, customFields: true, enrichment: true }).openapi("ListedLead", {
  description: "A lead as lists show it: crmData, customFields and enrichment only when fields= names them.",
});

const LeadReply = envelope({ id: z.string(), lead: Lead }).openapi("LeadReply");
const CreatedLeadReply = envelope({ id: z.string(), lead: Lead, enrichmentQueued: z.literal(false) }).openapi("CreatedLeadReply");
const DeletedReply = envelope({ id: z.string(), deleted: z.literal(true), permanent: z.boolean() }).openapi("DeletedLeadReply");

const flag = z.enum(["true", "false"]).transform((v) => v === "true");
const ListQuery = z.object({
  status: z.string().max(50).optional(),
  tier: z.string().max(50).optional(),
  stage: z.string().max(100).optional().openapi({ description: "Stage name or id." }),
  q: z.string().trim().min(1).max(200).optional().openapi({ description: "Search in name, email and company." }),
  source: z.string().trim().min(1).max(50).optional().openapi({ description: "Only leads created by this source: api, quiz, sync_source, calendly or sql." }),
  createdBy: z.string().trim().min(1).max(200).optional().openapi({ description: "Only leads created by this key or sender, e.g. quiz:quiz_…" }),
  ...pageQuery,
  deletedOnly: flag.optional().openapi({ description: "List soft-deleted leads instead." }),
  fields: z.string().max(200)
    .regex(new RegExp(`^(${listExtras.join("|")})(,(${listExtras.join("|")}))*$`), `must be a comma-separated list of: ${listExtras.join(", ")}`)
    .transform((list) => list.split(",") as ListExtra[]).optional()
    .openapi({ description: `Free-form documents to include: ${listExtras.join(", ")} (comma-separated). Lists leave them out by default to stay small; GET /leads/{leadId} always has them.`, example: "crmData,customFields" }),
});
const ListReply = envelope({
  leads: z.array(ListedLead),
  ...pageFields,
}).openapi("LeadListReply");

const LeadIdParam = z.object({ leadId: z.string().min(1).max(100).openapi({ param: { name: "leadId", in: "path" }, example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }) });
const DeleteQuery = z.object({ permanent: flag.optional().openapi({ description: "Irreversible hard delete." }) });
const LegacyDeleteQuery = DeleteQuery.extend({ id: z.string().min(1).max(100) });

const timestamp = z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time with a time zone, e.g. 2026-03-01T00:00:00Z" });
const BulkDelete = z.object({
  source: z.string().trim().min(1).max(50).openapi({ description: "The source whose leads go: quiz, sync_source, calendly, api or sql (a lead's source).", example: "quiz" }),
  createdBy: z.string().trim().min(1).max(200).optional().openapi({ description: "Only those of one creator, e.g. quiz:quiz_… (a lead's createdBy).", example: "quiz:quiz_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  createdAfter: timestamp.optional().openapi({ description: "Only leads created at or after this time." }),
  createdBefore: timestamp.optional().openapi({ description: "Only leads created before this time." }),
  permanent: z.boolean().default(false).openapi({ description: "true: delete for good (soft-deleted ones of the source too), freeing the plan's room; false: soft delete (restorable, still counted)." }),
  dryRun: z.boolean().default(false).openapi({ description: "true: only count what would be deleted." }),
}).openapi("BulkDeleteLeadsRequest");
const BulkDeleteReply = envelope({
  deleted: z.number().int().openapi({ description: "How many leads were deleted (with dryRun: would be)." }),
  permanent: z.boolean(),
  dryRun: z.boolean(),
  source: z.string(),
}).openapi("BulkDeleteLeadsReply");

/** A page is large when it asks for more rows than 100, or starts 1,000 rows in: expensive work. */
const largeList = (c: { req: { query(name: string): string | undefined } }) =>
  Number(c.req.query("limit") ?? 0) > 100 || Number(c.req.query("offset") ?? 0) >= 1000;

// ---------------------------------------------------------------------------
// Database access
// ---------------------------------------------------------------------------
/** The columns of app.lead_details a list always shows. */
const listedSelect = `
  id, first_name as "firstName", last_name as "lastName", email,
  organization_name as "organizationName", business_type as "businessType", phone, tier, status,
  stage, stage_id as "stageId",
  title, seniority, company_name as "companyName", linkedin_url as "linkedinUrl",
  company_size as "companySize", company_revenue as "companyRevenue",
  enrichment_status as "enrichmentStatus", enriched_at as "enrichedAt",
  last_touch_at as "lastTouchAt", score, score_label as "scoreLabel",
  created_at as "createdAt", updated_at as "updatedAt", deleted_at as "deletedAt",
  source, created_by as "createdBy", proposal_slug as "proposalId"`;

/** Each list extra's column, and whether a row holds something in it: pg_column_size reads
 * only the stored size (an empty object takes at most 8 bytes), never the document itself. */
const extraColumns: Record<ListExtra, { select: string; held: string }> = {
  crmData: { select: `crm_data as "crmData"`, held: "pg_column_size(crm_data) > 8" },
  customFields: { select: `custom_fields as "customFields"`, held: "pg_column_size(custom_fields) > 8" },
  enrichment: { select: "enrichment", held: "enrichment is not null" },
};

/** The columns of app.lead_details as the API names them (the bench reads the same). */
export const leadSelect = [listedSelect, ...listExtras.map((extra) => extraColumns[extra].select)].join(", ");

/** A list's columns: the listed ones, the extras asked for, and leftOut: whether the row holds any extra not asked for. */
function listSelect(extras: ListExtra[]): { select: string; omitted: ListExtra[] } {
  const omitted = listExtras.filter((extra) => !extras.includes(extra));
  const leftOut = omitted.length === 0 ? "false" : omitted.map((extra) => extraColumns[extra].held).join(" or ");
  return {
    select: [listedSelect, ...listExtras.filter((extra) => extras.includes(extra)).map((extra) => extraColumns[extra].select), `(${leftOut}) as "leftOut"`].join(", "),
    omitted,
  };
}

/** The contract's lead shape: aliases included, so clients reading either name work. */
function present(config: AppConfig, row: LeadRow): z.infer<typeof Lead> {
  return {
    ...row, clinicName: row.organizationName, practiceType: row.businessType,
    proposalUrl: row.proposalId ? proposalUrl(config, row.proposalId) : null,
  };
}

const leadById = (db: Tx, id: string) => db<LeadRow[]>`select ${db.unsafe(leadSelect)} from app.lead_details where id = ${id}`;

async function findLead(db: Tx, id: string): Promise<LeadRow | undefined> {
  const [row] = await leadById(db, id);
  return row;
}

async function existingLeadId(db: Tx, email: string): Promise<string | undefined> {
  const [row] = await db<{ id: string }[]>`
    select id from app.leads where email_key = lower(${email}) and deleted_at is null`;
  return row?.id;
}

const duplicateEmail = (id: string) =>
  new ApiError(409, "lead_exists", "A lead with this email already exists in this workspace",
    `The existing lead is ${id}. Update it with PATCH /api/openclaw/leads/${id} instead of creating it again.`,
    { existingId: id }, [`PATCH /api/openclaw/leads/${id} { ...fields to change }`]);

type LeadInput = Partial<Record<TextField, string | null>> & {
  clinicName?: string | null;
  practiceType?: string | null;
  stage?: string;
  customFields?: Record<string, unknown>;
  crmData?: Record<string, unknown>;
};

/** Column values for the text fields present in the input (aliases folded in). */
function textColumns(input: LeadInput): Record<string, string | null> {
  const values: Record<string, string | null> = {};
  const withAliases: LeadInput = {
    ...input,
    organizationName: input.organizationName !== undefined ? input.organizationName : input.clinicName,
    businessType: input.businessType !== undefined ? input.businessType : input.practiceType,
  };
  for (const [field, column] of Object.entries(columns)) {
    const value = withAliases[field as TextField];
    if (value !== undefined) values[column] = value;
  }
  return values;
}

function aliasWarnings(input: LeadInput): string[] {
  const warnings: string[] = [];
  if (input.organizationName != null && input.clinicName != null && input.organizationName !== input.clinicName) {
    warnings.push("Both organizationName and clinicName were sent; organizationName was used");
  }
  if (input.businessType != null && input.practiceType != null && input.businessType !== input.practiceType) {
    warnings.push("Both businessType and practiceType were sent; businessType was used");
  }
  return warnings;
}

function ignoredFieldWarnings(body: Record<string, unknown>): string[] {
  const ignored = unknownFields(body, knownFields);
  return ignored.length === 0 ? [] : [
    `Ignored unknown field(s): ${ignored.join(", ")}. Put custom data in crmData (free-form) or customFields.`,
  ];
}

async function resolveStage(db: Tx, stage: string | undefined): Promise<string | undefined> {
  if (stage === undefined) return undefined;
  const [row] = await db<{ id: string }[]>`select app.resolve_stage(${stage}) as id`;
  return row!.id;
}

type Fragment = ReturnType<Tx["unsafe"]>;

/** SET assignments for an update; crmData/customFields merge (patch) or replace (put). */
async function assignments(db: Tx, input: LeadInput, mode: "merge" | "replace"): Promise<Fragment[]> {
  const sets: Fragment[] = Object.entries(textColumns(input)).map(([column, value]) => db`${db(column)} = ${value}`);
  const stageId = await resolveStage(db, input.stage);
  if (stageId !== undefined) sets.push(db`stage_id = ${stageId}`);
  for (const [field, column] of [["customFields", "custom_fields"], ["crmData", "crm_data"]] as const) {
    const value = input[field];
    if (value === undefined) continue;
    sets.push(mode === "merge"
      ? db`${db(column)} = app.jsonb_merge_patch(${db(column)}, ${db.json(value as never)})`
      : db`${db(column)} = ${db.json(value as never)}`);
  }
  return sets;
}

function joinFragments(db: Tx, parts: Fragment[]): Fragment {
  return parts.reduce((joined, part) => db`${joined}, ${part}`);
}

/** What a bulk delete's reply tells the agent: nothing matched, what a dry run would do, how to review or finish. */
function bulkDeleteGuidance(input: z.infer<typeof BulkDelete>, deleted: number) {
  const warnings: string[] = [];
  const next_steps: string[] = [];
  const again = (change: Record<string, unknown>) => `POST /api/openclaw/leads/bulk-delete ${JSON.stringify({ ...input, dryRun: undefined, ...change })}`;
  if (deleted === 0) {
    warnings.push(`No lead matched: source ${input.source}${input.createdBy ? `, createdBy ${input.createdBy}` : ""}`
      + (input.permanent ? "" : " (live leads only; permanent: true also removes soft-deleted ones)"));
  } else if (input.dryRun) {
    next_steps.push(`${again({})} to delete them`);
  } else if (input.permanent) {
    warnings.push(`${deleted} lead(s) permanently deleted with their history; this cannot be undone`);
  } else {
    const filters = new URLSearchParams({ source: input.source, ...(input.createdBy ? { createdBy: input.createdBy } : {}) });
    next_steps.push(`GET /api/openclaw/leads?deletedOnly=true&${filters} to review them (PATCH /api/openclaw/leads/{id} { "restore": true } brings one back)`,
      `${again({ permanent: true })} to delete them for good: soft-deleted leads still count against the plan`);
  }
  if (input.dryRun) warnings.push(`dryRun: nothing was deleted; ${deleted} lead(s) would be`);
  return { warnings, next_steps };
}

const enrichNext = (id: string) => `POST /api/openclaw/enrich { "leadId": "${id}" }`;

// ---------------------------------------------------------------------------
// Handlers shared by the body-id and path-id variants
// ---------------------------------------------------------------------------
async function patchLead(db: Tx, id: string, body: LeadInput & { restore?: true }, raw: Record<string, unknown>) {
  const current = await findLead(db, id);
  if (!current) throw notFound("Lead", id);
  const warnings = [...aliasWarnings(body), ...ignoredFieldWarnings(raw)];
  if (current.deletedAt && !body.restore) {
    throw new ApiError(409, "lead_deleted", `Lead ${id} is deleted`,
      `Restore it first with PATCH /api/openclaw/leads/${id} { "restore": true }.`);
  }
  const sets = await assignments(db, body, "merge");
  if (body.restore) sets.push(db`deleted_at = null`);
  if (sets.length === 0) {
    warnings.push("Nothing to change: the body had no lead fields");
    return { lead: current, warnings };
  }
  // Restoring, or changing the email, onto an address a live lead already has.
  if (body.restore || (body.email !== undefined && body.email !== null && body.email.toLowerCase() !== current.email.toLowerCase())) {
    const other = await existingLeadId(db, body.email ?? current.email);
    if (other && other !== id) throw duplicateEmail(other);
  }
  await db`update app.leads set ${joinFragments(db, sets)} where id = ${id}`;
  if (body.restore && current.deletedAt) warnings.push("Lead restored");
  return { lead: (await findLead(db, id))!, warnings };
}

async function deleteLead(db: Tx, id: string, permanent: boolean) {
  if (permanent) {
    const [row] = await db`delete from app.leads where id = ${id} returning id`;
    if (!row) throw notFound("Lead", id);
    return { warnings: ["Lead permanently deleted; this cannot be undone"], next_steps: [] };
  }
  const [row] = await db`update app.leads set deleted_at = now() where id = ${id} and deleted_at is null returning id`;
  const alreadyDeleted = !row;
  if (alreadyDeleted && !(await findLead(db, id))) throw notFound("Lead", id);
  return {
    warnings: alreadyDeleted ? ["Lead was already deleted"] : [],
    next_steps: [`PATCH /api/openclaw/leads/${id} { "restore": true } to undo`, `DELETE /api/openclaw/leads/${id}?permanent=true to delete it for good`],
  };
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const tenant = [tenantTransaction];
const tenantPost = [tenantTransaction, idempotency];

const listRoute = createRoute({
  operationId: "listLeads",
  method: "get", path: "/leads", tags: ["Leads"], summary: "List leads", security: bearerAuth,
  // Large pages are expensive: capped per org in concurrency (http/fair-share.ts).
  middleware: [expensiveTransaction(largeList)],
  request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of leads, newest first."), ...commonErrors },
});
const createLeadRoute = createRoute({
  operationId: "createLead",
  method: "post", path: "/leads", tags: ["Leads"], summary: "Create a lead (enrich it explicitly afterwards)",
  security: bearerAuth, middleware: tenantPost, request: jsonBody(CreateLead),
  responses: { 201: json(CreatedLeadReply, "Lead created."), ...limitError, ...conflictError, ...idempotencyError, ...commonErrors },
});
const bulkDeleteRoute = createRoute({
  operationId: "bulkDeleteLeads",
  method: "post", path: "/leads/bulk-delete", tags: ["Leads"],
  summary: "Delete the leads of one source (e.g. a flood of quiz submissions), soft or permanent, in one statement",
  description: "Soft delete (the default) hides them and keeps them restorable; they still count against the plan. permanent: true deletes the source's live and soft-deleted leads for good, which frees the plan's room. Narrow it with createdBy (one quiz or sync source) and createdAfter / createdBefore; dryRun: true only counts. GET /leads?source= lists them first.",
  security: bearerAuth, middleware: [expensiveTransaction(), idempotency], request: jsonBody(BulkDelete),
  responses: { 200: json(BulkDeleteReply, "How many leads were deleted."), ...idempotencyError, ...commonErrors },
});
const replaceRoute = createRoute({
  operationId: "updateLead",
  method: "put", path: "/leads", tags: ["Leads"], summary: "Full update (fields left out are cleared; crmData/customFields replaced)",
  security: bearerAuth, middleware: tenant, request: jsonBody(ReplaceLead),
  responses: { 200: json(LeadReply, "Lead replaced."), ...notFoundError, ...conflictError, ...commonErrors },
});
const patchByBodyRoute = createRoute({
  operationId: "patchLead",
  method: "patch", path: "/leads", tags: ["Leads"], summary: "Partial update, id in body (crmData and customFields merged)",
  security: bearerAuth, middleware: tenant, request: jsonBody(PatchLeadWithId),
  responses: { 200: json(LeadReply, "Lead updated."), ...notFoundError, ...conflictError, ...commonErrors },
});
const legacyDeleteRoute = createRoute({
  operationId: "deleteLead",
  method: "delete", path: "/leads", tags: ["Leads"], summary: "Soft delete, id in query (legacy)",
  security: bearerAuth, middleware: tenant, request: { query: LegacyDeleteQuery },
  responses: { 200: json(DeletedReply, "Lead deleted."), ...notFoundError, ...commonErrors },
});
const getRoute = createRoute({
  operationId: "getLead",
  method: "get", path: "/leads/{leadId}", tags: ["Leads"], summary: "Fetch one lead",
  security: bearerAuth, middleware: tenant, request: { params: LeadIdParam },
  responses: { 200: json(LeadReply, "The lead (deleted leads too, with deletedAt set)."), ...notFoundError, ...commonErrors },
});
const patchRoute = createRoute({
  operationId: "patchLeadById",
  method: "patch", path: "/leads/{leadId}", tags: ["Leads"], summary: "Partial update or restore (preferred)",
  security: bearerAuth, middleware: tenant, request: { params: LeadIdParam, ...jsonBody(PatchLead) },
  responses: { 200: json(LeadReply, "Lead updated."), ...notFoundError, ...conflictError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "deleteLeadById",
  method: "delete", path: "/leads/{leadId}", tags: ["Leads"], summary: "Soft delete, or ?permanent=true to delete for good",
  security: bearerAuth, middleware: tenant, request: { params: LeadIdParam, query: DeleteQuery },
  responses: { 200: json(DeletedReply, "Lead deleted."), ...notFoundError, ...commonErrors },
});

export const leadRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = pageOf(query);
    const stageId = await resolveStage(db, query.stage);
    const filters = [
      query.deletedOnly ? db`deleted_at is not null` : db`deleted_at is null`,
      ...(query.status !== undefined ? [db`status = ${query.status}`] : []),
      ...(query.tier !== undefined ? [db`tier = ${query.tier}`] : []),
      ...(stageId !== undefined ? [db`stage_id = ${stageId}`] : []),
      ...(query.q !== undefined ? [db`search_text like ${"%" + query.q.toLowerCase().replace(/[\\%_]/g, "\\$&") + "%"}`] : []),
      ...(query.source !== undefined ? [db`source = ${query.source}`] : []),
      ...(query.createdBy !== undefined ? [db`created_by = ${query.createdBy}`] : []),
    ];
    const where = filters.reduce((all, f) => db`${all} and ${f}`);
    const order = query.deletedOnly ? db`deleted_at desc, id desc` : db`created_at desc, id desc`;
    const extras = query.fields ?? [];
    const { select, omitted } = listSelect(extras);
    const [rows, [count]] = await finishWith(c,
      db<(LeadRow & { leftOut: boolean })[]>`select ${db.unsafe(select)} from app.lead_details where ${where} order by ${order} limit ${page.limit} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.leads where ${where}`);
    const total = count!.total;
    const listed = page.fit(rows.map(({ leftOut, ...row }) => ({ leftOut, lead: present(c.var.config, row) })),
      extras.length > 0 ? "fewer fields= make lighter rows" : undefined);
    const withLeftOut = listed.filter((row) => row.leftOut).length;
    const warnings = withLeftOut === 0 ? page.warnings : [...page.warnings,
      `${withLeftOut} lead(s) on this page hold ${omitted.join(", ")}, which lists leave out: add fields=${omitted.join(",")} to list them, or GET /api/openclaw/leads/{leadId} for one lead`];
    const filter = (value: string | undefined) => value === undefined ? undefined : encodeURIComponent(value);
    return reply(c, { leads: listed.map((row) => row.lead), ...page.fields(total) }, {
      warnings,
      next_steps: page.next("/leads", listed.length, total, {
        status: filter(query.status), tier: filter(query.tier), stage: filter(query.stage), q: filter(query.q),
        source: filter(query.source), createdBy: filter(query.createdBy),
        deletedOnly: query.deletedOnly ? "true" : undefined, fields: extras.length > 0 ? extras.join(",") : undefined,
      }),
    });
  })
  .openapi(bulkDeleteRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    // app.delete_leads_by_source (sql/40_leads.sql): one statement, under row-level security.
    const [row] = await db<{ deleted: number }[]>`
      select app.delete_leads_by_source(${input.source}, ${input.createdBy ?? null}, ${input.createdAfter ?? null},
                                        ${input.createdBefore ?? null}, ${input.permanent}, ${input.dryRun}) as deleted`;
    const deleted = row!.deleted;
    return reply(c, { deleted, permanent: input.permanent, dryRun: input.dryRun, source: input.source }, bulkDeleteGuidance(input, deleted));
  })
  .openapi(createLeadRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    // app.create_lead (sql/40_leads.sql) is the rule: the insert with its defaults, the
    // stage by name or id, and the 409 naming the live lead that has this email. The lead is
    // read back by its email (the one live lead that has it, once the insert went through),
    // so both statements and the COMMIT go out together.
    const [, [row]] = await finishWith(c,
      db`select app.create_lead(${db.json(input as never)})`,
      db<LeadRow[]>`select ${db.unsafe(leadSelect)} from app.lead_details where email_key = lower(${input.email}) and deleted_at is null`);
    const lead = present(c.var.config, row!);
    return reply(c, { id: lead.id, lead, enrichmentQueued: false as const }, {
      warnings: ["Auto-enrichment disabled — enrich explicitly", ...aliasWarnings(input), ...ignoredFieldWarnings(input)],
      next_steps: [enrichNext(lead.id)],
    }, 201);
  })
  .openapi(replaceRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const current = await findLead(db, input.id);
    if (!current) throw notFound("Lead", input.id);
    if (current.deletedAt) {
      throw new ApiError(409, "lead_deleted", `Lead ${input.id} is deleted`, `Restore it first with PATCH /api/openclaw/leads/${input.id} { "restore": true }.`);
    }
    // A full update: every writable field not sent goes back to empty (status to "new").
    const { id, ...fields } = input;
    const full: LeadInput = { customFields: {}, crmData: {} };
    for (const field of Object.keys(columns) as TextField[]) full[field] = null;
    full.status = "new";
    // A field sent under its alias is sent: don't let the cleared canonical name win.
    if (fields.clinicName !== undefined) delete full.organizationName;
    if (fields.practiceType !== undefined) delete full.businessType;
    const result = await patchLead(db, id, { ...full, ...fields }, input);
    return reply(c, { id, lead: present(c.var.config, result.lead) }, { warnings: result.warnings });
  })
  .openapi(patchByBodyRoute, async (c) => {
    const { id, ...input } = c.req.valid("json");
    const result = await patchLead(c.var.db, id, input, input);
    return reply(c, { id, lead: present(c.var.config, result.lead) }, { warnings: result.warnings });
  })
  .openapi(legacyDeleteRoute, async (c) => {
    const { id, permanent } = c.req.valid("query");
    const result = await deleteLead(c.var.db, id, permanent ?? false);
    return reply(c, { id, deleted: true as const, permanent: permanent ?? false }, result);
  })
  .openapi(getRoute, async (c) => {
    const { leadId } = c.req.valid("param");
    const [[lead]] = await finishWith(c, leadById(c.var.db, leadId));
    if (!lead) throw notFound("Lead", leadId);
    return reply(c, { id: lead.id, lead: present(c.var.config, lead) }, lead.deletedAt ? {
      warnings: ["This lead is soft-deleted"],
      next_steps: [`PATCH /api/openclaw/leads/${lead.id} { "restore": true } to restore it`],
    } : lead.enrichmentStatus === "not_enriched" ? { next_steps: [enrichNext(lead.id)] } : {});
  })
  .openapi(patchRoute, async (c) => {
    const { leadId } = c.req.valid("param");
    const input = c.req.valid("json");
    const result = await patchLead(c.var.db, leadId, input, input);
    return reply(c, { id: leadId, lead: present(c.var.config, result.lead) }, { warnings: result.warnings });
  })
  .openapi(deleteRoute, async (c) => {
    const { leadId } = c.req.valid("param");
    const { permanent } = c.req.valid("query");
    const result = await deleteLead(c.var.db, leadId, permanent ?? false);
    return reply(c, { id: leadId, deleted: true as const, permanent: permanent ?? false }, result);
  });
