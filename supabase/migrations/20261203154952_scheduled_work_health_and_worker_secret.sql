-- Scheduled work health, and the HTTP mail worker's secret out of readable tables.
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand.
--
-- * app.job_health(), app.pg_cron_scheduler(), app.pg_cron_hint(): whether pg_cron is here
--   and its scheduler runs, which declared jobs are missing or registered otherwise, which
--   failed or are overdue; GET /health reports them. Read with dynamic SQL, so they answer
--   where pg_cron is absent.
-- * app.mail_worker_heartbeats + app.record_mail_worker_tick(): every worker tick records
--   a heartbeat; app.mail_worker_status() and app.outbox_backlog() report the workers and
--   the mail waiting.
-- * The mail-worker-http job no longer carries its secret in its command: the command is
--   `select app.run_mail_worker_http()`, the URL is kept in app_private.mail_worker_http (a
--   schema no API role may use) and the secret in Supabase Vault where it exists, else in
--   that private row. A database that scheduled the job before this migration has the secret
--   in app.scheduled_jobs, cron.job and pg_cron's run history: it is moved (below) and those
--   copies are deleted.
-- * Hand-written here: forced RLS, the private schema's comments and privileges (migra
--   leaves them out), the move of an existing secret, and the pg_cron check, which warns
--   with what to enable (00_supabase.sql says the same for new databases).

create schema if not exists "app_private";
revoke all on schema app_private from public, anon, authenticated, service_role;
comment on schema app_private is 'Settings no API role may read (the HTTP mail worker''s URL, and its secret where Vault is absent); only the database owner and app''s security definer functions reach it.';


  create table "app"."mail_worker_heartbeats" (
    "worker" text not null,
    "last_seen" timestamp with time zone not null default now(),
    "ticks" bigint not null default 1,
    "enqueued" integer not null default 0,
    "claimed" integer not null default 0,
    "sent" integer not null default 0,
    "failed" integer not null default 0,
    "deferred" integer not null default 0,
    "skipped" integer not null default 0
      );


alter table "app"."mail_worker_heartbeats" enable row level security;
alter table "app"."mail_worker_heartbeats" force row level security;


  create table "app_private"."mail_worker_http" (
    "id" boolean not null default true,
    "url" text not null,
    "secret" text,
    "updated_at" timestamp with time zone not null default now()
      );


alter table "app_private"."mail_worker_http" enable row level security;
alter table "app_private"."mail_worker_http" force row level security;
revoke all on table app_private.mail_worker_http from public, anon, authenticated, service_role;
comment on table app_private.mail_worker_http is 'Where pg_cron''s mail-worker-http job posts (url) and, where Supabase Vault is absent, the x-worker-secret it sends (secret; null when the secret is in Vault).';

CREATE UNIQUE INDEX mail_worker_heartbeats_pkey ON app.mail_worker_heartbeats USING btree (worker);

CREATE UNIQUE INDEX mail_worker_http_pkey ON app_private.mail_worker_http USING btree (id);

alter table "app"."mail_worker_heartbeats" add constraint "mail_worker_heartbeats_pkey" PRIMARY KEY using index "mail_worker_heartbeats_pkey";

alter table "app_private"."mail_worker_http" add constraint "mail_worker_http_pkey" PRIMARY KEY using index "mail_worker_http_pkey";

alter table "app"."mail_worker_heartbeats" add constraint "mail_worker_heartbeats_ticks_check" CHECK ((ticks >= 1)) not valid;

alter table "app"."mail_worker_heartbeats" validate constraint "mail_worker_heartbeats_ticks_check";

alter table "app"."mail_worker_heartbeats" add constraint "mail_worker_heartbeats_worker_check" CHECK (((length(worker) >= 1) AND (length(worker) <= 200))) not valid;

alter table "app"."mail_worker_heartbeats" validate constraint "mail_worker_heartbeats_worker_check";

alter table "app_private"."mail_worker_http" add constraint "mail_worker_http_id_check" CHECK (id) not valid;

alter table "app_private"."mail_worker_http" validate constraint "mail_worker_http_id_check";

alter table "app_private"."mail_worker_http" add constraint "mail_worker_http_secret_check" CHECK ((length(secret) >= 32)) not valid;

alter table "app_private"."mail_worker_http" validate constraint "mail_worker_http_secret_check";

alter table "app_private"."mail_worker_http" add constraint "mail_worker_http_url_check" CHECK ((url ~ '^https?://[^/\s]+/\S*internal/mail/run$'::text)) not valid;

alter table "app_private"."mail_worker_http" validate constraint "mail_worker_http_url_check";

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app._cron_period(p_schedule text)
 RETURNS interval
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._mail_worker_secret_name()
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO ''
AS $function$ select 'openclaw_mail_worker_secret' $function$
;

