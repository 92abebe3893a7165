-- Calendly and meeting bots.
--   * app.calendly_connections: one per org: the Calendly user and organization it speaks
--     for, its webhook subscription, the unguessable token in our webhook URL, the signing
--     key Calendly signs deliveries with, and the personal access token, encrypted by the
--     edge (AES-256-GCM; the database never sees the plaintext or the key). Tenants read
--     the status columns only: neither the signing key nor the ciphertext is selectable;
--   * app.calendly_events: each delivery received, unique per (event, invitee): a replay
--     answers with the first outcome and writes nothing;
--   * app.meetings: each booked meeting (one per Calendly invitee), its times, join and
--     cancel/reschedule links, and the recording bot scheduled for it, if any;
--   * app.ingest_calendly_event: the whole webhook in one call, as the connection's org:
--     claim the delivery, create or update the lead by email, log a meeting touchpoint,
--     record meeting_booked / meeting_canceled, keep the meeting row;
--   * the bot bookkeeping (scheduled, canceled, transcript stored as a note) the edge
--     reports after talking to the recording provider outside any transaction, and the
--     sweep that fails bots whose scheduling was interrupted (the pg_cron job
--     fail-interrupted-meeting-bots, 90_jobs.sql).
-- meeting_booked and meeting_canceled go through app.record_event (54_events.sql), so the
-- event triggers (scoring, automation, campaigns) react to a booking like to any event.

-- ---------------------------------------------------------------------------
-- Connections
-- ---------------------------------------------------------------------------
create table app.calendly_connections (
  org_id text primary key default app.current_org_id() references app.orgs (id) on delete cascade,
  webhook_token text not null constraint calendly_connections_webhook_token_key unique
    constraint calendly_connections_webhook_token_check check (webhook_token ~ '^[0-9a-f]{48}$'),
  signing_key text not null check (length(signing_key) between 32 and 200),
  -- base64(iv || AES-256-GCM ciphertext || tag), written by the edge.
  token_ciphertext text not null check (length(token_ciphertext) between 16 and 10000),
  user_uri text not null check (length(user_uri) <= 500),
  organization_uri text check (length(organization_uri) <= 500),
  subscription_uri text not null check (length(subscription_uri) <= 500),
  user_name text check (length(user_name) <= 300),
  user_email text check (length(user_email) <= 320),
  scheduling_url text check (length(scheduling_url) <= 2000),
  connected_at timestamptz not null default now(),
  last_event_at timestamptz
);
comment on table app.calendly_connections is 'Each org''s Calendly connection: user, webhook subscription, webhook URL token and signing key, and the access token encrypted by the edge (never returned).';

select app.make_org_private('app.calendly_connections', 'Calendly connections');
grant select (org_id, webhook_token, token_ciphertext, user_uri, organization_uri, subscription_uri, user_name, user_email,
              scheduling_url, connected_at, last_event_at) on app.calendly_connections to authenticated;
grant delete on app.calendly_connections to authenticated;
grant all on app.calendly_connections to service_role;

-- ---------------------------------------------------------------------------
-- Deliveries and meetings
-- ---------------------------------------------------------------------------
create table app.calendly_events (
  id text not null default app.new_id('cev'),
  org_id text not null references app.orgs (id) on delete cascade,
  event text not null check (event in ('invitee.created', 'invitee.canceled')),
  invitee_uri text not null check (length(invitee_uri) between 1 and 500),
  received_at timestamptz not null default now(),
  result jsonb,
  primary key (org_id, id),
  constraint calendly_events_org_event_invitee_key unique (org_id, event, invitee_uri)
);
comment on table app.calendly_events is 'Calendly deliveries received, unique per org, event and invitee: a replay gets the first outcome and writes nothing.';
create index calendly_events_org_received_idx on app.calendly_events (org_id, received_at desc);

alter table app.calendly_events enable row level security;
alter table app.calendly_events force row level security;
create policy "Calendly events are visible to their own org" on app.calendly_events
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.calendly_events to authenticated;
grant all on app.calendly_events to service_role;

