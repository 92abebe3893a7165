-- Idempotency keys and the scheduled jobs.
begin;
select plan(10);

select tests.create_org('idem') as org \gset
select tests.authenticate_as(:'org');

select is((select outcome from app.claim_idempotency_key('k1', 'POST', '/api/openclaw/leads', 'h1')), 'new', 'a first use claims the key');
select app.complete_idempotency_key('k1', 201, '{"id":"rp_1"}');
select is((select row(outcome, response_status, response_body)::text from app.claim_idempotency_key('k1', 'POST', '/api/openclaw/leads', 'h1')),
  '(replay,201,"{""id"": ""rp_1""}")', 'the same request replays the stored answer');
select is((select outcome from app.claim_idempotency_key('k1', 'POST', '/api/openclaw/leads', 'h2')), 'mismatch',
  'the same key with another body is a mismatch');
select is((select outcome from app.claim_idempotency_key('k1', 'POST', '/api/openclaw/setup', 'h1')), 'mismatch',
  'the same key on another path is a mismatch');

select tests.clear_authentication();
update app.idempotency_keys set created_at = now() - interval '25 hours' where org_id = :'org';
select tests.authenticate_as(:'org');
select is((select outcome from app.claim_idempotency_key('k1', 'POST', '/api/openclaw/leads', 'h3')), 'new',
  'a key older than 24 hours is claimed afresh');
select tests.clear_authentication();

update app.idempotency_keys set created_at = now() - interval '25 hours' where org_id = :'org';
select is(app.purge_idempotency_keys(), 1, 'the purge deletes keys older than 24 hours');

select is((select schedule from cron.job where jobname = 'purge-idempotency-keys'), '17 * * * *', 'the purge runs hourly under pg_cron');
select is(app.schedule_jobs(), (select count(*)::int from app.scheduled_jobs), 'schedule_jobs registers every job in app.scheduled_jobs');
select is((select count(*)::int from cron.job where jobname = 'purge-idempotency-keys'), 1, 'registering jobs again does not duplicate them');
select is_empty($$ select name from app.scheduled_jobs except select jobname from cron.job $$, 'every declared job is registered with pg_cron');

select * from finish();
rollback;
