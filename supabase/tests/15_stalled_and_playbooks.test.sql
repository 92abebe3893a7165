-- Stalled leads (thresholds, exclusions, actions, priorities, a touch clearing it, the index
-- that serves the list, tenancy) and playbooks (validation, defaults, row-level security,
-- recommendations). The clock is fixed: every call passes p_now = :'t'.
begin;
select plan(55);

select '2026-01-15 12:00:00+00' as t \gset
select tests.create_org('stall-a') as org_a \gset
select tests.create_org('stall-b') as org_b \gset

-- A lead of an org in a stage (by name), added and last touched the given time before :t.
-- The score is pinned after the insert (scoring computes one for every new lead, and
-- nothing rescores a lead when only its stored score changes), so a lead can be hot.
create function pg_temp.lead(p_org text, p_stage text, p_added interval, p_touched interval,
                             p_status text default 'new', p_score integer default null, p_deleted boolean default false)
  returns text language plpgsql as $$
  declare
    v_id text;
  begin
    insert into app.leads (org_id, first_name, last_name, email, stage_id, created_at, last_touch_at, status, deleted_at)
    select p_org, 'Test', 'Lead', 'lead-' || gen_random_uuid() || '@example.com', s.id,
      '2026-01-15 12:00:00+00'::timestamptz - p_added, '2026-01-15 12:00:00+00'::timestamptz - p_touched, p_status,
      case when p_deleted then now() end
    from app.stages s where s.org_id = p_org and s.name = p_stage
    returning id into v_id;
    insert into app.lead_scores (lead_id, org_id, score, label, scored_at)
    select v_id, p_org, p_score,
      case when p_score >= 70 then 'hot' when p_score >= 45 then 'warm' when p_score >= 20 then 'cool' else 'cold' end, now()
    where p_score is not null
    on conflict (org_id, lead_id) do update set score = excluded.score, label = excluded.label;
    return v_id;
  end;
  $$;

-- ===========================================================================
-- Thresholds
-- ===========================================================================
select results_eq(
  format($$ select name, stall_after_days from app.stages where org_id = %L order by position $$, :'org_a'),
  $$ values ('Prospects', 7), ('Leads', 5), ('Engaged', 3), ('Contacted', 5), ('Negotiated', 3), ('Re-engage later', 30),
            ('Closed Won', null::integer), ('Closed Lost', null::integer) $$,
  'a new org''s stages start with their stall thresholds; won and lost stages have none');
select is(app.default_stall_after_days('Demo booked'), 7, 'a stage outside the default pipeline starts at 7 days');

select tests.authenticate_as(:'org_a');
select app.create_stage('Trial', p_rules => '{"stallAfterDays": 2}') as trial \gset
select is((select stall_after_days from app.stages where id = :'trial'), 2, 'create_stage takes stallAfterDays');
select app.update_stage('Trial', '{"outcome": "lost"}');
select is((select stall_after_days from app.stages where id = :'trial'), null, 'a stage that becomes lost drops its threshold');
select app.update_stage('Trial', '{"outcome": "open"}');
select is((select stall_after_days from app.stages where id = :'trial'), 7, 'reopened, it gets its default threshold back');
select throws_ok($$ select app.update_stage('Trial', '{"stallAfterDays": 0}') $$, 'CR400', null, 'stallAfterDays 0 is refused with 400');
select throws_ok($$ select app.update_stage('Trial', '{"stallAfterDays": 1.5}') $$, 'CR400', null, 'a fractional stallAfterDays is refused with 400');
select throws_ok($$ select app.update_stage('Trial', '{"outcome": "maybe"}') $$, 'CR400', null, 'an unknown outcome is refused with 400');
select app.delete_stage('Trial');
select tests.clear_authentication();

-- ===========================================================================
-- Who is stalled, why, what to do, in what order
-- ===========================================================================
select pg_temp.lead(:'org_a', 'Prospects', '30 days', '10 days') as follow_up \gset
select pg_temp.lead(:'org_a', 'Prospects', '30 days', '6 days') as fresh \gset
select pg_temp.lead(:'org_a', 'Prospects', '7 days', null) as at_threshold \gset
select pg_temp.lead(:'org_a', 'Prospects', '8 days', null) as never_touched \gset
select pg_temp.lead(:'org_a', 'Leads', '30 days', '16 days') as breakup \gset
select pg_temp.lead(:'org_a', 'Negotiated', '30 days', '4 days') as late_stage \gset
select pg_temp.lead(:'org_a', 'Prospects', '30 days', '9 days', 'new', 75) as hot \gset
select pg_temp.lead(:'org_a', 'Closed Won', '90 days', '60 days') as won_stage \gset
select pg_temp.lead(:'org_a', 'Prospects', '90 days', '60 days', 'LOST') as lost_status \gset
select pg_temp.lead(:'org_a', 'Prospects', '90 days', '60 days', 'Won') as won_status \gset
select pg_temp.lead(:'org_a', 'Prospects', '90 days', '60 days', 'new', null, true) as deleted \gset
select pg_temp.lead(:'org_a', 'Re-engage later', '90 days', '20 days') as parked \gset
select pg_temp.lead(:'org_b', 'Prospects', '90 days', '60 days') as b_stalled \gset

