-- Data in and out in bulk: the set-based upsert (item by item results, the plan limit counted
-- exactly), the writers built on it, imports, duplicates, merges (never across workspaces) and
-- search (tenancy, indexes).
begin;
select plan(30);

select tests.create_org('bulk-a') as org_a \gset
select tests.create_org('bulk-b') as org_b \gset

-- ---------------------------------------------------------------------------
-- app.upsert_leads
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
select app.create_lead('{"email": "kept@example.com", "firstName": "Kept", "phone": "1", "customFields": {"a": 1}}') as kept \gset

create temporary table batch_result on commit drop as
select * from app.upsert_leads('[
  {"email": "KEPT@example.com", "phone": null, "customFields": {"b": 2}},
  {"email": "new@example.com", "firstName": "New", "clinicName": "Clinic"},
  {"email": "kept@example.com", "firstName": "Again"},
  {"email": "broken", "firstName": "X"},
  {"email": "nofirst@example.com"},
  {"email": "stage@example.com", "firstName": "S", "stage": "Nowhere"},
  {"email": "long@example.com", "firstName": "L", "phone": "012345678901234567890123456789012345678901234567890123456789"},
  {"email": "typed@example.com", "firstName": "T", "tier": 5},
  42
]');

select is((select array_agg(result order by item) from batch_result),
  array['updated', 'created', 'failed', 'failed', 'failed', 'failed', 'failed', 'failed', 'failed'],
  'a batch answers per item: updated, created, or failed alone without aborting the others');
select is((select array_agg(error ->> 'code' order by item) from batch_result where result = 'failed'),
  array['duplicate_item', 'invalid_email', 'missing_first_name', 'unknown_stage', 'invalid_value', 'invalid_value', 'invalid_item'],
  'each failure names its code');
select ok((select bool_and(error ? 'hint' and error ? 'message' and (error ->> 'status')::integer = 400) from batch_result where result = 'failed'),
  'each failure carries a message, a hint and the status it would have had alone');
select is((select phone from app.leads where id = :'kept'), null, 'a field sent as null is cleared (PATCH semantics)');
select is((select custom_fields from app.leads where id = :'kept'), '{"a": 1, "b": 2}'::jsonb, 'customFields merge into what is stored');
select is((select organization_name from app.leads where email = 'new@example.com'), 'Clinic', 'aliases are folded in (clinicName)');
select is((select result from app.upsert_leads('[{"email": "new@example.com", "firstName": "New"}]')), 'unchanged',
  'an item that changes nothing is unchanged, and nothing is written');
select is(tests.refusal($$ select * from app.upsert_leads((select jsonb_agg(jsonb_build_object('email', i || '@x.co')) from generate_series(1, 1001) i)) $$),
  'CR413 too_many_items', 'a batch holds at most 1,000 items');
select is(tests.refusal($$ select * from app.upsert_leads('{"email": "a@b.co"}') $$), 'CR400 invalid_items', 'items must be an array');

-- The writers on the same core keep their answers.
select is(tests.refusal($$ select app.create_lead('{"email": "new@example.com", "firstName": "Dup"}') $$), 'CR409 lead_exists',
  'POST /leads still refuses an email a live lead has');
select is(tests.refusal_details($$ select app.create_lead('{"email": "NEW@example.com", "firstName": "Dup"}') $$) ->> 'existingId',
  (select id from app.leads where email = 'new@example.com'), '…naming the existing lead');
select is(tests.refusal($$ select app.create_lead('{"email": "x@example.com", "firstName": "X", "stage": "Nowhere"}') $$), 'CR400 unknown_stage',
  'POST /leads refuses an unknown stage');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- The plan limit, counted: items past the room fail, the rest land
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_b');
insert into app.leads (first_name, email) select 'Fill', 'fill' || g || '@example.com' from generate_series(1, 97) g;
create temporary table limit_result on commit drop as
select * from app.upsert_leads('[
  {"email": "l1@example.com", "firstName": "L"}, {"email": "l2@example.com", "firstName": "L"},
  {"email": "fill1@example.com", "status": "contacted"},
  {"email": "l3@example.com", "firstName": "L"}, {"email": "l4@example.com", "firstName": "L"}, {"email": "l5@example.com", "firstName": "L"}]');
