-- Role rules on every tenant table: a viewer reads everything of its org and writes nothing,
-- whichever way it comes (the HTTP API with a browser session, supabase-js through the api
-- schema, PostgREST). Each tenant table (every app table with org_id, and app.orgs) gets the
-- three restrictive policies of app.make_read_only_for_viewers (10_foundation.sql): inserts,
-- updates and deletes pass only for roles that write (owner, admin, member, API keys), on top
-- of whatever its own policies allow. Security definer functions that write for a tenant check
-- app.ensure_can_write() themselves.
-- This file comes last so that it covers every table; a table added later (in a later file,
-- or by a migration) must get them too: the schema guard "every tenant table is read-only for
-- viewers" (supabase/tests/00_schema_guards.test.sql) fails until it has them.

do $$
declare
  v_table regclass;
begin
  for v_table in
    select c.oid::regclass from pg_catalog.pg_class c
    where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
      and (c.oid = 'app.orgs'::regclass
           or exists (select from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped))
    order by c.relname
  loop
    perform app.make_read_only_for_viewers(v_table);
  end loop;
end
$$;
