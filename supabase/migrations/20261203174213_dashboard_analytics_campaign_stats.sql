-- dashboard analytics campaign stats
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand. What the dashboard (and agents) read besides what was there:
--   * app.pipeline_analytics answers activityPerDay too (events, touchpoints and stage moves
--     per UTC day of the window), counted on touchpoints_org_occurred_idx for touchpoints;
--   * app.campaign_stats: a campaign's emails sent, and enrolled leads that opened, replied,
--     bounced or unsubscribed while enrolled (GET /campaigns answers it as stats).
-- No data changes.

CREATE INDEX touchpoints_org_occurred_idx ON app.touchpoints USING btree (org_id, occurred_at DESC);

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app.campaign_stats(p_campaign_id text)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
    select pg_catalog.jsonb_build_object(
      'enrolled', count(*)::integer,
      'sent', coalesce(sum(s.sent), 0)::integer,
      'opened', count(*) filter (where s.opened)::integer,
      'replied', count(*) filter (where s.replied)::integer,
      'bounced', count(*) filter (where s.bounced)::integer,
      'unsubscribed', count(*) filter (where s.unsubscribed)::integer)
    from app.enrollments x
    cross join lateral (
      select
        (select count(*) from app.outbox o where o.org_id = x.org_id and o.enrollment_id = x.id and o.status = 'sent') as sent,
        coalesce(bool_or(e.type = 'email_opened'), false) as opened,
        coalesce(bool_or(e.type = 'email_replied'), false) as replied,
        coalesce(bool_or(e.type = 'email_bounced'), false) as bounced,
        coalesce(bool_or(e.type = 'unsubscribed'), false) as unsubscribed
      from app.events e
      where e.org_id = x.org_id and e.lead_id = x.lead_id
        and e.type in ('email_opened', 'email_replied', 'email_bounced', 'unsubscribed')
        and e.occurred_at >= x.enrolled_at
        and (x.finished_at is null or e.occurred_at <= x.finished_at or e.type = x.stop_reason)
    ) s
    where x.campaign_id = p_campaign_id;
  $function$
;

