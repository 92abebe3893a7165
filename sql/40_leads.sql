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
  -- Set on a duplicate merged into another lead (app.merge_leads, 88_bulk.sql), which also
  -- soft-deletes it; cleared should the primary be deleted for good.
  merged_into text,
  -- Duplicate detection (app.lead_duplicates, 88_bulk.sql): the name as compared, and the
  -- phone's last ten digits (null under seven digits).
  name_key text generated always as (nullif(lower(btrim(regexp_replace(
    coalesce(first_name, '') || ' ' || coalesce(last_name, ''), '\s+', ' ', 'g'))), '')) stored,
  phone_key text generated always as (case when length(regexp_replace(coalesce(phone, ''), '\D', '', 'g')) >= 7
    then right(regexp_replace(phone, '\D', '', 'g'), 10) end) stored,
  -- Full-text search (app.search_leads, 88_bulk.sql) over the lead's own words: names first,
  -- then the companies, then email, title and business type. 'simple': names are not stemmed.
  search_doc tsvector generated always as (
    setweight(to_tsvector('pg_catalog.simple'::regconfig, coalesce(first_name, '') || ' ' || coalesce(last_name, '')), 'A')
    || setweight(to_tsvector('pg_catalog.simple'::regconfig, coalesce(organization_name, '') || ' ' || coalesce(company_name, '')), 'B')
    || setweight(to_tsvector('pg_catalog.simple'::regconfig, email || ' ' || translate(email, '@.', '  ') || ' '
                             || coalesce(title, '') || ' ' || coalesce(business_type, '')), 'C')) stored,
  primary key (org_id, id),
  constraint leads_stage_fkey foreign key (org_id, stage_id) references app.stages (org_id, id),
  constraint leads_merged_into_fkey foreign key (org_id, merged_into) references app.leads (org_id, id) on delete set null (merged_into),
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
comment on column app.leads.merged_into is 'The lead this one was merged into (it is then soft-deleted): POST /leads/merge, app.merge_leads.';
comment on column app.leads.name_key is 'The full name lower-cased with single spaces: what duplicate detection compares (exactly with the company, by trigram similarity alone).';
comment on column app.leads.phone_key is 'The phone''s last ten digits (null under seven): duplicate detection matches on it.';
comment on column app.leads.search_doc is 'The lead''s words for full-text search (names A, companies B, email, title and business type C), GET /leads/search.';
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
-- Search and duplicates (88_bulk.sql), led by org_id (btree_gin): trigram matches on what
-- `q` searches (name, email, company: also GET /leads?q=, a LIKE) and on names, full text on
-- the lead's words, equality on the phone's digits and the name.
create index leads_org_search_trgm_idx on app.leads using gin (org_id, search_text extensions.gin_trgm_ops) where deleted_at is null;
create index leads_org_search_doc_idx on app.leads using gin (org_id, search_doc) where deleted_at is null;
create index leads_org_name_trgm_idx on app.leads using gin (org_id, name_key extensions.gin_trgm_ops) where deleted_at is null;
create index leads_org_name_key_idx on app.leads (org_id, name_key) where deleted_at is null;
create index leads_org_phone_key_idx on app.leads (org_id, phone_key) where deleted_at is null and phone_key is not null;
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
-- Writing leads from outside, many or one, through one set-based core:
--   * app._upsert_leads(org, items, mode): each item is checked on its own with the table's
--     rules written as expressions (app.lead_fields_problem, the stage, the custom field
--     definitions, the JSON caps, one item per email), so one bad item fails alone and never
--     aborts the statement; items are matched to live leads by email (case-insensitive);
--     then one statement updates the matched ones and inserts the others
--     (insert … on conflict), and answers per item: created, updated, unchanged or failed
--     with {status, code, message, hint, field?, existingId?}. The plan limit is counted, not
--     tripped over: the org's lead count is locked first (when an item may create a lead) and
--     the items past the room left fail with lead_limit_reached while the others land; the
--     limit trigger (78_plan_limits.sql) then finds nothing to refuse. Modes:
--       patch    POST /leads/batch (app.upsert_leads, below) and CSV imports (88_bulk.sql): a field
--                given replaces the stored one (null clears it), one left out keeps it;
--                customFields and crmData merge into a lead's (a key set to null is
--                removed), and a new lead keeps them as sent;
--       create   POST /leads (app.create_lead): a live lead with the email fails 409
--                lead_exists; nothing is locked ahead: the limit trigger counts the lead,
--                after the insert;
--       advance  sync sources, Calendly, quizzes (app.upsert_lead_by_email): null or left
--                out keeps the stored value, and the stage only moves forward.
--   * app.lead_fields: an item's fields as the contract names them, aliases folded in.
-- ---------------------------------------------------------------------------
create function app.lead_fields(p_item jsonb, p_drop_nulls boolean default false) returns jsonb
  language plpgsql immutable
  set search_path = ''
  as $$
  begin
    return (
      select coalesce(pg_catalog.jsonb_object_agg(g.key,
               case when pg_catalog.jsonb_typeof(g.value) = 'string'
                    then pg_catalog.to_jsonb(pg_catalog.btrim(g.value #>> '{}', E' \t\r\n')) else g.value end), '{}'::jsonb)
      from (
        select e.key, e.value from pg_catalog.jsonb_each(p_item) e
        where e.key in ('firstName', 'lastName', 'email', 'organizationName', 'businessType', 'phone', 'tier', 'status',
                        'stage', 'customFields', 'crmData', 'title', 'seniority', 'companyName', 'linkedinUrl',
                        'companySize', 'companyRevenue', 'displayName')
        union all
        select 'organizationName', p_item -> 'clinicName' where p_item ? 'clinicName' and not p_item ? 'organizationName'
        union all
        select 'businessType', p_item -> 'practiceType' where p_item ? 'practiceType' and not p_item ? 'businessType'
      ) g
      where not (p_drop_nulls and g.value = 'null'::jsonb));
  end;
  $$;
comment on function app.lead_fields(jsonb, boolean) is 'A lead item''s known fields (contract names; clinicName and practiceType folded into organizationName and businessType), strings trimmed; p_drop_nulls leaves out null values.';
revoke execute on function app.lead_fields(jsonb, boolean) from public;
grant execute on function app.lead_fields(jsonb, boolean) to authenticated, service_role;

-- What app.leads' checks would refuse in the fields an item sends, before anything is
-- written, with the words errors.ts gives the same constraints. The JSON caps and custom
-- field definitions apply to the merged values, so the core checks those itself.
create function app.lead_fields_problem(p_fields jsonb) returns jsonb
  language plpgsql immutable
  set search_path = ''
  as $$
  begin
    return (
      select coalesce(
        case
          when p_fields -> 'email' is null or p_fields -> 'email' = 'null'::jsonb then pg_catalog.jsonb_build_object(
            'status', 400, 'code', 'missing_email', 'field', 'email', 'message', 'email is required: leads are matched by email',
            'hint', 'Send the lead''s email, e.g. { "email": "jane@acme.com", "firstName": "Jane" }.')
          when pg_catalog.jsonb_typeof(p_fields -> 'email') <> 'string' or length(p_fields ->> 'email') > 320
               or (p_fields ->> 'email') !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then pg_catalog.jsonb_build_object(
            'status', 400, 'code', 'invalid_email', 'field', 'email', 'message', 'email must be a valid address of at most 320 characters',
            'hint', 'Send email like "jane@example.com".')
        end,
        (select case
                  when c.key = 'firstName' then pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_first_name', 'field', c.key,
                    'message', 'firstName must be 1-200 characters', 'hint', 'Send a non-empty firstName.')
                  when c.key = 'status' then pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_status', 'field', c.key,
                    'message', 'status must be 1-50 characters', 'hint', 'Send a short status such as "new", "contacted", "won" or "lost".')
                  when c.key = 'stage' then pg_catalog.jsonb_build_object('status', 400, 'code', 'unknown_stage', 'field', c.key,
                    'message', 'stage must be the name or id of one of the workspace''s stages', 'hint', 'GET /api/openclaw/stages lists them; leave stage out to keep the lead where it is (new leads start in the default stage).')
                  else pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_value', 'field', c.key,
                    'message', pg_catalog.format('%s must be text of at most %s characters, or null', c.key, c.max),
                    'hint', pg_catalog.format('Shorten %s (or leave it out); longer text belongs in a note (POST /api/openclaw/notes).', c.key))
                end
         from (values ('firstName', 200, true, 1), ('lastName', 200, false, 2), ('organizationName', 300, false, 3),
                      ('businessType', 200, false, 4), ('phone', 50, false, 5), ('tier', 50, false, 6), ('status', 50, true, 7),
                      ('stage', 100, true, 8), ('title', 300, false, 9), ('seniority', 100, false, 10),
                      ('companyName', 300, false, 11), ('linkedinUrl', 2000, false, 12), ('companySize', 100, false, 13),
                      ('companyRevenue', 100, false, 14), ('displayName', 500, false, 15)) c(key, max, required, position)
         where p_fields ? c.key and case
                 when p_fields -> c.key = 'null'::jsonb then c.required
                 else pg_catalog.jsonb_typeof(p_fields -> c.key) <> 'string' or length(p_fields ->> c.key) > c.max
                      or (c.required and p_fields ->> c.key = '') end
         order by c.position
         limit 1),
        (select pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_value', 'field', j.key,
                  'message', j.key || ' must be a JSON object',
                  'hint', pg_catalog.format('Send %s as an object of keys and values, e.g. { "%s": { "source": "trade show" } }, or leave it out.', j.key, j.key))
         from (values ('customFields', 1), ('crmData', 2)) j(key, position)
         where p_fields ? j.key and pg_catalog.jsonb_typeof(p_fields -> j.key) <> 'object'
         order by j.position
         limit 1)));
  end;
  $$;
