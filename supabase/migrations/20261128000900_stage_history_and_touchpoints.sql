-- Two records every later feature reads: the history of stage moves (analytics,
-- automation) and touchpoints, the lead's interaction log (stalled detection reads the
-- last-touch time they keep current).

-- ---------------------------------------------------------------------------
-- Who and what is acting. API requests carry key_id in their claims; inbound webhooks
-- and automation set actor/source claims of their own; a human in Studio or a cron job
-- has no claims and shows up as the database user with source 'sql'.
-- ---------------------------------------------------------------------------
create function app.current_actor() returns text
  language sql stable
  set search_path = ''
  as $$
    select coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'actor',
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'key_id',
      session_user::text)
  $$;
comment on function app.current_actor() is 'Who is making the current change: the actor claim, else the API key id, else the database user.';
revoke execute on function app.current_actor() from public;
grant execute on function app.current_actor() to anon, authenticated, service_role;

create function app.current_source() returns text
  language sql stable
  set search_path = ''
  as $$
    select coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'source',
      case when nullif(pg_catalog.current_setting('request.jwt.claims', true), '') is null then 'sql' else 'api' end)
  $$;
comment on function app.current_source() is 'Where the current change comes from: the source claim, else api for requests and sql for direct database work.';
revoke execute on function app.current_source() from public;
grant execute on function app.current_source() to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Stage history: one row per stage a lead enters (its first stage included), written by
-- a trigger so Studio edits and automation are recorded as well as API calls.
-- ---------------------------------------------------------------------------
create table app.stage_changes (
  id text primary key default app.new_id('sc'),
  org_id text not null references app.orgs (id) on delete cascade,
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
  constraint stage_changes_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.stage_changes is 'Every stage a lead entered: when, from where, by whom (API key, sync source, rule, database user).';
create index stage_changes_org_lead_idx on app.stage_changes (org_id, lead_id, changed_at desc);
create index stage_changes_org_changed_idx on app.stage_changes (org_id, changed_at desc);

alter table app.stage_changes enable row level security;
alter table app.stage_changes force row level security;
create policy "Stage history is visible to its own org" on app.stage_changes
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.stage_changes to authenticated;
grant all on app.stage_changes to service_role;

create function app._record_stage_change() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
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
      case when tg_op = 'UPDATE' then (select s.name from app.stages s where s.id = old.stage_id) end,
      (select s.name from app.stages s where s.id = new.stage_id),
      app.current_actor(), app.current_source(), v_claims ->> 'rule_id');
    return null;
  end;
  $$;
comment on function app._record_stage_change() is 'Trigger: records a lead entering a stage (on insert and on every stage move).';
revoke execute on function app._record_stage_change() from public;

create trigger leads_record_stage_change after insert or update of stage_id on app.leads
  for each row execute function app._record_stage_change();

-- ---------------------------------------------------------------------------
-- Touchpoints: the lead's interaction log.
-- ---------------------------------------------------------------------------
create table app.touchpoints (
  id text primary key default app.new_id('tp'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  type text not null check (type in ('email', 'call', 'meeting', 'linkedin', 'sms', 'note', 'form', 'chat', 'other')),
  direction text check (direction in ('inbound', 'outbound')),
  summary text check (length(summary) <= 10000),
  occurred_at timestamptz not null default now(),
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  source text not null default app.current_source() check (length(source) <= 100),
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  constraint touchpoints_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.touchpoints is 'Interactions with a lead (email, call, meeting, …); each one moves the lead''s last_touch_at forward.';
create index touchpoints_org_lead_idx on app.touchpoints (org_id, lead_id, occurred_at desc);

alter table app.touchpoints enable row level security;
alter table app.touchpoints force row level security;
create policy "Touchpoints are visible to their own org" on app.touchpoints
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Touchpoints can be logged in the caller's org" on app.touchpoints
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Touchpoints can be corrected by their own org" on app.touchpoints
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));
create policy "Touchpoints can be deleted by their own org" on app.touchpoints
  for delete to authenticated using (org_id = (select app.current_org_id()));
grant select, insert, update, delete on app.touchpoints to authenticated;
grant all on app.touchpoints to service_role;

create function app._touch_lead() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    update app.leads l
    set last_touch_at = new.occurred_at
    where l.id = new.lead_id and (l.last_touch_at is null or l.last_touch_at < new.occurred_at);
    return null;
  end;
  $$;
comment on function app._touch_lead() is 'Trigger: a logged touchpoint moves its lead''s last_touch_at forward (never back).';
revoke execute on function app._touch_lead() from public;

create trigger touchpoints_touch_lead after insert or update of occurred_at on app.touchpoints
  for each row execute function app._touch_lead();
