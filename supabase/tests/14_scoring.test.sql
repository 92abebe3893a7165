-- Confidence scoring and the events API in SQL: each factor's points on a fixed clock,
-- the labels at their boundaries, decay, the triggers that keep the stored score current
-- (without touching updated_at), tenancy, the daily job, and record_event's refusals.
begin;
select plan(74);

select tests.create_org('score-a') as org_a \gset
select tests.create_org('score-b') as org_b \gset
select id as won_stage from app.stages where org_id = :'org_a' and outcome = 'won' limit 1 \gset

-- A lead of org A created p_days ago, with the given tier, quiz result, meeting and enrichment.
create function pg_temp.lead(p_tier text default null, p_quiz numeric default null, p_meeting boolean default false,
  p_enriched boolean default false, p_days integer default 0) returns text language plpgsql as $$
  declare
    v_id text;
  begin
    insert into app.leads (org_id, first_name, email, tier, enrichment_status, created_at)
    values (current_setting('t.org_a'), 'Score', 'score-' || gen_random_uuid() || '@example.com', p_tier,
      case when p_enriched then 'complete' else 'not_enriched' end, now() - make_interval(days => p_days))
    returning id into v_id;
    if p_quiz is not null then
      insert into app.events (org_id, lead_id, type, data) values (current_setting('t.org_a'), v_id, 'quiz_completed', jsonb_build_object('score', p_quiz));
    end if;
    if p_meeting then
      insert into app.events (org_id, lead_id, type, occurred_at) values (current_setting('t.org_a'), v_id, 'meeting_booked', now() - interval '2 hours');
    end if;
    return v_id;
  end;
$$;
create function pg_temp.events(p_lead text, p_type text, p_count integer, p_data jsonb default '{}') returns void language sql as $$
  insert into app.events (org_id, lead_id, type, data, occurred_at)
  select current_setting('t.org_a'), p_lead, p_type, p_data, now() - make_interval(mins => g) from generate_series(1, p_count) g
$$;
-- One factor's points for a lead, scored at p_now.
create function pg_temp.points(p_lead text, p_factor text, p_now timestamptz default now()) returns integer language sql as $$
  select (f ->> 'points')::integer
  from app.score_leads(current_setting('t.org_a'), array[p_lead], p_now) s, jsonb_array_elements(s.factors) f
  where f ->> 'factor' = p_factor
$$;
create function pg_temp.score(p_lead text, p_now timestamptz default now()) returns integer language sql as $$
  select s.score from app.score_leads(current_setting('t.org_a'), array[p_lead], p_now) s
$$;
create function pg_temp.label(p_lead text, p_now timestamptz default now()) returns text language sql as $$
  select s.label from app.score_leads(current_setting('t.org_a'), array[p_lead], p_now) s
$$;
create function pg_temp.action(p_lead text) returns text language sql as $$
  select s.suggested_action from app.score_leads(current_setting('t.org_a'), array[p_lead]) s
$$;
select set_config('t.org_a', :'org_a', true);

-- ===========================================================================
-- Weights: one table, readable by every org, changed by nobody but the service role
-- ===========================================================================
select is((select count(*)::integer from app.score_weights), 8, 'there is one weight row per factor');

-- ===========================================================================
-- Each factor's points (fixed clock: now(), the lead created now)
-- ===========================================================================
select pg_temp.lead('high', 80, true, true) as full_lead \gset
select pg_temp.events(:'full_lead', 'proposal_viewed', 2, '{"seconds": 30}');
select pg_temp.events(:'full_lead', 'video_watched', 1, '{"percent": 75}');
select pg_temp.events(:'full_lead', 'cta_clicked', 1);

