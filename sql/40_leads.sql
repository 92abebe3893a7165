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
