-- Send guardrails and the outbox, with fixed clocks (p_now): per-lead hourly and 24 h
-- limits, the 48 h cooldown, suppression, step conditions, the org's daily cap and send
-- window, checked when a step is queued and again when it is claimed; the claim, begin,
-- complete and fail protocol; crash safety (expired claims and sends).
-- Every scenario has its own lead and campaign and archives the campaign at the end, so
-- the global enqueue/claim calls of later scenarios never touch it.
begin;
select plan(67);

select tests.create_org('guard-a', 'pro') as org \gset
update app.orgs set name = 'Acme Sender' where id = :'org';

-- Four steps, no delays: only the guardrails space them out.
create temporary table four_steps as select
  '[{"delayMinutes":0,"subject":"S1 {{firstName}}","body":"B1 {{organizationName}}"},
    {"delayMinutes":0,"subject":"S2","body":"B2"},
    {"delayMinutes":0,"subject":"S3","body":"B3"},
    {"delayMinutes":0,"subject":"S4","body":"B4"}]'::jsonb as steps;

-- ===========================================================================
-- 1. The send protocol and the per-lead limits (Monday 2026-06-01, UTC)
-- ===========================================================================
insert into app.leads (org_id, first_name, email, organization_name, crm_data)
values (:'org', 'Lena', 'lena@example.com', 'Lena GmbH', '{"proposalUrl":"https://p.example/lena"}') returning id as lead1 \gset
insert into app.campaigns (org_id, name, status, steps, ai_enabled, ai_config)
select :'org', 'Rates', 'active', steps, true, '{"model":"m1","tone":"brief"}' from four_steps returning id as cmp1 \gset
select tests.authenticate_as(:'org');
select app.enroll_lead(:'cmp1', :'lead1', '2026-06-01 10:00Z') ->> 'id' as enr1 \gset
select tests.clear_authentication();

select is(app.enqueue_due_steps('2026-06-01 10:00Z'), 1, 'a due first step is queued');
select is(app.enqueue_due_steps('2026-06-01 10:00Z'), 0, 'a queued step is not queued again');
select is((select next_step_at from app.enrollments where id = :'enr1'), null, 'while its step is in the outbox the enrolment has no due time');

select app.claim_outbox('w1', 10, '2 minutes', '2026-06-01 10:00:05Z') as claim1 \gset
select is((:'claim1'::jsonb) - 'id' - 'orgId' - 'leadId' - 'campaignId' - 'enrollmentId' - 'unsubscribeToken',
  '{"stepIndex":0,"attempt":1,"to":"lena@example.com","fromName":"Acme Sender","subject":"S1 {{firstName}}","body":"B1 {{organizationName}}",
    "variables":{"firstName":"Lena","lastName":"","organizationName":"Lena GmbH","businessType":"","proposalUrl":"https://p.example/lena","email":"lena@example.com","phone":""},
    "ai":{"enabled":true,"model":"m1","tone":"brief","maxRetries":2},"enrichment":null}'::jsonb,
  'a claim returns the recipient, the unrendered templates, every variable, the AI settings and the enrichment');
select matches((:'claim1'::jsonb) ->> 'unsubscribeToken', '^[0-9a-f]{64}$', 'and the lead''s unguessable unsubscribe token');
select (:'claim1'::jsonb) ->> 'id' as msg1 \gset
select is((select row(status, claimed_by, lease_until, attempts)::text from app.outbox where id = :'msg1'),
  row('claimed', 'w1', '2026-06-01 10:02:05Z'::timestamptz, 1)::text, 'the row is claimed by the worker with a lease');
select is_empty($$ select app.claim_outbox('w2', 10, '2 minutes', '2026-06-01 10:00:06Z') $$, 'a claimed row is not claimed again');

select is(app.begin_send(:'msg1', 'w2', '2026-06-01 10:00:10Z'), false, 'begin_send refuses a worker that does not hold the claim');
select is(app.begin_send(:'msg1', 'w1', '2026-06-01 10:00:10Z'), true, 'begin_send lets the claiming worker send');
select is((select status from app.outbox where id = :'msg1'), 'sending', 'the row is sending');
select throws_ok(format($$ select app.complete_send(%L, 'w2', '<x@y>', '250', 's', 'b') $$, :'msg1'), 'CR409', null,
  'only the sending worker can complete it');
