-- Rate limits (GCRA buckets: burst, refill, retry-after; several buckets in order; signup's
-- keys; the per-key limit folded into authentication; the purge), fair share's slots and
-- statement timeout, and where a lead came from (source, created_by) with the bulk delete by
-- source. Time is passed in (p_now), so every number below is exact.
begin;
select plan(47);

-- ---------------------------------------------------------------------------
-- GCRA: 3 per 60 s is a burst of 3, then one every 20 s.
-- ---------------------------------------------------------------------------
create temporary table takes (step int primary key, allowed boolean, remaining int, reset_after int, retry_after int);
insert into takes select 1, * from app.take_rate_limit('test', 'a', 3, interval '60 seconds', 1, '2026-01-01 00:00:00+00');
insert into takes select 2, * from app.take_rate_limit('test', 'a', 3, interval '60 seconds', 1, '2026-01-01 00:00:00+00');
insert into takes select 3, * from app.take_rate_limit('test', 'a', 3, interval '60 seconds', 1, '2026-01-01 00:00:00+00');
insert into takes select 4, * from app.take_rate_limit('test', 'a', 3, interval '60 seconds', 1, '2026-01-01 00:00:00+00');
select is((select row(allowed, remaining, reset_after, retry_after)::text from takes where step = 1), row(true, 2, 20, 0)::text,
  'a new bucket lets the first request through: 2 left, full again in 20 s');
select is((select array_agg(allowed order by step) from takes where step <= 3), array[true, true, true], 'a burst of the limit goes through at once');
select is((select row(allowed, remaining, reset_after, retry_after)::text from takes where step = 3), row(true, 0, 60, 0)::text,
  'the last of the burst leaves 0, full again in a window');
select is((select row(allowed, remaining, retry_after)::text from takes where step = 4), row(false, 0, 20)::text,
  'the next is refused, to be retried in one emission interval (20 s)');
select is((select tat from app.rate_limit_buckets where scope = 'test' and key = 'a'), '2026-01-01 00:01:00+00'::timestamptz,
  'a refusal leaves the bucket as it was');

insert into takes select 5, * from app.take_rate_limit('test', 'a', 3, interval '60 seconds', 1, '2026-01-01 00:00:19+00');
insert into takes select 6, * from app.take_rate_limit('test', 'a', 3, interval '60 seconds', 1, '2026-01-01 00:00:20+00');
insert into takes select 7, * from app.take_rate_limit('test', 'a', 3, interval '60 seconds', 1, '2026-01-01 00:00:20+00');
select is((select row(allowed, retry_after)::text from takes where step = 5), row(false, 1)::text, '19 s later: still refused, 1 s to go');
select is((select row(allowed, remaining)::text from takes where step = 6), row(true, 0)::text, '20 s later: one request has refilled');
select is((select row(allowed, retry_after)::text from takes where step = 7), row(false, 20)::text, '… and only one');

insert into takes select 8, * from app.take_rate_limit('test', 'a', 3, interval '60 seconds', 1, '2026-01-01 00:05:00+00');
select is((select row(allowed, remaining, reset_after)::text from takes where step = 8), row(true, 2, 20)::text,
  'after a quiet spell the bucket is full again, never fuller');

insert into takes select 9, * from app.take_rate_limit('test', 'b', 10, interval '10 seconds', 4, '2026-01-01 00:00:00+00');
insert into takes select 10, * from app.take_rate_limit('test', 'b', 10, interval '10 seconds', 4, '2026-01-01 00:00:00+00');
insert into takes select 11, * from app.take_rate_limit('test', 'b', 10, interval '10 seconds', 4, '2026-01-01 00:00:00+00');
select is((select array_agg(row(allowed, remaining, retry_after)::text order by step) from takes where step between 9 and 11),
  array[row(true, 6, 0)::text, row(true, 2, 0)::text, row(false, 2, 2)::text],
  'a request may cost more than one: 4 + 4 of 10 go through, the next 4 wait until 2 more have refilled');
select is((select count(*)::int from app.rate_limit_buckets where scope = 'test' and key = 'a'), 1, 'buckets are per key: a and b apart');
select is(rtrim(tests.refusal($$ select app.take_rate_limit('test', 'c', 0, interval '1 minute') $$)), '22023',
  'a limit of 0 is a mistake of the caller''s, not a refusal');
select is(rtrim(tests.refusal($$ select app.take_rate_limit('test', 'c', 3, interval '1 minute', 4) $$)), '22023',
  'so is a request costing more than the whole limit');

