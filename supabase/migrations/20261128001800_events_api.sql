-- The events API (POST/GET /events): agents record the engagement signals they observe.
-- Touchpoints stay the human interaction log (a call, an email written, a meeting held);
-- events are the signals scoring, automation and analytics read. Logging a touchpoint
-- already emits touch_logged and a stage move stage_changed, so agents never record those.

-- ---------------------------------------------------------------------------
-- Which types a caller may use: recording takes only recordable ones, filtering any known
-- one. The hint lists the valid names from app.event_types, so it never goes stale.
-- ---------------------------------------------------------------------------
create function app.require_event_type(p_type text, p_recordable_only boolean default true) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_known boolean;
    v_recordable boolean;
    v_valid text;
  begin
    select true, t.recordable into v_known, v_recordable from app.event_types t where t.name = p_type;
    if v_known and (v_recordable or not p_recordable_only) then
      return;
    end if;
    select string_agg(t.name, ', ' order by t.name) into v_valid
    from app.event_types t where t.recordable or not p_recordable_only;
    if v_known then
      perform app.refuse(400, 'event_type_not_recordable',
        pg_catalog.format('"%s" events are recorded by the CRM itself', p_type),
        'Record one of: ' || v_valid || '. touch_logged comes from POST /api/openclaw/touchpoints and stage_changed from moving the lead''s stage.');
    end if;
    perform app.refuse(400, 'unknown_event_type', pg_catalog.format('"%s" is not an event type', p_type),
      'Use one of: ' || v_valid || '.');
  end;
  $$;
comment on function app.require_event_type(text, boolean) is 'Refuses (400, hint listing the valid names) a type that is unknown or, when p_recordable_only, one only the CRM writes.';
revoke execute on function app.require_event_type(text, boolean) from public;
grant execute on function app.require_event_type(text, boolean) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Recording: recordable types only, nothing from the future, idempotent on
-- (type, external_id). The answer carries the lead's score as the event left it: the
-- event's triggers (rollup, scoring) have run by the time the insert returns.
-- ---------------------------------------------------------------------------
create or replace function app.record_event(
  p_lead_id text,
  p_type text,
  p_data jsonb default '{}',
  p_occurred_at timestamptz default null,
  p_external_id text default null
) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org_id text := app.current_org_id();
    v_id text;
    v_lead_id text := p_lead_id;
    v_duplicate boolean := false;
    v_score integer;
    v_label text;
  begin
    perform app.require_event_type(p_type, true);
    if not exists (select from app.leads l where l.id = p_lead_id and l.org_id = v_org_id) then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s not found', p_lead_id),
        'Check the id with GET /api/openclaw/leads; leads of other workspaces are not visible.');
    end if;
    -- The same five minutes of clock-skew slack as touchpoints.
    if p_occurred_at > pg_catalog.now() + interval '5 minutes' then
      perform app.refuse(400, 'occurred_at_in_future',
        pg_catalog.format('occurredAt %s is in the future',
          pg_catalog.to_char(pg_catalog.timezone('UTC', p_occurred_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
        'occurredAt is when the lead did it: send an ISO 8601 time no later than 5 minutes from now, or leave it out to use the current time.');
    end if;
    insert into app.events (org_id, lead_id, type, data, occurred_at, external_id)
    values (v_org_id, p_lead_id, p_type, coalesce(p_data, '{}'), coalesce(p_occurred_at, pg_catalog.now()), p_external_id)
    on conflict (org_id, type, external_id) where external_id is not null do nothing
    returning id into v_id;
    if v_id is null then
      -- A repeat: answer with the first event, whichever lead it was for.
      v_duplicate := true;
      select e.id, e.lead_id into v_id, v_lead_id from app.events e
      where e.org_id = v_org_id and e.type = p_type and e.external_id = p_external_id;
    end if;
    select c.score, c.label into v_score, v_label from app.lead_scores c where c.lead_id = v_lead_id;
    return pg_catalog.jsonb_build_object('id', v_id, 'duplicate', v_duplicate, 'leadId', v_lead_id, 'type', p_type,
      'score', v_score, 'label', v_label);
  end;
  $$;
comment on function app.record_event(text, text, jsonb, timestamptz, text) is 'Records a recordable engagement event for one of the caller''s leads; idempotent on (type, external_id); answers { id, duplicate, leadId, type, score, label }.';

-- GET /events without a lead: the org's newest events first.
create index events_org_occurred_idx on app.events (org_id, occurred_at desc, id desc);