select app.complete_send(:'msg1', 'w1', '<' || :'msg1' || '@mail.test>', '250 2.0.0 OK', 'S1 Lena', 'B1 Lena GmbH', '{"ai fallback"}', '2026-06-01 10:00:12Z');
select is((select row(status, message_id, subject, body, warnings, sent_at)::text from app.outbox where id = :'msg1'),
  row('sent', '<' || :'msg1' || '@mail.test>', 'S1 Lena', 'B1 Lena GmbH', '{"ai fallback"}'::text[], '2026-06-01 10:00:12Z'::timestamptz)::text,
  'complete_send stores the rendered email, its Message-ID and warnings');
select is((select row(type, direction, summary, source)::text from app.touchpoints where lead_id = :'lead1'),
  row('email', 'outbound', 'S1 Lena', 'campaign')::text, 'a sent email logs an outbound email touchpoint');
select is((select external_id from app.events where lead_id = :'lead1' and type = 'email_sent'), '<' || :'msg1' || '@mail.test>',
  'and an email_sent event keyed by the Message-ID');
select is((select row(current_step, next_step_at)::text from app.enrollments where id = :'enr1'),
  row(1, '2026-06-01 10:00:12Z'::timestamptz)::text, 'the enrolment moves on to the next step (its delay counts from the send)');

-- 1 per rolling hour
select is(app.enqueue_due_steps('2026-06-01 10:30Z'), 0, 'a second email within the hour is not queued');
select is((select row(next_step_at, deferred_reason)::text from app.enrollments where id = :'enr1'),
  row('2026-06-01 11:00:05Z'::timestamptz, 'at most 1 email per lead per rolling hour')::text,
  'it is deferred to one hour after the last claim, with the reason');
select is((select kind from app.enrollment_history where enrollment_id = :'enr1' order by id desc limit 1), 'deferred', 'the deferral is in the history');

-- Two more sends, an hour apart, then the 24 h limit.
select is(app.enqueue_due_steps('2026-06-01 11:00:05Z'), 1, 'after the hour the step is queued');
select app.claim_outbox('w1', 10, '2 minutes', '2026-06-01 11:00:05Z') ->> 'id' as msg2 \gset
select app.begin_send(:'msg2', 'w1', '2026-06-01 11:00:06Z');
select app.complete_send(:'msg2', 'w1', '<m2>', '250', 'S2', 'B2', '{}', '2026-06-01 11:00:07Z');
select app.enqueue_due_steps('2026-06-01 12:00:05Z');
select app.claim_outbox('w1', 10, '2 minutes', '2026-06-01 12:00:05Z') ->> 'id' as msg3 \gset
select app.begin_send(:'msg3', 'w1', '2026-06-01 12:00:06Z');
select app.complete_send(:'msg3', 'w1', '<m3>', '250', 'S3', 'B3', '{}', '2026-06-01 12:00:07Z');
select is(app.enqueue_due_steps('2026-06-01 13:30Z'), 0, 'a 4th email within 24 h is not queued');
select is((select row(next_step_at, deferred_reason)::text from app.enrollments where id = :'enr1'),
  row('2026-06-02 10:00:05Z'::timestamptz, 'at most 3 emails per lead per rolling 24 hours')::text,
  'it is deferred until the oldest of the three is 24 h old');
select is(app.enqueue_due_steps('2026-06-02 10:00:05Z'), 1, 'then it goes out');
select throws_ok(format($$ insert into app.outbox (org_id, enrollment_id, campaign_id, lead_id, step_index, to_email, next_attempt_at)
  values (%L, %L, %L, %L, 0, 'x@example.com', now()) $$, :'org', :'enr1', :'cmp1', :'lead1'),
  '23505', null, 'the same step of an enrolment can never be in the outbox twice');
