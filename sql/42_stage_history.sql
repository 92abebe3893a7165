-- Stage history: one row per stage a lead enters (its first stage included), written by a
-- trigger on app.leads so Studio edits, sync sources and automation are recorded as well
-- as API calls. Read by GET /stages/history, pipeline analytics (64_analytics.sql) and
-- playbook recommendations (60_playbooks.sql); automation (62_automation.sql) marks its
-- moves with the rule that made them.
--   * app.stage_changes;
--   * the triggers leads_20_first_stage (app._record_first_stages: a new lead's first stage,
--     one statement per insert) and leads_record_stage_change (app._record_stage_change:
--     each move), which record who and what made it (app.current_actor, app.current_source:
--     10_foundation.sql).
-- Elsewhere: the trigger stage_changes_event (54_events.sql) turns each row into a
-- stage_changed event.

create table app.stage_changes (
  id text not null default app.new_id('sc'),
  -- No key of its own to app.orgs: the lead's key (org_id, lead_id) already names the org, and
  -- a second one would lock the org's row for every lead created.
  org_id text not null,
  lead_id text not null,
  from_stage_id text,
  to_stage_id text,
  -- Names as they were, so history stays readable after a stage is renamed or removed.
  from_stage_name text,
  to_stage_name text,
  changed_at timestamptz not null default now(),
  changed_by text not null,
  source text not null,
  -- The automation rule that made the move, when one did.
  rule_id text,
  primary key (org_id, id),
  constraint stage_changes_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.stage_changes is 'Every stage a lead entered: when, from where, by whom (API key, sync source, rule, database user).';
create index stage_changes_org_lead_idx on app.stage_changes (org_id, lead_id, changed_at desc);
create index stage_changes_org_changed_idx on app.stage_changes (org_id, changed_at desc);
-- A lead's first stage_changes row (written when it is created) says where it came from:
-- pipeline analytics counts them per source in one index-only scan, and finds them per
-- lead for soft-deleted leads.
create index stage_changes_org_first_idx on app.stage_changes (org_id, source, changed_by) include (lead_id)
  where from_stage_id is null;

alter table app.stage_changes enable row level security;
alter table app.stage_changes force row level security;
create policy "Stage history is visible to its own org" on app.stage_changes
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.stage_changes to authenticated;
grant all on app.stage_changes to service_role;

-- ---------------------------------------------------------------------------
-- Recording where a lead starts: one statement per insert, however many leads it creates,
-- with the stage names as they are now.
-- ---------------------------------------------------------------------------
create function app._record_first_stages() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    insert into app.stage_changes (org_id, lead_id, from_stage_id, to_stage_id, to_stage_name, changed_by, source, rule_id)
    select n.org_id, n.id, null, n.stage_id, s.name, a.actor, a.source, a.rule_id
    from new_leads n
    cross join (select app.current_actor() as actor, app.current_source() as source,
                       nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'rule_id' as rule_id) a
    left join app.stages s on s.org_id = n.org_id and s.id = n.stage_id;
    return null;
  end;
  $$;
comment on function app._record_first_stages() is 'Statement trigger: records the first stage of every lead an insert created, in one statement.';
revoke execute on function app._record_first_stages() from public;

create trigger leads_20_first_stage after insert on app.leads
  referencing new table as new_leads
  for each statement execute function app._record_first_stages();

-- ---------------------------------------------------------------------------
-- Recording a move: whenever stage_id changes, with the stage names as they are at the time
-- and the automation rule (rule_id claim) that made the move, if any.
-- ---------------------------------------------------------------------------
create function app._record_stage_change() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
  begin
    insert into app.stage_changes
      (org_id, lead_id, from_stage_id, to_stage_id, from_stage_name, to_stage_name, changed_by, source, rule_id)
    values (
      new.org_id, new.id, old.stage_id, new.stage_id,
      (select s.name from app.stages s where s.org_id = old.org_id and s.id = old.stage_id),
      (select s.name from app.stages s where s.org_id = new.org_id and s.id = new.stage_id),
      app.current_actor(), app.current_source(), v_claims ->> 'rule_id');
    return null;
  end;
  $$;
comment on function app._record_stage_change() is 'Trigger: records a lead moving to another stage.';
revoke execute on function app._record_stage_change() from public;

create trigger leads_record_stage_change after update of stage_id on app.leads
  for each row when (old.stage_id is distinct from new.stage_id)
  execute function app._record_stage_change();
