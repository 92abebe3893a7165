// Pipeline reads at scale: GET /analytics's SQL (app.pipeline_analytics) and the stalled list
// (app.stalled_leads) on many orgs sharing one database, each timed as its tenant.
//
//   1. BENCH_PIPELINE_ORGS orgs signed up (default stages, ultra tier) and
//      BENCH_PIPELINE_LEADS leads spread evenly across them, inserted set-based
//      (generate_series). The load runs with session_replication_role = replica, so the
//      per-row triggers (the plan's lead limit, stage history, event rollup) are skipped and
//      the rows they would write are generated set-based instead: each lead's stage history
//      walks the pipeline from its creation to its stage, and events (quiz, proposal views,
//      meetings, emails) fall between its creation and now, with the per-lead rollup built
//      from them. Then VACUUM ANALYZE, as autovacuum would.
//   2. For BENCH_PIPELINE_SAMPLE orgs, BENCH_PIPELINE_RUNS timed calls each (after one
//      warm-up) of app.pipeline_analytics(BENCH_PIPELINE_DAYS) and of
//      app.stalled_leads(p_now => now(), p_limit => 50) (skipped when that function does not
//      exist), each in a tenant transaction (role authenticated, the org's claims) as the API
//      runs it: median and p95 of the statement's time.
//   3. The plans inside both functions (auto_explain: analyze, buffers) for one org, to show
//      which indexes serve them.
//   4. The orgs are deleted (with everything of theirs) unless BENCH_KEEP=1.
//
// Run: DATABASE_URL=… npx tsx scripts/bench/pipeline.ts (a superuser: the load sets
// session_replication_role, the plans need LOAD 'auto_explain').
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import process from "node:process";
import postgres from "postgres";
import { databaseUrlOrExit, percentile, setting } from "./settings.ts";

const databaseUrl = databaseUrlOrExit("e.g. DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:54401/postgres");
const ORGS = setting("BENCH_PIPELINE_ORGS", 100);
const LEADS = setting("BENCH_PIPELINE_LEADS", 1_000_000);
const SAMPLE = Math.min(setting("BENCH_PIPELINE_SAMPLE", 10), ORGS);
const RUNS = setting("BENCH_PIPELINE_RUNS", 10);
const DAYS = setting("BENCH_PIPELINE_DAYS", 30);
const KEEP = process.env.BENCH_KEEP === "1";
const ANALYTICS_TARGET_MS = 200;
const STALLED_TARGET_MS = 50;
const STALLED_SIGNATURE = "app.stalled_leads(timestamptz,integer,integer)";

type Sql = postgres.Sql;

const LOADED_TABLES = ["app.leads", "app.lead_scores", "app.stage_changes", "app.events", "app.lead_engagement"];

