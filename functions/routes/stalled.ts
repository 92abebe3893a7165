// Stalled leads: open leads nobody has touched for longer than their stage's stallAfterDays.
// The rules live in the database (app.stalled_leads over app.stall_verdict: thresholds per
// stage, won/lost/deleted never stalled, suggested action and priority); this file
// validates the page, calls it and shapes the reply.
//
// Registered before the leads router, whose /leads/{leadId} would otherwise take "stalled".
import { createRoute, z } from "@hono/zod-openapi";
import { stalledActions, stalledPriorities } from "../http/enums.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import { bearerAuth, commonErrors, envelope, json, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const ListQuery = z.object(pageQuery);

const StalledLead = z.object({
  leadId: z.string(),
  name: z.string(),
  email: z.string(),
  stage: z.string(),
  stageId: z.string(),
  daysSinceTouch: z.number().int().openapi({ description: "Whole days since the last touchpoint (or since the lead was added, if never touched)." }),
  stalledReason: z.string().openapi({ example: "No touch for 9 days; \"Contacted\" stalls after 5 days; late in the pipeline" }),
  suggestedAction: z.enum(stalledActions).openapi({
    description: "check_in_call for hot leads (score 70+); else send_breakup_email when idle over 3x the stage's threshold; else check_in_call in the back half of the open pipeline; else send_follow_up_email.",
  }),
  priority: z.enum(stalledPriorities).openapi({ description: "high for calls, medium for follow-ups, low for breakups; the list is sorted by it, then by days overdue." }),
}).openapi("StalledLead");

const ListReply = envelope({
  leads: z.array(StalledLead),
  ...pageFields,
  total: pageFields.total.openapi({ description: "All stalled leads, not just this page." }),
}).openapi("StalledLeadsReply");

// ---------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  operationId: "listStalledLeads",
  method: "get", path: "/leads/stalled", tags: ["Leads"],
  summary: "Leads overdue for follow-up by their stage's stallAfterDays, highest priority first",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of stalled leads with why, what to do and how urgently."), ...commonErrors },
});

export const stalledRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    // The list pages itself (app.stalled_leads takes the cursor's keys: rank, days overdue, idle since, id).
    const page = await pageOf(c, c.req.valid("query"), {
      list: "/leads/stalled",
      sort: [{ sql: "priority_rank", type: "integer" }, { sql: "days_overdue", type: "integer", desc: true }, { sql: "idle_since", type: "timestamptz" }, { sql: "id", type: "text" }],
    });
    const db = c.var.db;
    const after = page.afterKeys === undefined ? null : db.json(page.afterKeys as never);
    const fetched = await db<(z.infer<typeof StalledLead> & { total: string; _cursor: unknown[] })[]>`
      select lead_id as "leadId", name, email, stage, stage_id as "stageId", days_since_touch as "daysSinceTouch",
             stalled_reason as "stalledReason", suggested_action as "suggestedAction", priority, total, sort_key as "_cursor"
      from app.stalled_leads(now(), ${page.fetch}, ${page.offset}, ${after})`;
    const rows = await page.fit(fetched);
    // A page past the end has no row to carry the total: count from the start instead.
    const total = rows.length > 0 ? Number(rows[0]!.total)
      : page.offset > 0 || after !== null ? Number((await db<{ total: string }[]>`select count(*) as total from app.stalled_leads(now(), 2147483647, 0)`)[0]!.total)
      : 0;
    const leads = rows.map(({ total: _total, ...lead }) => lead);
    const first = leads[0];
    return reply(c, { leads, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: [
        ...(first ? [
          `POST /api/openclaw/playbooks { "leadId": "${first.leadId}" } recommends the next step for the top lead`,
          `After acting, POST /api/openclaw/touchpoints { "leadId": "${first.leadId}", "type": "${first.suggestedAction === "check_in_call" ? "call" : "email"}" } clears it from this list`,
        ] : []),
        ...page.next("/leads/stalled"),
        ...(total === 0 ? ["Nothing is stalled. PUT /api/openclaw/stages { \"id\": \"stg_…\", \"stallAfterDays\": 3 } tightens a stage's threshold"] : []),
      ],
    });
  });
