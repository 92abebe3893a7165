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
import { enrichmentStatuses, scoreLabels, upsertResults } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { limitOf, pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, limitError, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { expensiveTransaction, finishWith, streamingTransaction, tenantAuthenticated, tenantTransaction } from "../http/tenant.ts";
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

// Bulk: batch upsert, export, duplicates, merge, search.
const BATCH_MAX_ITEMS = 1000;
const BatchItem = z.record(z.string(), z.unknown()).openapi("BatchLeadItem", {
  description: "A lead's fields as POST /leads takes them (email required; firstName required for a new lead). Checked one by one: a bad item fails alone.",
  example: { email: "jane@acme.com", firstName: "Jane", organizationName: "Acme Clinic", customFields: { practiceSize: "Small" } },
});
const BatchRequest = z.object({
  items: z.array(BatchItem).min(1).max(BATCH_MAX_ITEMS).openapi({ description: `1 to ${BATCH_MAX_ITEMS.toLocaleString("en-US")} leads, matched to live leads by email (case-insensitive).` }),
}).openapi("BatchUpsertLeadsRequest");
const ItemError = z.object({
  status: z.number().int().openapi({ description: "The HTTP status this failure would have had alone (400, 402, 409)." }),
  code: z.string(),
  message: z.string(),
  hint: z.string(),
  field: z.string().optional(),
  existingId: z.string().optional(),
}).openapi("BatchItemError");
const BatchResult = z.object({
  index: z.number().int().openapi({ description: "The item's position in items (0-based)." }),
  result: z.enum(upsertResults),
  id: z.string().nullable().openapi({ description: "The lead's id (null when failed)." }),
  error: ItemError.nullable(),
}).openapi("BatchItemResult");
const BatchReply = envelope({
  results: z.array(BatchResult),
  created: z.number().int(),
  updated: z.number().int(),
  unchanged: z.number().int(),
  failed: z.number().int(),
}).openapi("BatchUpsertLeadsReply");

const exportFormats = ["csv", "ndjson"] as const;
const ExportQuery = z.object({
  format: z.enum(exportFormats).default("csv").openapi({ description: "csv (a header row; custom fields as customFields.<key> columns) or ndjson (one lead as JSON per line)." }),
  status: ListQuery.shape.status,
  tier: ListQuery.shape.tier,
  stage: ListQuery.shape.stage,
  q: ListQuery.shape.q,
  source: ListQuery.shape.source,
  createdBy: ListQuery.shape.createdBy,
  deletedOnly: ListQuery.shape.deletedOnly,
});

const DuplicatesQuery = z.object({
  leadId: z.string().min(1).max(100).optional().openapi({ description: "Only this lead's likely duplicates (else every pair in the workspace: expensive work)." }),
  minSimilarity: z.coerce.number().min(0.3).max(1).default(0.6).openapi({ description: "How alike two names must be (pg_trgm similarity, 0.3-1) to count as a similar name. Default 0.6." }),
  ...pageQuery,
});
const LeadSummary = z.object({ id: z.string(), name: z.string(), email: z.string(), company: z.string().nullable(), phone: z.string().nullable() });
const DuplicatePair = z.object({
  leadId: z.string(),
  duplicateId: z.string(),
  reasons: z.array(z.enum(["same_name_and_company", "same_phone", "similar_name"])).openapi({ description: "same_name_and_company: the same full name at the same organization or company; same_phone: the same phone digits; similar_name: names at least minSimilarity alike." }),
  similarity: z.number().openapi({ description: "How alike the two names are (0-1, pg_trgm)." }),
  lead: LeadSummary,
  duplicate: LeadSummary,
}).openapi("DuplicatePair");
const DuplicatesReply = envelope({ duplicates: z.array(DuplicatePair), ...pageFields }).openapi("LeadDuplicatesReply");

const MergeRequest = z.object({
  primaryId: z.string().min(1).max(100).openapi({ description: "The lead that stays.", example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  duplicateIds: z.array(z.string().min(1).max(100)).min(1).max(50).openapi({ description: "The leads merged into it (their records move, they are soft-deleted with mergedInto set). Earlier ones fill the primary's empty fields first." }),
}).openapi("MergeLeadsRequest");
const MergeReply = envelope({
  merge: z.object({
    id: z.string(),
    primaryId: z.string(),
    duplicateIds: z.array(z.string()),
    moved: z.record(z.string(), z.number()).openapi({ description: "Rows moved to the primary, per kind (notes, touchpoints, events, stageChanges, enrollments, …)." }),
    filled: z.array(z.string()).openapi({ description: "The primary's fields filled from the duplicates." }),
  }),
  lead: Lead,
}).openapi("MergeLeadsReply");

const SearchQuery = z.object({
  q: z.string().trim().min(1).max(200).openapi({ description: "Words to find in names, emails, companies, notes and enrichment facts (web-search syntax: \"exact phrase\", -excluded, or)." }),
  limit: pageQuery.limit,
});
const SearchReply = envelope({
  results: z.array(z.object({
    lead: ListedLead,
    rank: z.number().openapi({ description: "Higher is better: full-text rank plus trigram similarity; notes and facts count half." }),
    matched: z.array(z.enum(["lead", "fuzzy", "note", "fact"])).openapi({ description: "What matched: lead (the lead's own words), fuzzy (part of a name, email or company, typos allowed), note, fact (schools, former employers)." }),
    snippet: z.string().nullable().openapi({ description: "The best matching note, shortened, when a note matched." }),
  })),
}).openapi("LeadSearchReply");

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

// ---------------------------------------------------------------------------
// The filters of GET /leads, shared by its export (GET /leads/export)
// ---------------------------------------------------------------------------
type LeadFilterQuery = Pick<z.infer<typeof ListQuery>, "status" | "tier" | "stage" | "q" | "source" | "createdBy" | "deletedOnly">;

/** A list's filters as values: the stage resolved to its id, q as the LIKE pattern over search_text. */
interface LeadFilters {
  deletedOnly: boolean;
  status?: string;
  tier?: string;
  stageId?: string;
  pattern?: string;
  source?: string;
  createdBy?: string;
}
type FilterValue = Exclude<keyof LeadFilters, "deletedOnly">;

async function leadFilters(db: Tx, query: LeadFilterQuery): Promise<LeadFilters> {
  const stageId = await resolveStage(db, query.stage);
  const defined = <T>(value: T | undefined) => value === undefined ? {} : value;
  return {
    deletedOnly: query.deletedOnly ?? false,
    ...defined(query.status !== undefined ? { status: query.status } : undefined),
    ...defined(query.tier !== undefined ? { tier: query.tier } : undefined),
    ...defined(stageId !== undefined ? { stageId } : undefined),
    ...defined(query.q !== undefined ? { pattern: `%${query.q.toLowerCase().replace(/[\\%_]/g, "\\$&")}%` } : undefined),
    ...defined(query.source !== undefined ? { source: query.source } : undefined),
    ...defined(query.createdBy !== undefined ? { createdBy: query.createdBy } : undefined),
  };
}

/**
 * The WHERE of a lead list (over app.leads or app.lead_details). value(name) is how a filter's
 * value reaches SQL: a bind parameter for the list; for the export's COPY, which takes none, a
 * read of the transaction-local setting the values were put in.
 */
function leadWhere(db: Tx, filters: LeadFilters, value: (name: FilterValue) => Fragment): Fragment {
  const column: Record<FilterValue, string> = {
    status: "status = ", tier: "tier = ", stageId: "stage_id = ", pattern: "search_text like ", source: "source = ", createdBy: "created_by = ",
  };
  return (Object.keys(column) as FilterValue[])
    .filter((name) => filters[name] !== undefined)
    .reduce((all, name) => db`${all} and ${db.unsafe(column[name])}${value(name)}`,
      filters.deletedOnly ? db`deleted_at is not null` : db`deleted_at is null`);
}

/** The list's filters as a next page's query string takes them. */
function filterQuery(query: LeadFilterQuery): Record<string, string | undefined> {
  const encode = (value: string | undefined) => value === undefined ? undefined : encodeURIComponent(value);
  return {
    status: encode(query.status), tier: encode(query.tier), stage: encode(query.stage), q: encode(query.q),
    source: encode(query.source), createdBy: encode(query.createdBy), deletedOnly: query.deletedOnly ? "true" : undefined,
  };
}

// ---------------------------------------------------------------------------
// Export: the columns of a CSV row and the object of an NDJSON line
// ---------------------------------------------------------------------------
/** How long an export's COPY may run: longer than other expensive work, since it streams to a client that may read slowly. */
const EXPORT_STATEMENT_TIMEOUT_MS = 300_000;

/** A timestamp as ISO 8601 with its zone, the way the API's JSON writes it. */
const iso = (column: string) => `to_json(${column}) #>> '{}'`;

/** The fields every export carries, by the contract's names, in order. */
const exportFields: [string, string][] = [
  ["id", "id"], ["firstName", "first_name"], ["lastName", "last_name"], ["email", "email"],
  ["organizationName", "organization_name"], ["businessType", "business_type"], ["phone", "phone"], ["tier", "tier"],
  ["status", "status"], ["stage", "stage"], ["stageId", "stage_id"], ["title", "title"], ["seniority", "seniority"],
  ["companyName", "company_name"], ["linkedinUrl", "linkedin_url"], ["companySize", "company_size"],
  ["companyRevenue", "company_revenue"], ["enrichmentStatus", "enrichment_status"], ["enrichedAt", iso("enriched_at")],
  ["lastTouchAt", iso("last_touch_at")], ["score", "score"], ["scoreLabel", "score_label"], ["source", "source"],
  ["createdBy", "created_by"], ["createdAt", iso("created_at")], ["updatedAt", iso("updated_at")],
  ["deletedAt", iso("deleted_at")], ["mergedInto", "merged_into"], ["proposalId", "proposal_slug"],
];

interface FieldDefinition {
  key: string;
  fieldType: string;
}

/** A definition's key, checked again before it goes into SQL text (the table's check allows only these characters). */
const safeKey = (key: string) => {
  if (!/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/.test(key)) throw new Error(`unexpected custom field key ${key}`);
  return key;
};

/** CSV: every field, the JSON documents as JSON text, each defined custom field as customFields.<key>. */
function csvColumns(fields: FieldDefinition[]): string {
  const keys = fields.map((field) => `'${safeKey(field.key)}'`).join(", ");
  return [
    ...exportFields.map(([name, sql]) => `${sql} as "${name}"`),
    `crm_data::text as "crmData"`,
    `enrichment::text as "enrichment"`,
    `nullif((custom_fields - array[${keys}]::text[])::text, '{}') as "customFields"`,
    ...fields.map(({ key, fieldType }) => fieldType === "multiselect"
      ? `(select string_agg(v, ';') from jsonb_array_elements_text(case when jsonb_typeof(custom_fields -> '${safeKey(key)}') = 'array' then custom_fields -> '${key}' end) v) as "customFields.${key}"`
      : `custom_fields #>> '{${safeKey(key)}}' as "customFields.${key}"`),
  ].join(", ");
}

/** NDJSON: one object per lead, as GET /leads/{leadId} names the fields (customFields whole). */
const ndjsonColumns = [
  ...exportFields.map(([name, sql]) => `${sql} as "${name}"`),
  `crm_data as "crmData"`, `custom_fields as "customFields"`, `enrichment`,
].join(", ");

/** A lead as a duplicate pair shows it. */
const leadSummary = (db: Tx, alias: "a" | "b") => db.unsafe(`json_build_object('id', ${alias}.id,
  'name', btrim(${alias}.first_name || ' ' || coalesce(${alias}.last_name, '')), 'email', ${alias}.email,
  'company', coalesce(${alias}.company_name, ${alias}.organization_name), 'phone', ${alias}.phone)`);

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
const batchRoute = createRoute({
  operationId: "batchUpsertLeads",
  method: "post", path: "/leads/batch", tags: ["Leads"],
  summary: "Create or update up to 1,000 leads by email in one statement (PATCH semantics), with a result per item",
  description: "Each item is matched to a live lead by email (case-insensitive): a match is updated like PATCH /leads/{id} (fields sent replace, null clears, customFields and crmData merge), otherwise a lead is created. Every item is checked on its own: a bad one fails with its error and hint while the others land. The plan limit is counted exactly: new leads past the room left fail with lead_limit_reached. Expensive work (fair share); Idempotency-Key honoured.",
  security: bearerAuth, middleware: [expensiveTransaction(), idempotency], request: jsonBody(BatchRequest),
  responses: { 200: json(BatchReply, "What each item did."), ...idempotencyError, ...commonErrors },
});
const exportRoute = createRoute({
  operationId: "exportLeads",
  method: "get", path: "/leads/export", tags: ["Leads"],
  summary: "Every lead matching GET /leads' filters, streamed as CSV or NDJSON with every field",
  description: "Streamed straight from the database (COPY … TO STDOUT), newest first, so memory does not grow with the number of leads. CSV: a header row of the contract's field names; crmData, enrichment and customFields keys without a definition as JSON; each defined custom field as a customFields.<key> column (multiselect values joined with ;), which POST /imports reads back. NDJSON: one lead per line, customFields as an object. Expensive work (fair share).",
  security: bearerAuth, middleware: [tenantAuthenticated], request: { query: ExportQuery },
  responses: {
    200: {
      description: "The leads, as a download.",
      content: { "text/csv": { schema: z.string() }, "application/x-ndjson": { schema: z.string() } },
    },
    ...commonErrors,
  },
});
const duplicatesRoute = createRoute({
  operationId: "listLeadDuplicates",
  method: "get", path: "/leads/duplicates", tags: ["Leads"],
  summary: "Likely duplicate leads beyond the one-lead-per-email rule (same name and company, same phone, similar name)",
  description: "Pairs of live leads that are probably one person under two emails, most alike first, each with its reasons and the names' similarity. POST /leads/merge merges them. Without leadId it compares the whole workspace: expensive work (fair share).",
  security: bearerAuth, middleware: [expensiveTransaction((c) => c.req.query("leadId") === undefined)], request: { query: DuplicatesQuery },
  responses: { 200: json(DuplicatesReply, "A page of likely duplicate pairs."), ...notFoundError, ...commonErrors },
});
const mergeRoute = createRoute({
  operationId: "mergeLeads",
  method: "post", path: "/leads/merge", tags: ["Leads"],
  summary: "Merge duplicate leads into a primary lead, in one transaction",
  description: "Moves the duplicates' notes, touchpoints, events, stage history, enrolments, automation runs, meetings, quiz submissions and enrichment facts to the primary, adds up their engagement, fills the primary's empty fields (customFields and crmData: keys it lacks), soft-deletes the duplicates with mergedInto pointing at the primary, and records the merge. The primary keeps its proposal page (an empty one takes a duplicate's content). Another workspace's lead is 404. Idempotency-Key honoured.",
  security: bearerAuth, middleware: tenantPost, request: jsonBody(MergeRequest),
  responses: { 200: json(MergeReply, "The merge and the primary lead."), ...notFoundError, ...conflictError, ...idempotencyError, ...commonErrors },
});
const searchRoute = createRoute({
  operationId: "searchLeads",
  method: "get", path: "/leads/search", tags: ["Leads"],
  summary: "Search leads by name, email, company, notes and enrichment facts, best match first",
  security: bearerAuth, middleware: tenant, request: { query: SearchQuery },
  responses: { 200: json(SearchReply, "The best matching live leads."), ...commonErrors },
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
    const filters = await leadFilters(db, query);
    const where = leadWhere(db, filters, (name) => db`${filters[name] ?? null}`);
    const page = await pageOf(c, query, {
      list: "/leads",
      sort: [{ sql: query.deletedOnly ? "deleted_at" : "created_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
      filters: { ...filters },
    });
    const extras = query.fields ?? [];
    const { select, omitted } = listSelect(extras);
    const [rows, [count]] = await finishWith(c,
      db<(LeadRow & { leftOut: boolean; _cursor: unknown[] })[]>`
        select ${db.unsafe(select)}, ${page.keys(db)} from app.lead_details where ${where} and ${page.after(db)}
        order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.leads where ${where}`);
    const total = count!.total;
    const listed = await page.fit(rows.map(({ leftOut, _cursor, ...row }) => ({ leftOut, _cursor, lead: present(c.var.config, row) })),
      extras.length > 0 ? "fewer fields= make lighter rows" : undefined);
    const withLeftOut = listed.filter((row) => row.leftOut).length;
    const warnings = withLeftOut === 0 ? page.warnings : [...page.warnings,
      `${withLeftOut} lead(s) on this page hold ${omitted.join(", ")}, which lists leave out: add fields=${omitted.join(",")} to list them, or GET /api/openclaw/leads/{leadId} for one lead`];
    return reply(c, { leads: listed.map((row) => row.lead), ...page.fields(total) }, {
      warnings,
      next_steps: page.next("/leads", { ...filterQuery(query), fields: extras.length > 0 ? extras.join(",") : undefined }),
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
  .openapi(batchRoute, async (c) => {
    const { items } = c.req.valid("json");
    const db = c.var.db;
    // app.upsert_leads (sql/40_leads.sql): every item checked alone, one statement, the plan's room counted once.
    const rows = await db<{ index: number; result: z.infer<typeof BatchResult>["result"]; id: string | null; error: z.infer<typeof ItemError> | null }[]>`
      select u.item as index, u.result, u.lead_id as id, u.error from app.upsert_leads(${db.json(items as never)}) u order by u.item`;
    const count = (result: string) => rows.filter((row) => row.result === result).length;
    const failed = rows.filter((row) => row.error !== null);
    const codes = [...new Set(failed.map((row) => row.error!.code))];
    return reply(c, {
      results: rows, created: count("created"), updated: count("updated"), unchanged: count("unchanged"), failed: failed.length,
    }, {
      warnings: failed.length === 0 ? [] : [`${failed.length} of ${rows.length} item(s) failed (${codes.join(", ")}): each result's error says why and how to fix it; the others landed`],
      next_steps: [
        ...(codes.includes("lead_limit_reached") ? ["GET /api/openclaw/org/tier shows the plan's room"] : []),
        ...(failed.length > 0 ? ["Send the failed items again, fixed, in a new batch (items that landed come back unchanged)"] : []),
      ],
    });
  })
  .openapi(exportRoute, async (c) => {
    const query = c.req.valid("query");
    const ndjson = query.format === "ndjson";
    const body = await streamingTransaction(c, EXPORT_STATEMENT_TIMEOUT_MS, async (tx) => {
      const filters = await leadFilters(tx, query);
      const fields = await tx<{ key: string; fieldType: string }[]>`
        select key, field_type as "fieldType" from app.custom_fields order by position, lower(key)`;
      // COPY takes no bind parameters: the filters' values are read back from a transaction-local setting.
      await tx`select set_config('openclaw.lead_filters', ${JSON.stringify(filters)}, true)`;
      const where = leadWhere(tx, filters, (name) => tx.unsafe(`(current_setting('openclaw.lead_filters')::jsonb ->> '${name}')`));
      const order = filters.deletedOnly ? "deleted_at desc, id desc" : "created_at desc, id desc";
      const rows = tx`select ${tx.unsafe(ndjson ? ndjsonColumns : csvColumns(fields))} from app.lead_details
                      where ${where} order by ${tx.unsafe(order)}`;
      // NDJSON: each row's JSON as one CSV field whose quote and delimiter never occur in JSON
      // text (control characters are escaped there), so COPY writes it as it is.
      const copy = ndjson
        ? tx`copy (select row_to_json(x)::text from (${rows}) x) to stdout with (format csv, quote e'\\x01', delimiter e'\\x02')`
        : tx`copy (${rows}) to stdout with (format csv, header)`;
      const stream = await copy.readable();
      return { stream, cancel: () => void copy.cancel() };
    });
    const date = new Date().toISOString().slice(0, 10);
    return c.body(body, 200, {
      "Content-Type": ndjson ? "application/x-ndjson; charset=utf-8" : "text/csv; charset=utf-8",
      "Content-Disposition": `attachment; filename="leads-${date}.${ndjson ? "ndjson" : "csv"}"`,
      "Cache-Control": "no-store",
    });
  })
  .openapi(duplicatesRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    if (query.leadId !== undefined && (await db`select 1 from app.leads where id = ${query.leadId}`).length === 0) {
      throw notFound("Lead", query.leadId);
    }
    const page = await pageOf(c, query, {
      list: "/leads/duplicates",
      sort: [{ sql: "d.similarity", type: "real", desc: true }, { sql: "d.lead_id", type: "text" }, { sql: "d.duplicate_id", type: "text" }],
      filters: { leadId: query.leadId, minSimilarity: query.minSimilarity },
    });
    // app.lead_duplicates (sql/88_bulk.sql) finds the pairs; the page is cut from them here.
    const fetched = await db<(Omit<z.infer<typeof DuplicatePair>, "lead" | "duplicate"> & { total: number; lead: z.infer<typeof LeadSummary>; duplicate: z.infer<typeof LeadSummary>; _cursor: unknown[] })[]>`
      with d as (select p.*, count(*) over ()::integer as total from app.lead_duplicates(${query.leadId ?? null}, ${query.minSimilarity}) p)
      select d.lead_id as "leadId", d.duplicate_id as "duplicateId", d.reasons, d.similarity, d.total,
             ${leadSummary(db, "a")} as lead, ${leadSummary(db, "b")} as duplicate, ${page.keys(db)}
      from d
      join app.leads a on a.id = d.lead_id
      join app.leads b on b.id = d.duplicate_id
      where ${page.after(db)}
      order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`;
    const rows = await page.fit(fetched);
    const total = rows[0]?.total ?? 0;
    const duplicates = rows.map(({ total: _total, ...pair }) => pair);
    const first = duplicates[0];
    return reply(c, { duplicates, ...page.fields(total) }, {
      next_steps: [
        ...(first ? [`POST /api/openclaw/leads/merge { "primaryId": "${first.leadId}", "duplicateIds": ["${first.duplicateId}"] } merges the first pair (check both first: GET /api/openclaw/leads/{leadId})`] : []),
        ...page.next("/leads/duplicates", { leadId: query.leadId, minSimilarity: String(query.minSimilarity) }),
      ],
    });
  })
  .openapi(mergeRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    // app.merge_leads (sql/88_bulk.sql): the whole merge, in this request's transaction.
    const [row] = await db<{ merge: z.infer<typeof MergeReply>["merge"] }[]>`
      select app.merge_leads(${input.primaryId}, ${input.duplicateIds}::text[]) as merge`;
    const lead = present(c.var.config, (await findLead(db, input.primaryId))!);
    return reply(c, { merge: row!.merge, lead }, {
      warnings: [`${row!.merge.duplicateIds.length} lead(s) merged into ${input.primaryId} and soft-deleted (mergedInto points at it)`],
      next_steps: [`GET /api/openclaw/leads/${input.primaryId}`, `GET /api/openclaw/notes?leadId=${input.primaryId}`],
    });
  })
  .openapi(searchRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const { limit, warnings } = limitOf({ limit: Math.min(query.limit ?? 20, 100) });
    // app.search_leads (sql/88_bulk.sql) ranks; the leads are read for the page only.
    const rows = await db<(LeadRow & { rank: number; matched: z.infer<typeof SearchReply>["results"][number]["matched"]; snippet: string | null })[]>`
      select ${db.unsafe(listSelect([]).select)}, s.rank, s.matched, s.snippet
      from app.search_leads(${query.q}, ${limit}) s
      join app.lead_details on lead_details.id = s.lead_id
      order by s.rank desc, s.lead_id`;
    const results = rows.map(({ rank, matched, snippet, leftOut: _leftOut, ...lead }: typeof rows[number] & { leftOut?: boolean }) =>
      ({ lead: present(c.var.config, lead), rank, matched, snippet }));
    return reply(c, { results }, {
      warnings: [...warnings, ...(query.limit !== undefined && query.limit > 100 ? ["limit capped at 100"] : [])],
      next_steps: results.length === 0 ? [`GET /api/openclaw/leads?q=${encodeURIComponent(query.q)} lists leads whose name, email or company contain it`] : [],
    });
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
