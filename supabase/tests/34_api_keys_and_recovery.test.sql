-- API keys: create, list, revoke (never the last working key by accident), rotate with an
-- overlap window, what authentication says about each, tenancy, and the guard every writer
-- meets. Key recovery: the per-address rate limit (the same for unknown addresses), the mail
-- queued with the recovery, the one-time token made when the mail goes out (stored hashed),
-- used once, within 15 minutes.
begin;
select plan(55);

select tests.create_org('keys-a') as org_a \gset
select tests.create_org('keys-b') as org_b \gset
select id as key_a from app.api_keys where org_id = :'org_a' \gset
select id as key_b from app.api_keys where org_id = :'org_b' \gset

-- ===========================================================================
-- Creating and listing
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select key_id as sdr_id, api_key as sdr_key, key_prefix as sdr_prefix, name as sdr_name from app.create_api_key('sdr-agent') \gset
select matches(:'sdr_key'::text, '^rcm_live_[0-9a-f]{64}$', 'a created key is rcm_live_ and 64 hex digits');
select is(:'sdr_prefix'::text, left(:'sdr_key', 16), 'its display prefix is its first 16 characters');
select is(:'sdr_name'::text, 'sdr-agent', 'it carries the name given');
select matches((select name from app.create_api_key(null)), '^key \d{4}-\d{2}-\d{2} \d{2}:\d{2}$', 'without a name a key is named after the time');
select is((select status from app.api_key_details where id = :'sdr_id'), 'active', 'a new key is active');
select is((select count(*)::int from app.api_key_details), 3, 'the org lists its own keys');
select throws_ok($$ select key_hash from app.api_keys $$, '42501', null, 'the org cannot read key hashes');
select is(tests.refusal($$ select app.create_api_key(repeat('x', 101)) $$), 'CR400 invalid_key_name', 'a name over 100 characters is refused');
select tests.clear_authentication();
select is((select key_hash from app.api_keys where id = :'sdr_id'), app.hash_api_key(:'sdr_key'), 'the key is stored as its SHA-256 hash only');

-- At most 25 working keys
select tests.authenticate_as(:'org_b');
select lives_ok($$ select app.create_api_key('bulk ' || g) from generate_series(1, 24) g $$, 'an org may hold 25 working keys');
select is(tests.refusal($$ select app.create_api_key('one too many') $$), 'CR409 too_many_api_keys', 'a 26th working key is refused');
select tests.clear_authentication();

-- ===========================================================================
-- Tenancy
-- ===========================================================================
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.api_key_details where org_id = :'org_a'), 0, 'org B cannot list org A''s keys');
select is(tests.refusal(format($$ select app.revoke_api_key(%L, true) $$, :'sdr_id')), 'CR404 not_found', 'org B cannot revoke org A''s key');
select is(tests.refusal(format($$ select app.rotate_api_key(%L) $$, :'sdr_id')), 'CR404 not_found', 'org B cannot rotate org A''s key');
select throws_ok(format($$ insert into app.api_keys (org_id, name, key_hash, key_prefix) values (%L, 'x', repeat('a', 64), 'rcm_live_aaaaaaa') $$, :'org_a'),
  '42501', null, 'org B cannot add a key to org A');
select tests.clear_authentication();
select is((select revoked_at from app.api_keys where id = :'sdr_id'), null, 'org A''s key is untouched');

-- ===========================================================================
-- Revoking
-- ===========================================================================
select tests.create_org('keys-c') as org_c \gset
select id as key_c from app.api_keys where org_id = :'org_c' \gset
select tests.authenticate_as(:'org_c');
select is(tests.refusal(format($$ select app.revoke_api_key(%L) $$, :'key_c')), 'CR409 last_api_key', 'the last working key is not revoked by accident');
select ok(tests.hint_of(format($$ select app.revoke_api_key(%L) $$, :'key_c')) like '%confirm=last-key%', 'the refusal says how to revoke it on purpose');
select key_id as key_c2 from app.create_api_key('second') \gset
select is((select live_keys from app.revoke_api_key(:'key_c')), 1, 'with another working key, a key is revoked; one is left');
select is((select already_revoked from app.revoke_api_key(:'key_c')), true, 'revoking it again changes nothing');
select is(tests.refusal(format($$ select app.revoke_api_key(%L) $$, :'key_c2')), 'CR409 last_api_key', 'the remaining key is now the last one');
select is((select live_keys from app.revoke_api_key(:'key_c2', true)), 0, 'confirmed, even the last key is revoked');
select tests.clear_authentication();
select is((select revoked from app.authenticate_api_key((select key_hash from app.api_keys where id = :'key_c2'))), true,
  'a revoked key does not authenticate');
