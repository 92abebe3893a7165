-- Outbound webhooks: subscriptions (known event types, the secret no tenant can read, RLS),
-- the fan-out in the changing transaction (every source, tenancy, nothing for a rolled-back
-- change or an unchanged lead, statement-level), and the outbox as workers use it (claim
-- with skip locked, the retry schedule, giving up, disabling, expired leases, redelivery).
begin;
select plan(70);

select tests.create_org('wh-a', 'ultra') as org_a \gset
select tests.create_org('wh-b', 'ultra') as org_b \gset
select tests.create_org('wh-quiet') as org_quiet \gset

-- ---------------------------------------------------------------------------
-- Subscriptions and their secret
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
select id as sub_all, secret as secret_all from app.create_webhook_subscription('https://hooks.example.com/all', array['*']) \gset
select id as sub_leads from app.create_webhook_subscription('https://hooks.example.com/leads',
  array['lead.updated', 'lead.created', 'lead.created']) \gset

select matches(:'sub_all'::text, '^wh_[0-9a-f]{24}$', 'subscription ids are wh_ followed by 24 hex digits');
select matches(:'secret_all'::text, '^whsec_[A-Za-z0-9+/]{43}=$', 'the secret is whsec_ and 32 random bytes in base64, as Standard Webhooks writes it');
select is((select event_types from app.webhook_subscriptions where id = :'sub_leads'), array['lead.created', 'lead.updated'],
  'event types are deduplicated and sorted');
select throws_ok($$ select secret from app.webhook_subscriptions $$, '42501', null,
  'the org cannot read its own subscription''s secret back');
select throws_ok($$ select * from app.webhook_subscriptions $$, '42501', null, 'nor with select *');
select throws_ok($$ select previous_secret from app.webhook_subscriptions $$, '42501', null, 'nor the previous secret');
select is((select count(*)::int from app.webhook_subscriptions), 2, 'every other column is readable');
select is(tests.refusal($$ select app.create_webhook_subscription('https://hooks.example.com/x', array['lead.created', 'lead.exploded']) $$),
  'CR400 unknown_webhook_event_type', 'an unknown event type is refused');
select ok(tests.hint_of($$ select app.create_webhook_subscription('https://hooks.example.com/x', array['lead.exploded']) $$)
  like 'Use one or more of: lead.created, lead.updated, lead.stage_changed, lead.deleted, enrichment.completed, email.sent,%',
  'the hint lists the catalogue in order');
select is(tests.refusal($$ select app.create_webhook_subscription('https://hooks.example.com/x', array[]::text[]) $$),
  'CR400 no_event_types', 'a subscription needs an event type');
select throws_ok($$ select app.create_webhook_subscription('ftp://hooks.example.com/x', array['*']) $$, '23514', null,
  'the URL must be http(s)');

select id as rotated, secret as secret_new from app.rotate_webhook_secret(:'sub_leads') \gset
select isnt(:'secret_new'::text, :'secret_all'::text, 'rotation returns a new secret');
select is(tests.refusal(format($$ select app.rotate_webhook_secret(%L) $$, 'wh_000000000000000000000000')), 'CR404 not_found',
  'rotating an unknown subscription is 404');
select tests.clear_authentication();
select is((select (secret = :'secret_new', previous_secret is not null,
                   previous_secret_expires_at between now() + interval '23 hours' and now() + interval '25 hours')::text
           from app.webhook_subscriptions where id = :'sub_leads'), '(t,t,t)',
  'the rotated subscription keeps the old secret for 24 hours');

-- ---------------------------------------------------------------------------
-- Tenancy of the tables
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.webhook_subscriptions), 0, 'org B sees none of org A''s subscriptions');
update app.webhook_subscriptions set url = 'https://evil.example.com/' where id = :'sub_all';
select tests.clear_authentication();
select is((select url from app.webhook_subscriptions where id = :'sub_all'), 'https://hooks.example.com/all',
  'org B cannot repoint org A''s subscription');
select tests.authenticate_as(:'org_b');
select throws_ok(format($$ insert into app.webhook_subscriptions (org_id, url, event_types) values (%L, 'https://evil.example.com/', '{*}') $$, :'org_a'),
  '42501', null, 'org B cannot plant a subscription in org A');
