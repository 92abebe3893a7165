// Rescoring bench: app.score_leads over every lead of one org, as that org (row-level
// security in force), the way POST /leads/score { all: true } runs it.
//
// One fresh ultra-tier org; BENCH_RESCORE_LEADS leads (100000) inserted set-based with a
// spread of tiers, enrichment states and last touches, and engagement events (quizzes,
// proposal views, videos, CTA clicks, meetings) for about half of them. The arrange step
// writes rows directly with triggers off (session_replication_role = replica: the plan's
// lead limit would refuse an org this size, and per-row rescoring is what is being
// replaced), then builds each lead's engagement rollup from its events in one statement,
// and gives every lead its first score (untimed: live leads are scored as they are created).
// Then app.score_leads runs BENCH_RESCORE_RUNS times (3), each a week later than the one
// before (p_now + 7, 14, 21 days) so staleness moves and scores are really rewritten, and
// the median is reported; then once more at the same clock as the last run, where nothing
// changes and nothing is written (the steady state of the daily decay job between weekly
// steps). Last, the plan of the scoring statement (auto_explain: analyze, buffers). The
// org is deleted at the end unless BENCH_KEEP=1.
//
// Run: DATABASE_URL=… npx tsx scripts/bench/rescore.ts
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import process from "node:process";
import postgres from "postgres";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("DATABASE_URL is not set.");
  process.exit(1);
}
const LEADS = Number(process.env.BENCH_RESCORE_LEADS ?? 100_000);
const RUNS = Number(process.env.BENCH_RESCORE_RUNS ?? 3);
const TARGET_MS = 2000;
const KEEP = process.env.BENCH_KEEP === "1";

async function arrange(sql: postgres.Sql, orgId: string): Promise<{ events: number }> {
  return sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`
      insert into app.leads (id, org_id, first_name, email, tier, stage_id, enrichment_status, created_at, updated_at, last_touch_at)
      select app.new_id('rp'), ${orgId}, 'Bench' || g, 'rescore-' || g || '@bench.example.com',
             (array['high', 'medium', 'low', null])[1 + g % 4],
             st.ids[1 + g % cardinality(st.ids)],
             (array['complete', 'not_enriched', 'complete', 'failed', 'not_enriched'])[1 + g % 5],
             now() - make_interval(days => 30 + g % 90),
             now() - make_interval(days => 30 + g % 90),
             case when g % 3 <> 0 then now() - make_interval(days => g % 60, hours => g % 24) end
      from generate_series(1, ${LEADS}::integer) g
      cross join (select array_agg(s.id order by s.position) as ids from app.stages s where s.org_id = ${orgId}) st`;
    // About half the leads engaged: each kind of signal for its own share of them.
    const [events] = await tx<{ count: number }[]>`
      with leads as (select l.id, row_number() over (order by l.id) as n from app.leads l where l.org_id = ${orgId}),
      inserted as (
        insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor)
        select ${orgId}, l.id, e.type, now() - make_interval(days => (l.n % 50)::integer, mins => e.k), e.data, 'bench', 'bench'
        from leads l
        cross join lateral (
          select 'quiz_completed' as type, 0 as k, jsonb_build_object('score', l.n % 101) as data where l.n % 5 in (0, 1)
          union all
          select 'proposal_viewed', v, jsonb_build_object('seconds', 30 + v * 10) from generate_series(1, (l.n % 4)::integer) v where l.n % 3 = 0
          union all
          select 'video_watched', 5, jsonb_build_object('percent', l.n % 100) where l.n % 4 = 0
          union all
          select 'cta_clicked', 6, '{}'::jsonb where l.n % 7 = 0
          union all
          select 'meeting_booked', 7, '{}'::jsonb where l.n % 20 = 0
        ) e
        returning 1
      )
      select count(*)::integer as count from inserted`;
    await tx`
      insert into app.lead_engagement (lead_id, org_id, quiz_completions, quiz_score, proposal_views, proposal_seconds,
        video_percent, cta_clicks, meetings_booked, last_meeting_booked_at, last_event_at)
      select e.lead_id, e.org_id,
        count(*) filter (where e.type = 'quiz_completed'),
        (array_agg((e.data ->> 'score')::numeric order by e.occurred_at desc) filter (where e.type = 'quiz_completed'))[1],
        count(*) filter (where e.type = 'proposal_viewed'),
        coalesce(sum((e.data ->> 'seconds')::numeric) filter (where e.type = 'proposal_viewed'), 0),
        coalesce(max((e.data ->> 'percent')::numeric) filter (where e.type = 'video_watched'), 0),
        count(*) filter (where e.type = 'cta_clicked'),
        count(*) filter (where e.type = 'meeting_booked'),
        max(e.occurred_at) filter (where e.type = 'meeting_booked'),
        max(e.occurred_at)
      from app.events e where e.org_id = ${orgId}
      group by e.lead_id, e.org_id`;
    return { events: events!.count };
  });
}

