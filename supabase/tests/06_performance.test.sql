-- The queries the API runs most are served by indexes that lead with org_id.
begin;
select plan(9);

select tests.create_org('perf', 'pro') as org \gset
select tests.create_org('perf-other', 'pro') as other \gset
-- Realistic volume in two orgs so the planner's choice means something.
insert into app.leads (org_id, first_name, email, organization_name, tier, status, deleted_at)
select o, 'Lead' || g, 'lead' || g || '@example' || g || '.com', 'Company ' || g,
       (array['high', 'medium', 'low'])[1 + g % 3], case when g % 50 = 1 then 'won' else 'new' end,
       case when g % 10 = 0 then now() end
from unnest(array[:'org', :'other']) o, generate_series(1, 900) g;
analyze app.leads;
select tests.authenticate_as(:'org');
set local enable_seqscan = off;

select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.leads where deleted_at is null order by created_at desc, id desc limit 50 $$) line)
  like '%leads_org_created_idx%', 'the lead list uses leads_org_created_idx');
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.leads where email_key = lower('A@example.com') and deleted_at is null $$) line)
  like '%leads_org_email_key%', 'finding a lead by email uses leads_org_email_key');
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.leads where deleted_at is not null order by deleted_at desc limit 50 $$) line)
  like '%leads_org_deleted_idx%', 'the deleted-leads list uses leads_org_deleted_idx');
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.leads where search_text like '%acme%' and deleted_at is null $$) line)
  ~ 'Index Cond: \(org_id = ', 'search is confined to the org''s rows by an org_id index');
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.leads where status = 'won' and deleted_at is null $$) line)
  like '%leads_org_status_idx%', 'the status filter uses leads_org_status_idx');

-- Lookups by id. A tenant's go through the primary key (org_id, id), the org coming from
-- row-level security; the mail worker, the operator and the inbound webhook know no org,
-- so those tables keep a plain index on id.
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.leads where id = 'rp_x' $$) line)
  ~ 'leads_pkey.*\n.*Index Cond: \(\(org_id = .*\) AND \(id = ', 'a tenant finds a lead by id through leads_pkey (org_id, id)');
select tests.clear_authentication();
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.outbox where id = 'msg_x' $$) line)
  like '%outbox_id_idx%', 'the mail worker finds an outbox row by id alone through outbox_id_idx');
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.feedback where id = 'fb_x' $$) line)
  like '%feedback_id_idx%', 'the operator finds feedback by id alone through feedback_id_idx');
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.sync_sources where id = 'ss_x' $$) line)
  like '%sync_sources_id_idx%', 'the inbound webhook finds its sync source by id alone through sync_sources_id_idx');

select * from finish();
rollback;