const log = (message: string) => console.log(`[bench:pipeline] ${message}`);

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await work();
  log(`${label} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------
async function createOrgs(sql: Sql, run: string): Promise<string[]> {
  const rows = await sql<{ orgId: string }[]>`
    select s.org_id as "orgId"
    from generate_series(1, ${ORGS}::integer) g
    cross join lateral app.signup('bench-pipeline-' || ${run}::text || '-' || g || '@example.com',
      'Pipeline bench ' || g, 'bench', 'bench') s`;
  const ids = rows.map((r) => r.orgId);
  await sql`update app.orgs set tier = 'ultra' where id = any(${ids})`;
  return ids;
}

/** Leads, their stage history, events and engagement rollup, all set-based, in one transaction. */
async function load(sql: Sql, orgIds: string[]): Promise<void> {
  const perOrg = Math.ceil(LEADS / orgIds.length);
  await sql.begin(async (tx) => {
    // The rows the skipped triggers would write are generated below; the lead limit is
    // lifted for the load (10,000 leads per org is over the ultra tier's cap).
    await tx`set local session_replication_role = replica`;
    await tx`set local synchronous_commit = off`;

    await timed(`${perOrg * orgIds.length} leads`, () => tx`
      insert into app.leads (org_id, first_name, last_name, email, organization_name, tier, stage_id,
                             created_at, updated_at, last_touch_at, deleted_at)
      select o.id, 'Bench' || g, 'Lead', 'lead' || g || '@bench-' || o.ord || '.example.com', 'Clinic ' || (g % 997),
             (array['high', 'medium', 'low'])[1 + g % 3], s.id,
             r.created_at, r.created_at, r.last_touch_at,
             case when r.deleted then r.last_touch_at end
      from unnest(${orgIds}::text[]) with ordinality o(id, ord)
      cross join generate_series(1, ${perOrg}::integer) g
      cross join lateral (
        select created_at,
               -- One lead in ten was never touched; the rest last heard of between creation and now.
               case when random() < 0.1 then null else created_at + random() * (now() - created_at) end as last_touch_at,
               random() < 0.02 as deleted,
               -- Stage spread: most leads early in the pipeline, a tenth closed.
               case when p < 0.30 then 0 when p < 0.50 then 1 when p < 0.65 then 2 when p < 0.77 then 3
                    when p < 0.85 then 4 when p < 0.90 then 5 when p < 0.95 then 6 else 7 end as position
        from (select now() - random() * interval '365 days' as created_at, random() as p, g) x
      ) r
      join app.stages s on s.org_id = o.id and s.position = r.position`);

    // Seven leads in ten scored.
    await timed("scores", () => tx`
      insert into app.lead_scores (lead_id, org_id, score, label, scored_at)
      select x.id, x.org_id, x.score,
             case when x.score >= 70 then 'hot' when x.score >= 45 then 'warm' when x.score >= 20 then 'cool' else 'cold' end, now()
      from (select l.id, l.org_id, (random() * 100)::integer as score from app.leads l
            where l.org_id = any(${orgIds}) and random() < 0.7) x`);

    // Stage history: an open lead went through every stage up to its own; a won lead
    // through Negotiated first; a lost one dropped out after some early stage. History and
    // events are written in time order, as a live database appends them, so a window's rows
    // sit together on disk.
    await timed("stage history", () => tx`
      insert into app.stage_changes (org_id, lead_id, from_stage_id, to_stage_id, from_stage_name, to_stage_name,
                                     changed_at, changed_by, source)
      select p.org_id, p.lead_id, lag(s.id) over w, s.id, lag(s.name) over w, s.name,
             p.created_at + (p.last_at - p.created_at) * ((p.step - 1)::double precision / greatest(p.steps - 1, 1)),
             case when p.step > 1 then 'key_bench' when p.origin = 'sync_source' then 'sync_source:ss_bench' else 'key_bench' end,
             case when p.step > 1 then 'api' else p.origin end
      from (
        select l.id as lead_id, l.org_id, l.created_at, coalesce(l.last_touch_at, now()) as last_at,
               path.position, path.step, cardinality(a.positions) as steps,
               case when abs(hashtext(l.id)) % 10 < 7 then 'api' when abs(hashtext(l.id)) % 10 < 9 then 'sync_source' else 'sql' end as origin
        from app.leads l
        join app.stages cur on cur.id = l.stage_id
        cross join lateral (
          select case cur.position
                   when 6 then array[0, 1, 2, 3, 4, 6]
                   when 7 then array(select generate_series(0, abs(hashtext(l.id)) % 5)) || 7
                   else array(select generate_series(0, cur.position)) end as positions
        ) a
        cross join lateral unnest(a.positions) with ordinality as path(position, step)
        where l.org_id = any(${orgIds})
      ) p
      join app.stages s on s.org_id = p.org_id and s.position = p.position
      window w as (partition by p.lead_id order by p.step)
      order by 7`);

    // Engagement: emails to half the leads, quizzes, proposal views and meetings to fewer.
    await timed("events", () => tx`
      insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor)
      select l.org_id, l.id, t.type, l.created_at + random() * (now() - l.created_at),
             case t.type when 'quiz_completed' then jsonb_build_object('score', (random() * 100)::integer)
                         when 'proposal_viewed' then jsonb_build_object('seconds', (random() * 600)::integer)
                         else '{}'::jsonb end,
             'api', 'key_bench'
      from app.leads l
      cross join lateral (values
        ('email_sent', 2, 0.5), ('email_opened', 1, 0.3), ('quiz_completed', 1, 0.3),
        ('proposal_viewed', 3, 0.25), ('meeting_booked', 1, 0.1), ('cta_clicked', 1, 0.1)) t(type, times, share)
      cross join lateral generate_series(1, t.times) n
      where l.org_id = any(${orgIds}) and abs(hashtext(l.id || t.type)) % 100 < t.share * 100
      order by 4`);

    await timed("engagement rollup", () => tx`
      insert into app.lead_engagement (lead_id, org_id, quiz_completions, quiz_score, proposal_views, proposal_seconds,
                                       cta_clicks, meetings_booked, last_meeting_booked_at, emails_sent, emails_opened, last_event_at)
      select e.lead_id, e.org_id,
             count(*) filter (where e.type = 'quiz_completed'),
             max((e.data ->> 'score')::numeric) filter (where e.type = 'quiz_completed'),
             count(*) filter (where e.type = 'proposal_viewed'),
             coalesce(sum((e.data ->> 'seconds')::numeric) filter (where e.type = 'proposal_viewed'), 0),
             count(*) filter (where e.type = 'cta_clicked'),
             count(*) filter (where e.type = 'meeting_booked'),
             max(e.occurred_at) filter (where e.type = 'meeting_booked'),
             count(*) filter (where e.type = 'email_sent'),
             count(*) filter (where e.type = 'email_opened'),
             max(e.occurred_at)
      from app.events e
      where e.org_id = any(${orgIds})
      group by e.lead_id, e.org_id`);
  });
  // VACUUM marks the pages all-visible, as autovacuum eventually would, so index-only scans
  // need no heap visits. A snapshot still open elsewhere (autovacuum's own ANALYZE of the
  // new rows) can hold that back, so it is repeated until the tables are all-visible.
  await timed("vacuum analyze", async () => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      for (const table of LOADED_TABLES) await sql.unsafe(`vacuum (analyze) ${table}`).simple();
      const [least] = await sql<{ visible: number }[]>`
        select min(100.0 * relallvisible / greatest(relpages, 1))::integer as visible
        from pg_class where oid = any(${LOADED_TABLES}::regclass[])`;
      log(`vacuum pass ${attempt}: at least ${least!.visible}% of every table's pages all-visible`);
      if (least!.visible >= 95) break;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  });
  const [counts] = await sql<{ leads: number; changes: number; events: number }[]>`
    select (select count(*) from app.leads where org_id = any(${orgIds}))::integer as leads,
           (select count(*) from app.stage_changes where org_id = any(${orgIds}))::integer as changes,
           (select count(*) from app.events where org_id = any(${orgIds}))::integer as events`;
  log(`loaded ${counts!.leads} leads, ${counts!.changes} stage changes, ${counts!.events} events in ${orgIds.length} orgs`);
}