CREATE OR REPLACE FUNCTION app.pipeline_analytics(p_days integer DEFAULT 30, p_now timestamp with time zone DEFAULT now())
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
  declare
    v_org_id text := app.current_org_id();
    v_from timestamptz;
    v_result jsonb;
  begin
    if p_days is null or p_days not between 1 and 365 then
      perform app.refuse(400, 'invalid_days', pg_catalog.format('days must be between 1 and 365, got %s', coalesce(p_days::text, 'null')),
        'Pass days as a whole number of days from 1 to 365, e.g. GET /api/openclaw/analytics?days=30 (the default).');
    end if;
    if v_org_id is null then
      perform app.refuse(401, 'no_org', 'No workspace is set for this request',
        'Call with your API key, or set request.jwt.claims with an org_id.');
    end if;
    v_from := p_now - pg_catalog.make_interval(days => p_days);

    with
    stages as (
      select s.id, s.name, s.position, s.outcome
      from app.stages s
      where s.org_id = v_org_id
    ),
    -- Live leads, grouped as finely as the snapshots need: one index-only scan.
    live as (
      select l.stage_id, l.created_at >= v_from and l.created_at <= p_now as recent, count(*)::integer as n
      from app.leads l
      where l.org_id = v_org_id and l.deleted_at is null
      group by 1, 2
    ),
    -- Live leads' scores per label: an index-only scan of the org's scores, less those of
    -- soft-deleted leads (few, so no join over every lead).
    labels as (
      select c.label, count(*)::integer as n
      from app.lead_scores c
      where c.org_id = v_org_id
      group by 1
      union all
      select c.label, -count(*)::integer
      from app.leads l
      join app.lead_scores c on c.org_id = l.org_id and c.lead_id = l.id
      where l.org_id = v_org_id and l.deleted_at is not null
      group by 1
    ),
    -- How leads were created: the source of their first stage change (api, sql, sync_source,
    -- …), read from an index-only scan of those rows, less the soft-deleted leads' (few, so
    -- no join over every lead). Permanently deleted leads take their history with them.
    origins as (
      select f.source, f.changed_by, count(*)::integer as n
      from app.stage_changes f
      where f.org_id = v_org_id and f.from_stage_id is null
      group by 1, 2
      union all
      select f.source, f.changed_by, -count(*)::integer
      from app.leads l
      cross join lateral (
        select f.source, f.changed_by from app.stage_changes f
        where f.org_id = l.org_id and f.lead_id = l.id and f.from_stage_id is null
        limit 1) f
      where l.org_id = v_org_id and l.deleted_at is not null
      group by 1, 2
    ),
    -- Inbound webhooks are told apart by the sync source's name.
    sources as (
      select case
               when o.source = 'sync_source' and o.changed_by like 'sync_source:%'
                 then 'sync_source:' || coalesce(ss.name, pg_catalog.substr(o.changed_by, 13))
               else o.source
             end as source,
             sum(o.n)::integer as n
      from origins o
      left join app.sync_sources ss
        on ss.org_id = v_org_id and ss.id = pg_catalog.substr(o.changed_by, 13) and o.source = 'sync_source'
      group by 1
      having sum(o.n) > 0
      union all
      -- Leads whose first stage change is gone (history rows removed by hand).
      select 'unknown', (select sum(v.n) from live v)::integer - (select coalesce(sum(o.n), 0) from origins o)::integer
      where (select sum(v.n) from live v) > (select coalesce(sum(o.n), 0) from origins o)
    ),
    activity as (
      select count(*) filter (where e.type = 'quiz_completed')::integer as quiz_completions,
             count(distinct e.lead_id) filter (where e.type = 'proposal_viewed')::integer as proposals_viewed,
             count(*) filter (where e.type = 'proposal_viewed')::integer as proposal_views,
             count(*) filter (where e.type = 'meeting_booked')::integer as meetings_booked
      from app.events e
      where e.org_id = v_org_id
        and e.type in ('quiz_completed', 'proposal_viewed', 'meeting_booked')
        and e.occurred_at >= v_from and e.occurred_at <= p_now
    ),
    -- Stage moves in the window, each with its stage's place and outcome (a stage deleted
    -- since has the outcome its recorded name implies), what the lead did next, and when it
    -- entered the stage it left.
    moves as (
      select w.*,
             -- A lead's first move in the window left a stage it entered before the window.
             case when w.from_stage_id is not null then coalesce(w.prev_at, (
               select max(p.changed_at) from app.stage_changes p
               where p.org_id = v_org_id and p.lead_id = w.lead_id and p.changed_at < w.changed_at)) end as entered_from_at,
             -- Moving on means a later open stage or a won one; dropping to lost is not progress.
             max(w.position) filter (where w.outcome = 'open') over later as later_position,
             coalesce(bool_or(w.outcome = 'won') over later, false) as won_later
      from (
        select c.id, c.lead_id, c.to_stage_id, c.from_stage_id, c.changed_at, s.position,
               coalesce(s.outcome, app.outcome_from_stage_name(c.to_stage_name)) as outcome,
               pg_catalog.lag(c.changed_at) over (partition by c.lead_id order by c.changed_at, c.id) as prev_at
        from app.stage_changes c
        left join stages s on s.id = c.to_stage_id
        where c.org_id = v_org_id and c.changed_at >= v_from and c.changed_at <= p_now
      ) w
      window later as (partition by w.lead_id order by w.changed_at, w.id rows between 1 following and unbounded following)
    ),
    -- Each lead closed in the window counts once, by its last closing move.
    closes as (
      select count(*) filter (where c.outcome = 'won')::integer as won,
             count(*) filter (where c.outcome = 'lost')::integer as lost
      from (
        select distinct on (m.lead_id) m.outcome
        from moves m
        where m.outcome in ('won', 'lost')
        order by m.lead_id, m.changed_at desc, m.id desc
      ) c
    ),
    conversion as (
      select m.to_stage_id as stage_id,
             count(distinct m.lead_id)::integer as entered,
             count(distinct m.lead_id) filter (where m.later_position > m.position or m.won_later)::integer as moved_on,
             count(distinct m.lead_id) filter (where m.outcome = 'won' or m.won_later)::integer as won
      from moves m
      where m.to_stage_id is not null
      group by 1
    ),
    stays as (
      select m.from_stage_id as stage_id,
             pg_catalog.round((avg(extract(epoch from m.changed_at - m.entered_from_at)) / 86400)::numeric, 2) as days
      from moves m
      where m.from_stage_id is not null and m.entered_from_at is not null
      group by 1
    ),
    -- What happened per UTC day of the window: each source grouped on its (org_id, time) index.
    daily as (
      select (e.occurred_at at time zone 'UTC')::date as day, count(*) as events, 0::bigint as touchpoints, 0::bigint as moves
      from app.events e where e.org_id = v_org_id and e.occurred_at >= v_from and e.occurred_at <= p_now group by 1
      union all
      select (t.occurred_at at time zone 'UTC')::date, 0, count(*), 0
      from app.touchpoints t where t.org_id = v_org_id and t.occurred_at >= v_from and t.occurred_at <= p_now group by 1
      union all
      select (m.changed_at at time zone 'UTC')::date, 0, 0, count(*)
      from app.stage_changes m where m.org_id = v_org_id and m.changed_at >= v_from and m.changed_at <= p_now group by 1
    )
    select pg_catalog.jsonb_build_object(
      'period', pg_catalog.jsonb_build_object('days', p_days, 'from', v_from, 'to', p_now),
      'totalLeads', (select coalesce(sum(n), 0)::integer from live),
      'leadsInPeriod', (select coalesce(sum(n) filter (where recent), 0)::integer from live),
      'quizCompletions', a.quiz_completions,
      'proposalsViewed', a.proposals_viewed,
      'proposalViews', a.proposal_views,
      'meetingsBooked', a.meetings_booked,
      'leadsWon', k.won,
      'leadsLost', k.lost,
      'conversionRate', pg_catalog.round(k.won::numeric / nullif(k.won + k.lost, 0), 4),
      'pipeline', (
        select coalesce(pg_catalog.jsonb_object_agg(x.name, x.n), '{}')
        from (
          select s.name, coalesce((select sum(v.n) from live v where v.stage_id = s.id), 0)::integer as n
          from stages s
          union all
          select '(no stage)', sum(v.n)::integer from live v where v.stage_id is null having sum(v.n) > 0
        ) x),
      'stageConversion', (
        select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'stage', s.name, 'stageId', s.id, 'outcome', s.outcome,
                 'entered', coalesce(c.entered, 0), 'movedOn', coalesce(c.moved_on, 0), 'won', coalesce(c.won, 0),
                 'movedOnRate', pg_catalog.round(c.moved_on::numeric / nullif(c.entered, 0), 4),
                 'winRate', pg_catalog.round(c.won::numeric / nullif(c.entered, 0), 4))
               order by s.position, s.name), '[]')
        from stages s
        left join conversion c on c.stage_id = s.id),
      'averageDaysInStage', (
        select coalesce(pg_catalog.jsonb_object_agg(s.name, d.days), '{}')
        from stages s
        left join stays d on d.stage_id = s.id),
      'scoreDistribution', (
        select pg_catalog.jsonb_build_object(
          'hot', coalesce(sum(b.n) filter (where b.label = 'hot'), 0)::integer,
          'warm', coalesce(sum(b.n) filter (where b.label = 'warm'), 0)::integer,
          'cool', coalesce(sum(b.n) filter (where b.label = 'cool'), 0)::integer,
          'cold', coalesce(sum(b.n) filter (where b.label = 'cold'), 0)::integer,
          'unscored', (select coalesce(sum(v.n), 0) from live v)::integer - coalesce(sum(b.n), 0)::integer)
        from labels b),
      'bySource', (
        select coalesce(pg_catalog.jsonb_object_agg(src.source, src.n), '{}')
        from sources src),
      'activityPerDay', (
        select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'date', pg_catalog.to_char(d.day, 'YYYY-MM-DD'), 'events', d.events, 'touchpoints', d.touchpoints,
                 'stageMoves', d.moves)
               order by d.day)
        from (
          select g::date as day, coalesce(sum(y.events), 0)::integer as events,
                 coalesce(sum(y.touchpoints), 0)::integer as touchpoints, coalesce(sum(y.moves), 0)::integer as moves
          from pg_catalog.generate_series((v_from at time zone 'UTC')::date, (p_now at time zone 'UTC')::date, interval '1 day') g
          left join daily y on y.day = g::date
          group by 1
        ) d)
    )
    into v_result
    from activity a cross join closes k;

    return v_result;
  end;
  $function$
;

-- Comments and function privileges (migra leaves them out).
comment on function app.campaign_stats(text) is 'A campaign''s results: enrolled, emails sent, and enrolled leads that opened, replied, bounced or unsubscribed while enrolled.';
comment on function app.pipeline_analytics(integer,timestamp with time zone) is 'The current org''s pipeline metrics over the last p_days days (1-365) up to p_now: lead totals, engagement, won/lost and conversion, leads per stage, stage-to-stage conversion, average days in stage, score distribution, lead sources and activity per UTC day.';
revoke all on function app.campaign_stats(text) from public; grant execute on function app.campaign_stats(text) to authenticated; grant execute on function app.campaign_stats(text) to service_role;
