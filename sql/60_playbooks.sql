-- Playbooks: SDR workflows as data. Each is an ordered list of steps (channel, delay,
-- action, template hint) with the leads it is meant for: a tier, a stage, a score label,
-- stalled or not (each null = any). Every org starts with a default set and edits it.
-- app.recommend_playbook picks the most specific playbook for a lead and its next step.
--
-- This file holds the table app.playbooks, the view app.playbook_details, the step
-- validation (app.playbook_channels, app.playbook_steps_problem, trigger playbooks_check),
-- app._create_default_playbooks (called by app._seed_org in 20_orgs_keys.sql), the list's
-- stage filter (app.playbook_stages, which also takes a lead status) and
-- app.recommend_playbook, which reads the stall verdict (58_stalled.sql), the stored score
-- (56_scoring.sql), the stage history (42_stage_history.sql) and touchpoints
-- (44_touchpoints_notes.sql).

create table app.playbooks (
  id text not null default app.new_id('pb'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null constraint playbooks_name_check check (length(btrim(name)) between 1 and 100),
  description text constraint playbooks_description_check check (length(description) <= 2000),
  -- Who it is for; null = any.
  tier text constraint playbooks_tier_check check (length(btrim(tier)) between 1 and 50),
  stage_id text,
  score_label text constraint playbooks_score_label_check check (score_label in ('hot', 'warm', 'cool', 'cold')),
  stalled boolean,
  steps jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  -- A playbook for a stage goes with the stage.
  constraint playbooks_stage_fkey foreign key (org_id, stage_id) references app.stages (org_id, id) on delete cascade
);
comment on table app.playbooks is 'SDR playbooks per org: ordered steps (channel, delayDays after the previous step, action, templateHint) for leads of a tier, stage, score label and stalled state (null = any).';
comment on column app.playbooks.steps is 'Ordered by order: [{ order, channel, delayDays, action, templateHint }]; delayDays counts from the previous step (the first: from entering the stage).';

create unique index playbooks_org_name_key on app.playbooks (org_id, lower(name));
create index playbooks_org_stage_idx on app.playbooks (org_id, stage_id);
create index playbooks_org_tier_idx on app.playbooks (org_id, tier);

create trigger playbooks_touch_updated_at before update on app.playbooks
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.playbooks', 'Playbooks');
grant select, insert, update, delete on app.playbooks to authenticated;
grant all on app.playbooks to service_role;

-- ---------------------------------------------------------------------------
-- The API's view of a playbook (camelCase, with the stage's name): GET /playbooks reads it
-- and recommendations return its rows as JSON, so both answer the same shape.
-- ---------------------------------------------------------------------------
create view app.playbook_details with (security_invoker = true) as
  select p.id, p.name, p.description, p.tier, p.stage_id as "stageId", s.name as stage,
    p.score_label as "scoreLabel", p.stalled, p.steps, p.created_at as "createdAt", p.updated_at as "updatedAt"
  from app.playbooks p
  left join app.stages s on s.org_id = p.org_id and s.id = p.stage_id;
comment on view app.playbook_details is 'Playbooks as the API returns them.';
grant select on app.playbook_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Steps, validated in the database for every writer.
-- ---------------------------------------------------------------------------
create function app.playbook_channels() returns text[]
  language sql immutable
  set search_path = ''
  as $$ select array['email', 'call', 'linkedin', 'sms', 'meeting', 'task'] $$;
comment on function app.playbook_channels() is 'The channels a playbook step can use.';
revoke execute on function app.playbook_channels() from public;
grant execute on function app.playbook_channels() to authenticated, service_role;