update app.campaigns set status = 'archived' where id = :'cmp1';
select is((select row(status, reason)::text from app.outbox where enrollment_id = :'enr1' and step_index = 3),
  row('canceled', 'enrolment stopped: campaign archived')::text, 'archiving cancels queued mail with the reason');

-- ===========================================================================
-- 2. Re-checked at claim: suppression (skip and stop) and the daily cap (defer)
-- ===========================================================================
select tests.create_org('guard-cap', 'pro') as org2 \gset
insert into app.leads (org_id, first_name, email) values (:'org2', 'Ann', 'ann@example.com') returning id as lead2a \gset
insert into app.leads (org_id, first_name, email) values (:'org2', 'Bob', 'bob@example.com') returning id as lead2b \gset
insert into app.leads (org_id, first_name, email) values (:'org2', 'Cy', 'cy@example.com') returning id as lead2c \gset
insert into app.campaigns (org_id, name, status, steps) select :'org2', 'Cap', 'active', steps from four_steps returning id as cmp2 \gset
select tests.authenticate_as(:'org2');
select app.enroll_lead(:'cmp2', :'lead2a', '2026-06-03 09:00Z') ->> 'id' as enr2a \gset
select app.enroll_lead(:'cmp2', :'lead2b', '2026-06-03 09:00Z') ->> 'id' as enr2b \gset
select app.enroll_lead(:'cmp2', :'lead2c', '2026-06-03 09:00Z') ->> 'id' as enr2c \gset
select tests.clear_authentication();
select is(app.enqueue_due_steps('2026-06-03 09:00Z'), 3, 'three leads'' first steps are queued');
-- After queueing: Bob's address is suppressed by hand, the org's cap drops to 1.
insert into app.email_suppressions (org_id, email_key, reason) values (:'org2', 'bob@example.com', 'manual');
update app.campaign_settings set daily_cap = 1 where org_id = :'org2';
update app.outbox set next_attempt_at = next_attempt_at + interval '1 second' where enrollment_id = :'enr2c';
select is((select count(*)::int from app.claim_outbox('w1', 10, '2 minutes', '2026-06-03 09:00:10Z') c where c ->> 'orgId' = :'org2'), 1,
  'the claim re-checks the guardrails: only one of the three is returned');
select is((select row(status, reason)::text from app.outbox where enrollment_id = :'enr2b'),
  row('skipped', 'address suppressed (manual)')::text, 'a suppressed address is skipped at claim, with the reason');
select is((select row(status, stop_reason)::text from app.enrollments where id = :'enr2b'),
  row('stopped', 'address suppressed (manual)')::text, 'and its enrolment stops');
select is((select row(status, next_attempt_at, reason)::text from app.outbox where enrollment_id = :'enr2c'),
  row('queued', '2026-06-04 00:00Z'::timestamptz, 'workspace daily cap of 1 emails reached')::text,
  'over the daily cap the row stays queued until the next day, with the reason');
update app.campaigns set status = 'archived' where id = :'cmp2';

-- ===========================================================================
-- 3. Send window in the org's time zone, weekdays only
-- ===========================================================================
select tests.create_org('guard-window', 'pro') as org3 \gset
update app.campaign_settings set window_start = '09:00', window_end = '17:00', time_zone = 'Europe/Berlin', weekdays_only = true
where org_id = :'org3';
insert into app.leads (org_id, first_name, email) values (:'org3', 'Wim', 'wim@example.com') returning id as lead3 \gset
insert into app.campaigns (org_id, name, status, steps) select :'org3', 'Window', 'active', steps from four_steps returning id as cmp3 \gset
select tests.authenticate_as(:'org3');
select app.enroll_lead(:'cmp3', :'lead3', '2026-06-06 12:00Z') ->> 'id' as enr3 \gset
select tests.clear_authentication();
select is(app.enqueue_due_steps('2026-06-06 12:00Z'), 0, 'nothing goes out on a Saturday');
select is((select row(next_step_at, deferred_reason)::text from app.enrollments where id = :'enr3'),
  row('2026-06-08 07:00Z'::timestamptz, 'outside the send window 09:00-17:00 Europe/Berlin on weekdays')::text,
  'it waits for Monday 09:00 Berlin time (07:00 UTC in summer)');