create table app.meetings (
  id text not null default app.new_id('mtg'),
  org_id text not null references app.orgs (id) on delete cascade,
  lead_id text not null,
  invitee_uri text not null check (length(invitee_uri) between 1 and 500),
  scheduled_event_uri text check (length(scheduled_event_uri) <= 500),
  event_name text check (length(event_name) <= 500),
  starts_at timestamptz,
  ends_at timestamptz,
  join_url text check (length(join_url) <= 2000),
  cancel_url text check (length(cancel_url) <= 2000),
  reschedule_url text check (length(reschedule_url) <= 2000),
  status text not null default 'booked' check (status in ('booked', 'canceled')),
  canceled_reason text check (length(canceled_reason) <= 2000),
  touchpoint_id text,
  bot_status text not null default 'not_scheduled'
    check (bot_status in ('not_scheduled', 'scheduling', 'scheduled', 'failed', 'canceled', 'transcribed')),
  bot_id text check (length(bot_id) <= 200),
  bot_note text check (length(bot_note) <= 1000),
  transcript_note_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint meetings_org_invitee_key unique (org_id, invitee_uri),
  constraint meetings_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.meetings is 'Meetings booked through Calendly (one per invitee): times, links, status, and the recording bot scheduled for it.';
create index meetings_org_lead_idx on app.meetings (org_id, lead_id, starts_at desc);
create unique index meetings_bot_key on app.meetings (bot_id) where bot_id is not null;
-- The sweep's lookup across orgs: only meetings whose bot is being scheduled, a handful.
create index meetings_bot_scheduling_idx on app.meetings (updated_at) where bot_status = 'scheduling';

create trigger meetings_touch_updated_at before update on app.meetings
  for each row execute function app._touch_updated_at();

-- Written by the webhook functions below; tenants read their own.
alter table app.meetings enable row level security;
alter table app.meetings force row level security;
create policy "Meetings are visible to their own org" on app.meetings
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.meetings to authenticated;
grant all on app.meetings to service_role;

-- ---------------------------------------------------------------------------
-- Connecting: one connection per org, replaced by a reconnect; the webhook looks it up by
-- the token in its URL.
-- ---------------------------------------------------------------------------
-- Connect or reconnect (replacing the previous connection), as the current org. Returns the
-- replaced subscription and token so the edge can delete that subscription at Calendly.
create function app.save_calendly_connection(
  p_webhook_token text,
  p_signing_key text,
  p_token_ciphertext text,
  p_user jsonb,
  p_subscription_uri text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id constant text := app.current_org_id();
    v_previous app.calendly_connections;
  begin
    if v_org_id is null then
      perform app.refuse(401, 'not_authenticated', 'No workspace for this request', 'Send your API key.');
    end if;
    -- Security definer: the role rule (a viewer writes nothing) is checked here.
    perform app.ensure_can_write();
    select c.* into v_previous from app.calendly_connections c where c.org_id = v_org_id for update;
    insert into app.calendly_connections as c (org_id, webhook_token, signing_key, token_ciphertext, user_uri,
      organization_uri, subscription_uri, user_name, user_email, scheduling_url, connected_at, last_event_at)
    values (v_org_id, p_webhook_token, p_signing_key, p_token_ciphertext, p_user ->> 'uri',
      p_user ->> 'current_organization', p_subscription_uri, p_user ->> 'name', p_user ->> 'email',
      p_user ->> 'scheduling_url', pg_catalog.now(), null)
    on conflict (org_id) do update set
      webhook_token = excluded.webhook_token, signing_key = excluded.signing_key,
      token_ciphertext = excluded.token_ciphertext, user_uri = excluded.user_uri,
      organization_uri = excluded.organization_uri, subscription_uri = excluded.subscription_uri,
      user_name = excluded.user_name, user_email = excluded.user_email, scheduling_url = excluded.scheduling_url,
      connected_at = excluded.connected_at, last_event_at = null;
    return pg_catalog.jsonb_build_object(
      'previousSubscriptionUri', v_previous.subscription_uri,
      'previousTokenCiphertext', v_previous.token_ciphertext);
  end;
  $$;
comment on function app.save_calendly_connection(text, text, text, jsonb, text) is 'Stores (or replaces) the caller org''s Calendly connection; returns the replaced subscription URI and encrypted token, if any.';
revoke execute on function app.save_calendly_connection(text, text, text, jsonb, text) from public;
grant execute on function app.save_calendly_connection(text, text, text, jsonb, text) to authenticated, service_role;

-- The webhook edge's one lookup before it has checked anything: the key to verify with.
create function app.calendly_signing_key(p_webhook_token text) returns text
  language sql stable
  security definer
  set search_path = ''
  as $$
    select c.signing_key from app.calendly_connections c where c.webhook_token = p_webhook_token
  $$;
comment on function app.calendly_signing_key(text) is 'The signing key of the Calendly connection behind a webhook URL token; null for an unknown token.';
revoke execute on function app.calendly_signing_key(text) from public;
grant execute on function app.calendly_signing_key(text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Ingest one verified delivery
-- ---------------------------------------------------------------------------
-- Calendly times are ISO 8601; a missing or malformed one is null, never an error.
create function app._calendly_time(p_value text) returns timestamptz
  language plpgsql stable
  set search_path = ''
  as $$
  begin
    return p_value::timestamptz;
  exception when data_exception then
    return null;
  end;
  $$;
comment on function app._calendly_time(text) is 'An ISO 8601 time from a Calendly payload, or null when absent or malformed.';
revoke execute on function app._calendly_time(text) from public;

create function app.ingest_calendly_event(
  p_webhook_token text,
  p_event text,
  p_payload jsonb,
  p_bots_enabled boolean default false
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_conn app.calendly_connections;
    v_invitee jsonb := p_payload -> 'payload';
    v_scheduled jsonb := p_payload -> 'payload' -> 'scheduled_event';
    v_invitee_uri text := p_payload -> 'payload' ->> 'uri';
    v_email text := pg_catalog.btrim(p_payload -> 'payload' ->> 'email');
    v_name text := pg_catalog.btrim(p_payload -> 'payload' ->> 'name');
    v_first text;
    v_last text;
    v_claim text;
    v_result jsonb;
    v_lead_id text;
    v_created boolean := false;
    v_meeting app.meetings;
    v_booked boolean := p_event = 'invitee.created';
    v_starts timestamptz := app._calendly_time(p_payload -> 'payload' -> 'scheduled_event' ->> 'start_time');
    v_join_url text := p_payload -> 'payload' -> 'scheduled_event' -> 'location' ->> 'join_url';
    v_reason text := p_payload -> 'payload' -> 'cancellation' ->> 'reason';
    v_occurred timestamptz;
    v_bot jsonb;
    v_touchpoint text;
    v_event jsonb;
  begin
    select c.* into v_conn from app.calendly_connections c where c.webhook_token = p_webhook_token;
    if v_conn.org_id is null then
      perform app.refuse(404, 'not_found', 'No Calendly connection for this webhook URL',
        'The connection may have been removed or replaced: POST /api/openclaw/integrations/calendly creates a new subscription.');
    end if;
    if p_event is null or p_event not in ('invitee.created', 'invitee.canceled') then
      return pg_catalog.jsonb_build_object('outcome', 'ignored', 'event', p_event, 'duplicate', false,
        'reason', pg_catalog.format('Only invitee.created and invitee.canceled are handled, not %s', coalesce(p_event, 'an event without a name')));
    end if;
    if v_invitee_uri is null or v_email is null or v_email = '' then
      perform app.refuse(400, 'invalid_payload', 'The delivery has no payload.uri or payload.email',
        'Calendly invitee events carry the invitee as payload { uri, email, name, scheduled_event, … }.');
    end if;

    -- Claim the delivery first: a concurrent redelivery waits here for this one to finish.
    insert into app.calendly_events as e (org_id, event, invitee_uri)
    values (v_conn.org_id, p_event, v_invitee_uri)
    on conflict (org_id, event, invitee_uri) do nothing
    returning e.id into v_claim;
    if v_claim is null then
      select e.result into v_result from app.calendly_events e
      where e.org_id = v_conn.org_id and e.event = p_event and e.invitee_uri = v_invitee_uri;
      -- The bot may have been scheduled since the first answer: say where it stands now.
      select m.* into v_meeting from app.meetings m where m.org_id = v_conn.org_id and m.invitee_uri = v_invitee_uri;
      if v_result ? 'meetingBot' and v_meeting.id is not null then
        v_result := v_result || pg_catalog.jsonb_build_object('meetingBot', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
          'status', v_meeting.bot_status, 'botId', v_meeting.bot_id, 'note', v_meeting.bot_note)));
      end if;
      return coalesce(v_result, '{}'::jsonb) || pg_catalog.jsonb_build_object('duplicate', true);
    end if;

    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_conn.org_id, 'actor', 'calendly', 'source', 'calendly')::text, true);

    v_first := nullif(pg_catalog.btrim(v_invitee ->> 'first_name'), '');
    v_last := nullif(pg_catalog.btrim(v_invitee ->> 'last_name'), '');
    if v_name is not null and v_name <> '' then
      v_first := coalesce(v_first, substring(v_name from '^\S+'));
      v_last := coalesce(v_last, nullif(pg_catalog.btrim(pg_catalog.regexp_replace(v_name, '^\S+', '')), ''));
    end if;

    -- Create or update the lead by email (app.upsert_lead_by_email, 40_leads.sql).
    select u.lead_id, u.created into v_lead_id, v_created
    from app.upsert_lead_by_email(v_conn.org_id, v_email,
      pg_catalog.jsonb_build_object('firstName', v_first, 'lastName', v_last)) u;

    -- Bots: only for a booking, with a video link, when a provider is configured.
    v_bot := case
      when not v_booked then null
      when not p_bots_enabled then pg_catalog.jsonb_build_object('status', 'not_scheduled',
        'note', 'no meeting bot scheduled: RECALL_API_KEY is not set')
      when v_join_url is null then pg_catalog.jsonb_build_object('status', 'not_scheduled',
        'note', 'no meeting bot scheduled: the meeting has no video join URL')
      else pg_catalog.jsonb_build_object('status', 'scheduling', 'note', 'a meeting bot is being scheduled')
    end;

    -- The booking (or the cancellation) happened now-ish; the meeting's start is metadata.
    v_occurred := least(pg_catalog.now(), coalesce(
      app._calendly_time(case when v_booked then v_invitee ->> 'created_at' else v_invitee ->> 'updated_at' end),
      pg_catalog.now()));

    insert into app.touchpoints as t (org_id, lead_id, type, direction, summary, occurred_at, metadata)
    values (v_conn.org_id, v_lead_id, 'meeting', 'inbound',
      left(pg_catalog.format('%s %s%s', case when v_booked then 'Booked' else 'Canceled' end,
        coalesce(v_scheduled ->> 'name', 'a meeting'),
        case when v_starts is not null then ' for ' || pg_catalog.to_char(pg_catalog.timezone('UTC', v_starts), 'YYYY-MM-DD HH24:MI "UTC"') else '' end)
        || case when not v_booked and v_reason is not null and v_reason <> '' then ': ' || v_reason else '' end, 10000),
      v_occurred,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'provider', 'calendly', 'event', p_event, 'inviteeUri', v_invitee_uri,
        'scheduledEventUri', v_scheduled ->> 'uri', 'eventTypeName', v_scheduled ->> 'name',
        'startTime', v_scheduled ->> 'start_time', 'endTime', v_scheduled ->> 'end_time',
        'joinUrl', v_join_url, 'locationType', v_scheduled -> 'location' ->> 'type',
        'cancelUrl', v_invitee ->> 'cancel_url', 'rescheduleUrl', v_invitee ->> 'reschedule_url',
        'rescheduled', v_invitee -> 'rescheduled',
        'canceledBy', v_invitee -> 'cancellation' ->> 'canceled_by', 'cancelReason', v_reason,
        'meetingBot', v_bot)))
    returning t.id into v_touchpoint;

    insert into app.meetings as m (org_id, lead_id, invitee_uri, scheduled_event_uri, event_name, starts_at, ends_at,
      join_url, cancel_url, reschedule_url, status, canceled_reason, touchpoint_id, bot_status, bot_note)
    values (v_conn.org_id, v_lead_id, v_invitee_uri, v_scheduled ->> 'uri', v_scheduled ->> 'name', v_starts,
      app._calendly_time(v_scheduled ->> 'end_time'), v_join_url, v_invitee ->> 'cancel_url', v_invitee ->> 'reschedule_url',
      case when v_booked then 'booked' else 'canceled' end, case when not v_booked then v_reason end, v_touchpoint,
      coalesce(v_bot ->> 'status', 'not_scheduled'), v_bot ->> 'note')
    on conflict (org_id, invitee_uri) do update set
      status = excluded.status,
      canceled_reason = coalesce(excluded.canceled_reason, m.canceled_reason),
      touchpoint_id = case when excluded.status = 'booked' then excluded.touchpoint_id else m.touchpoint_id end
    returning m.* into v_meeting;

    v_event := app.record_event(v_lead_id, case when v_booked then 'meeting_booked' else 'meeting_canceled' end,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'startsAt', v_scheduled ->> 'start_time', 'url', v_join_url, 'eventTypeName', v_scheduled ->> 'name',
        'meetingId', v_meeting.id, 'reason', case when not v_booked then v_reason end,
        'rescheduled', case when not v_booked then v_invitee -> 'rescheduled' end)),
      v_occurred, v_invitee_uri);

    v_result := pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
      'outcome', case when v_created then 'created' else 'updated' end,
      'event', p_event, 'leadId', v_lead_id, 'email', v_email, 'meetingId', v_meeting.id,
      'touchpointId', v_touchpoint, 'eventId', v_event ->> 'id', 'startsAt', v_scheduled ->> 'start_time',
      'joinUrl', v_join_url,
      'meetingBot', coalesce(v_bot, case when v_meeting.bot_id is not null
        then pg_catalog.jsonb_build_object('status', v_meeting.bot_status, 'botId', v_meeting.bot_id) end)));
    update app.calendly_events e set result = v_result where e.org_id = v_conn.org_id and e.id = v_claim;
    update app.calendly_connections c set last_event_at = pg_catalog.now() where c.org_id = v_conn.org_id;

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_result || pg_catalog.jsonb_build_object('duplicate', false);
  end;
  $$;
