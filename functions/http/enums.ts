// The closed sets of values the API validates and documents, each written once here for
// every zod schema that needs it. Most are what a check constraint of the database allows
// (named beside each list): the database stays the rule, these lists let the edge refuse a
// bad value early with a helpful message and show the values in /openapi.json.
// tests/enums.test.ts reads the constraints (and the lookup rows) from the database and
// fails when a list here and the database's differ.

/** app.leads.enrichment_status (leads_enrichment_status_check) */
export const enrichmentStatuses = ["not_enriched", "enriching", "complete", "failed"] as const;

/** app.lead_scores.label, app.playbooks.score_label */
export const scoreLabels = ["hot", "warm", "cool", "cold"] as const;
export type ScoreLabel = (typeof scoreLabels)[number];

/** app.score_weights.factor: what a lead's score is made of */
export const scoreFactors = [
  "quiz_score", "tier", "proposal_views", "video_watched", "cta_click", "meeting_booked", "enrichment", "staleness",
] as const;

/** app.stages.outcome */
export const stageOutcomes = ["open", "won", "lost"] as const;

/** app.touchpoints.type */
export const touchpointTypes = ["email", "call", "meeting", "linkedin", "sms", "note", "form", "chat", "other"] as const;
/** app.touchpoints.direction */
export const touchpointDirections = ["inbound", "outbound"] as const;

/** app.notes.type */
export const noteTypes = ["manual", "transcript_summary", "ai_insight", "system"] as const;

/** app.custom_fields.field_type */
export const fieldTypes = ["text", "number", "date", "select", "multiselect", "boolean"] as const;

/** app.sync_sources.type */
export const syncSourceTypes = ["gmail", "api_sdr", "form_webhook", "generic_webhook"] as const;
export type SyncSourceType = (typeof syncSourceTypes)[number];
/** app.sync_events.outcome: what an inbound event did */
export const syncEventOutcomes = ["created", "updated", "ignored"] as const;

/** app.feedback.type */
export const feedbackTypes = ["bug", "feature", "error", "question", "improvement", "other"] as const;
/** app.feedback.priority */
export const feedbackPriorities = ["critical", "high", "medium", "low"] as const;
/** app.feedback.status */
export const feedbackStatuses = ["open", "in_progress", "resolved", "wont_fix"] as const;

/** app.campaigns.kind */
export const campaignKinds = ["sequence", "adhoc"] as const;
/** app.campaigns.status */
export const campaignStatuses = ["draft", "active", "paused", "archived"] as const;
/** app.campaigns.trigger_event: what enrols a lead automatically */
export const campaignTriggers = ["quiz_completed", "proposal_viewed", "cta_clicked", "meeting_booked", "stage_changed", "manual"] as const;

/** app.enrollments.status */
export const enrollmentStatuses = ["active", "completed", "stopped"] as const;
/** app.enrollments.source */
export const enrollmentSources = ["manual", "trigger", "send_sequence"] as const;
/** app.outbox.status: the state of each email of an enrolment */
export const outboxStatuses = ["queued", "claimed", "sending", "sent", "failed", "skipped", "canceled", "unconfirmed"] as const;

/** app.webhook_deliveries.status: where an outbound webhook delivery is */
export const webhookDeliveryStatuses = ["pending", "sending", "delivered", "failed"] as const;

/** app.meetings.bot_status */
export const meetingBotStatuses = ["not_scheduled", "scheduling", "scheduled", "failed", "canceled", "transcribed"] as const;

/** app.quizzes.status */
export const quizStatuses = ["draft", "published"] as const;

/** app.import_rows.result (import_rows_result_check): what an upsert did with one item or row */
export const upsertResults = ["created", "updated", "unchanged", "failed"] as const;

/** The plans: the rows of app.tiers. */
export const tiers = ["free", "pro", "ultra"] as const;

/** org_members_role_check: a member's role in a workspace (the rules: sql/10_foundation.sql). */
export const memberRoles = ["owner", "admin", "member", "viewer"] as const;

/** The channels a playbook step can use: app.playbook_channels(). */
export const playbookChannels = ["email", "call", "linkedin", "sms", "meeting", "task"] as const;

/**
 * What app.stall_verdict suggests for a stalled lead, and how urgently. Answers of a SQL
 * function, not a constraint, so the test cannot read them; GET /leads/stalled and the
 * playbook recommendation both report them.
 */
export const stalledActions = ["send_breakup_email", "send_follow_up_email", "check_in_call"] as const;
export const stalledPriorities = ["high", "medium", "low"] as const;
