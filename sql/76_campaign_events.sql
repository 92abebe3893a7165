-- What starts and stops enrolments, whoever records the event, and the campaign actions
-- that go with them.
--   * the events_40_campaigns trigger on app.events (54_events.sql): enrols leads in active
--     campaigns whose trigger matches; stops enrolments on a reply, a booked meeting, an
--     unsubscribe, a hard bounce or a move into a won or lost stage; unsubscribes and hard
--     bounces also put the address on the org's suppression list;
--   * the campaigns_archived trigger on app.campaigns: archiving stops a campaign's
--     enrolments;
--   * app.send_sequence (POST /email/send-sequence): an ad-hoc campaign for one lead;
--   * app.unsubscribe and app.unsubscribe_status: the public unsubscribe link;
--   * app.record_bounce: the bounce webhook.
-- Campaigns are in 70_campaigns.sql, enrolments and suppressions in 72_enrollments.sql,
-- unsubscribe tokens and the outbox in 74_outbox.sql.

-- ---------------------------------------------------------------------------
-- Events: suppress, stop, enrol. Triggers fire in name order, so events_40_campaigns runs
-- after the rollup (events_10_, 54_events.sql), scoring (events_20_, 56_scoring.sql) and
-- automation (events_30_, 62_automation.sql) triggers.
-- ---------------------------------------------------------------------------
create function app._campaigns_on_event() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    e alias for new;
    v_hard_bounce constant boolean := e.type = 'email_bounced' and coalesce(e.data ->> 'type', 'hard') <> 'soft';
    v_reason text;
    v_enrollment text;
    v_campaign text;
  begin
    if e.type = 'unsubscribed' or v_hard_bounce then
      insert into app.email_suppressions (org_id, email_key, reason, lead_id, detail)
      select e.org_id, l.email_key, case when e.type = 'unsubscribed' then 'unsubscribed' else 'bounced' end, l.id,
             left(e.data ->> 'reason', 2000)
      from app.leads l where l.org_id = e.org_id and l.id = e.lead_id
      on conflict do nothing;
    end if;

    v_reason := case
      when e.type in ('email_replied', 'meeting_booked', 'unsubscribed') then e.type
      when v_hard_bounce then 'email_bounced'
      when e.type = 'stage_changed' then (
        select 'stage_' || s.outcome from app.stages s
        where s.org_id = e.org_id and s.id = e.data ->> 'toStageId' and s.outcome <> 'open')
    end;
    if v_reason is not null then
      for v_enrollment in
        select x.id from app.enrollments x where x.org_id = e.org_id and x.lead_id = e.lead_id and x.status = 'active'
      loop
        perform app._finish_enrollment(e.org_id, v_enrollment, 'stopped', v_reason, e.occurred_at);
      end loop;
    end if;

    if e.type in ('quiz_completed', 'proposal_viewed', 'cta_clicked', 'meeting_booked', 'stage_changed')
       and exists (
         select from app.leads l join app.stages s on s.org_id = l.org_id and s.id = l.stage_id
         where l.org_id = e.org_id and l.id = e.lead_id and l.deleted_at is null and s.outcome = 'open'
           and not exists (select from app.email_suppressions x where x.org_id = l.org_id and x.email_key = l.email_key)) then
      for v_campaign in
        select c.id from app.campaigns c
        where c.org_id = e.org_id and c.status = 'active' and c.kind = 'sequence' and c.trigger_event = e.type
          and (e.type <> 'stage_changed' or c.trigger_stage_id = e.data ->> 'toStageId')
        order by c.created_at, c.id
      loop
        perform app._enroll(e.org_id, v_campaign, e.lead_id, 'trigger', e.id, e.occurred_at);
      end loop;
    end if;
    return null;
  end;
  $$;
comment on function app._campaigns_on_event() is 'Trigger: suppresses unsubscribed and hard-bounced addresses; stops the lead''s enrolments on reply, meeting booked, unsubscribe, hard bounce or a won/lost stage; enrols an open, unsuppressed lead in active campaigns whose trigger (and stage) matches.';
revoke execute on function app._campaigns_on_event() from public;

create trigger events_40_campaigns after insert on app.events
  for each row execute function app._campaigns_on_event();

-- ---------------------------------------------------------------------------
-- Archiving a campaign (DELETE /campaigns/{id}) stops its enrolments; history stays.
-- ---------------------------------------------------------------------------
create function app._campaign_archived() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_enrollment text;
  begin
    for v_enrollment in
      select x.id from app.enrollments x where x.org_id = new.org_id and x.campaign_id = new.id and x.status = 'active'
    loop
      perform app._finish_enrollment(new.org_id, v_enrollment, 'stopped', 'campaign archived', pg_catalog.now());
    end loop;
    return null;
  end;
  $$;