create function app.playbook_steps_problem(p_steps jsonb) returns text
  language plpgsql immutable
  set search_path = ''
  as $$
  declare
    v_step jsonb;
    v_i bigint;
    v_unknown text;
    v_repeated text;
  begin
    if p_steps is null or pg_catalog.jsonb_typeof(p_steps) <> 'array' then
      return 'steps must be an array';
    end if;
    if pg_catalog.jsonb_array_length(p_steps) not between 1 and 30 then
      return pg_catalog.format('steps must hold 1 to 30 steps, not %s', pg_catalog.jsonb_array_length(p_steps));
    end if;
    for v_step, v_i in select e.value, e.ord from pg_catalog.jsonb_array_elements(p_steps) with ordinality e(value, ord) loop
      if pg_catalog.jsonb_typeof(v_step) <> 'object' then
        return pg_catalog.format('step %s is not an object', v_i);
      end if;
      select string_agg(k, ', ' order by k) into v_unknown from pg_catalog.jsonb_object_keys(v_step) k
      where k not in ('order', 'channel', 'delayDays', 'action', 'templateHint');
      if v_unknown is not null then
        return pg_catalog.format('step %s has unknown key(s): %s', v_i, v_unknown);
      end if;
      if pg_catalog.jsonb_typeof(v_step -> 'order') is distinct from 'number'
         or (v_step ->> 'order')::numeric <> pg_catalog.trunc((v_step ->> 'order')::numeric)
         or (v_step ->> 'order')::numeric not between 1 and 1000 then
        return pg_catalog.format('step %s: order must be a whole number from 1 to 1000', v_i);
      end if;
      if pg_catalog.jsonb_typeof(v_step -> 'channel') is distinct from 'string'
         or not (v_step ->> 'channel' = any (app.playbook_channels())) then
        return pg_catalog.format('step %s: channel must be one of %s', v_i, pg_catalog.array_to_string(app.playbook_channels(), ', '));
      end if;
      if pg_catalog.jsonb_typeof(v_step -> 'delayDays') is distinct from 'number'
         or (v_step ->> 'delayDays')::numeric <> pg_catalog.trunc((v_step ->> 'delayDays')::numeric)
         or (v_step ->> 'delayDays')::numeric not between 0 and 365 then
        return pg_catalog.format('step %s: delayDays must be a whole number of days from 0 to 365', v_i);
      end if;
      if pg_catalog.jsonb_typeof(v_step -> 'action') is distinct from 'string'
         or pg_catalog.length(pg_catalog.btrim(v_step ->> 'action')) not between 1 and 500 then
        return pg_catalog.format('step %s: action must be text of 1 to 500 characters', v_i);
      end if;
      if v_step ? 'templateHint' and v_step -> 'templateHint' <> 'null'::jsonb
         and (pg_catalog.jsonb_typeof(v_step -> 'templateHint') <> 'string' or pg_catalog.length(v_step ->> 'templateHint') > 2000) then
        return pg_catalog.format('step %s: templateHint must be text of at most 2000 characters, or null', v_i);
      end if;
    end loop;
    select string_agg(o, ', ') into v_repeated from (
      select e.value ->> 'order' as o from pg_catalog.jsonb_array_elements(p_steps) e
      group by 1 having count(*) > 1 order by 1) d;
    if v_repeated is not null then
      return pg_catalog.format('steps share order %s: each step needs its own', v_repeated);
    end if;
    return null;
  end;
  $$;
comment on function app.playbook_steps_problem(jsonb) is 'What is wrong with a playbook''s steps (null when nothing): 1-30 objects of { order, channel, delayDays, action, templateHint? } with distinct orders.';
revoke execute on function app.playbook_steps_problem(jsonb) from public;
grant execute on function app.playbook_steps_problem(jsonb) to authenticated, service_role;

create function app._check_playbook() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_problem text := app.playbook_steps_problem(new.steps);
  begin
    if v_problem is not null then
      perform app.refuse(400, 'invalid_playbook_steps', 'Invalid steps: ' || v_problem,
        'Send steps as [{ "order": 1, "channel": "email", "delayDays": 0, "action": "Send the intro email", "templateHint": "…" }, …]: '
        || '1-30 steps, order a distinct whole number, channel one of ' || pg_catalog.array_to_string(app.playbook_channels(), ', ')
        || ', delayDays 0-365 days after the previous step, action 1-500 characters, templateHint optional.');
    end if;
    -- Kept in step order, so readers never sort.
    new.steps := (select pg_catalog.jsonb_agg(e.value order by (e.value ->> 'order')::integer)
                  from pg_catalog.jsonb_array_elements(new.steps) e);
    new.tier := pg_catalog.btrim(new.tier);
    new.name := pg_catalog.btrim(new.name);
    return new;
  end;
  $$;
