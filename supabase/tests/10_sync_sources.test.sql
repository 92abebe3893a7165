-- Stage sync sources: tenancy of sources and events (the secret unreadable even to its own
-- org), what a source may hold, and the ingest: create or update the lead by email, move it,
-- log a touchpoint, idempotent on the event id, all or nothing (bad payload, plan limit,
-- disabled source), Gmail's shapes, and stages a source targets kept from deletion.
begin;
select plan(95);

select tests.create_org('sync-a') as org_a \gset
select tests.create_org('sync-b') as org_b \gset
select id as stage_a_leads from app.stages where org_id = :'org_a' and name = 'Leads' \gset
select id as stage_a_engaged from app.stages where org_id = :'org_a' and name = 'Engaged' \gset
select id as stage_a_default from app.stages where org_id = :'org_a' and is_default \gset
select id as stage_b_leads from app.stages where org_id = :'org_b' and name = 'Leads' \gset

-- An event as the inbound edge sends it: as anon, after authenticating the sender.
create function pg_temp.ingest(p_source text, p_event_id text, p_payload jsonb) returns jsonb language plpgsql as $$
declare
  v_result jsonb;
begin
  perform tests.authenticate_as_anon();
  v_result := app.ingest_sync_event(p_source, p_event_id, p_payload);
  perform tests.clear_authentication();
  return v_result;
end;
$$;
-- The same for a request signed without its event id (v1), with the signed content's digest.
create function pg_temp.ingest_signed(p_source text, p_event_id text, p_payload jsonb, p_digest text) returns jsonb language plpgsql as $$
declare
  v_result jsonb;
begin
  perform tests.authenticate_as_anon();
  v_result := app.ingest_sync_event(p_source, p_event_id, p_payload, p_digest);
  perform tests.clear_authentication();
  return v_result;
end;
$$;
grant execute on all functions in schema pg_temp to anon, authenticated;

-- ===========================================================================
-- Creating sources
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select id as form_a, secret as form_secret
from app.create_sync_source('Website form', 'form_webhook', 'Leads', '{"Reply Received": "Engaged"}', '{"phone": "tel", "title": null}') \gset
select id as gmail_a from app.create_sync_source('Gmail', 'gmail', :'stage_a_leads', '{"reply_received": "Engaged"}') \gset
select id as hook_a from app.create_sync_source('Zapier', 'generic_webhook', 'leads') \gset

select matches(:'form_a'::text, '^ss_[0-9a-f]{24}$', 'sync source ids are ss_ followed by 24 hex digits');
select matches(:'form_secret'::text, '^whsec_[0-9a-f]{64}$', 'the secret is whsec_ and 64 hex digits (256 bits), returned on create');
select matches((select inbound_token from app.sync_sources where id = :'form_a'), '^[0-9a-f]{48}$', 'the inbound token is 48 hex digits (192 bits)');
select is((select count(distinct inbound_token)::int from app.sync_sources), 3, 'every source gets its own token');
select is((select org_id from app.sync_sources where id = :'form_a'), :'org_a'::text, 'a source belongs to the caller''s org');
select is((select stage_id from app.sync_sources where id = :'form_a'), :'stage_a_leads'::text, 'the target stage is resolved from its name');
select is((select event_stages from app.sync_sources where id = :'form_a'), jsonb_build_object('reply_received', :'stage_a_engaged'::text),
  'event names are normalised and event stages resolved to ids');
select is((select field_mapping ->> 'phone' from app.sync_sources where id = :'form_a'), 'tel', 'a given mapping overrides the default');
select ok((select not field_mapping ? 'title' from app.sync_sources where id = :'form_a'), 'a mapping set to null removes that default');
select is((select field_mapping -> 'email' from app.sync_sources where id = :'form_a'), '["email", "contact.email", "lead.email"]'::jsonb,
  'fields not given keep the type''s default paths');
select is((select field_mapping ->> 'email' from app.sync_sources where id = :'gmail_a'), 'contact', 'a gmail source reads the email from the other party');
select is((select event_stages -> 'reply_received' ->> 'name' from app.sync_source_details where id = :'form_a'), 'Engaged',
  'sync_source_details names the event stages');

select throws_ok($$ select secret from app.sync_sources $$, '42501', null, 'a tenant cannot read its own sources'' secrets');
select throws_ok($$ select * from app.sync_sources $$, '42501', null, 'select * is refused too (the secret column is not readable)');
select lives_ok($$ select id, inbound_token from app.sync_source_details $$, 'the details view lists sources without the secret');