select is(tests.refusal(format($$ update app.api_keys set revoked_at = null where id = %L $$, :'key_c')), 'CR409 api_key_revoked',
  'a revoked key cannot be brought back, by any writer');

-- ===========================================================================
-- Rotating
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select key_id as rotated_id, api_key as rotated_key, old_expires_at from app.rotate_api_key(:'sdr_id', 48) \gset
select is(:'old_expires_at'::timestamptz, now() + interval '48 hours', 'the old key keeps working for the overlap asked for');
select is((select replaced_by || ' ' || status from app.api_key_details where id = :'sdr_id'), :'rotated_id' || ' expiring',
  'the old key is expiring and names its replacement');
select is((select name || ' ' || status from app.api_key_details where id = :'rotated_id'), 'sdr-agent active', 'the new key keeps the name and is active');
select is(tests.refusal(format($$ select app.rotate_api_key(%L) $$, :'sdr_id')), 'CR409 api_key_already_rotated', 'a rotated key is not rotated again');
select is(tests.refusal(format($$ select app.rotate_api_key(%L, 169) $$, :'rotated_id')), 'CR400 invalid_overlap', 'an overlap over 7 days is refused');
select is(tests.refusal(format($$ update app.api_keys set expires_at = now() + interval '100 hours' where id = %L $$, :'sdr_id')),
  'CR409 invalid_key_expiry', 'an expiry cannot be pushed later');
select is(tests.refusal(format($$ update app.api_keys set expires_at = now() + interval '8 days' where id = %L $$, :'rotated_id')),
  'CR409 invalid_key_expiry', 'an expiry cannot be set more than 7 days ahead');
select tests.clear_authentication();

select is((select revoked from app.authenticate_api_key(app.hash_api_key(:'sdr_key'))), false, 'during the overlap the old key works');
select is((select revoked from app.authenticate_api_key(app.hash_api_key(:'rotated_key'))), false, 'and so does the new one');
select set_config('request.jwt.claims', '', true);
update app.api_keys set expires_at = now() - interval '1 second' where id = :'sdr_id';
select is((select row(revoked, expired)::text from app.authenticate_api_key(app.hash_api_key(:'sdr_key'))), '(t,t)',
  'after the overlap the old key is refused as expired');
select is(app.current_org_id(), null, 'an expired key sets no org claim');
select is((select status from app.api_key_details where id = :'sdr_id'), 'expired', 'it lists as expired');

-- A working key whose only company is a key in its overlap is still the last lasting one.
select tests.authenticate_as(:'org_b');
select key_id as b_new from app.rotate_api_key(:'key_b', 24) \gset
select lives_ok(format($$ select app.revoke_api_key(id) from app.api_keys where name like 'bulk %%' $$), 'revoking the spare keys');
select is(tests.refusal(format($$ select app.revoke_api_key(%L) $$, :'b_new')), 'CR409 last_api_key',
  'the new key is the last one that lasts while the old one runs out');
select tests.clear_authentication();

-- ===========================================================================
-- Recovery: asking
-- ===========================================================================
select owner_email as owner_a from app.orgs where id = :'org_a' \gset
select tests.authenticate_as_anon();
select app.request_key_recovery(upper(:'owner_a'));
select app.request_key_recovery('nobody-' || gen_random_uuid() || '@example.com');
select tests.clear_authentication();
select is((select count(*)::int from app.email_links where org_id = :'org_a' and purpose = 'key_recovery'), 1, 'asking for an owner''s address records a recovery');
select is((select kind || ' ' || status || ' ' || to_email from app.system_mail where org_id = :'org_a' and kind = 'key_recovery'), 'key_recovery queued ' || :'owner_a',
  'and queues its mail to the owner in the same transaction');
