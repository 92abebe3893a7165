-- Data in and out in bulk: the set-based upsert of leads (app._upsert_leads, with
-- app.upsert_leads for POST /leads/batch; app.create_lead and app.upsert_lead_by_email now
-- write through it), CSV imports (app.imports, app.import_rows, app.finish_import_upload,
-- app.apply_import_chunk), duplicates and merges (app.lead_duplicates, app.merge_leads,
-- app.lead_merges, leads.merged_into), search (app.search_leads; leads.search_doc, name_key,
-- phone_key and their indexes, notes.search_doc and its full-text index, trigrams on facts), keyset pages of the
-- stalled list (app.stalled_leads takes p_after), and the lead limit's and custom fields'
-- refusals as data (app.lead_limit_error, app.custom_fields_problem) shared by the triggers
-- and the upsert. pg_trgm and btree_gin are created in schema extensions where missing.
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand: the extensions' versions left to the server, the column privileges and
-- forced row-level security added (migra leaves them out).

create extension if not exists "btree_gin" with schema "extensions";

create extension if not exists "pg_trgm" with schema "extensions";

drop function if exists "app"."stalled_leads"(p_now timestamp with time zone, p_limit integer, p_offset integer);

drop view if exists "app"."lead_details";


  create table "app"."import_rows" (
    "org_id" text not null default app.current_org_id(),
    "import_id" text not null,
    "row_number" integer not null,
    "fields" jsonb not null,
    "result" text,
    "lead_id" text,
    "error" jsonb
      );


alter table "app"."import_rows" enable row level security;

alter table "app"."import_rows" force row level security;


  create table "app"."imports" (
    "id" text not null default app.new_id('imp'::text),
    "org_id" text not null default app.current_org_id(),
    "status" text not null default 'applying'::text,
    "file_name" text,
    "file_bytes" integer not null,
    "columns" text[] not null,
    "mapping" jsonb not null,
    "total_rows" integer not null default 0,
    "processed_rows" integer not null default 0,
    "created" integer not null default 0,
    "updated" integer not null default 0,
    "unchanged" integer not null default 0,
    "failed" integer not null default 0,
    "created_by" text not null default app.current_actor(),
    "created_at" timestamp with time zone not null default now(),
    "updated_at" timestamp with time zone not null default now(),
    "finished_at" timestamp with time zone
      );


alter table "app"."imports" enable row level security;

alter table "app"."imports" force row level security;


  create table "app"."lead_merges" (
    "id" text not null default app.new_id('mrg'::text),
    "org_id" text not null default app.current_org_id(),
    "primary_id" text not null,
    "duplicate_ids" text[] not null,
    "moved" jsonb not null default '{}'::jsonb,
    "filled" text[] not null default '{}'::text[],
    "merged_by" text not null default app.current_actor(),
    "merged_at" timestamp with time zone not null default now()
      );


alter table "app"."lead_merges" enable row level security;

alter table "app"."lead_merges" force row level security;

alter table "app"."leads" add column "merged_into" text;

alter table "app"."leads" add column "name_key" text generated always as (NULLIF(lower(btrim(regexp_replace(((COALESCE(first_name, ''::text) || ' '::text) || COALESCE(last_name, ''::text)), '\s+'::text, ' '::text, 'g'::text))), ''::text)) stored;

alter table "app"."leads" add column "phone_key" text generated always as (
CASE
    WHEN (length(regexp_replace(COALESCE(phone, ''::text), '\D'::text, ''::text, 'g'::text)) >= 7) THEN "right"(regexp_replace(phone, '\D'::text, ''::text, 'g'::text), 10)
    ELSE NULL::text
END) stored;

alter table "app"."leads" add column "search_doc" tsvector generated always as (((setweight(to_tsvector('simple'::regconfig, ((COALESCE(first_name, ''::text) || ' '::text) || COALESCE(last_name, ''::text))), 'A'::"char") || setweight(to_tsvector('simple'::regconfig, ((COALESCE(organization_name, ''::text) || ' '::text) || COALESCE(company_name, ''::text))), 'B'::"char")) || setweight(to_tsvector('simple'::regconfig, ((((((email || ' '::text) || translate(email, '@.'::text, '  '::text)) || ' '::text) || COALESCE(title, ''::text)) || ' '::text) || COALESCE(business_type, ''::text))), 'C'::"char"))) stored;

CREATE INDEX import_rows_org_import_waiting_idx ON app.import_rows USING btree (org_id, import_id, row_number) WHERE (result IS NULL);

CREATE UNIQUE INDEX import_rows_pkey ON app.import_rows USING btree (org_id, import_id, row_number);

CREATE INDEX imports_org_created_idx ON app.imports USING btree (org_id, created_at DESC, id DESC);

CREATE UNIQUE INDEX imports_pkey ON app.imports USING btree (org_id, id);

CREATE INDEX lead_facts_org_value_trgm_idx ON app.lead_facts USING gin (org_id, value extensions.gin_trgm_ops);

CREATE INDEX lead_merges_org_primary_idx ON app.lead_merges USING btree (org_id, primary_id, merged_at DESC);

CREATE UNIQUE INDEX lead_merges_pkey ON app.lead_merges USING btree (org_id, id);

CREATE INDEX leads_org_name_key_idx ON app.leads USING btree (org_id, name_key) WHERE (deleted_at IS NULL);

CREATE INDEX leads_org_name_trgm_idx ON app.leads USING gin (org_id, name_key extensions.gin_trgm_ops) WHERE (deleted_at IS NULL);

CREATE INDEX leads_org_phone_key_idx ON app.leads USING btree (org_id, phone_key) WHERE ((deleted_at IS NULL) AND (phone_key IS NOT NULL));

CREATE INDEX leads_org_search_doc_idx ON app.leads USING gin (org_id, search_doc) WHERE (deleted_at IS NULL);

CREATE INDEX leads_org_search_trgm_idx ON app.leads USING gin (org_id, search_text extensions.gin_trgm_ops) WHERE (deleted_at IS NULL);

alter table "app"."notes" add column "search_doc" tsvector generated always as (to_tsvector('english'::regconfig, content)) stored;

CREATE INDEX notes_org_search_doc_idx ON app.notes USING gin (org_id, search_doc);

alter table "app"."import_rows" add constraint "import_rows_pkey" PRIMARY KEY using index "import_rows_pkey";

alter table "app"."imports" add constraint "imports_pkey" PRIMARY KEY using index "imports_pkey";

alter table "app"."lead_merges" add constraint "lead_merges_pkey" PRIMARY KEY using index "lead_merges_pkey";

alter table "app"."import_rows" add constraint "import_rows_error_check" CHECK ((jsonb_typeof(error) = 'object'::text)) not valid;

alter table "app"."import_rows" validate constraint "import_rows_error_check";

alter table "app"."import_rows" add constraint "import_rows_fields_check" CHECK ((jsonb_typeof(fields) = 'object'::text)) not valid;

alter table "app"."import_rows" validate constraint "import_rows_fields_check";

alter table "app"."import_rows" add constraint "import_rows_import_fkey" FOREIGN KEY (org_id, import_id) REFERENCES app.imports(org_id, id) ON DELETE CASCADE not valid;

alter table "app"."import_rows" validate constraint "import_rows_import_fkey";

alter table "app"."import_rows" add constraint "import_rows_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE not valid;

alter table "app"."import_rows" validate constraint "import_rows_org_id_fkey";

alter table "app"."import_rows" add constraint "import_rows_result_check" CHECK ((result = ANY (ARRAY['created'::text, 'updated'::text, 'unchanged'::text, 'failed'::text]))) not valid;

alter table "app"."import_rows" validate constraint "import_rows_result_check";

alter table "app"."import_rows" add constraint "import_rows_row_number_check" CHECK ((row_number >= 1)) not valid;