select is((select array_agg(result order by item) from limit_result), array['created', 'created', 'updated', 'created', 'failed', 'failed'],
  'new leads land up to the plan''s room, in item order; updates are not counted');
select is((select count(*)::integer from app.leads), 100, 'the workspace ends exactly at its limit');
select is((select error ->> 'code' from limit_result where item = 4), 'lead_limit_reached', 'the items past it fail with lead_limit_reached…');
select matches((select error ->> 'message' from limit_result where item = 4), 'free tier allows 100 leads', '…worded like the limit trigger''s refusal');
select is((select result from app.upsert_leads('[{"email": "fill2@example.com", "tier": "high"}]')), 'updated',
  'a workspace at its limit still updates the leads it has');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- Imports: the upload's checks and a chunk through the same upsert
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
insert into app.imports (file_name, file_bytes, columns, mapping) values ('f.csv', 10, '{email,firstName}', '{}') returning id as imp \gset
insert into app.import_rows (import_id, row_number, fields) values
  (:'imp', 1, '{"email": "i1@example.com", "firstName": "I"}'),
  (:'imp', 2, '{"email": "I1@example.com", "firstName": "Again"}'),
  (:'imp', 3, '{"email": "i3@example.com"}');
select is(tests.refusal(format($$ select app.finish_import_upload(%L, 2) $$, :'imp')), 'CR413 too_many_rows', 'an upload over the row cap is refused');
select is(app.finish_import_upload(:'imp', 50000), 3, 'the upload counts its rows');
select is((select status from app.apply_import_chunk(:'imp', 1000)), 'completed', 'one chunk applies a small import and completes it');
select is((select row(created, failed, processed_rows, total_rows)::text from app.imports where id = :'imp'), '(1,2,3,3)',
  'the import counts what its rows did');
select is((select array_agg(error ->> 'code' order by row_number) from app.import_rows where import_id = :'imp'),
  array['duplicate_item', 'missing_first_name'], 'only failed rows stay, each with its error (a repeated email fails at upload)');
select is((select source || ' ' || created_by from app.leads where email = 'i1@example.com'), 'import import:' || :'imp',
  'leads an import creates name it as their creator');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- Duplicates, merges and search stay within the workspace
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
select app.create_lead('{"email": "pat@one.com", "firstName": "Pat", "lastName": "Lee", "phone": "+1 415 555 0101"}') as pat \gset
select app.create_lead('{"email": "pat@two.com", "firstName": "Patrick", "lastName": "Lee", "phone": "(415) 555-0101"}') as pat2 \gset
insert into app.notes (lead_id, content) values (:'pat2', 'talked about the zeppelin fleet');
select is((select reasons from app.lead_duplicates(:'pat')), array['same_phone'], 'the same phone digits across emails make a likely duplicate');
select tests.clear_authentication();

select tests.authenticate_as(:'org_b');
select is((select count(*)::integer from app.lead_duplicates(null) d where :'pat2' in (d.lead_id, d.duplicate_id)), 0, 'another workspace sees none of them');
select is((select count(*)::integer from app.search_leads('zeppelin')), 0, 'nor finds them by search');
select is(tests.refusal(format($$ select app.merge_leads((select id from app.leads limit 1), array[%L]) $$, :'pat2')), 'CR404 not_found',
  'a merge naming another workspace''s lead is refused as not found');
select tests.clear_authentication();
select is((select deleted_at from app.leads where id = :'pat2'), null, '…and the lead is untouched');

select tests.authenticate_as(:'org_a');
select is((select lead_id from app.search_leads('zeppelin')), :'pat2', 'search finds a lead by its notes');
select app.merge_leads(:'pat', array[:'pat2']) as merge \gset
select is((select row(l.merged_into, l.deleted_at is not null, (select count(*) from app.notes n where n.lead_id = :'pat'))::text
           from app.leads l where l.id = :'pat2'), format('(%s,t,1)', :'pat'),
  'a merge soft-deletes the duplicate, points it at the primary and moves its notes');
select tests.clear_authentication();

select * from finish();
rollback;
