-- The health of scheduled work, as GET /health reports it: app.job_health() compares the
-- declared jobs with pg_cron's (missing, registered otherwise) and reads their runs (failed,
-- overdue), and answers without error where pg_cron is absent (simulated by hiding the cron
-- schema); the mail workers' heartbeats; the outbox backlog. Runs are arranged by inserting
-- rows into cron.job_run_details with negative run ids, times backdated.
begin;
select plan(30);

-- Only the service role reads it.
select ok(has_function_privilege('service_role', f, 'execute') and not has_function_privilege('authenticated', f, 'execute')
          and not has_function_privilege('anon', f, 'execute'), format('%s: service_role only', f))
from unnest(array['app.job_health()', 'app.mail_worker_status()', 'app.outbox_backlog()',
                  'app.record_mail_worker_tick(text, integer, integer, integer, integer, integer, integer)']) f;

-- How often each schedule of the catalogue runs.
select results_eq($$ select app._cron_period(s) from unnest(array['* * * * *', '*/5 * * * *', '*/15 * * * *', '17 * * * *',
                                                                  '23 3 * * *', '0 4 * * 1', '30 seconds', '0 0 1 * *']) s $$,
  $$ values (interval '1 minute'), (interval '5 minutes'), (interval '15 minutes'), (interval '1 hour'),
            (interval '1 day'), (interval '7 days'), (interval '30 seconds'), (null::interval) $$,
  'schedules are read as every minute, 5 and 15 minutes, hourly, daily, weekly, 30 seconds; a monthly one is not judged');

-- With every declared job registered and no run failed, nothing is reported.
select app.schedule_jobs();
delete from cron.job_run_details;
select is(app.job_health() ->> 'pgCron', 'installed', 'pg_cron is reported installed');
select ok(app.job_health() ->> 'scheduler' in ('running', 'stopped', 'unknown'), 'the scheduler is reported running, stopped or unknown');
select is(app.job_health() -> 'missing', '[]'::jsonb, 'no declared job is missing');
select is(app.job_health() -> 'outdated', '[]'::jsonb, 'none is registered otherwise');
select is(app.job_health() -> 'failing', '[]'::jsonb, 'none is failing');

-- A job unregistered from pg_cron is missing.
select cron.unschedule('purge-sync-events');
select is(app.job_health() -> 'missing', '["purge-sync-events"]'::jsonb, 'a job unregistered from pg_cron is reported missing, by name');

-- A job registered with another schedule, or paused, is outdated.
select cron.alter_job(jobid, schedule := '*/2 * * * *') from cron.job where jobname = 'no-touch-automation';
select cron.alter_job(jobid, active := false) from cron.job where jobname = 'rescore-leads';
select is(app.job_health() -> 'outdated',
  '[{"name": "no-touch-automation", "reason": "schedule differs"}, {"name": "rescore-leads", "reason": "inactive"}]'::jsonb,
  'a job registered with another schedule, or paused, is reported outdated, with the reason');
select app.schedule_jobs();
select cron.alter_job(jobid, active := true) from cron.job where jobname = 'rescore-leads';
select is(app.job_health() -> 'missing', '[]'::jsonb, 'app.schedule_jobs() registers the missing job again');

-- Runs: purge-idempotency-keys (hourly) succeeded 3 hours ago, then failed twice, the last an hour ago.
create function pg_temp.run(p_job text, p_runid bigint, p_status text, p_message text, p_ago interval) returns void language sql as $$
  insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
  select j.jobid, p_runid, 0, current_database(), current_user, j.command, p_status, p_message, now() - p_ago, now() - p_ago
  from cron.job j where j.jobname = p_job
