-- Engagement events: the one record of every signal a lead gives or receives (quiz
-- completed, proposal viewed, email replied, stage changed, touch logged, …), whoever
-- writes it: the API, an inbound webhook, proposal tracking, the mail worker, a trigger.
-- Scoring, automation, campaign triggers and analytics all read this table, and triggers
-- on it keep each lead's engagement rollup current.
--
-- The events API (POST/GET /events) lets agents record the signals they observe.
-- Touchpoints are the human interaction log (a call, an email written, a meeting held);
-- events are the signals scoring, automation and analytics read. Logging a touchpoint
-- emits touch_logged and a stage move stage_changed, so agents never record those.
--
-- This file holds the tables app.event_types (with the known types), app.events and
-- app.lead_engagement (the per-lead rollup), the rollup trigger, app.record_event and
-- app.require_event_type for the API, and the triggers that turn stage moves
-- (stage_changes_event on app.stage_changes) and touchpoints (touchpoints_event on
-- app.touchpoints) into events.
--
-- Triggers on app.events run in name order:
--   events_10_rollup      this file                lead_engagement counters
--   events_20_score       56_scoring.sql           the lead's score and label
--   events_30_automation  62_automation.sql        stage automation rules
--   events_40_campaigns   76_campaign_events.sql   automatic enrolment
--   events_50_webhooks    86_webhooks.sql          outbound webhooks (once per statement)
-- Other writers of app.events: proposal tracking (66_proposals.sql, which also adds
-- viewing time to lead_engagement), the mail outbox (74_outbox.sql), campaign events
-- (76_campaign_events.sql), Calendly (82_calendly.sql) and quizzes (84_quizzes.sql).

-- ---------------------------------------------------------------------------
-- Event types
-- ---------------------------------------------------------------------------
create table app.event_types (
  name text primary key,
  description text not null,
  -- Agents may record it through POST /events (false: only the system writes it).
  recordable boolean not null default true
);
comment on table app.event_types is 'The engagement signals the CRM knows, and which of them agents may record themselves.';
alter table app.event_types enable row level security;
alter table app.event_types force row level security;
create policy "Event types are readable by every org" on app.event_types
  for select to authenticated using (true);
grant select on app.event_types to authenticated, anon;
grant all on app.event_types to service_role;

insert into app.event_types (name, description, recordable) values
  ('quiz_completed', 'Finished a quiz; data.score is the result on 0-100.', true),
  ('proposal_viewed', 'Opened the proposal page; data.seconds is the time on page.', true),
  ('video_watched', 'Watched the proposal video; data.percent is how far (0-100).', true),
  ('cta_clicked', 'Clicked a call to action (data.cta names it).', true),
  ('meeting_booked', 'Booked a meeting (data.startsAt, data.url when known).', true),
  ('meeting_canceled', 'Canceled a booked meeting.', true),
  ('email_sent', 'An email went out to the lead.', true),
  ('email_opened', 'The lead opened an email.', true),
  ('email_replied', 'The lead replied to an email.', true),
  ('email_bounced', 'An email to the lead bounced.', true),
  ('unsubscribed', 'The lead unsubscribed from email.', true),
  ('stage_changed', 'The lead moved to another stage (written from the stage history).', false),
  ('touch_logged', 'A touchpoint was logged (written from the touchpoint).', false);

