// What the dashboard's pages read, inside the request's tenant transaction (the member's
// session, row-level security and role): the same views and SQL functions the API routes
// read (app.lead_details, app.stage_details, app.stage_changes, app.stalled_leads,
// app.score_leads, app.pipeline_analytics, app.campaign_stats, app.proposal_tracking,
// app.member_details, app.api_key_details). No rule is worked out here: every number comes
// from SQL. A lead of another org is simply not found (RLS), as for the API.
import type { Tx } from "../db.ts";
import { type ProposalTrackingRow, readProposalTracking } from "../proposals/tracking.ts";

export interface Viewer {
  email: string;
  role: string;
  workspaceName: string;
  canWrite: boolean;
  canAdminister: boolean;
}

/** The member the request acts as (its session's claims: known in SQL before the session's answer is back). */
export async function readViewer(db: Tx): Promise<Viewer> {
  const [row] = await db<Viewer[]>`
    select m.email, m.role, o.workspace_name as "workspaceName",
           app.can_write() as "canWrite", app.can_administer() as "canAdminister"
    from app.member_details m cross join app.orgs o
    where m.id = app.current_member_id() and o.id = app.current_org_id()`;
  return row!;
}

// ---------------------------------------------------------------------------
// The pipeline board
// ---------------------------------------------------------------------------
export interface BoardStage {
  id: string;
  name: string;
  color: string | null;
  outcome: string;
  leadCount: number;
}

export interface BoardLead {
  id: string;
  name: string;
  company: string | null;
  tier: string | null;
  stageId: string | null;
  score: number | null;
  scoreLabel: string | null;
  daysSinceTouch: number;
}

export interface BoardFilter {
  tier?: string;
  label?: string;
  q?: string;
}

/** Cards on the board at most; the columns' counts are always the whole pipeline's. */
export const BOARD_LIMIT = 500;

const leadName = `concat_ws(' ', first_name, last_name)`;
const company = `coalesce(company_name, organization_name)`;
const daysSinceTouch = `floor(extract(epoch from now() - coalesce(last_touch_at, created_at)) / 86400)::integer`;

export async function readBoard(db: Tx, filter: BoardFilter) {
  const conditions = [
    db`deleted_at is null`,
    ...(filter.tier ? [db`tier = ${filter.tier}`] : []),
    ...(filter.label ? [filter.label === "unscored" ? db`score_label is null` : db`score_label = ${filter.label}`] : []),
    // The same search as GET /leads?q=: the lead's search_text, kept by the database.
    ...(filter.q ? [db`search_text like ${"%" + filter.q.toLowerCase().replace(/[\\%_]/g, "\\$&") + "%"}`] : []),
  ];
  const where = conditions.reduce((all, next) => db`${all} and ${next}`);
  const [stages, leads, [counted], tiers] = await Promise.all([
    db<BoardStage[]>`select id, name, color, outcome, lead_count as "leadCount" from app.stage_details order by position, lower(name), id`,
    db<BoardLead[]>`
      select id, ${db.unsafe(leadName)} as name, ${db.unsafe(company)} as company, tier, stage_id as "stageId",
             score, score_label as "scoreLabel", ${db.unsafe(daysSinceTouch)} as "daysSinceTouch"
      from app.lead_details where ${where}
      order by score desc nulls last, updated_at desc, id limit ${BOARD_LIMIT}`,
    db<{ total: number }[]>`select count(*)::integer as total from app.lead_details where ${where}`,
    db<{ tier: string }[]>`select distinct tier from app.leads where deleted_at is null and tier is not null order by tier limit 50`,
  ]);
  return { stages, leads, matching: counted!.total, tiers: tiers.map((t) => t.tier) };
}

