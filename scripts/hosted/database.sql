-- The hosted-Supabase emulation, part 2: the `postgres` database as a new Supabase project
-- hands it over, before any migration of ours runs. Run by the superuser supabase_admin right
-- after the database was (re)created with owner postgres (scripts/db.sh fresh hosted).
--
-- Facts from supabase/postgres (the init scripts and migrations named in roles.sql, plus
-- 20230224042246_grant_extensions_perms_for_postgres.sql,
-- 20220713082019_pg_cron-pg_net-temp-perms-fix.sql and
-- 20231020085357_revoke_writes_on_cron_job_from_postgres.sql) and Supabase's docs (pg_cron is
-- enabled `with schema pg_catalog`, then `grant usage on schema cron to postgres`):
--   * schema extensions, owned by supabase_admin, holding uuid-ossp and pgcrypto; postgres may
--     create in it and has every privilege on its objects;
--   * pgTAP and pgrowlocks (which the pgTAP suite uses) in extensions. On Supabase, postgres
--     enables such extensions itself: supautils runs `create extension` as the superuser for the
--     extensions it lists as privileged. Without supautils, the superuser creates them here, and
--     the suite's `create extension if not exists` finds them;
--   * schema auth, owned by supabase_auth_admin, with auth.uid(), auth.role(), auth.email() and
--     auth.jwt(); since April 2025 postgres may no longer create objects in it: usage only;
--   * pg_cron created by the superuser in this database (the one cron.database_name names);
--     postgres may use schema cron and its functions and read cron.job, but not write it;
--   * objects postgres or supabase_admin create in public are granted to the API roles.

\set ON_ERROR_STOP 1
set client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- public: what postgres creates there is reachable by the API roles (PostgREST exposes it).
-- ---------------------------------------------------------------------------
grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on sequences to postgres, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- extensions
-- ---------------------------------------------------------------------------
create schema extensions;
grant usage on schema extensions to anon, authenticated, service_role;
grant all on schema extensions to postgres;
create extension "uuid-ossp" with schema extensions;
create extension pgcrypto with schema extensions;
create extension pgtap with schema extensions;
create extension pgrowlocks with schema extensions;
grant all privileges on all tables in schema extensions to postgres with grant option;
grant all privileges on all routines in schema extensions to postgres with grant option;
grant all privileges on all sequences in schema extensions to postgres with grant option;
alter default privileges in schema extensions grant all on tables to postgres with grant option;
alter default privileges in schema extensions grant all on routines to postgres with grant option;
alter default privileges in schema extensions grant all on sequences to postgres with grant option;

-- ---------------------------------------------------------------------------
-- auth: Supabase Auth's schema and the helpers policies call. The definitions read the
-- request's claims the way current Supabase does (request.jwt.claims, then the older
-- per-claim settings).
-- ---------------------------------------------------------------------------
create schema auth authorization supabase_auth_admin;
grant usage on schema auth to postgres, anon, authenticated, service_role;
set role supabase_auth_admin;
create function auth.uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
create function auth.role() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
create function auth.email() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text
$$;
create function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
grant execute on all functions in schema auth to postgres, anon, authenticated, service_role;
reset role;

-- ---------------------------------------------------------------------------
-- pg_cron, enabled the way the dashboard does it, with the privileges supabase/postgres gives
-- postgres on it.
-- ---------------------------------------------------------------------------
create extension pg_cron with schema pg_catalog;
grant usage on schema cron to postgres with grant option;
grant all on all functions in schema cron to postgres with grant option;
alter default privileges in schema cron grant all on tables to postgres with grant option;
alter default privileges in schema cron grant all on functions to postgres with grant option;
alter default privileges in schema cron grant all on sequences to postgres with grant option;
grant all privileges on all tables in schema cron to postgres with grant option;
revoke all on table cron.job from postgres;
grant select on table cron.job to postgres with grant option;
