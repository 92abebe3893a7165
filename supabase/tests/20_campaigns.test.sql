-- Campaign sequences, enrolment, automatic enrolment and stopping, suppression,
-- unsubscribe, bounces, ad-hoc sequences, and row-level security on every new table.
begin;
select plan(50);

select tests.create_org('seq-a') as org_a \gset
select tests.create_org('seq-b') as org_b \gset

-- ---------------------------------------------------------------------------
-- Templates and steps
-- ---------------------------------------------------------------------------
select is(app.template_variables(), array['firstName', 'lastName', 'organizationName', 'businessType', 'proposalUrl', 'email', 'phone'],
  'the template variables are defined once, in SQL');
select id as stage_b from app.stages where org_id = :'org_b' limit 1 \gset
select tests.create_lead(:'org_a') as tv_lead \gset
select is((select app.template_values(l) ->> 'proposalUrl' from app.leads l where l.id = :'tv_lead'),
  (select '/p/' || p.slug from app.proposals p where p.lead_id = :'tv_lead'),
  '{{proposalUrl}} is the path of the lead''s proposal page');
update app.leads set crm_data = '{"proposalUrl": "https://deck.example.com/acme"}' where id = :'tv_lead';
select is((select app.template_values(l) ->> 'proposalUrl' from app.leads l where l.id = :'tv_lead'),
  'https://deck.example.com/acme', 'a proposalUrl an agent put in crmData wins');
select tests.authenticate_as(:'org_a');
select throws_ok($$ insert into app.campaigns (name, steps) values ('x', '[{"delayMinutes":0,"subject":"Hi {{first_name}}","body":"{{ firstName }}"}]') $$,
  'CR400', 'Step 1 uses unknown template variable(s): {{ firstName }}, {{first_name}}', 'an unknown variable is refused, naming each one');
select throws_like($$ insert into app.campaigns (name, steps) values ('x', '[{"delayMinutes":0,"subject":"{{x}}","body":"b"}]') $$,
  '%unknown template variable%', 'the refusal is about template variables');
select throws_ok(format($$ insert into app.campaigns (name, steps) values ('x', %L) $$,
  (select jsonb_agg('{"delayMinutes":0,"subject":"s","body":"b"}'::jsonb) from generate_series(1, 9))),
  'CR400', 'A campaign has at most 8 steps', 'more than 8 steps are refused');
select throws_ok($$ insert into app.campaigns (name, steps) values ('x', '[{"delayMinutes":-1,"subject":"s","body":"b"}]') $$,
  'CR400', 'Step 1 is not valid', 'a negative delay is refused');
select throws_ok($$ insert into app.campaigns (name, steps) values ('x', '[{"delayMinutes":0,"subject":"s","body":"b","condition":{"skipIf":"bored"}}]') $$,
  'CR400', 'Step 1 has an unknown condition', 'an unknown condition is refused');
select throws_ok($$ insert into app.campaigns (name, ai_config) values ('x', '{"maxRetries":9}') $$,
  'CR400', 'ai_config is not valid', 'ai_config.maxRetries above 5 is refused');
select throws_ok($$ insert into app.campaigns (name, trigger_event) values ('x', 'stage_changed') $$,
  '23514', null, 'trigger stage_changed needs a stage');
select throws_ok(format($$ insert into app.campaigns (name, trigger_event, trigger_stage_id) values ('x', 'stage_changed', %L) $$,
  :'stage_b'), '23503', null, 'the trigger stage must be one of the org''s own');

-- ---------------------------------------------------------------------------
-- Ad-hoc sequences are not counted against the plan
-- ---------------------------------------------------------------------------
insert into app.campaigns (name, status) values ('One', 'active'), ('Two', 'active'), ('Three', 'active');
select tests.create_lead(:'org_a', 'ada@example.com') as lead_a \gset
select lives_ok(format($$ select app.send_sequence(%L, '[{"delayMinutes":5,"subject":"Hi {{firstName}}","body":"b"}]') $$, :'lead_a'),
  'send_sequence works at the free tier''s campaign limit');
select is((select row(kind, status, name)::text from app.campaigns where kind = 'adhoc'), row('adhoc', 'active', 'Sequence for Test')::text,
  'it makes an active ad-hoc campaign');
select is((select campaigns from app.org_tier()), 3, 'ad-hoc campaigns do not count as campaigns in the plan usage');
select throws_ok($$ insert into app.campaigns (name) values ('Four') $$, 'CR402', null, 'the limit still holds for sequences');
select is((select count(*)::int from app.enrollments where lead_id = :'lead_a' and source = 'manual'), 1, 'and the lead is enrolled in it');
select tests.clear_authentication();
update app.orgs set tier = 'pro' where id = :'org_a';

-- ---------------------------------------------------------------------------
-- Manual enrolment
-- ---------------------------------------------------------------------------
insert into app.campaigns (org_id, name, status, steps) values (:'org_a', 'Manual', 'active',
  '[{"delayMinutes":30,"subject":"s","body":"b"},{"delayMinutes":60,"subject":"s2","body":"b2"}]') returning id as cmp \gset
