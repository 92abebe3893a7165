-- Scheduled work: the one catalogue of pg_cron jobs. A job is a row of
-- app.scheduled_jobs (name, schedule, command), and app.schedule_jobs() registers every row
-- with pg_cron by name: cron.schedule replaces a job of the same name, so registering again
-- is always safe. Each command calls a function that lives with its domain (the file is
-- named on the job's line), so a test can call the same function directly.
-- Also here: app.purge_cron_history, which keeps pg_cron's own run history in bounds, and
-- app.schedule_mail_worker_http, which adds the mail-worker-http job on Supabase.

-- ---------------------------------------------------------------------------
-- The catalogue
-- ---------------------------------------------------------------------------
create table app.scheduled_jobs (
  name text primary key,
  schedule text not null,
  command text not null
);
comment on table app.scheduled_jobs is 'The pg_cron jobs the application needs; app.schedule_jobs() registers them.';
alter table app.scheduled_jobs enable row level security;
alter table app.scheduled_jobs force row level security;
create policy "Scheduled jobs are visible to the service role" on app.scheduled_jobs
  for select to service_role using (true);
grant select on app.scheduled_jobs to service_role;

-- Every job, one line each: when it runs (UTC by default), what it does, and where its
-- function is.
insert into app.scheduled_jobs (name, schedule, command) values
  -- every minute: fail leads left enriching for 5 minutes by an interrupted request (52_enrichment.sql)
  ('fail-stuck-enrichments', '* * * * *', $$select app.fail_stuck_enrichments(interval '5 minutes')$$),
  -- every minute: move due campaign steps into the outbox, through the guardrails (74_outbox.sql)
  ('enqueue-due-steps', '* * * * *', 'select app.enqueue_due_steps()'),
  -- every minute: requeue mail claims, and mark sends unconfirmed, whose lease ran out (74_outbox.sql)
  ('release-mail-claims', '* * * * *', 'select app.release_expired_claims()'),
  -- every 5 minutes: fail meeting bots left 'scheduling' by a process that died (82_calendly.sql)
  ('fail-interrupted-meeting-bots', '*/5 * * * *', 'select app.fail_interrupted_meeting_bots()'),
  -- every 10 minutes: delete rate-limit buckets that are full again (22_rate_limits.sql)
  ('purge-rate-limit-buckets', '*/10 * * * *', 'select app.purge_rate_limit_buckets()'),
  -- every 15 minutes: move idle leads by their org's no_touch automation rules (62_automation.sql)
  ('no-touch-automation', '*/15 * * * *', 'select app.run_no_touch_rules()'),
  -- hourly at :17: delete Idempotency-Key records older than 24 hours (25_idempotency.sql)
  ('purge-idempotency-keys', '17 * * * *', 'select app.purge_idempotency_keys()'),
  -- hourly at :41: delete expired enrichment provider answers (52_enrichment.sql)
  ('purge-enrichment-cache', '41 * * * *', 'select app.purge_enrichment_cache()'),
  -- daily at 03:23: rescore every live lead, for time decay (56_scoring.sql)
  ('rescore-leads', '23 3 * * *', 'select app.rescore_all_leads()'),
  -- daily at 03:41: delete sync events older than 30 days (48_sync_sources.sql)
  ('purge-sync-events', '41 3 * * *', 'select app.purge_sync_events()'),
  -- daily at 03:43: delete pg_cron run history older than a week (below)
  ('purge-cron-history', '43 3 * * *', 'select app.purge_cron_history()'),
  -- daily at 03:47: delete webhook deliveries older than 30 days (86_webhooks.sql)
  ('purge-webhook-deliveries', '47 3 * * *', 'select app.purge_webhook_deliveries()');
-- Not in the list: mail-worker-http, which app.schedule_mail_worker_http (below) adds after
-- a deploy to Supabase.

-- ---------------------------------------------------------------------------
-- Registering the catalogue with pg_cron
-- ---------------------------------------------------------------------------
create function app.schedule_jobs() returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_job record;
    v_count integer := 0;
  begin
    if pg_catalog.to_regnamespace('cron') is null then
      raise notice 'pg_cron is not installed in this database: no jobs scheduled';
      return 0;
    end if;
    for v_job in select j.name, j.schedule, j.command from app.scheduled_jobs j order by j.name loop
      -- Dynamic so the function compiles (and lints) where pg_cron is absent.
      execute 'select cron.schedule($1, $2, $3)' using v_job.name, v_job.schedule, v_job.command;
      v_count := v_count + 1;
    end loop;
    return v_count;
  end;
  $$;
comment on function app.schedule_jobs() is 'Registers every job in app.scheduled_jobs with pg_cron by name (replacing older definitions); returns how many; a no-op without pg_cron.';
revoke execute on function app.schedule_jobs() from public;

-- ---------------------------------------------------------------------------
-- pg_cron's own history: pg_cron keeps a row per job run in cron.job_run_details forever;
-- with jobs every minute that grows without bound. The purge-cron-history job keeps a week.
-- ---------------------------------------------------------------------------
create function app.purge_cron_history(p_keep interval default '7 days') returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    if pg_catalog.to_regclass('cron.job_run_details') is null then
      return 0;
    end if;
    -- Dynamic so the function compiles (and lints) where pg_cron is absent. A run still
    -- going has no end_time yet: it is kept.
    execute 'delete from cron.job_run_details d where d.end_time < pg_catalog.now() - $1' using p_keep;
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_cron_history(interval) is 'Deletes pg_cron run history (cron.job_run_details) that ended more than p_keep ago; returns how many; 0 without pg_cron.';
revoke execute on function app.purge_cron_history(interval) from public;
grant execute on function app.purge_cron_history(interval) to service_role;

-- ---------------------------------------------------------------------------
-- The mail worker over HTTP. On Supabase nothing runs `npm run worker`: pg_cron calls the
-- Edge Function's POST /api/openclaw/internal/mail/run through pg_net every minute
-- instead, and the function runs one worker tick (claim, send, record). Called once after
-- deploy:
--   select app.schedule_mail_worker_http('https://<ref>.supabase.co/functions/v1/openclaw/api/openclaw/internal/mail/run', '<MAIL_WORKER_SECRET>');
-- Calling it again replaces the job (new URL or secret). The job is a row of
-- app.scheduled_jobs like every other, so registering the catalogue again keeps it.
-- ---------------------------------------------------------------------------
create function app.schedule_mail_worker_http(p_url text, p_secret text) returns text
  language plpgsql
  -- Writes app.scheduled_jobs and registers the pg_cron job, which its caller may not.
  security definer
  set search_path = ''
  as $$
  declare
    v_command text;
  begin
    -- pg_net's net.http_post, by signature (the extension lives in schema net).
    if pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
      perform app.refuse(400, 'pg_net_not_installed',
        'The pg_net extension is not installed in this database, so pg_cron cannot call the mail worker over HTTP',
        'On Supabase enable pg_net (Database → Extensions, or: create extension pg_net;) and call this again. Without pg_net run the worker as a process instead: npm run worker.');
    end if;
    if pg_catalog.to_regnamespace('cron') is null then
      perform app.refuse(400, 'pg_cron_not_installed',
        'The pg_cron extension is not installed in this database, so nothing would call the mail worker',
        'Enable pg_cron (Database → Extensions) and call this again, or run npm run worker instead.');
    end if;
    if p_url is null or p_url !~ '^https?://[^/\s]+/\S*internal/mail/run$' then
      perform app.refuse(400, 'invalid_url',
        pg_catalog.format('%s is not the mail worker route''s URL', coalesce(p_url, 'null')),
        'Pass https://<ref>.supabase.co/functions/v1/openclaw/api/openclaw/internal/mail/run.');
    end if;
    if p_secret is null or pg_catalog.length(p_secret) < 32 then
      perform app.refuse(400, 'invalid_secret', 'The secret must be the function''s MAIL_WORKER_SECRET (at least 32 characters)',
        'Generate one (openssl rand -hex 32), set it with supabase secrets set MAIL_WORKER_SECRET=…, and pass the same value here.');
    end if;
    v_command := pg_catalog.format(
      'select net.http_post(url := %L, body := %L::jsonb, headers := %L::jsonb, timeout_milliseconds := 55000)',
      p_url, '{}', pg_catalog.jsonb_build_object('content-type', 'application/json', 'x-worker-secret', p_secret)::text);
    insert into app.scheduled_jobs (name, schedule, command) values ('mail-worker-http', '* * * * *', v_command)
      on conflict (name) do update set schedule = excluded.schedule, command = excluded.command;
    perform app.schedule_jobs();
    return 'mail-worker-http';
  end;
  $$;
comment on function app.schedule_mail_worker_http(text, text) is
  'Registers the pg_cron job mail-worker-http: every minute net.http_post to the Edge Function''s mail worker route with x-worker-secret; refuses without pg_net or pg_cron. Returns the job name.';
revoke execute on function app.schedule_mail_worker_http(text, text) from public;
grant execute on function app.schedule_mail_worker_http(text, text) to service_role;

-- Register the catalogue (a notice and nothing else where pg_cron is not installed).
select app.schedule_jobs();
