-- Supabase Auth: the Custom Access Token Hook puts a member's org, id and role into the JWT,
-- and with those claims a supabase-js / PostgREST user (role authenticated) sees only its org
-- through the api schema, and a viewer changes nothing, through the api views or on the app
-- tables. The event is Supabase's documented shape: { user_id, claims, authentication_method }.
begin;
select plan(33);

select tests.create_org('hook-a') as org_a \gset
select tests.create_org('hook-b') as org_b \gset
select tests.authenticate_as(:'org_a');
select app.invite_member('reader@example.com', 'viewer') as viewer_a \gset
select app.invite_member('writer@example.com', 'member') as writer_a \gset
select tests.create_lead(:'org_a') as lead_a \gset
select tests.clear_authentication();
select tests.authenticate_as(:'org_b');
select app.invite_member('writer@example.com', 'admin') as writer_b \gset
select tests.create_lead(:'org_b') as lead_b \gset
select tests.clear_authentication();

-- ===========================================================================
-- Who may call it
-- ===========================================================================
select ok(has_function_privilege('supabase_auth_admin', 'app.custom_access_token_hook(jsonb)', 'execute'), 'Supabase Auth may call the hook');
select ok(not has_function_privilege('authenticated', 'app.custom_access_token_hook(jsonb)', 'execute')
          and not has_function_privilege('anon', 'app.custom_access_token_hook(jsonb)', 'execute'),
  'API users may not');
select ok(has_schema_privilege('supabase_auth_admin', 'app', 'usage'), 'and Supabase Auth can reach it in schema app');

-- ===========================================================================
-- The sample event
-- ===========================================================================
create temporary table events (name text primary key, event jsonb) on commit drop;
insert into events values
  ('reader', jsonb_build_object('user_id', '8ccaa7af-909f-44e7-84cb-67cdccb56be6', 'authentication_method', 'magiclink', 'claims', jsonb_build_object(
    'aud', 'authenticated', 'exp', 1715690221, 'iat', 1715686621, 'sub', '8ccaa7af-909f-44e7-84cb-67cdccb56be6',
    'email', 'Reader@Example.com', 'phone', '', 'app_metadata', jsonb_build_object('provider', 'email'), 'user_metadata', '{}'::jsonb,
    'role', 'authenticated', 'aal', 'aal1', 'amr', jsonb_build_array(jsonb_build_object('method', 'otp', 'timestamp', 1715686621)),
    'session_id', '4b938a09-5372-4177-a314-cfa292099ea2', 'is_anonymous', false))),
  ('stranger', jsonb_build_object('user_id', '11111111-2222-3333-4444-555555555555', 'authentication_method', 'password', 'claims', jsonb_build_object(
    'aud', 'authenticated', 'sub', '11111111-2222-3333-4444-555555555555', 'email', 'stranger@example.com', 'role', 'authenticated',
    'aal', 'aal1', 'session_id', 'a', 'is_anonymous', false, 'org_id', :'org_a', 'member_role', 'owner')));

select app.custom_access_token_hook(event) as reader from events where name = 'reader' \gset
select ok(:'reader'::jsonb ? 'claims', 'the hook answers { claims }');
select is((:'reader'::jsonb -> 'claims') ->> 'org_id', :'org_a', 'with the member''s org');
select is((:'reader'::jsonb -> 'claims') ->> 'member_id', :'viewer_a', 'the member');
select is((:'reader'::jsonb -> 'claims') ->> 'member_role', 'viewer', 'and its role');
select is((:'reader'::jsonb -> 'claims') - 'org_id' - 'member_id' - 'member_role', (select event -> 'claims' from events where name = 'reader'),
  'every claim Supabase Auth requires is kept as it was');
select is((select auth_user_id::text from app.org_members where id = :'viewer_a'), '8ccaa7af-909f-44e7-84cb-67cdccb56be6',
  'the member is linked to the Supabase user');
select isnt((select joined_at from app.org_members where id = :'viewer_a'), null, 'and has joined by signing in');

select app.custom_access_token_hook(event) as stranger from events where name = 'stranger' \gset
select ok(not ((:'stranger'::jsonb -> 'claims') ?| array['org_id', 'member_id', 'member_role']),
  'anyone else gets no org, even with such claims in the event');
select is((:'stranger'::jsonb -> 'claims') ->> 'sub', '11111111-2222-3333-4444-555555555555', 'and keeps their token otherwise');

-- Linked by user id from now on, whatever the address claim says.
select is(app.custom_access_token_hook(jsonb_build_object('user_id', '8ccaa7af-909f-44e7-84cb-67cdccb56be6', 'authentication_method', 'token_refresh',
  'claims', jsonb_build_object('sub', '8ccaa7af-909f-44e7-84cb-67cdccb56be6', 'email', 'new-address@example.com', 'role', 'authenticated'))) #>> '{claims,org_id}',
  :'org_a', 'a linked user is found by their Supabase user id');
select is(app.custom_access_token_hook(jsonb_build_object('user_id', '99999999-2222-3333-4444-555555555555', 'authentication_method', 'anonymous',
  'claims', jsonb_build_object('sub', '99999999-2222-3333-4444-555555555555', 'email', 'reader@example.com', 'role', 'authenticated', 'is_anonymous', true))) #>> '{claims,org_id}',
  null, 'an anonymous user is never matched by address');