comment on function app._campaign_archived() is 'Trigger: archiving a campaign stops its active enrolments (their queued mail is canceled).';
revoke execute on function app._campaign_archived() from public;

create trigger campaigns_archived after update of status on app.campaigns
  for each row when (new.status = 'archived' and old.status <> 'archived')
  execute function app._campaign_archived();

-- ---------------------------------------------------------------------------
-- POST /email/send-sequence: an ad-hoc campaign for one lead (not counted against the
-- plan), enrolled at once.
-- ---------------------------------------------------------------------------
create function app.send_sequence(p_lead_id text, p_steps jsonb, p_name text default null, p_now timestamptz default now())
  returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_campaign_id text;
    v_first_name text;
  begin
    select l.first_name into v_first_name from app.leads l where l.id = p_lead_id;
    insert into app.campaigns (name, kind, status, steps)
    values (coalesce(p_name, 'Sequence for ' || coalesce(v_first_name, p_lead_id)), 'adhoc', 'active', p_steps)
    returning id into v_campaign_id;
    return app.enroll_lead(v_campaign_id, p_lead_id, p_now);
  end;
  $$;
comment on function app.send_sequence(text, jsonb, text, timestamptz) is 'Creates an ad-hoc campaign (kind adhoc: not counted against the plan) from the given steps and enrols the lead in it.';
revoke execute on function app.send_sequence(text, jsonb, text, timestamptz) from public;
grant execute on function app.send_sequence(text, jsonb, text, timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The public unsubscribe link: no API key, only the lead's secret token.
-- ---------------------------------------------------------------------------
create function app.unsubscribe(p_token text, p_now timestamptz default now()) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_token app.unsubscribe_tokens;
    v_email text;
    v_email_key text;
    v_org_name text;
    v_already boolean;
    v_active integer;
  begin
    select * into v_token from app.unsubscribe_tokens t where t.token = p_token;
    if v_token.token is null then
      perform app.refuse(404, 'unknown_unsubscribe_token', 'This unsubscribe link is not valid',
        'Use the link from the email exactly as it was sent.');
    end if;
    select l.email, l.email_key, o.name into v_email, v_email_key, v_org_name
    from app.leads l join app.orgs o on o.id = l.org_id
    where l.org_id = v_token.org_id and l.id = v_token.lead_id;
    v_already := exists (select from app.email_suppressions s where s.org_id = v_token.org_id and s.email_key = v_email_key);
    select count(*) into v_active from app.enrollments e
    where e.org_id = v_token.org_id and e.lead_id = v_token.lead_id and e.status = 'active';
    if not v_already then
      insert into app.events (org_id, lead_id, type, occurred_at, source, actor, data)
      values (v_token.org_id, v_token.lead_id, 'unsubscribed', p_now, 'unsubscribe_link', 'recipient',
        pg_catalog.jsonb_build_object('email', v_email));
    end if;
    return pg_catalog.jsonb_build_object('email', v_email, 'organizationName', v_org_name,
      'alreadyUnsubscribed', v_already, 'stoppedEnrollments', case when v_already then 0 else v_active end);
  end;
  $$;
comment on function app.unsubscribe(text, timestamptz) is 'Public: suppresses the token''s lead''s address for its org, records an unsubscribed event (which stops its enrolments); repeating it changes nothing.';
revoke execute on function app.unsubscribe(text, timestamptz) from public;
grant execute on function app.unsubscribe(text, timestamptz) to anon, authenticated, service_role;

create function app.unsubscribe_status(p_token text) returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
  as $$
  declare
    v_result jsonb;
  begin
    select pg_catalog.jsonb_build_object('email', l.email, 'organizationName', o.name,
      'unsubscribed', exists (select from app.email_suppressions s where s.org_id = l.org_id and s.email_key = l.email_key))
    into v_result
    from app.unsubscribe_tokens t
    join app.leads l on l.org_id = t.org_id and l.id = t.lead_id
    join app.orgs o on o.id = t.org_id
    where t.token = p_token;
    if v_result is null then
      perform app.refuse(404, 'unknown_unsubscribe_token', 'This unsubscribe link is not valid',
        'Use the link from the email exactly as it was sent.');
    end if;
    return v_result;
  end;
  $$;
comment on function app.unsubscribe_status(text) is 'Public: the address and sender behind an unsubscribe token and whether it is already unsubscribed (for the confirmation page); changes nothing.';
revoke execute on function app.unsubscribe_status(text) from public;
grant execute on function app.unsubscribe_status(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The bounce webhook: a hard bounce suppresses the address and stops the enrolments of
-- every lead of the org with it (through email_bounced events); a soft one is recorded.
-- ---------------------------------------------------------------------------
create function app.record_bounce(p_email text, p_type text, p_reason text default null, p_message_id text default null,
  p_now timestamptz default now())
  returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org_id constant text := app.current_org_id();
    v_email_key constant text := lower(btrim(p_email));
    v_leads text[];
    v_active_before integer;
    v_active_after integer;
  begin
    if p_type is null or p_type not in ('hard', 'soft') then
      perform app.refuse(400, 'invalid_bounce_type', pg_catalog.format('"%s" is not a bounce type', p_type),
        'Send type "hard" (the address does not exist: it is suppressed) or "soft" (a temporary problem: recorded only).');
    end if;
    select coalesce(array_agg(distinct l.id), '{}') into v_leads
    from app.leads l
    where l.org_id = v_org_id
      and (l.email_key = v_email_key
           or l.id in (select o.lead_id from app.outbox o where o.org_id = v_org_id and o.message_id = p_message_id));
    select count(*) into v_active_before from app.enrollments e
    where e.org_id = v_org_id and e.lead_id = any (v_leads) and e.status = 'active';

    insert into app.events (org_id, lead_id, type, occurred_at, data, external_id)
    select v_org_id, x.id, 'email_bounced', p_now,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('type', p_type, 'reason', left(p_reason, 2000),
        'email', p_email, 'messageId', p_message_id)),
      case when p_message_id is not null then 'bounce:' || p_type || ':' || p_message_id end
    from unnest(v_leads) x(id)
    on conflict (org_id, type, external_id) where external_id is not null do nothing;
    if p_type = 'hard' then
      -- The address is suppressed even when no lead has it (yet).
      insert into app.email_suppressions (org_id, email_key, reason, detail)
      values (v_org_id, v_email_key, 'bounced', left(p_reason, 2000))
      on conflict do nothing;
    end if;

    select count(*) into v_active_after from app.enrollments e
    where e.org_id = v_org_id and e.lead_id = any (v_leads) and e.status = 'active';
    return pg_catalog.jsonb_build_object('email', v_email_key, 'type', p_type, 'suppressed', p_type = 'hard',
      'leadIds', to_jsonb(v_leads), 'stoppedEnrollments', v_active_before - v_active_after);
  end;
  $$;
comment on function app.record_bounce(text, text, text, text, timestamptz) is 'Bounce webhook: records email_bounced for every lead of the caller''s org with the address (or the message); hard bounces suppress the address and stop enrolments, soft ones are recorded only.';
revoke execute on function app.record_bounce(text, text, text, text, timestamptz) from public;
grant execute on function app.record_bounce(text, text, text, text, timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- A campaign's results (GET /campaigns, the dashboard): of its enrolments, the emails sent
-- and how many enrolled leads opened, replied, bounced or unsubscribed while enrolled (an
-- event between enrolment and its end, or the event that ended it). Security invoker: the
-- caller's row-level security applies.
-- ---------------------------------------------------------------------------
create function app.campaign_stats(p_campaign_id text) returns jsonb
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'enrolled', count(*)::integer,
      'sent', coalesce(sum(s.sent), 0)::integer,
      'opened', count(*) filter (where s.opened)::integer,
      'replied', count(*) filter (where s.replied)::integer,
      'bounced', count(*) filter (where s.bounced)::integer,
      'unsubscribed', count(*) filter (where s.unsubscribed)::integer)
    from app.enrollments x
    cross join lateral (
      select
        (select count(*) from app.outbox o where o.org_id = x.org_id and o.enrollment_id = x.id and o.status = 'sent') as sent,
        coalesce(bool_or(e.type = 'email_opened'), false) as opened,
        coalesce(bool_or(e.type = 'email_replied'), false) as replied,
        coalesce(bool_or(e.type = 'email_bounced'), false) as bounced,
        coalesce(bool_or(e.type = 'unsubscribed'), false) as unsubscribed
      from app.events e
      where e.org_id = x.org_id and e.lead_id = x.lead_id
        and e.type in ('email_opened', 'email_replied', 'email_bounced', 'unsubscribed')
        and e.occurred_at >= x.enrolled_at
        and (x.finished_at is null or e.occurred_at <= x.finished_at or e.type = x.stop_reason)
    ) s
    where x.campaign_id = p_campaign_id;
  $$;
comment on function app.campaign_stats(text) is 'A campaign''s results: enrolled, emails sent, and enrolled leads that opened, replied, bounced or unsubscribed while enrolled.';
revoke execute on function app.campaign_stats(text) from public;
grant execute on function app.campaign_stats(text) to authenticated, service_role;
