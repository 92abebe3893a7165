// What the OpenAPI document promises about every operation, so typed clients can be
// generated from it: a stable operationId, tags from the list below, and a declared
// security requirement (a public route says so with `security: []` rather than by
// leaving it out). createRouter (router.ts) refuses a route that lacks any of them.
import type { RouteConfig } from "@hono/zod-openapi";

/** The document's tags, one per resource, in the order an agent meets them; each route uses one of these. */
export const apiTags = [
  { name: "Signup", description: "Create a workspace and its first API key; no key needed." },
  { name: "Setup", description: "Bootstrap a workspace in one call: org settings and the pipeline's stages." },
  { name: "Health", description: "Connectivity check at every session start; with a key, the platform's unread answers to your feedback." },
  { name: "Org", description: "The workspace's plan tier, limits and usage." },
  { name: "API keys", description: "The workspace's API keys: list, create, revoke, rotate with an overlap window, and recover a lost key by mail." },
  { name: "Members", description: "The people of the workspace and their roles (owner, admin, member, viewer): invite by email, change a role, remove. A viewer reads everything and changes nothing." },
  { name: "Sign-in", description: "How people sign in without a password: a one-time link by email, then a browser session (HttpOnly cookie; writes send x-csrf-token); who am I; sign-out and the member's sessions." },
  { name: "Leads", description: "Create, read, update, soft delete and restore leads; in bulk (batch upsert, export, duplicates and merges, search); stalled leads overdue for follow-up." },
  { name: "Imports", description: "CSV imports of leads (created or updated by email): upload, progress, per-row errors." },
  { name: "Scoring", description: "Confidence scores (hot, warm, cool, cold) from engagement, tier, enrichment and staleness." },
  { name: "Enrichment", description: "Explicit, synchronous enrichment of one lead or a few, and how a lead connects to your other leads (spider web)." },
  { name: "Pipeline", description: "The pipeline's stages, and each lead's stage history." },
  { name: "Custom fields", description: "Definitions of the workspace's custom lead fields." },
  { name: "Notes", description: "Notes on a lead: manual, transcript summaries, AI insights, system." },
  { name: "Touchpoints", description: "A lead's interaction history; logging one moves its last touch forward and clears stalled." },
  { name: "Sync sources", description: "Outside systems (Gmail, forms, SDR tools, webhooks) that create leads and move them between stages through their inbound URL." },
  { name: "Events", description: "Engagement signals (proposal views, CTA clicks, meetings, quizzes) that rescore the lead and drive automation." },
  { name: "Playbooks", description: "SDR workflows by tier and stage, and the recommended next action for a lead." },
  { name: "Automation", description: "Stage automation rules that move leads when events happen, and the log of the moves they made." },
  { name: "Analytics", description: "Pipeline metrics over a period." },
  { name: "Campaigns", description: "Email sequences, their send settings and enrolments, and one-off sequences to a lead." },
  { name: "Email", description: "Bounces, unsubscribe links, and the mail worker's tick." },
  { name: "Proposals", description: "A lead's proposal page: content, publishing and engagement." },
  { name: "Tracking", description: "The public proposal page's beacon, and a lead's proposal engagement." },
  { name: "Quizzes", description: "Quizzes, their submissions, and the public endpoint the quiz page submits to." },
  { name: "Integrations", description: "Calendly (bookings become leads and meetings) and meeting bots (Recall.ai transcripts become notes)." },
  { name: "Feedback", description: "The hub between agents and ClawCRM EIR: report bugs and requests, read the responses." },
  { name: "Webhooks", description: "Signed outbound webhooks (Standard Webhooks): subscribe URLs to lead, email, meeting, proposal, quiz, enrichment and feedback events; the delivery log and redelivery." },
] as const;

/** The security schemes operations refer to (names are part of the document: keep them). */
export const securitySchemes = {
  bearerAuth: { type: "http", scheme: "bearer", description: "rcm_live_… API key" },
  apiKeyHeader: { type: "apiKey", in: "header", name: "x-api-key", description: "The same rcm_live_… API key, in the x-api-key header." },
  sessionCookie: {
    type: "apiKey", in: "cookie", name: "openclaw_session",
    description: "A member's browser session, set by POST /auth/callback (__Host-openclaw_session under https). Writes also send the session's CSRF token (GET /auth/session) in x-csrf-token, from the dashboard's own origin.",
  },
  workerSecret: { type: "apiKey", in: "header", name: "x-worker-secret", description: "The deployment's MAIL_WORKER_SECRET (POST /internal/mail/run only)." },
} as const;

/** A key is optional (GET /health): without one the route still answers, with one it says more. */
export const optionalApiKey: Record<string, string[]>[] = [{}, { bearerAuth: [] }, { apiKeyHeader: [] }];

/** The deployment's own secret, not a workspace key (the mail worker's tick). */
export const workerSecret: Record<string, string[]>[] = [{ workerSecret: [] }];

const tagNames = new Set<string>(apiTags.map((tag) => tag.name));

/** Throws, naming the route and the fix, when a route lacks what the document promises. */
export function assertDocumented(route: RouteConfig): void {
  if (route.hide) return;
  const where = `${route.method.toUpperCase()} ${route.path}`;
  if (!route.operationId || !/^[a-z][A-Za-z0-9]*$/.test(route.operationId)) {
    throw new Error(`${where}: give createRoute a camelCase operationId (a verb and the contract's noun, e.g. listLeads); typed clients name their methods after it`);
  }
  const unknown = (route.tags ?? []).filter((tag) => !tagNames.has(tag));
  if (!route.tags?.length || unknown.length > 0) {
    throw new Error(`${where}: tags must name at least one of the document's tags (functions/http/openapi.ts apiTags)${unknown.length ? `; unknown: ${unknown.join(", ")}` : ""}`);
  }
  if (route.security === undefined) {
    throw new Error(`${where}: declare security: bearerAuth for routes that take an API key, or security: [] for public ones`);
  }
}