select tests.authenticate_as(:'org_a');
select results_eq(
  format($$ select lead_id from app.stalled_leads(%L) $$, :'t'),
  format($$ values (%L), (%L), (%L), (%L), (%L) $$, :'hot', :'late_stage', :'follow_up', :'never_touched', :'breakup'),
  'stalled: calls first (most overdue first), then follow-ups, then breakups; nobody else');
select is((select array_agg(distinct total) from app.stalled_leads(:'t')), array[5::bigint], 'every row carries the total');
select results_eq(
  format($$ select name, email is not null, stage, days_since_touch, stalled_reason, suggested_action, priority, priority_rank
            from app.stalled_leads(%L) where lead_id = %L $$, :'t', :'follow_up'),
  $$ values ('Test Lead', true, 'Prospects', 10, 'No touch for 10 days; "Prospects" stalls after 7 days', 'send_follow_up_email', 'medium', 2) $$,
  'a lead idle past its threshold gets a follow-up email at medium priority, and the reason says why');
select is((select stalled_reason from app.stalled_leads(:'t') where lead_id = :'never_touched'),
  'Never touched in the 8 days since it was added; "Prospects" stalls after 7 days', 'a lead never touched counts from when it was added');
select results_eq(format($$ select suggested_action, priority, stalled_reason from app.stalled_leads(%L) where lead_id = %L $$, :'t', :'breakup'),
  $$ values ('send_breakup_email', 'low', 'No touch for 16 days; "Leads" stalls after 5 days and it has been over 3x that (15 days)') $$,
  'idle for more than 3x the threshold: a breakup email at low priority');
select results_eq(format($$ select suggested_action, priority, stalled_reason from app.stalled_leads(%L) where lead_id = %L $$, :'t', :'late_stage'),
  $$ values ('check_in_call', 'high', 'No touch for 4 days; "Negotiated" stalls after 3 days; late in the pipeline') $$,
  'late in the pipeline: a check-in call at high priority');
select results_eq(format($$ select suggested_action, priority, stalled_reason from app.stalled_leads(%L) where lead_id = %L $$, :'t', :'hot'),
  $$ values ('check_in_call', 'high', 'No touch for 9 days; "Prospects" stalls after 7 days; hot lead (score 75)') $$,
  'a hot lead (score >= 70) gets a call, and the reason gives its score');
select is_empty(format($$ select 1 from app.stalled_leads(%L) where lead_id in (%L, %L, %L) $$, :'t', :'fresh', :'at_threshold', :'parked'),
  'leads within their threshold, exactly at it, or in a slow stage are not stalled');
select is_empty(format($$ select 1 from app.stalled_leads(%L) where lead_id in (%L, %L, %L, %L) $$, :'t', :'won_stage', :'lost_status', :'won_status', :'deleted'),
  'leads in a won stage, with a won or lost status (any case), or deleted are never stalled');
select results_eq(format($$ select lead_id from app.stalled_leads(%L, 2, 1) $$, :'t'),
  format($$ values (%L), (%L) $$, :'late_stage', :'follow_up'), 'limit and offset page the list');
select is((select count(*)::integer from app.stalled_leads(:'t') where lead_id = :'b_stalled'), 0, 'org A does not see org B''s stalled lead');

-- A touch clears it at once.
insert into app.touchpoints (lead_id, type, occurred_at) values (:'follow_up', 'call', :'t'::timestamptz - interval '1 hour');
select is_empty(format($$ select 1 from app.stalled_leads(%L) where lead_id = %L $$, :'t', :'follow_up'), 'logging a touchpoint clears stalled');

-- Thresholds are per stage and editable.
select app.update_stage('Prospects', '{"stallAfterDays": 5}');
select isnt_empty(format($$ select 1 from app.stalled_leads(%L) where lead_id = %L $$, :'t', :'fresh'), 'a shorter threshold stalls a lead sooner');
select app.update_stage('Prospects', '{"stallAfterDays": null}');
select is_empty(format($$ select 1 from app.stalled_leads(%L) where stage = 'Prospects' $$, :'t'), 'a stage without a threshold never stalls');
select app.update_stage('Prospects', '{"stallAfterDays": 7}');

select tests.authenticate_as(:'org_b');
select results_eq(format($$ select lead_id from app.stalled_leads(%L) $$, :'t'), format($$ values (%L) $$, :'b_stalled'),
  'org B sees only its own stalled lead');
