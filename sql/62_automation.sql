-- Stage automation rules: "when a lead books a meeting (views the proposal, clicks a CTA,
-- completes a quiz, or has had no touch for N days) and the conditions hold, move it to
-- this stage". Everything lives here so it holds for every writer:
--   * the triggers and condition keys are data (app.automation_triggers,
--     app.automation_condition_keys), read by validation, its hints and GET /automation/rules;
--   * a rule (app.automation_rules) is validated and normalised by the trigger
--     automation_rules_check (unknown trigger, condition key or stage → 400 naming the valid
--     ones; fromStage and the target accept a name and are stored as ids; a rule that would
--     move a lead to where it is already is refused);
--   * rules fire in the database: the trigger events_30_automation after an event is
--     recorded, app.run_no_touch_rules every 15 minutes (the job no-touch-automation in
--     90_jobs.sql); each firing moves the lead with the rule in the request claims, so
--     app.stage_changes records the rule, and is logged in app.automation_runs;
--   * a stage that a rule uses cannot be deleted until the rule is changed or deleted
--     (the trigger stages_keep_rule_stages on app.stages);
--   * app.automation_rule_details is the API's view of a rule.
-- app.resolve_stage(text, text) resolves a stage name for a given org; its one-argument
-- form, for the request's org, is in 30_stages.sql.
--
-- Which rule wins: the highest priority among the enabled rules whose trigger and
-- conditions match, ties going to the older rule. When the winner's target is the lead's
-- stage already, nothing happens (a lower rule is not tried: it would move the lead
-- backwards). Won, lost and deleted leads are never moved.
--
-- Loops: stage moves (stage_changed events) never fire rules, an event moves its lead at
-- most once, a move made by a rule cannot fire another rule (transaction-local flag), and
-- a move restarts the lead's no-touch clock, so pg_cron cannot bounce a lead between stages.

-- ---------------------------------------------------------------------------
-- What a rule can react to and test, as data.
-- ---------------------------------------------------------------------------
create table app.automation_triggers (
  name text primary key,
  description text not null,
  position integer not null
);
comment on table app.automation_triggers is 'What an automation rule can react to: four engagement events and no_touch (checked by pg_cron).';
alter table app.automation_triggers enable row level security;
alter table app.automation_triggers force row level security;
create policy "Automation triggers are readable by every org" on app.automation_triggers
  for select to authenticated using (true);

insert into app.automation_triggers (name, description, position) values
  ('meeting_booked', 'A meeting_booked event is recorded for the lead.', 0),
  ('proposal_viewed', 'A proposal_viewed event is recorded for the lead.', 1),
  ('cta_clicked', 'A cta_clicked event is recorded for the lead.', 2),
  ('quiz_completed', 'A quiz_completed event is recorded for the lead.', 3),
  ('no_touch', 'The lead has had no touch for conditions.noTouchDays days (checked every 15 minutes).', 4);

create table app.automation_condition_keys (
  key text primary key,
  -- stage: a stage id or name; text: a string; gte: { "gte": number between min and max }.
  kind text not null check (kind in ('stage', 'text', 'gte')),
  example jsonb not null,
  description text not null,
  min_value numeric,
  max_value numeric,
  -- Filled in when a rule of these triggers leaves the key out.
  default_value jsonb,
  triggers text[] not null,
  position integer not null
);
comment on table app.automation_condition_keys is 'The conditions an automation rule may test, their shape, bounds, defaults and the triggers that take them.';
alter table app.automation_condition_keys enable row level security;
alter table app.automation_condition_keys force row level security;
create policy "Automation condition keys are readable by every org" on app.automation_condition_keys
  for select to authenticated using (true);

insert into app.automation_condition_keys (key, kind, example, description, min_value, max_value, default_value, triggers, position) values
  ('fromStage', 'stage', '"Engaged"', 'The lead is in this stage (id or name; stored as the id).', null, null, null,
    '{meeting_booked,proposal_viewed,cta_clicked,quiz_completed,no_touch}', 0),
  ('tier', 'text', '"pro"', 'The lead''s tier equals this (case-insensitive).', null, null, null,
    '{meeting_booked,proposal_viewed,cta_clicked,quiz_completed,no_touch}', 1),
  ('viewCount', 'gte', '{"gte": 2}', 'The lead has viewed the proposal at least gte times.', 0, null, null,
    '{meeting_booked,proposal_viewed,cta_clicked,quiz_completed,no_touch}', 2),
  ('confidenceScore', 'gte', '{"gte": 70}', 'The lead''s confidence score is at least gte (0-100; a lead not yet scored counts as 0).', 0, 100, null,
    '{meeting_booked,proposal_viewed,cta_clicked,quiz_completed,no_touch}', 3),
  ('noTouchDays', 'gte', '{"gte": 7}', 'No touchpoint, creation or automation move for at least gte days (no_touch rules only; default 7).', 1, 3650, '{"gte": 7}',
    '{no_touch}', 4);

