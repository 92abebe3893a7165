-- Members and the role rules: the signup email is the owner; owners and admins manage members
-- and API keys; only owners make, change or remove owners; the last owner stays; inviting
-- mails a sign-in link; a viewer reads everything of its org and writes nothing, on every
-- tenant table (generated over the catalogue) and through the security definer functions
-- that write.
begin;
select plan(43);

select tests.create_org('roles-a') as org_a \gset
select tests.create_org('roles-b') as org_b \gset
select owner_email as owner_a from app.orgs where id = :'org_a' \gset
select id as owner_id from app.org_members where org_id = :'org_a' and role = 'owner' \gset

-- ===========================================================================
-- The owner, and the claims' roles
-- ===========================================================================
select is((select email || ' ' || role || ' ' || coalesce(invited_by, '-') from app.org_members where org_id = :'org_a'),
  :'owner_a' || ' owner -', 'the signup email is the workspace''s only member, its owner');
select is((select kind || ' ' || to_email from app.system_mail where org_id = :'org_a'), 'welcome ' || :'owner_a',
  'signup queues the owner''s welcome mail');
select is((select purpose || ' ' || member_id from app.email_links where org_id = :'org_a'), 'welcome ' || :'owner_id',
  'which carries a sign-in link for the owner');

select tests.authenticate_as(:'org_a');
select is(app.current_member_role(), 'owner', 'claims that name an org and no member role (an API key) act as owner');
select tests.authenticate_as_member(:'org_a', :'owner_id', 'viewer');
select is(app.current_member_role(), 'viewer', 'a person''s claims carry their role');
select ok(not app.can_write() and not app.can_administer(), 'a viewer may neither write nor administer');
select tests.authenticate_as_member(:'org_a', :'owner_id', 'superuser');
select ok(not app.can_write(), 'an unknown role may not write');
select tests.clear_authentication();
select ok(app.current_member_role() is null and not app.can_write(), 'outside a request there is no role');

