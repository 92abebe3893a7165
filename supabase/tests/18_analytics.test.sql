-- Pipeline analytics (app.pipeline_analytics) on a small hand-built history with a fixed
-- clock: every metric, the window's edges, deleted leads, and org B's data never counted.
begin;
select plan(38);

select tests.create_org('analytics-a') as org_a \gset
select tests.create_org('analytics-b') as org_b \gset
select tests.create_org('analytics-empty') as org_empty \gset

-- The clock: the 30-day window is [2026-05-31 12:00, 2026-06-30 12:00].
create function pg_temp.at(p_day text) returns timestamptz language sql immutable as $$ select (p_day || ' 12:00:00+00')::timestamptz $$;
create function pg_temp.stage(p_org text, p_name text) returns text language sql stable as $$
  select id from app.stages where org_id = p_org and name = p_name $$;
\set now '''2026-06-30 12:00:00+00'''

insert into app.sync_sources (org_id, name, type, stage_id)
values (:'org_a', 'Website form', 'form_webhook', pg_temp.stage(:'org_a', 'Prospects'))
returning id as form_source \gset

-- Org A's leads (created_at, current stage, score label, deleted):
--   l1  created in the window, Prospects -> Engaged -> Closed Won, hot
--   l2  created before it (by the website form), Prospects -> Contacted -> Closed Lost, warm
--   l3  created in the window (from SQL), still in Prospects, never scored
--   l4  created and won before the window, cold
--   l5  created and won in the window, then soft-deleted
--   l6  won then lost in the window: counts once, as lost; cool
insert into app.leads (org_id, first_name, email, created_at, stage_id, deleted_at)
values
  (:'org_a', 'L1', 'l1@example.com', pg_temp.at('2026-06-10'), pg_temp.stage(:'org_a', 'Closed Won'), null),
  (:'org_a', 'L2', 'l2@example.com', pg_temp.at('2026-04-01'), pg_temp.stage(:'org_a', 'Closed Lost'), null),
  (:'org_a', 'L3', 'l3@example.com', pg_temp.at('2026-06-20'), pg_temp.stage(:'org_a', 'Prospects'), null),
  (:'org_a', 'L4', 'l4@example.com', pg_temp.at('2026-03-01'), pg_temp.stage(:'org_a', 'Closed Won'), null),
  (:'org_a', 'L5', 'l5@example.com', pg_temp.at('2026-06-12'), pg_temp.stage(:'org_a', 'Closed Won'), pg_temp.at('2026-06-16')),
  (:'org_a', 'L6', 'l6@example.com', pg_temp.at('2026-05-01'), pg_temp.stage(:'org_a', 'Closed Lost'), null);
select id as l1 from app.leads where email = 'l1@example.com' \gset
select id as l2 from app.leads where email = 'l2@example.com' \gset
select id as l3 from app.leads where email = 'l3@example.com' \gset
select id as l4 from app.leads where email = 'l4@example.com' \gset
select id as l5 from app.leads where email = 'l5@example.com' \gset
select id as l6 from app.leads where email = 'l6@example.com' \gset

-- Their stage history as it happened (the trigger's rows carry today's time: replaced).
delete from app.stage_changes where org_id = :'org_a';
insert into app.stage_changes (org_id, lead_id, from_stage_id, to_stage_id, to_stage_name, changed_at, changed_by, source)
select :'org_a', h.lead_id, pg_temp.stage(:'org_a', h.from_stage), pg_temp.stage(:'org_a', h.to_stage), h.to_stage,
       pg_temp.at(h.day), h.changed_by, h.source