alter table "app"."import_rows" validate constraint "import_rows_row_number_check";

alter table "app"."imports" add constraint "imports_file_bytes_check" CHECK ((file_bytes >= 0)) not valid;

alter table "app"."imports" validate constraint "imports_file_bytes_check";

alter table "app"."imports" add constraint "imports_file_name_check" CHECK ((length(file_name) <= 255)) not valid;

alter table "app"."imports" validate constraint "imports_file_name_check";

alter table "app"."imports" add constraint "imports_finished_check" CHECK (((status = 'completed'::text) = (finished_at IS NOT NULL))) not valid;

alter table "app"."imports" validate constraint "imports_finished_check";

alter table "app"."imports" add constraint "imports_mapping_check" CHECK ((jsonb_typeof(mapping) = 'object'::text)) not valid;

alter table "app"."imports" validate constraint "imports_mapping_check";

alter table "app"."imports" add constraint "imports_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE not valid;

alter table "app"."imports" validate constraint "imports_org_id_fkey";

alter table "app"."imports" add constraint "imports_processed_rows_check" CHECK ((processed_rows >= 0)) not valid;

alter table "app"."imports" validate constraint "imports_processed_rows_check";

alter table "app"."imports" add constraint "imports_status_check" CHECK ((status = ANY (ARRAY['applying'::text, 'completed'::text]))) not valid;

alter table "app"."imports" validate constraint "imports_status_check";

alter table "app"."imports" add constraint "imports_total_rows_check" CHECK ((total_rows >= 0)) not valid;

alter table "app"."imports" validate constraint "imports_total_rows_check";

alter table "app"."lead_merges" add constraint "lead_merges_duplicate_ids_check" CHECK (((cardinality(duplicate_ids) >= 1) AND (cardinality(duplicate_ids) <= 50))) not valid;

alter table "app"."lead_merges" validate constraint "lead_merges_duplicate_ids_check";

alter table "app"."lead_merges" add constraint "lead_merges_moved_check" CHECK ((jsonb_typeof(moved) = 'object'::text)) not valid;

alter table "app"."lead_merges" validate constraint "lead_merges_moved_check";

alter table "app"."lead_merges" add constraint "lead_merges_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE not valid;

alter table "app"."lead_merges" validate constraint "lead_merges_org_id_fkey";

alter table "app"."lead_merges" add constraint "lead_merges_primary_fkey" FOREIGN KEY (org_id, primary_id) REFERENCES app.leads(org_id, id) ON DELETE CASCADE not valid;

alter table "app"."lead_merges" validate constraint "lead_merges_primary_fkey";

alter table "app"."leads" add constraint "leads_merged_into_fkey" FOREIGN KEY (org_id, merged_into) REFERENCES app.leads(org_id, id) ON DELETE SET NULL (merged_into) not valid;

alter table "app"."leads" validate constraint "leads_merged_into_fkey";

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app._merge_lead_records(p_primary text, p_duplicates text[])
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
    v_moved jsonb := '{}'::jsonb;
    v_count integer;
  begin
    if v_org is null or (select count(*) from app.leads l
                         where l.org_id = v_org and l.id = any (p_duplicates || p_primary)) <> cardinality(p_duplicates) + 1 then
      raise exception 'app._merge_lead_records runs inside app.merge_leads, on leads of the caller''s org' using errcode = '42501';
    end if;

    update app.notes x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('notes', v_count);
    update app.touchpoints x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('touchpoints', v_count);
    update app.events x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('events', v_count);
    update app.stage_changes x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('stageChanges', v_count);
    update app.automation_runs x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('automationRuns', v_count);
    update app.meetings x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('meetings', v_count);
    update app.quiz_submissions x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('quizSubmissions', v_count);
    update app.sync_events x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('syncEvents', v_count);
    update app.proposal_visits x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('proposalVisits', v_count);
    update app.email_suppressions x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);

    -- Enrolments: a campaign the primary is already active in stops the duplicate's first.
    perform app._finish_enrollment(v_org, e.id, 'stopped', 'merged into ' || p_primary, pg_catalog.now())
    from app.enrollments e
    where e.org_id = v_org and e.lead_id = any (p_duplicates) and e.status = 'active'
      and exists (select from app.enrollments p where p.org_id = v_org and p.lead_id = p_primary
                  and p.campaign_id = e.campaign_id and p.status = 'active');
    -- Of two duplicates active in one campaign the primary is not, the earlier enrolment stays.
    perform app._finish_enrollment(v_org, e.id, 'stopped', 'merged into ' || p_primary, pg_catalog.now())
    from app.enrollments e
    where e.org_id = v_org and e.lead_id = any (p_duplicates) and e.status = 'active'
      and exists (select from app.enrollments o where o.org_id = v_org and o.lead_id = any (p_duplicates) and o.id <> e.id
                  and o.campaign_id = e.campaign_id and o.status = 'active' and (o.enrolled_at, o.id) < (e.enrolled_at, e.id));
    update app.enrollments x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('enrollments', v_count);
    update app.outbox x set lead_id = p_primary where x.org_id = v_org and x.lead_id = any (p_duplicates);

    insert into app.lead_facts (org_id, lead_id, kind, value, created_at)
    select f.org_id, p_primary, f.kind, f.value, f.created_at
    from app.lead_facts f where f.org_id = v_org and f.lead_id = any (p_duplicates)
    on conflict do nothing;
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('leadFacts', v_count);
    delete from app.lead_facts f where f.org_id = v_org and f.lead_id = any (p_duplicates);

    insert into app.lead_engagement as g (org_id, lead_id, quiz_completions, quiz_score, proposal_views, proposal_seconds,
      video_percent, cta_clicks, meetings_booked, meeting_canceled_at, last_meeting_booked_at, emails_sent, emails_opened,
      emails_replied, bounced_at, unsubscribed_at, last_event_at)
    select v_org, p_primary, sum(e.quiz_completions), (array_agg(e.quiz_score order by e.last_event_at desc nulls last)
        filter (where e.quiz_score is not null))[1],
      sum(e.proposal_views), sum(e.proposal_seconds), max(e.video_percent), sum(e.cta_clicks), sum(e.meetings_booked),
      max(e.meeting_canceled_at), max(e.last_meeting_booked_at), sum(e.emails_sent), sum(e.emails_opened),
      sum(e.emails_replied), max(e.bounced_at), max(e.unsubscribed_at), max(e.last_event_at)
    from app.lead_engagement e
    where e.org_id = v_org and e.lead_id = any (p_duplicates || p_primary)
    having count(*) > 0
    on conflict (org_id, lead_id) do update set
      quiz_completions = excluded.quiz_completions, quiz_score = excluded.quiz_score, proposal_views = excluded.proposal_views,
      proposal_seconds = excluded.proposal_seconds, video_percent = excluded.video_percent, cta_clicks = excluded.cta_clicks,
      meetings_booked = excluded.meetings_booked, meeting_canceled_at = excluded.meeting_canceled_at,
      last_meeting_booked_at = excluded.last_meeting_booked_at, emails_sent = excluded.emails_sent,
      emails_opened = excluded.emails_opened, emails_replied = excluded.emails_replied, bounced_at = excluded.bounced_at,
      unsubscribed_at = excluded.unsubscribed_at, last_event_at = excluded.last_event_at;
    delete from app.lead_engagement e where e.org_id = v_org and e.lead_id = any (p_duplicates);
    delete from app.lead_scores s where s.org_id = v_org and s.lead_id = any (p_duplicates);

    if not exists (select from app.unsubscribe_tokens t where t.org_id = v_org and t.lead_id = p_primary) then
      update app.unsubscribe_tokens t set lead_id = p_primary
      where t.org_id = v_org and t.token = (select x.token from app.unsubscribe_tokens x
                                            where x.org_id = v_org and x.lead_id = any (p_duplicates) limit 1);
    end if;

    update app.proposals p set content = d.content, published = d.published
    from (select x.content, x.published from app.proposals x
          where x.org_id = v_org and x.lead_id = any (p_duplicates) and x.content <> '{}'::jsonb
          order by pg_catalog.array_position(p_duplicates, x.lead_id) limit 1) d
    where p.org_id = v_org and p.lead_id = p_primary and p.content = '{}'::jsonb;
    get diagnostics v_count = row_count; v_moved := v_moved || pg_catalog.jsonb_build_object('proposalContent', v_count);

    perform from app.score_leads(v_org, array[p_primary]);
    return v_moved;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._refuse_lead_item(p_error jsonb)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  begin
    perform app.refuse((p_error ->> 'status')::integer, p_error ->> 'code', p_error ->> 'message', p_error ->> 'hint',
      (p_error - array['status', 'code', 'message', 'hint']) || case when p_error ? 'existingId' then
        pg_catalog.jsonb_build_object('next_steps', pg_catalog.jsonb_build_array(
          pg_catalog.format('PATCH /api/openclaw/leads/%s { ...fields to change }', p_error ->> 'existingId'))) else '{}'::jsonb end);
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._upsert_leads(p_org_id text, p_items jsonb, p_mode text DEFAULT 'patch'::text)
 RETURNS TABLE(item integer, result text, lead_id text, stage_id text, previous_stage_id text, error jsonb)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
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
    -- waited for committed: the org row when an item may create a lead (the limit trigger
    -- takes the same lock, so concurrent writers of one org count the room one at a time),
    -- then the live leads the items name, in id order.
    select coalesce(array_agg(distinct k.key), '{}') into v_keys
    from pg_catalog.jsonb_array_elements(p_items) e
    cross join lateral (select pg_catalog.lower(pg_catalog.btrim(e ->> 'email', E' \t\r\n')) as key) k
    where k.key is not null;
    v_may_create := p_mode = 'create' or cardinality(v_keys) > (
      select count(*) from app.leads l where l.org_id = p_org_id and l.deleted_at is null and l.email_key = any (v_keys));
    if v_may_create then
      perform from app.orgs o where o.id = p_org_id for no key update;
      select o.tier, t.lead_limit, (select count(*)::integer from app.leads x where x.org_id = p_org_id)
        into v_tier, v_limit, v_leads
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
  $function$