comment on function app.ingest_calendly_event(text, text, jsonb, boolean) is 'Ingests one verified Calendly delivery for the connection behind the token: idempotent per (event, invitee); creates or updates the lead by email, logs a meeting touchpoint, keeps the meeting row and records meeting_booked or meeting_canceled, all or nothing.';
revoke execute on function app.ingest_calendly_event(text, text, jsonb, boolean) from public;
grant execute on function app.ingest_calendly_event(text, text, jsonb, boolean) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Meeting bots: what the recording provider did, reported by the edge afterwards.
-- ---------------------------------------------------------------------------
create function app.record_meeting_bot(
  p_webhook_token text,
  p_meeting_id text,
  p_status text,
  p_bot_id text default null,
  p_note text default null
) returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_meeting app.meetings;
  begin
    update app.meetings m set
      bot_status = p_status,
      bot_id = coalesce(p_bot_id, m.bot_id),
      bot_note = p_note
    from app.calendly_connections c
    where c.webhook_token = p_webhook_token and m.org_id = c.org_id and m.id = p_meeting_id
    returning m.* into v_meeting;
    if v_meeting.id is null then
      perform app.refuse(404, 'not_found', 'No such meeting for this Calendly connection', 'Check the meeting id.');
    end if;
    -- The booking's touchpoint says what became of its bot.
    update app.touchpoints t set metadata = t.metadata || pg_catalog.jsonb_build_object('meetingBot',
        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('status', p_status, 'botId', v_meeting.bot_id, 'note', p_note)))
    where t.org_id = v_meeting.org_id and t.id = v_meeting.touchpoint_id;
  end;
  $$;
