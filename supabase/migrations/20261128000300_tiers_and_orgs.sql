-- Plans and the orgs (tenants) that are on them.

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
