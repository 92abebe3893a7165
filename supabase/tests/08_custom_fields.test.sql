-- Custom fields: the definitions' rules and tenancy, every field type's valid and invalid
-- values, required fields, and a lead's customFields checked in Postgres whoever writes
-- them (API, Studio), with definition changes refused while live leads' values disagree.
begin;
select plan(85);

select tests.create_org('fields-a') as org_a \gset
select tests.create_org('fields-b') as org_b \gset

-- ===========================================================================
-- Tenancy and privileges
-- ===========================================================================
select is((select count(*)::integer from pg_policy where polrelid = 'app.custom_fields'::regclass and polpermissive), 4,
  'app.custom_fields has one policy per command (besides the restrictive role rule of every tenant table)');
select ok(not has_function_privilege('anon', 'app.custom_field_value_ok(text, text[], jsonb)', 'execute'), 'anon cannot call app.custom_field_value_ok');
select ok(not has_table_privilege('anon', 'app.custom_fields', 'select'), 'anon cannot read custom field definitions');

select tests.authenticate_as(:'org_a');
insert into app.custom_fields (key, field_type) values ('seats', 'number') returning id as a_seats \gset
select tests.clear_authentication();

select tests.authenticate_as(:'org_b');
select is((select count(*)::integer from app.custom_fields), 0, 'org B cannot read org A''s custom fields');
update app.custom_fields set label = 'Hacked' where id = :'a_seats';
delete from app.custom_fields where id = :'a_seats';
select throws_ok(format($$ insert into app.custom_fields (org_id, key, field_type) values (%L, 'sneaky', 'text') $$, :'org_a'),
  '42501', null, 'org B cannot define a field in org A');
select lives_ok($$ insert into app.custom_fields (key, field_type) values ('seats', 'text') $$, 'org B can define the same key for itself');
select lives_ok($$ insert into app.leads (first_name, email, custom_fields) values ('B', 'b1@example.com', '{"seats":"many"}') $$,
  'org A''s definitions do not apply to org B''s leads');
select tests.clear_authentication();
select is((select row(label, field_type)::text from app.custom_fields where id = :'a_seats'), '(seats,number)', 'org A''s field is unchanged by org B');

-- Nothing about org A leaks through a refusal raised for a row aimed at org A.
select tests.authenticate_as(:'org_a');
insert into app.leads (first_name, email, custom_fields) values ('A', 'a-free@example.com', '{"budget":"lots"}');
select tests.clear_authentication();
select tests.authenticate_as(:'org_b');
select throws_ok(format($$ insert into app.custom_fields (org_id, key, field_type) values (%L, 'budget', 'number') $$, :'org_a'),
  '42501', null, 'a definition aimed at org A is refused by RLS, not by org A''s lead values');
select throws_ok(format($$ insert into app.leads (org_id, first_name, email, custom_fields) values (%L, 'X', 'x@example.com', '{"seats":"x"}') $$, :'org_a'),
  '42501', null, 'a lead aimed at org A is refused by RLS, not by org A''s definitions');
select tests.clear_authentication();

-- ===========================================================================
-- Definitions
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select matches(:'a_seats'::text, '^cf_[0-9a-f]{24}$', 'field ids are cf_ followed by 24 hex digits');
select is((select row(org_id, label, options, required, position)::text from app.custom_fields where id = :'a_seats'),
  format('(%s,seats,,f,0)', :'org_a'), 'a field defaults to the caller''s org, its key as label, no options, not required, first');
insert into app.custom_fields (key, label, field_type, options) values ('region', 'Sales region', 'select', '{EU,US}') returning id as a_region \gset
select is((select position from app.custom_fields where id = :'a_region'), 1, 'a new field goes after the existing ones');

select throws_ok($$ insert into app.custom_fields (key, field_type) values ('SEATS', 'text') $$, 'CR409', null,
  'keys are unique per org, case-insensitive');
select throws_like($$ insert into app.custom_fields (key, field_type) values ('Seats', 'text') $$, 'A custom field with key "seats" already exists (cf_%)',
  'the refusal names the existing field');