// ---------------------------------------------------------------------------
// A lead
// ---------------------------------------------------------------------------
export interface LeadRow {
  id: string;
  firstName: string;
  lastName: string | null;
  email: string;
  phone: string | null;
  title: string | null;
  seniority: string | null;
  company: string | null;
  businessType: string | null;
  companySize: string | null;
  companyRevenue: string | null;
  linkedinUrl: string | null;
  tier: string | null;
  status: string;
  stage: string | null;
  stageId: string | null;
  source: string;
  createdBy: string;
  enrichmentStatus: string;
  enrichment: Record<string, unknown> | null;
  crmData: Record<string, unknown>;
  customFields: Record<string, unknown>;
  score: number | null;
  scoreLabel: string | null;
  lastTouchAt: Date | null;
  createdAt: Date;
  deletedAt: Date | null;
  daysSinceTouch: number;
}

export interface ScoreFactor { factor: string; points: number; detail: string }
export interface Note { id: string; type: string; content: string; pinned: boolean; createdBy: string; createdAt: Date }
export interface Touchpoint { id: string; type: string; direction: string | null; summary: string | null; occurredAt: Date; createdBy: string }
export interface TimelineEntry { kind: "event" | "stage"; at: Date; type: string; detail: string; by: string | null }
export interface Enrolment { id: string; campaignId: string; campaign: string; status: string; currentStep: number; enrolledAt: Date; stopReason: string | null }

export interface LeadPage {
  lead: LeadRow;
  stages: BoardStage[];
  score: { score: number; label: string; factors: ScoreFactor[]; suggestedAction: string } | undefined;
  notes: Note[];
  touchpoints: Touchpoint[];
  timeline: TimelineEntry[];
  proposal: { slug: string; previewToken: string; published: boolean; tracking: ProposalTrackingRow } | undefined;
  enrolments: Enrolment[];
}

/** Everything the lead page shows, or undefined when the org has no such lead (404). */
export async function readLead(db: Tx, leadId: string): Promise<LeadPage | undefined> {
  const [lead] = await db<LeadRow[]>`
    select id, first_name as "firstName", last_name as "lastName", email, phone, title, seniority,
           ${db.unsafe(company)} as company, business_type as "businessType", company_size as "companySize",
           company_revenue as "companyRevenue", linkedin_url as "linkedinUrl", tier, status, stage, stage_id as "stageId",
           source, created_by as "createdBy", enrichment_status as "enrichmentStatus", enrichment,
           crm_data as "crmData", custom_fields as "customFields", score, score_label as "scoreLabel",
           last_touch_at as "lastTouchAt", created_at as "createdAt", deleted_at as "deletedAt",
           ${db.unsafe(daysSinceTouch)} as "daysSinceTouch"
    from app.lead_details where id = ${leadId}`;
  if (!lead) return undefined;
  const [stages, scored, notes, touchpoints, timeline, proposals, enrolments] = await Promise.all([
    db<BoardStage[]>`select id, name, color, outcome, lead_count as "leadCount" from app.stage_details order by position, lower(name), id`,
    // The factors are worked out on request, as POST /leads/score { leadId } does.
    db<{ score: number; label: string; factors: ScoreFactor[]; suggestedAction: string }[]>`
      select score, label, factors, suggested_action as "suggestedAction" from app.score_leads(app.current_org_id(), array[${leadId}::text])`,
    db<Note[]>`
      select id, type, content, pinned, created_by as "createdBy", created_at as "createdAt"
      from app.notes where lead_id = ${leadId} order by pinned desc, created_at desc, id desc limit 100`,
    db<Touchpoint[]>`
      select id, type, direction, summary, occurred_at as "occurredAt", created_by as "createdBy"
      from app.touchpoints where lead_id = ${leadId} order by occurred_at desc, id desc limit 100`,
    db<TimelineEntry[]>`
      (select 'event' as kind, occurred_at as at, type, coalesce(data::text, '') as detail, coalesce(actor, source) as by
       -- A move's stage_changed event is shown as the stage_changes row below.
       from app.events where lead_id = ${leadId} and type <> 'stage_changed' order by occurred_at desc limit 100)
      union all
      (select 'stage', changed_at, 'stage_changed',
              concat_ws(' → ', coalesce(from_stage_name, '(none)'), coalesce(to_stage_name, '(none)')), changed_by
       from app.stage_changes where lead_id = ${leadId} order by changed_at desc limit 100)
      order by at desc, kind limit 150`,
    db<{ slug: string; previewToken: string; published: boolean }[]>`
      select slug, preview_token as "previewToken", published from app.proposals where lead_id = ${leadId}`,
    db<Enrolment[]>`
      select e.id, e.campaign_id as "campaignId", c.name as campaign, e.status, e.current_step as "currentStep",
             e.enrolled_at as "enrolledAt", e.stop_reason as "stopReason"
      from app.enrollments e join app.campaigns c on c.id = e.campaign_id
      where e.lead_id = ${leadId} order by e.enrolled_at desc limit 50`,
  ]);
  const proposal = proposals[0];
  return {
    lead, stages, score: scored[0], notes, touchpoints, timeline, enrolments,
    proposal: proposal ? { ...proposal, tracking: await readProposalTracking(db, leadId) } : undefined,
  };
}

