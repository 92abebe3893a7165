-- Confidence scoring: how likely a lead is to buy, 0-100, with the points of every factor.
-- The weights live in one table (app.score_weights); one set-based function
-- (app.score_leads) computes and stores the score and label, and answers them with the
-- factors and suggested action, for one lead or every lead of an org in a single
-- statement. Triggers keep the stored score current (new engagement events, a lead
-- created, its tier, enrichment or last touch changed) and a daily job applies the time
-- decay.
--
-- This file holds the tables app.lead_scores and app.score_weights, app.round_points,
-- app.score_leads, the triggers events_20_score (on app.events), leads_30_score_new and
-- leads_rescore (on app.leads), and app.rescore_all_leads, run daily by the job
-- rescore-leads (90_jobs.sql).
-- The stored score is read by app.lead_details (95_views.sql), stalled leads
-- (58_stalled.sql), playbooks (60_playbooks.sql), automation conditions
-- (62_automation.sql), analytics (64_analytics.sql) and app.record_event (54_events.sql).

-- ---------------------------------------------------------------------------
-- Where a lead's confidence score lives: a narrow table beside the lead, one row per scored
-- lead, so lists, filters, automation conditions and playbooks read it without recomputing,
-- and rescoring a whole org rewrites small rows instead of wide lead rows with all their
-- indexes. app.score_leads writes it; nothing else does. Pages are left 30 % free so the
-- scores a decay pass changes are rewritten in place (HOT updates).
-- ---------------------------------------------------------------------------
create table app.lead_scores (
  lead_id text not null,
  org_id text not null,
  score integer not null constraint lead_scores_score_check check (score between 0 and 100),
  label text not null constraint lead_scores_label_check check (label in ('hot', 'warm', 'cool', 'cold')),
  scored_at timestamptz not null,
  primary key (org_id, lead_id),
  -- The lead's org is the org: no second key to app.orgs to check on every insert (an org's
  -- leads, and so their scores, go with it).
  constraint lead_scores_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
) with (fillfactor = 70);
comment on table app.lead_scores is 'Each lead''s stored confidence score, written by app.score_leads only; a lead without a row has not been scored yet.';
comment on column app.lead_scores.score is 'Confidence score 0-100; see app.score_leads.';
comment on column app.lead_scores.label is 'hot (>= 70), warm (>= 45), cool (>= 20) or cold.';
comment on column app.lead_scores.scored_at is 'When the stored score or label last changed.';
-- An org's scores by label, with the lead: the score distribution and the hot leads are
-- index-only scans. The score itself is left out, so a rescore that keeps the label is a
-- HOT update that writes no index.
create index lead_scores_org_label_idx on app.lead_scores (org_id, label) include (lead_id);

-- Org-private; the API role reads it, and writes it only through app.score_leads (which runs
-- as the caller, so row-level security keeps each org to its own leads).
select app.make_org_private('app.lead_scores', 'Lead scores');
grant select, insert, update on app.lead_scores to authenticated;
grant all on app.lead_scores to service_role;

-- ---------------------------------------------------------------------------
-- The weights. A factor's points are round(units * points_per_unit), capped at max_points
-- (a floor, for the negative staleness factor). Units per factor:
--   quiz_score      the latest quiz result, 0-100
--   tier            the lead's tier: high 2, medium 1, anything else 0
--   proposal_views  proposal views
--   video_watched   the furthest video progress, percent
--   cta_click       CTA clicks
--   meeting_booked  1 while a booked meeting stands (none booked, or canceled since: 0)
--   enrichment      1 once enrichment is complete
--   staleness       full weeks since the last touch (or since creation, never touched)
-- ---------------------------------------------------------------------------
create table app.score_weights (
  factor text primary key check (factor in
    ('quiz_score', 'tier', 'proposal_views', 'video_watched', 'cta_click', 'meeting_booked', 'enrichment', 'staleness')),
  position smallint not null unique,
  points_per_unit numeric not null,
  max_points integer not null,
  unit text not null,
  constraint score_weights_cap_sign check (sign(points_per_unit) = sign(max_points))
);
comment on table app.score_weights is 'Confidence-score weights, one row per factor: points = round(units * points_per_unit) capped at max_points (a floor when negative).';

