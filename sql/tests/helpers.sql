-- pgTAP helpers, loaded into the test database only (scripts/test.sh), never migrated
-- into a real one. They make an RLS test a few lines long: make an org, act as it,
-- check what it can see; and they read a refusal apart (app.refuse raises SQLSTATE
-- 'CR' || status with the code as detail and a hint) so a test can assert each part.

create extension if not exists pgtap with schema extensions;

create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Orgs and who is asking
-- ---------------------------------------------------------------------------

-- A new org (with default stages and a key) for the given label; returns its id.
create or replace function tests.create_org(p_label text, p_tier text default 'free') returns text
  language plpgsql
  as $$
  declare
    v_org_id text;
  begin
    select s.org_id into v_org_id
    from app.signup(p_label || '-' || gen_random_uuid() || '@example.com', p_label, 'pgtap', 'pgtap') s;
    update app.orgs set tier = p_tier where id = v_org_id;
    return v_org_id;
  end;
  $$;
comment on function tests.create_org(text, text) is 'A new org signed up under the label (default stages, a key) on the given tier; returns its id.';

-- Act as a request of this org: the claims app.authenticate_api_key would set, and the
-- authenticated role, until the end of the transaction or tests.clear_authentication().
create or replace function tests.authenticate_as(p_org_id text) returns void
  language plpgsql
  as $$
  begin
    perform set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'org_id', p_org_id)::text, true);
    perform set_config('role', 'authenticated', true);
  end;
  $$;
comment on function tests.authenticate_as(text) is 'Acts as a request of this org (its claims, role authenticated) until the transaction ends or tests.clear_authentication().';

-- Act as an anonymous request (the public edge: beacons, webhooks, quiz pages).
create or replace function tests.authenticate_as_anon() returns void
  language plpgsql
  as $$
  begin
    perform set_config('request.jwt.claims', '{"role":"anon"}', true);
    perform set_config('role', 'anon', true);
  end;
  $$;
comment on function tests.authenticate_as_anon() is 'Acts as an anonymous request (role anon, no org) until the transaction ends or tests.clear_authentication().';

-- Back to the test's own role, with no claims.
create or replace function tests.clear_authentication() returns void
  language plpgsql
  as $$
  begin
    perform set_config('role', 'none', true);
    perform set_config('request.jwt.claims', '', true);
  end;
  $$;
comment on function tests.clear_authentication() is 'Ends tests.authenticate_as / authenticate_as_anon: back to the session''s own role, no claims.';

-- ---------------------------------------------------------------------------
-- Arrange steps
-- ---------------------------------------------------------------------------

-- A lead for an org, inserted as that org would (RLS and triggers in force).
create or replace function tests.create_lead(p_org_id text, p_email text default null) returns text
  language plpgsql
  as $$
  declare
    v_id text;
  begin
    insert into app.leads (org_id, first_name, email)
    values (p_org_id, 'Test', coalesce(p_email, 'lead-' || gen_random_uuid() || '@example.com'))
    returning id into v_id;
    return v_id;
  end;
  $$;
comment on function tests.create_lead(text, text) is 'Inserts a lead for the org (a fresh email unless one is given) as the caller, triggers and RLS in force; returns its id.';

-- The plan of a query, one line per row, for index-usage assertions.
create or replace function tests.explain(p_query text) returns setof text
  language plpgsql
  as $$
  declare
    v_line text;
  begin
    for v_line in execute 'explain (costs off) ' || p_query loop
      return next v_line;
    end loop;
  end;
  $$;
comment on function tests.explain(text) is 'The plan of a query (explain, costs off), one line per row, for index-usage assertions.';

-- ---------------------------------------------------------------------------
-- Refusals: app.refuse(status, code, message, hint) raises SQLSTATE 'CR' || status,
-- with the code as detail. These run a statement as the caller and return one part
-- of what it raised, or null when it succeeds, so a test can say
--   select is(tests.refusal($$ … $$), 'CR400 invalid_answer', '…');
--   select is(tests.hint_of($$ … $$), 'Send …', '…');
-- ---------------------------------------------------------------------------

-- The SQLSTATE and the code (detail) a statement is refused with, e.g. 'CR409 quiz_has_submissions'.
create or replace function tests.refusal(p_sql text) returns text
  language plpgsql
  as $$
  declare
    v_state text;
    v_detail text;
  begin
    execute p_sql;
    return null;
  exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_detail = pg_exception_detail;
    -- app.refuse with details puts the code in a JSON detail.
    if v_detail like '{%' then
      v_detail := v_detail::jsonb ->> 'code';
    end if;
    return v_state || ' ' || coalesce(v_detail, '');
  end;
  $$;
comment on function tests.refusal(text) is 'Runs a statement as the caller; returns the SQLSTATE and code (detail) of the error it raises, e.g. ''CR400 invalid_answer'', or null when it succeeds.';

-- The details a refusal carries for the agent (app.refuse's fifth argument), as jsonb.
create or replace function tests.refusal_details(p_sql text) returns jsonb
  language plpgsql
  as $$
  declare
    v_detail text;
  begin
    execute p_sql;
    return null;
  exception when others then
    get stacked diagnostics v_detail = pg_exception_detail;
    return case when v_detail like '{%' then v_detail::jsonb end;
  end;
  $$;
comment on function tests.refusal_details(text) is 'Runs a statement as the caller; returns the JSON details of the refusal it raises (code, existingId, next_steps, …), or null when it succeeds or the refusal has none.';

-- The message of the error a statement raises.
create or replace function tests.refusal_message(p_sql text) returns text
  language plpgsql
  as $$
  begin
    execute p_sql;
    return null;
  exception when others then
    return sqlerrm;
  end;
  $$;
comment on function tests.refusal_message(text) is 'Runs a statement as the caller; returns the message of the error it raises, or null when it succeeds.';

-- The hint of the error a statement raises.
create or replace function tests.hint_of(p_sql text) returns text
  language plpgsql
  as $$
  declare
    v_hint text;
  begin
    execute p_sql;
    return null;
  exception when others then
    get stacked diagnostics v_hint = pg_exception_hint;
    return v_hint;
  end;
  $$;
comment on function tests.hint_of(text) is 'Runs a statement as the caller; returns the hint of the error it raises (how to fix it), or null when it succeeds or gives none.';

grant execute on all functions in schema tests to anon, authenticated, service_role;

-- Resolve pgTAP and the app's helpers the way a Supabase database does ("$user",
-- public, extensions), so test files call plan(), ok(), is() unqualified.
do $$
begin
  execute format('alter database %I set search_path = "$user", public, extensions', current_database());
end
$$;

-- Act as a member signed in (a browser session, or a Supabase Auth user through the hook):
-- the claims app.authenticate_session sets, and the authenticated role.
create or replace function tests.authenticate_as_member(p_org_id text, p_member_id text, p_role text) returns void
  language plpgsql
  as $$
  begin
    perform set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'org_id', p_org_id,
      'member_id', p_member_id, 'member_role', p_role)::text, true);
    perform set_config('role', 'authenticated', true);
  end;
  $$;
comment on function tests.authenticate_as_member(text, text, text) is 'Acts as a signed-in member of the org with the given role (claims org_id, member_id, member_role; role authenticated) until the transaction ends or tests.clear_authentication().';
grant execute on function tests.authenticate_as_member(text, text, text) to anon, authenticated, service_role;