$$;
select pg_temp.run('purge-idempotency-keys', -1, 'succeeded', '1 row', interval '3 hours');
select pg_temp.run('purge-idempotency-keys', -2, 'failed', 'ERROR:  canceling statement due to statement timeout', interval '2 hours');
select pg_temp.run('purge-idempotency-keys', -3, 'failed', 'ERROR:  relation "app.idempotency_keys" does not exist', interval '50 minutes');
select is(jsonb_array_length(app.job_health() -> 'failing'), 1, 'a job whose last runs failed is reported failing');
select is(app.job_health() #>> '{failing,0,name}', 'purge-idempotency-keys', '… by name');
select is((app.job_health() #>> '{failing,0,failedRuns}')::integer, 2, '… with the failed runs since its last success');
select is(app.job_health() #>> '{failing,0,lastError}', 'ERROR:  relation "app.idempotency_keys" does not exist', '… and the last error');
select is((app.job_health() #>> '{failing,0,overdue}')::boolean, false, '… not overdue: an hourly job ran 50 minutes ago');

-- A success after the failures clears it.
select pg_temp.run('purge-idempotency-keys', -4, 'succeeded', '1 row', interval '1 minute');
select is(app.job_health() -> 'failing', '[]'::jsonb, 'a job whose latest run succeeded is not failing any more');

-- An every-minute job whose last run started 20 minutes ago is overdue; one going on is not judged failed.
select pg_temp.run('release-mail-claims', -5, 'succeeded', '1 row', interval '20 minutes');
select pg_temp.run('enqueue-due-steps', -6, 'running', null, interval '10 seconds');
select is((app.job_health() -> 'failing' -> 0) - 'lastRunAt',
  '{"name": "release-mail-claims", "overdue": true, "lastError": null, "failedRuns": 0}'::jsonb,
  'an every-minute job that last started 20 minutes ago is reported overdue');
select is(jsonb_array_length(app.job_health() -> 'failing'), 1, 'a run still going is neither failed nor overdue');

-- pg_cron absent (its schema hidden for this transaction, where this role owns it, as locally;
-- skipped elsewhere): every job missing, a hint, no error.
create temporary table cron_hidden (hidden boolean) on commit drop;
do $$
begin
  alter schema cron rename to cron_hidden_by_test;
  insert into cron_hidden values (true);
exception when insufficient_privilege then
  insert into cron_hidden values (false);
end
$$;
select case when not (select hidden from cron_hidden) then skip('this role may not rename schema cron', 4) else collect_tap(
  lives_ok('select app.job_health()', 'without pg_cron the health check answers, without error'),
  is(app.job_health() ->> 'pgCron', 'absent', 'it reports pg_cron absent'),
  is(app.job_health() -> 'missing', (select jsonb_agg(name order by name) from app.scheduled_jobs), '… every declared job missing'),
  ok(app.job_health() ->> 'hint' like 'Enable pg_cron: on Supabase, Database → Extensions → pg_cron%shared_preload_libraries%cron.database_name%',
    '… and what to enable, on Supabase and self-hosted')) end;
do $$
begin
  if (select hidden from cron_hidden) then
    alter schema cron_hidden_by_test rename to cron;
  end if;
end
$$;

-- Heartbeats: one row per worker, its ticks counted, the last tick's counts kept.
select app.record_mail_worker_tick('test-worker-a', 0, 2, 1, 0, 1, 0);
select app.record_mail_worker_tick('test-worker-a', 1, 3, 3, 0, 0, 0);
select results_eq($$ select w -> 'ticks', w -> 'lastTick' from jsonb_array_elements(app.mail_worker_status() -> 'workers') w
                     where w ->> 'name' = 'test-worker-a' $$,
  $$ values ('2'::jsonb, '{"enqueued": 1, "claimed": 3, "sent": 3, "failed": 0, "deferred": 0, "skipped": 0}'::jsonb) $$,
  'a worker''s ticks are counted and its last tick''s counts kept');
update app.mail_worker_heartbeats set last_seen = now() - interval '2 days' where worker = 'test-worker-a';
select app.record_mail_worker_tick('test-worker-b', 0, 0, 0, 0, 0, 0);
select is((select count(*)::integer from app.mail_worker_heartbeats where worker = 'test-worker-a'), 0,
  'a worker silent for more than a day is forgotten at the next heartbeat');

-- The backlog: queued rows of active campaigns; due ones and the oldest one's wait.
select app.outbox_backlog() as before \gset
create function pg_temp.queue_mail(p_org text, p_due interval) returns void language plpgsql as $$
declare
  v_campaign text;
  v_lead text := tests.create_lead(p_org);
  v_enrollment text;
begin
  insert into app.campaigns (org_id, name, status, steps) values (p_org, 'Backlog ' || gen_random_uuid(), 'active',
    '[{"delayMinutes": 0, "subject": "Hi", "body": "Hello"}]') returning id into v_campaign;
  insert into app.enrollments (org_id, campaign_id, lead_id, source) values (p_org, v_campaign, v_lead, 'manual') returning id into v_enrollment;
  insert into app.outbox (org_id, enrollment_id, campaign_id, lead_id, step_index, to_email, next_attempt_at)
  values (p_org, v_enrollment, v_campaign, v_lead, 0, 'someone@example.com', now() - p_due);
end
$$;
select tests.create_org('backlog', 'ultra') as org \gset
select pg_temp.queue_mail(:'org', interval '2 hours');
select pg_temp.queue_mail(:'org', interval '-1 day');
select is((app.outbox_backlog() ->> 'queued')::integer - (:'before'::jsonb ->> 'queued')::integer, 2, 'queued counts every waiting email');
select is((app.outbox_backlog() ->> 'due')::integer - (:'before'::jsonb ->> 'due')::integer, 1, 'due counts the ones sendable now');
select ok((app.outbox_backlog() ->> 'oldestDueSeconds')::integer >= 7200, 'oldestDueSeconds is the oldest due email''s wait');

select * from finish();
rollback;