comment on function app.record_meeting_bot(text, text, text, text, text) is 'Records what became of a meeting''s recording bot (scheduled with its id, failed, canceled), on the meeting and its booking touchpoint; only for meetings of the token''s connection.';
revoke execute on function app.record_meeting_bot(text, text, text, text, text) from public;
grant execute on function app.record_meeting_bot(text, text, text, text, text) to anon, service_role;

-- The transcript webhook names a bot; this finds its meeting (bot ids are the provider's).
create function app.meeting_for_bot(p_bot_id text)
  returns table (meeting_id text, lead_id text, event_name text, transcript_note_id text)
  language sql stable
  security definer
  set search_path = ''
  as $$
    select m.id, m.lead_id, m.event_name, m.transcript_note_id from app.meetings m where m.bot_id = p_bot_id
  $$;
comment on function app.meeting_for_bot(text) is 'The meeting a recording bot was scheduled for: id, lead, event name and the transcript note if already stored.';
revoke execute on function app.meeting_for_bot(text) from public;
grant execute on function app.meeting_for_bot(text) to anon, service_role;

create function app.store_meeting_transcript(p_bot_id text, p_summary text) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_meeting app.meetings;
    v_note text;
  begin
    select m.* into v_meeting from app.meetings m where m.bot_id = p_bot_id for update;
    if v_meeting.id is null then
      perform app.refuse(404, 'not_found', 'No meeting has this bot', 'Only bots scheduled for Calendly bookings are known here.');
    end if;
    if v_meeting.transcript_note_id is not null then
      return pg_catalog.jsonb_build_object('meetingId', v_meeting.id, 'leadId', v_meeting.lead_id,
        'noteId', v_meeting.transcript_note_id, 'duplicate', true);
    end if;
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_meeting.org_id, 'actor', 'recall', 'source', 'recall')::text, true);
    insert into app.notes as n (org_id, lead_id, type, content)
    values (v_meeting.org_id, v_meeting.lead_id, 'transcript_summary', left(p_summary, 100000))
    returning n.id into v_note;
    update app.meetings m set transcript_note_id = v_note, bot_status = 'transcribed'
    where m.org_id = v_meeting.org_id and m.id = v_meeting.id;
    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return pg_catalog.jsonb_build_object('meetingId', v_meeting.id, 'leadId', v_meeting.lead_id, 'noteId', v_note, 'duplicate', false);
  end;
  $$;
