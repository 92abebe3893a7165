-- One way to make a table private to its org: row-level security enabled and forced, one
-- policy per command, all through app.current_org_id(). Tables call this instead of spelling
-- out the same four policies; a table whose rules differ (read-only to tenants, shared
-- reference data) still writes its own. Grants stay with each table: some are per column.

create function app.make_org_private(p_table regclass, p_rows text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_mine constant text := '(org_id = (select app.current_org_id()))';
  begin
    execute pg_catalog.format('alter table %s enable row level security', p_table);
    execute pg_catalog.format('alter table %s force row level security', p_table);
    execute pg_catalog.format('create policy %I on %s for select to authenticated using %s',
      p_rows || ' are visible to their own org', p_table, v_mine);
    execute pg_catalog.format('create policy %I on %s for insert to authenticated with check %s',
      p_rows || ' can be created in the caller''s org', p_table, v_mine);
    execute pg_catalog.format('create policy %I on %s for update to authenticated using %s with check %s',
      p_rows || ' can be changed by their own org', p_table, v_mine, v_mine);
    execute pg_catalog.format('create policy %I on %s for delete to authenticated using %s',
      p_rows || ' can be deleted by their own org', p_table, v_mine);
  end;
  $$;
comment on function app.make_org_private(regclass, text) is 'Enables and forces RLS on a table with an org_id column: select/insert/update/delete only within app.current_org_id(), named after the rows ("Notes are visible to their own org").';
revoke execute on function app.make_org_private(regclass, text) from public;
