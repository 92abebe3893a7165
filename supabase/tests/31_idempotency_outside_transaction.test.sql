-- Idempotency-Key claimed ahead of work that holds no transaction (connecting Calendly):
-- the claim is committed unfinished, a duplicate meanwhile is told it is in progress, a
-- failure releases it, a stored answer replays, an abandoned claim is taken over after
-- 5 minutes, and no org touches another's keys.
begin;
select plan(12);

select tests.create_org('idem-net-a') as org_a \gset
select tests.create_org('idem-net-b') as org_b \gset
select '/api/openclaw/integrations/calendly' as path \gset

select tests.authenticate_as(:'org_a');
select is((select outcome from app.start_idempotent_request('k1', 'POST', :'path', 'h1')), 'new', 'a first use claims the key');
select is((select outcome from app.start_idempotent_request('k1', 'POST', :'path', 'h1')), 'in_progress',
  'the same request while the first has no answer yet is told it is in progress');
select is((select outcome from app.start_idempotent_request('k1', 'POST', :'path', 'h2')), 'mismatch',
  'another body under the same key is a mismatch, finished or not');
select is((select outcome from app.start_idempotent_request('k1', 'POST', :'path', 'h1', now() + interval '4 minutes')), 'in_progress',
  'an unfinished claim younger than 5 minutes is not taken over');
select is((select outcome from app.start_idempotent_request('k1', 'POST', :'path', 'h1', now() + interval '6 minutes')), 'new',
  'an unfinished claim older than 5 minutes was abandoned: it is taken over');

select ok(app.release_idempotency_key('k1'), 'a failed request releases its claim');
select is((select outcome from app.start_idempotent_request('k1', 'POST', :'path', 'h2')), 'new', 'so a retry (even with another body) runs again');

select app.complete_idempotency_key('k1', 201, '{"connected": true}');
select is((select row(outcome, response_status, response_body)::text from app.start_idempotent_request('k1', 'POST', :'path', 'h2')),
  '(replay,201,"{""connected"": true}")', 'once answered, the same request replays the stored answer');
select ok(not app.release_idempotency_key('k1'), 'a stored answer is never released');
select is((select outcome from app.start_idempotent_request('k1', 'POST', :'path', 'h2', now() + interval '1 hour')), 'replay',
  'nor taken over as abandoned');

-- Tenancy: org B neither sees, releases nor is blocked by org A's keys.
select tests.authenticate_as(:'org_a');
select app.start_idempotent_request('k2', 'POST', :'path', 'h1');
select tests.authenticate_as(:'org_b');
select ok(not app.release_idempotency_key('k2') and (select count(*) from app.idempotency_keys) = 0,
  'org B cannot see or release org A''s unfinished claim');
select is((select outcome from app.start_idempotent_request('k2', 'POST', :'path', 'h9')), 'new', 'and claims the same key value for itself');
select tests.clear_authentication();

select * from finish();
rollback;
