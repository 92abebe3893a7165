-- Stage automation rules: validation in SQL (with hints from the trigger and condition-key
-- tables), firing on events (priority, ties, each condition, won/lost/deleted skips, loop
-- prevention, the stage history naming the rule), the no_touch sweep on a fixed clock,
-- stages that rules use, and tenancy.
begin;
select plan(83);

select tests.create_org('auto-a') as org_a \gset
select tests.create_org('auto-b') as org_b \gset
select id as a_prospects from app.stages where org_id = :'org_a' and name = 'Prospects' \gset
select id as a_leads from app.stages where org_id = :'org_a' and name = 'Leads' \gset
select id as a_engaged from app.stages where org_id = :'org_a' and name = 'Engaged' \gset
select id as a_contacted from app.stages where org_id = :'org_a' and name = 'Contacted' \gset
select id as a_negotiated from app.stages where org_id = :'org_a' and name = 'Negotiated' \gset
select id as a_reengage from app.stages where org_id = :'org_a' and name = 'Re-engage later' \gset
select id as a_won from app.stages where org_id = :'org_a' and name = 'Closed Won' \gset
select id as b_prospects from app.stages where org_id = :'org_b' and name = 'Prospects' \gset

create function pg_temp.record(p_lead_id text, p_type text, p_data jsonb default '{}') returns void
  language plpgsql as $$ begin perform app.record_event(p_lead_id, p_type, p_data); end $$;
create function pg_temp.stage_of(p_lead_id text) returns text
  language sql as $$ select s.name from app.leads l join app.stages s on s.id = l.stage_id where l.id = p_lead_id $$;
-- A rule written as Studio would (no claims): the trigger resolves names with the row's org.
create function pg_temp.rule(p_org_id text, p_name text, p_trigger text, p_conditions jsonb, p_target text,
    p_priority integer default 0, p_created_at timestamptz default now()) returns text
  language plpgsql as $$
  declare v_id text;
  begin
    insert into app.automation_rules (org_id, name, trigger_event, conditions, target_stage_id, priority, created_at)
    values (p_org_id, p_name, p_trigger, p_conditions, p_target, p_priority, p_created_at) returning id into v_id;
    return v_id;
  end $$;

-- ===========================================================================
-- Validation, as a tenant writes rules
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, target_stage_id) values ('x', 'stage_changed', 'Leads') $$,
  'CR400', '"stage_changed" is not an automation trigger', 'stage_changed is not a trigger (stage moves never fire rules)');
select is((select string_agg(t.name, ', ' order by t.position) from app.automation_triggers t),
  'meeting_booked, proposal_viewed, cta_clicked, quiz_completed, no_touch', 'the triggers are meeting_booked, proposal_viewed, cta_clicked, quiz_completed and no_touch');
select throws_matching($$ insert into app.automation_rules (name, trigger_event, target_stage_id) values ('x', 'bogus', 'Leads') $$,
  'not an automation trigger', 'an unknown trigger is refused');
select is(tests.hint_of($$ insert into app.automation_rules (name, trigger_event, target_stage_id) values ('x', 'bogus', 'Leads') $$),
  'triggerEvent is one of: meeting_booked, proposal_viewed, cta_clicked, quiz_completed, no_touch.', 'the unknown-trigger hint lists the triggers');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"colour": "red"}', 'Leads') $$,
  'CR400', 'Unknown condition(s) for a cta_clicked rule: "colour"', 'an unknown condition key is refused');
select is(tests.hint_of($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"colour": "red"}', 'Leads') $$),
  'conditions of a cta_clicked rule take: fromStage, tier, viewCount, confidenceScore (GET /api/openclaw/automation/rules lists them with their shapes).',
  'the unknown-condition hint lists the keys the trigger takes');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'meeting_booked', '{"noTouchDays": {"gte": 3}}', 'Leads') $$,
  'CR400', 'Unknown condition(s) for a meeting_booked rule: "noTouchDays"', 'noTouchDays is refused on an event rule');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"viewCount": 3}', 'Leads') $$,
  'CR400', 'conditions.viewCount must be { "gte": N } with N in range', 'viewCount must be { gte: N }');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"viewCount": {"gte": 2, "lte": 5}}', 'Leads') $$,
  'CR400', null, 'a { gte } condition takes no other key');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"viewCount": {"gte": "2"}}', 'Leads') $$,
  'CR400', null, 'gte must be a number');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"confidenceScore": {"gte": 101}}', 'Leads') $$,
  'CR400', null, 'confidenceScore gte above 100 is refused');