-- On a hosted project the address counts only once Supabase has confirmed it (auth.users).
-- Shown with a stand-in auth.users where this database lets the test create one.
select has_schema_privilege('auth', 'create') and to_regclass('auth.users') is null as can_fake_users \gset
\if :can_fake_users
create table auth.users (id uuid primary key, email text, email_confirmed_at timestamptz);
insert into auth.users values ('33333333-2222-3333-4444-555555555555', 'writer@example.com', null),
                              ('44444444-2222-3333-4444-555555555555', 'writer@example.com', now());
select is(app.custom_access_token_hook(jsonb_build_object('user_id', '33333333-2222-3333-4444-555555555555', 'authentication_method', 'password',
  'claims', jsonb_build_object('sub', '33333333-2222-3333-4444-555555555555', 'email', 'writer@example.com', 'role', 'authenticated'))) #>> '{claims,org_id}',
  null, 'an address Supabase has not confirmed matches no member');
select isnt(app.custom_access_token_hook(jsonb_build_object('user_id', '44444444-2222-3333-4444-555555555555', 'authentication_method', 'password',
  'claims', jsonb_build_object('sub', '44444444-2222-3333-4444-555555555555', 'email', 'someone-else@example.com', 'role', 'authenticated'))) #>> '{claims,org_id}',
  null, 'a confirmed one does, as auth.users has it (not as the claim says)');
update app.org_members set auth_user_id = null, joined_at = null, last_sign_in_at = null where email_key = 'writer@example.com';
drop table auth.users;
\else
select skip('auth.users cannot be created in this database (the hosted-Supabase emulation)', 2);
\endif

-- A member of two workspaces: app_metadata.org_id chooses, else the one used most recently.
update app.org_members set last_sign_in_at = now() - interval '1 hour' where id = :'writer_b';
select is(app.custom_access_token_hook(jsonb_build_object('user_id', '22222222-2222-3333-4444-555555555555', 'authentication_method', 'token_refresh',
  'claims', jsonb_build_object('sub', '22222222-2222-3333-4444-555555555555', 'email', 'writer@example.com', 'role', 'authenticated'))) #>> '{claims,org_id}',
  :'org_b', 'a member of several workspaces gets the one used most recently');
select is(app.custom_access_token_hook(jsonb_build_object('user_id', '22222222-2222-3333-4444-555555555555', 'authentication_method', 'token_refresh',
  'claims', jsonb_build_object('sub', '22222222-2222-3333-4444-555555555555', 'email', 'writer@example.com', 'role', 'authenticated',
    'app_metadata', jsonb_build_object('org_id', :'org_a')))) #>> '{claims,member_role}',
  'member', 'or the one app_metadata.org_id names, with the role there');

-- ===========================================================================
-- As the JWT's user: the api schema, the viewer
-- ===========================================================================
select set_config('request.jwt.claims', (:'reader'::jsonb -> 'claims')::text, true);
set local role authenticated;
select is((select array_agg(id)::text from api.leads), array[:'lead_a']::text, 'the user sees its org''s leads through api.leads, only those');
select is((select count(*)::int from api.members), 3, 'and its org''s members');
select is((select id from api.workspace), :'org_a', 'and its workspace, one row');
select is((select count(*)::int from api.leads where id = :'lead_b'), 0, 'another org''s lead is not there');
select is(tests.refusal($$ insert into api.leads (first_name, email) values ('V', 'v@example.com') $$), 'CR403 read_only_role',
  'a viewer cannot insert through the api views');
select is(tests.refusal(format($$ update api.leads set status = 'won' where id = %L $$, :'lead_a')), 'CR403 read_only_role', 'nor update');
select is(tests.refusal(format($$ delete from api.leads where id = %L $$, :'lead_a')), 'CR403 read_only_role', 'nor delete');
select is(tests.refusal($$ insert into api.members (email) values ('friend@example.com') $$), 'CR403 admin_role_required', 'nor invite');
select is(tests.refusal(format($$ update app.leads set status = 'won' where id = %L $$, :'lead_a')), 'CR403 read_only_role',
  'nor write the app tables directly');
select is(tests.refusal($$ update api.workspace set name = 'Mine now' $$), 'CR403 read_only_role', 'nor change the workspace');
reset role;

select set_config('request.jwt.claims', (app.custom_access_token_hook(jsonb_build_object('user_id', '22222222-2222-3333-4444-555555555555',
  'authentication_method', 'password', 'claims', jsonb_build_object('sub', '22222222-2222-3333-4444-555555555555', 'email', 'writer@example.com',
    'role', 'authenticated', 'app_metadata', jsonb_build_object('org_id', :'org_a')))) -> 'claims')::text, true);
set local role authenticated;
select ok(tests.refusal($$ insert into api.leads (first_name, email) values ('W', 'w@example.com') $$) is null, 'a member writes through api.leads');
select is(tests.refusal(format($$ insert into api.leads (org_id, first_name, email) values (%L, 'X', 'x@example.com') $$, :'org_b')), '42501 ',
  'but only into its own org');
select is(tests.refusal($$ insert into api.members (email) values ('friend@example.com') $$), 'CR403 admin_role_required', 'and a member does not invite');
reset role;
select set_config('request.jwt.claims', '', true);
select is((select count(*)::int from app.leads where org_id = :'org_a'), 2, 'the member''s lead landed in its org');
select ok(not has_schema_privilege('anon', 'api', 'usage'), 'anon has nothing in the api schema');

select * from finish();
rollback;
