-- One way to create a lead (app.create_lead), one find-or-create by email
-- (app.upsert_lead_by_email), one place that seeds a new org, and plan limits checked once
-- per statement.
begin;
select plan(28);

select tests.create_org('writes-a') as org_a \gset
select tests.create_org('writes-ultra', 'ultra') as org_u \gset
select id as stage_first from app.stages where org_id = :'org_a' and position = 0 \gset
select id as stage_third from app.stages where org_id = :'org_a' and position = 2 \gset
select id as stage_fifth from app.stages where org_id = :'org_a' and position = 4 \gset

-- ---------------------------------------------------------------------------
-- A new org is seeded by one trigger, whoever inserts it.
-- ---------------------------------------------------------------------------
insert into app.orgs (id, name, workspace_name, owner_email) values ('org_seeded_in_sql', 'Studio Co', 'Studio', 'studio@example.com');
select is((select count(*)::int from app.stages where org_id = 'org_seeded_in_sql'), 8, 'an org inserted in SQL gets the eight default stages');
select is((select count(*)::int from app.stages where org_id = 'org_seeded_in_sql' and is_default), 1, '… with one default stage');
select ok((select count(*) from app.playbooks where org_id = 'org_seeded_in_sql') > 0, '… the default playbooks');
select is((select count(*)::int from app.campaign_settings where org_id = 'org_seeded_in_sql'), 1, '… and its send settings');
select is((select count(*)::int from app.playbooks where org_id = :'org_a'),
          (select count(*)::int from app.playbooks where org_id = 'org_seeded_in_sql'), 'signup seeds the same playbooks');

-- ---------------------------------------------------------------------------
-- app.create_lead: what POST /leads does.
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
select app.create_lead('{"firstName": "Ada", "email": "Ada@Example.com", "clinicName": "Ada Clinic", "practiceType": "Dental", "stage": "Engaged", "crmData": {"source": "test"}}') as ada \gset
select is((select row(first_name, email, organization_name, business_type, status, crm_data ->> 'source')::text from app.leads where id = :'ada'),
          row('Ada', 'Ada@Example.com', 'Ada Clinic', 'Dental', 'new', 'test')::text,
          'create_lead stores the fields, folds the aliases and defaults the status');
select is((select stage_id from app.leads where id = :'ada'), :'stage_third', 'create_lead resolves the stage by name');
select is((select count(*)::int from app.stage_changes where lead_id = :'ada'), 1, 'the stage history records the first stage');
select app.create_lead('{"firstName": "Bo", "email": "bo@example.com"}') as bo \gset
select is((select stage_id from app.leads where id = :'bo'), :'stage_first', 'without a stage the lead lands in the default stage');
select is(tests.refusal($$ select app.create_lead('{"firstName": "Ada 2", "email": "ADA@example.com"}') $$), 'CR409 lead_exists',
  'a second live lead with the same email (any case) is refused');
select is(tests.refusal_details($$ select app.create_lead('{"firstName": "Ada 2", "email": "ada@example.com"}') $$) ->> 'existingId', :'ada',
  'the refusal names the existing lead');
select ok(tests.refusal_details($$ select app.create_lead('{"firstName": "Ada 2", "email": "ada@example.com"}') $$) -> 'next_steps' ->> 0 like 'PATCH /api/openclaw/leads/%',
  'and tells the agent to PATCH it');
select is(tests.refusal($$ select app.create_lead('{"firstName": "Cy", "email": "cy@example.com", "stage": "Nowhere"}') $$), 'CR400 unknown_stage',
  'an unknown stage is refused');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- app.upsert_lead_by_email: the one find-or-create.
-- ---------------------------------------------------------------------------
create temporary table upserts (step int, lead_id text, created boolean, stage_id text, previous_stage_id text);
insert into upserts select 1, * from app.upsert_lead_by_email(:'org_a', 'dee@example.com', '{"phone": "+1 555"}', null, 'Dee Dee Ramone');
select is((select row(l.first_name, l.last_name, l.phone, u.created)::text from upserts u join app.leads l on l.id = u.lead_id where u.step = 1),
          row('Dee', 'Dee Ramone', '+1 555', true)::text, 'a new lead is named from the display name');
