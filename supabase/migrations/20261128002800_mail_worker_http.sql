-- On Supabase nothing runs `npm run worker`: pg_cron calls the Edge Function's
-- POST /api/openclaw/internal/mail/run through pg_net every minute instead, and the
-- function runs one worker tick (claim, send, record). Called once after deploy:
--   select app.schedule_mail_worker_http('https://<ref>.supabase.co/functions/v1/openclaw/api/openclaw/internal/mail/run', '<MAIL_WORKER_SECRET>');
-- Calling it again replaces the job (new URL or secret). The job is kept in
-- app.scheduled_jobs like every other, so later migrations' app.schedule_jobs() keep it.

create function app.schedule_mail_worker_http(p_url text, p_secret text) returns text
  language plpgsql
  -- Writes app.scheduled_jobs and registers the pg_cron job, which its caller may not.
  security definer
  set search_path = ''
  as $$
  declare
    v_command text;
  begin
    -- pg_net's net.http_post, by signature (the extension lives in schema net).
    if pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
      perform app.refuse(400, 'pg_net_not_installed',
        'The pg_net extension is not installed in this database, so pg_cron cannot call the mail worker over HTTP',
        'On Supabase enable pg_net (Database → Extensions, or: create extension pg_net;) and call this again. Without pg_net run the worker as a process instead: npm run worker.');
    end if;
    if pg_catalog.to_regnamespace('cron') is null then
      perform app.refuse(400, 'pg_cron_not_installed',
        'The pg_cron extension is not installed in this database, so nothing would call the mail worker',
        'Enable pg_cron (Database → Extensions) and call this again, or run npm run worker instead.');
    end if;
    if p_url is null or p_url !~ '^https?://[^/\s]+/\S*internal/mail/run$' then
      perform app.refuse(400, 'invalid_url',
        pg_catalog.format('%s is not the mail worker route''s URL', coalesce(p_url, 'null')),
        'Pass https://<ref>.supabase.co/functions/v1/openclaw/api/openclaw/internal/mail/run.');
    end if;
    if p_secret is null or pg_catalog.length(p_secret) < 32 then
      perform app.refuse(400, 'invalid_secret', 'The secret must be the function''s MAIL_WORKER_SECRET (at least 32 characters)',
        'Generate one (openssl rand -hex 32), set it with supabase secrets set MAIL_WORKER_SECRET=…, and pass the same value here.');
    end if;
    v_command := pg_catalog.format(
      'select net.http_post(url := %L, body := %L::jsonb, headers := %L::jsonb, timeout_milliseconds := 55000)',
      p_url, '{}', pg_catalog.jsonb_build_object('content-type', 'application/json', 'x-worker-secret', p_secret)::text);
    insert into app.scheduled_jobs (name, schedule, command) values ('mail-worker-http', '* * * * *', v_command)
      on conflict (name) do update set schedule = excluded.schedule, command = excluded.command;
    perform app.schedule_jobs();
    return 'mail-worker-http';
  end;
  $$;
comment on function app.schedule_mail_worker_http(text, text) is
  'Registers the pg_cron job mail-worker-http: every minute net.http_post to the Edge Function''s mail worker route with x-worker-secret; refuses without pg_net or pg_cron. Returns the job name.';
revoke execute on function app.schedule_mail_worker_http(text, text) from public;
grant execute on function app.schedule_mail_worker_http(text, text) to service_role;
