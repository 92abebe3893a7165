-- Calendly and meeting bots: tenancy of connections, deliveries and meetings (the signing key
-- unreadable even to its own org), privileges, and the SQL functions behind the webhooks:
-- ingest (lead by email, touchpoint, meeting, event; idempotent per invitee event), the
-- bot bookkeeping and the transcript note.
begin;
select plan(33);

select tests.create_org('cal-a') as org_a \gset
select tests.create_org('cal-b') as org_b \gset
select repeat('a', 48) as token_a, repeat('b', 48) as token_b \gset

-- Connect both orgs as they would (the edge encrypts the token; here any ciphertext will do).
select tests.authenticate_as(:'org_a');
select is(app.save_calendly_connection(:'token_a', repeat('k', 64), 'Y2lwaGVydGV4dC1h',
  '{"uri": "https://api.calendly.com/users/A", "name": "Ann", "email": "ann@a.com", "current_organization": "https://api.calendly.com/organizations/A"}',
  'https://api.calendly.com/webhook_subscriptions/A1'),
  '{"previousSubscriptionUri": null, "previousTokenCiphertext": null}'::jsonb, 'a first connection replaces nothing');
select is(app.save_calendly_connection(:'token_a', repeat('k', 64), 'Y2lwaGVydGV4dC1h',
  '{"uri": "https://api.calendly.com/users/A", "name": "Ann"}', 'https://api.calendly.com/webhook_subscriptions/A2') ->> 'previousSubscriptionUri',
  'https://api.calendly.com/webhook_subscriptions/A1', 'reconnecting returns the replaced subscription');
select is((select count(*)::int from app.calendly_connections), 1, 'one connection per org');
select throws_ok($$select signing_key from app.calendly_connections$$, '42501', null, 'the signing key is not readable by its own org');
select tests.clear_authentication();
select tests.authenticate_as(:'org_b');
select app.save_calendly_connection(:'token_b', repeat('j', 64), 'Y2lwaGVydGV4dC1i', '{"uri": "https://api.calendly.com/users/B"}',
  'https://api.calendly.com/webhook_subscriptions/B1');
select is((select count(*)::int from app.calendly_connections), 1, 'org B sees only its own connection');
select is((select org_id from app.calendly_connections), :'org_b', 'and it is B''s');
delete from app.calendly_connections where org_id = :'org_a';
select tests.clear_authentication();
select is((select count(*)::int from app.calendly_connections where org_id = :'org_a'), 1, 'org B cannot delete org A''s connection');

-- Privileges.
select ok(has_function_privilege('anon', 'app.calendly_signing_key(text)', 'execute'), 'anon may look up a signing key by token');
select ok(has_function_privilege('anon', 'app.ingest_calendly_event(text, text, jsonb, boolean)', 'execute'), 'anon may ingest (after the edge verified the signature)');
select ok(not has_function_privilege('authenticated', 'app.ingest_calendly_event(text, text, jsonb, boolean)', 'execute'), 'tenants cannot forge deliveries');
select ok(not has_function_privilege('anon', 'app.save_calendly_connection(text, text, text, jsonb, text)', 'execute'), 'anon cannot connect');
select ok(not has_function_privilege('authenticated', 'app.store_meeting_transcript(text, text)', 'execute'), 'tenants cannot write transcripts through the bot path');

-- A booking, as the webhook edge sends it.
create function pg_temp.deliver(p_token text, p_event text, p_payload jsonb, p_bots boolean default false) returns jsonb language plpgsql as $$
declare
  v_result jsonb;
begin
  perform tests.authenticate_as_anon();
  v_result := app.ingest_calendly_event(p_token, p_event, p_payload, p_bots);
  perform tests.clear_authentication();
  return v_result;
end;
$$;
grant execute on all functions in schema pg_temp to anon, authenticated;

select '{"event": "invitee.created", "payload": {"uri": "https://api.calendly.com/scheduled_events/E1/invitees/I1",
  "email": "Jane@Example.com", "name": "Jane Q Public", "created_at": "2026-01-05T10:00:00Z",
  "cancel_url": "https://calendly.com/cancellations/I1", "reschedule_url": "https://calendly.com/reschedulings/I1",
  "scheduled_event": {"uri": "https://api.calendly.com/scheduled_events/E1", "name": "Discovery Call",
    "start_time": "2030-01-10T15:00:00Z", "end_time": "2030-01-10T15:30:00Z",
    "location": {"type": "zoom", "join_url": "https://zoom.us/j/123"}}}}' as booking \gset

