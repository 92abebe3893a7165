-- Orgs and API keys: the tenants, the plans they are on, and how a request proves which
-- org it acts for.
--   * app.tiers: plan limits as reference data (free, pro, ultra), the API rate limit per key
--     included;
--   * app.orgs: one per workspace; app.api_keys: hashed keys per org;
--   * app._seed_org: what every new org starts with, whoever inserts it: the default pipeline
--     (30_stages.sql), the default playbooks (60_playbooks.sql) and its send settings
--     (70_campaigns.sql);
--   * app.signup (POST /signup): a new org and its first API key;
--   * app.authenticate_api_key: the lookup every request makes before it acts as its org.
-- Elsewhere: app.authenticate_request (22_rate_limits.sql) wraps that lookup with the key's
-- rate limit, in the one statement a request starts with; the tier limits are enforced by
-- triggers in 78_plan_limits.sql (which also answers GET /org/tier); POST /setup changes an
-- org's settings in 35_setup.sql.

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
-- a SHA-256 hash with a short display prefix.
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
  primary key (org_id, id)
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
        update app.api_keys k set last_used_at = pg_catalog.now() where k.org_id = v_key.org_id and k.id = v_key.id;
      end if;
    end if;
    return next;
  end;
  $$;
comment on function app.authenticate_api_key(text) is 'Looks up an API key by hash; for a live key sets request.jwt.claims to its org for the rest of the transaction.';
revoke execute on function app.authenticate_api_key(text) from public;
grant execute on function app.authenticate_api_key(text) to anon, service_role;

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
-- Signup: a new workspace gets its org (seeded by the orgs_seed trigger above) and its first
-- API key, returned once. One workspace per owner email.
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

    select k.api_key into api_key from app._issue_api_key(org_id) k;
    key_prefix := left(api_key, 16);
    return next;
  end;
  $$;
comment on function app.signup(text, text, text, text, text, text, text) is 'Creates a workspace (an org, seeded by app._seed_org, and its first API key) for an email not yet registered; returns the key once.';
revoke execute on function app.signup(text, text, text, text, text, text, text) from public;
grant execute on function app.signup(text, text, text, text, text, text, text) to anon, service_role;
