-- Tenant tables keyed within their org.
--
-- Every tenant table's primary key becomes (org_id, id) (lead_engagement and lead_scores:
-- (org_id, lead_id)), and every unique key of a tenant table includes org_id, except the
-- global lookups made before the org is known (API key hash, public slugs, URL tokens, bot
-- ids). A row is identified within its org: no key of one org can collide with, or be
-- probed from, another's. supabase/tests/00_schema_guards.test.sql checks this for every
-- tenant table from now on.
--
--   1. The composite foreign keys (org_id, x_id) pointed at unique (org_id, id) constraints;
--      they are dropped and, once the new primary keys exist, added again (now pointing at
--      the primary keys). The unique (org_id, id) constraints go: the primary keys are them.
--   2. proposal_visits references its proposal by (org_id, proposal_id), not by id alone.
--   3. The unique keys sync_events_source_event_key, proposal_visits_visit_key and
--      outbox_enrollment_step_key include org_id (names kept); the functions that upsert on
--      them name the new keys.
--   4. A primary key led by org_id serves no lookup by id alone. Lookups that know the org
--      now say so (security definer functions, sweeps, triggers, the API views), and the
--      internal mail-pipeline helpers (_send_guard, _advance_enrollment,
--      _settle_blocked_step, _finish_enrollment) and _apply_automation_rule take the org as
--      their first argument. Three tables keep a plain index on id for lookups made without
--      an org: outbox (the mail worker reports on a row by id), feedback (the operator
--      answers any org's item by id) and sync_sources (the inbound webhook knows the
--      source's id from its URL token, not its org).
--   5. lead_engagement_org_idx and outbox_org_enrollment_idx duplicated the new keys.

-- ---------------------------------------------------------------------------
-- Foreign keys on the unique (org_id, id) constraints: dropped, added again below.
-- ---------------------------------------------------------------------------
alter table app.automation_rules drop constraint automation_rules_target_stage_fkey;
alter table app.automation_runs drop constraint automation_runs_lead_fkey;
alter table app.automation_runs drop constraint automation_runs_rule_fkey;
alter table app.campaigns drop constraint campaigns_trigger_stage_fkey;
alter table app.enrollment_history drop constraint enrollment_history_enrollment_fkey;
alter table app.enrollments drop constraint enrollments_campaign_fkey;
alter table app.enrollments drop constraint enrollments_lead_fkey;
alter table app.events drop constraint events_lead_fkey;
alter table app.lead_engagement drop constraint lead_engagement_lead_fkey;
alter table app.lead_facts drop constraint lead_facts_lead_fkey;
alter table app.lead_scores drop constraint lead_scores_lead_fkey;
alter table app.leads drop constraint leads_stage_fkey;
alter table app.meetings drop constraint meetings_lead_fkey;
alter table app.notes drop constraint notes_lead_fkey;
alter table app.outbox drop constraint outbox_enrollment_fkey;
alter table app.outbox drop constraint outbox_lead_fkey;
alter table app.playbooks drop constraint playbooks_stage_fkey;
alter table app.proposal_visits drop constraint proposal_visits_lead_fkey;
alter table app.proposals drop constraint proposals_lead_fkey;
alter table app.quiz_submissions drop constraint quiz_submissions_lead_fkey;
alter table app.quiz_submissions drop constraint quiz_submissions_quiz_fkey;
alter table app.stage_changes drop constraint stage_changes_lead_fkey;
alter table app.sync_events drop constraint sync_events_lead_fkey;
alter table app.sync_events drop constraint sync_events_source_fkey;
alter table app.sync_sources drop constraint sync_sources_stage_fkey;
alter table app.touchpoints drop constraint touchpoints_lead_fkey;
alter table app.unsubscribe_tokens drop constraint unsubscribe_tokens_lead_fkey;
alter table app.proposal_visits drop constraint proposal_visits_proposal_id_fkey;

-- Functions whose arguments change: dropped here, created again below.
drop function app._advance_enrollment(text, integer, timestamptz);
drop function app._apply_automation_rule(text, text[], text, timestamptz);
drop function app._finish_enrollment(text, text, text, timestamptz);
drop function app._send_guard(text, integer, timestamptz);
drop function app._settle_blocked_step(text, integer, text, text, timestamptz);

-- ---------------------------------------------------------------------------
-- Old keys out
-- ---------------------------------------------------------------------------
alter table app.automation_rules drop constraint automation_rules_org_id_id_key;
alter table app.campaigns drop constraint campaigns_org_id_id_key;
alter table app.enrollments drop constraint enrollments_org_id_id_key;
alter table app.leads drop constraint leads_org_id_id_key;
alter table app.quizzes drop constraint quizzes_org_id_id_key;
alter table app.stages drop constraint stages_org_id_id_key;
alter table app.sync_sources drop constraint sync_sources_org_id_id_key;
alter table app.outbox drop constraint outbox_enrollment_step_key;
alter table app.proposal_visits drop constraint proposal_visits_visit_key;
alter table app.sync_events drop constraint sync_events_source_event_key;
alter table app.api_keys drop constraint api_keys_pkey;
alter table app.automation_rules drop constraint automation_rules_pkey;
alter table app.automation_runs drop constraint automation_runs_pkey;
alter table app.calendly_events drop constraint calendly_events_pkey;
alter table app.campaigns drop constraint campaigns_pkey;
alter table app.custom_fields drop constraint custom_fields_pkey;
alter table app.enrollment_history drop constraint enrollment_history_pkey;
alter table app.enrollments drop constraint enrollments_pkey;
alter table app.events drop constraint events_pkey;
alter table app.feedback drop constraint feedback_pkey;
alter table app.lead_engagement drop constraint lead_engagement_pkey;
alter table app.lead_scores drop constraint lead_scores_pkey;
alter table app.leads drop constraint leads_pkey;
alter table app.meetings drop constraint meetings_pkey;
alter table app.notes drop constraint notes_pkey;
alter table app.outbox drop constraint outbox_pkey;
alter table app.playbooks drop constraint playbooks_pkey;
alter table app.proposal_visits drop constraint proposal_visits_pkey;
alter table app.proposals drop constraint proposals_pkey;
alter table app.quiz_submissions drop constraint quiz_submissions_pkey;
alter table app.quizzes drop constraint quizzes_pkey;
alter table app.stage_changes drop constraint stage_changes_pkey;
alter table app.stages drop constraint stages_pkey;
alter table app.sync_events drop constraint sync_events_pkey;
alter table app.sync_sources drop constraint sync_sources_pkey;
alter table app.touchpoints drop constraint touchpoints_pkey;
drop index app.lead_engagement_org_idx;
drop index app.outbox_org_enrollment_idx;

-- ---------------------------------------------------------------------------
-- New keys in: primary keys led by org_id, unique keys with org_id
-- ---------------------------------------------------------------------------
alter table app.api_keys add constraint api_keys_pkey primary key (org_id, id);
alter table app.automation_rules add constraint automation_rules_pkey primary key (org_id, id);
alter table app.automation_runs add constraint automation_runs_pkey primary key (org_id, id);
alter table app.calendly_events add constraint calendly_events_pkey primary key (org_id, id);
alter table app.campaigns add constraint campaigns_pkey primary key (org_id, id);
alter table app.custom_fields add constraint custom_fields_pkey primary key (org_id, id);
alter table app.enrollment_history add constraint enrollment_history_pkey primary key (org_id, id);
alter table app.enrollments add constraint enrollments_pkey primary key (org_id, id);
alter table app.events add constraint events_pkey primary key (org_id, id);
alter table app.feedback add constraint feedback_pkey primary key (org_id, id);
alter table app.lead_engagement add constraint lead_engagement_pkey primary key (org_id, lead_id);
alter table app.lead_scores add constraint lead_scores_pkey primary key (org_id, lead_id);
alter table app.leads add constraint leads_pkey primary key (org_id, id);
alter table app.meetings add constraint meetings_pkey primary key (org_id, id);
alter table app.notes add constraint notes_pkey primary key (org_id, id);
alter table app.outbox add constraint outbox_pkey primary key (org_id, id);
alter table app.playbooks add constraint playbooks_pkey primary key (org_id, id);
alter table app.proposal_visits add constraint proposal_visits_pkey primary key (org_id, id);
alter table app.proposals add constraint proposals_pkey primary key (org_id, id);
alter table app.quiz_submissions add constraint quiz_submissions_pkey primary key (org_id, id);
alter table app.quizzes add constraint quizzes_pkey primary key (org_id, id);
alter table app.stage_changes add constraint stage_changes_pkey primary key (org_id, id);
alter table app.stages add constraint stages_pkey primary key (org_id, id);
alter table app.sync_events add constraint sync_events_pkey primary key (org_id, id);
alter table app.sync_sources add constraint sync_sources_pkey primary key (org_id, id);
alter table app.touchpoints add constraint touchpoints_pkey primary key (org_id, id);
alter table app.outbox add constraint outbox_enrollment_step_key unique (org_id, enrollment_id, step_index);
alter table app.proposal_visits add constraint proposal_visits_visit_key unique (org_id, visit_id);
alter table app.sync_events add constraint sync_events_source_event_key unique (org_id, source_id, event_id);

-- Lookups by id alone, made without an org.
create index outbox_id_idx on app.outbox (id);
create index feedback_id_idx on app.feedback (id);
create index sync_sources_id_idx on app.sync_sources (id);

-- ---------------------------------------------------------------------------
-- The foreign keys again, now on the primary keys
-- ---------------------------------------------------------------------------
alter table app.automation_rules add constraint automation_rules_target_stage_fkey foreign key (org_id, target_stage_id) references app.stages(org_id, id);
alter table app.automation_runs add constraint automation_runs_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.automation_runs add constraint automation_runs_rule_fkey foreign key (org_id, rule_id) references app.automation_rules(org_id, id) on delete set null (rule_id);
alter table app.campaigns add constraint campaigns_trigger_stage_fkey foreign key (org_id, trigger_stage_id) references app.stages(org_id, id);
alter table app.enrollment_history add constraint enrollment_history_enrollment_fkey foreign key (org_id, enrollment_id) references app.enrollments(org_id, id) on delete cascade;
alter table app.enrollments add constraint enrollments_campaign_fkey foreign key (org_id, campaign_id) references app.campaigns(org_id, id) on delete cascade;
alter table app.enrollments add constraint enrollments_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.events add constraint events_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.lead_engagement add constraint lead_engagement_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.lead_facts add constraint lead_facts_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.lead_scores add constraint lead_scores_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.leads add constraint leads_stage_fkey foreign key (org_id, stage_id) references app.stages(org_id, id);
alter table app.meetings add constraint meetings_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.notes add constraint notes_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.outbox add constraint outbox_enrollment_fkey foreign key (org_id, enrollment_id) references app.enrollments(org_id, id) on delete cascade;
alter table app.outbox add constraint outbox_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.playbooks add constraint playbooks_stage_fkey foreign key (org_id, stage_id) references app.stages(org_id, id) on delete cascade;
alter table app.proposal_visits add constraint proposal_visits_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.proposals add constraint proposals_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.quiz_submissions add constraint quiz_submissions_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.quiz_submissions add constraint quiz_submissions_quiz_fkey foreign key (org_id, quiz_id) references app.quizzes(org_id, id);
alter table app.stage_changes add constraint stage_changes_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.sync_events add constraint sync_events_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete set null (lead_id);
alter table app.sync_events add constraint sync_events_source_fkey foreign key (org_id, source_id) references app.sync_sources(org_id, id) on delete cascade;
alter table app.sync_sources add constraint sync_sources_stage_fkey foreign key (org_id, stage_id) references app.stages(org_id, id);
alter table app.touchpoints add constraint touchpoints_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.unsubscribe_tokens add constraint unsubscribe_tokens_lead_fkey foreign key (org_id, lead_id) references app.leads(org_id, id) on delete cascade;
alter table app.proposal_visits add constraint proposal_visits_proposal_fkey foreign key (org_id, proposal_id) references app.proposals(org_id, id) on delete cascade;

-- ---------------------------------------------------------------------------
-- Functions and views that name the new keys or look rows up within their org
-- ---------------------------------------------------------------------------
set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app._advance_enrollment(p_org_id text, p_enrollment_id text, p_step_index integer, p_now timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._apply_automation_rule(p_org_id text, p_rule_id text, p_lead_ids text[], p_event_id text, p_now timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_rule app.automation_rules;
    v_claims text := pg_catalog.current_setting('request.jwt.claims', true);
    v_moved integer;
  begin
    select r.* into strict v_rule from app.automation_rules r where r.org_id = p_org_id and r.id = p_rule_id;
    -- The stage history reads who moved the lead from the claims: this rule, as automation.
    perform pg_catalog.set_config('request.jwt.claims',
      (coalesce(nullif(v_claims, '')::jsonb, '{}'::jsonb)
        || pg_catalog.jsonb_build_object('rule_id', v_rule.id, 'source', 'automation', 'actor', v_rule.id))::text, true);
    perform pg_catalog.set_config('app.automation_running', 'on', true);

    with locked as (
      select l.id, l.stage_id from app.leads l
      where l.org_id = v_rule.org_id and l.id = any (p_lead_ids) and l.stage_id <> v_rule.target_stage_id
      for no key update
    ),
    moved as (
      update app.leads l set stage_id = v_rule.target_stage_id
      from locked c
      where l.org_id = v_rule.org_id and l.id = c.id
      returning l.id, c.stage_id as from_stage_id
    )
    insert into app.automation_runs
      (org_id, rule_id, rule_name, lead_id, trigger_event, event_id, from_stage_id, to_stage_id, from_stage_name, to_stage_name, ran_at)
    select v_rule.org_id, v_rule.id, v_rule.name, m.id, v_rule.trigger_event, p_event_id, m.from_stage_id, v_rule.target_stage_id,
      (select s.name from app.stages s where s.org_id = v_rule.org_id and s.id = m.from_stage_id),
      (select s.name from app.stages s where s.org_id = v_rule.org_id and s.id = v_rule.target_stage_id),
      p_now
    from moved m;
    get diagnostics v_moved = row_count;

    perform pg_catalog.set_config('app.automation_running', '', true);
    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_moved;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._finish_enrollment(p_org_id text, p_enrollment_id text, p_status text, p_reason text, p_now timestamp with time zone)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._send_guard(p_org_id text, p_enrollment_id text, p_step_index integer, p_now timestamp with time zone, OUT action text, OUT reason text, OUT until timestamp with time zone)
 RETURNS record
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._settle_blocked_step(p_org_id text, p_enrollment_id text, p_step_index integer, p_action text, p_reason text, p_now timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._campaign_archived()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._campaigns_on_event()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._check_automation_rule()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_conditions jsonb := coalesce(new.conditions, '{}'::jsonb);
    v_key app.automation_condition_keys;
    v_value jsonb;
    v_unknown text;
  begin
    if not exists (select from app.automation_triggers t where t.name = new.trigger_event) then
      perform app.refuse(400, 'unknown_trigger',
        pg_catalog.format('"%s" is not an automation trigger', new.trigger_event),
        'triggerEvent is one of: ' || (select string_agg(t.name, ', ' order by t.position) from app.automation_triggers t) || '.');
    end if;
    if pg_catalog.jsonb_typeof(v_conditions) <> 'object' then
      perform app.refuse(400, 'invalid_conditions', 'conditions must be an object',
        'Send conditions like { "fromStage": "Engaged", "viewCount": { "gte": 2 } }, or {} for none.');
    end if;

    select string_agg(pg_catalog.format('"%s"', c.key), ', ') into v_unknown
    from pg_catalog.jsonb_object_keys(v_conditions) c(key)
    where not exists (select from app.automation_condition_keys k where k.key = c.key and new.trigger_event = any (k.triggers));
    if v_unknown is not null then
      perform app.refuse(400, 'unknown_condition',
        pg_catalog.format('Unknown condition(s) for a %s rule: %s', new.trigger_event, v_unknown),
        pg_catalog.format('conditions of a %s rule take: ', new.trigger_event)
          || (select string_agg(k.key, ', ' order by k.position) from app.automation_condition_keys k where new.trigger_event = any (k.triggers))
          || ' (GET /api/openclaw/automation/rules lists them with their shapes).');
    end if;

    for v_key in
      select k.* from app.automation_condition_keys k where new.trigger_event = any (k.triggers) order by k.position
    loop
      v_value := v_conditions -> v_key.key;
      if v_value is null or v_value = 'null'::jsonb then
        v_conditions := v_conditions - v_key.key;
        if v_key.default_value is not null then
          v_conditions := v_conditions || pg_catalog.jsonb_build_object(v_key.key, v_key.default_value);
        end if;
        continue;
      end if;
      if v_key.kind = 'stage' then
        if pg_catalog.jsonb_typeof(v_value) <> 'string' then
          perform app._refuse_condition(v_key.key, 'must be a string');
        end if;
        v_conditions := v_conditions || pg_catalog.jsonb_build_object(v_key.key, app.resolve_stage(v_value #>> '{}', new.org_id));
      elsif v_key.kind = 'text' then
        if pg_catalog.jsonb_typeof(v_value) <> 'string' or btrim(v_value #>> '{}') = '' then
          perform app._refuse_condition(v_key.key, 'must be a non-empty string');
        end if;
        v_conditions := v_conditions || pg_catalog.jsonb_build_object(v_key.key, btrim(v_value #>> '{}'));
      elsif not app._is_gte_condition(v_value, v_key.min_value, v_key.max_value) then
        perform app._refuse_condition(v_key.key, 'must be { "gte": N } with N in range');
      end if;
    end loop;
    new.conditions := v_conditions;

    if new.target_stage_id is null then
      perform app.refuse(400, 'target_stage_required', 'A rule needs a target stage',
        'Send targetStage: the id or name of the stage to move matching leads to (GET /api/openclaw/stages lists them).');
    end if;
    new.target_stage_id := app.resolve_stage(new.target_stage_id, new.org_id);
    if new.target_stage_id = v_conditions ->> 'fromStage' then
      perform app.refuse(400, 'rule_does_not_move',
        pg_catalog.format('The rule would move leads from "%s" to the same stage',
          (select s.name from app.stages s where s.org_id = new.org_id and s.id = new.target_stage_id)),
        'Choose a targetStage other than conditions.fromStage.');
    end if;
    return new;
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
      from (select n.org_id, count(*) as n from new_campaigns n join old_campaigns o on o.org_id = n.org_id and o.id = n.id
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

CREATE OR REPLACE FUNCTION app._fire_automation()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_rule_id text;
  begin
    -- A move made by a rule never fires another rule.
    if coalesce(pg_catalog.current_setting('app.automation_running', true), '') = 'on' then
      return null;
    end if;
    select r.id into v_rule_id
    from app.leads l
    join app.stages s on s.org_id = l.org_id and s.id = l.stage_id and s.outcome = 'open'
    left join app.lead_engagement g on g.org_id = l.org_id and g.lead_id = l.id
    left join app.lead_scores c on c.org_id = l.org_id and c.lead_id = l.id
    join app.automation_rules r on r.org_id = l.org_id and r.enabled and r.trigger_event = new.type
    where l.org_id = new.org_id and l.id = new.lead_id and l.deleted_at is null
      and app._automation_conditions_hold(r.conditions, l.stage_id, l.tier, g.proposal_views, c.score)
    order by r.priority desc, r.created_at, r.id
    limit 1;
    -- When the winner's target is the lead's stage already, it moves nothing.
    if v_rule_id is not null then
      perform app._apply_automation_rule(new.org_id, v_rule_id, array[new.lead_id], new.id, pg_catalog.now());
    end if;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._outbox_payload(p_outbox_id text)
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._record_stage_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
  begin
    if tg_op = 'UPDATE' and new.stage_id is not distinct from old.stage_id then
      return null;
    end if;
    insert into app.stage_changes
      (org_id, lead_id, from_stage_id, to_stage_id, from_stage_name, to_stage_name, changed_by, source, rule_id)
    values (
      new.org_id, new.id,
      case when tg_op = 'UPDATE' then old.stage_id end, new.stage_id,
      case when tg_op = 'UPDATE' then (select s.name from app.stages s where s.org_id = old.org_id and s.id = old.stage_id) end,
      (select s.name from app.stages s where s.org_id = new.org_id and s.id = new.stage_id),
      app.current_actor(), app.current_source(), v_claims ->> 'rule_id');
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._roll_up_event()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._touch_lead()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    update app.leads l
    set last_touch_at = new.occurred_at
    where l.org_id = new.org_id and l.id = new.lead_id and (l.last_touch_at is null or l.last_touch_at < new.occurred_at);
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.authenticate_api_key(p_key_hash text)
 RETURNS TABLE(org_id text, tier text, key_id text, revoked boolean)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_key app.api_keys%rowtype;
  begin
    select k.* into v_key from app.api_keys k where k.key_hash = p_key_hash;
    if not found then
      return;
    end if;

    org_id := v_key.org_id;
    key_id := v_key.id;
    revoked := v_key.revoked_at is not null;
    select o.tier into tier from app.orgs o where o.id = v_key.org_id;

    if not revoked then
      perform pg_catalog.set_config(
        'request.jwt.claims',
        pg_catalog.json_build_object('role', 'authenticated', 'org_id', v_key.org_id, 'key_id', v_key.id)::text,
        true);
      -- One write a minute at most per key, so busy agents don't turn every read into a write.
      if v_key.last_used_at is null or v_key.last_used_at < pg_catalog.now() - interval '1 minute' then
        update app.api_keys k set last_used_at = pg_catalog.now() where k.org_id = v_key.org_id and k.id = v_key.id;
      end if;
    end if;
    return next;
  end;
  $function$
;

create or replace view "app"."automation_rule_details" with (security_invoker = true) as  SELECT r.id,
    r.org_id,
    r.name,
    r.trigger_event,
    r.conditions,
    r.target_stage_id,
    r.priority,
    r.enabled,
    r.created_at,
    r.updated_at,
    t.name AS target_stage_name,
    f.id AS from_stage_id,
    f.name AS from_stage_name
   FROM ((app.automation_rules r
     JOIN app.stages t ON (((t.org_id = r.org_id) AND (t.id = r.target_stage_id))))
     LEFT JOIN app.stages f ON (((f.org_id = r.org_id) AND (f.id = (r.conditions ->> 'fromStage'::text)))));


CREATE OR REPLACE FUNCTION app.begin_send(p_outbox_id text, p_worker text, p_now timestamp with time zone DEFAULT now())
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.claim_outbox(p_worker text, p_limit integer DEFAULT 10, p_lease interval DEFAULT '00:02:00'::interval, p_now timestamp with time zone DEFAULT now())
 RETURNS SETOF jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.complete_send(p_outbox_id text, p_worker text, p_message_id text, p_smtp_response text, p_subject text, p_body text, p_warnings text[] DEFAULT '{}'::text[], p_now timestamp with time zone DEFAULT now())
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.enqueue_due_steps(p_now timestamp with time zone DEFAULT now())
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.enrollment_json(p_enrollment_id text)
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.fail_interrupted_meeting_bots(p_after interval DEFAULT '00:10:00'::interval, p_now timestamp with time zone DEFAULT now())
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.fail_send(p_outbox_id text, p_worker text, p_error text, p_permanent boolean, p_now timestamp with time zone DEFAULT now())
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
    update app.calendly_events e set result = v_result where e.org_id = v_conn.org_id and e.id = v_claim;
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
      -- The payload itself when it is of a reasonable size (form answers, the message).
      || case when length(p_payload::text) <= 32768
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

create or replace view "app"."lead_details" with (security_invoker = true) as  SELECT l.id,
    l.org_id,
    l.first_name,
    l.last_name,
    l.email,
    l.organization_name,
    l.business_type,
    l.phone,
    l.tier,
    l.status,
    l.stage_id,
    l.custom_fields,
    l.crm_data,
    l.title,
    l.seniority,
    l.company_name,
    l.linkedin_url,
    l.company_size,
    l.company_revenue,
    l.enrichment_status,
    l.enrichment,
    l.enriched_at,
    l.last_touch_at,
    l.created_at,
    l.updated_at,
    l.deleted_at,
    l.email_key,
    l.search_text,
    l.enrichment_started_at,
    l.enrichment_error,
    l.company_domain,
    l.email_domain,
    l.organization_key,
    l.company_key,
    l.referrer_key,
    l.idle_since,
    s.name AS stage,
    c.score,
    c.label AS score_label,
    c.scored_at,
    p.slug AS proposal_slug
   FROM (((app.leads l
     LEFT JOIN app.stages s ON (((s.org_id = l.org_id) AND (s.id = l.stage_id))))
     LEFT JOIN app.lead_scores c ON (((c.org_id = l.org_id) AND (c.lead_id = l.id))))
     LEFT JOIN app.proposals p ON (((p.org_id = l.org_id) AND (p.lead_id = l.id))));


CREATE OR REPLACE FUNCTION app.pipeline_analytics(p_days integer DEFAULT 30, p_now timestamp with time zone DEFAULT now())
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $function$
  declare
    v_org_id text := app.current_org_id();
    v_from timestamptz;
    v_result jsonb;
  begin
    if p_days is null or p_days not between 1 and 365 then
      perform app.refuse(400, 'invalid_days', pg_catalog.format('days must be between 1 and 365, got %s', coalesce(p_days::text, 'null')),
        'Pass days as a whole number of days from 1 to 365, e.g. GET /api/openclaw/analytics?days=30 (the default).');
    end if;
    if v_org_id is null then
      perform app.refuse(401, 'no_org', 'No workspace is set for this request',
        'Call with your API key, or set request.jwt.claims with an org_id.');
    end if;
    v_from := p_now - pg_catalog.make_interval(days => p_days);

    with
    stages as (
      select s.id, s.name, s.position, s.outcome
      from app.stages s
      where s.org_id = v_org_id
    ),
    -- Live leads, grouped as finely as the snapshots need: one index-only scan.
    live as (
      select l.stage_id, l.created_at >= v_from and l.created_at <= p_now as recent, count(*)::integer as n
      from app.leads l
      where l.org_id = v_org_id and l.deleted_at is null
      group by 1, 2
    ),
    -- Live leads' scores per label: an index-only scan of the org's scores, less those of
    -- soft-deleted leads (few, so no join over every lead).
    labels as (
      select c.label, count(*)::integer as n
      from app.lead_scores c
      where c.org_id = v_org_id
      group by 1
      union all
      select c.label, -count(*)::integer
      from app.leads l
      join app.lead_scores c on c.org_id = l.org_id and c.lead_id = l.id
      where l.org_id = v_org_id and l.deleted_at is not null
      group by 1
    ),
    -- How leads were created: the source of their first stage change (api, sql, sync_source,
    -- …), read from an index-only scan of those rows, less the soft-deleted leads' (few, so
    -- no join over every lead). Permanently deleted leads take their history with them.
    origins as (
      select f.source, f.changed_by, count(*)::integer as n
      from app.stage_changes f
      where f.org_id = v_org_id and f.from_stage_id is null
      group by 1, 2
      union all
      select f.source, f.changed_by, -count(*)::integer
      from app.leads l
      cross join lateral (
        select f.source, f.changed_by from app.stage_changes f
        where f.org_id = l.org_id and f.lead_id = l.id and f.from_stage_id is null
        limit 1) f
      where l.org_id = v_org_id and l.deleted_at is not null
      group by 1, 2
    ),
    -- Inbound webhooks are told apart by the sync source's name.
    sources as (
      select case
               when o.source = 'sync_source' and o.changed_by like 'sync_source:%'
                 then 'sync_source:' || coalesce(ss.name, pg_catalog.substr(o.changed_by, 13))
               else o.source
             end as source,
             sum(o.n)::integer as n
      from origins o
      left join app.sync_sources ss
        on ss.org_id = v_org_id and ss.id = pg_catalog.substr(o.changed_by, 13) and o.source = 'sync_source'
      group by 1
      having sum(o.n) > 0
      union all
      -- Leads whose first stage change is gone (history rows removed by hand).
      select 'unknown', (select sum(v.n) from live v)::integer - (select coalesce(sum(o.n), 0) from origins o)::integer
      where (select sum(v.n) from live v) > (select coalesce(sum(o.n), 0) from origins o)
    ),
    activity as (
      select count(*) filter (where e.type = 'quiz_completed')::integer as quiz_completions,
             count(distinct e.lead_id) filter (where e.type = 'proposal_viewed')::integer as proposals_viewed,
             count(*) filter (where e.type = 'proposal_viewed')::integer as proposal_views,
             count(*) filter (where e.type = 'meeting_booked')::integer as meetings_booked
      from app.events e
      where e.org_id = v_org_id
        and e.type in ('quiz_completed', 'proposal_viewed', 'meeting_booked')
        and e.occurred_at >= v_from and e.occurred_at <= p_now
    ),
    -- Stage moves in the window, each with its stage's place and outcome (a stage deleted
    -- since has the outcome its recorded name implies), what the lead did next, and when it
    -- entered the stage it left.
    moves as (
      select w.*,
             -- A lead's first move in the window left a stage it entered before the window.
             case when w.from_stage_id is not null then coalesce(w.prev_at, (
               select max(p.changed_at) from app.stage_changes p
               where p.org_id = v_org_id and p.lead_id = w.lead_id and p.changed_at < w.changed_at)) end as entered_from_at,
             -- Moving on means a later open stage or a won one; dropping to lost is not progress.
             max(w.position) filter (where w.outcome = 'open') over later as later_position,
             coalesce(bool_or(w.outcome = 'won') over later, false) as won_later
      from (
        select c.id, c.lead_id, c.to_stage_id, c.from_stage_id, c.changed_at, s.position,
               coalesce(s.outcome, app.outcome_from_stage_name(c.to_stage_name)) as outcome,
               pg_catalog.lag(c.changed_at) over (partition by c.lead_id order by c.changed_at, c.id) as prev_at
        from app.stage_changes c
        left join stages s on s.id = c.to_stage_id
        where c.org_id = v_org_id and c.changed_at >= v_from and c.changed_at <= p_now
      ) w
      window later as (partition by w.lead_id order by w.changed_at, w.id rows between 1 following and unbounded following)
    ),
    -- Each lead closed in the window counts once, by its last closing move.
    closes as (
      select count(*) filter (where c.outcome = 'won')::integer as won,
             count(*) filter (where c.outcome = 'lost')::integer as lost
      from (
        select distinct on (m.lead_id) m.outcome
        from moves m
        where m.outcome in ('won', 'lost')
        order by m.lead_id, m.changed_at desc, m.id desc
      ) c
    ),
    conversion as (
      select m.to_stage_id as stage_id,
             count(distinct m.lead_id)::integer as entered,
             count(distinct m.lead_id) filter (where m.later_position > m.position or m.won_later)::integer as moved_on,
             count(distinct m.lead_id) filter (where m.outcome = 'won' or m.won_later)::integer as won
      from moves m
      where m.to_stage_id is not null
      group by 1
    ),
    stays as (
      select m.from_stage_id as stage_id,
             pg_catalog.round((avg(extract(epoch from m.changed_at - m.entered_from_at)) / 86400)::numeric, 2) as days
      from moves m
      where m.from_stage_id is not null and m.entered_from_at is not null
      group by 1
    )
    select pg_catalog.jsonb_build_object(
      'period', pg_catalog.jsonb_build_object('days', p_days, 'from', v_from, 'to', p_now),
      'totalLeads', (select coalesce(sum(n), 0)::integer from live),
      'leadsInPeriod', (select coalesce(sum(n) filter (where recent), 0)::integer from live),
      'quizCompletions', a.quiz_completions,
      'proposalsViewed', a.proposals_viewed,
      'proposalViews', a.proposal_views,
      'meetingsBooked', a.meetings_booked,
      'leadsWon', k.won,
      'leadsLost', k.lost,
      'conversionRate', pg_catalog.round(k.won::numeric / nullif(k.won + k.lost, 0), 4),
      'pipeline', (
        select coalesce(pg_catalog.jsonb_object_agg(x.name, x.n), '{}')
        from (
          select s.name, coalesce((select sum(v.n) from live v where v.stage_id = s.id), 0)::integer as n
          from stages s
          union all
          select '(no stage)', sum(v.n)::integer from live v where v.stage_id is null having sum(v.n) > 0
        ) x),
      'stageConversion', (
        select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'stage', s.name, 'stageId', s.id, 'outcome', s.outcome,
                 'entered', coalesce(c.entered, 0), 'movedOn', coalesce(c.moved_on, 0), 'won', coalesce(c.won, 0),
                 'movedOnRate', pg_catalog.round(c.moved_on::numeric / nullif(c.entered, 0), 4),
                 'winRate', pg_catalog.round(c.won::numeric / nullif(c.entered, 0), 4))
               order by s.position, s.name), '[]')
        from stages s
        left join conversion c on c.stage_id = s.id),
      'averageDaysInStage', (
        select coalesce(pg_catalog.jsonb_object_agg(s.name, d.days), '{}')
        from stages s
        left join stays d on d.stage_id = s.id),
      'scoreDistribution', (
        select pg_catalog.jsonb_build_object(
          'hot', coalesce(sum(b.n) filter (where b.label = 'hot'), 0)::integer,
          'warm', coalesce(sum(b.n) filter (where b.label = 'warm'), 0)::integer,
          'cool', coalesce(sum(b.n) filter (where b.label = 'cool'), 0)::integer,
          'cold', coalesce(sum(b.n) filter (where b.label = 'cold'), 0)::integer,
          'unscored', (select coalesce(sum(v.n), 0) from live v)::integer - coalesce(sum(b.n), 0)::integer)
        from labels b),
      'bySource', (
        select coalesce(pg_catalog.jsonb_object_agg(src.source, src.n), '{}')
        from sources src)
    )
    into v_result
    from activity a cross join closes k;

    return v_result;
  end;
  $function$
;

create or replace view "app"."playbook_details" with (security_invoker = true) as  SELECT p.id,
    p.name,
    p.description,
    p.tier,
    p.stage_id AS "stageId",
    s.name AS stage,
    p.score_label AS "scoreLabel",
    p.stalled,
    p.steps,
    p.created_at AS "createdAt",
    p.updated_at AS "updatedAt"
   FROM (app.playbooks p
     LEFT JOIN app.stages s ON (((s.org_id = p.org_id) AND (s.id = p.stage_id))));


CREATE OR REPLACE FUNCTION app.record_event(p_lead_id text, p_type text, p_data jsonb DEFAULT '{}'::jsonb, p_occurred_at timestamp with time zone DEFAULT NULL::timestamp with time zone, p_external_id text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.release_expired_claims(p_now timestamp with time zone DEFAULT now())
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.run_no_touch_rules(p_now timestamp with time zone DEFAULT now())
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
 SET work_mem TO '64MB'
AS $function$
  declare
    v_org_id text;
    v_rule_id text;
    v_lead_ids text[];
    v_moved integer := 0;
  begin
    for v_org_id, v_rule_id, v_lead_ids in
      with winners as (
        select distinct on (l.org_id collate "C", l.id collate "C") l.org_id, l.id as lead_id, l.stage_id, r.id as rule_id, r.target_stage_id
        from app.automation_rules r
        cross join lateral (select p_now - (r.conditions #>> '{noTouchDays,gte}')::numeric * interval '1 day' as cutoff) t
        -- fromStage is tested again below; spelled out here so leads_org_stage_idx serves it.
        join app.leads l on l.org_id = r.org_id and l.deleted_at is null
          and (r.conditions ->> 'fromStage' is null or l.stage_id = r.conditions ->> 'fromStage')
          and coalesce(l.last_touch_at, l.created_at) <= t.cutoff
        join app.stages s on s.org_id = l.org_id and s.id = l.stage_id and s.outcome = 'open'
        left join app.lead_engagement g on g.org_id = l.org_id and g.lead_id = l.id
        left join app.lead_scores c on c.org_id = l.org_id and c.lead_id = l.id
        where r.enabled and r.trigger_event = 'no_touch'
          and app._automation_conditions_hold(r.conditions, l.stage_id, l.tier, g.proposal_views, c.score)
          and not exists (select from app.automation_runs ar
                          where ar.org_id = l.org_id and ar.lead_id = l.id and ar.ran_at > t.cutoff)
        order by l.org_id collate "C", l.id collate "C", r.priority desc, r.created_at, r.id
      )
      select w.org_id, w.rule_id, array_agg(w.lead_id order by w.lead_id)
      from winners w
      where w.target_stage_id <> w.stage_id
      group by w.org_id, w.rule_id
      order by w.rule_id
    loop
      v_moved := v_moved + app._apply_automation_rule(v_org_id, v_rule_id, v_lead_ids, null, p_now);
    end loop;
    return v_moved;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.score_leads(p_org_id text, p_lead_ids text[] DEFAULT NULL::text[], p_now timestamp with time zone DEFAULT now())
 RETURNS TABLE(lead_id text, score integer, label text, factors jsonb, suggested_action text)
 LANGUAGE plpgsql
 SET search_path TO ''
 SET plan_cache_mode TO 'force_custom_plan'
 SET jit TO 'off'
AS $function$
  declare
    v_nestloop constant text := pg_catalog.current_setting('enable_nestloop');
  begin
    if p_lead_ids is null then
      perform pg_catalog.set_config('enable_nestloop', 'off', true);
    end if;
    return query
    with w as (
      select
        max(x.points_per_unit::float8) filter (where x.factor = 'quiz_score') as quiz_rate,
        max(x.max_points) filter (where x.factor = 'quiz_score') as quiz_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'tier') as tier_rate,
        max(x.max_points) filter (where x.factor = 'tier') as tier_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'proposal_views') as views_rate,
        max(x.max_points) filter (where x.factor = 'proposal_views') as views_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'video_watched') as video_rate,
        max(x.max_points) filter (where x.factor = 'video_watched') as video_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'cta_click') as cta_rate,
        max(x.max_points) filter (where x.factor = 'cta_click') as cta_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'meeting_booked') as meeting_rate,
        max(x.max_points) filter (where x.factor = 'meeting_booked') as meeting_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'enrichment') as enrichment_rate,
        max(x.max_points) filter (where x.factor = 'enrichment') as enrichment_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'staleness') as stale_rate,
        max(x.max_points) filter (where x.factor = 'staleness') as stale_cap
      from app.score_weights x
    ),
    measured as (
      select
        l.id,
        l.tier,
        l.enrichment_status,
        g.quiz_score,
        case pg_catalog.lower(l.tier) when 'high' then 2 when 'medium' then 1 else 0 end as tier_level,
        coalesce(g.proposal_views, 0) as views,
        coalesce(g.video_percent, 0) as video,
        coalesce(g.cta_clicks, 0) as ctas,
        coalesce(g.meetings_booked > 0 and (g.meeting_canceled_at is null or g.meeting_canceled_at < g.last_meeting_booked_at), false) as meeting,
        g.meeting_canceled_at is not null as canceled,
        greatest(0, floor(pg_catalog.date_part('epoch', p_now - coalesce(l.last_touch_at, l.created_at)) / 86400))::integer as idle_days,
        l.last_touch_at is not null as touched,
        s.outcome,
        g.bounced_at is not null as bounced,
        g.unsubscribed_at is not null as unsubscribed,
        c.score as stored_score,
        c.label as stored_label
      from app.leads l
      left join app.lead_engagement g on g.org_id = l.org_id and g.lead_id = l.id
      left join app.stages s on s.org_id = l.org_id and s.id = l.stage_id
      left join app.lead_scores c on c.org_id = l.org_id and c.lead_id = l.id
      where l.org_id = p_org_id
        and case when p_lead_ids is null then l.deleted_at is null else l.id = any(p_lead_ids) end
    ),
    -- Materialized: each later step refers to the points (and the label to the total) several
    -- times, and inlined CTEs would recompute every one of them at each reference.
    pointed as materialized (
      select
        m.*,
        least(w.quiz_cap, app.round_points(coalesce(m.quiz_score, 0)::float8 * w.quiz_rate)) as quiz_points,
        least(w.tier_cap, app.round_points(m.tier_level * w.tier_rate)) as tier_points,
        least(w.views_cap, app.round_points(m.views * w.views_rate)) as views_points,
        least(w.video_cap, app.round_points(m.video::float8 * w.video_rate)) as video_points,
        least(w.cta_cap, app.round_points(m.ctas * w.cta_rate)) as cta_points,
        least(w.meeting_cap, app.round_points(m.meeting::integer * w.meeting_rate)) as meeting_points,
        least(w.enrichment_cap, app.round_points((m.enrichment_status = 'complete')::integer * w.enrichment_rate)) as enrichment_points,
        greatest(w.stale_cap, app.round_points((m.idle_days / 7) * w.stale_rate)) as stale_points
      from measured m cross join w
    ),
    totalled as (
      select
        p.*,
        greatest(0, least(100, p.quiz_points + p.tier_points + p.views_points + p.video_points + p.cta_points
          + p.meeting_points + p.enrichment_points + p.stale_points)) as total
      from pointed p
    ),
    labelled as materialized (
      select
        t.*,
        case when t.total >= 70 then 'hot' when t.total >= 45 then 'warm' when t.total >= 20 then 'cool' else 'cold' end as grade
      from totalled t
    ),
    scored as (
      select
        b.id,
        b.total,
        b.grade,
        case when p_lead_ids is not null then pg_catalog.jsonb_build_array(
          pg_catalog.jsonb_build_object('factor', 'quiz_score', 'points', b.quiz_points, 'detail',
            case when b.quiz_score is null then 'No quiz completed' else 'Quiz score ' || b.quiz_score || '/100' end),
          pg_catalog.jsonb_build_object('factor', 'tier', 'points', b.tier_points, 'detail',
            case when b.tier is null then 'No tier set' else 'Tier ' || b.tier end),
          pg_catalog.jsonb_build_object('factor', 'proposal_views', 'points', b.views_points, 'detail',
            case b.views when 0 then 'Proposal not viewed' when 1 then '1 proposal view' else b.views || ' proposal views' end),
          pg_catalog.jsonb_build_object('factor', 'video_watched', 'points', b.video_points, 'detail',
            case when b.video = 0 then 'Video not watched' else 'Watched ' || round(b.video) || '% of the video' end),
          pg_catalog.jsonb_build_object('factor', 'cta_click', 'points', b.cta_points, 'detail',
            case b.ctas when 0 then 'No CTA clicks' when 1 then '1 CTA click' else b.ctas || ' CTA clicks' end),
          pg_catalog.jsonb_build_object('factor', 'meeting_booked', 'points', b.meeting_points, 'detail',
            case when b.meeting then 'Meeting booked' when b.canceled then 'Meeting canceled' else 'No meeting booked' end),
          pg_catalog.jsonb_build_object('factor', 'enrichment', 'points', b.enrichment_points, 'detail',
            'Enrichment ' || pg_catalog.replace(b.enrichment_status, '_', ' ')),
          pg_catalog.jsonb_build_object('factor', 'staleness', 'points', b.stale_points, 'detail',
            case
              when b.idle_days < 7 then case when b.touched then 'Touched within the last week' else 'Created within the last week' end
              else case when b.touched then '' else 'Never touched; created ' end
                || case when b.idle_days < 14 then '1 week' else (b.idle_days / 7) || ' weeks' end
                || case when b.touched then ' since the last touch' else ' ago' end
            end)
        ) end as factor_list,
        case
          when b.outcome = 'won' then 'onboard_customer'
          when b.outcome = 'lost' then 'no_action'
          when b.unsubscribed then 'do_not_contact'
          when b.bounced then 'verify_email'
          when b.meeting then 'prepare_for_meeting'
          when b.grade = 'hot' then 'book_meeting'
          when b.grade = 'warm' and b.views = 0 then 'send_proposal'
          when b.grade = 'warm' then 'follow_up'
          when b.grade = 'cool' then 'nurture'
          when b.enrichment_status <> 'complete' then 'enrich'
          else 're_engage'
        end as action
      from labelled b
    )
    ,
    -- Rows whose score and label come out as stored (read with the lead above) are not
    -- rewritten: a daily decay pass writes only the leads whose staleness crossed a week.
    -- Changed scores are updated by a join (an upsert would lock every row it compares);
    -- leads without one yet are inserted, and a score another transaction wrote in the
    -- meantime is overwritten with this one.
    rewritten as (
      update app.lead_scores c
      set score = b.total, label = b.grade, scored_at = p_now
      from labelled b
      where c.org_id = p_org_id and c.lead_id = b.id and (b.stored_score <> b.total or b.stored_label <> b.grade)
    ),
    first_scored as (
      insert into app.lead_scores as c (lead_id, org_id, score, label, scored_at)
      select b.id, p_org_id, b.total, b.grade, p_now from labelled b
      where b.stored_score is null
      on conflict on constraint lead_scores_pkey do update set score = excluded.score, label = excluded.label, scored_at = excluded.scored_at
      where c.score <> excluded.score or c.label <> excluded.label
    )
    select s.id, s.total, s.grade, s.factor_list, s.action from scored s;
    perform pg_catalog.set_config('enable_nestloop', v_nestloop, true);
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.store_meeting_transcript(p_bot_id text, p_summary text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

create or replace view "app"."sync_source_details" with (security_invoker = true) as  SELECT s.id,
    s.org_id,
    s.name,
    s.type,
    s.enabled,
    s.stage_id,
    st.name AS stage,
    ( SELECT COALESCE(jsonb_object_agg(e.key, jsonb_build_object('id', e.value, 'name', es.name) ORDER BY e.key), '{}'::jsonb) AS "coalesce"
           FROM (jsonb_each_text(s.event_stages) e(key, value)
             LEFT JOIN app.stages es ON (((es.org_id = s.org_id) AND (es.id = e.value))))) AS event_stages,
    s.field_mapping,
    s.inbound_token,
    s.last_event_at,
    s.created_at,
    s.updated_at
   FROM (app.sync_sources s
     JOIN app.stages st ON (((st.org_id = s.org_id) AND (st.id = s.stage_id))));


CREATE OR REPLACE FUNCTION app.template_values(p_lead app.leads)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
    select pg_catalog.jsonb_build_object(
      'firstName', p_lead.first_name,
      'lastName', coalesce(p_lead.last_name, ''),
      'organizationName', coalesce(p_lead.organization_name, p_lead.company_name, ''),
      'businessType', coalesce(p_lead.business_type, ''),
      'proposalUrl', coalesce(p_lead.crm_data ->> 'proposalUrl',
        (select '/p/' || p.slug from app.proposals p where p.org_id = p_lead.org_id and p.lead_id = p_lead.id and p.published), ''),
      'email', p_lead.email,
      'phone', coalesce(p_lead.phone, ''))
  $function$
;

CREATE OR REPLACE FUNCTION app.track_proposal(p_slug text, p_visit_id text, p_kind text, p_data jsonb DEFAULT '{}'::jsonb, p_user_agent text DEFAULT NULL::text, p_key_hash text DEFAULT NULL::text, p_now timestamp with time zone DEFAULT now())
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_sections constant text[] := array['hero', 'problem', 'offer', 'pricing', 'video', 'cta'];
    v_kinds constant text[] := array['view', 'heartbeat', 'leave', 'section', 'video', 'cta'];
    v_data jsonb := coalesce(p_data, '{}');
    v_proposal record;
    v_visit app.proposal_visits%rowtype;
    v_first boolean := false;
    v_seconds numeric;
    v_percent integer;
    v_section text;
  begin
    if not p_kind = any (v_kinds) then
      perform app.refuse(400, 'invalid_kind', pg_catalog.format('"%s" is not a tracking kind', p_kind),
        'Send kind as one of: ' || pg_catalog.array_to_string(v_kinds, ', ') || '.');
    end if;
    if p_visit_id is null or p_visit_id !~ '^[A-Za-z0-9_-]{8,64}$' then
      perform app.refuse(400, 'invalid_visit_id', 'visitId must be 8-64 letters, digits, _ or -',
        'Generate one random visitId per page load and send it with every event of that load.');
    end if;

    -- heartbeat and leave must carry the time on page; the other reports may.
    if p_kind in ('heartbeat', 'leave') or v_data ? 'seconds' then
      if pg_catalog.jsonb_typeof(v_data -> 'seconds') is distinct from 'number' or (v_data ->> 'seconds')::numeric < 0 then
        perform app.refuse(400, 'invalid_seconds', 'seconds must be a number of seconds on the page',
          'Send { "kind": "heartbeat", "seconds": 42 }: the total seconds the page has been visible in this visit.');
      end if;
      v_seconds := (v_data ->> 'seconds')::numeric;
    end if;
    if p_kind = 'section' then
      v_section := v_data ->> 'section';
      if v_section is null or not v_section = any (v_sections) then
        perform app.refuse(400, 'invalid_section', pg_catalog.format('"%s" is not a proposal section', v_section),
          'Send section as one of: ' || pg_catalog.array_to_string(v_sections, ', ') || '.');
      end if;
    end if;
    if p_kind = 'video' then
      if pg_catalog.jsonb_typeof(v_data -> 'percent') is distinct from 'number'
          or (v_data ->> 'percent')::numeric not in (25, 50, 75, 100) then
        perform app.refuse(400, 'invalid_percent', 'percent must be a video milestone: 25, 50, 75 or 100',
          'Send { "kind": "video", "percent": 50 } when playback first passes a milestone.');
      end if;
      v_percent := (v_data ->> 'percent')::integer;
    end if;

    select p.id, p.org_id, p.lead_id into v_proposal
    from app.proposals p join app.leads l on l.org_id = p.org_id and l.id = p.lead_id
    where p.slug = p_slug and p.published and l.deleted_at is null;
    if not found then
      perform app.refuse(404, 'not_found', 'No published proposal has this slug', 'Check the slug in the page address (/p/{slug}).');
    end if;

    if p_key_hash is not null and exists (
        select from app.api_keys k where k.key_hash = p_key_hash and k.org_id = v_proposal.org_id) then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'preview');
    end if;
    if app.is_bot_user_agent(p_user_agent) then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'bot');
    end if;

    select v.* into v_visit from app.proposal_visits v
    where v.org_id = v_proposal.org_id and v.visit_id = p_visit_id for update;
    if not found then
      if (select count(*) from app.proposal_visits v
          where v.org_id = v_proposal.org_id and v.proposal_id = v_proposal.id and v.started_at > p_now - interval '1 hour') >= 100 then
        perform app.refuse(429, 'rate_limited', 'Too many visits of this proposal in the last hour',
          'At most 100 new visits of one proposal are counted per hour; try again later.');
      end if;
      insert into app.proposal_visits (org_id, lead_id, proposal_id, visit_id, started_at, last_seen_at, hits)
      values (v_proposal.org_id, v_proposal.lead_id, v_proposal.id, p_visit_id, p_now, p_now, 0)
      on conflict (org_id, visit_id) do nothing
      returning * into v_visit;
      if not found then
        -- A concurrent first beacon of the same visit won: continue with its row.
        select v.* into v_visit from app.proposal_visits v
        where v.org_id = v_proposal.org_id and v.visit_id = p_visit_id for update;
      else
        v_first := true;
        insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
        values (v_proposal.org_id, v_proposal.lead_id, 'proposal_viewed', p_now,
          pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id, 'seconds', 0),
          'proposal', 'visitor', p_visit_id)
        on conflict (org_id, type, external_id) where external_id is not null do nothing;
      end if;
    end if;

    if v_visit.proposal_id <> v_proposal.id then
      perform app.refuse(409, 'visit_conflict', 'This visitId belongs to another proposal',
        'Generate a new random visitId for each page load.');
    end if;
    if v_visit.hits >= 1000 then
      perform app.refuse(429, 'rate_limited', 'Too many events for this visit', 'A visit counts at most 1000 events.');
    end if;
    if p_now > v_visit.started_at + interval '1 day' then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'visit_expired');
    end if;

    -- Time on page as the page measured it, never more than has really passed (plus slack).
    if v_seconds is not null then
      v_seconds := pg_catalog.round(least(v_seconds, extract(epoch from p_now - v_visit.started_at) + 5), 1);
    end if;

    update app.proposal_visits v set
      hits = v.hits + 1,
      last_seen_at = greatest(v.last_seen_at, p_now),
      seconds = greatest(v.seconds, coalesce(v_seconds, 0)),
      sections = case when v_section is not null and not v_section = any (v.sections)
                      then pg_catalog.array_append(v.sections, v_section) else v.sections end,
      video_percent = greatest(v.video_percent, coalesce(v_percent, 0)),
      cta_clicks = v.cta_clicks + (p_kind = 'cta')::integer
    where v.org_id = v_visit.org_id and v.id = v_visit.id;

    -- Time on page lives in the visit; the lead's rollup adds what this report added.
    if coalesce(v_seconds, 0) > v_visit.seconds then
      update app.lead_engagement g set proposal_seconds = g.proposal_seconds + (v_seconds - v_visit.seconds)
      where g.org_id = v_proposal.org_id and g.lead_id = v_proposal.lead_id;
    end if;
    -- Each milestone once per visit (external_id), whatever order the beacons arrive in.
    if v_percent is not null then
      insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
      values (v_proposal.org_id, v_proposal.lead_id, 'video_watched', p_now,
        pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id, 'percent', v_percent),
        'proposal', 'visitor', p_visit_id || ':' || v_percent)
      on conflict (org_id, type, external_id) where external_id is not null do nothing;
    end if;
    if p_kind = 'cta' then
      insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
      values (v_proposal.org_id, v_proposal.lead_id, 'cta_clicked', p_now,
        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id,
          'cta', left(v_data ->> 'label', 200), 'url', left(v_data ->> 'url', 2000))),
        'proposal', 'visitor', p_visit_id || ':cta:' || (v_visit.cta_clicks + 1))
      on conflict (org_id, type, external_id) where external_id is not null do nothing;
    end if;

    return pg_catalog.jsonb_build_object('recorded', true, 'firstView', v_first);
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
            when (select t.position from app.stages t where t.org_id = p_org_id and t.id = p_stage_id)
                 > coalesce((select f.position from app.stages f where f.org_id = p_org_id and f.id = l.stage_id), -1)
            then p_stage_id else l.stage_id end
        where l.org_id = p_org_id and l.id = upsert_lead_by_email.lead_id
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