comment on function app._check_playbook() is 'Trigger: refuses invalid playbook steps (400 with the problem and the expected shape) and stores the steps in order.';
revoke execute on function app._check_playbook() from public;

create trigger playbooks_check before insert or update of steps, tier, name on app.playbooks
  for each row execute function app._check_playbook();

-- ---------------------------------------------------------------------------
-- The default set. Stage-specific ones are made only for stages the org has.
-- ---------------------------------------------------------------------------
create function app._create_default_playbooks(p_org_id text) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.playbooks (org_id, name, description, tier, stage_id, score_label, stalled, steps)
    select p_org_id, d.name, d.description, d.tier, s.id, d.score_label, d.stalled, d.steps::jsonb
    from (values
      ('Standard outreach', 'Any lead without a more specific playbook: a short multi-channel sequence.', null, null, null, null,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a personal intro email","templateHint":"Reference their business type and one concrete outcome you deliver."},
         {"order":2,"channel":"linkedin","delayDays":2,"action":"Connect on LinkedIn","templateHint":"Short note: saw their practice, sent an email."},
         {"order":3,"channel":"email","delayDays":3,"action":"Follow up with a case study","templateHint":"One customer like them, one number."},
         {"order":4,"channel":"call","delayDays":3,"action":"Call to qualify","templateHint":"Ask about timing, budget and who decides."},
         {"order":5,"channel":"email","delayDays":7,"action":"Send a breakup email","templateHint":"Polite close: should I stop reaching out?"}]'),
      ('High-tier fast track', 'High-value leads: phone first, meeting within the week.', 'high', null, null, null,
       '[{"order":1,"channel":"call","delayDays":0,"action":"Call within the hour","templateHint":"Open with the result they asked about; propose a meeting."},
         {"order":2,"channel":"email","delayDays":0,"action":"Email a recap with a booking link","templateHint":"Two lines and the booking link."},
         {"order":3,"channel":"meeting","delayDays":2,"action":"Hold a discovery meeting","templateHint":"Agenda: goals, current tools, decision process."},
         {"order":4,"channel":"email","delayDays":1,"action":"Send the proposal","templateHint":"Tie each line item to a goal they named."},
         {"order":5,"channel":"call","delayDays":3,"action":"Call to walk through the proposal"}]'),
      ('Low-tier nurture', 'Low-value leads: email only, spaced out.', 'low', null, null, null,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a helpful resource","templateHint":"A guide or checklist, no ask."},
         {"order":2,"channel":"email","delayDays":7,"action":"Share a customer story"},
         {"order":3,"channel":"email","delayDays":14,"action":"Offer a short call","templateHint":"One question they can answer with yes or no."}]'),
      ('New prospect opener', 'Leads just added to Prospects: first contact.', null, 'Prospects', null, null,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a personal intro email","templateHint":"Why them, why now, one question."},
         {"order":2,"channel":"linkedin","delayDays":1,"action":"Connect on LinkedIn"},
         {"order":3,"channel":"email","delayDays":3,"action":"Follow up on the intro"},
         {"order":4,"channel":"call","delayDays":2,"action":"Call to introduce yourself"}]'),
      ('Hot lead close', 'Hot leads (score 70+): get them to a meeting now.', null, null, 'hot', null,
       '[{"order":1,"channel":"call","delayDays":0,"action":"Call today","templateHint":"They are engaged: mention what they viewed or clicked."},
         {"order":2,"channel":"meeting","delayDays":1,"action":"Book a meeting","templateHint":"Offer two concrete times."},
         {"order":3,"channel":"email","delayDays":1,"action":"Send the proposal"}]'),
      ('Negotiation close', 'Leads in Negotiated: remove the last objections.', null, 'Negotiated', null, null,
       '[{"order":1,"channel":"call","delayDays":0,"action":"Call to address open questions","templateHint":"Ask what would stop them signing this week."},
         {"order":2,"channel":"email","delayDays":1,"action":"Send revised terms","templateHint":"Summarise what changed and the next step."},
         {"order":3,"channel":"meeting","delayDays":2,"action":"Meet to sign","templateHint":"Bring the contract; agree a start date."}]'),
      ('Stalled revival', 'Stalled leads: restart the conversation, then close the loop.', null, null, null, true,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a check-in email with something new","templateHint":"A new result, feature or case study; one question."},
         {"order":2,"channel":"call","delayDays":2,"action":"Call to check in"},
         {"order":3,"channel":"email","delayDays":5,"action":"Send a breakup email","templateHint":"Should I close your file? Reply if timing is better later."}]'),
      ('Re-engagement', 'Leads parked in Re-engage later: a light touch each month.', null, 'Re-engage later', null, null,
       '[{"order":1,"channel":"email","delayDays":0,"action":"Send a what''s-new email","templateHint":"One update relevant to them; ask if timing has changed."},
         {"order":2,"channel":"linkedin","delayDays":14,"action":"Engage with a recent post"},
         {"order":3,"channel":"email","delayDays":14,"action":"Ask whether to keep in touch"}]')
    ) as d(name, description, tier, stage, score_label, stalled, steps)
    left join app.stages s on s.org_id = p_org_id and lower(s.name) = lower(d.stage)
    where d.stage is null or s.id is not null
  $$;
