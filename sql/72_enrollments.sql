-- Enrolments: a lead going through a campaign's steps, with a readable history, and the
-- org's suppression list.
--   * app.enrollments: a lead in a campaign, at most once at a time (active, then completed
--     or stopped with the reason);
--   * app.enrollment_history: what happened to an enrolment, step by step;
--   * app.email_suppressions: addresses the org never emails again;
--   * app._enroll, the one way in: by hand (app.enroll_lead, POST /campaigns/{id}/enroll),
--     by POST /email/send-sequence, or by the event trigger; app._finish_enrollment, the
--     one way out.
-- Elsewhere: the events_40_campaigns trigger on app.events enrols leads when an event
-- matches an active campaign's trigger, and stops enrolments on reply, meeting booked,
-- unsubscribe, hard bounce and a move into a won or lost stage (76_campaign_events.sql,
-- with app.send_sequence). Due steps go out through the outbox (74_outbox.sql), which also
-- holds app.enrollment_json, the API's view of an enrolment: it reads the outbox.

-- ---------------------------------------------------------------------------
-- Enrolments and their history
-- ---------------------------------------------------------------------------
create table app.enrollments (
  id text not null default app.new_id('enr'),
  org_id text not null references app.orgs (id) on delete cascade,
  campaign_id text not null,
  lead_id text not null,
  status text not null default 'active' check (status in ('active', 'completed', 'stopped')),
  -- The next step to send (0-based) and when it is due; null while that step is in the outbox.
  current_step integer not null default 0 check (current_step between 0 and 8),
  next_step_at timestamptz,
  -- Why the due step is waiting (a guardrail), until it goes out.
  deferred_reason text,
  source text not null check (source in ('manual', 'trigger', 'send_sequence')),
  trigger_event_id text,
  enrolled_at timestamptz not null default now(),
  finished_at timestamptz,
  stop_reason text,
  constraint enrollments_campaign_fkey foreign key (org_id, campaign_id) references app.campaigns (org_id, id) on delete cascade,
  constraint enrollments_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade,
  primary key (org_id, id),
  constraint enrollments_finished_check check ((status = 'active') = (finished_at is null))
);
comment on table app.enrollments is 'A lead in a campaign: active (next step and when), completed, or stopped with the reason.';
-- A lead is in a campaign at most once at a time.
create unique index enrollments_active_key on app.enrollments (org_id, campaign_id, lead_id) where status = 'active';
create index enrollments_org_campaign_idx on app.enrollments (org_id, campaign_id, enrolled_at desc);
create index enrollments_org_lead_idx on app.enrollments (org_id, lead_id, finished_at desc);
create index enrollments_due_idx on app.enrollments (next_step_at) where status = 'active' and next_step_at is not null;

alter table app.enrollments enable row level security;
alter table app.enrollments force row level security;
create policy "Enrolments are visible to their own org" on app.enrollments
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.enrollments to authenticated;
grant all on app.enrollments to service_role;

create table app.enrollment_history (
  id bigint generated always as identity,
  org_id text not null references app.orgs (id) on delete cascade,
  enrollment_id text not null,
  at timestamptz not null,
  kind text not null check (kind in ('enrolled', 'queued', 'deferred', 'skipped', 'claimed', 'sent', 'retry',
    'failed', 'unconfirmed', 'canceled', 'completed', 'stopped')),
  step_index integer,
  detail text,
  primary key (org_id, id),
  constraint enrollment_history_enrollment_fkey foreign key (org_id, enrollment_id) references app.enrollments (org_id, id) on delete cascade
);
comment on table app.enrollment_history is 'What happened to an enrolment, step by step: queued, deferred or skipped by a guardrail (with the reason), sent, failed, stopped.';
create index enrollment_history_org_enrollment_idx on app.enrollment_history (org_id, enrollment_id, at, id);

alter table app.enrollment_history enable row level security;
alter table app.enrollment_history force row level security;
create policy "Enrolment history is visible to its own org" on app.enrollment_history
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.enrollment_history to authenticated;
grant all on app.enrollment_history to service_role;