select is(tests.hint_of($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"confidenceScore": {"gte": 101}}', 'Leads') $$),
  'conditions.confidenceScore takes { "gte": N } with N a number from 0 to 100 (e.g. {"gte": 70}): The lead''s confidence score is at least gte (0-100; a lead not yet scored counts as 0).',
  'the condition hint gives the shape, range and an example');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'no_touch', '{"noTouchDays": {"gte": 0}}', 'Leads') $$,
  'CR400', null, 'noTouchDays below 1 is refused');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"tier": " "}', 'Leads') $$,
  'CR400', 'conditions.tier must be a non-empty string', 'a blank tier is refused');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"fromStage": "Nowhere"}', 'Leads') $$,
  'CR400', 'No stage named or with id "Nowhere" in this workspace', 'an unknown fromStage is refused');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, target_stage_id) values ('x', 'cta_clicked', 'Nowhere') $$,
  'CR400', 'No stage named or with id "Nowhere" in this workspace', 'an unknown target stage is refused');
select is(tests.hint_of($$ insert into app.automation_rules (name, trigger_event, target_stage_id) values ('x', 'cta_clicked', 'Nowhere') $$),
  'Use one of: "Prospects", "Leads", "Engaged", "Contacted", "Negotiated", "Re-engage later", "Closed Won", "Closed Lost".',
  'the unknown-stage hint lists the org''s stages');
select throws_ok(format($$ insert into app.automation_rules (name, trigger_event, target_stage_id) values ('x', 'cta_clicked', %L) $$, :'b_prospects'),
  'CR400', null, 'another org''s stage cannot be a target');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '{"fromStage": "leads"}', 'LEADS') $$,
  'CR400', 'The rule would move leads from "Leads" to the same stage', 'a rule whose fromStage is its target is refused');
select throws_ok($$ insert into app.automation_rules (name, trigger_event, conditions, target_stage_id) values ('x', 'cta_clicked', '[1]', 'Leads') $$,
  'CR400', 'conditions must be an object', 'conditions must be an object');

insert into app.automation_rules (name, trigger_event, conditions, target_stage_id)
values ('Normalised', 'no_touch', '{"fromStage": "contacted", "tier": " Pro "}', 're-engage later') returning id as rule_norm \gset
select is((select conditions from app.automation_rules where id = :'rule_norm'),
  jsonb_build_object('fromStage', :'a_contacted'::text, 'tier', 'Pro', 'noTouchDays', jsonb_build_object('gte', 7)),
  'stage names are stored as ids, strings trimmed, and a no_touch rule gets noTouchDays { gte: 7 } by default');
select is((select target_stage_id from app.automation_rules where id = :'rule_norm'), :'a_reengage'::text, 'the target stage name is stored as its id');
select is((select row(priority, enabled, org_id)::text from app.automation_rules where id = :'rule_norm'), row(0, true, :'org_a'::text)::text,
  'a rule defaults to priority 0, enabled, in the caller''s org');
select throws_ok(format($$ update app.automation_rules set target_stage_id = %L where id = %L $$, :'a_contacted', :'rule_norm'),
  'CR400', null, 'an update is validated too (target = fromStage refused)');
select throws_ok(format($$ update app.automation_rules set id = 'rule_x' where id = %L $$, :'rule_norm'),
  '42501', null, 'a tenant cannot change a rule''s id');
select is((select count(*)::int from app.automation_rule_details where id = :'rule_norm' and target_stage_name = 'Re-engage later' and from_stage_name = 'Contacted'),
  1, 'the details view names the target and fromStage stages');