;

CREATE OR REPLACE FUNCTION app.apply_import_chunk(p_import_id text, p_rows integer DEFAULT 1000)
 RETURNS TABLE(status text, processed_rows integer, total_rows integer)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_import record;
    v_counts record;
  begin
    select i.id, i.status into v_import from app.imports i where i.org_id = v_org and i.id = p_import_id for update;
    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Import %s was not found', p_import_id),
        'Check the id: GET /api/openclaw/imports lists this workspace''s imports.');
    end if;

    if v_import.status = 'applying' then
      perform pg_catalog.set_config('request.jwt.claims', (coalesce(nullif(v_claims, ''), '{}')::jsonb
        || pg_catalog.jsonb_build_object('actor', 'import:' || p_import_id, 'source', 'import'))::text, true);

      with chunk as (
        select r.row_number, pg_catalog.row_number() over (order by r.row_number) - 1 as item,
          case when r.fields ? 'customFields' and pg_catalog.jsonb_typeof(r.fields -> 'customFields') = 'object' then
            r.fields || pg_catalog.jsonb_build_object('customFields', (
              select coalesce(pg_catalog.jsonb_object_agg(coalesce(f.key, c.key), case when f.field_type is not null and pg_catalog.jsonb_typeof(c.value) = 'string'
                       then app.custom_field_from_text(f.field_type, c.value #>> '{}') else c.value end), '{}'::jsonb)
              from pg_catalog.jsonb_each(r.fields -> 'customFields') c
              left join app.custom_fields f on f.org_id = v_org and lower(f.key) = lower(c.key)))
          else r.fields end as item_fields
        from app.import_rows r
        where r.org_id = v_org and r.import_id = p_import_id and r.result is null
        order by r.row_number
        limit greatest(p_rows, 1)
      ),
      applied as (
        select c.row_number, u.result, u.lead_id, u.error
        from (select pg_catalog.jsonb_agg(c.item_fields order by c.item) as items from chunk c) a
        cross join lateral app._upsert_leads(v_org, coalesce(a.items, '[]'::jsonb), 'patch') u
        join chunk c on c.item = u.item
      ),
      kept as (
        update app.import_rows r set result = a.result, lead_id = a.lead_id, error = a.error
        from applied a
        where a.result = 'failed' and r.org_id = v_org and r.import_id = p_import_id and r.row_number = a.row_number
      ),
      done as (
        delete from app.import_rows r
        using applied a
        where a.result <> 'failed' and r.org_id = v_org and r.import_id = p_import_id and r.row_number = a.row_number
      )
      select count(*) filter (where a.result = 'created')::integer as created,
             count(*) filter (where a.result = 'updated')::integer as updated,
             count(*) filter (where a.result = 'unchanged')::integer as unchanged,
             count(*) filter (where a.result = 'failed')::integer as failed,
             count(*)::integer as processed
        into v_counts
      from applied a;

      perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);

      update app.imports i set
        created = i.created + v_counts.created, updated = i.updated + v_counts.updated,
        unchanged = i.unchanged + v_counts.unchanged, failed = i.failed + v_counts.failed,
        processed_rows = i.processed_rows + v_counts.processed
      where i.org_id = v_org and i.id = p_import_id;

      -- Rows failed at upload (a repeated email) count once the rest is applied.
      if not exists (select from app.import_rows r where r.org_id = v_org and r.import_id = p_import_id and r.result is null) then
        update app.imports i set status = 'completed', finished_at = pg_catalog.now(),
          processed_rows = i.total_rows,
          failed = (select count(*)::integer from app.import_rows r where r.org_id = v_org and r.import_id = p_import_id)
        where i.org_id = v_org and i.id = p_import_id;
      end if;
    end if;

    return query select i.status, i.processed_rows, i.total_rows from app.imports i where i.org_id = v_org and i.id = p_import_id;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.custom_field_from_text(p_field_type text, p_text text)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO ''
AS $function$
    select case
      when p_text is null then null
      when p_field_type = 'number' and p_text ~ '^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$' then pg_catalog.to_jsonb(p_text::numeric)
      when p_field_type = 'boolean' and pg_catalog.lower(pg_catalog.btrim(p_text)) in ('true', 'yes', 'y', '1') then 'true'::jsonb
      when p_field_type = 'boolean' and pg_catalog.lower(pg_catalog.btrim(p_text)) in ('false', 'no', 'n', '0') then 'false'::jsonb
      when p_field_type = 'multiselect' then (
        select coalesce(pg_catalog.jsonb_agg(pg_catalog.btrim(v)), '[]'::jsonb)
        from pg_catalog.regexp_split_to_table(p_text, case when strpos(p_text, ';') > 0 then ';' else ',' end) v
        where pg_catalog.btrim(v) <> '')
      else pg_catalog.to_jsonb(p_text)
    end
  $function$
;

CREATE OR REPLACE FUNCTION app.custom_fields_problem(p_org_id text, p_new jsonb, p_old jsonb DEFAULT NULL::jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
  begin
    return (select pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_custom_field', 'field', 'customFields.' || f.key,
      'message', case when v.value is null
        then pg_catalog.format('customFields.%s is required (%s)', f.key, app._custom_field_expectation(f.field_type, f.options))
        else pg_catalog.format('customFields.%s must be %s, got %s', f.key, app._custom_field_expectation(f.field_type, f.options),
          case when length(v.value::text) > 100 then left(v.value::text, 100) || '…' else v.value::text end) end,
      'hint', case when v.value is null
        then pg_catalog.format('Send customFields.%s ("%s") as %s whenever you write a lead''s customFields. GET /api/openclaw/fields lists the definitions.',
          f.key, f.label, app._custom_field_expectation(f.field_type, f.options))
        else pg_catalog.format('%s ("%s") is a %s field: send %s, or null to clear it. GET /api/openclaw/fields lists the definitions.',
          f.key, f.label, f.field_type, app._custom_field_expectation(f.field_type, f.options)) end)
    from app.custom_fields f
    cross join lateral (select nullif(p_new -> f.key, 'null'::jsonb) as value) v
    where f.org_id = p_org_id and (f.required or p_new ? f.key)
      and case when v.value is null then f.required
               else (p_old is null or v.value is distinct from p_old -> f.key)
                    and not app.custom_field_value_ok(f.field_type, f.options, v.value) end
    order by f.position, f.key
    limit 1);
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.finish_import_upload(p_import_id text, p_max_rows integer)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
    v_rows integer;
  begin
    select count(*)::integer into v_rows from app.import_rows r where r.org_id = v_org and r.import_id = p_import_id;
    if v_rows = 0 then
      perform app.refuse(400, 'empty_file', 'The file has a header but no rows',
        'Send a CSV file with a header row and at least one lead per row.');
    end if;
    if v_rows > p_max_rows then
      perform app.refuse(413, 'too_many_rows', pg_catalog.format('The file has %s rows; an import takes at most %s', v_rows, p_max_rows),
        pg_catalog.format('Split the file into files of at most %s rows and import them one after another.', p_max_rows));
    end if;
    update app.import_rows r set result = 'failed', error = pg_catalog.jsonb_build_object('status', 400, 'code', 'duplicate_item',
        'field', 'email', 'message', pg_catalog.format('Row %s has the same email (%s)', d.first_row, r.fields ->> 'email'),
        'hint', 'Put each lead on one row: emails match case-insensitively. The first row with the email was imported.')
    from (
      select x.row_number, pg_catalog.first_value(x.row_number) over w as first_row, pg_catalog.row_number() over w as n
      from app.import_rows x
      where x.org_id = v_org and x.import_id = p_import_id and x.fields ? 'email'
      window w as (partition by pg_catalog.lower(pg_catalog.btrim(x.fields ->> 'email')) order by x.row_number)
    ) d
    where r.org_id = v_org and r.import_id = p_import_id and r.row_number = d.row_number and d.n > 1;
    update app.imports i set total_rows = v_rows where i.org_id = v_org and i.id = p_import_id;
    return v_rows;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.lead_duplicates(p_lead_id text DEFAULT NULL::text, p_min_similarity real DEFAULT 0.6)
 RETURNS TABLE(lead_id text, duplicate_id text, reasons text[], similarity real)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
  begin
    if v_org is null then
      raise exception 'app.lead_duplicates runs inside a request acting as an org' using errcode = '42501';
    end if;
    perform pg_catalog.set_config('pg_trgm.similarity_threshold', greatest(least(p_min_similarity, 1), 0.1)::text, true);
    return query
    with base as (
      select l.id, l.name_key, l.phone_key, l.organization_key, l.company_key
      from app.leads l
      where l.org_id = v_org and l.deleted_at is null and (p_lead_id is null or l.id = p_lead_id)
    ),
    pairs as (
      select a.id as a, b.id as b, 'same_name_and_company'::text as reason
      from base a
      join app.leads b on b.org_id = v_org and b.deleted_at is null and b.name_key = a.name_key and b.id <> a.id
      where a.name_key is not null and coalesce(a.organization_key, a.company_key) is not null
        and (b.organization_key in (a.organization_key, a.company_key) or b.company_key in (a.organization_key, a.company_key))
      union all
      select a.id, b.id, 'same_phone'
      from base a
      join app.leads b on b.org_id = v_org and b.deleted_at is null and b.phone_key = a.phone_key and b.id <> a.id
      where a.phone_key is not null
      union all
      select a.id, b.id, 'similar_name'
      from base a
      join app.leads b on b.org_id = v_org and b.deleted_at is null and b.name_key operator(extensions.%) a.name_key and b.id <> a.id
      where a.name_key is not null and length(a.name_key) >= 4
    )
    select case when p_lead_id is null then least(p.a, p.b) else p.a end,
           case when p_lead_id is null then greatest(p.a, p.b) else p.b end,
           array_agg(distinct p.reason order by p.reason),
           max(extensions.similarity(x.name_key, y.name_key))
    from pairs p
    join app.leads x on x.org_id = v_org and x.id = p.a
    join app.leads y on y.org_id = v_org and y.id = p.b
    group by 1, 2;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.lead_fields(p_item jsonb, p_drop_nulls boolean DEFAULT false)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO ''
AS $function$
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
    where not (p_drop_nulls and g.value = 'null'::jsonb)
  $function$
;

CREATE OR REPLACE FUNCTION app.lead_fields_problem(p_fields jsonb)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO ''
AS $function$
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
       limit 1))
  $function$