insert into upserts select 2, * from app.upsert_lead_by_email(:'org_a', 'DEE@example.com', '{"title": "CEO", "phone": null}', :'stage_fifth');
select is((select row(u.created, u.lead_id = (select lead_id from upserts where step = 1))::text from upserts u where u.step = 2),
          row(false, true)::text, 'the same email (any case) finds the same lead');
select is((select row(l.title, l.phone, l.stage_id)::text from app.leads l join upserts u on u.lead_id = l.id where u.step = 2),
          row('CEO', '+1 555', :'stage_fifth')::text, 'given values replace, missing ones are kept, and the lead moves forward');
insert into upserts select 3, * from app.upsert_lead_by_email(:'org_a', 'dee@example.com', '{}', :'stage_first');
select is((select row(stage_id, previous_stage_id)::text from upserts where step = 3), row(:'stage_fifth', :'stage_fifth')::text,
  'an earlier stage never moves a lead back');
insert into upserts select 4, * from app.upsert_lead_by_email(:'org_a', 'eve@example.com');
select is((select first_name from app.leads l join upserts u on u.lead_id = l.id where u.step = 4), 'eve',
  'without a name or display name the lead is named from the email');
select ok(not has_function_privilege('authenticated', 'app.upsert_lead_by_email(text, text, jsonb, text, text)', 'execute'),
  'tenants cannot call the find-or-create with another org id');

-- ---------------------------------------------------------------------------
-- Limits, once per statement.
-- ---------------------------------------------------------------------------
select is((select tgtype & 1 from pg_trigger where tgname = 'leads_90_enforce_limit')::int, 0, 'the lead limit is a statement trigger');
select is((select tgtype & 1 from pg_trigger where tgname = 'campaigns_enforce_limit')::int, 0, 'the campaign limit is a statement trigger');

-- The ultra tier allows 5,000 leads: 4,999 in one statement land (O(n): one lock, one count).
insert into app.leads (org_id, first_name, email)
select :'org_u', 'Bulk', 'bulk-' || g || '@example.com' from generate_series(1, 4999) g;
select is((select count(*)::int from app.leads where org_id = :'org_u'), 4999, 'one statement inserts 4,999 leads');
select is(tests.refusal(format($$ insert into app.leads (org_id, first_name, email) values (%L, 'X', 'x1@example.com'), (%L, 'Y', 'y1@example.com') $$, :'org_u', :'org_u')),
  'CR402 lead_limit_reached', 'a statement that would end one past the limit is refused whole');
select alike(tests.refusal_message(format($$ insert into app.leads (org_id, first_name, email) values (%L, 'X', 'x1@example.com'), (%L, 'Y', 'y1@example.com') $$, :'org_u', :'org_u')),
  '%allows 5000 leads and this workspace has 4999 (this request adds 2)%', 'the refusal counts what was there and what the request adds');
select is((select count(*)::int from app.leads where org_id = :'org_u'), 4999, 'nothing of the refused statement stays');
insert into app.leads (org_id, first_name, email) values (:'org_u', 'Last', 'last@example.com');
select is((select count(*)::int from app.leads where org_id = :'org_u'), 5000, 'the last lead the plan allows lands');

-- Campaigns: free allows 3; a statement of four is refused, three land.
select is(tests.refusal(format($$ insert into app.campaigns (org_id, name) select %L, 'C' || g from generate_series(1, 4) g $$, :'org_a')),
  'CR402 campaign_limit_reached', 'four campaigns in one statement on the free tier are refused');
insert into app.campaigns (org_id, name) select :'org_a', 'C' || g from generate_series(1, 3) g;
select is((select count(*)::int from app.campaigns where org_id = :'org_a'), 3, 'three land');

select * from finish();
rollback;