-- ---------------------------------------------------------------------------
-- Suppressions: addresses the org never emails again, keyed by lower(email).
-- ---------------------------------------------------------------------------
create table app.email_suppressions (
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  email_key text not null check (email_key = lower(email_key) and length(email_key) between 3 and 320),
  reason text not null check (reason in ('unsubscribed', 'bounced', 'complained', 'manual')),
  lead_id text,
  detail text check (length(detail) <= 2000),
  created_at timestamptz not null default now(),
  primary key (org_id, email_key)
);
comment on table app.email_suppressions is 'The org''s suppression list: no campaign email goes to these addresses (unsubscribed, hard-bounced, complained, added by hand).';
select app.make_org_private('app.email_suppressions', 'Suppressions');
grant select, insert, delete on app.email_suppressions to authenticated;
grant all on app.email_suppressions to service_role;

-- ---------------------------------------------------------------------------
-- The history: every change of an enrolment appends one entry.
-- ---------------------------------------------------------------------------
create function app._log_enrollment(p_org_id text, p_enrollment_id text, p_kind text, p_step integer, p_detail text, p_at timestamptz)
  returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.enrollment_history (org_id, enrollment_id, kind, step_index, detail, at)
    values (p_org_id, p_enrollment_id, p_kind, p_step, p_detail, p_at)
  $$;
comment on function app._log_enrollment(text, text, text, integer, text, timestamptz) is 'Appends one entry to an enrolment''s history.';
revoke execute on function app._log_enrollment(text, text, text, integer, text, timestamptz) from public;

-- ---------------------------------------------------------------------------
-- Enrolling: the one way in. Returns null when the lead is already active in the
-- campaign (the unique index decides, so concurrent enrolments make one row).
-- ---------------------------------------------------------------------------
create function app._enroll(p_org_id text, p_campaign_id text, p_lead_id text, p_source text,
  p_event_id text, p_now timestamptz)
  returns text
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_id text;
    v_first_delay integer;
  begin
    select coalesce((c.steps -> 0 ->> 'delayMinutes')::integer, 0) into v_first_delay
    from app.campaigns c where c.id = p_campaign_id and c.org_id = p_org_id;
    insert into app.enrollments (org_id, campaign_id, lead_id, source, trigger_event_id, enrolled_at, next_step_at)
    values (p_org_id, p_campaign_id, p_lead_id, p_source, p_event_id, p_now,
            p_now + pg_catalog.make_interval(mins => v_first_delay))
    on conflict (org_id, campaign_id, lead_id) where status = 'active' do nothing
    returning id into v_id;
    if v_id is not null then
      perform app._log_enrollment(p_org_id, v_id, 'enrolled', null, p_source, p_now);
    end if;
    return v_id;
  end;
  $$;
comment on function app._enroll(text, text, text, text, text, timestamptz) is 'Enrols a lead in a campaign (first step due after its delay); null if the lead is already active in it.';
revoke execute on function app._enroll(text, text, text, text, text, timestamptz) from public;

-- When the 48 h cooldown after the lead's last finished enrolment ends (null: none running).
create function app.enrollment_cooldown_until(p_org_id text, p_lead_id text, p_exclude text, p_now timestamptz)
  returns timestamptz
  language sql stable
  security definer
  set search_path = ''
  as $$
    select max(e.finished_at) + interval '48 hours'
    from app.enrollments e
    where e.org_id = p_org_id and e.lead_id = p_lead_id and e.id is distinct from p_exclude
      and e.finished_at > p_now - interval '48 hours'
  $$;
comment on function app.enrollment_cooldown_until(text, text, text, timestamptz) is 'The end of the 48 h cooldown that follows the lead''s most recently finished enrolment, or null when none is running.';
revoke execute on function app.enrollment_cooldown_until(text, text, text, timestamptz) from public;
grant execute on function app.enrollment_cooldown_until(text, text, text, timestamptz) to service_role;

