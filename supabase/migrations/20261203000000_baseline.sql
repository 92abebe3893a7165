-- Baseline: the whole schema as of 2026-12-03, made from sql/ (one section per file, in file
-- order), with its reference data. It replaces the project's first 40 migrations, which no
-- deployed database had applied. Later changes edit sql/ and add a migration next to this one
-- (npm run db:diff -- <name>); this file is never edited again.

-- =============================================================================================
-- sql/00_supabase.sql
-- =============================================================================================
-- Supabase compatibility: what hosted Supabase provides and plain PostgreSQL (the local
-- cluster, CI, any self-hosted database) lacks, created here only where it is missing, so
-- the rest of sql/ runs unchanged on both. Nothing that already exists is touched.
--   * roles anon, authenticated and service_role (the roles PostgREST-style requests use);
--   * schemas extensions and auth;
--   * auth.jwt(), auth.uid(), auth.role();
--   * the pg_cron extension, when the server has it (the jobs themselves: 90_jobs.sql).

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

-- ---------------------------------------------------------------------------
-- Schemas.
-- ---------------------------------------------------------------------------
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;

do $$
begin
  if not exists (select from pg_catalog.pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;
end
$$;

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
-- gets the whole schema; only the schedules are skipped, with a notice.
-- ---------------------------------------------------------------------------
do $$
begin
  if exists (select from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    create extension if not exists pg_cron;
  else
    raise notice 'pg_cron is not available: scheduled jobs will not be registered';
  end if;
exception when others then
  raise notice 'pg_cron could not be enabled here (%): scheduled jobs will not be registered', sqlerrm;
end
$$;

-- =============================================================================================
-- sql/10_foundation.sql
-- =============================================================================================
-- Foundation: the `app` schema and the helpers every domain uses.
-- `app` is not exposed through Supabase's REST API: the only way in is our HTTP edge
-- (or a human in Studio), and row-level security decides what each org sees.
--   * app.new_id: ids made in Postgres (rp_…, stg_…);
--   * app.current_org_id: the one tenant helper every policy reads;
--   * app.refuse: the error the HTTP edge turns into a status, code and hint;
--   * app._touch_updated_at: the trigger behind every updated_at column;
--   * app.jsonb_merge_patch: the merge behind PATCHes of crmData and customFields;
--   * app.make_org_private: the standard "own org only" RLS policies for a table;
--   * app.slugify, app.random_base36: public slugs (proposal pages in 66_proposals.sql,
--     quiz pages in 84_quizzes.sql).

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

-- ---------------------------------------------------------------------------
-- One way to make a table private to its org: row-level security enabled and forced, one
-- policy per command, all through app.current_org_id(). Tables whose rows simply belong to
-- their org call this instead of spelling out the same four policies; a table whose rules
-- differ (read-only to tenants, shared reference data) writes its own. Grants stay with
-- each table: some are per column.
-- ---------------------------------------------------------------------------
create function app.make_org_private(p_table regclass, p_rows text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_mine constant text := '(org_id = (select app.current_org_id()))';
  begin
    execute pg_catalog.format('alter table %s enable row level security', p_table);
    execute pg_catalog.format('alter table %s force row level security', p_table);
    execute pg_catalog.format('create policy %I on %s for select to authenticated using %s',
      p_rows || ' are visible to their own org', p_table, v_mine);
    execute pg_catalog.format('create policy %I on %s for insert to authenticated with check %s',
      p_rows || ' can be created in the caller''s org', p_table, v_mine);
    execute pg_catalog.format('create policy %I on %s for update to authenticated using %s with check %s',
      p_rows || ' can be changed by their own org', p_table, v_mine, v_mine);
    execute pg_catalog.format('create policy %I on %s for delete to authenticated using %s',
      p_rows || ' can be deleted by their own org', p_table, v_mine);
  end;
  $$;
comment on function app.make_org_private(regclass, text) is 'Enables and forces RLS on a table with an org_id column: select/insert/update/delete only within app.current_org_id(), named after the rows ("Notes are visible to their own org").';
revoke execute on function app.make_org_private(regclass, text) from public;

-- ---------------------------------------------------------------------------
-- Slugs for public pages: readable (a company, name or title) and unguessable (random
-- base36 characters appended by the page's own slug function).
-- ---------------------------------------------------------------------------
create function app.slugify(p_text text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select pg_catalog.rtrim(left(pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(coalesce(p_text, '')), '[^a-z0-9]+', '-', 'g'), '-'), 40), '-')
  $$;
comment on function app.slugify(text) is 'Lowercase letters and digits joined by single dashes, at most 40 characters ("Cool Startup, Inc." → cool-startup-inc).';
revoke execute on function app.slugify(text) from public;
grant execute on function app.slugify(text) to authenticated, service_role;

create function app.random_base36(p_length integer) returns text
  language sql volatile parallel safe
  set search_path = ''
  as $$
    -- Bytes of 252 and above are skipped (252 = 7 * 36), so every character is equally likely.
    select string_agg(substr('0123456789abcdefghijklmnopqrstuvwxyz', b % 36 + 1, 1), '')
    from (
      select b from (
        select pg_catalog.get_byte(pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 0) as b
        from pg_catalog.generate_series(1, p_length * 2)
      ) r
      where r.b < 252
      limit p_length
    ) kept
  $$;
comment on function app.random_base36(integer) is 'p_length random characters from 0-9a-z (uniform; from gen_random_uuid).';
revoke execute on function app.random_base36(integer) from public;
grant execute on function app.random_base36(integer) to authenticated, service_role;

-- =============================================================================================
-- sql/20_orgs_keys.sql
-- =============================================================================================
-- Orgs and API keys: the tenants, the plans they are on, and how a request proves which
-- org it acts for.
--   * app.tiers: plan limits as reference data (free, pro, ultra);
--   * app.orgs: one per workspace; app.api_keys: hashed keys per org;
--   * app.signup (POST /signup): a new org with the default pipeline (30_stages.sql), the
--     default playbooks (60_playbooks.sql) and its first API key;
--   * app.authenticate_api_key: the lookup every request makes before it acts as its org.
-- Elsewhere: the tier limits are enforced by triggers in 78_plan_limits.sql (which also
-- answers GET /org/tier); POST /setup changes an org's settings in 35_setup.sql; the trigger
-- orgs_create_campaign_settings (70_campaigns.sql) gives every new org its send settings.

-- ---------------------------------------------------------------------------
-- Tiers: the plan limits, as data, in one place. A null limit means unlimited.
-- ---------------------------------------------------------------------------
create table app.tiers (
  tier text primary key,
  lead_limit integer not null check (lead_limit > 0),
  campaign_limit integer check (campaign_limit > 0),
  monthly_price_usd numeric(10, 2) not null default 0
);
comment on table app.tiers is 'Plan limits per tier; the database enforces them when rows are inserted.';

insert into app.tiers (tier, lead_limit, campaign_limit, monthly_price_usd) values
  ('free', 100, 3, 0),
  ('pro', 1000, null, 49),
  ('ultra', 5000, null, 199);

alter table app.tiers enable row level security;
alter table app.tiers force row level security;
create policy "Tiers are readable by every caller" on app.tiers
  for select to anon, authenticated using (true);
grant select on app.tiers to anon, authenticated;
grant all on app.tiers to service_role;

-- ---------------------------------------------------------------------------
-- Orgs: one per workspace. Settings come from signup and POST /setup.
-- ---------------------------------------------------------------------------
create table app.orgs (
  id text primary key default app.new_id('org'),
  name text not null check (length(name) between 1 and 200),
  workspace_name text not null check (length(workspace_name) between 1 and 200),
  owner_email text not null check (length(owner_email) <= 320 and owner_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  owner_first_name text check (length(owner_first_name) <= 200),
  owner_last_name text check (length(owner_last_name) <= 200),
  agent_name text check (length(agent_name) <= 200),
  agent_platform text check (length(agent_platform) <= 100),
  tier text not null default 'free' references app.tiers (tier),
  industry text check (length(industry) <= 200),
  website text check (length(website) <= 2000),
  booking_link text check (length(booking_link) <= 2000),
  primary_color text check (primary_color ~ '^#[0-9A-Fa-f]{6}$'),
  project_slug text check (project_slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table app.orgs is 'Tenants. Every other tenant table carries org_id and is filtered to the current org by row-level security.';

create unique index orgs_owner_email_key on app.orgs (lower(owner_email));
create unique index orgs_project_slug_key on app.orgs (project_slug);

create trigger orgs_touch_updated_at before update on app.orgs
  for each row execute function app._touch_updated_at();

alter table app.orgs enable row level security;
alter table app.orgs force row level security;
-- Orgs are created by app.signup (security definer) and never deleted through the API.
create policy "Orgs are visible to their own members" on app.orgs
  for select to authenticated using (id = (select app.current_org_id()));
create policy "Orgs can update their own settings" on app.orgs
  for update to authenticated
  using (id = (select app.current_org_id()))
  with check (id = (select app.current_org_id()));

grant select on app.orgs to authenticated;
-- Tenants edit their settings but never their own plan or owner.
grant update (name, industry, website, booking_link, primary_color, project_slug) on app.orgs to authenticated;
grant all on app.orgs to service_role;

-- ---------------------------------------------------------------------------
-- API keys: `rcm_live_` + 64 random hex digits, shown once at creation, stored only as
-- a SHA-256 hash with a short display prefix.
-- ---------------------------------------------------------------------------
create table app.api_keys (
  id text primary key default app.new_id('key'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null default 'default' check (length(name) between 1 and 100),
  key_hash text not null check (key_hash ~ '^[0-9a-f]{64}$'),
  key_prefix text not null check (length(key_prefix) between 8 and 32),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
comment on table app.api_keys is 'Hashed API keys per org; the plaintext key is never stored.';

create unique index api_keys_key_hash_key on app.api_keys (key_hash);
create index api_keys_org_id_idx on app.api_keys (org_id, created_at);

alter table app.api_keys enable row level security;
alter table app.api_keys force row level security;
create policy "API keys are visible to their own org" on app.api_keys
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "API keys can be revoked by their own org" on app.api_keys
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));

-- Even its own org never reads a key's hash back.
grant select (id, org_id, name, key_prefix, created_at, last_used_at, revoked_at) on app.api_keys to authenticated;
grant update (name, revoked_at) on app.api_keys to authenticated;
grant all on app.api_keys to service_role;

-- ---------------------------------------------------------------------------
-- Key material.
-- ---------------------------------------------------------------------------
create function app.hash_api_key(p_key text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_key, 'UTF8')), 'hex')
  $$;
comment on function app.hash_api_key(text) is 'The stored form of an API key: lowercase hex SHA-256 of its UTF-8 bytes.';
revoke execute on function app.hash_api_key(text) from public;
grant execute on function app.hash_api_key(text) to service_role;

create function app._issue_api_key(p_org_id text, p_name text default 'default')
  returns table (key_id text, api_key text)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_key text := 'rcm_live_'
      || replace(pg_catalog.gen_random_uuid()::text, '-', '')
      || replace(pg_catalog.gen_random_uuid()::text, '-', '');
  begin
    insert into app.api_keys (org_id, name, key_hash, key_prefix)
    values (p_org_id, p_name, app.hash_api_key(v_key), left(v_key, 16))
    returning id into key_id;
    api_key := v_key;
    return next;
  end;
  $$;
comment on function app._issue_api_key(text, text) is 'Creates a key for an org and returns its plaintext once; only its hash is kept.';
revoke execute on function app._issue_api_key(text, text) from public;

-- ---------------------------------------------------------------------------
-- Authentication: the one cross-tenant lookup every request makes. On success it
-- sets the transaction-local JWT claims (role authenticated, org_id, key_id) that
-- row-level security reads; the caller then switches to the authenticated role.
-- ---------------------------------------------------------------------------
create function app.authenticate_api_key(p_key_hash text)
  returns table (org_id text, tier text, key_id text, revoked boolean)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_key app.api_keys%rowtype;
  begin
    select k.* into v_key from app.api_keys k where k.key_hash = p_key_hash;
    if not found then
      return;
    end if;

    org_id := v_key.org_id;
    key_id := v_key.id;
    revoked := v_key.revoked_at is not null;
    select o.tier into tier from app.orgs o where o.id = v_key.org_id;

    if not revoked then
      perform pg_catalog.set_config(
        'request.jwt.claims',
        pg_catalog.json_build_object('role', 'authenticated', 'org_id', v_key.org_id, 'key_id', v_key.id)::text,
        true);
      -- One write a minute at most per key, so busy agents don't turn every read into a write.
      if v_key.last_used_at is null or v_key.last_used_at < pg_catalog.now() - interval '1 minute' then
        update app.api_keys set last_used_at = pg_catalog.now() where id = v_key.id;
      end if;
    end if;
    return next;
  end;
  $$;
comment on function app.authenticate_api_key(text) is 'Looks up an API key by hash; for a live key sets request.jwt.claims to its org for the rest of the transaction.';
revoke execute on function app.authenticate_api_key(text) from public;
grant execute on function app.authenticate_api_key(text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Signup: a new workspace gets its org, the default pipeline, the default playbooks and
-- its first API key, returned once. One workspace per owner email.
-- ---------------------------------------------------------------------------
create function app.signup(
  p_email text,
  p_workspace_name text,
  p_agent_name text,
  p_agent_platform text,
  p_first_name text default null,
  p_last_name text default null,
  p_organization_name text default null)
  returns table (org_id text, api_key text, key_prefix text)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_email text := lower(btrim(p_email));
  begin
    if exists (select from app.orgs o where lower(o.owner_email) = v_email) then
      perform app.refuse(409, 'email_already_registered',
        pg_catalog.format('A workspace is already registered to %s', v_email),
        'Use the API key issued when that workspace was created, or sign up with a different email. Keys are shown only once and cannot be recovered.');
    end if;

    insert into app.orgs (name, workspace_name, owner_email, owner_first_name, owner_last_name, agent_name, agent_platform)
    values (coalesce(nullif(btrim(p_organization_name), ''), btrim(p_workspace_name)), btrim(p_workspace_name),
            v_email, p_first_name, p_last_name, p_agent_name, p_agent_platform)
    returning id into org_id;

    perform app._create_default_stages(org_id);
    perform app._create_default_playbooks(org_id);

    select k.api_key into api_key from app._issue_api_key(org_id) k;
    key_prefix := left(api_key, 16);
    return next;
  end;
  $$;
comment on function app.signup(text, text, text, text, text, text, text) is 'Creates a workspace (org, default stages and playbooks, first API key) for an email not yet registered; returns the key once.';
revoke execute on function app.signup(text, text, text, text, text, text, text) from public;
grant execute on function app.signup(text, text, text, text, text, text, text) to anon, service_role;

-- =============================================================================================
-- sql/25_idempotency.sql
-- =============================================================================================
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

-- =============================================================================================
-- sql/30_stages.sql
-- =============================================================================================
-- Pipeline stages: each org's ordered, coloured stages, exactly one of them the default (new
-- leads land there), each with an outcome (open, won or lost) and a stall threshold.
--   * app.stages, with triggers that take the outcome from the name when none is given,
--     clear the threshold of won and lost stages, move the default flag, and refuse to
--     commit an org that has stages but no default;
--   * app._create_default_stages: the eight-stage pipeline every org starts with (called by
--     app.signup, 20_orgs_keys.sql);
--   * the stages API (POST/PUT/DELETE /stages): app.create_stage, app.update_stage,
--     app.reorder_stages, app.delete_stage, which keep the order dense (0, 1, 2, …) and move
--     a deleted stage's leads in the same transaction, so the moves land in the stage history;
--   * app.resolve_stage(text): the request's stage id from an id or a name.
-- Elsewhere:
--   * app.stage_details (GET /stages: the stages with their live lead counts) is in
--     95_views.sql, because it counts leads;
--   * app.resolve_stage(text, text), the same lookup for any org, is in 62_automation.sql;
--   * POST /setup replaces the pipeline by stage name: 35_setup.sql;
--   * triggers other domains put on app.stages: stages_refuse_deleting_synced
--     (48_sync_sources.sql) and stages_keep_rule_stages (62_automation.sql) refuse to delete
--     a stage a sync source or an automation rule uses;
--   * what "stalled" means and the stalled list: 58_stalled.sql.

create table app.stages (
  id text primary key default app.new_id('stg'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 100),
  position integer not null default 0 check (position >= 0),
  color text check (color ~ '^#[0-9A-Fa-f]{6}$'),
  is_default boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Filled in from the name when not given (app._default_stage_outcome).
  outcome text not null check (outcome in ('open', 'won', 'lost')),
  stall_after_days integer default 7
    constraint stages_stall_after_days_check check (stall_after_days between 1 and 365),
  -- Lets tenant tables reference a stage together with its org, so a lead can never
  -- point at another org's stage.
  constraint stages_org_id_id_key unique (org_id, id)
);
comment on table app.stages is 'Pipeline stages per org; position orders them, is_default marks where new leads start.';
comment on column app.stages.position is 'The stage''s place in the pipeline (the API''s "order"), 0 first.';
comment on column app.stages.outcome is 'open, won or lost: whether a lead in this stage is still in play or a closed deal.';
comment on column app.stages.stall_after_days is 'Days without a touch after which a lead in this stage is stalled; null = never. Always null for won and lost stages.';

create unique index stages_org_name_key on app.stages (org_id, lower(name));
create unique index stages_one_default_per_org on app.stages (org_id) where is_default;
create index stages_org_position_idx on app.stages (org_id, position);

create trigger stages_touch_updated_at before update on app.stages
  for each row execute function app._touch_updated_at();

alter table app.stages enable row level security;
alter table app.stages force row level security;
create policy "Stages are visible to their own org" on app.stages
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Stages can be created in the caller's org" on app.stages
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Stages can be changed by their own org" on app.stages
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));
create policy "Stages can be deleted by their own org" on app.stages
  for delete to authenticated using (org_id = (select app.current_org_id()));

grant select, insert, update, delete on app.stages to authenticated;
grant all on app.stages to service_role;

-- ---------------------------------------------------------------------------
-- Outcomes: which stages close a deal. Stalled detection skips closed leads, analytics
-- counts won and lost, campaigns stop at either: all read stages.outcome rather than
-- guessing from names. A stage created without an outcome gets one from its name
-- ("Closed Won" → won, "Lost" → lost, anything else open); an explicit outcome always wins.
-- ---------------------------------------------------------------------------
create function app.outcome_from_stage_name(p_name text) returns text
  language sql immutable
  set search_path = ''
  as $$
    select case
      when p_name ~* '\m(won|win|signed|customer)\M' then 'won'
      when p_name ~* '\m(lost|lose|dead|disqualified|churned)\M' then 'lost'
      else 'open'
    end
  $$;
comment on function app.outcome_from_stage_name(text) is 'The outcome a stage name implies: won, lost or open.';
revoke execute on function app.outcome_from_stage_name(text) from public;
grant execute on function app.outcome_from_stage_name(text) to authenticated, service_role;

create function app._default_stage_outcome() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.outcome is null then
      new.outcome := app.outcome_from_stage_name(new.name);
    end if;
    return new;
  end;
  $$;
comment on function app._default_stage_outcome() is 'Trigger: a stage without an outcome takes the one its name implies.';
revoke execute on function app._default_stage_outcome() from public;

create trigger stages_default_outcome before insert or update of outcome on app.stages
  for each row execute function app._default_stage_outcome();

-- ---------------------------------------------------------------------------
-- Stall thresholds: stages.stall_after_days is how long a lead may sit in the stage without
-- a touch (null = the stage never stalls; won and lost stages never do). New stages start
-- with a default from their name, editable through the stages API.
-- ---------------------------------------------------------------------------
create function app.default_stall_after_days(p_stage_name text) returns integer
  language sql immutable
  set search_path = ''
  as $$
    select case lower(btrim(p_stage_name))
      when 'prospects' then 7
      when 'leads' then 5
      when 'engaged' then 3
      when 'contacted' then 5
      when 'negotiated' then 3
      when 're-engage later' then 30
      else 7
    end
  $$;
comment on function app.default_stall_after_days(text) is 'The stall threshold a stage starts with: 7 days, shorter for the default pipeline''s hot stages, 30 for Re-engage later.';
revoke execute on function app.default_stall_after_days(text) from public;
grant execute on function app.default_stall_after_days(text) to authenticated, service_role;

-- A closed deal is never overdue: a stage that is (or becomes) won or lost drops its threshold.
create function app._closed_stage_never_stalls() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.outcome <> 'open' then
      new.stall_after_days := null;
    end if;
    return new;
  end;
  $$;
comment on function app._closed_stage_never_stalls() is 'Trigger: clears stall_after_days on won and lost stages.';
revoke execute on function app._closed_stage_never_stalls() from public;

-- Named to run after stages_default_outcome, which fills in the outcome first.
create trigger stages_stall_only_open before insert or update of outcome, stall_after_days on app.stages
  for each row execute function app._closed_stage_never_stalls();

-- ---------------------------------------------------------------------------
-- One default stage per org. The partial unique index stages_one_default_per_org allows at
-- most one; marking another stage default clears the old flag first (so a single edit in
-- Studio moves the default), and a deferred check refuses to commit an org that has
-- stages but no default (unmarking or deleting the default without naming another).
-- ---------------------------------------------------------------------------
create function app._move_default_stage() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.is_default and (tg_op = 'INSERT' or not old.is_default) then
      update app.stages s set is_default = false
      where s.org_id = new.org_id and s.is_default and s.id <> new.id;
    end if;
    return new;
  end;
  $$;
comment on function app._move_default_stage() is 'Trigger: a stage marked default takes the flag from the org''s previous default stage.';
revoke execute on function app._move_default_stage() from public;

create trigger stages_move_default before insert or update of is_default on app.stages
  for each row execute function app._move_default_stage();

create function app._require_default_stage() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id text;
  begin
    -- Both orgs when a stage changed org; old is null on insert, new on delete.
    for v_org_id in select distinct o from unnest(array[new.org_id, old.org_id]) o where o is not null loop
      if exists (select from app.stages s where s.org_id = v_org_id)
         and not exists (select from app.stages s where s.org_id = v_org_id and s.is_default) then
        perform app.refuse(409, 'default_stage_required',
          'The pipeline needs a default stage (new leads land there)',
          'Mark another stage as default instead of unmarking or deleting the current one: PUT /api/openclaw/stages { "id": "<stage id>", "isDefault": true } (in SQL: update app.stages set is_default = true where id = …); the flag moves by itself.');
      end if;
    end loop;
    return null;
  end;
  $$;
comment on function app._require_default_stage() is 'Constraint trigger (deferred): an org that has stages must have a default stage when the transaction commits.';
revoke execute on function app._require_default_stage() from public;

create constraint trigger stages_require_default after insert or update of is_default, org_id or delete on app.stages
  deferrable initially deferred
  for each row execute function app._require_default_stage();
-- ---------------------------------------------------------------------------
-- The default pipeline: eight stages, with their outcomes spelled out and their thresholds.
-- ---------------------------------------------------------------------------
create function app._create_default_stages(p_org_id text) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.stages (org_id, name, position, color, is_default, outcome, stall_after_days)
    select p_org_id, d.name, d.position, d.color, d.position = 0, d.outcome, app.default_stall_after_days(d.name)
    from (values
      ('Prospects', 0, '#94A3B8', 'open'),
      ('Leads', 1, '#60A5FA', 'open'),
      ('Engaged', 2, '#818CF8', 'open'),
      ('Contacted', 3, '#A78BFA', 'open'),
      ('Negotiated', 4, '#F59E0B', 'open'),
      ('Re-engage later', 5, '#F97316', 'open'),
      ('Closed Won', 6, '#22C55E', 'won'),
      ('Closed Lost', 7, '#EF4444', 'lost')
    ) as d(name, position, color, outcome)
  $$;
comment on function app._create_default_stages(text) is 'Gives a new org the default eight-stage pipeline (Prospects the default stage) with outcomes and stall thresholds.';
revoke execute on function app._create_default_stages(text) from public;

-- ---------------------------------------------------------------------------
-- Lookups and helpers of the stages API. plpgsql rather than sql throughout: its plans
-- are re-made when the role changes, so a session that switches between a tenant and
-- Studio-like work sees the right rows.
-- ---------------------------------------------------------------------------

-- A stage by id (any visible org: row-level security limits a tenant to its own), or by
-- name (case-insensitive) within the current org.
create function app._find_stage(p_stage text) returns app.stages
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_stage app.stages;
  begin
    select s.* into v_stage from app.stages s
    where s.id = p_stage
       or (s.org_id = app.current_org_id() and lower(s.name) = lower(btrim(p_stage)))
    order by s.id = p_stage desc
    limit 1;
    return v_stage;
  end;
  $$;
comment on function app._find_stage(text) is 'The stage with this id, or the current org''s stage with this name (case-insensitive); null when there is none.';
revoke execute on function app._find_stage(text) from public;
grant execute on function app._find_stage(text) to authenticated, service_role;

create function app._refuse_unknown_stage(p_stage text) returns void
  language plpgsql
  set search_path = ''
  as $$
  begin
    perform app.refuse(404, 'not_found', pg_catalog.format('Stage %s was not found', p_stage),
      'Pass the id (stg_…) or name of one of your stages: GET /api/openclaw/stages lists them. Ids belong to one workspace: another workspace''s stages are not visible with this key.');
  end;
  $$;
comment on function app._refuse_unknown_stage(text) is 'Refuses with 404 for a stage that is not the caller''s.';
revoke execute on function app._refuse_unknown_stage(text) from public;
grant execute on function app._refuse_unknown_stage(text) to authenticated, service_role;

-- Serialises pipeline edits of one org (positions are read, then rewritten). No key update:
-- leads may still be created in and moved between stages meanwhile.
create function app._lock_stages(p_org_id text) returns void
  language plpgsql
  set search_path = ''
  as $$
  begin
    perform from app.stages s where s.org_id = p_org_id order by s.id for no key update;
  end;
  $$;
comment on function app._lock_stages(text) is 'Locks an org''s stages so concurrent pipeline edits run one after the other.';
revoke execute on function app._lock_stages(text) from public;
grant execute on function app._lock_stages(text) to authenticated, service_role;

-- Renumbers an org's stages 0, 1, 2, … in their current order, placing p_stage_id (when
-- given) at index p_index (clamped to the pipeline) and the others around it.
create function app._place_stage(p_org_id text, p_stage_id text, p_index integer) returns void
  language plpgsql
  set search_path = ''
  as $$
  begin
    with others as (
      select s.id, (row_number() over (order by s.position, lower(s.name), s.id) - 1)::integer as idx
      from app.stages s
      where s.org_id = p_org_id and s.id is distinct from p_stage_id
    ),
    target as (
      select least(greatest(coalesce(p_index, 0), 0), (select count(*) from others))::integer as k
    ),
    placed as (
      select o.id, case when p_stage_id is not null and o.idx >= t.k then o.idx + 1 else o.idx end as pos
      from others o cross join target t
      union all
      select p_stage_id, t.k from target t where p_stage_id is not null
    )
    update app.stages s set position = p.pos
    from placed p
    where s.id = p.id and s.position <> p.pos;
  end;
  $$;
comment on function app._place_stage(text, text, integer) is 'Renumbers an org''s stages densely from 0, moving one stage (if given) to the given index.';
revoke execute on function app._place_stage(text, text, integer) from public;
grant execute on function app._place_stage(text, text, integer) to authenticated, service_role;

create function app._refuse_taken_stage_name(p_org_id text, p_name text, p_except_id text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_other app.stages;
  begin
    select s.* into v_other from app.stages s
    where s.org_id = p_org_id and lower(s.name) = lower(btrim(p_name)) and s.id is distinct from p_except_id;
    if v_other.id is not null then
      perform app.refuse(409, 'stage_exists',
        pg_catalog.format('A stage named "%s" already exists (%s)', v_other.name, v_other.id),
        'Stage names are unique per workspace (case-insensitive). Choose another name, or change the existing stage with PUT /api/openclaw/stages { "id": "' || v_other.id || '", … }.');
    end if;
  end;
  $$;
comment on function app._refuse_taken_stage_name(text, text, text) is 'Refuses (409, naming the existing stage) a stage name the org already uses.';
revoke execute on function app._refuse_taken_stage_name(text, text, text) from public;
grant execute on function app._refuse_taken_stage_name(text, text, text) to authenticated, service_role;

-- The current org's stage from an id or a name, refusing with the valid names; the
-- two-argument form it calls (for any org) is in 62_automation.sql.
create function app.resolve_stage(p_stage text) returns text
  language plpgsql stable
  set search_path = ''
  as $$
  begin
    return app.resolve_stage(p_stage, app.current_org_id());
  end;
  $$;

comment on function app.resolve_stage(text) is 'The id of the current org''s stage given its id or name (case-insensitive); refuses with the valid names otherwise.';
revoke execute on function app.resolve_stage(text) from public;
grant execute on function app.resolve_stage(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The stages API: outcome and stallAfterDays, as create and change take them.
-- ---------------------------------------------------------------------------
create function app._set_stage_rules(p_stage_id text, p_rules jsonb) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_days jsonb := p_rules -> 'stallAfterDays';
    v_outcome jsonb := p_rules -> 'outcome';
    v_was_open boolean := (select s.outcome = 'open' from app.stages s where s.id = p_stage_id);
  begin
    if p_rules ? 'outcome' then
      if v_outcome <> 'null'::jsonb and (pg_catalog.jsonb_typeof(v_outcome) <> 'string' or v_outcome ->> 0 not in ('open', 'won', 'lost')) then
        perform app.refuse(400, 'invalid_outcome', pg_catalog.format('outcome %s is not open, won or lost', v_outcome),
          'Send outcome as "open" (still in play), "won" or "lost" (closed deals: never stalled, counted as won or lost), or null to take it from the stage name.');
      end if;
      update app.stages s set outcome = p_rules ->> 'outcome' where s.id = p_stage_id;
      -- A closed stage lost its threshold; reopened, it gets its default back unless one is given.
      if not v_was_open and not (p_rules ? 'stallAfterDays') then
        update app.stages s set stall_after_days = app.default_stall_after_days(s.name)
        where s.id = p_stage_id and s.outcome = 'open' and s.stall_after_days is null;
      end if;
    end if;
    if p_rules ? 'stallAfterDays' then
      if v_days <> 'null'::jsonb and (pg_catalog.jsonb_typeof(v_days) <> 'number' or (v_days #>> '{}')::numeric not between 1 and 365
                                       or (v_days #>> '{}')::numeric <> pg_catalog.trunc((v_days #>> '{}')::numeric)) then
        perform app.refuse(400, 'invalid_stall_after_days', pg_catalog.format('stallAfterDays %s is not a whole number of days from 1 to 365', v_days),
          'Send stallAfterDays as 1-365 (a lead in the stage is stalled after that many days without a touch), or null so the stage never stalls.');
      end if;
      update app.stages s set stall_after_days = (p_rules ->> 'stallAfterDays')::integer where s.id = p_stage_id;
    end if;
  end;
  $$;
comment on function app._set_stage_rules(text, jsonb) is 'Sets a stage''s outcome and/or stallAfterDays from the keys present in p_rules, refusing invalid values with a hint.';
revoke execute on function app._set_stage_rules(text, jsonb) from public;
grant execute on function app._set_stage_rules(text, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Create and change one stage. A new stage goes last unless an index is given; marking a
-- stage default (or creating an org's first stage) moves the flag to it; the default flag
-- is never removed by unmarking, only moved.
-- ---------------------------------------------------------------------------
create function app.create_stage(
  p_name text,
  p_position integer default null,
  p_color text default null,
  p_is_default boolean default false,
  p_org_id text default app.current_org_id(),
  p_rules jsonb default '{}')
  returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_id text;
    v_first boolean;
  begin
    if p_org_id is null then
      perform app.refuse(400, 'org_required', 'No org to create the stage in',
        'Call it in a tenant request, or pass p_org_id.');
    end if;
    perform app._lock_stages(p_org_id);
    perform app._refuse_taken_stage_name(p_org_id, p_name, null);
    v_first := not exists (select from app.stages s where s.org_id = p_org_id and s.is_default);

    insert into app.stages (org_id, name, position, color, is_default, stall_after_days)
    values (p_org_id, btrim(p_name), 0, p_color, coalesce(p_is_default, false) or v_first, app.default_stall_after_days(p_name))
    returning id into v_id;
    perform app._set_stage_rules(v_id, coalesce(p_rules, '{}'::jsonb));

    -- The new stage goes last unless an index is given.
    perform app._place_stage(p_org_id, v_id, coalesce(p_position, 2147483647));
    return v_id;
  end;
  $$;
comment on function app.create_stage(text, integer, text, boolean, text, jsonb) is 'Adds a stage at the given index (default last); marking it default (or being the only stage) moves the default flag to it; p_rules may set outcome and stallAfterDays.';
revoke execute on function app.create_stage(text, integer, text, boolean, text, jsonb) from public;
grant execute on function app.create_stage(text, integer, text, boolean, text, jsonb) to authenticated, service_role;

create function app.update_stage(p_stage text, p_changes jsonb) returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_stage app.stages := app._find_stage(p_stage);
    v_changes jsonb := coalesce(p_changes, '{}'::jsonb);
    v_unknown text;
  begin
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;
    select string_agg(k, ', ') into v_unknown
    from pg_catalog.jsonb_object_keys(v_changes) k
    where k not in ('name', 'order', 'color', 'isDefault', 'stallAfterDays', 'outcome');
    if v_unknown is not null then
      perform app.refuse(400, 'invalid_stage_change', pg_catalog.format('Unknown stage field(s): %s', v_unknown),
        'A stage has name, order, color, isDefault, stallAfterDays and outcome.');
    end if;
    perform app._lock_stages(v_stage.org_id);
    v_stage := app._find_stage(v_stage.id);
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;

    if v_changes ? 'name' then
      perform app._refuse_taken_stage_name(v_stage.org_id, v_changes ->> 'name', v_stage.id);
      update app.stages s set name = btrim(v_changes ->> 'name') where s.id = v_stage.id;
    end if;
    if v_changes ? 'color' then
      update app.stages s set color = v_changes ->> 'color' where s.id = v_stage.id;
    end if;
    if v_changes ? 'isDefault' then
      if (v_changes ->> 'isDefault')::boolean then
        update app.stages s set is_default = true where s.id = v_stage.id;
      elsif v_stage.is_default then
        perform app.refuse(409, 'default_stage_required',
          pg_catalog.format('"%s" is the default stage and the pipeline needs one', v_stage.name),
          'Mark another stage as default instead: PUT /api/openclaw/stages { "id": "<other stage id>", "isDefault": true } moves the flag.');
      end if;
    end if;
    perform app._set_stage_rules(v_stage.id, v_changes);
    if v_changes ? 'order' then
      perform app._place_stage(v_stage.org_id, v_stage.id, (v_changes ->> 'order')::integer);
    end if;
    return v_stage.id;
  end;
  $$;
comment on function app.update_stage(text, jsonb) is 'Changes one stage (by id or name): name, order (moves it, others shift), color, isDefault (true moves the flag; the default cannot be unmarked), stallAfterDays, outcome.';
revoke execute on function app.update_stage(text, jsonb) from public;
grant execute on function app.update_stage(text, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Reorder: the org's whole pipeline, every stage once (ids or names), first to last.
-- ---------------------------------------------------------------------------
create function app.reorder_stages(p_stages text[], p_org_id text default app.current_org_id()) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_ids text[];
    v_unknown text;
    v_repeated text;
    v_missing text;
    v_hint text;
  begin
    if p_org_id is null then
      perform app.refuse(400, 'org_required', 'No org whose stages to reorder', 'Call it in a tenant request, or pass p_org_id.');
    end if;
    perform app._lock_stages(p_org_id);
    v_hint := 'Send every stage of the pipeline exactly once, first to last: { "order": ['
      || coalesce((select string_agg(pg_catalog.format('"%s"', s.id), ', ' order by s.position, lower(s.name))
                   from app.stages s where s.org_id = p_org_id), '')
      || '] } (ids or names; GET /api/openclaw/stages lists them). To move one stage, PUT { "id": …, "order": <index> }.';

    -- Each entry resolved to a stage id of this org (null when it names none).
    select array_agg((
        select s.id from app.stages s
        where s.org_id = p_org_id and (s.id = r.ref or lower(s.name) = lower(btrim(r.ref)))
        order by s.id = r.ref desc limit 1) order by r.ord),
      string_agg(pg_catalog.format('"%s"', r.ref), ', ' order by r.ord) filter (where not exists (
        select from app.stages s
        where s.org_id = p_org_id and (s.id = r.ref or lower(s.name) = lower(btrim(r.ref)))))
      into v_ids, v_unknown
    from unnest(coalesce(p_stages, '{}'::text[])) with ordinality as r(ref, ord);

    if v_unknown is not null then
      perform app.refuse(400, 'invalid_stage_order', pg_catalog.format('Not a stage of this workspace: %s', v_unknown), v_hint);
    end if;
    select string_agg(pg_catalog.format('"%s"', d.id), ', ') into v_repeated
    from (select u.id from unnest(v_ids) u(id) group by u.id having count(*) > 1) d;
    if v_repeated is not null then
      perform app.refuse(400, 'invalid_stage_order', pg_catalog.format('Stage(s) listed more than once: %s', v_repeated), v_hint);
    end if;
    select string_agg(pg_catalog.format('"%s" (%s)', s.name, s.id), ', ' order by s.position, lower(s.name)) into v_missing
    from app.stages s
    where s.org_id = p_org_id and not (s.id = any (coalesce(v_ids, '{}'::text[])));
    if v_missing is not null then
      perform app.refuse(400, 'invalid_stage_order', pg_catalog.format('The order leaves out: %s', v_missing), v_hint);
    end if;

    update app.stages s set position = (u.ord - 1)::integer
    from unnest(v_ids) with ordinality as u(id, ord)
    where s.id = u.id and s.position <> u.ord - 1;
  end;
  $$;
comment on function app.reorder_stages(text[], text) is 'Puts the org''s stages in the given order (every stage once, by id or name); refuses unknown, repeated or missing stages.';
revoke execute on function app.reorder_stages(text[], text) from public;
grant execute on function app.reorder_stages(text[], text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Delete: a stage that holds leads (soft-deleted ones too: they would come back) needs a
-- stage to move them to; they move in the same transaction, so the stage history records
-- each move. The default stage stays until another one is default.
-- ---------------------------------------------------------------------------
create function app.delete_stage(p_stage text, p_move_to text default null) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_stage app.stages := app._find_stage(p_stage);
    v_target app.stages;
    v_live integer;
    v_deleted integer;
    v_moved integer := 0;
  begin
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;
    perform app._lock_stages(v_stage.org_id);
    -- No lead can enter the stage from here on, so the count below is the final one.
    perform from app.stages s where s.id = v_stage.id for update;
    v_stage := app._find_stage(v_stage.id);
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;

    if v_stage.is_default then
      perform app.refuse(409, 'default_stage',
        pg_catalog.format('"%s" is the default stage (new leads land there) and cannot be deleted', v_stage.name),
        'Make another stage the default first: PUT /api/openclaw/stages { "id": "<other stage id>", "isDefault": true }, then delete this one (with moveTo if it holds leads).');
    end if;

    if p_move_to is not null then
      select s.* into v_target from app.stages s
      where s.org_id = v_stage.org_id and (s.id = p_move_to or lower(s.name) = lower(btrim(p_move_to)))
      order by s.id = p_move_to desc limit 1;
      if v_target.id is null then
        perform app.refuse(400, 'unknown_stage',
          pg_catalog.format('moveTo: no stage named or with id "%s" in this workspace', p_move_to),
          'moveTo takes the id or name of another stage: ' || coalesce((
            select string_agg(pg_catalog.format('"%s"', s.name), ', ' order by s.position)
            from app.stages s where s.org_id = v_stage.org_id and s.id <> v_stage.id), '(no other stages)') || '.');
      end if;
      if v_target.id = v_stage.id then
        perform app.refuse(400, 'invalid_move_to', 'moveTo is the stage being deleted',
          'Pass another stage as moveTo: the leads need somewhere to go.');
      end if;
    end if;

    select count(*) filter (where l.deleted_at is null), count(*) filter (where l.deleted_at is not null)
      into v_live, v_deleted
    from app.leads l where l.org_id = v_stage.org_id and l.stage_id = v_stage.id;

    if v_live + v_deleted > 0 then
      if v_target.id is null then
        perform app.refuse(409, 'stage_has_leads',
          pg_catalog.format('Stage "%s" holds %s lead(s) (%s live, %s soft-deleted)', v_stage.name, v_live + v_deleted, v_live, v_deleted),
          pg_catalog.format('Pass moveTo with the stage they should move to: DELETE /api/openclaw/stages?id=%s&moveTo=<stage id or name>. Soft-deleted leads move too, so they have a stage if restored.', v_stage.id));
      end if;
      update app.leads l set stage_id = v_target.id
      where l.org_id = v_stage.org_id and l.stage_id = v_stage.id;
      get diagnostics v_moved = row_count;
    end if;

    delete from app.stages s where s.id = v_stage.id;
    perform app._place_stage(v_stage.org_id, null, null);

    return pg_catalog.jsonb_build_object(
      'id', v_stage.id, 'name', v_stage.name, 'leadsMoved', v_moved,
      'movedTo', case when v_target.id is not null then pg_catalog.jsonb_build_object('id', v_target.id, 'name', v_target.name) end);
  end;
  $$;
comment on function app.delete_stage(text, text) is 'Deletes a non-default stage (by id or name); its leads, soft-deleted included, must be moved with p_move_to (recorded in the stage history).';
revoke execute on function app.delete_stage(text, text) from public;
grant execute on function app.delete_stage(text, text) to authenticated, service_role;

-- =============================================================================================
-- sql/35_setup.sql
-- =============================================================================================
-- Workspace setup (POST /setup): the org's settings and, when given, its whole pipeline in
-- one idempotent call.
--   * app._stage_list: the stages of a setup body as rows;
--   * app.setup_workspace: applies the settings (app.orgs, 20_orgs_keys.sql) and replaces the
--     pipeline by stage name.
-- The stages are written to app.stages directly, so its triggers (30_stages.sql: outcome
-- from the name, one default stage) hold here too, and the stage history (42_stage_history.sql)
-- records the leads moved off removed stages.

-- ---------------------------------------------------------------------------
-- The stages of a setup body as rows; a stage without "order" takes its list position.
-- ---------------------------------------------------------------------------
create function app._stage_list(p_stages jsonb)
  returns table (name text, "position" integer, color text, is_default boolean)
  language sql immutable
  set search_path = ''
  as $$
    select btrim(s.name), coalesce(s."order", (s.ord - 1)::integer), s.color, coalesce(s."isDefault", false)
    from rows from (pg_catalog.jsonb_to_recordset(p_stages)
      as (name text, "order" integer, color text, "isDefault" boolean)) with ordinality
      as s(name, "order", color, "isDefault", ord)
  $$;
comment on function app._stage_list(jsonb) is 'Parses the stages array of a setup body into rows.';
revoke execute on function app._stage_list(jsonb) from public;
grant execute on function app._stage_list(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Setup: org settings and, when given, the pipeline. Stages are matched by name
-- (case-insensitive), so repeating the same body changes nothing; stages left out
-- are removed and their leads move to the default stage.
-- ---------------------------------------------------------------------------
create function app.setup_workspace(p_project_slug text, p_org jsonb, p_stages jsonb)
  returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org_id text := app.current_org_id();
    v_org jsonb := coalesce(p_org, '{}'::jsonb);
    v_default_name text;
    v_default_id text;
    v_moved integer := 0;
    v_removed text[] := '{}'::text[];
  begin
    update app.orgs o set
      project_slug = coalesce(p_project_slug, o.project_slug),
      name = coalesce(v_org ->> 'name', o.name),
      industry = case when v_org ? 'industry' then v_org ->> 'industry' else o.industry end,
      website = case when v_org ? 'website' then v_org ->> 'website' else o.website end,
      booking_link = case when v_org ? 'bookingLink' then v_org ->> 'bookingLink' else o.booking_link end,
      primary_color = case when v_org ? 'primaryColor' then v_org ->> 'primaryColor' else o.primary_color end
    where o.id = v_org_id;

    if p_stages is null then
      return pg_catalog.jsonb_build_object('leadsMoved', 0, 'stagesRemoved', '[]'::jsonb);
    end if;

    if (select count(*) from app._stage_list(p_stages)) = 0 then
      perform app.refuse(400, 'no_stages', 'stages must list at least one stage',
        'Send stages as [{ "name": "Prospects", "order": 0, "isDefault": true }, …], or leave stages out to keep the current pipeline.');
    end if;
    if (select count(*) from app._stage_list(p_stages) where is_default) > 1 then
      perform app.refuse(400, 'several_default_stages', 'More than one stage has isDefault: true',
        'Mark exactly one stage as isDefault (new leads land there), or none to make the first stage the default.');
    end if;
    if (select count(distinct lower(name)) from app._stage_list(p_stages)) < (select count(*) from app._stage_list(p_stages)) then
      perform app.refuse(400, 'duplicate_stage_names', 'Stage names must be unique (case-insensitive)',
        'Give every stage a distinct name.');
    end if;

    select s.name into v_default_name
    from app._stage_list(p_stages) s
    order by s.is_default desc, s.position
    limit 1;

    update app.stages s set is_default = false where s.org_id = v_org_id and s.is_default;

    insert into app.stages (org_id, name, position, color, is_default)
    select v_org_id, s.name, s.position, s.color, lower(s.name) = lower(v_default_name)
    from app._stage_list(p_stages) s
    on conflict (org_id, lower(name)) do update set
      name = excluded.name,
      position = excluded.position,
      color = coalesce(excluded.color, app.stages.color),
      is_default = excluded.is_default;

    select s.id into v_default_id from app.stages s where s.org_id = v_org_id and s.is_default;

    with removed as (
      select s.id from app.stages s
      where s.org_id = v_org_id
        and lower(s.name) not in (select lower(n.name) from app._stage_list(p_stages) n)
    )
    update app.leads l set stage_id = v_default_id
    where l.org_id = v_org_id and l.stage_id in (select r.id from removed r);
    get diagnostics v_moved = row_count;

    with deleted as (
      delete from app.stages s
      where s.org_id = v_org_id
        and lower(s.name) not in (select lower(n.name) from app._stage_list(p_stages) n)
      returning s.name
    )
    select coalesce(array_agg(d.name order by d.name), '{}') into v_removed from deleted d;

    return pg_catalog.jsonb_build_object('leadsMoved', v_moved, 'stagesRemoved', pg_catalog.to_jsonb(v_removed));
  end;
  $$;
comment on function app.setup_workspace(text, jsonb, jsonb) is 'Applies org settings and, when given, replaces the pipeline by stage name; idempotent for the same input.';
revoke execute on function app.setup_workspace(text, jsonb, jsonb) from public;
grant execute on function app.setup_workspace(text, jsonb, jsonb) to authenticated, service_role;

-- =============================================================================================
-- sql/40_leads.sql
-- =============================================================================================
-- Leads: the people an org sells to. One live lead per org and email (case-insensitive:
-- leads_org_email_key); soft delete (deleted_at) keeps a lead recoverable; a lead's stage
-- is always one of its own org's stages (leads_stage_fkey). This file holds app.leads (its
-- columns, indexes and policies) and the trigger that puts a new lead in the default stage.
--
-- POST /leads (functions/routes/leads.ts) is a single insert into app.leads; the rules
-- around it are triggers, fired by timing and then by name, as listed here:
--   before, row by row:
--     leads_check_custom_fields  46_custom_fields.sql  customFields fit the org's definitions
--     leads_default_stage        40_leads.sql          (insert) no stage given: the default one
--     leads_enforce_limit        78_plan_limits.sql    (insert) the tier's lead limit, exact
--                                                      under concurrency (locks the org row)
--     leads_name_keys            52_enrichment.sql     organization_key and company_key
--     leads_touch_updated_at     40_leads.sql          (update) updated_at
--   after:
--     leads_proposal             66_proposals.sql      (insert) the lead's proposal page
--     leads_record_stage_change  42_stage_history.sql  the stage history: first stage, each move
--     leads_score_new            56_scoring.sql        (insert, per statement) the first score
--     leads_rescore              56_scoring.sql        (update of tier, enrichment_status or
--                                                      last_touch_at) the new score
-- app.lead_details, the API's view of a lead (with its stage name, score and proposal slug),
-- is in 95_views.sql because it joins the score (56_scoring.sql) and the proposal
-- (66_proposals.sql), whose tables later files add.
-- last_touch_at is moved forward by touchpoints (44_touchpoints_notes.sql); enrichment
-- (52_enrichment.sql) fills the enrichment columns.

create table app.leads (
  id text primary key default app.new_id('rp'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  first_name text not null check (length(btrim(first_name)) between 1 and 200),
  last_name text check (length(last_name) <= 200),
  email text not null check (length(email) <= 320 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  organization_name text check (length(organization_name) <= 300),
  business_type text check (length(business_type) <= 200),
  phone text check (length(phone) <= 50),
  tier text check (length(tier) <= 50),
  status text not null default 'new' check (length(btrim(status)) between 1 and 50),
  stage_id text,
  custom_fields jsonb not null default '{}' check (jsonb_typeof(custom_fields) = 'object'),
  crm_data jsonb not null default '{}' check (jsonb_typeof(crm_data) = 'object'),
  -- Top-level enrichment facts (shown in the UI's enrichment panel).
  title text check (length(title) <= 300),
  seniority text check (length(seniority) <= 100),
  company_name text check (length(company_name) <= 300),
  linkedin_url text check (length(linkedin_url) <= 2000),
  company_size text check (length(company_size) <= 100),
  company_revenue text check (length(company_revenue) <= 100),
  enrichment_status text not null default 'not_enriched'
    check (enrichment_status in ('not_enriched', 'enriching', 'complete', 'failed')),
  enrichment jsonb check (jsonb_typeof(enrichment) = 'object'),
  enriched_at timestamptz,
  last_touch_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz,
  -- The email as uniqueness compares it. A plain column (not an expression index) so
  -- lookups stay index scans under RLS: lower() is not leakproof, texteq is.
  email_key text generated always as (lower(email)) stored,
  -- What search (`q`) matches: name, email and company.
  search_text text generated always as (lower(
    coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || email || ' '
    || coalesce(organization_name, '') || ' ' || coalesce(company_name, ''))) stored,
  -- Enrichment state, and the keys the spider web joins on.
  enrichment_started_at timestamptz,
  enrichment_error text check (length(enrichment_error) <= 2000),
  -- The employer's domain as enrichment found it (mail.acme.com → acme.com, or the
  -- company a paid provider names); null until enriched, and for free-mail leads.
  company_domain text check (length(company_domain) <= 253),
  email_domain text generated always as (lower(split_part(email, '@', 2))) stored,
  -- Kept by a trigger (app._lead_name_keys), not generated: see 52_enrichment.sql.
  organization_key text,
  company_key text,
  -- Who referred the lead, from crmData (referredBy, referrer or referred_by): an email,
  -- a lead id or a name.
  referrer_key text generated always as (nullif(lower(btrim(coalesce(
    crm_data ->> 'referredBy', crm_data ->> 'referrer', crm_data ->> 'referred_by'))), '')) stored,
  -- What stalled detection measures from: the last touch, or the creation for a lead never
  -- touched. A plain column (not an expression index on coalesce()): under row-level
  -- security only leakproof comparisons become index conditions, and coalesce() is not one.
  idle_since timestamptz generated always as (coalesce(last_touch_at, created_at)) stored,
  constraint leads_org_id_id_key unique (org_id, id),
  constraint leads_stage_fkey foreign key (org_id, stage_id) references app.stages (org_id, id)
);
comment on table app.leads is 'Leads per org. deleted_at set = soft-deleted (hidden from lists, restorable, still counted against the plan until permanently deleted).';
comment on column app.leads.enrichment is 'The enrichment document: sources, discussion points, tech stack, confidence, per-source raw data.';
comment on column app.leads.last_touch_at is 'When the lead was last touched (touchpoint, email, meeting); what stalled detection reads.';
comment on column app.leads.enrichment_status is 'not_enriched, enriching (a run is in progress since enrichment_started_at), complete or failed (enrichment_error says why).';
comment on column app.leads.enrichment_started_at is 'When the latest enrichment run started.';
comment on column app.leads.enrichment_error is 'Why the latest enrichment run failed (null unless enrichment_status = failed).';
comment on column app.leads.company_domain is 'The employer''s web domain as enrichment found it; what the spider web matches leads of one company on.';
comment on column app.leads.referrer_key is 'Who referred the lead (crm_data.referredBy / referrer / referred_by), lower-cased, for the spider web.';
comment on column app.leads.idle_since is 'The last touch, or the creation for a lead never touched: what stalled detection measures from.';

create unique index leads_org_email_key on app.leads (org_id, email_key) where deleted_at is null;
create index leads_org_created_idx on app.leads (org_id, created_at desc, id desc) where deleted_at is null;
create index leads_org_deleted_idx on app.leads (org_id, deleted_at desc) where deleted_at is not null;
create index leads_org_status_idx on app.leads (org_id, status) where deleted_at is null;
create index leads_org_tier_idx on app.leads (org_id, tier) where deleted_at is null;
create index leads_org_stage_idx on app.leads (org_id, stage_id);

-- The keys the spider web (52_enrichment.sql) joins an org's leads on: one company, one
-- mail domain, one referrer.
create index leads_org_company_domain_idx on app.leads (org_id, company_domain) where deleted_at is null;
create index leads_org_email_domain_idx on app.leads (org_id, email_domain) where deleted_at is null;
create index leads_org_organization_key_idx on app.leads (org_id, organization_key) where deleted_at is null;
create index leads_org_company_key_idx on app.leads (org_id, company_key) where deleted_at is null;
create index leads_org_referrer_key_idx on app.leads (org_id, referrer_key) where deleted_at is null;
-- What the stuck-run sweep reads (across orgs, so not led by org_id).
create index leads_enriching_idx on app.leads (enrichment_started_at) where enrichment_status = 'enriching';

-- The stalled list's index (58_stalled.sql): org, stage and idle_since in the index
-- condition. It carries created_at as well, so pipeline analytics (64_analytics.sql) reads
-- live leads per stage and their age from it too.
create index leads_org_stage_idle_idx on app.leads (org_id, stage_id, idle_since) include (id, created_at, last_touch_at, status)
  where deleted_at is null;

create trigger leads_touch_updated_at before update on app.leads
  for each row execute function app._touch_updated_at();

alter table app.leads enable row level security;
alter table app.leads force row level security;
create policy "Leads are visible to their own org" on app.leads
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Leads can be created in the caller's org" on app.leads
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Leads can be changed by their own org" on app.leads
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));
create policy "Leads can be deleted by their own org" on app.leads
  for delete to authenticated using (org_id = (select app.current_org_id()));

grant select, insert, update, delete on app.leads to authenticated;
grant all on app.leads to service_role;

-- ---------------------------------------------------------------------------
-- New leads land in the org's default stage unless a stage is given.
-- ---------------------------------------------------------------------------
create function app._lead_default_stage() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.stage_id is null then
      select s.id into new.stage_id
      from app.stages s
      where s.org_id = new.org_id and s.is_default;
    end if;
    return new;
  end;
  $$;
comment on function app._lead_default_stage() is 'Trigger: puts a new lead without a stage into its org''s default stage.';
revoke execute on function app._lead_default_stage() from public;

create trigger leads_default_stage before insert on app.leads
  for each row execute function app._lead_default_stage();

-- =============================================================================================
-- sql/42_stage_history.sql
-- =============================================================================================
-- Stage history: one row per stage a lead enters (its first stage included), written by a
-- trigger on app.leads so Studio edits, sync sources and automation are recorded as well
-- as API calls. Read by GET /stages/history, pipeline analytics (64_analytics.sql) and
-- playbook recommendations (60_playbooks.sql); automation (62_automation.sql) marks its
-- moves with the rule that made them.
--   * app.stage_changes;
--   * app.current_actor, app.current_source: who and what is making a change (also the
--     defaults of touchpoints, notes, feedback and events);
--   * the trigger leads_record_stage_change (app._record_stage_change).
-- Elsewhere: the trigger stage_changes_event (54_events.sql) turns each row into a
-- stage_changed event.

create table app.stage_changes (
  id text primary key default app.new_id('sc'),
  org_id text not null references app.orgs (id) on delete cascade,
  lead_id text not null,
  from_stage_id text,
  to_stage_id text,
  -- Names as they were, so history stays readable after a stage is renamed or removed.
  from_stage_name text,
  to_stage_name text,
  changed_at timestamptz not null default now(),
  changed_by text not null,
  source text not null,
  -- The automation rule that made the move, when one did.
  rule_id text,
  constraint stage_changes_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.stage_changes is 'Every stage a lead entered: when, from where, by whom (API key, sync source, rule, database user).';
create index stage_changes_org_lead_idx on app.stage_changes (org_id, lead_id, changed_at desc);
create index stage_changes_org_changed_idx on app.stage_changes (org_id, changed_at desc);
-- A lead's first stage_changes row (written when it is created) says where it came from:
-- pipeline analytics counts them per source in one index-only scan, and finds them per
-- lead for soft-deleted leads.
create index stage_changes_org_first_idx on app.stage_changes (org_id, source, changed_by) include (lead_id)
  where from_stage_id is null;

alter table app.stage_changes enable row level security;
alter table app.stage_changes force row level security;
create policy "Stage history is visible to its own org" on app.stage_changes
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.stage_changes to authenticated;
grant all on app.stage_changes to service_role;

-- ---------------------------------------------------------------------------
-- Who and what is acting. API requests carry key_id in their claims; inbound webhooks
-- and automation set actor/source claims of their own; a human in Studio or a cron job
-- has no claims and shows up as the database user with source 'sql'.
-- ---------------------------------------------------------------------------
create function app.current_actor() returns text
  language sql stable
  set search_path = ''
  as $$
    select coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'actor',
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'key_id',
      session_user::text)
  $$;
comment on function app.current_actor() is 'Who is making the current change: the actor claim, else the API key id, else the database user.';
revoke execute on function app.current_actor() from public;
grant execute on function app.current_actor() to anon, authenticated, service_role;

create function app.current_source() returns text
  language sql stable
  set search_path = ''
  as $$
    select coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'source',
      case when nullif(pg_catalog.current_setting('request.jwt.claims', true), '') is null then 'sql' else 'api' end)
  $$;
comment on function app.current_source() is 'Where the current change comes from: the source claim, else api for requests and sql for direct database work.';
revoke execute on function app.current_source() from public;
grant execute on function app.current_source() to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Recording a move: on insert and whenever stage_id changes, with the stage names as they
-- are at the time and the automation rule (rule_id claim) that made the move, if any.
-- ---------------------------------------------------------------------------
create function app._record_stage_change() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
  begin
    if tg_op = 'UPDATE' and new.stage_id is not distinct from old.stage_id then
      return null;
    end if;
    insert into app.stage_changes
      (org_id, lead_id, from_stage_id, to_stage_id, from_stage_name, to_stage_name, changed_by, source, rule_id)
    values (
      new.org_id, new.id,
      case when tg_op = 'UPDATE' then old.stage_id end, new.stage_id,
      case when tg_op = 'UPDATE' then (select s.name from app.stages s where s.id = old.stage_id) end,
      (select s.name from app.stages s where s.id = new.stage_id),
      app.current_actor(), app.current_source(), v_claims ->> 'rule_id');
    return null;
  end;
  $$;
comment on function app._record_stage_change() is 'Trigger: records a lead entering a stage (on insert and on every stage move).';
revoke execute on function app._record_stage_change() from public;

create trigger leads_record_stage_change after insert or update of stage_id on app.leads
  for each row execute function app._record_stage_change();

-- =============================================================================================
-- sql/44_touchpoints_notes.sql
-- =============================================================================================
-- Touchpoints and notes: what happened with a lead, and what was written about it.
--   * app.touchpoints (GET/POST /touchpoints): the lead's interaction log. Each touchpoint
--     moves the lead's last_touch_at forward (trigger touchpoints_touch_lead), which stalled
--     detection (58_stalled.sql) and scoring (56_scoring.sql, trigger leads_rescore) read;
--     occurred_at is when the interaction happened, so it cannot lie in the future
--     (trigger touchpoints_refuse_future);
--   * app.notes (/notes): manual notes, call-transcript summaries, AI insights and system
--     notes on a lead.
-- Elsewhere: the trigger touchpoints_event (54_events.sql) turns each touchpoint into a
-- touch_logged event; the source and author defaults are app.current_source and
-- app.current_actor (42_stage_history.sql).

-- ---------------------------------------------------------------------------
-- Touchpoints: the lead's interaction log.
-- ---------------------------------------------------------------------------
create table app.touchpoints (
  id text primary key default app.new_id('tp'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  type text not null check (type in ('email', 'call', 'meeting', 'linkedin', 'sms', 'note', 'form', 'chat', 'other')),
  direction text check (direction in ('inbound', 'outbound')),
  summary text check (length(summary) <= 10000),
  occurred_at timestamptz not null default now(),
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  source text not null default app.current_source() check (length(source) <= 100),
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  constraint touchpoints_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.touchpoints is 'Interactions with a lead (email, call, meeting, …); each one moves the lead''s last_touch_at forward.';
create index touchpoints_org_lead_idx on app.touchpoints (org_id, lead_id, occurred_at desc);

alter table app.touchpoints enable row level security;
alter table app.touchpoints force row level security;
create policy "Touchpoints are visible to their own org" on app.touchpoints
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Touchpoints can be logged in the caller's org" on app.touchpoints
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Touchpoints can be corrected by their own org" on app.touchpoints
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));
create policy "Touchpoints can be deleted by their own org" on app.touchpoints
  for delete to authenticated using (org_id = (select app.current_org_id()));
grant select, insert, update, delete on app.touchpoints to authenticated;
grant all on app.touchpoints to service_role;

-- A logged touchpoint may be corrected (what, which way, when), but its lead, author,
-- source and logging time stay as they were recorded.
revoke update on app.touchpoints from authenticated;
grant update (type, direction, summary, occurred_at, metadata) on app.touchpoints to authenticated;

-- ---------------------------------------------------------------------------
-- Notes
-- ---------------------------------------------------------------------------
create table app.notes (
  id text primary key default app.new_id('note'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  type text not null default 'manual',
  content text not null,
  pinned boolean not null default false,
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint notes_type_check check (type in ('manual', 'transcript_summary', 'ai_insight', 'system')),
  -- Stored as written (leading indentation may be markdown), but never blank.
  constraint notes_content_check check (length(content) <= 100000 and btrim(content, E' \t\r\n') <> ''),
  -- The composite key makes a note on another org's lead impossible, whoever writes.
  constraint notes_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.notes is 'Notes on a lead: manual, transcript_summary, ai_insight or system; pinned notes list first. Deleted with their lead (permanent delete only).';
comment on column app.notes.created_by is 'The API key (or actor, or database user) that wrote the note.';

-- GET /notes?leadId=…: one lead's notes, pinned first, newest first.
create index notes_org_lead_idx on app.notes (org_id, lead_id, pinned desc, created_at desc, id desc);

create trigger notes_touch_updated_at before update on app.notes
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.notes', 'Notes');

-- A tenant writes a note's lead, type, content and pin; the id, author and timestamps
-- are the database's. Afterwards only what it says and whether it is pinned change.
grant select, delete on app.notes to authenticated;
grant insert (org_id, lead_id, type, content, pinned) on app.notes to authenticated;
grant update (content, pinned) on app.notes to authenticated;
grant all on app.notes to service_role;

-- ---------------------------------------------------------------------------
-- Touchpoints move their lead's last touch forward, never back.
-- ---------------------------------------------------------------------------
create function app._touch_lead() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    update app.leads l
    set last_touch_at = new.occurred_at
    where l.id = new.lead_id and (l.last_touch_at is null or l.last_touch_at < new.occurred_at);
    return null;
  end;
  $$;
comment on function app._touch_lead() is 'Trigger: a logged touchpoint moves its lead''s last_touch_at forward (never back).';
revoke execute on function app._touch_lead() from public;

create trigger touchpoints_touch_lead after insert or update of occurred_at on app.touchpoints
  for each row execute function app._touch_lead();

-- ---------------------------------------------------------------------------
-- Touchpoints: no interaction from the future. Five minutes of slack absorb clock skew
-- between an agent and the database (a future occurred_at would push last_touch_at, and
-- with it stalled detection, ahead of reality). A meeting booked for next week is logged
-- when it takes place, or as a booking now (its start time in metadata).
-- ---------------------------------------------------------------------------
create function app._refuse_future_touchpoint() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.occurred_at > pg_catalog.now() + interval '5 minutes' then
      perform app.refuse(400, 'occurred_at_in_future',
        pg_catalog.format('occurredAt %s is in the future',
          pg_catalog.to_char(pg_catalog.timezone('UTC', new.occurred_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
        pg_catalog.format('occurredAt is when the interaction happened: send an ISO 8601 time no later than 5 minutes from now (it is %s), or leave it out to use the current time. Log a scheduled meeting when it takes place, or log the booking now with the meeting time in metadata.',
          pg_catalog.to_char(pg_catalog.timezone('UTC', pg_catalog.now()), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
    end if;
    return new;
  end;
  $$;
comment on function app._refuse_future_touchpoint() is 'Trigger: refuses a touchpoint whose occurred_at is more than 5 minutes in the future (a 400 refusal with a hint).';
revoke execute on function app._refuse_future_touchpoint() from public;

create trigger touchpoints_refuse_future before insert or update of occurred_at on app.touchpoints
  for each row execute function app._refuse_future_touchpoint();

-- =============================================================================================
-- sql/46_custom_fields.sql
-- =============================================================================================
-- Custom fields: an org's definitions of the keys in a lead's customFields, and the check of
-- customFields against them, in the database so every writer (API, Studio, imports) is
-- held to them.
--   * app.custom_fields (/fields): key (unique per org, case-insensitive), label, field_type
--     (text | number | date | select | multiselect | boolean), options for the choice types,
--     required;
--   * a lead's custom_fields are checked when written (trigger leads_check_custom_fields on
--     app.leads, at the end of this file): each defined key must hold a value of its type
--     (null clears it), and required keys must be present and not null. Keys without a
--     definition stay free-form;
--   * a definition cannot be created or changed in a way that breaks live leads' values
--     (trigger custom_fields_check).

-- ---------------------------------------------------------------------------
-- The options of select and multiselect fields. Defined before the table, whose options
-- check calls it.
-- ---------------------------------------------------------------------------
create function app._field_options_ok(p_options text[]) returns boolean
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select pg_catalog.cardinality(p_options) between 1 and 200
      and (select count(distinct o) = count(*) and bool_and(length(btrim(o)) between 1 and 200 and o = btrim(o))
           from unnest(p_options) o)
  $$;
comment on function app._field_options_ok(text[]) is 'True for 1-200 distinct, trimmed, non-empty options of at most 200 characters each.';
revoke execute on function app._field_options_ok(text[]) from public;
grant execute on function app._field_options_ok(text[]) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Definitions
-- ---------------------------------------------------------------------------
create table app.custom_fields (
  id text primary key default app.new_id('cf'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  key text not null,
  label text not null,
  field_type text not null,
  options text[],
  required boolean not null default false,
  -- Filled with "last" by the definition trigger when not given.
  position integer not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint custom_fields_key_check check (key ~ '^[a-zA-Z][a-zA-Z0-9_]{0,63}$'),
  constraint custom_fields_label_check check (length(btrim(label)) between 1 and 200),
  constraint custom_fields_field_type_check check (field_type in ('text', 'number', 'date', 'select', 'multiselect', 'boolean')),
  constraint custom_fields_options_check check (case when field_type in ('select', 'multiselect')
    then options is not null and app._field_options_ok(options) else options is null end),
  constraint custom_fields_position_check check (position >= 0)
);
comment on table app.custom_fields is 'Custom field definitions per org: the type (and options) a lead''s customFields.<key> must have, and whether it is required.';
comment on column app.custom_fields.key is 'The key in a lead''s customFields; unique per org (case-insensitive), never changed.';
comment on column app.custom_fields.options is 'The allowed values of select and multiselect fields; null for other types.';
comment on column app.custom_fields.required is 'Whether customFields.<key> must be present and not null whenever a lead''s customFields are written.';

create unique index custom_fields_org_key_key on app.custom_fields (org_id, lower(key));
create index custom_fields_org_position_idx on app.custom_fields (org_id, position);

create trigger custom_fields_touch_updated_at before update on app.custom_fields
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.custom_fields', 'Custom fields');
grant select, insert, update, delete on app.custom_fields to authenticated;
grant all on app.custom_fields to service_role;

-- ---------------------------------------------------------------------------
-- Values: whether a value fits a field type, and what it must be, in words, for refusals.
-- ---------------------------------------------------------------------------
-- ISO 8601: a date (2026-03-01) or a timestamp (2026-03-01T09:30:00Z, offsets and
-- fractions allowed) that is a real moment.
create function app._is_iso_date(p_text text) returns boolean
  language plpgsql stable
  set search_path = ''
  as $$
  begin
    if p_text ~ '^\d{4}-\d{2}-\d{2}$' then
      perform p_text::date;
    elsif p_text ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$' then
      perform p_text::timestamptz;
    else
      return false;
    end if;
    return true;
  exception when data_exception then
    return false;
  end;
  $$;
comment on function app._is_iso_date(text) is 'True for an ISO 8601 date (YYYY-MM-DD) or timestamp that names a real day and time.';
revoke execute on function app._is_iso_date(text) from public;
grant execute on function app._is_iso_date(text) to authenticated, service_role;

create function app.custom_field_value_ok(p_field_type text, p_options text[], p_value jsonb) returns boolean
  language sql stable
  set search_path = ''
  as $$
    select case
      when p_value is null or pg_catalog.jsonb_typeof(p_value) = 'null' then true
      when p_field_type = 'text' then pg_catalog.jsonb_typeof(p_value) = 'string' and length(p_value #>> '{}') <= 10000
      when p_field_type = 'number' then pg_catalog.jsonb_typeof(p_value) = 'number'
      when p_field_type = 'boolean' then pg_catalog.jsonb_typeof(p_value) = 'boolean'
      when p_field_type = 'date' then pg_catalog.jsonb_typeof(p_value) = 'string' and app._is_iso_date(p_value #>> '{}')
      when p_field_type = 'select' then pg_catalog.jsonb_typeof(p_value) = 'string' and (p_value #>> '{}') = any (p_options)
      when p_field_type = 'multiselect' then pg_catalog.jsonb_typeof(p_value) = 'array'
        and not exists (select from pg_catalog.jsonb_array_elements(p_value) e
                        where pg_catalog.jsonb_typeof(e) <> 'string' or not ((e #>> '{}') = any (p_options)))
      else false
    end
  $$;
comment on function app.custom_field_value_ok(text, text[], jsonb) is 'Whether a customFields value fits a field type (and its options); null always fits (it clears the value).';
revoke execute on function app.custom_field_value_ok(text, text[], jsonb) from public;
grant execute on function app.custom_field_value_ok(text, text[], jsonb) to authenticated, service_role;

create function app._custom_field_expectation(p_field_type text, p_options text[]) returns text
  language sql immutable
  set search_path = ''
  as $$
    select case p_field_type
      when 'text' then 'text (a string of at most 10,000 characters)'
      when 'number' then 'a number (a JSON number such as 42 or 9.5, not a string)'
      when 'boolean' then 'a boolean (true or false, not a string)'
      when 'date' then 'a date (an ISO 8601 string: "2026-03-01" or "2026-03-01T09:30:00Z")'
      when 'select' then 'one of ' || (select string_agg(pg_catalog.format('"%s"', o), ', ') from unnest(p_options) o)
      when 'multiselect' then 'an array of options from ' || (select string_agg(pg_catalog.format('"%s"', o), ', ') from unnest(p_options) o)
      else p_field_type
    end
  $$;
comment on function app._custom_field_expectation(text, text[]) is 'What a value of this field type must be, in words, for refusals.';
revoke execute on function app._custom_field_expectation(text, text[]) from public;
grant execute on function app._custom_field_expectation(text, text[]) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- A definition's own rules, with refusals that say what to send. Security invoker on
-- purpose: the lead check below only sees the caller's own leads, so a definition aimed
-- at another org learns nothing about it before row-level security refuses the row.
-- ---------------------------------------------------------------------------
create function app._check_custom_field() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_choice boolean := new.field_type in ('select', 'multiselect');
    v_bad integer;
    v_example record;
    v_existing record;
  begin
    if tg_op = 'UPDATE' and new.key is distinct from old.key then
      perform app.refuse(400, 'field_key_immutable',
        pg_catalog.format('The key of custom field %s cannot change (it is "%s")', old.id, old.key),
        'Leads store values under the key. To rename it, create a new field (POST /api/openclaw/fields), copy the values, then delete this one.');
    end if;
    if tg_op = 'INSERT' then
      select f.id, f.key into v_existing from app.custom_fields f
      where f.org_id = new.org_id and lower(f.key) = lower(new.key);
      if v_existing.id is not null then
        perform app.refuse(409, 'field_exists',
          pg_catalog.format('A custom field with key "%s" already exists (%s)', v_existing.key, v_existing.id),
          pg_catalog.format('Keys are unique per workspace (case-insensitive). Change the existing field with PUT /api/openclaw/fields { "id": "%s", … }, or choose another key.', v_existing.id));
      end if;
    end if;
    new.label := coalesce(nullif(btrim(new.label), ''), new.key);
    if tg_op = 'INSERT' and new.position is null then
      select coalesce(max(f.position) + 1, 0) into new.position from app.custom_fields f where f.org_id = new.org_id;
    end if;
    -- Changing to a type without options drops the options that came with the old type.
    if tg_op = 'UPDATE' and not v_choice and new.field_type is distinct from old.field_type
       and new.options is not distinct from old.options then
      new.options := null;
    end if;

    if v_choice and (new.options is null or pg_catalog.cardinality(new.options) = 0) then
      perform app.refuse(400, 'invalid_field_options',
        pg_catalog.format('A %s field needs options', new.field_type),
        'Send options as a list of the allowed values, e.g. "options": ["Small", "Medium", "Large"] (1-200 distinct strings).');
    elsif not v_choice and new.options is not null then
      perform app.refuse(400, 'invalid_field_options',
        pg_catalog.format('Only select and multiselect fields have options, not %s fields', new.field_type),
        'Leave options out (or send null) for text, number, date and boolean fields.');
    elsif v_choice and not app._field_options_ok(new.options) then
      perform app.refuse(400, 'invalid_field_options',
        'options must be 1-200 distinct, non-empty strings of at most 200 characters without surrounding spaces',
        'Send options like ["Small", "Medium", "Large"]: no duplicates, no blank entries.');
    end if;

    if tg_op = 'INSERT' or new.field_type is distinct from old.field_type or new.options is distinct from old.options then
      select count(*) into v_bad
      from app.leads l
      where l.org_id = new.org_id and l.deleted_at is null and l.custom_fields ? new.key
        and not app.custom_field_value_ok(new.field_type, new.options, l.custom_fields -> new.key);
      if v_bad > 0 then
        select l.id, left((l.custom_fields -> new.key)::text, 100) as value into v_example
        from app.leads l
        where l.org_id = new.org_id and l.deleted_at is null and l.custom_fields ? new.key
          and not app.custom_field_value_ok(new.field_type, new.options, l.custom_fields -> new.key)
        order by l.created_at, l.id
        limit 1;
        perform app.refuse(409, 'field_values_conflict',
          pg_catalog.format('%s live lead(s) hold customFields.%s values that a %s field would refuse (it must be %s)',
            v_bad, new.key, new.field_type, app._custom_field_expectation(new.field_type, new.options)),
          pg_catalog.format('Lead %s has %s. Fix or clear those values first (PATCH /api/openclaw/leads/%s { "customFields": { "%s": null } } clears one), or keep the field''s current %s.',
            v_example.id, v_example.value, v_example.id, new.key,
            case when tg_op = 'INSERT' then 'free-form values (no definition)' else 'type and options' end));
      end if;
    end if;
    return new;
  end;
  $$;
comment on function app._check_custom_field() is 'Trigger: a definition''s key never changes, options fit the type, and no live lead holds a value the (new) definition refuses.';
revoke execute on function app._check_custom_field() from public;

create trigger custom_fields_check before insert or update on app.custom_fields
  for each row execute function app._check_custom_field();

-- ---------------------------------------------------------------------------
-- A lead's customFields against the definitions, whenever they are written. Values that
-- did not change are not checked again (a stored value can predate its definition only
-- on a soft-deleted lead); required keys are checked on every write of customFields.
-- Security invoker on purpose (see above): only the caller's own definitions apply.
-- ---------------------------------------------------------------------------
create function app._check_lead_custom_fields() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_field record;
    v_value jsonb;
  begin
    if tg_op = 'UPDATE' and new.custom_fields is not distinct from old.custom_fields then
      return new;
    end if;
    for v_field in
      select f.key, f.label, f.field_type, f.options, f.required
      from app.custom_fields f
      where f.org_id = new.org_id and (f.required or new.custom_fields ? f.key)
      order by f.position, f.key
    loop
      v_value := new.custom_fields -> v_field.key;
      if v_value is null or v_value = 'null'::jsonb then
        if v_field.required then
          perform app.refuse(400, 'invalid_custom_field',
            pg_catalog.format('customFields.%s is required (%s)', v_field.key, app._custom_field_expectation(v_field.field_type, v_field.options)),
            pg_catalog.format('Send customFields.%s ("%s") as %s whenever you write a lead''s customFields. GET /api/openclaw/fields lists the definitions.',
              v_field.key, v_field.label, app._custom_field_expectation(v_field.field_type, v_field.options)));
        end if;
        continue;
      end if;
      continue when tg_op = 'UPDATE' and v_value is not distinct from old.custom_fields -> v_field.key;
      if not app.custom_field_value_ok(v_field.field_type, v_field.options, v_value) then
        perform app.refuse(400, 'invalid_custom_field',
          pg_catalog.format('customFields.%s must be %s, got %s', v_field.key,
            app._custom_field_expectation(v_field.field_type, v_field.options),
            case when length(v_value::text) > 100 then left(v_value::text, 100) || '…' else v_value::text end),
          pg_catalog.format('%s ("%s") is a %s field: send %s, or null to clear it. GET /api/openclaw/fields lists the definitions.',
            v_field.key, v_field.label, v_field.field_type, app._custom_field_expectation(v_field.field_type, v_field.options)));
      end if;
    end loop;
    return new;
  end;
  $$;
comment on function app._check_lead_custom_fields() is 'Trigger: refuses (400, naming the field and its type) customFields values that do not fit their definitions, and missing required fields.';
revoke execute on function app._check_lead_custom_fields() from public;

create trigger leads_check_custom_fields before insert or update of custom_fields on app.leads
  for each row execute function app._check_lead_custom_fields();

-- =============================================================================================
-- sql/48_sync_sources.sql
-- =============================================================================================
-- Sync sources: outside systems (Gmail, an SDR tool, a form, any webhook) that create or
-- update leads and move them through the pipeline by posting events to an inbound URL.
--
-- This file holds:
--   * app.sync_sources: one row per integration: its type, default target stage, per-event
--     stages, field mapping (payload path -> lead field), and the credentials of its inbound
--     URL: an unguessable token in the URL and a secret that authenticates the sender. The
--     secret is kept (HMACs are verified with it) but the tenant role can never read it
--     back: it is handed out once, on create and on rotation;
--   * app.sync_events: every event received, unique per source and sender's event id, so a
--     redelivery answers with the first outcome instead of writing twice; kept 30 days
--     (app.purge_sync_events, run daily by the job purge-sync-events in 90_jobs.sql);
--   * app.sync_source_details: the API's view of a source (no secret);
--   * validation for every writer (trigger sync_sources_check), app.create_sync_source and
--     app.update_sync_source for the API, and app.sync_source_for_token, the inbound edge's
--     lookup by URL token;
--   * app.ingest_sync_event: the whole ingest in one call, acting as the source's org: claim
--     the event id, map the payload, create or update the lead by email, move it to the
--     event's stage, log a touchpoint. Any refusal (bad payload, plan limit, disabled source)
--     rolls all of it back, the event claim included, so the sender may retry;
--   * the trigger stages_refuse_deleting_synced on app.stages: a stage a sync source targets
--     cannot be deleted until the source is retargeted.
-- Stage names are resolved by app.resolve_stage (30_stages.sql); lead sources in analytics
-- (64_analytics.sql) are told apart by sync source name.

-- ---------------------------------------------------------------------------
-- Random credentials: the sync_sources defaults call this, so it precedes the table.
-- ---------------------------------------------------------------------------
-- Random hex from three v4 UUIDs (366 random bits from the server's strong random source)
-- hashed with SHA-256, so up to 64 hex digits carry their full entropy.
create function app._random_hex(p_digits integer) returns text
  language sql volatile parallel safe
  set search_path = ''
  as $$
    select left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
      pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text,
      'UTF8')), 'hex'), p_digits)
  $$;
comment on function app._random_hex(integer) is 'Up to 64 random hex digits (4 bits of entropy each), for tokens and secrets.';
revoke execute on function app._random_hex(integer) from public;
grant execute on function app._random_hex(integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Sync sources
-- ---------------------------------------------------------------------------
create table app.sync_sources (
  id text primary key default app.new_id('ss'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null constraint sync_sources_name_check check (length(btrim(name)) between 1 and 100),
  type text not null constraint sync_sources_type_check
    check (type in ('gmail', 'api_sdr', 'form_webhook', 'generic_webhook')),
  enabled boolean not null default true,
  -- Where an event's lead goes unless event_stages names a stage for the event.
  stage_id text not null,
  event_stages jsonb not null default '{}'
    constraint sync_sources_event_stages_check check (jsonb_typeof(event_stages) = 'object'),
  field_mapping jsonb not null default '{}'
    constraint sync_sources_field_mapping_check check (jsonb_typeof(field_mapping) = 'object'),
  -- 192 random bits: the inbound URL is /api/openclaw/inbound/{inbound_token}.
  inbound_token text not null default app._random_hex(48)
    constraint sync_sources_inbound_token_check check (inbound_token ~ '^[0-9a-f]{48}$'),
  -- 256 random bits. Stored as is because HMACs are computed with it; the tenant role has no
  -- select privilege on it.
  secret text not null default 'whsec_' || app._random_hex(64)
    constraint sync_sources_secret_check check (secret ~ '^whsec_[0-9a-f]{64}$'),
  last_event_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint sync_sources_org_id_id_key unique (org_id, id),
  constraint sync_sources_stage_fkey foreign key (org_id, stage_id) references app.stages (org_id, id)
);
comment on table app.sync_sources is 'Outside systems that create, update and move leads by posting events to their inbound URL (gmail, api_sdr, form_webhook, generic_webhook).';
comment on column app.sync_sources.event_stages is 'Event name -> stage id, e.g. {"reply_received": "stg_…"}; events not listed go to stage_id.';
comment on column app.sync_sources.field_mapping is 'Lead or event field -> payload path (or list of paths, first with a value wins), e.g. {"email": "contact.email"}.';
comment on column app.sync_sources.secret is 'Authenticates the sender (shared secret or HMAC key). Never readable by tenants; returned on create and rotation only.';

create unique index sync_sources_inbound_token_key on app.sync_sources (inbound_token);
create unique index sync_sources_org_name_key on app.sync_sources (org_id, lower(name));
create index sync_sources_org_stage_idx on app.sync_sources (org_id, stage_id);
create index sync_sources_org_created_idx on app.sync_sources (org_id, created_at, id);

-- Config changes stamp updated_at; receiving an event (last_event_at) does not.
create trigger sync_sources_touch_updated_at
  before update of name, type, enabled, stage_id, event_stages, field_mapping, inbound_token, secret on app.sync_sources
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.sync_sources', 'Sync sources');

-- Even its own org never reads the secret back; a new one is written on rotation.
grant select (id, org_id, name, type, enabled, stage_id, event_stages, field_mapping, inbound_token,
              last_event_at, created_at, updated_at) on app.sync_sources to authenticated;
grant insert (name, type, enabled, stage_id, event_stages, field_mapping, secret) on app.sync_sources to authenticated;
grant update (name, enabled, stage_id, event_stages, field_mapping, inbound_token, secret) on app.sync_sources to authenticated;
grant delete on app.sync_sources to authenticated;
grant all on app.sync_sources to service_role;

-- ---------------------------------------------------------------------------
-- Sync events: what each source received, one row per sender's event id.
-- ---------------------------------------------------------------------------
create table app.sync_events (
  id text primary key default app.new_id('se'),
  org_id text not null references app.orgs (id) on delete cascade,
  source_id text not null,
  event_id text not null constraint sync_events_event_id_check check (length(event_id) between 1 and 255),
  event text not null,
  received_at timestamptz not null default now(),
  lead_id text,
  -- Null only inside the transaction that is processing the event.
  outcome text constraint sync_events_outcome_check check (outcome in ('created', 'updated', 'ignored')),
  -- The answer the first delivery got; a redelivery gets it again.
  result jsonb,
  constraint sync_events_source_event_key unique (source_id, event_id),
  constraint sync_events_source_fkey foreign key (org_id, source_id) references app.sync_sources (org_id, id) on delete cascade,
  constraint sync_events_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete set null (lead_id)
);
comment on table app.sync_events is 'Events received by sync sources, unique per source and event id (idempotency), with the outcome replayed to redeliveries; kept 30 days.';
create index sync_events_org_source_idx on app.sync_events (org_id, source_id, received_at desc);
create index sync_events_org_lead_idx on app.sync_events (org_id, lead_id) where lead_id is not null;
create index sync_events_received_idx on app.sync_events (received_at);

alter table app.sync_events enable row level security;
alter table app.sync_events force row level security;
-- Written only by app.ingest_sync_event; tenants read their own.
create policy "Sync events are visible to their own org" on app.sync_events
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.sync_events to authenticated;
grant all on app.sync_events to service_role;

-- ---------------------------------------------------------------------------
-- The API's view of a sync source: no secret, stage names alongside ids.
-- ---------------------------------------------------------------------------
create view app.sync_source_details with (security_invoker = true) as
  select s.id, s.org_id, s.name, s.type, s.enabled, s.stage_id, st.name as stage,
    (select coalesce(pg_catalog.jsonb_object_agg(e.key, pg_catalog.jsonb_build_object('id', e.value, 'name', es.name) order by e.key), '{}'::jsonb)
     from pg_catalog.jsonb_each_text(s.event_stages) e
     left join app.stages es on es.id = e.value) as event_stages,
    s.field_mapping, s.inbound_token, s.last_event_at, s.created_at, s.updated_at
  from app.sync_sources s
  join app.stages st on st.id = s.stage_id;
comment on view app.sync_source_details is 'Sync sources as the API lists them: stage names resolved, event stages as {event: {id, name}}, never the secret.';
grant select on app.sync_source_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Event names and field mappings
-- ---------------------------------------------------------------------------

-- Event names as they are matched: lower case, runs of other characters as "_"
-- ("Reply Received" and "reply_received" are the same event).
create function app._sync_event_name(p_event text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select nullif(left(pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(p_event)),
      '[^a-z0-9_.:-]+', '_', 'g'), '_'), 100), '')
  $$;
comment on function app._sync_event_name(text) is 'Normalises an event name (lower case, other characters as _, at most 100); null when nothing is left.';
revoke execute on function app._sync_event_name(text) from public;
grant execute on function app._sync_event_name(text) to authenticated, service_role;

-- The lead fields (and event fields) a field mapping may fill, in the order we document.
create function app.sync_mapping_fields() returns text[]
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select array['email', 'firstName', 'lastName', 'name', 'organizationName', 'businessType', 'phone',
                 'title', 'companyName', 'linkedinUrl', 'event', 'occurredAt', 'summary', 'direction']
  $$;
comment on function app.sync_mapping_fields() is 'The keys a sync source''s field_mapping may have: lead fields (name = full name, split into first and last) and event fields.';
revoke execute on function app.sync_mapping_fields() from public;
grant execute on function app.sync_mapping_fields() to authenticated, service_role;

-- Where each field is looked for when the source's mapping does not say otherwise. A path
-- is dot-separated keys (digits index arrays: "answers.0.email"); a list of paths means the
-- first one holding a value wins.
create function app.sync_default_field_mapping(p_type text) returns jsonb
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case p_type
      -- Gmail: the forwarder's message; "contact" is the other party (from, or to for email_sent).
      when 'gmail' then '{
        "email": "contact",
        "event": "event",
        "occurredAt": "date",
        "summary": "subject",
        "direction": "direction"
      }'::jsonb
      else '{
        "email": ["email", "contact.email", "lead.email"],
        "firstName": ["firstName", "first_name", "contact.firstName", "contact.first_name", "lead.firstName"],
        "lastName": ["lastName", "last_name", "contact.lastName", "contact.last_name", "lead.lastName"],
        "name": ["name", "fullName", "full_name", "contact.name", "lead.name"],
        "organizationName": ["organizationName", "company", "companyName", "contact.company", "lead.organizationName"],
        "phone": ["phone", "contact.phone", "lead.phone"],
        "title": ["title", "jobTitle", "contact.title", "lead.title"],
        "event": ["event", "eventType", "event_type"],
        "occurredAt": ["occurredAt", "occurred_at", "timestamp"],
        "summary": ["summary"],
        "direction": ["direction"]
      }'::jsonb
    end
  $$;
comment on function app.sync_default_field_mapping(text) is 'The field mapping a new sync source of this type starts with (its own fieldMapping overrides it key by key).';
revoke execute on function app.sync_default_field_mapping(text) from public;
grant execute on function app.sync_default_field_mapping(text) to authenticated, service_role;

-- The event a payload without one stands for.
create function app.sync_default_event(p_type text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case p_type
      when 'gmail' then 'email_received'
      when 'form_webhook' then 'form_submitted'
      when 'api_sdr' then 'lead_received'
      else 'event_received'
    end
  $$;
comment on function app.sync_default_event(text) is 'The event name used when a payload of this source type names none.';
revoke execute on function app.sync_default_event(text) from public;
grant execute on function app.sync_default_event(text) to authenticated, service_role;

-- A mapping value: one path, or a list of 1-10 paths, each 1-200 characters.
create function app._is_mapping_path(p_value jsonb) returns boolean
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case pg_catalog.jsonb_typeof(p_value)
      when 'string' then length(p_value #>> '{}') between 1 and 200
      when 'array' then pg_catalog.jsonb_array_length(p_value) between 1 and 10
        and not exists (
          select from pg_catalog.jsonb_array_elements(p_value) x
          where pg_catalog.jsonb_typeof(x) <> 'string' or length(x #>> '{}') not between 1 and 200)
      else false
    end
  $$;
comment on function app._is_mapping_path(jsonb) is 'True for a valid field-mapping value: a path string or a list of 1-10 path strings.';
revoke execute on function app._is_mapping_path(jsonb) from public;
grant execute on function app._is_mapping_path(jsonb) to authenticated, service_role;

-- The first non-empty scalar found at the given path(s); objects and arrays count as absent.
create function app._sync_value(p_payload jsonb, p_paths jsonb) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select v.value
    from (
      select pg_catalog.btrim(p_payload #>> pg_catalog.string_to_array(p.path, '.')) as value, p.ord
      from pg_catalog.jsonb_array_elements_text(
             case pg_catalog.jsonb_typeof(p_paths) when 'array' then p_paths when 'string' then pg_catalog.jsonb_build_array(p_paths) else '[]'::jsonb end)
           with ordinality as p(path, ord)
      where pg_catalog.jsonb_typeof(p_payload #> pg_catalog.string_to_array(p.path, '.')) in ('string', 'number', 'boolean')
    ) v
    where v.value <> ''
    order by v.ord
    limit 1
  $$;
comment on function app._sync_value(jsonb, jsonb) is 'The value of a payload at the first of the mapping''s paths that holds a non-empty scalar; null when none does.';
revoke execute on function app._sync_value(jsonb, jsonb) from public;
grant execute on function app._sync_value(jsonb, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- What a sync source may hold, for every writer: a new source starts from its type's
-- default mapping; mapping keys are known fields with path values and always include
-- email; event names are normalised names; event stages are stages of the source's org.
-- ---------------------------------------------------------------------------
create function app._check_sync_source() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_bad text;
    v_usage constant text := 'fieldMapping maps fields to payload paths: {"email": "contact.email", "firstName": ["first_name", "contact.first_name"]} (a list: the first path with a value wins; digits index arrays, e.g. "answers.0.email"). Fields: '
      || pg_catalog.array_to_string(app.sync_mapping_fields(), ', ') || '.';
  begin
    if tg_op = 'INSERT' then
      new.field_mapping := app.jsonb_merge_patch(app.sync_default_field_mapping(new.type), new.field_mapping);
    end if;

    select string_agg(k, ', ' order by k) into v_bad
    from pg_catalog.jsonb_object_keys(new.field_mapping) k
    where k <> all (app.sync_mapping_fields());
    if v_bad is not null then
      perform app.refuse(400, 'invalid_field_mapping', pg_catalog.format('Unknown fieldMapping field(s): %s', v_bad), v_usage);
    end if;
    select string_agg(e.key, ', ' order by e.key) into v_bad
    from pg_catalog.jsonb_each(new.field_mapping) e
    where not app._is_mapping_path(e.value);
    if v_bad is not null then
      perform app.refuse(400, 'invalid_field_mapping',
        pg_catalog.format('fieldMapping.%s must be a path or a list of 1-10 paths (1-200 characters each)', v_bad), v_usage);
    end if;
    if not new.field_mapping ? 'email' then
      perform app.refuse(400, 'email_mapping_required', 'fieldMapping must say where the email is: leads are matched by email',
        'Set fieldMapping.email to the payload path of the email, e.g. {"email": "contact.email"}.');
    end if;

    select string_agg(pg_catalog.format('"%s"', k), ', ' order by k) into v_bad
    from pg_catalog.jsonb_object_keys(new.event_stages) k
    where k is distinct from app._sync_event_name(k);
    if v_bad is not null then
      perform app.refuse(400, 'invalid_event_stages', pg_catalog.format('Event name(s) not in normal form: %s', v_bad),
        'Event names are lower case letters, digits and _ . : - (at most 100), e.g. "reply_received".');
    end if;
    select string_agg(pg_catalog.format('%s: %s', e.key, e.value), ', ' order by e.key) into v_bad
    from pg_catalog.jsonb_each(new.event_stages) e
    where pg_catalog.jsonb_typeof(e.value) <> 'string'
       or not exists (select from app.stages s where s.org_id = new.org_id and s.id = e.value #>> '{}');
    if v_bad is not null then
      perform app.refuse(400, 'unknown_stage', pg_catalog.format('eventStages names stages that are not in this workspace: %s', v_bad),
        'Map each event to the id or name of one of your stages: GET /api/openclaw/stages lists them.');
    end if;
    return new;
  end;
  $$;
comment on function app._check_sync_source() is 'Trigger: fills a new sync source''s default field mapping and refuses invalid mappings and event stages of another org (400 with a hint).';
revoke execute on function app._check_sync_source() from public;

create trigger sync_sources_check before insert or update of type, org_id, event_stages, field_mapping on app.sync_sources
  for each row execute function app._check_sync_source();

-- ---------------------------------------------------------------------------
-- A stage a sync source sends leads to cannot disappear under it (the composite key
-- guards stage_id; this also covers event_stages and explains how to proceed). Deleting the
-- whole org deletes its sources too, so it is let through.
-- ---------------------------------------------------------------------------
create function app._refuse_deleting_synced_stage() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_sources text;
  begin
    select string_agg(pg_catalog.format('"%s" (%s)', ss.name, ss.id), ', ' order by ss.name) into v_sources
    from app.sync_sources ss
    where ss.org_id = old.org_id
      and (ss.stage_id = old.id
           or exists (select from pg_catalog.jsonb_each_text(ss.event_stages) e where e.value = old.id));
    if v_sources is not null and exists (select from app.orgs o where o.id = old.org_id) then
      perform app.refuse(409, 'stage_used_by_sync_source',
        pg_catalog.format('Stage "%s" is a target of sync source(s) %s', old.name, v_sources),
        'Point those sync sources at another stage first: PUT /api/openclaw/stages/sync-sources { "id": "ss_…", "stage": "<other stage>", "eventStages": { "<event>": "<other stage>" or null } }, or delete them.');
    end if;
    return old;
  end;
  $$;
comment on function app._refuse_deleting_synced_stage() is 'Trigger: refuses (409) deleting a stage that a sync source targets, by default or for an event.';
revoke execute on function app._refuse_deleting_synced_stage() from public;

create trigger stages_refuse_deleting_synced before delete on app.stages
  for each row execute function app._refuse_deleting_synced_stage();

-- ---------------------------------------------------------------------------
-- Create, change (and rotate credentials of) a sync source, as the current org.
-- ---------------------------------------------------------------------------
create function app._refuse_taken_sync_source_name(p_name text, p_except_id text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_other text;
  begin
    select s.id into v_other from app.sync_sources s
    where s.org_id = app.current_org_id() and lower(s.name) = lower(btrim(p_name)) and s.id is distinct from p_except_id;
    if v_other is not null then
      perform app.refuse(409, 'sync_source_exists',
        pg_catalog.format('A sync source named "%s" already exists (%s)', btrim(p_name), v_other),
        pg_catalog.format('Sync source names are unique per workspace. Use the existing one (its secret is shown only once: PUT /api/openclaw/stages/sync-sources { "id": "%s", "rotateSecret": true } issues a new one), or choose another name.', v_other));
    end if;
  end;
  $$;
comment on function app._refuse_taken_sync_source_name(text, text) is 'Refuses (409, naming the existing source) a sync source name the current org already uses.';
revoke execute on function app._refuse_taken_sync_source_name(text, text) from public;
grant execute on function app._refuse_taken_sync_source_name(text, text) to authenticated, service_role;

-- Applies {event: stage name or id | null} to an event -> stage id map (null removes).
create function app._resolve_event_stages(p_current jsonb, p_changes jsonb) returns jsonb
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_result jsonb := coalesce(p_current, '{}'::jsonb);
    v_entry record;
    v_event text;
  begin
    if p_changes is null or pg_catalog.jsonb_typeof(p_changes) = 'null' then
      return v_result;
    end if;
    if pg_catalog.jsonb_typeof(p_changes) <> 'object' then
      perform app.refuse(400, 'invalid_event_stages', 'eventStages must be an object of event name to stage',
        'Send eventStages like { "reply_received": "Engaged", "meeting_booked": "Negotiated" } (stage names or ids).');
    end if;
    for v_entry in select e.key, e.value from pg_catalog.jsonb_each(p_changes) e loop
      v_event := app._sync_event_name(v_entry.key);
      if v_event is null then
        perform app.refuse(400, 'invalid_event_stages', pg_catalog.format('"%s" is not a usable event name', v_entry.key),
          'Event names are letters, digits and _ . : - (e.g. "reply_received").');
      end if;
      if pg_catalog.jsonb_typeof(v_entry.value) = 'null' then
        v_result := v_result - v_event;
      elsif pg_catalog.jsonb_typeof(v_entry.value) = 'string' then
        v_result := v_result || pg_catalog.jsonb_build_object(v_event, app.resolve_stage(v_entry.value #>> '{}'));
      else
        perform app.refuse(400, 'invalid_event_stages', pg_catalog.format('eventStages.%s must be a stage name or id', v_entry.key),
          'Map each event to a stage name or id (or null to remove the event''s stage).');
      end if;
    end loop;
    return v_result;
  end;
  $$;
comment on function app._resolve_event_stages(jsonb, jsonb) is 'Merges {event: stage name or id, or null to remove} into an event -> stage id map, resolving names in the current org.';
revoke execute on function app._resolve_event_stages(jsonb, jsonb) from public;
grant execute on function app._resolve_event_stages(jsonb, jsonb) to authenticated, service_role;

create function app.create_sync_source(
  p_name text,
  p_type text,
  p_stage text,
  p_event_stages jsonb default null,
  p_field_mapping jsonb default null,
  p_enabled boolean default true)
  returns table (id text, secret text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_secret constant text := 'whsec_' || app._random_hex(64);
  begin
    perform app._refuse_taken_sync_source_name(p_name, null);
    insert into app.sync_sources as s (name, type, enabled, stage_id, event_stages, field_mapping, secret)
    values (btrim(p_name), p_type, coalesce(p_enabled, true), app.resolve_stage(p_stage),
            app._resolve_event_stages('{}'::jsonb, p_event_stages), coalesce(p_field_mapping, '{}'::jsonb), v_secret)
    returning s.id into id;
    secret := v_secret;
    return next;
  end;
  $$;
comment on function app.create_sync_source(text, text, text, jsonb, jsonb, boolean) is 'Creates a sync source in the current org (stages by name or id; mapping over the type''s defaults) and returns its secret, the only time it is shown.';
revoke execute on function app.create_sync_source(text, text, text, jsonb, jsonb, boolean) from public;
grant execute on function app.create_sync_source(text, text, text, jsonb, jsonb, boolean) to authenticated, service_role;

-- p_changes: name, stage, eventStages (merged; null removes an event), fieldMapping
-- (merged; null removes a field), enabled, rotateSecret, rotateToken. Returns the new
-- secret when rotated (else null).
create function app.update_sync_source(p_id text, p_changes jsonb)
  returns table (id text, secret text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_changes constant jsonb := coalesce(p_changes, '{}'::jsonb);
    v_id text;
    v_unknown text;
    v_secret text;
  begin
    select string_agg(k, ', ' order by k) into v_unknown
    from pg_catalog.jsonb_object_keys(v_changes) k
    where k not in ('name', 'stage', 'eventStages', 'fieldMapping', 'enabled', 'rotateSecret', 'rotateToken');
    if v_unknown is not null then
      perform app.refuse(400, 'invalid_sync_source_change', pg_catalog.format('Unknown sync source field(s): %s', v_unknown),
        'A sync source has name, stage, eventStages, fieldMapping and enabled; rotateSecret and rotateToken issue new credentials. Its type cannot change: create a new source instead.');
    end if;

    select s.id into v_id from app.sync_sources s where s.id = p_id for update;
    if v_id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Sync source %s was not found', p_id),
        'Check the id: GET /api/openclaw/stages/sync-sources lists your sync sources. Ids belong to one workspace: another workspace''s sources are not visible with this key.');
    end if;
    if v_changes ? 'name' then
      perform app._refuse_taken_sync_source_name(v_changes ->> 'name', v_id);
    end if;

    update app.sync_sources s set
      name = case when v_changes ? 'name' then btrim(v_changes ->> 'name') else s.name end,
      stage_id = case when v_changes ? 'stage' then app.resolve_stage(v_changes ->> 'stage') else s.stage_id end,
      event_stages = app._resolve_event_stages(s.event_stages, v_changes -> 'eventStages'),
      field_mapping = case when v_changes ? 'fieldMapping'
        then app.jsonb_merge_patch(s.field_mapping, v_changes -> 'fieldMapping') else s.field_mapping end,
      enabled = coalesce((v_changes ->> 'enabled')::boolean, s.enabled)
    where s.id = v_id;

    if coalesce((v_changes ->> 'rotateToken')::boolean, false) then
      update app.sync_sources s set inbound_token = app._random_hex(48) where s.id = v_id;
    end if;
    if coalesce((v_changes ->> 'rotateSecret')::boolean, false) then
      v_secret := 'whsec_' || app._random_hex(64);
      update app.sync_sources s set secret = v_secret where s.id = v_id;
    end if;
    id := v_id;
    secret := v_secret;
    return next;
  end;
  $$;
comment on function app.update_sync_source(text, jsonb) is 'Changes a sync source of the current org (maps merged, null removes a key); rotateSecret returns a new secret, rotateToken issues a new inbound URL.';
revoke execute on function app.update_sync_source(text, jsonb) from public;
grant execute on function app.update_sync_source(text, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The inbound edge's one cross-tenant lookup: by URL token, what it needs to check the
-- sender. It has no API key, so this is granted to anon.
-- ---------------------------------------------------------------------------
create function app.sync_source_for_token(p_token text)
  returns table (id text, type text, secret text)
  language sql stable
  security definer
  set search_path = ''
  as $$
    select s.id, s.type, s.secret from app.sync_sources s where s.inbound_token = p_token
  $$;
comment on function app.sync_source_for_token(text) is 'The sync source behind an inbound URL token: id, type and the secret that authenticates its sender; nothing for an unknown token.';
revoke execute on function app.sync_source_for_token(text) from public;
grant execute on function app.sync_source_for_token(text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Ingest one event (already authenticated by the edge) for a source, as its org.
-- ---------------------------------------------------------------------------
create function app.ingest_sync_event(p_source_id text, p_event_id text, p_payload jsonb)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_source app.sync_sources;
    v_payload jsonb := p_payload;
    v_map jsonb;
    v_event text;
    v_claim text;
    v_result jsonb;
    v_email_raw text;
    v_email text;
    v_display text;
    v_name text;
    v_first text;
    v_last text;
    v_occurred_raw text;
    v_occurred timestamptz;
    v_direction text;
    v_target text;
    v_lead_id text;
    v_from_stage text;
    v_created boolean := false;
    v_touchpoint text;
    v_constraint text;
  begin
    select s.* into v_source from app.sync_sources s where s.id = p_source_id;
    if v_source.id is null then
      perform app.refuse(404, 'not_found', 'No sync source for this inbound URL',
        'Check the URL: the sync source may have been deleted or its URL rotated (GET /api/openclaw/stages/sync-sources shows the current one).');
    end if;
    if p_event_id is null or length(p_event_id) not between 1 and 255 then
      perform app.refuse(400, 'invalid_event_id', 'The event id must be 1-255 characters',
        'Send a unique id per event in the X-OpenClaw-Event-Id header (or eventId in the body); a redelivery reuses it.');
    end if;
    if v_payload is null or pg_catalog.jsonb_typeof(v_payload) <> 'object' then
      perform app.refuse(400, 'invalid_payload', 'The event payload must be a JSON object',
        'Send the event as a JSON object, e.g. { "event": "form_submitted", "email": "jane@acme.com", "firstName": "Jane" }.');
    end if;

    v_map := v_source.field_mapping;
    v_event := coalesce(app._sync_event_name(app._sync_value(v_payload, v_map -> 'event')), app.sync_default_event(v_source.type));

    -- Claim the event id first: a concurrent redelivery waits here for this one to finish.
    insert into app.sync_events as e (org_id, source_id, event_id, event)
    values (v_source.org_id, v_source.id, p_event_id, v_event)
    on conflict (source_id, event_id) do nothing
    returning e.id into v_claim;
    if v_claim is null then
      select e.result into v_result from app.sync_events e where e.source_id = v_source.id and e.event_id = p_event_id;
      return coalesce(v_result, '{}'::jsonb) || pg_catalog.jsonb_build_object('duplicate', true);
    end if;

    if not v_source.enabled then
      perform app.refuse(409, 'sync_source_disabled', pg_catalog.format('Sync source "%s" is disabled', v_source.name),
        pg_catalog.format('Its owner can enable it with PUT /api/openclaw/stages/sync-sources { "id": "%s", "enabled": true }; events sent while it is disabled are not recorded, so resend them afterwards.', v_source.id));
    end if;

    -- Act as the source's org; history and touchpoints record who did it.
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_source.org_id, 'actor', 'sync_source:' || v_source.id, 'source', 'sync_source')::text, true);

    -- A raw Gmail watch notification ({emailAddress, historyId}) names no message.
    if v_source.type = 'gmail' and (v_payload ? 'historyId') and not (v_payload ? 'event') then
      v_result := pg_catalog.jsonb_build_object(
        'outcome', 'ignored', 'syncSourceId', v_source.id, 'event', v_event, 'eventId', p_event_id,
        'reason', 'A bare Gmail watch notification ({emailAddress, historyId}) names no message, so there is nothing to map. Have your forwarder publish {event, from, to, subject, snippet, messageId, threadId, date} instead.');
      update app.sync_events e set outcome = 'ignored', result = v_result where e.id = v_claim;
      update app.sync_sources s set last_event_at = pg_catalog.now() where s.id = v_source.id;
      perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
      return v_result || pg_catalog.jsonb_build_object('duplicate', false);
    end if;

    -- Gmail: the lead is the other party of the message.
    if v_source.type = 'gmail' and not (v_payload ? 'contact') then
      v_payload := v_payload || pg_catalog.jsonb_build_object('contact',
        case when v_event = 'email_sent' then v_payload -> 'to' else v_payload -> 'from' end);
    end if;

    -- Map the payload. "Jane Doe <jane@acme.com>" gives the email and a display name; of
    -- a list of addresses the first counts.
    v_email_raw := app._sync_value(v_payload, v_map -> 'email');
    if v_email_raw is null then
      perform app.refuse(400, 'missing_email',
        pg_catalog.format('The payload has no email at %s (fieldMapping.email)', coalesce(v_map -> 'email', 'null'::jsonb)),
        pg_catalog.format('Send the lead''s email at that path, or point fieldMapping.email at where it is: PUT /api/openclaw/stages/sync-sources { "id": "%s", "fieldMapping": { "email": "contact.email" } }.', v_source.id));
    end if;
    if v_email_raw ~ '<[^<>]+>' then
      v_email := pg_catalog.btrim(substring(v_email_raw from '<([^<>]+)>'));
      v_display := nullif(pg_catalog.btrim(substring(v_email_raw from '^([^<]*)<'), ' "'''), '');
    else
      v_email := pg_catalog.btrim(pg_catalog.split_part(v_email_raw, ',', 1));
    end if;

    v_first := app._sync_value(v_payload, v_map -> 'firstName');
    v_last := app._sync_value(v_payload, v_map -> 'lastName');
    v_name := app._sync_value(v_payload, v_map -> 'name');
    if v_name is not null then
      v_first := coalesce(v_first, substring(v_name from '^\S+'));
      v_last := coalesce(v_last, nullif(pg_catalog.btrim(pg_catalog.regexp_replace(v_name, '^\S+', '')), ''));
    end if;

    v_occurred_raw := app._sync_value(v_payload, v_map -> 'occurredAt');
    if v_occurred_raw ~ '^\d{9,13}(\.\d+)?$' then
      -- Unix time, in seconds or (13 digits) milliseconds.
      v_occurred := pg_catalog.to_timestamp(v_occurred_raw::double precision
        / case when length(pg_catalog.split_part(v_occurred_raw, '.', 1)) = 13 then 1000 else 1 end);
    elsif v_occurred_raw is not null then
      begin
        v_occurred := v_occurred_raw::timestamptz;
      exception when data_exception then
        perform app.refuse(400, 'invalid_occurred_at', pg_catalog.format('"%s" (fieldMapping.occurredAt) is not a time', v_occurred_raw),
          'Send the time as ISO 8601 with a zone (2026-01-31T14:00:00Z), RFC 2822 (Sat, 31 Jan 2026 14:00:00 +0000) or Unix seconds, or leave it out for now.');
      end;
    end if;

    v_direction := pg_catalog.lower(app._sync_value(v_payload, v_map -> 'direction'));
    if v_direction is null or v_direction not in ('inbound', 'outbound') then
      v_direction := case
        when v_source.type = 'gmail' then case when v_event = 'email_sent' then 'outbound' else 'inbound' end
        when v_source.type = 'form_webhook' then 'inbound'
      end;
    end if;

    v_target := coalesce(v_source.event_stages ->> v_event, v_source.stage_id);

    -- Create or update the lead by email. Updating first means a workspace at its plan's
    -- lead limit can still receive events for leads it has; the insert's conflict clause
    -- covers a concurrent event creating the same lead (then the loop updates it).
    begin
      for v_attempt in 1..2 loop
        select l.id, l.stage_id into v_lead_id, v_from_stage
        from app.leads l
        where l.org_id = v_source.org_id and l.email_key = pg_catalog.lower(v_email) and l.deleted_at is null
        for update;
        if v_lead_id is not null then
          update app.leads l set
            first_name = coalesce(v_first, l.first_name),
            last_name = coalesce(v_last, l.last_name),
            organization_name = coalesce(app._sync_value(v_payload, v_map -> 'organizationName'), l.organization_name),
            business_type = coalesce(app._sync_value(v_payload, v_map -> 'businessType'), l.business_type),
            phone = coalesce(app._sync_value(v_payload, v_map -> 'phone'), l.phone),
            title = coalesce(app._sync_value(v_payload, v_map -> 'title'), l.title),
            company_name = coalesce(app._sync_value(v_payload, v_map -> 'companyName'), l.company_name),
            linkedin_url = coalesce(app._sync_value(v_payload, v_map -> 'linkedinUrl'), l.linkedin_url),
            -- Events only move a lead forward: a routine email to a lead in negotiation
            -- must not send it back to the source's first stage.
            stage_id = case
              when (select t.position from app.stages t where t.id = v_target)
                   > coalesce((select f.position from app.stages f where f.id = l.stage_id), -1)
              then v_target else l.stage_id end
          where l.id = v_lead_id
          returning l.stage_id into v_target;
          exit;
        end if;
        -- A new lead without a mapped name is named from the display name, else the
        -- email's local part.
        insert into app.leads as l (org_id, first_name, last_name, email, organization_name, business_type, phone,
                                    title, company_name, linkedin_url, stage_id)
        values (v_source.org_id,
                coalesce(v_first, substring(v_display from '^\S+'), pg_catalog.split_part(v_email, '@', 1)),
                coalesce(v_last, nullif(pg_catalog.btrim(pg_catalog.regexp_replace(v_display, '^\S+', '')), '')),
                v_email,
                app._sync_value(v_payload, v_map -> 'organizationName'),
                app._sync_value(v_payload, v_map -> 'businessType'),
                app._sync_value(v_payload, v_map -> 'phone'),
                app._sync_value(v_payload, v_map -> 'title'),
                app._sync_value(v_payload, v_map -> 'companyName'),
                app._sync_value(v_payload, v_map -> 'linkedinUrl'),
                v_target)
        on conflict (org_id, email_key) where deleted_at is null do nothing
        returning l.id into v_lead_id;
        if v_lead_id is not null then
          v_created := true;
          exit;
        end if;
      end loop;
    exception when check_violation then
      get stacked diagnostics v_constraint = constraint_name;
      if v_constraint = 'leads_email_check' then
        perform app.refuse(400, 'invalid_email',
          pg_catalog.format('"%s" (fieldMapping.email) is not a valid email address', v_email_raw),
          pg_catalog.format('Send the lead''s email (like jane@acme.com or "Jane Doe <jane@acme.com>") at %s, or change fieldMapping.email.', v_map -> 'email'));
      end if;
      raise;
    end;

    insert into app.touchpoints as t (org_id, lead_id, type, direction, summary, occurred_at, metadata)
    values (
      v_source.org_id, v_lead_id,
      case v_source.type when 'gmail' then 'email' when 'form_webhook' then 'form' else 'other' end,
      v_direction,
      left(coalesce(app._sync_value(v_payload, v_map -> 'summary'),
                    pg_catalog.format('%s via %s', pg_catalog.replace(v_event, '_', ' '), v_source.name)), 10000),
      coalesce(v_occurred, pg_catalog.now()),
      pg_catalog.jsonb_build_object(
        'syncSourceId', v_source.id, 'syncSourceName', v_source.name, 'syncSourceType', v_source.type,
        'event', v_event, 'eventId', p_event_id)
      -- The payload itself when it is of a reasonable size (form answers, the message).
      || case when length(p_payload::text) <= 32768
           then pg_catalog.jsonb_build_object('payload', p_payload)
           else pg_catalog.jsonb_build_object('payloadOmitted', true) end)
    returning t.id into v_touchpoint;

    v_result := pg_catalog.jsonb_build_object(
      'outcome', case when v_created then 'created' else 'updated' end,
      'syncSourceId', v_source.id, 'event', v_event, 'eventId', p_event_id,
      'leadId', v_lead_id, 'email', v_email,
      'stage', (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s where s.id = v_target),
      'previousStage', case when not v_created then
        (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s where s.id = v_from_stage) end,
      'moved', not v_created and v_from_stage is distinct from v_target,
      'touchpointId', v_touchpoint);
    update app.sync_events e set lead_id = v_lead_id, outcome = v_result ->> 'outcome', result = v_result where e.id = v_claim;
    update app.sync_sources s set last_event_at = pg_catalog.now() where s.id = v_source.id;

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_result || pg_catalog.jsonb_build_object('duplicate', false);
  end;
  $$;
comment on function app.ingest_sync_event(text, text, jsonb) is 'Ingests one authenticated event for a sync source: idempotent on the event id; creates or updates the lead by email, moves it to the event''s stage and logs a touchpoint, all or nothing.';
revoke execute on function app.ingest_sync_event(text, text, jsonb) from public;
grant execute on function app.ingest_sync_event(text, text, jsonb) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Housekeeping, run daily by the job purge-sync-events (90_jobs.sql): senders redeliver
-- within days (Pub/Sub for up to 7); 30 days of events keep redeliveries idempotent and
-- the recent history readable.
-- ---------------------------------------------------------------------------
create function app.purge_sync_events() returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    delete from app.sync_events e where e.received_at < pg_catalog.now() - interval '30 days';
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_sync_events() is 'Deletes sync events received more than 30 days ago; returns how many.';
revoke execute on function app.purge_sync_events() from public;
grant execute on function app.purge_sync_events() to service_role;

-- =============================================================================================
-- sql/50_feedback.sql
-- =============================================================================================
-- Feedback: the hub between an org's agents and the platform operator (ClawCRM EIR).
-- Agents file bugs, errors and requests; the operator answers with a status and a
-- response; GET /health shows each org its unread answers until the org acknowledges
-- them. A tenant may file and read its own items and set acknowledged_at, nothing else:
-- status and response are the operator's, written through app.respond_to_feedback
-- (service_role only) or by a human in Studio.
--
-- This file holds the table app.feedback (with its policies and column privileges), the
-- trigger feedback_stamp (app._stamp_feedback) that stamps responses and acknowledgements
-- for every writer, and app.respond_to_feedback.

create table app.feedback (
  id text primary key default app.new_id('fb'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  type text not null check (type in ('bug', 'feature', 'error', 'question', 'improvement', 'other')),
  agent text check (length(agent) between 1 and 200),
  priority text not null default 'medium' check (priority in ('critical', 'high', 'medium', 'low')),
  title text not null check (length(btrim(title)) between 1 and 300),
  description text check (length(description) <= 20000),
  context jsonb not null default '{}' check (jsonb_typeof(context) = 'object'),
  -- The operator's side. "Acknowledged" is not a status: it is the org's receipt of a
  -- response (acknowledged_at), independent of where the operator is with the item.
  status text not null default 'open' check (status in ('open', 'in_progress', 'resolved', 'wont_fix')),
  response text check (length(btrim(response)) between 1 and 20000),
  responded_at timestamptz,
  responded_by text check (length(responded_by) <= 200),
  acknowledged_at timestamptz,
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A response the org has not acknowledged since it was (last) given. A new response
  -- after an acknowledgement is unread again.
  unread boolean generated always as (
    response is not null and (acknowledged_at is null or acknowledged_at < responded_at)) stored,
  constraint feedback_response_stamped check ((response is null) = (responded_at is null))
);
comment on table app.feedback is 'Feedback from an org''s agents and the operator''s (EIR) answers; unread answers surface in GET /health until acknowledged.';
comment on column app.feedback.unread is 'True while a response exists that the org has not acknowledged since it was given.';
comment on column app.feedback.created_by is 'The API key (or database user) that filed the item.';

create index feedback_org_created_idx on app.feedback (org_id, created_at desc, id desc);
-- What GET /health reads on every session start.
create index feedback_org_unread_idx on app.feedback (org_id, responded_at) where unread;
-- The operator's queue across orgs (GET /feedback?status=open with the admin key).
create index feedback_status_created_idx on app.feedback (status, created_at desc, id desc);

create trigger feedback_touch_updated_at before update on app.feedback
  for each row execute function app._touch_updated_at();

-- Tenants insert only the fields an agent files and update only acknowledged_at (column
-- privileges), on their own org's rows (policies). Nobody deletes through the API; the
-- operator (service_role) bypasses RLS.
alter table app.feedback enable row level security;
alter table app.feedback force row level security;
create policy "Feedback is visible to the org that filed it" on app.feedback
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Feedback can be filed in the caller's org" on app.feedback
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Feedback responses can be acknowledged by the org that filed it" on app.feedback
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));

grant select on app.feedback to authenticated;
grant insert (org_id, type, agent, priority, title, description, context) on app.feedback to authenticated;
grant update (acknowledged_at) on app.feedback to authenticated;
grant all on app.feedback to service_role;

-- ---------------------------------------------------------------------------
-- Timestamps the database keeps for every writer: a new or changed response is stamped
-- with when and by whom it was given; in a tenant request an acknowledgement is always
-- "now" (an org cannot pre-acknowledge answers it has not read by sending a future time).
-- ---------------------------------------------------------------------------
create function app._stamp_feedback() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.response is null then
      new.responded_at := null;
      new.responded_by := null;
    elsif tg_op = 'INSERT' or new.response is distinct from old.response then
      if tg_op = 'INSERT' or new.responded_at is not distinct from old.responded_at then
        new.responded_at := coalesce(case when tg_op = 'INSERT' then new.responded_at end, pg_catalog.now());
      end if;
      if tg_op = 'INSERT' or new.responded_by is not distinct from old.responded_by then
        new.responded_by := coalesce(case when tg_op = 'INSERT' then new.responded_by end, app.current_actor());
      end if;
    end if;

    if new.acknowledged_at is not null and app.current_org_id() is not null
       and (tg_op = 'INSERT' or new.acknowledged_at is distinct from old.acknowledged_at) then
      new.acknowledged_at := pg_catalog.now();
    end if;
    return new;
  end;
  $$;
comment on function app._stamp_feedback() is 'Trigger: stamps responded_at/responded_by when a response is given or changed, and acknowledged_at with the current time in tenant requests.';
revoke execute on function app._stamp_feedback() from public;

create trigger feedback_stamp before insert or update on app.feedback
  for each row execute function app._stamp_feedback();

-- ---------------------------------------------------------------------------
-- The operator's answer. The one way the API writes status and response; granted to
-- service_role only, so no tenant request (role authenticated) can call it.
-- ---------------------------------------------------------------------------
create function app.respond_to_feedback(
  p_id text, p_status text default null, p_response text default null, p_responder text default null)
  returns app.feedback
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.feedback;
  begin
    if p_status is null and p_response is null then
      perform app.refuse(400, 'nothing_to_change', 'Send a status, a response, or both',
        'PATCH /api/openclaw/feedback/{id} { "status": "resolved", "response": "What changed and what the agent should do now" }');
    end if;

    update app.feedback f set
      status = coalesce(p_status, f.status),
      response = coalesce(p_response, f.response),
      -- Every response given counts as new, even with the same text: the org sees it again.
      responded_at = case when p_response is not null then pg_catalog.now() else f.responded_at end,
      responded_by = case when p_response is not null then coalesce(p_responder, app.current_actor()) else f.responded_by end
    where f.id = p_id
    returning f.* into v_row;

    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Feedback %s was not found', p_id),
        'Check the id: GET /api/openclaw/feedback with the admin key lists every org''s feedback.');
    end if;
    return v_row;
  end;
  $$;
comment on function app.respond_to_feedback(text, text, text, text) is 'The operator (EIR) sets status and/or a response on any org''s feedback; a response is unread for the org until acknowledged.';
revoke execute on function app.respond_to_feedback(text, text, text, text) from public;
grant execute on function app.respond_to_feedback(text, text, text, text) to service_role;

-- =============================================================================================
-- sql/52_enrichment.sql
-- =============================================================================================
-- Enrichment: the state of each lead's enrichment, the provider answer cache, and the
-- spider web of connections between an org's leads.
--
-- The HTTP edge calls the providers (the network lives in TypeScript), but never inside a
-- transaction: app.start_enrichment marks the lead 'enriching' and commits, the providers
-- run, and app.finish_enrichment writes the result in a second short transaction. A run
-- that never finishes (the process died) is failed by the app.fail_stuck_enrichments sweep.
--
-- Tenancy of the cache: what a company's website says (cache keys 'domain:…') is public web
-- data and is shared by every org, so a domain is fetched once for all leads of all orgs.
-- What a paid provider says about a person (keys 'person:…') was bought by one org and is
-- cached for that org only. Both go through security definer accessors; the table itself
-- shows an org only its own person answers.
--
-- This file holds:
--   * the mail-domain lists: app.personal_mail_domains, app.mail_domain_kind and
--     app.is_personal_mail_domain;
--   * name keys: app.name_key and the trigger leads_name_keys on app.leads;
--   * tables app.lead_facts (schools, former employers) and app.enrichment_cache, with the
--     cache accessors app.cache_get / app.cache_put;
--   * a run: app.start_enrichment, app.finish_enrichment;
--   * the sweeps, run by jobs in 90_jobs.sql: app.fail_stuck_enrichments (every minute,
--     fail-stuck-enrichments) and app.purge_enrichment_cache (hourly, purge-enrichment-cache);
--   * app.spider_web.
-- The enrichment columns of app.leads (enrichment_status, enrichment_started_at,
-- company_domain, email_domain, organization_key, company_key, referrer_key), their comments
-- and indexes are in 40_leads.sql.

-- ---------------------------------------------------------------------------
-- Consumer and throwaway mail domains: a shared gmail.com says nothing about a shared
-- employer. Reference data, the same lists the built-in email provider classifies with.
-- ---------------------------------------------------------------------------
create table app.personal_mail_domains (
  domain text primary key check (domain = lower(domain) and length(domain) between 3 and 253),
  kind text not null check (kind in ('free', 'disposable'))
);
comment on table app.personal_mail_domains is 'Free-mail and disposable mail domains, the only copy of these lists: app.mail_domain_kind classifies with it (for the spider web and the enrichment email provider); leads sharing one of these are not connected by their email domain.';
alter table app.personal_mail_domains enable row level security;
alter table app.personal_mail_domains force row level security;
create policy "Personal mail domains are readable by every org" on app.personal_mail_domains
  for select to authenticated using (true);
grant select on app.personal_mail_domains to authenticated;
grant all on app.personal_mail_domains to service_role;

insert into app.personal_mail_domains (domain, kind)
select d, 'free' from unnest(array[
  'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'passport.com',
  'yahoo.com', 'ymail.com', 'rocketmail.com', 'icloud.com', 'me.com', 'mac.com', 'aol.com', 'aim.com',
  'protonmail.com', 'protonmail.ch', 'proton.me', 'pm.me', 'gmx.com', 'gmx.net', 'gmx.de', 'gmx.at', 'gmx.ch',
  'web.de', 't-online.de', 'freenet.de', 'posteo.de', 'mailbox.org', 'yandex.com', 'yandex.ru', 'ya.ru',
  'mail.ru', 'bk.ru', 'inbox.ru', 'list.ru', 'rambler.ru', 'zoho.com', 'zohomail.com', 'fastmail.com',
  'fastmail.fm', 'hey.com', 'tutanota.com', 'tutanota.de', 'tuta.io', 'tuta.com', 'mail.com', 'email.com',
  'usa.com', 'hushmail.com', 'duck.com', 'runbox.com', 'inbox.com', 'lycos.com', 'juno.com', 'earthlink.net',
  'comcast.net', 'verizon.net', 'att.net', 'sbcglobal.net', 'bellsouth.net', 'cox.net', 'charter.net',
  'btinternet.com', 'sky.com', 'virginmedia.com', 'talktalk.net', 'orange.fr', 'wanadoo.fr', 'free.fr',
  'laposte.net', 'sfr.fr', 'libero.it', 'virgilio.it', 'tiscali.it', 'seznam.cz', 'wp.pl', 'o2.pl',
  'interia.pl', 'onet.pl', 'qq.com', '163.com', '126.com', 'yeah.net', 'sina.com', 'naver.com', 'daum.net',
  'hanmail.net', 'rediffmail.com', 'bigpond.com', 'optusnet.com.au', 'shaw.ca', 'rogers.com', 'sympatico.ca',
  'uol.com.br', 'bol.com.br', 'terra.com.br']) d
union all
select d, 'disposable' from unnest(array[
  'mailinator.com', 'mailinator.net', 'mailinator2.com', '10minutemail.com', '10minutemail.net', '10minutemail.co.uk',
  '20minutemail.com', 'guerrillamail.com', 'guerrillamail.net', 'guerrillamail.org', 'guerrillamail.biz',
  'guerrillamail.de', 'guerrillamailblock.com', 'sharklasers.com', 'grr.la', 'pokemail.net', 'spam4.me',
  'tempmail.com', 'tempmail.net', 'temp-mail.org', 'temp-mail.io', 'tempmailo.com', 'tempmail.plus', 'tempr.email',
  'tempinbox.com', 'tempail.com', 'yopmail.com', 'yopmail.fr', 'yopmail.net', 'trashmail.com', 'trashmail.net',
  'trashmail.de', 'trashmail.me', 'throwawaymail.com', 'getnada.com', 'nada.email', 'maildrop.cc',
  'dispostable.com', 'mailnesia.com', 'mintemail.com', 'mohmal.com', 'fakeinbox.com', 'emailondeck.com',
  'spamgourmet.com', 'mailcatch.com', 'mytemp.email', 'discard.email', 'burnermail.io', 'moakt.com',
  'mailpoof.com', 'getairmail.com', 'fakemail.net', 'emailfake.com', 'harakirimail.com', 'inboxkitten.com',
  'mail.tm', 'mail.gw', 'dropmail.me', '1secmail.com', '1secmail.org', '1secmail.net', 'mailsac.com',
  'spambox.us', 'jetable.org', 'mvrht.com', 'anonaddy.me', '33mail.com', 'mailforspam.com', 'byom.de']) d;

-- What kind a mail domain is, decided in one place. The free-mail and disposable lists live
-- only in app.personal_mail_domains; this function adds the two rules a plain lookup
-- misses: the country variants of the big consumer providers (hotmail.co.uk, yahoo.fr,
-- gmx.es …) and the sub-domains of a throwaway domain (eu.mailinator.com). The spider web
-- (through app.is_personal_mail_domain) and the built-in email provider of enrichment
-- (which asks it once per run) both classify with it, so they cannot disagree.
create function app.mail_domain_kind(p_domain text) returns text
  language sql stable parallel safe
  set search_path = ''
  as $$
    with input as (
      -- Compared the way the email provider reads an address: trimmed, lower case, no final dot.
      select pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(p_domain)), '\.$', '') as domain
    ), parents as (
      -- The domain and each parent with at least two labels: eu.mailinator.com, mailinator.com.
      select pg_catalog.array_to_string(l.labels[i:], '.') as domain
      from input, pg_catalog.string_to_array(input.domain, '.') l (labels),
           pg_catalog.generate_series(1, pg_catalog.cardinality(l.labels) - 1) i
    )
    select case
      when exists (select from app.personal_mail_domains d
                   where d.kind = 'disposable' and d.domain in (select p.domain from parents p)) then 'disposable'
      when exists (select from app.personal_mail_domains d, input where d.kind = 'free' and d.domain = input.domain)
        or (select input.domain from input) ~ '^(hotmail|outlook|live|windowslive|yahoo|gmx|yandex|aol)\.([a-z]{2,3}|com?\.[a-z]{2})$'
        then 'free'
    end
  $$;
comment on function app.mail_domain_kind(text) is 'disposable when the mail domain or one of its parent domains is a throwaway domain (eu.mailinator.com), free for consumer mailboxes (gmail.com, and the country variants of the big providers such as hotmail.co.uk), null otherwise (a company domain, or no domain). Case, surrounding spaces and a final dot are ignored.';
revoke execute on function app.mail_domain_kind(text) from public;
grant execute on function app.mail_domain_kind(text) to authenticated, service_role;

-- For the spider web, which passes leads.email_domain (already lower case): no domain,
-- free-mail and its country variants, disposable domains and their sub-domains are all
-- personal.
create function app.is_personal_mail_domain(p_domain text) returns boolean
  language sql stable parallel safe
  set search_path = ''
  as $$
    select p_domain is null or app.mail_domain_kind(p_domain) is not null
  $$;
comment on function app.is_personal_mail_domain(text) is 'True for free-mail (gmail.com, hotmail.co.uk, …) and disposable mail domains (and their sub-domains), which say nothing about an employer; see app.mail_domain_kind.';
revoke execute on function app.is_personal_mail_domain(text) from public;
grant execute on function app.is_personal_mail_domain(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Names compared the way people mean them: "Acme, Inc." = "ACME" = "acme inc".
-- (Before the tables: lead_facts' generated value_key calls app.name_key.)
-- ---------------------------------------------------------------------------
create function app.name_key(p_name text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select nullif(pg_catalog.btrim(pg_catalog.regexp_replace(
      pg_catalog.btrim(pg_catalog.regexp_replace(
        pg_catalog.lower(pg_catalog.replace(p_name, '&', ' and ')), '[^[:alnum:]]+', ' ', 'g')),
      '( (inc|incorporated|llc|ltd|limited|corp|corporation|co|company|gmbh|plc|pllc|pc|lp|llp|sa|ag|bv|pty))+$', '')), '')
  $$;
comment on function app.name_key(text) is 'A company or school name reduced for comparison: lower case, punctuation removed, legal suffixes (Inc, LLC, GmbH, …) dropped; null when nothing is left.';
revoke execute on function app.name_key(text) from public;
grant execute on function app.name_key(text) to anon, authenticated, service_role;

-- No SET clause on app.name_key: it computes the leads' name keys (trigger leads_name_keys)
-- on every insert or update of a lead, and without one the planner inlines it (its body
-- names only pg_catalog functions, so no search path can change what it calls).
alter function app.name_key(text) reset search_path;

-- The name keys are kept by a trigger rather than generated: Postgres recomputes every
-- generated column on every update of a row (a rescore included), and these run regular
-- expressions. Writing a key directly recomputes it from the name.
create function app._lead_name_keys() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    new.organization_key := app.name_key(new.organization_name);
    new.company_key := app.name_key(new.company_name);
    return new;
  end;
  $$;
comment on function app._lead_name_keys() is 'Trigger: keeps leads.organization_key and company_key equal to app.name_key of the names.';
revoke execute on function app._lead_name_keys() from public;

create trigger leads_name_keys
  before insert or update of organization_name, company_name, organization_key, company_key on app.leads
  for each row execute function app._lead_name_keys();

-- ---------------------------------------------------------------------------
-- Facts enrichment found that connect people: schools and former employers, one row
-- each, so the spider web joins them through an index instead of unpacking documents.
-- ---------------------------------------------------------------------------
create table app.lead_facts (
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  kind text not null check (kind in ('school', 'previous_employer')),
  value text not null check (length(btrim(value)) between 1 and 300),
  value_key text generated always as (app.name_key(value)) stored,
  created_at timestamptz not null default now(),
  constraint lead_facts_pkey primary key (org_id, lead_id, kind, value_key),
  constraint lead_facts_value_key_check check (value_key is not null),
  constraint lead_facts_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.lead_facts is 'Schools and former employers enrichment found for a lead (rewritten by each complete enrichment); the spider web joins leads on them.';
create index lead_facts_org_kind_key_idx on app.lead_facts (org_id, kind, value_key);

select app.make_org_private('app.lead_facts', 'Lead facts');
grant select, insert, update, delete on app.lead_facts to authenticated;
grant all on app.lead_facts to service_role;

-- ---------------------------------------------------------------------------
-- Provider answers, reused until they expire so credits are spent once per person or
-- domain. org_id null = shared public data (domain facts); otherwise the org that paid.
-- ---------------------------------------------------------------------------
create table app.enrichment_cache (
  org_id text references app.orgs (id) on delete cascade,
  -- '*' for shared rows, else the org: part of the key, so one key per scope.
  scope text generated always as (coalesce(org_id, '*')) stored,
  source text not null check (length(source) between 1 and 50),
  cache_key text not null check (length(cache_key) between 1 and 500),
  result jsonb not null,
  fetched_at timestamptz not null default now(),
  expires_at timestamptz not null,
  constraint enrichment_cache_pkey primary key (scope, source, cache_key),
  constraint enrichment_cache_expiry_check check (expires_at > fetched_at)
);
comment on table app.enrichment_cache is 'Provider answers per source and key (domain:… shared by all orgs, person:… per org), reused until expires_at.';
create index enrichment_cache_expires_idx on app.enrichment_cache (expires_at);

alter table app.enrichment_cache enable row level security;
alter table app.enrichment_cache force row level security;
create policy "Cached person answers are visible to the org that paid for them" on app.enrichment_cache
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.enrichment_cache to authenticated;
grant all on app.enrichment_cache to service_role;

-- ---------------------------------------------------------------------------
-- The cache's accessors: shared rows for domain:… keys, the caller's org's own otherwise.
-- ---------------------------------------------------------------------------
create function app._cache_scope(p_cache_key text) returns text
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_org text := app.current_org_id();
  begin
    if p_cache_key like 'domain:%' then
      return '*';
    end if;
    if v_org is null then
      raise exception 'person-level cache entries need an org (no org_id claim)';
    end if;
    return v_org;
  end;
  $$;
comment on function app._cache_scope(text) is 'Where a cache key lives: ''*'' (shared) for domain:… keys, the current org for everything else.';
revoke execute on function app._cache_scope(text) from public;

create function app.cache_get(p_source text, p_cache_key text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select c.result from app.enrichment_cache c
    where c.scope = app._cache_scope(p_cache_key) and c.source = p_source and c.cache_key = p_cache_key
      and c.expires_at > pg_catalog.now()
  $$;
comment on function app.cache_get(text, text) is 'The cached answer of a provider for a key, if not expired: shared for domain:… keys, the caller''s org''s own otherwise.';
revoke execute on function app.cache_get(text, text) from public;
grant execute on function app.cache_get(text, text) to authenticated, service_role;

create function app.cache_put(p_source text, p_cache_key text, p_result jsonb, p_ttl interval) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.enrichment_cache as c (org_id, source, cache_key, result, fetched_at, expires_at)
    values (nullif(app._cache_scope(p_cache_key), '*'), p_source, p_cache_key, p_result, pg_catalog.now(), pg_catalog.now() + p_ttl)
    on conflict (scope, source, cache_key) do update
      set result = excluded.result, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at
  $$;
comment on function app.cache_put(text, text, jsonb, interval) is 'Stores a provider''s answer for a key for p_ttl: shared for domain:… keys, for the caller''s org otherwise.';
revoke execute on function app.cache_put(text, text, jsonb, interval) from public;
grant execute on function app.cache_put(text, text, jsonb, interval) to authenticated, service_role;

-- Run hourly by the job purge-enrichment-cache (90_jobs.sql).
create function app.purge_enrichment_cache() returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    delete from app.enrichment_cache c where c.expires_at <= pg_catalog.now();
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_enrichment_cache() is 'Deletes expired provider answers; returns how many.';
revoke execute on function app.purge_enrichment_cache() from public;
grant execute on function app.purge_enrichment_cache() to service_role;

-- ---------------------------------------------------------------------------
-- A run, in two short transactions around the network calls.
-- ---------------------------------------------------------------------------
create function app.start_enrichment(p_lead_id text, p_force boolean, p_fresh_for interval, p_budget interval)
  returns table (
    outcome text, started_at timestamptz, email text, first_name text, last_name text,
    organization_name text, company_name text, linkedin_url text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_lead app.leads%rowtype;
  begin
    select l.* into v_lead from app.leads l where l.id = p_lead_id for no key update;
    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check the id. Ids belong to one workspace: another workspace''s leads are not visible with this key.');
    end if;
    if v_lead.deleted_at is not null then
      perform app.refuse(409, 'lead_deleted', pg_catalog.format('Lead %s is deleted', p_lead_id),
        pg_catalog.format('Restore it first with PATCH /api/openclaw/leads/%s { "restore": true }, then enrich it.', p_lead_id));
    end if;
    -- Another run is still within its budget: don't run the providers (and spend) twice.
    if v_lead.enrichment_status = 'enriching' and v_lead.enrichment_started_at > pg_catalog.now() - p_budget then
      perform app.refuse(409, 'enrichment_in_progress',
        pg_catalog.format('Lead %s is being enriched by another request (started %s)', p_lead_id, v_lead.enrichment_started_at),
        pg_catalog.format('Wait %s seconds, then read the result with GET /api/openclaw/enrich?leadId=%s.',
          greatest(1, ceil(extract(epoch from v_lead.enrichment_started_at + p_budget - pg_catalog.now())))::integer, p_lead_id));
    end if;

    outcome := 'started';
    if not p_force and v_lead.enrichment_status = 'complete' and v_lead.enriched_at > pg_catalog.now() - p_fresh_for then
      outcome := 'fresh';
      started_at := v_lead.enrichment_started_at;
    else
      update app.leads l
      set enrichment_status = 'enriching', enrichment_started_at = pg_catalog.now(), enrichment_error = null
      where l.id = v_lead.id
      returning l.enrichment_started_at into started_at;
    end if;
    email := v_lead.email;
    first_name := v_lead.first_name;
    last_name := v_lead.last_name;
    organization_name := v_lead.organization_name;
    company_name := v_lead.company_name;
    linkedin_url := v_lead.linkedin_url;
    return next;
  end;
  $$;
comment on function app.start_enrichment(text, boolean, interval, interval) is 'Starts an enrichment run: ''fresh'' when the lead was enriched within p_fresh_for (and not forced), else marks it enriching and returns ''started'' with the run''s start time; 404/409 refusals for unknown, deleted or busy leads.';
revoke execute on function app.start_enrichment(text, boolean, interval, interval) from public;
grant execute on function app.start_enrichment(text, boolean, interval, interval) to authenticated, service_role;

-- A value for a top-level field: the one found, unless a person set the field by hand.
-- "By hand" = the current value is neither empty nor what enrichment itself wrote last.
create function app._enriched_value(p_current text, p_previous text, p_found text, p_max integer) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case
      when nullif(pg_catalog.btrim(p_found), '') is null then p_current
      when p_current is null or p_current = pg_catalog.left(p_previous, p_max) then pg_catalog.left(pg_catalog.btrim(p_found), p_max)
      else p_current
    end
  $$;
comment on function app._enriched_value(text, text, text, integer) is 'The value enrichment writes to a field: what it found (cut to p_max), unless the current value was set by hand (neither empty nor enrichment''s previous value).';
revoke execute on function app._enriched_value(text, text, text, integer) from public;
grant execute on function app._enriched_value(text, text, text, integer) to authenticated, service_role;

create function app.finish_enrichment(
    p_lead_id text, p_started_at timestamptz, p_status text, p_facts jsonb, p_document jsonb, p_error text)
  returns table (applied boolean, kept_fields text[])
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_lead app.leads%rowtype;
    v_previous jsonb;
    v_facts jsonb := coalesce(p_facts, '{}');
  begin
    if p_status not in ('complete', 'failed') then
      raise exception 'finish_enrichment: status must be complete or failed, not %', p_status;
    end if;
    select l.* into v_lead from app.leads l where l.id = p_lead_id for no key update;
    -- Superseded: the sweep failed this run, or a newer run took over.
    if not found or v_lead.enrichment_status <> 'enriching' or v_lead.enrichment_started_at is distinct from p_started_at then
      applied := false;
      kept_fields := '{}';
      return next;
      return;
    end if;

    if p_status = 'failed' then
      update app.leads l
      set enrichment_status = 'failed',
          enrichment_error = pg_catalog.left(coalesce(nullif(p_error, ''), 'Enrichment failed'), 2000),
          -- Keep the last good result; record this attempt next to it.
          enrichment = case when l.enriched_at is not null and l.enrichment is not null
                            then l.enrichment operator(pg_catalog.||) pg_catalog.jsonb_build_object('lastAttempt', p_document)
                            else p_document end
      where l.id = v_lead.id;
      applied := true;
      kept_fields := '{}';
      return next;
      return;
    end if;

    v_previous := coalesce(v_lead.enrichment -> 'facts', '{}');
    select coalesce(array_agg(f.field order by f.field), '{}') into kept_fields
    from (values
      ('title', v_lead.title, 300), ('seniority', v_lead.seniority, 100), ('companyName', v_lead.company_name, 300),
      ('linkedinUrl', v_lead.linkedin_url, 2000), ('companySize', v_lead.company_size, 100),
      ('companyRevenue', v_lead.company_revenue, 100)) f (field, current_value, max_length)
    where app._enriched_value(f.current_value, v_previous ->> f.field, v_facts ->> f.field, f.max_length) is distinct from
          coalesce(pg_catalog.left(pg_catalog.btrim(v_facts ->> f.field), f.max_length), f.current_value);

    update app.leads l
    set enrichment_status = 'complete',
        enrichment_error = null,
        enriched_at = pg_catalog.now(),
        enrichment = p_document,
        title = app._enriched_value(l.title, v_previous ->> 'title', v_facts ->> 'title', 300),
        seniority = app._enriched_value(l.seniority, v_previous ->> 'seniority', v_facts ->> 'seniority', 100),
        company_name = app._enriched_value(l.company_name, v_previous ->> 'companyName', v_facts ->> 'companyName', 300),
        linkedin_url = app._enriched_value(l.linkedin_url, v_previous ->> 'linkedinUrl', v_facts ->> 'linkedinUrl', 2000),
        company_size = app._enriched_value(l.company_size, v_previous ->> 'companySize', v_facts ->> 'companySize', 100),
        company_revenue = app._enriched_value(l.company_revenue, v_previous ->> 'companyRevenue', v_facts ->> 'companyRevenue', 100),
        company_domain = coalesce(pg_catalog.left(nullif(pg_catalog.lower(pg_catalog.btrim(v_facts ->> 'companyDomain')), ''), 253), l.company_domain)
    where l.id = v_lead.id;

    delete from app.lead_facts f where f.org_id = v_lead.org_id and f.lead_id = v_lead.id;
    insert into app.lead_facts (org_id, lead_id, kind, value)
    select v_lead.org_id, v_lead.id, k.kind, pg_catalog.left(pg_catalog.btrim(v.value), 300)
    from (values ('school', 'schools'), ('previous_employer', 'previousEmployers')) k (kind, field)
    cross join lateral pg_catalog.jsonb_array_elements_text(
      case when pg_catalog.jsonb_typeof(v_facts -> k.field) = 'array' then v_facts -> k.field else '[]' end) v (value)
    where app.name_key(v.value) is not null
    on conflict do nothing;

    applied := true;
    return next;
  end;
  $$;
comment on function app.finish_enrichment(text, timestamptz, text, jsonb, jsonb, text) is 'Ends the run started at p_started_at: complete writes the document and fills the top-level fields (never overwriting a value set by hand, which kept_fields names) and the lead''s schools and former employers; failed records the reason and keeps the last good result. applied = false when the run was superseded.';
revoke execute on function app.finish_enrichment(text, timestamptz, text, jsonb, jsonb, text) from public;
grant execute on function app.finish_enrichment(text, timestamptz, text, jsonb, jsonb, text) to authenticated, service_role;

-- Run every minute by the job fail-stuck-enrichments (90_jobs.sql), for runs older than
-- 5 minutes.
create function app.fail_stuck_enrichments(p_older_than interval) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    update app.leads l
    set enrichment_status = 'failed',
        enrichment_error = pg_catalog.format(
          'Enrichment started at %s did not finish within %s (the request was interrupted). Retry with POST /api/openclaw/enrich { "leadId": "%s", "force": true }.',
          l.enrichment_started_at, p_older_than, l.id)
    where l.enrichment_status = 'enriching' and l.enrichment_started_at < pg_catalog.now() - p_older_than;
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.fail_stuck_enrichments(interval) is 'Marks leads left enriching for longer than p_older_than as failed, with the reason; returns how many.';
revoke execute on function app.fail_stuck_enrichments(interval) from public;
grant execute on function app.fail_stuck_enrichments(interval) to service_role;

-- ---------------------------------------------------------------------------
-- The spider web: how a lead is connected to the org's other live leads.
-- ---------------------------------------------------------------------------
create function app.spider_web(p_lead_id text)
  returns table (lead_id text, name text, connection_type text, detail text, strength numeric)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_me app.leads%rowtype;
    v_domains text[];
    v_names text[];
  begin
    select l.* into v_me from app.leads l where l.id = p_lead_id;
    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check the id. Ids belong to one workspace: another workspace''s leads are not visible with this key.');
    end if;
    if v_me.deleted_at is not null then
      perform app.refuse(409, 'lead_deleted', pg_catalog.format('Lead %s is deleted', p_lead_id),
        pg_catalog.format('Restore it first with PATCH /api/openclaw/leads/%s { "restore": true }.', p_lead_id));
    end if;
    v_domains := array(select distinct d from unnest(array[v_me.company_domain,
      case when not app.is_personal_mail_domain(v_me.email_domain) then v_me.email_domain end]) d where d is not null);
    v_names := array(select distinct n from unnest(array[v_me.organization_key, v_me.company_key]) n where n is not null);

    return query
    with others as (
      select o.id, o.first_name, o.last_name, o.email_key, o.company_domain, o.email_domain,
             o.organization_name, o.company_name, o.organization_key, o.company_key, o.referrer_key
      from app.leads o
      where o.org_id = v_me.org_id and o.deleted_at is null and o.id <> v_me.id
        and (o.company_domain = any(v_domains) or o.email_domain = any(v_domains)
             or o.organization_key = any(v_names) or o.company_key = any(v_names)
             or o.referrer_key = v_me.referrer_key
             or o.referrer_key in (v_me.email_key, v_me.id) or o.email_key = v_me.referrer_key or o.id = v_me.referrer_key)
    ),
    connections (cid, ctype, cdetail, cstrength) as (
      select o.id, 'referral',
             case when o.referrer_key in (v_me.email_key, v_me.id) then 'This lead referred them' else 'They referred this lead' end,
             0.90
      from others o
      where o.referrer_key in (v_me.email_key, v_me.id) or o.email_key = v_me.referrer_key or o.id = v_me.referrer_key
      union all
      select o.id, 'same_company_domain',
             'Both at ' || coalesce(case when o.company_domain = any(v_domains) then o.company_domain end, o.email_domain),
             0.80
      from others o
      where o.company_domain = any(v_domains) or o.email_domain = any(v_domains)
      union all
      select o.id, 'same_organization',
             'Both at ' || coalesce(case when o.company_key = any(v_names) then o.company_name end, o.organization_name),
             0.70
      from others o
      where o.organization_key = any(v_names) or o.company_key = any(v_names)
      union all
      select o.id, 'same_referrer', 'Both referred by ' || v_me.referrer_key, 0.60
      from others o
      where o.referrer_key = v_me.referrer_key
      union all
      -- Shared schools or former employers, one connection per lead and kind.
      select f.lead_id,
             case mine.kind when 'school' then 'shared_school' else 'shared_previous_employer' end,
             case mine.kind when 'school' then 'Both studied at ' else 'Both worked at ' end
               || string_agg(distinct mine.value, ', ' order by mine.value),
             least(case mine.kind when 'school' then 0.60 else 0.70 end,
                   case mine.kind when 'school' then 0.40 else 0.50 end + 0.10 * (count(distinct mine.value_key) - 1))
      from app.lead_facts mine
      join app.lead_facts f on f.org_id = mine.org_id and f.kind = mine.kind and f.value_key = mine.value_key and f.lead_id <> mine.lead_id
      join app.leads o on o.org_id = f.org_id and o.id = f.lead_id and o.deleted_at is null
      where mine.org_id = v_me.org_id and mine.lead_id = v_me.id
      group by f.lead_id, mine.kind
      union all
      -- A former employer of one is the other's current company.
      select o.id, 'worked_at_their_company', 'This lead previously worked at ' || mine.value || ', their company', 0.60
      from app.lead_facts mine
      join app.leads o on o.org_id = mine.org_id and o.deleted_at is null and o.id <> mine.lead_id
        and (o.organization_key = mine.value_key or o.company_key = mine.value_key)
      where mine.org_id = v_me.org_id and mine.lead_id = v_me.id and mine.kind = 'previous_employer'
      union all
      select f.lead_id, 'worked_at_their_company', 'They previously worked at ' || f.value || ', this lead''s company', 0.60
      from app.lead_facts f
      join app.leads o on o.org_id = f.org_id and o.id = f.lead_id and o.deleted_at is null
      where f.org_id = v_me.org_id and f.kind = 'previous_employer' and f.value_key = any(v_names) and f.lead_id <> v_me.id
    )
    select distinct on (c.cid, c.ctype)
           c.cid, pg_catalog.btrim(l.first_name || ' ' || coalesce(l.last_name, '')), c.ctype, c.cdetail, c.cstrength::numeric(3, 2)
    from connections c
    join app.leads l on l.id = c.cid
    order by c.cid, c.ctype, c.cstrength desc;
  end;
  $$;
comment on function app.spider_web(text) is 'The lead''s connections to the org''s other live leads (referral, same company domain, same organisation, same referrer, shared school, shared or linked former employer), each with a detail and a strength from 0 to 1.';
revoke execute on function app.spider_web(text) from public;
grant execute on function app.spider_web(text) to authenticated, service_role;

-- =============================================================================================
-- sql/54_events.sql
-- =============================================================================================
-- Engagement events: the one record of every signal a lead gives or receives (quiz
-- completed, proposal viewed, email replied, stage changed, touch logged, …), whoever
-- writes it: the API, an inbound webhook, proposal tracking, the mail worker, a trigger.
-- Scoring, automation, campaign triggers and analytics all read this table, and triggers
-- on it keep each lead's engagement rollup current.
--
-- The events API (POST/GET /events) lets agents record the signals they observe.
-- Touchpoints are the human interaction log (a call, an email written, a meeting held);
-- events are the signals scoring, automation and analytics read. Logging a touchpoint
-- emits touch_logged and a stage move stage_changed, so agents never record those.
--
-- This file holds the tables app.event_types (with the known types), app.events and
-- app.lead_engagement (the per-lead rollup), the rollup trigger, app.record_event and
-- app.require_event_type for the API, and the triggers that turn stage moves
-- (stage_changes_event on app.stage_changes) and touchpoints (touchpoints_event on
-- app.touchpoints) into events.
--
-- Triggers on app.events run in name order:
--   events_10_rollup      this file                lead_engagement counters
--   events_20_score       56_scoring.sql           the lead's score and label
--   events_30_automation  62_automation.sql        stage automation rules
--   events_40_campaigns   76_campaign_events.sql   automatic enrolment
-- Other writers of app.events: proposal tracking (66_proposals.sql, which also adds
-- viewing time to lead_engagement), the mail outbox (74_outbox.sql), campaign events
-- (76_campaign_events.sql), Calendly (82_calendly.sql) and quizzes (84_quizzes.sql).

-- ---------------------------------------------------------------------------
-- Event types
-- ---------------------------------------------------------------------------
create table app.event_types (
  name text primary key,
  description text not null,
  -- Agents may record it through POST /events (false: only the system writes it).
  recordable boolean not null default true
);
comment on table app.event_types is 'The engagement signals the CRM knows, and which of them agents may record themselves.';
alter table app.event_types enable row level security;
alter table app.event_types force row level security;
create policy "Event types are readable by every org" on app.event_types
  for select to authenticated using (true);
grant select on app.event_types to authenticated, anon;
grant all on app.event_types to service_role;

insert into app.event_types (name, description, recordable) values
  ('quiz_completed', 'Finished a quiz; data.score is the result on 0-100.', true),
  ('proposal_viewed', 'Opened the proposal page; data.seconds is the time on page.', true),
  ('video_watched', 'Watched the proposal video; data.percent is how far (0-100).', true),
  ('cta_clicked', 'Clicked a call to action (data.cta names it).', true),
  ('meeting_booked', 'Booked a meeting (data.startsAt, data.url when known).', true),
  ('meeting_canceled', 'Canceled a booked meeting.', true),
  ('email_sent', 'An email went out to the lead.', true),
  ('email_opened', 'The lead opened an email.', true),
  ('email_replied', 'The lead replied to an email.', true),
  ('email_bounced', 'An email to the lead bounced.', true),
  ('unsubscribed', 'The lead unsubscribed from email.', true),
  ('stage_changed', 'The lead moved to another stage (written from the stage history).', false),
  ('touch_logged', 'A touchpoint was logged (written from the touchpoint).', false);

-- ---------------------------------------------------------------------------
-- Events
-- ---------------------------------------------------------------------------
create table app.events (
  id text primary key default app.new_id('evt'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  type text not null references app.event_types (name),
  occurred_at timestamptz not null default now(),
  data jsonb not null default '{}' check (jsonb_typeof(data) = 'object' and length(data::text) <= 20000),
  source text not null default app.current_source() check (length(source) <= 100),
  actor text not null default app.current_actor(),
  -- The sender's id for the event (tracking beacon, webhook, message id): recording the same
  -- one twice is a no-op, so retries and redeliveries never count twice.
  external_id text check (length(external_id) between 1 and 300),
  created_at timestamptz not null default now(),
  constraint events_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade,
  constraint events_score_range check (type <> 'quiz_completed' or data -> 'score' is null
    or (jsonb_typeof(data -> 'score') = 'number' and (data ->> 'score')::numeric between 0 and 100)),
  constraint events_percent_range check (type <> 'video_watched' or data -> 'percent' is null
    or (jsonb_typeof(data -> 'percent') = 'number' and (data ->> 'percent')::numeric between 0 and 100)),
  constraint events_seconds_range check (type <> 'proposal_viewed' or data -> 'seconds' is null
    or (jsonb_typeof(data -> 'seconds') = 'number' and (data ->> 'seconds')::numeric >= 0))
);
comment on table app.events is 'Engagement events per lead (quiz, proposal, video, CTA, meeting, email, stage, touch), from every source; immutable once written.';
create unique index events_org_external_key on app.events (org_id, type, external_id) where external_id is not null;
create index events_org_lead_idx on app.events (org_id, lead_id, occurred_at desc);
create index events_org_type_idx on app.events (org_id, type, occurred_at desc);
-- GET /events without a lead: the org's newest events first.
create index events_org_occurred_idx on app.events (org_id, occurred_at desc, id desc);

-- A log: tenants read and add, never rewrite. Deleting the lead removes its events.
alter table app.events enable row level security;
alter table app.events force row level security;
create policy "Events are visible to their own org" on app.events
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Events can be recorded in the caller's org" on app.events
  for insert to authenticated with check (org_id = (select app.current_org_id()));
grant select on app.events to authenticated;
grant insert (org_id, lead_id, type, occurred_at, data, external_id) on app.events to authenticated;
grant all on app.events to service_role;

-- ---------------------------------------------------------------------------
-- The per-lead rollup scoring, automation conditions and playbooks read, so none of them
-- aggregates the event log per lead at read time.
-- ---------------------------------------------------------------------------
create table app.lead_engagement (
  lead_id text primary key,
  org_id text not null references app.orgs (id) on delete cascade,
  quiz_completions integer not null default 0,
  quiz_score numeric check (quiz_score between 0 and 100),
  proposal_views integer not null default 0,
  proposal_seconds numeric not null default 0,
  video_percent numeric not null default 0 check (video_percent between 0 and 100),
  cta_clicks integer not null default 0,
  meetings_booked integer not null default 0,
  meeting_canceled_at timestamptz,
  last_meeting_booked_at timestamptz,
  emails_sent integer not null default 0,
  emails_opened integer not null default 0,
  emails_replied integer not null default 0,
  bounced_at timestamptz,
  unsubscribed_at timestamptz,
  last_event_at timestamptz,
  constraint lead_engagement_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.lead_engagement is 'Each lead''s engagement so far, kept by a trigger on app.events: counts, the latest quiz score, the furthest video progress.';
create index lead_engagement_org_idx on app.lead_engagement (org_id);

alter table app.lead_engagement enable row level security;
alter table app.lead_engagement force row level security;
create policy "Lead engagement is visible to its own org" on app.lead_engagement
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.lead_engagement to authenticated;
grant all on app.lead_engagement to service_role;

-- ---------------------------------------------------------------------------
-- Keeping the rollup current: the first trigger on app.events.
-- ---------------------------------------------------------------------------
create function app._roll_up_event() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    e alias for new;
    v_number numeric := case e.type
      when 'quiz_completed' then (e.data ->> 'score')::numeric
      when 'video_watched' then (e.data ->> 'percent')::numeric
      when 'proposal_viewed' then coalesce((e.data ->> 'seconds')::numeric, 0)
    end;
  begin
    insert into app.lead_engagement as g (lead_id, org_id, last_event_at) values (e.lead_id, e.org_id, e.occurred_at)
    on conflict (lead_id) do nothing;
    update app.lead_engagement g set
      quiz_completions = g.quiz_completions + (e.type = 'quiz_completed')::integer,
      -- The latest quiz result counts, not the best: a retake says where the lead is now.
      quiz_score = case when e.type = 'quiz_completed' and v_number is not null then v_number else g.quiz_score end,
      proposal_views = g.proposal_views + (e.type = 'proposal_viewed')::integer,
      proposal_seconds = g.proposal_seconds + case when e.type = 'proposal_viewed' then v_number else 0 end,
      video_percent = case when e.type = 'video_watched' then greatest(g.video_percent, coalesce(v_number, 100)) else g.video_percent end,
      cta_clicks = g.cta_clicks + (e.type = 'cta_clicked')::integer,
      meetings_booked = g.meetings_booked + (e.type = 'meeting_booked')::integer,
      last_meeting_booked_at = case when e.type = 'meeting_booked' then greatest(g.last_meeting_booked_at, e.occurred_at) else g.last_meeting_booked_at end,
      meeting_canceled_at = case when e.type = 'meeting_canceled' then e.occurred_at else g.meeting_canceled_at end,
      emails_sent = g.emails_sent + (e.type = 'email_sent')::integer,
      emails_opened = g.emails_opened + (e.type = 'email_opened')::integer,
      emails_replied = g.emails_replied + (e.type = 'email_replied')::integer,
      bounced_at = case when e.type = 'email_bounced' then coalesce(g.bounced_at, e.occurred_at) else g.bounced_at end,
      unsubscribed_at = case when e.type = 'unsubscribed' then coalesce(g.unsubscribed_at, e.occurred_at) else g.unsubscribed_at end,
      last_event_at = greatest(g.last_event_at, e.occurred_at)
    where g.lead_id = e.lead_id;
    return null;
  end;
  $$;
comment on function app._roll_up_event() is 'Trigger: folds a new engagement event into its lead''s app.lead_engagement row.';
revoke execute on function app._roll_up_event() from public;

create trigger events_10_rollup after insert on app.events
  for each row execute function app._roll_up_event();

-- ---------------------------------------------------------------------------
-- Which types a caller may use: recording takes only recordable ones, filtering any known
-- one. The hint lists the valid names from app.event_types, so it never goes stale.
-- ---------------------------------------------------------------------------
create function app.require_event_type(p_type text, p_recordable_only boolean default true) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_known boolean;
    v_recordable boolean;
    v_valid text;
  begin
    select true, t.recordable into v_known, v_recordable from app.event_types t where t.name = p_type;
    if v_known and (v_recordable or not p_recordable_only) then
      return;
    end if;
    select string_agg(t.name, ', ' order by t.name) into v_valid
    from app.event_types t where t.recordable or not p_recordable_only;
    if v_known then
      perform app.refuse(400, 'event_type_not_recordable',
        pg_catalog.format('"%s" events are recorded by the CRM itself', p_type),
        'Record one of: ' || v_valid || '. touch_logged comes from POST /api/openclaw/touchpoints and stage_changed from moving the lead''s stage.');
    end if;
    perform app.refuse(400, 'unknown_event_type', pg_catalog.format('"%s" is not an event type', p_type),
      'Use one of: ' || v_valid || '.');
  end;
  $$;
comment on function app.require_event_type(text, boolean) is 'Refuses (400, hint listing the valid names) a type that is unknown or, when p_recordable_only, one only the CRM writes.';
revoke execute on function app.require_event_type(text, boolean) from public;
grant execute on function app.require_event_type(text, boolean) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Recording: recordable types only, nothing from the future, idempotent on
-- (type, external_id). The answer carries the lead's score as the event left it: the
-- event's triggers (rollup, scoring) have run by the time the insert returns.
-- ---------------------------------------------------------------------------
create function app.record_event(
  p_lead_id text,
  p_type text,
  p_data jsonb default '{}',
  p_occurred_at timestamptz default null,
  p_external_id text default null
) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org_id text := app.current_org_id();
    v_id text;
    v_lead_id text := p_lead_id;
    v_duplicate boolean := false;
    v_score integer;
    v_label text;
  begin
    perform app.require_event_type(p_type, true);
    if not exists (select from app.leads l where l.id = p_lead_id and l.org_id = v_org_id) then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s not found', p_lead_id),
        'Check the id with GET /api/openclaw/leads; leads of other workspaces are not visible.');
    end if;
    -- The same five minutes of clock-skew slack as touchpoints.
    if p_occurred_at > pg_catalog.now() + interval '5 minutes' then
      perform app.refuse(400, 'occurred_at_in_future',
        pg_catalog.format('occurredAt %s is in the future',
          pg_catalog.to_char(pg_catalog.timezone('UTC', p_occurred_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
        'occurredAt is when the lead did it: send an ISO 8601 time no later than 5 minutes from now, or leave it out to use the current time.');
    end if;
    insert into app.events (org_id, lead_id, type, data, occurred_at, external_id)
    values (v_org_id, p_lead_id, p_type, coalesce(p_data, '{}'), coalesce(p_occurred_at, pg_catalog.now()), p_external_id)
    on conflict (org_id, type, external_id) where external_id is not null do nothing
    returning id into v_id;
    if v_id is null then
      -- A repeat: answer with the first event, whichever lead it was for.
      v_duplicate := true;
      select e.id, e.lead_id into v_id, v_lead_id from app.events e
      where e.org_id = v_org_id and e.type = p_type and e.external_id = p_external_id;
    end if;
    select c.score, c.label into v_score, v_label from app.lead_scores c where c.lead_id = v_lead_id;
    return pg_catalog.jsonb_build_object('id', v_id, 'duplicate', v_duplicate, 'leadId', v_lead_id, 'type', p_type,
      'score', v_score, 'label', v_label);
  end;
  $$;
comment on function app.record_event(text, text, jsonb, timestamptz, text) is 'Records a recordable engagement event for one of the caller''s leads; idempotent on (type, external_id); answers { id, duplicate, leadId, type, score, label }.';
revoke execute on function app.record_event(text, text, jsonb, timestamptz, text) from public;
grant execute on function app.record_event(text, text, jsonb, timestamptz, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Stage moves and touchpoints are events too, written from their own records so every
-- writer of those (API, Studio, automation, inbound webhooks) is covered.
-- ---------------------------------------------------------------------------
create function app._stage_change_event() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    -- A lead's first stage is its creation, not a move.
    if new.from_stage_id is null then
      return null;
    end if;
    insert into app.events (org_id, lead_id, type, occurred_at, source, actor, data)
    values (new.org_id, new.lead_id, 'stage_changed', new.changed_at, new.source, new.changed_by,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'stageChangeId', new.id, 'fromStageId', new.from_stage_id, 'toStageId', new.to_stage_id,
        'fromStage', new.from_stage_name, 'toStage', new.to_stage_name, 'ruleId', new.rule_id)));
    return null;
  end;
  $$;
comment on function app._stage_change_event() is 'Trigger: a recorded stage move becomes a stage_changed event.';
revoke execute on function app._stage_change_event() from public;

create trigger stage_changes_event after insert on app.stage_changes
  for each row execute function app._stage_change_event();

create function app._touchpoint_event() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    insert into app.events (org_id, lead_id, type, occurred_at, source, actor, data)
    values (new.org_id, new.lead_id, 'touch_logged', new.occurred_at, new.source, new.created_by,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'touchpointId', new.id, 'channel', new.type, 'direction', new.direction)));
    return null;
  end;
  $$;
comment on function app._touchpoint_event() is 'Trigger: a logged touchpoint becomes a touch_logged event.';
revoke execute on function app._touchpoint_event() from public;

create trigger touchpoints_event after insert on app.touchpoints
  for each row execute function app._touchpoint_event();

-- =============================================================================================
-- sql/56_scoring.sql
-- =============================================================================================
-- Confidence scoring: how likely a lead is to buy, 0-100, with the points of every factor.
-- The weights live in one table (app.score_weights); one set-based function
-- (app.score_leads) computes and stores the score and label, and answers them with the
-- factors and suggested action, for one lead or every lead of an org in a single
-- statement. Triggers keep the stored score current (new engagement events, a lead
-- created, its tier, enrichment or last touch changed) and a daily job applies the time
-- decay.
--
-- This file holds the tables app.lead_scores and app.score_weights, app.round_points,
-- app.score_leads, the triggers events_20_score (on app.events), leads_score_new and
-- leads_rescore (on app.leads), and app.rescore_all_leads, run daily by the job
-- rescore-leads (90_jobs.sql).
-- The stored score is read by app.lead_details (95_views.sql), stalled leads
-- (58_stalled.sql), playbooks (60_playbooks.sql), automation conditions
-- (62_automation.sql), analytics (64_analytics.sql) and app.record_event (54_events.sql).

-- ---------------------------------------------------------------------------
-- Where a lead's confidence score lives: a narrow table beside the lead, one row per scored
-- lead, so lists, filters, automation conditions and playbooks read it without recomputing,
-- and rescoring a whole org rewrites small rows instead of wide lead rows with all their
-- indexes. app.score_leads writes it; nothing else does. Pages are left 30 % free so the
-- scores a decay pass changes are rewritten in place (HOT updates).
-- ---------------------------------------------------------------------------
create table app.lead_scores (
  lead_id text primary key,
  org_id text not null,
  score integer not null constraint lead_scores_score_check check (score between 0 and 100),
  label text not null constraint lead_scores_label_check check (label in ('hot', 'warm', 'cool', 'cold')),
  scored_at timestamptz not null,
  -- The lead's org is the org: no second key to app.orgs to check on every insert (an org's
  -- leads, and so their scores, go with it).
  constraint lead_scores_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
) with (fillfactor = 70);
comment on table app.lead_scores is 'Each lead''s stored confidence score, written by app.score_leads only; a lead without a row has not been scored yet.';
comment on column app.lead_scores.score is 'Confidence score 0-100; see app.score_leads.';
comment on column app.lead_scores.label is 'hot (>= 70), warm (>= 45), cool (>= 20) or cold.';
comment on column app.lead_scores.scored_at is 'When the stored score or label last changed.';
-- An org's scores by label, with the lead: the score distribution and the hot leads are
-- index-only scans. The score itself is left out, so a rescore that keeps the label is a
-- HOT update that writes no index.
create index lead_scores_org_label_idx on app.lead_scores (org_id, label) include (lead_id);

-- Org-private; the API role reads it, and writes it only through app.score_leads (which runs
-- as the caller, so row-level security keeps each org to its own leads).
select app.make_org_private('app.lead_scores', 'Lead scores');
grant select, insert, update on app.lead_scores to authenticated;
grant all on app.lead_scores to service_role;

-- ---------------------------------------------------------------------------
-- The weights. A factor's points are round(units * points_per_unit), capped at max_points
-- (a floor, for the negative staleness factor). Units per factor:
--   quiz_score      the latest quiz result, 0-100
--   tier            the lead's tier: high 2, medium 1, anything else 0
--   proposal_views  proposal views
--   video_watched   the furthest video progress, percent
--   cta_click       CTA clicks
--   meeting_booked  1 while a booked meeting stands (none booked, or canceled since: 0)
--   enrichment      1 once enrichment is complete
--   staleness       full weeks since the last touch (or since creation, never touched)
-- ---------------------------------------------------------------------------
create table app.score_weights (
  factor text primary key check (factor in
    ('quiz_score', 'tier', 'proposal_views', 'video_watched', 'cta_click', 'meeting_booked', 'enrichment', 'staleness')),
  position smallint not null unique,
  points_per_unit numeric not null,
  max_points integer not null,
  unit text not null,
  constraint score_weights_cap_sign check (sign(points_per_unit) = sign(max_points))
);
comment on table app.score_weights is 'Confidence-score weights, one row per factor: points = round(units * points_per_unit) capped at max_points (a floor when negative).';

-- Shared reference data: every org reads it, only the service role changes it.
alter table app.score_weights enable row level security;
alter table app.score_weights force row level security;
create policy "Score weights are readable by every org" on app.score_weights
  for select to authenticated using (true);
grant select on app.score_weights to authenticated;
grant all on app.score_weights to service_role;

insert into app.score_weights (factor, position, points_per_unit, max_points, unit) values
  ('quiz_score', 1, 0.25, 25, 'latest quiz result (0-100)'),
  ('tier', 2, 8, 16, 'tier level: high 2, medium 1, other 0'),
  ('proposal_views', 3, 5, 15, 'proposal views'),
  ('video_watched', 4, 0.1, 10, 'furthest video progress (percent)'),
  ('cta_click', 5, 5, 10, 'CTA clicks'),
  ('meeting_booked', 6, 25, 25, 'a booked meeting that still stands'),
  ('enrichment', 7, 5, 5, 'enrichment complete'),
  ('staleness', 8, -5, -30, 'full weeks since the last touch');

-- ---------------------------------------------------------------------------
-- Points are worked out in double precision (decimal arithmetic over eight factors costs a
-- third of a whole-org rescore), rounding halves away from zero as round(numeric) does.
-- The tolerance keeps a product that binary floating point puts a hair under a half (0.15
-- x 10 = 1.4999999999999998) rounding as its decimal value; weights and units have a few
-- decimals at most, so no product is that close to a half otherwise. No SET clause, so
-- the planner inlines it.
-- ---------------------------------------------------------------------------
create function app.round_points(p_points double precision) returns integer
  language sql immutable
  as $$ select (pg_catalog.sign(p_points) * pg_catalog.floor(pg_catalog.abs(p_points) + 0.5 + 1e-9))::integer $$;
comment on function app.round_points(double precision) is 'A factor''s points: units x points per unit rounded to a whole number, halves away from zero.';
revoke execute on function app.round_points(double precision) from public;
grant execute on function app.round_points(double precision) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The scorer: one statement reads each lead with its engagement rollup and stage, works
-- out every factor, and writes score, label and scored_at into app.lead_scores.
-- p_lead_ids null: every live lead of the org; otherwise those leads (deleted included).
-- scored_at is when the stored score last changed: a rescore that comes out the same
-- leaves the row alone, so it costs no write; the row written is narrow, and one whose label
-- stays the same is a HOT update that writes no index.
-- The factors (with their wording) are built only for the leads asked for by id: building
-- eight JSON objects per lead would be most of the cost of rescoring a whole org, and
-- nothing reads them there. They are not stored: a lead's factors are always one call away.
-- Custom plans, so one lead is an index lookup; for a whole org, nested loops are off:
-- right after a bulk import the statistics still say the org is empty, and a nested loop
-- over the scored rows would then be quadratic. JIT is off: the cost that disabling nested
-- loops adds would make every whole-org rescore spend over a second compiling expressions.
-- ---------------------------------------------------------------------------
create function app.score_leads(p_org_id text, p_lead_ids text[] default null, p_now timestamptz default now())
  returns table (lead_id text, score integer, label text, factors jsonb, suggested_action text)
  language plpgsql
  set search_path = ''
  set plan_cache_mode = force_custom_plan
  set jit = off
  as $$
  declare
    v_nestloop constant text := pg_catalog.current_setting('enable_nestloop');
  begin
    if p_lead_ids is null then
      perform pg_catalog.set_config('enable_nestloop', 'off', true);
    end if;
    return query
    with w as (
      select
        max(x.points_per_unit::float8) filter (where x.factor = 'quiz_score') as quiz_rate,
        max(x.max_points) filter (where x.factor = 'quiz_score') as quiz_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'tier') as tier_rate,
        max(x.max_points) filter (where x.factor = 'tier') as tier_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'proposal_views') as views_rate,
        max(x.max_points) filter (where x.factor = 'proposal_views') as views_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'video_watched') as video_rate,
        max(x.max_points) filter (where x.factor = 'video_watched') as video_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'cta_click') as cta_rate,
        max(x.max_points) filter (where x.factor = 'cta_click') as cta_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'meeting_booked') as meeting_rate,
        max(x.max_points) filter (where x.factor = 'meeting_booked') as meeting_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'enrichment') as enrichment_rate,
        max(x.max_points) filter (where x.factor = 'enrichment') as enrichment_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'staleness') as stale_rate,
        max(x.max_points) filter (where x.factor = 'staleness') as stale_cap
      from app.score_weights x
    ),
    measured as (
      select
        l.id,
        l.tier,
        l.enrichment_status,
        g.quiz_score,
        case pg_catalog.lower(l.tier) when 'high' then 2 when 'medium' then 1 else 0 end as tier_level,
        coalesce(g.proposal_views, 0) as views,
        coalesce(g.video_percent, 0) as video,
        coalesce(g.cta_clicks, 0) as ctas,
        coalesce(g.meetings_booked > 0 and (g.meeting_canceled_at is null or g.meeting_canceled_at < g.last_meeting_booked_at), false) as meeting,
        g.meeting_canceled_at is not null as canceled,
        greatest(0, floor(pg_catalog.date_part('epoch', p_now - coalesce(l.last_touch_at, l.created_at)) / 86400))::integer as idle_days,
        l.last_touch_at is not null as touched,
        s.outcome,
        g.bounced_at is not null as bounced,
        g.unsubscribed_at is not null as unsubscribed,
        c.score as stored_score,
        c.label as stored_label
      from app.leads l
      left join app.lead_engagement g on g.lead_id = l.id
      left join app.stages s on s.id = l.stage_id
      left join app.lead_scores c on c.lead_id = l.id
      where l.org_id = p_org_id
        and case when p_lead_ids is null then l.deleted_at is null else l.id = any(p_lead_ids) end
    ),
    -- Materialized: each later step refers to the points (and the label to the total) several
    -- times, and inlined CTEs would recompute every one of them at each reference.
    pointed as materialized (
      select
        m.*,
        least(w.quiz_cap, app.round_points(coalesce(m.quiz_score, 0)::float8 * w.quiz_rate)) as quiz_points,
        least(w.tier_cap, app.round_points(m.tier_level * w.tier_rate)) as tier_points,
        least(w.views_cap, app.round_points(m.views * w.views_rate)) as views_points,
        least(w.video_cap, app.round_points(m.video::float8 * w.video_rate)) as video_points,
        least(w.cta_cap, app.round_points(m.ctas * w.cta_rate)) as cta_points,
        least(w.meeting_cap, app.round_points(m.meeting::integer * w.meeting_rate)) as meeting_points,
        least(w.enrichment_cap, app.round_points((m.enrichment_status = 'complete')::integer * w.enrichment_rate)) as enrichment_points,
        greatest(w.stale_cap, app.round_points((m.idle_days / 7) * w.stale_rate)) as stale_points
      from measured m cross join w
    ),
    totalled as (
      select
        p.*,
        greatest(0, least(100, p.quiz_points + p.tier_points + p.views_points + p.video_points + p.cta_points
          + p.meeting_points + p.enrichment_points + p.stale_points)) as total
      from pointed p
    ),
    labelled as materialized (
      select
        t.*,
        case when t.total >= 70 then 'hot' when t.total >= 45 then 'warm' when t.total >= 20 then 'cool' else 'cold' end as grade
      from totalled t
    ),
    scored as (
      select
        b.id,
        b.total,
        b.grade,
        case when p_lead_ids is not null then pg_catalog.jsonb_build_array(
          pg_catalog.jsonb_build_object('factor', 'quiz_score', 'points', b.quiz_points, 'detail',
            case when b.quiz_score is null then 'No quiz completed' else 'Quiz score ' || b.quiz_score || '/100' end),
          pg_catalog.jsonb_build_object('factor', 'tier', 'points', b.tier_points, 'detail',
            case when b.tier is null then 'No tier set' else 'Tier ' || b.tier end),
          pg_catalog.jsonb_build_object('factor', 'proposal_views', 'points', b.views_points, 'detail',
            case b.views when 0 then 'Proposal not viewed' when 1 then '1 proposal view' else b.views || ' proposal views' end),
          pg_catalog.jsonb_build_object('factor', 'video_watched', 'points', b.video_points, 'detail',
            case when b.video = 0 then 'Video not watched' else 'Watched ' || round(b.video) || '% of the video' end),
          pg_catalog.jsonb_build_object('factor', 'cta_click', 'points', b.cta_points, 'detail',
            case b.ctas when 0 then 'No CTA clicks' when 1 then '1 CTA click' else b.ctas || ' CTA clicks' end),
          pg_catalog.jsonb_build_object('factor', 'meeting_booked', 'points', b.meeting_points, 'detail',
            case when b.meeting then 'Meeting booked' when b.canceled then 'Meeting canceled' else 'No meeting booked' end),
          pg_catalog.jsonb_build_object('factor', 'enrichment', 'points', b.enrichment_points, 'detail',
            'Enrichment ' || pg_catalog.replace(b.enrichment_status, '_', ' ')),
          pg_catalog.jsonb_build_object('factor', 'staleness', 'points', b.stale_points, 'detail',
            case
              when b.idle_days < 7 then case when b.touched then 'Touched within the last week' else 'Created within the last week' end
              else case when b.touched then '' else 'Never touched; created ' end
                || case when b.idle_days < 14 then '1 week' else (b.idle_days / 7) || ' weeks' end
                || case when b.touched then ' since the last touch' else ' ago' end
            end)
        ) end as factor_list,
        case
          when b.outcome = 'won' then 'onboard_customer'
          when b.outcome = 'lost' then 'no_action'
          when b.unsubscribed then 'do_not_contact'
          when b.bounced then 'verify_email'
          when b.meeting then 'prepare_for_meeting'
          when b.grade = 'hot' then 'book_meeting'
          when b.grade = 'warm' and b.views = 0 then 'send_proposal'
          when b.grade = 'warm' then 'follow_up'
          when b.grade = 'cool' then 'nurture'
          when b.enrichment_status <> 'complete' then 'enrich'
          else 're_engage'
        end as action
      from labelled b
    )
    ,
    -- Rows whose score and label come out as stored (read with the lead above) are not
    -- rewritten: a daily decay pass writes only the leads whose staleness crossed a week.
    -- Changed scores are updated by a join (an upsert would lock every row it compares);
    -- leads without one yet are inserted, and a score another transaction wrote in the
    -- meantime is overwritten with this one.
    rewritten as (
      update app.lead_scores c
      set score = b.total, label = b.grade, scored_at = p_now
      from labelled b
      where c.lead_id = b.id and (b.stored_score <> b.total or b.stored_label <> b.grade)
    ),
    first_scored as (
      insert into app.lead_scores as c (lead_id, org_id, score, label, scored_at)
      select b.id, p_org_id, b.total, b.grade, p_now from labelled b
      where b.stored_score is null
      on conflict on constraint lead_scores_pkey do update set score = excluded.score, label = excluded.label, scored_at = excluded.scored_at
      where c.score <> excluded.score or c.label <> excluded.label
    )
    select s.id, s.total, s.grade, s.factor_list, s.action from scored s;
    perform pg_catalog.set_config('enable_nestloop', v_nestloop, true);
  end;
  $$;
comment on function app.score_leads(text, text[], timestamptz) is 'Scores leads of one org in one statement (all live leads when p_lead_ids is null): stores score, label and scored_at in app.lead_scores, and returns them with the suggested action (and, for leads asked for by id, the factors).';
revoke execute on function app.score_leads(text, text[], timestamptz) from public;
grant execute on function app.score_leads(text, text[], timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Keeping scores current.
-- ---------------------------------------------------------------------------
create function app._score_event_lead() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app.score_leads(new.org_id, array[new.lead_id]);
    return null;
  end;
  $$;
comment on function app._score_event_lead() is 'Trigger: rescores the lead of a new engagement event (after its rollup, before automation reads the score).';
revoke execute on function app._score_event_lead() from public;

create trigger events_20_score after insert on app.events
  for each row execute function app._score_event_lead();

create function app._score_new_leads() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app.score_leads(n.org_id, n.ids)
    from (select i.org_id, array_agg(i.id) as ids from new_leads i group by i.org_id) n;
    return null;
  end;
  $$;
comment on function app._score_new_leads() is 'Trigger: scores the leads an insert created, one statement per org.';
revoke execute on function app._score_new_leads() from public;

create trigger leads_score_new after insert on app.leads
  referencing new table as new_leads
  for each statement execute function app._score_new_leads();

create function app._rescore_changed_lead() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app.score_leads(new.org_id, array[new.id]);
    return null;
  end;
  $$;
comment on function app._rescore_changed_lead() is 'Trigger: rescores a lead whose tier, enrichment status or last touch changed.';
revoke execute on function app._rescore_changed_lead() from public;

create trigger leads_rescore after update of tier, enrichment_status, last_touch_at on app.leads
  for each row
  when (old.tier is distinct from new.tier or old.enrichment_status is distinct from new.enrichment_status
    or old.last_touch_at is distinct from new.last_touch_at)
  execute function app._rescore_changed_lead();

-- ---------------------------------------------------------------------------
-- Decay: a lead nobody touches cools off even when nothing happens, so every org is
-- rescored daily (the job rescore-leads, 90_jobs.sql).
-- ---------------------------------------------------------------------------
create function app.rescore_all_leads(p_now timestamptz default now()) returns integer
  language sql
  security definer
  set search_path = ''
  as $$
    select count(*)::integer from app.orgs o cross join lateral app.score_leads(o.id, null, p_now) s
  $$;
comment on function app.rescore_all_leads(timestamptz) is 'Rescores every live lead of every org (time decay); returns how many. Run daily by pg_cron.';
revoke execute on function app.rescore_all_leads(timestamptz) from public;
grant execute on function app.rescore_all_leads(timestamptz) to service_role;

-- =============================================================================================
-- sql/58_stalled.sql
-- =============================================================================================
-- Stalled leads: open leads nobody has touched for longer than their stage allows, and
-- what to do about each (a follow-up, a breakup email, a check-in call).
--
-- This file holds the view app.stage_stall_rules (each stage's threshold and whether it is
-- late in the pipeline), app.stall_verdict (the one definition of "stalled" and of the
-- response to it, also read by playbook recommendations in 60_playbooks.sql) and
-- app.stalled_leads (the current org's list, highest priority first).
-- The thresholds are stages.stall_after_days, with app.default_stall_after_days and the
-- trigger that clears them on won and lost stages, in 30_stages.sql; leads.idle_since and
-- the index leads_org_stage_idle_idx the list scans are in 40_leads.sql; hot leads come
-- from app.lead_scores (56_scoring.sql).

-- ---------------------------------------------------------------------------
-- Whether a stage is late in the pipeline: among the org's open stages, in the back half by
-- position (Contacted, Negotiated and Re-engage later in the default pipeline).
-- ---------------------------------------------------------------------------
create view app.stage_stall_rules with (security_invoker = true) as
  select s.org_id, s.id as stage_id, s.name as stage, s.position, s.outcome, s.stall_after_days,
    s.outcome = 'open'
      and 2 * count(*) filter (where s.outcome = 'open') over (partition by s.org_id order by s.position, s.id)
        > count(*) filter (where s.outcome = 'open') over (partition by s.org_id) as late_stage
  from app.stages s;
comment on view app.stage_stall_rules is 'Each stage''s stall threshold and outcome, and whether it is a late stage (back half of the org''s open stages).';
grant select on app.stage_stall_rules to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The one definition of stalled and of the response to it. Returns no row when the lead is
-- not stalled: deleted, in a won/lost stage or with a won/lost status, in a stage that never
-- stalls, or touched within the stage's threshold.
--   suggested_action: check_in_call for a hot lead (scored hot: 70 or more); else
--     send_breakup_email when idle for more than 3x the threshold; else check_in_call in a
--     late stage; else send_follow_up_email.
--   priority: high (1) for a call, medium (2) for a follow-up, low (3) for a breakup.
-- The label decides; the score itself only goes into the wording of stalled_reason, so a
-- caller that ranks leads without that wording need not read it.
-- No `set search_path` on purpose: a SQL function with a SET clause is never inlined, and
-- inlined into app.stalled_leads it costs a few microseconds per lead instead of a function
-- call each (several times faster on a page over thousands of stalled leads). Safe here:
-- the body names only pg_catalog functions and operators (always searched first), it reads
-- no table and runs with the caller's rights.
-- ---------------------------------------------------------------------------
create function app.stall_verdict(
  p_idle_since timestamptz,
  p_touched boolean,
  p_stall_after_days integer,
  p_outcome text,
  p_status text,
  p_deleted_at timestamptz,
  p_score integer,
  p_score_label text,
  p_late_stage boolean,
  p_stage text,
  p_now timestamptz)
  returns table (days_since_touch integer, days_overdue integer, stalled_reason text,
                 suggested_action text, priority text, priority_rank integer)
  -- stable, not immutable: format() is stable.
  language sql stable
  as $$
    select d.days, d.days - p_stall_after_days,
      case when p_touched then pg_catalog.format('No touch for %s days', d.days)
           else pg_catalog.format('Never touched in the %s days since it was added', d.days) end
        || pg_catalog.format('; "%s" stalls after %s days', p_stage, p_stall_after_days)
        || case a.action
             when 'send_breakup_email' then pg_catalog.format(' and it has been over 3x that (%s days)', 3 * p_stall_after_days)
             when 'check_in_call' then case when p_score_label = 'hot' then pg_catalog.format('; hot lead (score %s)', p_score)
                                            else '; late in the pipeline' end
             else '' end,
      a.action,
      case a.action when 'check_in_call' then 'high' when 'send_follow_up_email' then 'medium' else 'low' end,
      case a.action when 'check_in_call' then 1 when 'send_follow_up_email' then 2 else 3 end
    from (select pg_catalog.floor(pg_catalog.date_part('epoch', p_now - p_idle_since) / 86400)::integer as days) d
    cross join lateral (select case
        when p_score_label = 'hot' then 'check_in_call'
        when d.days > 3 * p_stall_after_days then 'send_breakup_email'
        when p_late_stage then 'check_in_call'
        else 'send_follow_up_email'
      end as action) a
    where p_deleted_at is null
      and p_outcome = 'open'
      and p_stall_after_days is not null
      and pg_catalog.lower(p_status) not in ('won', 'lost')
      and p_idle_since < p_now - pg_catalog.make_interval(days => p_stall_after_days)
  $$;
comment on function app.stall_verdict(timestamptz, boolean, integer, text, text, timestamptz, integer, text, boolean, text, timestamptz) is 'Whether a lead is stalled at p_now and, if so, why, what to do (send_breakup_email | send_follow_up_email | check_in_call) and how urgently; no row when it is not.';
revoke execute on function app.stall_verdict(timestamptz, boolean, integer, text, text, timestamptz, integer, text, boolean, text, timestamptz) from public;
grant execute on function app.stall_verdict(timestamptz, boolean, integer, text, text, timestamptz, integer, text, boolean, text, timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The list, in two passes:
--   1. ranking: per open stage with a threshold, an index-only range scan of the leads idle
--      since before the stage's cutoff (the index carries what the verdict needs), and the
--      org's hot leads from an index-only scan of their scores; the verdict ranks them
--      without wording anything;
--   2. the page: only its leads are read in full (name, email, score) and worded.
-- Highest priority first, then the most overdue.
-- ---------------------------------------------------------------------------
create function app.stalled_leads(p_now timestamptz default now(), p_limit integer default 50, p_offset integer default 0)
  returns table (lead_id text, name text, email text, stage_id text, stage text,
                 days_since_touch integer, stalled_reason text, suggested_action text,
                 priority text, priority_rank integer, total bigint)
  language sql stable
  set search_path = ''
  as $$
    with rules as materialized (
      -- Materialised so each stage's cutoff reaches the lead scan as a parameter of the
      -- index condition.
      select r.org_id, r.stage_id, r.stage, r.outcome, r.stall_after_days, r.late_stage,
        p_now - pg_catalog.make_interval(days => r.stall_after_days) as cutoff
      from app.stage_stall_rules r
      where r.outcome = 'open' and r.stall_after_days is not null
    ),
    -- The hot leads of the orgs in view (the caller's, under row-level security).
    hot as materialized (
      select c.lead_id
      from (select distinct r.org_id from rules r) o
      join app.lead_scores c on c.org_id = o.org_id and c.label = 'hot'
    ),
    ranked as (
      select l.id, l.idle_since, r.stage_id, v.priority_rank, v.days_overdue, count(*) over () as total
      from rules r
      join lateral (
        -- offset 0 keeps this a subquery per stage, so its conditions stay the index range
        -- (org_id, stage_id, idle_since < cutoff) rather than a join filter. The hot leads
        -- are a hashed subplan: hashed once, looked up per lead.
        select l.id, l.status, l.last_touch_at, l.idle_since, l.id in (select h.lead_id from hot h) as hot
        from app.leads l
        where l.org_id = r.org_id and l.stage_id = r.stage_id and l.deleted_at is null and l.idle_since < r.cutoff
        offset 0
      ) l on true
      cross join lateral app.stall_verdict(l.idle_since, l.last_touch_at is not null, r.stall_after_days, r.outcome,
        l.status, null, null, case when l.hot then 'hot' end, r.late_stage, r.stage, p_now) v
      order by v.priority_rank, v.days_overdue desc, l.idle_since, l.id
      limit greatest(p_limit, 0) offset greatest(p_offset, 0)
    )
    select l.id, pg_catalog.btrim(l.first_name || ' ' || coalesce(l.last_name, '')), l.email,
      r.stage_id, r.stage, v.days_since_touch, v.stalled_reason, v.suggested_action,
      v.priority, v.priority_rank, k.total
    from ranked k
    join rules r on r.stage_id = k.stage_id
    join app.leads l on l.id = k.id
    left join app.lead_scores c on c.lead_id = k.id
    cross join lateral app.stall_verdict(l.idle_since, l.last_touch_at is not null, r.stall_after_days, r.outcome,
      l.status, l.deleted_at, c.score, c.label, r.late_stage, r.stage, p_now) v
    order by k.priority_rank, k.days_overdue desc, k.idle_since, k.id
  $$;
comment on function app.stalled_leads(timestamptz, integer, integer) is 'The current org''s stalled leads at p_now, highest priority then most overdue first, one page (total = all stalled leads).';
revoke execute on function app.stalled_leads(timestamptz, integer, integer) from public;
grant execute on function app.stalled_leads(timestamptz, integer, integer) to authenticated, service_role;

-- =============================================================================================
-- sql/60_playbooks.sql
-- =============================================================================================
-- Playbooks: SDR workflows as data. Each is an ordered list of steps (channel, delay,
-- action, template hint) with the leads it is meant for: a tier, a stage, a score label,
-- stalled or not (each null = any). Every org starts with a default set and edits it.
-- app.recommend_playbook picks the most specific playbook for a lead and its next step.
--
-- This file holds the table app.playbooks, the view app.playbook_details, the step
-- validation (app.playbook_channels, app.playbook_steps_problem, trigger playbooks_check),
-- app._create_default_playbooks (called by app.signup in 20_orgs_keys.sql) and
-- app.recommend_playbook, which reads the stall verdict (58_stalled.sql), the stored score
-- (56_scoring.sql), the stage history (42_stage_history.sql) and touchpoints
-- (44_touchpoints_notes.sql).

create table app.playbooks (
  id text primary key default app.new_id('pb'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null constraint playbooks_name_check check (length(btrim(name)) between 1 and 100),
  description text constraint playbooks_description_check check (length(description) <= 2000),
  -- Who it is for; null = any.
  tier text constraint playbooks_tier_check check (length(btrim(tier)) between 1 and 50),
  stage_id text,
  score_label text constraint playbooks_score_label_check check (score_label in ('hot', 'warm', 'cool', 'cold')),
  stalled boolean,
  steps jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A playbook for a stage goes with the stage.
  constraint playbooks_stage_fkey foreign key (org_id, stage_id) references app.stages (org_id, id) on delete cascade
);
comment on table app.playbooks is 'SDR playbooks per org: ordered steps (channel, delayDays after the previous step, action, templateHint) for leads of a tier, stage, score label and stalled state (null = any).';
comment on column app.playbooks.steps is 'Ordered by order: [{ order, channel, delayDays, action, templateHint }]; delayDays counts from the previous step (the first: from entering the stage).';

create unique index playbooks_org_name_key on app.playbooks (org_id, lower(name));
create index playbooks_org_stage_idx on app.playbooks (org_id, stage_id);
create index playbooks_org_tier_idx on app.playbooks (org_id, tier);

create trigger playbooks_touch_updated_at before update on app.playbooks
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.playbooks', 'Playbooks');
grant select, insert, update, delete on app.playbooks to authenticated;
grant all on app.playbooks to service_role;

-- ---------------------------------------------------------------------------
-- The API's view of a playbook (camelCase, with the stage's name): GET /playbooks reads it
-- and recommendations return its rows as JSON, so both answer the same shape.
-- ---------------------------------------------------------------------------
create view app.playbook_details with (security_invoker = true) as
  select p.id, p.name, p.description, p.tier, p.stage_id as "stageId", s.name as stage,
    p.score_label as "scoreLabel", p.stalled, p.steps, p.created_at as "createdAt", p.updated_at as "updatedAt"
  from app.playbooks p
  left join app.stages s on s.id = p.stage_id;
comment on view app.playbook_details is 'Playbooks as the API returns them.';
grant select on app.playbook_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Steps, validated in the database for every writer.
-- ---------------------------------------------------------------------------
create function app.playbook_channels() returns text[]
  language sql immutable
  set search_path = ''
  as $$ select array['email', 'call', 'linkedin', 'sms', 'meeting', 'task'] $$;
comment on function app.playbook_channels() is 'The channels a playbook step can use.';
revoke execute on function app.playbook_channels() from public;
grant execute on function app.playbook_channels() to authenticated, service_role;

create function app.playbook_steps_problem(p_steps jsonb) returns text
  language plpgsql immutable
  set search_path = ''
  as $$
  declare
    v_step jsonb;
    v_i bigint;
    v_unknown text;
    v_repeated text;
  begin
    if p_steps is null or pg_catalog.jsonb_typeof(p_steps) <> 'array' then
      return 'steps must be an array';
    end if;
    if pg_catalog.jsonb_array_length(p_steps) not between 1 and 30 then
      return pg_catalog.format('steps must hold 1 to 30 steps, not %s', pg_catalog.jsonb_array_length(p_steps));
    end if;
    for v_step, v_i in select e.value, e.ord from pg_catalog.jsonb_array_elements(p_steps) with ordinality e(value, ord) loop
      if pg_catalog.jsonb_typeof(v_step) <> 'object' then
        return pg_catalog.format('step %s is not an object', v_i);
      end if;
      select string_agg(k, ', ' order by k) into v_unknown from pg_catalog.jsonb_object_keys(v_step) k
      where k not in ('order', 'channel', 'delayDays', 'action', 'templateHint');
      if v_unknown is not null then
        return pg_catalog.format('step %s has unknown key(s): %s', v_i, v_unknown);
      end if;
      if pg_catalog.jsonb_typeof(v_step -> 'order') is distinct from 'number'
         or (v_step ->> 'order')::numeric <> pg_catalog.trunc((v_step ->> 'order')::numeric)
         or (v_step ->> 'order')::numeric not between 1 and 1000 then
        return pg_catalog.format('step %s: order must be a whole number from 1 to 1000', v_i);
      end if;
      if pg_catalog.jsonb_typeof(v_step -> 'channel') is distinct from 'string'
         or not (v_step ->> 'channel' = any (app.playbook_channels())) then
        return pg_catalog.format('step %s: channel must be one of %s', v_i, pg_catalog.array_to_string(app.playbook_channels(), ', '));
      end if;
      if pg_catalog.jsonb_typeof(v_step -> 'delayDays') is distinct from 'number'
         or (v_step ->> 'delayDays')::numeric <> pg_catalog.trunc((v_step ->> 'delayDays')::numeric)
         or (v_step ->> 'delayDays')::numeric not between 0 and 365 then
        return pg_catalog.format('step %s: delayDays must be a whole number of days from 0 to 365', v_i);
      end if;
      if pg_catalog.jsonb_typeof(v_step -> 'action') is distinct from 'string'
         or pg_catalog.length(pg_catalog.btrim(v_step ->> 'action')) not between 1 and 500 then
        return pg_catalog.format('step %s: action must be text of 1 to 500 characters', v_i);
      end if;
      if v_step ? 'templateHint' and v_step -> 'templateHint' <> 'null'::jsonb
         and (pg_catalog.jsonb_typeof(v_step -> 'templateHint') <> 'string' or pg_catalog.length(v_step ->> 'templateHint') > 2000) then
        return pg_catalog.format('step %s: templateHint must be text of at most 2000 characters, or null', v_i);
      end if;
    end loop;
    select string_agg(o, ', ') into v_repeated from (
      select e.value ->> 'order' as o from pg_catalog.jsonb_array_elements(p_steps) e
      group by 1 having count(*) > 1 order by 1) d;
    if v_repeated is not null then
      return pg_catalog.format('steps share order %s: each step needs its own', v_repeated);
    end if;
    return null;
  end;
  $$;
comment on function app.playbook_steps_problem(jsonb) is 'What is wrong with a playbook''s steps (null when nothing): 1-30 objects of { order, channel, delayDays, action, templateHint? } with distinct orders.';
revoke execute on function app.playbook_steps_problem(jsonb) from public;
grant execute on function app.playbook_steps_problem(jsonb) to authenticated, service_role;

create function app._check_playbook() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_problem text := app.playbook_steps_problem(new.steps);
  begin
    if v_problem is not null then
      perform app.refuse(400, 'invalid_playbook_steps', 'Invalid steps: ' || v_problem,
        'Send steps as [{ "order": 1, "channel": "email", "delayDays": 0, "action": "Send the intro email", "templateHint": "…" }, …]: '
        || '1-30 steps, order a distinct whole number, channel one of ' || pg_catalog.array_to_string(app.playbook_channels(), ', ')
        || ', delayDays 0-365 days after the previous step, action 1-500 characters, templateHint optional.');
    end if;
    -- Kept in step order, so readers never sort.
    new.steps := (select pg_catalog.jsonb_agg(e.value order by (e.value ->> 'order')::integer)
                  from pg_catalog.jsonb_array_elements(new.steps) e);
    new.tier := pg_catalog.btrim(new.tier);
    new.name := pg_catalog.btrim(new.name);
    return new;
  end;
  $$;
comment on function app._check_playbook() is 'Trigger: refuses invalid playbook steps (400 with the problem and the expected shape) and stores the steps in order.';
revoke execute on function app._check_playbook() from public;

create trigger playbooks_check before insert or update of steps, tier, name on app.playbooks
  for each row execute function app._check_playbook();

-- ---------------------------------------------------------------------------
-- The default set. Stage-specific ones are made only for stages the org has.
-- ---------------------------------------------------------------------------
create function app._create_default_playbooks(p_org_id text) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.playbooks (org_id, name, description, tier, stage_id, score_label, stalled, steps)
    select p_org_id, d.name, d.description, d.tier, s.id, d.score_label, d.stalled, d.steps::jsonb
    from (values
      ('Standard outreach', 'Any lead without a more specific playbook: a short multi-channel sequence.', null, null, null, null,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a personal intro email","templateHint":"Reference their business type and one concrete outcome you deliver."},
         {"order":2,"channel":"linkedin","delayDays":2,"action":"Connect on LinkedIn","templateHint":"Short note: saw their practice, sent an email."},
         {"order":3,"channel":"email","delayDays":3,"action":"Follow up with a case study","templateHint":"One customer like them, one number."},
         {"order":4,"channel":"call","delayDays":3,"action":"Call to qualify","templateHint":"Ask about timing, budget and who decides."},
         {"order":5,"channel":"email","delayDays":7,"action":"Send a breakup email","templateHint":"Polite close: should I stop reaching out?"}]'),
      ('High-tier fast track', 'High-value leads: phone first, meeting within the week.', 'high', null, null, null,
       '[{"order":1,"channel":"call","delayDays":0,"action":"Call within the hour","templateHint":"Open with the result they asked about; propose a meeting."},
         {"order":2,"channel":"email","delayDays":0,"action":"Email a recap with a booking link","templateHint":"Two lines and the booking link."},
         {"order":3,"channel":"meeting","delayDays":2,"action":"Hold a discovery meeting","templateHint":"Agenda: goals, current tools, decision process."},
         {"order":4,"channel":"email","delayDays":1,"action":"Send the proposal","templateHint":"Tie each line item to a goal they named."},
         {"order":5,"channel":"call","delayDays":3,"action":"Call to walk through the proposal"}]'),
      ('Low-tier nurture', 'Low-value leads: email only, spaced out.', 'low', null, null, null,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a helpful resource","templateHint":"A guide or checklist, no ask."},
         {"order":2,"channel":"email","delayDays":7,"action":"Share a customer story"},
         {"order":3,"channel":"email","delayDays":14,"action":"Offer a short call","templateHint":"One question they can answer with yes or no."}]'),
      ('New prospect opener', 'Leads just added to Prospects: first contact.', null, 'Prospects', null, null,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a personal intro email","templateHint":"Why them, why now, one question."},
         {"order":2,"channel":"linkedin","delayDays":1,"action":"Connect on LinkedIn"},
         {"order":3,"channel":"email","delayDays":3,"action":"Follow up on the intro"},
         {"order":4,"channel":"call","delayDays":2,"action":"Call to introduce yourself"}]'),
      ('Hot lead close', 'Hot leads (score 70+): get them to a meeting now.', null, null, 'hot', null,
       '[{"order":1,"channel":"call","delayDays":0,"action":"Call today","templateHint":"They are engaged: mention what they viewed or clicked."},
         {"order":2,"channel":"meeting","delayDays":1,"action":"Book a meeting","templateHint":"Offer two concrete times."},
         {"order":3,"channel":"email","delayDays":1,"action":"Send the proposal"}]'),
      ('Negotiation close', 'Leads in Negotiated: remove the last objections.', null, 'Negotiated', null, null,
       '[{"order":1,"channel":"call","delayDays":0,"action":"Call to address open questions","templateHint":"Ask what would stop them signing this week."},
         {"order":2,"channel":"email","delayDays":1,"action":"Send revised terms","templateHint":"Summarise what changed and the next step."},
         {"order":3,"channel":"meeting","delayDays":2,"action":"Meet to sign","templateHint":"Bring the contract; agree a start date."}]'),
      ('Stalled revival', 'Stalled leads: restart the conversation, then close the loop.', null, null, null, true,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a check-in email with something new","templateHint":"A new result, feature or case study; one question."},
         {"order":2,"channel":"call","delayDays":2,"action":"Call to check in"},
         {"order":3,"channel":"email","delayDays":5,"action":"Send a breakup email","templateHint":"Should I close your file? Reply if timing is better later."}]'),
      ('Re-engagement', 'Leads parked in Re-engage later: a light touch each month.', null, 'Re-engage later', null, null,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a what''s-new email","templateHint":"One update relevant to them; ask if timing has changed."},
         {"order":2,"channel":"linkedin","delayDays":14,"action":"Engage with a recent post"},
         {"order":3,"channel":"email","delayDays":14,"action":"Ask whether to keep in touch"}]')
    ) as d(name, description, tier, stage, score_label, stalled, steps)
    left join app.stages s on s.org_id = p_org_id and lower(s.name) = lower(d.stage)
    where d.stage is null or s.id is not null
  $$;
comment on function app._create_default_playbooks(text) is 'Gives an org the default playbooks (standard, high-tier, low-tier, hot lead, stalled, and one per matching default stage).';
revoke execute on function app._create_default_playbooks(text) from public;

-- ---------------------------------------------------------------------------
-- The recommendation: the playbook that fits the lead most specifically (a matching
-- stalled state weighs most, then score label (how engaged the lead is now), stage, tier; a
-- criterion left null matches any lead; ties go to the most recently edited), and its next
-- step: steps done = touchpoints logged since the lead entered its stage; the next one is
-- due delayDays after the last of them (or after entering the stage).
-- ---------------------------------------------------------------------------
create function app.recommend_playbook(p_lead_id text, p_now timestamptz default now()) returns jsonb
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_lead app.leads;
    v_score app.lead_scores;
    v_stage app.stage_stall_rules;
    v_stall record;
    v_stalled boolean;
    v_stalled_json jsonb;
    v_fitting text[];
    v_names text[];
    v_pick app.playbooks;
    v_specificity integer;
    v_entered timestamptz;
    v_done integer;
    v_last timestamptz;
    v_steps integer;
    v_step jsonb;
    v_due timestamptz;
    v_next jsonb;
    v_reasoning text[] := '{}'::text[];
  begin
    select l.* into v_lead from app.leads l where l.id = p_lead_id;
    select c.* into v_score from app.lead_scores c where c.lead_id = p_lead_id;
    if v_lead.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId: GET /api/openclaw/leads lists your leads. Ids belong to one workspace: another workspace''s leads are not visible with this key.');
    end if;
    if v_lead.deleted_at is not null then
      perform app.refuse(409, 'lead_deleted', pg_catalog.format('Lead %s is soft-deleted', p_lead_id),
        pg_catalog.format('Restore it first (PATCH /api/openclaw/leads/%s { "restore": true }); deleted leads get no outreach.', p_lead_id));
    end if;
    select r.* into v_stage from app.stage_stall_rules r where r.stage_id = v_lead.stage_id;

    if v_stage.outcome <> 'open' or lower(v_lead.status) in ('won', 'lost') then
      return pg_catalog.jsonb_build_object('leadId', v_lead.id, 'playbook', null, 'nextAction', null, 'stalled', null,
        'alsoMatching', '[]'::jsonb,
        'reasoning', pg_catalog.jsonb_build_array(pg_catalog.format('The lead is closed (stage "%s", status "%s"): no playbook applies',
          v_stage.stage, v_lead.status)));
    end if;

    select v.* into v_stall
    from app.stall_verdict(v_lead.idle_since, v_lead.last_touch_at is not null, v_stage.stall_after_days, v_stage.outcome,
      v_lead.status, v_lead.deleted_at, v_score.score, v_score.label, v_stage.late_stage, v_stage.stage, p_now) v;
    v_stalled := v_stall.suggested_action is not null;
    if v_stalled then
      v_stalled_json := pg_catalog.jsonb_build_object('daysSinceTouch', v_stall.days_since_touch,
        'stalledReason', v_stall.stalled_reason, 'suggestedAction', v_stall.suggested_action, 'priority', v_stall.priority);
    end if;

    v_reasoning := v_reasoning
      || case when v_lead.tier is null then 'No tier: only playbooks for any tier fit' else pg_catalog.format('Tier "%s"', v_lead.tier) end
      || pg_catalog.format('Stage "%s"', v_stage.stage)
      || case when v_score.score is null then 'Not scored yet: only playbooks for any score label fit'
         else pg_catalog.format('Score %s (%s)', v_score.score, v_score.label) end
      || case when v_stalled
         then pg_catalog.format('Stalled: %s; suggested action %s (%s priority)', v_stall.stalled_reason, v_stall.suggested_action, v_stall.priority)
         when v_stage.stall_after_days is null then pg_catalog.format('Not stalled: "%s" never stalls', v_stage.stage)
         else pg_catalog.format('Not stalled: %s day(s) since the last touch, "%s" stalls after %s',
           pg_catalog.floor(extract(epoch from p_now - v_lead.idle_since) / 86400)::integer, v_stage.stage, v_stage.stall_after_days) end;

    -- Every fitting playbook, most specific first.
    select array_agg(f.id order by f.specificity desc, f.updated_at desc, f.id),
           array_agg(f.name order by f.specificity desc, f.updated_at desc, f.id),
           max(f.specificity)
      into v_fitting, v_names, v_specificity
    from (
      select p.id, p.name, p.updated_at,
        (p.stalled is not null)::integer * 8 + (p.score_label is not null)::integer * 4
          + (p.stage_id is not null)::integer * 2 + (p.tier is not null)::integer as specificity
      from app.playbooks p
      where (p.tier is null or lower(p.tier) = lower(v_lead.tier))
        and (p.stage_id is null or p.stage_id = v_lead.stage_id)
        and (p.score_label is null or p.score_label = v_score.label)
        and (p.stalled is null or p.stalled = v_stalled)
    ) f;
    select p.* into v_pick from app.playbooks p where p.id = v_fitting[1];

    if v_pick.id is null then
      v_reasoning := v_reasoning || 'No playbook fits this lead: POST /api/openclaw/playbooks { "name", "steps" } creates one for any lead'::text;
    else
      v_reasoning := v_reasoning || (pg_catalog.format('Playbook "%s" fits: %s', v_pick.name, concat_ws(', ',
          case when v_pick.stalled then 'made for stalled leads' when not v_pick.stalled then 'made for active leads' end,
          case when v_pick.score_label is not null then pg_catalog.format('made for %s leads', v_pick.score_label) end,
          case when v_pick.stage_id is not null then 'made for this stage' end,
          case when v_pick.tier is not null then pg_catalog.format('made for tier "%s"', v_pick.tier) end,
          case when v_specificity = 0 then 'applies to any lead' end))
        || case when pg_catalog.cardinality(v_fitting) > 1
             then pg_catalog.format(', the most specific of %s fitting playbooks (stalled state > score label > stage > tier)', pg_catalog.cardinality(v_fitting))
             else '' end);

      -- Progress: touchpoints since the lead entered its stage are the steps done.
      select max(c.changed_at) into v_entered
      from app.stage_changes c
      where c.org_id = v_lead.org_id and c.lead_id = v_lead.id and c.to_stage_id = v_lead.stage_id and c.changed_at <= p_now;
      v_entered := coalesce(v_entered, v_lead.created_at);
      select count(*)::integer, max(t.occurred_at) into v_done, v_last
      from app.touchpoints t
      where t.org_id = v_lead.org_id and t.lead_id = v_lead.id and t.occurred_at >= v_entered and t.occurred_at <= p_now;
      v_steps := pg_catalog.jsonb_array_length(v_pick.steps);

      if v_done >= v_steps then
        v_reasoning := v_reasoning
          || pg_catalog.format('All %s steps are done (%s touchpoint(s) since entering the stage on %s)',
               v_steps, v_done, pg_catalog.to_char(v_entered, 'YYYY-MM-DD'))
          || case when v_stalled then pg_catalog.format('Next: %s, then move the lead on or close it', v_stall.suggested_action)
             else 'Next: move the lead to its next stage, or close it' end;
      else
        v_step := v_pick.steps -> v_done;
        v_due := coalesce(v_last, v_entered) + pg_catalog.make_interval(days => (v_step ->> 'delayDays')::integer);
        v_next := pg_catalog.jsonb_build_object('step', (v_step ->> 'order')::integer, 'channel', v_step ->> 'channel',
          'action', v_step ->> 'action', 'templateHint', v_step ->> 'templateHint', 'delayDays', (v_step ->> 'delayDays')::integer,
          'due', v_due, 'overdue', v_due < p_now);
        v_reasoning := v_reasoning || pg_catalog.format('%s of %s steps done (touchpoints since entering the stage on %s): next is step %s (%s), due %s%s',
          v_done, v_steps, pg_catalog.to_char(v_entered, 'YYYY-MM-DD'), v_step ->> 'order', v_step ->> 'channel',
          pg_catalog.to_char(v_due, 'YYYY-MM-DD'), case when v_due < p_now then ', overdue' else '' end);
      end if;
    end if;

    return pg_catalog.jsonb_build_object(
      'leadId', v_lead.id,
      'playbook', (select pg_catalog.to_jsonb(d) from app.playbook_details d where d.id = v_pick.id),
      'nextAction', v_next,
      'stalled', v_stalled_json,
      'alsoMatching', pg_catalog.to_jsonb(coalesce(v_names[2:], '{}')),
      'reasoning', pg_catalog.to_jsonb(v_reasoning));
  end;
  $$;
comment on function app.recommend_playbook(text, timestamptz) is 'The playbook that fits one of the caller''s leads most specifically (by stalled state, score label, stage, tier), its next step with due date, and the reasoning; null playbook for closed leads.';
revoke execute on function app.recommend_playbook(text, timestamptz) from public;
grant execute on function app.recommend_playbook(text, timestamptz) to authenticated, service_role;

-- =============================================================================================
-- sql/62_automation.sql
-- =============================================================================================
-- Stage automation rules: "when a lead books a meeting (views the proposal, clicks a CTA,
-- completes a quiz, or has had no touch for N days) and the conditions hold, move it to
-- this stage". Everything lives here so it holds for every writer:
--   * the triggers and condition keys are data (app.automation_triggers,
--     app.automation_condition_keys), read by validation, its hints and GET /automation/rules;
--   * a rule (app.automation_rules) is validated and normalised by the trigger
--     automation_rules_check (unknown trigger, condition key or stage → 400 naming the valid
--     ones; fromStage and the target accept a name and are stored as ids; a rule that would
--     move a lead to where it is already is refused);
--   * rules fire in the database: the trigger events_30_automation after an event is
--     recorded, app.run_no_touch_rules every 15 minutes (the job no-touch-automation in
--     90_jobs.sql); each firing moves the lead with the rule in the request claims, so
--     app.stage_changes records the rule, and is logged in app.automation_runs;
--   * a stage that a rule uses cannot be deleted until the rule is changed or deleted
--     (the trigger stages_keep_rule_stages on app.stages);
--   * app.automation_rule_details is the API's view of a rule.
-- app.resolve_stage(text, text) resolves a stage name for a given org; its one-argument
-- form, for the request's org, is in 30_stages.sql.
--
-- Which rule wins: the highest priority among the enabled rules whose trigger and
-- conditions match, ties going to the older rule. When the winner's target is the lead's
-- stage already, nothing happens (a lower rule is not tried: it would move the lead
-- backwards). Won, lost and deleted leads are never moved.
--
-- Loops: stage moves (stage_changed events) never fire rules, an event moves its lead at
-- most once, a move made by a rule cannot fire another rule (transaction-local flag), and
-- a move restarts the lead's no-touch clock, so pg_cron cannot bounce a lead between stages.

-- ---------------------------------------------------------------------------
-- What a rule can react to and test, as data.
-- ---------------------------------------------------------------------------
create table app.automation_triggers (
  name text primary key,
  description text not null,
  position integer not null
);
comment on table app.automation_triggers is 'What an automation rule can react to: four engagement events and no_touch (checked by pg_cron).';
alter table app.automation_triggers enable row level security;
alter table app.automation_triggers force row level security;
create policy "Automation triggers are readable by every org" on app.automation_triggers
  for select to authenticated using (true);

insert into app.automation_triggers (name, description, position) values
  ('meeting_booked', 'A meeting_booked event is recorded for the lead.', 0),
  ('proposal_viewed', 'A proposal_viewed event is recorded for the lead.', 1),
  ('cta_clicked', 'A cta_clicked event is recorded for the lead.', 2),
  ('quiz_completed', 'A quiz_completed event is recorded for the lead.', 3),
  ('no_touch', 'The lead has had no touch for conditions.noTouchDays days (checked every 15 minutes).', 4);

create table app.automation_condition_keys (
  key text primary key,
  -- stage: a stage id or name; text: a string; gte: { "gte": number between min and max }.
  kind text not null check (kind in ('stage', 'text', 'gte')),
  example jsonb not null,
  description text not null,
  min_value numeric,
  max_value numeric,
  -- Filled in when a rule of these triggers leaves the key out.
  default_value jsonb,
  triggers text[] not null,
  position integer not null
);
comment on table app.automation_condition_keys is 'The conditions an automation rule may test, their shape, bounds, defaults and the triggers that take them.';
alter table app.automation_condition_keys enable row level security;
alter table app.automation_condition_keys force row level security;
create policy "Automation condition keys are readable by every org" on app.automation_condition_keys
  for select to authenticated using (true);

insert into app.automation_condition_keys (key, kind, example, description, min_value, max_value, default_value, triggers, position) values
  ('fromStage', 'stage', '"Engaged"', 'The lead is in this stage (id or name; stored as the id).', null, null, null,
    '{meeting_booked,proposal_viewed,cta_clicked,quiz_completed,no_touch}', 0),
  ('tier', 'text', '"pro"', 'The lead''s tier equals this (case-insensitive).', null, null, null,
    '{meeting_booked,proposal_viewed,cta_clicked,quiz_completed,no_touch}', 1),
  ('viewCount', 'gte', '{"gte": 2}', 'The lead has viewed the proposal at least gte times.', 0, null, null,
    '{meeting_booked,proposal_viewed,cta_clicked,quiz_completed,no_touch}', 2),
  ('confidenceScore', 'gte', '{"gte": 70}', 'The lead''s confidence score is at least gte (0-100; a lead not yet scored counts as 0).', 0, 100, null,
    '{meeting_booked,proposal_viewed,cta_clicked,quiz_completed,no_touch}', 3),
  ('noTouchDays', 'gte', '{"gte": 7}', 'No touchpoint, creation or automation move for at least gte days (no_touch rules only; default 7).', 1, 3650, '{"gte": 7}',
    '{no_touch}', 4);

grant select on app.automation_triggers, app.automation_condition_keys to authenticated;
grant all on app.automation_triggers, app.automation_condition_keys to service_role;

-- ---------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------
create table app.automation_rules (
  id text primary key default app.new_id('rule'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  trigger_event text not null references app.automation_triggers (name),
  conditions jsonb not null default '{}',
  target_stage_id text not null,
  priority integer not null default 0 check (priority between -1000000 and 1000000),
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint automation_rules_org_id_id_key unique (org_id, id),
  constraint automation_rules_target_stage_fkey foreign key (org_id, target_stage_id) references app.stages (org_id, id)
);
comment on table app.automation_rules is 'Stage automation rules per org: on trigger_event, if conditions hold, move the lead to target_stage_id; the highest priority wins, ties to the older rule.';
comment on column app.automation_rules.conditions is 'fromStage (stage id), tier, viewCount { gte }, confidenceScore { gte }, noTouchDays { gte } (no_touch only): see app.automation_condition_keys.';

-- The rule lookup on every event: enabled rules of the org for one trigger, best first.
create index automation_rules_org_trigger_idx on app.automation_rules (org_id, trigger_event, priority desc, created_at, id) where enabled;
create index automation_rules_org_target_idx on app.automation_rules (org_id, target_stage_id);
create index automation_rules_no_touch_idx on app.automation_rules (org_id) where enabled and trigger_event = 'no_touch';

create trigger automation_rules_touch_updated_at before update on app.automation_rules
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.automation_rules', 'Automation rules');
grant select, delete on app.automation_rules to authenticated;
grant insert (org_id, name, trigger_event, conditions, target_stage_id, priority, enabled) on app.automation_rules to authenticated;
grant update (name, trigger_event, conditions, target_stage_id, priority, enabled) on app.automation_rules to authenticated;
grant all on app.automation_rules to service_role;

-- ---------------------------------------------------------------------------
-- The firing log.
-- ---------------------------------------------------------------------------
create table app.automation_runs (
  id text primary key default app.new_id('run'),
  org_id text not null references app.orgs (id) on delete cascade,
  -- Kept (as null) when the rule is deleted; rule_name says which it was.
  rule_id text,
  rule_name text not null,
  lead_id text not null,
  trigger_event text not null,
  -- The event that fired the rule; null for no_touch.
  event_id text,
  from_stage_id text,
  to_stage_id text,
  from_stage_name text,
  to_stage_name text,
  ran_at timestamptz not null default now(),
  constraint automation_runs_rule_fkey foreign key (org_id, rule_id) references app.automation_rules (org_id, id) on delete set null (rule_id),
  constraint automation_runs_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.automation_runs is 'Every lead move an automation rule made: the rule, the lead, the event (none for no_touch), from and to, when.';
create index automation_runs_org_lead_idx on app.automation_runs (org_id, lead_id, ran_at desc);
create index automation_runs_org_ran_idx on app.automation_runs (org_id, ran_at desc);
create index automation_runs_org_rule_idx on app.automation_runs (org_id, rule_id);

alter table app.automation_runs enable row level security;
alter table app.automation_runs force row level security;
create policy "Automation runs are visible to their own org" on app.automation_runs
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.automation_runs to authenticated;
grant all on app.automation_runs to service_role;

-- ---------------------------------------------------------------------------
-- The API's view of a rule: with its stages' names.
-- ---------------------------------------------------------------------------
create view app.automation_rule_details with (security_invoker = true) as
  select r.*, t.name as target_stage_name, f.id as from_stage_id, f.name as from_stage_name
  from app.automation_rules r
  join app.stages t on t.id = r.target_stage_id
  left join app.stages f on f.id = r.conditions ->> 'fromStage';
comment on view app.automation_rule_details is 'Automation rules with the names of their target and fromStage stages.';
grant select on app.automation_rule_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Stage lookup for a given org, so a trigger can resolve names for any writer (Studio has
-- no org claim).
-- ---------------------------------------------------------------------------
create function app.resolve_stage(p_stage text, p_org_id text) returns text
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_id text;
  begin
    if p_stage is null then
      return null;
    end if;
    select s.id into v_id
    from app.stages s
    where s.org_id = p_org_id
      and (s.id = p_stage or lower(s.name) = lower(btrim(p_stage)))
    order by s.id = p_stage desc
    limit 1;
    if v_id is null then
      perform app.refuse(400, 'unknown_stage',
        pg_catalog.format('No stage named or with id "%s" in this workspace', p_stage),
        'Use one of: ' || coalesce((
          select string_agg(pg_catalog.format('"%s"', s.name), ', ' order by s.position)
          from app.stages s where s.org_id = p_org_id), '(no stages yet)')
        || '.');
    end if;
    return v_id;
  end;
  $$;
comment on function app.resolve_stage(text, text) is 'The id of the org''s stage given its id or name (case-insensitive); refuses with the valid names otherwise.';
revoke execute on function app.resolve_stage(text, text) from public;
grant execute on function app.resolve_stage(text, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Validation and normalisation, for every writer.
-- ---------------------------------------------------------------------------
create function app._refuse_condition(p_key text, p_message text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_key app.automation_condition_keys;
  begin
    select k.* into v_key from app.automation_condition_keys k where k.key = p_key;
    perform app.refuse(400, 'invalid_condition', pg_catalog.format('conditions.%s %s', p_key, p_message),
      pg_catalog.format('conditions.%s takes %s: %s', p_key,
        case v_key.kind
          when 'gte' then pg_catalog.format('{ "gte": N } with N a number from %s%s', v_key.min_value,
            coalesce(' to ' || v_key.max_value, ' up'))
          when 'stage' then 'a stage id or name'
          else 'a non-empty string'
        end || pg_catalog.format(' (e.g. %s)', v_key.example), v_key.description));
  end;
  $$;
comment on function app._refuse_condition(text, text) is 'Refuses (400) a malformed condition value, with the key''s shape, bounds and an example as the hint.';
revoke execute on function app._refuse_condition(text, text) from public;
grant execute on function app._refuse_condition(text, text) to authenticated, service_role;

create function app._is_gte_condition(p_value jsonb, p_min numeric, p_max numeric) returns boolean
  language plpgsql immutable
  set search_path = ''
  as $$
  begin
    if pg_catalog.jsonb_typeof(p_value) <> 'object' then
      return false;
    end if;
    if (select array_agg(k) from pg_catalog.jsonb_object_keys(p_value) k) <> array['gte']
       or pg_catalog.jsonb_typeof(p_value -> 'gte') <> 'number' then
      return false;
    end if;
    return (p_value ->> 'gte')::numeric between coalesce(p_min, '-infinity'::numeric) and coalesce(p_max, 'infinity'::numeric);
  end;
  $$;
comment on function app._is_gte_condition(jsonb, numeric, numeric) is 'Whether a condition value is exactly { "gte": number } with the number within the bounds (null: unbounded).';
revoke execute on function app._is_gte_condition(jsonb, numeric, numeric) from public;
grant execute on function app._is_gte_condition(jsonb, numeric, numeric) to authenticated, service_role;

create function app._check_automation_rule() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_conditions jsonb := coalesce(new.conditions, '{}'::jsonb);
    v_key app.automation_condition_keys;
    v_value jsonb;
    v_unknown text;
  begin
    if not exists (select from app.automation_triggers t where t.name = new.trigger_event) then
      perform app.refuse(400, 'unknown_trigger',
        pg_catalog.format('"%s" is not an automation trigger', new.trigger_event),
        'triggerEvent is one of: ' || (select string_agg(t.name, ', ' order by t.position) from app.automation_triggers t) || '.');
    end if;
    if pg_catalog.jsonb_typeof(v_conditions) <> 'object' then
      perform app.refuse(400, 'invalid_conditions', 'conditions must be an object',
        'Send conditions like { "fromStage": "Engaged", "viewCount": { "gte": 2 } }, or {} for none.');
    end if;

    select string_agg(pg_catalog.format('"%s"', c.key), ', ') into v_unknown
    from pg_catalog.jsonb_object_keys(v_conditions) c(key)
    where not exists (select from app.automation_condition_keys k where k.key = c.key and new.trigger_event = any (k.triggers));
    if v_unknown is not null then
      perform app.refuse(400, 'unknown_condition',
        pg_catalog.format('Unknown condition(s) for a %s rule: %s', new.trigger_event, v_unknown),
        pg_catalog.format('conditions of a %s rule take: ', new.trigger_event)
          || (select string_agg(k.key, ', ' order by k.position) from app.automation_condition_keys k where new.trigger_event = any (k.triggers))
          || ' (GET /api/openclaw/automation/rules lists them with their shapes).');
    end if;

    for v_key in
      select k.* from app.automation_condition_keys k where new.trigger_event = any (k.triggers) order by k.position
    loop
      v_value := v_conditions -> v_key.key;
      if v_value is null or v_value = 'null'::jsonb then
        v_conditions := v_conditions - v_key.key;
        if v_key.default_value is not null then
          v_conditions := v_conditions || pg_catalog.jsonb_build_object(v_key.key, v_key.default_value);
        end if;
        continue;
      end if;
      if v_key.kind = 'stage' then
        if pg_catalog.jsonb_typeof(v_value) <> 'string' then
          perform app._refuse_condition(v_key.key, 'must be a string');
        end if;
        v_conditions := v_conditions || pg_catalog.jsonb_build_object(v_key.key, app.resolve_stage(v_value #>> '{}', new.org_id));
      elsif v_key.kind = 'text' then
        if pg_catalog.jsonb_typeof(v_value) <> 'string' or btrim(v_value #>> '{}') = '' then
          perform app._refuse_condition(v_key.key, 'must be a non-empty string');
        end if;
        v_conditions := v_conditions || pg_catalog.jsonb_build_object(v_key.key, btrim(v_value #>> '{}'));
      elsif not app._is_gte_condition(v_value, v_key.min_value, v_key.max_value) then
        perform app._refuse_condition(v_key.key, 'must be { "gte": N } with N in range');
      end if;
    end loop;
    new.conditions := v_conditions;

    if new.target_stage_id is null then
      perform app.refuse(400, 'target_stage_required', 'A rule needs a target stage',
        'Send targetStage: the id or name of the stage to move matching leads to (GET /api/openclaw/stages lists them).');
    end if;
    new.target_stage_id := app.resolve_stage(new.target_stage_id, new.org_id);
    if new.target_stage_id = v_conditions ->> 'fromStage' then
      perform app.refuse(400, 'rule_does_not_move',
        pg_catalog.format('The rule would move leads from "%s" to the same stage',
          (select s.name from app.stages s where s.id = new.target_stage_id)),
        'Choose a targetStage other than conditions.fromStage.');
    end if;
    return new;
  end;
  $$;
comment on function app._check_automation_rule() is 'Trigger: validates a rule (trigger, condition keys and shapes, stages) with hints listing the valid values, stores stage names as ids and fills in condition defaults.';
revoke execute on function app._check_automation_rule() from public;

create trigger automation_rules_check before insert or update on app.automation_rules
  for each row execute function app._check_automation_rule();

-- ---------------------------------------------------------------------------
-- Matching and moving, shared by the event trigger and the no_touch sweep.
-- ---------------------------------------------------------------------------
-- A SQL-standard body (names bound when the function is created, so search_path cannot
-- change its meaning) and no SET clause: the planner inlines it, which keeps the no_touch
-- sweep at one expression per lead instead of one function call.
create function app._automation_conditions_hold(
  p_conditions jsonb, p_stage_id text, p_tier text, p_proposal_views integer, p_score integer)
  returns boolean
  language sql immutable
  return (p_conditions ->> 'fromStage' is null or p_conditions ->> 'fromStage' = p_stage_id)
     and (p_conditions ->> 'tier' is null or pg_catalog.lower(p_conditions ->> 'tier') = pg_catalog.lower(p_tier))
     and (p_conditions -> 'viewCount' is null
          or coalesce(p_proposal_views, 0) >= (p_conditions #>> '{viewCount,gte}')::numeric)
     and (p_conditions -> 'confidenceScore' is null
          or coalesce(p_score, 0) >= (p_conditions #>> '{confidenceScore,gte}')::numeric);
comment on function app._automation_conditions_hold(jsonb, text, text, integer, integer) is 'Whether a lead (stage, tier, proposal views, score) meets a rule''s fromStage, tier, viewCount and confidenceScore conditions.';
revoke execute on function app._automation_conditions_hold(jsonb, text, text, integer, integer) from public;

create function app._apply_automation_rule(p_rule_id text, p_lead_ids text[], p_event_id text, p_now timestamptz)
  returns integer
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_rule app.automation_rules;
    v_claims text := pg_catalog.current_setting('request.jwt.claims', true);
    v_moved integer;
  begin
    select r.* into strict v_rule from app.automation_rules r where r.id = p_rule_id;
    -- The stage history reads who moved the lead from the claims: this rule, as automation.
    perform pg_catalog.set_config('request.jwt.claims',
      (coalesce(nullif(v_claims, '')::jsonb, '{}'::jsonb)
        || pg_catalog.jsonb_build_object('rule_id', v_rule.id, 'source', 'automation', 'actor', v_rule.id))::text, true);
    perform pg_catalog.set_config('app.automation_running', 'on', true);

    with locked as (
      select l.id, l.stage_id from app.leads l
      where l.org_id = v_rule.org_id and l.id = any (p_lead_ids) and l.stage_id <> v_rule.target_stage_id
      for no key update
    ),
    moved as (
      update app.leads l set stage_id = v_rule.target_stage_id
      from locked c
      where l.id = c.id
      returning l.id, c.stage_id as from_stage_id
    )
    insert into app.automation_runs
      (org_id, rule_id, rule_name, lead_id, trigger_event, event_id, from_stage_id, to_stage_id, from_stage_name, to_stage_name, ran_at)
    select v_rule.org_id, v_rule.id, v_rule.name, m.id, v_rule.trigger_event, p_event_id, m.from_stage_id, v_rule.target_stage_id,
      (select s.name from app.stages s where s.id = m.from_stage_id),
      (select s.name from app.stages s where s.id = v_rule.target_stage_id),
      p_now
    from moved m;
    get diagnostics v_moved = row_count;

    perform pg_catalog.set_config('app.automation_running', '', true);
    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_moved;
  end;
  $$;
comment on function app._apply_automation_rule(text, text[], text, timestamptz) is 'Moves the given leads of the rule''s org to its target (those not there already), recording the rule in the stage history and in app.automation_runs; returns how many moved.';
revoke execute on function app._apply_automation_rule(text, text[], text, timestamptz) from public;

-- ---------------------------------------------------------------------------
-- Firing on events.
-- ---------------------------------------------------------------------------
create function app._fire_automation() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_rule_id text;
  begin
    -- A move made by a rule never fires another rule.
    if coalesce(pg_catalog.current_setting('app.automation_running', true), '') = 'on' then
      return null;
    end if;
    select r.id into v_rule_id
    from app.leads l
    join app.stages s on s.id = l.stage_id and s.outcome = 'open'
    left join app.lead_engagement g on g.lead_id = l.id
    left join app.lead_scores c on c.lead_id = l.id
    join app.automation_rules r on r.org_id = l.org_id and r.enabled and r.trigger_event = new.type
    where l.org_id = new.org_id and l.id = new.lead_id and l.deleted_at is null
      and app._automation_conditions_hold(r.conditions, l.stage_id, l.tier, g.proposal_views, c.score)
    order by r.priority desc, r.created_at, r.id
    limit 1;
    -- When the winner's target is the lead's stage already, it moves nothing.
    if v_rule_id is not null then
      perform app._apply_automation_rule(v_rule_id, array[new.lead_id], new.id, pg_catalog.now());
    end if;
    return null;
  end;
  $$;
comment on function app._fire_automation() is 'Trigger: on a meeting_booked, proposal_viewed, cta_clicked or quiz_completed event, moves the lead by the highest-priority matching rule of its org (open, live leads only).';
revoke execute on function app._fire_automation() from public;

-- Only the four rule triggers: stage_changed (and every other event) never fires a rule.
create trigger events_30_automation after insert on app.events
  for each row
  when (new.type in ('meeting_booked', 'proposal_viewed', 'cta_clicked', 'quiz_completed'))
  execute function app._fire_automation();

-- ---------------------------------------------------------------------------
-- no_touch, for every org at once, run every 15 minutes by the job no-touch-automation
-- (90_jobs.sql). A lead's idle clock starts at its last touch (or creation) and restarts at
-- each automation move, so a rule moves an idle lead once per idle period and two rules
-- can never bounce it between stages on every run.
-- ---------------------------------------------------------------------------
create function app.run_no_touch_rules(p_now timestamptz default now()) returns integer
  language plpgsql
  security definer
  set search_path = ''
  -- Picking each lead's best rule sorts every idle lead: in memory, not on disk.
  set work_mem = '64MB'
  as $$
  declare
    v_rule_id text;
    v_lead_ids text[];
    v_moved integer := 0;
  begin
    for v_rule_id, v_lead_ids in
      with winners as (
        select distinct on (l.id collate "C") l.id as lead_id, l.stage_id, r.id as rule_id, r.target_stage_id
        from app.automation_rules r
        cross join lateral (select p_now - (r.conditions #>> '{noTouchDays,gte}')::numeric * interval '1 day' as cutoff) t
        -- fromStage is tested again below; spelled out here so leads_org_stage_idx serves it.
        join app.leads l on l.org_id = r.org_id and l.deleted_at is null
          and (r.conditions ->> 'fromStage' is null or l.stage_id = r.conditions ->> 'fromStage')
          and coalesce(l.last_touch_at, l.created_at) <= t.cutoff
        join app.stages s on s.id = l.stage_id and s.outcome = 'open'
        left join app.lead_engagement g on g.lead_id = l.id
        left join app.lead_scores c on c.lead_id = l.id
        where r.enabled and r.trigger_event = 'no_touch'
          and app._automation_conditions_hold(r.conditions, l.stage_id, l.tier, g.proposal_views, c.score)
          and not exists (select from app.automation_runs ar
                          where ar.org_id = l.org_id and ar.lead_id = l.id and ar.ran_at > t.cutoff)
        order by l.id collate "C", r.priority desc, r.created_at, r.id
      )
      select w.rule_id, array_agg(w.lead_id order by w.lead_id)
      from winners w
      where w.target_stage_id <> w.stage_id
      group by w.rule_id
      order by w.rule_id
    loop
      v_moved := v_moved + app._apply_automation_rule(v_rule_id, v_lead_ids, null, p_now);
    end loop;
    return v_moved;
  end;
  $$;
comment on function app.run_no_touch_rules(timestamptz) is 'Moves every idle lead of every org by its highest-priority matching no_touch rule (one statement per rule); returns how many leads moved.';
revoke execute on function app.run_no_touch_rules(timestamptz) from public;
grant execute on function app.run_no_touch_rules(timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- A stage a rule uses (as target or fromStage) stays until the rule is changed or deleted;
-- deleting the whole org takes its rules and stages together.
-- ---------------------------------------------------------------------------
create function app._keep_stages_of_rules() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_rules text;
  begin
    select string_agg(pg_catalog.format('"%s" (%s)', r.name, r.id), ', ' order by r.created_at) into v_rules
    from app.automation_rules r
    where r.org_id = old.org_id and (r.target_stage_id = old.id or r.conditions ->> 'fromStage' = old.id);
    if v_rules is not null and exists (select from app.orgs o where o.id = old.org_id) then
      perform app.refuse(409, 'stage_used_by_rules',
        pg_catalog.format('Stage "%s" is used by automation rule(s) %s', old.name, v_rules),
        'Point those rules at another stage (PUT /api/openclaw/automation/rules { "id": …, "targetStage": …, "conditions": … }) or delete them (DELETE /api/openclaw/automation/rules?id=…), then delete the stage.');
    end if;
    return old;
  end;
  $$;
comment on function app._keep_stages_of_rules() is 'Trigger: refuses (409, naming the rules) to delete a stage an automation rule targets or starts from.';
revoke execute on function app._keep_stages_of_rules() from public;

create trigger stages_keep_rule_stages before delete on app.stages
  for each row execute function app._keep_stages_of_rules();

-- =============================================================================================
-- sql/64_analytics.sql
-- =============================================================================================
-- Pipeline analytics (GET /analytics): one function, app.pipeline_analytics, that answers
-- the current org's metrics over the last p_days days in one statement: lead totals,
-- engagement counts, won/lost and conversion, leads per stage, stage-to-stage conversion,
-- average days in stage, score distribution and where leads came from.
--
-- It owns no tables. It reads app.leads, app.stages, app.stage_changes, app.events,
-- app.lead_scores and app.sync_sources; the indexes that make its counts index-only scans
-- are kept with those tables: leads_org_stage_idle_idx (40_leads.sql),
-- stage_changes_org_first_idx (42_stage_history.sql) and lead_scores_org_label_idx
-- (56_scoring.sql). A deleted stage's outcome comes from app.outcome_from_stage_name
-- (30_stages.sql).

create function app.pipeline_analytics(p_days integer default 30, p_now timestamptz default now())
  returns jsonb
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_org_id text := app.current_org_id();
    v_from timestamptz;
    v_result jsonb;
  begin
    if p_days is null or p_days not between 1 and 365 then
      perform app.refuse(400, 'invalid_days', pg_catalog.format('days must be between 1 and 365, got %s', coalesce(p_days::text, 'null')),
        'Pass days as a whole number of days from 1 to 365, e.g. GET /api/openclaw/analytics?days=30 (the default).');
    end if;
    if v_org_id is null then
      perform app.refuse(401, 'no_org', 'No workspace is set for this request',
        'Call with your API key, or set request.jwt.claims with an org_id.');
    end if;
    v_from := p_now - pg_catalog.make_interval(days => p_days);

    with
    stages as (
      select s.id, s.name, s.position, s.outcome
      from app.stages s
      where s.org_id = v_org_id
    ),
    -- Live leads, grouped as finely as the snapshots need: one index-only scan.
    live as (
      select l.stage_id, l.created_at >= v_from and l.created_at <= p_now as recent, count(*)::integer as n
      from app.leads l
      where l.org_id = v_org_id and l.deleted_at is null
      group by 1, 2
    ),
    -- Live leads' scores per label: an index-only scan of the org's scores, less those of
    -- soft-deleted leads (few, so no join over every lead).
    labels as (
      select c.label, count(*)::integer as n
      from app.lead_scores c
      where c.org_id = v_org_id
      group by 1
      union all
      select c.label, -count(*)::integer
      from app.leads l
      join app.lead_scores c on c.lead_id = l.id
      where l.org_id = v_org_id and l.deleted_at is not null
      group by 1
    ),
    -- How leads were created: the source of their first stage change (api, sql, sync_source,
    -- …), read from an index-only scan of those rows, less the soft-deleted leads' (few, so
    -- no join over every lead). Permanently deleted leads take their history with them.
    origins as (
      select f.source, f.changed_by, count(*)::integer as n
      from app.stage_changes f
      where f.org_id = v_org_id and f.from_stage_id is null
      group by 1, 2
      union all
      select f.source, f.changed_by, -count(*)::integer
      from app.leads l
      cross join lateral (
        select f.source, f.changed_by from app.stage_changes f
        where f.org_id = l.org_id and f.lead_id = l.id and f.from_stage_id is null
        limit 1) f
      where l.org_id = v_org_id and l.deleted_at is not null
      group by 1, 2
    ),
    -- Inbound webhooks are told apart by the sync source's name.
    sources as (
      select case
               when o.source = 'sync_source' and o.changed_by like 'sync_source:%'
                 then 'sync_source:' || coalesce(ss.name, pg_catalog.substr(o.changed_by, 13))
               else o.source
             end as source,
             sum(o.n)::integer as n
      from origins o
      left join app.sync_sources ss
        on ss.org_id = v_org_id and ss.id = pg_catalog.substr(o.changed_by, 13) and o.source = 'sync_source'
      group by 1
      having sum(o.n) > 0
      union all
      -- Leads whose first stage change is gone (history rows removed by hand).
      select 'unknown', (select sum(v.n) from live v)::integer - (select coalesce(sum(o.n), 0) from origins o)::integer
      where (select sum(v.n) from live v) > (select coalesce(sum(o.n), 0) from origins o)
    ),
    activity as (
      select count(*) filter (where e.type = 'quiz_completed')::integer as quiz_completions,
             count(distinct e.lead_id) filter (where e.type = 'proposal_viewed')::integer as proposals_viewed,
             count(*) filter (where e.type = 'proposal_viewed')::integer as proposal_views,
             count(*) filter (where e.type = 'meeting_booked')::integer as meetings_booked
      from app.events e
      where e.org_id = v_org_id
        and e.type in ('quiz_completed', 'proposal_viewed', 'meeting_booked')
        and e.occurred_at >= v_from and e.occurred_at <= p_now
    ),
    -- Stage moves in the window, each with its stage's place and outcome (a stage deleted
    -- since has the outcome its recorded name implies), what the lead did next, and when it
    -- entered the stage it left.
    moves as (
      select w.*,
             -- A lead's first move in the window left a stage it entered before the window.
             case when w.from_stage_id is not null then coalesce(w.prev_at, (
               select max(p.changed_at) from app.stage_changes p
               where p.org_id = v_org_id and p.lead_id = w.lead_id and p.changed_at < w.changed_at)) end as entered_from_at,
             -- Moving on means a later open stage or a won one; dropping to lost is not progress.
             max(w.position) filter (where w.outcome = 'open') over later as later_position,
             coalesce(bool_or(w.outcome = 'won') over later, false) as won_later
      from (
        select c.id, c.lead_id, c.to_stage_id, c.from_stage_id, c.changed_at, s.position,
               coalesce(s.outcome, app.outcome_from_stage_name(c.to_stage_name)) as outcome,
               pg_catalog.lag(c.changed_at) over (partition by c.lead_id order by c.changed_at, c.id) as prev_at
        from app.stage_changes c
        left join stages s on s.id = c.to_stage_id
        where c.org_id = v_org_id and c.changed_at >= v_from and c.changed_at <= p_now
      ) w
      window later as (partition by w.lead_id order by w.changed_at, w.id rows between 1 following and unbounded following)
    ),
    -- Each lead closed in the window counts once, by its last closing move.
    closes as (
      select count(*) filter (where c.outcome = 'won')::integer as won,
             count(*) filter (where c.outcome = 'lost')::integer as lost
      from (
        select distinct on (m.lead_id) m.outcome
        from moves m
        where m.outcome in ('won', 'lost')
        order by m.lead_id, m.changed_at desc, m.id desc
      ) c
    ),
    conversion as (
      select m.to_stage_id as stage_id,
             count(distinct m.lead_id)::integer as entered,
             count(distinct m.lead_id) filter (where m.later_position > m.position or m.won_later)::integer as moved_on,
             count(distinct m.lead_id) filter (where m.outcome = 'won' or m.won_later)::integer as won
      from moves m
      where m.to_stage_id is not null
      group by 1
    ),
    stays as (
      select m.from_stage_id as stage_id,
             pg_catalog.round((avg(extract(epoch from m.changed_at - m.entered_from_at)) / 86400)::numeric, 2) as days
      from moves m
      where m.from_stage_id is not null and m.entered_from_at is not null
      group by 1
    )
    select pg_catalog.jsonb_build_object(
      'period', pg_catalog.jsonb_build_object('days', p_days, 'from', v_from, 'to', p_now),
      'totalLeads', (select coalesce(sum(n), 0)::integer from live),
      'leadsInPeriod', (select coalesce(sum(n) filter (where recent), 0)::integer from live),
      'quizCompletions', a.quiz_completions,
      'proposalsViewed', a.proposals_viewed,
      'proposalViews', a.proposal_views,
      'meetingsBooked', a.meetings_booked,
      'leadsWon', k.won,
      'leadsLost', k.lost,
      'conversionRate', pg_catalog.round(k.won::numeric / nullif(k.won + k.lost, 0), 4),
      'pipeline', (
        select coalesce(pg_catalog.jsonb_object_agg(x.name, x.n), '{}')
        from (
          select s.name, coalesce((select sum(v.n) from live v where v.stage_id = s.id), 0)::integer as n
          from stages s
          union all
          select '(no stage)', sum(v.n)::integer from live v where v.stage_id is null having sum(v.n) > 0
        ) x),
      'stageConversion', (
        select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'stage', s.name, 'stageId', s.id, 'outcome', s.outcome,
                 'entered', coalesce(c.entered, 0), 'movedOn', coalesce(c.moved_on, 0), 'won', coalesce(c.won, 0),
                 'movedOnRate', pg_catalog.round(c.moved_on::numeric / nullif(c.entered, 0), 4),
                 'winRate', pg_catalog.round(c.won::numeric / nullif(c.entered, 0), 4))
               order by s.position, s.name), '[]')
        from stages s
        left join conversion c on c.stage_id = s.id),
      'averageDaysInStage', (
        select coalesce(pg_catalog.jsonb_object_agg(s.name, d.days), '{}')
        from stages s
        left join stays d on d.stage_id = s.id),
      'scoreDistribution', (
        select pg_catalog.jsonb_build_object(
          'hot', coalesce(sum(b.n) filter (where b.label = 'hot'), 0)::integer,
          'warm', coalesce(sum(b.n) filter (where b.label = 'warm'), 0)::integer,
          'cool', coalesce(sum(b.n) filter (where b.label = 'cool'), 0)::integer,
          'cold', coalesce(sum(b.n) filter (where b.label = 'cold'), 0)::integer,
          'unscored', (select coalesce(sum(v.n), 0) from live v)::integer - coalesce(sum(b.n), 0)::integer)
        from labels b),
      'bySource', (
        select coalesce(pg_catalog.jsonb_object_agg(src.source, src.n), '{}')
        from sources src)
    )
    into v_result
    from activity a cross join closes k;

    return v_result;
  end;
  $$;
comment on function app.pipeline_analytics(integer, timestamptz) is
  'The current org''s pipeline metrics over the last p_days days (1-365) up to p_now: lead totals, engagement, won/lost and conversion, leads per stage, stage-to-stage conversion, average days in stage, score distribution and lead sources.';
revoke execute on function app.pipeline_analytics(integer, timestamptz) from public;
grant execute on function app.pipeline_analytics(integer, timestamptz) to authenticated, service_role;

-- =============================================================================================
-- sql/66_proposals.sql
-- =============================================================================================
-- Proposals: one public page per lead (/p/{slug}) with sections an agent writes, and the
-- tracking of its visits.
--   * app.proposals: slug, content per section, published flag and the org's preview
--     token; every lead gets one when it is inserted (the leads_proposal trigger on
--     app.leads, in this file);
--   * app.proposal_visits: one row per counted visit, written only by app.track_proposal;
--   * content: app.proposal_content_problem (the rules, also the table's check) and
--     app.set_proposal (agents merge content, publish and unpublish);
--   * the public page: app.proposal_page (what it prints) and app.track_proposal (its
--     beacon); app.proposal_tracking is a lead's rollup for agents.
-- Tracking records engagement events in app.events (54_events.sql), which scoring,
-- automation and campaign triggers react to. The slug also reaches campaign emails as
-- {{proposalUrl}} (app.template_values, 70_campaigns.sql) and the API's leads as
-- proposal_slug (app.lead_details, 95_views.sql).

-- ---------------------------------------------------------------------------
-- Content: the sections a page has, and what each may hold. Created before the table,
-- whose check constraint calls it.
-- ---------------------------------------------------------------------------
create function app.proposal_content_problem(p_content jsonb) returns text
  language plpgsql immutable
  set search_path = ''
  as $$
  declare
    v_allowed constant jsonb := '{
      "hero": ["headline", "subheadline"],
      "problem": ["heading", "body", "points"],
      "offer": ["heading", "body", "points"],
      "pricing": ["heading", "body", "items"],
      "video": ["url", "title"],
      "cta": ["label", "url"]
    }'::jsonb;
    v_section record;
    v_field record;
    v_item jsonb;
  begin
    if pg_catalog.jsonb_typeof(p_content) is distinct from 'object' then
      return 'content must be an object of sections';
    end if;
    if pg_catalog.length(p_content::text) > 50000 then
      return 'content must be at most 50,000 characters of JSON';
    end if;
    for v_section in select * from pg_catalog.jsonb_each(p_content) loop
      if not v_allowed ? v_section.key then
        return pg_catalog.format('unknown section "%s"', v_section.key);
      end if;
      if pg_catalog.jsonb_typeof(v_section.value) <> 'object' then
        return pg_catalog.format('%s must be an object', v_section.key);
      end if;
      for v_field in select * from pg_catalog.jsonb_each(v_section.value) loop
        if not (v_allowed -> v_section.key) ? v_field.key then
          return pg_catalog.format('%s.%s is not a field of %s (fields: %s)', v_section.key, v_field.key, v_section.key,
            (select string_agg(f, ', ') from pg_catalog.jsonb_array_elements_text(v_allowed -> v_section.key) f));
        end if;
        if v_field.key in ('points', 'items') then
          if pg_catalog.jsonb_typeof(v_field.value) <> 'array' or pg_catalog.jsonb_array_length(v_field.value) > 12 then
            return pg_catalog.format('%s.%s must be a list of at most 12 entries', v_section.key, v_field.key);
          end if;
          for v_item in select * from pg_catalog.jsonb_array_elements(v_field.value) loop
            if v_field.key = 'points' and (pg_catalog.jsonb_typeof(v_item) <> 'string' or pg_catalog.length(v_item #>> '{}') not between 1 and 500) then
              return pg_catalog.format('%s.points must hold texts of 1-500 characters', v_section.key);
            end if;
            if v_field.key = 'items' and (pg_catalog.jsonb_typeof(v_item) <> 'object'
                or pg_catalog.jsonb_typeof(v_item -> 'name') is distinct from 'string'
                or pg_catalog.length(v_item ->> 'name') not between 1 and 200
                or pg_catalog.jsonb_typeof(v_item -> 'price') is distinct from 'string'
                or pg_catalog.length(v_item ->> 'price') not between 1 and 100
                or (v_item ? 'description' and (pg_catalog.jsonb_typeof(v_item -> 'description') <> 'string'
                    or pg_catalog.length(v_item ->> 'description') > 1000))
                or exists (select from pg_catalog.jsonb_object_keys(v_item) k where k not in ('name', 'price', 'description'))) then
              return 'pricing.items must hold { name, price, description? } with texts of at most 200, 100 and 1000 characters';
            end if;
          end loop;
        elsif pg_catalog.jsonb_typeof(v_field.value) <> 'string'
            or pg_catalog.length(v_field.value #>> '{}') not between 1 and (case when v_field.key = 'body' then 5000 else 500 end) then
          return pg_catalog.format('%s.%s must be a text of 1-%s characters', v_section.key, v_field.key,
            case when v_field.key = 'body' then 5000 else 500 end);
        elsif v_field.key = 'url' and (v_field.value #>> '{}') !~* '^https?://[^\s/?#]+[^\s]*$' then
          return pg_catalog.format('%s.url must be an http(s) URL', v_section.key);
        end if;
      end loop;
    end loop;
    if p_content ? 'video' and not (p_content -> 'video') ? 'url' then
      return 'video needs a url';
    end if;
    return null;
  end;
  $$;
comment on function app.proposal_content_problem(jsonb) is 'What is wrong with a proposal''s content (unknown section or field, wrong type, too long, a URL that is not http(s)), or null when it is valid.';
revoke execute on function app.proposal_content_problem(jsonb) from public;
grant execute on function app.proposal_content_problem(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Proposals
-- ---------------------------------------------------------------------------
create table app.proposals (
  id text primary key default app.new_id('prop'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  -- Global: the public page finds a proposal by slug alone.
  slug text not null check (slug ~ '^([a-z0-9]+(-[a-z0-9]+)*-)?[a-z0-9]{8}$' and length(slug) <= 60),
  content jsonb not null default '{}',
  published boolean not null default true,
  -- The org's own preview link (?preview=…): shows the page, even unpublished, without tracking.
  preview_token text not null default replace(gen_random_uuid()::text, '-', '') check (preview_token ~ '^[0-9a-f]{32}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint proposals_slug_key unique (slug),
  constraint proposals_lead_key unique (org_id, lead_id),
  constraint proposals_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade,
  constraint proposals_content_check check (app.proposal_content_problem(content) is null)
);
comment on table app.proposals is 'One public proposal page per lead: slug, agent-written content per section, published flag and the org''s preview token.';

create trigger proposals_touch_updated_at before update on app.proposals
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.proposals', 'Proposals');
grant select on app.proposals to authenticated;
grant update (content, published) on app.proposals to authenticated;
grant all on app.proposals to service_role;

-- ---------------------------------------------------------------------------
-- Visits: what the page's beacon reports (view, time on page, sections seen, video
-- milestones, CTA clicks) becomes one row per visit, plus engagement events.
-- ---------------------------------------------------------------------------
create table app.proposal_visits (
  id text primary key default app.new_id('pvis'),
  org_id text not null references app.orgs (id) on delete cascade,
  lead_id text not null,
  proposal_id text not null references app.proposals (id) on delete cascade,
  -- The page's random id for one page load; the proposal_viewed event's external_id.
  visit_id text not null check (visit_id ~ '^[A-Za-z0-9_-]{8,64}$'),
  started_at timestamptz not null,
  last_seen_at timestamptz not null,
  seconds numeric not null default 0 check (seconds >= 0),
  sections text[] not null default '{}',
  video_percent integer not null default 0 check (video_percent between 0 and 100),
  cta_clicks integer not null default 0 check (cta_clicks >= 0),
  hits integer not null default 1,
  constraint proposal_visits_visit_key unique (visit_id),
  constraint proposal_visits_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.proposal_visits is 'One row per counted visit of a proposal page: time on page, sections seen, furthest video milestone, CTA clicks.';
create index proposal_visits_org_lead_idx on app.proposal_visits (org_id, lead_id, started_at desc);
create index proposal_visits_org_proposal_idx on app.proposal_visits (org_id, proposal_id, started_at desc);

-- Tenants read their visits; only app.track_proposal writes them.
select app.make_org_private('app.proposal_visits', 'Proposal visits');
grant select on app.proposal_visits to authenticated;
grant all on app.proposal_visits to service_role;

-- ---------------------------------------------------------------------------
-- Every lead gets a proposal, whoever inserts it.
-- ---------------------------------------------------------------------------
create function app.create_proposal(p_org_id text, p_lead_id text, p_name text) returns text
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_base text := app.slugify(p_name);
    v_slug text;
  begin
    -- 36^8 slugs per name: a collision is rare, ten in a row does not happen.
    for attempt in 1..10 loop
      v_slug := case when v_base = '' then '' else v_base || '-' end || app.random_base36(8);
      begin
        insert into app.proposals (org_id, lead_id, slug) values (p_org_id, p_lead_id, v_slug)
        on conflict (org_id, lead_id) do nothing
        returning slug into v_slug;
        if v_slug is null then
          select p.slug into v_slug from app.proposals p where p.org_id = p_org_id and p.lead_id = p_lead_id;
        end if;
        return v_slug;
      exception when unique_violation then
        -- the slug was taken: draw again
      end;
    end loop;
    perform app.refuse(409, 'slug_collision', 'Could not find a free proposal slug', 'Retry the request.');
    return null;
  end;
  $$;
comment on function app.create_proposal(text, text, text) is 'Creates a lead''s proposal with a fresh unique slug made from p_name; no-op when the lead has one.';
revoke execute on function app.create_proposal(text, text, text) from public;

create function app._lead_proposal() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app.create_proposal(new.org_id, new.id,
      coalesce(nullif(new.company_name, ''), nullif(new.organization_name, ''), pg_catalog.concat_ws(' ', new.first_name, new.last_name)));
    return null;
  end;
  $$;
comment on function app._lead_proposal() is 'Trigger: gives every new lead its proposal page.';
revoke execute on function app._lead_proposal() from public;

create trigger leads_proposal after insert on app.leads
  for each row execute function app._lead_proposal();

-- ---------------------------------------------------------------------------
-- Agents write content: sections merge one level deep (a field set to null is removed,
-- a section set to null is removed); the result must be valid as a whole.
-- ---------------------------------------------------------------------------
create function app.merge_proposal_content(p_content jsonb, p_patch jsonb) returns jsonb
  language sql immutable
  set search_path = ''
  as $$
    select coalesce(pg_catalog.jsonb_object_agg(k.key, k.value), '{}'::jsonb)
    from (
      select c.key, c.value from pg_catalog.jsonb_each(coalesce(p_content, '{}')) c
      where not coalesce(p_patch, '{}') ? c.key
      union all
      select p.key, case when pg_catalog.jsonb_typeof(p.value) = 'object' and pg_catalog.jsonb_typeof(p_content -> p.key) = 'object'
                         then app.jsonb_merge_patch(p_content -> p.key, p.value) else p.value end
      from pg_catalog.jsonb_each(coalesce(p_patch, '{}')) p
      where p.value <> 'null'::jsonb
    ) k
  $$;
comment on function app.merge_proposal_content(jsonb, jsonb) is 'Merges a content patch into a proposal''s sections: section fields merge (null removes a field), a null section is removed.';
revoke execute on function app.merge_proposal_content(jsonb, jsonb) from public;
grant execute on function app.merge_proposal_content(jsonb, jsonb) to authenticated, service_role;

create function app.set_proposal(p_lead_id text, p_content jsonb default null, p_published boolean default null)
  returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_current jsonb;
    v_merged jsonb;
    v_problem text;
  begin
    select p.content into v_current from app.proposals p where p.lead_id = p_lead_id for update;
    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId: GET /api/openclaw/leads lists your leads. Leads of other workspaces are not visible with this key.');
    end if;
    if p_content is not null and pg_catalog.jsonb_typeof(p_content) <> 'object' then
      perform app.refuse(400, 'invalid_proposal_content', 'content must be an object of sections',
        'Send content like { "hero": { "headline": "…" }, "cta": { "label": "Book a call", "url": "https://…" } }.');
    end if;
    v_merged := app.merge_proposal_content(v_current, p_content);
    v_problem := app.proposal_content_problem(v_merged);
    if v_problem is not null then
      perform app.refuse(400, 'invalid_proposal_content', 'Invalid proposal content: ' || v_problem,
        'Sections: hero { headline, subheadline }, problem and offer { heading, body, points[] }, pricing { heading, body, items[{ name, price, description }] }, video { url, title }, cta { label, url }. URLs must be http(s); send a section or field as null to remove it.');
    end if;
    update app.proposals p set
      content = v_merged,
      published = coalesce(p_published, p.published)
    where p.lead_id = p_lead_id;
  end;
  $$;
comment on function app.set_proposal(text, jsonb, boolean) is 'Merges content into one of the caller''s proposals and/or (un)publishes it; refuses invalid content with the rule it broke.';
revoke execute on function app.set_proposal(text, jsonb, boolean) from public;
grant execute on function app.set_proposal(text, jsonb, boolean) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- What the public page prints, in one call (anon: no key on a public page).
-- ---------------------------------------------------------------------------
create function app.proposal_page(p_slug text, p_preview_token text default null, p_key_hash text default null)
  returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
  as $$
  declare
    v_page jsonb;
    v_preview boolean;
    v_visible boolean;
  begin
    select pg_catalog.jsonb_build_object(
        'slug', p.slug,
        'content', p.content,
        'org', pg_catalog.jsonb_build_object('name', o.name, 'primaryColor', o.primary_color,
          'bookingLink', o.booking_link, 'website', o.website),
        'lead', pg_catalog.jsonb_build_object('firstName', l.first_name, 'lastName', l.last_name, 'title', l.title,
          'companyName', coalesce(l.company_name, l.organization_name),
          'discussionPoints', coalesce(case when pg_catalog.jsonb_typeof(l.enrichment -> 'discussionPoints') = 'array'
            then l.enrichment -> 'discussionPoints' end, '[]'::jsonb))),
      coalesce(p.preview_token = p_preview_token, false)
        or exists (select from app.api_keys k where k.key_hash = p_key_hash and k.org_id = p.org_id and k.revoked_at is null),
      p.published and l.deleted_at is null
    into v_page, v_preview, v_visible
    from app.proposals p
    join app.leads l on l.org_id = p.org_id and l.id = p.lead_id
    join app.orgs o on o.id = p.org_id
    where p.slug = p_slug;
    if v_page is null or not (v_visible or v_preview) then
      return null;
    end if;
    return v_page || pg_catalog.jsonb_build_object('preview', v_preview);
  end;
  $$;
comment on function app.proposal_page(text, text, text) is 'Everything a proposal page prints (org branding, lead, content), or null when the slug is unknown or unpublished; preview is true for the org''s preview token or API key.';
revoke execute on function app.proposal_page(text, text, text) from public;
grant execute on function app.proposal_page(text, text, text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Tracking: the beacon's one entry point (anon: the page is public).
-- What does not count: bots (app.is_bot_user_agent) and the org's own previews (a request
-- carrying one of the org's API keys, or the page opened with its ?preview= token, which
-- serves the page without the beacon). Visits are rate-limited per proposal and per visit.
-- ---------------------------------------------------------------------------
create function app.is_bot_user_agent(p_user_agent text) returns boolean
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select coalesce(pg_catalog.btrim(p_user_agent), '') = ''
      or p_user_agent ~* '(bot|crawl|spider|slurp|headless|phantomjs|selenium|webdriver|puppeteer|playwright|lighthouse|pagespeed|uripreview|facebookexternalhit|embedly|quora link preview|whatsapp|curl/|wget/|python-|httpclient|go-http-client|node-fetch|undici|axios/|okhttp|java/|libwww|scrapy|pingdom|uptime|monitor|^node$|^mozilla/5\.0$)'
  $$;
comment on function app.is_bot_user_agent(text) is 'Whether a User-Agent is a bot, crawler, link previewer, headless browser or script (empty counts as a bot): their proposal visits are not tracked.';
revoke execute on function app.is_bot_user_agent(text) from public;
grant execute on function app.is_bot_user_agent(text) to anon, authenticated, service_role;

create function app.track_proposal(
  p_slug text,
  p_visit_id text,
  p_kind text,
  p_data jsonb default '{}',
  p_user_agent text default null,
  p_key_hash text default null,
  p_now timestamptz default now()
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_sections constant text[] := array['hero', 'problem', 'offer', 'pricing', 'video', 'cta'];
    v_kinds constant text[] := array['view', 'heartbeat', 'leave', 'section', 'video', 'cta'];
    v_data jsonb := coalesce(p_data, '{}');
    v_proposal record;
    v_visit app.proposal_visits%rowtype;
    v_first boolean := false;
    v_seconds numeric;
    v_percent integer;
    v_section text;
  begin
    if not p_kind = any (v_kinds) then
      perform app.refuse(400, 'invalid_kind', pg_catalog.format('"%s" is not a tracking kind', p_kind),
        'Send kind as one of: ' || pg_catalog.array_to_string(v_kinds, ', ') || '.');
    end if;
    if p_visit_id is null or p_visit_id !~ '^[A-Za-z0-9_-]{8,64}$' then
      perform app.refuse(400, 'invalid_visit_id', 'visitId must be 8-64 letters, digits, _ or -',
        'Generate one random visitId per page load and send it with every event of that load.');
    end if;

    -- heartbeat and leave must carry the time on page; the other reports may.
    if p_kind in ('heartbeat', 'leave') or v_data ? 'seconds' then
      if pg_catalog.jsonb_typeof(v_data -> 'seconds') is distinct from 'number' or (v_data ->> 'seconds')::numeric < 0 then
        perform app.refuse(400, 'invalid_seconds', 'seconds must be a number of seconds on the page',
          'Send { "kind": "heartbeat", "seconds": 42 }: the total seconds the page has been visible in this visit.');
      end if;
      v_seconds := (v_data ->> 'seconds')::numeric;
    end if;
    if p_kind = 'section' then
      v_section := v_data ->> 'section';
      if v_section is null or not v_section = any (v_sections) then
        perform app.refuse(400, 'invalid_section', pg_catalog.format('"%s" is not a proposal section', v_section),
          'Send section as one of: ' || pg_catalog.array_to_string(v_sections, ', ') || '.');
      end if;
    end if;
    if p_kind = 'video' then
      if pg_catalog.jsonb_typeof(v_data -> 'percent') is distinct from 'number'
          or (v_data ->> 'percent')::numeric not in (25, 50, 75, 100) then
        perform app.refuse(400, 'invalid_percent', 'percent must be a video milestone: 25, 50, 75 or 100',
          'Send { "kind": "video", "percent": 50 } when playback first passes a milestone.');
      end if;
      v_percent := (v_data ->> 'percent')::integer;
    end if;

    select p.id, p.org_id, p.lead_id into v_proposal
    from app.proposals p join app.leads l on l.org_id = p.org_id and l.id = p.lead_id
    where p.slug = p_slug and p.published and l.deleted_at is null;
    if not found then
      perform app.refuse(404, 'not_found', 'No published proposal has this slug', 'Check the slug in the page address (/p/{slug}).');
    end if;

    if p_key_hash is not null and exists (
        select from app.api_keys k where k.key_hash = p_key_hash and k.org_id = v_proposal.org_id) then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'preview');
    end if;
    if app.is_bot_user_agent(p_user_agent) then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'bot');
    end if;

    select v.* into v_visit from app.proposal_visits v where v.visit_id = p_visit_id for update;
    if not found then
      if (select count(*) from app.proposal_visits v
          where v.org_id = v_proposal.org_id and v.proposal_id = v_proposal.id and v.started_at > p_now - interval '1 hour') >= 100 then
        perform app.refuse(429, 'rate_limited', 'Too many visits of this proposal in the last hour',
          'At most 100 new visits of one proposal are counted per hour; try again later.');
      end if;
      insert into app.proposal_visits (org_id, lead_id, proposal_id, visit_id, started_at, last_seen_at, hits)
      values (v_proposal.org_id, v_proposal.lead_id, v_proposal.id, p_visit_id, p_now, p_now, 0)
      on conflict (visit_id) do nothing
      returning * into v_visit;
      if not found then
        -- A concurrent first beacon of the same visit won: continue with its row.
        select v.* into v_visit from app.proposal_visits v where v.visit_id = p_visit_id for update;
      else
        v_first := true;
        insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
        values (v_proposal.org_id, v_proposal.lead_id, 'proposal_viewed', p_now,
          pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id, 'seconds', 0),
          'proposal', 'visitor', p_visit_id)
        on conflict (org_id, type, external_id) where external_id is not null do nothing;
      end if;
    end if;

    if v_visit.proposal_id <> v_proposal.id then
      perform app.refuse(409, 'visit_conflict', 'This visitId belongs to another proposal',
        'Generate a new random visitId for each page load.');
    end if;
    if v_visit.hits >= 1000 then
      perform app.refuse(429, 'rate_limited', 'Too many events for this visit', 'A visit counts at most 1000 events.');
    end if;
    if p_now > v_visit.started_at + interval '1 day' then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'visit_expired');
    end if;

    -- Time on page as the page measured it, never more than has really passed (plus slack).
    if v_seconds is not null then
      v_seconds := pg_catalog.round(least(v_seconds, extract(epoch from p_now - v_visit.started_at) + 5), 1);
    end if;

    update app.proposal_visits v set
      hits = v.hits + 1,
      last_seen_at = greatest(v.last_seen_at, p_now),
      seconds = greatest(v.seconds, coalesce(v_seconds, 0)),
      sections = case when v_section is not null and not v_section = any (v.sections)
                      then pg_catalog.array_append(v.sections, v_section) else v.sections end,
      video_percent = greatest(v.video_percent, coalesce(v_percent, 0)),
      cta_clicks = v.cta_clicks + (p_kind = 'cta')::integer
    where v.id = v_visit.id;

    -- Time on page lives in the visit; the lead's rollup adds what this report added.
    if coalesce(v_seconds, 0) > v_visit.seconds then
      update app.lead_engagement g set proposal_seconds = g.proposal_seconds + (v_seconds - v_visit.seconds)
      where g.lead_id = v_proposal.lead_id;
    end if;
    -- Each milestone once per visit (external_id), whatever order the beacons arrive in.
    if v_percent is not null then
      insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
      values (v_proposal.org_id, v_proposal.lead_id, 'video_watched', p_now,
        pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id, 'percent', v_percent),
        'proposal', 'visitor', p_visit_id || ':' || v_percent)
      on conflict (org_id, type, external_id) where external_id is not null do nothing;
    end if;
    if p_kind = 'cta' then
      insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
      values (v_proposal.org_id, v_proposal.lead_id, 'cta_clicked', p_now,
        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id,
          'cta', left(v_data ->> 'label', 200), 'url', left(v_data ->> 'url', 2000))),
        'proposal', 'visitor', p_visit_id || ':cta:' || (v_visit.cta_clicks + 1))
      on conflict (org_id, type, external_id) where external_id is not null do nothing;
    end if;

    return pg_catalog.jsonb_build_object('recorded', true, 'firstView', v_first);
  end;
  $$;
comment on function app.track_proposal(text, text, text, jsonb, text, text, timestamptz) is 'Records one beacon report of a proposal visit (view, heartbeat, leave, section, video, cta) and its engagement events; bots and the org''s own key are not counted.';
revoke execute on function app.track_proposal(text, text, text, jsonb, text, text, timestamptz) from public;
grant execute on function app.track_proposal(text, text, text, jsonb, text, text, timestamptz) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Per-lead rollup for agents (under RLS: the caller's leads only).
-- ---------------------------------------------------------------------------
create function app.proposal_tracking(p_lead_id text) returns jsonb
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_result jsonb;
  begin
    if not exists (select from app.leads l where l.id = p_lead_id) then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId: GET /api/openclaw/leads lists your leads. Leads of other workspaces are not visible with this key.');
    end if;
    select pg_catalog.jsonb_build_object(
      'totalViews', count(*),
      'timeOnPage', coalesce(sum(v.seconds), 0),
      'sectionsViewed', coalesce((select pg_catalog.jsonb_agg(distinct s order by s)
        from app.proposal_visits w cross join unnest(w.sections) s where w.lead_id = p_lead_id), '[]'::jsonb),
      'videoCompletion', coalesce(max(v.video_percent), 0),
      'ctaClicks', coalesce(sum(v.cta_clicks), 0),
      'lastViewedAt', max(v.started_at))
    into v_result
    from app.proposal_visits v
    where v.lead_id = p_lead_id;
    return v_result;
  end;
  $$;
comment on function app.proposal_tracking(text) is 'A lead''s proposal engagement: views, seconds on page, sections seen, furthest video milestone, CTA clicks, last view.';
revoke execute on function app.proposal_tracking(text) from public;
grant execute on function app.proposal_tracking(text) to authenticated, service_role;

-- =============================================================================================
-- sql/70_campaigns.sql
-- =============================================================================================
-- Campaigns: the email sequences an org runs, and its send settings.
--   * app.campaigns: 1-8 steps (delay, subject, body, optional condition), what enrols a
--     lead automatically (trigger_event, and the stage for stage_changed), AI
--     personalisation settings. Ad-hoc campaigns (kind adhoc) are the one-lead sequences
--     of POST /email/send-sequence;
--   * app.campaign_settings: the daily cap and send window, one row per org, made with the
--     org (the orgs_create_campaign_settings trigger on app.orgs, in this file);
--   * template variables: one list for the step check and the mail renderer. Steps are
--     checked by a trigger, so every writer (API, Studio) is refused an unknown {{variable}}.
-- Elsewhere: enrolments and the suppression list (72_enrollments.sql); the outbox, send
-- guardrails and mail workers (74_outbox.sql); what enrols and stops leads, archiving and
-- ad-hoc sequences (76_campaign_events.sql, which also puts the campaigns_archived trigger
-- on app.campaigns); the tier's campaign limit (the campaigns_enforce_limit triggers on
-- app.campaigns, 78_plan_limits.sql).

-- ---------------------------------------------------------------------------
-- Campaigns. Archived campaigns keep their history and take no new leads.
-- ---------------------------------------------------------------------------
create table app.campaigns (
  id text primary key default app.new_id('cmp'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  status text not null default 'draft' check (status in ('draft', 'active', 'paused', 'archived')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The sequence: its steps, what enrols leads in it, AI personalisation, the sender's name.
  kind text not null default 'sequence' check (kind in ('sequence', 'adhoc')),
  steps jsonb not null default '[]',
  trigger_event text not null default 'manual'
    check (trigger_event in ('quiz_completed', 'proposal_viewed', 'cta_clicked', 'meeting_booked', 'stage_changed', 'manual')),
  trigger_stage_id text,
  ai_enabled boolean not null default false,
  ai_config jsonb not null default '{}',
  from_name text check (length(btrim(from_name)) between 1 and 200),
  -- For composite foreign keys (org_id, campaign_id) from enrolments and steps.
  constraint campaigns_org_id_id_key unique (org_id, id),
  -- The API asks for 1-8 steps; a campaign made without steps (Studio) just completes its
  -- enrolments.
  constraint campaigns_steps_check check (jsonb_typeof(steps) = 'array' and jsonb_array_length(steps) <= 8),
  constraint campaigns_trigger_stage_check check ((trigger_event = 'stage_changed') = (trigger_stage_id is not null)),
  constraint campaigns_trigger_stage_fkey foreign key (org_id, trigger_stage_id) references app.stages (org_id, id),
  constraint campaigns_ai_config_check check (jsonb_typeof(ai_config) = 'object' and length(ai_config::text) <= 2000)
);
comment on table app.campaigns is 'Email sequences per org. Non-archived campaigns count against the tier''s campaign limit.';
comment on column app.campaigns.steps is 'The sequence: [{ delayMinutes, subject, body, condition? }], 1-8 steps; step 0''s delay counts from enrolment, each later one from the previous step.';
comment on column app.campaigns.trigger_event is 'The event that enrols a lead automatically (manual: only POST /campaigns/{id}/enroll).';
comment on column app.campaigns.kind is 'sequence: a campaign proper (counts against the plan); adhoc: made by POST /email/send-sequence for one lead (does not count).';

create index campaigns_org_created_idx on app.campaigns (org_id, created_at desc, id desc);
create index campaigns_org_status_idx on app.campaigns (org_id, status);
create index campaigns_org_trigger_idx on app.campaigns (org_id, trigger_event) where status = 'active';
create index campaigns_org_trigger_stage_idx on app.campaigns (org_id, trigger_stage_id) where trigger_stage_id is not null;

create trigger campaigns_touch_updated_at before update on app.campaigns
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.campaigns', 'Campaigns');
grant select, insert, update, delete on app.campaigns to authenticated;
grant all on app.campaigns to service_role;

-- ---------------------------------------------------------------------------
-- Send settings per org: one row per org, made with the org, so the defaults live in
-- the column defaults and nowhere else.
-- ---------------------------------------------------------------------------
create table app.campaign_settings (
  org_id text primary key references app.orgs (id) on delete cascade,
  daily_cap integer not null default 500 check (daily_cap between 1 and 100000),
  -- The send window, in the org's time zone; no window = any time.
  window_start time,
  window_end time,
  time_zone text not null default 'UTC' check (length(time_zone) between 1 and 100),
  weekdays_only boolean not null default false,
  updated_at timestamptz not null default now(),
  constraint campaign_settings_window_check check ((window_start is null) = (window_end is null) and window_start < window_end)
);
comment on table app.campaign_settings is 'Per-org send settings: the org-wide daily email cap (per calendar day in time_zone) and an optional send window.';

create trigger campaign_settings_touch_updated_at before update on app.campaign_settings
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.campaign_settings', 'Campaign settings');
grant select, update (daily_cap, window_start, window_end, time_zone, weekdays_only) on app.campaign_settings to authenticated;
grant all on app.campaign_settings to service_role;

-- ---------------------------------------------------------------------------
-- Template variables: the one list both the step check here and the mail renderer use.
-- ---------------------------------------------------------------------------
create function app.template_variables() returns text[]
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select array['firstName', 'lastName', 'organizationName', 'businessType', 'proposalUrl', 'email', 'phone']
  $$;
comment on function app.template_variables() is 'The {{variables}} a campaign step may use, written exactly as {{name}}; the renderer replaces each with the lead''s value (empty when unknown).';
revoke execute on function app.template_variables() from public;
grant execute on function app.template_variables() to anon, authenticated, service_role;

-- {{proposalUrl}}: the lead's crmData.proposalUrl when an agent set one, else the path of
-- its proposal page (/p/<slug>), which the mail worker makes absolute with PUBLIC_URL (the
-- database does not know where the app is served).
create function app.template_values(p_lead app.leads) returns jsonb
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'firstName', p_lead.first_name,
      'lastName', coalesce(p_lead.last_name, ''),
      'organizationName', coalesce(p_lead.organization_name, p_lead.company_name, ''),
      'businessType', coalesce(p_lead.business_type, ''),
      'proposalUrl', coalesce(p_lead.crm_data ->> 'proposalUrl',
        (select '/p/' || p.slug from app.proposals p where p.lead_id = p_lead.id and p.published), ''),
      'email', p_lead.email,
      'phone', coalesce(p_lead.phone, ''))
  $$;
comment on function app.template_values(app.leads) is 'The value of every template variable for one lead (empty strings where the lead has none).';
revoke execute on function app.template_values(app.leads) from public;
grant execute on function app.template_values(app.leads) to authenticated, service_role;

-- Every distinct {{…}} in a template that is not a known variable.
create function app.unknown_template_variables(p_text text) returns text[]
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select coalesce(array_agg(distinct m[1]), '{}')
    from pg_catalog.regexp_matches(coalesce(p_text, ''), '\{\{([^{}]*)\}\}', 'g') m
    where not m[1] = any(app.template_variables())
  $$;
comment on function app.unknown_template_variables(text) is 'The {{…}} placeholders in a text that are not template variables.';
revoke execute on function app.unknown_template_variables(text) from public;
grant execute on function app.unknown_template_variables(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Checking a campaign on every write: well-formed steps, known {{variables}} and step
-- conditions, a valid ai_config.
-- ---------------------------------------------------------------------------
create function app._validate_campaign() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_step jsonb;
    v_index integer := 0;
    v_unknown text[];
    v_valid constant text := (select string_agg('{{' || v || '}}', ' ') from unnest(app.template_variables()) v);
  begin
    if jsonb_typeof(new.steps) is distinct from 'array' or jsonb_array_length(new.steps) > 8 then
      perform app.refuse(400, 'invalid_steps', 'A campaign has at most 8 steps',
        'Send steps as a list of 1 to 8 { delayMinutes, subject, body } objects.');
    end if;
    for v_step in select s from jsonb_array_elements(new.steps) s loop
      if jsonb_typeof(v_step) <> 'object'
         or jsonb_typeof(v_step -> 'subject') is distinct from 'string' or length(btrim(v_step ->> 'subject')) not between 1 and 500
         or jsonb_typeof(v_step -> 'body') is distinct from 'string' or length(btrim(v_step ->> 'body')) not between 1 and 50000
         or jsonb_typeof(v_step -> 'delayMinutes') is distinct from 'number'
         or (v_step ->> 'delayMinutes')::numeric not between 0 and 525600
         or (v_step ->> 'delayMinutes')::numeric <> trunc((v_step ->> 'delayMinutes')::numeric) then
        perform app.refuse(400, 'invalid_step', pg_catalog.format('Step %s is not valid', v_index + 1),
          'Each step needs delayMinutes (a whole number 0-525600), subject (1-500 characters) and body (1-50000 characters).');
      end if;
      if v_step ? 'condition' and v_step -> 'condition' <> 'null'::jsonb
         and (jsonb_typeof(v_step -> 'condition') <> 'object'
              or coalesce(v_step -> 'condition' ->> 'skipIf', '') not in ('replied', 'opened', 'clicked', 'meeting_booked')) then
        perform app.refuse(400, 'invalid_step_condition', pg_catalog.format('Step %s has an unknown condition', v_index + 1),
          'condition is { "skipIf": "replied" | "opened" | "clicked" | "meeting_booked" }: the step is skipped when the lead did that since enrolling.');
      end if;
      v_unknown := app.unknown_template_variables((v_step ->> 'subject') || ' ' || (v_step ->> 'body'));
      if cardinality(v_unknown) > 0 then
        perform app.refuse(400, 'unknown_template_variable',
          pg_catalog.format('Step %s uses unknown template variable(s): %s', v_index + 1,
            (select string_agg('{{' || u || '}}', ', ') from unnest(v_unknown) u)),
          'Valid variables (written exactly like this): ' || v_valid || '.');
      end if;
      v_index := v_index + 1;
    end loop;
    if (new.ai_config ? 'maxRetries' and (jsonb_typeof(new.ai_config -> 'maxRetries') <> 'number'
          or (new.ai_config ->> 'maxRetries')::numeric not in (0, 1, 2, 3, 4, 5)))
       or (new.ai_config ? 'model' and jsonb_typeof(new.ai_config -> 'model') <> 'string')
       or (new.ai_config ? 'tone' and jsonb_typeof(new.ai_config -> 'tone') <> 'string') then
      perform app.refuse(400, 'invalid_ai_config', 'ai_config is not valid',
        'Send ai_config as { "model": "gpt-4o-mini", "tone": "friendly", "maxRetries": 2 } (maxRetries 0-5; every field optional).');
    end if;
    return new;
  end;
  $$;
comment on function app._validate_campaign() is 'Trigger: refuses steps that are not 1-8 well-formed steps, unknown {{variables}} (naming them and listing the valid ones), unknown conditions and a malformed ai_config.';
revoke execute on function app._validate_campaign() from public;

create trigger campaigns_validate before insert or update of steps, ai_config on app.campaigns
  for each row execute function app._validate_campaign();

-- ---------------------------------------------------------------------------
-- Send settings: a time zone Postgres knows, and a row for every new org.
-- ---------------------------------------------------------------------------
create function app._valid_time_zone() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if not exists (select from pg_catalog.pg_timezone_names z where z.name = new.time_zone) then
      perform app.refuse(400, 'invalid_time_zone', pg_catalog.format('"%s" is not a time zone', new.time_zone),
        'Send an IANA time zone such as "Europe/Berlin", "America/New_York" or "UTC".');
    end if;
    return new;
  end;
  $$;
comment on function app._valid_time_zone() is 'Trigger: refuses a time zone Postgres does not know.';
revoke execute on function app._valid_time_zone() from public;

create trigger campaign_settings_valid_time_zone before insert or update of time_zone on app.campaign_settings
  for each row execute function app._valid_time_zone();

create function app._create_campaign_settings() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    insert into app.campaign_settings (org_id) values (new.id) on conflict do nothing;
    return null;
  end;
  $$;
comment on function app._create_campaign_settings() is 'Trigger: every new org gets its send settings row with the defaults.';
revoke execute on function app._create_campaign_settings() from public;

create trigger orgs_create_campaign_settings after insert on app.orgs
  for each row execute function app._create_campaign_settings();

-- =============================================================================================
-- sql/72_enrollments.sql
-- =============================================================================================
-- Enrolments: a lead going through a campaign's steps, with a readable history, and the
-- org's suppression list.
--   * app.enrollments: a lead in a campaign, at most once at a time (active, then completed
--     or stopped with the reason);
--   * app.enrollment_history: what happened to an enrolment, step by step;
--   * app.email_suppressions: addresses the org never emails again;
--   * app._enroll, the one way in: by hand (app.enroll_lead, POST /campaigns/{id}/enroll),
--     by POST /email/send-sequence, or by the event trigger; app._finish_enrollment, the
--     one way out.
-- Elsewhere: the events_40_campaigns trigger on app.events enrols leads when an event
-- matches an active campaign's trigger, and stops enrolments on reply, meeting booked,
-- unsubscribe, hard bounce and a move into a won or lost stage (76_campaign_events.sql,
-- with app.send_sequence). Due steps go out through the outbox (74_outbox.sql), which also
-- holds app.enrollment_json, the API's view of an enrolment: it reads the outbox.

-- ---------------------------------------------------------------------------
-- Enrolments and their history
-- ---------------------------------------------------------------------------
create table app.enrollments (
  id text primary key default app.new_id('enr'),
  org_id text not null references app.orgs (id) on delete cascade,
  campaign_id text not null,
  lead_id text not null,
  status text not null default 'active' check (status in ('active', 'completed', 'stopped')),
  -- The next step to send (0-based) and when it is due; null while that step is in the outbox.
  current_step integer not null default 0 check (current_step between 0 and 8),
  next_step_at timestamptz,
  -- Why the due step is waiting (a guardrail), until it goes out.
  deferred_reason text,
  source text not null check (source in ('manual', 'trigger', 'send_sequence')),
  trigger_event_id text,
  enrolled_at timestamptz not null default now(),
  finished_at timestamptz,
  stop_reason text,
  constraint enrollments_campaign_fkey foreign key (org_id, campaign_id) references app.campaigns (org_id, id) on delete cascade,
  constraint enrollments_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade,
  constraint enrollments_org_id_id_key unique (org_id, id),
  constraint enrollments_finished_check check ((status = 'active') = (finished_at is null))
);
comment on table app.enrollments is 'A lead in a campaign: active (next step and when), completed, or stopped with the reason.';
-- A lead is in a campaign at most once at a time.
create unique index enrollments_active_key on app.enrollments (org_id, campaign_id, lead_id) where status = 'active';
create index enrollments_org_campaign_idx on app.enrollments (org_id, campaign_id, enrolled_at desc);
create index enrollments_org_lead_idx on app.enrollments (org_id, lead_id, finished_at desc);
create index enrollments_due_idx on app.enrollments (next_step_at) where status = 'active' and next_step_at is not null;

alter table app.enrollments enable row level security;
alter table app.enrollments force row level security;
create policy "Enrolments are visible to their own org" on app.enrollments
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.enrollments to authenticated;
grant all on app.enrollments to service_role;

create table app.enrollment_history (
  id bigint generated always as identity primary key,
  org_id text not null references app.orgs (id) on delete cascade,
  enrollment_id text not null,
  at timestamptz not null,
  kind text not null check (kind in ('enrolled', 'queued', 'deferred', 'skipped', 'claimed', 'sent', 'retry',
    'failed', 'unconfirmed', 'canceled', 'completed', 'stopped')),
  step_index integer,
  detail text,
  constraint enrollment_history_enrollment_fkey foreign key (org_id, enrollment_id) references app.enrollments (org_id, id) on delete cascade
);
comment on table app.enrollment_history is 'What happened to an enrolment, step by step: queued, deferred or skipped by a guardrail (with the reason), sent, failed, stopped.';
create index enrollment_history_org_enrollment_idx on app.enrollment_history (org_id, enrollment_id, at, id);

alter table app.enrollment_history enable row level security;
alter table app.enrollment_history force row level security;
create policy "Enrolment history is visible to its own org" on app.enrollment_history
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.enrollment_history to authenticated;
grant all on app.enrollment_history to service_role;

-- ---------------------------------------------------------------------------
-- Suppressions: addresses the org never emails again, keyed by lower(email).
-- ---------------------------------------------------------------------------
create table app.email_suppressions (
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  email_key text not null check (email_key = lower(email_key) and length(email_key) between 3 and 320),
  reason text not null check (reason in ('unsubscribed', 'bounced', 'complained', 'manual')),
  lead_id text,
  detail text check (length(detail) <= 2000),
  created_at timestamptz not null default now(),
  primary key (org_id, email_key)
);
comment on table app.email_suppressions is 'The org''s suppression list: no campaign email goes to these addresses (unsubscribed, hard-bounced, complained, added by hand).';
select app.make_org_private('app.email_suppressions', 'Suppressions');
grant select, insert, delete on app.email_suppressions to authenticated;
grant all on app.email_suppressions to service_role;

-- ---------------------------------------------------------------------------
-- The history: every change of an enrolment appends one entry.
-- ---------------------------------------------------------------------------
create function app._log_enrollment(p_org_id text, p_enrollment_id text, p_kind text, p_step integer, p_detail text, p_at timestamptz)
  returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.enrollment_history (org_id, enrollment_id, kind, step_index, detail, at)
    values (p_org_id, p_enrollment_id, p_kind, p_step, p_detail, p_at)
  $$;
comment on function app._log_enrollment(text, text, text, integer, text, timestamptz) is 'Appends one entry to an enrolment''s history.';
revoke execute on function app._log_enrollment(text, text, text, integer, text, timestamptz) from public;

-- ---------------------------------------------------------------------------
-- Enrolling: the one way in. Returns null when the lead is already active in the
-- campaign (the unique index decides, so concurrent enrolments make one row).
-- ---------------------------------------------------------------------------
create function app._enroll(p_org_id text, p_campaign_id text, p_lead_id text, p_source text,
  p_event_id text, p_now timestamptz)
  returns text
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_id text;
    v_first_delay integer;
  begin
    select coalesce((c.steps -> 0 ->> 'delayMinutes')::integer, 0) into v_first_delay
    from app.campaigns c where c.id = p_campaign_id and c.org_id = p_org_id;
    insert into app.enrollments (org_id, campaign_id, lead_id, source, trigger_event_id, enrolled_at, next_step_at)
    values (p_org_id, p_campaign_id, p_lead_id, p_source, p_event_id, p_now,
            p_now + pg_catalog.make_interval(mins => v_first_delay))
    on conflict (org_id, campaign_id, lead_id) where status = 'active' do nothing
    returning id into v_id;
    if v_id is not null then
      perform app._log_enrollment(p_org_id, v_id, 'enrolled', null, p_source, p_now);
    end if;
    return v_id;
  end;
  $$;
comment on function app._enroll(text, text, text, text, text, timestamptz) is 'Enrols a lead in a campaign (first step due after its delay); null if the lead is already active in it.';
revoke execute on function app._enroll(text, text, text, text, text, timestamptz) from public;

-- When the 48 h cooldown after the lead's last finished enrolment ends (null: none running).
create function app.enrollment_cooldown_until(p_org_id text, p_lead_id text, p_exclude text, p_now timestamptz)
  returns timestamptz
  language sql stable
  security definer
  set search_path = ''
  as $$
    select max(e.finished_at) + interval '48 hours'
    from app.enrollments e
    where e.org_id = p_org_id and e.lead_id = p_lead_id and e.id is distinct from p_exclude
      and e.finished_at > p_now - interval '48 hours'
  $$;
comment on function app.enrollment_cooldown_until(text, text, text, timestamptz) is 'The end of the 48 h cooldown that follows the lead''s most recently finished enrolment, or null when none is running.';
revoke execute on function app.enrollment_cooldown_until(text, text, text, timestamptz) from public;
grant execute on function app.enrollment_cooldown_until(text, text, text, timestamptz) to service_role;

-- security definer to reach app._enroll (shared with the event trigger); every read is
-- filtered to the caller's org explicitly.
create function app.enroll_lead(p_campaign_id text, p_lead_id text, p_now timestamptz default now())
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id constant text := app.current_org_id();
    v_campaign app.campaigns;
    v_lead app.leads;
    v_id text;
    v_active text;
  begin
    select * into v_campaign from app.campaigns c where c.id = p_campaign_id and c.org_id = v_org_id;
    if v_campaign.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Campaign %s was not found', p_campaign_id),
        'Check the id with GET /api/openclaw/campaigns; campaigns of other workspaces are not visible.');
    end if;
    select * into v_lead from app.leads l where l.id = p_lead_id and l.org_id = v_org_id and l.deleted_at is null;
    if v_lead.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId with GET /api/openclaw/leads; soft-deleted leads and leads of other workspaces cannot be enrolled.');
    end if;
    if v_campaign.status = 'archived' then
      perform app.refuse(409, 'campaign_archived', pg_catalog.format('Campaign %s is archived', p_campaign_id),
        'Archived campaigns take no new leads. Create a new campaign with POST /api/openclaw/campaigns.');
    end if;
    if exists (select from app.email_suppressions s where s.org_id = v_org_id and s.email_key = v_lead.email_key) then
      perform app.refuse(409, 'email_suppressed',
        pg_catalog.format('%s is on this workspace''s suppression list (%s)', v_lead.email,
          (select s.reason from app.email_suppressions s where s.org_id = v_org_id and s.email_key = v_lead.email_key)),
        'Unsubscribed and bounced addresses are never emailed again. Use another channel for this lead.');
    end if;
    v_id := app._enroll(v_org_id, p_campaign_id, p_lead_id, 'manual', null, p_now);
    if v_id is null then
      select e.id into v_active from app.enrollments e
      where e.org_id = v_org_id and e.campaign_id = p_campaign_id and e.lead_id = p_lead_id and e.status = 'active';
      perform app.refuse(409, 'already_enrolled',
        pg_catalog.format('Lead %s is already enrolled in campaign %s (enrolment %s)', p_lead_id, p_campaign_id, v_active),
        pg_catalog.format('A lead runs through a campaign once at a time. GET /api/openclaw/campaigns/%s/enrollments shows its progress; enrol it again after this enrolment completes or stops.', p_campaign_id));
    end if;
    return app.enrollment_json(v_id);
  end;
  $$;
comment on function app.enroll_lead(text, text, timestamptz) is 'Enrols one of the caller''s leads in one of its campaigns; 404 unknown, 409 archived campaign, suppressed address or already active. A finished enrolment may be restarted (its first step waits out the 48 h cooldown).';
revoke execute on function app.enroll_lead(text, text, timestamptz) from public;
grant execute on function app.enroll_lead(text, text, timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Stopping and finishing: one place, used by the event trigger, archiving, guardrails
-- and failed sends. Queued (unclaimed) mail of a stopped enrolment is canceled; mail
-- already claimed is stopped at begin_send.
-- ---------------------------------------------------------------------------
create function app._finish_enrollment(p_enrollment_id text, p_status text, p_reason text, p_now timestamptz)
  returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id text;
  begin
    update app.enrollments e
    set status = p_status, finished_at = p_now, stop_reason = p_reason, next_step_at = null, deferred_reason = null
    where e.id = p_enrollment_id and e.status = 'active'
    returning e.org_id into v_org_id;
    if v_org_id is null then
      return false;
    end if;
    perform app._log_enrollment(v_org_id, p_enrollment_id, p_status, null, p_reason, p_now);
    -- Mail not yet claimed will not go out (app.outbox is created by the next migration).
    update app.outbox o set status = 'canceled', reason = 'enrolment ' || p_status || ': ' || p_reason
    where o.enrollment_id = p_enrollment_id and o.status = 'queued';
    return true;
  end;
  $$;
comment on function app._finish_enrollment(text, text, text, timestamptz) is 'Ends an active enrolment as completed or stopped (with the reason), logs it and cancels its queued mail; false if it was not active.';
revoke execute on function app._finish_enrollment(text, text, text, timestamptz) from public;

-- =============================================================================================
-- sql/74_outbox.sql
-- =============================================================================================
-- The outbox: each campaign email, from the moment its step is due until the SMTP server
-- took it (or it failed, was skipped by a guardrail, or the enrolment stopped). A pg_cron
-- job (app.enqueue_due_steps) moves due steps in; mail workers claim rows with
-- `for update skip locked` (app.claim_outbox), mark them sending right before SMTP
-- (app.begin_send), and record the result (app.complete_send, app.fail_send). The
-- guardrails (app._send_guard) are checked when a step is queued and again when it is
-- claimed.
--
--   queued → claimed → sending → sent
--      ↑        │         ├──→ queued again (transient failure, backoff) / failed
--      └────────┘         └──→ unconfirmed (lease ran out while sending: never resent)
--   (lease ran out before sending: nothing went out, queued again)
--   queued → skipped (guardrail) / canceled (enrolment stopped)
--
-- Also here: app.unsubscribe_tokens (the secret in each lead's unsubscribe link) and
-- app.enrollment_json, the API's view of an enrolment, which reads the outbox.
-- Elsewhere: the pg_cron jobs enqueue-due-steps, release-mail-claims and, on Supabase,
-- mail-worker-http (90_jobs.sql); enrolments and the suppression list
-- (72_enrollments.sql); the unsubscribe link and the bounce webhook
-- (76_campaign_events.sql).

-- ---------------------------------------------------------------------------
-- The outbox
-- ---------------------------------------------------------------------------
create table app.outbox (
  id text primary key default app.new_id('msg'),
  org_id text not null references app.orgs (id) on delete cascade,
  enrollment_id text not null,
  campaign_id text not null,
  lead_id text not null,
  step_index integer not null check (step_index between 0 and 7),
  status text not null default 'queued'
    check (status in ('queued', 'claimed', 'sending', 'sent', 'failed', 'skipped', 'canceled', 'unconfirmed')),
  to_email text not null,
  next_attempt_at timestamptz not null,
  attempts integer not null default 0 check (attempts >= 0),
  claimed_by text,
  -- When the row was claimed: the time rate limits count it from.
  claimed_at timestamptz,
  lease_until timestamptz,
  message_id text check (length(message_id) <= 998),
  smtp_response text check (length(smtp_response) <= 2000),
  -- As sent (rendered, possibly rewritten by AI).
  subject text,
  body text,
  warnings text[] not null default '{}',
  reason text,
  last_error text check (length(last_error) <= 2000),
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The same step of an enrolment never goes out twice.
  constraint outbox_enrollment_step_key unique (enrollment_id, step_index),
  constraint outbox_enrollment_fkey foreign key (org_id, enrollment_id) references app.enrollments (org_id, id) on delete cascade,
  constraint outbox_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.outbox is 'Campaign emails from due to sent: status, attempts, the claiming worker and its lease, the Message-ID, and why a row was deferred, skipped or failed.';
create index outbox_org_enrollment_idx on app.outbox (org_id, enrollment_id, step_index);
create index outbox_org_lead_counted_idx on app.outbox (org_id, lead_id, claimed_at)
  where status in ('claimed', 'sending', 'sent', 'unconfirmed');
create index outbox_org_counted_idx on app.outbox (org_id, claimed_at)
  where status in ('claimed', 'sending', 'sent', 'unconfirmed');
create index outbox_queued_idx on app.outbox (next_attempt_at, id) where status = 'queued';
create index outbox_leased_idx on app.outbox (lease_until) where status in ('claimed', 'sending');
create index outbox_message_id_idx on app.outbox (org_id, message_id) where message_id is not null;

create trigger outbox_touch_updated_at before update on app.outbox
  for each row execute function app._touch_updated_at();

alter table app.outbox enable row level security;
alter table app.outbox force row level security;
create policy "Outbox rows are visible to their own org" on app.outbox
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.outbox to authenticated;
grant all on app.outbox to service_role;

-- ---------------------------------------------------------------------------
-- Unsubscribe tokens: one unguessable token per lead (244 random bits), made when the
-- lead's first email is claimed.
-- ---------------------------------------------------------------------------
create table app.unsubscribe_tokens (
  token text primary key default (replace(pg_catalog.gen_random_uuid()::text, '-', '') || replace(pg_catalog.gen_random_uuid()::text, '-', '')),
  org_id text not null references app.orgs (id) on delete cascade,
  lead_id text not null,
  created_at timestamptz not null default now(),
  constraint unsubscribe_tokens_org_lead_key unique (org_id, lead_id),
  constraint unsubscribe_tokens_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.unsubscribe_tokens is 'The secret in each lead''s unsubscribe link (GET/POST /email/unsubscribe/{token}).';
alter table app.unsubscribe_tokens enable row level security;
alter table app.unsubscribe_tokens force row level security;
create policy "Unsubscribe tokens are visible to their own org" on app.unsubscribe_tokens
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.unsubscribe_tokens to authenticated;
grant all on app.unsubscribe_tokens to service_role;

-- ---------------------------------------------------------------------------
-- The guardrails, in one function: may step p_step_index of this enrolment go out at
-- p_now? action: send | defer (until) | skip (this step; the enrolment moves on) |
-- stop (the enrolment) | cancel (the enrolment already ended).
-- ---------------------------------------------------------------------------
create function app._send_guard(p_enrollment_id text, p_step_index integer, p_now timestamptz,
  out action text, out reason text, out until timestamptz)
  language plpgsql stable
  security definer
  set search_path = ''
  as $$
  declare
    v_e app.enrollments;
    v_lead app.leads;
    v_step jsonb;
    v_settings app.campaign_settings;
    v_suppressed text;
    v_count integer;
    v_latest timestamptz;
    v_local timestamp;
    v_day date;
    v_open timestamptz;
  begin
    action := 'send';
    select * into v_e from app.enrollments e where e.id = p_enrollment_id;
    if v_e.status is distinct from 'active' then
      action := 'cancel';
      reason := 'enrolment ' || coalesce(v_e.status, 'deleted');
      return;
    end if;
    select * into v_lead from app.leads l where l.org_id = v_e.org_id and l.id = v_e.lead_id;
    if v_lead.deleted_at is not null then
      action := 'stop';
      reason := 'lead deleted';
      return;
    end if;
    select s.reason into v_suppressed from app.email_suppressions s where s.org_id = v_e.org_id and s.email_key = v_lead.email_key;
    if v_suppressed is not null then
      action := 'stop';
      reason := 'address suppressed (' || v_suppressed || ')';
      return;
    end if;

    select c.steps -> p_step_index into v_step from app.campaigns c where c.id = v_e.campaign_id;
    if v_step is null then
      action := 'skip';
      reason := 'step no longer in the campaign';
      return;
    end if;
    if v_step -> 'condition' ->> 'skipIf' is not null and exists (
      select from app.events ev
      where ev.org_id = v_e.org_id and ev.lead_id = v_e.lead_id and ev.occurred_at >= v_e.enrolled_at
        and ev.type = case v_step -> 'condition' ->> 'skipIf'
          when 'replied' then 'email_replied' when 'opened' then 'email_opened'
          when 'clicked' then 'cta_clicked' when 'meeting_booked' then 'meeting_booked' end) then
      action := 'skip';
      reason := 'condition skipIf ' || (v_step -> 'condition' ->> 'skipIf') || ' met';
      return;
    end if;

    if p_step_index = 0 then
      until := app.enrollment_cooldown_until(v_e.org_id, v_e.lead_id, v_e.id, p_now);
      if until is not null then
        action := 'defer';
        reason := '48 h cooldown after the lead''s previous sequence ended';
        return;
      end if;
    end if;

    select count(*), max(o.claimed_at) into v_count, v_latest
    from app.outbox o
    where o.org_id = v_e.org_id and o.lead_id = v_e.lead_id and o.status in ('claimed', 'sending', 'sent', 'unconfirmed')
      and o.claimed_at > p_now - interval '1 hour';
    if v_count >= 1 then
      action := 'defer';
      reason := 'at most 1 email per lead per rolling hour';
      until := v_latest + interval '1 hour';
      return;
    end if;
    -- The third most recent send in the last 24 h: once it is 24 h old, a slot is free.
    select o.claimed_at into v_latest
    from app.outbox o
    where o.org_id = v_e.org_id and o.lead_id = v_e.lead_id and o.status in ('claimed', 'sending', 'sent', 'unconfirmed')
      and o.claimed_at > p_now - interval '24 hours'
    order by o.claimed_at desc offset 2 limit 1;
    if v_latest is not null then
      action := 'defer';
      reason := 'at most 3 emails per lead per rolling 24 hours';
      until := v_latest + interval '24 hours';
      return;
    end if;

    select * into v_settings from app.campaign_settings s where s.org_id = v_e.org_id;
    v_local := p_now at time zone v_settings.time_zone;
    select count(*) into v_count
    from app.outbox o
    where o.org_id = v_e.org_id and o.status in ('claimed', 'sending', 'sent', 'unconfirmed')
      and o.claimed_at >= (v_local::date)::timestamp at time zone v_settings.time_zone;
    if v_count >= v_settings.daily_cap then
      action := 'defer';
      reason := pg_catalog.format('workspace daily cap of %s emails reached', v_settings.daily_cap);
      until := (v_local::date + 1)::timestamp at time zone v_settings.time_zone;
      return;
    end if;

    if v_settings.window_start is not null then
      for i in 0..7 loop
        v_day := v_local::date + i;
        continue when v_settings.weekdays_only and extract(isodow from v_day) > 5;
        if i = 0 and v_local::time >= v_settings.window_start and v_local::time < v_settings.window_end then
          return;
        end if;
        v_open := (v_day + v_settings.window_start) at time zone v_settings.time_zone;
        if v_open > p_now then
          action := 'defer';
          reason := pg_catalog.format('outside the send window %s-%s %s%s', pg_catalog.to_char(v_settings.window_start, 'HH24:MI'),
            pg_catalog.to_char(v_settings.window_end, 'HH24:MI'), v_settings.time_zone,
            case when v_settings.weekdays_only then ' on weekdays' else '' end);
          until := v_open;
          return;
        end if;
      end loop;
    end if;
  end;
  $$;
comment on function app._send_guard(text, integer, timestamptz) is 'The send guardrails for one step at p_now: enrolment still active, lead not deleted, address not suppressed, step condition, 48 h cooldown before a first step, 1 per lead per hour, 3 per lead per 24 h, the org''s daily cap and send window; says send, defer (until when), skip, stop or cancel, with the reason.';
revoke execute on function app._send_guard(text, integer, timestamptz) from public;
grant execute on function app._send_guard(text, integer, timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Moving an enrolment on after a step was sent or skipped.
-- ---------------------------------------------------------------------------
create function app._advance_enrollment(p_enrollment_id text, p_step_index integer, p_now timestamptz)
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_steps jsonb;
  begin
    select c.steps into v_steps
    from app.enrollments e join app.campaigns c on c.id = e.campaign_id
    where e.id = p_enrollment_id and e.status = 'active' and e.current_step = p_step_index
    for no key update of e;
    if v_steps is null then
      return;
    end if;
    if p_step_index + 1 >= jsonb_array_length(v_steps) then
      perform app._finish_enrollment(p_enrollment_id, 'completed', pg_catalog.format('all %s steps done', jsonb_array_length(v_steps)), p_now);
    else
      update app.enrollments e
      set current_step = p_step_index + 1, deferred_reason = null,
          next_step_at = p_now + pg_catalog.make_interval(mins => coalesce((v_steps -> (p_step_index + 1) ->> 'delayMinutes')::integer, 0))
      where e.id = p_enrollment_id;
    end if;
  end;
  $$;
comment on function app._advance_enrollment(text, integer, timestamptz) is 'After step p_step_index went out (or was skipped): schedules the next step after its delay, or completes the enrolment.';
revoke execute on function app._advance_enrollment(text, integer, timestamptz) from public;

-- A step the guardrails skip (or that stops the enrolment) still gets its outbox row, so
-- the history shows it and it can never be sent later.
create function app._settle_blocked_step(p_enrollment_id text, p_step_index integer, p_action text, p_reason text, p_now timestamptz)
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_e app.enrollments;
  begin
    select * into v_e from app.enrollments e where e.id = p_enrollment_id;
    insert into app.outbox as o (org_id, enrollment_id, campaign_id, lead_id, step_index, status, to_email, next_attempt_at, reason)
    select v_e.org_id, v_e.id, v_e.campaign_id, v_e.lead_id, p_step_index,
           case when p_action = 'cancel' then 'canceled' else 'skipped' end, l.email, p_now, p_reason
    from app.leads l where l.org_id = v_e.org_id and l.id = v_e.lead_id
    on conflict (enrollment_id, step_index) do update
      set status = excluded.status, reason = excluded.reason, claimed_by = null, lease_until = null
      where o.status in ('queued', 'claimed');
    perform app._log_enrollment(v_e.org_id, v_e.id, case when p_action = 'cancel' then 'canceled' else 'skipped' end, p_step_index, p_reason, p_now);
    if p_action = 'skip' then
      perform app._advance_enrollment(v_e.id, p_step_index, p_now);
    elsif p_action = 'stop' then
      perform app._finish_enrollment(v_e.id, 'stopped', p_reason, p_now);
    end if;
  end;
  $$;
comment on function app._settle_blocked_step(text, integer, text, text, timestamptz) is 'Records a step the guardrails skip, stop or cancel (outbox row + history) and moves the enrolment on or stops it.';
revoke execute on function app._settle_blocked_step(text, integer, text, text, timestamptz) from public;

-- ---------------------------------------------------------------------------
-- pg_cron, every minute: due steps of active enrolments in active campaigns → outbox.
-- ---------------------------------------------------------------------------
create function app.enqueue_due_steps(p_now timestamptz default now()) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_e app.enrollments;
    v_steps integer;
    v_guard record;
    v_queued integer := 0;
  begin
    for v_e in
      select e.* from app.enrollments e
      where e.status = 'active' and e.next_step_at <= p_now
        and exists (select from app.campaigns c where c.id = e.campaign_id and c.status = 'active')
      order by e.next_step_at, e.id
      limit 5000
      for update of e skip locked
    loop
      select jsonb_array_length(c.steps) into v_steps from app.campaigns c where c.id = v_e.campaign_id;
      if v_e.current_step >= v_steps then
        perform app._finish_enrollment(v_e.id, 'completed', pg_catalog.format('all %s steps done', v_steps), p_now);
        continue;
      end if;
      select * into v_guard from app._send_guard(v_e.id, v_e.current_step, p_now) g;
      if v_guard.action = 'send' then
        insert into app.outbox (org_id, enrollment_id, campaign_id, lead_id, step_index, to_email, next_attempt_at)
        select v_e.org_id, v_e.id, v_e.campaign_id, v_e.lead_id, v_e.current_step, l.email, p_now
        from app.leads l where l.org_id = v_e.org_id and l.id = v_e.lead_id
        on conflict (enrollment_id, step_index) do nothing;
        update app.enrollments e set next_step_at = null, deferred_reason = null where e.id = v_e.id;
        perform app._log_enrollment(v_e.org_id, v_e.id, 'queued', v_e.current_step, null, p_now);
        v_queued := v_queued + 1;
      elsif v_guard.action = 'defer' then
        update app.enrollments e set next_step_at = v_guard.until, deferred_reason = v_guard.reason where e.id = v_e.id;
        perform app._log_enrollment(v_e.org_id, v_e.id, 'deferred', v_e.current_step,
          v_guard.reason || ' (until ' || v_guard.until::text || ')', p_now);
      else
        perform app._settle_blocked_step(v_e.id, v_e.current_step, v_guard.action, v_guard.reason, p_now);
      end if;
    end loop;
    return v_queued;
  end;
  $$;
comment on function app.enqueue_due_steps(timestamptz) is 'pg_cron: queues every due step that passes the guardrails; a blocked step is deferred to the next allowed time or skipped, with the reason; returns how many were queued.';
revoke execute on function app.enqueue_due_steps(timestamptz) from public;
grant execute on function app.enqueue_due_steps(timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Crash safety: a claim whose lease ran out before sending began goes back to the queue
-- (nothing was sent); a send whose lease ran out becomes unconfirmed (the SMTP server may
-- have accepted it) and is never sent again automatically.
-- ---------------------------------------------------------------------------
create function app.release_expired_claims(p_now timestamptz default now()) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row record;
    v_count integer := 0;
  begin
    for v_row in
      update app.outbox o
      set status = case when o.status = 'claimed' then 'queued' else 'unconfirmed' end,
          next_attempt_at = case when o.status = 'claimed' then p_now else o.next_attempt_at end,
          claimed_at = case when o.status = 'claimed' then null else o.claimed_at end,
          lease_until = null,
          reason = case when o.status = 'claimed'
            then pg_catalog.format('claim by %s expired at %s before sending began: nothing was sent, queued again', o.claimed_by, o.lease_until)
            else pg_catalog.format('%s began sending but did not confirm before %s: the SMTP server may have accepted it, so it is never resent automatically', o.claimed_by, o.lease_until)
          end
      where o.status in ('claimed', 'sending') and o.lease_until < p_now
      returning o.org_id, o.enrollment_id, o.step_index, o.status, o.reason
    loop
      perform app._log_enrollment(v_row.org_id, v_row.enrollment_id,
        case when v_row.status = 'queued' then 'retry' else 'unconfirmed' end, v_row.step_index, v_row.reason, p_now);
      if v_row.status = 'unconfirmed' then
        -- Treated as probably delivered: the sequence goes on with its next step.
        perform app._advance_enrollment(v_row.enrollment_id, v_row.step_index, p_now);
      end if;
      v_count := v_count + 1;
    end loop;
    return v_count;
  end;
  $$;
comment on function app.release_expired_claims(timestamptz) is 'pg_cron and claim_outbox: expired claims go back to queued (nothing was sent); expired sends become unconfirmed and are never resent; returns how many rows changed.';
revoke execute on function app.release_expired_claims(timestamptz) from public;
grant execute on function app.release_expired_claims(timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Workers: claim, begin, complete or fail.
-- ---------------------------------------------------------------------------
-- What a worker needs to send one row.
create function app._outbox_payload(p_outbox_id text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'id', o.id, 'orgId', o.org_id, 'leadId', o.lead_id, 'campaignId', o.campaign_id,
      'enrollmentId', o.enrollment_id, 'stepIndex', o.step_index, 'attempt', o.attempts,
      'to', o.to_email, 'fromName', coalesce(c.from_name, g.name),
      'subject', c.steps -> o.step_index ->> 'subject', 'body', c.steps -> o.step_index ->> 'body',
      'variables', app.template_values(l),
      'ai', pg_catalog.jsonb_build_object('enabled', c.ai_enabled, 'model', c.ai_config ->> 'model',
        'tone', c.ai_config ->> 'tone', 'maxRetries', coalesce((c.ai_config ->> 'maxRetries')::integer, 2)),
      'enrichment', l.enrichment,
      'unsubscribeToken', t.token)
    from app.outbox o
    join app.campaigns c on c.id = o.campaign_id
    join app.orgs g on g.id = o.org_id
    join app.leads l on l.org_id = o.org_id and l.id = o.lead_id
    left join app.unsubscribe_tokens t on t.org_id = o.org_id and t.lead_id = o.lead_id
    where o.id = p_outbox_id
  $$;
comment on function app._outbox_payload(text) is 'One claimed outbox row as the mail worker receives it: recipient, templates (unrendered), variables, AI settings, enrichment, unsubscribe token.';
revoke execute on function app._outbox_payload(text) from public;

create function app.claim_outbox(p_worker text, p_limit integer default 10, p_lease interval default '2 minutes',
  p_now timestamptz default now())
  returns setof jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.outbox;
    v_guard record;
    v_passed text[] := '{}'::text[];
    v_claimed integer := 0;
  begin
    if p_worker is null or length(p_worker) not between 1 and 200 or p_limit not between 1 and 1000 or p_lease <= interval '0' then
      perform app.refuse(400, 'invalid_claim', 'claim_outbox needs a worker name (1-200 characters), a limit of 1-1000 and a positive lease',
        'Call app.claim_outbox(''worker-1'', 10, ''2 minutes'').');
    end if;
    perform app.release_expired_claims(p_now);
    loop
      exit when v_claimed >= p_limit;
      select o.* into v_row
      from app.outbox o
      where o.status = 'queued' and o.next_attempt_at <= p_now and o.id <> all (v_passed)
        and exists (select from app.campaigns c where c.id = o.campaign_id and c.status = 'active')
      order by o.next_attempt_at, o.id
      limit 1
      for update of o skip locked;
      exit when v_row.id is null;
      -- One claimer per org at a time, so per-lead limits and the daily cap are exact across
      -- workers; another worker passes over this org's rows instead of waiting.
      if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('app.claim_outbox:' || v_row.org_id, 0)) then
        v_passed := v_passed || v_row.id;
        v_row.id := null;
        continue;
      end if;
      select * into v_guard from app._send_guard(v_row.enrollment_id, v_row.step_index, p_now) g;
      if v_guard.action = 'send' then
        insert into app.unsubscribe_tokens (org_id, lead_id) values (v_row.org_id, v_row.lead_id) on conflict do nothing;
        update app.outbox o
        set status = 'claimed', claimed_by = p_worker, claimed_at = p_now, lease_until = p_now + p_lease,
            attempts = o.attempts + 1, reason = null,
            to_email = (select l.email from app.leads l where l.org_id = o.org_id and l.id = o.lead_id)
        where o.id = v_row.id;
        perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'claimed', v_row.step_index, p_worker, p_now);
        v_claimed := v_claimed + 1;
        return next app._outbox_payload(v_row.id);
      elsif v_guard.action = 'defer' then
        update app.outbox o set next_attempt_at = v_guard.until, reason = v_guard.reason where o.id = v_row.id;
        perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'deferred', v_row.step_index,
          v_guard.reason || ' (until ' || v_guard.until::text || ')', p_now);
      else
        perform app._settle_blocked_step(v_row.enrollment_id, v_row.step_index, v_guard.action, v_guard.reason, p_now);
      end if;
      v_row.id := null;
    end loop;
  end;
  $$;
comment on function app.claim_outbox(text, integer, interval, timestamptz) is 'Mail workers: releases expired claims, then claims up to p_limit due rows (skip locked), re-checking the guardrails (blocked rows are deferred or skipped with the reason, not returned); returns what each claimed email needs.';
revoke execute on function app.claim_outbox(text, integer, interval, timestamptz) from public;
grant execute on function app.claim_outbox(text, integer, interval, timestamptz) to service_role;

create function app.begin_send(p_outbox_id text, p_worker text, p_now timestamptz default now()) returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.outbox;
    v_status text;
  begin
    select * into v_row from app.outbox o where o.id = p_outbox_id for update;
    if v_row.id is null or v_row.status <> 'claimed' or v_row.claimed_by is distinct from p_worker or v_row.lease_until < p_now then
      return false;
    end if;
    -- The lead may have replied, unsubscribed or bounced since the claim.
    select e.status into v_status from app.enrollments e where e.id = v_row.enrollment_id;
    if v_status <> 'active' then
      perform app._settle_blocked_step(v_row.enrollment_id, v_row.step_index, 'cancel', 'enrolment ' || v_status || ' before sending', p_now);
      return false;
    end if;
    -- The sending lease: a worker that has not confirmed by then is presumed dead.
    update app.outbox o set status = 'sending', lease_until = p_now + interval '10 minutes' where o.id = p_outbox_id;
    return true;
  end;
  $$;
comment on function app.begin_send(text, text, timestamptz) is 'Mail workers, right before SMTP: claimed → sending (10-minute sending lease); false when the lease was lost or the enrolment stopped (then do not send).';
revoke execute on function app.begin_send(text, text, timestamptz) from public;
grant execute on function app.begin_send(text, text, timestamptz) to service_role;

create function app._own_outbox_row(p_outbox_id text, p_worker text, p_statuses text[]) returns app.outbox
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.outbox;
  begin
    select * into v_row from app.outbox o where o.id = p_outbox_id for update;
    if v_row.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Outbox row %s was not found', p_outbox_id), 'Pass the id claim_outbox returned.');
    end if;
    if v_row.claimed_by is distinct from p_worker or not v_row.status = any (p_statuses) then
      perform app.refuse(409, 'not_claimed_by_worker',
        pg_catalog.format('Outbox row %s is %s (claimed by %s), not %s by %s', p_outbox_id, v_row.status,
          coalesce(v_row.claimed_by, 'nobody'), array_to_string(p_statuses, '/'), p_worker),
        'Only the worker holding the claim records its result; claim again with app.claim_outbox.');
    end if;
    return v_row;
  end;
  $$;
comment on function app._own_outbox_row(text, text, text[]) is 'Locks an outbox row the worker holds in one of the given statuses, or refuses (404 unknown, 409 not this worker''s).';
revoke execute on function app._own_outbox_row(text, text, text[]) from public;

create function app.complete_send(p_outbox_id text, p_worker text, p_message_id text, p_smtp_response text,
  p_subject text, p_body text, p_warnings text[] default '{}', p_now timestamptz default now())
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    -- A late confirmation of an unconfirmed row is the truth: it was sent.
    v_row constant app.outbox := app._own_outbox_row(p_outbox_id, p_worker, array['sending', 'unconfirmed']);
    v_actor constant text := 'mail-worker:' || p_worker;
  begin
    update app.outbox o
    set status = 'sent', sent_at = p_now, message_id = p_message_id, smtp_response = left(p_smtp_response, 2000),
        subject = p_subject, body = p_body, warnings = coalesce(p_warnings, '{}'), lease_until = null, reason = null
    where o.id = p_outbox_id;
    insert into app.touchpoints (org_id, lead_id, type, direction, summary, occurred_at, metadata, source, created_by)
    values (v_row.org_id, v_row.lead_id, 'email', 'outbound', left(p_subject, 10000), p_now,
      pg_catalog.jsonb_build_object('messageId', p_message_id, 'outboxId', v_row.id, 'campaignId', v_row.campaign_id,
        'enrollmentId', v_row.enrollment_id, 'step', v_row.step_index),
      'campaign', v_actor);
    insert into app.events (org_id, lead_id, type, occurred_at, source, actor, external_id, data)
    values (v_row.org_id, v_row.lead_id, 'email_sent', p_now, 'campaign', v_actor, p_message_id,
      pg_catalog.jsonb_build_object('campaignId', v_row.campaign_id, 'enrollmentId', v_row.enrollment_id,
        'step', v_row.step_index, 'subject', left(p_subject, 500), 'messageId', p_message_id))
    on conflict (org_id, type, external_id) where external_id is not null do nothing;
    perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'sent', v_row.step_index, p_message_id, p_now);
    if v_row.status = 'sending' then
      perform app._advance_enrollment(v_row.enrollment_id, v_row.step_index, p_now);
    end if;
  end;
  $$;
comment on function app.complete_send(text, text, text, text, text, text, text[], timestamptz) is 'Mail workers, after the SMTP server accepted: sent, with the rendered subject/body, Message-ID and warnings; logs a touchpoint and an email_sent event; schedules the next step or completes the enrolment.';
revoke execute on function app.complete_send(text, text, text, text, text, text, text[], timestamptz) from public;
grant execute on function app.complete_send(text, text, text, text, text, text, text[], timestamptz) to service_role;

create function app.fail_send(p_outbox_id text, p_worker text, p_error text, p_permanent boolean,
  p_now timestamptz default now())
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row constant app.outbox := app._own_outbox_row(p_outbox_id, p_worker, array['claimed', 'sending']);
    v_retry_at timestamptz;
  begin
    if not p_permanent and v_row.attempts < 5 then
      -- Backoff 1, 2, 4, 8 minutes after attempts 1-4; the 5th failure is final.
      v_retry_at := p_now + pg_catalog.make_interval(mins => (2 ^ (v_row.attempts - 1))::integer);
      update app.outbox o
      set status = 'queued', next_attempt_at = v_retry_at, last_error = left(p_error, 2000),
          claimed_by = null, claimed_at = null, lease_until = null,
          reason = pg_catalog.format('attempt %s failed; retry at %s', v_row.attempts, v_retry_at)
      where o.id = p_outbox_id;
      perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'retry', v_row.step_index,
        pg_catalog.format('attempt %s failed (%s); retry at %s', v_row.attempts, left(p_error, 500), v_retry_at), p_now);
    else
      update app.outbox o
      set status = 'failed', last_error = left(p_error, 2000), lease_until = null,
          reason = case when p_permanent then 'permanent failure' else pg_catalog.format('gave up after %s attempts', v_row.attempts) end
      where o.id = p_outbox_id;
      perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'failed', v_row.step_index, left(p_error, 500), p_now);
      perform app._finish_enrollment(v_row.enrollment_id, 'stopped', 'send failed: ' || left(p_error, 500), p_now);
    end if;
  end;
  $$;
comment on function app.fail_send(text, text, text, boolean, timestamptz) is 'Mail workers, when SMTP refused or failed: a transient failure is queued again after a backoff (1, 2, 4, 8 min; final after 5 attempts); a permanent one fails the row and stops the enrolment.';
revoke execute on function app.fail_send(text, text, text, boolean, timestamptz) from public;
grant execute on function app.fail_send(text, text, text, boolean, timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- The API's view of an enrolment, with its history and the cooldown it waits for. It is
-- plain SQL that reads the outbox, so it lives after the outbox, not with enrolments.
-- ---------------------------------------------------------------------------
create function app.enrollment_json(p_enrollment_id text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'id', e.id, 'campaignId', e.campaign_id, 'leadId', e.lead_id, 'status', e.status,
      'currentStep', e.current_step, 'totalSteps', jsonb_array_length(c.steps),
      'nextStepAt', e.next_step_at, 'deferredReason', e.deferred_reason,
      'source', e.source, 'enrolledAt', e.enrolled_at, 'finishedAt', e.finished_at, 'stopReason', e.stop_reason,
      'cooldownUntil', case when e.status = 'active' and e.current_step = 0
        then app.enrollment_cooldown_until(e.org_id, e.lead_id, e.id, pg_catalog.now()) end,
      'history', coalesce((
        select jsonb_agg(jsonb_build_object('at', h.at, 'event', h.kind, 'step', h.step_index, 'detail', h.detail) order by h.at, h.id)
        from app.enrollment_history h where h.org_id = e.org_id and h.enrollment_id = e.id), '[]'),
      'messages', coalesce((
        select jsonb_agg(jsonb_build_object('id', o.id, 'step', o.step_index, 'status', o.status, 'attempts', o.attempts,
          'to', o.to_email, 'messageId', o.message_id, 'subject', o.subject, 'reason', o.reason, 'lastError', o.last_error,
          'warnings', o.warnings, 'sentAt', o.sent_at, 'nextAttemptAt', case when o.status = 'queued' then o.next_attempt_at end)
          order by o.step_index)
        from app.outbox o where o.org_id = e.org_id and o.enrollment_id = e.id), '[]'))
    from app.enrollments e
    join app.campaigns c on c.id = e.campaign_id
    where e.id = p_enrollment_id and e.org_id = app.current_org_id()
  $$;
comment on function app.enrollment_json(text) is 'One of the caller''s enrolments as the API shows it: status, next step, deferral reason, cooldown, history and its messages.';
revoke execute on function app.enrollment_json(text) from public;
grant execute on function app.enrollment_json(text) to authenticated, service_role;

-- =============================================================================================
-- sql/76_campaign_events.sql
-- =============================================================================================
-- What starts and stops enrolments, whoever records the event, and the campaign actions
-- that go with them.
--   * the events_40_campaigns trigger on app.events (54_events.sql): enrols leads in active
--     campaigns whose trigger matches; stops enrolments on a reply, a booked meeting, an
--     unsubscribe, a hard bounce or a move into a won or lost stage; unsubscribes and hard
--     bounces also put the address on the org's suppression list;
--   * the campaigns_archived trigger on app.campaigns: archiving stops a campaign's
--     enrolments;
--   * app.send_sequence (POST /email/send-sequence): an ad-hoc campaign for one lead;
--   * app.unsubscribe and app.unsubscribe_status: the public unsubscribe link;
--   * app.record_bounce: the bounce webhook.
-- Campaigns are in 70_campaigns.sql, enrolments and suppressions in 72_enrollments.sql,
-- unsubscribe tokens and the outbox in 74_outbox.sql.

-- ---------------------------------------------------------------------------
-- Events: suppress, stop, enrol. Triggers fire in name order, so events_40_campaigns runs
-- after the rollup (events_10_, 54_events.sql), scoring (events_20_, 56_scoring.sql) and
-- automation (events_30_, 62_automation.sql) triggers.
-- ---------------------------------------------------------------------------
create function app._campaigns_on_event() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    e alias for new;
    v_hard_bounce constant boolean := e.type = 'email_bounced' and coalesce(e.data ->> 'type', 'hard') <> 'soft';
    v_reason text;
    v_enrollment text;
    v_campaign text;
  begin
    if e.type = 'unsubscribed' or v_hard_bounce then
      insert into app.email_suppressions (org_id, email_key, reason, lead_id, detail)
      select e.org_id, l.email_key, case when e.type = 'unsubscribed' then 'unsubscribed' else 'bounced' end, l.id,
             left(e.data ->> 'reason', 2000)
      from app.leads l where l.org_id = e.org_id and l.id = e.lead_id
      on conflict do nothing;
    end if;

    v_reason := case
      when e.type in ('email_replied', 'meeting_booked', 'unsubscribed') then e.type
      when v_hard_bounce then 'email_bounced'
      when e.type = 'stage_changed' then (
        select 'stage_' || s.outcome from app.stages s
        where s.org_id = e.org_id and s.id = e.data ->> 'toStageId' and s.outcome <> 'open')
    end;
    if v_reason is not null then
      for v_enrollment in
        select x.id from app.enrollments x where x.org_id = e.org_id and x.lead_id = e.lead_id and x.status = 'active'
      loop
        perform app._finish_enrollment(v_enrollment, 'stopped', v_reason, e.occurred_at);
      end loop;
    end if;

    if e.type in ('quiz_completed', 'proposal_viewed', 'cta_clicked', 'meeting_booked', 'stage_changed')
       and exists (
         select from app.leads l join app.stages s on s.id = l.stage_id
         where l.org_id = e.org_id and l.id = e.lead_id and l.deleted_at is null and s.outcome = 'open'
           and not exists (select from app.email_suppressions x where x.org_id = l.org_id and x.email_key = l.email_key)) then
      for v_campaign in
        select c.id from app.campaigns c
        where c.org_id = e.org_id and c.status = 'active' and c.kind = 'sequence' and c.trigger_event = e.type
          and (e.type <> 'stage_changed' or c.trigger_stage_id = e.data ->> 'toStageId')
        order by c.created_at, c.id
      loop
        perform app._enroll(e.org_id, v_campaign, e.lead_id, 'trigger', e.id, e.occurred_at);
      end loop;
    end if;
    return null;
  end;
  $$;
comment on function app._campaigns_on_event() is 'Trigger: suppresses unsubscribed and hard-bounced addresses; stops the lead''s enrolments on reply, meeting booked, unsubscribe, hard bounce or a won/lost stage; enrols an open, unsuppressed lead in active campaigns whose trigger (and stage) matches.';
revoke execute on function app._campaigns_on_event() from public;

create trigger events_40_campaigns after insert on app.events
  for each row execute function app._campaigns_on_event();

-- ---------------------------------------------------------------------------
-- Archiving a campaign (DELETE /campaigns/{id}) stops its enrolments; history stays.
-- ---------------------------------------------------------------------------
create function app._campaign_archived() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_enrollment text;
  begin
    for v_enrollment in
      select x.id from app.enrollments x where x.org_id = new.org_id and x.campaign_id = new.id and x.status = 'active'
    loop
      perform app._finish_enrollment(v_enrollment, 'stopped', 'campaign archived', pg_catalog.now());
    end loop;
    return null;
  end;
  $$;
comment on function app._campaign_archived() is 'Trigger: archiving a campaign stops its active enrolments (their queued mail is canceled).';
revoke execute on function app._campaign_archived() from public;

create trigger campaigns_archived after update of status on app.campaigns
  for each row when (new.status = 'archived' and old.status <> 'archived')
  execute function app._campaign_archived();

-- ---------------------------------------------------------------------------
-- POST /email/send-sequence: an ad-hoc campaign for one lead (not counted against the
-- plan), enrolled at once.
-- ---------------------------------------------------------------------------
create function app.send_sequence(p_lead_id text, p_steps jsonb, p_name text default null, p_now timestamptz default now())
  returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_campaign_id text;
    v_first_name text;
  begin
    select l.first_name into v_first_name from app.leads l where l.id = p_lead_id;
    insert into app.campaigns (name, kind, status, steps)
    values (coalesce(p_name, 'Sequence for ' || coalesce(v_first_name, p_lead_id)), 'adhoc', 'active', p_steps)
    returning id into v_campaign_id;
    return app.enroll_lead(v_campaign_id, p_lead_id, p_now);
  end;
  $$;
comment on function app.send_sequence(text, jsonb, text, timestamptz) is 'Creates an ad-hoc campaign (kind adhoc: not counted against the plan) from the given steps and enrols the lead in it.';
revoke execute on function app.send_sequence(text, jsonb, text, timestamptz) from public;
grant execute on function app.send_sequence(text, jsonb, text, timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The public unsubscribe link: no API key, only the lead's secret token.
-- ---------------------------------------------------------------------------
create function app.unsubscribe(p_token text, p_now timestamptz default now()) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_token app.unsubscribe_tokens;
    v_email text;
    v_email_key text;
    v_org_name text;
    v_already boolean;
    v_active integer;
  begin
    select * into v_token from app.unsubscribe_tokens t where t.token = p_token;
    if v_token.token is null then
      perform app.refuse(404, 'unknown_unsubscribe_token', 'This unsubscribe link is not valid',
        'Use the link from the email exactly as it was sent.');
    end if;
    select l.email, l.email_key, o.name into v_email, v_email_key, v_org_name
    from app.leads l join app.orgs o on o.id = l.org_id
    where l.org_id = v_token.org_id and l.id = v_token.lead_id;
    v_already := exists (select from app.email_suppressions s where s.org_id = v_token.org_id and s.email_key = v_email_key);
    select count(*) into v_active from app.enrollments e
    where e.org_id = v_token.org_id and e.lead_id = v_token.lead_id and e.status = 'active';
    if not v_already then
      insert into app.events (org_id, lead_id, type, occurred_at, source, actor, data)
      values (v_token.org_id, v_token.lead_id, 'unsubscribed', p_now, 'unsubscribe_link', 'recipient',
        pg_catalog.jsonb_build_object('email', v_email));
    end if;
    return pg_catalog.jsonb_build_object('email', v_email, 'organizationName', v_org_name,
      'alreadyUnsubscribed', v_already, 'stoppedEnrollments', case when v_already then 0 else v_active end);
  end;
  $$;
comment on function app.unsubscribe(text, timestamptz) is 'Public: suppresses the token''s lead''s address for its org, records an unsubscribed event (which stops its enrolments); repeating it changes nothing.';
revoke execute on function app.unsubscribe(text, timestamptz) from public;
grant execute on function app.unsubscribe(text, timestamptz) to anon, authenticated, service_role;

create function app.unsubscribe_status(p_token text) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
  as $$
  declare
    v_result jsonb;
  begin
    select pg_catalog.jsonb_build_object('email', l.email, 'organizationName', o.name,
      'unsubscribed', exists (select from app.email_suppressions s where s.org_id = l.org_id and s.email_key = l.email_key))
    into v_result
    from app.unsubscribe_tokens t
    join app.leads l on l.org_id = t.org_id and l.id = t.lead_id
    join app.orgs o on o.id = t.org_id
    where t.token = p_token;
    if v_result is null then
      perform app.refuse(404, 'unknown_unsubscribe_token', 'This unsubscribe link is not valid',
        'Use the link from the email exactly as it was sent.');
    end if;
    return v_result;
  end;
  $$;
comment on function app.unsubscribe_status(text) is 'Public: the address and sender behind an unsubscribe token and whether it is already unsubscribed (for the confirmation page); changes nothing.';
revoke execute on function app.unsubscribe_status(text) from public;
grant execute on function app.unsubscribe_status(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The bounce webhook: a hard bounce suppresses the address and stops the enrolments of
-- every lead of the org with it (through email_bounced events); a soft one is recorded.
-- ---------------------------------------------------------------------------
create function app.record_bounce(p_email text, p_type text, p_reason text default null, p_message_id text default null,
  p_now timestamptz default now())
  returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org_id constant text := app.current_org_id();
    v_email_key constant text := lower(btrim(p_email));
    v_leads text[];
    v_active_before integer;
    v_active_after integer;
  begin
    if p_type is null or p_type not in ('hard', 'soft') then
      perform app.refuse(400, 'invalid_bounce_type', pg_catalog.format('"%s" is not a bounce type', p_type),
        'Send type "hard" (the address does not exist: it is suppressed) or "soft" (a temporary problem: recorded only).');
    end if;
    select coalesce(array_agg(distinct l.id), '{}') into v_leads
    from app.leads l
    where l.org_id = v_org_id
      and (l.email_key = v_email_key
           or l.id in (select o.lead_id from app.outbox o where o.org_id = v_org_id and o.message_id = p_message_id));
    select count(*) into v_active_before from app.enrollments e
    where e.org_id = v_org_id and e.lead_id = any (v_leads) and e.status = 'active';

    insert into app.events (org_id, lead_id, type, occurred_at, data, external_id)
    select v_org_id, x.id, 'email_bounced', p_now,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('type', p_type, 'reason', left(p_reason, 2000),
        'email', p_email, 'messageId', p_message_id)),
      case when p_message_id is not null then 'bounce:' || p_type || ':' || p_message_id end
    from unnest(v_leads) x(id)
    on conflict (org_id, type, external_id) where external_id is not null do nothing;
    if p_type = 'hard' then
      -- The address is suppressed even when no lead has it (yet).
      insert into app.email_suppressions (org_id, email_key, reason, detail)
      values (v_org_id, v_email_key, 'bounced', left(p_reason, 2000))
      on conflict do nothing;
    end if;

    select count(*) into v_active_after from app.enrollments e
    where e.org_id = v_org_id and e.lead_id = any (v_leads) and e.status = 'active';
    return pg_catalog.jsonb_build_object('email', v_email_key, 'type', p_type, 'suppressed', p_type = 'hard',
      'leadIds', to_jsonb(v_leads), 'stoppedEnrollments', v_active_before - v_active_after);
  end;
  $$;
comment on function app.record_bounce(text, text, text, text, timestamptz) is 'Bounce webhook: records email_bounced for every lead of the caller''s org with the address (or the message); hard bounces suppress the address and stop enrolments, soft ones are recorded only.';
revoke execute on function app.record_bounce(text, text, text, text, timestamptz) from public;
grant execute on function app.record_bounce(text, text, text, text, timestamptz) to authenticated, service_role;

-- =============================================================================================
-- sql/78_plan_limits.sql
-- =============================================================================================
-- Plan limits: how many leads and campaigns an org's tier allows, enforced in the
-- inserting transaction whoever inserts. The limits are data in app.tiers
-- (20_orgs_keys.sql; a null limit means unlimited).
--   * app.org_tier (GET /org/tier): the current org's tier, its limits and what counts
--     against them;
--   * the lead limit: the leads_enforce_limit trigger on app.leads (table in 40_leads.sql);
--   * the campaign limit: the campaigns_enforce_limit and
--     campaigns_enforce_limit_on_unarchive triggers on app.campaigns (table in
--     70_campaigns.sql).
-- The limit triggers answer 402 with a hint to upgrade or make room. The file comes after
-- 70_campaigns.sql because app.org_tier, plain SQL, reads app.campaigns.

-- ---------------------------------------------------------------------------
-- Usage: the tier, its limits and the counts they apply to.
-- ---------------------------------------------------------------------------
create function app.org_tier() returns table (
  org_id text, tier text, lead_limit integer, campaign_limit integer,
  leads integer, live_leads integer, deleted_leads integer,
  campaigns integer, archived_campaigns integer)
  language sql stable
  set search_path = ''
  as $$
    select o.id, o.tier, t.lead_limit, t.campaign_limit, l.total, l.total - l.deleted, l.deleted,
           c.counted, c.archived
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    cross join lateral (
      select count(*)::integer as total, (count(*) filter (where x.deleted_at is not null))::integer as deleted
      from app.leads x where x.org_id = o.id
    ) l
    cross join lateral (
      select (count(*) filter (where x.status <> 'archived'))::integer as counted,
             (count(*) filter (where x.status = 'archived'))::integer as archived
      from app.campaigns x where x.org_id = o.id and x.kind = 'sequence'
    ) c
    where o.id = app.current_org_id()
  $$;
comment on function app.org_tier() is 'The current org''s tier, its limits and how many leads and campaigns (ad-hoc sequences excluded) count against them.';
revoke execute on function app.org_tier() from public;
grant execute on function app.org_tier() to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The plan's lead limit. Locking the org row serialises concurrent inserts of one
-- org (other orgs are not affected), so the count is exact: 50 parallel inserts at
-- 95 of 100 end at exactly 100. Soft-deleted leads count until permanently deleted,
-- so restoring a lead can never take an org over its limit.
-- ---------------------------------------------------------------------------
create function app._enforce_lead_limit() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_tier text;
    v_limit integer;
    v_count integer;
  begin
    select o.tier, t.lead_limit into v_tier, v_limit
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    where o.id = new.org_id
    for no key update of o;

    select count(*) into v_count from app.leads l where l.org_id = new.org_id;

    if v_count >= v_limit then
      perform app.refuse(402, 'lead_limit_reached',
        pg_catalog.format('Lead limit reached: the %s tier allows %s leads and this workspace has %s', v_tier, v_limit, v_count),
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or permanently delete leads you no longer need (DELETE /api/openclaw/leads/{id}?permanent=true; soft-deleted leads still count).');
    end if;
    return new;
  end;
  $$;
comment on function app._enforce_lead_limit() is 'Trigger: refuses a new lead once the org holds its tier''s lead limit (soft-deleted leads included); exact under concurrency.';
revoke execute on function app._enforce_lead_limit() from public;

create trigger leads_enforce_limit before insert on app.leads
  for each row execute function app._enforce_lead_limit();

-- ---------------------------------------------------------------------------
-- The plan's campaign limit, exact under concurrency like the lead limit. Archived
-- campaigns do not count: archiving frees a slot without losing history, and taking a
-- campaign out of the archive is checked against the limit like a new one. Ad-hoc
-- campaigns (POST /email/send-sequence) do not count either: the limit trigger and the
-- usage report skip them.
-- ---------------------------------------------------------------------------
create function app._enforce_campaign_limit() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_tier text;
    v_limit integer;
    v_count integer;
  begin
    if new.kind = 'adhoc' then
      return new;
    end if;
    select o.tier, t.campaign_limit into v_tier, v_limit
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    where o.id = new.org_id
    for no key update of o;

    if v_limit is null then
      return new;
    end if;

    select count(*) into v_count
    from app.campaigns c
    where c.org_id = new.org_id and c.status <> 'archived' and c.kind = 'sequence' and c.id <> new.id;

    if v_count >= v_limit then
      perform app.refuse(402, 'campaign_limit_reached',
        pg_catalog.format('Campaign limit reached: the %s tier allows %s campaigns and this workspace has %s', v_tier, v_limit, v_count),
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or archive a campaign you no longer run (DELETE /api/openclaw/campaigns/{campaignId}; archived campaigns do not count).');
    end if;
    return new;
  end;
  $$;
comment on function app._enforce_campaign_limit() is 'Trigger: refuses a new (or un-archived) campaign once the org runs its tier''s campaign limit; archived and ad-hoc campaigns do not count; exact under concurrency.';
revoke execute on function app._enforce_campaign_limit() from public;

create trigger campaigns_enforce_limit before insert on app.campaigns
  for each row when (new.status <> 'archived')
  execute function app._enforce_campaign_limit();
create trigger campaigns_enforce_limit_on_unarchive before update of status on app.campaigns
  for each row when (old.status = 'archived' and new.status <> 'archived')
  execute function app._enforce_campaign_limit();

-- =============================================================================================
-- sql/82_calendly.sql
-- =============================================================================================
-- Calendly and meeting bots.
--   * app.calendly_connections: one per org: the Calendly user and organization it speaks
--     for, its webhook subscription, the unguessable token in our webhook URL, the signing
--     key Calendly signs deliveries with, and the personal access token, encrypted by the
--     edge (AES-256-GCM; the database never sees the plaintext or the key). Tenants read
--     the status columns only: neither the signing key nor the ciphertext is selectable;
--   * app.calendly_events: each delivery received, unique per (event, invitee): a replay
--     answers with the first outcome and writes nothing;
--   * app.meetings: each booked meeting (one per Calendly invitee), its times, join and
--     cancel/reschedule links, and the recording bot scheduled for it, if any;
--   * app.ingest_calendly_event: the whole webhook in one call, as the connection's org:
--     claim the delivery, create or update the lead by email, log a meeting touchpoint,
--     record meeting_booked / meeting_canceled, keep the meeting row;
--   * the bot bookkeeping (scheduled, canceled, transcript stored as a note) the edge
--     reports after talking to the recording provider outside any transaction, and the
--     sweep that fails bots whose scheduling was interrupted (the pg_cron job
--     fail-interrupted-meeting-bots, 90_jobs.sql).
-- meeting_booked and meeting_canceled go through app.record_event (54_events.sql), so the
-- event triggers (scoring, automation, campaigns) react to a booking like to any event.

-- ---------------------------------------------------------------------------
-- Connections
-- ---------------------------------------------------------------------------
create table app.calendly_connections (
  org_id text primary key default app.current_org_id() references app.orgs (id) on delete cascade,
  webhook_token text not null constraint calendly_connections_webhook_token_key unique
    constraint calendly_connections_webhook_token_check check (webhook_token ~ '^[0-9a-f]{48}$'),
  signing_key text not null check (length(signing_key) between 32 and 200),
  -- base64(iv || AES-256-GCM ciphertext || tag), written by the edge.
  token_ciphertext text not null check (length(token_ciphertext) between 16 and 10000),
  user_uri text not null check (length(user_uri) <= 500),
  organization_uri text check (length(organization_uri) <= 500),
  subscription_uri text not null check (length(subscription_uri) <= 500),
  user_name text check (length(user_name) <= 300),
  user_email text check (length(user_email) <= 320),
  scheduling_url text check (length(scheduling_url) <= 2000),
  connected_at timestamptz not null default now(),
  last_event_at timestamptz
);
comment on table app.calendly_connections is 'Each org''s Calendly connection: user, webhook subscription, webhook URL token and signing key, and the access token encrypted by the edge (never returned).';

select app.make_org_private('app.calendly_connections', 'Calendly connections');
grant select (org_id, webhook_token, token_ciphertext, user_uri, organization_uri, subscription_uri, user_name, user_email,
              scheduling_url, connected_at, last_event_at) on app.calendly_connections to authenticated;
grant delete on app.calendly_connections to authenticated;
grant all on app.calendly_connections to service_role;

-- ---------------------------------------------------------------------------
-- Deliveries and meetings
-- ---------------------------------------------------------------------------
create table app.calendly_events (
  id text primary key default app.new_id('cev'),
  org_id text not null references app.orgs (id) on delete cascade,
  event text not null check (event in ('invitee.created', 'invitee.canceled')),
  invitee_uri text not null check (length(invitee_uri) between 1 and 500),
  received_at timestamptz not null default now(),
  result jsonb,
  constraint calendly_events_org_event_invitee_key unique (org_id, event, invitee_uri)
);
comment on table app.calendly_events is 'Calendly deliveries received, unique per org, event and invitee: a replay gets the first outcome and writes nothing.';
create index calendly_events_org_received_idx on app.calendly_events (org_id, received_at desc);

alter table app.calendly_events enable row level security;
alter table app.calendly_events force row level security;
create policy "Calendly events are visible to their own org" on app.calendly_events
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.calendly_events to authenticated;
grant all on app.calendly_events to service_role;

create table app.meetings (
  id text primary key default app.new_id('mtg'),
  org_id text not null references app.orgs (id) on delete cascade,
  lead_id text not null,
  invitee_uri text not null check (length(invitee_uri) between 1 and 500),
  scheduled_event_uri text check (length(scheduled_event_uri) <= 500),
  event_name text check (length(event_name) <= 500),
  starts_at timestamptz,
  ends_at timestamptz,
  join_url text check (length(join_url) <= 2000),
  cancel_url text check (length(cancel_url) <= 2000),
  reschedule_url text check (length(reschedule_url) <= 2000),
  status text not null default 'booked' check (status in ('booked', 'canceled')),
  canceled_reason text check (length(canceled_reason) <= 2000),
  touchpoint_id text,
  bot_status text not null default 'not_scheduled'
    check (bot_status in ('not_scheduled', 'scheduling', 'scheduled', 'failed', 'canceled', 'transcribed')),
  bot_id text check (length(bot_id) <= 200),
  bot_note text check (length(bot_note) <= 1000),
  transcript_note_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint meetings_org_invitee_key unique (org_id, invitee_uri),
  constraint meetings_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.meetings is 'Meetings booked through Calendly (one per invitee): times, links, status, and the recording bot scheduled for it.';
create index meetings_org_lead_idx on app.meetings (org_id, lead_id, starts_at desc);
create unique index meetings_bot_key on app.meetings (bot_id) where bot_id is not null;
-- The sweep's lookup across orgs: only meetings whose bot is being scheduled, a handful.
create index meetings_bot_scheduling_idx on app.meetings (updated_at) where bot_status = 'scheduling';

create trigger meetings_touch_updated_at before update on app.meetings
  for each row execute function app._touch_updated_at();

-- Written by the webhook functions below; tenants read their own.
alter table app.meetings enable row level security;
alter table app.meetings force row level security;
create policy "Meetings are visible to their own org" on app.meetings
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.meetings to authenticated;
grant all on app.meetings to service_role;

-- ---------------------------------------------------------------------------
-- Connecting: one connection per org, replaced by a reconnect; the webhook looks it up by
-- the token in its URL.
-- ---------------------------------------------------------------------------
-- Connect or reconnect (replacing the previous connection), as the current org. Returns the
-- replaced subscription and token so the edge can delete that subscription at Calendly.
create function app.save_calendly_connection(
  p_webhook_token text,
  p_signing_key text,
  p_token_ciphertext text,
  p_user jsonb,
  p_subscription_uri text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id constant text := app.current_org_id();
    v_previous app.calendly_connections;
  begin
    if v_org_id is null then
      perform app.refuse(401, 'not_authenticated', 'No workspace for this request', 'Send your API key.');
    end if;
    select c.* into v_previous from app.calendly_connections c where c.org_id = v_org_id for update;
    insert into app.calendly_connections as c (org_id, webhook_token, signing_key, token_ciphertext, user_uri,
      organization_uri, subscription_uri, user_name, user_email, scheduling_url, connected_at, last_event_at)
    values (v_org_id, p_webhook_token, p_signing_key, p_token_ciphertext, p_user ->> 'uri',
      p_user ->> 'current_organization', p_subscription_uri, p_user ->> 'name', p_user ->> 'email',
      p_user ->> 'scheduling_url', pg_catalog.now(), null)
    on conflict (org_id) do update set
      webhook_token = excluded.webhook_token, signing_key = excluded.signing_key,
      token_ciphertext = excluded.token_ciphertext, user_uri = excluded.user_uri,
      organization_uri = excluded.organization_uri, subscription_uri = excluded.subscription_uri,
      user_name = excluded.user_name, user_email = excluded.user_email, scheduling_url = excluded.scheduling_url,
      connected_at = excluded.connected_at, last_event_at = null;
    return pg_catalog.jsonb_build_object(
      'previousSubscriptionUri', v_previous.subscription_uri,
      'previousTokenCiphertext', v_previous.token_ciphertext);
  end;
  $$;
comment on function app.save_calendly_connection(text, text, text, jsonb, text) is 'Stores (or replaces) the caller org''s Calendly connection; returns the replaced subscription URI and encrypted token, if any.';
revoke execute on function app.save_calendly_connection(text, text, text, jsonb, text) from public;
grant execute on function app.save_calendly_connection(text, text, text, jsonb, text) to authenticated, service_role;

-- The webhook edge's one lookup before it has checked anything: the key to verify with.
create function app.calendly_signing_key(p_webhook_token text) returns text
  language sql stable
  security definer
  set search_path = ''
  as $$
    select c.signing_key from app.calendly_connections c where c.webhook_token = p_webhook_token
  $$;
comment on function app.calendly_signing_key(text) is 'The signing key of the Calendly connection behind a webhook URL token; null for an unknown token.';
revoke execute on function app.calendly_signing_key(text) from public;
grant execute on function app.calendly_signing_key(text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Ingest one verified delivery
-- ---------------------------------------------------------------------------
-- Calendly times are ISO 8601; a missing or malformed one is null, never an error.
create function app._calendly_time(p_value text) returns timestamptz
  language plpgsql stable
  set search_path = ''
  as $$
  begin
    return p_value::timestamptz;
  exception when data_exception then
    return null;
  end;
  $$;
comment on function app._calendly_time(text) is 'An ISO 8601 time from a Calendly payload, or null when absent or malformed.';
revoke execute on function app._calendly_time(text) from public;

create function app.ingest_calendly_event(
  p_webhook_token text,
  p_event text,
  p_payload jsonb,
  p_bots_enabled boolean default false
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_conn app.calendly_connections;
    v_invitee jsonb := p_payload -> 'payload';
    v_scheduled jsonb := p_payload -> 'payload' -> 'scheduled_event';
    v_invitee_uri text := p_payload -> 'payload' ->> 'uri';
    v_email text := pg_catalog.btrim(p_payload -> 'payload' ->> 'email');
    v_name text := pg_catalog.btrim(p_payload -> 'payload' ->> 'name');
    v_first text;
    v_last text;
    v_claim text;
    v_result jsonb;
    v_lead_id text;
    v_created boolean := false;
    v_meeting app.meetings;
    v_booked boolean := p_event = 'invitee.created';
    v_starts timestamptz := app._calendly_time(p_payload -> 'payload' -> 'scheduled_event' ->> 'start_time');
    v_join_url text := p_payload -> 'payload' -> 'scheduled_event' -> 'location' ->> 'join_url';
    v_reason text := p_payload -> 'payload' -> 'cancellation' ->> 'reason';
    v_occurred timestamptz;
    v_bot jsonb;
    v_touchpoint text;
    v_event jsonb;
  begin
    select c.* into v_conn from app.calendly_connections c where c.webhook_token = p_webhook_token;
    if v_conn.org_id is null then
      perform app.refuse(404, 'not_found', 'No Calendly connection for this webhook URL',
        'The connection may have been removed or replaced: POST /api/openclaw/integrations/calendly creates a new subscription.');
    end if;
    if p_event is null or p_event not in ('invitee.created', 'invitee.canceled') then
      return pg_catalog.jsonb_build_object('outcome', 'ignored', 'event', p_event, 'duplicate', false,
        'reason', pg_catalog.format('Only invitee.created and invitee.canceled are handled, not %s', coalesce(p_event, 'an event without a name')));
    end if;
    if v_invitee_uri is null or v_email is null or v_email = '' then
      perform app.refuse(400, 'invalid_payload', 'The delivery has no payload.uri or payload.email',
        'Calendly invitee events carry the invitee as payload { uri, email, name, scheduled_event, … }.');
    end if;

    -- Claim the delivery first: a concurrent redelivery waits here for this one to finish.
    insert into app.calendly_events as e (org_id, event, invitee_uri)
    values (v_conn.org_id, p_event, v_invitee_uri)
    on conflict (org_id, event, invitee_uri) do nothing
    returning e.id into v_claim;
    if v_claim is null then
      select e.result into v_result from app.calendly_events e
      where e.org_id = v_conn.org_id and e.event = p_event and e.invitee_uri = v_invitee_uri;
      -- The bot may have been scheduled since the first answer: say where it stands now.
      select m.* into v_meeting from app.meetings m where m.org_id = v_conn.org_id and m.invitee_uri = v_invitee_uri;
      if v_result ? 'meetingBot' and v_meeting.id is not null then
        v_result := v_result || pg_catalog.jsonb_build_object('meetingBot', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
          'status', v_meeting.bot_status, 'botId', v_meeting.bot_id, 'note', v_meeting.bot_note)));
      end if;
      return coalesce(v_result, '{}'::jsonb) || pg_catalog.jsonb_build_object('duplicate', true);
    end if;

    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_conn.org_id, 'actor', 'calendly', 'source', 'calendly')::text, true);

    v_first := nullif(pg_catalog.btrim(v_invitee ->> 'first_name'), '');
    v_last := nullif(pg_catalog.btrim(v_invitee ->> 'last_name'), '');
    if v_name is not null and v_name <> '' then
      v_first := coalesce(v_first, substring(v_name from '^\S+'));
      v_last := coalesce(v_last, nullif(pg_catalog.btrim(pg_catalog.regexp_replace(v_name, '^\S+', '')), ''));
    end if;

    -- Create or update the lead by email (the loop covers a concurrent delivery creating it).
    for v_attempt in 1..2 loop
      update app.leads l set
        first_name = coalesce(v_first, l.first_name),
        last_name = coalesce(v_last, l.last_name)
      where l.org_id = v_conn.org_id and l.email_key = pg_catalog.lower(v_email) and l.deleted_at is null
      returning l.id into v_lead_id;
      exit when v_lead_id is not null;
      insert into app.leads as l (org_id, first_name, last_name, email)
      values (v_conn.org_id, coalesce(v_first, pg_catalog.split_part(v_email, '@', 1)), v_last, v_email)
      on conflict (org_id, email_key) where deleted_at is null do nothing
      returning l.id into v_lead_id;
      v_created := v_lead_id is not null;
      exit when v_created;
    end loop;

    -- Bots: only for a booking, with a video link, when a provider is configured.
    v_bot := case
      when not v_booked then null
      when not p_bots_enabled then pg_catalog.jsonb_build_object('status', 'not_scheduled',
        'note', 'no meeting bot scheduled: RECALL_API_KEY is not set')
      when v_join_url is null then pg_catalog.jsonb_build_object('status', 'not_scheduled',
        'note', 'no meeting bot scheduled: the meeting has no video join URL')
      else pg_catalog.jsonb_build_object('status', 'scheduling', 'note', 'a meeting bot is being scheduled')
    end;

    -- The booking (or the cancellation) happened now-ish; the meeting's start is metadata.
    v_occurred := least(pg_catalog.now(), coalesce(
      app._calendly_time(case when v_booked then v_invitee ->> 'created_at' else v_invitee ->> 'updated_at' end),
      pg_catalog.now()));

    insert into app.touchpoints as t (org_id, lead_id, type, direction, summary, occurred_at, metadata)
    values (v_conn.org_id, v_lead_id, 'meeting', 'inbound',
      left(pg_catalog.format('%s %s%s', case when v_booked then 'Booked' else 'Canceled' end,
        coalesce(v_scheduled ->> 'name', 'a meeting'),
        case when v_starts is not null then ' for ' || pg_catalog.to_char(pg_catalog.timezone('UTC', v_starts), 'YYYY-MM-DD HH24:MI "UTC"') else '' end)
        || case when not v_booked and v_reason is not null and v_reason <> '' then ': ' || v_reason else '' end, 10000),
      v_occurred,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'provider', 'calendly', 'event', p_event, 'inviteeUri', v_invitee_uri,
        'scheduledEventUri', v_scheduled ->> 'uri', 'eventTypeName', v_scheduled ->> 'name',
        'startTime', v_scheduled ->> 'start_time', 'endTime', v_scheduled ->> 'end_time',
        'joinUrl', v_join_url, 'locationType', v_scheduled -> 'location' ->> 'type',
        'cancelUrl', v_invitee ->> 'cancel_url', 'rescheduleUrl', v_invitee ->> 'reschedule_url',
        'rescheduled', v_invitee -> 'rescheduled',
        'canceledBy', v_invitee -> 'cancellation' ->> 'canceled_by', 'cancelReason', v_reason,
        'meetingBot', v_bot)))
    returning t.id into v_touchpoint;

    insert into app.meetings as m (org_id, lead_id, invitee_uri, scheduled_event_uri, event_name, starts_at, ends_at,
      join_url, cancel_url, reschedule_url, status, canceled_reason, touchpoint_id, bot_status, bot_note)
    values (v_conn.org_id, v_lead_id, v_invitee_uri, v_scheduled ->> 'uri', v_scheduled ->> 'name', v_starts,
      app._calendly_time(v_scheduled ->> 'end_time'), v_join_url, v_invitee ->> 'cancel_url', v_invitee ->> 'reschedule_url',
      case when v_booked then 'booked' else 'canceled' end, case when not v_booked then v_reason end, v_touchpoint,
      coalesce(v_bot ->> 'status', 'not_scheduled'), v_bot ->> 'note')
    on conflict (org_id, invitee_uri) do update set
      status = excluded.status,
      canceled_reason = coalesce(excluded.canceled_reason, m.canceled_reason),
      touchpoint_id = case when excluded.status = 'booked' then excluded.touchpoint_id else m.touchpoint_id end
    returning m.* into v_meeting;

    v_event := app.record_event(v_lead_id, case when v_booked then 'meeting_booked' else 'meeting_canceled' end,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'startsAt', v_scheduled ->> 'start_time', 'url', v_join_url, 'eventTypeName', v_scheduled ->> 'name',
        'meetingId', v_meeting.id, 'reason', case when not v_booked then v_reason end,
        'rescheduled', case when not v_booked then v_invitee -> 'rescheduled' end)),
      v_occurred, v_invitee_uri);

    v_result := pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
      'outcome', case when v_created then 'created' else 'updated' end,
      'event', p_event, 'leadId', v_lead_id, 'email', v_email, 'meetingId', v_meeting.id,
      'touchpointId', v_touchpoint, 'eventId', v_event ->> 'id', 'startsAt', v_scheduled ->> 'start_time',
      'joinUrl', v_join_url,
      'meetingBot', coalesce(v_bot, case when v_meeting.bot_id is not null
        then pg_catalog.jsonb_build_object('status', v_meeting.bot_status, 'botId', v_meeting.bot_id) end)));
    update app.calendly_events e set result = v_result where e.id = v_claim;
    update app.calendly_connections c set last_event_at = pg_catalog.now() where c.org_id = v_conn.org_id;

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_result || pg_catalog.jsonb_build_object('duplicate', false);
  end;
  $$;
comment on function app.ingest_calendly_event(text, text, jsonb, boolean) is 'Ingests one verified Calendly delivery for the connection behind the token: idempotent per (event, invitee); creates or updates the lead by email, logs a meeting touchpoint, keeps the meeting row and records meeting_booked or meeting_canceled, all or nothing.';
revoke execute on function app.ingest_calendly_event(text, text, jsonb, boolean) from public;
grant execute on function app.ingest_calendly_event(text, text, jsonb, boolean) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Meeting bots: what the recording provider did, reported by the edge afterwards.
-- ---------------------------------------------------------------------------
create function app.record_meeting_bot(
  p_webhook_token text,
  p_meeting_id text,
  p_status text,
  p_bot_id text default null,
  p_note text default null
) returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_meeting app.meetings;
  begin
    update app.meetings m set
      bot_status = p_status,
      bot_id = coalesce(p_bot_id, m.bot_id),
      bot_note = p_note
    from app.calendly_connections c
    where c.webhook_token = p_webhook_token and m.org_id = c.org_id and m.id = p_meeting_id
    returning m.* into v_meeting;
    if v_meeting.id is null then
      perform app.refuse(404, 'not_found', 'No such meeting for this Calendly connection', 'Check the meeting id.');
    end if;
    -- The booking's touchpoint says what became of its bot.
    update app.touchpoints t set metadata = t.metadata || pg_catalog.jsonb_build_object('meetingBot',
        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('status', p_status, 'botId', v_meeting.bot_id, 'note', p_note)))
    where t.org_id = v_meeting.org_id and t.id = v_meeting.touchpoint_id;
  end;
  $$;
comment on function app.record_meeting_bot(text, text, text, text, text) is 'Records what became of a meeting''s recording bot (scheduled with its id, failed, canceled), on the meeting and its booking touchpoint; only for meetings of the token''s connection.';
revoke execute on function app.record_meeting_bot(text, text, text, text, text) from public;
grant execute on function app.record_meeting_bot(text, text, text, text, text) to anon, service_role;

-- The transcript webhook names a bot; this finds its meeting (bot ids are the provider's).
create function app.meeting_for_bot(p_bot_id text)
  returns table (meeting_id text, lead_id text, event_name text, transcript_note_id text)
  language sql stable
  security definer
  set search_path = ''
  as $$
    select m.id, m.lead_id, m.event_name, m.transcript_note_id from app.meetings m where m.bot_id = p_bot_id
  $$;
comment on function app.meeting_for_bot(text) is 'The meeting a recording bot was scheduled for: id, lead, event name and the transcript note if already stored.';
revoke execute on function app.meeting_for_bot(text) from public;
grant execute on function app.meeting_for_bot(text) to anon, service_role;

create function app.store_meeting_transcript(p_bot_id text, p_summary text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_meeting app.meetings;
    v_note text;
  begin
    select m.* into v_meeting from app.meetings m where m.bot_id = p_bot_id for update;
    if v_meeting.id is null then
      perform app.refuse(404, 'not_found', 'No meeting has this bot', 'Only bots scheduled for Calendly bookings are known here.');
    end if;
    if v_meeting.transcript_note_id is not null then
      return pg_catalog.jsonb_build_object('meetingId', v_meeting.id, 'leadId', v_meeting.lead_id,
        'noteId', v_meeting.transcript_note_id, 'duplicate', true);
    end if;
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_meeting.org_id, 'actor', 'recall', 'source', 'recall')::text, true);
    insert into app.notes as n (org_id, lead_id, type, content)
    values (v_meeting.org_id, v_meeting.lead_id, 'transcript_summary', left(p_summary, 100000))
    returning n.id into v_note;
    update app.meetings m set transcript_note_id = v_note, bot_status = 'transcribed' where m.id = v_meeting.id;
    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return pg_catalog.jsonb_build_object('meetingId', v_meeting.id, 'leadId', v_meeting.lead_id, 'noteId', v_note, 'duplicate', false);
  end;
  $$;
comment on function app.store_meeting_transcript(text, text) is 'Stores a meeting bot''s transcript summary as a transcript_summary note on the meeting''s lead, once per meeting (a repeat returns the first note).';
revoke execute on function app.store_meeting_transcript(text, text) from public;
grant execute on function app.store_meeting_transcript(text, text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Interrupted bot scheduling. A booked meeting's bot is 'scheduling' from the webhook's
-- commit until the edge records Recall's answer (app.record_meeting_bot), a call bounded
-- by a timeout of seconds. A process that dies in between leaves it 'scheduling' for
-- good; this sweep, run by pg_cron, says what happened instead: 'failed', with a note on
-- the meeting and its booking touchpoint. It does not retry: Recall may have created the
-- bot before the process died, and a second one would join the meeting too. An answer
-- recorded after the sweep still wins.
-- ---------------------------------------------------------------------------
create function app.fail_interrupted_meeting_bots(
  p_after interval default '10 minutes',
  p_now timestamptz default now()
) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    with stale as (
      select m.id from app.meetings m
      where m.bot_status = 'scheduling' and m.updated_at < p_now - p_after
      for update of m skip locked
    ), failed as (
      update app.meetings m set
        bot_status = 'failed',
        bot_note = pg_catalog.format('no meeting bot scheduled: scheduling was interrupted before Recall''s answer was recorded. '
          || 'Recall may still have a bot for this meeting (its metadata has meeting_id %s): check the Recall dashboard, '
          || 'or have someone record the meeting; a new booking schedules its own bot.', m.id)
      from stale s
      where m.id = s.id
      returning m.org_id, m.touchpoint_id, m.bot_id, m.bot_note
    ), noted as (
      -- The booking's touchpoint says what became of its bot, as app.record_meeting_bot does.
      update app.touchpoints t set metadata = t.metadata || pg_catalog.jsonb_build_object('meetingBot',
          pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('status', 'failed', 'botId', f.bot_id, 'note', f.bot_note)))
      from failed f
      where t.org_id = f.org_id and t.id = f.touchpoint_id
    )
    select count(*)::integer into v_count from failed;
    return v_count;
  end;
  $$;
comment on function app.fail_interrupted_meeting_bots(interval, timestamptz) is 'Marks meeting bots left ''scheduling'' for longer than p_after (the process died before recording Recall''s answer) as ''failed'' with a note saying so and what to do, on the meeting and its booking touchpoint, in every org; returns how many.';
revoke execute on function app.fail_interrupted_meeting_bots(interval, timestamptz) from public;
grant execute on function app.fail_interrupted_meeting_bots(interval, timestamptz) to service_role;

-- =============================================================================================
-- sql/84_quizzes.sql
-- =============================================================================================
-- Quizzes: an org defines questions whose options carry points, and result bands that turn
-- a 0-100 score into a label and a message. A published quiz has a public, unguessable
-- address (/q/{slug}); whoever answers it gives their email, and one call
-- (app.submit_quiz) checks the answers, scores them, creates or updates the lead, stores
-- the submission and records a quiz_completed event, which feeds the lead's engagement,
-- score, automation and campaigns.
--
--   * app.quizzes: the definition, normalised and checked by a trigger for every writer;
--   * app.quiz_submissions: one row per attempt, unique per quiz and attempt id, so a
--     resubmitted attempt (a double click, a retry) answers with its first result;
--   * scoring: points of the chosen options / the most points the quiz can give, as 0-100;
--   * app.public_quiz (what the page shows), app.submit_quiz (taking it), app.delete_quiz.
-- The event is recorded through app.record_event (54_events.sql); a new lead is subject
-- to the plan's lead limit (78_plan_limits.sql).

-- ---------------------------------------------------------------------------
-- Quizzes
-- ---------------------------------------------------------------------------
create table app.quizzes (
  id text primary key default app.new_id('quiz'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  title text not null constraint quizzes_title_check check (length(btrim(title)) between 1 and 200),
  description text constraint quizzes_description_check check (length(description) <= 2000),
  slug text not null constraint quizzes_slug_check check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 60),
  questions jsonb not null,
  result_bands jsonb not null,
  status text not null default 'draft' constraint quizzes_status_check check (status in ('draft', 'published')),
  collect_name boolean not null default true,
  collect_phone boolean not null default false,
  -- Set instead of deleting a quiz that has submissions: those stay readable, the page goes.
  archived_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint quizzes_org_id_id_key unique (org_id, id)
);
comment on table app.quizzes is 'Quizzes per org: questions with scored options and result bands; published and not archived ones are public at /q/{slug}.';
comment on column app.quizzes.questions is '[{ id, text, type single|multi, required, options [{ id, label, points }] }], normalised by app.checked_quiz_questions.';
comment on column app.quizzes.result_bands is '[{ min, max, label, message }] covering 0-100, sorted by min (app.checked_quiz_bands).';
comment on column app.quizzes.slug is 'The public address (/q/{slug}): title words and 12 random base-36 characters; set once, never changed.';

create unique index quizzes_slug_key on app.quizzes (slug);
create index quizzes_org_created_idx on app.quizzes (org_id, created_at desc, id desc);

create trigger quizzes_touch_updated_at before update on app.quizzes
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.quizzes', 'Quizzes');

-- The slug is the database's: a tenant can neither choose nor change a quiz's address.
grant select, delete on app.quizzes to authenticated;
grant insert (org_id, title, description, questions, result_bands, status, collect_name, collect_phone) on app.quizzes to authenticated;
grant update (title, description, questions, result_bands, status, collect_name, collect_phone, archived_at) on app.quizzes to authenticated;
grant all on app.quizzes to service_role;

-- ---------------------------------------------------------------------------
-- Submissions
-- ---------------------------------------------------------------------------
create table app.quiz_submissions (
  id text primary key default app.new_id('qs'),
  org_id text not null references app.orgs (id) on delete cascade,
  quiz_id text not null,
  lead_id text not null,
  attempt_id text not null constraint quiz_submissions_attempt_id_check check (length(attempt_id) between 1 and 200),
  -- { questionId: [optionId, …] } as checked: known questions and options only.
  answers jsonb not null constraint quiz_submissions_answers_check check (jsonb_typeof(answers) = 'object'),
  raw_points numeric not null,
  max_points numeric not null,
  score integer not null constraint quiz_submissions_score_check check (score between 0 and 100),
  -- The band as it read when the quiz was taken: { label, message }.
  band jsonb not null,
  created_at timestamptz not null default now(),
  -- Submissions outlive nothing they refer to: a quiz with submissions is archived, not
  -- deleted; a permanently deleted lead takes its submissions with it.
  constraint quiz_submissions_quiz_fkey foreign key (org_id, quiz_id) references app.quizzes (org_id, id),
  constraint quiz_submissions_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.quiz_submissions is 'One row per quiz attempt: the checked answers, points, 0-100 score and result band; unique per quiz and attempt id.';

create unique index quiz_submissions_attempt_key on app.quiz_submissions (org_id, quiz_id, attempt_id);
create index quiz_submissions_org_quiz_created_idx on app.quiz_submissions (org_id, quiz_id, created_at desc, id desc);
create index quiz_submissions_org_lead_idx on app.quiz_submissions (org_id, lead_id);

select app.make_org_private('app.quiz_submissions', 'Quiz submissions');

-- Written only by app.submit_quiz; tenants read them (and lose them with a deleted lead).
grant select on app.quiz_submissions to authenticated;
grant all on app.quiz_submissions to service_role;

-- ---------------------------------------------------------------------------
-- Slugs: the title made readable, plus 12 random base-36 characters (about 62 bits), so
-- a quiz's address can be shared but not guessed (the same helpers as proposal slugs).
-- ---------------------------------------------------------------------------
create function app.quiz_slug(p_title text) returns text
  language sql volatile
  set search_path = ''
  as $$
    select coalesce(nullif(app.slugify(p_title), ''), 'quiz') || '-' || app.random_base36(12)
  $$;
comment on function app.quiz_slug(text) is 'A new public slug for a quiz: its title in lower-case words joined by dashes (at most 40 characters, "quiz" when none) and 12 random base-36 characters.';
revoke execute on function app.quiz_slug(text) from public;
grant execute on function app.quiz_slug(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The definition's rules, as functions the trigger calls: each refusal names the
-- question, option or band and shows the shape that works.
-- ---------------------------------------------------------------------------
create function app._quiz_item_id(p_value jsonb) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case when pg_catalog.jsonb_typeof(p_value) in ('string', 'number')
                 and pg_catalog.btrim(p_value #>> '{}') ~ '^[A-Za-z0-9_.:-]{1,64}$'
           then pg_catalog.btrim(p_value #>> '{}') end
  $$;
comment on function app._quiz_item_id(jsonb) is 'A question or option id as text (1-64 letters, digits, _ . : -; numbers are accepted as text); null when not valid.';
revoke execute on function app._quiz_item_id(jsonb) from public;
grant execute on function app._quiz_item_id(jsonb) to authenticated, service_role;

create function app._text_between(p_value jsonb, p_min integer, p_max integer) returns boolean
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select coalesce(pg_catalog.jsonb_typeof(p_value) = 'string'
       and length(pg_catalog.btrim(p_value #>> '{}')) between p_min and p_max, false)
  $$;
comment on function app._text_between(jsonb, integer, integer) is 'True when the JSON value is a string whose trimmed length is within the bounds.';
revoke execute on function app._text_between(jsonb, integer, integer) from public;
grant execute on function app._text_between(jsonb, integer, integer) to authenticated, service_role;

create function app.checked_quiz_questions(p_questions jsonb) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_usage constant text := 'questions is a list of 1-50 questions: [{ "id": "size", "text": "How big is your team?", "type": "single", "required": true, "options": [{ "id": "small", "label": "1-5 people", "points": 5 }, { "id": "large", "label": "50+", "points": 20 }] }]. type is single (one option) or multi (any number); required defaults to true; each question has 1-30 options; question ids are unique in the quiz and option ids in their question (1-64 letters, digits, _ . : -); points are numbers (negative allowed).';
    v_question jsonb;
    v_option jsonb;
    v_at text;
    v_id text;
    v_option_id text;
    v_ids text[] := '{}'::text[];
    v_option_ids text[];
    v_options jsonb;
    v_out jsonb := '[]'::jsonb;
  begin
    if p_questions is null or pg_catalog.jsonb_typeof(p_questions) <> 'array'
       or pg_catalog.jsonb_array_length(p_questions) not between 1 and 50 then
      perform app.refuse(400, 'invalid_questions', 'questions must be a list of 1-50 questions', v_usage);
    end if;
    for v_question, v_at in
      select q.value, 'questions[' || (q.ord - 1) || ']' from pg_catalog.jsonb_array_elements(p_questions) with ordinality q(value, ord)
    loop
      if pg_catalog.jsonb_typeof(v_question) <> 'object' then
        perform app.refuse(400, 'invalid_questions', v_at || ' must be an object', v_usage);
      end if;
      v_id := app._quiz_item_id(v_question -> 'id');
      if v_id is null then
        perform app.refuse(400, 'invalid_questions', v_at || '.id must be 1-64 letters, digits, _ . : -', v_usage);
      end if;
      if v_id = any (v_ids) then
        perform app.refuse(400, 'duplicate_question_id', pg_catalog.format('Question id "%s" is used twice', v_id), v_usage);
      end if;
      v_ids := v_ids || v_id;
      v_at := pg_catalog.format('Question "%s"', v_id);
      if not app._text_between(v_question -> 'text', 1, 500) then
        perform app.refuse(400, 'invalid_questions', v_at || ': text must be 1-500 characters', v_usage);
      end if;
      if v_question ? 'type' and (v_question ->> 'type') is distinct from 'single' and (v_question ->> 'type') is distinct from 'multi' then
        perform app.refuse(400, 'invalid_questions', v_at || ': type must be single or multi', v_usage);
      end if;
      if v_question ? 'required' and pg_catalog.jsonb_typeof(v_question -> 'required') <> 'boolean' then
        perform app.refuse(400, 'invalid_questions', v_at || ': required must be true or false', v_usage);
      end if;
      if pg_catalog.jsonb_typeof(v_question -> 'options') is distinct from 'array'
         or pg_catalog.jsonb_array_length(v_question -> 'options') not between 1 and 30 then
        perform app.refuse(400, 'invalid_questions', v_at || ': options must be a list of 1-30 options', v_usage);
      end if;
      v_option_ids := '{}'::text[];
      v_options := '[]'::jsonb;
      for v_option in select o.value from pg_catalog.jsonb_array_elements(v_question -> 'options') o loop
        v_option_id := app._quiz_item_id(v_option -> 'id');
        if pg_catalog.jsonb_typeof(v_option) <> 'object' or v_option_id is null then
          perform app.refuse(400, 'invalid_questions', v_at || ': every option needs an id of 1-64 letters, digits, _ . : -', v_usage);
        end if;
        if v_option_id = any (v_option_ids) then
          perform app.refuse(400, 'duplicate_option_id', pg_catalog.format('%s: option id "%s" is used twice', v_at, v_option_id), v_usage);
        end if;
        v_option_ids := v_option_ids || v_option_id;
        if not app._text_between(v_option -> 'label', 1, 200) then
          perform app.refuse(400, 'invalid_questions', pg_catalog.format('%s, option "%s": label must be 1-200 characters', v_at, v_option_id), v_usage);
        end if;
        if pg_catalog.jsonb_typeof(v_option -> 'points') is distinct from 'number'
           or abs((v_option ->> 'points')::numeric) > 1000000 then
          perform app.refuse(400, 'invalid_points', pg_catalog.format('%s, option "%s": points must be a number between -1000000 and 1000000', v_at, v_option_id), v_usage);
        end if;
        v_options := v_options || pg_catalog.jsonb_build_object(
          'id', v_option_id, 'label', pg_catalog.btrim(v_option ->> 'label'), 'points', v_option -> 'points');
      end loop;
      v_out := v_out || pg_catalog.jsonb_build_object(
        'id', v_id,
        'text', pg_catalog.btrim(v_question ->> 'text'),
        'type', coalesce(v_question ->> 'type', 'single'),
        'required', coalesce((v_question ->> 'required')::boolean, true),
        'options', v_options);
    end loop;
    return v_out;
  end;
  $$;
comment on function app.checked_quiz_questions(jsonb) is 'A quiz''s questions checked (1-50, unique ids, single|multi, 1-30 options with unique ids, labels and numeric points) and normalised (type single and required true by default, unknown keys dropped); refuses (400) naming the question or option otherwise.';
revoke execute on function app.checked_quiz_questions(jsonb) from public;
grant execute on function app.checked_quiz_questions(jsonb) to authenticated, service_role;

create function app.checked_quiz_bands(p_bands jsonb) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_usage constant text := 'resultBands is a list of 1-20 bands that cover scores 0 to 100 exactly once, whole numbers, e.g. [{ "min": 0, "max": 49, "label": "Getting started", "message": "Here is where to begin…" }, { "min": 50, "max": 100, "label": "Ready", "message": "Let''s talk." }]. label is 1-100 characters, message up to 2000.';
    v_band jsonb;
    v_next integer := 0;
    v_out jsonb := '[]'::jsonb;
  begin
    if p_bands is null or pg_catalog.jsonb_typeof(p_bands) <> 'array'
       or pg_catalog.jsonb_array_length(p_bands) not between 1 and 20 then
      perform app.refuse(400, 'invalid_result_bands', 'resultBands must be a list of 1-20 bands', v_usage);
    end if;
    if exists (
      select from pg_catalog.jsonb_array_elements(p_bands) b
      where pg_catalog.jsonb_typeof(b) <> 'object'
         or pg_catalog.jsonb_typeof(b -> 'min') is distinct from 'number' or pg_catalog.jsonb_typeof(b -> 'max') is distinct from 'number'
         or (b ->> 'min')::numeric <> pg_catalog.trunc((b ->> 'min')::numeric) or (b ->> 'max')::numeric <> pg_catalog.trunc((b ->> 'max')::numeric)
         or (b ->> 'min')::numeric not between 0 and 100 or (b ->> 'max')::numeric not between 0 and 100
         or (b ->> 'min')::numeric > (b ->> 'max')::numeric) then
      perform app.refuse(400, 'invalid_result_bands', 'Every band needs whole-number min and max between 0 and 100, min <= max', v_usage);
    end if;
    if exists (
      select from pg_catalog.jsonb_array_elements(p_bands) b
      where not app._text_between(b -> 'label', 1, 100)
         or (b ? 'message' and b -> 'message' <> 'null'::jsonb and (pg_catalog.jsonb_typeof(b -> 'message') <> 'string' or length(b ->> 'message') > 2000))) then
      perform app.refuse(400, 'invalid_result_bands', 'Every band needs a label of 1-100 characters; message is text up to 2000 characters', v_usage);
    end if;
    for v_band in
      select b from pg_catalog.jsonb_array_elements(p_bands) b order by (b ->> 'min')::integer, (b ->> 'max')::integer
    loop
      if (v_band ->> 'min')::integer > v_next then
        perform app.refuse(400, 'result_bands_gap', pg_catalog.format('No band covers scores %s to %s', v_next, (v_band ->> 'min')::integer - 1), v_usage);
      elsif (v_band ->> 'min')::integer < v_next then
        perform app.refuse(400, 'result_bands_overlap', pg_catalog.format('Band "%s" (%s-%s) overlaps the band before it (scores from %s on are covered)',
          v_band ->> 'label', v_band ->> 'min', v_band ->> 'max', v_next), v_usage);
      end if;
      v_next := (v_band ->> 'max')::integer + 1;
      v_out := v_out || pg_catalog.jsonb_build_object(
        'min', (v_band ->> 'min')::integer, 'max', (v_band ->> 'max')::integer,
        'label', pg_catalog.btrim(v_band ->> 'label'), 'message', coalesce(v_band ->> 'message', ''));
    end loop;
    if v_next <= 100 then
      perform app.refuse(400, 'result_bands_gap', pg_catalog.format('No band covers scores %s to 100', v_next), v_usage);
    end if;
    return v_out;
  end;
  $$;
comment on function app.checked_quiz_bands(jsonb) is 'Result bands checked (whole-number min/max covering 0-100 with no gap or overlap, a label, an optional message) and returned sorted by min; refuses (400) naming the gap or overlap otherwise.';
revoke execute on function app.checked_quiz_bands(jsonb) from public;
grant execute on function app.checked_quiz_bands(jsonb) to authenticated, service_role;

-- A trigger, so every writer (API, Studio) is held to the rules above.
create function app._check_quiz() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if tg_op = 'INSERT' then
      new.slug := app.quiz_slug(new.title);
    end if;
    new.title := pg_catalog.btrim(new.title);
    new.questions := app.checked_quiz_questions(new.questions);
    new.result_bands := app.checked_quiz_bands(new.result_bands);
    return new;
  end;
  $$;
comment on function app._check_quiz() is 'Trigger: gives a new quiz its slug and checks and normalises questions and result bands on every write.';
revoke execute on function app._check_quiz() from public;

create trigger quizzes_check before insert or update of title, questions, result_bands on app.quizzes
  for each row execute function app._check_quiz();

-- ---------------------------------------------------------------------------
-- Scoring. Most points = for each question, its best option (single) or all its positive
-- options (multi). Score = points scored, clamped to 0..most, as a share of the most,
-- rounded to a whole 0-100; a quiz whose options give no positive points scores 0.
-- ---------------------------------------------------------------------------
create function app.score_quiz_answers(p_questions jsonb, p_answers jsonb) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_question jsonb;
    v_given jsonb;
    v_chosen text[];
    v_bad text;
    v_answers jsonb := '{}'::jsonb;
    v_raw numeric := 0;
    v_max numeric := 0;
    v_ids constant text := (select string_agg(q ->> 'id', ', ') from pg_catalog.jsonb_array_elements(p_questions) q);
  begin
    if p_answers is not null and pg_catalog.jsonb_typeof(p_answers) <> 'object' then
      perform app.refuse(400, 'invalid_answers', 'answers must be an object of question id -> option id(s)',
        pg_catalog.format('Send answers like { "%s": "<option id>" } (a list of option ids for multi questions). Questions: %s.',
          p_questions -> 0 ->> 'id', v_ids));
    end if;
    select string_agg(pg_catalog.format('"%s"', k), ', ' order by k) into v_bad
    from pg_catalog.jsonb_object_keys(coalesce(p_answers, '{}')) k
    where not exists (select from pg_catalog.jsonb_array_elements(p_questions) q where q ->> 'id' = k);
    if v_bad is not null then
      perform app.refuse(400, 'unknown_question', pg_catalog.format('This quiz has no question %s', v_bad),
        pg_catalog.format('Answer only this quiz''s questions: %s.', v_ids));
    end if;

    for v_question in select q from pg_catalog.jsonb_array_elements(p_questions) q loop
      v_given := p_answers -> (v_question ->> 'id');
      if v_given is not null and pg_catalog.jsonb_typeof(v_given) <> 'array' then
        v_given := pg_catalog.jsonb_build_array(v_given);
      end if;
      if exists (select from pg_catalog.jsonb_array_elements(v_given) g where pg_catalog.jsonb_typeof(g) not in ('string', 'number')) then
        perform app.refuse(400, 'invalid_answers', pg_catalog.format('Question "%s": answers must be option ids', v_question ->> 'id'),
          pg_catalog.format('Send the id of the chosen option (a list of ids for multi questions). Options: %s.',
            (select string_agg(o ->> 'id', ', ') from pg_catalog.jsonb_array_elements(v_question -> 'options') o)));
      end if;
      select coalesce(array_agg(distinct pg_catalog.btrim(g #>> '{}')) filter (where pg_catalog.btrim(g #>> '{}') <> ''), '{}')
      into v_chosen from pg_catalog.jsonb_array_elements(coalesce(v_given, '[]')) g;

      select string_agg(pg_catalog.format('"%s"', c), ', ' order by c) into v_bad
      from pg_catalog.unnest(v_chosen) c
      where not exists (select from pg_catalog.jsonb_array_elements(v_question -> 'options') o where o ->> 'id' = c);
      if v_bad is not null then
        perform app.refuse(400, 'unknown_option', pg_catalog.format('Question "%s" has no option %s', v_question ->> 'id', v_bad),
          pg_catalog.format('Choose from its options: %s.',
            (select string_agg(pg_catalog.format('%s (%s)', o ->> 'id', o ->> 'label'), ', ') from pg_catalog.jsonb_array_elements(v_question -> 'options') o)));
      end if;
      if cardinality(v_chosen) = 0 and coalesce((v_question ->> 'required')::boolean, true) then
        perform app.refuse(400, 'missing_answer', pg_catalog.format('Question "%s" needs an answer: %s', v_question ->> 'id', v_question ->> 'text'),
          'Answer every required question; GET the quiz page to see them.');
      end if;
      if cardinality(v_chosen) > 1 and coalesce(v_question ->> 'type', 'single') = 'single' then
        perform app.refuse(400, 'single_answer_expected', pg_catalog.format('Question "%s" takes one answer, not %s', v_question ->> 'id', cardinality(v_chosen)),
          'Send one option id for a single-choice question.');
      end if;

      if cardinality(v_chosen) > 0 then
        -- Stored in the quiz's option order.
        v_answers := v_answers || pg_catalog.jsonb_build_object(v_question ->> 'id',
          (select pg_catalog.jsonb_agg(o -> 'id' order by n) from pg_catalog.jsonb_array_elements(v_question -> 'options') with ordinality x(o, n)
           where o ->> 'id' = any (v_chosen)));
        v_raw := v_raw + (select coalesce(sum((o ->> 'points')::numeric), 0)
                          from pg_catalog.jsonb_array_elements(v_question -> 'options') o where o ->> 'id' = any (v_chosen));
      end if;
      v_max := v_max + (select case when coalesce(v_question ->> 'type', 'single') = 'single'
                                    then greatest(max((o ->> 'points')::numeric), 0)
                                    else coalesce(sum(greatest((o ->> 'points')::numeric, 0)), 0) end
                        from pg_catalog.jsonb_array_elements(v_question -> 'options') o);
    end loop;

    return pg_catalog.jsonb_build_object(
      'answers', v_answers, 'rawPoints', v_raw, 'maxPoints', v_max,
      'score', case when v_max > 0 then pg_catalog.round(100 * greatest(least(v_raw, v_max), 0) / v_max)::integer else 0 end);
  end;
  $$;
comment on function app.score_quiz_answers(jsonb, jsonb) is 'Checks answers ({ questionId: optionId | [optionIds] }) against checked questions and scores them: { answers, rawPoints, maxPoints, score 0-100 }. Refuses (400) an unknown question or option, a missing required answer, or several answers to a single question, naming the question.';
revoke execute on function app.score_quiz_answers(jsonb, jsonb) from public;
grant execute on function app.score_quiz_answers(jsonb, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- What the public page shows: never the points, the bands or anything of the org's.
-- ---------------------------------------------------------------------------
create function app.public_quiz(p_slug text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'title', q.title, 'description', q.description, 'slug', q.slug,
      'collectName', q.collect_name, 'collectPhone', q.collect_phone,
      'questions', (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
          'id', x ->> 'id', 'text', x ->> 'text', 'type', x ->> 'type', 'required', x -> 'required',
          'options', (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', o ->> 'id', 'label', o ->> 'label') order by m)
                      from pg_catalog.jsonb_array_elements(x -> 'options') with ordinality y(o, m)))
          order by n)
        from pg_catalog.jsonb_array_elements(q.questions) with ordinality z(x, n)))
    from app.quizzes q
    where q.slug = p_slug and q.status = 'published' and q.archived_at is null
  $$;
comment on function app.public_quiz(text) is 'A published, unarchived quiz as its public page shows it (title, description, questions and option labels, which contact fields to ask for); null for any other slug.';
revoke execute on function app.public_quiz(text) from public;
grant execute on function app.public_quiz(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Taking a quiz: the public entry point.
-- ---------------------------------------------------------------------------
create function app.submit_quiz(
  p_slug text,
  p_attempt_id text,
  p_email text,
  p_first_name text,
  p_last_name text,
  p_phone text,
  p_answers jsonb,
  p_now timestamptz default now()
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_quiz app.quizzes;
    v_prior app.quiz_submissions;
    v_scored jsonb;
    v_score integer;
    v_band jsonb;
    v_email constant text := nullif(pg_catalog.btrim(p_email), '');
    v_first constant text := nullif(pg_catalog.btrim(p_first_name), '');
    v_last constant text := nullif(pg_catalog.btrim(p_last_name), '');
    v_phone constant text := nullif(pg_catalog.btrim(p_phone), '');
    v_lead_id text;
    v_created boolean := false;
    v_submission_id text;
  begin
    -- key share: a concurrent delete of the quiz waits for this attempt (and then archives).
    select q.* into v_quiz from app.quizzes q
    where q.slug = p_slug and q.status = 'published' and q.archived_at is null
    for key share;
    if v_quiz.id is null then
      perform app.refuse(404, 'quiz_not_found', 'There is no published quiz at this address',
        'Check the link; the quiz may have been unpublished or removed.');
    end if;
    if p_attempt_id is null or length(p_attempt_id) not between 1 and 200 then
      perform app.refuse(400, 'invalid_attempt_id', 'attemptId must be 1-200 characters',
        'Send one attemptId per attempt (a UUID is ideal) and reuse it when retrying, or leave it out.');
    end if;

    -- One attempt at a time: a double submit waits here and then finds the first result.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(v_quiz.id || ':' || p_attempt_id, 0));
    select s.* into v_prior from app.quiz_submissions s
    where s.org_id = v_quiz.org_id and s.quiz_id = v_quiz.id and s.attempt_id = p_attempt_id;
    if v_prior.id is not null then
      return pg_catalog.jsonb_build_object('leadId', v_prior.lead_id, 'submissionId', v_prior.id,
        'score', v_prior.score, 'band', v_prior.band, 'leadCreated', false, 'duplicate', true);
    end if;

    v_scored := app.score_quiz_answers(v_quiz.questions, p_answers);
    v_score := (v_scored ->> 'score')::integer;
    select pg_catalog.jsonb_build_object('label', b ->> 'label', 'message', b ->> 'message') into v_band
    from pg_catalog.jsonb_array_elements(v_quiz.result_bands) b
    where v_score between (b ->> 'min')::integer and (b ->> 'max')::integer;

    if v_email is null then
      perform app.refuse(400, 'missing_email', 'email is required', 'Send the email address of the person taking the quiz.');
    end if;

    -- Act as the quiz's org; the lead's history records the quiz as the actor.
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_quiz.org_id, 'actor', 'quiz:' || v_quiz.id, 'source', 'quiz')::text, true);

    -- Create or update the lead by email: update first, so a workspace at its plan's limit
    -- still takes quizzes from leads it has; a concurrent insert of the same email makes
    -- the second pass update it. The limit trigger refuses a new lead over the plan (402).
    for v_attempt in 1..2 loop
      select l.id into v_lead_id from app.leads l
      where l.org_id = v_quiz.org_id and l.email_key = pg_catalog.lower(v_email) and l.deleted_at is null
      for update;
      if v_lead_id is not null then
        update app.leads l set
          first_name = coalesce(v_first, l.first_name),
          last_name = coalesce(v_last, l.last_name),
          phone = coalesce(v_phone, l.phone)
        where l.id = v_lead_id;
        exit;
      end if;
      insert into app.leads as l (org_id, first_name, last_name, email, phone)
      values (v_quiz.org_id, coalesce(v_first, pg_catalog.split_part(v_email, '@', 1)), v_last, v_email, v_phone)
      on conflict (org_id, email_key) where deleted_at is null do nothing
      returning l.id into v_lead_id;
      if v_lead_id is not null then
        v_created := true;
        exit;
      end if;
    end loop;

    insert into app.quiz_submissions (org_id, quiz_id, lead_id, attempt_id, answers, raw_points, max_points, score, band, created_at)
    values (v_quiz.org_id, v_quiz.id, v_lead_id, p_attempt_id, v_scored -> 'answers',
            (v_scored ->> 'rawPoints')::numeric, (v_scored ->> 'maxPoints')::numeric, v_score, v_band, p_now)
    returning id into v_submission_id;

    -- The sender's id is the attempt, scoped to the quiz: attempt ids only need to be
    -- unique per quiz, and two quizzes of one org must not swallow each other's events.
    perform app.record_event(v_lead_id, 'quiz_completed',
      pg_catalog.jsonb_build_object('score', v_score, 'quizId', v_quiz.id, 'band', v_band ->> 'label', 'submissionId', v_submission_id),
      p_now, v_quiz.id || ':' || p_attempt_id);

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return pg_catalog.jsonb_build_object('leadId', v_lead_id, 'submissionId', v_submission_id,
      'score', v_score, 'band', v_band, 'leadCreated', v_created, 'duplicate', false);
  end;
  $$;
comment on function app.submit_quiz(text, text, text, text, text, text, jsonb, timestamptz) is 'Takes a published quiz: checks and scores the answers, creates or updates the lead by email in the quiz''s org (plan limit applies), stores the submission and records quiz_completed { score, quizId, band }. A repeated attempt id answers with the first result (duplicate true) and writes nothing.';
revoke execute on function app.submit_quiz(text, text, text, text, text, text, jsonb, timestamptz) from public;
grant execute on function app.submit_quiz(text, text, text, text, text, text, jsonb, timestamptz) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Deleting a quiz: gone when nobody took it; archived (page gone, submissions kept)
-- when somebody did, because a submission is part of its lead's history.
-- ---------------------------------------------------------------------------
create function app.delete_quiz(p_id text) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_found text;
    v_submissions integer;
  begin
    select q.id into v_found from app.quizzes q where q.id = p_id for update;
    if v_found is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Quiz %s was not found', p_id),
        'Check the id: GET /api/openclaw/quizzes lists your quizzes; another workspace''s quizzes are not visible with this key.');
    end if;
    select count(*) into v_submissions from app.quiz_submissions s where s.quiz_id = p_id;
    if v_submissions > 0 then
      update app.quizzes q set archived_at = coalesce(q.archived_at, pg_catalog.now()) where q.id = p_id;
      return pg_catalog.jsonb_build_object('id', p_id, 'deleted', false, 'archived', true, 'submissions', v_submissions);
    end if;
    delete from app.quizzes q where q.id = p_id;
    return pg_catalog.jsonb_build_object('id', p_id, 'deleted', true, 'archived', false, 'submissions', 0);
  end;
  $$;
comment on function app.delete_quiz(text) is 'Deletes one of the caller''s quizzes, or archives it when it has submissions (they stay readable; its public page answers 404). Returns { id, deleted, archived, submissions }.';
revoke execute on function app.delete_quiz(text) from public;
grant execute on function app.delete_quiz(text) to authenticated, service_role;

-- =============================================================================================
-- sql/90_jobs.sql
-- =============================================================================================
-- Scheduled work: the one catalogue of pg_cron jobs. A job is a row of
-- app.scheduled_jobs (name, schedule, command), and app.schedule_jobs() registers every row
-- with pg_cron by name: cron.schedule replaces a job of the same name, so registering again
-- is always safe. Each command calls a function that lives with its domain (the file is
-- named on the job's line), so a test can call the same function directly.
-- Also here: app.purge_cron_history, which keeps pg_cron's own run history in bounds, and
-- app.schedule_mail_worker_http, which adds the mail-worker-http job on Supabase.

-- ---------------------------------------------------------------------------
-- The catalogue
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

-- Every job, one line each: when it runs (UTC by default), what it does, and where its
-- function is.
insert into app.scheduled_jobs (name, schedule, command) values
  -- every minute: fail leads left enriching for 5 minutes by an interrupted request (52_enrichment.sql)
  ('fail-stuck-enrichments', '* * * * *', $$select app.fail_stuck_enrichments(interval '5 minutes')$$),
  -- every minute: move due campaign steps into the outbox, through the guardrails (74_outbox.sql)
  ('enqueue-due-steps', '* * * * *', 'select app.enqueue_due_steps()'),
  -- every minute: requeue mail claims, and mark sends unconfirmed, whose lease ran out (74_outbox.sql)
  ('release-mail-claims', '* * * * *', 'select app.release_expired_claims()'),
  -- every 5 minutes: fail meeting bots left 'scheduling' by a process that died (82_calendly.sql)
  ('fail-interrupted-meeting-bots', '*/5 * * * *', 'select app.fail_interrupted_meeting_bots()'),
  -- every 15 minutes: move idle leads by their org's no_touch automation rules (62_automation.sql)
  ('no-touch-automation', '*/15 * * * *', 'select app.run_no_touch_rules()'),
  -- hourly at :17: delete Idempotency-Key records older than 24 hours (25_idempotency.sql)
  ('purge-idempotency-keys', '17 * * * *', 'select app.purge_idempotency_keys()'),
  -- hourly at :41: delete expired enrichment provider answers (52_enrichment.sql)
  ('purge-enrichment-cache', '41 * * * *', 'select app.purge_enrichment_cache()'),
  -- daily at 03:23: rescore every live lead, for time decay (56_scoring.sql)
  ('rescore-leads', '23 3 * * *', 'select app.rescore_all_leads()'),
  -- daily at 03:41: delete sync events older than 30 days (48_sync_sources.sql)
  ('purge-sync-events', '41 3 * * *', 'select app.purge_sync_events()'),
  -- daily at 03:43: delete pg_cron run history older than a week (below)
  ('purge-cron-history', '43 3 * * *', 'select app.purge_cron_history()');
-- Not in the list: mail-worker-http, which app.schedule_mail_worker_http (below) adds after
-- a deploy to Supabase.

-- ---------------------------------------------------------------------------
-- Registering the catalogue with pg_cron
-- ---------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------
-- pg_cron's own history: pg_cron keeps a row per job run in cron.job_run_details forever;
-- with jobs every minute that grows without bound. The purge-cron-history job keeps a week.
-- ---------------------------------------------------------------------------
create function app.purge_cron_history(p_keep interval default '7 days') returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    if pg_catalog.to_regclass('cron.job_run_details') is null then
      return 0;
    end if;
    -- Dynamic so the function compiles (and lints) where pg_cron is absent. A run still
    -- going has no end_time yet: it is kept.
    execute 'delete from cron.job_run_details d where d.end_time < pg_catalog.now() - $1' using p_keep;
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_cron_history(interval) is 'Deletes pg_cron run history (cron.job_run_details) that ended more than p_keep ago; returns how many; 0 without pg_cron.';
revoke execute on function app.purge_cron_history(interval) from public;
grant execute on function app.purge_cron_history(interval) to service_role;

-- ---------------------------------------------------------------------------
-- The mail worker over HTTP. On Supabase nothing runs `npm run worker`: pg_cron calls the
-- Edge Function's POST /api/openclaw/internal/mail/run through pg_net every minute
-- instead, and the function runs one worker tick (claim, send, record). Called once after
-- deploy:
--   select app.schedule_mail_worker_http('https://<ref>.supabase.co/functions/v1/openclaw/api/openclaw/internal/mail/run', '<MAIL_WORKER_SECRET>');
-- Calling it again replaces the job (new URL or secret). The job is a row of
-- app.scheduled_jobs like every other, so registering the catalogue again keeps it.
-- ---------------------------------------------------------------------------
create function app.schedule_mail_worker_http(p_url text, p_secret text) returns text
  language plpgsql
  -- Writes app.scheduled_jobs and registers the pg_cron job, which its caller may not.
  security definer
  set search_path = ''
  as $$
  declare
    v_command text;
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
        'Enable pg_cron (Database → Extensions) and call this again, or run npm run worker instead.');
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
    v_command := pg_catalog.format(
      'select net.http_post(url := %L, body := %L::jsonb, headers := %L::jsonb, timeout_milliseconds := 55000)',
      p_url, '{}', pg_catalog.jsonb_build_object('content-type', 'application/json', 'x-worker-secret', p_secret)::text);
    insert into app.scheduled_jobs (name, schedule, command) values ('mail-worker-http', '* * * * *', v_command)
      on conflict (name) do update set schedule = excluded.schedule, command = excluded.command;
    perform app.schedule_jobs();
    return 'mail-worker-http';
  end;
  $$;
comment on function app.schedule_mail_worker_http(text, text) is
  'Registers the pg_cron job mail-worker-http: every minute net.http_post to the Edge Function''s mail worker route with x-worker-secret; refuses without pg_net or pg_cron. Returns the job name.';
revoke execute on function app.schedule_mail_worker_http(text, text) from public;
grant execute on function app.schedule_mail_worker_http(text, text) to service_role;

-- Register the catalogue (a notice and nothing else where pg_cron is not installed).
select app.schedule_jobs();

-- =============================================================================================
-- sql/95_views.sql
-- =============================================================================================
-- The API's read views that join several domains:
--   * app.lead_details: a lead with its stage name, stored score and proposal slug (what
--     the leads endpoints read);
--   * app.stage_details: a stage with its count of live leads (what the stages endpoints
--     read).
-- They come last because Postgres checks a view's query when the view is created, so a
-- view must follow every table it reads: app.lead_details reads leads and stages
-- (40_leads.sql, 30_stages.sql), lead scores (56_scoring.sql) and proposals
-- (66_proposals.sql). Both are security_invoker, so the caller's row-level security
-- applies to every table they read. app.lead_details selects l.*, which Postgres expands
-- when the view is created: a column added to app.leads shows here only once the view is
-- created again.

create view app.lead_details with (security_invoker = true) as
  select l.*, s.name as stage, c.score, c.label as score_label, c.scored_at, p.slug as proposal_slug
  from app.leads l
  left join app.stages s on s.id = l.stage_id
  left join app.lead_scores c on c.lead_id = l.id
  left join app.proposals p on p.org_id = l.org_id and p.lead_id = l.id;
comment on view app.lead_details is 'Leads with their stage name, stored score and proposal slug, as the API returns them.';
grant select on app.lead_details to authenticated, service_role;

create view app.stage_details with (security_invoker = true) as
  select s.id, s.org_id, s.name, s.position, s.color, s.is_default, s.outcome, s.stall_after_days,
    s.created_at, s.updated_at,
    (select count(*)::integer from app.leads l
     where l.org_id = s.org_id and l.stage_id = s.id and l.deleted_at is null) as lead_count
  from app.stages s;
comment on view app.stage_details is 'Stages with outcome, stall threshold and lead_count, the number of live (not soft-deleted) leads in each.';
grant select on app.stage_details to authenticated, service_role;