select is(app.enqueue_due_steps('2026-06-08 07:00Z'), 1, 'and goes out when the window opens');
select is((select (app._send_guard(:'org3', :'enr3', 1, '2026-06-08 15:30Z')).until), '2026-06-09 07:00Z'::timestamptz,
  'after 17:00 Berlin the next slot is the next weekday morning');
update app.campaigns set status = 'archived' where id = :'cmp3';

-- ===========================================================================
-- 4. The 48 h cooldown and step conditions
-- ===========================================================================
insert into app.leads (org_id, first_name, email) values (:'org', 'Cole', 'cole@example.com') returning id as lead4 \gset
insert into app.campaigns (org_id, name, status, steps) values (:'org', 'One step', 'active',
  '[{"delayMinutes":0,"subject":"Only","body":"once"}]') returning id as cmp4a \gset
insert into app.campaigns (org_id, name, status, steps) values (:'org', 'Next', 'active',
  '[{"delayMinutes":0,"subject":"First","body":"x"},{"delayMinutes":60,"subject":"Second","body":"y","condition":{"skipIf":"opened"}}]') returning id as cmp4b \gset
select tests.authenticate_as(:'org');
select app.enroll_lead(:'cmp4a', :'lead4', '2026-06-10 10:00Z') ->> 'id' as enr4a \gset
select tests.clear_authentication();
select app.enqueue_due_steps('2026-06-10 10:00Z');
select app.claim_outbox('w1', 10, '2 minutes', '2026-06-10 10:00Z') ->> 'id' as msg4 \gset
select app.begin_send(:'msg4', 'w1', '2026-06-10 10:00:01Z');
select app.complete_send(:'msg4', 'w1', '<m4>', '250', 'Only', 'once', '{}', '2026-06-10 10:00:02Z');
select is((select row(status, stop_reason, finished_at)::text from app.enrollments where id = :'enr4a'),
  row('completed', 'all 1 steps done', '2026-06-10 10:00:02Z'::timestamptz)::text, 'after its last step the enrolment completes');
select tests.authenticate_as(:'org');
select app.enroll_lead(:'cmp4b', :'lead4', '2026-06-10 12:00Z') ->> 'id' as enr4b \gset
select tests.clear_authentication();
select is(app.enqueue_due_steps('2026-06-10 12:00Z'), 0, 'a new sequence does not start within 48 h of the last one ending');
select is((select row(next_step_at, deferred_reason)::text from app.enrollments where id = :'enr4b'),
  row('2026-06-12 10:00:02Z'::timestamptz, '48 h cooldown after the lead''s previous sequence ended')::text, 'it waits for the cooldown');
select is(app.enqueue_due_steps('2026-06-12 10:00:02Z'), 1, 'and starts when it is over');
select app.claim_outbox('w1', 10, '2 minutes', '2026-06-12 10:00:02Z') ->> 'id' as msg4b \gset
select app.begin_send(:'msg4b', 'w1', '2026-06-12 10:00:03Z');
select app.complete_send(:'msg4b', 'w1', '<m4b>', '250', 'First', 'x', '{}', '2026-06-12 10:00:04Z');
insert into app.events (org_id, lead_id, type, occurred_at) values (:'org', :'lead4', 'email_opened', '2026-06-12 10:30Z');
select is(app.enqueue_due_steps('2026-06-12 11:00:04Z'), 0, 'a step whose condition is met is not queued');
select is((select row(status, reason)::text from app.outbox where enrollment_id = :'enr4b' and step_index = 1),
  row('skipped', 'condition skipIf opened met')::text, 'it is skipped with the reason');
select is((select status from app.enrollments where id = :'enr4b'), 'completed', 'and the enrolment moves past it');

