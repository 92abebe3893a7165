-- The outbox: each campaign email, from the moment its step is due until the SMTP server
-- took it (or it failed, was skipped by a guardrail, or the enrolment stopped). A pg_cron
-- job (app.enqueue_due_steps) moves due steps in; mail workers claim rows with
-- `for update skip locked` (app.claim_outbox), mark them sending right before SMTP
-- (app.begin_send), and record the result (app.complete_send, app.fail_send). The
-- guardrails (app._send_guard) are checked when a step is queued and again when it is
-- claimed.
--
--   queued → claimed → sending → sent
--      ↑        │         ├──→ queued again (transient failure, backoff) / failed
--      └────────┘         └──→ unconfirmed (lease ran out while sending: never resent)
--   (lease ran out before sending: nothing went out, queued again)
--   queued → skipped (guardrail) / canceled (enrolment stopped)
--
-- Also here: app.unsubscribe_tokens (the secret in each lead's unsubscribe link),
-- app.enrollment_json, the API's view of an enrolment, which reads the outbox, and
-- app.system_mail, the outbox of the mail the system itself sends (key recovery, sign-in,
-- invitation and welcome links), with the same lease states and its own
-- claim/begin/complete/fail calls.
-- Elsewhere: the pg_cron jobs enqueue-due-steps, release-mail-claims and, on Supabase,
-- mail-worker-http (90_jobs.sql); enrolments and the suppression list
-- (72_enrollments.sql); the unsubscribe link and the bounce webhook
-- (76_campaign_events.sql).

-- ---------------------------------------------------------------------------
-- The outbox
-- ---------------------------------------------------------------------------
create table app.outbox (
  id text not null default app.new_id('msg'),
  org_id text not null references app.orgs (id) on delete cascade,
  enrollment_id text not null,
  campaign_id text not null,
  lead_id text not null,
  step_index integer not null check (step_index between 0 and 7),
  status text not null default 'queued'
    check (status in ('queued', 'claimed', 'sending', 'sent', 'failed', 'skipped', 'canceled', 'unconfirmed')),
  to_email text not null,
  next_attempt_at timestamptz not null,
  attempts integer not null default 0 check (attempts >= 0),
  claimed_by text,
  -- When the row was claimed: the time rate limits count it from.
  claimed_at timestamptz,
  lease_until timestamptz,
  message_id text check (length(message_id) <= 998),
  smtp_response text check (length(smtp_response) <= 2000),
  -- As sent (rendered, possibly rewritten by AI).
  subject text,
  body text,
  warnings text[] not null default '{}',
  reason text,
  last_error text check (length(last_error) <= 2000),
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  -- The same step of an enrolment never goes out twice.
  constraint outbox_enrollment_step_key unique (org_id, enrollment_id, step_index),
  constraint outbox_enrollment_fkey foreign key (org_id, enrollment_id) references app.enrollments (org_id, id) on delete cascade,
  constraint outbox_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.outbox is 'Campaign emails from due to sent: status, attempts, the claiming worker and its lease, the Message-ID, and why a row was deferred, skipped or failed.';
-- The mail worker reports on a row by its id alone (app.begin_send, app.complete_send,
-- app.fail_send): it acts for every org and knows none.
create index outbox_id_idx on app.outbox (id);
create index outbox_org_lead_counted_idx on app.outbox (org_id, lead_id, claimed_at)
  where status in ('claimed', 'sending', 'sent', 'unconfirmed');
create index outbox_org_counted_idx on app.outbox (org_id, claimed_at)
  where status in ('claimed', 'sending', 'sent', 'unconfirmed');
create index outbox_queued_idx on app.outbox (next_attempt_at, id) where status = 'queued';
create index outbox_leased_idx on app.outbox (lease_until) where status in ('claimed', 'sending');
create index outbox_message_id_idx on app.outbox (org_id, message_id) where message_id is not null;

create trigger outbox_touch_updated_at before update on app.outbox
  for each row execute function app._touch_updated_at();

alter table app.outbox enable row level security;
alter table app.outbox force row level security;
create policy "Outbox rows are visible to their own org" on app.outbox
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.outbox to authenticated;
grant all on app.outbox to service_role;

-- ---------------------------------------------------------------------------
-- Unsubscribe tokens: one unguessable token per lead (244 random bits), made when the
-- lead's first email is claimed.
-- ---------------------------------------------------------------------------
create table app.unsubscribe_tokens (
  token text primary key default (replace(pg_catalog.gen_random_uuid()::text, '-', '') || replace(pg_catalog.gen_random_uuid()::text, '-', '')),
  org_id text not null references app.orgs (id) on delete cascade,
  lead_id text not null,
  created_at timestamptz not null default now(),
  constraint unsubscribe_tokens_org_lead_key unique (org_id, lead_id),
  constraint unsubscribe_tokens_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.unsubscribe_tokens is 'The secret in each lead''s unsubscribe link (GET/POST /email/unsubscribe/{token}).';
alter table app.unsubscribe_tokens enable row level security;
alter table app.unsubscribe_tokens force row level security;
create policy "Unsubscribe tokens are visible to their own org" on app.unsubscribe_tokens
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.unsubscribe_tokens to authenticated;
grant all on app.unsubscribe_tokens to service_role;

-- ---------------------------------------------------------------------------
-- The guardrails, in one function: may step p_step_index of this enrolment go out at
-- p_now? action: send | defer (until) | skip (this step; the enrolment moves on) |
-- stop (the enrolment) | cancel (the enrolment already ended).
-- ---------------------------------------------------------------------------
create function app._send_guard(p_org_id text, p_enrollment_id text, p_step_index integer, p_now timestamptz,
  out action text, out reason text, out until timestamptz)
  language plpgsql stable
  security definer
  set search_path = ''
  as $$
  declare
    v_e app.enrollments;
    v_lead app.leads;
    v_step jsonb;
    v_settings app.campaign_settings;
    v_suppressed text;
    v_count integer;
    v_latest timestamptz;
    v_local timestamp;
    v_day date;
    v_open timestamptz;
  begin
    action := 'send';
    select * into v_e from app.enrollments e where e.org_id = p_org_id and e.id = p_enrollment_id;
    if v_e.status is distinct from 'active' then
      action := 'cancel';
      reason := 'enrolment ' || coalesce(v_e.status, 'deleted');
      return;
    end if;
    select * into v_lead from app.leads l where l.org_id = v_e.org_id and l.id = v_e.lead_id;
    if v_lead.deleted_at is not null then
      action := 'stop';
      reason := 'lead deleted';
      return;
    end if;
    select s.reason into v_suppressed from app.email_suppressions s where s.org_id = v_e.org_id and s.email_key = v_lead.email_key;
    if v_suppressed is not null then
      action := 'stop';
      reason := 'address suppressed (' || v_suppressed || ')';
      return;
    end if;

    select c.steps -> p_step_index into v_step from app.campaigns c where c.org_id = v_e.org_id and c.id = v_e.campaign_id;
    if v_step is null then
      action := 'skip';
      reason := 'step no longer in the campaign';
      return;
    end if;
    if v_step -> 'condition' ->> 'skipIf' is not null and exists (
      select from app.events ev
      where ev.org_id = v_e.org_id and ev.lead_id = v_e.lead_id and ev.occurred_at >= v_e.enrolled_at
        and ev.type = case v_step -> 'condition' ->> 'skipIf'
          when 'replied' then 'email_replied' when 'opened' then 'email_opened'
          when 'clicked' then 'cta_clicked' when 'meeting_booked' then 'meeting_booked' end) then
      action := 'skip';
      reason := 'condition skipIf ' || (v_step -> 'condition' ->> 'skipIf') || ' met';
      return;
    end if;

    if p_step_index = 0 then
      until := app.enrollment_cooldown_until(v_e.org_id, v_e.lead_id, v_e.id, p_now);
      if until is not null then
        action := 'defer';
        reason := '48 h cooldown after the lead''s previous sequence ended';
        return;
      end if;
    end if;

    select count(*), max(o.claimed_at) into v_count, v_latest
    from app.outbox o
    where o.org_id = v_e.org_id and o.lead_id = v_e.lead_id and o.status in ('claimed', 'sending', 'sent', 'unconfirmed')
      and o.claimed_at > p_now - interval '1 hour';
    if v_count >= 1 then
      action := 'defer';
      reason := 'at most 1 email per lead per rolling hour';
      until := v_latest + interval '1 hour';
      return;
    end if;
    -- The third most recent send in the last 24 h: once it is 24 h old, a slot is free.
    select o.claimed_at into v_latest
    from app.outbox o
    where o.org_id = v_e.org_id and o.lead_id = v_e.lead_id and o.status in ('claimed', 'sending', 'sent', 'unconfirmed')
      and o.claimed_at > p_now - interval '24 hours'
    order by o.claimed_at desc offset 2 limit 1;
    if v_latest is not null then
      action := 'defer';
      reason := 'at most 3 emails per lead per rolling 24 hours';
      until := v_latest + interval '24 hours';
      return;
    end if;

    select * into v_settings from app.campaign_settings s where s.org_id = v_e.org_id;
    v_local := p_now at time zone v_settings.time_zone;
    select count(*) into v_count
    from app.outbox o
    where o.org_id = v_e.org_id and o.status in ('claimed', 'sending', 'sent', 'unconfirmed')
      and o.claimed_at >= (v_local::date)::timestamp at time zone v_settings.time_zone;
    if v_count >= v_settings.daily_cap then
      action := 'defer';
      reason := pg_catalog.format('workspace daily cap of %s emails reached', v_settings.daily_cap);
      until := (v_local::date + 1)::timestamp at time zone v_settings.time_zone;
      return;
    end if;

    if v_settings.window_start is not null then
      for i in 0..7 loop
        v_day := v_local::date + i;
        continue when v_settings.weekdays_only and extract(isodow from v_day) > 5;
        if i = 0 and v_local::time >= v_settings.window_start and v_local::time < v_settings.window_end then
          return;
        end if;
        v_open := (v_day + v_settings.window_start) at time zone v_settings.time_zone;
        if v_open > p_now then
          action := 'defer';
          reason := pg_catalog.format('outside the send window %s-%s %s%s', pg_catalog.to_char(v_settings.window_start, 'HH24:MI'),
            pg_catalog.to_char(v_settings.window_end, 'HH24:MI'), v_settings.time_zone,
            case when v_settings.weekdays_only then ' on weekdays' else '' end);
          until := v_open;
          return;
        end if;
      end loop;
    end if;
  end;
  $$;
comment on function app._send_guard(text, text, integer, timestamptz) is 'The send guardrails for one step of an org''s enrolment at p_now: enrolment still active, lead not deleted, address not suppressed, step condition, 48 h cooldown before a first step, 1 per lead per hour, 3 per lead per 24 h, the org''s daily cap and send window; says send, defer (until when), skip, stop or cancel, with the reason.';
revoke execute on function app._send_guard(text, text, integer, timestamptz) from public;
grant execute on function app._send_guard(text, text, integer, timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Moving an enrolment on after a step was sent or skipped.
-- ---------------------------------------------------------------------------
create function app._advance_enrollment(p_org_id text, p_enrollment_id text, p_step_index integer, p_now timestamptz)
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_steps jsonb;
  begin
    select c.steps into v_steps
    from app.enrollments e join app.campaigns c on c.org_id = e.org_id and c.id = e.campaign_id
    where e.org_id = p_org_id and e.id = p_enrollment_id and e.status = 'active' and e.current_step = p_step_index
    for no key update of e;
    if v_steps is null then
      return;
    end if;
    if p_step_index + 1 >= jsonb_array_length(v_steps) then
      perform app._finish_enrollment(p_org_id, p_enrollment_id, 'completed', pg_catalog.format('all %s steps done', jsonb_array_length(v_steps)), p_now);
    else
      update app.enrollments e
      set current_step = p_step_index + 1, deferred_reason = null,
          next_step_at = p_now + pg_catalog.make_interval(mins => coalesce((v_steps -> (p_step_index + 1) ->> 'delayMinutes')::integer, 0))
      where e.org_id = p_org_id and e.id = p_enrollment_id;
    end if;
  end;
  $$;
comment on function app._advance_enrollment(text, text, integer, timestamptz) is 'After step p_step_index of an org''s enrolment went out (or was skipped): schedules the next step after its delay, or completes the enrolment.';
revoke execute on function app._advance_enrollment(text, text, integer, timestamptz) from public;

-- A step the guardrails skip (or that stops the enrolment) still gets its outbox row, so
-- the history shows it and it can never be sent later.
create function app._settle_blocked_step(p_org_id text, p_enrollment_id text, p_step_index integer, p_action text, p_reason text, p_now timestamptz)
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_e app.enrollments;
  begin
    select * into v_e from app.enrollments e where e.org_id = p_org_id and e.id = p_enrollment_id;
    insert into app.outbox as o (org_id, enrollment_id, campaign_id, lead_id, step_index, status, to_email, next_attempt_at, reason)
    select v_e.org_id, v_e.id, v_e.campaign_id, v_e.lead_id, p_step_index,
           case when p_action = 'cancel' then 'canceled' else 'skipped' end, l.email, p_now, p_reason
    from app.leads l where l.org_id = v_e.org_id and l.id = v_e.lead_id
    on conflict (org_id, enrollment_id, step_index) do update
      set status = excluded.status, reason = excluded.reason, claimed_by = null, lease_until = null
      where o.status in ('queued', 'claimed');
    perform app._log_enrollment(v_e.org_id, v_e.id, case when p_action = 'cancel' then 'canceled' else 'skipped' end, p_step_index, p_reason, p_now);
    if p_action = 'skip' then
      perform app._advance_enrollment(v_e.org_id, v_e.id, p_step_index, p_now);
    elsif p_action = 'stop' then
      perform app._finish_enrollment(v_e.org_id, v_e.id, 'stopped', p_reason, p_now);
    end if;
  end;
  $$;
comment on function app._settle_blocked_step(text, text, integer, text, text, timestamptz) is 'Records a step the guardrails skip, stop or cancel (outbox row + history) and moves the enrolment on or stops it.';
revoke execute on function app._settle_blocked_step(text, text, integer, text, text, timestamptz) from public;

-- ---------------------------------------------------------------------------
-- pg_cron, every minute: due steps of active enrolments in active campaigns → outbox.
-- ---------------------------------------------------------------------------
create function app.enqueue_due_steps(p_now timestamptz default now()) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_e app.enrollments;
    v_steps integer;
    v_guard record;
    v_queued integer := 0;
  begin
    for v_e in
      select e.* from app.enrollments e
      where e.status = 'active' and e.next_step_at <= p_now
        and exists (select from app.campaigns c where c.org_id = e.org_id and c.id = e.campaign_id and c.status = 'active')
      order by e.next_step_at, e.id
      limit 5000
      for update of e skip locked
    loop
      select jsonb_array_length(c.steps) into v_steps from app.campaigns c where c.org_id = v_e.org_id and c.id = v_e.campaign_id;
      if v_e.current_step >= v_steps then
        perform app._finish_enrollment(v_e.org_id, v_e.id, 'completed', pg_catalog.format('all %s steps done', v_steps), p_now);
        continue;
      end if;
      select * into v_guard from app._send_guard(v_e.org_id, v_e.id, v_e.current_step, p_now) g;
      if v_guard.action = 'send' then
        insert into app.outbox (org_id, enrollment_id, campaign_id, lead_id, step_index, to_email, next_attempt_at)
        select v_e.org_id, v_e.id, v_e.campaign_id, v_e.lead_id, v_e.current_step, l.email, p_now
        from app.leads l where l.org_id = v_e.org_id and l.id = v_e.lead_id
        on conflict (org_id, enrollment_id, step_index) do nothing;
        update app.enrollments e set next_step_at = null, deferred_reason = null where e.org_id = v_e.org_id and e.id = v_e.id;
        perform app._log_enrollment(v_e.org_id, v_e.id, 'queued', v_e.current_step, null, p_now);
        v_queued := v_queued + 1;
      elsif v_guard.action = 'defer' then
        update app.enrollments e set next_step_at = v_guard.until, deferred_reason = v_guard.reason
        where e.org_id = v_e.org_id and e.id = v_e.id;
        perform app._log_enrollment(v_e.org_id, v_e.id, 'deferred', v_e.current_step,
          v_guard.reason || ' (until ' || v_guard.until::text || ')', p_now);
      else
        perform app._settle_blocked_step(v_e.org_id, v_e.id, v_e.current_step, v_guard.action, v_guard.reason, p_now);
      end if;
    end loop;
    return v_queued;
  end;
  $$;
comment on function app.enqueue_due_steps(timestamptz) is 'pg_cron: queues every due step that passes the guardrails; a blocked step is deferred to the next allowed time or skipped, with the reason; returns how many were queued.';
revoke execute on function app.enqueue_due_steps(timestamptz) from public;
grant execute on function app.enqueue_due_steps(timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Crash safety: a claim whose lease ran out before sending began goes back to the queue
-- (nothing was sent); a send whose lease ran out becomes unconfirmed (the SMTP server may
-- have accepted it) and is never sent again automatically.
-- ---------------------------------------------------------------------------
create function app.release_expired_claims(p_now timestamptz default now()) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row record;
    v_count integer := 0;
  begin
    for v_row in
      update app.outbox o
      set status = case when o.status = 'claimed' then 'queued' else 'unconfirmed' end,
          next_attempt_at = case when o.status = 'claimed' then p_now else o.next_attempt_at end,
          claimed_at = case when o.status = 'claimed' then null else o.claimed_at end,
          lease_until = null,
          reason = case when o.status = 'claimed'
            then pg_catalog.format('claim by %s expired at %s before sending began: nothing was sent, queued again', o.claimed_by, o.lease_until)
            else pg_catalog.format('%s began sending but did not confirm before %s: the SMTP server may have accepted it, so it is never resent automatically', o.claimed_by, o.lease_until)
          end
      where o.status in ('claimed', 'sending') and o.lease_until < p_now
      returning o.org_id, o.enrollment_id, o.step_index, o.status, o.reason
    loop
      perform app._log_enrollment(v_row.org_id, v_row.enrollment_id,
        case when v_row.status = 'queued' then 'retry' else 'unconfirmed' end, v_row.step_index, v_row.reason, p_now);
      if v_row.status = 'unconfirmed' then
        -- Treated as probably delivered: the sequence goes on with its next step.
        perform app._advance_enrollment(v_row.org_id, v_row.enrollment_id, v_row.step_index, p_now);
      end if;
      v_count := v_count + 1;
    end loop;
    return v_count;
  end;
  $$;
comment on function app.release_expired_claims(timestamptz) is 'pg_cron and claim_outbox: expired claims go back to queued (nothing was sent); expired sends become unconfirmed and are never resent; returns how many rows changed.';
revoke execute on function app.release_expired_claims(timestamptz) from public;
grant execute on function app.release_expired_claims(timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Workers: claim, begin, complete or fail.
-- ---------------------------------------------------------------------------
-- What a worker needs to send one row.
create function app._outbox_payload(p_outbox_id text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'id', o.id, 'orgId', o.org_id, 'leadId', o.lead_id, 'campaignId', o.campaign_id,
      'enrollmentId', o.enrollment_id, 'stepIndex', o.step_index, 'attempt', o.attempts,
      'to', o.to_email, 'fromName', coalesce(c.from_name, g.name),
      'subject', c.steps -> o.step_index ->> 'subject', 'body', c.steps -> o.step_index ->> 'body',
      'variables', app.template_values(l),
      'ai', pg_catalog.jsonb_build_object('enabled', c.ai_enabled, 'model', c.ai_config ->> 'model',
        'tone', c.ai_config ->> 'tone', 'maxRetries', coalesce((c.ai_config ->> 'maxRetries')::integer, 2)),
      'enrichment', l.enrichment,
      'unsubscribeToken', t.token)
    from app.outbox o
    join app.campaigns c on c.org_id = o.org_id and c.id = o.campaign_id
    join app.orgs g on g.id = o.org_id
    join app.leads l on l.org_id = o.org_id and l.id = o.lead_id
    left join app.unsubscribe_tokens t on t.org_id = o.org_id and t.lead_id = o.lead_id
    where o.id = p_outbox_id
  $$;
comment on function app._outbox_payload(text) is 'One claimed outbox row as the mail worker receives it: recipient, templates (unrendered), variables, AI settings, enrichment, unsubscribe token.';
revoke execute on function app._outbox_payload(text) from public;

create function app.claim_outbox(p_worker text, p_limit integer default 10, p_lease interval default '2 minutes',
  p_now timestamptz default now())
  returns setof jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.outbox;
    v_guard record;
    v_passed text[] := '{}'::text[];
    v_claimed integer := 0;
  begin
    if p_worker is null or length(p_worker) not between 1 and 200 or p_limit not between 1 and 1000 or p_lease <= interval '0' then
      perform app.refuse(400, 'invalid_claim', 'claim_outbox needs a worker name (1-200 characters), a limit of 1-1000 and a positive lease',
        'Call app.claim_outbox(''worker-1'', 10, ''2 minutes'').');
    end if;
    perform app.release_expired_claims(p_now);
    loop
      exit when v_claimed >= p_limit;
      select o.* into v_row
      from app.outbox o
      where o.status = 'queued' and o.next_attempt_at <= p_now and o.id <> all (v_passed)
        and exists (select from app.campaigns c where c.org_id = o.org_id and c.id = o.campaign_id and c.status = 'active')
      order by o.next_attempt_at, o.id
      limit 1
      for update of o skip locked;
      exit when v_row.id is null;
      -- One claimer per org at a time, so per-lead limits and the daily cap are exact across
      -- workers; another worker passes over this org's rows instead of waiting.
      if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('app.claim_outbox:' || v_row.org_id, 0)) then
        v_passed := v_passed || v_row.id;
        v_row.id := null;
        continue;
      end if;
      select * into v_guard from app._send_guard(v_row.org_id, v_row.enrollment_id, v_row.step_index, p_now) g;
      if v_guard.action = 'send' then
        insert into app.unsubscribe_tokens (org_id, lead_id) values (v_row.org_id, v_row.lead_id) on conflict do nothing;
        update app.outbox o
        set status = 'claimed', claimed_by = p_worker, claimed_at = p_now, lease_until = p_now + p_lease,
            attempts = o.attempts + 1, reason = null,
            to_email = (select l.email from app.leads l where l.org_id = o.org_id and l.id = o.lead_id)
        where o.org_id = v_row.org_id and o.id = v_row.id;
        perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'claimed', v_row.step_index, p_worker, p_now);
        v_claimed := v_claimed + 1;
        return next app._outbox_payload(v_row.id);
      elsif v_guard.action = 'defer' then
        update app.outbox o set next_attempt_at = v_guard.until, reason = v_guard.reason
        where o.org_id = v_row.org_id and o.id = v_row.id;
        perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'deferred', v_row.step_index,
          v_guard.reason || ' (until ' || v_guard.until::text || ')', p_now);
      else
        perform app._settle_blocked_step(v_row.org_id, v_row.enrollment_id, v_row.step_index, v_guard.action, v_guard.reason, p_now);
      end if;
      v_row.id := null;
    end loop;
  end;
  $$;
comment on function app.claim_outbox(text, integer, interval, timestamptz) is 'Mail workers: releases expired claims, then claims up to p_limit due rows (skip locked), re-checking the guardrails (blocked rows are deferred or skipped with the reason, not returned); returns what each claimed email needs.';
revoke execute on function app.claim_outbox(text, integer, interval, timestamptz) from public;
grant execute on function app.claim_outbox(text, integer, interval, timestamptz) to service_role;

create function app.begin_send(p_outbox_id text, p_worker text, p_now timestamptz default now()) returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.outbox;
    v_status text;
  begin
    select * into v_row from app.outbox o where o.id = p_outbox_id for update;
    if v_row.id is null or v_row.status <> 'claimed' or v_row.claimed_by is distinct from p_worker or v_row.lease_until < p_now then
      return false;
    end if;
    -- The lead may have replied, unsubscribed or bounced since the claim.
    select e.status into v_status from app.enrollments e where e.org_id = v_row.org_id and e.id = v_row.enrollment_id;
    if v_status <> 'active' then
      perform app._settle_blocked_step(v_row.org_id, v_row.enrollment_id, v_row.step_index, 'cancel', 'enrolment ' || v_status || ' before sending', p_now);
      return false;
    end if;
    -- The sending lease: a worker that has not confirmed by then is presumed dead.
    update app.outbox o set status = 'sending', lease_until = p_now + interval '10 minutes'
    where o.org_id = v_row.org_id and o.id = v_row.id;
    return true;
  end;
  $$;
comment on function app.begin_send(text, text, timestamptz) is 'Mail workers, right before SMTP: claimed → sending (10-minute sending lease); false when the lease was lost or the enrolment stopped (then do not send).';
revoke execute on function app.begin_send(text, text, timestamptz) from public;
grant execute on function app.begin_send(text, text, timestamptz) to service_role;

create function app._own_outbox_row(p_outbox_id text, p_worker text, p_statuses text[]) returns app.outbox
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.outbox;
  begin
    select * into v_row from app.outbox o where o.id = p_outbox_id for update;
    if v_row.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Outbox row %s was not found', p_outbox_id), 'Pass the id claim_outbox returned.');
    end if;
    if v_row.claimed_by is distinct from p_worker or not v_row.status = any (p_statuses) then
      perform app.refuse(409, 'not_claimed_by_worker',
        pg_catalog.format('Outbox row %s is %s (claimed by %s), not %s by %s', p_outbox_id, v_row.status,
          coalesce(v_row.claimed_by, 'nobody'), array_to_string(p_statuses, '/'), p_worker),
        'Only the worker holding the claim records its result; claim again with app.claim_outbox.');
    end if;
    return v_row;
  end;
  $$;
comment on function app._own_outbox_row(text, text, text[]) is 'Locks an outbox row the worker holds in one of the given statuses, or refuses (404 unknown, 409 not this worker''s).';
revoke execute on function app._own_outbox_row(text, text, text[]) from public;

create function app.complete_send(p_outbox_id text, p_worker text, p_message_id text, p_smtp_response text,
  p_subject text, p_body text, p_warnings text[] default '{}', p_now timestamptz default now())
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    -- A late confirmation of an unconfirmed row is the truth: it was sent.
    v_row constant app.outbox := app._own_outbox_row(p_outbox_id, p_worker, array['sending', 'unconfirmed']);
    v_actor constant text := 'mail-worker:' || p_worker;
  begin
    update app.outbox o
    set status = 'sent', sent_at = p_now, message_id = p_message_id, smtp_response = left(p_smtp_response, 2000),
        subject = p_subject, body = p_body, warnings = coalesce(p_warnings, '{}'), lease_until = null, reason = null
    where o.org_id = v_row.org_id and o.id = v_row.id;
    insert into app.touchpoints (org_id, lead_id, type, direction, summary, occurred_at, metadata, source, created_by)
    values (v_row.org_id, v_row.lead_id, 'email', 'outbound', left(p_subject, 10000), p_now,
      pg_catalog.jsonb_build_object('messageId', p_message_id, 'outboxId', v_row.id, 'campaignId', v_row.campaign_id,
        'enrollmentId', v_row.enrollment_id, 'step', v_row.step_index),
      'campaign', v_actor);
    insert into app.events (org_id, lead_id, type, occurred_at, source, actor, external_id, data)
    values (v_row.org_id, v_row.lead_id, 'email_sent', p_now, 'campaign', v_actor, p_message_id,
      pg_catalog.jsonb_build_object('campaignId', v_row.campaign_id, 'enrollmentId', v_row.enrollment_id,
        'step', v_row.step_index, 'subject', left(p_subject, 500), 'messageId', p_message_id))
    on conflict (org_id, type, external_id) where external_id is not null do nothing;
    perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'sent', v_row.step_index, p_message_id, p_now);
    if v_row.status = 'sending' then
      perform app._advance_enrollment(v_row.org_id, v_row.enrollment_id, v_row.step_index, p_now);
    end if;
  end;
  $$;
comment on function app.complete_send(text, text, text, text, text, text, text[], timestamptz) is 'Mail workers, after the SMTP server accepted: sent, with the rendered subject/body, Message-ID and warnings; logs a touchpoint and an email_sent event; schedules the next step or completes the enrolment.';
revoke execute on function app.complete_send(text, text, text, text, text, text, text[], timestamptz) from public;
grant execute on function app.complete_send(text, text, text, text, text, text, text[], timestamptz) to service_role;

create function app.fail_send(p_outbox_id text, p_worker text, p_error text, p_permanent boolean,
  p_now timestamptz default now())
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row constant app.outbox := app._own_outbox_row(p_outbox_id, p_worker, array['claimed', 'sending']);
    v_retry_at timestamptz;
  begin
    if not p_permanent and v_row.attempts < 5 then
      -- Backoff 1, 2, 4, 8 minutes after attempts 1-4; the 5th failure is final.
      v_retry_at := p_now + pg_catalog.make_interval(mins => (2 ^ (v_row.attempts - 1))::integer);
      update app.outbox o
      set status = 'queued', next_attempt_at = v_retry_at, last_error = left(p_error, 2000),
          claimed_by = null, claimed_at = null, lease_until = null,
          reason = pg_catalog.format('attempt %s failed; retry at %s', v_row.attempts, v_retry_at)
      where o.org_id = v_row.org_id and o.id = v_row.id;
      perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'retry', v_row.step_index,
        pg_catalog.format('attempt %s failed (%s); retry at %s', v_row.attempts, left(p_error, 500), v_retry_at), p_now);
    else
      update app.outbox o
      set status = 'failed', last_error = left(p_error, 2000), lease_until = null,
          reason = case when p_permanent then 'permanent failure' else pg_catalog.format('gave up after %s attempts', v_row.attempts) end
      where o.org_id = v_row.org_id and o.id = v_row.id;
      perform app._log_enrollment(v_row.org_id, v_row.enrollment_id, 'failed', v_row.step_index, left(p_error, 500), p_now);
      perform app._finish_enrollment(v_row.org_id, v_row.enrollment_id, 'stopped', 'send failed: ' || left(p_error, 500), p_now);
    end if;
  end;
  $$;
comment on function app.fail_send(text, text, text, boolean, timestamptz) is 'Mail workers, when SMTP refused or failed: a transient failure is queued again after a backoff (1, 2, 4, 8 min; final after 5 attempts); a permanent one fails the row and stops the enrolment.';
revoke execute on function app.fail_send(text, text, text, boolean, timestamptz) from public;
grant execute on function app.fail_send(text, text, text, boolean, timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- The API's view of an enrolment, with its history and the cooldown it waits for. It is
-- plain SQL that reads the outbox, so it lives after the outbox, not with enrolments.
-- ---------------------------------------------------------------------------
create function app.enrollment_json(p_enrollment_id text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'id', e.id, 'campaignId', e.campaign_id, 'leadId', e.lead_id, 'status', e.status,
      'currentStep', e.current_step, 'totalSteps', jsonb_array_length(c.steps),
      'nextStepAt', e.next_step_at, 'deferredReason', e.deferred_reason,
      'source', e.source, 'enrolledAt', e.enrolled_at, 'finishedAt', e.finished_at, 'stopReason', e.stop_reason,
      'cooldownUntil', case when e.status = 'active' and e.current_step = 0
        then app.enrollment_cooldown_until(e.org_id, e.lead_id, e.id, pg_catalog.now()) end,
      'history', coalesce((
        select jsonb_agg(jsonb_build_object('at', h.at, 'event', h.kind, 'step', h.step_index, 'detail', h.detail) order by h.at, h.id)
        from app.enrollment_history h where h.org_id = e.org_id and h.enrollment_id = e.id), '[]'),
      'messages', coalesce((
        select jsonb_agg(jsonb_build_object('id', o.id, 'step', o.step_index, 'status', o.status, 'attempts', o.attempts,
          'to', o.to_email, 'messageId', o.message_id, 'subject', o.subject, 'reason', o.reason, 'lastError', o.last_error,
          'warnings', o.warnings, 'sentAt', o.sent_at, 'nextAttemptAt', case when o.status = 'queued' then o.next_attempt_at end)
          order by o.step_index)
        from app.outbox o where o.org_id = e.org_id and o.enrollment_id = e.id), '[]'))
    from app.enrollments e
    join app.campaigns c on c.org_id = e.org_id and c.id = e.campaign_id
    where e.org_id = app.current_org_id() and e.id = p_enrollment_id
  $$;
comment on function app.enrollment_json(text) is 'One of the caller''s enrolments as the API shows it: status, next step, deferral reason, cooldown, history and its messages.';
revoke execute on function app.enrollment_json(text) from public;
grant execute on function app.enrollment_json(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- System mail: what the system sends a workspace's people, each mail carrying one of
-- app.email_links (24_members.sql): a key recovery link to the owner, a sign-in link, an
-- invitation, the owner's welcome. Queued in the transaction that makes it owed and sent by
-- the same mail workers. No campaign, enrolment, guardrail or lead is involved, so it has its
-- own small outbox, with the campaign outbox's states and leases:
--   queued → claimed → sending → sent
--      ↑        │         ├──→ queued again (transient failure, backoff) / failed
--      └────────┘         └──→ unconfirmed (lease ran out while sending: never resent)
--   claimed → skipped (nothing to send any more, e.g. the link was used or is too old)
-- Mail someone is waiting for (key recovery, sign-in) is claimed before invitations and
-- welcomes. Its content is made at app.begin_system_mail, right before SMTP, so the secret it
-- carries (the link's token) is never stored in plaintext, here or anywhere.
-- ---------------------------------------------------------------------------
create table app.system_mail (
  id text not null default app.new_id('sys'),
  org_id text not null references app.orgs (id) on delete cascade,
  kind text not null constraint system_mail_kind_check check (kind in ('key_recovery', 'sign_in', 'invitation', 'welcome')),
  -- The link it carries (its purpose is the mail's kind).
  link_id text not null,
  to_email text not null check (length(to_email) <= 320),
  status text not null default 'queued' constraint system_mail_status_check
    check (status in ('queued', 'claimed', 'sending', 'sent', 'failed', 'skipped', 'unconfirmed')),
  next_attempt_at timestamptz not null default now(),
  attempts integer not null default 0 check (attempts >= 0),
  claimed_by text,
  claimed_at timestamptz,
  lease_until timestamptz,
  message_id text check (length(message_id) <= 998),
  smtp_response text check (length(smtp_response) <= 2000),
  reason text,
  last_error text check (length(last_error) <= 2000),
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint system_mail_link_fkey foreign key (org_id, link_id) references app.email_links (org_id, id) on delete cascade
);
comment on table app.system_mail is 'Mail the system sends a workspace''s people (key recovery, sign-in, invitation and welcome links), from queued to sent, with the claiming worker, its lease and the outcome; never the secret a mail carries.';
create index system_mail_org_idx on app.system_mail (org_id, created_at);
-- The mail worker reports on a mail by its id alone: it acts for every org and knows none.
create index system_mail_id_idx on app.system_mail (id);
create index system_mail_link_idx on app.system_mail (org_id, link_id);
-- The claim order: mail someone is waiting for first.
create index system_mail_queued_idx on app.system_mail ((kind in ('invitation', 'welcome')), next_attempt_at, id) where status = 'queued';
create index system_mail_leased_idx on app.system_mail (lease_until) where status in ('claimed', 'sending');

create trigger system_mail_touch_updated_at before update on app.system_mail
  for each row execute function app._touch_updated_at();

alter table app.system_mail enable row level security;
alter table app.system_mail force row level security;
-- Written only by app._send_email_link (24_members.sql) and the worker calls below.
create policy "System mail is visible to its own org" on app.system_mail
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.system_mail to authenticated;
grant all on app.system_mail to service_role;

create function app.claim_system_mail(p_worker text, p_limit integer default 10, p_lease interval default '2 minutes',
  p_now timestamptz default now())
  returns setof jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    if p_worker is null or length(p_worker) not between 1 and 200 or p_limit not between 1 and 1000 or p_lease <= interval '0' then
      perform app.refuse(400, 'invalid_claim', 'claim_system_mail needs a worker name (1-200 characters), a limit of 1-1000 and a positive lease',
        'Call app.claim_system_mail(''worker-1'', 10, ''2 minutes'').');
    end if;
    -- Expired leases first, as for campaign mail: a claim that never began sending is queued
    -- again (nothing went out); a send never confirmed may have gone out and is not repeated.
    update app.system_mail m
    set status = case when m.status = 'claimed' then 'queued' else 'unconfirmed' end,
        next_attempt_at = case when m.status = 'claimed' then p_now else m.next_attempt_at end,
        lease_until = null,
        reason = case when m.status = 'claimed'
          then pg_catalog.format('claim by %s expired at %s before sending began: nothing was sent, queued again', m.claimed_by, m.lease_until)
          else pg_catalog.format('%s began sending but did not confirm before %s: the SMTP server may have accepted it, so it is never resent automatically', m.claimed_by, m.lease_until)
        end
    where m.status in ('claimed', 'sending') and m.lease_until < p_now;

    return query
      update app.system_mail m
      set status = 'claimed', claimed_by = p_worker, claimed_at = p_now, lease_until = p_now + p_lease,
          attempts = m.attempts + 1, reason = null
      where (m.org_id, m.id) in (
        select q.org_id, q.id from app.system_mail q
        where q.status = 'queued' and q.next_attempt_at <= p_now
        order by q.kind in ('invitation', 'welcome'), q.next_attempt_at, q.id
        limit p_limit
        for update skip locked)
      returning pg_catalog.jsonb_build_object('id', m.id, 'kind', m.kind, 'to', m.to_email, 'attempt', m.attempts);
  end;
  $$;
comment on function app.claim_system_mail(text, integer, interval, timestamptz) is 'Mail workers: settles expired leases (claimed → queued, sending → unconfirmed), then claims up to p_limit due system mails (skip locked); returns id, kind, recipient and attempt of each.';
revoke execute on function app.claim_system_mail(text, integer, interval, timestamptz) from public;
grant execute on function app.claim_system_mail(text, integer, interval, timestamptz) to service_role;

create function app.begin_system_mail(p_id text, p_worker text, p_now timestamptz default now()) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.system_mail;
    v_token text;
    v_expires_at timestamptz;
    v_workspace text;
    v_member app.org_members;
    v_inviter text;
  begin
    select * into v_row from app.system_mail m where m.id = p_id for update;
    if v_row.id is null or v_row.status <> 'claimed' or v_row.claimed_by is distinct from p_worker or v_row.lease_until < p_now then
      return null;
    end if;
    -- The link's token is made now, stored hashed.
    select t.token, t.expires_at into v_token, v_expires_at from app._issue_email_link_token(v_row.org_id, v_row.link_id, p_now) t;
    if v_token is null then
      update app.system_mail m
      set status = 'skipped', lease_until = null,
          reason = 'the link was already used, or its mail is too late (sign-in and key recovery links after an hour, invitations and welcomes after 7 days): nothing to send'
      where m.org_id = v_row.org_id and m.id = p_id;
      return null;
    end if;
    select o.workspace_name into v_workspace from app.orgs o where o.id = v_row.org_id;
    select m.* into v_member from app.email_links l
    join app.org_members m on m.org_id = l.org_id and m.id = l.member_id
    where l.org_id = v_row.org_id and l.id = v_row.link_id;
    if v_row.kind = 'invitation' then
      select coalesce(
        (select i.email from app.org_members i where i.org_id = v_row.org_id and i.id = v_member.invited_by),
        (select 'an agent (API key "' || k.name || '")' from app.api_keys k where k.org_id = v_row.org_id and k.id = v_member.invited_by))
      into v_inviter;
    end if;
    -- The sending lease: a worker that has not confirmed by then is presumed dead.
    update app.system_mail m set status = 'sending', lease_until = p_now + interval '10 minutes'
    where m.org_id = v_row.org_id and m.id = p_id;
    return pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('id', v_row.id, 'kind', v_row.kind, 'to', v_row.to_email,
      'workspaceName', v_workspace, 'token', v_token, 'expiresAt', v_expires_at,
      'role', v_member.role, 'invitedBy', v_inviter));
  end;
  $$;
comment on function app.begin_system_mail(text, text, timestamptz) is 'Mail workers, right before SMTP: claimed → sending (10-minute lease) and the mail''s content, made now (its link''s one-time token, stored only hashed; for members their role, for invitations who invited them); null when the lease was lost or there is nothing left to send (then skipped).';
revoke execute on function app.begin_system_mail(text, text, timestamptz) from public;
grant execute on function app.begin_system_mail(text, text, timestamptz) to service_role;

create function app._own_system_mail(p_id text, p_worker text, p_statuses text[]) returns app.system_mail
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.system_mail;
  begin
    select * into v_row from app.system_mail m where m.id = p_id for update;
    if v_row.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('System mail %s was not found', p_id), 'Pass the id claim_system_mail returned.');
    end if;
    if v_row.claimed_by is distinct from p_worker or not v_row.status = any (p_statuses) then
      perform app.refuse(409, 'not_claimed_by_worker',
        pg_catalog.format('System mail %s is %s (claimed by %s), not %s by %s', p_id, v_row.status,
          coalesce(v_row.claimed_by, 'nobody'), array_to_string(p_statuses, '/'), p_worker),
        'Only the worker holding the claim records its result; claim again with app.claim_system_mail.');
    end if;
    return v_row;
  end;
  $$;
comment on function app._own_system_mail(text, text, text[]) is 'Locks a system mail the worker holds in one of the given statuses, or refuses (404 unknown, 409 not this worker''s).';
revoke execute on function app._own_system_mail(text, text, text[]) from public;

create function app.complete_system_mail(p_id text, p_worker text, p_message_id text, p_smtp_response text,
  p_now timestamptz default now())
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    -- A late confirmation of an unconfirmed mail is the truth: it was sent.
    v_row constant app.system_mail := app._own_system_mail(p_id, p_worker, array['sending', 'unconfirmed']);
  begin
    update app.system_mail m
    set status = 'sent', sent_at = p_now, message_id = p_message_id, smtp_response = left(p_smtp_response, 2000),
        lease_until = null, reason = null
    where m.org_id = v_row.org_id and m.id = p_id;
  end;
  $$;
comment on function app.complete_system_mail(text, text, text, text, timestamptz) is 'Mail workers, after the SMTP server accepted a system mail: sent, with its Message-ID and the server''s reply.';
revoke execute on function app.complete_system_mail(text, text, text, text, timestamptz) from public;
grant execute on function app.complete_system_mail(text, text, text, text, timestamptz) to service_role;

create function app.fail_system_mail(p_id text, p_worker text, p_error text, p_permanent boolean,
  p_now timestamptz default now())
  returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row constant app.system_mail := app._own_system_mail(p_id, p_worker, array['claimed', 'sending']);
    v_retry_at timestamptz;
  begin
    if not p_permanent and v_row.attempts < 5 then
      -- Backoff 1, 2, 4, 8 minutes after attempts 1-4, as for campaign mail; the 5th failure is final.
      v_retry_at := p_now + pg_catalog.make_interval(mins => (2 ^ (v_row.attempts - 1))::integer);
      update app.system_mail m
      set status = 'queued', next_attempt_at = v_retry_at, last_error = left(p_error, 2000),
          claimed_by = null, claimed_at = null, lease_until = null,
          reason = pg_catalog.format('attempt %s failed; retry at %s', v_row.attempts, v_retry_at)
      where m.org_id = v_row.org_id and m.id = p_id;
    else
      update app.system_mail m
      set status = 'failed', last_error = left(p_error, 2000), lease_until = null,
          reason = case when p_permanent then 'permanent failure' else pg_catalog.format('gave up after %s attempts', v_row.attempts) end
      where m.org_id = v_row.org_id and m.id = p_id;
    end if;
  end;
  $$;
comment on function app.fail_system_mail(text, text, text, boolean, timestamptz) is 'Mail workers, when SMTP refused or failed a system mail: a transient failure is queued again after a backoff (1, 2, 4, 8 min; final after 5 attempts); a permanent one fails it.';
revoke execute on function app.fail_system_mail(text, text, text, boolean, timestamptz) from public;
grant execute on function app.fail_system_mail(text, text, text, boolean, timestamptz) to service_role;
