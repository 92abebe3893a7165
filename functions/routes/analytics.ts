// Pipeline analytics: GET /analytics?days=30. Every number is computed by one SQL function,
// app.pipeline_analytics (its migration defines each metric); this file validates the
// window, calls it as the org and adds guidance.
import { createRoute, z } from "@hono/zod-openapi";
import { stageOutcomes } from "../http/enums.ts";
import { bearerAuth, commonErrors, envelope, json, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { expensiveTransaction } from "../http/tenant.ts";
import { validationWithHints } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const MAX_DAYS = 365;
const Query = z.object({
  days: z.coerce.number({ error: "must be a whole number" }).int({ error: "must be a whole number" })
    .min(1, { error: `must be between 1 and ${MAX_DAYS}` }).max(MAX_DAYS, { error: `must be between 1 and ${MAX_DAYS}` })
    .default(30).openapi({ description: `The window: the last N days up to now, 1-${MAX_DAYS}; default 30.`, example: 30 }),
});

const rate = z.number().nullable();
const countPerStage = z.record(z.string(), z.number().int());

const StageConversion = z.object({
  stage: z.string(),
  stageId: z.string(),
  outcome: z.enum(stageOutcomes),
  entered: z.number().int().openapi({ description: "Leads that entered the stage in the window." }),
  movedOn: z.number().int().openapi({ description: "Of those, how many then moved to a later stage (higher order) or to a won stage." }),
  won: z.number().int().openapi({ description: "Of those, how many then entered a won stage (or, for a won stage, all of them)." }),
  movedOnRate: rate.openapi({ description: "movedOn / entered (0-1); null when none entered." }),
  winRate: rate.openapi({ description: "won / entered (0-1); null when none entered." }),
}).openapi("StageConversion");

const Analytics = {
  period: z.object({
    days: z.number().int(),
    from: z.string().openapi({ description: "Start of the window (now minus days)." }),
    to: z.string().openapi({ description: "End of the window (now)." }),
  }),
  totalLeads: z.number().int().openapi({ description: "Live (not soft-deleted) leads." }),
  leadsInPeriod: z.number().int().openapi({ description: "Live leads created in the window." }),
  quizCompletions: z.number().int().openapi({ description: "quiz_completed events in the window." }),
  proposalsViewed: z.number().int().openapi({ description: "Distinct leads that viewed a proposal in the window." }),
  proposalViews: z.number().int().openapi({ description: "proposal_viewed events in the window (every view)." }),
  meetingsBooked: z.number().int().openapi({ description: "meeting_booked events in the window." }),
  leadsWon: z.number().int().openapi({ description: "Leads whose last closing move in the window entered a won stage." }),
  leadsLost: z.number().int().openapi({ description: "Leads whose last closing move in the window entered a lost stage." }),
  conversionRate: rate.openapi({ description: "leadsWon / (leadsWon + leadsLost), 0-1; null when no lead closed in the window." }),
  pipeline: countPerStage.openapi({ description: "Live leads per stage name (every stage, zeros included).", example: { Prospects: 12, "Closed Won": 3 } }),
  stageConversion: z.array(StageConversion).openapi({ description: "Per stage, in pipeline order." }),
  averageDaysInStage: z.record(z.string(), z.number().nullable()).openapi({
    description: "Per stage name: the average days leads spent in it, over stays that ended in the window; null when none did.",
  }),
  scoreDistribution: z.object({
    hot: z.number().int(), warm: z.number().int(), cool: z.number().int(), cold: z.number().int(),
    unscored: z.number().int(),
  }).openapi({ description: "Live leads per score label; unscored: never scored." }),
  bySource: z.record(z.string(), z.number().int()).openapi({
    description: "Live leads by where they were created: api, sql (Studio, scripts), sync_source:<name> (inbound webhooks), …",
    example: { api: 40, "sync_source:Website form": 12 },
  }),
  activityPerDay: z.array(z.object({
    date: z.string().openapi({ description: "A UTC day of the window, YYYY-MM-DD.", example: "2026-03-01" }),
    events: z.number().int().openapi({ description: "Engagement events that day (stage_changed and touch_logged included)." }),
    touchpoints: z.number().int(),
    stageMoves: z.number().int(),
  })).openapi({ description: "Every UTC day of the window, oldest first, zeros included." }),
};
type AnalyticsDoc = z.infer<z.ZodObject<typeof Analytics>>;
const AnalyticsReply = envelope(Analytics).openapi("AnalyticsReply");

const hints = { days: `Send days as a whole number from 1 to ${MAX_DAYS}, e.g. ?days=30 (the default), or leave it out.` };

// ---------------------------------------------------------------------------
// Guidance
// ---------------------------------------------------------------------------
function guidance(doc: AnalyticsDoc) {
  const warnings: string[] = [];
  const next_steps: string[] = [];
  if (doc.totalLeads === 0) {
    next_steps.push("POST /api/openclaw/leads to add your first lead");
    return { warnings, next_steps };
  }
  if (doc.conversionRate === null) {
    warnings.push(`No lead was won or lost in the last ${doc.period.days} days, so conversionRate is null`);
  }
  if (doc.scoreDistribution.unscored > 0) {
    next_steps.push(`POST /api/openclaw/leads/score { "all": true } to score the ${doc.scoreDistribution.unscored} unscored lead(s)`);
  }
  next_steps.push("GET /api/openclaw/leads/stalled for leads overdue for follow-up");
  return { warnings, next_steps };
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const analyticsRoute = createRoute({
  operationId: "getAnalytics",
  method: "get", path: "/analytics", tags: ["Analytics"], summary: "Pipeline metrics over the last N days",
  description: "Lead totals, engagement (quizzes, proposal views, meetings), won/lost and conversion, leads per stage, "
    + "stage-to-stage conversion, average days in stage, score distribution and lead sources, computed in one SQL function.",
  // Expensive: capped per org in concurrency and under a statement timeout (http/fair-share.ts).
  security: bearerAuth, middleware: [expensiveTransaction()], request: { query: Query },
  responses: { 200: json(AnalyticsReply, "The org's pipeline metrics."), ...commonErrors },
});

export const analyticsRoutes = createRouter()
  .openapi(analyticsRoute, async (c) => {
    const { days } = c.req.valid("query");
    const [row] = await c.var.db<{ doc: AnalyticsDoc }[]>`select app.pipeline_analytics(${days}::integer) as doc`;
    const doc = row!.doc;
    return reply(c, doc, guidance(doc));
  }, validationWithHints(hints));
