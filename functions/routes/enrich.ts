// Enrichment: enrich one lead or up to five synchronously, read the stored result, and the
// spider web of connections between an org's leads.
//
// POST /enrich and /enrich/bulk call the outside world, so they authenticate without a
// transaction (tenantAuthenticated) and run short transactions of their own (asTenant):
// nothing is held open while a provider answers. The Idempotency-Key middleware needs the
// request's transaction, so it does not apply here; enrichment is idempotent by itself
// (a recently enriched lead is returned as stored unless force is sent, and a lead that is
// being enriched is refused with 409 rather than enriched twice).
import { createRoute, type Hook, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppConfig } from "../config.ts";
import { createEnricher, type Enricher, type EnrichmentRunContext, type EnrichmentState, readEnrichment } from "../enrichment/enrich.ts";
import { createProviders } from "../enrichment/providers.ts";
import { CONFIDENCE_THRESHOLDS, confidenceLabels, enrichmentTiers, summaryOf } from "../enrichment/summary.ts";
import { jsonBody, jsonObject } from "../http/body.ts";
import type { AppEnv } from "../http/context.ts";
import { enrichmentStatuses } from "../http/enums.ts";
import { ApiError, errorReply, notFound } from "../http/errors.ts";
import { limitOf, MAX_LIMIT } from "../http/paging.ts";
import { bearerAuth, commonErrors, envelope, errorResponse, json, notFoundError, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { asTenant, expensiveTransaction, tenantAuthenticated, tenantTransaction } from "../http/tenant.ts";
import { validationHook } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const LeadId = z.string().trim().min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" });
const MAX_BULK = 5;

const EnrichRequest = z.object({
  leadId: LeadId,
  force: z.boolean().optional().openapi({ description: "Re-fetch even if enriched recently (default false); bypasses the provider cache, so paid providers may spend credits." }),
}).openapi("EnrichRequest");

const BulkRequest = z.object({
  leadIds: z.array(LeadId).min(1).max(MAX_BULK).openapi({ description: `At most ${MAX_BULK} lead ids per call; loop in batches of ${MAX_BULK}.` }),
  forceRefresh: z.boolean().optional().openapi({ description: "As force on POST /enrich, for every lead." }),
  force: z.boolean().optional().openapi({ description: "Alias of forceRefresh." }),
}).openapi("BulkEnrichRequest");

const SpiderWebRequest = z.object({
  leadId: LeadId,
  limit: z.number().int().min(1).optional().openapi({ description: `Connections returned, strongest first: default 50, at most ${MAX_LIMIT}.` }),
}).openapi("SpiderWebRequest");

const { high, medium } = CONFIDENCE_THRESHOLDS;
const tierText = "high: a senior person (owner, founder, C-level, partner, VP, head, director) at a known company, or a company of more than 500 employees; "
  + "medium: the company (name, size, or domain confirmed by its website or a paid provider) or the person is known; low: only the address was read, or nothing was found. "
  + "Reported only: the lead's own tier is not changed.";
const labelText = `high ≥ ${high}, medium ≥ ${medium}, low below.`;
const Tier = z.enum(enrichmentTiers);
const Label = z.enum(confidenceLabels);

const topLevel = {
  tier: Tier.nullable().openapi({ description: `What was found, as a tier (null before the first run). ${tierText}` }),
  sources: z.array(z.string()).openapi({
    description: "The sources that found something, most trusted first (paid providers in waterfall order, then website, then email); enrichment.sourceDetails has every source asked.",
    example: ["apollo", "website", "email"],
  }),
  confidence: z.number().nullable().openapi({ description: "How sure the result is, 0..1 (enrichment.confidence.overall; null before the first run)." }),
  confidenceLabel: Label.nullable().openapi({ description: `confidence as a label: ${labelText}` }),
  enrichedAt: z.string().nullable(),
  title: z.string().nullable(),
  seniority: z.string().nullable(),
  companyName: z.string().nullable(),
  linkedinUrl: z.string().nullable(),
  companySize: z.string().nullable(),
  companyRevenue: z.string().nullable(),
  enrichment: jsonObject.nullable().openapi({
    description: "The stored document: tier, sources[] (names, most trusted first), sourceDetails[] {name, status, cached, ms, error?, confidence?} for every source asked, "
      + `facts, discussionPoints[] {topic, detail, source}, techStack[], confidence {overall, label (${labelText}), basis, bySource}, raw {per source}.`,
  }),
};

const EnrichReply = envelope({
  leadId: z.string(),
  status: z.enum(enrichmentStatuses).openapi({ description: "complete or failed: check it." }),
  ...topLevel,
  error: z.string().optional().openapi({ description: "Why it failed (status failed only)." }),
}).openapi("EnrichReply");

const StatusReply = envelope({
  leadId: z.string(),
  status: z.enum(enrichmentStatuses),
  startedAt: z.string().nullable().openapi({ description: "When the latest run started." }),
  error: z.string().nullable(),
  ...topLevel,
}).openapi("EnrichmentStatusReply");

const BulkReply = envelope({
  results: z.array(z.object({
    leadId: z.string(),
    status: z.enum(enrichmentStatuses),
    error: z.string().optional(),
    errorCode: z.string().optional().openapi({ description: "not_found, lead_deleted, enrichment_in_progress, … when the lead could not be enriched at all." }),
    enrichedAt: z.string().nullable().optional(),
    tier: Tier.nullable().optional().openapi({ description: `As on POST /enrich; absent when the lead could not be enriched at all. ${tierText}` }),
    confidenceLabel: Label.nullable().optional().openapi({ description: `As on POST /enrich: ${labelText}` }),
  })),
  succeeded: z.number().int(),
  failed: z.number().int(),
}).openapi("BulkEnrichReply");

const Connection = z.object({
  leadId: z.string(),
  name: z.string(),
  connectionType: z.enum(["referral", "same_company_domain", "same_organization", "same_referrer", "shared_school", "shared_previous_employer", "worked_at_their_company"]),
  detail: z.string(),
  strength: z.number().openapi({ description: "0..1, strongest first." }),
}).openapi("Connection");

const SpiderWebReply = envelope({
  leadId: z.string(),
  connections: z.array(Connection),
  totalConnections: z.number().int(),
  connectedLeads: z.number().int().openapi({ description: "Distinct leads among all connections." }),
}).openapi("SpiderWebReply");

// ---------------------------------------------------------------------------
// The app's enricher: built once per app (its providers and the calls in flight).
// ---------------------------------------------------------------------------
const enrichers = new WeakMap<AppConfig, Enricher>();

function enricherOf(c: Context<AppEnv>): Enricher {
  let enricher = enrichers.get(c.var.config);
  if (!enricher) {
    const config = c.var.config.enrichment;
    enricher = createEnricher(config, createProviders(config, { resolveMx: c.var.resolveMx, resolveHost: c.var.resolveHost }));
    enrichers.set(c.var.config, enricher);
  }
  return enricher;
}

function runContext(c: Context<AppEnv>): EnrichmentRunContext {
  return { orgId: c.var.orgId, transaction: (work) => asTenant(c, work) };
}

const deadline = (c: Context<AppEnv>) => Date.now() + c.var.config.enrichment.budgetMs;

function nextSteps(state: EnrichmentState): string[] {
  const id = state.leadId;
  if (state.status === "complete") {
    return [`POST /api/openclaw/enrich/spider-web { "leadId": "${id}" } to see how this lead connects to your other leads`, `GET /api/openclaw/leads/${id}`];
  }
  if (state.status === "failed") {
    return [`POST /api/openclaw/enrich { "leadId": "${id}", "force": true } to retry`, "If it keeps failing, POST /api/openclaw/feedback with the error"];
  }
  if (state.status === "enriching") return [`GET /api/openclaw/enrich?leadId=${id} again in a few seconds`];
  return [`POST /api/openclaw/enrich { "leadId": "${id}" }`];
}

function topLevelOf(state: EnrichmentState) {
  return {
    ...summaryOf(state.enrichment),
    enrichedAt: state.enrichedAt, title: state.title, seniority: state.seniority, companyName: state.companyName,
    linkedinUrl: state.linkedinUrl, companySize: state.companySize, companyRevenue: state.companyRevenue, enrichment: state.enrichment,
  };
}

/** The shared validation answer, except for too many bulk ids, which gets its own advice. */
// deno-lint-ignore no-explicit-any -- shared by routes of every shape, like validationHook
const enrichValidationHook: Hook<any, AppEnv, any, any> = (result, c) => {
  if (result.success) return;
  const tooMany = result.error.issues.some((issue) => issue.path[0] === "leadIds" && issue.path.length === 1 && issue.code === "too_big");
  if (tooMany) {
    return errorReply(c, new ApiError(400, "too_many_leads", `Bulk enrichment takes at most ${MAX_BULK} leads per call`,
      `Split leadIds into batches of ${MAX_BULK} and send one POST /api/openclaw/enrich/bulk per batch, awaiting each before the next.`));
  }
  return validationHook(result, c);
};

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const busyError = { 409: errorResponse("The lead is deleted, or another request is enriching it right now.") } as const;

const enrichRoute = createRoute({
  operationId: "enrichLead",
  method: "post", path: "/enrich", tags: ["Enrichment"], summary: "Enrich one lead synchronously (answers complete or failed within the time budget)",
  security: bearerAuth, middleware: [tenantAuthenticated], request: jsonBody(EnrichRequest),
  responses: { 200: json(EnrichReply, "The result: check status."), ...notFoundError, ...busyError, ...commonErrors },
});
const statusRoute = createRoute({
  operationId: "getEnrichment",
  method: "get", path: "/enrich", tags: ["Enrichment"], summary: "A lead's stored enrichment status and data",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: z.object({ leadId: LeadId }) },
  responses: { 200: json(StatusReply, "The stored status and data."), ...notFoundError, ...commonErrors },
});
const bulkRoute = createRoute({
  operationId: "bulkEnrichLeads",
  method: "post", path: "/enrich/bulk", tags: ["Enrichment"], summary: `Enrich up to ${MAX_BULK} leads side by side within one time budget`,
  security: bearerAuth, middleware: [tenantAuthenticated], request: jsonBody(BulkRequest),
  responses: { 200: json(BulkReply, "One result per lead; failures are per lead."), ...commonErrors },
});
const spiderWebRoute = createRoute({
  operationId: "getSpiderWeb",
  method: "post", path: "/enrich/spider-web", tags: ["Enrichment"], summary: "How a lead connects to your other leads",
  // Expensive: capped per org in concurrency and under a statement timeout (http/fair-share.ts).
  security: bearerAuth, middleware: [expensiveTransaction()], request: jsonBody(SpiderWebRequest),
  responses: { 200: json(SpiderWebReply, "Connections, strongest first."), ...notFoundError, ...busyError, ...commonErrors },
});

