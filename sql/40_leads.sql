-- Leads: the people an org sells to. One live lead per org and email (case-insensitive:
-- leads_org_email_key); soft delete (deleted_at) keeps a lead recoverable; a lead's stage
-- is always one of its own org's stages (leads_stage_fkey). This file holds app.leads (its
-- columns, indexes and policies), the trigger that puts a new lead in the default stage, and
-- the two ways a lead is written from outside:
--   * app.create_lead: POST /leads (functions/routes/leads.ts) in one call;
--   * app.upsert_lead_by_email: the one find-or-create by email, for sync sources, Calendly
--     bookings and quiz submissions.
-- Every lead records where it came from (source: api, quiz, sync_source, calendly, sql) and
-- who created it (created_by), from the writer's claims; app.delete_leads_by_source
-- (POST /leads/bulk-delete) removes the leads of one source in one statement.
-- Every insert or update, whoever writes, then passes these triggers, fired by timing and
-- then by name:
--   before, row by row:
--     leads_check_custom_fields  46_custom_fields.sql  customFields fit the org's definitions
--     leads_default_stage        40_leads.sql          (insert) no stage given: the default one
--     leads_name_keys            52_enrichment.sql     organization_key and company_key
--     leads_touch_updated_at     40_leads.sql          (update) updated_at
--   after, row by row:
--     leads_record_stage_change  42_stage_history.sql  (update of stage_id) the stage history
--     leads_rescore              56_scoring.sql        (update of tier, enrichment_status or
--                                                      last_touch_at) the new score
--   after, once per statement (an insert's in the numbered order, each set-based over the
--   statement's new leads, so a batch costs O(n)):
--     leads_10_proposals         66_proposals.sql      (insert) the leads' proposal pages
--     leads_20_first_stage       42_stage_history.sql  (insert) the stage history's first rows
--     leads_30_score_new         56_scoring.sql        (insert) the first scores
--     leads_40_webhook_created,  86_webhooks.sql       (insert, update, delete) outbound webhooks:
--     leads_webhook_changed,                           lead.created, lead.updated, lead.deleted,
--     leads_webhook_deleted                            enrichment.completed, for orgs that subscribe
--     leads_90_enforce_limit     78_plan_limits.sql    (insert) the tier's lead limit: one lock
--                                                      and one count per org, exact under
--                                                      concurrency; last, so the org's row is
--                                                      locked for the shortest time
-- app.lead_details, the API's view of a lead (with its stage name, score and proposal slug),
-- is in 95_views.sql because it joins the score (56_scoring.sql) and the proposal
-- (66_proposals.sql), whose tables later files add.
-- last_touch_at is moved forward by touchpoints (44_touchpoints_notes.sql); enrichment
-- (52_enrichment.sql) fills the enrichment columns.

create table app.leads (
  id text not null default app.new_id('rp'),
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
  -- Where the lead came from and who created it, set by the database for every writer
  -- (app.current_source, app.current_actor: 10_foundation.sql): api (created_by: the API
  -- key's id), quiz (quiz:<id>), sync_source (sync_source:<id>), calendly, sql (Studio and
  -- scripts: the database user). No route changes them.
  source text not null default app.current_source() check (length(source) between 1 and 50),
  created_by text not null default app.current_actor(),
  primary key (org_id, id),
  constraint leads_stage_fkey foreign key (org_id, stage_id) references app.stages (org_id, id),
  -- The API's caps (functions/http/caps.ts), for every writer; a PATCH merge is held to them too.
  constraint leads_crm_data_size check (app.json_fits(crm_data, 16384, 10)),
  constraint leads_custom_fields_size check (app.json_fits(custom_fields, 65536, 10))
);
comment on table app.leads is 'Leads per org. deleted_at set = soft-deleted (hidden from lists, restorable, still counted against the plan until permanently deleted).';
comment on column app.leads.enrichment is 'The enrichment document: tier, sources (names of the sources that found something) and sourceDetails (every source asked), facts, discussion points, tech stack, confidence with its label, per-source raw data.';
comment on column app.leads.last_touch_at is 'When the lead was last touched (touchpoint, email, meeting); what stalled detection reads.';
comment on column app.leads.enrichment_status is 'not_enriched, enriching (a run is in progress since enrichment_started_at), complete or failed (enrichment_error says why).';
comment on column app.leads.enrichment_started_at is 'When the latest enrichment run started.';
comment on column app.leads.enrichment_error is 'Why the latest enrichment run failed (null unless enrichment_status = failed).';
comment on column app.leads.company_domain is 'The employer''s web domain as enrichment found it; what the spider web matches leads of one company on.';
comment on column app.leads.referrer_key is 'Who referred the lead (crm_data.referredBy / referrer / referred_by), lower-cased, for the spider web.';
comment on column app.leads.source is 'What created the lead: api, quiz, sync_source, calendly or sql (Studio, scripts); GET /leads?source= and POST /leads/bulk-delete filter on it.';
comment on column app.leads.created_by is 'Who created the lead: the API key id, quiz:<id>, sync_source:<id>, calendly, or the database user.';
comment on column app.leads.idle_since is 'The last touch, or the creation for a lead never touched: what stalled detection measures from.';

create unique index leads_org_email_key on app.leads (org_id, email_key) where deleted_at is null;
create index leads_org_created_idx on app.leads (org_id, created_at desc, id desc) where deleted_at is null;
create index leads_org_deleted_idx on app.leads (org_id, deleted_at desc) where deleted_at is not null;
create index leads_org_status_idx on app.leads (org_id, status) where deleted_at is null;
create index leads_org_tier_idx on app.leads (org_id, tier) where deleted_at is null;
create index leads_org_stage_idx on app.leads (org_id, stage_id);
-- Leads by where they came from, newest first, live and deleted: GET /leads?source= and
-- POST /leads/bulk-delete (a flood of quiz leads is found and removed by it).
create index leads_org_source_idx on app.leads (org_id, source, created_at desc, id desc);

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

-- ---------------------------------------------------------------------------
-- POST /leads: one call. The body arrives as the contract names it (camelCase, with the
-- aliases clinicName and practiceType); a live lead with the same email is a 409 that
-- names it, never a second lead (the unique index decides a race, the refusal is the same).
-- Columns left out keep their defaults; the triggers listed at the top of the file do the
-- rest (default stage, limit, proposal, history, first score).
-- ---------------------------------------------------------------------------
create function app.create_lead(p_lead jsonb) returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_email text := p_lead ->> 'email';
    v_id text;
  begin
    insert into app.leads as l (first_name, last_name, email, organization_name, business_type, phone, tier,
                                status, stage_id, custom_fields, crm_data, title, seniority, company_name,
                                linkedin_url, company_size, company_revenue)
    select p_lead ->> 'firstName', p_lead ->> 'lastName', v_email,
           case when p_lead ? 'organizationName' then p_lead ->> 'organizationName' else p_lead ->> 'clinicName' end,
           case when p_lead ? 'businessType' then p_lead ->> 'businessType' else p_lead ->> 'practiceType' end,
           p_lead ->> 'phone', p_lead ->> 'tier', coalesce(p_lead ->> 'status', 'new'),
           app.resolve_stage(p_lead ->> 'stage'),
           coalesce(p_lead -> 'customFields', '{}'::jsonb), coalesce(p_lead -> 'crmData', '{}'::jsonb),
           p_lead ->> 'title', p_lead ->> 'seniority', p_lead ->> 'companyName', p_lead ->> 'linkedinUrl',
           p_lead ->> 'companySize', p_lead ->> 'companyRevenue'
    where not exists (select from app.leads x
                      where x.org_id = app.current_org_id() and x.email_key = pg_catalog.lower(v_email) and x.deleted_at is null)
    on conflict (org_id, email_key) where deleted_at is null do nothing
    returning l.id into v_id;

    if v_id is null then
      select x.id into v_id from app.leads x
      where x.org_id = app.current_org_id() and x.email_key = pg_catalog.lower(v_email) and x.deleted_at is null;
      perform app.refuse(409, 'lead_exists', 'A lead with this email already exists in this workspace',
        pg_catalog.format('The existing lead is %s. Update it with PATCH /api/openclaw/leads/%s instead of creating it again.', v_id, v_id),
        pg_catalog.jsonb_build_object('existingId', v_id,
          'next_steps', pg_catalog.jsonb_build_array(pg_catalog.format('PATCH /api/openclaw/leads/%s { ...fields to change }', v_id))));
    end if;
    return v_id;
  end;
  $$;
comment on function app.create_lead(jsonb) is 'Creates a lead in the current org from a POST /leads body (contract field names and aliases); returns its id, or refuses 409 lead_exists with existingId when a live lead has the email.';
revoke execute on function app.create_lead(jsonb) from public;
grant execute on function app.create_lead(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The one find-or-create of a lead by email, for the writers that hear of people rather than
-- being told to create them: sync sources (48_sync_sources.sql), Calendly bookings
-- (82_calendly.sql) and quiz submissions (84_quizzes.sql).
--   * An existing live lead is locked and updated: a value given replaces the stored one,
--     a value left out keeps it. It only ever moves forward in the pipeline (to p_stage_id
--     when that stage comes later), so a routine event never sends a deal back.
--   * Otherwise a lead is inserted: named from firstName/lastName, else from the display
--     name ("Jane Doe" of "Jane Doe <jane@acme.com>"), else from the email's local part; in
--     p_stage_id or the default stage. Updating first means a workspace at its plan's lead
--     limit still hears about leads it has; the limit trigger refuses a new one (402).
--   * A concurrent writer creating the same email makes the insert do nothing; the second
--     pass then finds and updates that lead.
-- Runs as its caller, so the caller acts as p_org_id (claims set) or bypasses RLS.
-- ---------------------------------------------------------------------------
create function app.upsert_lead_by_email(
  p_org_id text,
  p_email text,
  p_fields jsonb default '{}',
  p_stage_id text default null,
  p_display_name text default null,
  out lead_id text,
  out created boolean,
  out stage_id text,
  out previous_stage_id text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_fields jsonb := coalesce(p_fields, '{}'::jsonb);
    v_display text := nullif(pg_catalog.btrim(p_display_name), '');
  begin
    created := false;
    for v_attempt in 1..2 loop
      select l.id, l.stage_id into lead_id, previous_stage_id
      from app.leads l
      where l.org_id = p_org_id and l.email_key = pg_catalog.lower(p_email) and l.deleted_at is null
      for update;
      if lead_id is not null then
        update app.leads l set
          first_name = coalesce(v_fields ->> 'firstName', l.first_name),
          last_name = coalesce(v_fields ->> 'lastName', l.last_name),
          organization_name = coalesce(v_fields ->> 'organizationName', l.organization_name),
          business_type = coalesce(v_fields ->> 'businessType', l.business_type),
          phone = coalesce(v_fields ->> 'phone', l.phone),
          title = coalesce(v_fields ->> 'title', l.title),
          company_name = coalesce(v_fields ->> 'companyName', l.company_name),
          linkedin_url = coalesce(v_fields ->> 'linkedinUrl', l.linkedin_url),
          stage_id = case
            when (select t.position from app.stages t where t.org_id = p_org_id and t.id = p_stage_id)
                 > coalesce((select f.position from app.stages f where f.org_id = p_org_id and f.id = l.stage_id), -1)
            then p_stage_id else l.stage_id end
        where l.org_id = p_org_id and l.id = upsert_lead_by_email.lead_id
        returning l.stage_id into stage_id;
        return;
      end if;

      insert into app.leads as l (org_id, first_name, last_name, email, organization_name, business_type, phone,
                                  title, company_name, linkedin_url, stage_id)
      values (p_org_id,
              coalesce(v_fields ->> 'firstName', substring(v_display from '^\S+'), pg_catalog.split_part(p_email, '@', 1)),
              coalesce(v_fields ->> 'lastName', nullif(pg_catalog.btrim(pg_catalog.regexp_replace(v_display, '^\S+', '')), '')),
              p_email,
              v_fields ->> 'organizationName', v_fields ->> 'businessType', v_fields ->> 'phone',
              v_fields ->> 'title', v_fields ->> 'companyName', v_fields ->> 'linkedinUrl', p_stage_id)
      on conflict (org_id, email_key) where deleted_at is null do nothing
      returning l.id, l.stage_id into lead_id, stage_id;
      if lead_id is not null then
        created := true;
        return;
      end if;
    end loop;
  end;
  $$;
comment on function app.upsert_lead_by_email(text, text, jsonb, text, text) is 'Finds the org''s live lead by email (case-insensitive) and updates the fields given, moving it forward to p_stage_id only; or creates it (named from the fields, the display name or the email); safe against a concurrent writer of the same email.';
revoke execute on function app.upsert_lead_by_email(text, text, jsonb, text, text) from public;
grant execute on function app.upsert_lead_by_email(text, text, jsonb, text, text) to service_role;

-- ---------------------------------------------------------------------------
-- POST /leads/bulk-delete: the caller's leads of one source (optionally of one creator, such
-- as quiz:<id>, and created in [p_created_after, p_created_before)) in one statement, under
-- row-level security. Soft (the default): live leads get deleted_at; they can be restored
-- and still count against the plan. Permanent: live and soft-deleted leads go for good with
-- their history, which frees the plan's room. p_dry_run counts what would go and changes
-- nothing. Returns how many leads were (or would be) deleted.
-- ---------------------------------------------------------------------------
create function app.delete_leads_by_source(
  p_source text,
  p_created_by text default null,
  p_created_after timestamptz default null,
  p_created_before timestamptz default null,
  p_permanent boolean default false,
  p_dry_run boolean default false)
  returns integer
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org constant text := app.current_org_id();
    v_count integer;
  begin
    if p_dry_run then
      select count(*)::integer into v_count from app.leads l
      where l.org_id = v_org and l.source = p_source
        and (p_created_by is null or l.created_by = p_created_by)
        and (p_created_after is null or l.created_at >= p_created_after)
        and (p_created_before is null or l.created_at < p_created_before)
        and (p_permanent or l.deleted_at is null);
    elsif p_permanent then
      delete from app.leads l
      where l.org_id = v_org and l.source = p_source
        and (p_created_by is null or l.created_by = p_created_by)
        and (p_created_after is null or l.created_at >= p_created_after)
        and (p_created_before is null or l.created_at < p_created_before);
      get diagnostics v_count = row_count;
    else
      update app.leads l set deleted_at = pg_catalog.now()
      where l.org_id = v_org and l.source = p_source and l.deleted_at is null
        and (p_created_by is null or l.created_by = p_created_by)
        and (p_created_after is null or l.created_at >= p_created_after)
        and (p_created_before is null or l.created_at < p_created_before);
      get diagnostics v_count = row_count;
    end if;
    return v_count;
  end;
  $$;
comment on function app.delete_leads_by_source(text, text, timestamptz, timestamptz, boolean, boolean) is 'Soft-deletes the current org''s live leads of one source (or, p_permanent, deletes its live and soft-deleted ones for good, freeing the plan), optionally of one creator and creation window, in one statement; p_dry_run only counts. Returns how many.';
revoke execute on function app.delete_leads_by_source(text, text, timestamptz, timestamptz, boolean, boolean) from public;
grant execute on function app.delete_leads_by_source(text, text, timestamptz, timestamptz, boolean, boolean) to authenticated, service_role;