select throws_like($$ insert into app.custom_fields (key, field_type) values ('1st', 'text') $$, '%custom_fields_key_check%', 'a key must start with a letter');
select throws_like($$ insert into app.custom_fields (key, field_type) values ('has space', 'text') $$, '%custom_fields_key_check%', 'a key holds letters, digits and _ only');
select throws_like(format($$ insert into app.custom_fields (key, field_type) values (%L, 'text') $$, 'k' || repeat('x', 64)), '%custom_fields_key_check%', 'a key is at most 64 characters');
select lives_ok(format($$ insert into app.custom_fields (key, field_type) values (%L, 'text') $$, 'k' || repeat('_', 63)), 'a key of 64 characters is accepted');
select throws_like($$ insert into app.custom_fields (key, field_type) values ('money', 'currency') $$, '%custom_fields_field_type_check%', 'unknown field types are refused');
select throws_ok($$ insert into app.custom_fields (key, field_type) values ('size', 'select') $$, 'CR400', 'A select field needs options', 'a select field needs options');
select throws_ok($$ insert into app.custom_fields (key, field_type, options) values ('size', 'multiselect', '{}') $$, 'CR400', 'A multiselect field needs options', 'a multiselect field needs at least one option');
select throws_ok($$ insert into app.custom_fields (key, field_type, options) values ('size', 'text', '{a}') $$, 'CR400', 'Only select and multiselect fields have options, not text fields',
  'other types take no options');
select throws_ok($$ insert into app.custom_fields (key, field_type, options) values ('size', 'select', '{a,a}') $$, 'CR400', null, 'options must be distinct');
select throws_ok($$ insert into app.custom_fields (key, field_type, options) values ('size', 'select', array['a', ' ']) $$, 'CR400', null, 'options must not be blank');
select throws_ok($$ insert into app.custom_fields (key, field_type, options) values ('size', 'select', array['a', null]) $$, 'CR400', null, 'options must not be null');
select throws_ok(format($$ update app.custom_fields set key = 'territory' where id = %L $$, :'a_region'), 'CR400', null, 'a key never changes');
update app.custom_fields set field_type = 'text' where id = :'a_region';
select is((select options from app.custom_fields where id = :'a_region'), null, 'changing a select field to text drops its options');
update app.custom_fields set field_type = 'select', options = '{EU,US}' where id = :'a_region';
select tests.clear_authentication();

-- ===========================================================================
-- Values: every type
-- ===========================================================================
select ok(app.custom_field_value_ok('text', null, '"hello"'), 'text accepts a string');
select ok(app.custom_field_value_ok('text', null, to_jsonb(repeat('x', 10000))), 'text accepts 10,000 characters');
select ok(not app.custom_field_value_ok('text', null, to_jsonb(repeat('x', 10001))), 'text refuses more than 10,000 characters');
select ok(not app.custom_field_value_ok('text', null, '42'), 'text refuses a number');
select ok(app.custom_field_value_ok('number', null, '42'), 'number accepts an integer');
select ok(app.custom_field_value_ok('number', null, '-9.5e3'), 'number accepts a negative float');
select ok(not app.custom_field_value_ok('number', null, '"42"'), 'number refuses a numeric string');
select ok(not app.custom_field_value_ok('number', null, 'true'), 'number refuses a boolean');
select ok(app.custom_field_value_ok('boolean', null, 'false'), 'boolean accepts false');
select ok(not app.custom_field_value_ok('boolean', null, '"true"'), 'boolean refuses the string "true"');
select ok(not app.custom_field_value_ok('boolean', null, '1'), 'boolean refuses 1');
select ok(app.custom_field_value_ok('date', null, '"2026-03-01"'), 'date accepts YYYY-MM-DD');
select ok(app.custom_field_value_ok('date', null, '"2024-02-29"'), 'date accepts a leap day');
select ok(app.custom_field_value_ok('date', null, '"2026-03-01T09:30:00Z"'), 'date accepts an ISO timestamp in UTC');
select ok(app.custom_field_value_ok('date', null, '"2026-03-01T09:30:00.123456+02:00"'), 'date accepts an ISO timestamp with fraction and offset');
select ok(not app.custom_field_value_ok('date', null, '"2026-02-29"'), 'date refuses a day that does not exist');
select ok(not app.custom_field_value_ok('date', null, '"2026-03-01T25:00:00Z"'), 'date refuses an hour that does not exist');
select ok(not app.custom_field_value_ok('date', null, '"03/01/2026"'), 'date refuses other formats');
select ok(not app.custom_field_value_ok('date', null, '"today"'), 'date refuses words Postgres would understand');
select ok(not app.custom_field_value_ok('date', null, '20260301'), 'date refuses a number');
select ok(app.custom_field_value_ok('select', '{EU,US}', '"EU"'), 'select accepts one of its options');
select ok(not app.custom_field_value_ok('select', '{EU,US}', '"eu"'), 'select compares options exactly');
select ok(not app.custom_field_value_ok('select', '{EU,US}', '["EU"]'), 'select refuses an array');
select ok(app.custom_field_value_ok('multiselect', '{vip,partner}', '["vip","partner"]'), 'multiselect accepts an array of its options');
select ok(app.custom_field_value_ok('multiselect', '{vip,partner}', '[]'), 'multiselect accepts an empty array');
select ok(not app.custom_field_value_ok('multiselect', '{vip,partner}', '"vip"'), 'multiselect refuses a plain string');
select ok(not app.custom_field_value_ok('multiselect', '{vip,partner}', '["vip","gold"]'), 'multiselect refuses an unknown option');
select ok(not app.custom_field_value_ok('multiselect', '{vip,partner}', '[1]'), 'multiselect refuses non-string elements');
select ok(app.custom_field_value_ok('number', null, 'null') and app.custom_field_value_ok('select', '{a}', 'null'), 'null fits every type');