delete from app.automation_rules where id = :'rule_norm';
select tests.clear_authentication();

-- ===========================================================================
-- Firing on events
-- ===========================================================================
select pg_temp.rule(:'org_a', 'Meeting → Negotiated', 'meeting_booked', '{}', 'Negotiated', 10) as r_meeting \gset
select pg_temp.rule(:'org_a', 'Meeting → Contacted (lower)', 'meeting_booked', '{}', 'Contacted', 5) as r_meeting_low \gset
select tests.create_lead(:'org_a') as lead1 \gset

select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead1', 'meeting_booked');
select is(pg_temp.stage_of(:'lead1'), 'Negotiated', 'a meeting_booked event moves the lead by the highest-priority matching rule');
select is((select row(source, changed_by, rule_id, from_stage_name)::text from app.stage_changes where lead_id = :'lead1' and to_stage_id = :'a_negotiated'),
  row('automation', :'r_meeting'::text, :'r_meeting'::text, 'Prospects')::text,
  'the stage history records the move with source automation, the rule as actor and its rule_id');
select is((select data ->> 'ruleId' from app.events where lead_id = :'lead1' and type = 'stage_changed'), :'r_meeting'::text,
  'the stage_changed event carries the rule id');
select is((select row(rule_id, rule_name, trigger_event, from_stage_name, to_stage_name)::text from app.automation_runs where lead_id = :'lead1'),
  row(:'r_meeting'::text, 'Meeting → Negotiated', 'meeting_booked', 'Prospects', 'Negotiated')::text, 'the firing is logged in automation_runs');
select is((select event_id from app.automation_runs where lead_id = :'lead1'),
  (select id from app.events where lead_id = :'lead1' and type = 'meeting_booked'), 'the run names the event that fired it');
select is(current_setting('request.jwt.claims')::jsonb, jsonb_build_object('role', 'authenticated', 'org_id', :'org_a'::text),
  'the request''s claims are restored after the move');
select is(coalesce(current_setting('app.automation_running', true), ''), '', 'the re-entry flag is cleared after the move');

select pg_temp.record(:'lead1', 'meeting_booked');
select is(pg_temp.stage_of(:'lead1'), 'Negotiated',
  'when the winning rule''s target is the lead''s stage, nothing happens (the lower rule is not tried)');
select is((select count(*)::int from app.automation_runs where lead_id = :'lead1'), 1, 'a rule that moves nothing logs no run');
select pg_temp.record(:'lead1', 'email_opened');
select pg_temp.record(:'lead1', 'video_watched', '{"percent": 50}');
select is((select count(*)::int from app.automation_runs where lead_id = :'lead1'), 1, 'other events fire no rule');
select tests.clear_authentication();

-- Ties: the older rule wins.
select pg_temp.rule(:'org_a', 'CTA newer', 'cta_clicked', '{}', 'Engaged', 3, now() - interval '1 day') as r_cta_new \gset
select pg_temp.rule(:'org_a', 'CTA older', 'cta_clicked', '{}', 'Leads', 3, now() - interval '2 days') as r_cta_old \gset
select tests.create_lead(:'org_a') as lead2 \gset
select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead2', 'cta_clicked');
select is(pg_temp.stage_of(:'lead2'), 'Leads', 'between rules of equal priority the older one wins');
select tests.clear_authentication();

-- Disabled rules do not fire.
update app.automation_rules set enabled = false where id in (:'r_cta_new', :'r_cta_old');
select tests.create_lead(:'org_a') as lead3 \gset
select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead3', 'cta_clicked');
select is(pg_temp.stage_of(:'lead3'), 'Prospects', 'a disabled rule does not fire');
select tests.clear_authentication();

-- Conditions: fromStage.
select pg_temp.rule(:'org_a', 'Quiz from Leads', 'quiz_completed', '{"fromStage": "Leads"}', 'Engaged') as r_quiz \gset
select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead3', 'quiz_completed', '{"score": 80}');
select is(pg_temp.stage_of(:'lead3'), 'Prospects', 'fromStage: a lead in another stage is not moved');
select pg_temp.record(:'lead2', 'quiz_completed', '{"score": 80}');
select is(pg_temp.stage_of(:'lead2'), 'Engaged', 'fromStage: a lead in that stage is moved');
select tests.clear_authentication();