from (values
  (:'l1', null, 'Prospects', '2026-06-10', 'key_x', 'api'),
  (:'l1', 'Prospects', 'Engaged', '2026-06-15', 'key_x', 'api'),
  (:'l1', 'Engaged', 'Closed Won', '2026-06-20', 'key_x', 'api'),
  (:'l2', null, 'Prospects', '2026-04-01', 'sync_source:' || :'form_source', 'sync_source'),
  (:'l2', 'Prospects', 'Contacted', '2026-06-05', 'key_x', 'api'),
  (:'l2', 'Contacted', 'Closed Lost', '2026-06-25', 'key_x', 'api'),
  (:'l3', null, 'Prospects', '2026-06-20', 'postgres', 'sql'),
  (:'l4', null, 'Prospects', '2026-03-01', 'key_x', 'api'),
  (:'l4', 'Prospects', 'Leads', '2026-03-11', 'key_x', 'api'),
  (:'l4', 'Leads', 'Closed Won', '2026-05-01', 'key_x', 'api'),
  (:'l5', null, 'Prospects', '2026-06-12', 'key_x', 'api'),
  (:'l5', 'Prospects', 'Closed Won', '2026-06-14', 'key_x', 'api'),
  (:'l6', null, 'Prospects', '2026-05-01', 'key_x', 'api'),
  (:'l6', 'Prospects', 'Closed Won', '2026-06-02', 'key_x', 'api'),
  (:'l6', 'Closed Won', 'Closed Lost', '2026-06-08', 'key_x', 'api')
) h(lead_id, from_stage, to_stage, day, changed_by, source);

-- Engagement: in the window, before it and after p_now.
insert into app.events (org_id, lead_id, type, occurred_at)
values
  (:'org_a', :'l1', 'quiz_completed', pg_temp.at('2026-06-11')),
  (:'org_a', :'l3', 'quiz_completed', pg_temp.at('2026-06-21')),
  (:'org_a', :'l2', 'quiz_completed', pg_temp.at('2026-05-01')),
  (:'org_a', :'l1', 'proposal_viewed', pg_temp.at('2026-06-12')),
  (:'org_a', :'l1', 'proposal_viewed', pg_temp.at('2026-06-13')),
  (:'org_a', :'l2', 'proposal_viewed', pg_temp.at('2026-06-06')),
  (:'org_a', :'l3', 'proposal_viewed', pg_temp.at('2026-05-20')),
  (:'org_a', :'l1', 'meeting_booked', pg_temp.at('2026-06-14')),
  (:'org_a', :'l2', 'meeting_booked', pg_temp.at('2026-07-01')),
  (:'org_a', :'l1', 'email_sent', pg_temp.at('2026-06-14'));

-- Org B: a busy month of its own that must never show up in org A's numbers.
insert into app.leads (org_id, first_name, email, created_at, stage_id)
select :'org_b', 'B' || g, 'b' || g || '@example.com', pg_temp.at('2026-06-15'), pg_temp.stage(:'org_b', 'Closed Won')
from generate_series(1, 3) g;
update app.stage_changes set changed_at = pg_temp.at('2026-06-15') where org_id = :'org_b';
insert into app.events (org_id, lead_id, type, occurred_at)
select l.org_id, l.id, t.type, pg_temp.at('2026-06-16')
from app.leads l cross join (values ('quiz_completed'), ('proposal_viewed'), ('meeting_booked')) t(type)
where l.org_id = :'org_b';

-- Scoring labels every new lead and rescores on every event; the fixture pins the labels
-- it needs afterwards (a stored score changing triggers no rescore). l3 stays unscored.
update app.lead_scores c set label = v.label, score = v.score
from app.leads l, (values ('l1@example.com', 'hot', 80), ('l2@example.com', 'warm', 50), ('l4@example.com', 'cold', 10),
             ('l5@example.com', 'hot', 80), ('l6@example.com', 'cool', 30)) v(email, label, score)
where c.lead_id = l.id and l.org_id = :'org_a' and l.email = v.email;
delete from app.lead_scores c using app.leads l where c.lead_id = l.id and l.email = 'l3@example.com';
update app.lead_scores set label = 'hot', score = 80 where org_id = :'org_b';

-- ===========================================================================
-- Org A, 30 days
-- ===========================================================================
select tests.authenticate_as(:'org_a');
create temp table doc as select app.pipeline_analytics(30, :now) as d;
grant select on doc to authenticated;

select is((select d -> 'period' from doc),
  jsonb_build_object('days', 30, 'from', pg_temp.at('2026-05-31'), 'to', pg_temp.at('2026-06-30')),
  'period is the last 30 days up to p_now');