-- security definer to reach app._enroll (shared with the event trigger); every read is
-- filtered to the caller's org explicitly.
create function app.enroll_lead(p_campaign_id text, p_lead_id text, p_now timestamptz default now())
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id constant text := app.current_org_id();
    v_campaign app.campaigns;
    v_lead app.leads;
    v_id text;
    v_active text;
  begin
    -- Security definer: the role rule (a viewer writes nothing) is checked here.
    perform app.ensure_can_write();
    select * into v_campaign from app.campaigns c where c.id = p_campaign_id and c.org_id = v_org_id;
    if v_campaign.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Campaign %s was not found', p_campaign_id),
        'Check the id with GET /api/openclaw/campaigns; campaigns of other workspaces are not visible.');
    end if;
    select * into v_lead from app.leads l where l.id = p_lead_id and l.org_id = v_org_id and l.deleted_at is null;
    if v_lead.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId with GET /api/openclaw/leads; soft-deleted leads and leads of other workspaces cannot be enrolled.');
    end if;
    if v_campaign.status = 'archived' then
      perform app.refuse(409, 'campaign_archived', pg_catalog.format('Campaign %s is archived', p_campaign_id),
        'Archived campaigns take no new leads. Create a new campaign with POST /api/openclaw/campaigns.');
    end if;
    if exists (select from app.email_suppressions s where s.org_id = v_org_id and s.email_key = v_lead.email_key) then
      perform app.refuse(409, 'email_suppressed',
        pg_catalog.format('%s is on this workspace''s suppression list (%s)', v_lead.email,
          (select s.reason from app.email_suppressions s where s.org_id = v_org_id and s.email_key = v_lead.email_key)),
        'Unsubscribed and bounced addresses are never emailed again. Use another channel for this lead.');
    end if;
    v_id := app._enroll(v_org_id, p_campaign_id, p_lead_id, 'manual', null, p_now);
    if v_id is null then
      select e.id into v_active from app.enrollments e
      where e.org_id = v_org_id and e.campaign_id = p_campaign_id and e.lead_id = p_lead_id and e.status = 'active';
      perform app.refuse(409, 'already_enrolled',
        pg_catalog.format('Lead %s is already enrolled in campaign %s (enrolment %s)', p_lead_id, p_campaign_id, v_active),
        pg_catalog.format('A lead runs through a campaign once at a time. GET /api/openclaw/campaigns/%s/enrollments shows its progress; enrol it again after this enrolment completes or stops.', p_campaign_id));
    end if;
    return app.enrollment_json(v_id);
  end;
  $$;
comment on function app.enroll_lead(text, text, timestamptz) is 'Enrols one of the caller''s leads in one of its campaigns; 404 unknown, 409 archived campaign, suppressed address or already active. A finished enrolment may be restarted (its first step waits out the 48 h cooldown).';
revoke execute on function app.enroll_lead(text, text, timestamptz) from public;
grant execute on function app.enroll_lead(text, text, timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Stopping and finishing: one place, used by the event trigger, archiving, guardrails
-- and failed sends. Queued (unclaimed) mail of a stopped enrolment is canceled; mail
-- already claimed is stopped at begin_send.
-- ---------------------------------------------------------------------------
create function app._finish_enrollment(p_org_id text, p_enrollment_id text, p_status text, p_reason text, p_now timestamptz)
  returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    update app.enrollments e
    set status = p_status, finished_at = p_now, stop_reason = p_reason, next_step_at = null, deferred_reason = null
    where e.org_id = p_org_id and e.id = p_enrollment_id and e.status = 'active';
    if not found then
      return false;
    end if;
    perform app._log_enrollment(p_org_id, p_enrollment_id, p_status, null, p_reason, p_now);
    -- Mail not yet claimed will not go out (app.outbox: 74_outbox.sql).
    update app.outbox o set status = 'canceled', reason = 'enrolment ' || p_status || ': ' || p_reason
    where o.org_id = p_org_id and o.enrollment_id = p_enrollment_id and o.status = 'queued';
    return true;
  end;
  $$;
comment on function app._finish_enrollment(text, text, text, text, timestamptz) is 'Ends an active enrolment of the org as completed or stopped (with the reason), logs it and cancels its queued mail; false if it was not active.';
revoke execute on function app._finish_enrollment(text, text, text, text, timestamptz) from public;
