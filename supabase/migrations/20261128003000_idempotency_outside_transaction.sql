-- Idempotency-Key for POSTs that hold no transaction across their calls to the outside world
-- (connecting Calendly: verify the token, create a webhook subscription, then one short write).
-- The key cannot be claimed inside the work's transaction there, so it is claimed up front in a
-- short transaction of its own and committed unfinished (no stored answer yet):
--   * a concurrent or too-early duplicate finds it unfinished and is told so ('in_progress')
--     instead of repeating the outside calls;
--   * a success stores the answer with app.complete_idempotency_key, as elsewhere;
--   * a failure releases the claim (app.release_idempotency_key), so a retry really retries;
--   * a claim left unfinished by a process that died is taken over after 5 minutes, far longer
--     than any request may run (each outside call is bounded by a timeout of seconds).

-- Tenants may delete their own unfinished claims only; stored answers stay until the purge.
create policy "Unfinished idempotency keys can be released by their own org" on app.idempotency_keys
  for delete to authenticated
  using (org_id = (select app.current_org_id()) and response_status is null);
grant delete on app.idempotency_keys to authenticated;

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