-- ---------------------------------------------------------------------------
-- Comments and privileges of the functions created again
-- ---------------------------------------------------------------------------
comment on function app._advance_enrollment(text,text,integer,timestamp with time zone) is 'After step p_step_index of an org''s enrolment went out (or was skipped): schedules the next step after its delay, or completes the enrolment.';
comment on function app._apply_automation_rule(text,text,text[],text,timestamp with time zone) is 'Moves the given leads of the org to the target of its rule p_rule_id (those not there already), recording the rule in the stage history and in app.automation_runs; returns how many moved.';
comment on function app._finish_enrollment(text,text,text,text,timestamp with time zone) is 'Ends an active enrolment of the org as completed or stopped (with the reason), logs it and cancels its queued mail; false if it was not active.';
comment on function app._send_guard(text,text,integer,timestamp with time zone) is 'The send guardrails for one step of an org''s enrolment at p_now: enrolment still active, lead not deleted, address not suppressed, step condition, 48 h cooldown before a first step, 1 per lead per hour, 3 per lead per 24 h, the org''s daily cap and send window; says send, defer (until when), skip, stop or cancel, with the reason.';
comment on function app._settle_blocked_step(text,text,integer,text,text,timestamp with time zone) is 'Records a step the guardrails skip, stop or cancel (outbox row + history) and moves the enrolment on or stops it.';
revoke all on function app._advance_enrollment(text,text,integer,timestamp with time zone) from public;
revoke all on function app._apply_automation_rule(text,text,text[],text,timestamp with time zone) from public;
revoke all on function app._finish_enrollment(text,text,text,text,timestamp with time zone) from public;
revoke all on function app._send_guard(text,text,integer,timestamp with time zone) from public;
grant execute on function app._send_guard(text,text,integer,timestamp with time zone) to service_role;
revoke all on function app._settle_blocked_step(text,text,integer,text,text,timestamp with time zone) from public;