-- ===========================================================================
-- 5. Crash safety and failures
-- ===========================================================================
insert into app.leads (org_id, first_name, email) values (:'org', 'Dee', 'dee@example.com') returning id as lead5 \gset
insert into app.leads (org_id, first_name, email) values (:'org', 'Eve', 'eve@example.com') returning id as lead6 \gset
insert into app.campaigns (org_id, name, status, steps) select :'org', 'Crash', 'active', steps from four_steps returning id as cmp5 \gset
select tests.authenticate_as(:'org');
select app.enroll_lead(:'cmp5', :'lead5', '2026-06-20 10:00Z') ->> 'id' as enr5 \gset
select tests.clear_authentication();
select app.enqueue_due_steps('2026-06-20 10:00Z');
select app.claim_outbox('dead-worker', 10, '2 minutes', '2026-06-20 10:00Z') ->> 'id' as msg5 \gset
-- The worker dies before sending; another claims after the lease.
select is(app.claim_outbox('w2', 10, '2 minutes', '2026-06-20 10:03Z') ->> 'id', :'msg5', 'an expired claim goes back to the queue and another worker gets it');
select is((select row(status, claimed_by, attempts)::text from app.outbox where id = :'msg5'), row('claimed', 'w2', 2)::text,
  'as its second attempt');
select is((select detail from app.enrollment_history where enrollment_id = :'enr5' and kind = 'retry'),
  'claim by dead-worker expired at 2026-06-20 10:02:00+00 before sending began: nothing was sent, queued again', 'the release is in the history');
select is(app.begin_send(:'msg5', 'dead-worker', '2026-06-20 10:03:01Z'), false, 'the worker that lost the claim may not send');
select is(app.begin_send(:'msg5', 'w2', '2026-06-20 10:03:01Z'), true, 'the new holder may');
-- w2 dies after the SMTP server accepted, before recording.
select is(app.release_expired_claims('2026-06-20 10:14Z'), 1, 'the sending lease (10 minutes) runs out');
select is((select status from app.outbox where id = :'msg5'), 'unconfirmed', 'an expired send becomes unconfirmed');
select matches((select reason from app.outbox where id = :'msg5'), 'never resent automatically', 'with the reason');
select is_empty(format($$ select c from app.claim_outbox('w3', 10, '2 minutes', '2026-06-25 10:00Z') c where c ->> 'id' = %L $$, :'msg5'),
  'an unconfirmed row is never claimed again');
select is((select current_step from app.enrollments where id = :'enr5'), 1, 'the sequence goes on with its next step');
select lives_ok(format($$ select app.complete_send(%L, 'w2', '<m5>', '250', 's', 'b', '{}', '2026-06-20 10:15Z') $$, :'msg5'),
  'a late confirmation from the worker still records it as sent');
update app.campaigns set status = 'archived' where id = :'cmp5';

insert into app.campaigns (org_id, name, status, steps) select :'org', 'Fail', 'active', steps from four_steps returning id as cmp6 \gset
select tests.authenticate_as(:'org');
select app.enroll_lead(:'cmp6', :'lead6', '2026-06-21 10:00Z') ->> 'id' as enr6 \gset
select tests.clear_authentication();
select app.enqueue_due_steps('2026-06-21 10:00Z');
select app.claim_outbox('w1', 10, '2 minutes', '2026-06-21 10:00Z') ->> 'id' as msg6 \gset
select app.fail_send(:'msg6', 'w1', '421 try later', false, '2026-06-21 10:00:05Z');
select is((select row(status, next_attempt_at, last_error)::text from app.outbox where id = :'msg6'),
  row('queued', '2026-06-21 10:01:05Z'::timestamptz, '421 try later')::text, 'a transient failure is retried after 1 minute');
select is_empty($$ select app.claim_outbox('w1', 10, '2 minutes', '2026-06-21 10:01Z') $$, 'not before the backoff');
select app.claim_outbox('w1', 10, '2 minutes', '2026-06-21 10:01:05Z');
select app.fail_send(:'msg6', 'w1', '421 again', false, '2026-06-21 10:01:06Z');
select is((select next_attempt_at from app.outbox where id = :'msg6'), '2026-06-21 10:03:06Z'::timestamptz, 'the backoff doubles');
select app.claim_outbox('w1', 10, '2 minutes', '2026-06-21 10:03:06Z');
select app.fail_send(:'msg6', 'w1', '550 no such user', true, '2026-06-21 10:03:07Z');
select is((select row(status, reason)::text from app.outbox where id = :'msg6'), row('failed', 'permanent failure')::text,
  'a permanent failure fails the row');
