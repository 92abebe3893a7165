-- Signup, API keys and the privileges around them.
begin;
select plan(19);

select tests.authenticate_as_anon();
select * from app.signup('Owner@Example.com', 'My Pipeline', 'agent', 'openclaw', 'Ann', 'Lee', 'Acme Corp') \gset signup_
select tests.clear_authentication();

select matches(:'signup_org_id'::text, '^org_[0-9a-f]{24}$', 'signup returns an org id');
select matches(:'signup_api_key'::text, '^rcm_live_[0-9a-f]{64}$', 'signup returns an rcm_live_ key');
select is((select name from app.orgs where id = :'signup_org_id'), 'Acme Corp', 'organizationName becomes the org name');
select is((select owner_email from app.orgs where id = :'signup_org_id'), 'owner@example.com', 'the owner email is stored lower-case');
select is((select tier from app.orgs where id = :'signup_org_id'), 'free', 'new orgs start on the free tier');
select is((select count(*)::int from app.stages where org_id = :'signup_org_id'), 8, 'signup creates the eight default stages');
select is((select name from app.stages where org_id = :'signup_org_id' and is_default), 'Prospects', 'Prospects is the default stage');
select is((select key_hash from app.api_keys where org_id = :'signup_org_id'), app.hash_api_key(:'signup_api_key'),
  'the key is stored as its SHA-256 hash');
select is((select count(*)::int from app.api_keys where key_hash = :'signup_api_key'), 0, 'the plaintext key is stored nowhere');
select is((select key_prefix from app.api_keys where org_id = :'signup_org_id'), left(:'signup_api_key', 16), 'a display prefix is kept');

select tests.authenticate_as_anon();
select throws_ok($$ select * from app.signup('OWNER@example.com', 'Again', 'agent', 'openclaw') $$,
  'CR409', null, 'signing up the same email again is refused with 409');
select tests.clear_authentication();

-- Authentication
select is((select org_id from app.authenticate_api_key(app.hash_api_key(:'signup_api_key'))), :'signup_org_id'::text,
  'a key authenticates as its org');
select is(app.current_org_id(), :'signup_org_id'::text, 'authentication sets the org claim for the transaction');
select is((select last_used_at is not null from app.api_keys where org_id = :'signup_org_id'), true, 'authentication records last use');
select is_empty($$ select * from app.authenticate_api_key(app.hash_api_key('rcm_live_' || repeat('0', 64))) $$, 'an unknown key authenticates nothing');
update app.api_keys set revoked_at = now() where org_id = :'signup_org_id';
select set_config('request.jwt.claims', '', true);
select is((select revoked from app.authenticate_api_key(app.hash_api_key(:'signup_api_key'))), true, 'a revoked key is reported as revoked');
select is(app.current_org_id(), null, 'a revoked key sets no org claim');

-- Privileges
select ok(not has_column_privilege('authenticated', 'app.api_keys', 'key_hash', 'select'), 'tenants cannot read key hashes');
select ok(not has_function_privilege('authenticated', 'app.signup(text, text, text, text, text, text, text)', 'execute')
  and not has_function_privilege('authenticated', 'app._issue_api_key(text, text)', 'execute'),
  'tenants cannot create orgs or issue keys directly');

select * from finish();
rollback;