select is(pg_temp.points(:'full_lead', 'quiz_score'), 20, 'quiz_score: 0.25 points per quiz point (80 -> 20)');
select is(pg_temp.points(:'full_lead', 'tier'), 16, 'tier: high earns 16');
select is(pg_temp.points(:'full_lead', 'proposal_views'), 10, 'proposal_views: 5 per view');
select is(pg_temp.points(:'full_lead', 'video_watched'), 8, 'video_watched: 0.1 per percent watched, rounded (75% -> 8)');
select is(pg_temp.points(:'full_lead', 'cta_click'), 5, 'cta_click: 5 per click');
select is(pg_temp.points(:'full_lead', 'meeting_booked'), 25, 'meeting_booked: 25 while the meeting stands');
select is(pg_temp.points(:'full_lead', 'enrichment'), 5, 'enrichment: 5 once complete');
select is(pg_temp.points(:'full_lead', 'staleness'), 0, 'staleness: nothing within the first week');
select is(pg_temp.score(:'full_lead'), 89, 'the score is the sum of the factors');
select is((select jsonb_agg(f ->> 'factor') from app.score_leads(:'org_a', array[:'full_lead']) s, jsonb_array_elements(s.factors) f),
  '["quiz_score", "tier", "proposal_views", "video_watched", "cta_click", "meeting_booked", "enrichment", "staleness"]'::jsonb,
  'every factor is listed, in order');
select is((select f from app.score_leads(:'org_a', array[:'full_lead']) s, jsonb_array_elements(s.factors) f where f ->> 'factor' = 'quiz_score'),
  '{"factor": "quiz_score", "points": 20, "detail": "Quiz score 80/100"}'::jsonb, 'a factor carries its points and a detail');

select pg_temp.lead() as bare_lead \gset
select is((select count(*)::integer from app.score_leads(:'org_a', array[:'bare_lead']) s, jsonb_array_elements(s.factors) f where (f ->> 'points')::integer = 0),
  8, 'a lead with no signals lists all eight factors at 0 points');

select pg_temp.lead('Medium') as medium_lead \gset
select is(pg_temp.points(:'medium_lead', 'tier'), 8, 'tier: medium (any case) earns 8');
select pg_temp.lead('low') as low_lead \gset
select is(pg_temp.points(:'low_lead', 'tier'), 0, 'tier: low earns nothing');

select pg_temp.lead() as capped_lead \gset
select pg_temp.events(:'capped_lead', 'proposal_viewed', 5);
select pg_temp.events(:'capped_lead', 'cta_clicked', 3);
select is(pg_temp.points(:'capped_lead', 'proposal_views'), 15, 'proposal_views is capped at 15');
select is(pg_temp.points(:'capped_lead', 'cta_click'), 10, 'cta_click is capped at 10');

select pg_temp.lead(p_meeting => true) as canceled_lead \gset
insert into app.events (org_id, lead_id, type, occurred_at) values (:'org_a', :'canceled_lead', 'meeting_canceled', now() - interval '1 hour');
select is(pg_temp.points(:'canceled_lead', 'meeting_booked'), 0, 'a meeting canceled after it was booked earns nothing');

select pg_temp.lead('high', 100, true, true) as max_lead \gset
select pg_temp.events(:'max_lead', 'proposal_viewed', 3);
select pg_temp.events(:'max_lead', 'video_watched', 1, '{"percent": 100}');
select pg_temp.events(:'max_lead', 'cta_clicked', 2);
select is(pg_temp.score(:'max_lead'), 100, 'the score is clamped at 100');
select is(pg_temp.score(:'bare_lead', now() + interval '100 days'), 0, 'the score is clamped at 0');

-- ===========================================================================
-- Rounding: halves away from zero, as in decimal
-- ===========================================================================
select is(app.round_points(12.5), 13, 'a half rounds up (quiz 50 x 0.25)');
select is(app.round_points(-2.5), -3, 'a negative half rounds away from zero');
select is(app.round_points(0.15::float8 * 10), 2, 'a product binary floating point puts a hair under a half still rounds up');
select is(app.round_points(4.49), 4, 'under a half rounds down');

-- ===========================================================================
-- Decay: -5 per full week since the last touch (or creation), at most -30
-- ===========================================================================
select is(pg_temp.points(:'bare_lead', 'staleness', now() + interval '6 days 23 hours'), 0, 'staleness: 0 before a full week');
select is(pg_temp.points(:'bare_lead', 'staleness', now() + interval '7 days'), -5, 'staleness: -5 after one week');
select is(pg_temp.points(:'bare_lead', 'staleness', now() + interval '20 days'), -10, 'staleness: -10 after two full weeks');
select is(pg_temp.points(:'bare_lead', 'staleness', now() + interval '100 days'), -30, 'staleness: at most -30');
update app.leads set last_touch_at = now() - interval '14 days' where id = :'bare_lead';
select is(pg_temp.points(:'bare_lead', 'staleness'), -10, 'staleness counts from the last touch when there is one');
select is((select f ->> 'detail' from app.score_leads(:'org_a', array[:'bare_lead']) s, jsonb_array_elements(s.factors) f where f ->> 'factor' = 'staleness'),
  '2 weeks since the last touch', 'the staleness detail says how long, in full weeks');
