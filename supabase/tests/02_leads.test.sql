-- Leads: one live lead per org and email, soft-delete visibility, default stage, the
-- plan's lead limit, and the merge used by PATCH.
begin;
select plan(22);

select tests.create_org('leads-a') as org_a \gset
select tests.create_org('leads-b') as org_b \gset
select tests.authenticate_as(:'org_a');

-- Ids and defaults
select tests.create_lead(:'org_a', 'Jane@Example.com') as jane \gset
select matches(:'jane'::text, '^rp_[0-9a-f]{24}$', 'lead ids are rp_ followed by 24 hex digits');
select is((select s.is_default from app.leads l join app.stages s on s.id = l.stage_id where l.id = :'jane'), true,
  'a lead created without a stage lands in the default stage');
select is((select org_id from app.leads where id = :'jane'), :'org_a'::text, 'org_id defaults to the caller''s org');
select is((select status from app.leads where id = :'jane'), 'new', 'status defaults to new');

-- Email uniqueness
select throws_ok($$ insert into app.leads (first_name, email) values ('Dup', 'jane@example.COM') $$,
  '23505', null, 'the same email in another case is refused in the same org');
select throws_like($$ insert into app.leads (first_name, email) values ('Dup', 'jane@example.com') $$,
  '%leads_org_email_key%', 'the refusal names leads_org_email_key');
select tests.clear_authentication();
select tests.authenticate_as(:'org_b');
select lives_ok($$ select tests.create_lead(current_setting('request.jwt.claims')::jsonb ->> 'org_id', 'jane@example.com') $$,
  'another org may have a lead with the same email');
select tests.clear_authentication();
select tests.authenticate_as(:'org_a');

-- Soft delete
update app.leads set deleted_at = now() where id = :'jane';
select is((select count(*)::int from app.leads where deleted_at is null), 0, 'a soft-deleted lead is not live');
select is((select count(*)::int from app.leads where id = :'jane'), 1, 'a soft-deleted lead is still stored (recoverable)');
select tests.create_lead(:'org_a', 'jane@example.com') as jane2 \gset
select isnt(:'jane2'::text, :'jane'::text, 'a new lead may reuse the email of a soft-deleted one');
select throws_ok(format($$ update app.leads set deleted_at = null where id = %L $$, :'jane'),
  '23505', null, 'restoring a lead whose email is live again is refused');
select is((select leads from app.org_tier()), 2, 'soft-deleted leads count against the plan');
select is((select deleted_leads from app.org_tier()), 1, 'org_tier reports soft-deleted leads separately');

-- Stage lookup
select is(app.resolve_stage('prospects'), (select id from app.stages where name = 'Prospects'), 'stages resolve by name, case-insensitively');
select throws_like($$ select app.resolve_stage('Nope') $$, '%No stage named%', 'an unknown stage is refused');
select throws_ok($$ select app.resolve_stage('Nope') $$, 'CR400', null, 'an unknown stage is a 400 refusal');

-- updated_at
select is((select updated_at > created_at from app.leads where id = :'jane'), false, 'updated_at starts at created_at');

-- PATCH merge
select is(app.jsonb_merge_patch('{"a":1,"b":2}', '{"b":3,"c":4}'), '{"a":1,"b":3,"c":4}'::jsonb, 'merge overwrites and adds keys');
select is(app.jsonb_merge_patch('{"a":1,"b":2}', '{"a":null}'), '{"b":2}'::jsonb, 'merge removes keys set to null');

-- Tier limit: free allows 100 leads in all (soft-deleted included); 2 exist already.
select tests.clear_authentication();
select tests.authenticate_as(:'org_a');
insert into app.leads (first_name, email) select 'Bulk', 'bulk-' || g || '@example.com' from generate_series(1, 98) g;
select is((select count(*)::int from app.leads), 100, 'an org on the free tier can hold 100 leads');
select throws_ok($$ insert into app.leads (first_name, email) values ('One', 'one-too-many@example.com') $$,
  'CR402', 'Lead limit reached: the free tier allows 100 leads and this workspace has 100',
  'the 101st lead is refused, naming tier and limit');
select tests.clear_authentication();
update app.orgs set tier = 'pro' where id = :'org_a';
select tests.authenticate_as(:'org_a');
select lives_ok($$ insert into app.leads (first_name, email) values ('Pro', 'pro@example.com') $$,
  'after an upgrade to pro the org can add more leads');

select * from finish();
rollback;