comment on function app._create_default_playbooks(text) is 'Gives an org the default playbooks (standard, high-tier, low-tier, hot lead, stalled, and one per matching default stage).';
revoke execute on function app._create_default_playbooks(text) from public;

-- ---------------------------------------------------------------------------
-- Which stages GET /playbooks?stage=… means. The contract's own example is ?stage=new, and
-- "new" is where a lead is in its life (a lead status), not necessarily a pipeline stage. So:
-- a stage of the org (id or name) means that stage; otherwise a lead status means the stages
-- the org's live leads of that status are in, and "new" also the default stage, where new
-- leads land; anything else is null: the list is then empty and the edge names what is valid
-- (app.playbook_stage_values).
-- ---------------------------------------------------------------------------
create function app.playbook_stages(p_stage text) returns text[]
  language sql stable
  set search_path = ''
  as $$
    select coalesce(
      (select array[s.id] from app.stages s
       where s.org_id = app.current_org_id() and (s.id = p_stage or lower(s.name) = lower(btrim(p_stage)))
       order by s.id = p_stage desc limit 1),
      (select pg_catalog.array_agg(distinct x.id) from (
         select l.stage_id as id from app.leads l
         where l.org_id = app.current_org_id() and l.deleted_at is null and lower(l.status) = lower(btrim(p_stage))
         union all
         select s.id from app.stages s
         where s.org_id = app.current_org_id() and s.is_default and lower(btrim(p_stage)) = 'new') x))
  $$;
comment on function app.playbook_stages(text) is 'The current org''s stages a playbook stage filter names: the stage itself (id or name), else the stages of live leads with that status (new: also the default stage); null when it names neither.';
revoke execute on function app.playbook_stages(text) from public;
grant execute on function app.playbook_stages(text) to authenticated, service_role;

create function app.playbook_stage_values() returns jsonb
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'stages', (select coalesce(pg_catalog.jsonb_agg(s.name order by s.position), '[]') from app.stages s
                 where s.org_id = app.current_org_id()),
      'statuses', (select pg_catalog.jsonb_agg(t.status order by t.status) from (
                     select distinct lower(l.status) as status from app.leads l
                     where l.org_id = app.current_org_id() and l.deleted_at is null
                     union select 'new') t))
  $$;