select is(tests.refusal($$ select app.create_sync_source('Other', 'form_webhook', 'Nope') $$), 'CR400 unknown_stage',
  'an unknown stage name is refused with 400');
select is(tests.refusal($$ select app.create_sync_source('website FORM', 'api_sdr', 'Leads') $$), 'CR409 sync_source_exists',
  'names are unique per org, case-insensitively');
select is(tests.refusal($$ select app.create_sync_source('Fax', 'fax_machine', 'Leads') $$), '23514 ',
  'an unknown type is refused by sync_sources_type_check');
select is(tests.refusal($$ select app.create_sync_source('Bad map', 'api_sdr', 'Leads', null, '{"shoeSize": "shoe"}') $$), 'CR400 invalid_field_mapping',
  'an unknown mapping field is refused');
select is(tests.refusal($$ select app.create_sync_source('Bad path', 'api_sdr', 'Leads', null, '{"phone": 42}') $$), 'CR400 invalid_field_mapping',
  'a mapping value that is not a path is refused');
select is(tests.refusal($$ select app.create_sync_source('No email', 'api_sdr', 'Leads', null, '{"email": null}') $$), 'CR400 email_mapping_required',
  'the email mapping cannot be removed');
select is(tests.refusal(format($$ select app.create_sync_source('Foreign', 'api_sdr', 'Leads', %L::jsonb) $$, jsonb_build_object('x', :'stage_b_leads'))), 'CR400 unknown_stage',
  'an event stage of another org is refused');
select is(tests.refusal(format($$ update app.sync_sources set event_stages = %L::jsonb where id = %L $$, jsonb_build_object('x', :'stage_b_leads'), :'form_a')), 'CR400 unknown_stage',
  'writing another org''s stage id into event_stages directly is refused');
select throws_ok(format($$ update app.sync_sources set stage_id = %L where id = %L $$, :'stage_b_leads', :'form_a'), '23503', null,
  'the target stage cannot be another org''s (composite key)');

-- Changing and rotating
select is((select secret from app.update_sync_source(:'hook_a', '{"name": "Zapier hooks", "enabled": false}')), null,
  'an update without rotateSecret returns no secret');
select is((select name || ' ' || enabled from app.sync_source_details where id = :'hook_a'), 'Zapier hooks false', 'name and enabled change');
select inbound_token as old_token from app.sync_sources where id = :'hook_a' \gset
select secret as new_secret from app.update_sync_source(:'hook_a', '{"rotateSecret": true, "rotateToken": true}') \gset
select matches(:'new_secret'::text, '^whsec_[0-9a-f]{64}$', 'rotateSecret returns a new secret');
select isnt((select inbound_token from app.sync_sources where id = :'hook_a'), :'old_token'::text, 'rotateToken issues a new token');
select lives_ok(format($$ select app.update_sync_source(%L, '{"eventStages": {"meeting_booked": "Engaged", "reply_received": null}, "fieldMapping": {"phone": null}}') $$, :'form_a'),
  'eventStages and fieldMapping merge, null removing a key');
select is((select event_stages from app.sync_sources where id = :'form_a'), jsonb_build_object('meeting_booked', :'stage_a_engaged'::text),
  'the event map was merged');
select is(tests.refusal(format($$ select app.update_sync_source(%L, '{"type": "gmail"}') $$, :'form_a')), 'CR400 invalid_sync_source_change',
  'the type cannot be changed');
select tests.clear_authentication();
select is((select secret from app.sync_sources where id = :'hook_a'), :'new_secret'::text, 'the rotated secret is the one stored');
select tests.authenticate_as(:'org_a');
select lives_ok(format($$ select app.update_sync_source(%L, '{"eventStages": {"reply_received": "Engaged"}, "fieldMapping": {"phone": "tel"}}') $$, :'form_a'),
  'arrange: restore the form source''s mapping');
select tests.clear_authentication();

-- ===========================================================================
-- Tenancy
-- ===========================================================================
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.sync_source_details), 0, 'org B sees none of org A''s sources');
select is((select count(*)::int from app.sync_sources where id = :'form_a'), 0, 'org B cannot read org A''s source (or its token)');
select is(tests.refusal(format($$ select app.update_sync_source(%L, '{"enabled": false}') $$, :'form_a')), 'CR404 not_found',
  'org B cannot change org A''s source (404)');