grant select on app.automation_triggers, app.automation_condition_keys to authenticated;
grant all on app.automation_triggers, app.automation_condition_keys to service_role;

-- ---------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------
create table app.automation_rules (
  id text not null default app.new_id('rule'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  trigger_event text not null references app.automation_triggers (name),
  conditions jsonb not null default '{}',
  target_stage_id text not null,
  priority integer not null default 0 check (priority between -1000000 and 1000000),
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint automation_rules_target_stage_fkey foreign key (org_id, target_stage_id) references app.stages (org_id, id),
  constraint automation_rules_conditions_size check (app.json_fits(conditions, 4096, 10))
);
comment on table app.automation_rules is 'Stage automation rules per org: on trigger_event, if conditions hold, move the lead to target_stage_id; the highest priority wins, ties to the older rule.';
comment on column app.automation_rules.conditions is 'fromStage (stage id), tier, viewCount { gte }, confidenceScore { gte }, noTouchDays { gte } (no_touch only): see app.automation_condition_keys.';

-- The rule lookup on every event: enabled rules of the org for one trigger, best first.
create index automation_rules_org_trigger_idx on app.automation_rules (org_id, trigger_event, priority desc, created_at, id) where enabled;
create index automation_rules_org_target_idx on app.automation_rules (org_id, target_stage_id);
create index automation_rules_no_touch_idx on app.automation_rules (org_id) where enabled and trigger_event = 'no_touch';

create trigger automation_rules_touch_updated_at before update on app.automation_rules
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.automation_rules', 'Automation rules');
grant select, delete on app.automation_rules to authenticated;
grant insert (org_id, name, trigger_event, conditions, target_stage_id, priority, enabled) on app.automation_rules to authenticated;
grant update (name, trigger_event, conditions, target_stage_id, priority, enabled) on app.automation_rules to authenticated;
grant all on app.automation_rules to service_role;

-- ---------------------------------------------------------------------------
-- The firing log.
-- ---------------------------------------------------------------------------
create table app.automation_runs (
  id text not null default app.new_id('run'),
  org_id text not null references app.orgs (id) on delete cascade,
  -- Kept (as null) when the rule is deleted; rule_name says which it was.
  rule_id text,
  rule_name text not null,
  lead_id text not null,
  trigger_event text not null,
  -- The event that fired the rule; null for no_touch.
  event_id text,
  from_stage_id text,
  to_stage_id text,
  from_stage_name text,
  to_stage_name text,
  ran_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint automation_runs_rule_fkey foreign key (org_id, rule_id) references app.automation_rules (org_id, id) on delete set null (rule_id),
  constraint automation_runs_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.automation_runs is 'Every lead move an automation rule made: the rule, the lead, the event (none for no_touch), from and to, when.';
create index automation_runs_org_lead_idx on app.automation_runs (org_id, lead_id, ran_at desc);
create index automation_runs_org_ran_idx on app.automation_runs (org_id, ran_at desc);
create index automation_runs_org_rule_idx on app.automation_runs (org_id, rule_id);

alter table app.automation_runs enable row level security;
alter table app.automation_runs force row level security;
create policy "Automation runs are visible to their own org" on app.automation_runs
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.automation_runs to authenticated;
grant all on app.automation_runs to service_role;

-- ---------------------------------------------------------------------------
-- The API's view of a rule: with its stages' names.
-- ---------------------------------------------------------------------------
create view app.automation_rule_details with (security_invoker = true) as
  select r.*, t.name as target_stage_name, f.id as from_stage_id, f.name as from_stage_name
  from app.automation_rules r
  join app.stages t on t.org_id = r.org_id and t.id = r.target_stage_id
  left join app.stages f on f.org_id = r.org_id and f.id = r.conditions ->> 'fromStage';
comment on view app.automation_rule_details is 'Automation rules with the names of their target and fromStage stages.';
grant select on app.automation_rule_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Stage lookup for a given org, so a trigger can resolve names for any writer (Studio has
-- no org claim).
-- ---------------------------------------------------------------------------
create function app.resolve_stage(p_stage text, p_org_id text) returns text
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_id text;
  begin
    if p_stage is null then
      return null;
    end if;
    select s.id into v_id
    from app.stages s
    where s.org_id = p_org_id
      and (s.id = p_stage or lower(s.name) = lower(btrim(p_stage)))
    order by s.id = p_stage desc
    limit 1;
    if v_id is null then
      perform app.refuse(400, 'unknown_stage',
        pg_catalog.format('No stage named or with id "%s" in this workspace', p_stage),
        'Use one of: ' || coalesce((
          select string_agg(pg_catalog.format('"%s"', s.name), ', ' order by s.position)
          from app.stages s where s.org_id = p_org_id), '(no stages yet)')
        || '.');
    end if;
    return v_id;
  end;
  $$;
comment on function app.resolve_stage(text, text) is 'The id of the org''s stage given its id or name (case-insensitive); refuses with the valid names otherwise.';
revoke execute on function app.resolve_stage(text, text) from public;
grant execute on function app.resolve_stage(text, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Validation and normalisation, for every writer.
-- ---------------------------------------------------------------------------
create function app._refuse_condition(p_key text, p_message text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_key app.automation_condition_keys;
  begin
    select k.* into v_key from app.automation_condition_keys k where k.key = p_key;
    perform app.refuse(400, 'invalid_condition', pg_catalog.format('conditions.%s %s', p_key, p_message),
      pg_catalog.format('conditions.%s takes %s: %s', p_key,
        case v_key.kind
          when 'gte' then pg_catalog.format('{ "gte": N } with N a number from %s%s', v_key.min_value,
            coalesce(' to ' || v_key.max_value, ' up'))
          when 'stage' then 'a stage id or name'
          else 'a non-empty string'
        end || pg_catalog.format(' (e.g. %s)', v_key.example), v_key.description));
  end;
  $$;
comment on function app._refuse_condition(text, text) is 'Refuses (400) a malformed condition value, with the key''s shape, bounds and an example as the hint.';
revoke execute on function app._refuse_condition(text, text) from public;
grant execute on function app._refuse_condition(text, text) to authenticated, service_role;

create function app._is_gte_condition(p_value jsonb, p_min numeric, p_max numeric) returns boolean
  language plpgsql immutable
  set search_path = ''
  as $$
  begin
    if pg_catalog.jsonb_typeof(p_value) <> 'object' then
      return false;
    end if;
    if (select array_agg(k) from pg_catalog.jsonb_object_keys(p_value) k) <> array['gte']
       or pg_catalog.jsonb_typeof(p_value -> 'gte') <> 'number' then
      return false;
    end if;
    return (p_value ->> 'gte')::numeric between coalesce(p_min, '-infinity'::numeric) and coalesce(p_max, 'infinity'::numeric);
  end;
  $$;
comment on function app._is_gte_condition(jsonb, numeric, numeric) is 'Whether a condition value is exactly { "gte": number } with the number within the bounds (null: unbounded).';
revoke execute on function app._is_gte_condition(jsonb, numeric, numeric) from public;
grant execute on function app._is_gte_condition(jsonb, numeric, numeric) to authenticated, service_role;

create function app._check_automation_rule() returns trigger
  language plpgsql
  set search_path = ''
  as $$
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
  $$;
comment on function app._check_automation_rule() is 'Trigger: validates a rule (trigger, condition keys and shapes, stages) with hints listing the valid values, stores stage names as ids and fills in condition defaults.';
revoke execute on function app._check_automation_rule() from public;

create trigger automation_rules_check before insert or update on app.automation_rules
  for each row execute function app._check_automation_rule();

-- ---------------------------------------------------------------------------
-- Matching and moving, shared by the event trigger and the no_touch sweep.
-- ---------------------------------------------------------------------------
-- A SQL-standard body (names bound when the function is created, so search_path cannot
-- change its meaning) and no SET clause: the planner inlines it, which keeps the no_touch
-- sweep at one expression per lead instead of one function call.
create function app._automation_conditions_hold(
  p_conditions jsonb, p_stage_id text, p_tier text, p_proposal_views integer, p_score integer)
  returns boolean
  language sql immutable
  return (p_conditions ->> 'fromStage' is null or p_conditions ->> 'fromStage' = p_stage_id)
     and (p_conditions ->> 'tier' is null or pg_catalog.lower(p_conditions ->> 'tier') = pg_catalog.lower(p_tier))
     and (p_conditions -> 'viewCount' is null
          or coalesce(p_proposal_views, 0) >= (p_conditions #>> '{viewCount,gte}')::numeric)
     and (p_conditions -> 'confidenceScore' is null
          or coalesce(p_score, 0) >= (p_conditions #>> '{confidenceScore,gte}')::numeric);
comment on function app._automation_conditions_hold(jsonb, text, text, integer, integer) is 'Whether a lead (stage, tier, proposal views, score) meets a rule''s fromStage, tier, viewCount and confidenceScore conditions.';
revoke execute on function app._automation_conditions_hold(jsonb, text, text, integer, integer) from public;

create function app._apply_automation_rule(p_org_id text, p_rule_id text, p_lead_ids text[], p_event_id text, p_now timestamptz)
  returns integer
  language plpgsql
  set search_path = ''
  as $$
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
  $$;
comment on function app._apply_automation_rule(text, text, text[], text, timestamptz) is 'Moves the given leads of the org to the target of its rule p_rule_id (those not there already), recording the rule in the stage history and in app.automation_runs; returns how many moved.';
revoke execute on function app._apply_automation_rule(text, text, text[], text, timestamptz) from public;

-- ---------------------------------------------------------------------------
-- Firing on events.
-- ---------------------------------------------------------------------------
create function app._fire_automation() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
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
  $$;
comment on function app._fire_automation() is 'Trigger: on a meeting_booked, proposal_viewed, cta_clicked or quiz_completed event, moves the lead by the highest-priority matching rule of its org (open, live leads only).';
revoke execute on function app._fire_automation() from public;

-- Only the four rule triggers: stage_changed (and every other event) never fires a rule.
create trigger events_30_automation after insert on app.events
  for each row
  when (new.type in ('meeting_booked', 'proposal_viewed', 'cta_clicked', 'quiz_completed'))
  execute function app._fire_automation();

-- ---------------------------------------------------------------------------
-- no_touch, for every org at once, run every 15 minutes by the job no-touch-automation
-- (90_jobs.sql). A lead's idle clock starts at its last touch (or creation) and restarts at
-- each automation move, so a rule moves an idle lead once per idle period and two rules
-- can never bounce it between stages on every run.
-- ---------------------------------------------------------------------------
create function app.run_no_touch_rules(p_now timestamptz default now()) returns integer
  language plpgsql
  security definer
  set search_path = ''
  -- Picking each lead's best rule sorts every idle lead: in memory, not on disk.
  set work_mem = '64MB'
  as $$
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
  $$;
comment on function app.run_no_touch_rules(timestamptz) is 'Moves every idle lead of every org by its highest-priority matching no_touch rule (one statement per rule); returns how many leads moved.';
revoke execute on function app.run_no_touch_rules(timestamptz) from public;
grant execute on function app.run_no_touch_rules(timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- A stage a rule uses (as target or fromStage) stays until the rule is changed or deleted;
-- deleting the whole org takes its rules and stages together.
-- ---------------------------------------------------------------------------
create function app._keep_stages_of_rules() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_rules text;
  begin
    select string_agg(pg_catalog.format('"%s" (%s)', r.name, r.id), ', ' order by r.created_at) into v_rules
    from app.automation_rules r
    where r.org_id = old.org_id and (r.target_stage_id = old.id or r.conditions ->> 'fromStage' = old.id);
    if v_rules is not null and exists (select from app.orgs o where o.id = old.org_id) then
      perform app.refuse(409, 'stage_used_by_rules',
        pg_catalog.format('Stage "%s" is used by automation rule(s) %s', old.name, v_rules),
        'Point those rules at another stage (PUT /api/openclaw/automation/rules { "id": …, "targetStage": …, "conditions": … }) or delete them (DELETE /api/openclaw/automation/rules?id=…), then delete the stage.');
    end if;
    return old;
  end;
  $$;
comment on function app._keep_stages_of_rules() is 'Trigger: refuses (409, naming the rules) to delete a stage an automation rule targets or starts from.';
revoke execute on function app._keep_stages_of_rules() from public;

create trigger stages_keep_rule_stages before delete on app.stages
  for each row execute function app._keep_stages_of_rules();