select is((select count(*)::int from app.email_links where email like 'nobody-%'), 0, 'an unknown address records no recovery');
select is((select count(*)::int from app.key_recovery_requests where email_hash = encode(sha256(convert_to(:'owner_a', 'UTF8')), 'hex')), 1,
  'requests are counted by the address''s hash, whatever its case');

select tests.authenticate_as_anon();
select app.request_key_recovery(:'owner_a');
select app.request_key_recovery(:'owner_a');
select is(tests.refusal(format($$ select app.request_key_recovery(%L) $$, :'owner_a')), 'CR429 rate_limited', 'a 4th request within the hour is refused');
select app.request_key_recovery('x@unknown.example') from generate_series(1, 3);
select is(tests.refusal_details($$ select app.request_key_recovery('x@unknown.example') $$) ->> 'retryAfter',
  '3600', 'an unknown address meets the same limit, with the time to wait');
select throws_ok($$ select * from app.email_links $$, '42501', null, 'anon cannot read recoveries');
select tests.clear_authentication();

-- ===========================================================================
-- Recovery: the mail goes out, the link is used
-- ===========================================================================
set local role service_role;
-- Urgent mail (key recovery, sign-in) is claimed before the welcome mails of the orgs above.
select m ->> 'id' as mail_id from app.claim_system_mail('worker-1') m where m ->> 'kind' = 'key_recovery' limit 1 \gset
select app.begin_system_mail(:'mail_id', 'worker-1') as mail \gset
reset role;
select is(:'mail'::jsonb ->> 'workspaceName', 'keys-a', 'the worker gets the mail''s content when it begins sending');
select is((select token_hash from app.email_links where org_id = :'org_a' and purpose = 'key_recovery' and token_hash is not null),
  encode(sha256(convert_to(:'mail'::jsonb ->> 'token', 'UTF8')), 'hex'), 'the token is stored only as its hash');
select is((select count(*)::int from app.system_mail s where s.id = :'mail_id' and s::text like '%' || (:'mail'::jsonb ->> 'token') || '%'), 0,
  'the token is nowhere in the outbox row');

select tests.authenticate_as_anon();
select org_id as recovered_org, api_key as recovered_key from app.confirm_key_recovery(:'mail'::jsonb ->> 'token') \gset
select tests.clear_authentication();
select is(:'recovered_org'::text, :'org_a'::text, 'the link issues a key for its workspace');
select is((select org_id from app.authenticate_api_key(app.hash_api_key(:'recovered_key'))), :'org_a'::text, 'and the key works');
select set_config('request.jwt.claims', '', true);
select tests.authenticate_as_anon();
select is(tests.refusal(format($$ select app.confirm_key_recovery(%L) $$, :'mail'::jsonb ->> 'token')), 'CR410 recovery_link_used', 'a link works once');
select is(tests.refusal($$ select app.confirm_key_recovery(repeat('0', 64)) $$), 'CR400 invalid_recovery_token', 'an unknown token is refused');
select tests.clear_authentication();

-- An expired link, and a recovery too old to mail
insert into app.email_links (org_id, purpose, email, token_hash, token_expires_at)
values (:'org_a', 'key_recovery', :'owner_a', encode(sha256(convert_to(repeat('e', 64), 'UTF8')), 'hex'), now() - interval '1 second');
select tests.authenticate_as_anon();
select is(tests.refusal($$ select app.confirm_key_recovery(repeat('e', 64)) $$), 'CR410 recovery_link_expired', 'a link is refused after 15 minutes');
select tests.clear_authentication();
insert into app.email_links (org_id, purpose, email, requested_at) values (:'org_b', 'key_recovery', 'late@example.com', now() - interval '2 hours') returning id as late_recovery \gset
insert into app.system_mail (org_id, kind, link_id, to_email) values (:'org_b', 'key_recovery', :'late_recovery', 'late@example.com') returning id as late_mail \gset
set local role service_role;
select app.claim_system_mail('worker-1');
select is(app.begin_system_mail(:'late_mail', 'worker-1'), null, 'a recovery asked for more than an hour ago is not mailed');
reset role;
select is((select status from app.system_mail where id = :'late_mail'), 'skipped', 'its mail is skipped');

select * from finish();
rollback;