update app.sync_sources set name = 'Hacked' where id = :'form_a';
delete from app.sync_sources where id = :'form_a';
select throws_ok(format($$ insert into app.sync_sources (org_id, name, type, stage_id) values (%L, 'Sneaky', 'api_sdr', %L) $$, :'org_a', :'stage_a_leads'),
  '42501', null, 'org B cannot insert a source into org A');
select tests.clear_authentication();
select is((select name from app.sync_sources where id = :'form_a'), 'Website form', 'org A''s source is unchanged and still there');

select ok(not has_function_privilege('authenticated', 'app.sync_source_for_token(text)', 'execute'), 'tenants cannot look up sources by token');
select ok(has_function_privilege('anon', 'app.sync_source_for_token(text)', 'execute'), 'the inbound edge (anon) can look up a source by token');
select ok(not has_function_privilege('authenticated', 'app.ingest_sync_event(text, text, jsonb, text)', 'execute'), 'tenants cannot ingest events directly');
select inbound_token as form_token from app.sync_sources where id = :'form_a' \gset
select tests.authenticate_as_anon();
select throws_ok($$ select count(*) from app.sync_sources $$, '42501', null, 'anon cannot read sync sources');
select is((select count(*)::int from app.sync_source_for_token('0' || repeat('a', 47))), 0, 'an unknown token finds nothing');
select is((select id from app.sync_source_for_token(:'form_token')), :'form_a'::text,
  'the token finds its source');
select tests.clear_authentication();

-- ===========================================================================
-- Ingest
-- ===========================================================================
select tests.authenticate_as_anon();
select pg_temp.ingest(:'form_a', 'evt-1', '{"email": "Jane Doe <Jane@Acme.com>", "tel": "555-0100", "company": "Acme"}') as first \gset
select tests.clear_authentication();
select (:'first'::jsonb ->> 'leadId') as jane \gset

select is(:'first'::jsonb ->> 'outcome', 'created', 'the first event for an email creates the lead');
select is(:'first'::jsonb -> 'duplicate', 'false'::jsonb, 'a first delivery is not a duplicate');
select is((select first_name || ' ' || last_name || ' ' || email || ' ' || phone || ' ' || organization_name from app.leads where id = :'jane'),
  'Jane Doe Jane@Acme.com 555-0100 Acme', 'the lead is mapped from the payload, its name from the address''s display name');
select is((select stage_id from app.leads where id = :'jane'), :'stage_a_leads'::text, 'an event without its own stage lands in the source''s stage');
select is((select source || ' ' || changed_by from app.stage_changes where lead_id = :'jane'), 'sync_source sync_source:' || :'form_a',
  'the stage history records the sync source as source and actor');
select is((select type || ' ' || direction || ' ' || source || ' ' || created_by from app.touchpoints where lead_id = :'jane'),
  'form inbound sync_source sync_source:' || :'form_a', 'a form event logs an inbound form touchpoint by the source');
select is((select metadata ->> 'eventId' from app.touchpoints where lead_id = :'jane'), 'evt-1', 'the touchpoint carries the event in its metadata');
select isnt((select last_touch_at from app.leads where id = :'jane'), null, 'the touchpoint moves the lead''s last touch');
select isnt((select last_event_at from app.sync_sources where id = :'form_a'), null, 'the source records when it last received an event');
select is((select outcome || ' ' || lead_id from app.sync_events where source_id = :'form_a' and event_id = 'evt-1'), 'created ' || :'jane',
  'the event is recorded with its outcome and lead');
select is(current_setting('request.jwt.claims', true), '', 'the ingest leaves the caller''s claims as they were');

-- Redelivery
select pg_temp.ingest(:'form_a', 'evt-1', '{"email": "someone-else@acme.com"}') as replay \gset
select is(:'replay'::jsonb -> 'duplicate', 'true'::jsonb, 'a redelivered event id is answered as a duplicate');
select is(:'replay'::jsonb - 'duplicate', :'first'::jsonb - 'duplicate', 'a redelivery gets the first outcome');
select is((select count(*)::int from app.leads where org_id = :'org_a'), 1, 'a redelivery creates no lead');
select is((select count(*)::int from app.touchpoints where lead_id = :'jane'), 1, 'a redelivery logs no touchpoint');