comment on function app.playbook_stage_values() is 'What a playbook stage filter may name in the current org: its stages (in pipeline order) and the lead statuses in use (always new).';
revoke execute on function app.playbook_stage_values() from public;
grant execute on function app.playbook_stage_values() to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The recommendation: the playbook that fits the lead most specifically (a matching
-- stalled state weighs most, then score label (how engaged the lead is now), stage, tier; a
-- criterion left null matches any lead; ties go to the most recently edited), and its next
-- step: steps done = touchpoints logged since the lead entered its stage; the next one is
-- due delayDays after the last of them (or after entering the stage).
-- ---------------------------------------------------------------------------
create function app.recommend_playbook(p_lead_id text, p_now timestamptz default now()) returns jsonb
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_lead app.leads;
    v_score app.lead_scores;
    v_stage app.stage_stall_rules;
    v_stall record;
    v_stalled boolean;
    v_stalled_json jsonb;
    v_fitting text[];
    v_names text[];
    v_pick app.playbooks;
    v_specificity integer;
    v_entered timestamptz;
    v_done integer;
    v_last timestamptz;
    v_steps integer;
    v_step jsonb;
    v_due timestamptz;
    v_next jsonb;
    v_reasoning text[] := '{}'::text[];
  begin
    select l.* into v_lead from app.leads l where l.id = p_lead_id;
    select c.* into v_score from app.lead_scores c where c.lead_id = p_lead_id;
    if v_lead.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId: GET /api/openclaw/leads lists your leads. Ids belong to one workspace: another workspace''s leads are not visible with this key.');
    end if;
    if v_lead.deleted_at is not null then
      perform app.refuse(409, 'lead_deleted', pg_catalog.format('Lead %s is soft-deleted', p_lead_id),
        pg_catalog.format('Restore it first (PATCH /api/openclaw/leads/%s { "restore": true }); deleted leads get no outreach.', p_lead_id));
    end if;
    select r.* into v_stage from app.stage_stall_rules r where r.stage_id = v_lead.stage_id;

    if v_stage.outcome <> 'open' or lower(v_lead.status) in ('won', 'lost') then
      return pg_catalog.jsonb_build_object('leadId', v_lead.id, 'playbook', null, 'nextAction', null, 'stalled', null,
        'alsoMatching', '[]'::jsonb,
        'reasoning', pg_catalog.jsonb_build_array(pg_catalog.format('The lead is closed (stage "%s", status "%s"): no playbook applies',
          v_stage.stage, v_lead.status)));
    end if;

    select v.* into v_stall
    from app.stall_verdict(v_lead.idle_since, v_lead.last_touch_at is not null, v_stage.stall_after_days, v_stage.outcome,
      v_lead.status, v_lead.deleted_at, v_score.score, v_score.label, v_stage.late_stage, v_stage.stage, p_now) v;
    v_stalled := v_stall.suggested_action is not null;
    if v_stalled then
      v_stalled_json := pg_catalog.jsonb_build_object('daysSinceTouch', v_stall.days_since_touch,
        'stalledReason', v_stall.stalled_reason, 'suggestedAction', v_stall.suggested_action, 'priority', v_stall.priority);
    end if;

    v_reasoning := v_reasoning
      || case when v_lead.tier is null then 'No tier: only playbooks for any tier fit' else pg_catalog.format('Tier "%s"', v_lead.tier) end
      || pg_catalog.format('Stage "%s"', v_stage.stage)
      || case when v_score.score is null then 'Not scored yet: only playbooks for any score label fit'
         else pg_catalog.format('Score %s (%s)', v_score.score, v_score.label) end
      || case when v_stalled
         then pg_catalog.format('Stalled: %s; suggested action %s (%s priority)', v_stall.stalled_reason, v_stall.suggested_action, v_stall.priority)
         when v_stage.stall_after_days is null then pg_catalog.format('Not stalled: "%s" never stalls', v_stage.stage)
         else pg_catalog.format('Not stalled: %s day(s) since the last touch, "%s" stalls after %s',
           pg_catalog.floor(extract(epoch from p_now - v_lead.idle_since) / 86400)::integer, v_stage.stage, v_stage.stall_after_days) end;

    -- Every fitting playbook, most specific first.
    select array_agg(f.id order by f.specificity desc, f.updated_at desc, f.id),
           array_agg(f.name order by f.specificity desc, f.updated_at desc, f.id),
           max(f.specificity)
      into v_fitting, v_names, v_specificity
    from (
      select p.id, p.name, p.updated_at,
        (p.stalled is not null)::integer * 8 + (p.score_label is not null)::integer * 4
          + (p.stage_id is not null)::integer * 2 + (p.tier is not null)::integer as specificity
      from app.playbooks p
      where (p.tier is null or lower(p.tier) = lower(v_lead.tier))
        and (p.stage_id is null or p.stage_id = v_lead.stage_id)
        and (p.score_label is null or p.score_label = v_score.label)
        and (p.stalled is null or p.stalled = v_stalled)
    ) f;
    select p.* into v_pick from app.playbooks p where p.id = v_fitting[1];

    if v_pick.id is null then
      v_reasoning := v_reasoning || 'No playbook fits this lead: POST /api/openclaw/playbooks { "name", "steps" } creates one for any lead'::text;
    else
      v_reasoning := v_reasoning || (pg_catalog.format('Playbook "%s" fits: %s', v_pick.name, concat_ws(', ',
          case when v_pick.stalled then 'made for stalled leads' when not v_pick.stalled then 'made for active leads' end,
          case when v_pick.score_label is not null then pg_catalog.format('made for %s leads', v_pick.score_label) end,
          case when v_pick.stage_id is not null then 'made for this stage' end,
          case when v_pick.tier is not null then pg_catalog.format('made for tier "%s"', v_pick.tier) end,
          case when v_specificity = 0 then 'applies to any lead' end))
        || case when pg_catalog.cardinality(v_fitting) > 1
             then pg_catalog.format(', the most specific of %s fitting playbooks (stalled state > score label > stage > tier)', pg_catalog.cardinality(v_fitting))
             else '' end);

      -- Progress: touchpoints since the lead entered its stage are the steps done.
      select max(c.changed_at) into v_entered
      from app.stage_changes c
      where c.org_id = v_lead.org_id and c.lead_id = v_lead.id and c.to_stage_id = v_lead.stage_id and c.changed_at <= p_now;
      v_entered := coalesce(v_entered, v_lead.created_at);
      select count(*)::integer, max(t.occurred_at) into v_done, v_last
      from app.touchpoints t
      where t.org_id = v_lead.org_id and t.lead_id = v_lead.id and t.occurred_at >= v_entered and t.occurred_at <= p_now;
      v_steps := pg_catalog.jsonb_array_length(v_pick.steps);

      if v_done >= v_steps then
        v_reasoning := v_reasoning
          || pg_catalog.format('All %s steps are done (%s touchpoint(s) since entering the stage on %s)',
               v_steps, v_done, pg_catalog.to_char(v_entered, 'YYYY-MM-DD'))
          || case when v_stalled then pg_catalog.format('Next: %s, then move the lead on or close it', v_stall.suggested_action)
             else 'Next: move the lead to its next stage, or close it' end;
      else
        v_step := v_pick.steps -> v_done;
        v_due := coalesce(v_last, v_entered) + pg_catalog.make_interval(days => (v_step ->> 'delayDays')::integer);
        v_next := pg_catalog.jsonb_build_object('step', (v_step ->> 'order')::integer, 'channel', v_step ->> 'channel',
          'action', v_step ->> 'action', 'templateHint', v_step ->> 'templateHint', 'delayDays', (v_step ->> 'delayDays')::integer,
          'due', v_due, 'overdue', v_due < p_now);
        v_reasoning := v_reasoning || pg_catalog.format('%s of %s steps done (touchpoints since entering the stage on %s): next is step %s (%s), due %s%s',
          v_done, v_steps, pg_catalog.to_char(v_entered, 'YYYY-MM-DD'), v_step ->> 'order', v_step ->> 'channel',
          pg_catalog.to_char(v_due, 'YYYY-MM-DD'), case when v_due < p_now then ', overdue' else '' end);
      end if;
    end if;

    return pg_catalog.jsonb_build_object(
      'leadId', v_lead.id,
      'playbook', (select pg_catalog.to_jsonb(d) from app.playbook_details d where d.id = v_pick.id),
      'nextAction', v_next,
      'stalled', v_stalled_json,
      'alsoMatching', pg_catalog.to_jsonb(coalesce(v_names[2:], '{}')),
      'reasoning', pg_catalog.to_jsonb(v_reasoning));
  end;
  $$;
comment on function app.recommend_playbook(text, timestamptz) is 'The playbook that fits one of the caller''s leads most specifically (by stalled state, score label, stage, tier), its next step with due date, and the reasoning; null playbook for closed leads.';
revoke execute on function app.recommend_playbook(text, timestamptz) from public;
grant execute on function app.recommend_playbook(text, timestamptz) to authenticated, service_role;