-- ---------------------------------------------------------------------------
-- Several buckets: in order, stopping at the first refusal.
-- ---------------------------------------------------------------------------
select is((select array_agg(row(policy, quota, window_seconds, allowed)::text) from app.take_rate_limits(
  '[{"policy": "quiz-ip", "key": "198.51.100.7", "limit": 1, "window": 60}, {"policy": "quiz", "key": "slug-x", "limit": 5, "window": 60}]')),
  array[row('quiz-ip', 1, 60, true)::text, row('quiz', 5, 60, true)::text], 'both buckets are taken and reported, with their quota and window');
select is((select array_agg(row(policy, allowed)::text) from app.take_rate_limits(
  '[{"policy": "quiz-ip", "key": "198.51.100.7", "limit": 1, "window": 60}, {"policy": "quiz", "key": "slug-x", "limit": 5, "window": 60}]')),
  array[row('quiz-ip', false)::text], 'a refusal by the first ends it');
select is((select remaining from app.take_rate_limits('[{"policy": "quiz", "key": "slug-x", "limit": 5, "window": 60}]')), 3,
  'so the quiz''s bucket was not used by the refused request (5 - 1 - 1 = 3 left)');

-- ---------------------------------------------------------------------------
-- Signup: per IP, then per email domain; free mail per address, hashed.
-- ---------------------------------------------------------------------------
select is((select array_agg(policy order by policy) from app.take_signup_limits('203.0.113.9', 'Jane@Acme-RL.example', 5, 3600, 20, 3600)),
  array['signup-domain', 'signup-ip'], 'signup takes the IP''s and the domain''s buckets');
select ok(exists (select from app.rate_limit_buckets where scope = 'signup-domain' and key = 'domain:acme-rl.example'),
  'a company address counts against its domain (lower case)');
select app.take_signup_limits('203.0.113.10', 'Someone.RL@Gmail.com', 5, 3600, 20, 3600);
select ok(exists (select from app.rate_limit_buckets where scope = 'signup-domain'
                  and key = 'address:' || encode(sha256(convert_to('someone.rl@gmail.com', 'UTF8')), 'hex')),
  'a free-mail address counts on its own, kept as its SHA-256');
select ok(not exists (select from app.rate_limit_buckets where key like '%gmail%'), 'no free-mail domain or address is stored in clear');

-- ---------------------------------------------------------------------------
-- The per-key limit, in the statement that authenticates the key.
-- ---------------------------------------------------------------------------
select tests.create_org('limits-key') as org_k \gset
select id as key_k from app.api_keys where org_id = :'org_k' \gset
insert into app.api_keys (org_id, name, key_hash, key_prefix) values (:'org_k', 'second', app.hash_api_key('rcm_live_' || repeat('b', 64)), 'rcm_live_bbbbbbb');
select is((select row(org_id, tier, revoked, quota, window_seconds, allowed, remaining)::text
           from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('b', 64)))),
  row(:'org_k', 'free', false, 120, 60, true, 119)::text, 'a live key is found and takes from its bucket: the free plan''s 120 a minute');
select ok(exists (select from app.rate_limit_buckets b join app.api_keys k on k.id = b.key
                  where b.scope = 'api-key' and k.name = 'second' and k.org_id = :'org_k'),
  'the bucket is keyed by the key''s id, never by the key or its hash');
select is((select row(quota, window_seconds, remaining)::text from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('b', 64)),
  '{"free": {"limit": 5, "window": 10}}')), row(5, 10, 3)::text, 'a deployment''s override for the tier replaces the plan''s limit');
update app.orgs set tier = 'ultra' where id = :'org_k';
select is((select quota from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('b', 64)), '{"free": {"limit": 5, "window": 10}}')), 1200,
  'other tiers keep theirs (ultra: 1200)');
update app.api_keys set revoked_at = now() where org_id = :'org_k' and name = 'second';
select is((select row(revoked, quota, allowed)::text from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('b', 64)))),
  row(true, null, null)::text, 'a revoked key takes nothing');
select is_empty($$ select * from app.authenticate_request(app.hash_api_key('rcm_live_' || repeat('c', 64))) $$, 'an unknown key authenticates nothing');

-- ---------------------------------------------------------------------------
-- The purge keeps buckets that still hold something.
-- ---------------------------------------------------------------------------
select is(app.purge_rate_limit_buckets('2026-01-01 00:00:05+00'), 0, 'the purge keeps buckets that are not full again');
select ok(app.purge_rate_limit_buckets('2026-01-01 00:06:00+00') >= 2, 'and deletes those that are (test a, test b)');
select ok(not exists (select from app.rate_limit_buckets where scope = 'test'), 'both gone');

-- ---------------------------------------------------------------------------
-- Privileges: buckets are written only through the functions.
-- ---------------------------------------------------------------------------
select ok(not has_table_privilege('anon', 'app.rate_limit_buckets', 'select')
          and not has_table_privilege('authenticated', 'app.rate_limit_buckets', 'select'), 'callers cannot read the buckets');