comment on function app.store_meeting_transcript(text, text) is 'Stores a meeting bot''s transcript summary as a transcript_summary note on the meeting''s lead, once per meeting (a repeat returns the first note).';
revoke execute on function app.store_meeting_transcript(text, text) from public;
grant execute on function app.store_meeting_transcript(text, text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Interrupted bot scheduling. A booked meeting's bot is 'scheduling' from the webhook's
-- commit until the edge records Recall's answer (app.record_meeting_bot), a call bounded
-- by a timeout of seconds. A process that dies in between leaves it 'scheduling' for
-- good; this sweep, run by pg_cron, says what happened instead: 'failed', with a note on
-- the meeting and its booking touchpoint. It does not retry: Recall may have created the
-- bot before the process died, and a second one would join the meeting too. An answer
-- recorded after the sweep still wins.
-- ---------------------------------------------------------------------------
create function app.fail_interrupted_meeting_bots(
  p_after interval default '10 minutes',
  p_now timestamptz default now()
) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    with stale as (
      select m.org_id, m.id from app.meetings m
      where m.bot_status = 'scheduling' and m.updated_at < p_now - p_after
      for update of m skip locked
    ), failed as (
      update app.meetings m set
        bot_status = 'failed',
        bot_note = pg_catalog.format('no meeting bot scheduled: scheduling was interrupted before Recall''s answer was recorded. '
          || 'Recall may still have a bot for this meeting (its metadata has meeting_id %s): check the Recall dashboard, '
          || 'or have someone record the meeting; a new booking schedules its own bot.', m.id)
      from stale s
      where m.org_id = s.org_id and m.id = s.id
      returning m.org_id, m.touchpoint_id, m.bot_id, m.bot_note
    ), noted as (
      -- The booking's touchpoint says what became of its bot, as app.record_meeting_bot does.
      update app.touchpoints t set metadata = t.metadata || pg_catalog.jsonb_build_object('meetingBot',
          pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('status', 'failed', 'botId', f.bot_id, 'note', f.bot_note)))
      from failed f
      where t.org_id = f.org_id and t.id = f.touchpoint_id
    )
    select count(*)::integer into v_count from failed;
    return v_count;
  end;
  $$;
comment on function app.fail_interrupted_meeting_bots(interval, timestamptz) is 'Marks meeting bots left ''scheduling'' for longer than p_after (the process died before recording Recall''s answer) as ''failed'' with a note saying so and what to do, on the meeting and its booking touchpoint, in every org; returns how many.';
revoke execute on function app.fail_interrupted_meeting_bots(interval, timestamptz) from public;
grant execute on function app.fail_interrupted_meeting_bots(interval, timestamptz) to service_role;