comment on function app.lead_fields_problem(jsonb) is 'The first field of a lead item (app.lead_fields) that app.leads would refuse: a missing or invalid email, text of the wrong type or length, a blank firstName or status, a customFields or crmData that is not an object; as {status, code, message, hint, field}, or null.';
revoke execute on function app.lead_fields_problem(jsonb) from public;
grant execute on function app.lead_fields_problem(jsonb) to authenticated, service_role;

create function app._upsert_leads(p_org_id text, p_items jsonb, p_mode text default 'patch')
  returns table (item integer, result text, lead_id text, stage_id text, previous_stage_id text, error jsonb)
  language plpgsql
  set search_path = ''
  -- Its statements are planned once per session, not per call: the writing one is large, and a
  -- custom plan for one lead (POST /leads) took longer to make (about 1.6 ms) than to run, and a
  -- custom plan for 1,000 items ran twice as long as the generic one. The items are one jsonb
  -- value, whose rows the planner cannot see into either way.
  set plan_cache_mode = force_generic_plan
  as $$
  declare
    v_keys text[];
    v_may_create boolean;
    v_tier text;
    v_limit integer;
    v_leads integer;
  begin
    if p_mode is null or p_mode not in ('patch', 'create', 'advance') then
      raise exception 'app._upsert_leads: mode must be patch, create or advance, not %', p_mode using errcode = '22023';
    end if;
    if pg_catalog.jsonb_typeof(p_items) is distinct from 'array' then
      perform app.refuse(400, 'invalid_items', 'items must be a JSON array of leads',
        'Send { "items": [{ "email": "jane@acme.com", "firstName": "Jane" }, …] }.');
    end if;

    -- Locks, each in a statement before the writing one, so that one sees what the writers it
    -- waited for committed: the org's lead count when an item may create a lead
    -- (app.lock_lead_count, 78_plan_limits.sql: the limit trigger takes the same lock, so
    -- concurrent writers of one org count the room one at a time, and the count is one row
    -- however many leads the org has), then the live leads the items name, in id order. One
    -- lead created alone (create: POST /leads) takes neither: the limit trigger refuses it
    -- with the same words, and takes the count's lock after the insert, for the shortest time.
    select coalesce(array_agg(distinct k.key), '{}') into v_keys
    from pg_catalog.jsonb_array_elements(p_items) e
    cross join lateral (select pg_catalog.lower(pg_catalog.btrim(e ->> 'email', E' \t\r\n')) as key) k
    where k.key is not null;
    v_may_create := p_mode <> 'create' and cardinality(v_keys) > (
      select count(*) from app.leads l where l.org_id = p_org_id and l.deleted_at is null and l.email_key = any (v_keys));
    if v_may_create then
      v_leads := app.lock_lead_count(p_org_id);
      select o.tier, t.lead_limit into v_tier, v_limit
      from app.orgs o join app.tiers t on t.tier = o.tier
      where o.id = p_org_id;
    end if;
    if p_mode <> 'create' then
      perform from app.leads l
      where l.org_id = p_org_id and l.deleted_at is null and l.email_key = any (v_keys)
      order by l.id
      for update of l;
    end if;

    -- Materialised steps: each item's fields, checks and new values are computed once, not
    -- once per reference.
    return query
    with src as materialized (
      select (x.n - 1)::integer as item,
             case when pg_catalog.jsonb_typeof(x.doc) = 'object' then app.lead_fields(x.doc, p_mode = 'advance') end as f
      from pg_catalog.jsonb_array_elements(p_items) with ordinality as x(doc, n)
    ),
    checked as materialized (
      select s.item, s.f, pg_catalog.lower(s.f ->> 'email') as email_key,
        case when s.f is null then pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_item',
               'message', 'An item must be a JSON object holding a lead''s fields',
               'hint', 'Send each item like { "email": "jane@acme.com", "firstName": "Jane" }.')
             else app.lead_fields_problem(s.f) end as problem
      from src s
    ),
    matched as (
      select c.*, l.id as old_id, l.first_name, l.last_name, l.organization_name, l.business_type, l.phone, l.tier,
        l.status, l.title, l.seniority, l.company_name, l.linkedin_url, l.company_size, l.company_revenue,
        l.custom_fields, l.crm_data, l.stage_id as old_stage_id,
        (select s.position from app.stages s where s.org_id = p_org_id and s.id = l.stage_id) as old_position,
        st.id as stage_to, st.position as stage_to_position
      from checked c
      left join app.leads l on c.problem is null and l.org_id = p_org_id and l.email_key = c.email_key and l.deleted_at is null
      left join lateral (
        select s.id, s.position from app.stages s
        where c.problem is null and c.f ? 'stage' and s.org_id = p_org_id
          and (s.id = c.f ->> 'stage' or pg_catalog.lower(s.name) = pg_catalog.lower(c.f ->> 'stage'))
        order by s.id = c.f ->> 'stage' desc
        limit 1) st on true
    ),
    computed as materialized (
      select m.*,
        case when m.f ? 'firstName' then m.f ->> 'firstName' when m.old_id is not null then m.first_name
             when p_mode = 'advance' then coalesce(substring(m.f ->> 'displayName' from '^\S+'), pg_catalog.split_part(m.f ->> 'email', '@', 1)) end as n_first_name,
        case when m.f ? 'lastName' then m.f ->> 'lastName' when m.old_id is not null then m.last_name
             when p_mode = 'advance' then nullif(pg_catalog.btrim(pg_catalog.regexp_replace(m.f ->> 'displayName', '^\S+', '')), '') end as n_last_name,
        case when m.f ? 'organizationName' then m.f ->> 'organizationName' else m.organization_name end as n_organization_name,
        case when m.f ? 'businessType' then m.f ->> 'businessType' else m.business_type end as n_business_type,
        case when m.f ? 'phone' then m.f ->> 'phone' else m.phone end as n_phone,
        case when m.f ? 'tier' then m.f ->> 'tier' else m.tier end as n_tier,
        coalesce(case when m.f ? 'status' then m.f ->> 'status' else m.status end, 'new') as n_status,
        case when m.f ? 'title' then m.f ->> 'title' else m.title end as n_title,
        case when m.f ? 'seniority' then m.f ->> 'seniority' else m.seniority end as n_seniority,
        case when m.f ? 'companyName' then m.f ->> 'companyName' else m.company_name end as n_company_name,
        case when m.f ? 'linkedinUrl' then m.f ->> 'linkedinUrl' else m.linkedin_url end as n_linkedin_url,
        case when m.f ? 'companySize' then m.f ->> 'companySize' else m.company_size end as n_company_size,
        case when m.f ? 'companyRevenue' then m.f ->> 'companyRevenue' else m.company_revenue end as n_company_revenue,
        -- A new lead keeps its objects as sent (a key set to null stays, as POST /leads stores
        -- it); a lead that exists merges them (a key set to null is removed).
        case when m.problem is null and m.f ? 'customFields' and m.old_id is null then m.f -> 'customFields'
             when m.problem is null and m.f ? 'customFields' then app.jsonb_merge_patch(m.custom_fields, m.f -> 'customFields')
             else coalesce(m.custom_fields, '{}'::jsonb) end as n_custom_fields,
        case when m.problem is null and m.f ? 'crmData' and m.old_id is null then m.f -> 'crmData'
             when m.problem is null and m.f ? 'crmData' then app.jsonb_merge_patch(m.crm_data, m.f -> 'crmData')
             else coalesce(m.crm_data, '{}'::jsonb) end as n_crm_data,
        case when m.stage_to is null then m.old_stage_id
             when p_mode = 'advance' and m.old_id is not null and m.stage_to_position <= coalesce(m.old_position, -1) then m.old_stage_id
             else m.stage_to end as n_stage_id
      from matched m
    ),
    judged as (
      select c.*, coalesce(c.problem,
        case when p_mode = 'create' and c.old_id is not null then pg_catalog.jsonb_build_object('status', 409, 'code', 'lead_exists',
          'message', 'A lead with this email already exists in this workspace', 'existingId', c.old_id,
          'hint', pg_catalog.format('The existing lead is %s. Update it with PATCH /api/openclaw/leads/%s instead of creating it again.', c.old_id, c.old_id)) end,
        case when c.f ? 'stage' and c.stage_to is null then pg_catalog.jsonb_build_object('status', 400, 'code', 'unknown_stage', 'field', 'stage',
          'message', pg_catalog.format('No stage named or with id "%s" in this workspace', c.f ->> 'stage'),
          'hint', 'Use one of: ' || coalesce((select string_agg(pg_catalog.format('"%s"', s.name), ', ' order by s.position)
                                              from app.stages s where s.org_id = p_org_id), '(no stages yet)') || '.') end,
        case when c.old_id is null and c.n_first_name is null then pg_catalog.jsonb_build_object('status', 400, 'code', 'missing_first_name',
          'field', 'firstName', 'message', 'firstName is required for a new lead',
          'hint', 'Send firstName with the first item (or row) for an email; later updates may leave it out.')
             when length(pg_catalog.btrim(c.n_first_name)) not between 1 and 200 then pg_catalog.jsonb_build_object('status', 400,
          'code', 'invalid_first_name', 'field', 'firstName', 'message', 'firstName must be 1-200 characters', 'hint', 'Send a non-empty firstName.') end,
        case when not app.json_fits(c.n_crm_data, 16384, 10) then pg_catalog.jsonb_build_object('status', 400, 'code', 'value_too_large',
          'field', 'crmData', 'message', 'crmData must be at most 16,384 bytes as JSON and nested at most 10 deep (as stored: after merging into what is there)',
          'hint', 'Keep crmData to short facts about the lead; remove keys you no longer need (set them to null) and put long text in a note (POST /api/openclaw/notes).') end,
        case when not app.json_fits(c.n_custom_fields, 65536, 10) then pg_catalog.jsonb_build_object('status', 400, 'code', 'value_too_large',
          'field', 'customFields', 'message', 'customFields must be at most 65,536 bytes as JSON and nested at most 10 deep (as stored: after merging into what is there)',
          'hint', 'Keep customFields to your fields'' values; clear ones you no longer need (set them to null).') end,
        case when c.old_id is null or c.f ? 'customFields' then app.custom_fields_problem(p_org_id, c.n_custom_fields, c.custom_fields) end,
        case when pg_catalog.row_number() over (partition by c.email_key order by c.item) > 1 then pg_catalog.jsonb_build_object('status', 400,
          'code', 'duplicate_item', 'field', 'email', 'message', pg_catalog.format('Another item before this one has the email %s', c.f ->> 'email'),
          'hint', 'Send each email once per batch or file: put all of a lead''s fields in one item (emails match case-insensitively).') end
      ) as problem2
      from computed c
    ),
    ranked as (
      select j.*,
        case when j.problem2 is null and j.old_id is null
             then pg_catalog.count(*) filter (where j.problem2 is null and j.old_id is null) over (order by j.item) end as new_rank,
        pg_catalog.count(*) filter (where j.problem2 is null and j.old_id is null) over () as new_total
      from judged j
    ),
    final as (
      select r.*, v.error,
        case when v.error is not null then 'failed'
             when r.old_id is null then 'created'
             when (r.n_first_name, r.n_last_name, r.n_organization_name, r.n_business_type, r.n_phone, r.n_tier, r.n_status,
                   r.n_title, r.n_seniority, r.n_company_name, r.n_linkedin_url, r.n_company_size, r.n_company_revenue,
                   r.n_custom_fields, r.n_crm_data, r.n_stage_id)
                  is not distinct from
                  (r.first_name, r.last_name, r.organization_name, r.business_type, r.phone, r.tier, r.status,
                   r.title, r.seniority, r.company_name, r.linkedin_url, r.company_size, r.company_revenue,
                   r.custom_fields, r.crm_data, r.old_stage_id) then 'unchanged'
             else 'updated' end as outcome
      from ranked r
      cross join lateral (select coalesce(r.problem2,
        case when r.new_rank > v_limit - v_leads then app.lead_limit_error(v_tier, v_limit, v_leads, r.new_total::integer) end) as error) v
    ),
    upd as (
      update app.leads l set
        first_name = f.n_first_name, last_name = f.n_last_name, organization_name = f.n_organization_name,
        business_type = f.n_business_type, phone = f.n_phone, tier = f.n_tier, status = f.n_status, title = f.n_title,
        seniority = f.n_seniority, company_name = f.n_company_name, linkedin_url = f.n_linkedin_url,
        company_size = f.n_company_size, company_revenue = f.n_company_revenue, custom_fields = f.n_custom_fields,
        crm_data = f.n_crm_data, stage_id = f.n_stage_id
      from final f
      where f.outcome = 'updated' and l.org_id = p_org_id and l.id = f.old_id
      returning l.id, l.stage_id
    ),
    ins as (
      insert into app.leads as l (org_id, first_name, last_name, email, organization_name, business_type, phone, tier, status,
                                  title, seniority, company_name, linkedin_url, company_size, company_revenue,
                                  custom_fields, crm_data, stage_id)
      select p_org_id, f.n_first_name, f.n_last_name, f.f ->> 'email', f.n_organization_name, f.n_business_type, f.n_phone,
             f.n_tier, f.n_status, f.n_title, f.n_seniority, f.n_company_name, f.n_linkedin_url, f.n_company_size,
             f.n_company_revenue, f.n_custom_fields, f.n_crm_data, f.n_stage_id
      from final f
      where f.outcome = 'created'
      order by f.item
      on conflict (org_id, email_key) where deleted_at is null do nothing
      returning l.id, l.email_key, l.stage_id
    )
    select f.item,
      case when f.outcome = 'created' and i.id is null then 'failed' else f.outcome end,
      coalesce(i.id, f.old_id),
      coalesce(u.stage_id, i.stage_id, f.old_stage_id),
      f.old_stage_id,
      case when f.outcome = 'created' and i.id is null then pg_catalog.jsonb_build_object('status', 409, 'code', 'lead_exists',
             'field', 'email', 'message', 'A lead with this email was created by another request at the same time',
             'hint', 'Send the item again: it then updates that lead.')
           else f.error end
    from final f
    left join upd u on u.id = f.old_id
    left join ins i on f.outcome = 'created' and i.email_key = f.email_key
    order by f.item;
  end;
  $$;
