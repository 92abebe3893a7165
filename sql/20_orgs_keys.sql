-- Orgs and API keys: the tenants, the plans they are on, and how a request proves which
-- org it acts for.
--   * app.tiers: plan limits as reference data (free, pro, ultra), the API rate limit per key
--     included;
--   * app.orgs: one per workspace; app.api_keys: hashed keys per org;
--   * app._seed_org: what every new org starts with, whoever inserts it: the default pipeline
--     (30_stages.sql), the default playbooks (60_playbooks.sql) and its send settings
--     (70_campaigns.sql);
--   * app.signup (POST /signup): a new org, its first API key and the owner's welcome mail (the
--     owner is the org's first member: 24_members.sql);
--   * app.authenticate_api_key: the lookup every request makes before it acts as its org;
--   * key management (GET/POST /keys, DELETE /keys/{id}, POST /keys/{id}/rotate): the view
--     app.api_key_details, app.create_api_key, app.revoke_api_key (never the last working key
--     unless confirmed), app.rotate_api_key (the old key keeps working for an overlap window),
--     and the trigger api_keys_guard (a revoked key stays revoked, an expiry only comes closer);
--     keys are managed by owners and admins (and by API keys, which act as owners);
--   * key recovery (POST /keys/recover, /keys/recover/confirm): app.key_recovery_requests (the
--     per-address rate limit, addresses hashed), app.request_key_recovery and
--     app.confirm_key_recovery. The link itself is one of app.email_links (24_members.sql), the
--     one-time links the system mails, which sign-in links are too.
-- Elsewhere: app.authenticate_request (22_rate_limits.sql) reads the key as
-- app.authenticate_api_key does (app._api_key_by_hash) and takes its rate limit, in the one
-- statement a request starts with; the tier limits are enforced by triggers in
-- 78_plan_limits.sql (which also answers GET /org/tier); POST /setup changes an org's settings in 35_setup.sql; the recovery
-- email goes out through app.system_mail (74_outbox.sql), whose worker asks
-- app._issue_email_link_token (24_members.sql) for the link right before sending.

-- ---------------------------------------------------------------------------
-- Tiers: the plan limits, as data, in one place. A null limit means unlimited.
-- requests_per_minute is each API key's rate limit (22_rate_limits.sql): a burst of that
-- many requests, refilled evenly over the minute; a deployment may override it per tier
-- (RATE_LIMIT_KEY_FREE, …).
-- ---------------------------------------------------------------------------
create table app.tiers (
  tier text primary key,
  lead_limit integer not null check (lead_limit > 0),
  campaign_limit integer check (campaign_limit > 0),
  monthly_price_usd numeric(10, 2) not null default 0,
  requests_per_minute integer not null check (requests_per_minute > 0)
);
comment on table app.tiers is 'Plan limits per tier; the database enforces them when rows are inserted.';
comment on column app.tiers.requests_per_minute is 'API requests per minute per key (a burst of as many, refilled evenly); the HTTP edge may override it per deployment.';

insert into app.tiers (tier, lead_limit, campaign_limit, monthly_price_usd, requests_per_minute) values
  ('free', 100, 3, 0, 120),
  ('pro', 1000, null, 49, 600),
  ('ultra', 5000, null, 199, 1200);

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
-- a SHA-256 hash with a short display prefix. A key is live while it is not revoked and
-- its expiry (set when it is rotated: the overlap window) has not passed.
-- ---------------------------------------------------------------------------
create table app.api_keys (
  id text not null default app.new_id('key'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null default 'default' check (length(name) between 1 and 100),
  key_hash text not null check (key_hash ~ '^[0-9a-f]{64}$'),
  key_prefix text not null check (length(key_prefix) between 8 and 32),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  -- Set when the key is rotated: it keeps working until then (the overlap window).
  expires_at timestamptz,
  -- The key that replaced it on rotation.
  replaced_by text,
  primary key (org_id, id),
  constraint api_keys_replaced_by_fkey foreign key (org_id, replaced_by) references app.api_keys (org_id, id) on delete set null (replaced_by)
);
comment on table app.api_keys is 'Hashed API keys per org; the plaintext key is never stored. Live while not revoked and before expires_at (set by rotation).';

create unique index api_keys_key_hash_key on app.api_keys (key_hash);
create index api_keys_org_id_idx on app.api_keys (org_id, created_at);

alter table app.api_keys enable row level security;
alter table app.api_keys force row level security;
create policy "API keys are visible to their own org" on app.api_keys
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "API keys can be created by their own org" on app.api_keys
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "API keys can be revoked by their own org" on app.api_keys
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));
-- Whoever writes: only owners and admins (and API keys) create, rotate and revoke keys.
create policy "API keys are created only by owners and admins" on app.api_keys
  as restrictive for insert to authenticated with check ((select app.ensure_can_administer()));