select tests.clear_authentication();

-- The list is index range scans per stage. A function's inner plan is hidden from EXPLAIN;
-- without its SET clause the planner inlines it, so EXPLAIN shows the plan of its query.
-- On a handful of leads any index on (org, stage) costs the same, so the planner's pick would
-- be a coin toss: another org brings the table to a few thousand recently touched leads, and
-- the statistics are taken from them (ANALYZE counts this transaction's rows), whatever
-- autovacuum last saw.
select tests.create_org('stall-c') as org_c \gset
update app.orgs set tier = 'ultra' where id = :'org_c';
insert into app.leads (org_id, first_name, email, stage_id, created_at, last_touch_at)
select :'org_c', 'Bulk', 'bulk-' || g || '@example.com', s.ids[1 + g % 6],
  :'t'::timestamptz - interval '60 days', :'t'::timestamptz - make_interval(hours => g % 48)
from generate_series(1, 3000) g
cross join (select array_agg(id order by position) as ids from app.stages where org_id = :'org_c') s;
analyze app.leads;
alter function app.stalled_leads(timestamptz, integer, integer, jsonb) reset search_path;
select tests.authenticate_as(:'org_a');
set local enable_seqscan = off;
select ok((select string_agg(line, E'\n') from tests.explain(format($$ select * from app.stalled_leads(%L) $$, :'t')) line)
  ~ 'Index (Only )?Scan using leads_org_stage_idle_idx on leads[^\n]*\n\s*Index Cond: \(\(org_id = [^\n]*stage_id = [^\n]*idle_since < ',
  'stalled_leads reads leads through leads_org_stage_idle_idx: org, stage and idle_since in the index condition');
select unalike((select string_agg(line, E'\n') from tests.explain(format($$ select * from app.stalled_leads(%L) $$, :'t')) line),
  '%Seq Scan on leads%', 'stalled_leads never scans the leads table');
reset enable_seqscan;
select tests.clear_authentication();

-- ===========================================================================
-- Playbooks: validation
-- ===========================================================================
select is(app.playbook_steps_problem('[{"order": 1, "channel": "email", "delayDays": 0, "action": "Hi", "templateHint": null}]'), null,
  'a valid step passes');
select is(app.playbook_steps_problem('[]'), 'steps must hold 1 to 30 steps, not 0', 'a playbook needs at least one step');
select is(app.playbook_steps_problem('{"order": 1}'), 'steps must be an array', 'steps must be an array');
select is(app.playbook_steps_problem('[{"order": 1, "channel": "fax", "delayDays": 0, "action": "Fax"}]'),
  'step 1: channel must be one of email, call, linkedin, sms, meeting, task', 'an unknown channel is named with the valid ones');
select is(app.playbook_steps_problem('[{"order": 1, "channel": "call", "delayDays": -1, "action": "Call"}]'),
  'step 1: delayDays must be a whole number of days from 0 to 365', 'a negative delay is refused');
select is(app.playbook_steps_problem('[{"order": 1, "channel": "call", "delayDays": 0, "action": "Call", "when": "now"}]'),
  'step 1 has unknown key(s): when', 'unknown step keys are refused');
select is(app.playbook_steps_problem('[{"order": 2, "channel": "call", "delayDays": 0, "action": "A"}, {"order": 2, "channel": "sms", "delayDays": 1, "action": "B"}]'),
  'steps share order 2: each step needs its own', 'two steps cannot share an order');

select tests.authenticate_as(:'org_a');
select throws_ok($$ insert into app.playbooks (name, steps) values ('Bad', '[{"order": 1, "channel": "fax", "delayDays": 0, "action": "Fax"}]') $$,
  'CR400', 'Invalid steps: step 1: channel must be one of email, call, linkedin, sms, meeting, task', 'writing invalid steps is refused with 400');
insert into app.playbooks (name, steps) values ('Two steps',
  '[{"order": 5, "channel": "call", "delayDays": 2, "action": "Call"}, {"order": 1, "channel": "email", "delayDays": 0, "action": "Email"}]')
  returning id as two_steps \gset
select is((select array_agg(s ->> 'order' order by o) from app.playbooks p, jsonb_array_elements(p.steps) with ordinality e(s, o) where p.id = :'two_steps'),
  array['1', '5'], 'steps are stored in order');
select throws_ok($$ insert into app.playbooks (name, steps) values ('two STEPS', '[{"order": 1, "channel": "sms", "delayDays": 0, "action": "Text"}]') $$,
  '23505', null, 'playbook names are unique per org, case-insensitively');
select throws_ok($$ insert into app.playbooks (name, score_label, steps) values ('Lukewarm', 'lukewarm', '[{"order": 1, "channel": "sms", "delayDays": 0, "action": "Text"}]') $$,
  '23514', null, 'score_label must be hot, warm, cool or cold');

-- ===========================================================================
-- Playbooks: defaults and tenancy
-- ===========================================================================
select tests.clear_authentication();
select is((select count(*)::integer from app.playbooks where org_id = :'org_b'), 8, 'a new org gets the eight default playbooks');
select is((select s.name from app.playbooks p join app.stages s on s.id = p.stage_id where p.org_id = :'org_b' and p.name = 'Negotiation close'),
  'Negotiated', 'a stage''s default playbook points at the org''s own stage');

select tests.authenticate_as(:'org_b');
select is((select count(*)::integer from app.playbooks where org_id = :'org_a'), 0, 'org B cannot see org A''s playbooks');
update app.playbooks set name = 'Stolen' where id = :'two_steps';
delete from app.playbooks where id = :'two_steps';
select throws_ok(format($$ insert into app.playbooks (org_id, name, steps) values (%L, 'Planted', '[{"order": 1, "channel": "sms", "delayDays": 0, "action": "x"}]') $$, :'org_a'),
  '42501', null, 'org B cannot create a playbook in org A');
select tests.clear_authentication();
select is((select name from app.playbooks where id = :'two_steps'), 'Two steps', 'org B can neither change nor delete org A''s playbook');

select tests.authenticate_as(:'org_b');
select app.delete_stage('Negotiated', 'Contacted');
select is((select count(*)::integer from app.playbooks where name = 'Negotiation close'), 0, 'deleting a stage deletes the playbooks made for it');
select tests.clear_authentication();

-- ===========================================================================
-- Recommendations
-- ===========================================================================
select pg_temp.lead(:'org_a', 'Prospects', '2 days', null) as newbie \gset
select pg_temp.lead(:'org_a', 'Engaged', '1 day', null, 'new', 50) as high_tier \gset
update app.leads set tier = 'High' where id = :'high_tier';

select tests.authenticate_as(:'org_a');
select is(app.recommend_playbook(:'newbie', :'t') #>> '{playbook,name}', 'New prospect opener', 'a new lead in Prospects gets the stage''s playbook');
select is(app.recommend_playbook(:'newbie', :'t') -> 'nextAction',
  jsonb_build_object('step', 1, 'channel', 'email', 'action', 'Send a personal intro email', 'templateHint', 'Why them, why now, one question.',
    'delayDays', 0, 'due', :'t'::timestamptz - interval '2 days', 'overdue', true),
  'its next action is step 1, due when the lead entered the stage');
select ok(app.recommend_playbook(:'newbie', :'t') -> 'reasoning' ? 'Not stalled: 2 day(s) since the last touch, "Prospects" stalls after 7',
  'the reasoning says the lead is not stalled and why');
insert into app.touchpoints (lead_id, type, occurred_at) values (:'newbie', 'email', :'t'::timestamptz - interval '1 day');
select is(app.recommend_playbook(:'newbie', :'t') -> 'nextAction' ->> 'step', '2', 'a touchpoint since entering the stage completes a step');
select is((app.recommend_playbook(:'newbie', :'t') -> 'nextAction' ->> 'due')::timestamptz, :'t'::timestamptz,
  'the next step is due its delayDays after the last touch');

select is(app.recommend_playbook(:'high_tier', :'t') #>> '{playbook,name}', 'High-tier fast track', 'a high-tier lead (any case) gets the high-tier playbook');
select is(app.recommend_playbook(:'hot', :'t') #>> '{playbook,name}', 'Stalled revival',
  'a stalled lead gets the stalled playbook, even when hot');
select is(app.recommend_playbook(:'hot', :'t') -> 'stalled' ->> 'suggestedAction', 'check_in_call', 'the recommendation carries the stalled verdict');
select ok(app.recommend_playbook(:'hot', :'t') -> 'alsoMatching' ? 'Hot lead close', 'the other fitting playbooks are listed');
select is(app.recommend_playbook(:'won_stage', :'t') -> 'playbook', 'null'::jsonb, 'a closed lead gets no playbook');
select throws_ok(format($$ select app.recommend_playbook(%L, %L) $$, :'deleted', :'t'), 'CR409', null, 'a deleted lead is refused with 409');
select throws_ok(format($$ select app.recommend_playbook(%L, %L) $$, :'b_stalled', :'t'), 'CR404', null, 'another org''s lead is not found');
select tests.clear_authentication();

select ok(not has_function_privilege('anon', 'app.recommend_playbook(text, timestamptz)', 'execute')
  and not has_function_privilege('anon', 'app.stalled_leads(timestamptz, integer, integer, jsonb)', 'execute'),
  'anon can run neither stalled_leads nor recommend_playbook');

select * from finish();
rollback;
