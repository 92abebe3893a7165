-- An import's chunk (app.apply_import_chunk) finds the rows it marks failed and deletes the rows it
-- applied by their row numbers in the primary key's index (= any of an array), whatever the
-- planner knows of app.import_rows: right after an upload's COPY the table has no statistics yet,
-- and the delete planned from none scanned every row of the import once per applied row, so the
-- first chunk of a 50,000-row import ran past the expensive-work statement timeout (503).
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand. Reference data changes (inserts, updates) are not diffed: add them here.

set check_function_bodies = off;

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
  $function$
;
