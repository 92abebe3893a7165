// POST /email/send-sequence: what existing agent clients call to email one lead a short
// sequence. It becomes an ad-hoc campaign (kind adhoc, not counted against the plan's
// campaign limit) with the lead enrolled, so the same guardrails, outbox and history
// apply (app.send_sequence).
import { createRoute, z } from "@hono/zod-openapi";
import { Enrollment, enrollmentWarnings } from "../campaigns/enrollment.ts";
import { Steps, templateVariables } from "../campaigns/steps.ts";
import { jsonBody } from "../http/body.ts";
import { idempotency } from "../http/idempotency.ts";
import { bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, notFoundError, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";

const fields = {
  leadId: z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  sequence: Steps.openapi({ description: `1-8 steps { delayMinutes, subject, body }; templates may use ${templateVariables}.` }),
  name: z.string().trim().min(1).max(200).optional().openapi({ description: "Default \"Sequence for <first name>\"." }),
};
const SendSequence = z.looseObject(fields).openapi("SendSequenceRequest");
const SendSequenceReply = envelope({
  campaignId: z.string().openapi({ description: "The ad-hoc campaign holding the steps." }),
  enrollmentId: z.string(),
  enrollment: Enrollment,
}).openapi("SendSequenceReply");

const route = createRoute({
  operationId: "sendSequence",
  method: "post", path: "/email/send-sequence", tags: ["Campaigns"],
  summary: "Email one lead a sequence now (an ad-hoc campaign, not counted against the plan)",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(SendSequence),
  responses: { 201: json(SendSequenceReply, "Sequence scheduled."), ...notFoundError, ...conflictError, ...idempotencyError, ...commonErrors },
});

export const sendSequenceRoutes = createRouter()
  .openapi(route, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const [row] = await db<{ enrollment: z.infer<typeof Enrollment> }[]>`
      select app.send_sequence(${input.leadId}, ${db.json(input.sequence as never)}, ${input.name ?? null}) as enrollment`;
    const enrollment = row!.enrollment;
    return reply(c, { campaignId: enrollment.campaignId, enrollmentId: enrollment.id, enrollment }, {
      warnings: [...await enrollmentWarnings(db, enrollment), ...ignoredFieldWarnings(input, Object.keys(fields))],
      next_steps: [`GET /api/openclaw/campaigns/${enrollment.campaignId}/enrollments shows what was sent and when`],
    }, 201);
  }, validationWithHints({
    leadId: "Send the lead's id as leadId; GET /api/openclaw/leads lists your leads.",
    sequence: `sequence is a list of 1-8 { delayMinutes, subject, body }; templates may use ${templateVariables}.`,
  }));