CREATE OR REPLACE FUNCTION app._vault_available()
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
    select pg_catalog.to_regprocedure('vault.create_secret(text, text, text, uuid)') is not null
       and pg_catalog.to_regprocedure('vault.update_secret(uuid, text, text, text, uuid)') is not null
       and pg_catalog.to_regclass('vault.decrypted_secrets') is not null
  $function$
;

CREATE OR REPLACE FUNCTION app.job_health()
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.mail_worker_status()
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
    select pg_catalog.jsonb_build_object(
      'lastHeartbeat', (select pg_catalog.max(h.last_seen) from app.mail_worker_heartbeats h),
      'workers', coalesce((
        select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'name', h.worker, 'lastSeen', h.last_seen, 'ticks', h.ticks,
                 'lastTick', pg_catalog.jsonb_build_object('enqueued', h.enqueued, 'claimed', h.claimed, 'sent', h.sent,
                                                           'failed', h.failed, 'deferred', h.deferred, 'skipped', h.skipped))
               order by h.last_seen desc, h.worker)
        from (select * from app.mail_worker_heartbeats order by last_seen desc, worker limit 20) h), '[]'::jsonb))
  $function$
;

CREATE OR REPLACE FUNCTION app.outbox_backlog()
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
    select pg_catalog.jsonb_build_object(
      'queued', pg_catalog.count(*),
      'due', pg_catalog.count(*) filter (where o.next_attempt_at <= pg_catalog.now()),
      'oldestDueSeconds', pg_catalog.floor(extract(epoch from pg_catalog.now()
                            - pg_catalog.min(o.next_attempt_at) filter (where o.next_attempt_at <= pg_catalog.now())))::bigint)
    from app.outbox o
    where o.status = 'queued'
      and exists (select from app.campaigns c where c.org_id = o.org_id and c.id = o.campaign_id and c.status = 'active')
  $function$
;

CREATE OR REPLACE FUNCTION app.pg_cron_hint()
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
    select pg_catalog.format(
      'Enable pg_cron: on Supabase, Database → Extensions → pg_cron (or run: create extension pg_cron;); '
      'on your own PostgreSQL, install pg_cron (Debian: postgresql-%s-cron), set shared_preload_libraries = ''pg_cron'' '
      'and cron.database_name = %L in postgresql.conf, restart PostgreSQL and run: create extension pg_cron; '
      'then register the jobs: select app.schedule_jobs();',
      pg_catalog.current_setting('server_version_num')::integer / 10000, pg_catalog.current_database())
  $function$
;