select pg_temp.deliver(:'token_a', 'invitee.created', :'booking') as booked \gset
select is(:'booked'::jsonb ->> 'outcome', 'created', 'a booking from a new email creates the lead');
select is((select first_name || ' ' || last_name from app.leads where id = :'booked'::jsonb ->> 'leadId'), 'Jane Q Public', 'the name is split into first and last');
select is((select org_id from app.leads where id = :'booked'::jsonb ->> 'leadId'), :'org_a', 'the lead belongs to the token''s org');
select is((select type || '/' || occurred_at::text from app.touchpoints where id = :'booked'::jsonb ->> 'touchpointId'),
  'meeting/2026-01-05 10:00:00+00', 'a meeting touchpoint at the booking time');
select is((select metadata ->> 'startTime' from app.touchpoints where id = :'booked'::jsonb ->> 'touchpointId'), '2030-01-10T15:00:00Z', 'its metadata holds the start time');
select is((select metadata -> 'meetingBot' ->> 'note' from app.touchpoints where id = :'booked'::jsonb ->> 'touchpointId'),
  'no meeting bot scheduled: RECALL_API_KEY is not set', 'and says why no bot was scheduled');
select is((select count(*)::int from app.events where org_id = :'org_a' and type = 'meeting_booked' and external_id = 'https://api.calendly.com/scheduled_events/E1/invitees/I1'),
  1, 'meeting_booked is recorded with the invitee as external id');
select is((select meetings_booked from app.lead_engagement where lead_id = :'booked'::jsonb ->> 'leadId'), 1, 'the engagement rollup counts it');

select is((pg_temp.deliver(:'token_a', 'invitee.created', :'booking')) ->> 'duplicate', 'true', 'a replay is a duplicate');
select is((select count(*)::int from app.touchpoints where org_id = :'org_a'), 1, 'and writes no second touchpoint');

select pg_temp.deliver(:'token_a', 'invitee.created',
  jsonb_set(jsonb_set(:'booking', '{payload,uri}', '"https://api.calendly.com/scheduled_events/E2/invitees/I2"'),
    '{payload,scheduled_event,location}', '{"type": "physical"}'), true) as second \gset
select is(:'second'::jsonb ->> 'outcome', 'updated', 'a second booking by the same email updates the lead');
select is(:'second'::jsonb -> 'meetingBot' ->> 'note', 'no meeting bot scheduled: the meeting has no video join URL', 'no bot without a join URL');

-- Bots: scheduling, then the transcript note.
select pg_temp.deliver(:'token_a', 'invitee.created',
  jsonb_set(:'booking', '{payload,uri}', '"https://api.calendly.com/scheduled_events/E3/invitees/I3"'), true) as third \gset
select is(:'third'::jsonb -> 'meetingBot' ->> 'status', 'scheduling', 'with bots enabled and a join URL, a bot is to be scheduled');
select tests.authenticate_as_anon();
select throws_ok(format('select app.record_meeting_bot(%L, %L, %L, %L)', :'token_b', :'third'::jsonb ->> 'meetingId', 'scheduled', 'bot-1'),
  'CR404', null, 'another connection''s token cannot touch the meeting');
select app.record_meeting_bot(:'token_a', :'third'::jsonb ->> 'meetingId', 'scheduled', 'bot-1', 'scheduled');
select is((select (app.store_meeting_transcript('bot-1', 'Jane: hello')) ->> 'duplicate'), 'false', 'the transcript is stored');
select is((select (app.store_meeting_transcript('bot-1', 'Jane: hello')) ->> 'duplicate'), 'true', 'once');
select tests.clear_authentication();
select is((select count(*)::int from app.notes where org_id = :'org_a' and type = 'transcript_summary' and lead_id = :'booked'::jsonb ->> 'leadId'),
  1, 'as one transcript_summary note on the lead');
select is((select metadata -> 'meetingBot' ->> 'botId' from app.touchpoints where id = :'third'::jsonb ->> 'touchpointId'), 'bot-1', 'the booking touchpoint names its bot');

-- Cancellation, and tenancy of what was written.
select is((pg_temp.deliver(:'token_a', 'invitee.canceled', jsonb_set(:'booking', '{payload,cancellation}', '{"reason": "Sick"}'))) -> 'meetingBot', null, 'a cancellation without a bot has nothing to cancel');
select is((select data ->> 'reason' from app.events where org_id = :'org_a' and type = 'meeting_canceled'), 'Sick', 'meeting_canceled carries the reason');
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.meetings) + (select count(*)::int from app.calendly_events), 0, 'org B sees none of org A''s meetings or deliveries');
select tests.clear_authentication();

select * from finish();
rollback;