-- An event with its own stage moves the existing lead
select pg_temp.ingest(:'form_a', 'evt-2', '{"email": "jane@acme.com", "event": "Reply Received", "name": "Janet Smith", "timestamp": 1700000000}') as second \gset
select is(:'second'::jsonb ->> 'outcome', 'updated', 'an event for a known email (any case) updates its lead');
select is(:'second'::jsonb ->> 'leadId', :'jane'::text, 'the same lead is updated');
select is((select stage_id from app.leads where id = :'jane'), :'stage_a_engaged'::text, 'the lead moves to the event''s stage');
select is(:'second'::jsonb -> 'moved', 'true'::jsonb, 'the answer says the lead moved');
select is((select from_stage_name || ' -> ' || to_stage_name || ' ' || source from app.stage_changes where lead_id = :'jane' and from_stage_id is not null),
  'Leads -> Engaged sync_source', 'the move is in the stage history');
select is((select first_name || ' ' || last_name || ' ' || phone from app.leads where id = :'jane'), 'Janet Smith 555-0100',
  'mapped fields overwrite, fields the event lacks are kept');
select is((select occurred_at from app.touchpoints where metadata ->> 'eventId' = 'evt-2'), to_timestamp(1700000000),
  'occurredAt in Unix seconds dates the touchpoint');

-- A later event mapped to an earlier stage does not move the lead back
select pg_temp.ingest(:'form_a', 'evt-2b', '{"email": "jane@acme.com"}') as backwards \gset
select is(:'backwards'::jsonb -> 'moved', 'false'::jsonb, 'an event whose stage comes earlier does not move the lead');
select is((select stage_id from app.leads where id = :'jane'), :'stage_a_engaged'::text, 'the lead stays in its later stage');

-- Refusals write nothing
select count(*)::int as events_before from app.sync_events \gset
select is(tests.refusal(format($$ select pg_temp.ingest(%L, 'evt-3', '{"first_name": "Nobody"}') $$, :'form_a')), 'CR400 missing_email',
  'a payload without an email is refused with 400');
select is(tests.refusal(format($$ select pg_temp.ingest(%L, 'evt-4', '{"email": "not-an-email"}') $$, :'form_a')), 'CR400 invalid_email',
  'an invalid email is refused with 400');
select is(tests.refusal(format($$ select pg_temp.ingest(%L, 'evt-5', '{"email": "x@acme.com", "occurredAt": "last tuesday"}') $$, :'form_a')),
  'CR400 invalid_occurred_at', 'an unreadable time is refused with 400');
select is(tests.refusal(format($$ select pg_temp.ingest(%L, 'evt-6', '{"email": "x@acme.com"}') $$, :'hook_a')), 'CR409 sync_source_disabled',
  'a disabled source refuses events with 409');
select is((select count(*)::int from app.sync_events), :events_before, 'refused events are not recorded (the sender may retry them)');
select is((select count(*)::int from app.leads where org_id = :'org_a'), 1, 'refused events create no lead');

-- The plan's lead limit
select tests.create_org('sync-c') as org_c \gset
insert into app.leads (org_id, first_name, email)
select :'org_c', 'Lead', 'lead' || g || '@example.com' from generate_series(1, 100) g;
select tests.authenticate_as(:'org_c');
select id as form_c from app.create_sync_source('Form', 'form_webhook', 'Engaged') \gset
select tests.clear_authentication();
select is(tests.refusal(format($$ select pg_temp.ingest(%L, 'new-lead', '{"email": "newcomer@example.com"}') $$, :'form_c')), 'CR402 lead_limit_reached',
  'a new lead beyond the plan''s limit is refused with 402');
select is((select count(*)::int from app.sync_events where source_id = :'form_c'), 0, 'the refused event is not recorded');
select is((select count(*)::int from app.leads where org_id = :'org_c'), 100, 'no lead was written');
select is(pg_temp.ingest(:'form_c', 'known-lead', '{"email": "lead7@example.com"}') ->> 'outcome', 'updated',
  'at the limit, events for existing leads still update them');