;

CREATE OR REPLACE FUNCTION app.lead_limit_error(p_tier text, p_limit integer, p_leads integer, p_added integer)
 RETURNS jsonb
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO ''
AS $function$
    select pg_catalog.jsonb_build_object('status', 402, 'code', 'lead_limit_reached',
      'message', pg_catalog.format('Lead limit reached: the %s tier allows %s leads and this workspace has %s', p_tier, p_limit, p_leads)
        || case when p_added > 1 then pg_catalog.format(' (this request adds %s)', p_added) else '' end,
      'hint', 'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or permanently delete leads you no longer need (DELETE /api/openclaw/leads/{id}?permanent=true; soft-deleted leads still count).')
  $function$
;

CREATE OR REPLACE FUNCTION app.merge_leads(p_primary text, p_duplicates text[])
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
    v_duplicates text[];
    v_missing text;
    v_primary app.leads;
    v_deleted record;
    v_filled text[];
    v_moved jsonb;
    v_merge_id text;
  begin
    select array_agg(d order by o) into v_duplicates
    from (select distinct on (d) d, o from unnest(p_duplicates) with ordinality u(d, o) where d is not null order by d, o) x;
    if v_duplicates is null or cardinality(v_duplicates) = 0 then
      perform app.refuse(400, 'invalid_request', 'duplicateIds must name at least one lead', 'Send { "primaryId": "rp_…", "duplicateIds": ["rp_…"] }.');
    end if;
    if cardinality(v_duplicates) > 50 then
      perform app.refuse(400, 'too_many_duplicates', 'A merge takes at most 50 duplicates', 'Merge them in several calls into the same primary.');
    end if;
    if p_primary = any (v_duplicates) then
      perform app.refuse(400, 'invalid_request', 'primaryId is also among duplicateIds', 'Leave the primary lead out of duplicateIds.');
    end if;

    -- Locked in id order, so two merges over the same leads never wait on each other crosswise.
    perform from app.leads l where l.org_id = v_org and l.id = any (v_duplicates || p_primary) order by l.id for update;
    select d into v_missing from unnest(v_duplicates || p_primary) d
    where not exists (select from app.leads l where l.org_id = v_org and l.id = d) limit 1;
    if v_missing is not null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', v_missing),
        'Check the ids: GET /api/openclaw/leads/duplicates lists likely duplicates. Ids belong to one workspace: another workspace''s leads are not visible with this key.');
    end if;
    select * into v_primary from app.leads l where l.org_id = v_org and l.id = p_primary;
    if v_primary.deleted_at is not null then
      perform app.refuse(409, 'lead_deleted', pg_catalog.format('The primary lead %s is deleted', p_primary),
        pg_catalog.format('Restore it first (PATCH /api/openclaw/leads/%s { "restore": true }), or merge into a live lead.', p_primary));
    end if;
    select l.id, l.merged_into into v_deleted from app.leads l
    where l.org_id = v_org and l.id = any (v_duplicates) and l.merged_into is not null limit 1;
    if found then
      perform app.refuse(409, 'already_merged', pg_catalog.format('Lead %s was already merged into %s', v_deleted.id, v_deleted.merged_into),
        pg_catalog.format('Leave it out; GET /api/openclaw/leads/%s shows the lead it lives on as.', v_deleted.merged_into));
    end if;

    -- The primary's empty fields, from the first duplicate (in the order given) that has one.
    with d as (
      select l.*, u.o from unnest(v_duplicates) with ordinality u(id, o) join app.leads l on l.org_id = v_org and l.id = u.id
    ),
    pick as (
      select
        (array_agg(d.last_name order by d.o) filter (where nullif(d.last_name, '') is not null))[1] as last_name,
        (array_agg(d.organization_name order by d.o) filter (where nullif(d.organization_name, '') is not null))[1] as organization_name,
        (array_agg(d.business_type order by d.o) filter (where nullif(d.business_type, '') is not null))[1] as business_type,
        (array_agg(d.phone order by d.o) filter (where nullif(d.phone, '') is not null))[1] as phone,
        (array_agg(d.tier order by d.o) filter (where nullif(d.tier, '') is not null))[1] as tier,
        (array_agg(d.title order by d.o) filter (where nullif(d.title, '') is not null))[1] as title,
        (array_agg(d.seniority order by d.o) filter (where nullif(d.seniority, '') is not null))[1] as seniority,
        (array_agg(d.company_name order by d.o) filter (where nullif(d.company_name, '') is not null))[1] as company_name,
        (array_agg(d.linkedin_url order by d.o) filter (where nullif(d.linkedin_url, '') is not null))[1] as linkedin_url,
        (array_agg(d.company_size order by d.o) filter (where nullif(d.company_size, '') is not null))[1] as company_size,
        (array_agg(d.company_revenue order by d.o) filter (where nullif(d.company_revenue, '') is not null))[1] as company_revenue,
        (array_agg(d.company_domain order by d.o) filter (where d.company_domain is not null))[1] as company_domain,
        (array_agg(d.enrichment order by d.o) filter (where d.enrichment is not null))[1] as enrichment,
        (array_agg(d.enriched_at order by d.o) filter (where d.enrichment is not null))[1] as enriched_at,
        (array_agg(d.enrichment_status order by d.o) filter (where d.enrichment is not null))[1] as enrichment_status,
        max(d.last_touch_at) as last_touch_at,
        (select coalesce(pg_catalog.jsonb_object_agg(k.key, k.value), '{}'::jsonb) from (
           select distinct on (e.key) e.key, e.value from d x cross join lateral pg_catalog.jsonb_each(x.custom_fields) e
           where e.value <> 'null'::jsonb order by e.key, x.o) k) as custom_fields,
        (select coalesce(pg_catalog.jsonb_object_agg(k.key, k.value), '{}'::jsonb) from (
           select distinct on (e.key) e.key, e.value from d x cross join lateral pg_catalog.jsonb_each(x.crm_data) e
           order by e.key, x.o) k) as crm_data
      from d
    ),
    filled as (
      update app.leads l set
        last_name = coalesce(nullif(l.last_name, ''), p.last_name),
        organization_name = coalesce(nullif(l.organization_name, ''), p.organization_name),
        business_type = coalesce(nullif(l.business_type, ''), p.business_type),
        phone = coalesce(nullif(l.phone, ''), p.phone),
        tier = coalesce(nullif(l.tier, ''), p.tier),
        title = coalesce(nullif(l.title, ''), p.title),
        seniority = coalesce(nullif(l.seniority, ''), p.seniority),
        company_name = coalesce(nullif(l.company_name, ''), p.company_name),
        linkedin_url = coalesce(nullif(l.linkedin_url, ''), p.linkedin_url),
        company_size = coalesce(nullif(l.company_size, ''), p.company_size),
        company_revenue = coalesce(nullif(l.company_revenue, ''), p.company_revenue),
        company_domain = coalesce(l.company_domain, p.company_domain),
        enrichment = case when l.enrichment is null then p.enrichment else l.enrichment end,
        enriched_at = case when l.enrichment is null and p.enrichment is not null then p.enriched_at else l.enriched_at end,
        enrichment_status = case when l.enrichment is null and p.enrichment is not null then p.enrichment_status else l.enrichment_status end,
        last_touch_at = greatest(l.last_touch_at, p.last_touch_at),
        custom_fields = p.custom_fields || l.custom_fields,
        crm_data = p.crm_data || l.crm_data
      from pick p
      where l.org_id = v_org and l.id = p_primary
      returning l.*
    )
    select array_remove(array[
        case when f.last_name is distinct from v_primary.last_name then 'lastName' end,
        case when f.organization_name is distinct from v_primary.organization_name then 'organizationName' end,
        case when f.business_type is distinct from v_primary.business_type then 'businessType' end,
        case when f.phone is distinct from v_primary.phone then 'phone' end,
        case when f.tier is distinct from v_primary.tier then 'tier' end,
        case when f.title is distinct from v_primary.title then 'title' end,
        case when f.seniority is distinct from v_primary.seniority then 'seniority' end,
        case when f.company_name is distinct from v_primary.company_name then 'companyName' end,
        case when f.linkedin_url is distinct from v_primary.linkedin_url then 'linkedinUrl' end,
        case when f.company_size is distinct from v_primary.company_size then 'companySize' end,
        case when f.company_revenue is distinct from v_primary.company_revenue then 'companyRevenue' end,
        case when f.enrichment is distinct from v_primary.enrichment then 'enrichment' end,
        case when f.last_touch_at is distinct from v_primary.last_touch_at then 'lastTouchAt' end,
        case when f.custom_fields is distinct from v_primary.custom_fields then 'customFields' end,
        case when f.crm_data is distinct from v_primary.crm_data then 'crmData' end], null)
      into v_filled
    from filled f;

    v_moved := app._merge_lead_records(p_primary, v_duplicates);

    update app.leads l set deleted_at = coalesce(l.deleted_at, pg_catalog.now()), merged_into = p_primary
    where l.org_id = v_org and l.id = any (v_duplicates);

    insert into app.lead_merges (org_id, primary_id, duplicate_ids, moved, filled)
    values (v_org, p_primary, v_duplicates, v_moved, coalesce(v_filled, '{}'))
    returning id into v_merge_id;

    return pg_catalog.jsonb_build_object('id', v_merge_id, 'primaryId', p_primary, 'duplicateIds', pg_catalog.to_jsonb(v_duplicates),
      'moved', v_moved, 'filled', pg_catalog.to_jsonb(coalesce(v_filled, '{}')));
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.search_leads(p_q text, p_limit integer DEFAULT 20)
 RETURNS TABLE(lead_id text, rank real, matched text[], snippet text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
    v_text constant text := pg_catalog.lower(pg_catalog.btrim(p_q));
    v_words constant tsquery := pg_catalog.websearch_to_tsquery('pg_catalog.simple'::regconfig, p_q);
    v_prose constant tsquery := pg_catalog.websearch_to_tsquery('pg_catalog.english'::regconfig, p_q);
    v_limit constant integer := greatest(least(p_limit, 100), 1);
    v_fuzzy boolean;
  begin
    if v_org is null then
      raise exception 'app.search_leads runs inside a request acting as an org' using errcode = '42501';
    end if;
    perform pg_catalog.set_config('pg_trgm.word_similarity_threshold', '0.5', true);
    -- Trigrams look for what the words miss (typos, parts of words). When the words alone find a
    -- page of leads there is nothing to look for, and words common to many leads ("dental") make
    -- the trigram match read every lead of the org.
    v_fuzzy := (select count(*) from (select from app.leads l
                                      where l.org_id = v_org and l.deleted_at is null and l.search_doc operator(pg_catalog.@@) v_words
                                      limit v_limit) x) < v_limit;
    return query
    with hits as (
      select l.id, (pg_catalog.ts_rank_cd(l.search_doc, v_words, 1) * 2)::real as score, 'lead'::text as kind, null::text as note_id
      from app.leads l
      where l.org_id = v_org and l.deleted_at is null and l.search_doc operator(pg_catalog.@@) v_words
      union all
      select l.id, extensions.word_similarity(v_text, l.search_text), 'fuzzy', null
      from app.leads l
      where v_fuzzy and l.org_id = v_org and l.deleted_at is null and v_text operator(extensions.<%) l.search_text
      union all
      select n.lead_id, (pg_catalog.ts_rank_cd(n.search_doc, v_prose, 1) * 0.5)::real, 'note', n.id
      from app.notes n
      where n.org_id = v_org and n.search_doc operator(pg_catalog.@@) v_prose
      union all
      select f.lead_id, (extensions.word_similarity(v_text, f.value) * 0.5)::real, 'fact', null
      from app.lead_facts f
      where f.org_id = v_org and v_text operator(extensions.<%) f.value
    ),
    ranked as (
      select h.id, sum(h.score)::real as rank, array_agg(distinct h.kind order by h.kind) as matched,
             (array_agg(h.note_id order by h.score desc) filter (where h.note_id is not null))[1] as note_id
      from hits h
      join app.leads l on l.org_id = v_org and l.id = h.id and l.deleted_at is null
      group by h.id
      order by 2 desc, h.id
      limit v_limit
    )
    select r.id, r.rank, r.matched,
      (select pg_catalog.ts_headline('pg_catalog.english'::regconfig, n.content, v_prose, 'MaxWords=20, MinWords=8, MaxFragments=1')
       from app.notes n where n.org_id = v_org and n.id = r.note_id)
    from ranked r
    order by r.rank desc, r.id;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.stalled_leads(p_now timestamp with time zone DEFAULT now(), p_limit integer DEFAULT 50, p_offset integer DEFAULT 0, p_after jsonb DEFAULT NULL::jsonb)
 RETURNS TABLE(lead_id text, name text, email text, stage_id text, stage text, days_since_touch integer, stalled_reason text, suggested_action text, priority text, priority_rank integer, total bigint, sort_key jsonb)
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
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
    verdicts as (
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
    ),
    -- The page: after p_after's lead (a cursor: its rank, days overdue, idle_since and id, in
    -- the list's order) when given, else from p_offset.
    ranked as (
      select k.* from verdicts k
      where p_after is null
         or (k.priority_rank, -k.days_overdue, k.idle_since, k.id)
            > ((p_after ->> 0)::integer, -(p_after ->> 1)::integer, (p_after ->> 2)::timestamptz, p_after ->> 3)
      order by k.priority_rank, k.days_overdue desc, k.idle_since, k.id
      limit greatest(p_limit, 0) offset greatest(p_offset, 0)
    )
    select l.id, pg_catalog.btrim(l.first_name || ' ' || coalesce(l.last_name, '')), l.email,
      r.stage_id, r.stage, v.days_since_touch, v.stalled_reason, v.suggested_action,
      v.priority, v.priority_rank, k.total,
      pg_catalog.jsonb_build_array(k.priority_rank, k.days_overdue, k.idle_since, k.id)
    from ranked k
    join rules r on r.stage_id = k.stage_id
    join app.leads l on l.id = k.id
    left join app.lead_scores c on c.lead_id = k.id
    cross join lateral app.stall_verdict(l.idle_since, l.last_touch_at is not null, r.stall_after_days, r.outcome,
      l.status, l.deleted_at, c.score, c.label, r.late_stage, r.stage, p_now) v
    order by k.priority_rank, k.days_overdue desc, k.idle_since, k.id
  $function$
;

CREATE OR REPLACE FUNCTION app.upsert_leads(p_items jsonb)
 RETURNS TABLE(item integer, result text, lead_id text, error jsonb)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  begin
    if pg_catalog.jsonb_typeof(p_items) = 'array' and pg_catalog.jsonb_array_length(p_items) > 1000 then
      perform app.refuse(413, 'too_many_items',
        pg_catalog.format('A batch holds at most 1,000 items, not %s', pg_catalog.jsonb_array_length(p_items)),
        'Split the items into batches of 1,000, or import a CSV file (POST /api/openclaw/imports takes up to 50,000 rows).');
    end if;
    return query
    select u.item, u.result, u.lead_id, u.error from app._upsert_leads(app.current_org_id(), p_items, 'patch') u;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._check_lead_custom_fields()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_problem jsonb;
  begin
    if tg_op = 'UPDATE' and new.custom_fields is not distinct from old.custom_fields then
      return new;
    end if;
    v_problem := app.custom_fields_problem(new.org_id, new.custom_fields, case when tg_op = 'UPDATE' then old.custom_fields end);
    if v_problem is not null then
      perform app.refuse(400, v_problem ->> 'code', v_problem ->> 'message', v_problem ->> 'hint');
    end if;
    return new;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._enforce_lead_limit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_over record;
    v_error jsonb;
  begin
    perform from app.orgs o
    where o.id in (select distinct n.org_id from new_leads n)
    order by o.id
    for no key update of o;

    select o.tier, t.lead_limit, c.total, a.added into v_over
    from (select n.org_id, count(*)::integer as added from new_leads n group by n.org_id) a
    join app.orgs o on o.id = a.org_id
    join app.tiers t on t.tier = o.tier
    cross join lateral (select count(*)::integer as total from app.leads l where l.org_id = o.id) c
    where c.total > t.lead_limit
    limit 1;

    if found then
      v_error := app.lead_limit_error(v_over.tier, v_over.lead_limit, v_over.total - v_over.added, v_over.added);
      perform app.refuse(402, v_error ->> 'code', v_error ->> 'message', v_error ->> 'hint');
    end if;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.create_lead(p_lead jsonb)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.ingest_sync_event(p_source_id text, p_event_id text, p_payload jsonb, p_signed_digest text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
    v_detail text;
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

    -- Claim the event id (and signed digest) first: a concurrent redelivery waits here for
    -- this one to finish. Either one seen before makes the event a duplicate.
    insert into app.sync_events as e (org_id, source_id, event_id, event, signed_digest)
    values (v_source.org_id, v_source.id, p_event_id, v_event, p_signed_digest)
    on conflict do nothing
    returning e.id into v_claim;
    if v_claim is null then
      select e.result into v_result from app.sync_events e
      where e.org_id = v_source.org_id and e.source_id = v_source.id
        and (e.event_id = p_event_id or e.signed_digest = p_signed_digest)
      order by e.event_id = p_event_id desc
      limit 1;
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
      update app.sync_events e set outcome = 'ignored', result = v_result where e.org_id = v_source.org_id and e.id = v_claim;
      update app.sync_sources s set last_event_at = pg_catalog.now() where s.org_id = v_source.org_id and s.id = v_source.id;
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

    -- Create or update the lead by email (app.upsert_lead_by_email: an existing lead only
    -- moves forward, so a routine email to a lead in negotiation does not send it back to the
    -- source's first stage; a new lead without a mapped name is named from the display name).
    begin
      select u.lead_id, u.created, u.stage_id, u.previous_stage_id into v_lead_id, v_created, v_target, v_from_stage
      from app.upsert_lead_by_email(v_source.org_id, v_email, pg_catalog.jsonb_build_object(
        'firstName', v_first, 'lastName', v_last,
        'organizationName', app._sync_value(v_payload, v_map -> 'organizationName'),
        'businessType', app._sync_value(v_payload, v_map -> 'businessType'),
        'phone', app._sync_value(v_payload, v_map -> 'phone'),
        'title', app._sync_value(v_payload, v_map -> 'title'),
        'companyName', app._sync_value(v_payload, v_map -> 'companyName'),
        'linkedinUrl', app._sync_value(v_payload, v_map -> 'linkedinUrl')), v_target, v_display) u;
    exception when check_violation or sqlstate 'CR400' then
      -- The upsert refuses an invalid email as invalid_email; a direct writer trips the check.
      get stacked diagnostics v_constraint = constraint_name, v_detail = pg_exception_detail;
      if v_constraint = 'leads_email_check' or coalesce(v_detail, '') ~ '"?invalid_email"?' then
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
      -- The payload itself when it is of a reasonable size (form answers, the message) and
      -- fits under metadata's cap (touchpoints_metadata_size: 64 KiB, 10 deep).
      || case when app.json_fits(p_payload, 32768, 9)
           then pg_catalog.jsonb_build_object('payload', p_payload)
           else pg_catalog.jsonb_build_object('payloadOmitted', true) end)
    returning t.id into v_touchpoint;

    v_result := pg_catalog.jsonb_build_object(
      'outcome', case when v_created then 'created' else 'updated' end,
      'syncSourceId', v_source.id, 'event', v_event, 'eventId', p_event_id,
      'leadId', v_lead_id, 'email', v_email,
      'stage', (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s
                where s.org_id = v_source.org_id and s.id = v_target),
      'previousStage', case when not v_created then
        (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s
         where s.org_id = v_source.org_id and s.id = v_from_stage) end,
      'moved', not v_created and v_from_stage is distinct from v_target,
      'touchpointId', v_touchpoint);
    update app.sync_events e set lead_id = v_lead_id, outcome = v_result ->> 'outcome', result = v_result
    where e.org_id = v_source.org_id and e.id = v_claim;
    update app.sync_sources s set last_event_at = pg_catalog.now() where s.org_id = v_source.org_id and s.id = v_source.id;

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_result || pg_catalog.jsonb_build_object('duplicate', false);
  end;
  $function$
;

create or replace view "app"."lead_details" as  SELECT l.id,
    l.org_id,
    l.first_name,
    l.last_name,
    l.email,
    l.organization_name,
    l.business_type,
    l.phone,
    l.tier,
    l.status,
    l.stage_id,
    l.custom_fields,
    l.crm_data,
    l.title,
    l.seniority,
    l.company_name,
    l.linkedin_url,
    l.company_size,
    l.company_revenue,
    l.enrichment_status,
    l.enrichment,
    l.enriched_at,
    l.last_touch_at,
    l.created_at,
    l.updated_at,
    l.deleted_at,
    l.email_key,
    l.search_text,
    l.enrichment_started_at,
    l.enrichment_error,
    l.company_domain,
    l.email_domain,
    l.organization_key,
    l.company_key,
    l.referrer_key,
    l.idle_since,
    l.source,
    l.created_by,
    l.merged_into,
    l.name_key,
    l.phone_key,
    l.search_doc,
    s.name AS stage,
    c.score,
    c.label AS score_label,
    c.scored_at,
    p.slug AS proposal_slug
   FROM (((app.leads l
     LEFT JOIN app.stages s ON (((s.org_id = l.org_id) AND (s.id = l.stage_id))))
     LEFT JOIN app.lead_scores c ON (((c.org_id = l.org_id) AND (c.lead_id = l.id))))
     LEFT JOIN app.proposals p ON (((p.org_id = l.org_id) AND (p.lead_id = l.id))));


CREATE OR REPLACE FUNCTION app.upsert_lead_by_email(p_org_id text, p_email text, p_fields jsonb DEFAULT '{}'::jsonb, p_stage_id text DEFAULT NULL::text, p_display_name text DEFAULT NULL::text, OUT lead_id text, OUT created boolean, OUT stage_id text, OUT previous_stage_id text)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
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
  $function$
;

grant delete on table "app"."import_rows" to "authenticated";

grant select on table "app"."import_rows" to "authenticated";

grant delete on table "app"."import_rows" to "service_role";

grant insert on table "app"."import_rows" to "service_role";

grant references on table "app"."import_rows" to "service_role";

grant select on table "app"."import_rows" to "service_role";

grant trigger on table "app"."import_rows" to "service_role";

grant truncate on table "app"."import_rows" to "service_role";

grant update on table "app"."import_rows" to "service_role";

grant select on table "app"."imports" to "authenticated";

grant delete on table "app"."imports" to "service_role";

grant insert on table "app"."imports" to "service_role";

grant references on table "app"."imports" to "service_role";

grant select on table "app"."imports" to "service_role";

grant trigger on table "app"."imports" to "service_role";

grant truncate on table "app"."imports" to "service_role";

grant update on table "app"."imports" to "service_role";

-- Column privileges (added by hand: migra leaves them out).
grant insert (org_id, file_name, file_bytes, columns, mapping) on app.imports to authenticated;
grant update (status, total_rows, processed_rows, created, updated, unchanged, failed, finished_at) on app.imports to authenticated;
grant insert (import_id, row_number, fields) on app.import_rows to authenticated;
grant update (result, lead_id, error) on app.import_rows to authenticated;

grant insert on table "app"."lead_merges" to "authenticated";

grant select on table "app"."lead_merges" to "authenticated";

grant delete on table "app"."lead_merges" to "service_role";

grant insert on table "app"."lead_merges" to "service_role";

grant references on table "app"."lead_merges" to "service_role";

grant select on table "app"."lead_merges" to "service_role";

grant trigger on table "app"."lead_merges" to "service_role";

grant truncate on table "app"."lead_merges" to "service_role";

grant update on table "app"."lead_merges" to "service_role";


  create policy "Import rows are visible to their own org"
  on "app"."import_rows"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Import rows can be changed by their own org"
  on "app"."import_rows"
  as permissive
  for update
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)))
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Import rows can be created in the caller's org"
  on "app"."import_rows"
  as permissive
  for insert
  to authenticated
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Import rows can be deleted by their own org"
  on "app"."import_rows"
  as permissive
  for delete
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Imports are visible to their own org"
  on "app"."imports"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Imports can be changed by their own org"
  on "app"."imports"
  as permissive
  for update
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)))
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Imports can be created in the caller's org"
  on "app"."imports"
  as permissive
  for insert
  to authenticated
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Imports can be deleted by their own org"
  on "app"."imports"
  as permissive
  for delete
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Lead merges are visible to their own org"
  on "app"."lead_merges"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Lead merges can be changed by their own org"
  on "app"."lead_merges"
  as permissive
  for update
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)))
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Lead merges can be created in the caller's org"
  on "app"."lead_merges"
  as permissive
  for insert
  to authenticated
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Lead merges can be deleted by their own org"
  on "app"."lead_merges"
  as permissive
  for delete
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));


