// Confidence scoring: POST /leads/score scores one lead (with every factor's points and a
// suggested action) or rescores every lead of the workspace in one statement. The score,
// weights and labels live in the database (app.score_leads, app.score_weights); this file
// validates, calls and shapes the reply. Registered before the leads router so
// /leads/{leadId} does not capture /leads/score.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { jsonBody } from "../http/body.ts";
import { scoreFactors, type ScoreLabel, scoreLabels } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import {
  bearerAuth, commonErrors, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { expensiveTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings } from "../http/validation.ts";

/** The contract's cap for { all: true }; we rescore every lead and say when it would have applied. */
const CONTRACT_CAP = 500;

const ScoreRequest = z.looseObject({
  leadId: z.string().min(1).max(100).optional().openapi({ description: "Score this lead.", example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  all: z.boolean().optional().openapi({ description: "true: rescore every lead of the workspace." }),
}).openapi("ScoreRequest");

const Factor = z.object({
  factor: z.enum(scoreFactors),
  points: z.number().int(),
  detail: z.string(),
}).openapi("ScoreFactor");

const LeadScoreReply = envelope({
  leadId: z.string(),
  score: z.number().int().openapi({ description: "0-100." }),
  label: z.enum(scoreLabels).openapi({ description: "hot >= 70, warm >= 45, cool >= 20, cold below." }),
  factors: z.array(Factor).openapi({ description: "Every factor, 0 points included." }),
  suggestedAction: z.string().openapi({
    description: "book_meeting, send_proposal, follow_up, nurture, enrich, re_engage, prepare_for_meeting, verify_email, do_not_contact, onboard_customer or no_action.",
  }),
}).openapi("LeadScoreReply");

const AllScoredReply = envelope({
  scored: z.number().int(),
  distribution: z.object({ hot: z.number().int(), warm: z.number().int(), cool: z.number().int(), cold: z.number().int() }),
}).openapi("AllScoredReply");

type ScoredLead = Omit<z.infer<typeof LeadScoreReply>, "success" | "warnings" | "next_steps">;

const oneOrAll = () =>
  new ApiError(400, "invalid_request", "Send either leadId or all: true",
    "Send { \"leadId\": \"rp_…\" } to score one lead, or { \"all\": true } to rescore every lead of the workspace (not both).");

/** Whether the body asks to rescore every lead (read before validation: anything else is not). */
async function rescoresAll(c: Context): Promise<boolean> {
  try {
    const body: unknown = JSON.parse(await c.req.text());
    return typeof body === "object" && body !== null && (body as { all?: unknown }).all === true;
  } catch {
    return false;
  }
}

const scoreRoute = createRoute({
  operationId: "scoreLeads",
  method: "post", path: "/leads/score", tags: ["Scoring"], summary: "Confidence score of one lead, or rescore all leads",
  // { all: true } is expensive: capped per org in concurrency and under a statement timeout
  // (http/fair-share.ts); one lead is not.
  security: bearerAuth, middleware: [expensiveTransaction(rescoresAll), idempotency],
  request: jsonBody(ScoreRequest),
  responses: {
    200: json(z.union([LeadScoreReply, AllScoredReply]), "{ leadId }: the score, label, factors and suggested action. { all: true }: how many were scored and the label distribution."),
    ...notFoundError, ...idempotencyError, ...commonErrors,
  },
});

export const scoreRoutes = createRouter()
  .openapi(scoreRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const all = input.all === true;
    if (all === (input.leadId !== undefined)) throw oneOrAll();
    const ignoredWarning = ignoredFieldWarnings(input, ["leadId", "all"]);

    if (input.leadId !== undefined) {
      const [row] = await db<ScoredLead[]>`
        select lead_id as "leadId", score, label, factors, suggested_action as "suggestedAction"
        from app.score_leads(app.current_org_id(), array[${input.leadId}::text])`;
      if (!row) throw notFound("Lead", input.leadId);
      return reply(c, row, {
        warnings: ignoredWarning,
        next_steps: [`GET /api/openclaw/events?leadId=${row.leadId} shows the signals behind the score`],
      });
    }

    const rows = await db<{ label: ScoreLabel; count: number }[]>`
      select label, count(*)::integer as count from app.score_leads(app.current_org_id()) group by label`;
    const distribution = { hot: 0, warm: 0, cool: 0, cold: 0 };
    for (const r of rows) distribution[r.label] = r.count;
    const scored = rows.reduce((n, r) => n + r.count, 0);
    return reply(c, { scored, distribution }, {
      warnings: [
        ...(scored > CONTRACT_CAP
          ? [`The contract caps { all: true } at ${CONTRACT_CAP} leads; all ${scored} leads of this workspace were rescored in one statement`]
          : []),
        ...ignoredWarning,
      ],
      next_steps: distribution.hot > 0 ? ["GET /api/openclaw/leads lists leads with their score and scoreLabel; hot ones are ready for a meeting"] : [],
    });
  });
