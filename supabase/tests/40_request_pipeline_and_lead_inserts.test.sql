-- A request in one round trip (sql/22_rate_limits.sql): the key's statement admits the
-- request's ticket only when the key is live and its bucket lets the request through (a
-- browser session's statement, app.authenticate_session, likewise for an active session); the
-- transaction's first statement, app.begin_request, takes on the admitted identity or refuses,
-- which aborts the transaction, so nothing sent behind it runs as anyone. The login role the
-- API uses (authenticator) can do nothing without switching into an API role.
-- And what one insert of leads writes, set-based per statement: each lead's proposal, first
-- stage and first score, and the org's lead count the limit checks last; the batch upsert
-- counts the plan's room from that same count.
begin;
select plan(41);

-- ---------------------------------------------------------------------------
-- The login role
-- ---------------------------------------------------------------------------
select ok(exists (select from pg_catalog.pg_roles where rolname = 'authenticator'
                    and rolcanlogin and not rolinherit and not rolsuper and not rolbypassrls and not rolcreaterole),
  'authenticator logs in, inherits nothing, is no superuser and bypasses no row-level security');
select ok(pg_has_role('authenticator', 'anon', 'member') and pg_has_role('authenticator', 'authenticated', 'member')
          and pg_has_role('authenticator', 'service_role', 'member'),
  'authenticator may switch into anon, authenticated and service_role');
select ok(not pg_has_role('authenticator', 'anon', 'usage') and not pg_has_role('authenticator', 'authenticated', 'usage'),
  'and holds none of their privileges until it does');
select ok(not has_schema_privilege('authenticator', 'app', 'usage'), 'authenticator cannot use schema app');
select is((select array_agg(c.oid::regclass::text order by 1) from pg_catalog.pg_class c
           where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'v', 'p', 'S')
             and has_table_privilege('authenticator', c.oid, 'select, insert, update, delete, truncate, references, trigger')),
  null, 'authenticator holds no privilege on any table, view or sequence of app');
select is((select array_agg(p.oid::regprocedure::text order by 1) from pg_catalog.pg_proc p
           where p.pronamespace = 'app'::regnamespace and has_function_privilege('authenticator', p.oid, 'execute')),
  null, 'authenticator may execute no function of app');

-- ---------------------------------------------------------------------------
-- Admission and the transaction's first statement
-- ---------------------------------------------------------------------------
select tests.create_org('pipeline') as org_p \gset
insert into app.api_keys (org_id, name, key_hash, key_prefix)
values (:'org_p', 'pipe', app.hash_api_key('rcm_live_' || repeat('d', 64)), 'rcm_live_ddddddd'),
       (:'org_p', 'busy', app.hash_api_key('rcm_live_' || repeat('e', 64)), 'rcm_live_eeeeeee');

select is(tests.refusal($$ select app.begin_request('ticket-none') $$), 'CR401 not_admitted',
  'without an admission the transaction''s first statement refuses');
select ok((select allowed from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('d', 64)), '{}', 'ticket-1')),
  'a live key within its limit is let through');
select is(tests.refusal($$ select app.begin_request('ticket-other') $$), 'CR401 not_admitted', 'another ticket is refused');
select lives_ok($$ select app.begin_request('ticket-1') $$, 'the admitted ticket takes on its identity');
select is(current_user::text, 'authenticated', '… the authenticated role');
select is(app.current_org_id(), :'org_p', '… acting as the key''s org');
select is(tests.refusal($$ select app.begin_request('ticket-1') $$), 'CR401 not_admitted', 'an admission is used once');
select tests.clear_authentication();

select is_empty($$ select * from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('f', 64)), '{}', 'ticket-2') $$,
  'an unknown key is answered with no row');
select is(tests.refusal($$ select app.begin_request('ticket-2') $$), 'CR401 not_admitted', '… and its ticket is not admitted');

select ok((select allowed from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('e', 64)), '{"free": {"limit": 1, "window": 60}}', 'ticket-3')),
  'a key''s first request of a minute goes through');
select is((select allowed from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('e', 64)), '{"free": {"limit": 1, "window": 60}}', 'ticket-4')),
  false, 'the next one is rate limited');
select is(tests.refusal($$ select app.begin_request('ticket-4') $$), 'CR401 not_admitted', 'a rate-limited request is not admitted');
select is(tests.refusal($$ select app.begin_request('ticket-3') $$), 'CR401 not_admitted',
  'and it forgets the admission before it, which no later request can use');

update app.api_keys set revoked_at = now() where org_id = :'org_p' and name = 'pipe';
select is((select row(revoked, allowed)::text from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('d', 64)), '{}', 'ticket-5')),
  row(true, null)::text, 'a revoked key is answered and takes nothing from its bucket');
select is(tests.refusal($$ select app.begin_request('ticket-5') $$), 'CR401 not_admitted', '… and its ticket is not admitted');

-- A browser session (sql/24_members.sql), admitted with the member's claims.
select tests.clear_authentication();
select id as member_p from app.org_members where org_id = :'org_p' and role = 'owner' \gset
insert into app.member_sessions (org_id, member_id, token_hash, expires_at)
values (:'org_p', :'member_p', repeat('a', 64), now() + interval '30 days') returning id as session_p \gset
select is((select row(status, allowed)::text from app.authenticate_session(repeat('a', 64), '{}', 'ticket-6')),
  row('active', true)::text, 'an active session within its limit is let through');