CREATE OR REPLACE FUNCTION app.pg_cron_scheduler()
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.record_mail_worker_tick(p_worker text, p_enqueued integer, p_claimed integer, p_sent integer, p_failed integer, p_deferred integer, p_skipped integer)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    insert into app.mail_worker_heartbeats as h (worker, enqueued, claimed, sent, failed, deferred, skipped)
      values (p_worker, p_enqueued, p_claimed, p_sent, p_failed, p_deferred, p_skipped)
      on conflict (worker) do update
        set last_seen = pg_catalog.now(), ticks = h.ticks + 1, enqueued = excluded.enqueued, claimed = excluded.claimed,
            sent = excluded.sent, failed = excluded.failed, deferred = excluded.deferred, skipped = excluded.skipped;
    delete from app.mail_worker_heartbeats h where h.last_seen < pg_catalog.now() - interval '1 day';
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.run_mail_worker_http()
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.schedule_jobs()
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.schedule_mail_worker_http(p_url text, p_secret text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

grant select on table "app"."mail_worker_heartbeats" to "service_role";


  create policy "Mail worker heartbeats are visible to the service role"
  on "app"."mail_worker_heartbeats"
  as permissive
  for select
  to service_role
using (true);

-- Comments and function privileges (migra leaves them out).
comment on function app._cron_period(text) is 'How often a pg_cron schedule runs (n seconds, */n minutes, hourly, */n hours, daily, weekly); null for other schedules.';
comment on function app._mail_worker_secret_name() is 'The name under which the HTTP mail worker''s secret is kept in Supabase Vault.';
comment on function app._vault_available() is 'Whether Supabase Vault (vault.create_secret, vault.update_secret, vault.decrypted_secrets) is installed in this database.';
comment on function app.job_health() is 'The scheduled jobs'' health: pgCron (installed or absent), scheduler, hint, missing (declared, not registered), outdated (registered otherwise, or inactive), failing (last finished run failed, or overdue for its schedule) with failedRuns and lastError. Errors nowhere without pg_cron.';
comment on function app.mail_worker_status() is 'The mail workers seen in the last day: the latest heartbeat, and per worker (20 most recent) when it last ticked, how often, and what its last tick did.';
comment on function app.outbox_backlog() is 'Mail waiting across orgs: queued (rows of active campaigns), due (claimable now) and oldestDueSeconds (how long the oldest due row has waited; null when none).';
comment on function app.pg_cron_hint() is 'What to enable, and how, where pg_cron is missing (Supabase and self-hosted), naming this database.';
comment on function app.pg_cron_scheduler() is 'Whether pg_cron''s scheduler runs for this database: running, stopped, absent (no pg_cron) or unknown (not visible to this role).';
comment on function app.record_mail_worker_tick(text,integer,integer,integer,integer,integer,integer) is 'Records a mail worker tick (its name and what it did) as that worker''s heartbeat, and forgets workers silent for a day.';
comment on function app.run_mail_worker_http() is 'One run of the mail-worker-http job: posts to the stored URL with the stored secret (Vault, else app_private) in x-worker-secret, through pg_net; returns pg_net''s request id.';
comment on function app.schedule_mail_worker_http(text,text) is 'Registers the pg_cron job mail-worker-http (every minute: app.run_mail_worker_http()) and stores the URL and the secret (Supabase Vault where present, else app_private); again = rotation. Refuses without pg_net or pg_cron. Returns the job name.';
comment on table app.mail_worker_heartbeats is 'One row per mail worker: when it last ticked, how many ticks, and what the last tick did; workers silent for a day are forgotten.';
revoke all on function app._cron_period(text) from public;
revoke all on function app._mail_worker_secret_name() from public;
revoke all on function app._vault_available() from public;
revoke all on function app.job_health() from public; grant execute on function app.job_health() to service_role;
revoke all on function app.mail_worker_status() from public; grant execute on function app.mail_worker_status() to service_role;
revoke all on function app.outbox_backlog() from public; grant execute on function app.outbox_backlog() to service_role;
revoke all on function app.pg_cron_hint() from public; grant execute on function app.pg_cron_hint() to service_role;
revoke all on function app.pg_cron_scheduler() from public; grant execute on function app.pg_cron_scheduler() to service_role;
revoke all on function app.record_mail_worker_tick(text,integer,integer,integer,integer,integer,integer) from public; grant execute on function app.record_mail_worker_tick(text,integer,integer,integer,integer,integer,integer) to service_role;
revoke all on function app.run_mail_worker_http() from public;

-- ---------------------------------------------------------------------------
-- A mail-worker-http job scheduled before this migration posts its secret from its own
-- command (select net.http_post(url := '…', …, headers := '{…"x-worker-secret": "…"}'::jsonb, …)).
-- Move the URL and the secret to their new places by scheduling the job again, then delete
-- the copies pg_cron kept of the old command. Where that cannot be done (pg_net or pg_cron
-- gone since), the job is dropped, with a warning saying how to schedule it again.
-- ---------------------------------------------------------------------------
do $$
declare
  v_command text;
  v_url text;
  v_secret text;
begin
  select j.command into v_command from app.scheduled_jobs j where j.name = 'mail-worker-http';
  if v_command is null or v_command not like '%x-worker-secret%' then
    return;
  end if;
  v_url := replace((regexp_match(v_command, $re$url := '((?:[^']|'')*)'$re$))[1], '''''', '''');
  v_secret := (replace((regexp_match(v_command, $re$headers := '((?:[^']|'')*)'::jsonb$re$))[1], '''''', ''''))::jsonb ->> 'x-worker-secret';
  begin
    perform app.schedule_mail_worker_http(v_url, v_secret);
  exception when others then
    delete from app.scheduled_jobs where name = 'mail-worker-http';
    if to_regclass('cron.job') is not null then
      execute 'select cron.unschedule(jobid) from cron.job where jobname = ''mail-worker-http''';
    end if;
    raise warning 'The mail-worker-http job could not be moved (%), so it was removed: schedule it again with select app.schedule_mail_worker_http(''<URL>'', ''<MAIL_WORKER_SECRET>'');', sqlerrm;
  end;
  if to_regclass('cron.job_run_details') is not null then
    execute 'delete from cron.job_run_details where command like ''%x-worker-secret%''';
  end if;
end
$$;

-- ---------------------------------------------------------------------------
-- pg_cron: created when the server has it (as in the baseline), else a warning saying what
-- to enable; then the catalogue is registered (a notice and nothing else without pg_cron).
-- ---------------------------------------------------------------------------
do $$
declare
  v_hint constant text := pg_catalog.format(
    'Enable pg_cron: on Supabase, Database → Extensions → pg_cron (or run: create extension pg_cron;); '
    'on your own PostgreSQL, install pg_cron (Debian: postgresql-%s-cron), set shared_preload_libraries = ''pg_cron'' '
    'and cron.database_name = %L in postgresql.conf, restart PostgreSQL and run: create extension pg_cron; '
    'then register the jobs: select app.schedule_jobs();',
    pg_catalog.current_setting('server_version_num')::integer / 10000, pg_catalog.current_database());
begin
  if exists (select from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    create extension if not exists pg_cron;
  else
    raise warning 'pg_cron is not installed on this server: scheduled jobs will not run. %', v_hint;
  end if;
exception when others then
  raise warning 'pg_cron could not be enabled in this database (%): scheduled jobs will not run. %', sqlerrm, v_hint;
end
$$;

select app.schedule_jobs();