-- Shared reference data: every org reads it, only the service role changes it.
alter table app.score_weights enable row level security;
alter table app.score_weights force row level security;
create policy "Score weights are readable by every org" on app.score_weights
  for select to authenticated using (true);
grant select on app.score_weights to authenticated;
grant all on app.score_weights to service_role;

insert into app.score_weights (factor, position, points_per_unit, max_points, unit) values
  ('quiz_score', 1, 0.25, 25, 'latest quiz result (0-100)'),
  ('tier', 2, 8, 16, 'tier level: high 2, medium 1, other 0'),
  ('proposal_views', 3, 5, 15, 'proposal views'),
  ('video_watched', 4, 0.1, 10, 'furthest video progress (percent)'),
  ('cta_click', 5, 5, 10, 'CTA clicks'),
  ('meeting_booked', 6, 25, 25, 'a booked meeting that still stands'),
  ('enrichment', 7, 5, 5, 'enrichment complete'),
  ('staleness', 8, -5, -30, 'full weeks since the last touch');

-- ---------------------------------------------------------------------------
-- Points are worked out in double precision (decimal arithmetic over eight factors costs a
-- third of a whole-org rescore), rounding halves away from zero as round(numeric) does.
-- The tolerance keeps a product that binary floating point puts a hair under a half (0.15
-- x 10 = 1.4999999999999998) rounding as its decimal value; weights and units have a few
-- decimals at most, so no product is that close to a half otherwise. No SET clause, so
-- the planner inlines it.
-- ---------------------------------------------------------------------------
create function app.round_points(p_points double precision) returns integer
  language sql immutable
  as $$ select (pg_catalog.sign(p_points) * pg_catalog.floor(pg_catalog.abs(p_points) + 0.5 + 1e-9))::integer $$;
