-- Schema-wide guards: the rules every object of schema app (and of the api schema that
-- supabase-js sees) follows, checked over the catalogue, so a table, view or function added
-- tomorrow is covered the moment it exists. Each check fails with the list of the objects
-- that break it.
--
-- The few exceptions are named below, each with its reason. An exception that names no
-- existing object (renamed, dropped) fails the first check, so the lists cannot rot.
begin;
select plan(15);

-- ---------------------------------------------------------------------------
-- Exceptions
-- ---------------------------------------------------------------------------

-- Functions without `set search_path = ''`. A SQL function with a SET clause is never
-- inlined by the planner; these four run once per row of hot statements, so they are kept
-- inlinable. Safe: their bodies name only pg_catalog functions and operators (always
-- searched first), read no table and run with the caller's rights.
create temporary table inlinable_functions (fn text primary key, reason text not null) on commit drop;
insert into inlinable_functions values
  -- computes leads.organization_key and company_key on every insert or update of a lead
  ('app.name_key(text)', 'name keys of every lead written'),
  -- eight times per lead in app.score_leads, which rescores whole orgs in one statement
  ('app.round_points(double precision)', 'eight times per lead in a whole-org rescore'),
  -- per lead of app.stalled_leads (and app.recommend_playbook)
  ('app.stall_verdict(timestamptz, boolean, integer, text, text, timestamptz, integer, text, boolean, text, timestamptz)',
   'per lead of the stalled list'),
  -- per lead and rule in app.run_no_touch_rules (a SQL-standard body: bound at creation)
  ('app._automation_conditions_hold(jsonb, text, text, integer, integer)', 'per lead and rule of the no_touch sweep'),
  -- in the statement every request with an API key starts with (a SQL-standard body: bound at creation)
  ('app._api_key_by_hash(text)', 'the key lookup of every request'),
  -- in every row-level security policy and most statements (a SQL-standard body: bound at creation)
  ('app.current_org_id()', 'the org of every statement of a request'),
  ('app.current_member_role()', 'the role rules of every write'),
  ('app.current_actor()', 'who wrote each row of a request'),
  ('app.current_source()', 'where each row of a request came from'),
  ('app.new_id(text)', 'the id of each row written'),
  ('app.json_fits(jsonb, integer, integer)', 'the JSON caps, checked on every lead written');

-- Security definer functions whose owner may not bypass row-level security. None today:
-- every security definer function crosses tenants on purpose, which only an owner with
-- rolsuper or rolbypassrls can do on tables whose RLS is forced (on hosted Supabase the
-- owner is postgres, which has bypassrls).
create temporary table definers_under_rls (fn text primary key, reason text not null) on commit drop;

-- Security definer functions that authenticated may call and that write, yet check no role
-- (app.ensure_can_write / app.ensure_can_administer): each writes nothing of its org's data.
create temporary table definers_without_role_check (fn text primary key, reason text not null) on commit drop;
insert into definers_without_role_check values
  ('app.unsubscribe(text,timestamp with time zone)', 'the lead''s own unsubscribe link, for whoever holds its token'),
  ('app.revoke_session(text)', 'a person ends their own browser session, a viewer too: a session is not the org''s data');

-- Tables without org_id: data every org shares, and the tenants themselves.
create temporary table global_tables (name text primary key, reason text not null) on commit drop;
insert into global_tables values
  ('tiers', 'reference data: plan limits'),
  ('personal_mail_domains', 'reference data: free-mail and disposable domains'),
  ('event_types', 'reference data: engagement signals'),
  ('webhook_event_types', 'reference data: the outbound webhook event catalogue'),
  ('score_weights', 'reference data: scoring weights'),
  ('automation_triggers', 'reference data: what rules react to'),
  ('automation_condition_keys', 'reference data: what rules test'),
  ('scheduled_jobs', 'the pg_cron job catalogue'),
  ('key_recovery_requests', 'the key recovery rate limit, by address hash: most addresses own no workspace'),
  ('rate_limit_buckets', 'rate-limit state per client (an API key id, an IP, an email domain, a quiz): no org owns an IP'),
  ('mail_worker_heartbeats', 'the mail workers of the deployment, which serve every org'),
  ('orgs', 'the tenants: its id is the org id');

-- Keys of tenant tables without org_id: lookups made before the org is known.
create temporary table global_lookups (name text primary key, reason text not null) on commit drop;
insert into global_lookups values
  ('orgs_owner_email_key', 'signup: one workspace per owner email, before any org exists'),
  ('orgs_project_slug_key', 'project slugs are unique across workspaces'),
  ('api_keys_key_hash_key', 'every request finds its org by the API key hash'),
  ('email_links_token_hash_key', 'a mailed link (key recovery, sign-in) finds its row by the token''s hash, before any org is known'),
  ('member_sessions_token_hash_key', 'every request with a session cookie finds its session by the token''s hash, before any org is known'),
  ('proposals_slug_key', 'the public proposal page finds its proposal by slug'),
  ('quizzes_slug_key', 'the public quiz page finds its quiz by slug'),
  ('sync_sources_inbound_token_key', 'an inbound webhook finds its sync source by the token in its URL'),
  ('calendly_connections_webhook_token_key', 'a Calendly delivery finds its connection by the token in its URL'),
  ('unsubscribe_tokens_pkey', 'an unsubscribe link finds its lead by token'),
  ('meetings_bot_key', 'a recording-bot webhook names only the provider''s bot id'),
  ('enrichment_cache_pkey', 'the provider cache: scope is the paying org, or * for answers shared by all orgs');

