-- Data in and out in bulk, and finding the same person twice:
--   * CSV imports (POST /imports, GET /imports/{id}): app.imports (one row per file: its
--     mapping, status, progress and counts) and app.import_rows (the file's rows, copied in by
--     the edge with COPY … FROM STDIN, then applied chunk by chunk with app.apply_import_chunk
--     through the same set-based upsert as POST /leads/batch, app._upsert_leads in
--     40_leads.sql; rows that failed stay, with their error, for the error report);
--   * duplicates (GET /leads/duplicates): app.lead_duplicates, likely duplicates beyond the
--     one-live-lead-per-email rule (the same name and company, the same phone, a similar name
--     by trigram), each pair with its reasons and the names' similarity;
--   * merges (POST /leads/merge): app.merge_leads moves what the duplicates hold onto the
--     primary lead, fills its empty fields, soft-deletes the duplicates pointing at it
--     (leads.merged_into) and records the merge in app.lead_merges, in one transaction;
--   * search (GET /leads/search): app.search_leads, ranked full-text and trigram matches over
--     a lead's own words (leads.search_doc, search_text), its notes and its enrichment facts.
-- Exports (GET /leads/export) are a COPY … TO STDOUT of app.lead_details made by the edge
-- (functions/routes/leads.ts), with the same filters as GET /leads.
-- The indexes search and duplicates read are on app.leads (40_leads.sql), app.notes and
-- app.lead_facts (below); all lead with org_id (btree_gin, 00_supabase.sql).