// ---------------------------------------------------------------------------
// Measuring, as the tenant
// ---------------------------------------------------------------------------
/** Acts as the org for the rest of the transaction, as functions/http/tenant.ts does. */
async function actAs(tx: postgres.TransactionSql, orgId: string): Promise<void> {
  const claims = JSON.stringify({ role: "authenticated", org_id: orgId });
  await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`;
}

async function asTenant<T>(sql: Sql, orgId: string, work: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await actAs(tx, orgId);
    return work(tx);
  }) as Promise<T>;
}

const queries = {
  analytics: (tx: postgres.TransactionSql) => tx`select app.pipeline_analytics(${DAYS}::integer, now()) as doc`,
  stalled: (tx: postgres.TransactionSql) => tx`select * from app.stalled_leads(p_now => now(), p_limit => 50)`,
};
type Query = keyof typeof queries;

async function measure(sql: Sql, orgIds: string[], query: Query): Promise<number[]> {
  const latencies: number[] = [];
  for (const orgId of orgIds) {
    await asTenant(sql, orgId, (tx) => queries[query](tx));
    for (let i = 0; i < RUNS; i++) {
      latencies.push(await asTenant(sql, orgId, async (tx) => {
        const t0 = performance.now();
        await queries[query](tx);
        return performance.now() - t0;
      }));
    }
  }
  return latencies;
}

function report(label: string, latencies: number[], target: number): void {
  const sorted = [...latencies].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p95 = percentile(sorted, 95);
  log(`${label}: ${latencies.length} calls, median ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms `
    + `(target < ${target} ms: ${p95 < target ? "met" : "MISSED"})`);
}

/** The plans of the statements inside the function, as auto_explain reports them. */
async function plans(orgId: string, query: Query): Promise<string[]> {
  const notices: string[] = [];
  const explaining = postgres(databaseUrl, {
    max: 1,
    onnotice: (notice) => notices.push(String(notice.message ?? "")),
  });
  try {
    await explaining.begin(async (tx) => {
      await tx`load 'auto_explain'`;
      await tx.unsafe(`set local auto_explain.log_min_duration = 0;
        set local auto_explain.log_analyze = on; set local auto_explain.log_buffers = on;
        set local auto_explain.log_timing = on; set local auto_explain.log_nested_statements = on;
        set local auto_explain.log_level = notice`);
      await actAs(tx, orgId);
      await queries[query](tx);
    });
  } finally {
    await explaining.end({ timeout: 5 });
  }
  // The statements inside the function that read the big tables, without their query text
  // (the plan names every relation and index it uses).
  return notices
    .filter((n) => /on (leads|stage_changes|events|lead_engagement|touchpoints) /.test(n))
    .map((n) => {
      const lines = n.split("\n");
      const planStart = lines.findIndex((line, i) => i > 0 && /^[A-Z].*\(cost=/.test(line));
      return [lines[0], ...lines.slice(planStart)].join("\n");
    });
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------
async function main(url: string) {
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  let orgIds: string[] = [];
  const cleanup = async () => {
    if (orgIds.length > 0 && !KEEP) {
      const ids = orgIds;
      orgIds = [];
      await timed(`deleted ${ids.length} bench orgs`, () => sql`delete from app.orgs where id = any(${ids})`);
    } else if (orgIds.length > 0) {
      log(`BENCH_KEEP=1: kept orgs ${orgIds[0]} … (${orgIds.length}, owner emails bench-pipeline-…@example.com)`);
    }
    await sql.end({ timeout: 5 });
  };
  const interrupted = () => {
    console.error("\n[bench:pipeline] interrupted, cleaning up");
    cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  try {
    const [version] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    log(`${LEADS} leads across ${ORGS} orgs; ${SAMPLE} sampled orgs x ${RUNS} runs; window ${DAYS} days; PostgreSQL ${version!.v}`);
    orgIds = await timed(`${ORGS} orgs`, () => createOrgs(sql, randomUUID().slice(0, 8)));
    await load(sql, orgIds);

    const step = Math.max(1, Math.floor(orgIds.length / SAMPLE));
    const sample = Array.from({ length: SAMPLE }, (_, i) => orgIds[i * step]!);
    report(`app.pipeline_analytics(${DAYS})`, await measure(sql, sample, "analytics"), ANALYTICS_TARGET_MS);

    const [stalled] = await sql<{ exists: boolean }[]>`select to_regprocedure(${STALLED_SIGNATURE}) is not null as exists`;
    if (stalled!.exists) {
      report("app.stalled_leads(limit 50)", await measure(sql, sample, "stalled"), STALLED_TARGET_MS);
    } else {
      log(`app.stalled_leads(limit 50): skipped (${STALLED_SIGNATURE} does not exist in this database)`);
    }

    const queriesToExplain: Query[] = stalled!.exists ? ["analytics", "stalled"] : ["analytics"];
    for (const query of queriesToExplain) {
      console.log(`\n[bench:pipeline] plans inside ${query === "analytics" ? "app.pipeline_analytics" : "app.stalled_leads"} (org ${sample[0]}):`);
      for (const plan of await plans(sample[0]!, query)) console.log(plan);
    }
  } finally {
    await cleanup();
  }
}

main(databaseUrl).catch((err) => {
  console.error(`[bench:pipeline] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