create policy "API keys are changed only by owners and admins" on app.api_keys
  as restrictive for update to authenticated
  using ((select app.ensure_can_administer()))
  with check ((select app.ensure_can_administer()));

-- Even its own org never reads a key's hash back.
grant select (id, org_id, name, key_prefix, created_at, last_used_at, revoked_at, expires_at, replaced_by) on app.api_keys to authenticated;
grant insert (name, key_hash, key_prefix) on app.api_keys to authenticated;
grant update (name, revoked_at, expires_at, replaced_by) on app.api_keys to authenticated;
grant all on app.api_keys to service_role;

-- For every writer (the API, Studio, SQL): revoking is for good, and a key's expiry can only
-- come closer, at most 7 days ahead (rotation's longest overlap), so a leaked old key can
-- never be brought back or kept alive.
create function app._guard_api_key() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if old.revoked_at is not null and new.revoked_at is null then
      perform app.refuse(409, 'api_key_revoked', pg_catalog.format('API key %s is revoked and stays revoked', old.id),
        'Create a new key instead: POST /api/openclaw/keys { "name": "…" }.');
    end if;
    if new.expires_at is distinct from old.expires_at
       and (new.expires_at is null or new.expires_at > coalesce(old.expires_at, 'infinity')
            or new.expires_at > pg_catalog.now() + interval '7 days') then
      perform app.refuse(409, 'invalid_key_expiry', pg_catalog.format('The expiry of API key %s can only be brought forward, to at most 7 days from now', old.id),
        'Rotate the key (POST /api/openclaw/keys/{id}/rotate { "overlapHours": 0-168 }) to set it; once set it can only come closer.');
    end if;
    return new;
  end;
  $$;
comment on function app._guard_api_key() is 'Trigger: a revoked key is never un-revoked, and expires_at is only set or brought forward, to at most 7 days ahead.';
revoke execute on function app._guard_api_key() from public;

create trigger api_keys_guard before update on app.api_keys
  for each row execute function app._guard_api_key();

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
grant execute on function app.hash_api_key(text) to authenticated, service_role;

-- 244 random bits (two v4 UUIDs) as 64 hex digits.
create function app._new_api_key() returns text
  language sql volatile
  set search_path = ''
  as $$
    select 'rcm_live_'
      || replace(pg_catalog.gen_random_uuid()::text, '-', '')
      || replace(pg_catalog.gen_random_uuid()::text, '-', '')
  $$;
comment on function app._new_api_key() is 'A new plaintext API key: rcm_live_ followed by 64 random hex digits.';
revoke execute on function app._new_api_key() from public;
grant execute on function app._new_api_key() to authenticated, service_role;

create function app._issue_api_key(p_org_id text, p_name text default 'default')
  returns table (key_id text, api_key text)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_key constant text := app._new_api_key();
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
-- Authentication: the one cross-tenant lookup every request makes. app._api_key_by_hash is
-- the key as both authenticators read it (this file's app.authenticate_api_key and the
-- statement a request starts with, app.authenticate_request in 22_rate_limits.sql): SQL
-- with a standard body, so the planner inlines it into their statements (a function call
-- less on every request). revoked is true for any key that may not be used (revoked, or past
-- its rotation overlap); expired and expires_at tell the second case apart, for the refusal's
-- hint; stale says last_used_at is due (app._note_api_key_use: one write a minute at most
-- per key, so busy agents don't turn every read into a write).
-- ---------------------------------------------------------------------------
create function app._api_key_by_hash(p_key_hash text)
  returns table (org_id text, tier text, key_id text, revoked boolean, expired boolean, expires_at timestamptz, stale boolean)
  language sql
  stable
  begin atomic
    select k.org_id, o.tier, k.id,
           k.revoked_at is not null or coalesce(k.expires_at <= pg_catalog.now(), false),
           k.revoked_at is null and coalesce(k.expires_at <= pg_catalog.now(), false),
           k.expires_at,
           k.last_used_at is null or k.last_used_at < pg_catalog.now() - interval '1 minute'
    from app.api_keys k
    join app.orgs o on o.id = k.org_id
    where k.key_hash = p_key_hash;
  end;
comment on function app._api_key_by_hash(text) is 'The API key behind a hash with its org''s tier: revoked (may not be used: revoked, or expired after rotation), expired, expires_at, and stale (last_used_at is due). For the authenticators only.';
revoke execute on function app._api_key_by_hash(text) from public;

create function app._note_api_key_use(p_org_id text, p_key_id text) returns void
  language sql
  set search_path = ''
  as $$
    update app.api_keys k set last_used_at = pg_catalog.now() where k.org_id = p_org_id and k.id = p_key_id
  $$;
comment on function app._note_api_key_use(text, text) is 'Sets a key''s last_used_at to now; the authenticators call it when app._api_key_by_hash says it is stale.';
revoke execute on function app._note_api_key_use(text, text) from public;

-- On success it sets the transaction-local JWT claims (role authenticated, org_id, key_id)
-- that row-level security reads; the caller then switches to the authenticated role.
create function app.authenticate_api_key(p_key_hash text)
  returns table (org_id text, tier text, key_id text, revoked boolean, expired boolean, expires_at timestamptz)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_stale boolean;
  begin
    select a.org_id, a.tier, a.key_id, a.revoked, a.expired, a.expires_at, a.stale
    into org_id, tier, key_id, revoked, expired, expires_at, v_stale
    from app._api_key_by_hash(p_key_hash) a;
    if not found then
      return;
    end if;
    if not revoked then
      perform pg_catalog.set_config(
        'request.jwt.claims',
        pg_catalog.json_build_object('role', 'authenticated', 'org_id', authenticate_api_key.org_id, 'key_id', authenticate_api_key.key_id)::text,
        true);
      if v_stale then
        perform app._note_api_key_use(authenticate_api_key.org_id, authenticate_api_key.key_id);
      end if;
    end if;
    return next;
  end;
  $$;
comment on function app.authenticate_api_key(text) is 'Looks up an API key by hash; for a live key sets request.jwt.claims to its org for the rest of the transaction. revoked: the key may not be used (revoked, or expired after rotation: expired, expires_at).';
revoke execute on function app.authenticate_api_key(text) from public;
grant execute on function app.authenticate_api_key(text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Key management, as the org (row-level security in force). Changes to an org's keys take
-- a per-org lock first, so two requests can never both revoke "the other" last key.
-- ---------------------------------------------------------------------------
create view app.api_key_details with (security_invoker = true) as
  select k.id, k.org_id, k.name, k.key_prefix, k.created_at, k.last_used_at, k.expires_at, k.revoked_at, k.replaced_by,
    case
      when k.revoked_at is not null then 'revoked'
      when k.expires_at <= pg_catalog.now() then 'expired'
      when k.expires_at is not null then 'expiring'
      else 'active'
    end as status
  from app.api_keys k;
comment on view app.api_key_details is 'API keys as the API lists them: prefix, name, times and status (active, expiring = rotated and in its overlap window, expired, revoked); never the hash.';
grant select on app.api_key_details to authenticated, service_role;

create function app._lock_org_keys() returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org constant text := app.current_org_id();
  begin
    if v_org is null then
      perform app.refuse(401, 'missing_api_key', 'Managing API keys needs a workspace identity',
        'Call it with one of the workspace''s API keys (Authorization: Bearer rcm_live_…).');
    end if;
    perform app.ensure_can_administer();
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('app.api_keys:' || v_org, 0));
    return v_org;
  end;
  $$;
comment on function app._lock_org_keys() is 'Serialises changes to the current org''s keys until the transaction ends; returns the org id (refuses without one, and 403 for a role that may not manage keys).';
revoke execute on function app._lock_org_keys() from public;
grant execute on function app._lock_org_keys() to authenticated, service_role;

create function app.create_api_key(p_name text default null)
  returns table (key_id text, api_key text, key_prefix text, name text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org constant text := app._lock_org_keys();
    v_key constant text := app._new_api_key();
    v_name constant text := coalesce(nullif(pg_catalog.btrim(p_name), ''),
      'key ' || pg_catalog.to_char(pg_catalog.now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI'));
  begin
    if length(v_name) > 100 then
      perform app.refuse(400, 'invalid_key_name', 'A key name must be 1-100 characters',
        'Name the key after what uses it, e.g. "sdr-agent" or "zapier".');
    end if;
    if (select count(*) from app.api_keys k
        where k.org_id = v_org and k.revoked_at is null and (k.expires_at is null or k.expires_at > pg_catalog.now())) >= 25 then
      perform app.refuse(409, 'too_many_api_keys', 'This workspace already has 25 working API keys',
        'Revoke keys nothing uses any more (GET /api/openclaw/keys shows lastUsedAt; DELETE /api/openclaw/keys/{id}), then create the new one.');
    end if;
    insert into app.api_keys as k (name, key_hash, key_prefix)
    values (v_name, app.hash_api_key(v_key), left(v_key, 16))
    returning k.id, k.key_prefix, k.name into key_id, key_prefix, name;
    api_key := v_key;
    return next;
  end;
  $$;
comment on function app.create_api_key(text) is 'Creates an API key for the current org (at most 25 live) and returns its plaintext once; without a name it is named after the time.';
revoke execute on function app.create_api_key(text) from public;
grant execute on function app.create_api_key(text) to authenticated, service_role;

create function app.revoke_api_key(p_key_id text, p_confirm_last boolean default false)
  returns table (key_id text, revoked_at timestamptz, already_revoked boolean, live_keys integer)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org constant text := app._lock_org_keys();
    v_id text;
    v_revoked_at timestamptz;
    v_expires_at timestamptz;
  begin
    select k.id, k.revoked_at, k.expires_at into v_id, v_revoked_at, v_expires_at
    from app.api_keys k where k.id = p_key_id and k.org_id = v_org for update;
    if v_id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('API key %s was not found', p_key_id),
        'GET /api/openclaw/keys lists this workspace''s keys; another workspace''s keys are not visible with this key.');
    end if;
    key_id := v_id;
    already_revoked := v_revoked_at is not null;
    if not already_revoked then
      -- Revoking a working key must leave a working key without an expiry, or be meant.
      if (v_expires_at is null or v_expires_at > pg_catalog.now())
         and not coalesce(p_confirm_last, false)
         and not exists (select from app.api_keys k
                         where k.org_id = v_org and k.id <> v_id and k.revoked_at is null and k.expires_at is null) then
        perform app.refuse(409, 'last_api_key',
          pg_catalog.format('API key %s is this workspace''s last working key%s: revoking it would lock every agent out',
            v_id, case when exists (select from app.api_keys k where k.org_id = v_org and k.id <> v_id and k.revoked_at is null
                                      and k.expires_at > pg_catalog.now()) then ' (the others expire after their rotation overlap)' else '' end),
          pg_catalog.format('Create its replacement first (POST /api/openclaw/keys, or POST /api/openclaw/keys/%s/rotate), or, if you mean to lock the workspace, DELETE /api/openclaw/keys/%s?confirm=last-key. A lost key is replaced with POST /api/openclaw/keys/recover { "email": "<owner email>" }.', v_id, v_id),
          pg_catalog.jsonb_build_object('next_steps', pg_catalog.jsonb_build_array(
            pg_catalog.format('POST /api/openclaw/keys/%s/rotate to replace it with a new key', v_id),
            pg_catalog.format('DELETE /api/openclaw/keys/%s?confirm=last-key to revoke it anyway', v_id))));
      end if;
      update app.api_keys k set revoked_at = pg_catalog.now() where k.org_id = v_org and k.id = v_id;
    end if;
    revoked_at := coalesce(v_revoked_at, pg_catalog.now());
    select count(*)::integer into live_keys from app.api_keys k
    where k.org_id = v_org and k.revoked_at is null and (k.expires_at is null or k.expires_at > pg_catalog.now());
    return next;
  end;
  $$;
comment on function app.revoke_api_key(text, boolean) is 'Revokes one of the current org''s keys for good (again: no change); refuses (409 last_api_key) to leave no working key without an expiry unless p_confirm_last.';
revoke execute on function app.revoke_api_key(text, boolean) from public;
grant execute on function app.revoke_api_key(text, boolean) to authenticated, service_role;

create function app.rotate_api_key(p_key_id text, p_overlap_hours integer default 24)
  returns table (key_id text, api_key text, key_prefix text, name text, old_key_id text, old_expires_at timestamptz)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org constant text := app._lock_org_keys();
    v_id text;
    v_name text;
    v_revoked_at timestamptz;
    v_expires_at timestamptz;
    v_replaced_by text;
    v_new constant text := app._new_api_key();
  begin
    if p_overlap_hours is null or p_overlap_hours not between 0 and 168 then
      perform app.refuse(400, 'invalid_overlap', 'overlapHours must be a whole number of hours from 0 to 168 (7 days)',
        'Send { "overlapHours": 24 } (the default) to keep the old key working for a day while agents switch; 0 stops it at once.');
    end if;
    select k.id, k.name, k.revoked_at, k.expires_at, k.replaced_by into v_id, v_name, v_revoked_at, v_expires_at, v_replaced_by
    from app.api_keys k where k.id = p_key_id and k.org_id = v_org for update;
    if v_id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('API key %s was not found', p_key_id),
        'GET /api/openclaw/keys lists this workspace''s keys; another workspace''s keys are not visible with this key.');
    elsif v_revoked_at is not null then
      perform app.refuse(409, 'api_key_revoked', pg_catalog.format('API key %s is revoked', v_id),
        'Only a working key is rotated. Create a new key instead: POST /api/openclaw/keys { "name": "…" }.');
    elsif v_expires_at is not null then
      perform app.refuse(409, 'api_key_already_rotated',
        pg_catalog.format('API key %s was already rotated%s; it %s at %s', v_id,
          coalesce(' (replaced by ' || v_replaced_by || ')', ''),
          case when v_expires_at <= pg_catalog.now() then 'stopped working' else 'stops working' end, v_expires_at),
        case when v_replaced_by is not null
          then pg_catalog.format('Rotate its replacement instead: POST /api/openclaw/keys/%s/rotate.', v_replaced_by)
          else 'Create a new key instead: POST /api/openclaw/keys.' end);
    end if;

    insert into app.api_keys as k (name, key_hash, key_prefix)
    values (v_name, app.hash_api_key(v_new), left(v_new, 16))
    returning k.id, k.key_prefix, k.name into key_id, key_prefix, name;
    update app.api_keys k
    set expires_at = pg_catalog.now() + pg_catalog.make_interval(hours => p_overlap_hours), replaced_by = key_id
    where k.org_id = v_org and k.id = v_id
    returning k.id, k.expires_at into old_key_id, old_expires_at;
    api_key := v_new;
    return next;
  end;
  $$;
comment on function app.rotate_api_key(text, integer) is 'Replaces one of the current org''s working keys with a new one of the same name (plaintext returned once); the old key keeps working for p_overlap_hours (0-168, default 24), then stops.';
revoke execute on function app.rotate_api_key(text, integer) from public;
grant execute on function app.rotate_api_key(text, integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The one place a new org is seeded, for every writer (signup, Studio, a test): its default
-- pipeline, its default playbooks (which name stages, so they come second) and its send
-- settings with their defaults.
-- ---------------------------------------------------------------------------
create function app._seed_org() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app._create_default_stages(new.id);
    perform app._create_default_playbooks(new.id);
    insert into app.campaign_settings (org_id) values (new.id);
    return null;
  end;
  $$;
comment on function app._seed_org() is 'Trigger: gives a new org the default pipeline, the default playbooks and its send settings.';
revoke execute on function app._seed_org() from public;

create trigger orgs_seed after insert on app.orgs
  for each row execute function app._seed_org();

-- ---------------------------------------------------------------------------
-- Signup: a new workspace gets its org (seeded by the orgs_seed trigger above, and given its
-- owner as first member by orgs_owner_member, 24_members.sql) and its first API key, returned
-- once; the owner is mailed a welcome with a sign-in link. One workspace per owner email.
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
    v_owner text;
  begin
    if exists (select from app.orgs o where lower(o.owner_email) = v_email) then
      perform app.refuse(409, 'email_already_registered',
        pg_catalog.format('A workspace is already registered to %s', v_email),
        'Use the API key issued when that workspace was created, or sign up with a different email. Lost the key? POST /api/openclaw/keys/recover { "email": "…" } mails the owner a one-time link that issues a new one.');
    end if;

    insert into app.orgs (name, workspace_name, owner_email, owner_first_name, owner_last_name, agent_name, agent_platform)
    values (coalesce(nullif(btrim(p_organization_name), ''), btrim(p_workspace_name)), btrim(p_workspace_name),
            v_email, p_first_name, p_last_name, p_agent_name, p_agent_platform)
    returning id into org_id;

    select k.api_key into api_key from app._issue_api_key(org_id) k;
    key_prefix := left(api_key, 16);
    select m.id into v_owner from app.org_members m where m.org_id = signup.org_id and m.role = 'owner';
    perform app._send_email_link(org_id, 'welcome', v_email, v_owner);
    return next;
  end;
  $$;
comment on function app.signup(text, text, text, text, text, text, text) is 'Creates a workspace (an org, seeded by app._seed_org, its owner member and its first API key) for an email not yet registered and queues the owner''s welcome mail with a sign-in link; returns the key once.';
revoke execute on function app.signup(text, text, text, text, text, text, text) from public;
grant execute on function app.signup(text, text, text, text, text, text, text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Key recovery: a lost key is replaced through the owner's mailbox. POST /keys/recover
-- { email } (no key) queues a mail to the owner's address with a one-time link; the link
-- issues a new key once. Nobody learns from the answer whether an address is registered:
-- every address is rate-limited alike (3 requests an hour), and only the rows for a
-- registered one lead to a mail.
-- ---------------------------------------------------------------------------

-- Recovery requests per address, for the rate limit. The address is kept only as a hash:
-- requests for addresses that are not registered leave nothing readable behind.
create table app.key_recovery_requests (
  id bigint generated always as identity primary key,
  email_hash text not null constraint key_recovery_requests_email_hash_check check (email_hash ~ '^[0-9a-f]{64}$'),
  requested_at timestamptz not null default now()
);
comment on table app.key_recovery_requests is 'Key recovery requests by address hash (SHA-256 of the lower-cased address), for the 3-an-hour rate limit; kept a day. Not a tenant table: no org is known for most rows.';
create index key_recovery_requests_email_idx on app.key_recovery_requests (email_hash, requested_at);
create index key_recovery_requests_requested_idx on app.key_recovery_requests (requested_at);

alter table app.key_recovery_requests enable row level security;
alter table app.key_recovery_requests force row level security;
-- Written and read only by app.request_key_recovery; no tenant or anonymous access.
create policy "Key recovery requests are visible to the service role only" on app.key_recovery_requests
  for select to service_role using (true);
grant all on app.key_recovery_requests to service_role;

-- A recovery of a registered workspace is one of app.email_links (purpose key_recovery,
-- 24_members.sql): the token in the mailed link exists in plaintext only in that mail, made
-- when the mail is about to be sent (app._issue_email_link_token) and stored as its hash.

create function app.request_key_recovery(p_email text) returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_email constant text := pg_catalog.lower(pg_catalog.btrim(p_email));
    v_hash text;
    v_recent timestamptz[];
    v_org app.orgs;
    v_wait integer;
  begin
    if v_email is null or length(v_email) > 320 or v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
      perform app.refuse(400, 'invalid_email', 'email must be a valid address of at most 320 characters',
        'Send the email address the workspace was signed up with: { "email": "owner@example.com" }.');
    end if;
    v_hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_email, 'UTF8')), 'hex');
    -- One request per address at a time, so the limit is exact under concurrency.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('app.key_recovery:' || v_hash, 0));

    delete from app.key_recovery_requests r where r.requested_at < pg_catalog.now() - interval '1 day';
    select pg_catalog.array_agg(r.requested_at order by r.requested_at desc) into v_recent
    from app.key_recovery_requests r
    where r.email_hash = v_hash and r.requested_at > pg_catalog.now() - interval '1 hour';
    if coalesce(pg_catalog.array_length(v_recent, 1), 0) >= 3 then
      v_wait := greatest(1, ceil(extract(epoch from v_recent[3] + interval '1 hour' - pg_catalog.now()))::integer);
      perform app.refuse(429, 'rate_limited', 'Too many key recovery requests for this address: at most 3 an hour',
        pg_catalog.format('Look for the last recovery email (and in the spam folder); each link works for 15 minutes. Ask again in %s minute(s).', ceil(v_wait / 60.0)::integer),
        pg_catalog.jsonb_build_object('retryAfter', v_wait));
    end if;
    insert into app.key_recovery_requests (email_hash) values (v_hash);

    select o.* into v_org from app.orgs o where pg_catalog.lower(o.owner_email) = v_email;
    if v_org.id is not null then
      -- The link and its mail, in the same transaction: the mail is owed exactly when the recovery exists.
      perform app._send_email_link(v_org.id, 'key_recovery', v_email);
    end if;
  end;
  $$;
comment on function app.request_key_recovery(text) is 'POST /keys/recover: at most 3 requests per address an hour (429 with retryAfter otherwise, for any address); for a workspace owner''s address records a recovery and queues its mail (app.system_mail). Says nothing about whether the address is registered.';
revoke execute on function app.request_key_recovery(text) from public;
grant execute on function app.request_key_recovery(text) to anon, service_role;

create function app.confirm_key_recovery(p_token text)
  returns table (org_id text, key_id text, api_key text, key_prefix text)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_recovery_org text;
    v_recovery_id text;
    v_used_at timestamptz;
    v_token_expires_at timestamptz;
    v_key_id text;
    v_key text;
  begin
    if p_token ~ '^[0-9a-f]{64}$' then
      select r.org_id, r.id, r.used_at, r.token_expires_at into v_recovery_org, v_recovery_id, v_used_at, v_token_expires_at
      from app.email_links r
      where r.token_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8')), 'hex')
        and r.purpose = 'key_recovery'
      for update;
    end if;
    if v_recovery_id is null then
      perform app.refuse(400, 'invalid_recovery_token', 'This key recovery link is not valid',
        'Use the whole link from the recovery email, or ask for a new one: POST /api/openclaw/keys/recover { "email": "<owner email>" }.');
    elsif v_used_at is not null then
      perform app.refuse(410, 'recovery_link_used', 'This key recovery link was already used',
        'Each link issues one key. If you did not use it, someone with access to the mailbox did: ask for a new link (POST /api/openclaw/keys/recover), then revoke the keys you do not know (GET /api/openclaw/keys, DELETE /api/openclaw/keys/{id}).');
    elsif v_token_expires_at <= pg_catalog.now() then
      perform app.refuse(410, 'recovery_link_expired', 'This key recovery link has expired',
        'Links work for 15 minutes after the email was sent. Ask for a new one: POST /api/openclaw/keys/recover { "email": "<owner email>" }.');
    end if;

    select i.key_id, i.api_key into v_key_id, v_key from app._issue_api_key(v_recovery_org, 'recovered') i;
    update app.email_links r set used_at = pg_catalog.now(), key_id = v_key_id
    where r.org_id = v_recovery_org and r.id = v_recovery_id;
    org_id := v_recovery_org;
    key_id := v_key_id;
    api_key := v_key;
    key_prefix := left(v_key, 16);
    return next;
  end;
  $$;
comment on function app.confirm_key_recovery(text) is 'The recovery link: for a valid, unused, unexpired token issues a new key named "recovered" for its workspace (plaintext returned once) and marks the token used; 400 unknown, 410 used or expired.';
revoke execute on function app.confirm_key_recovery(text) from public;
grant execute on function app.confirm_key_recovery(text) to anon, service_role;
