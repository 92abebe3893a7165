-- app.campaign_stats (GET /campaigns' stats, the dashboard's campaigns page): what it counts,
-- and that it counts only what the caller's org may see. The rows are arranged directly (the
-- triggers run as they would), so each rule is checked on its own.
begin;
select plan(4);

select tests.create_org('stats-a', 'pro') as org_a \gset
select tests.create_org('stats-b') as org_b \gset
select tests.create_lead(:'org_a', 'one@example.com') as l1 \gset
select tests.create_lead(:'org_a', 'two@example.com') as l2 \gset
select tests.create_lead(:'org_a', 'three@example.com') as l3 \gset
select tests.create_lead(:'org_a', 'four@example.com') as l4 \gset

insert into app.campaigns (org_id, name, status, steps) values (:'org_a', 'Stats', 'active',
  '[{"delayMinutes":0,"subject":"s","body":"b"},{"delayMinutes":60,"subject":"s2","body":"b2"}]') returning id as cmp \gset
insert into app.enrollments (id, org_id, campaign_id, lead_id, source, enrolled_at, status, finished_at, stop_reason) values
  ('enr_s1', :'org_a', :'cmp', :'l1', 'manual', now() - interval '3 days', 'active', null, null),
  ('enr_s2', :'org_a', :'cmp', :'l2', 'manual', now() - interval '3 days', 'stopped', now() - interval '1 day', 'email_replied'),
  ('enr_s3', :'org_a', :'cmp', :'l3', 'manual', now() - interval '3 days', 'active', null, null),
  ('enr_s4', :'org_a', :'cmp', :'l4', 'manual', now() - interval '3 days', 'completed', now() - interval '2 days', null);
insert into app.outbox (org_id, enrollment_id, campaign_id, lead_id, step_index, status, to_email, next_attempt_at) values
  (:'org_a', 'enr_s1', :'cmp', :'l1', 0, 'sent', 'one@example.com', now()),
  (:'org_a', 'enr_s1', :'cmp', :'l1', 1, 'sent', 'one@example.com', now()),
  (:'org_a', 'enr_s2', :'cmp', :'l2', 0, 'sent', 'two@example.com', now()),
  (:'org_a', 'enr_s3', :'cmp', :'l3', 0, 'queued', 'three@example.com', now());
insert into app.events (org_id, lead_id, type, occurred_at) values
  -- One lead opening twice counts once.
  (:'org_a', :'l1', 'email_opened', now() - interval '2 days'),
  (:'org_a', :'l1', 'email_opened', now() - interval '1 day'),
  -- The reply that stopped the enrolment counts, though it is its last moment.
  (:'org_a', :'l2', 'email_replied', now() - interval '1 day'),
  (:'org_a', :'l3', 'email_bounced', now() - interval '1 day'),
  (:'org_a', :'l3', 'unsubscribed', now() - interval '1 day'),
  -- Before the enrolment, or after it finished: not the campaign's doing.
  (:'org_a', :'l4', 'email_opened', now() - interval '4 days'),
  (:'org_a', :'l4', 'email_replied', now() - interval '1 day');

select is(app.campaign_stats(:'cmp'),
  '{"enrolled": 4, "sent": 3, "opened": 1, "replied": 1, "bounced": 1, "unsubscribed": 1}'::jsonb,
  'enrolled, emails sent (not queued), and leads that opened, replied, bounced or unsubscribed while enrolled, each lead once');

select tests.authenticate_as(:'org_a');
select is((app.campaign_stats(:'cmp') ->> 'enrolled')::int, 4, 'the campaign''s org sees its stats');
select tests.authenticate_as(:'org_b');
select is(app.campaign_stats(:'cmp'),
  '{"enrolled": 0, "sent": 0, "opened": 0, "replied": 0, "bounced": 0, "unsubscribed": 0}'::jsonb,
  'another org sees nothing of it: row-level security applies');
select tests.clear_authentication();

select function_privs_are('app', 'campaign_stats', array['text'], 'anon', array[]::text[], 'anon may not call it');

select * from finish();
rollback;