-- ---------------------------------------------------------------------------
-- Events
-- ---------------------------------------------------------------------------
create table app.events (
  id text not null default app.new_id('evt'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  type text not null references app.event_types (name),
  occurred_at timestamptz not null default now(),
  data jsonb not null default '{}' check (jsonb_typeof(data) = 'object'),
  source text not null default app.current_source() check (length(source) <= 100),
  actor text not null default app.current_actor(),
  -- The sender's id for the event (tracking beacon, webhook, message id): recording the same
  -- one twice is a no-op, so retries and redeliveries never count twice.
  external_id text check (length(external_id) between 1 and 300),
  created_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint events_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade,
  constraint events_data_size check (app.json_fits(data, 16384, 10)),
  constraint events_score_range check (type <> 'quiz_completed' or data -> 'score' is null
    or (jsonb_typeof(data -> 'score') = 'number' and (data ->> 'score')::numeric between 0 and 100)),
  constraint events_percent_range check (type <> 'video_watched' or data -> 'percent' is null
    or (jsonb_typeof(data -> 'percent') = 'number' and (data ->> 'percent')::numeric between 0 and 100)),
  constraint events_seconds_range check (type <> 'proposal_viewed' or data -> 'seconds' is null
    or (jsonb_typeof(data -> 'seconds') = 'number' and (data ->> 'seconds')::numeric >= 0))
);
comment on table app.events is 'Engagement events per lead (quiz, proposal, video, CTA, meeting, email, stage, touch), from every source; immutable once written.';
create unique index events_org_external_key on app.events (org_id, type, external_id) where external_id is not null;
create index events_org_lead_idx on app.events (org_id, lead_id, occurred_at desc);
create index events_org_type_idx on app.events (org_id, type, occurred_at desc);
-- GET /events without a lead: the org's newest events first.
create index events_org_occurred_idx on app.events (org_id, occurred_at desc, id desc);

-- A log: tenants read and add, never rewrite. Deleting the lead removes its events.
alter table app.events enable row level security;
alter table app.events force row level security;
create policy "Events are visible to their own org" on app.events
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Events can be recorded in the caller's org" on app.events
  for insert to authenticated with check (org_id = (select app.current_org_id()));
grant select on app.events to authenticated;
grant insert (org_id, lead_id, type, occurred_at, data, external_id) on app.events to authenticated;
grant all on app.events to service_role;

-- ---------------------------------------------------------------------------
-- The per-lead rollup scoring, automation conditions and playbooks read, so none of them
-- aggregates the event log per lead at read time.
-- ---------------------------------------------------------------------------
create table app.lead_engagement (
  lead_id text not null,
  org_id text not null references app.orgs (id) on delete cascade,
  quiz_completions integer not null default 0,
  quiz_score numeric check (quiz_score between 0 and 100),
  proposal_views integer not null default 0,
  proposal_seconds numeric not null default 0,
  video_percent numeric not null default 0 check (video_percent between 0 and 100),
  cta_clicks integer not null default 0,
  meetings_booked integer not null default 0,
  meeting_canceled_at timestamptz,
  last_meeting_booked_at timestamptz,
  emails_sent integer not null default 0,
  emails_opened integer not null default 0,
  emails_replied integer not null default 0,
  bounced_at timestamptz,
  unsubscribed_at timestamptz,
  last_event_at timestamptz,
  primary key (org_id, lead_id),
  constraint lead_engagement_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.lead_engagement is 'Each lead''s engagement so far, kept by a trigger on app.events: counts, the latest quiz score, the furthest video progress.';

alter table app.lead_engagement enable row level security;
alter table app.lead_engagement force row level security;
create policy "Lead engagement is visible to its own org" on app.lead_engagement
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.lead_engagement to authenticated;
grant all on app.lead_engagement to service_role;

-- ---------------------------------------------------------------------------
-- Keeping the rollup current: the first trigger on app.events.
-- ---------------------------------------------------------------------------
create function app._roll_up_event() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    e alias for new;
    v_number numeric := case e.type
      when 'quiz_completed' then (e.data ->> 'score')::numeric
      when 'video_watched' then (e.data ->> 'percent')::numeric
      when 'proposal_viewed' then coalesce((e.data ->> 'seconds')::numeric, 0)
    end;
  begin
    insert into app.lead_engagement as g (lead_id, org_id, last_event_at) values (e.lead_id, e.org_id, e.occurred_at)
    on conflict (org_id, lead_id) do nothing;
    update app.lead_engagement g set
      quiz_completions = g.quiz_completions + (e.type = 'quiz_completed')::integer,
      -- The latest quiz result counts, not the best: a retake says where the lead is now.
      quiz_score = case when e.type = 'quiz_completed' and v_number is not null then v_number else g.quiz_score end,
      proposal_views = g.proposal_views + (e.type = 'proposal_viewed')::integer,
      proposal_seconds = g.proposal_seconds + case when e.type = 'proposal_viewed' then v_number else 0 end,
      video_percent = case when e.type = 'video_watched' then greatest(g.video_percent, coalesce(v_number, 100)) else g.video_percent end,
      cta_clicks = g.cta_clicks + (e.type = 'cta_clicked')::integer,
      meetings_booked = g.meetings_booked + (e.type = 'meeting_booked')::integer,
      last_meeting_booked_at = case when e.type = 'meeting_booked' then greatest(g.last_meeting_booked_at, e.occurred_at) else g.last_meeting_booked_at end,
      meeting_canceled_at = case when e.type = 'meeting_canceled' then e.occurred_at else g.meeting_canceled_at end,
      emails_sent = g.emails_sent + (e.type = 'email_sent')::integer,
      emails_opened = g.emails_opened + (e.type = 'email_opened')::integer,
      emails_replied = g.emails_replied + (e.type = 'email_replied')::integer,
      bounced_at = case when e.type = 'email_bounced' then coalesce(g.bounced_at, e.occurred_at) else g.bounced_at end,
      unsubscribed_at = case when e.type = 'unsubscribed' then coalesce(g.unsubscribed_at, e.occurred_at) else g.unsubscribed_at end,
      last_event_at = greatest(g.last_event_at, e.occurred_at)
    where g.org_id = e.org_id and g.lead_id = e.lead_id;
    return null;
  end;
  $$;
comment on function app._roll_up_event() is 'Trigger: folds a new engagement event into its lead''s app.lead_engagement row.';
revoke execute on function app._roll_up_event() from public;

create trigger events_10_rollup after insert on app.events
  for each row execute function app._roll_up_event();

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
create function app.record_event(
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
    select c.score, c.label into v_score, v_label from app.lead_scores c where c.org_id = v_org_id and c.lead_id = v_lead_id;
    return pg_catalog.jsonb_build_object('id', v_id, 'duplicate', v_duplicate, 'leadId', v_lead_id, 'type', p_type,
      'score', v_score, 'label', v_label);
  end;
  $$;
comment on function app.record_event(text, text, jsonb, timestamptz, text) is 'Records a recordable engagement event for one of the caller''s leads; idempotent on (type, external_id); answers { id, duplicate, leadId, type, score, label }.';
revoke execute on function app.record_event(text, text, jsonb, timestamptz, text) from public;
grant execute on function app.record_event(text, text, jsonb, timestamptz, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Stage moves and touchpoints are events too, written from their own records so every
-- writer of those (API, Studio, automation, inbound webhooks) is covered.
-- ---------------------------------------------------------------------------
create function app._stage_change_event() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    insert into app.events (org_id, lead_id, type, occurred_at, source, actor, data)
    values (new.org_id, new.lead_id, 'stage_changed', new.changed_at, new.source, new.changed_by,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'stageChangeId', new.id, 'fromStageId', new.from_stage_id, 'toStageId', new.to_stage_id,
        'fromStage', new.from_stage_name, 'toStage', new.to_stage_name, 'ruleId', new.rule_id)));
    return null;
  end;
  $$;
comment on function app._stage_change_event() is 'Trigger: a recorded stage move becomes a stage_changed event.';
revoke execute on function app._stage_change_event() from public;

-- A lead's first stage is its creation, not a move: no event, and no call for it.
create trigger stage_changes_event after insert on app.stage_changes
  for each row when (new.from_stage_id is not null) execute function app._stage_change_event();

create function app._touchpoint_event() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    insert into app.events (org_id, lead_id, type, occurred_at, source, actor, data)
    values (new.org_id, new.lead_id, 'touch_logged', new.occurred_at, new.source, new.created_by,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'touchpointId', new.id, 'channel', new.type, 'direction', new.direction)));
    return null;
  end;
  $$;
comment on function app._touchpoint_event() is 'Trigger: a logged touchpoint becomes a touch_logged event.';
revoke execute on function app._touchpoint_event() from public;

create trigger touchpoints_event after insert on app.touchpoints
  for each row execute function app._touchpoint_event();