-- Conditions: tier, case-insensitive.
delete from app.automation_rules where id = :'r_quiz';
select pg_temp.rule(:'org_a', 'Quiz pro', 'quiz_completed', '{"tier": "PRO"}', 'Contacted') as r_tier \gset
select tests.create_lead(:'org_a') as lead_pro \gset
select tests.create_lead(:'org_a') as lead_free \gset
update app.leads set tier = 'pro' where id = :'lead_pro';
update app.leads set tier = 'free' where id = :'lead_free';
select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead_pro', 'quiz_completed');
select pg_temp.record(:'lead_free', 'quiz_completed');
select is(pg_temp.stage_of(:'lead_pro'), 'Contacted', 'tier: a lead of that tier (any case) is moved');
select is(pg_temp.stage_of(:'lead_free'), 'Prospects', 'tier: a lead of another tier is not');
select tests.clear_authentication();

-- Conditions: viewCount counts this event too (the rollup runs first).
select pg_temp.rule(:'org_a', 'Second view', 'proposal_viewed', '{"viewCount": {"gte": 2}}', 'Engaged') as r_views \gset
select tests.create_lead(:'org_a') as lead4 \gset
select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead4', 'proposal_viewed');
select is(pg_temp.stage_of(:'lead4'), 'Prospects', 'viewCount: one view is not two');
select pg_temp.record(:'lead4', 'proposal_viewed');
select is(pg_temp.stage_of(:'lead4'), 'Engaged', 'viewCount: the second view moves the lead');
select tests.clear_authentication();

-- Conditions: confidenceScore reads app.lead_scores.score (kept fresh by scoring, whose trigger runs
-- first); a lead not yet scored counts as 0.
delete from app.automation_rules where id = :'r_views';
select pg_temp.rule(:'org_a', 'Perfect viewer', 'proposal_viewed', '{"confidenceScore": {"gte": 100}}', 'Negotiated') as r_score \gset
select tests.create_lead(:'org_a') as lead_cold \gset
select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead_cold', 'proposal_viewed');
select is(pg_temp.stage_of(:'lead_cold'), 'Prospects', 'confidenceScore: a lead below gte is not moved');
select tests.clear_authentication();
select ok(app._automation_conditions_hold('{"confidenceScore": {"gte": 70}}', 'stg_x', null, 0, 70), 'confidenceScore: a score equal to gte matches');
select ok(not app._automation_conditions_hold('{"confidenceScore": {"gte": 70}}', 'stg_x', null, 0, 69), 'confidenceScore: a lower score does not');
select ok(not app._automation_conditions_hold('{"confidenceScore": {"gte": 1}}', 'stg_x', null, 0, null), 'confidenceScore: an unscored lead counts as 0');
delete from app.automation_rules where id = :'r_score';

-- Won, lost and deleted leads stay where they are.
select tests.create_lead(:'org_a') as lead_won \gset
select tests.create_lead(:'org_a') as lead_gone \gset
update app.leads set stage_id = :'a_won' where id = :'lead_won';
update app.leads set deleted_at = now() where id = :'lead_gone';
select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead_won', 'meeting_booked');
select pg_temp.record(:'lead_gone', 'meeting_booked');
select is(pg_temp.stage_of(:'lead_won'), 'Closed Won', 'a lead in a won stage is never moved');
select is(pg_temp.stage_of(:'lead_gone'), 'Prospects', 'a soft-deleted lead is never moved');
select tests.clear_authentication();