-- ===========================================================================
-- Inviting, as an API key (an owner's rights)
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select app.invite_member('Admin@Example.com', 'admin') as admin_id \gset
select app.invite_member('member@example.com') as member_id \gset
select app.invite_member('viewer@example.com', 'viewer') as viewer_id \gset
select is(tests.refusal($$ select app.invite_member('ADMIN@example.com', 'member') $$), 'CR409 member_exists', 'an address is a member once per workspace');
select is(tests.refusal($$ select app.invite_member('x@example.com', 'boss') $$), 'CR400 invalid_role', 'roles are owner, admin, member, viewer');
select is(tests.refusal($$ select app.invite_member('not an address') $$), 'CR400 invalid_email', 'an invitation needs an address');
select tests.clear_authentication();
select is((select email || ' ' || role from app.org_members where id = :'admin_id'), 'admin@example.com admin',
  'the invited address is kept as given, with its role');
select is((select role from app.org_members where id = :'member_id'), 'member', 'the default role is member');
select isnt((select invited_by from app.org_members where id = :'admin_id'), null, 'who invited them is recorded');
select is((select count(*)::int from app.system_mail s join app.email_links l on l.org_id = s.org_id and l.id = s.link_id
           where s.org_id = :'org_a' and s.kind = 'invitation' and l.purpose = 'invitation'), 3,
  'each invitation queues its mail, carrying a sign-in link for the member');
select is((select count(*)::int from app.org_members where org_id = :'org_b'), 1, 'another workspace''s members are untouched');

-- ===========================================================================
-- Who manages members
-- ===========================================================================
select tests.authenticate_as_member(:'org_a', :'member_id', 'member');
select is(tests.refusal($$ select app.invite_member('y@example.com') $$), 'CR403 admin_role_required', 'a member cannot invite');
select is(tests.refusal(format($$ select app.change_member_role(%L, 'admin') $$, :'member_id')), 'CR403 admin_role_required',
  'nor change a role, not even their own');
select is(tests.refusal(format($$ update app.org_members set role = 'admin' where id = %L $$, :'member_id')), 'CR403 admin_role_required',
  'nor by writing the table');
select is(tests.refusal($$ select app.create_api_key('mine') $$), 'CR403 admin_role_required', 'a member cannot create API keys');
select is(tests.refusal($$ insert into app.api_keys (name, key_hash, key_prefix) values ('raw', repeat('a', 64), 'rcm_live_aaaaaaa') $$),
  'CR403 admin_role_required', 'not even by writing the table');
select ok(tests.refusal($$ insert into app.leads (first_name, email) values ('M', 'm@example.com') $$) is null, 'but a member writes the workspace''s data');

select tests.authenticate_as_member(:'org_a', :'admin_id', 'admin');
select is(tests.refusal($$ select app.invite_member('boss2@example.com', 'owner') $$), 'CR403 owner_role_required', 'an admin cannot make an owner');
select is(tests.refusal(format($$ select app.change_member_role(%L, 'member') $$, :'owner_id')), 'CR403 owner_role_required',
  'nor demote an owner');
select is(tests.refusal(format($$ select app.remove_member(%L) $$, :'owner_id')), 'CR403 owner_role_required', 'nor remove one');
select ok(tests.refusal(format($$ select app.change_member_role(%L, 'viewer') $$, :'member_id')) is null, 'an admin changes other roles');
select ok(tests.refusal($$ select app.invite_member('colleague@example.com', 'member') $$) is null, 'and invites');
select is(tests.refusal(format($$ select app.change_member_role(%L, 'admin') $$, (select id from app.org_members where org_id = :'org_b'))),
  'CR404 not_found', 'another workspace''s members are not found');

-- ===========================================================================
-- The last owner
-- ===========================================================================
select tests.authenticate_as_member(:'org_a', :'owner_id', 'owner');
select is(tests.refusal(format($$ select app.remove_member(%L) $$, :'owner_id')), 'CR409 last_owner', 'the last owner cannot be removed');
select is(tests.refusal(format($$ select app.change_member_role(%L, 'admin') $$, :'owner_id')), 'CR409 last_owner', 'nor demoted');
select ok(app.change_member_role(:'admin_id', 'owner'), 'an owner makes another owner');
select ok(tests.refusal(format($$ select app.change_member_role(%L, 'admin') $$, :'owner_id')) is null, 'then the first can step down');
select tests.clear_authentication();
select is(tests.refusal(format($$ delete from app.org_members where id = %L $$, :'admin_id')), 'CR409 last_owner',
  'the rule holds for SQL too (Studio): the remaining owner stays');
select lives_ok(format($$ delete from app.orgs where id = %L $$, :'org_b'), 'deleting a workspace takes its owner with it');

-- The rule costs one evaluation per statement, not per row: an InitPlan, never a SubPlan.
select tests.authenticate_as(:'org_a');
select ok((select string_agg(line, ' ') from tests.explain($$ update app.leads set status = 'x' where status = 'new' $$) line)
          ~ 'InitPlan.*Filter: .*\$\d', 'the write rule is evaluated once per statement (an InitPlan)');
select ok((select string_agg(line, ' ') from tests.explain($$ update app.leads set status = 'x' where status = 'new' $$) line)
          !~ 'SubPlan', 'and never once per row (no SubPlan)');
select tests.clear_authentication();

-- ===========================================================================
-- A viewer writes nothing through the security definer functions that write either.
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select tests.create_lead(:'org_a') as lead_a \gset
insert into app.campaigns (name, steps) values ('Hello', '[{"delayMinutes": 0, "subject": "Hi", "body": "Hello"}]') returning id as campaign_a \gset
select tests.authenticate_as_member(:'org_a', :'viewer_id', 'viewer');
select is(tests.refusal(format($$ select app.enroll_lead(%L, %L) $$, :'campaign_a', :'lead_a')), 'CR403 read_only_role', 'a viewer cannot enrol a lead');
select is(tests.refusal($$ select app.cache_put('website', 'domain:example.com', '{}', '1 day') $$), 'CR403 read_only_role', 'nor fill the enrichment cache');
select is((select count(*)::int from app.leads), 2, 'while it reads its org''s leads');
select tests.clear_authentication();

-- ===========================================================================
-- A viewer writes nothing, on every tenant table. To show that the role rule alone stops it,
-- the test lets authenticated write every tenant table (grants, a permissive policy for all,
-- user triggers off: all rolled back at the end); only the restrictive policies are left.
-- ===========================================================================
select tests.authenticate_as(:'org_a');
insert into app.notes (lead_id, content) values (:'lead_a', 'a note');
insert into app.touchpoints (lead_id, type) values (:'lead_a', 'call');
select tests.clear_authentication();

create temporary view tenant_tables_now as
  select c.oid::regclass as rel, case when c.oid = 'app.orgs'::regclass then 'id' else 'org_id' end as org_col
  from pg_catalog.pg_class c
  where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
    and (c.oid = 'app.orgs'::regclass or exists (
      select from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped));
grant select on tenant_tables_now to authenticated;

-- Deferred checks queued so far run now: a table with pending trigger events cannot be altered.
set constraints all immediate;
do $$
declare
  v_rel regclass;
begin
  for v_rel in select rel from tenant_tables_now loop
    execute format('grant insert, update, delete on %s to authenticated', v_rel);
    execute format('create policy "tests: anything goes" on %s for all to authenticated using (true) with check (true)', v_rel);
    execute format('alter table %s disable trigger user', v_rel);
  end loop;
end
$$;

create temporary table viewer_writes (rel text, command text, outcome text) on commit drop;
grant insert on viewer_writes to authenticated;
select tests.authenticate_as_member(:'org_a', :'viewer_id', 'viewer');
insert into viewer_writes
select t.rel::text, c.command, tests.refusal(format(c.statement, t.rel, t.org_col, :'org_a'))
from tenant_tables_now t
cross join (values
  ('insert', 'insert into %s (%I) values (%L)'),
  ('update', 'update %s set %2$I = %2$I where %2$I = %3$L'),
  ('delete', 'delete from %s where %2$I = %3$L')) as c (command, statement);
select tests.clear_authentication();

select is_empty($$
  select rel || ' ' || command || ': ' || coalesce(outcome, 'written') from viewer_writes
  where command = 'insert' and outcome is distinct from 'CR403 read_only_role' and outcome is distinct from 'CR403 admin_role_required'
$$, 'a viewer''s insert into every tenant table is refused (403) by the role rule');
create temporary table org_rows on commit drop as
  select t.rel::text as rel,
    (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %s where %I = %L', t.rel, t.org_col, :'org_a'), false, true, '')))[1]::text::int as n
  from tenant_tables_now t;
select is_empty($$
  select w.rel || ' ' || w.command || ': ' || coalesce(w.outcome, 'written')
  from viewer_writes w join org_rows r on r.rel = w.rel
  where w.command in ('update', 'delete') and r.n > 0
    and w.outcome is distinct from 'CR403 read_only_role' and w.outcome is distinct from 'CR403 admin_role_required'
$$, 'a viewer''s update and delete of every tenant table with rows of its org are refused (403)');
select cmp_ok((select count(*)::int from org_rows where n > 0), '>=', 10, 'and the org has rows in at least ten of them to try');
select is((select count(*)::int from app.leads where org_id = :'org_a'), 2, 'nothing was written');

select * from finish();
rollback;