select is(tests.refusal(format($$ select app.rotate_webhook_secret(%L) $$, :'sub_all')), 'CR404 not_found',
  'org B cannot rotate org A''s secret');
select id as sub_b from app.create_webhook_subscription('https://hooks.example.com/b', array['*']) \gset
select tests.clear_authentication();

select ok(not has_function_privilege('authenticated', 'app.claim_webhook_deliveries(text, integer, interval, timestamptz)', 'execute'),
  'tenants cannot claim deliveries');
select ok(not has_function_privilege('anon', 'app.create_webhook_subscription(text, text[], text, boolean)', 'execute'),
  'anon cannot create subscriptions');
select ok(not has_table_privilege('authenticated', 'app.webhook_deliveries', 'update'), 'tenants cannot change deliveries');

-- ---------------------------------------------------------------------------
-- The fan-out
-- ---------------------------------------------------------------------------
create temporary view deliveries_of as
  select d.org_id, d.subscription_id, d.id, d.status, d.attempts, d.next_attempt_at, e.id as event_id, e.type, e.data
  from app.webhook_deliveries d join app.webhook_events e on e.org_id = d.org_id and e.id = d.event_id;
grant select on deliveries_of to authenticated;

select tests.authenticate_as(:'org_a');
insert into app.leads (first_name, email) values ('Ann', 'ann@a.example'), ('Bob', 'bob@a.example'), ('Cy', 'cy@a.example');
select tests.clear_authentication();
select is((select count(*)::int from app.webhook_events where org_id = :'org_a' and type = 'lead.created'), 3,
  'one multi-row insert: one lead.created event per lead');
select is((select count(*)::int from deliveries_of where org_id = :'org_a' and type = 'lead.created'), 6,
  'and one delivery per subscription that wants it (two)');
select is((select data -> 'lead' ->> 'stage' from deliveries_of where data -> 'lead' ->> 'email' = 'ann@a.example' limit 1), 'Prospects',
  'the payload carries the lead with its stage name');