select tests.create_lead(:'org_a', 'bea@example.com') as lead_b \gset
select tests.create_lead(:'org_b', 'other@example.com') as lead_other \gset
select tests.authenticate_as(:'org_a');
select app.enroll_lead(:'cmp', :'lead_b', '2026-05-01 10:00Z') as enrolled \gset
select is((:'enrolled'::jsonb) - 'id' - 'history' - 'campaignId' - 'leadId' - 'enrolledAt' - 'nextStepAt',
  '{"status":"active","currentStep":0,"totalSteps":2,"deferredReason":null,"source":"manual","finishedAt":null,"stopReason":null,"cooldownUntil":null,"messages":[]}'::jsonb,
  'enrolling answers with the enrolment');
select is((select next_step_at from app.enrollments where id = (:'enrolled'::jsonb) ->> 'id'), '2026-05-01 10:30Z'::timestamptz,
  'the first step is due after its delay');
select throws_ok(format($$ select app.enroll_lead(%L, %L) $$, :'cmp', :'lead_b'), 'CR409', null, 'a lead cannot be enrolled twice at once');
select throws_ok(format($$ select app.enroll_lead(%L, %L) $$, :'cmp', :'lead_other'), 'CR404', null, 'another org''s lead cannot be enrolled');
select throws_ok(format($$ select app.enroll_lead('cmp_nope', %L) $$, :'lead_b'), 'CR404', null, 'an unknown campaign answers 404');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- Automatic enrolment and stopping, from events
-- ---------------------------------------------------------------------------
insert into app.campaigns (org_id, name, status, steps, trigger_event) values (:'org_a', 'Quiz', 'active',
  '[{"delayMinutes":0,"subject":"s","body":"b"}]', 'quiz_completed') returning id as cmp_quiz \gset
insert into app.campaigns (org_id, name, status, steps, trigger_event) values (:'org_a', 'Quiz paused', 'paused',
  '[{"delayMinutes":0,"subject":"s","body":"b"}]', 'quiz_completed') returning id as cmp_quiz_paused \gset
insert into app.campaigns (org_id, name, status, steps, trigger_event, trigger_stage_id) values (:'org_a', 'Engaged', 'active',
  '[{"delayMinutes":0,"subject":"s","body":"b"}]', 'stage_changed',
  (select id from app.stages where org_id = :'org_a' and name = 'Engaged')) returning id as cmp_stage \gset
select tests.create_lead(:'org_a', 'cai@example.com') as lead_c \gset
select tests.authenticate_as(:'org_a');
select app.record_event(:'lead_c', 'quiz_completed', '{"score":80}');
select tests.clear_authentication();
select is((select source from app.enrollments where lead_id = :'lead_c' and campaign_id = :'cmp_quiz'), 'trigger',
  'a quiz_completed event enrols the lead in the active quiz campaign');
select is((select count(*)::int from app.enrollments where campaign_id = :'cmp_quiz_paused'), 0, 'but not in a paused one');
select tests.authenticate_as(:'org_a');
select app.record_event(:'lead_c', 'quiz_completed', '{"score":90}');
select is((select count(*)::int from app.enrollments where lead_id = :'lead_c' and campaign_id = :'cmp_quiz'), 1,
  'a repeated trigger while enrolled does not enrol twice');
update app.leads set stage_id = (select id from app.stages where name = 'Engaged') where id = :'lead_c';
select is((select count(*)::int from app.enrollments where lead_id = :'lead_c' and campaign_id = :'cmp_stage'), 1,
  'entering the trigger stage enrols the lead');
select app.record_event(:'lead_c', 'email_replied');
select tests.clear_authentication();
select is((select array_agg(distinct stop_reason) from app.enrollments where lead_id = :'lead_c'), array['email_replied'],
  'a reply stops every active enrolment of the lead, with the reason');

select tests.create_lead(:'org_a', 'dan@example.com') as lead_d \gset
select tests.create_lead(:'org_a', 'eli@example.com') as lead_e \gset
select tests.create_lead(:'org_a', 'fay@example.com') as lead_f \gset
select tests.create_lead(:'org_a', 'gil@example.com') as lead_g \gset
select tests.authenticate_as(:'org_a');
select app.enroll_lead(:'cmp', l) from unnest(array[:'lead_d', :'lead_e', :'lead_f', :'lead_g']) l;
select app.record_event(:'lead_d', 'meeting_booked');
select app.record_event(:'lead_e', 'email_bounced', '{"type":"soft"}');
update app.leads set stage_id = (select id from app.stages where name = 'Closed Lost') where id = :'lead_f';
select app.record_event(:'lead_g', 'unsubscribed');
select tests.clear_authentication();
select is((select stop_reason from app.enrollments where lead_id = :'lead_d'), 'meeting_booked', 'a booked meeting stops the sequence');
select is((select status from app.enrollments where lead_id = :'lead_e'), 'active', 'a soft bounce does not');
select is((select stop_reason from app.enrollments where lead_id = :'lead_f'), 'stage_lost', 'moving into a lost stage does');
select is((select stop_reason from app.enrollments where lead_id = :'lead_g'), 'unsubscribed', 'an unsubscribe does');
select is((select reason from app.email_suppressions where email_key = 'gil@example.com'), 'unsubscribed',
  'and puts the address on the suppression list');
