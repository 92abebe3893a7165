-- One way to create or find a lead, one place that seeds an org, limits per statement.
--   * app.create_lead: what POST /leads does, in one call;
--   * app.upsert_lead_by_email: the one find-or-create by email, now used by sync sources,
--     Calendly bookings and quiz submissions instead of three copies;
--   * app._seed_org (trigger orgs_seed): stages, playbooks and send settings for every new org,
--     replacing signup's calls and the orgs_create_campaign_settings trigger;
--   * the lead and campaign limits are statement triggers over transition tables: one lock
--     and one count per org and statement;
--   * app.refuse with a fifth argument: refusals that carry details (existingId, next_steps).
-- Written by npm run db:diff (migra plus comments and privileges) and reviewed.

drop trigger if exists "orgs_create_campaign_settings" on "app"."orgs";

drop trigger if exists "campaigns_enforce_limit" on "app"."campaigns";

drop trigger if exists "campaigns_enforce_limit_on_unarchive" on "app"."campaigns";

drop trigger if exists "leads_enforce_limit" on "app"."leads";

drop function if exists "app"."_create_campaign_settings"();

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app._seed_org()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    perform app._create_default_stages(new.id);
    perform app._create_default_playbooks(new.id);
    insert into app.campaign_settings (org_id) values (new.id);
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.create_lead(p_lead jsonb)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_email text := p_lead ->> 'email';
    v_id text;
  begin
    insert into app.leads as l (first_name, last_name, email, organization_name, business_type, phone, tier,
                                status, stage_id, custom_fields, crm_data, title, seniority, company_name,
                                linkedin_url, company_size, company_revenue)
    select p_lead ->> 'firstName', p_lead ->> 'lastName', v_email,
           case when p_lead ? 'organizationName' then p_lead ->> 'organizationName' else p_lead ->> 'clinicName' end,
           case when p_lead ? 'businessType' then p_lead ->> 'businessType' else p_lead ->> 'practiceType' end,
           p_lead ->> 'phone', p_lead ->> 'tier', coalesce(p_lead ->> 'status', 'new'),
           app.resolve_stage(p_lead ->> 'stage'),
           coalesce(p_lead -> 'customFields', '{}'::jsonb), coalesce(p_lead -> 'crmData', '{}'::jsonb),
           p_lead ->> 'title', p_lead ->> 'seniority', p_lead ->> 'companyName', p_lead ->> 'linkedinUrl',
           p_lead ->> 'companySize', p_lead ->> 'companyRevenue'
    where not exists (select from app.leads x
                      where x.org_id = app.current_org_id() and x.email_key = pg_catalog.lower(v_email) and x.deleted_at is null)
    on conflict (org_id, email_key) where deleted_at is null do nothing
    returning l.id into v_id;

    if v_id is null then
      select x.id into v_id from app.leads x
      where x.org_id = app.current_org_id() and x.email_key = pg_catalog.lower(v_email) and x.deleted_at is null;
      perform app.refuse(409, 'lead_exists', 'A lead with this email already exists in this workspace',
        pg_catalog.format('The existing lead is %s. Update it with PATCH /api/openclaw/leads/%s instead of creating it again.', v_id, v_id),
        pg_catalog.jsonb_build_object('existingId', v_id,
          'next_steps', pg_catalog.jsonb_build_array(pg_catalog.format('PATCH /api/openclaw/leads/%s { ...fields to change }', v_id))));
    end if;
    return v_id;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.refuse(p_status integer, p_code text, p_message text, p_hint text, p_extra jsonb)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  begin
    raise exception using
      errcode = 'CR' || p_status::text,
      message = p_message,
      detail = (coalesce(p_extra, '{}'::jsonb) operator(pg_catalog.||) pg_catalog.jsonb_build_object('code', p_code))::text,
      hint = p_hint;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.upsert_lead_by_email(p_org_id text, p_email text, p_fields jsonb DEFAULT '{}'::jsonb, p_stage_id text DEFAULT NULL::text, p_display_name text DEFAULT NULL::text, OUT lead_id text, OUT created boolean, OUT stage_id text, OUT previous_stage_id text)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_fields jsonb := coalesce(p_fields, '{}'::jsonb);
    v_display text := nullif(pg_catalog.btrim(p_display_name), '');
  begin
    created := false;
    for v_attempt in 1..2 loop
      select l.id, l.stage_id into lead_id, previous_stage_id
      from app.leads l
      where l.org_id = p_org_id and l.email_key = pg_catalog.lower(p_email) and l.deleted_at is null
      for update;
      if lead_id is not null then
        update app.leads l set
          first_name = coalesce(v_fields ->> 'firstName', l.first_name),
          last_name = coalesce(v_fields ->> 'lastName', l.last_name),
          organization_name = coalesce(v_fields ->> 'organizationName', l.organization_name),
          business_type = coalesce(v_fields ->> 'businessType', l.business_type),
          phone = coalesce(v_fields ->> 'phone', l.phone),
          title = coalesce(v_fields ->> 'title', l.title),
          company_name = coalesce(v_fields ->> 'companyName', l.company_name),
          linkedin_url = coalesce(v_fields ->> 'linkedinUrl', l.linkedin_url),
          stage_id = case
            when (select t.position from app.stages t where t.id = p_stage_id)
                 > coalesce((select f.position from app.stages f where f.id = l.stage_id), -1)
            then p_stage_id else l.stage_id end
        where l.id = upsert_lead_by_email.lead_id
        returning l.stage_id into stage_id;
        return;
      end if;

      insert into app.leads as l (org_id, first_name, last_name, email, organization_name, business_type, phone,
                                  title, company_name, linkedin_url, stage_id)
      values (p_org_id,
              coalesce(v_fields ->> 'firstName', substring(v_display from '^\S+'), pg_catalog.split_part(p_email, '@', 1)),
              coalesce(v_fields ->> 'lastName', nullif(pg_catalog.btrim(pg_catalog.regexp_replace(v_display, '^\S+', '')), '')),
              p_email,
              v_fields ->> 'organizationName', v_fields ->> 'businessType', v_fields ->> 'phone',
              v_fields ->> 'title', v_fields ->> 'companyName', v_fields ->> 'linkedinUrl', p_stage_id)
      on conflict (org_id, email_key) where deleted_at is null do nothing
      returning l.id, l.stage_id into lead_id, stage_id;
      if lead_id is not null then
        created := true;
        return;
      end if;
    end loop;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._enforce_campaign_limit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_added jsonb;
    v_over record;
  begin
    -- How many counted campaigns the statement added, per org.
    if tg_op = 'INSERT' then
      select pg_catalog.jsonb_object_agg(a.org_id, a.n) into v_added
      from (select n.org_id, count(*) as n from new_campaigns n
            where n.status <> 'archived' and n.kind = 'sequence' group by n.org_id) a;
    else
      select pg_catalog.jsonb_object_agg(a.org_id, a.n) into v_added
      from (select n.org_id, count(*) as n from new_campaigns n join old_campaigns o on o.id = n.id
            where o.status = 'archived' and n.status <> 'archived' and n.kind = 'sequence' group by n.org_id) a;
    end if;
    if v_added is null then
      return null;
    end if;

    perform from app.orgs o where v_added ? o.id order by o.id for no key update of o;

    select o.tier, t.campaign_limit, c.counted, (v_added ->> o.id)::integer as added into v_over
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    cross join lateral (
      select count(*)::integer as counted from app.campaigns x
      where x.org_id = o.id and x.status <> 'archived' and x.kind = 'sequence') c
    where v_added ? o.id and t.campaign_limit is not null and c.counted > t.campaign_limit
    limit 1;

    if found then
      perform app.refuse(402, 'campaign_limit_reached',
        pg_catalog.format('Campaign limit reached: the %s tier allows %s campaigns and this workspace has %s', v_over.tier, v_over.campaign_limit, v_over.counted - v_over.added),
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or archive a campaign you no longer run (DELETE /api/openclaw/campaigns/{campaignId}; archived campaigns do not count).');
    end if;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._enforce_lead_limit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_over record;
  begin
    perform from app.orgs o
    where o.id in (select distinct n.org_id from new_leads n)
    order by o.id
    for no key update of o;

    select o.tier, t.lead_limit, c.total, a.added into v_over
    from (select n.org_id, count(*)::integer as added from new_leads n group by n.org_id) a
    join app.orgs o on o.id = a.org_id
    join app.tiers t on t.tier = o.tier
    cross join lateral (select count(*)::integer as total from app.leads l where l.org_id = o.id) c
    where c.total > t.lead_limit
    limit 1;

    if found then
      perform app.refuse(402, 'lead_limit_reached',
        pg_catalog.format('Lead limit reached: the %s tier allows %s leads and this workspace has %s', v_over.tier, v_over.lead_limit, v_over.total - v_over.added)
          || case when v_over.added > 1 then pg_catalog.format(' (this request adds %s)', v_over.added) else '' end,
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or permanently delete leads you no longer need (DELETE /api/openclaw/leads/{id}?permanent=true; soft-deleted leads still count).');
    end if;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.ingest_calendly_event(p_webhook_token text, p_event text, p_payload jsonb, p_bots_enabled boolean DEFAULT false)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
    update app.calendly_events e set result = v_result where e.id = v_claim;
    update app.calendly_connections c set last_event_at = pg_catalog.now() where c.org_id = v_conn.org_id;

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_result || pg_catalog.jsonb_build_object('duplicate', false);
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.ingest_sync_event(p_source_id text, p_event_id text, p_payload jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_source app.sync_sources;
    v_payload jsonb := p_payload;
    v_map jsonb;
    v_event text;
    v_claim text;
    v_result jsonb;
    v_email_raw text;
    v_email text;
    v_display text;
    v_name text;
    v_first text;
    v_last text;
    v_occurred_raw text;
    v_occurred timestamptz;
    v_direction text;
    v_target text;
    v_lead_id text;
    v_from_stage text;
    v_created boolean := false;
    v_touchpoint text;
    v_constraint text;
  begin
    select s.* into v_source from app.sync_sources s where s.id = p_source_id;
    if v_source.id is null then
      perform app.refuse(404, 'not_found', 'No sync source for this inbound URL',
        'Check the URL: the sync source may have been deleted or its URL rotated (GET /api/openclaw/stages/sync-sources shows the current one).');
    end if;
    if p_event_id is null or length(p_event_id) not between 1 and 255 then
      perform app.refuse(400, 'invalid_event_id', 'The event id must be 1-255 characters',
        'Send a unique id per event in the X-OpenClaw-Event-Id header (or eventId in the body); a redelivery reuses it.');
    end if;
    if v_payload is null or pg_catalog.jsonb_typeof(v_payload) <> 'object' then
      perform app.refuse(400, 'invalid_payload', 'The event payload must be a JSON object',
        'Send the event as a JSON object, e.g. { "event": "form_submitted", "email": "jane@acme.com", "firstName": "Jane" }.');
    end if;

    v_map := v_source.field_mapping;
    v_event := coalesce(app._sync_event_name(app._sync_value(v_payload, v_map -> 'event')), app.sync_default_event(v_source.type));

    -- Claim the event id first: a concurrent redelivery waits here for this one to finish.
    insert into app.sync_events as e (org_id, source_id, event_id, event)
    values (v_source.org_id, v_source.id, p_event_id, v_event)
    on conflict (source_id, event_id) do nothing
    returning e.id into v_claim;
    if v_claim is null then
      select e.result into v_result from app.sync_events e where e.source_id = v_source.id and e.event_id = p_event_id;
      return coalesce(v_result, '{}'::jsonb) || pg_catalog.jsonb_build_object('duplicate', true);
    end if;

    if not v_source.enabled then
      perform app.refuse(409, 'sync_source_disabled', pg_catalog.format('Sync source "%s" is disabled', v_source.name),
        pg_catalog.format('Its owner can enable it with PUT /api/openclaw/stages/sync-sources { "id": "%s", "enabled": true }; events sent while it is disabled are not recorded, so resend them afterwards.', v_source.id));
    end if;

    -- Act as the source's org; history and touchpoints record who did it.
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_source.org_id, 'actor', 'sync_source:' || v_source.id, 'source', 'sync_source')::text, true);

    -- A raw Gmail watch notification ({emailAddress, historyId}) names no message.
    if v_source.type = 'gmail' and (v_payload ? 'historyId') and not (v_payload ? 'event') then
      v_result := pg_catalog.jsonb_build_object(
        'outcome', 'ignored', 'syncSourceId', v_source.id, 'event', v_event, 'eventId', p_event_id,
        'reason', 'A bare Gmail watch notification ({emailAddress, historyId}) names no message, so there is nothing to map. Have your forwarder publish {event, from, to, subject, snippet, messageId, threadId, date} instead.');
      update app.sync_events e set outcome = 'ignored', result = v_result where e.id = v_claim;
      update app.sync_sources s set last_event_at = pg_catalog.now() where s.id = v_source.id;
      perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
      return v_result || pg_catalog.jsonb_build_object('duplicate', false);
    end if;

    -- Gmail: the lead is the other party of the message.
    if v_source.type = 'gmail' and not (v_payload ? 'contact') then
      v_payload := v_payload || pg_catalog.jsonb_build_object('contact',
        case when v_event = 'email_sent' then v_payload -> 'to' else v_payload -> 'from' end);
    end if;

    -- Map the payload. "Jane Doe <jane@acme.com>" gives the email and a display name; of
    -- a list of addresses the first counts.
    v_email_raw := app._sync_value(v_payload, v_map -> 'email');
    if v_email_raw is null then
      perform app.refuse(400, 'missing_email',
        pg_catalog.format('The payload has no email at %s (fieldMapping.email)', coalesce(v_map -> 'email', 'null'::jsonb)),
        pg_catalog.format('Send the lead''s email at that path, or point fieldMapping.email at where it is: PUT /api/openclaw/stages/sync-sources { "id": "%s", "fieldMapping": { "email": "contact.email" } }.', v_source.id));
    end if;
    if v_email_raw ~ '<[^<>]+>' then
      v_email := pg_catalog.btrim(substring(v_email_raw from '<([^<>]+)>'));
      v_display := nullif(pg_catalog.btrim(substring(v_email_raw from '^([^<]*)<'), ' "'''), '');
    else
      v_email := pg_catalog.btrim(pg_catalog.split_part(v_email_raw, ',', 1));
    end if;

    v_first := app._sync_value(v_payload, v_map -> 'firstName');
    v_last := app._sync_value(v_payload, v_map -> 'lastName');
    v_name := app._sync_value(v_payload, v_map -> 'name');
    if v_name is not null then
      v_first := coalesce(v_first, substring(v_name from '^\S+'));
      v_last := coalesce(v_last, nullif(pg_catalog.btrim(pg_catalog.regexp_replace(v_name, '^\S+', '')), ''));
    end if;

    v_occurred_raw := app._sync_value(v_payload, v_map -> 'occurredAt');
    if v_occurred_raw ~ '^\d{9,13}(\.\d+)?$' then
      -- Unix time, in seconds or (13 digits) milliseconds.
      v_occurred := pg_catalog.to_timestamp(v_occurred_raw::double precision
        / case when length(pg_catalog.split_part(v_occurred_raw, '.', 1)) = 13 then 1000 else 1 end);
    elsif v_occurred_raw is not null then
      begin
        v_occurred := v_occurred_raw::timestamptz;
      exception when data_exception then
        perform app.refuse(400, 'invalid_occurred_at', pg_catalog.format('"%s" (fieldMapping.occurredAt) is not a time', v_occurred_raw),
          'Send the time as ISO 8601 with a zone (2026-01-31T14:00:00Z), RFC 2822 (Sat, 31 Jan 2026 14:00:00 +0000) or Unix seconds, or leave it out for now.');
      end;
    end if;

    v_direction := pg_catalog.lower(app._sync_value(v_payload, v_map -> 'direction'));
    if v_direction is null or v_direction not in ('inbound', 'outbound') then
      v_direction := case
        when v_source.type = 'gmail' then case when v_event = 'email_sent' then 'outbound' else 'inbound' end
        when v_source.type = 'form_webhook' then 'inbound'
      end;
    end if;

    v_target := coalesce(v_source.event_stages ->> v_event, v_source.stage_id);

    -- Create or update the lead by email (app.upsert_lead_by_email: an existing lead only
    -- moves forward, so a routine email to a lead in negotiation does not send it back to the
    -- source's first stage; a new lead without a mapped name is named from the display name).
    begin
      select u.lead_id, u.created, u.stage_id, u.previous_stage_id into v_lead_id, v_created, v_target, v_from_stage
      from app.upsert_lead_by_email(v_source.org_id, v_email, pg_catalog.jsonb_build_object(
        'firstName', v_first, 'lastName', v_last,
        'organizationName', app._sync_value(v_payload, v_map -> 'organizationName'),
        'businessType', app._sync_value(v_payload, v_map -> 'businessType'),
        'phone', app._sync_value(v_payload, v_map -> 'phone'),
        'title', app._sync_value(v_payload, v_map -> 'title'),
        'companyName', app._sync_value(v_payload, v_map -> 'companyName'),
        'linkedinUrl', app._sync_value(v_payload, v_map -> 'linkedinUrl')), v_target, v_display) u;
    exception when check_violation then
      get stacked diagnostics v_constraint = constraint_name;
      if v_constraint = 'leads_email_check' then
        perform app.refuse(400, 'invalid_email',
          pg_catalog.format('"%s" (fieldMapping.email) is not a valid email address', v_email_raw),
          pg_catalog.format('Send the lead''s email (like jane@acme.com or "Jane Doe <jane@acme.com>") at %s, or change fieldMapping.email.', v_map -> 'email'));
      end if;
      raise;
    end;

    insert into app.touchpoints as t (org_id, lead_id, type, direction, summary, occurred_at, metadata)
    values (
      v_source.org_id, v_lead_id,
      case v_source.type when 'gmail' then 'email' when 'form_webhook' then 'form' else 'other' end,
      v_direction,
      left(coalesce(app._sync_value(v_payload, v_map -> 'summary'),
                    pg_catalog.format('%s via %s', pg_catalog.replace(v_event, '_', ' '), v_source.name)), 10000),
      coalesce(v_occurred, pg_catalog.now()),
      pg_catalog.jsonb_build_object(
        'syncSourceId', v_source.id, 'syncSourceName', v_source.name, 'syncSourceType', v_source.type,
        'event', v_event, 'eventId', p_event_id)
      -- The payload itself when it is of a reasonable size (form answers, the message).
      || case when length(p_payload::text) <= 32768
           then pg_catalog.jsonb_build_object('payload', p_payload)
           else pg_catalog.jsonb_build_object('payloadOmitted', true) end)
    returning t.id into v_touchpoint;

    v_result := pg_catalog.jsonb_build_object(
      'outcome', case when v_created then 'created' else 'updated' end,
      'syncSourceId', v_source.id, 'event', v_event, 'eventId', p_event_id,
      'leadId', v_lead_id, 'email', v_email,
      'stage', (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s where s.id = v_target),
      'previousStage', case when not v_created then
        (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s where s.id = v_from_stage) end,
      'moved', not v_created and v_from_stage is distinct from v_target,
      'touchpointId', v_touchpoint);
    update app.sync_events e set lead_id = v_lead_id, outcome = v_result ->> 'outcome', result = v_result where e.id = v_claim;
    update app.sync_sources s set last_event_at = pg_catalog.now() where s.id = v_source.id;

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_result || pg_catalog.jsonb_build_object('duplicate', false);
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.signup(p_email text, p_workspace_name text, p_agent_name text, p_agent_platform text, p_first_name text DEFAULT NULL::text, p_last_name text DEFAULT NULL::text, p_organization_name text DEFAULT NULL::text)
 RETURNS TABLE(org_id text, api_key text, key_prefix text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_email text := lower(btrim(p_email));
  begin
    if exists (select from app.orgs o where lower(o.owner_email) = v_email) then
      perform app.refuse(409, 'email_already_registered',
        pg_catalog.format('A workspace is already registered to %s', v_email),
        'Use the API key issued when that workspace was created, or sign up with a different email. Keys are shown only once and cannot be recovered.');
    end if;

    insert into app.orgs (name, workspace_name, owner_email, owner_first_name, owner_last_name, agent_name, agent_platform)
    values (coalesce(nullif(btrim(p_organization_name), ''), btrim(p_workspace_name)), btrim(p_workspace_name),
            v_email, p_first_name, p_last_name, p_agent_name, p_agent_platform)
    returning id into org_id;

    select k.api_key into api_key from app._issue_api_key(org_id) k;
    key_prefix := left(api_key, 16);
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.submit_quiz(p_slug text, p_attempt_id text, p_email text, p_first_name text, p_last_name text, p_phone text, p_answers jsonb, p_now timestamp with time zone DEFAULT now())
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_quiz app.quizzes;
    v_prior app.quiz_submissions;
    v_scored jsonb;
    v_score integer;
    v_band jsonb;
    v_email constant text := nullif(pg_catalog.btrim(p_email), '');
    v_first constant text := nullif(pg_catalog.btrim(p_first_name), '');
    v_last constant text := nullif(pg_catalog.btrim(p_last_name), '');
    v_phone constant text := nullif(pg_catalog.btrim(p_phone), '');
    v_lead_id text;
    v_created boolean := false;
    v_submission_id text;
  begin
    -- key share: a concurrent delete of the quiz waits for this attempt (and then archives).
    select q.* into v_quiz from app.quizzes q
    where q.slug = p_slug and q.status = 'published' and q.archived_at is null
    for key share;
    if v_quiz.id is null then
      perform app.refuse(404, 'quiz_not_found', 'There is no published quiz at this address',
        'Check the link; the quiz may have been unpublished or removed.');
    end if;
    if p_attempt_id is null or length(p_attempt_id) not between 1 and 200 then
      perform app.refuse(400, 'invalid_attempt_id', 'attemptId must be 1-200 characters',
        'Send one attemptId per attempt (a UUID is ideal) and reuse it when retrying, or leave it out.');
    end if;

    -- One attempt at a time: a double submit waits here and then finds the first result.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(v_quiz.id || ':' || p_attempt_id, 0));
    select s.* into v_prior from app.quiz_submissions s
    where s.org_id = v_quiz.org_id and s.quiz_id = v_quiz.id and s.attempt_id = p_attempt_id;
    if v_prior.id is not null then
      return pg_catalog.jsonb_build_object('leadId', v_prior.lead_id, 'submissionId', v_prior.id,
        'score', v_prior.score, 'band', v_prior.band, 'leadCreated', false, 'duplicate', true);
    end if;

    v_scored := app.score_quiz_answers(v_quiz.questions, p_answers);
    v_score := (v_scored ->> 'score')::integer;
    select pg_catalog.jsonb_build_object('label', b ->> 'label', 'message', b ->> 'message') into v_band
    from pg_catalog.jsonb_array_elements(v_quiz.result_bands) b
    where v_score between (b ->> 'min')::integer and (b ->> 'max')::integer;

    if v_email is null then
      perform app.refuse(400, 'missing_email', 'email is required', 'Send the email address of the person taking the quiz.');
    end if;

    -- Act as the quiz's org; the lead's history records the quiz as the actor.
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_quiz.org_id, 'actor', 'quiz:' || v_quiz.id, 'source', 'quiz')::text, true);

    -- Create or update the lead by email (app.upsert_lead_by_email, 40_leads.sql): a
    -- workspace at its plan's limit still takes quizzes from leads it has; a new lead over
    -- the plan is refused (402).
    select u.lead_id, u.created into v_lead_id, v_created
    from app.upsert_lead_by_email(v_quiz.org_id, v_email,
      pg_catalog.jsonb_build_object('firstName', v_first, 'lastName', v_last, 'phone', v_phone)) u;

    insert into app.quiz_submissions (org_id, quiz_id, lead_id, attempt_id, answers, raw_points, max_points, score, band, created_at)
    values (v_quiz.org_id, v_quiz.id, v_lead_id, p_attempt_id, v_scored -> 'answers',
            (v_scored ->> 'rawPoints')::numeric, (v_scored ->> 'maxPoints')::numeric, v_score, v_band, p_now)
    returning id into v_submission_id;

    -- The sender's id is the attempt, scoped to the quiz: attempt ids only need to be
    -- unique per quiz, and two quizzes of one org must not swallow each other's events.
    perform app.record_event(v_lead_id, 'quiz_completed',
      pg_catalog.jsonb_build_object('score', v_score, 'quizId', v_quiz.id, 'band', v_band ->> 'label', 'submissionId', v_submission_id),
      p_now, v_quiz.id || ':' || p_attempt_id);

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return pg_catalog.jsonb_build_object('leadId', v_lead_id, 'submissionId', v_submission_id,
      'score', v_score, 'band', v_band, 'leadCreated', v_created, 'duplicate', false);
  end;
  $function$
