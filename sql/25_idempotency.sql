-- Idempotency-Key for POST requests. Agents are told to retry, so a retried request must
-- replay the first answer instead of creating a second lead or email; the same key with a
-- different request is refused. The edge side is functions/idempotency.ts.
--   * app.idempotency_keys: the claimed keys and their stored answers, per org, kept 24 hours;
--   * app.claim_idempotency_key / app.complete_idempotency_key: the usual way, inside the
--     request's own transaction;
--   * app.start_idempotent_request / app.release_idempotency_key: for requests that call the
--     outside world and commit the claim before their work;
--   * app.purge_idempotency_keys: the hourly purge (job purge-idempotency-keys, 90_jobs.sql).

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
-- Tenants may delete their own unfinished claims only (app.release_idempotency_key); stored
-- answers stay until the purge.
create policy "Unfinished idempotency keys can be released by their own org" on app.idempotency_keys
  for delete to authenticated
  using (org_id = (select app.current_org_id()) and response_status is null);

grant select, insert, update on app.idempotency_keys to authenticated;
grant delete on app.idempotency_keys to authenticated;
grant all on app.idempotency_keys to service_role;

-- ---------------------------------------------------------------------------
-- Keys claimed in the work's transaction (most POSTs). The key row is written in the same
-- transaction as the work: a concurrent duplicate waits on it and then replays; if the
-- work rolls back, so does the key. Claiming answers 'new' (go ahead, then complete it),
-- 'replay' (with the stored answer) or 'mismatch' (same key, different request); keys
-- older than 24 hours are taken over as new.
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
-- Keys claimed before the work: POSTs that hold no transaction across their calls to the
-- outside world (connecting Calendly: verify the token, create a webhook subscription, then
-- one short write). The key cannot be claimed inside the work's transaction there, so it is
-- claimed up front in a short transaction of its own and committed unfinished (no stored
-- answer yet):
--   * a concurrent or too-early duplicate finds it unfinished and is told so ('in_progress')
--     instead of repeating the outside calls;
--   * a success stores the answer with app.complete_idempotency_key, as above;
--   * a failure releases the claim (app.release_idempotency_key), so a retry really retries;
--   * a claim left unfinished by a process that died is taken over after 5 minutes, far longer
--     than any request may run (each outside call is bounded by a timeout of seconds).
-- ---------------------------------------------------------------------------
create function app.start_idempotent_request(
  p_key text,
  p_method text,
  p_path text,
  p_request_hash text,
  p_now timestamptz default now()
) returns table (outcome text, response_status integer, response_body jsonb)
  language plpgsql
  set search_path = ''
  as $$
  begin
    -- A claim nobody finished within 5 minutes was abandoned: its request is not running.
    delete from app.idempotency_keys k
    where k.org_id = app.current_org_id() and k.key = p_key
      and k.response_status is null and k.created_at < p_now - interval '5 minutes';

    -- A concurrent first claim is waited for here (the unique key), then seen unfinished.
    return query
      select case when c.outcome = 'replay' and c.response_status is null then 'in_progress' else c.outcome end,
             c.response_status, c.response_body
      from app.claim_idempotency_key(p_key, p_method, p_path, p_request_hash) c;
  end;
  $$;
comment on function app.start_idempotent_request(text, text, text, text, timestamptz) is 'Claims an Idempotency-Key for a request that commits the claim before its work: new, replay (with the stored answer), mismatch, or in_progress while the first request with the key is still running; takes over a claim left unfinished for 5 minutes.';
revoke execute on function app.start_idempotent_request(text, text, text, text, timestamptz) from public;
grant execute on function app.start_idempotent_request(text, text, text, text, timestamptz) to authenticated, service_role;

create function app.release_idempotency_key(p_key text) returns boolean
  language plpgsql
  set search_path = ''
  as $$
  begin
    delete from app.idempotency_keys k
    where k.org_id = app.current_org_id() and k.key = p_key and k.response_status is null;
    return found;
  end;
  $$;
comment on function app.release_idempotency_key(text) is 'Forgets the current org''s unfinished claim of an Idempotency-Key after its request failed, so a retry runs again; a stored answer is never released.';
revoke execute on function app.release_idempotency_key(text) from public;
grant execute on function app.release_idempotency_key(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Housekeeping, run by pg_cron (90_jobs.sql).
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
