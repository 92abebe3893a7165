// Direct database access for arrange steps the API deliberately has no route for
// (changing an org's plan, revoking a key, an enrichment document), and for reading
// database state no route shows (engagement rollups and events). Never used to assert
// API behaviour.
import postgres from "postgres";
import { inject } from "vitest";

async function withDatabase<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(inject("databaseUrl"), { max: 1, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Moves an org to another plan (what a billing upgrade would do). */
export function setOrgTier(orgId: string, tier: "free" | "pro" | "ultra"): Promise<void> {
  return withDatabase(async (sql) => {
    await sql`update app.orgs set tier = ${tier} where id = ${orgId}`;
  });
}

/** Revokes every API key of an org. */
export function revokeOrgKeys(orgId: string): Promise<void> {
  return withDatabase(async (sql) => {
    await sql`update app.api_keys set revoked_at = now() where org_id = ${orgId}`;
  });
}

/** Creates campaigns for an org directly in SQL (the plan limit applies); returns their ids. */
export function createCampaigns(orgId: string, count: number, status: "draft" | "active" | "paused" | "archived" = "draft"): Promise<string[]> {
  return withDatabase(async (sql) => {
    const rows = await sql<{ id: string }[]>`
      insert into app.campaigns (org_id, name, status)
      select ${orgId}, 'Campaign ' || g, ${status} from generate_series(1, ${count}::integer) g
      returning id`;
    return rows.map((r) => r.id);
  });
}

/** Gives a lead a confidence score and label, as scoring would. */
export function setLeadScore(leadId: string, score: number, label: "hot" | "warm" | "cool" | "cold"): Promise<void> {
  return withDatabase(async (sql) => {
    await sql`
      insert into app.lead_scores (lead_id, org_id, score, label, scored_at)
      select id, org_id, ${score}, ${label}, now() from app.leads where id = ${leadId}
      on conflict (org_id, lead_id) do update set score = excluded.score, label = excluded.label, scored_at = excluded.scored_at`;
  });
}
/** Sets a lead's enrichment document (what an enrichment run writes). */
export function setLeadEnrichment(leadId: string, enrichment: Record<string, unknown>): Promise<void> {
  return withDatabase(async (sql) => {
    await sql`update app.leads set enrichment = ${sql.json(enrichment as never)} where id = ${leadId}`;
  });
}

/** A lead's row in app.lead_engagement (undefined before its first event). */
export function leadEngagement(leadId: string): Promise<Record<string, unknown> | undefined> {
  return withDatabase(async (sql) => {
    const [row] = await sql`
      select proposal_views, proposal_seconds::float8 as proposal_seconds, video_percent::integer as video_percent, cta_clicks
      from app.lead_engagement where lead_id = ${leadId}`;
    return row;
  });
}

/** A lead's engagement events, oldest first. */
export function leadEvents(leadId: string): Promise<{ type: string; data: Record<string, unknown>; source: string }[]> {
  return withDatabase((sql) => sql<{ type: string; data: Record<string, unknown>; source: string }[]>`
    select type, data, source from app.events where lead_id = ${leadId} order by occurred_at, created_at`);
}
/**
 * Records an engagement event as the org would (its claims, the authenticated role), so
 * the triggers on app.events (rollup, scoring, automation) run as for any writer.
 */
export function recordEvent(orgId: string, leadId: string, type: string, data: Record<string, unknown> = {}): Promise<void> {
  return withDatabase(async (sql) => {
    await sql.begin(async (tx) => {
      const claims = JSON.stringify({ role: "authenticated", org_id: orgId });
      await tx`select set_config('request.jwt.claims', ${claims}, true), set_config('role', 'authenticated', true)`;
      await tx`select app.record_event(${leadId}, ${type}, ${tx.json(data as never)})`;
    });
  });
}

/**
 * Inserts `count` leads of one company into an org in one statement (the triggers run as for
 * any insert), spread over its stages and the last year: data for the expensive routes
 * (analytics, spider web) to work through. The org's plan must have room.
 */
export function seedLeads(orgId: string, count: number, companyDomain: string): Promise<void> {
  return withDatabase(async (sql) => {
    await sql`
      with stages as (select array_agg(id order by position) as ids from app.stages where org_id = ${orgId})
      insert into app.leads (org_id, first_name, email, organization_name, company_domain, stage_id, created_at)
      select ${orgId}, 'Lead ' || g, 'lead' || g || '@' || ${companyDomain}, 'Seeded Co', ${companyDomain},
             s.ids[1 + g % cardinality(s.ids)], now() - (g % 360) * interval '1 day'
      from stages s, generate_series(1, ${count}::integer) g`;
  });
}