-- ===========================================================================
-- A lead's customFields, checked in Postgres (API and Studio alike)
-- ===========================================================================
select tests.authenticate_as(:'org_a');
insert into app.custom_fields (key, field_type, options) values ('tags', 'multiselect', '{vip,partner}');
insert into app.custom_fields (key, field_type) values ('renewal', 'date');
select throws_ok($$ insert into app.leads (first_name, email, custom_fields) values ('X', 'x1@example.com', '{"seats":"four"}') $$,
  'CR400', 'customFields.seats must be a number (a JSON number such as 42 or 9.5, not a string), got "four"', 'a lead insert with a wrong type is refused with 400 naming the field');
select throws_like($$ insert into app.leads (first_name, email, custom_fields) values ('X', 'x2@example.com', '{"region":"Mars"}') $$,
  'customFields.region must be one of "EU", "US", got "Mars"', 'a select refusal lists the options');
select throws_like($$ insert into app.leads (first_name, email, custom_fields) values ('X', 'x3@example.com', '{"renewal":"2026-13-01"}') $$,
  'customFields.renewal must be a date %', 'an impossible date is refused');
select lives_ok($$ insert into app.leads (first_name, email, custom_fields)
  values ('Ok', 'ok@example.com', '{"seats":3,"region":"EU","tags":["vip"],"renewal":"2026-03-01","free":{"any":"thing"}}') $$,
  'valid values and keys without a definition are accepted');
select lives_ok($$ update app.leads set custom_fields = custom_fields || '{"seats":null}' where email = 'ok@example.com' $$, 'null clears a value');
select throws_ok($$ update app.leads set custom_fields = custom_fields || '{"tags":["gold"]}' where email = 'ok@example.com' $$,
  'CR400', null, 'an update writing a bad value is refused');
select is((select custom_fields -> 'tags' from app.leads where email = 'ok@example.com'), '["vip"]'::jsonb, 'the refused update changed nothing');
select tests.clear_authentication();

select throws_like(format($$ insert into app.leads (org_id, first_name, email, custom_fields) values (%L, 'S', 'studio@example.com', '{"seats":"x"}') $$, :'org_a'),
  'customFields.seats must be a number%', 'an insert in SQL without a request (Studio) is checked too');
select throws_ok($$ update app.leads set custom_fields = '{"region":"Mars"}' where email = 'ok@example.com' $$, 'CR400', null,
  'an edit in SQL without a request (Studio) is checked too');

-- A value that does not change is not checked again: a soft-deleted lead keeps an old
-- free-form value through a later definition and can still be restored and edited.
select tests.authenticate_as(:'org_a');
insert into app.leads (first_name, email, custom_fields, deleted_at) values ('Old', 'old@example.com', '{"score":"high"}', now());
insert into app.custom_fields (key, field_type) values ('score', 'number');
update app.leads set deleted_at = null where email = 'old@example.com';
select lives_ok($$ update app.leads set custom_fields = custom_fields || '{"seats":2}' where email = 'old@example.com' $$,
  'editing other keys leaves an unchanged old value alone');