-- Loops: one move per event, even when rules chain.
select pg_temp.rule(:'org_a', 'Chain 1', 'cta_clicked', '{"fromStage": "Prospects"}', 'Leads', 50) as r_chain1 \gset
select pg_temp.rule(:'org_a', 'Chain 2', 'cta_clicked', '{"fromStage": "Leads"}', 'Prospects', 50) as r_chain2 \gset
select tests.create_lead(:'org_a') as lead_loop \gset
select tests.authenticate_as(:'org_a');
select pg_temp.record(:'lead_loop', 'cta_clicked');
select is(pg_temp.stage_of(:'lead_loop'), 'Leads', 'rules that lead back to each other move the lead once per event');
select is((select count(*)::int from app.automation_runs where lead_id = :'lead_loop'), 1, 'one event, one automation move');
select pg_temp.record(:'lead_loop', 'cta_clicked');
select is(pg_temp.stage_of(:'lead_loop'), 'Prospects', 'the next event makes the next move');
select set_config('app.automation_running', 'on', true);
select pg_temp.record(:'lead_loop', 'cta_clicked');
select is(pg_temp.stage_of(:'lead_loop'), 'Prospects', 'an event recorded while a rule is moving a lead fires nothing (re-entry guard)');
select set_config('app.automation_running', '', true);
select tests.clear_authentication();
delete from app.automation_rules where id in (:'r_chain1', :'r_chain2');

-- ===========================================================================
-- Tenancy
-- ===========================================================================
select tests.create_lead(:'org_b') as lead_b \gset
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.automation_rules where org_id = :'org_a'), 0, 'org B cannot see org A''s rules');
select is((select count(*)::int from app.automation_runs where org_id = :'org_a'), 0, 'org B cannot see org A''s runs');
update app.automation_rules set enabled = false where id = :'r_meeting';
delete from app.automation_rules where id = :'r_meeting';
select throws_ok(format($$ insert into app.automation_rules (org_id, name, trigger_event, target_stage_id) values (%L, 'Planted', 'cta_clicked', %L) $$, :'org_a', :'a_leads'),
  'CR400', null, 'org B cannot create a rule in org A (org A''s stages are invisible to it)');
select pg_temp.record(:'lead_b', 'meeting_booked');
select is(pg_temp.stage_of(:'lead_b'), 'Prospects', 'org A''s rules never fire for org B''s events');
select tests.clear_authentication();
select is((select enabled from app.automation_rules where id = :'r_meeting'), true, 'org B could neither disable nor delete org A''s rule');
select ok(not has_function_privilege('authenticated', 'app.run_no_touch_rules(timestamptz)', 'execute'),
  'tenants cannot run the cross-org no_touch sweep');
select ok(not has_function_privilege('anon', 'app.run_no_touch_rules(timestamptz)', 'execute'), 'anon cannot run it either');

-- ===========================================================================
-- no_touch, on a fixed clock
-- ===========================================================================
delete from app.automation_rules where org_id = :'org_a';
update app.leads set deleted_at = now() where org_id = :'org_a';
select pg_temp.rule(:'org_a', 'Idle contacted', 'no_touch', '{"fromStage": "Contacted", "noTouchDays": {"gte": 7}}', 'Re-engage later', 1) as r_idle \gset
select pg_temp.rule(:'org_a', 'Idle contacted, urgent', 'no_touch', '{"fromStage": "Contacted", "noTouchDays": {"gte": 10}}', 'Closed Lost', 2) as r_idle_long \gset
select pg_temp.rule(:'org_a', 'Back from re-engage', 'no_touch', '{"fromStage": "Re-engage later", "noTouchDays": {"gte": 7}}', 'Contacted') as r_back \gset
insert into app.leads (org_id, first_name, email, stage_id, created_at) values
  (:'org_a', 'Idle', 'idle@example.com', :'a_contacted', '2030-01-01'),
  (:'org_a', 'Touched', 'touched@example.com', :'a_contacted', '2029-12-01'),
  (:'org_a', 'Very idle', 'very@example.com', :'a_contacted', '2029-12-25'),
  (:'org_a', 'New', 'new@example.com', :'a_contacted', '2030-01-06');