export const enrichRoutes = createRouter(enrichValidationHook)
  .openapi(enrichRoute, async (c) => {
    const { leadId, force } = c.req.valid("json");
    const enricher = enricherOf(c);
    const outcome = await enricher.enrichLead(runContext(c), leadId, { force: force ?? false, deadline: deadline(c) });
    const { state } = outcome;
    return reply(c, {
      leadId, status: state.status, ...topLevelOf(state), ...(state.status === "failed" && state.error ? { error: state.error } : {}),
    }, { warnings: [...outcome.warnings, ...enricher.sourcesWarnings([outcome])], next_steps: nextSteps(state) });
  })
  .openapi(statusRoute, async (c) => {
    const { leadId } = c.req.valid("query");
    const state = await readEnrichment(c.var.db, leadId);
    if (!state) throw notFound("Lead", leadId);
    const { deleted, ...stored } = state;
    return reply(c, { leadId, status: stored.status, startedAt: stored.startedAt, error: stored.error, ...topLevelOf(stored) }, {
      warnings: deleted ? ["This lead is soft-deleted"] : [],
      next_steps: deleted ? [`PATCH /api/openclaw/leads/${leadId} { "restore": true } to restore it`] : nextSteps(stored),
    });
  })
  .openapi(bulkRoute, async (c) => {
    const input = c.req.valid("json");
    const leadIds = [...new Set(input.leadIds)];
    const force = input.forceRefresh ?? input.force ?? false;
    const enricher = enricherOf(c);
    const outcomes = await enricher.enrichLeads(runContext(c), leadIds, { force, deadline: deadline(c) });
    const warnings: string[] = leadIds.length < input.leadIds.length ? ["Duplicate lead ids were enriched once"] : [];
    const results = outcomes.map((o) => {
      if ("error" in o) return { leadId: o.leadId, status: "failed" as const, error: o.error.message, errorCode: o.error.code };
      const { state } = o.outcome;
      warnings.push(...o.outcome.warnings.map((w) => `${o.leadId}: ${w}`));
      const { tier, confidenceLabel } = summaryOf(state.enrichment);
      return {
        leadId: o.leadId, status: state.status, enrichedAt: state.enrichedAt, tier, confidenceLabel,
        ...(state.status === "failed" && state.error ? { error: state.error } : {}),
      };
    });
    warnings.push(...enricher.sourcesWarnings(outcomes.flatMap((o) => ("outcome" in o ? [o.outcome] : []))));
    const succeeded = results.filter((r) => r.status === "complete").length;
    const failed = results.length - succeeded;
    return reply(c, { results, succeeded, failed }, {
      warnings,
      next_steps: failed > 0
        ? ["Read results[].error; retry failed leads with POST /api/openclaw/enrich { \"leadId\": …, \"force\": true }"]
        : ["GET /api/openclaw/enrich?leadId=… for each lead's data"],
    });
  })
  .openapi(spiderWebRoute, async (c) => {
    const { leadId, limit: asked } = c.req.valid("json");
    const { limit, warnings } = limitOf({ limit: asked });
    const db = c.var.db;
    // The CTE is computed once and read three times: the page, the total, the distinct leads.
    const rows = await db<(z.infer<typeof Connection> & { total: number; leads: number })[]>`
      with w as (select * from app.spider_web(${leadId}))
      select w.lead_id as "leadId", w.name, w.connection_type as "connectionType", w.detail, w.strength::float8 as strength,
             (select count(*) from w)::integer as total, (select count(distinct lead_id) from w)::integer as leads
      from w
      order by w.strength desc, w.name, w.connection_type
      limit ${limit}`;
    const counts = rows[0] ?? { total: 0, leads: 0 };
    const connections = rows.map(({ leadId: id, name, connectionType, detail, strength }) => ({ leadId: id, name, connectionType, detail, strength }));
    return reply(c, { leadId, connections, totalConnections: counts.total, connectedLeads: counts.leads }, {
      warnings,
      next_steps: counts.total === 0
        ? [`No connections yet: enrich more leads (POST /api/openclaw/enrich) so schools and former employers can be matched`]
        : counts.total > connections.length ? [`${counts.total - connections.length} weaker connections not shown: send a higher limit (at most ${MAX_LIMIT})`] : [],
    });
  });