comment on function app.round_points(double precision) is 'A factor''s points: units x points per unit rounded to a whole number, halves away from zero.';
revoke execute on function app.round_points(double precision) from public;
grant execute on function app.round_points(double precision) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The scorer: one statement reads each lead with its engagement rollup and stage, works
-- out every factor, and writes score, label and scored_at into app.lead_scores.
-- p_lead_ids null: every live lead of the org; otherwise those leads (deleted included).
-- scored_at is when the stored score last changed: a rescore that comes out the same
-- leaves the row alone, so it costs no write; the row written is narrow, and one whose label
-- stays the same is a HOT update that writes no index.
-- The factors (with their wording) are built only for the leads asked for by id: building
-- eight JSON objects per lead would be most of the cost of rescoring a whole org, and
-- nothing reads them there. They are not stored: a lead's factors are always one call away.
-- The leads come from one of two branches, by id or the whole org, and which one runs is
-- decided when the statement starts. Scoring leads by id (a new lead, an event, a changed
-- tier: every insert and most writes) keeps one generic plan per session, built for a few
-- leads (index lookups in nested loops), instead of planning this statement on every call,
-- which cost more than the scoring itself. A whole org gets a custom plan for its size with
-- nested loops off: right after a bulk import the statistics still say the org is empty,
-- and a nested loop over the scored rows would then be quadratic. The SET clauses restore
-- the planner settings when the function returns. JIT is off: the cost that disabling
-- nested loops adds would make every whole-org rescore spend over a second compiling
-- expressions.
-- ---------------------------------------------------------------------------
create function app.score_leads(p_org_id text, p_lead_ids text[] default null, p_now timestamptz default now())
  returns table (lead_id text, score integer, label text, factors jsonb, suggested_action text)
  language plpgsql
  set search_path = ''
  set plan_cache_mode = force_generic_plan
  set enable_nestloop = on
  set enable_hashjoin = on
  set enable_mergejoin = on
  set jit = off
  as $$
  begin
    if p_lead_ids is null then
      perform pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
      perform pg_catalog.set_config('enable_nestloop', 'off', true);
    else
      perform pg_catalog.set_config('enable_hashjoin', 'off', true);
      perform pg_catalog.set_config('enable_mergejoin', 'off', true);
    end if;
    return query
    with w as (
      select
        max(x.points_per_unit::float8) filter (where x.factor = 'quiz_score') as quiz_rate,
        max(x.max_points) filter (where x.factor = 'quiz_score') as quiz_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'tier') as tier_rate,
        max(x.max_points) filter (where x.factor = 'tier') as tier_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'proposal_views') as views_rate,
        max(x.max_points) filter (where x.factor = 'proposal_views') as views_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'video_watched') as video_rate,
        max(x.max_points) filter (where x.factor = 'video_watched') as video_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'cta_click') as cta_rate,
        max(x.max_points) filter (where x.factor = 'cta_click') as cta_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'meeting_booked') as meeting_rate,
        max(x.max_points) filter (where x.factor = 'meeting_booked') as meeting_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'enrichment') as enrichment_rate,
        max(x.max_points) filter (where x.factor = 'enrichment') as enrichment_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'staleness') as stale_rate,
        max(x.max_points) filter (where x.factor = 'staleness') as stale_cap
      from app.score_weights x
    ),
    measured as (
      select
        l.id,
        l.tier,
        l.enrichment_status,
        g.quiz_score,
        case pg_catalog.lower(l.tier) when 'high' then 2 when 'medium' then 1 else 0 end as tier_level,
        coalesce(g.proposal_views, 0) as views,
        coalesce(g.video_percent, 0) as video,
        coalesce(g.cta_clicks, 0) as ctas,
        coalesce(g.meetings_booked > 0 and (g.meeting_canceled_at is null or g.meeting_canceled_at < g.last_meeting_booked_at), false) as meeting,
        g.meeting_canceled_at is not null as canceled,
        greatest(0, floor(pg_catalog.date_part('epoch', p_now - coalesce(l.last_touch_at, l.created_at)) / 86400))::integer as idle_days,
        l.last_touch_at is not null as touched,
        s.outcome,
        g.bounced_at is not null as bounced,
        g.unsubscribed_at is not null as unsubscribed,
        c.score as stored_score,
        c.label as stored_label
      from (
        -- Every live lead of the org (a custom plan, p_lead_ids null) ...
        select x.id, x.org_id, x.tier, x.enrichment_status, x.last_touch_at, x.created_at, x.stage_id
        from app.leads x
        where p_lead_ids is null and x.org_id = p_org_id and x.deleted_at is null
        union all
        -- ... or the leads asked for (the generic plan; the branch above is skipped at run time).
        select x.id, x.org_id, x.tier, x.enrichment_status, x.last_touch_at, x.created_at, x.stage_id
        from app.leads x
        where x.org_id = p_org_id and x.id = any(p_lead_ids)
      ) l
      left join app.lead_engagement g on g.org_id = l.org_id and g.lead_id = l.id
      left join app.stages s on s.org_id = l.org_id and s.id = l.stage_id
      left join app.lead_scores c on c.org_id = l.org_id and c.lead_id = l.id
    ),
    -- Materialized: each later step refers to the points (and the label to the total) several
    -- times, and inlined CTEs would recompute every one of them at each reference.
    pointed as materialized (
      select
        m.*,
        least(w.quiz_cap, app.round_points(coalesce(m.quiz_score, 0)::float8 * w.quiz_rate)) as quiz_points,
        least(w.tier_cap, app.round_points(m.tier_level * w.tier_rate)) as tier_points,
        least(w.views_cap, app.round_points(m.views * w.views_rate)) as views_points,
        least(w.video_cap, app.round_points(m.video::float8 * w.video_rate)) as video_points,
        least(w.cta_cap, app.round_points(m.ctas * w.cta_rate)) as cta_points,
        least(w.meeting_cap, app.round_points(m.meeting::integer * w.meeting_rate)) as meeting_points,
        least(w.enrichment_cap, app.round_points((m.enrichment_status = 'complete')::integer * w.enrichment_rate)) as enrichment_points,
        greatest(w.stale_cap, app.round_points((m.idle_days / 7) * w.stale_rate)) as stale_points
      from measured m cross join w
    ),
    totalled as (
      select
        p.*,
        greatest(0, least(100, p.quiz_points + p.tier_points + p.views_points + p.video_points + p.cta_points
          + p.meeting_points + p.enrichment_points + p.stale_points)) as total
      from pointed p
    ),
    labelled as materialized (
      select
        t.*,
        case when t.total >= 70 then 'hot' when t.total >= 45 then 'warm' when t.total >= 20 then 'cool' else 'cold' end as grade
      from totalled t
    ),
    scored as (
      select
        b.id,
        b.total,
        b.grade,
        case when p_lead_ids is not null then pg_catalog.jsonb_build_array(
          pg_catalog.jsonb_build_object('factor', 'quiz_score', 'points', b.quiz_points, 'detail',
            case when b.quiz_score is null then 'No quiz completed' else 'Quiz score ' || b.quiz_score || '/100' end),
          pg_catalog.jsonb_build_object('factor', 'tier', 'points', b.tier_points, 'detail',
            case when b.tier is null then 'No tier set' else 'Tier ' || b.tier end),
          pg_catalog.jsonb_build_object('factor', 'proposal_views', 'points', b.views_points, 'detail',
            case b.views when 0 then 'Proposal not viewed' when 1 then '1 proposal view' else b.views || ' proposal views' end),
          pg_catalog.jsonb_build_object('factor', 'video_watched', 'points', b.video_points, 'detail',
            case when b.video = 0 then 'Video not watched' else 'Watched ' || round(b.video) || '% of the video' end),
          pg_catalog.jsonb_build_object('factor', 'cta_click', 'points', b.cta_points, 'detail',
            case b.ctas when 0 then 'No CTA clicks' when 1 then '1 CTA click' else b.ctas || ' CTA clicks' end),
          pg_catalog.jsonb_build_object('factor', 'meeting_booked', 'points', b.meeting_points, 'detail',
            case when b.meeting then 'Meeting booked' when b.canceled then 'Meeting canceled' else 'No meeting booked' end),
          pg_catalog.jsonb_build_object('factor', 'enrichment', 'points', b.enrichment_points, 'detail',
            'Enrichment ' || pg_catalog.replace(b.enrichment_status, '_', ' ')),
          pg_catalog.jsonb_build_object('factor', 'staleness', 'points', b.stale_points, 'detail',
            case
              when b.idle_days < 7 then case when b.touched then 'Touched within the last week' else 'Created within the last week' end
              else case when b.touched then '' else 'Never touched; created ' end
                || case when b.idle_days < 14 then '1 week' else (b.idle_days / 7) || ' weeks' end
                || case when b.touched then ' since the last touch' else ' ago' end
            end)
        ) end as factor_list,
        case
          when b.outcome = 'won' then 'onboard_customer'
          when b.outcome = 'lost' then 'no_action'
          when b.unsubscribed then 'do_not_contact'
          when b.bounced then 'verify_email'
          when b.meeting then 'prepare_for_meeting'
          when b.grade = 'hot' then 'book_meeting'
          when b.grade = 'warm' and b.views = 0 then 'send_proposal'
          when b.grade = 'warm' then 'follow_up'
          when b.grade = 'cool' then 'nurture'
          when b.enrichment_status <> 'complete' then 'enrich'
          else 're_engage'
        end as action
      from labelled b
    )
    ,
    -- Rows whose score and label come out as stored (read with the lead above) are not
    -- rewritten: a daily decay pass writes only the leads whose staleness crossed a week.
    -- Changed scores are updated by a join (an upsert would lock every row it compares);
    -- leads without one yet are inserted, and a score another transaction wrote in the
    -- meantime is overwritten with this one.
    rewritten as (
      update app.lead_scores c
      set score = b.total, label = b.grade, scored_at = p_now
      from labelled b
      where c.org_id = p_org_id and c.lead_id = b.id and (b.stored_score <> b.total or b.stored_label <> b.grade)
    ),
    first_scored as (
      insert into app.lead_scores as c (lead_id, org_id, score, label, scored_at)
      select b.id, p_org_id, b.total, b.grade, p_now from labelled b
      where b.stored_score is null
      on conflict on constraint lead_scores_pkey do update set score = excluded.score, label = excluded.label, scored_at = excluded.scored_at
      where c.score <> excluded.score or c.label <> excluded.label
    )
    select s.id, s.total, s.grade, s.factor_list, s.action from scored s;
  end;
  $$;
