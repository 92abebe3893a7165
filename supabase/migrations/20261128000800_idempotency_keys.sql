-- Idempotency-Key support for POST requests. Agents are told to retry, so a retried
-- request must replay the first answer instead of creating a second lead or email.
-- The key row is written in the same transaction as the work: a concurrent duplicate
-- waits on it and then replays; if the work rolls back, so does the key.

create table app.idempotency_keys (
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  key text not null check (length(key) between 1 and 255),
  method text not null,
  path text not null,
  request_hash text not null,
  response_status integer,
  response_body jsonb,
  created_at timestamptz not null default now(),
  primary key (org_id, key)
);
comment on table app.idempotency_keys is 'Stored answers to POSTs sent with an Idempotency-Key, per org, kept 24 hours.';
create index idempotency_keys_created_idx on app.idempotency_keys (created_at);

alter table app.idempotency_keys enable row level security;
alter table app.idempotency_keys force row level security;
create policy "Idempotency keys are visible to their own org" on app.idempotency_keys
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Idempotency keys can be recorded in the caller's org" on app.idempotency_keys
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Idempotency keys can be completed by their own org" on app.idempotency_keys
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));

grant select, insert, update on app.idempotency_keys to authenticated;
grant all on app.idempotency_keys to service_role;

-- ---------------------------------------------------------------------------
-- Claim a key for this request. Returns 'new' (go ahead, then complete it),
-- 'replay' (with the stored answer) or 'mismatch' (same key, different request).
-- Keys older than 24 hours are taken over as new.
-- ---------------------------------------------------------------------------
create function app.claim_idempotency_key(p_key text, p_method text, p_path text, p_request_hash text)
  returns table (outcome text, response_status integer, response_body jsonb)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_existing app.idempotency_keys%rowtype;
  begin
    insert into app.idempotency_keys as k (key, method, path, request_hash)
    values (p_key, p_method, p_path, p_request_hash)
    on conflict (org_id, key) do update set
      method = excluded.method, path = excluded.path, request_hash = excluded.request_hash,
      response_status = null, response_body = null, created_at = pg_catalog.now()
      where k.created_at < pg_catalog.now() - interval '24 hours';
    if found then
      outcome := 'new';
      return next;
      return;
    end if;

    select k.* into v_existing from app.idempotency_keys k
    where k.org_id = app.current_org_id() and k.key = p_key;
    if v_existing.request_hash <> p_request_hash
       or v_existing.method <> p_method or v_existing.path <> p_path then
      outcome := 'mismatch';
    else
      outcome := 'replay';
      response_status := v_existing.response_status;
      response_body := v_existing.response_body;
    end if;
    return next;
  end;
  $$;
comment on function app.claim_idempotency_key(text, text, text, text) is 'Claims an Idempotency-Key for the current org: new, replay (with the stored answer) or mismatch.';
revoke execute on function app.claim_idempotency_key(text, text, text, text) from public;
grant execute on function app.claim_idempotency_key(text, text, text, text) to authenticated, service_role;

create function app.complete_idempotency_key(p_key text, p_status integer, p_body jsonb)
  returns void
  language sql
  set search_path = ''
  as $$
    update app.idempotency_keys k set response_status = p_status, response_body = p_body
    where k.org_id = app.current_org_id() and k.key = p_key
  $$;
comment on function app.complete_idempotency_key(text, integer, jsonb) is 'Stores the answer to replay for a claimed Idempotency-Key.';
revoke execute on function app.complete_idempotency_key(text, integer, jsonb) from public;
grant execute on function app.complete_idempotency_key(text, integer, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Housekeeping, run by pg_cron.
-- ---------------------------------------------------------------------------
create function app.purge_idempotency_keys() returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    delete from app.idempotency_keys k where k.created_at < pg_catalog.now() - interval '24 hours';
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_idempotency_keys() is 'Deletes Idempotency-Key records older than 24 hours; returns how many.';
revoke execute on function app.purge_idempotency_keys() from public;
grant execute on function app.purge_idempotency_keys() to service_role;

-- ---------------------------------------------------------------------------
-- pg_cron jobs, (re)registered by name: cron.schedule replaces a job of the same name.
-- The jobs are data (app.scheduled_jobs); a later migration adds a row and calls
-- app.schedule_jobs() again.
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

insert into app.scheduled_jobs (name, schedule, command) values
  ('purge-idempotency-keys', '17 * * * *', 'select app.purge_idempotency_keys()');

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

select app.schedule_jobs();
