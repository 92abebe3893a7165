-- pgTAP helpers, loaded into the test database only (scripts/test.sh), never migrated
-- into a real one. They make an RLS test a few lines long: make an org, act as it,
-- check what it can see.

create extension if not exists pgtap with schema extensions;

create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

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

create or replace function tests.authenticate_as_anon() returns void
  language plpgsql
  as $$
  begin
    perform set_config('request.jwt.claims', '{"role":"anon"}', true);
    perform set_config('role', 'anon', true);
  end;
  $$;

create or replace function tests.clear_authentication() returns void
  language plpgsql
  as $$
  begin
    perform set_config('role', 'none', true);
    perform set_config('request.jwt.claims', '', true);
  end;
  $$;

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

grant execute on all functions in schema tests to anon, authenticated, service_role;

-- Resolve pgTAP and the app's helpers the way a Supabase database does ("$user",
-- public, extensions), so test files call plan(), ok(), is() unqualified.
do $$
begin
  execute format('alter database %I set search_path = "$user", public, extensions', current_database());
end
$$;
