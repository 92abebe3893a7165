-- The application schema and the helpers every table uses.
-- `app` is not exposed through Supabase's REST API: the only way in is our HTTP edge
-- (or a human in Studio), and row-level security decides what each org sees.

create schema if not exists app;
grant usage on schema app to anon, authenticated, service_role;

-- Privileges are explicit: nothing we create is executable by public by default.
alter default privileges in schema app revoke execute on functions from public;
alter default privileges in schema app revoke all on tables from public;

-- ---------------------------------------------------------------------------
-- Identifiers: readable prefix + 24 random hex digits (96 bits), made in Postgres so
-- rows inserted from Studio or SQL get the same ids as rows from the API.
-- ---------------------------------------------------------------------------
create function app.new_id(p_prefix text) returns text
  language sql volatile parallel safe
  set search_path = ''
  as $$
    select p_prefix || '_' || substr(replace(pg_catalog.gen_random_uuid()::text, '-', ''), 1, 24)
  $$;
comment on function app.new_id(text) is 'A new random id such as rp_3f9c0a…: the prefix names the kind of record.';
revoke execute on function app.new_id(text) from public;
grant execute on function app.new_id(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The one tenant helper. Policies call it as (select app.current_org_id()) so it is
-- evaluated once per statement, not once per row.
-- ---------------------------------------------------------------------------
create function app.current_org_id() returns text
  language sql stable parallel safe
  set search_path = ''
  as $$
    select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'org_id'
  $$;
comment on function app.current_org_id() is 'The org of the current request, from the org_id claim of request.jwt.claims; null outside a tenant request.';
revoke execute on function app.current_org_id() from public;
grant execute on function app.current_org_id() to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Errors the edge translates. SQLSTATE 'CRnnn' means "answer HTTP nnn"; detail carries
-- the machine-readable code and hint tells the caller how to fix the request.
-- ---------------------------------------------------------------------------
create function app.refuse(p_status integer, p_code text, p_message text, p_hint text)
  returns void
  -- volatile on purpose: an immutable raiser could be folded at plan time
  language plpgsql volatile
  set search_path = ''
  as $$
  begin
    raise exception using
      errcode = 'CR' || p_status::text,
      message = p_message,
      detail = p_code,
      hint = p_hint;
  end;
  $$;
comment on function app.refuse(integer, text, text, text) is 'Raises an error the HTTP edge answers with status p_status, code p_code and the hint.';
revoke execute on function app.refuse(integer, text, text, text) from public;
grant execute on function app.refuse(integer, text, text, text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- updated_at, kept by the database for every writer.
-- ---------------------------------------------------------------------------
create function app._touch_updated_at() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    new.updated_at := pg_catalog.now();
    return new;
  end;
  $$;
comment on function app._touch_updated_at() is 'Trigger: stamps updated_at on every update.';
revoke execute on function app._touch_updated_at() from public;

-- ---------------------------------------------------------------------------
-- Shallow JSON merge used for crmData and customFields: keys in the patch overwrite,
-- keys set to null in the patch are removed, everything else is kept.
-- ---------------------------------------------------------------------------
create function app.jsonb_merge_patch(p_target jsonb, p_patch jsonb) returns jsonb
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select (coalesce(p_target, '{}'::jsonb) operator(pg_catalog.||) coalesce(p_patch, '{}'::jsonb))
      operator(pg_catalog.-) coalesce(
        (select array_agg(e.key) from pg_catalog.jsonb_each(p_patch) e where e.value = 'null'::jsonb),
        '{}'::text[])
  $$;
comment on function app.jsonb_merge_patch(jsonb, jsonb) is 'Merges a patch object into a target object (one level); null values in the patch delete the key.';
revoke execute on function app.jsonb_merge_patch(jsonb, jsonb) from public;
grant execute on function app.jsonb_merge_patch(jsonb, jsonb) to authenticated, service_role;