select is((select (d ->> 'totalLeads')::integer from doc), 5, 'totalLeads counts live leads only');
select is((select (d ->> 'leadsInPeriod')::integer from doc), 2, 'leadsInPeriod counts live leads created in the window');
select is((select (d ->> 'quizCompletions')::integer from doc), 2, 'quizCompletions counts quiz_completed events in the window');
select is((select (d ->> 'proposalsViewed')::integer from doc), 2, 'proposalsViewed counts distinct leads that viewed a proposal in the window');
select is((select (d ->> 'proposalViews')::integer from doc), 3, 'proposalViews counts every view in the window');
select is((select (d ->> 'meetingsBooked')::integer from doc), 1, 'meetingsBooked ignores meetings before the window and after p_now');
select is((select (d ->> 'leadsWon')::integer from doc), 2, 'leadsWon: leads that entered a won stage in the window (deleted since included; won before it not)');
select is((select (d ->> 'leadsLost')::integer from doc), 2, 'leadsLost: a lead won then lost in the window counts once, as lost');
select is((select (d ->> 'conversionRate')::numeric from doc), 0.5, 'conversionRate is won / (won + lost)');
select is((select d -> 'pipeline' from doc),
  '{"Prospects": 1, "Leads": 0, "Engaged": 0, "Contacted": 0, "Negotiated": 0, "Re-engage later": 0, "Closed Won": 2, "Closed Lost": 2}'::jsonb,
  'pipeline counts live leads per stage, every stage listed');
select is((select d -> 'scoreDistribution' from doc),
  '{"hot": 1, "warm": 1, "cool": 1, "cold": 1, "unscored": 1}'::jsonb,
  'scoreDistribution counts live leads per score label');
select is((select d -> 'bySource' from doc),
  '{"api": 3, "sql": 1, "sync_source:Website form": 1}'::jsonb,
  'bySource groups live leads by the source of their first stage change, sync sources by name');

-- Stage-to-stage conversion of the leads that entered each stage in the window.
select is((select jsonb_agg(x ->> 'stage') from doc, jsonb_array_elements(d -> 'stageConversion') x),
  '["Prospects", "Leads", "Engaged", "Contacted", "Negotiated", "Re-engage later", "Closed Won", "Closed Lost"]'::jsonb,
  'stageConversion lists every stage in pipeline order');
create temp view conv as
  select x ->> 'stage' as stage, (x ->> 'entered')::integer as entered, (x ->> 'movedOn')::integer as moved_on,
         (x ->> 'won')::integer as won, (x ->> 'movedOnRate')::numeric as moved_on_rate, (x ->> 'winRate')::numeric as win_rate
  from doc, jsonb_array_elements(d -> 'stageConversion') x;
grant select on conv to authenticated;
select is((select row(entered, moved_on, won)::text from conv where stage = 'Prospects'), '(3,2,2)',
  'Prospects: 3 entered in the window, 2 moved on (one to Engaged, one straight to won), 2 won');
select is((select row(moved_on_rate, win_rate)::text from conv where stage = 'Prospects'), '(0.6667,0.6667)',
  'the stage''s rates are movedOn / entered and won / entered');
select is((select row(entered, moved_on, won)::text from conv where stage = 'Contacted'), '(1,0,0)',
  'dropping from Contacted to a lost stage is not moving on');
select is((select row(entered, moved_on, won)::text from conv where stage = 'Engaged'), '(1,1,1)',
  'Engaged: the one lead that entered it was then won');
select is((select row(entered, moved_on, won)::text from conv where stage = 'Closed Won'), '(3,0,3)',
  'entering a won stage counts as won');
select is((select row(entered, moved_on, won, moved_on_rate)::text from conv where stage = 'Leads'), '(0,0,0,)',
  'a stage nobody entered in the window has zero counts and a null rate (l4 entered Leads before it)');

-- Average days in stage, over stays that ended in the window.
select is((select d -> 'averageDaysInStage' from doc),
  '{"Prospects": 26.00, "Leads": null, "Engaged": 5.00, "Contacted": 20.00, "Negotiated": null, "Re-engage later": null, "Closed Won": 6.00, "Closed Lost": null}'::jsonb,
  'averageDaysInStage: Prospects (5 + 65 + 2 + 32) / 4 including stays begun before the window, Won 6 days before l6 was lost');