select ok((select data -> 'lead' ->> 'createdAt' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$' from deliveries_of limit 1),
  'times are ISO 8601 in UTC, as the API writes them');
select is((select count(*)::int from app.webhook_events where org_id = :'org_b'), 0, 'org A''s leads reach none of org B''s subscriptions');

select tests.authenticate_as(:'org_quiet');
insert into app.leads (first_name, email) values ('Quiet', 'quiet@q.example');
select tests.clear_authentication();
select is((select count(*)::int from app.webhook_events where org_id = :'org_quiet'), 0, 'an org without subscriptions writes no events');

select tests.authenticate_as(:'org_a');
update app.leads set first_name = 'Ann' where email = 'ann@a.example';
update app.leads set last_touch_at = now() where email = 'ann@a.example';
select tests.clear_authentication();
select is((select count(*)::int from app.webhook_events where org_id = :'org_a' and type = 'lead.updated'), 0,
  'an update that changes nothing visible (same name, last touch) sends nothing');

select tests.authenticate_as(:'org_a');
update app.leads set first_name = 'Anne', tier = 'high' where email = 'ann@a.example';
select tests.clear_authentication();
select is((select data -> 'changedFields' from app.webhook_events where org_id = :'org_a' and type = 'lead.updated'),
  '["firstName", "tier"]'::jsonb, 'lead.updated names the fields that changed');
select is((select data -> 'previous' from app.webhook_events where org_id = :'org_a' and type = 'lead.updated'),
  '{"firstName": "Ann", "tier": null}'::jsonb, 'and their previous values');
select is((select count(*)::int from deliveries_of where org_id = :'org_a' and type = 'lead.updated'), 2,
  'delivered to both subscriptions that want lead.updated');

select tests.authenticate_as(:'org_a');
update app.leads set stage_id = (select id from app.stages where name = 'Engaged') where email = 'bob@a.example';
select tests.clear_authentication();
select is((select data ->> 'fromStage' || ' -> ' || (data ->> 'toStage') || ' / ' || (data -> 'lead' ->> 'stage')
           from app.webhook_events where org_id = :'org_a' and type = 'lead.stage_changed'),
  'Prospects -> Engaged / Engaged', 'a stage move is lead.stage_changed with from and to');
select is((select count(*)::int from deliveries_of where org_id = :'org_a' and type = 'lead.stage_changed'), 1,
  'only the subscription that wants it gets it');
select is((select count(*)::int from app.webhook_events where org_id = :'org_a' and type = 'lead.updated'), 1,
  'a stage move alone is not lead.updated');

select tests.authenticate_as(:'org_a');
update app.leads set deleted_at = now() where email = 'cy@a.example';
delete from app.leads where email = 'cy@a.example';
select tests.clear_authentication();
select is((select array_agg(data ->> 'permanent' order by created_at, data ->> 'permanent') from app.webhook_events
           where org_id = :'org_a' and type = 'lead.deleted'), array['false', 'true'],
  'a soft delete and a permanent delete are each lead.deleted');

-- Enrichment as app.finish_enrichment writes it.
update app.leads set enrichment_status = 'enriching', enrichment_started_at = now() where email = 'bob@a.example';
update app.leads set enrichment_status = 'complete', enriched_at = now(), title = 'CTO',
  enrichment = '{"tier": "high", "sources": ["website"], "confidence": {"overall": 0.7, "label": "high"}}'
where email = 'bob@a.example';
select is((select data ->> 'tier' || ' ' || (data ->> 'confidenceLabel') || ' ' || (data -> 'changedFields')::text
           from app.webhook_events where org_id = :'org_a' and type = 'enrichment.completed'),
  'high high ["title"]', 'a completed run is enrichment.completed with its tier, label and the fields it changed');
select is((select count(*)::int from app.webhook_events where org_id = :'org_a' and type = 'lead.updated'), 1,
  'starting and completing a run are not lead.updated');

-- Engagement events, whoever records them.
select tests.authenticate_as(:'org_a');
select app.record_bounce('bob@a.example', 'hard', 'mailbox unknown', 'msg-1');
select app.record_event((select id from app.leads where email = 'bob@a.example'), 'quiz_completed', '{"score": 80, "quizId": "quiz_x"}');
select app.record_event((select id from app.leads where email = 'bob@a.example'), 'cta_clicked');
select tests.clear_authentication();
select is((select data ->> 'type' || ' ' || (data ->> 'reason') || ' ' || (data -> 'lead' ->> 'email')
           from app.webhook_events where org_id = :'org_a' and type = 'email.bounced'),
  'hard mailbox unknown bob@a.example', 'email_bounced becomes email.bounced with the event data and the lead');
select is((select (data ->> 'score') from app.webhook_events where org_id = :'org_a' and type = 'quiz.completed'), '80',
  'quiz_completed becomes quiz.completed');
select is((select count(*)::int from app.webhook_events where org_id = :'org_a' and type not like 'lead.%'
           and type not in ('enrichment.completed', 'email.bounced', 'quiz.completed')), 0,
  'an engagement event the catalogue does not map (cta_clicked) sends nothing');

-- Feedback answered by the operator.
select tests.authenticate_as(:'org_a');
insert into app.feedback (type, title) values ('bug', 'Webhooks?') returning id as fb \gset
select tests.clear_authentication();
set local role service_role;
select app.respond_to_feedback(:'fb', 'resolved', 'Shipped.');
reset role;
select is((select data ->> 'feedbackId' || ' ' || (data ->> 'status') || ' ' || (data ->> 'response')
           from app.webhook_events where org_id = :'org_a' and type = 'feedback.answered'),
  :'fb' || ' resolved Shipped.', 'an operator response is feedback.answered');

-- A change that rolls back leaves no event behind.
select tests.authenticate_as(:'org_a');
select throws_ok($$ do $do$ begin
    insert into app.leads (first_name, email) values ('Ghost', 'ghost@a.example');
    raise exception 'rolled back';
  end $do$ $$, 'P0001', 'rolled back', 'a change that fails ...');
select tests.clear_authentication();
select is((select count(*)::int from app.webhook_events where data -> 'lead' ->> 'email' = 'ghost@a.example'), 0,
  '... leaves no event and no delivery behind');

-- A disabled subscription gets nothing new.
update app.webhook_subscriptions set enabled = false where id = :'sub_leads';
select tests.authenticate_as(:'org_a');
insert into app.leads (first_name, email) values ('Dee', 'dee@a.example');
select tests.clear_authentication();
select is((select count(*)::int from deliveries_of where data -> 'lead' ->> 'email' = 'dee@a.example'), 1,
  'a disabled subscription gets no deliveries for new events (the enabled one does)');
select ok((select disabled_at is not null and disabled_reason is null from app.webhook_subscriptions where id = :'sub_leads'),
  'switching it off stamps disabled_at, with no reason (the org did it)');

-- ---------------------------------------------------------------------------
-- Workers: claim, outcomes, schedule, disabling
-- ---------------------------------------------------------------------------
select is(array[app.webhook_retry_delay(1), app.webhook_retry_delay(2), app.webhook_retry_delay(3), app.webhook_retry_delay(4),
                app.webhook_retry_delay(5), app.webhook_retry_delay(6), app.webhook_retry_delay(7)],
  array[interval '5 seconds', interval '5 minutes', interval '30 minutes', interval '2 hours', interval '5 hours',
        interval '10 hours', interval '10 hours'], 'retries wait 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h');
select is(app.webhook_retry_delay(8), null, 'the 8th attempt is the last');
select ok((select sum(app.webhook_retry_delay(n)) from generate_series(1, 7) n) >= interval '24 hours',
  'a delivery is retried for at least 24 hours');

-- Only org A's and B's deliveries exist in this transaction.
delete from app.webhook_deliveries where org_id not in (:'org_a', :'org_b');
set local role service_role;
select count(*)::int as claimed from app.claim_webhook_deliveries('w1', 3) \gset
select is(:claimed, 3, 'a claim takes at most its limit');
select is((select count(*)::int from app.webhook_deliveries where status = 'sending' and claimed_by = 'w1' and attempts = 1
           and lease_until > now()), 3, 'claimed deliveries are sending, leased to the worker, attempt 1');
select is((select count(*)::int from app.claim_webhook_deliveries('w2', 1000) c
           where c ->> 'id' in (select id from app.webhook_deliveries where claimed_by = 'w1')), 0,
  'another worker never gets a claimed delivery');
reset role;

select d.org_id as d_org, d.id as d_id, d.event_id as d_event from app.webhook_deliveries d
where d.claimed_by = 'w1' order by d.id limit 1 \gset
set local role service_role;
select is(app.fail_webhook_delivery(:'d_org', :'d_id', 'w1', 500, 'HTTP 500', 12, 'oops'), 'retry', 'a failed first attempt is retried');
reset role;
select ok((select status = 'pending' and next_attempt_at between now() + interval '5 seconds' and now() + interval '6 seconds'
                  and last_status_code = 500 and last_response = 'oops' and claimed_by is null
           from app.webhook_deliveries where id = :'d_id'), '5 s later, up to 20 % more, with the answer recorded');
select is((select consecutive_failures from app.webhook_subscriptions s join app.webhook_deliveries d
             on d.org_id = s.org_id and d.subscription_id = s.id where d.id = :'d_id'), 1, 'the endpoint''s failure streak grows');
set local role service_role;
select is(app.fail_webhook_delivery(:'d_org', :'d_id', 'w1', 500, 'HTTP 500', 12, null), 'ignored',
  'a worker that no longer holds the delivery cannot record for it');
reset role;

select d.id as d2 from app.webhook_deliveries d where d.claimed_by = 'w1' and d.status = 'sending' order by d.id limit 1 \gset
set local role service_role;
select ok(app.complete_webhook_delivery(:'d_org', :'d2', 'w1', 204, 30, null), 'a 2xx completes the delivery');
reset role;
select ok((select status = 'delivered' and delivered_at is not null from app.webhook_deliveries where id = :'d2'), 'it is delivered');
select is((select consecutive_failures::text || coalesce(failing_since::text, ' none') from app.webhook_subscriptions s
           join app.webhook_deliveries d on d.org_id = s.org_id and d.subscription_id = s.id where d.id = :'d2'), '0 none',
  'a success ends the failure streak');

-- A worker that died: its lease runs out, the delivery goes out again under the same event.
select d.id as d3, d.event_id as d3_event from app.webhook_deliveries d
where d.claimed_by = 'w1' and d.status = 'sending' order by d.id limit 1 \gset
update app.webhook_deliveries set lease_until = now() - interval '1 second' where id = :'d3';
set local role service_role;
select is((select c ->> 'webhookId' from app.claim_webhook_deliveries('w3', 1000) c where c ->> 'id' = :'d3'), :'d3_event',
  'after the lease runs out another worker claims it again, with the same webhook-id');
reset role;
select is((select attempts::text || ' ' || claimed_by || ' ' || (last_error like 'w1 stopped before the endpoint answered%')::text
           from app.webhook_deliveries where id = :'d3'), '2 w3 true', 'as attempt 2, saying why');

-- Redelivery.
select tests.authenticate_as(:'org_a');
select is(tests.refusal(format($$ select app.redeliver_webhook(%L, %L) $$, (select subscription_id from deliveries_of where id = :'d3'), :'d3')),
  'CR409 delivery_in_progress', 'a delivery in flight cannot be redelivered');
select lives_ok(format($$ select app.redeliver_webhook(%L, %L) $$, (select subscription_id from deliveries_of where id = :'d2'), :'d2'),
  'a delivered one can');
select is((select status || ' ' || attempts || ' ' || redeliveries from app.webhook_deliveries where id = :'d2'), 'pending 0 1',
  'it is pending again, with a fresh retry schedule');
select is(tests.refusal(format($$ select app.redeliver_webhook(%L, %L) $$, :'sub_leads', :'d2')), 'CR404 not_found',
  'a delivery is addressed through its own subscription');
select tests.clear_authentication();
select tests.authenticate_as(:'org_b');
select is(tests.refusal(format($$ select app.redeliver_webhook(%L, %L) $$, (select subscription_id from app.webhook_deliveries where id = :'d2'), :'d2')),
  'CR404 not_found', 'org B cannot redeliver org A''s delivery');
select tests.clear_authentication();

-- The last attempt, and an endpoint that has failed for a day.
update app.webhook_deliveries set status = 'sending', claimed_by = 'w1', attempts = 8 where id = :'d_id';
update app.webhook_subscriptions s set consecutive_failures = 7, failing_since = now() - interval '25 hours'
from app.webhook_deliveries d where d.id = :'d_id' and s.org_id = d.org_id and s.id = d.subscription_id;
set local role service_role;
select is(app.fail_webhook_delivery(:'d_org', :'d_id', 'w1', null, 'no answer within 10000 ms', 10000, null), 'disabled',
  'the 8th failure in a row after 24 hours of failures disables the subscription');
reset role;
select is((select status from app.webhook_deliveries where id = :'d_id'), 'failed', 'the 8th attempt failing fails the delivery');
select ok((select not enabled and disabled_reason like 'Disabled at %: every delivery attempt since % failed (8 in a row; the last: no answer within 10000 ms)'
           from app.webhook_subscriptions s join app.webhook_deliveries d on d.org_id = s.org_id and d.subscription_id = s.id
           where d.id = :'d_id'), 'the subscription says why it was disabled');

-- Retention.
select tests.authenticate_as(:'org_b');
insert into app.leads (first_name, email) values ('Old', 'old@b.example');
select tests.clear_authentication();
update app.webhook_deliveries set created_at = now() - interval '31 days' where org_id = :'org_b';
update app.webhook_events set created_at = now() - interval '31 days' where org_id = :'org_b';
set local role service_role;
select ok(app.purge_webhook_deliveries() >= 0, 'the purge runs');
reset role;
select is((select count(*)::int from app.webhook_events where org_id = :'org_b'), 0, 'events older than 30 days go with their deliveries');

select * from finish();
rollback;
