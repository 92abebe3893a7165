// Stalled leads: open leads nobody has touched for longer than their stage's stallAfterDays.
// The rules live in the database (app.stalled_leads over app.stall_verdict: thresholds per
// stage, won/lost/deleted never stalled, suggested action and priority); this file
// validates the page, calls it and shapes the reply.
//
// Registered before the leads router, whose /leads/{leadId} would otherwise take "stalled".
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context.ts";
import { bearerAuth, commonErrors, envelope, json, reply } from "../http/reply.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { validationHook } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const MAX_LIMIT = 200;
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).optional().openapi({ description: `Page size, default 50, at most ${MAX_LIMIT}.` }),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const StalledLead = z.object({
  leadId: z.string(),
  name: z.string(),
  email: z.string(),
  stage: z.string(),
  stageId: z.string(),
  daysSinceTouch: z.number().int().openapi({ description: "Whole days since the last touchpoint (or since the lead was added, if never touched)." }),
  stalledReason: z.string().openapi({ example: "No touch for 9 days; \"Contacted\" stalls after 5 days; late in the pipeline" }),
  suggestedAction: z.enum(["send_breakup_email", "send_follow_up_email", "check_in_call"]).openapi({
    description: "check_in_call for hot leads (score 70+); else send_breakup_email when idle over 3x the stage's threshold; else check_in_call in the back half of the open pipeline; else send_follow_up_email.",
  }),
  priority: z.enum(["high", "medium", "low"]).openapi({ description: "high for calls, medium for follow-ups, low for breakups; the list is sorted by it, then by days overdue." }),
}).openapi("StalledLead");

const ListReply = envelope({
  leads: z.array(StalledLead),
  total: z.number().int().openapi({ description: "All stalled leads, not just this page." }),
  limit: z.number().int(),
  offset: z.number().int(),
}).openapi("StalledLeadsReply");

// ---------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  method: "get", path: "/leads/stalled", tags: ["Leads"],
  summary: "Leads overdue for follow-up by their stage's stallAfterDays, highest priority first",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of stalled leads with why, what to do and how urgently."), ...commonErrors },
});

export const stalledRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const limit = Math.min(query.limit ?? 50, MAX_LIMIT);
    const rows = await db<(z.infer<typeof StalledLead> & { total: string })[]>`
      select lead_id as "leadId", name, email, stage, stage_id as "stageId", days_since_touch as "daysSinceTouch",
             stalled_reason as "stalledReason", suggested_action as "suggestedAction", priority, total
      from app.stalled_leads(now(), ${limit}, ${query.offset})`;
    // A page past the end has no row to carry the total: count from the start instead.
    const total = rows.length > 0 ? Number(rows[0]!.total)
      : query.offset > 0 ? Number((await db<{ total: string }[]>`select count(*) as total from app.stalled_leads(now(), 2147483647, 0)`)[0]!.total)
      : 0;
    const leads = rows.map(({ total: _total, ...lead }) => lead);
    const nextOffset = query.offset + leads.length;
    const first = leads[0];
    return reply(c, { leads, total, limit, offset: query.offset }, {
      warnings: query.limit !== undefined && query.limit > MAX_LIMIT ? [`limit capped at ${MAX_LIMIT}`] : [],
      next_steps: [
        ...(first ? [
          `POST /api/openclaw/playbooks { "leadId": "${first.leadId}" } recommends the next step for the top lead`,
          `After acting, POST /api/openclaw/touchpoints { "leadId": "${first.leadId}", "type": "${first.suggestedAction === "check_in_call" ? "call" : "email"}" } clears it from this list`,
        ] : []),
        ...(nextOffset < total ? [`GET /api/openclaw/leads/stalled?offset=${nextOffset}&limit=${limit} for the next page`] : []),
        ...(total === 0 ? ["Nothing is stalled. PUT /api/openclaw/stages { \"id\": \"stg_…\", \"stallAfterDays\": 3 } tightens a stage's threshold"] : []),
      ],
    });
  });