/** One run of app.score_leads for the whole org, as the org; returns ms and how many were scored. */
async function rescore(sql: postgres.Sql, orgId: string, days: number): Promise<{ ms: number; scored: number; written: number; labels: Record<string, number> }> {
  const claims = JSON.stringify({ role: "authenticated", org_id: orgId });
  return sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`;
    const at = new Date(Date.now() + days * 86_400_000);
    const t0 = performance.now();
    const rows = await tx<{ label: string; count: number }[]>`
      select s.label, count(*)::integer as count from app.score_leads(${orgId}, null, ${at}) s group by s.label`;
    const ms = performance.now() - t0;
    const [written] = await tx<{ count: number }[]>`
      select count(*)::integer as count from app.lead_scores where org_id = ${orgId} and scored_at = ${at}`;
    const labels = Object.fromEntries(rows.map((r) => [r.label, r.count]));
    return { ms, scored: rows.reduce((n, r) => n + r.count, 0), written: written!.count, labels };
  });
}

/** The scoring statement's plan, executed (analyze, buffers), captured with auto_explain. */
async function explain(url: string, orgId: string): Promise<string[]> {
  const plans: string[] = [];
  const sql = postgres(url, { max: 1, onnotice: (n) => { if (n.severity === "LOG") plans.push(String(n.message)); } });
  try {
    await sql`load 'auto_explain'`;
    await sql.begin(async (tx) => {
      await tx`set local auto_explain.log_min_duration = 0`;
      await tx`set local auto_explain.log_analyze = on`;
      await tx`set local auto_explain.log_buffers = on`;
      await tx`set local auto_explain.log_nested_statements = on`;
      await tx`set local client_min_messages = log`;
      const claims = JSON.stringify({ role: "authenticated", org_id: orgId });
      await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`;
      await tx`select count(*) from app.score_leads(${orgId}, null, ${new Date(Date.now() + 7 * (RUNS + 1) * 86_400_000)})`;
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
  // The statement that updates and inserts scores is the scoring statement; the outer count is not interesting.
  return plans.filter((p) => p.includes("Update on lead_scores"));
}

async function main(url: string) {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  let orgId: string | undefined;
  try {
    const [org] = await admin<{ orgId: string }[]>`
      select org_id as "orgId" from app.signup(${`rescore-bench-${randomUUID()}@example.com`}, 'Rescore bench', 'bench', 'bench')`;
    orgId = org!.orgId;
    await admin`update app.orgs set tier = 'ultra' where id = ${orgId}`;

    const t0 = performance.now();
    const { events } = await arrange(admin, orgId);
    await admin`analyze app.leads`;
    await admin`analyze app.lead_engagement`;
    await admin`analyze app.events`;
    // Live leads are scored as they are created; loaded with triggers off, these get their
    // first scores here, untimed, so the timed runs are the rescoring passes the daily job makes.
    await admin`select count(*) from app.score_leads(${orgId}, null, now())`;
    await admin`vacuum analyze app.lead_scores`;
    const [version] = await admin<{ v: string }[]>`select current_setting('server_version') as v`;
    console.log(`[bench:rescore] ${LEADS} leads, ${events} events, arranged in ${((performance.now() - t0) / 1000).toFixed(1)} s; PostgreSQL ${version!.v}`);

    const runs: number[] = [];
    let last: Awaited<ReturnType<typeof rescore>> | undefined;
    for (let i = 0; i < RUNS; i++) {
      last = await rescore(admin, orgId, 7 * (i + 1));
      if (last.scored !== LEADS) throw new Error(`run ${i + 1} scored ${last.scored} leads, expected ${LEADS}`);
      runs.push(last.ms);
      console.log(`[bench:rescore] run ${i + 1} (clock +${7 * (i + 1)} days): ${last.ms.toFixed(0)} ms, ${last.written} scores written`);
    }
    const steady = await rescore(admin, orgId, 7 * RUNS);
    console.log(`[bench:rescore] again at the same clock (no score changes, nothing written): ${steady.ms.toFixed(0)} ms`);
    const median = [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
    console.log(`[bench:rescore] labels: ${JSON.stringify(last!.labels)}`);
    console.log(`[bench:rescore] median of ${RUNS}: ${median.toFixed(0)} ms for ${LEADS} leads `
      + `(${(LEADS / (median / 1000)).toFixed(0)} leads/s; target < ${TARGET_MS} ms: ${median < TARGET_MS ? "met" : "MISSED"})`);
    console.log("[bench:rescore] plan of the scoring statement (EXPLAIN ANALYZE, BUFFERS):");
    for (const plan of await explain(url, orgId)) console.log(plan);
  } finally {
    if (orgId && KEEP) console.log(`[bench:rescore] BENCH_KEEP=1: kept org ${orgId}`);
    else if (orgId) await admin`delete from app.orgs where id = ${orgId}`;
    await admin.end({ timeout: 5 });
  }
}

main(databaseUrl).catch((err) => {
  console.error(`[bench:rescore] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
