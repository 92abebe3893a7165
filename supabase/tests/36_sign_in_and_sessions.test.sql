-- Signing in and browser sessions: a sign-in link is asked for by address (nothing said about
-- whether it is a member's), mailed through the system mail outbox with its token made at
-- sending and stored hashed, works once for 15 minutes, and becomes a session stored as its
-- token's hash; the member joins at the first sign-in. Sessions end when revoked, after 14
-- days unused or 30 days after sign-in, and with their member; each request reads the member's
-- current role.
begin;
select plan(40);

select tests.create_org('sessions-a') as org_a \gset
select tests.create_org('sessions-b') as org_b \gset
select tests.authenticate_as(:'org_a');
select app.invite_member('Member@Example.com', 'member') as member_id \gset
select tests.clear_authentication();
select tests.authenticate_as(:'org_b');
select app.invite_member('member@example.com', 'viewer') as member_b \gset
select tests.clear_authentication();

-- ===========================================================================
-- Asking for a link
-- ===========================================================================
select tests.authenticate_as_anon();
select app.request_sign_in('MEMBER@example.com', :'org_a');
select app.request_sign_in('nobody-' || gen_random_uuid() || '@example.com');
select is(tests.refusal($$ select app.request_sign_in('no address') $$), 'CR400 invalid_email', 'an address is needed');
select throws_ok($$ select * from app.email_links $$, '42501', null, 'anon reads no links');
select tests.clear_authentication();
select is((select count(*)::int from app.email_links where org_id = :'org_a' and purpose = 'sign_in' and member_id = :'member_id'), 1,
  'a member''s address gets a sign-in link, for the workspace asked for');
select is((select count(*)::int from app.email_links where email like 'nobody-%'), 0, 'any other address gets nothing');
select is((select kind || ' ' || to_email from app.system_mail where org_id = :'org_a' and kind = 'sign_in'), 'sign_in member@example.com',
  'and its mail is queued');

-- Without orgId: the membership used most recently, else the latest invitation.
update app.org_members set last_sign_in_at = now() - interval '1 day' where id = :'member_b';
select tests.authenticate_as_anon();
select app.request_sign_in('member@example.com');
select tests.clear_authentication();
select is((select count(*)::int from app.email_links where org_id = :'org_b' and purpose = 'sign_in'), 1,
  'a member of several workspaces signs into the one used most recently');

-- ===========================================================================
-- The mail goes out: the token is made then, stored hashed
-- ===========================================================================
set local role service_role;
select count(*) from app.claim_system_mail('worker-1', 50);
select id as mail_id from app.system_mail where org_id = :'org_a' and kind = 'sign_in' \gset
select app.begin_system_mail(:'mail_id', 'worker-1') as mail \gset
reset role;
select ok(:'mail'::jsonb ->> 'token' ~ '^[0-9a-f]{64}$', 'the worker gets the link''s token when it begins sending');
select is(:'mail'::jsonb ->> 'role', 'member', 'with the member''s role');
select is((select count(*)::int from app.email_links where token_hash = encode(sha256(convert_to(:'mail'::jsonb ->> 'token', 'UTF8')), 'hex')), 1,
  'the token is stored only as its hash');
select is((select count(*)::int from app.system_mail s where s.id = :'mail_id' and s::text like '%' || (:'mail'::jsonb ->> 'token') || '%'), 0,
  'and is nowhere in the outbox row');
select cmp_ok((select token_expires_at from app.email_links where token_hash = encode(sha256(convert_to(:'mail'::jsonb ->> 'token', 'UTF8')), 'hex')),
  '<=', now() + interval '15 minutes', 'it works for 15 minutes');

-- ===========================================================================
-- Using the link
-- ===========================================================================
select tests.authenticate_as_anon();
select * from app.sign_in_with_link(:'mail'::jsonb ->> 'token', 'pgTAP browser') \gset signed_
select tests.clear_authentication();
select ok(:'signed_session_token' ~ '^[0-9a-f]{64}$', 'the link starts a session and hands out its token once');
select is((select token_hash from app.member_sessions where id = :'signed_session_id'),
  encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex'), 'the session keeps only the token''s hash');
select ok(:'signed_first_sign_in'::boolean, 'the first sign-in is reported');
select isnt((select joined_at from app.org_members where id = :'signed_member_id'), null, 'the member has joined (the invitation is accepted)');
select is((select session_id from app.email_links where token_hash = encode(sha256(convert_to(:'mail'::jsonb ->> 'token', 'UTF8')), 'hex')),
  :'signed_session_id', 'the link records the session it started');
select cmp_ok((select expires_at from app.member_sessions where id = :'signed_session_id'), '<=', now() + interval '30 days',
  'a session lasts 30 days at most');

select tests.authenticate_as_anon();
select is(tests.refusal(format($$ select * from app.sign_in_with_link(%L) $$, :'mail'::jsonb ->> 'token')), 'CR410 sign_in_link_used', 'a link works once');
select is(tests.refusal($$ select * from app.sign_in_with_link(repeat('0', 64)) $$), 'CR400 invalid_sign_in_link', 'an unknown token is refused');
select tests.clear_authentication();
insert into app.email_links (org_id, purpose, email, member_id, token_hash, token_expires_at)
values (:'org_a', 'sign_in', 'member@example.com', :'member_id', encode(sha256(convert_to(repeat('e', 64), 'UTF8')), 'hex'), now() - interval '1 second');
insert into app.email_links (org_id, purpose, email, token_hash, token_expires_at)
values (:'org_a', 'key_recovery', 'owner@example.com', encode(sha256(convert_to(repeat('f', 64), 'UTF8')), 'hex'), now() + interval '10 minutes');
select tests.authenticate_as_anon();
select is(tests.refusal($$ select * from app.sign_in_with_link(repeat('e', 64)) $$), 'CR410 sign_in_link_expired', 'a link is refused after 15 minutes');
select is(tests.refusal($$ select * from app.sign_in_with_link(repeat('f', 64)) $$), 'CR400 invalid_sign_in_link',
  'a key recovery link does not sign anyone in');
select tests.clear_authentication();

-- ===========================================================================
-- A session at work
-- ===========================================================================
select tests.authenticate_as_anon();
select * from app.authenticate_session(encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex')) \gset auth_
select is(:'auth_status'::text, 'active', 'a fresh session is active');
select is((nullif(current_setting('request.jwt.claims', true), '')::jsonb - 'session_id'),
  jsonb_build_object('role', 'authenticated', 'org_id', :'signed_org_id', 'member_id', :'signed_member_id', 'member_role', :'signed_member_role'),
  'and acts with its org, member and role as the claims');
select ok(:'auth_allowed'::boolean, 'and takes a request from the member''s rate limit');
select is((select count(*)::int from app.authenticate_session(repeat('0', 64))), 0, 'an unknown token finds no session');
select tests.clear_authentication();

update app.org_members set role = 'viewer' where id = :'signed_member_id';
select is((select member_role from app.authenticate_session(encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex'))), 'viewer',
  'a role change applies to the next request');
select set_config('request.jwt.claims', '', true);

-- last_seen_at moves at most once a minute.
update app.member_sessions set last_seen_at = now() - interval '30 seconds' where id = :'signed_session_id';
select app.authenticate_session(encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex'));
select cmp_ok((select last_seen_at from app.member_sessions where id = :'signed_session_id'), '<', now() - interval '20 seconds',
  'a request within the minute leaves last_seen_at as it was');
update app.member_sessions set last_seen_at = now() - interval '13 days' where id = :'signed_session_id';
select app.authenticate_session(encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex'));
select is((select last_seen_at from app.member_sessions where id = :'signed_session_id'), now(), 'a later one moves it: the idle expiry rolls');
update app.member_sessions set last_seen_at = now() - interval '15 days' where id = :'signed_session_id';
select is((select status from app.authenticate_session(encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex'))), 'expired',
  'a session unused for 14 days has expired');
update app.member_sessions set last_seen_at = now(), expires_at = now() - interval '1 second' where id = :'signed_session_id';
select is((select status from app.authenticate_session(encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex'))), 'expired',
  'so has one 30 days after sign-in, however busy');
select ok((select allowed is null from app.authenticate_session(encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex'))),
  'an expired session takes nothing from the rate limit');
select set_config('request.jwt.claims', '', true);
update app.member_sessions set expires_at = now() + interval '1 day' where id = :'signed_session_id';

-- ===========================================================================
-- Seeing and ending sessions
-- ===========================================================================
insert into app.email_links (org_id, purpose, email, member_id, token_hash, token_expires_at)
select org_id, 'sign_in', email, id, encode(sha256(convert_to(repeat('b', 64), 'UTF8')), 'hex'), now() + interval '10 minutes'
from app.org_members where org_id = :'org_a' and role = 'owner';
select session_id as owner_session, member_id as owner_id from app.sign_in_with_link(repeat('b', 64)) \gset

select tests.authenticate_as_member(:'signed_org_id', :'signed_member_id', 'viewer');
select is((select array_agg(id)::text from app.member_sessions), array[:'signed_session_id']::text,
  'a member sees only their own sessions');
select throws_ok($$ select token_hash from app.member_sessions $$, '42501', null, 'and never a token''s hash');
select is(tests.refusal(format($$ select * from app.revoke_session(%L) $$, :'owner_session')), 'CR404 not_found',
  'nor can they end someone else''s session');
select is((select already_revoked from app.revoke_session(:'signed_session_id')), false, 'a viewer ends their own session');
select tests.clear_authentication();
select is((select status from app.authenticate_session(encode(sha256(convert_to(:'signed_session_token', 'UTF8')), 'hex'))), 'revoked',
  'which then no longer works');
select set_config('request.jwt.claims', '', true);

select tests.authenticate_as_anon();
select ok(app.end_session(encode(sha256(convert_to(repeat('b', 64), 'UTF8')), 'hex')) is false, 'sign-out needs the session''s own token');
select tests.clear_authentication();
select is((select count(*)::int from app.member_sessions where member_id = :'owner_id' and revoked_at is null), 1, 'the owner''s session still works');
delete from app.org_members where id = :'member_id';
select is((select count(*)::int from app.member_sessions where member_id = :'member_id'), 0, 'removing a member ends their sessions');
select is((select count(*)::int from app.email_links where member_id = :'member_id'), 0, 'and their links');

select * from finish();
rollback;
