-- app.schedule_mail_worker_http: only the service role may call it; without pg_net it
-- refuses clearly (and schedules nothing); with pg_net's net.http_post (a stand-in here, since
-- pg_net is not installed locally) it registers the every-minute job 'mail-worker-http' that
-- posts to the given URL with the x-worker-secret header, replacing an earlier registration.
begin;
select plan(14);

\set url 'https://abc.supabase.co/functions/v1/openclaw/api/openclaw/internal/mail/run'
\set secret '0123456789abcdef0123456789abcdef0123456789abcdef'

select ok(has_function_privilege('service_role', 'app.schedule_mail_worker_http(text, text)', 'execute'), 'service_role may schedule the HTTP mail worker');
select ok(not has_function_privilege('authenticated', 'app.schedule_mail_worker_http(text, text)', 'execute'), 'authenticated may not');
select ok(not has_function_privilege('anon', 'app.schedule_mail_worker_http(text, text)', 'execute'), 'anon may not');

select is(to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)'), null, 'pg_net is not installed in the test database');
select throws_like(format('select app.schedule_mail_worker_http(%L, %L)', :'url', :'secret'),
  '%pg_net extension is not installed%', 'without pg_net it refuses, naming pg_net');
select is((select count(*)::integer from app.scheduled_jobs where name = 'mail-worker-http'), 0, '… and registers nothing');

-- A stand-in for pg_net with its signature, recording what the job's command posts.
create schema net;
create table pg_temp.posted (url text, body jsonb, headers jsonb, timeout_milliseconds integer);
create function net.http_post(url text, body jsonb default '{}', params jsonb default '{}',
                              headers jsonb default '{"Content-Type": "application/json"}', timeout_milliseconds integer default 1000)
  returns bigint language sql as $$
    insert into pg_temp.posted values (url, body, headers, timeout_milliseconds);
    select 1::bigint;
  $$;

select throws_like(format('select app.schedule_mail_worker_http(%L, %L)', 'https://abc.supabase.co/functions/v1/openclaw', :'secret'),
  '%is not the mail worker route%', 'a URL that is not the route is refused');
select throws_like(format('select app.schedule_mail_worker_http(%L, %L)', :'url', 'short'),
  '%at least 32 characters%', 'a short secret is refused');

select is(app.schedule_mail_worker_http(:'url', :'secret'), 'mail-worker-http', 'with pg_net it answers the job name');
select is((select schedule from app.scheduled_jobs where name = 'mail-worker-http'), '* * * * *', 'the job runs every minute');
select is((select count(*)::integer from cron.job where jobname = 'mail-worker-http'), 1, 'pg_cron has the job');

select lives_ok((select command from cron.job where jobname = 'mail-worker-http'), 'the job''s command runs');
select results_eq($$ select url, body, headers ->> 'x-worker-secret', timeout_milliseconds from pg_temp.posted $$,
  format($$ values (%L::text, '{}'::jsonb, %L::text, 55000) $$, :'url', :'secret'),
  'it posts to the route with the secret in x-worker-secret');

select app.schedule_mail_worker_http(replace(:'url', 'abc', 'xyz'), :'secret');
select is((select count(*)::integer from cron.job where jobname = 'mail-worker-http' and command like '%xyz.supabase.co%'), 1,
  'calling it again replaces the job');

select * from finish();
rollback;