-- Tenant tables: every app table with an org_id column, and app.orgs, whose id is the org.
create temporary view tenant_tables as
  select c.oid as rel, a.attnum as org_col
  from pg_catalog.pg_class c
  join pg_catalog.pg_attribute a on a.attrelid = c.oid and not a.attisdropped
    and a.attname = case when c.oid = 'app.orgs'::regclass then 'id' else 'org_id' end
  where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p');

-- Functions of schema app (not of an extension).
create temporary view app_functions as
  select p.* from pg_catalog.pg_proc p
  where p.pronamespace = 'app'::regnamespace
    and not exists (select from pg_catalog.pg_depend d
                    where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e');

select is_empty($$
  select 'inlinable function ' || fn from inlinable_functions where to_regprocedure(fn) is null
  union all
  select 'inlinable function with a SET clause or not in SQL: ' || fn from inlinable_functions i
  join pg_catalog.pg_proc p on p.oid = to_regprocedure(i.fn)
  where p.proconfig is not null or p.prolang <> (select l.oid from pg_catalog.pg_language l where l.lanname = 'sql')
  union all
  select 'security definer exception ' || fn from definers_under_rls where to_regprocedure(fn) is null
  union all
  select 'definer without role check ' || fn from definers_without_role_check where to_regprocedure(fn) is null
  union all
  select 'global table app.' || name from global_tables where to_regclass('app.' || name) is null
  union all
  select 'global lookup app.' || name from global_lookups where to_regclass('app.' || name) is null
$$, 'every exception below names an existing object (and an inlinable function is SQL without a SET clause)');

-- ---------------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------------
select is_empty($$
  select p.oid::regprocedure::text from app_functions p
  where pg_catalog.obj_description(p.oid, 'pg_proc') is null
  order by 1
$$, 'every app function has a comment (comment on function … is ''what it promises'')');

select is_empty($$
  select p.oid::regprocedure::text from app_functions p
  where not coalesce(p.proconfig @> array['search_path=""'], false)
    and not exists (select from inlinable_functions i where to_regprocedure(i.fn) = p.oid)
  order by 1
$$, 'every app function has set search_path = '''', except those kept inlinable (no SET clause) for hot statements: '
  || (select string_agg(pg_catalog.format('%s (%s)', split_part(fn, '(', 1), reason), ', ' order by fn) from inlinable_functions));

select is_empty($$
  select p.oid::regprocedure::text from app_functions p
  where pg_catalog.has_function_privilege('public', p.oid, 'execute')
  order by 1
$$, 'no app function is executable by PUBLIC (revoke execute … from public; grant to the roles that need it)');

select is_empty($$
  select p.oid::regprocedure::text || ' (owner ' || r.rolname || ')'
  from app_functions p join pg_catalog.pg_roles r on r.oid = p.proowner
  where p.prosecdef and not (r.rolsuper or r.rolbypassrls)
    and not exists (select from definers_under_rls x where to_regprocedure(x.fn) = p.oid)
  order by 1
$$, 'every security definer function is owned by a role that bypasses RLS (rolsuper or rolbypassrls, as Supabase''s postgres)'
  || coalesce(', except: ' || (select string_agg(pg_catalog.format('%s (%s)', fn, reason), ', ') from definers_under_rls), ''));

-- Role rules hold on every path: a security definer function bypasses the restrictive write
-- policies, so one that authenticated may call and that is not read-only checks the role
-- itself.
select is_empty($$
  select p.oid::regprocedure::text from app_functions p
  where p.prosecdef and p.provolatile = 'v'
    and pg_catalog.has_function_privilege('authenticated', p.oid, 'execute')
    and p.prosrc !~ 'app\.ensure_can_(write|administer)\(\)'
    and not exists (select from definers_without_role_check x where to_regprocedure(x.fn) = p.oid)
  order by 1
$$, 'every volatile security definer function authenticated may call checks the role (app.ensure_can_write or app.ensure_can_administer), except: '
  || (select string_agg(pg_catalog.format('%s (%s)', fn, reason), ', ' order by fn) from definers_without_role_check));

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------
select is_empty($$
  select c.oid::regclass::text from pg_catalog.pg_class c
  where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
    and (not c.relrowsecurity or not c.relforcerowsecurity
         or not exists (select from pg_catalog.pg_policy p where p.polrelid = c.oid))
  order by 1
$$, 'every app table has row-level security enabled and forced, and at least one policy');

select is_empty($$
  select t.rel::regclass::text from tenant_tables t
  where not exists (
    select from pg_catalog.pg_policy p
    join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_policy'::regclass and d.objid = p.oid
    where p.polrelid = t.rel and d.refclassid = 'pg_catalog.pg_proc'::regclass
      and d.refobjid = 'app.current_org_id()'::regprocedure)
  order by 1
$$, 'every tenant table (with org_id, and app.orgs) has a policy whose USING or WITH CHECK goes through app.current_org_id()');

-- The role rule: a viewer writes nothing, whichever permissive policy lets its org write.
select is_empty($$
  select t.rel::regclass::text || ' (' || c.command || ')'
  from tenant_tables t
  cross join (values ('a', 'insert'), ('w', 'update'), ('d', 'delete')) as c (code, command)
  where not exists (
    select from pg_catalog.pg_policy p
    join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_policy'::regclass and d.objid = p.oid
    where p.polrelid = t.rel and not p.polpermissive and p.polcmd = c.code
      and p.polroles = array['authenticated'::regrole]::oid[]
      and d.refclassid = 'pg_catalog.pg_proc'::regclass and d.refobjid = 'app.ensure_can_write()'::regprocedure)
  order by 1
$$, 'every tenant table is read-only for viewers: restrictive insert, update and delete policies to authenticated through app.ensure_can_write() (app.make_read_only_for_viewers, sql/98_roles.sql)');

select is_empty($$
  select c.oid::regclass::text from pg_catalog.pg_class c
  where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
    and not exists (select from tenant_tables t where t.rel = c.oid and t.rel <> 'app.orgs'::regclass)
    and not exists (select from global_tables g where g.name = c.relname)
  order by 1
$$, 'every app table carries org_id, or is a global table: '
  || (select string_agg(pg_catalog.format('%s (%s)', name, reason), ', ' order by name) from global_tables));

-- ---------------------------------------------------------------------------
-- Keys: a tenant's row is identified within its org, so no key of one org can collide
-- with (or be probed from) another's, and every key lookup is confined to one org.
-- ---------------------------------------------------------------------------
select is_empty($$
  select t.rel::regclass::text from tenant_tables t
  where not exists (select from pg_catalog.pg_index i where i.indrelid = t.rel and i.indisprimary)
  order by 1
$$, 'every tenant table has a primary key');

select is_empty($$
  select i.indexrelid::regclass::text || ' on ' || t.rel::regclass::text
  from tenant_tables t
  join pg_catalog.pg_index i on i.indrelid = t.rel and i.indisprimary
  where not t.org_col = any ((i.indkey::int2[])[0:i.indnkeyatts - 1])
    and not exists (select from global_lookups g where to_regclass('app.' || g.name) = i.indexrelid)
  order by 1
$$, 'every tenant table''s primary key includes org_id, except global lookups: '
  || (select string_agg(pg_catalog.format('%s (%s)', name, reason), ', ' order by name) from global_lookups
      where name like '%\_pkey'));

select is_empty($$
  select i.indexrelid::regclass::text || ' on ' || t.rel::regclass::text
  from tenant_tables t
  join pg_catalog.pg_index i on i.indrelid = t.rel and i.indisunique and not i.indisprimary
  where not t.org_col = any ((i.indkey::int2[])[0:i.indnkeyatts - 1])
    and not exists (select from global_lookups g where to_regclass('app.' || g.name) = i.indexrelid)
  order by 1
$$, 'every unique constraint and unique index of a tenant table includes org_id, except global lookups: '
  || (select string_agg(pg_catalog.format('%s (%s)', name, reason), ', ' order by name) from global_lookups
      where name not like '%\_pkey'));

-- ---------------------------------------------------------------------------
-- The api schema: what supabase-js and PostgREST see. Views only, each security_invoker (the
-- caller's row-level security applies underneath) and commented; nothing for anon.
-- ---------------------------------------------------------------------------
select is_empty($$
  select c.oid::regclass::text || ' (relkind ' || c.relkind::text || ')' from pg_catalog.pg_class c
  where c.relnamespace = 'api'::regnamespace and c.relkind not in ('v', 'i')
  union all
  select p.oid::regprocedure::text from pg_catalog.pg_proc p where p.pronamespace = 'api'::regnamespace
  order by 1
$$, 'schema api holds views only');

select is_empty($$
  select c.oid::regclass::text from pg_catalog.pg_class c
  where c.relnamespace = 'api'::regnamespace and c.relkind = 'v'
    and (not coalesce(c.reloptions @> array['security_invoker=true'], false)
         or pg_catalog.obj_description(c.oid, 'pg_class') is null
         or not pg_catalog.has_table_privilege('authenticated', c.oid, 'select')
         or pg_catalog.has_table_privilege('anon', c.oid, 'select'))
  order by 1
$$, 'every api view is security_invoker, commented, readable by authenticated and not by anon');

select * from finish();
rollback;