select pg_temp.lead(p_quiz => 100, p_days => 30) as old_lead \gset
select is(pg_temp.score(:'old_lead'), 5, 'a month-old untouched lead loses 20 points (25 - 20)');

-- ===========================================================================
-- Labels at their boundaries
-- ===========================================================================
select pg_temp.lead(p_quiz => 80) as at_20 \gset
select pg_temp.lead(p_quiz => 76) as at_19 \gset
select pg_temp.lead(p_quiz => 80, p_meeting => true) as at_45 \gset
select pg_temp.lead(p_quiz => 76, p_meeting => true) as at_44 \gset
select pg_temp.lead('high', 96, true, true) as at_70 \gset
select pg_temp.lead('high', 92, true, true) as at_69 \gset
select is(pg_temp.score(:'at_70') || ' ' || pg_temp.label(:'at_70'), '70 hot', '70 is hot');
select is(pg_temp.score(:'at_69') || ' ' || pg_temp.label(:'at_69'), '69 warm', '69 is warm');
select is(pg_temp.score(:'at_45') || ' ' || pg_temp.label(:'at_45'), '45 warm', '45 is warm');
select is(pg_temp.score(:'at_44') || ' ' || pg_temp.label(:'at_44'), '44 cool', '44 is cool');
select is(pg_temp.score(:'at_20') || ' ' || pg_temp.label(:'at_20'), '20 cool', '20 is cool');
select is(pg_temp.score(:'at_19') || ' ' || pg_temp.label(:'at_19'), '19 cold', '19 is cold');

-- ===========================================================================
-- Suggested action
-- ===========================================================================
select is(pg_temp.action(:'at_70'), 'prepare_for_meeting', 'a booked meeting: prepare for it');
select pg_temp.lead('high', 100, false, true) as hot_lead \gset
select pg_temp.events(:'hot_lead', 'proposal_viewed', 3);
select pg_temp.events(:'hot_lead', 'cta_clicked', 2);
select is(pg_temp.label(:'hot_lead') || ' ' || pg_temp.action(:'hot_lead'), 'hot book_meeting', 'hot without a meeting: book one');
select is(pg_temp.label(:'medium_lead') || ' ' || pg_temp.action(:'medium_lead'), 'cold enrich', 'cold and not enriched: enrich');
select is(pg_temp.action(:'at_20'), 'nurture', 'cool: nurture');
select pg_temp.lead('high', 100, false, true) as warm_lead \gset
select is(pg_temp.label(:'warm_lead') || ' ' || pg_temp.action(:'warm_lead'), 'warm send_proposal', 'warm with no proposal view: send the proposal');
update app.leads set stage_id = :'won_stage' where id = :'warm_lead';
select is(pg_temp.action(:'warm_lead'), 'onboard_customer', 'a won lead: onboard the customer');

-- ===========================================================================
-- Kept current by triggers; scoring never rewrites the lead
-- ===========================================================================
select pg_temp.lead() as live_lead \gset
select is((select score || ' ' || label from app.lead_scores where lead_id = :'live_lead'), '0 cold', 'a new lead is scored when it is inserted');
select is((select s.factors from app.score_leads(:'org_a') s where s.lead_id = :'live_lead'), null,
  'a whole-org rescore builds no factor lists (they are answered per lead)');
select ctid as live_ctid from app.leads where id = :'live_lead' \gset
insert into app.events (org_id, lead_id, type, data) values (:'org_a', :'live_lead', 'quiz_completed', '{"score": 60}');
select is((select score from app.lead_scores where lead_id = :'live_lead'), 15, 'recording an event rescores its lead (events_20_score)');
select is((select ctid::text from app.leads where id = :'live_lead'), :'live_ctid', 'a rescore writes app.lead_scores, not the lead row');
update app.leads set tier = 'high' where id = :'live_lead';
select is((select score from app.lead_scores where lead_id = :'live_lead'), 31, 'changing the tier rescores the lead');
select isnt((select ctid::text from app.leads where id = :'live_lead'), :'live_ctid', 'an edit does rewrite the lead row');
update app.leads set last_touch_at = now() where id = :'old_lead';
select is((select score from app.lead_scores where lead_id = :'old_lead'), 25, 'a new last touch rescores the lead (the decay is gone)');
select is((select score from app.lead_details where id = :'live_lead'), 31, 'app.lead_details shows the score');

