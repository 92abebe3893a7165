-- Meeting bots left 'scheduling' (the process died between the webhook's commit and recording
-- Recall's answer) are marked 'failed' by app.fail_interrupted_meeting_bots, on a fixed clock:
-- only after the bound, in every org, with a note on the meeting and its booking touchpoint,
-- and no org learns anything of another's.
begin;
select plan(15);

select tests.create_org('sweep-a') as org_a \gset
select tests.create_org('sweep-b') as org_b \gset
select repeat('c', 48) as token_a, repeat('d', 48) as token_b \gset
select now() + interval '9 minutes' as early, now() + interval '11 minutes' as late \gset

select tests.authenticate_as(:'org_a');
select app.save_calendly_connection(:'token_a', repeat('k', 64), 'Y2lwaGVydGV4dC1h', '{"uri": "https://api.calendly.com/users/A"}',
  'https://api.calendly.com/webhook_subscriptions/A1');
select tests.authenticate_as(:'org_b');
select app.save_calendly_connection(:'token_b', repeat('j', 64), 'Y2lwaGVydGV4dC1i', '{"uri": "https://api.calendly.com/users/B"}',
  'https://api.calendly.com/webhook_subscriptions/B1');
select tests.clear_authentication();

-- Bookings with a video link and bots enabled: each meeting's bot starts 'scheduling'.
create function pg_temp.book(p_token text, p_invitee text) returns jsonb language plpgsql as $$
declare
  v_result jsonb;
begin
  perform tests.authenticate_as_anon();
  v_result := app.ingest_calendly_event(p_token, 'invitee.created', jsonb_build_object('event', 'invitee.created', 'payload',
    jsonb_build_object('uri', 'https://api.calendly.com/scheduled_events/E/invitees/' || p_invitee,
      'email', p_invitee || '@example.com', 'name', 'Jane Public',
      'scheduled_event', jsonb_build_object('uri', 'https://api.calendly.com/scheduled_events/E', 'name', 'Call',
        'start_time', '2030-01-10T15:00:00Z', 'location', jsonb_build_object('type', 'zoom', 'join_url', 'https://zoom.us/j/1')))), true);
  perform tests.clear_authentication();
  return v_result;
end;
$$;
grant execute on all functions in schema pg_temp to anon, authenticated;

select pg_temp.book(:'token_a', 'IA1') as stuck_a \gset
select pg_temp.book(:'token_a', 'IA2') as settled_a \gset
select pg_temp.book(:'token_b', 'IB1') as stuck_b \gset
select tests.authenticate_as_anon();
select app.record_meeting_bot(:'token_a', :'settled_a'::jsonb ->> 'meetingId', 'scheduled', 'bot-settled', 'scheduled');
select tests.clear_authentication();
select is((select count(*)::int from app.meetings where bot_status = 'scheduling' and org_id in (:'org_a', :'org_b')), 2,
  'arranged: two bots are left scheduling, one in each org');

-- Privileges: a system job, never a tenant's call.
select ok(not has_function_privilege('authenticated', 'app.fail_interrupted_meeting_bots(interval, timestamptz)', 'execute'), 'tenants cannot run the sweep');
select ok(not has_function_privilege('anon', 'app.fail_interrupted_meeting_bots(interval, timestamptz)', 'execute'), 'anon cannot run the sweep');
select ok(exists (select from app.scheduled_jobs where name = 'fail-interrupted-meeting-bots' and command = 'select app.fail_interrupted_meeting_bots()'),
  'the sweep is a declared pg_cron job');

-- The bound.
select is(app.fail_interrupted_meeting_bots(p_now => :'early'), 0, 'a bot scheduling for 9 minutes is left alone (it may still be on its way)');
select is(app.fail_interrupted_meeting_bots(p_now => :'late'), 2, 'after 10 minutes both interrupted bots are failed, in every org');
select is(app.fail_interrupted_meeting_bots(p_now => :'late'), 0, 'a second run finds nothing left');

-- What the agent sees.
select is((select bot_status from app.meetings where id = :'stuck_a'::jsonb ->> 'meetingId'), 'failed', 'the meeting''s bot is failed');
select matches((select bot_note from app.meetings where id = :'stuck_a'::jsonb ->> 'meetingId'),
  '^no meeting bot scheduled: scheduling was interrupted.*Recall dashboard', 'its note says scheduling was interrupted and what to do');
select is((select metadata -> 'meetingBot' ->> 'status' from app.touchpoints where id = :'stuck_b'::jsonb ->> 'touchpointId'), 'failed',
  'the booking touchpoint says so too');
select is((select bot_status || '/' || bot_id from app.meetings where id = :'settled_a'::jsonb ->> 'meetingId'), 'scheduled/bot-settled',
  'a bot whose answer was recorded is untouched');

-- An answer recorded after the sweep (the process was only slow) still wins.
select tests.authenticate_as_anon();
select app.record_meeting_bot(:'token_b', :'stuck_b'::jsonb ->> 'meetingId', 'scheduled', 'bot-late', 'scheduled');
select tests.clear_authentication();
select is((select bot_status from app.meetings where id = :'stuck_b'::jsonb ->> 'meetingId'), 'scheduled', 'a late answer from Recall replaces the failure');

-- Tenancy of what was written.
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.meetings where org_id = :'org_a'), 0, 'org B sees none of org A''s meetings');
select is((select count(*)::int from app.touchpoints where metadata -> 'meetingBot' ->> 'status' = 'failed'), 0,
  'nor any of org A''s failed-bot touchpoints');
select tests.clear_authentication();

set local enable_seqscan = off;
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.meetings where bot_status = 'scheduling' and updated_at < now() $$) line)
  like '%meetings_bot_scheduling_idx%', 'the sweep finds its meetings through the partial index');

select * from finish();
rollback;