-- Gmail
select pg_temp.ingest(:'gmail_a', 'pubsub-1', '{"emailAddress": "me@mycompany.com", "historyId": "12345"}') as bare \gset
select is(:'bare'::jsonb ->> 'outcome', 'ignored', 'a bare Gmail watch notification is acknowledged and ignored');
select is((select outcome from app.sync_events where event_id = 'pubsub-1'), 'ignored', 'the ignored notification is recorded (redeliveries are duplicates)');
select pg_temp.ingest(:'gmail_a', 'pubsub-2', '{"event": "reply_received", "from": "\"Bob Stone\" <bob@client.io>", "to": "me@mycompany.com", "subject": "Re: proposal", "date": "Tue, 1 Jul 2025 10:00:00 +0000"}') as reply \gset
select (:'reply'::jsonb ->> 'leadId') as bob \gset
select is((select first_name || ' ' || last_name || ' ' || email || ' ' || stage_id from app.leads where id = :'bob'), 'Bob Stone bob@client.io ' || :'stage_a_engaged',
  'a reply creates the sender as a lead in the reply stage');
select is((select type || ' ' || direction || ' ' || summary || ' ' || occurred_at from app.touchpoints where lead_id = :'bob'),
  'email inbound Re: proposal ' || '2025-07-01 10:00:00+00'::timestamptz, 'a reply logs an inbound email touchpoint with its subject and date');
select pg_temp.ingest(:'gmail_a', 'pubsub-3', '{"event": "email_sent", "from": "me@mycompany.com", "to": "carol@prospect.co, dave@prospect.co", "subject": "Intro"}') as sent \gset
select is((select email || ' ' || first_name || ' ' || stage_id from app.leads where id = :'sent'::jsonb ->> 'leadId'), 'carol@prospect.co carol ' || :'stage_a_leads',
  'a sent email makes its first recipient the lead, named from the address, in the source''s stage');
select is((select direction from app.touchpoints where metadata ->> 'eventId' = 'pubsub-3'), 'outbound', 'a sent email is an outbound touchpoint');

-- Signed without the event id: the signed content's digest identifies the request too
select pg_temp.ingest_signed(:'form_a', 'signed-1', '{"email": "jane@acme.com", "summary": "signed"}', repeat('ab', 32)) as signed_first \gset
select count(*)::int as jane_touchpoints from app.touchpoints where lead_id = :'jane' \gset
select pg_temp.ingest_signed(:'form_a', 'replayed-under-a-new-id', '{"email": "jane@acme.com", "summary": "signed"}', repeat('ab', 32)) as signed_replay \gset
select is(:'signed_replay'::jsonb -> 'duplicate', 'true'::jsonb, 'the same signed content under another event id is a duplicate');
select is(:'signed_replay'::jsonb ->> 'eventId', 'signed-1', 'the replay is answered with the first delivery''s outcome');
select is((select count(*)::int from app.touchpoints where lead_id = :'jane'), :jane_touchpoints, 'the replay logs no touchpoint');
select is(pg_temp.ingest_signed(:'form_a', 'signed-2', '{"email": "jane@acme.com"}', repeat('cd', 32)) -> 'duplicate', 'false'::jsonb,
  'a new event id with new signed content is a new event');

-- ===========================================================================
-- Stages a source targets, deleted leads, housekeeping, org deletion
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select is(tests.refusal(format($$ select app.delete_stage(%L, 'Prospects') $$, :'stage_a_leads')), 'CR409 stage_used_by_sync_source',
  'a stage a source targets cannot be deleted');
select is(tests.refusal(format($$ select app.delete_stage(%L, 'Prospects') $$, :'stage_a_engaged')), 'CR409 stage_used_by_sync_source',
  'a stage an event maps to cannot be deleted');
select lives_ok($$ select app.delete_stage('Negotiated') $$, 'other stages can still be deleted');
select tests.clear_authentication();

delete from app.leads where id = :'bob';
select is((select lead_id from app.sync_events where event_id = 'pubsub-2'), null, 'permanently deleting a lead keeps its events, unlinked');

update app.sync_events set received_at = now() - interval '31 days' where event_id = 'pubsub-1';
select is(app.purge_sync_events(), 1, 'the purge deletes events older than 30 days');
select is((select count(*)::int from cron.job where jobname = 'purge-sync-events'), 1, 'the purge is scheduled with pg_cron');

delete from app.orgs where id = :'org_c';
select is((select count(*)::int from app.sync_sources where org_id = :'org_c'), 0, 'deleting an org deletes its sources and lets their stages go');

select * from finish();
rollback;
