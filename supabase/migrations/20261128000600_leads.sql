-- Leads: the people an org sells to.
-- One live lead per org and email (case-insensitive); soft delete keeps a lead
-- recoverable; the plan's lead limit is enforced by the inserting transaction.

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
  constraint leads_org_id_id_key unique (org_id, id),
  constraint leads_stage_fkey foreign key (org_id, stage_id) references app.stages (org_id, id)
);
comment on table app.leads is 'Leads per org. deleted_at set = soft-deleted (hidden from lists, restorable, still counted against the plan until permanently deleted).';
comment on column app.leads.enrichment is 'The enrichment document: sources, discussion points, tech stack, confidence, per-source raw data.';
comment on column app.leads.last_touch_at is 'When the lead was last touched (touchpoint, email, meeting); what stalled detection reads.';

create unique index leads_org_email_key on app.leads (org_id, email_key) where deleted_at is null;
create index leads_org_created_idx on app.leads (org_id, created_at desc, id desc) where deleted_at is null;
create index leads_org_deleted_idx on app.leads (org_id, deleted_at desc) where deleted_at is not null;
create index leads_org_status_idx on app.leads (org_id, status) where deleted_at is null;
create index leads_org_tier_idx on app.leads (org_id, tier) where deleted_at is null;
create index leads_org_stage_idx on app.leads (org_id, stage_id);

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
-- The API's view of a lead: the row plus its stage's name. security_invoker keeps
-- row-level security of the caller in force.
-- ---------------------------------------------------------------------------
create view app.lead_details with (security_invoker = true) as
  select l.*, s.name as stage
  from app.leads l
  left join app.stages s on s.id = l.stage_id;
comment on view app.lead_details is 'Leads with their stage name, as the API returns them.';

grant select on app.lead_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Usage against the plan, for GET /org/tier.
-- ---------------------------------------------------------------------------
create function app.org_tier() returns table (
  org_id text, tier text, lead_limit integer, campaign_limit integer,
  leads integer, live_leads integer, deleted_leads integer)
  language sql stable
  set search_path = ''
  as $$
    select o.id, o.tier, t.lead_limit, t.campaign_limit, c.total, c.total - c.deleted, c.deleted
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    cross join lateral (
      select count(*)::integer as total, (count(*) filter (where l.deleted_at is not null))::integer as deleted
      from app.leads l where l.org_id = o.id
    ) c
    where o.id = app.current_org_id()
  $$;
comment on function app.org_tier() is 'The current org''s tier, its limits and how many leads count against them.';
revoke execute on function app.org_tier() from public;
grant execute on function app.org_tier() to authenticated, service_role;
