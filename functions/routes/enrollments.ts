// Enrolments: put a lead into a campaign by hand, and read each enrolment's status and
// history. Enrolling (one active enrolment per campaign and lead, suppressed addresses
// refused, a restart waiting out the 48 h cooldown) is app.enroll_lead; the history is
// written by the outbox functions and the event trigger.
import { createRoute, z } from "@hono/zod-openapi";
import { Enrollment, type EnrollmentRow, enrollmentWarnings } from "../campaigns/enrollment.ts";
import { jsonBody } from "../http/body.ts";
import { enrollmentStatuses } from "../http/enums.ts";
import { notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";

const CampaignId = z.object({ campaignId: z.string().min(1).max(100).openapi({ param: { name: "campaignId", in: "path" }, example: "cmp_3f9c0a1b2c3d4e5f6a7b8c9d" }) });
const enrollFields = { leadId: z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }) };
const Enroll = z.looseObject(enrollFields).openapi("EnrollRequest");
const EnrollmentReply = envelope({ id: z.string(), enrollment: Enrollment }).openapi("EnrollmentReply");

const ListQuery = z.object({
  status: z.enum(enrollmentStatuses).optional(),
  leadId: z.string().min(1).max(100).optional(),
  ...pageQuery,
});
const ListReply = envelope({ campaignId: z.string(), enrollments: z.array(Enrollment), ...pageFields }).openapi("EnrollmentListReply");

const enrollRoute = createRoute({
  operationId: "enrollLead",
  method: "post", path: "/campaigns/{campaignId}/enroll", tags: ["Campaigns"], summary: "Enrol a lead in a campaign",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: { params: CampaignId, ...jsonBody(Enroll) },
  responses: { 201: json(EnrollmentReply, "Lead enrolled."), ...notFoundError, ...conflictError, ...idempotencyError, ...commonErrors },
});
const listRoute = createRoute({
  operationId: "listEnrollments",
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
    const [campaign] = await db`select 1 from app.campaigns where id = ${campaignId}`;
    if (!campaign) throw notFound("Campaign", campaignId);
    const page = await pageOf(c, query, {
      list: `/campaigns/${campaignId}/enrollments`,
      sort: [{ sql: "e.enrolled_at", type: "timestamptz", desc: true }, { sql: "e.id", type: "text", desc: true }],
      filters: { status: query.status, leadId: query.leadId },
    });
    const filters = [
      db`e.campaign_id = ${campaignId}`,
      ...(query.status ? [db`e.status = ${query.status}`] : []),
      ...(query.leadId ? [db`e.lead_id = ${query.leadId}`] : []),
    ];
    const where = filters.reduce((all, f) => db`${all} and ${f}`);
    const [fetched, [count]] = await Promise.all([
      db<{ e: EnrollmentRow }[]>`
        select app.enrollment_json(e.id) as e, ${page.keys(db)} from app.enrollments e
        where ${where} and ${page.after(db)} order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.enrollments e where ${where}`,
    ]);
    const rows = await page.fit(fetched);
    return reply(c, { campaignId, enrollments: rows.map((r) => r.e), ...page.fields(count!.total) }, {
      warnings: page.warnings,
      next_steps: page.next(`/campaigns/${campaignId}/enrollments`, { status: query.status, leadId: query.leadId }),
    });
  });
