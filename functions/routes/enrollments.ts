// Enrolments: put a lead into a campaign by hand, and read each enrolment's status and
// history. Enrolling (one active enrolment per campaign and lead, suppressed addresses
// refused, a restart waiting out the 48 h cooldown) is app.enroll_lead; the history is
// written by the outbox functions and the event trigger.
import { createRoute, z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import { enrollmentSources, enrollmentStatuses, outboxStatuses } from "../http/enums.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";
import { readCampaign } from "./campaigns.ts";

export const Enrollment = z.object({
  id: z.string(),
  campaignId: z.string(),
  leadId: z.string(),
  status: z.enum(enrollmentStatuses),
  currentStep: z.number().int().openapi({ description: "The next step to send (0-based)." }),
  totalSteps: z.number().int(),
  nextStepAt: z.string().nullable().openapi({ description: "When the next step is due; null while it is in the outbox or when finished." }),
  deferredReason: z.string().nullable().openapi({ description: "The guardrail holding the due step back, if any." }),
  source: z.enum(enrollmentSources),
  enrolledAt: z.string(),
  finishedAt: z.string().nullable(),
  stopReason: z.string().nullable().openapi({ description: "email_replied, meeting_booked, unsubscribed, email_bounced, stage_won, stage_lost, campaign archived, send failed: …, all N steps done." }),
  cooldownUntil: z.string().nullable().openapi({ description: "The first step waits until the 48 h cooldown after the lead's previous sequence ends." }),
  history: z.array(z.object({ at: z.string(), event: z.string(), step: z.number().int().nullable(), detail: z.string().nullable() })),
  messages: z.array(z.object({
    id: z.string(), step: z.number().int(),
    status: z.enum(outboxStatuses),
    attempts: z.number().int(), to: z.string(), messageId: z.string().nullable(), subject: z.string().nullable(),
    reason: z.string().nullable().openapi({ description: "Why it was deferred, skipped, canceled or is unconfirmed." }),
    lastError: z.string().nullable(), warnings: z.array(z.string()), sentAt: z.string().nullable(), nextAttemptAt: z.string().nullable(),
  })),
}).openapi("Enrollment");
type EnrollmentRow = z.infer<typeof Enrollment>;

const CampaignId = z.object({ campaignId: z.string().min(1).max(100).openapi({ param: { name: "campaignId", in: "path" }, example: "cmp_3f9c0a1b2c3d4e5f6a7b8c9d" }) });
const enrollFields = { leadId: z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }) };
const Enroll = z.looseObject(enrollFields).openapi("EnrollRequest");
export const EnrollmentReply = envelope({ id: z.string(), enrollment: Enrollment }).openapi("EnrollmentReply");

const ListQuery = z.object({
  status: z.enum(enrollmentStatuses).optional(),
  leadId: z.string().min(1).max(100).optional(),
  ...pageQuery,
});
const ListReply = envelope({ campaignId: z.string(), enrollments: z.array(Enrollment), ...pageFields }).openapi("EnrollmentListReply");

/** What will hold a new enrolment's first email back: a paused campaign, the cooldown. */
export async function enrollmentWarnings(db: Tx, enrollment: EnrollmentRow): Promise<string[]> {
  const [campaign] = await db<{ status: string }[]>`select status from app.campaigns where id = ${enrollment.campaignId}`;
  return [
    ...(campaign!.status !== "active" ? [`The campaign is ${campaign!.status}: nothing is sent until it is resumed`] : []),
    ...(enrollment.cooldownUntil ? [`The first email waits for the 48 h cooldown after the lead's previous sequence (until ${enrollment.cooldownUntil})`] : []),
  ];
}

const enrollRoute = createRoute({
  method: "post", path: "/campaigns/{campaignId}/enroll", tags: ["Campaigns"], summary: "Enrol a lead in a campaign",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: { params: CampaignId, ...jsonBody(Enroll) },
  responses: { 201: json(EnrollmentReply, "Lead enrolled."), ...notFoundError, ...conflictError, ...idempotencyError, ...commonErrors },
});
const listRoute = createRoute({
  method: "get", path: "/campaigns/{campaignId}/enrollments", tags: ["Campaigns"], summary: "A campaign's enrolments with status, history and messages, newest first",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: CampaignId, query: ListQuery },
  responses: { 200: json(ListReply, "A page of enrolments."), ...notFoundError, ...commonErrors },
});

export const enrollmentsRoutes = createRouter()
  .openapi(enrollRoute, async (c) => {
    const { campaignId } = c.req.valid("param");
    const input = c.req.valid("json");
    const db = c.var.db;
    const [row] = await db<{ enrollment: EnrollmentRow }[]>`select app.enroll_lead(${campaignId}, ${input.leadId}) as enrollment`;
    const enrollment = row!.enrollment;
    const warnings = await enrollmentWarnings(db, enrollment);
    return reply(c, { id: enrollment.id, enrollment }, {
      warnings: [...warnings, ...ignoredFieldWarnings(input, Object.keys(enrollFields))],
      next_steps: [`GET /api/openclaw/campaigns/${campaignId}/enrollments?leadId=${input.leadId} shows its progress`],
    }, 201);
  }, validationWithHints({ leadId: "Send { \"leadId\": \"rp_…\" }; GET /api/openclaw/leads lists your leads." }))
  .openapi(listRoute, async (c) => {
    const { campaignId } = c.req.valid("param");
    const query = c.req.valid("query");
    const db = c.var.db;
    await readCampaign(db, campaignId);
    const page = pageOf(query);
    const filters = [
      db`e.campaign_id = ${campaignId}`,
      ...(query.status ? [db`e.status = ${query.status}`] : []),
      ...(query.leadId ? [db`e.lead_id = ${query.leadId}`] : []),
    ];
    const where = filters.reduce((all, f) => db`${all} and ${f}`);
    const [rows, [count]] = await Promise.all([
      db<{ e: EnrollmentRow }[]>`
        select app.enrollment_json(e.id) as e from app.enrollments e
        where ${where} order by e.enrolled_at desc, e.id desc limit ${page.limit} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.enrollments e where ${where}`,
    ]);
    return reply(c, { campaignId, enrollments: rows.map((r) => r.e), ...page.fields(count!.total) }, { warnings: page.warnings });
  });
