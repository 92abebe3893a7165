// An enrolment (a lead in a campaign) as the API shows it, and what holds its first email
// back: POST /campaigns/{id}/enroll, GET /campaigns/{id}/enrollments and
// POST /email/send-sequence all answer with it.
import { z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";
import { enrollmentSources, enrollmentStatuses, outboxStatuses } from "../http/enums.ts";

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
export type EnrollmentRow = z.infer<typeof Enrollment>;

/** What will hold a new enrolment's first email back: a paused campaign, the cooldown. */
export async function enrollmentWarnings(db: Tx, enrollment: EnrollmentRow): Promise<string[]> {
  const [campaign] = await db<{ status: string }[]>`select status from app.campaigns where id = ${enrollment.campaignId}`;
  return [
    ...(campaign!.status !== "active" ? [`The campaign is ${campaign!.status}: nothing is sent until it is resumed`] : []),
    ...(enrollment.cooldownUntil ? [`The first email waits for the 48 h cooldown after the lead's previous sequence (until ${enrollment.cooldownUntil})`] : []),
  ];
}
