-- Pipeline stages: ordered, coloured, exactly one default per org (new leads land there).

create table app.stages (
  id text primary key default app.new_id('stg'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 100),
  position integer not null default 0 check (position >= 0),
  color text check (color ~ '^#[0-9A-Fa-f]{6}$'),
  is_default boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Lets tenant tables reference a stage together with its org, so a lead can never
  -- point at another org's stage.
  constraint stages_org_id_id_key unique (org_id, id)
);
comment on table app.stages is 'Pipeline stages per org; position orders them, is_default marks where new leads start.';
comment on column app.stages.position is 'The stage''s place in the pipeline (the API''s "order"), 0 first.';

create unique index stages_org_name_key on app.stages (org_id, lower(name));
create unique index stages_one_default_per_org on app.stages (org_id) where is_default;
create index stages_org_position_idx on app.stages (org_id, position);

create trigger stages_touch_updated_at before update on app.stages
  for each row execute function app._touch_updated_at();

alter table app.stages enable row level security;
alter table app.stages force row level security;
create policy "Stages are visible to their own org" on app.stages
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Stages can be created in the caller's org" on app.stages
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Stages can be changed by their own org" on app.stages
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));
create policy "Stages can be deleted by their own org" on app.stages
  for delete to authenticated using (org_id = (select app.current_org_id()));

grant select, insert, update, delete on app.stages to authenticated;
grant all on app.stages to service_role;

-- ---------------------------------------------------------------------------
-- The pipeline every new workspace starts with (the contract's example pipeline).
-- ---------------------------------------------------------------------------
create function app._create_default_stages(p_org_id text) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.stages (org_id, name, position, color, is_default)
    values
      (p_org_id, 'Prospects', 0, '#94A3B8', true),
      (p_org_id, 'Leads', 1, '#60A5FA', false),
      (p_org_id, 'Engaged', 2, '#818CF8', false),
      (p_org_id, 'Contacted', 3, '#A78BFA', false),
      (p_org_id, 'Negotiated', 4, '#F59E0B', false),
      (p_org_id, 'Re-engage later', 5, '#F97316', false),
      (p_org_id, 'Closed Won', 6, '#22C55E', false),
      (p_org_id, 'Closed Lost', 7, '#EF4444', false)
  $$;
comment on function app._create_default_stages(text) is 'Gives a new org the default eight-stage pipeline, Prospects being the default stage.';
revoke execute on function app._create_default_stages(text) from public;

-- ---------------------------------------------------------------------------
-- Stage lookup by id or by name, as agents pass either.
-- ---------------------------------------------------------------------------
create function app.resolve_stage(p_stage text) returns text
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
    where s.org_id = app.current_org_id()
      and (s.id = p_stage or lower(s.name) = lower(btrim(p_stage)));
    if v_id is null then
      perform app.refuse(400, 'unknown_stage',
        pg_catalog.format('No stage named or with id "%s" in this workspace', p_stage),
        'Use one of: ' || coalesce((
          select string_agg(pg_catalog.format('"%s"', s.name), ', ' order by s.position)
          from app.stages s where s.org_id = app.current_org_id()), '(no stages yet)')
        || '.');
    end if;
    return v_id;
  end;
  $$;
comment on function app.resolve_stage(text) is 'The id of the current org''s stage given its id or name (case-insensitive); refuses with the valid names otherwise.';
revoke execute on function app.resolve_stage(text) from public;
grant execute on function app.resolve_stage(text) to authenticated, service_role;