select is((select row(status, stop_reason)::text from app.enrollments where id = :'enr6'),
  row('stopped', 'send failed: 550 no such user')::text, 'and stops the enrolment with the reason');
select throws_ok(format($$ select app.fail_send(%L, 'w1', 'x', false) $$, :'msg6'), 'CR409', null, 'a finished row cannot fail again');

-- A stop between claim and send: begin_send refuses and cancels.
insert into app.leads (org_id, first_name, email) values (:'org', 'Flo', 'flo@example.com') returning id as lead7 \gset
insert into app.campaigns (org_id, name, status, steps) select :'org', 'Reply', 'active', steps from four_steps returning id as cmp7 \gset
select tests.authenticate_as(:'org');
select app.enroll_lead(:'cmp7', :'lead7', '2026-06-22 10:00Z') ->> 'id' as enr7 \gset
select tests.clear_authentication();
select app.enqueue_due_steps('2026-06-22 10:00Z');
select app.claim_outbox('w1', 10, '2 minutes', '2026-06-22 10:00Z') ->> 'id' as msg7 \gset
insert into app.events (org_id, lead_id, type, occurred_at) values (:'org', :'lead7', 'email_replied', '2026-06-22 10:00:30Z');
select is(app.begin_send(:'msg7', 'w1', '2026-06-22 10:00:31Z'), false, 'a lead that replied after the claim is not emailed');
select is((select row(status, reason)::text from app.outbox where id = :'msg7'),
  row('canceled', 'enrolment stopped before sending')::text, 'the row is canceled with the reason');

-- A paused campaign's mail waits in the queue.
insert into app.leads (org_id, first_name, email) values (:'org', 'Gus', 'gus@example.com') returning id as lead8 \gset
insert into app.campaigns (org_id, name, status, steps) select :'org', 'Pause', 'active', steps from four_steps returning id as cmp8 \gset
select tests.authenticate_as(:'org');
select app.enroll_lead(:'cmp8', :'lead8', '2026-06-23 10:00Z');
select tests.clear_authentication();
select app.enqueue_due_steps('2026-06-23 10:00Z');
update app.campaigns set status = 'paused' where id = :'cmp8';
select is_empty($$ select app.claim_outbox('w1', 10, '2 minutes', '2026-06-23 10:00:01Z') $$, 'rows of a paused campaign are not claimed');
update app.campaigns set status = 'active' where id = :'cmp8';
select is((select count(*)::int from app.claim_outbox('w1', 10, '2 minutes', '2026-06-23 10:00:02Z')), 1, 'and are once it resumes');
select throws_ok($$ select app.claim_outbox('', 10) $$, 'CR400', null, 'a claim needs a worker name');

-- ===========================================================================
-- Scheduling and privileges
-- ===========================================================================
select is((select schedule from cron.job where jobname = 'enqueue-due-steps'), '* * * * *', 'due steps are queued every minute by pg_cron');
select is((select command from app.scheduled_jobs where name = 'release-mail-claims'), 'select app.release_expired_claims()',
  'expired claims are released every minute too');
select lives_ok($$ select app.enqueue_due_steps(), app.release_expired_claims() $$, 'the cron commands are callable');
select ok(not has_function_privilege('authenticated', 'app.claim_outbox(text, integer, interval, timestamptz)', 'execute')
  and not has_function_privilege('anon', 'app.complete_send(text, text, text, text, text, text, text[], timestamptz)', 'execute'),
  'tenants and anonymous callers cannot run the worker functions');
select ok(has_function_privilege('service_role', 'app.claim_outbox(text, integer, interval, timestamptz)', 'execute')
  and has_function_privilege('service_role', 'app.begin_send(text, text, timestamptz)', 'execute')
  and has_function_privilege('service_role', 'app.fail_send(text, text, text, boolean, timestamptz)', 'execute'),
  'the service role (the worker) can');

select * from finish();
rollback;