-- ===========================================================================
-- Tenancy
-- ===========================================================================
select tests.authenticate_as(:'org_b');
select is_empty(format('select * from app.score_leads(%L)', :'org_a'), 'org B scores none of org A''s leads, even naming org A');
select is_empty(format('select * from app.score_leads(%L, array[%L])', :'org_b', :'live_lead'), 'org B cannot score org A''s lead as its own');
select throws_ok($$ update app.score_weights set max_points = 100 where factor = 'tier' $$, '42501', null, 'a tenant cannot change the weights');
select isnt_empty('select * from app.score_weights', 'a tenant can read the weights');
select is_empty(format('select * from app.lead_scores where lead_id = %L', :'live_lead'), 'org B sees none of org A''s stored scores');
select results_eq(format('with u as (update app.lead_scores set score = 100 where lead_id = %L returning 1) select count(*)::integer from u', :'live_lead'),
  array[0], 'org B cannot change org A''s stored scores');
select tests.clear_authentication();
select is((select score from app.lead_scores where lead_id = :'live_lead'), 31, 'org A''s score is untouched');

-- ===========================================================================
-- The daily job
-- ===========================================================================
-- A lead whose stored score is gone (removed by hand) gets one back from the next pass.
delete from app.lead_scores where lead_id = :'at_20';
select is(app.rescore_all_leads(now() + interval '8 days'), (select count(*)::integer from app.leads where deleted_at is null),
  'app.rescore_all_leads rescores every live lead of every org');
select is((select score from app.lead_scores where lead_id = :'live_lead'), 26, 'the daily rescore applies the decay');
select is((select score || ' ' || label from app.lead_scores where lead_id = :'at_20'), '15 cold',
  'a whole-org pass stores a score for a lead that had none');
select is((select scored_at from app.lead_scores where lead_id = :'live_lead'), now() + interval '8 days',
  'a changed score is rewritten with the pass''s clock');
select cmp_ok(app.rescore_all_leads(now() + interval '8 days 1 hour'), '>', 0, 'an hour later the daily job runs again');
select is((select scored_at from app.lead_scores where lead_id = :'live_lead'), now() + interval '8 days',
  'a pass that comes out the same leaves the stored score (and scored_at) alone');
select ok(not has_function_privilege('authenticated', 'app.rescore_all_leads(timestamptz)', 'execute'), 'tenants cannot run the all-org rescore');
select is((select command from app.scheduled_jobs where name = 'rescore-leads'), 'select app.rescore_all_leads()', 'rescore-leads is declared as a job');

-- ===========================================================================
-- app.record_event: what the events API refuses
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select throws_ok(format($$ select app.record_event(%L, 'quiz_taken') $$, :'live_lead'), 'CR400', '"quiz_taken" is not an event type', 'an unknown type is refused');
select matches(tests.hint_of(format($$ select app.record_event(%L, 'touch_logged') $$, :'live_lead')),
  '^Record one of: .*cta_clicked.*quiz_completed', 'a type only the CRM writes is refused with the recordable ones in the hint');
select throws_ok(format($$ select app.record_event(%L, 'proposal_viewed') $$, :'full_lead' || 'x'), 'CR404', null, 'an unknown lead is 404');
select throws_ok(format($$ select app.record_event(%L, 'proposal_viewed', '{}', now() + interval '1 hour') $$, :'live_lead'), 'CR400', null, 'an event from the future is refused');
select is((app.record_event(:'live_lead', 'proposal_viewed', '{}', null, 'beacon-1')) ->> 'duplicate', 'false', 'a first externalId is recorded');
select is((app.record_event(:'live_lead', 'proposal_viewed', '{}', null, 'beacon-1')) ->> 'duplicate', 'true', 'the same externalId again is a duplicate');
select is((select proposal_views from app.lead_engagement where lead_id = :'live_lead'), 1, 'a duplicate is not counted twice');
select tests.authenticate_as(:'org_b');
select throws_ok(format($$ select app.record_event(%L, 'proposal_viewed') $$, :'live_lead'), 'CR404', null, 'org B cannot record an event for org A''s lead');

select * from finish();
rollback;