// ---------------------------------------------------------------------------
// Stalled leads, analytics, campaigns, settings
// ---------------------------------------------------------------------------
export interface StalledLead {
  leadId: string;
  name: string;
  email: string;
  stage: string;
  daysSinceTouch: number;
  stalledReason: string;
  suggestedAction: string;
  priority: string;
}

export const STALLED_LIMIT = 200;

export async function readStalled(db: Tx) {
  const rows = await db<(StalledLead & { total: string })[]>`
    select lead_id as "leadId", name, email, stage, days_since_touch as "daysSinceTouch",
           stalled_reason as "stalledReason", suggested_action as "suggestedAction", priority, total
    from app.stalled_leads(now(), ${STALLED_LIMIT}, 0)`;
  return { leads: rows.map(({ total: _total, ...lead }) => lead), total: rows.length > 0 ? Number(rows[0]!.total) : 0 };
}

export interface Analytics {
  period: { days: number; from: string; to: string };
  totalLeads: number;
  leadsInPeriod: number;
  proposalViews: number;
  meetingsBooked: number;
  leadsWon: number;
  leadsLost: number;
  conversionRate: number | null;
  pipeline: Record<string, number>;
  stageConversion: { stage: string; entered: number; movedOn: number; won: number; movedOnRate: number | null; winRate: number | null }[];
  scoreDistribution: Record<"hot" | "warm" | "cool" | "cold" | "unscored", number>;
  activityPerDay: { date: string; events: number; touchpoints: number; stageMoves: number }[];
}

export async function readAnalytics(db: Tx, days: number): Promise<Analytics> {
  const [row] = await db<{ doc: Analytics }[]>`select app.pipeline_analytics(${days}::integer) as doc`;
  return row!.doc;
}

export interface CampaignRow {
  id: string;
  name: string;
  kind: string;
  status: string;
  steps: number;
  createdAt: Date;
  stats: { enrolled: number; sent: number; opened: number; replied: number; bounced: number; unsubscribed: number };
}

export function readCampaigns(db: Tx) {
  return db<CampaignRow[]>`
    select id, name, kind, status, jsonb_array_length(steps) as steps, created_at as "createdAt", app.campaign_stats(id) as stats
    from app.campaigns order by (kind = 'sequence') desc, created_at desc, id desc limit 200`;
}

export interface MemberRow { id: string; email: string; role: string; status: string; invitedAt: Date | null; joinedAt: Date | null; lastSignInAt: Date | null }
export interface KeyRow { id: string; name: string | null; prefix: string; status: string; createdAt: Date; lastUsedAt: Date | null }

export async function readSettings(db: Tx) {
  const [members, keys] = await Promise.all([
    db<MemberRow[]>`
      select id, email, role, status, invited_at as "invitedAt", joined_at as "joinedAt", last_sign_in_at as "lastSignInAt"
      from app.member_details order by role = 'owner' desc, email, id limit 500`,
    db<KeyRow[]>`
      select id, name, key_prefix as prefix, status, created_at as "createdAt", last_used_at as "lastUsedAt"
      from app.api_key_details order by created_at desc, id desc limit 200`,
  ]);
  return { members, keys };
}
