-- Row-level security: one org can neither see nor change another org's rows in any
-- tenant table. (That every app table has RLS enabled, forced and with policies is a
-- schema-wide guard: 00_schema_guards.test.sql.)
begin;
select plan(26);

-- Arrange: org A with a lead and an idempotency key; org B empty-handed.
select tests.create_org('org-a') as org_a \gset
select tests.create_org('org-b') as org_b \gset
select tests.create_lead(:'org_a') as lead_a \gset
select tests.create_lead(:'org_b') as lead_b \gset
select id as stage_a from app.stages where org_id = :'org_a' and is_default \gset
select id as key_a from app.api_keys where org_id = :'org_a' \gset
select tests.authenticate_as(:'org_a');
select * from app.claim_idempotency_key('key-1', 'POST', '/leads', 'hash');
select tests.clear_authentication();

select tests.authenticate_as(:'org_b');

-- Reads
select is((select count(*)::int from app.orgs where id = :'org_a'), 0, 'org B cannot read org A''s org row');
select is((select count(*)::int from app.orgs), 1, 'org B sees exactly its own org row');
select is((select count(*)::int from app.leads where org_id = :'org_a'), 0, 'org B cannot read org A''s leads');
select is((select array_agg(id) from app.leads), array[:'lead_b'], 'org B sees only its own lead');
select is((select count(*)::int from app.lead_details where id = :'lead_a'), 0, 'org B cannot read org A''s lead through lead_details');
select is((select count(*)::int from app.stages where org_id = :'org_a'), 0, 'org B cannot read org A''s stages');
select is((select count(*)::int from app.api_keys where org_id = :'org_a'), 0, 'org B cannot read org A''s API keys');
select is((select count(*)::int from app.idempotency_keys where org_id = :'org_a'), 0, 'org B cannot read org A''s idempotency keys');

-- Writes to A's rows affect nothing
update app.leads set first_name = 'Hacked' where id = :'lead_a';
update app.stages set name = 'Hacked' where id = :'stage_a';
update app.orgs set name = 'Hacked' where id = :'org_a';
update app.api_keys set revoked_at = now() where id = :'key_a';
update app.idempotency_keys set response_status = 500 where org_id = :'org_a';
delete from app.leads where id = :'lead_a';
delete from app.stages where id = :'stage_a';

-- Inserts into A are refused
select throws_ok(format($$ insert into app.leads (org_id, first_name, email) values (%L, 'X', 'x@example.com') $$, :'org_a'),
  '42501', null, 'org B cannot insert a lead into org A');
select throws_ok(format($$ insert into app.stages (org_id, name) values (%L, 'Sneaky') $$, :'org_a'),
  '42501', null, 'org B cannot insert a stage into org A');
select throws_ok(format($$ insert into app.idempotency_keys (org_id, key, method, path, request_hash) values (%L, 'k', 'POST', '/', 'h') $$, :'org_a'),
  '42501', null, 'org B cannot insert an idempotency key into org A');
select throws_ok(format($$ update app.leads set org_id = %L where org_id = %L $$, :'org_a', :'org_b'),
  '42501', null, 'org B cannot move rows into org A');

-- Org B's own lead cannot point at org A's stage
select throws_ok(format($$ insert into app.leads (first_name, email, stage_id) values ('X', 'y@example.com', %L) $$, :'stage_a'),
  '23503', null, 'a lead cannot reference another org''s stage');

select tests.clear_authentication();

select is((select first_name from app.leads where id = :'lead_a'), 'Test', 'org A''s lead is unchanged');
select is((select count(*)::int from app.leads where id = :'lead_a'), 1, 'org A''s lead still exists');
select isnt((select name from app.stages where id = :'stage_a'), 'Hacked', 'org A''s stage is unchanged');
select is((select count(*)::int from app.stages where id = :'stage_a'), 1, 'org A''s stage still exists');
select isnt((select name from app.orgs where id = :'org_a'), 'Hacked', 'org A''s settings are unchanged');
select is((select revoked_at from app.api_keys where id = :'key_a'), null, 'org A''s key is not revoked');
select is((select response_status from app.idempotency_keys where org_id = :'org_a'), null, 'org A''s idempotency key is unchanged');

-- Org A sees its own rows
select tests.authenticate_as(:'org_a');
select is((select count(*)::int from app.leads), 1, 'org A sees its own lead');
select is((select count(*)::int from app.stages), 8, 'org A sees its own eight stages');
select is((select count(*)::int from app.api_keys), 1, 'org A sees its own key');
select tests.clear_authentication();

-- No org context at all sees nothing
select tests.authenticate_as_anon();
select throws_ok($$ select count(*) from app.leads $$, '42501', null, 'anon cannot read leads at all');
select tests.clear_authentication();
select set_config('request.jwt.claims', '{"role":"authenticated"}', true);
set local role authenticated;
select is((select count(*)::int from app.leads), 0, 'authenticated without an org claim sees no leads');
select is((select count(*)::int from app.orgs), 0, 'authenticated without an org claim sees no orgs');
reset role;

select * from finish();
rollback;