comment on function app._upsert_leads(text, jsonb, text) is 'The set-based write of leads from outside: checks each item on its own, matches live leads by email, updates and inserts in one statement, counts the plan''s room (items past it fail lead_limit_reached) and answers per item created, updated, unchanged or failed {status, code, message, hint}. Modes patch, create, advance (see 40_leads.sql). Runs as its caller.';
revoke execute on function app._upsert_leads(text, jsonb, text) from public;
grant execute on function app._upsert_leads(text, jsonb, text) to authenticated, service_role;

-- The refusal a failed item becomes when one lead is written at a time.
create function app._refuse_lead_item(p_error jsonb) returns void
  language plpgsql
  set search_path = ''
  as $$
  begin
    perform app.refuse((p_error ->> 'status')::integer, p_error ->> 'code', p_error ->> 'message', p_error ->> 'hint',
      (p_error - array['status', 'code', 'message', 'hint']) || case when p_error ? 'existingId' then
        pg_catalog.jsonb_build_object('next_steps', pg_catalog.jsonb_build_array(
          pg_catalog.format('PATCH /api/openclaw/leads/%s { ...fields to change }', p_error ->> 'existingId'))) else '{}'::jsonb end);
  end;
  $$;
comment on function app._refuse_lead_item(jsonb) is 'Raises a failed item of app._upsert_leads as its refusal (status, code, message, hint; existingId with a PATCH next step).';
revoke execute on function app._refuse_lead_item(jsonb) from public;
grant execute on function app._refuse_lead_item(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- POST /leads/batch: up to 1,000 items in one call, matched by email, in the current org.
-- ---------------------------------------------------------------------------
create function app.upsert_leads(p_items jsonb)
  returns table (item integer, result text, lead_id text, error jsonb)
  language plpgsql
  set search_path = ''
  as $$
  begin
    if pg_catalog.jsonb_typeof(p_items) = 'array' and pg_catalog.jsonb_array_length(p_items) > 1000 then
      perform app.refuse(413, 'too_many_items',
        pg_catalog.format('A batch holds at most 1,000 items, not %s', pg_catalog.jsonb_array_length(p_items)),
        'Split the items into batches of 1,000, or import a CSV file (POST /api/openclaw/imports takes up to 50,000 rows).');
    end if;
    return query
    select u.item, u.result, u.lead_id, u.error from app._upsert_leads(app.current_org_id(), p_items, 'patch') u;
  end;
  $$;
comment on function app.upsert_leads(jsonb) is 'POST /leads/batch: creates or updates (PATCH semantics, matched by email) up to 1,000 leads of the current org in one statement; per item created, updated, unchanged or failed with its error; the plan''s room decides which new leads land.';
revoke execute on function app.upsert_leads(jsonb) from public;
grant execute on function app.upsert_leads(jsonb) to authenticated, service_role;

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
    v_result record;
  begin
    select u.lead_id, u.error into v_result
    from app._upsert_leads(app.current_org_id(), pg_catalog.jsonb_build_array(p_lead), 'create') u;
    if v_result.error is not null then
      perform app._refuse_lead_item(v_result.error);
    end if;
    return v_result.lead_id;
  end;
  $$;
comment on function app.create_lead(jsonb) is 'Creates a lead in the current org from a POST /leads body (contract field names and aliases); returns its id, or refuses 409 lead_exists with existingId when a live lead has the email.';
revoke execute on function app.create_lead(jsonb) from public;
grant execute on function app.create_lead(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The one find-or-create of a lead by email, for the writers that hear of people rather than
-- being told to create them: sync sources (48_sync_sources.sql), Calendly bookings
-- (82_calendly.sql) and quiz submissions (84_quizzes.sql). app._upsert_leads in advance mode:
--   * An existing live lead is locked and updated: a value given replaces the stored one,
--     a value left out (or null) keeps it. It only ever moves forward in the pipeline (to
--     p_stage_id when that stage comes later), so a routine event never sends a deal back.
--   * Otherwise a lead is inserted: named from firstName/lastName, else from the display
--     name ("Jane Doe" of "Jane Doe <jane@acme.com>"), else from the email's local part; in
--     p_stage_id or the default stage. A workspace at its plan's lead limit still hears about
--     leads it has; a new one is refused (402).
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
    v_result record;
  begin
    select u.result, u.lead_id, u.stage_id, u.previous_stage_id, u.error into v_result
    from app._upsert_leads(p_org_id, pg_catalog.jsonb_build_array(coalesce(p_fields, '{}'::jsonb)
      || pg_catalog.jsonb_build_object('email', p_email, 'stage', p_stage_id, 'displayName', p_display_name)), 'advance') u;
    if v_result.error is not null then
      perform app._refuse_lead_item(v_result.error);
    end if;
    lead_id := v_result.lead_id;
    created := v_result.result = 'created';
    stage_id := v_result.stage_id;
    previous_stage_id := v_result.previous_stage_id;
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