-- ---------------------------------------------------------------------------
-- Imports
-- ---------------------------------------------------------------------------
create table app.imports (
  id text not null default app.new_id('imp'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  -- applying: rows are being applied (or were, until the process applying them stopped:
  -- POST /imports/{id}/resume applies the rest); completed: every row has its result.
  status text not null default 'applying' check (status in ('applying', 'completed')),
  file_name text check (length(file_name) <= 255),
  file_bytes integer not null check (file_bytes >= 0),
  -- The CSV header's columns, in order, and the lead field each feeds (null: not imported).
  columns text[] not null,
  mapping jsonb not null check (jsonb_typeof(mapping) = 'object'),
  total_rows integer not null default 0 check (total_rows >= 0),
  processed_rows integer not null default 0 check (processed_rows >= 0),
  created integer not null default 0,
  updated integer not null default 0,
  unchanged integer not null default 0,
  failed integer not null default 0,
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  primary key (org_id, id),
  constraint imports_finished_check check ((status = 'completed') = (finished_at is not null))
);
comment on table app.imports is 'CSV imports of leads: the file''s columns and their mapping, status (applying, completed), progress (processed_rows of total_rows) and what the rows did (created, updated, unchanged, failed).';
create index imports_org_created_idx on app.imports (org_id, created_at desc, id desc);

create trigger imports_touch_updated_at before update on app.imports
  for each row execute function app._touch_updated_at();

-- A tenant uploads a file; the counts and status are written by app.finish_import_upload and
-- app.apply_import_chunk, which run as the caller.
select app.make_org_private('app.imports', 'Imports');
grant select on app.imports to authenticated;
grant insert (org_id, file_name, file_bytes, columns, mapping) on app.imports to authenticated;
grant update (status, total_rows, processed_rows, created, updated, unchanged, failed, finished_at) on app.imports to authenticated;
grant all on app.imports to service_role;

create table app.import_rows (
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  import_id text not null,
  -- The data row's number in the file: 1 is the first row after the header.
  row_number integer not null check (row_number >= 1),
  -- The row as lead fields (contract names; customFields.<key> columns gathered in
  -- customFields), text as it stood in the file; empty cells left out.
  fields jsonb not null check (jsonb_typeof(fields) = 'object'),
  -- Null until applied. Applied rows that succeeded are removed; failed ones stay.
  result text check (result in ('created', 'updated', 'unchanged', 'failed')),
  lead_id text,
  error jsonb check (jsonb_typeof(error) = 'object'),
  primary key (org_id, import_id, row_number),
  constraint import_rows_import_fkey foreign key (org_id, import_id) references app.imports (org_id, id) on delete cascade
);
comment on table app.import_rows is 'An import''s rows, copied in with COPY before any is applied: waiting (result null) or failed with the error; rows that succeeded are removed once applied (the import counts them).';
create index import_rows_org_import_waiting_idx on app.import_rows (org_id, import_id, row_number) where result is null;

select app.make_org_private('app.import_rows', 'Import rows');
grant select, delete on app.import_rows to authenticated;
grant insert (import_id, row_number, fields) on app.import_rows to authenticated;
grant update (result, lead_id, error) on app.import_rows to authenticated;
grant all on app.import_rows to service_role;

-- A CSV cell for a custom field, as the field's type takes it: numbers and booleans from
-- their usual spellings, a multiselect from values separated by ; (or by , when there is
-- no ;). Anything else stays the text it was, for the definition check to name.
create function app.custom_field_from_text(p_field_type text, p_text text) returns jsonb
  language sql immutable
  set search_path = ''
  as $$
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
  $$;
comment on function app.custom_field_from_text(text, text) is 'A custom field value from CSV text: numbers and booleans (true/yes/1, false/no/0) typed, multiselects split on ; (or ,), anything else as text.';
revoke execute on function app.custom_field_from_text(text, text) from public;
grant execute on function app.custom_field_from_text(text, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- After the COPY: the import's row count, checked against the cap, and the rows that repeat
-- an email of an earlier row failed up front, so a file applies the same in one chunk or
-- many. Refusals roll the whole upload back: nothing of a refused file stays.
-- ---------------------------------------------------------------------------
create function app.finish_import_upload(p_import_id text, p_max_rows integer) returns integer
  language plpgsql
  set search_path = ''
  -- The rows were copied in by this transaction, so the planner has no statistics of them: a
  -- nested loop it chose for the duplicate update compared every row with every other one
  -- (a 50,000-row file ran for minutes). Hash and merge joins are linear whatever it guesses.
  set enable_nestloop = off
  as $$
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
  $$;
comment on function app.finish_import_upload(text, integer) is 'Ends an import''s upload: refuses an empty file or one over p_max_rows rows (413), fails rows repeating an earlier row''s email, records the row count; returns it.';
revoke execute on function app.finish_import_upload(text, integer) from public;
grant execute on function app.finish_import_upload(text, integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- One chunk of an import, in the caller's transaction: the next p_rows waiting rows, as lead
-- items (custom field text typed by the definitions), through app._upsert_leads in patch
-- mode: one lock of the org, one count of the plan's room, one statement. The leads it
-- creates record the import as their creator (source import, created_by import:<id>), so
-- POST /leads/bulk-delete { "source": "import", "createdBy": "import:<id>" } undoes one.
-- The import's row is locked for the chunk, so two callers applying the same import (a
-- resume while the first still runs) take turns and never apply a row twice.
-- ---------------------------------------------------------------------------
create function app.apply_import_chunk(p_import_id text, p_rows integer default 1000)
  returns table (status text, processed_rows integer, total_rows integer)
  language plpgsql
  set search_path = ''
  as $$
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
      -- The chunk's rows are found by their row numbers in the primary key's index (= any of
      -- an array), whatever the planner knows of the table: right after an upload's COPY it
      -- has no statistics yet, and a join it planned from none scanned every row of the import
      -- once per applied row (50,000 rows: seconds, past the statement timeout).
      kept as (
        update app.import_rows r set result = a.result, lead_id = a.lead_id, error = a.error
        from applied a
        where a.result = 'failed' and r.org_id = v_org and r.import_id = p_import_id and r.row_number = a.row_number
          and r.row_number = any (array(select f.row_number from applied f where f.result = 'failed'))
      ),
      done as (
        delete from app.import_rows r
        where r.org_id = v_org and r.import_id = p_import_id
          and r.row_number = any (array(select a.row_number from applied a where a.result <> 'failed'))
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
  $$;
comment on function app.apply_import_chunk(text, integer) is 'Applies the next p_rows waiting rows of one of the current org''s imports through the set-based upsert (patch mode; the plan''s room counted once), records what each did (failed rows keep their error), completes the import after its last row; returns status and progress.';
revoke execute on function app.apply_import_chunk(text, integer) from public;
grant execute on function app.apply_import_chunk(text, integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Merges: POST /leads/merge { primaryId, duplicateIds }.
-- ---------------------------------------------------------------------------
create table app.lead_merges (
  id text not null default app.new_id('mrg'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  primary_id text not null,
  duplicate_ids text[] not null check (cardinality(duplicate_ids) between 1 and 50),
  -- Rows moved to the primary, per table, and the primary's fields filled from the duplicates.
  moved jsonb not null default '{}' check (jsonb_typeof(moved) = 'object'),
  filled text[] not null default '{}',
  merged_by text not null default app.current_actor(),
  merged_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint lead_merges_primary_fkey foreign key (org_id, primary_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.lead_merges is 'Each merge of duplicate leads into a primary: which leads, the rows moved per table, the fields filled, who merged and when.';
create index lead_merges_org_primary_idx on app.lead_merges (org_id, primary_id, merged_at desc);

select app.make_org_private('app.lead_merges', 'Lead merges');
grant select, insert on app.lead_merges to authenticated;
grant all on app.lead_merges to service_role;

-- What a duplicate holds moves to the primary. Security definer because most of these tables
-- are written only by the database (no grant to authenticated), so this crosses no tenant:
-- it acts only within the caller's org, on leads app.merge_leads has already found and locked
-- under the caller's row-level security, and refuses to run otherwise.
--   * notes, touchpoints, events, stage history, automation runs, meetings, quiz submissions,
--     sync events, proposal visits and email suppressions: re-pointed at the primary;
--   * enrolments: re-pointed; one in a campaign where the primary is already active is
--     stopped first (reason merged, its queued mail canceled);
--   * enrichment facts: the primary keeps one of each; the engagement rollup is added up
--     into the primary's; the duplicates' scores go and the primary is rescored;
--   * the unsubscribe token moves when the primary has none;
--   * the proposal: one per lead, so the primary keeps its page; an empty one takes the
--     content of the first duplicate whose page has some.
create function app._merge_lead_records(p_primary text, p_duplicates text[]) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org constant text := app.current_org_id();
    v_moved jsonb := '{}'::jsonb;
    v_count integer;
  begin
    perform app.ensure_can_write();
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
  $$;
comment on function app._merge_lead_records(text, text[]) is 'Inside app.merge_leads: moves the duplicates'' notes, touchpoints, events, stage history, enrolments, runs, meetings, submissions, sync events, visits, facts and engagement to the primary (one proposal per lead: the primary''s, filled from a duplicate''s when empty), rescores it; returns rows moved per table. Only on leads of the caller''s org.';
revoke execute on function app._merge_lead_records(text, text[]) from public;
grant execute on function app._merge_lead_records(text, text[]) to authenticated, service_role;

-- The merge, as the caller: the leads are found and locked under row-level security (another
-- workspace's lead is not found: 404), the primary's empty fields are filled from the
-- duplicates in the order given (customFields and crmData: keys it lacks), the records move
-- (app._merge_lead_records), the duplicates are soft-deleted with merged_into set, and the
-- merge is recorded. All in the caller's transaction: a refusal leaves nothing changed.
create function app.merge_leads(p_primary text, p_duplicates text[]) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
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
  $$;
comment on function app.merge_leads(text, text[]) is 'Merges duplicate leads of the current org into a primary in one transaction: fills the primary''s empty fields, moves the duplicates'' records to it, soft-deletes the duplicates with merged_into, records the merge; refuses another org''s or unknown leads (404), a deleted primary and an already merged duplicate (409). Returns the merge.';
revoke execute on function app.merge_leads(text, text[]) from public;
grant execute on function app.merge_leads(text, text[]) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Duplicates: GET /leads/duplicates. Likely duplicates among the live leads of the current org
-- (or of one lead): pairs that share the name and the company (organization or company name,
-- compared by app.name_key), the phone's last ten digits, or a similar name (trigram
-- similarity at least p_min_similarity). Each pair once (lead_id < duplicate_id unless
-- p_lead_id is given), with every reason that holds and the names' similarity.
-- Security definer, acting only on the caller's org (every read filters org_id by
-- app.current_org_id(), and it refuses outside a request): under row-level security the
-- trigram operators, which are not leakproof, could not be index conditions.
-- ---------------------------------------------------------------------------
create function app.lead_duplicates(p_lead_id text default null, p_min_similarity real default 0.6)
  returns table (lead_id text, duplicate_id text, reasons text[], similarity real)
  language plpgsql
  stable
  security definer
  set search_path = ''
  as $$
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
  $$;
comment on function app.lead_duplicates(text, real) is 'Likely duplicate pairs among the current org''s live leads (or of one lead): same name and company, same phone, or a name at least p_min_similarity similar (pg_trgm); each pair with its reasons and the names'' similarity.';
revoke execute on function app.lead_duplicates(text, real) from public;
grant execute on function app.lead_duplicates(text, real) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Search: GET /leads/search?q=. The current org's live leads matching q, best first:
--   lead     full text of the lead's words (leads.search_doc: names, companies, email,
--            title, business type), ranked by ts_rank_cd;
--   fuzzy    trigram word similarity of q within name, email and company (leads.search_text):
--            partial words and typos, looked for when the words alone find less than a page;
--   note     full text of its notes (notes.search_doc, english: stemmed), with a snippet of
--            the best one;
--   fact     trigram word similarity within its enrichment facts (schools, former employers).
-- A lead's rank adds up its matches (notes and facts count half). Every source is read through
-- an index led by org_id. Security definer for the same reason as app.lead_duplicates, and
-- likewise only ever reading the caller's org.
-- ---------------------------------------------------------------------------
create index notes_org_search_doc_idx on app.notes using gin (org_id, search_doc);
create index lead_facts_org_value_trgm_idx on app.lead_facts using gin (org_id, value extensions.gin_trgm_ops);

create function app.search_leads(p_q text, p_limit integer default 20)
  returns table (lead_id text, rank real, matched text[], snippet text)
  language plpgsql
  stable
  security definer
  set search_path = ''
  as $$
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
  $$;
comment on function app.search_leads(text, integer) is 'The current org''s live leads matching q, best first: full text of their own words and their notes, trigram similarity within name, email, company and enrichment facts; each with its rank, what matched and a snippet of the best matching note.';
revoke execute on function app.search_leads(text, integer) from public;
grant execute on function app.search_leads(text, integer) to authenticated, service_role;