;

CREATE TRIGGER orgs_seed AFTER INSERT ON app.orgs FOR EACH ROW EXECUTE FUNCTION app._seed_org();

CREATE TRIGGER campaigns_enforce_limit AFTER INSERT ON app.campaigns REFERENCING NEW TABLE AS new_campaigns FOR EACH STATEMENT EXECUTE FUNCTION app._enforce_campaign_limit();

CREATE TRIGGER campaigns_enforce_limit_on_unarchive AFTER UPDATE ON app.campaigns REFERENCING OLD TABLE AS old_campaigns NEW TABLE AS new_campaigns FOR EACH STATEMENT EXECUTE FUNCTION app._enforce_campaign_limit();

CREATE TRIGGER leads_enforce_limit AFTER INSERT ON app.leads REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION app._enforce_lead_limit();

-- Comments and function privileges (migra leaves them out).
comment on function app._enforce_campaign_limit() is 'Statement trigger: refuses inserting or un-archiving campaigns past the tier''s campaign limit; archived and ad-hoc campaigns do not count; one lock and one count per org and statement; exact under concurrency.';
comment on function app._enforce_lead_limit() is 'Statement trigger: refuses an insert that takes an org past its tier''s lead limit (soft-deleted leads included); one lock and one count per org and statement; exact under concurrency.';
comment on function app._seed_org() is 'Trigger: gives a new org the default pipeline, the default playbooks and its send settings.';
comment on function app.create_lead(jsonb) is 'Creates a lead in the current org from a POST /leads body (contract field names and aliases); returns its id, or refuses 409 lead_exists with existingId when a live lead has the email.';
comment on function app.refuse(integer,text,text,text,jsonb) is 'Raises an error the HTTP edge answers with status p_status, code p_code and the hint, plus p_extra''s keys on the error (next_steps: on the reply).';
comment on function app.signup(text,text,text,text,text,text,text) is 'Creates a workspace (an org, seeded by app._seed_org, and its first API key) for an email not yet registered; returns the key once.';
comment on function app.upsert_lead_by_email(text,text,jsonb,text,text) is 'Finds the org''s live lead by email (case-insensitive) and updates the fields given, moving it forward to p_stage_id only; or creates it (named from the fields, the display name or the email); safe against a concurrent writer of the same email.';
revoke all on function app._seed_org() from public;
revoke all on function app.create_lead(jsonb) from public; grant execute on function app.create_lead(jsonb) to authenticated; grant execute on function app.create_lead(jsonb) to service_role;
revoke all on function app.refuse(integer,text,text,text,jsonb) from public; grant execute on function app.refuse(integer,text,text,text,jsonb) to anon; grant execute on function app.refuse(integer,text,text,text,jsonb) to authenticated; grant execute on function app.refuse(integer,text,text,text,jsonb) to service_role;
revoke all on function app.upsert_lead_by_email(text,text,jsonb,text,text) from public; grant execute on function app.upsert_lead_by_email(text,text,jsonb,text,text) to service_role;
