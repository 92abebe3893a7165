-- Scheduled work: the one catalogue of pg_cron jobs. A job is a row of
-- app.scheduled_jobs (name, schedule, command), and app.schedule_jobs() registers every row
-- with pg_cron by name: cron.schedule replaces a job of the same name, so registering again
-- is always safe. Each command calls a function that lives with its domain (the file is
-- named on the job's line), so a test can call the same function directly.
-- Also here: app.purge_cron_history, which keeps pg_cron's own run history in bounds;
-- app.schedule_mail_worker_http, which adds the mail-worker-http job on Supabase and keeps its
-- secret out of every readable table (Vault, else the private schema app_private); and the
-- health of scheduled work that GET /health reports (app.job_health, the mail workers'
-- heartbeats, the outbox backlog), so that work which stopped does not stop silently.

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
-- What to do where pg_cron is missing. The same text is the warning of the pg_cron part of
-- 00_supabase.sql; GET /health shows it as jobs.hint.
create function app.pg_cron_hint() returns text
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.format(
      'Enable pg_cron: on Supabase, Database → Extensions → pg_cron (or run: create extension pg_cron;); '
      'on your own PostgreSQL, install pg_cron (Debian: postgresql-%s-cron), set shared_preload_libraries = ''pg_cron'' '
      'and cron.database_name = %L in postgresql.conf, restart PostgreSQL and run: create extension pg_cron; '
      'then register the jobs: select app.schedule_jobs();',
      pg_catalog.current_setting('server_version_num')::integer / 10000, pg_catalog.current_database())
  $$;
comment on function app.pg_cron_hint() is 'What to enable, and how, where pg_cron is missing (Supabase and self-hosted), naming this database.';
revoke execute on function app.pg_cron_hint() from public;
grant execute on function app.pg_cron_hint() to service_role;

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
      raise notice 'pg_cron is not installed in this database: no jobs scheduled. %', app.pg_cron_hint();
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
-- The job's command is only `select app.run_mail_worker_http()`: the URL is kept in
-- app_private.mail_worker_http and the secret in Supabase Vault (vault.decrypted_secrets,
-- name openclaw_mail_worker_secret) where the vault schema exists, else in that same private
-- row; neither cron.job, cron.job_run_details nor app.scheduled_jobs ever holds it. (pg_net
-- keeps each request, headers included, in net.http_request_queue until its worker sends it.)
-- Calling the function again replaces the URL and the secret (rotation): the next run uses
-- the new secret, the old one is not sent again.
-- ---------------------------------------------------------------------------

-- A schema no API role may use: anon, authenticated and service_role have no privilege on
-- it or its tables, so only the database owner (and the security definer functions below)
-- read it.
create schema app_private;
revoke all on schema app_private from public, anon, authenticated, service_role;
comment on schema app_private is 'Settings no API role may read (the HTTP mail worker''s URL, and its secret where Vault is absent); only the database owner and app''s security definer functions reach it.';

create table app_private.mail_worker_http (
  -- One row: the job calls one URL.
  id boolean primary key default true check (id),
  url text not null check (url ~ '^https?://[^/\s]+/\S*internal/mail/run$'),
  -- Null when the secret is in Vault.
  secret text check (pg_catalog.length(secret) >= 32),
  updated_at timestamptz not null default now()
);
comment on table app_private.mail_worker_http is 'Where pg_cron''s mail-worker-http job posts (url) and, where Supabase Vault is absent, the x-worker-secret it sends (secret; null when the secret is in Vault).';
revoke all on table app_private.mail_worker_http from public, anon, authenticated, service_role;
-- No policy: even a role that were granted the table reads no row unless it bypasses RLS.
alter table app_private.mail_worker_http enable row level security;
alter table app_private.mail_worker_http force row level security;

-- The Vault secret's name.
create function app._mail_worker_secret_name() returns text
  language sql immutable
  set search_path = ''
  as $$ select 'openclaw_mail_worker_secret' $$;
comment on function app._mail_worker_secret_name() is 'The name under which the HTTP mail worker''s secret is kept in Supabase Vault.';
revoke execute on function app._mail_worker_secret_name() from public;

-- Whether Supabase Vault (the supabase_vault extension: schema vault) is here.
create function app._vault_available() returns boolean
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.to_regprocedure('vault.create_secret(text, text, text, uuid)') is not null
       and pg_catalog.to_regprocedure('vault.update_secret(uuid, text, text, text, uuid)') is not null
       and pg_catalog.to_regclass('vault.decrypted_secrets') is not null
  $$;
comment on function app._vault_available() is 'Whether Supabase Vault (vault.create_secret, vault.update_secret, vault.decrypted_secrets) is installed in this database.';
revoke execute on function app._vault_available() from public;

create function app.run_mail_worker_http() returns bigint
  language plpgsql
  -- Reads the secret, which its caller (pg_cron, as the job's owner) may read but no API role.
  security definer
  set search_path = ''
  as $$
  declare
    v_url text;
    v_secret text;
    v_vault_secret text;
    v_request bigint;
  begin
    select m.url, m.secret into v_url, v_secret from app_private.mail_worker_http m;
    if app._vault_available() then
      -- Vault and pg_net are named at run time, so the function compiles (and lints) where
      -- they are absent.
      execute pg_catalog.format('select s.decrypted_secret from %I.decrypted_secrets s where s.name = $1', 'vault')
        into v_vault_secret using app._mail_worker_secret_name();
      v_secret := coalesce(v_vault_secret, v_secret);
    end if;
    if v_url is null or v_secret is null then
      perform app.refuse(409, 'mail_worker_http_not_configured',
        'The HTTP mail worker has no URL or secret stored, so this run posts nothing',
        'Call select app.schedule_mail_worker_http(''<the route''''s URL>'', ''<MAIL_WORKER_SECRET>''); as the database owner.');
    end if;
    execute pg_catalog.format('select %I.http_post(url := $1, body := $2, headers := $3, timeout_milliseconds := 55000)', 'net')
      into v_request
      using v_url, '{}'::jsonb, pg_catalog.jsonb_build_object('content-type', 'application/json', 'x-worker-secret', v_secret);
    return v_request;
  end;
  $$;
comment on function app.run_mail_worker_http() is
  'One run of the mail-worker-http job: posts to the stored URL with the stored secret (Vault, else app_private) in x-worker-secret, through pg_net; returns pg_net''s request id.';
revoke execute on function app.run_mail_worker_http() from public;

create function app.schedule_mail_worker_http(p_url text, p_secret text) returns text
  language plpgsql
  -- Writes the private store, Vault and app.scheduled_jobs and registers the pg_cron job,
  -- which its caller may not.
  security definer
  set search_path = ''
  as $$
  declare
    v_vault_id uuid;
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
        app.pg_cron_hint() || ' Then call this again, or run npm run worker instead.');
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
    if app._vault_available() then
      -- Vault is named at run time, so the function compiles (and lints) where it is absent.
      execute pg_catalog.format('select s.id from %I.decrypted_secrets s where s.name = $1', 'vault')
        into v_vault_id using app._mail_worker_secret_name();
      if v_vault_id is null then
        execute pg_catalog.format('select %I.create_secret($1, $2, $3)', 'vault')
          using p_secret, app._mail_worker_secret_name(), 'x-worker-secret of the mail-worker-http job (app.schedule_mail_worker_http)';
      else
        execute pg_catalog.format('select %I.update_secret($1, $2)', 'vault') using v_vault_id, p_secret;
      end if;
    end if;
    insert into app_private.mail_worker_http (url, secret)
      values (p_url, case when app._vault_available() then null else p_secret end)
      on conflict (id) do update set url = excluded.url, secret = excluded.secret, updated_at = now();
    insert into app.scheduled_jobs (name, schedule, command) values ('mail-worker-http', '* * * * *', 'select app.run_mail_worker_http()')
      on conflict (name) do update set schedule = excluded.schedule, command = excluded.command;
    perform app.schedule_jobs();
    return 'mail-worker-http';
  end;
  $$;
comment on function app.schedule_mail_worker_http(text, text) is
  'Registers the pg_cron job mail-worker-http (every minute: app.run_mail_worker_http()) and stores the URL and the secret (Supabase Vault where present, else app_private); again = rotation. Refuses without pg_net or pg_cron. Returns the job name.';
revoke execute on function app.schedule_mail_worker_http(text, text) from public;
grant execute on function app.schedule_mail_worker_http(text, text) to service_role;

-- ---------------------------------------------------------------------------
-- Health of scheduled work: whether pg_cron is here and its scheduler runs, whether every
-- declared job is registered as declared, whether recent runs succeeded and came on time;
-- whether a mail worker ticks and how much mail waits. GET /health reports it all
-- (functions/routes/health.ts). pg_cron's tables are read with dynamic SQL, so the functions
-- compile and answer where pg_cron is absent.
-- ---------------------------------------------------------------------------

-- How often a pg_cron schedule runs, for the schedules this catalogue uses (every n
-- seconds or minutes, hourly, daily, weekly); null for any other, which is then not
-- checked for lateness.
create function app._cron_period(p_schedule text) returns interval
  language plpgsql immutable
  set search_path = ''
  as $$
  declare
    v_fields text[] := pg_catalog.regexp_split_to_array(pg_catalog.btrim(p_schedule), '\s+');
    v_every text[];
  begin
    v_every := pg_catalog.regexp_match(p_schedule, '^\s*(\d+) seconds?\s*$');
    if v_every is not null then
      return pg_catalog.make_interval(secs => v_every[1]::integer);
    end if;
    case pg_catalog.btrim(p_schedule)
      when '@hourly' then return interval '1 hour';
      when '@daily' then return interval '1 day';
      when '@weekly' then return interval '7 days';
      else null;
    end case;
    if pg_catalog.array_length(v_fields, 1) <> 5 or v_fields[3] <> '*' or v_fields[4] <> '*' then
      return null;
    end if;
    if v_fields[1] = '*' and v_fields[2] = '*' and v_fields[5] = '*' then
      return interval '1 minute';
    end if;
    v_every := pg_catalog.regexp_match(v_fields[1], '^\*/(\d+)$');
    if v_every is not null and v_fields[2] = '*' and v_fields[5] = '*' then
      return pg_catalog.make_interval(mins => v_every[1]::integer);
    end if;
    if v_fields[1] !~ '^\d+$' then
      return null;
    end if;
    if v_fields[2] = '*' and v_fields[5] = '*' then
      return interval '1 hour';
    end if;
    v_every := pg_catalog.regexp_match(v_fields[2], '^\*/(\d+)$');
    if v_every is not null and v_fields[5] = '*' then
      return pg_catalog.make_interval(hours => v_every[1]::integer);
    end if;
    if v_fields[2] !~ '^\d+$' then
      return null;
    end if;
    if v_fields[5] = '*' then
      return interval '1 day';
    end if;
    if v_fields[5] ~ '^\d$' then
      return interval '7 days';
    end if;
    return null;
  end;
  $$;
comment on function app._cron_period(text) is 'How often a pg_cron schedule runs (n seconds, */n minutes, hourly, */n hours, daily, weekly); null for other schedules.';
revoke execute on function app._cron_period(text) from public;

-- Whether pg_cron's scheduler (its launcher process, connected to the database named by
-- cron.database_name) is running for this database: 'running', 'stopped', 'absent' (no
-- pg_cron here), or 'unknown' where this role may not see other sessions' process types.
-- The scheduler stops for good, until PostgreSQL restarts, when that database is dropped
-- and created again.
create function app.pg_cron_scheduler() returns text
  language plpgsql stable
  security definer
  set search_path = ''
  as $$
  begin
    if pg_catalog.to_regclass('cron.job') is null then
      return 'absent';
    end if;
    if not (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user)
       and not pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'member') then
      return 'unknown';
    end if;
    return case when exists (select from pg_catalog.pg_stat_activity a
                             where a.backend_type = 'pg_cron launcher' and a.datname = pg_catalog.current_database())
                then 'running' else 'stopped' end;
  end;
  $$;
comment on function app.pg_cron_scheduler() is 'Whether pg_cron''s scheduler runs for this database: running, stopped, absent (no pg_cron) or unknown (not visible to this role).';
revoke execute on function app.pg_cron_scheduler() from public;
grant execute on function app.pg_cron_scheduler() to service_role;

create function app.job_health() returns jsonb
  language plpgsql stable
  -- Reads cron.job and cron.job_run_details, which API roles may not.
  security definer
  set search_path = ''
  as $$
  declare
    v_scheduler text := app.pg_cron_scheduler();
    v_declared jsonb;
    v_health jsonb;
  begin
    if v_scheduler = 'absent' then
      select coalesce(pg_catalog.jsonb_agg(j.name order by j.name), '[]') into v_declared from app.scheduled_jobs j;
      return pg_catalog.jsonb_build_object('pgCron', 'absent', 'scheduler', null, 'hint', app.pg_cron_hint(),
        'missing', v_declared, 'outdated', '[]'::jsonb, 'failing', '[]'::jsonb);
    end if;
    execute $sql$
      with registered as (
        select c.jobid, c.jobname, c.schedule, c.command, c.active
        from cron.job c
        where c.database = pg_catalog.current_database()
      ), declared as (
        select j.name, j.schedule, j.command, r.jobid, r.schedule as registered_schedule,
               r.command as registered_command, r.active
        from app.scheduled_jobs j
        left join registered r on r.jobname = j.name
      ), runs as (
        -- Finished runs newest first, and the newest start of any run (one may be going on).
        select d.jobid, d.status, d.return_message, d.start_time,
               pg_catalog.row_number() over (partition by d.jobid order by d.start_time desc, d.runid desc) as n,
               pg_catalog.max(d.start_time) over (partition by d.jobid) as last_start
        from cron.job_run_details d
        where d.jobid in (select jobid from declared where jobid is not null)
      ), finished as (
        select r.*, pg_catalog.row_number() over (partition by r.jobid order by r.n) as k
        from runs r where r.status in ('succeeded', 'failed')
      ), per_job as (
        select d.name, d.schedule,
               (select pg_catalog.max(r.last_start) from runs r where r.jobid = d.jobid) as last_start,
               (select f.status from finished f where f.jobid = d.jobid and f.k = 1) as last_status,
               (select f.return_message from finished f where f.jobid = d.jobid and f.k = 1) as last_message,
               (select f.start_time from finished f where f.jobid = d.jobid and f.k = 1) as last_finished_start,
               -- Failed runs since the last success (all kept ones when none succeeded).
               (select pg_catalog.count(*) from finished f
                where f.jobid = d.jobid and f.status = 'failed'
                  and f.k < coalesce((select pg_catalog.min(s.k) from finished s where s.jobid = d.jobid and s.status = 'succeeded'),
                                     9223372036854775807)) as failed_runs,
               app._cron_period(d.schedule) as period
        from declared d
        where d.jobid is not null and d.active
      ), verdicts as (
        select p.*,
               p.period is not null and p.last_start is not null
                 and p.last_start < pg_catalog.now() - (p.period * 1.5 + interval '5 minutes') as overdue
        from per_job p
      )
      select pg_catalog.jsonb_build_object(
        'missing', coalesce((select pg_catalog.jsonb_agg(d.name order by d.name) from declared d where d.jobid is null), '[]'::jsonb),
        'outdated', coalesce((
          select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('name', d.name, 'reason',
                   case when not d.active then 'inactive'
                        when d.registered_schedule <> d.schedule then 'schedule differs'
                        else 'command differs' end) order by d.name)
          from declared d
          where d.jobid is not null
            and (not d.active or d.registered_schedule <> d.schedule or d.registered_command <> d.command)), '[]'::jsonb),
        'failing', coalesce((
          select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                   'name', v.name,
                   'failedRuns', v.failed_runs,
                   'lastError', case when v.last_status = 'failed' then pg_catalog.left(v.last_message, 500) end,
                   'lastRunAt', v.last_start,
                   'overdue', v.overdue) order by v.name)
          from verdicts v
          where v.last_status = 'failed' or v.overdue), '[]'::jsonb))
    $sql$ into v_health;
    return v_health || pg_catalog.jsonb_build_object('pgCron', 'installed', 'scheduler', v_scheduler,
      'hint', case when v_scheduler = 'stopped' then pg_catalog.format(
        'pg_cron is installed but its scheduler is not running for this database. Restart PostgreSQL (the scheduler '
        'stops until a restart when its database is dropped and created again, as npm run db:reset does) and check '
        'that postgresql.conf sets cron.database_name = %L; on Supabase, ask support.', pg_catalog.current_database()) end);
  end;
  $$;
comment on function app.job_health() is
  'The scheduled jobs'' health: pgCron (installed or absent), scheduler, hint, missing (declared, not registered), outdated (registered otherwise, or inactive), failing (last finished run failed, or overdue for its schedule) with failedRuns and lastError. Errors nowhere without pg_cron.';
revoke execute on function app.job_health() from public;
grant execute on function app.job_health() to service_role;

-- ---------------------------------------------------------------------------
-- The mail workers' heartbeats: every worker tick (functions/mail/worker.ts, a Node process
-- or the Edge Function's route) records when it ran and what it did, one row per worker
-- name. A worker not seen for a day is forgotten (Edge isolates come and go, each with a
-- name of its own).
-- ---------------------------------------------------------------------------
create table app.mail_worker_heartbeats (
  worker text primary key check (pg_catalog.length(worker) between 1 and 200),
  last_seen timestamptz not null default now(),
  ticks bigint not null default 1 check (ticks >= 1),
  -- What the last tick did.
  enqueued integer not null default 0,
  claimed integer not null default 0,
  sent integer not null default 0,
  failed integer not null default 0,
  deferred integer not null default 0,
  skipped integer not null default 0
);
comment on table app.mail_worker_heartbeats is 'One row per mail worker: when it last ticked, how many ticks, and what the last tick did; workers silent for a day are forgotten.';
alter table app.mail_worker_heartbeats enable row level security;
alter table app.mail_worker_heartbeats force row level security;
create policy "Mail worker heartbeats are visible to the service role" on app.mail_worker_heartbeats
  for select to service_role using (true);
grant select on app.mail_worker_heartbeats to service_role;

create function app.record_mail_worker_tick(p_worker text, p_enqueued integer, p_claimed integer, p_sent integer,
  p_failed integer, p_deferred integer, p_skipped integer) returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    insert into app.mail_worker_heartbeats as h (worker, enqueued, claimed, sent, failed, deferred, skipped)
      values (p_worker, p_enqueued, p_claimed, p_sent, p_failed, p_deferred, p_skipped)
      on conflict (worker) do update
        set last_seen = pg_catalog.now(), ticks = h.ticks + 1, enqueued = excluded.enqueued, claimed = excluded.claimed,
            sent = excluded.sent, failed = excluded.failed, deferred = excluded.deferred, skipped = excluded.skipped;
    delete from app.mail_worker_heartbeats h where h.last_seen < pg_catalog.now() - interval '1 day';
  end;
  $$;
comment on function app.record_mail_worker_tick(text, integer, integer, integer, integer, integer, integer) is
  'Records a mail worker tick (its name and what it did) as that worker''s heartbeat, and forgets workers silent for a day.';
revoke execute on function app.record_mail_worker_tick(text, integer, integer, integer, integer, integer, integer) from public;
grant execute on function app.record_mail_worker_tick(text, integer, integer, integer, integer, integer, integer) to service_role;

create function app.mail_worker_status() returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'lastHeartbeat', (select pg_catalog.max(h.last_seen) from app.mail_worker_heartbeats h),
      'workers', coalesce((
        select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'name', h.worker, 'lastSeen', h.last_seen, 'ticks', h.ticks,
                 'lastTick', pg_catalog.jsonb_build_object('enqueued', h.enqueued, 'claimed', h.claimed, 'sent', h.sent,
                                                           'failed', h.failed, 'deferred', h.deferred, 'skipped', h.skipped))
               order by h.last_seen desc, h.worker)
        from (select * from app.mail_worker_heartbeats order by last_seen desc, worker limit 20) h), '[]'::jsonb))
  $$;
comment on function app.mail_worker_status() is 'The mail workers seen in the last day: the latest heartbeat, and per worker (20 most recent) when it last ticked, how often, and what its last tick did.';
revoke execute on function app.mail_worker_status() from public;
grant execute on function app.mail_worker_status() to service_role;

-- The mail waiting to be sent, across orgs: what app.claim_outbox would take, now or later
-- (queued rows of active campaigns), and how long the oldest due one has waited.
create function app.outbox_backlog() returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'queued', pg_catalog.count(*),
      'due', pg_catalog.count(*) filter (where o.next_attempt_at <= pg_catalog.now()),
      'oldestDueSeconds', pg_catalog.floor(extract(epoch from pg_catalog.now()
                            - pg_catalog.min(o.next_attempt_at) filter (where o.next_attempt_at <= pg_catalog.now())))::bigint)
    from app.outbox o
    where o.status = 'queued'
      and exists (select from app.campaigns c where c.org_id = o.org_id and c.id = o.campaign_id and c.status = 'active')
  $$;
comment on function app.outbox_backlog() is 'Mail waiting across orgs: queued (rows of active campaigns), due (claimable now) and oldestDueSeconds (how long the oldest due row has waited; null when none).';
revoke execute on function app.outbox_backlog() from public;
grant execute on function app.outbox_backlog() to service_role;

-- Register the catalogue (a notice and nothing else where pg_cron is not installed).
select app.schedule_jobs();