CREATE TRIGGER imports_touch_updated_at BEFORE UPDATE ON app.imports FOR EACH ROW EXECUTE FUNCTION app._touch_updated_at();

-- The recreated views' options, comments and grants (migra drops them).
alter view app.lead_details set (security_invoker=true);
comment on view app.lead_details is 'Leads with their stage name, stored score and proposal slug, as the API returns them.';
grant select on app.lead_details to authenticated;
grant select on app.lead_details to service_role;

-- The recreated functions' comments and privileges.
comment on function app.stalled_leads(timestamp with time zone,integer,integer,jsonb) is 'The current org''s stalled leads at p_now, highest priority then most overdue first, one page (from p_offset, or after the lead whose sort_key is p_after); total = all stalled leads.';
revoke all on function app.stalled_leads(timestamp with time zone,integer,integer,jsonb) from public; grant execute on function app.stalled_leads(timestamp with time zone,integer,integer,jsonb) to authenticated; grant execute on function app.stalled_leads(timestamp with time zone,integer,integer,jsonb) to service_role;

-- Comments and function privileges (migra leaves them out).
comment on column app.leads.merged_into is 'The lead this one was merged into (it is then soft-deleted): POST /leads/merge, app.merge_leads.';
comment on column app.leads.name_key is 'The full name lower-cased with single spaces: what duplicate detection compares (exactly with the company, by trigram similarity alone).';
comment on column app.leads.phone_key is 'The phone''s last ten digits (null under seven): duplicate detection matches on it.';
comment on column app.leads.search_doc is 'The lead''s words for full-text search (names A, companies B, email, title and business type C), GET /leads/search.';
comment on function app._merge_lead_records(text,text[]) is 'Inside app.merge_leads: moves the duplicates'' notes, touchpoints, events, stage history, enrolments, runs, meetings, submissions, sync events, visits, facts and engagement to the primary (one proposal per lead: the primary''s, filled from a duplicate''s when empty), rescores it; returns rows moved per table. Only on leads of the caller''s org.';
comment on function app._refuse_lead_item(jsonb) is 'Raises a failed item of app._upsert_leads as its refusal (status, code, message, hint; existingId with a PATCH next step).';
comment on function app._upsert_leads(text,jsonb,text) is 'The set-based write of leads from outside: checks each item on its own, matches live leads by email, updates and inserts in one statement, counts the plan''s room (items past it fail lead_limit_reached) and answers per item created, updated, unchanged or failed {status, code, message, hint}. Modes patch, create, advance (see 40_leads.sql). Runs as its caller.';
comment on function app.apply_import_chunk(text,integer) is 'Applies the next p_rows waiting rows of one of the current org''s imports through the set-based upsert (patch mode; the plan''s room counted once), records what each did (failed rows keep their error), completes the import after its last row; returns status and progress.';
comment on function app.custom_field_from_text(text,text) is 'A custom field value from CSV text: numbers and booleans (true/yes/1, false/no/0) typed, multiselects split on ; (or ,), anything else as text.';
comment on function app.custom_fields_problem(text,jsonb,jsonb) is 'The first way a lead''s customFields (p_new; p_old: the stored ones, whose unchanged values are not checked again) break the org''s definitions, as {status, code, message, hint, field}; null when they fit.';
comment on function app.finish_import_upload(text,integer) is 'Ends an import''s upload: refuses an empty file or one over p_max_rows rows (413), fails rows repeating an earlier row''s email, records the row count; returns it.';
comment on function app.lead_duplicates(text,real) is 'Likely duplicate pairs among the current org''s live leads (or of one lead): same name and company, same phone, or a name at least p_min_similarity similar (pg_trgm); each pair with its reasons and the names'' similarity.';
comment on function app.lead_fields(jsonb,boolean) is 'A lead item''s known fields (contract names; clinicName and practiceType folded into organizationName and businessType), strings trimmed; p_drop_nulls leaves out null values.';
comment on function app.lead_fields_problem(jsonb) is 'The first field of a lead item (app.lead_fields) that app.leads would refuse: a missing or invalid email, text of the wrong type or length, a blank firstName or status, a customFields or crmData that is not an object; as {status, code, message, hint, field}, or null.';
comment on function app.lead_limit_error(text,integer,integer,integer) is 'The 402 lead_limit_reached refusal as {status, code, message, hint}: the tier, its limit, the leads the workspace has and how many the request adds.';
comment on function app.merge_leads(text,text[]) is 'Merges duplicate leads of the current org into a primary in one transaction: fills the primary''s empty fields, moves the duplicates'' records to it, soft-deletes the duplicates with merged_into, records the merge; refuses another org''s or unknown leads (404), a deleted primary and an already merged duplicate (409). Returns the merge.';
comment on function app.search_leads(text,integer) is 'The current org''s live leads matching q, best first: full text of their own words and their notes, trigram similarity within name, email, company and enrichment facts; each with its rank, what matched and a snippet of the best matching note.';
comment on function app.stalled_leads(timestamp with time zone,integer,integer,jsonb) is 'The current org''s stalled leads at p_now, highest priority then most overdue first, one page (from p_offset, or after the lead whose sort_key is p_after); total = all stalled leads.';
comment on function app.upsert_leads(jsonb) is 'POST /leads/batch: creates or updates (PATCH semantics, matched by email) up to 1,000 leads of the current org in one statement; per item created, updated, unchanged or failed with its error; the plan''s room decides which new leads land.';
comment on table app.import_rows is 'An import''s rows, copied in with COPY before any is applied: waiting (result null) or failed with the error; rows that succeeded are removed once applied (the import counts them).';
comment on table app.imports is 'CSV imports of leads: the file''s columns and their mapping, status (applying, completed), progress (processed_rows of total_rows) and what the rows did (created, updated, unchanged, failed).';
comment on table app.lead_merges is 'Each merge of duplicate leads into a primary: which leads, the rows moved per table, the fields filled, who merged and when.';
revoke all on function app._merge_lead_records(text,text[]) from public; grant execute on function app._merge_lead_records(text,text[]) to authenticated; grant execute on function app._merge_lead_records(text,text[]) to service_role;
revoke all on function app._refuse_lead_item(jsonb) from public; grant execute on function app._refuse_lead_item(jsonb) to authenticated; grant execute on function app._refuse_lead_item(jsonb) to service_role;
revoke all on function app._upsert_leads(text,jsonb,text) from public; grant execute on function app._upsert_leads(text,jsonb,text) to authenticated; grant execute on function app._upsert_leads(text,jsonb,text) to service_role;
revoke all on function app.apply_import_chunk(text,integer) from public; grant execute on function app.apply_import_chunk(text,integer) to authenticated; grant execute on function app.apply_import_chunk(text,integer) to service_role;
revoke all on function app.custom_field_from_text(text,text) from public; grant execute on function app.custom_field_from_text(text,text) to authenticated; grant execute on function app.custom_field_from_text(text,text) to service_role;
revoke all on function app.custom_fields_problem(text,jsonb,jsonb) from public; grant execute on function app.custom_fields_problem(text,jsonb,jsonb) to authenticated; grant execute on function app.custom_fields_problem(text,jsonb,jsonb) to service_role;
revoke all on function app.finish_import_upload(text,integer) from public; grant execute on function app.finish_import_upload(text,integer) to authenticated; grant execute on function app.finish_import_upload(text,integer) to service_role;
revoke all on function app.lead_duplicates(text,real) from public; grant execute on function app.lead_duplicates(text,real) to authenticated; grant execute on function app.lead_duplicates(text,real) to service_role;
revoke all on function app.lead_fields(jsonb,boolean) from public; grant execute on function app.lead_fields(jsonb,boolean) to authenticated; grant execute on function app.lead_fields(jsonb,boolean) to service_role;
revoke all on function app.lead_fields_problem(jsonb) from public; grant execute on function app.lead_fields_problem(jsonb) to authenticated; grant execute on function app.lead_fields_problem(jsonb) to service_role;
revoke all on function app.lead_limit_error(text,integer,integer,integer) from public; grant execute on function app.lead_limit_error(text,integer,integer,integer) to authenticated; grant execute on function app.lead_limit_error(text,integer,integer,integer) to service_role;
revoke all on function app.merge_leads(text,text[]) from public; grant execute on function app.merge_leads(text,text[]) to authenticated; grant execute on function app.merge_leads(text,text[]) to service_role;
revoke all on function app.search_leads(text,integer) from public; grant execute on function app.search_leads(text,integer) to authenticated; grant execute on function app.search_leads(text,integer) to service_role;
revoke all on function app.stalled_leads(timestamp with time zone,integer,integer,jsonb) from public; grant execute on function app.stalled_leads(timestamp with time zone,integer,integer,jsonb) to authenticated; grant execute on function app.stalled_leads(timestamp with time zone,integer,integer,jsonb) to service_role;
revoke all on function app.upsert_leads(jsonb) from public; grant execute on function app.upsert_leads(jsonb) to authenticated; grant execute on function app.upsert_leads(jsonb) to service_role;