update app.leads set last_touch_at = '2030-01-05' where email = 'touched@example.com';
select id as idle from app.leads where email = 'idle@example.com' and deleted_at is null \gset
select id as very from app.leads where email = 'very@example.com' and deleted_at is null \gset
select id as touched from app.leads where email = 'touched@example.com' and deleted_at is null \gset
select pg_temp.rule(:'org_b', 'B idle', 'no_touch', '{}', 'Leads') as r_b_idle \gset
update app.leads set created_at = '2029-12-01' where id = :'lead_b';

select is(app.run_no_touch_rules('2029-12-20'), 1, 'run_no_touch_rules at a fixed now moves the leads idle for the rule''s days (org B''s, 7 by default)');
select is(pg_temp.stage_of(:'lead_b'), 'Leads', 'the sweep covers every org');
select is(app.run_no_touch_rules('2029-12-20'), 0, 'running again moves nothing');
select is(app.run_no_touch_rules('2030-01-07 23:59:59'), 1, 'at 13.99 idle days only the very idle lead moves');
select is(pg_temp.stage_of(:'very'), 'Closed Lost', 'of two matching no_touch rules the higher priority wins');
select is(pg_temp.stage_of(:'idle'), 'Contacted', 'a lead idle for a moment less than 7 days is not moved');
select is(app.run_no_touch_rules('2030-01-08'), 1, 'at exactly 7 idle days the idle lead moves');
select is(pg_temp.stage_of(:'idle'), 'Re-engage later', 'it moves by the matching rule');
select is(pg_temp.stage_of(:'touched'), 'Contacted', 'a lead touched 3 days ago is not moved, however old it is');
select is((select row(source, changed_by, rule_id)::text from app.stage_changes where lead_id = :'idle' and to_stage_id = :'a_reengage'),
  row('automation', :'r_idle'::text, :'r_idle'::text)::text, 'the no_touch move is in the stage history with its rule');
select is((select row(trigger_event, event_id, ran_at)::text from app.automation_runs where lead_id = :'idle'),
  row('no_touch', null::text, '2030-01-08'::timestamptz)::text, 'a no_touch run has no event and runs at the given now');
update app.leads set deleted_at = now() where id = :'touched' or email = 'new@example.com';
select is(app.run_no_touch_rules('2030-01-11'), 0,
  'a lead a rule just moved is not moved back on the next runs: the idle clock restarts at the move');
select is(app.run_no_touch_rules('2030-01-15'), 1, 'a whole idle period after the move, the next rule takes it');
select is(pg_temp.stage_of(:'idle'), 'Contacted', 'the lead moved back once');
select is(pg_temp.stage_of(:'very'), 'Closed Lost', 'a lost lead is never moved by no_touch');
select is((select schedule from cron.job where jobname = 'no-touch-automation'), '*/15 * * * *', 'the no_touch sweep runs every 15 minutes under pg_cron');
select is((select command from app.scheduled_jobs where name = 'no-touch-automation'), 'select app.run_no_touch_rules()', 'the job calls app.run_no_touch_rules');

-- ===========================================================================
-- Stages that rules use
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select throws_ok($$ select app.delete_stage('Re-engage later', 'Leads') $$, 'CR409', null,
  'a stage a rule targets or starts from cannot be deleted');
select is(tests.hint_of($$ select app.delete_stage('Re-engage later', 'Leads') $$) like 'Point those rules at another stage%', true,
  'the refusal says how to free the stage');
update app.automation_rules set target_stage_id = 'Leads', conditions = '{"fromStage": "Contacted"}' where id = :'r_idle';
delete from app.automation_rules where id = :'r_back';
select lives_ok($$ select app.delete_stage('Re-engage later', 'Leads') $$, 'once no rule uses it, the stage can be deleted');
delete from app.automation_rules where id = :'r_idle';
select is((select count(*)::int from app.automation_runs where rule_name = 'Idle contacted' and rule_id is null), 1,
  'a deleted rule''s runs stay in the log without the rule id');
select tests.clear_authentication();
select lives_ok(format($$ delete from app.orgs where id = %L $$, :'org_b'), 'an org with rules can be deleted, rules and stages together');

select * from finish();
rollback;
