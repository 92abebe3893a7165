-- app.schedule_mail_worker_http: only the service role may call it; without pg_net it
-- refuses clearly (and schedules nothing); with pg_net's net.http_post (a stand-in here, since
-- pg_net is not installed locally) it registers the every-minute job 'mail-worker-http',
-- whose command holds neither the URL nor the secret: app.run_mail_worker_http() reads them
-- from the private store (app_private, which no API role may read) or, where Supabase Vault
-- exists, the secret from vault.decrypted_secrets. Calling it again replaces both (rotation).
--
-- Supabase Vault (the supabase_vault extension) is not available from Debian: the Vault case
-- runs against a stand-in with Vault's documented objects (vault.create_secret,
-- vault.update_secret, vault.decrypted_secrets; no encryption), which checks which calls this
-- code makes, not Vault itself.
begin;
select plan(27);

\set url 'https://abc.supabase.co/functions/v1/openclaw/api/openclaw/internal/mail/run'
\set secret '0123456789abcdef0123456789abcdef0123456789abcdef'
\set rotated 'fedcba9876543210fedcba9876543210fedcba9876543210'

select ok(has_function_privilege('service_role', 'app.schedule_mail_worker_http(text, text)', 'execute'), 'service_role may schedule the HTTP mail worker');
select ok(not has_function_privilege('authenticated', 'app.schedule_mail_worker_http(text, text)', 'execute'), 'authenticated may not');
select ok(not has_function_privilege('anon', 'app.schedule_mail_worker_http(text, text)', 'execute'), 'anon may not');
select ok(not has_function_privilege('service_role', 'app.run_mail_worker_http()', 'execute'),
  'no API role may run the job''s post itself (it sends the secret): only its owner, as pg_cron does');

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

-- Without Vault: the private store.
select is(app._vault_available(), false, 'Vault is not installed in the test database');
select is(app.schedule_mail_worker_http(:'url', :'secret'), 'mail-worker-http', 'with pg_net it answers the job name');
select is((select schedule from app.scheduled_jobs where name = 'mail-worker-http'), '* * * * *', 'the job runs every minute');
select is((select command from cron.job where jobname = 'mail-worker-http'), 'select app.run_mail_worker_http()',
  'pg_cron has the job, and its command is only the call');
select is_empty(format($$ select name from app.scheduled_jobs where command like '%%' || %L || '%%'
                          union all select jobname from cron.job where command like '%%' || %L || '%%' $$, :'secret', :'secret'),
  'neither app.scheduled_jobs nor cron.job holds the secret');
select results_eq($$ select url, secret from app_private.mail_worker_http $$, format($$ values (%L, %L) $$, :'url', :'secret'),
  'the URL and the secret are in the private store');

select ok(not has_schema_privilege(r, 'app_private', 'usage'), format('%s may not use schema app_private', r))
from unnest(array['anon', 'authenticated', 'service_role']) r;
select ok(not has_table_privilege('authenticated', 'app_private.mail_worker_http', 'select')
       and not has_table_privilege('anon', 'app_private.mail_worker_http', 'select')
       and not has_table_privilege('service_role', 'app_private.mail_worker_http', 'select'),
  'no API role may read the private store''s table');
select tests.authenticate_as(tests.create_org('reader'));
select throws_ok('select secret from app_private.mail_worker_http', '42501', null, 'a workspace''s session cannot read it');
select tests.clear_authentication();

select lives_ok((select command from cron.job where jobname = 'mail-worker-http'), 'the job''s command runs');
select results_eq($$ select url, body, headers ->> 'x-worker-secret', timeout_milliseconds from pg_temp.posted $$,
  format($$ values (%L::text, '{}'::jsonb, %L::text, 55000) $$, :'url', :'secret'),
  'it posts to the route with the secret in x-worker-secret');

-- Rotation: calling again replaces the URL and the secret; the next run sends the new one.
select app.schedule_mail_worker_http(replace(:'url', 'abc', 'xyz'), :'rotated');
delete from pg_temp.posted;
select app.run_mail_worker_http();
select results_eq($$ select url, headers ->> 'x-worker-secret' from pg_temp.posted $$,
  format($$ values (%L::text, %L::text) $$, replace(:'url', 'abc', 'xyz'), :'rotated'),
  'calling it again replaces the URL and the secret: the next run posts the new ones, and only them');

-- With Vault (a stand-in, see the top): the secret goes to Vault, the private row keeps only the URL.
create schema vault;
create table vault.secrets (id uuid primary key default gen_random_uuid(), name text unique, description text not null default '',
                            secret text not null, created_at timestamptz not null default now(), updated_at timestamptz not null default now());
create view vault.decrypted_secrets as select s.id, s.name, s.description, s.secret, s.secret as decrypted_secret, s.created_at, s.updated_at from vault.secrets s;
create function vault.create_secret(new_secret text, new_name text default null, new_description text default '', new_key_id uuid default null)
  returns uuid language sql as $$ insert into vault.secrets (secret, name, description) values (new_secret, new_name, new_description) returning id $$;
create function vault.update_secret(secret_id uuid, new_secret text default null, new_name text default null,
                                    new_description text default null, new_key_id uuid default null)
  returns void language sql as $$ update vault.secrets set secret = coalesce(new_secret, secret), updated_at = now() where id = secret_id $$;

select app.schedule_mail_worker_http(:'url', :'secret');
select results_eq($$ select name, decrypted_secret from vault.decrypted_secrets $$,
  format($$ values ('openclaw_mail_worker_secret'::text, %L::text) $$, :'secret'), 'with Vault, the secret is kept in Vault under its name');
select results_eq($$ select url, secret from app_private.mail_worker_http $$, format($$ values (%L, null::text) $$, :'url'),
  '… and the private store keeps only the URL');
select app.schedule_mail_worker_http(:'url', :'rotated');
select results_eq($$ select count(*)::integer, min(decrypted_secret) from vault.decrypted_secrets $$,
  format($$ values (1, %L::text) $$, :'rotated'), 'rotating updates the one Vault secret in place');
delete from pg_temp.posted;
select app.run_mail_worker_http();
select is((select headers ->> 'x-worker-secret' from pg_temp.posted), :'rotated', 'the job''s run reads the secret from Vault');

select * from finish();
rollback;
