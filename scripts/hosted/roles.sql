-- The hosted-Supabase emulation, part 1: the cluster's roles, as a Supabase project has them
-- before any migration of ours runs. Run by the bootstrap superuser supabase_admin (initdb -U
-- supabase_admin), on every start of the hosted cluster; idempotent.
--
-- Facts from supabase/postgres (migrations/db/init-scripts/00000000000000-initial-schema.sql,
-- 00000000000001-auth-schema.sql, 00000000000003-post-setup.sql, and the migrations
-- 10000000000000_demote-postgres.sql, 20230201083204_grant_auth_roles_to_postgres.sql,
-- 20230306081037_grant_pg_monitor_to_postgres.sql,
-- 20240606060239_grant_predefined_roles_to_postgres.sql; ansible/playbook.yml makes postgres the
-- owner of the postgres database):
--   * supabase_admin is the only superuser and owns the server;
--   * postgres, the role a project's owner (and `supabase db push`, and SUPABASE_DB_URL) logs in
--     as, is NOSUPERUSER with CREATEROLE, CREATEDB, REPLICATION and BYPASSRLS, a member of the
--     three API roles and of pg_monitor, pg_read_all_data and pg_signal_backend;
--   * anon, authenticated (nologin, noinherit) and service_role (also bypassrls) are the roles
--     PostgREST-style requests switch into; authenticator (login, noinherit) may switch into them;
--   * supabase_auth_admin owns the auth schema.

\set ON_ERROR_STOP 1
set client_min_messages = warning;

do $$
declare
  v_role text;
begin
  foreach v_role in array array['postgres', 'authenticator', 'supabase_auth_admin', 'anon', 'authenticated', 'service_role'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = v_role) then
      execute format('create role %I', v_role);
    end if;
  end loop;
end
$$;

alter role supabase_admin with superuser createdb createrole replication bypassrls;
alter role postgres with nosuperuser login createrole createdb replication bypassrls password 'postgres';
alter role anon with nosuperuser nologin noinherit;
alter role authenticated with nosuperuser nologin noinherit;
alter role service_role with nosuperuser nologin noinherit bypassrls;
alter role authenticator with nosuperuser login noinherit password 'postgres';
alter role supabase_auth_admin with nosuperuser login noinherit createrole noreplication;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres;

-- Session settings Supabase gives these roles.
alter role postgres set search_path = "$user", public, extensions;
alter role supabase_auth_admin set search_path = auth;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
