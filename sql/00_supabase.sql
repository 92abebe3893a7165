-- Supabase compatibility: what hosted Supabase provides and plain PostgreSQL (the local
-- cluster, CI, any self-hosted database) lacks, created here only where it is missing, so
-- the rest of sql/ runs unchanged on both. Nothing that already exists is touched.
--   * roles anon, authenticated and service_role (the roles PostgREST-style requests use),
--     and authenticator, the role the API logs in as: it holds no privileges of its own and
--     may only switch into those three;
--   * role supabase_auth_admin (Supabase Auth's, which calls the custom access token hook:
--     24_members.sql);
--   * schemas extensions and auth;
--   * auth.jwt(), auth.uid(), auth.role();
--   * the pg_cron extension, when the server has it (the jobs themselves: 90_jobs.sql);
--   * pg_trgm and btree_gin in schema extensions (search and duplicate detection of leads:
--     40_leads.sql, 88_bulk.sql), as Supabase's dashboard enables them.

-- ---------------------------------------------------------------------------
-- Roles PostgREST-style requests switch into.
-- ---------------------------------------------------------------------------
do $$
declare
  v_role text;
begin
  foreach v_role in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = v_role) then
      execute format('create role %I nologin noinherit', v_role);
      -- The migrating role must be able to `set role` into it, as Supabase's postgres can.
      execute format('grant %I to current_user', v_role);
    end if;
  end loop;
  -- The API's login role, as PostgREST's: NOINHERIT, so it can do nothing until it switches
  -- into one of the API roles (functions/db.ts: the API's pool acts as anon between
  -- requests). Without a password here: locally the cluster trusts loopback; elsewhere set
  -- one (alter role authenticator password '…') and point API_DATABASE_URL at it.
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    execute 'create role authenticator login noinherit';
  end if;
  foreach v_role in array array['anon', 'authenticated', 'service_role'] loop
    if not pg_catalog.pg_has_role('authenticator', v_role, 'member') then
      execute format('grant %I to authenticator', v_role);
    end if;
  end loop;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role' and rolbypassrls) then
    -- Only reachable on plain Postgres, where we created the role just above.
    begin
      alter role service_role bypassrls;
    exception when insufficient_privilege then
      raise notice 'service_role left without bypassrls: not permitted here';
    end;
  end if;
end
$$;

-- Supabase Auth's role: it calls app.custom_access_token_hook when it issues a JWT. Here it
-- only needs to exist, so the hook can be granted to it; nothing logs in as it.
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin nologin noinherit;
  end if;
end
$$;

-- ---------------------------------------------------------------------------
-- Schemas.
-- ---------------------------------------------------------------------------
-- Supabase's extensions schema already grants its usage (postgres cannot re-grant it there).
do $$
begin
  if not exists (select from pg_catalog.pg_namespace where nspname = 'extensions') then
    create schema extensions;
    grant usage on schema extensions to anon, authenticated, service_role;
  end if;
end
$$;

do $$
begin
  if not exists (select from pg_catalog.pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;
end
$$;

-- ---------------------------------------------------------------------------
-- Extensions the schema's indexes use: trigram matching (pg_trgm) and GIN indexes that lead
-- with org_id (btree_gin). Both ship with PostgreSQL's contrib and are trusted, so the
-- database owner may create them; on Supabase they live in schema extensions.
-- ---------------------------------------------------------------------------
create extension if not exists pg_trgm with schema extensions;
create extension if not exists btree_gin with schema extensions;

-- ---------------------------------------------------------------------------
-- auth.uid(), auth.role(), auth.jwt(): read the request's JWT claims the way
-- Supabase's own definitions do (request.jwt.claims, with the older per-claim
-- settings as a fallback).
-- ---------------------------------------------------------------------------
do $$
begin
  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb
      language sql stable
      as $fn$
        select coalesce(
          nullif(current_setting('request.jwt.claim', true), ''),
          nullif(current_setting('request.jwt.claims', true), '')
        )::jsonb
      $fn$;
    comment on function auth.jwt() is 'The current request''s JWT claims as jsonb (null outside a request).';
    grant execute on function auth.jwt() to anon, authenticated, service_role;
  end if;

  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
      language sql stable
      as $fn$
        select coalesce(
          nullif(current_setting('request.jwt.claim.sub', true), ''),
          nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
        )::uuid
      $fn$;
    comment on function auth.uid() is 'The sub claim of the current request''s JWT as uuid (null when absent).';
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;

  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text
      language sql stable
      as $fn$
        select coalesce(
          nullif(current_setting('request.jwt.claim.role', true), ''),
          nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
        )::text
      $fn$;
    comment on function auth.role() is 'The role claim of the current request''s JWT (null when absent).';
    grant execute on function auth.role() to anon, authenticated, service_role;
  end if;
end
$$;

-- ---------------------------------------------------------------------------
-- pg_cron runs the application's scheduled work (it lives in pg_catalog, as on Supabase).
-- A database without it (not installed, not preloaded, or not the cron database) still
-- gets the whole schema; only the schedules are skipped, with a warning that says what to
-- enable. The same text is app.pg_cron_hint() (90_jobs.sql), which GET /health shows; keep
-- the two alike. (supabase db push does not print warnings: /health is where a deployment
-- made with it learns this.)
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