select ok(not has_function_privilege('anon', 'app.take_rate_limit(text, text, integer, interval, integer, timestamptz)', 'execute')
          and not has_function_privilege('authenticated', 'app.take_rate_limit(text, text, integer, interval, integer, timestamptz)', 'execute'),
  'nobody but the service role takes a bucket of any scope directly (or sets the clock)');
select ok(not has_function_privilege('authenticated', 'app.take_rate_limits(jsonb)', 'execute'), 'a tenant cannot use up other callers'' buckets');
select is((select relpersistence from pg_class where oid = 'app.rate_limit_buckets'::regclass), 'u'::"char",
  'the buckets are unlogged: a crash only resets the limits');

-- ---------------------------------------------------------------------------
-- Fair share: a slot per expensive transaction and its statement timeout.
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_k');
select is(app.begin_expensive_work(2, 1500), 1, 'expensive work takes the org''s first slot');
select is(current_setting('statement_timeout'), '1500ms', '… and caps the rest of the transaction''s statements');
select ok(exists (select from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()
                  and classid::int = hashtext('expensive:' || :'org_k') and objid = 1 and objsubid = 2),
  'the slot is a transaction-scoped advisory lock on (the org, 1)');
set local statement_timeout = 0;
select tests.clear_authentication();
select is(rtrim(tests.refusal($$ select app.begin_expensive_work(2, null) $$)), '42501', 'only a request acting as an org takes a slot');

-- ---------------------------------------------------------------------------
-- Where a lead came from, whoever writes it; bulk delete by source.
-- ---------------------------------------------------------------------------
select tests.create_org('sources') as org_s \gset
select tests.create_org('sources-other') as org_o \gset
select set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'org_id', :'org_s', 'key_id', 'key_test')::text, true);
set local role authenticated;
select app.create_lead('{"firstName": "Api", "email": "api@example.com"}') as api_lead \gset
select tests.clear_authentication();
insert into app.leads (org_id, first_name, email) values (:'org_s', 'Studio', 'studio@example.com');
select set_config('request.jwt.claims', json_build_object('org_id', :'org_s', 'actor', 'quiz:quiz_x', 'source', 'quiz')::text, true);
select lead_id as quiz_lead from app.upsert_lead_by_email(:'org_s', 'taker1@example.com') \gset
select app.upsert_lead_by_email(:'org_s', 'taker2@example.com');
select set_config('request.jwt.claims', json_build_object('org_id', :'org_o', 'actor', 'quiz:quiz_y', 'source', 'quiz')::text, true);
select app.upsert_lead_by_email(:'org_o', 'taker3@example.com');
select tests.clear_authentication();
select is((select row(source, created_by)::text from app.leads where id = :'api_lead'), row('api', 'key_test')::text,
  'a lead made through the API records source api and the key');
select is((select row(source, created_by)::text from app.leads where id = :'quiz_lead'), row('quiz', 'quiz:quiz_x')::text,
  'a quiz''s lead records source quiz and the quiz');
select is((select source from app.leads where org_id = :'org_s' and email = 'studio@example.com'), 'sql', 'a lead inserted in SQL records sql');

select tests.authenticate_as(:'org_s');
select is(app.delete_leads_by_source('quiz', p_dry_run => true), 2, 'a dry run counts the org''s quiz leads');
select is(app.delete_leads_by_source('quiz'), 2, 'a soft delete removes them in one statement');
select is((select count(*)::int from app.leads where source = 'quiz' and deleted_at is not null), 2, '… soft-deleted, restorable');
select is(app.delete_leads_by_source('quiz', p_permanent => true), 2, 'a permanent delete takes the soft-deleted ones too');
select tests.clear_authentication();
select is((select array_agg(source order by source) from app.leads where org_id = :'org_s'), array['api', 'sql'],
  'the org''s other leads stay');
select is((select count(*)::int from app.leads where org_id = :'org_o' and source = 'quiz'), 1, 'another org''s quiz leads are untouched');

-- A source's leads are found through their index, whatever the other orgs hold.
select tests.create_org('sources-perf', 'pro') as org_p \gset
select tests.create_org('sources-perf-other', 'pro') as org_q \gset
insert into app.leads (org_id, first_name, email, source, created_by)
select o, 'Lead' || g, 'perf' || g || '@example.com', (array['api', 'quiz', 'sync_source', 'calendly'])[1 + g % 4], 'test'
from unnest(array[:'org_p', :'org_q']) o, generate_series(1, 900) g;
analyze app.leads;
select tests.authenticate_as(:'org_p');
set local enable_seqscan = off;
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.leads where source = 'quiz' and deleted_at is null order by created_at desc, id desc limit 50 $$) line)
  like '%leads_org_source_idx%', 'listing a source''s leads uses leads_org_source_idx');
select tests.clear_authentication();

select * from finish();
rollback;