select lives_ok($$ select app.begin_request('ticket-6') $$, 'its ticket takes on its identity');
select is(current_setting('request.jwt.claims')::jsonb - 'role',
  jsonb_build_object('org_id', :'org_p', 'member_id', :'member_p', 'member_role', 'owner', 'session_id', :'session_p'),
  '… the session''s org, member, current role and session');
select is(current_user::text, 'authenticated', '… as the authenticated role');
select tests.clear_authentication();

select is_empty($$ select * from app.authenticate_session(repeat('b', 64), '{}', 'ticket-7') $$, 'an unknown session is answered with no row');
select is(tests.refusal($$ select app.begin_request('ticket-7') $$), 'CR401 not_admitted', '… and its ticket is not admitted');
update app.member_sessions set revoked_at = now() where id = :'session_p';
select is(tests.refusal(format($$ select app.begin_request(%L) $$,
  (select 'ticket-8' from app.authenticate_session(repeat('a', 64), '{}', 'ticket-8')))), 'CR401 not_admitted',
  'nor is a revoked session''s');

-- ---------------------------------------------------------------------------
-- One insert of leads, as a database write (the key checks above left their claims in this
-- transaction, where a request's key check runs in its own)
-- ---------------------------------------------------------------------------
select tests.clear_authentication();
select tests.create_org('inserts', 'pro') as org_i \gset
insert into app.leads (org_id, first_name, email, tier, enrichment_status, organization_name)
values (:'org_i', 'Ann', 'ann@example.com', 'high', 'complete', 'Acme Clinic'),
       (:'org_i', 'Bob', 'bob@example.com', 'medium', 'not_enriched', null),
       (:'org_i', 'Cy', 'cy@example.com', null, 'not_enriched', 'Cy Dental');
select is((select count(*)::integer from app.proposals where org_id = :'org_i'), 3, 'one insert of three leads gives each its proposal page');
select is((select count(*)::integer from app.proposals p join app.leads l on l.org_id = p.org_id and l.id = p.lead_id
           where p.org_id = :'org_i' and p.slug like case l.email when 'ann@example.com' then 'acme-clinic-%' when 'bob@example.com' then 'bob-%' else 'cy-dental-%' end),
  3, '… with a slug made from the organisation or the person');
select is((select count(*)::integer from app.stage_changes s join app.stages t on t.org_id = s.org_id and t.id = s.to_stage_id and t.is_default
           where s.org_id = :'org_i' and s.from_stage_id is null and s.to_stage_name = t.name and s.source = 'sql'),
  3, '… its first stage in the history (the default stage, by name, recorded as a database write)');
select is((select count(*)::integer from app.events where org_id = :'org_i'), 0, '… which is no stage_changed event');
select is((select array_agg(row(c.lead_id, c.score, c.label)::text order by c.lead_id) from app.lead_scores c where c.org_id = :'org_i'),
          (select array_agg(row(s.lead_id, s.score, s.label)::text order by s.lead_id) from app.score_leads(:'org_i') s),
  '… and its first score, the same as a rescore of the whole org gives');

select is((select leads from app.org_lead_counts where org_id = :'org_i'), 3, 'the org''s count holds its three leads');
update app.leads set deleted_at = now() where org_id = :'org_i' and email = 'ann@example.com';
delete from app.leads where org_id = :'org_i' and email = 'bob@example.com';
select is((select leads from app.org_lead_counts where org_id = :'org_i'), 2,
  'a lead deleted for good leaves the count, a soft-deleted one stays in it');
delete from app.org_lead_counts where org_id = :'org_i';
insert into app.leads (org_id, first_name, email) values (:'org_i', 'Di', 'di@example.com');
select is((select leads from app.org_lead_counts where org_id = :'org_i'), 3,
  'an org without a count is counted by its next insert, that insert included');
select is((select tgname::text from pg_catalog.pg_trigger
           where tgrelid = 'app.leads'::regclass and not tgisinternal
             and tgtype & 1 = 0 and tgtype & 4 = 4 and tgtype & (2 | 64) = 0
           order by tgname desc limit 1),
  'leads_90_enforce_limit', 'the lead limit is the last statement trigger of an insert: the count''s row is locked last');

-- The batch upsert (sql/40_leads.sql) reads the room from the count, one row, and locks it as
-- the limit trigger does; a request may take only its own org's count.
select tests.create_org('room') as org_r \gset
insert into app.leads (org_id, first_name, email) values (:'org_r', 'Ed', 'ed@example.com');
update app.org_lead_counts c set leads = t.lead_limit - 1
from app.orgs o join app.tiers t on t.tier = o.tier where o.id = :'org_r' and c.org_id = o.id;
select tests.authenticate_as(:'org_r');
select is((select array_agg(u.result order by u.item) from app.upsert_leads('[
  {"email": "fa@example.com", "firstName": "Fa"}, {"email": "fb@example.com", "firstName": "Fb"}, {"email": "ed@example.com", "status": "contacted"}]') u),
  array['created', 'failed', 'updated'], 'a batch''s room is the tier''s limit less the org''s count (not a count of its leads)');
select is((select leads from app.org_lead_counts), (select t.lead_limit from app.orgs o join app.tiers t on t.tier = o.tier),
  '… and the lead it created is counted: the org is at its limit');
select is(tests.refusal(format('select app.lock_lead_count(%L)', :'org_i')), 'CR403 forbidden',
  'a request cannot take another org''s count');
select tests.clear_authentication();
select is((select count(*)::integer from app.org_lead_counts where org_id = :'org_i'), 1, '… which it left as it was');

select * from finish();
rollback;