select throws_ok($$ update app.leads set custom_fields = custom_fields || '{"score":"higher"}' where email = 'old@example.com' $$,
  'CR400', null, 'changing that value is checked');

-- ===========================================================================
-- Required fields
-- ===========================================================================
insert into app.custom_fields (key, field_type, options, required) values ('source', 'select', '{web,referral}', true);
select throws_ok($$ insert into app.leads (first_name, email) values ('R', 'r1@example.com') $$,
  'CR400', 'customFields.source is required (one of "web", "referral")', 'a new lead without a required field is refused');
select throws_ok($$ insert into app.leads (first_name, email, custom_fields) values ('R', 'r2@example.com', '{"source":null}') $$,
  'CR400', null, 'null does not satisfy a required field');
select lives_ok($$ insert into app.leads (first_name, email, custom_fields) values ('R', 'r3@example.com', '{"source":"web"}') $$,
  'a lead with the required field is accepted');
select lives_ok($$ update app.leads set status = 'contacted' where email = 'ok@example.com' $$,
  'an existing lead without the required field can change anything but its customFields');
select throws_like($$ update app.leads set custom_fields = custom_fields || '{"seats":1}' where email = 'ok@example.com' $$,
  'customFields.source is required%', 'writing its customFields requires the field');
select throws_ok($$ update app.leads set custom_fields = custom_fields - 'source' where email = 'r3@example.com' $$,
  'CR400', null, 'removing a required value is refused');
select lives_ok($$ update app.leads set custom_fields = custom_fields || '{"seats":1}' where email = 'r3@example.com' $$,
  'a lead holding the required field writes its customFields freely');
update app.custom_fields set required = false where key = 'source';

-- ===========================================================================
-- Definitions that live leads' values would break
-- ===========================================================================
select throws_ok($$ update app.custom_fields set field_type = 'text' where key = 'seats' $$, 'CR409', null,
  'a type change is refused while live leads hold values the new type refuses');
select throws_like($$ update app.custom_fields set field_type = 'boolean' where key = 'seats' $$,
  '% live lead(s) hold customFields.seats values that a boolean field would refuse%', 'the refusal counts the leads and names the field');
select throws_like($$ update app.custom_fields set options = '{US}' where key = 'region' $$, '1 live lead(s) hold customFields.region values%',
  'removing an option in use is refused');
select lives_ok($$ update app.custom_fields set options = '{EU,US,APAC}' where key = 'region' $$, 'adding an option is fine');
select lives_ok($$ update app.custom_fields set label = 'Seats bought', required = true where key = 'seats' $$,
  'label and required change without looking at values');
update app.custom_fields set required = false where key = 'seats';
select throws_ok($$ insert into app.custom_fields (key, field_type) values ('free', 'text') $$, 'CR409', null,
  'a new definition is refused while live leads hold free-form values it would refuse');

update app.leads set deleted_at = now() where email = 'ok@example.com';
select lives_ok($$ update app.custom_fields set options = '{US,APAC}' where key = 'region' $$,
  'values on soft-deleted leads do not block a definition change');
select tests.clear_authentication();

-- Studio edits of definitions get the same refusal.
select throws_ok(format($$ update app.custom_fields set field_type = 'boolean' where org_id = %L and key = 'seats' $$, :'org_a'), 'CR409', null,
  'a definition change in SQL without a request (Studio) is refused the same way');

-- ===========================================================================
-- Deleting a definition leaves the values
-- ===========================================================================
select tests.authenticate_as(:'org_a');
delete from app.custom_fields where key = 'seats';
select is((select custom_fields -> 'seats' from app.leads where email = 'r3@example.com'), '1'::jsonb, 'deleting a definition leaves the values in place');
select lives_ok($$ update app.leads set custom_fields = custom_fields || '{"seats":"several"}' where email = 'r3@example.com' $$,
  'once its definition is deleted, a key is free-form again');
select tests.clear_authentication();

select * from finish();
rollback;
