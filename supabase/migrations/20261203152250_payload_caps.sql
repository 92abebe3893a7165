-- Payload caps: every free-form JSON column gets a size and depth cap that holds for every
-- writer (the API, Studio, SQL), with the numbers the API documents (functions/http/caps.ts,
-- README "Payload caps"):
--
--   leads.crm_data               16 KiB, 10 deep   leads_crm_data_size
--   leads.custom_fields          64 KiB, 10 deep   leads_custom_fields_size
--   touchpoints.metadata         64 KiB, 10 deep   touchpoints_metadata_size
--   events.data                  16 KiB, 10 deep   events_data_size
--   feedback.context              8 KiB, 10 deep   feedback_context_size
--   automation_rules.conditions   4 KiB, 10 deep   automation_rules_conditions_size
--   sync_sources.event_stages     8 KiB, 10 deep   sync_sources_event_stages_size
--
-- Size is the value's JSON text as Postgres prints it (value::text), in UTF-8 bytes; depth
-- counts nested objects and arrays. Both are app.json_fits, created first because the
-- constraints call it.
--
-- events.data was capped at 20,000 characters inside events_data_check; that check now only
-- says data is an object, and events_data_size holds the byte cap.
--
-- app.ingest_sync_event keeps an inbound payload in the touchpoint's metadata when it fits in
-- 32 KiB and 9 levels (metadata.payload then fits metadata's cap); it measured characters
-- before, so a payload of many multi-byte characters could have broken the new cap.
--
-- Existing rows over a cap make the validation below fail. Find them first with, e.g.,
--   select id from app.leads where not app.json_fits(crm_data, 16384, 10);
-- and trim them (or move the text into a note) before applying this migration.

-- ---------------------------------------------------------------------------
-- The check every cap uses.
-- ---------------------------------------------------------------------------
set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app.json_fits(p_value jsonb, p_max_bytes integer, p_max_depth integer)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO ''
AS $function$
    select pg_catalog.octet_length(p_value::text) <= p_max_bytes
      and not pg_catalog.jsonb_path_exists(p_value, pg_catalog.format(
        'strict $.**{%s to last} ? (@.type() == "object" || @.type() == "array")', p_max_depth)::pg_catalog.jsonpath)
  $function$
;

comment on function app.json_fits(jsonb,integer,integer) is 'Whether a JSON value is at most p_max_bytes bytes as text (UTF-8, as Postgres prints it) and nests objects and arrays at most p_max_depth deep.';
revoke all on function app.json_fits(jsonb,integer,integer) from public; grant execute on function app.json_fits(jsonb,integer,integer) to anon; grant execute on function app.json_fits(jsonb,integer,integer) to authenticated; grant execute on function app.json_fits(jsonb,integer,integer) to service_role;

-- ---------------------------------------------------------------------------
-- The caps.
-- ---------------------------------------------------------------------------
alter table "app"."events" drop constraint "events_data_check";

alter table "app"."automation_rules" add constraint "automation_rules_conditions_size" CHECK (app.json_fits(conditions, 4096, 10)) not valid;

alter table "app"."automation_rules" validate constraint "automation_rules_conditions_size";

alter table "app"."events" add constraint "events_data_size" CHECK (app.json_fits(data, 16384, 10)) not valid;

alter table "app"."events" validate constraint "events_data_size";

alter table "app"."feedback" add constraint "feedback_context_size" CHECK (app.json_fits(context, 8192, 10)) not valid;

alter table "app"."feedback" validate constraint "feedback_context_size";

alter table "app"."leads" add constraint "leads_crm_data_size" CHECK (app.json_fits(crm_data, 16384, 10)) not valid;

alter table "app"."leads" validate constraint "leads_crm_data_size";

alter table "app"."leads" add constraint "leads_custom_fields_size" CHECK (app.json_fits(custom_fields, 65536, 10)) not valid;

alter table "app"."leads" validate constraint "leads_custom_fields_size";

alter table "app"."sync_sources" add constraint "sync_sources_event_stages_size" CHECK (app.json_fits(event_stages, 8192, 10)) not valid;

alter table "app"."sync_sources" validate constraint "sync_sources_event_stages_size";

alter table "app"."touchpoints" add constraint "touchpoints_metadata_size" CHECK (app.json_fits(metadata, 65536, 10)) not valid;

alter table "app"."touchpoints" validate constraint "touchpoints_metadata_size";

alter table "app"."events" add constraint "events_data_check" CHECK ((jsonb_typeof(data) = 'object'::text)) not valid;

alter table "app"."events" validate constraint "events_data_check";

-- ---------------------------------------------------------------------------
-- Inbound events: the payload kept with the touchpoint fits metadata's cap.
-- ---------------------------------------------------------------------------
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
    on conflict (org_id, source_id, event_id) do nothing
    returning e.id into v_claim;
    if v_claim is null then
      select e.result into v_result from app.sync_events e
      where e.org_id = v_source.org_id and e.source_id = v_source.id and e.event_id = p_event_id;
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
      update app.sync_events e set outcome = 'ignored', result = v_result where e.org_id = v_source.org_id and e.id = v_claim;
      update app.sync_sources s set last_event_at = pg_catalog.now() where s.org_id = v_source.org_id and s.id = v_source.id;
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
      -- The payload itself when it is of a reasonable size (form answers, the message) and
      -- fits under metadata's cap (touchpoints_metadata_size: 64 KiB, 10 deep).
      || case when app.json_fits(p_payload, 32768, 9)
           then pg_catalog.jsonb_build_object('payload', p_payload)
           else pg_catalog.jsonb_build_object('payloadOmitted', true) end)
    returning t.id into v_touchpoint;

    v_result := pg_catalog.jsonb_build_object(
      'outcome', case when v_created then 'created' else 'updated' end,
      'syncSourceId', v_source.id, 'event', v_event, 'eventId', p_event_id,
      'leadId', v_lead_id, 'email', v_email,
      'stage', (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s
                where s.org_id = v_source.org_id and s.id = v_target),
      'previousStage', case when not v_created then
        (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s
         where s.org_id = v_source.org_id and s.id = v_from_stage) end,
      'moved', not v_created and v_from_stage is distinct from v_target,
      'touchpointId', v_touchpoint);
    update app.sync_events e set lead_id = v_lead_id, outcome = v_result ->> 'outcome', result = v_result
    where e.org_id = v_source.org_id and e.id = v_claim;
    update app.sync_sources s set last_event_at = pg_catalog.now() where s.org_id = v_source.org_id and s.id = v_source.id;

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_result || pg_catalog.jsonb_build_object('duplicate', false);
  end;
  $function$
;