select tests.authenticate_as(:'org_a');
select app.record_event(:'lead_e', 'email_bounced', '{"type":"hard","reason":"550"}');
select tests.clear_authentication();
select is((select row(e.stop_reason, s.reason)::text from app.enrollments e, app.email_suppressions s
  where e.lead_id = :'lead_e' and s.email_key = 'eli@example.com'), row('email_bounced', 'bounced')::text,
  'a hard bounce stops the sequence and suppresses the address');
select tests.authenticate_as(:'org_a');
select throws_ok(format($$ select app.enroll_lead(%L, %L) $$, :'cmp', :'lead_g'), 'CR409', null, 'a suppressed address cannot be enrolled');
select app.record_event(:'lead_g', 'quiz_completed', '{"score":50}');
select is((select count(*)::int from app.enrollments where lead_id = :'lead_g' and campaign_id = :'cmp_quiz'), 0,
  'nor is it enrolled automatically');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- Bounce webhook and unsubscribe
-- ---------------------------------------------------------------------------
select tests.create_lead(:'org_a', 'hal@example.com') as lead_h \gset
select tests.authenticate_as(:'org_a');
select app.enroll_lead(:'cmp', :'lead_h');
select is(app.record_bounce('HAL@example.com', 'hard', '550 unknown') - 'leadIds',
  '{"email":"hal@example.com","type":"hard","suppressed":true,"stoppedEnrollments":1}'::jsonb, 'a hard bounce report stops the lead''s enrolments');
select is((app.record_bounce('nobody@example.com', 'hard') -> 'leadIds'), '[]'::jsonb, 'an address no lead has is still suppressed');
select ok(exists (select from app.email_suppressions where email_key = 'nobody@example.com'), 'as the suppression list shows');
select throws_ok($$ select app.record_bounce('x@example.com', 'medium') $$, 'CR400', null, 'the bounce type is hard or soft');
select tests.clear_authentication();

select tests.create_lead(:'org_a', 'ivy@example.com') as lead_i \gset
insert into app.unsubscribe_tokens (org_id, lead_id) values (:'org_a', :'lead_i') returning token as token \gset
select tests.authenticate_as_anon();
select is(app.unsubscribe_status(:'token') ->> 'unsubscribed', 'false', 'anyone with the link can see what it unsubscribes');
select is(app.unsubscribe(:'token') - 'organizationName', '{"email":"ivy@example.com","alreadyUnsubscribed":false,"stoppedEnrollments":0}'::jsonb,
  'the link unsubscribes without an API key');
select is(app.unsubscribe(:'token') ->> 'alreadyUnsubscribed', 'true', 'a second click changes nothing');
select throws_ok($$ select app.unsubscribe('guess') $$, 'CR404', null, 'an unknown token answers 404');
select ok(not has_function_privilege('anon', 'app.enroll_lead(text, text, timestamptz)', 'execute'), 'anonymous callers cannot enrol');
select tests.clear_authentication();
select is((select count(*)::int from app.events where lead_id = :'lead_i' and type = 'unsubscribed'), 1, 'one unsubscribed event is recorded');

-- ---------------------------------------------------------------------------
-- Row-level security on every new table
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.enrollments) + (select count(*)::int from app.enrollment_history)
  + (select count(*)::int from app.outbox) + (select count(*)::int from app.email_suppressions)
  + (select count(*)::int from app.unsubscribe_tokens), 0, 'org B sees none of org A''s enrolments, history, outbox, suppressions or tokens');
select is((select count(*)::int from app.campaign_settings), 1, 'org B sees only its own send settings');
update app.campaign_settings set daily_cap = 1 where org_id = :'org_a';
delete from app.email_suppressions where org_id = :'org_a';
select throws_ok(format($$ insert into app.email_suppressions (org_id, email_key, reason) values (%L, 'x@example.com', 'manual') $$, :'org_a'),
  '42501', null, 'org B cannot add to org A''s suppression list');
select throws_ok(format($$ select app.enroll_lead(%L, %L) $$, :'cmp', :'lead_other'), 'CR404', null, 'org B cannot enrol into org A''s campaign');
select tests.clear_authentication();
select is((select daily_cap from app.campaign_settings where org_id = :'org_a'), 500, 'org B could not change org A''s settings (default cap 500)');
select ok(exists (select from app.email_suppressions where org_id = :'org_a' and email_key = 'gil@example.com'), 'nor delete org A''s suppressions');

select * from finish();
rollback;