comment on function app.score_leads(text, text[], timestamptz) is 'Scores leads of one org in one statement (all live leads when p_lead_ids is null): stores score, label and scored_at in app.lead_scores, and returns them with the suggested action (and, for leads asked for by id, the factors).';
revoke execute on function app.score_leads(text, text[], timestamptz) from public;
grant execute on function app.score_leads(text, text[], timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Keeping scores current.
-- ---------------------------------------------------------------------------
create function app._score_event_lead() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app.score_leads(new.org_id, array[new.lead_id]);
    return null;
  end;
  $$;
comment on function app._score_event_lead() is 'Trigger: rescores the lead of a new engagement event (after its rollup, before automation reads the score).';
revoke execute on function app._score_event_lead() from public;

create trigger events_20_score after insert on app.events
  for each row execute function app._score_event_lead();

create function app._score_new_leads() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app.score_leads(n.org_id, n.ids)
    from (select i.org_id, array_agg(i.id) as ids from new_leads i group by i.org_id) n;
    return null;
  end;
  $$;
comment on function app._score_new_leads() is 'Trigger: scores the leads an insert created, one statement per org.';
revoke execute on function app._score_new_leads() from public;

create trigger leads_30_score_new after insert on app.leads
  referencing new table as new_leads
  for each statement execute function app._score_new_leads();

create function app._rescore_changed_lead() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app.score_leads(new.org_id, array[new.id]);
    return null;
  end;
  $$;
comment on function app._rescore_changed_lead() is 'Trigger: rescores a lead whose tier, enrichment status or last touch changed.';
revoke execute on function app._rescore_changed_lead() from public;

create trigger leads_rescore after update of tier, enrichment_status, last_touch_at on app.leads
  for each row
  when (old.tier is distinct from new.tier or old.enrichment_status is distinct from new.enrichment_status
    or old.last_touch_at is distinct from new.last_touch_at)
  execute function app._rescore_changed_lead();

-- ---------------------------------------------------------------------------
-- Decay: a lead nobody touches cools off even when nothing happens, so every org is
-- rescored daily (the job rescore-leads, 90_jobs.sql).
-- ---------------------------------------------------------------------------
create function app.rescore_all_leads(p_now timestamptz default now()) returns integer
  language sql
  security definer
  set search_path = ''
  as $$
    select count(*)::integer from app.orgs o cross join lateral app.score_leads(o.id, null, p_now) s
  $$;
comment on function app.rescore_all_leads(timestamptz) is 'Rescores every live lead of every org (time decay); returns how many. Run daily by pg_cron.';
revoke execute on function app.rescore_all_leads(timestamptz) from public;
grant execute on function app.rescore_all_leads(timestamptz) to service_role;
