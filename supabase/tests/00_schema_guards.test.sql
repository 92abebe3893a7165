-- Schema-wide guards: the rules every object of schema app follows, checked over the
-- catalogue, so a table or function added tomorrow is covered the moment it exists. Each
-- check fails with the list of the objects that break it.
--
-- The few exceptions are named below, each with its reason. An exception that names no
-- existing object (renamed, dropped) fails the first check, so the lists cannot rot.
begin;
select plan(11);

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
  ('app._automation_conditions_hold(jsonb, text, text, integer, integer)', 'per lead and rule of the no_touch sweep');

-- Security definer functions whose owner may not bypass row-level security. None today:
-- every security definer function crosses tenants on purpose, which only an owner with
-- rolsuper or rolbypassrls can do on tables whose RLS is forced (on hosted Supabase the
-- owner is postgres, which has bypassrls).
create temporary table definers_under_rls (fn text primary key, reason text not null) on commit drop;

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
  ('key_recoveries_token_hash_key', 'a key recovery link finds its recovery by the token''s hash, before any org is known'),
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

select * from finish();
rollback;