-- ===========================================================================
-- The window
-- ===========================================================================
select is((select app.pipeline_analytics(7, :now) -> 'leadsWon'), '0', 'in the last 7 days nobody was won');
select is((select app.pipeline_analytics(7, :now) -> 'leadsLost'), '1', 'in the last 7 days l2 was lost');
select is((select app.pipeline_analytics(7, :now) -> 'conversionRate'), '0.0000', 'in the last 7 days conversion was 0');
select is((select app.pipeline_analytics(10, :now) -> 'quizCompletions'), '1', 'in the last 10 days one of the two quizzes was completed');
select is((select app.pipeline_analytics(365, :now) -> 'leadsInPeriod'), '5', 'over a year every live lead was created in the window');
select is((select app.pipeline_analytics(30, pg_temp.at('2026-01-01')) -> 'conversionRate'), 'null',
  'conversionRate is null when no lead closed in the window');
select is((select app.pipeline_analytics(30, pg_temp.at('2026-01-01')) -> 'totalLeads'), '5',
  'totalLeads is a snapshot of now, whatever the window');

select throws_ok($$ select app.pipeline_analytics(0) $$, 'CR400', 'days must be between 1 and 365, got 0', 'days 0 is refused with 400');
select throws_ok($$ select app.pipeline_analytics(366) $$, 'CR400', 'days must be between 1 and 365, got 366', 'days 366 is refused with 400');
select throws_ok($$ select app.pipeline_analytics(null) $$, 'CR400', 'days must be between 1 and 365, got null', 'days null is refused with 400');

-- ===========================================================================
-- Tenancy
-- ===========================================================================
select tests.authenticate_as(:'org_b');
select is((select app.pipeline_analytics(30, :now) - 'pipeline' - 'stageConversion' - 'averageDaysInStage' - 'period' - 'activityPerDay'),
  '{"totalLeads": 3, "leadsInPeriod": 3, "quizCompletions": 3, "proposalsViewed": 3, "proposalViews": 3, "meetingsBooked": 3,
    "leadsWon": 3, "leadsLost": 0, "conversionRate": 1.0000, "scoreDistribution": {"hot": 3, "warm": 0, "cool": 0, "cold": 0, "unscored": 0},
    "bySource": {"sql": 3}}'::jsonb,
  'org B sees only its own leads, events and stage changes');
select is((select jsonb_agg(d) from jsonb_array_elements(app.pipeline_analytics(30, :now) -> 'activityPerDay') d
           where (d ->> 'events')::int + (d ->> 'touchpoints')::int + (d ->> 'stageMoves')::int > 0),
  '[{"date": "2026-06-15", "events": 0, "touchpoints": 0, "stageMoves": 3}, {"date": "2026-06-16", "events": 9, "touchpoints": 0, "stageMoves": 0}]'::jsonb,
  'activityPerDay counts the org''s own events, touchpoints and stage moves per UTC day');

select tests.authenticate_as(:'org_empty');
select is((select app.pipeline_analytics(30, :now) - 'pipeline' - 'stageConversion' - 'averageDaysInStage' - 'period' - 'activityPerDay'),
  '{"totalLeads": 0, "leadsInPeriod": 0, "quizCompletions": 0, "proposalsViewed": 0, "proposalViews": 0, "meetingsBooked": 0,
    "leadsWon": 0, "leadsLost": 0, "conversionRate": null, "scoreDistribution": {"hot": 0, "warm": 0, "cool": 0, "cold": 0, "unscored": 0},
    "bySource": {}}'::jsonb,
  'an org without leads gets zeros, a null conversion rate and no sources');
select is((select app.pipeline_analytics(30, :now) -> 'pipeline' -> 'Prospects'), '0', 'an empty org''s pipeline still lists its stages');
select is((select jsonb_array_length(app.pipeline_analytics(30, :now) -> 'activityPerDay')), 31, 'activityPerDay lists every UTC day of the window, zeros included');
select tests.clear_authentication();

select ok(not has_function_privilege('anon', 'app.pipeline_analytics(integer, timestamptz)', 'execute'), 'anon cannot call app.pipeline_analytics');
select ok(has_function_privilege('authenticated', 'app.pipeline_analytics(integer, timestamptz)', 'execute'), 'authenticated can call app.pipeline_analytics');

select * from finish();
rollback;
