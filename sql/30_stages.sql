-- Pipeline stages: each org's ordered, coloured stages, exactly one of them the default (new
-- leads land there), each with an outcome (open, won or lost) and a stall threshold.
--   * app.stages, with triggers that take the outcome from the name when none is given,
--     clear the threshold of won and lost stages, move the default flag, and refuse to
--     commit an org that has stages but no default;
--   * app._create_default_stages: the eight-stage pipeline every org starts with (called by
--     app.signup, 20_orgs_keys.sql);
--   * the stages API (POST/PUT/DELETE /stages): app.create_stage, app.update_stage,
--     app.reorder_stages, app.delete_stage, which keep the order dense (0, 1, 2, …) and move
--     a deleted stage's leads in the same transaction, so the moves land in the stage history;
--   * app.resolve_stage(text): the request's stage id from an id or a name.
-- Elsewhere:
--   * app.stage_details (GET /stages: the stages with their live lead counts) is in
--     95_views.sql, because it counts leads;
--   * app.resolve_stage(text, text), the same lookup for any org, is in 62_automation.sql;
--   * POST /setup replaces the pipeline by stage name: 35_setup.sql;
--   * triggers other domains put on app.stages: stages_refuse_deleting_synced
--     (48_sync_sources.sql) and stages_keep_rule_stages (62_automation.sql) refuse to delete
--     a stage a sync source or an automation rule uses;
--   * what "stalled" means and the stalled list: 58_stalled.sql.

create table app.stages (
  id text not null default app.new_id('stg'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 100),
  position integer not null default 0 check (position >= 0),
  color text check (color ~ '^#[0-9A-Fa-f]{6}$'),
  is_default boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Filled in from the name when not given (app._default_stage_outcome).
  outcome text not null check (outcome in ('open', 'won', 'lost')),
  stall_after_days integer default 7
    constraint stages_stall_after_days_check check (stall_after_days between 1 and 365),
  -- Keyed within its org: tenant tables reference a stage together with its org, so a lead
  -- can never point at another org's stage.
  primary key (org_id, id)
);
comment on table app.stages is 'Pipeline stages per org; position orders them, is_default marks where new leads start.';
comment on column app.stages.position is 'The stage''s place in the pipeline (the API''s "order"), 0 first.';
comment on column app.stages.outcome is 'open, won or lost: whether a lead in this stage is still in play or a closed deal.';
comment on column app.stages.stall_after_days is 'Days without a touch after which a lead in this stage is stalled; null = never. Always null for won and lost stages.';

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
-- Outcomes: which stages close a deal. Stalled detection skips closed leads, analytics
-- counts won and lost, campaigns stop at either: all read stages.outcome rather than
-- guessing from names. A stage created without an outcome gets one from its name
-- ("Closed Won" → won, "Lost" → lost, anything else open); an explicit outcome always wins.
-- ---------------------------------------------------------------------------
create function app.outcome_from_stage_name(p_name text) returns text
  language sql immutable
  set search_path = ''
  as $$
    select case
      when p_name ~* '\m(won|win|signed|customer)\M' then 'won'
      when p_name ~* '\m(lost|lose|dead|disqualified|churned)\M' then 'lost'
      else 'open'
    end
  $$;
comment on function app.outcome_from_stage_name(text) is 'The outcome a stage name implies: won, lost or open.';
revoke execute on function app.outcome_from_stage_name(text) from public;
grant execute on function app.outcome_from_stage_name(text) to authenticated, service_role;

create function app._default_stage_outcome() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.outcome is null then
      new.outcome := app.outcome_from_stage_name(new.name);
    end if;
    return new;
  end;
  $$;
comment on function app._default_stage_outcome() is 'Trigger: a stage without an outcome takes the one its name implies.';
revoke execute on function app._default_stage_outcome() from public;

create trigger stages_default_outcome before insert or update of outcome on app.stages
  for each row execute function app._default_stage_outcome();

-- ---------------------------------------------------------------------------
-- Stall thresholds: stages.stall_after_days is how long a lead may sit in the stage without
-- a touch (null = the stage never stalls; won and lost stages never do). New stages start
-- with a default from their name, editable through the stages API.
-- ---------------------------------------------------------------------------
create function app.default_stall_after_days(p_stage_name text) returns integer
  language sql immutable
  set search_path = ''
  as $$
    select case lower(btrim(p_stage_name))
      when 'prospects' then 7
      when 'leads' then 5
      when 'engaged' then 3
      when 'contacted' then 5
      when 'negotiated' then 3
      when 're-engage later' then 30
      else 7
    end
  $$;
comment on function app.default_stall_after_days(text) is 'The stall threshold a stage starts with: 7 days, shorter for the default pipeline''s hot stages, 30 for Re-engage later.';
revoke execute on function app.default_stall_after_days(text) from public;
grant execute on function app.default_stall_after_days(text) to authenticated, service_role;

-- A closed deal is never overdue: a stage that is (or becomes) won or lost drops its threshold.
create function app._closed_stage_never_stalls() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.outcome <> 'open' then
      new.stall_after_days := null;
    end if;
    return new;
  end;
  $$;
comment on function app._closed_stage_never_stalls() is 'Trigger: clears stall_after_days on won and lost stages.';
revoke execute on function app._closed_stage_never_stalls() from public;

-- Named to run after stages_default_outcome, which fills in the outcome first.
create trigger stages_stall_only_open before insert or update of outcome, stall_after_days on app.stages
  for each row execute function app._closed_stage_never_stalls();

-- ---------------------------------------------------------------------------
-- One default stage per org. The partial unique index stages_one_default_per_org allows at
-- most one; marking another stage default clears the old flag first (so a single edit in
-- Studio moves the default), and a deferred check refuses to commit an org that has
-- stages but no default (unmarking or deleting the default without naming another).
-- ---------------------------------------------------------------------------
create function app._move_default_stage() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.is_default and (tg_op = 'INSERT' or not old.is_default) then
      update app.stages s set is_default = false
      where s.org_id = new.org_id and s.is_default and s.id <> new.id;
    end if;
    return new;
  end;
  $$;
comment on function app._move_default_stage() is 'Trigger: a stage marked default takes the flag from the org''s previous default stage.';
revoke execute on function app._move_default_stage() from public;

create trigger stages_move_default before insert or update of is_default on app.stages
  for each row execute function app._move_default_stage();

create function app._require_default_stage() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id text;
  begin
    -- Both orgs when a stage changed org; old is null on insert, new on delete.
    for v_org_id in select distinct o from unnest(array[new.org_id, old.org_id]) o where o is not null loop
      if exists (select from app.stages s where s.org_id = v_org_id)
         and not exists (select from app.stages s where s.org_id = v_org_id and s.is_default) then
        perform app.refuse(409, 'default_stage_required',
          'The pipeline needs a default stage (new leads land there)',
          'Mark another stage as default instead of unmarking or deleting the current one: PUT /api/openclaw/stages { "id": "<stage id>", "isDefault": true } (in SQL: update app.stages set is_default = true where id = …); the flag moves by itself.');
      end if;
    end loop;
    return null;
  end;
  $$;
comment on function app._require_default_stage() is 'Constraint trigger (deferred): an org that has stages must have a default stage when the transaction commits.';
revoke execute on function app._require_default_stage() from public;

create constraint trigger stages_require_default after insert or update of is_default, org_id or delete on app.stages
  deferrable initially deferred
  for each row execute function app._require_default_stage();
-- ---------------------------------------------------------------------------
-- The default pipeline: eight stages, with their outcomes spelled out and their thresholds.
-- ---------------------------------------------------------------------------
create function app._create_default_stages(p_org_id text) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.stages (org_id, name, position, color, is_default, outcome, stall_after_days)
    select p_org_id, d.name, d.position, d.color, d.position = 0, d.outcome, app.default_stall_after_days(d.name)
    from (values
      ('Prospects', 0, '#94A3B8', 'open'),
      ('Leads', 1, '#60A5FA', 'open'),
      ('Engaged', 2, '#818CF8', 'open'),
      ('Contacted', 3, '#A78BFA', 'open'),
      ('Negotiated', 4, '#F59E0B', 'open'),
      ('Re-engage later', 5, '#F97316', 'open'),
      ('Closed Won', 6, '#22C55E', 'won'),
      ('Closed Lost', 7, '#EF4444', 'lost')
    ) as d(name, position, color, outcome)
  $$;
comment on function app._create_default_stages(text) is 'Gives a new org the default eight-stage pipeline (Prospects the default stage) with outcomes and stall thresholds.';
revoke execute on function app._create_default_stages(text) from public;

-- ---------------------------------------------------------------------------
-- Lookups and helpers of the stages API. plpgsql rather than sql throughout: its plans
-- are re-made when the role changes, so a session that switches between a tenant and
-- Studio-like work sees the right rows.
-- ---------------------------------------------------------------------------

-- A stage by id (any visible org: row-level security limits a tenant to its own), or by
-- name (case-insensitive) within the current org.
create function app._find_stage(p_stage text) returns app.stages
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_stage app.stages;
  begin
    select s.* into v_stage from app.stages s
    where s.id = p_stage
       or (s.org_id = app.current_org_id() and lower(s.name) = lower(btrim(p_stage)))
    order by s.id = p_stage desc
    limit 1;
    return v_stage;
  end;
  $$;
comment on function app._find_stage(text) is 'The stage with this id, or the current org''s stage with this name (case-insensitive); null when there is none.';
revoke execute on function app._find_stage(text) from public;
grant execute on function app._find_stage(text) to authenticated, service_role;

create function app._refuse_unknown_stage(p_stage text) returns void
  language plpgsql
  set search_path = ''
  as $$
  begin
    perform app.refuse(404, 'not_found', pg_catalog.format('Stage %s was not found', p_stage),
      'Pass the id (stg_…) or name of one of your stages: GET /api/openclaw/stages lists them. Ids belong to one workspace: another workspace''s stages are not visible with this key.');
  end;
  $$;
comment on function app._refuse_unknown_stage(text) is 'Refuses with 404 for a stage that is not the caller''s.';
revoke execute on function app._refuse_unknown_stage(text) from public;
grant execute on function app._refuse_unknown_stage(text) to authenticated, service_role;

-- Serialises pipeline edits of one org (positions are read, then rewritten). No key update:
-- leads may still be created in and moved between stages meanwhile.
create function app._lock_stages(p_org_id text) returns void
  language plpgsql
  set search_path = ''
  as $$
  begin
    perform from app.stages s where s.org_id = p_org_id order by s.id for no key update;
  end;
  $$;
comment on function app._lock_stages(text) is 'Locks an org''s stages so concurrent pipeline edits run one after the other.';
revoke execute on function app._lock_stages(text) from public;
grant execute on function app._lock_stages(text) to authenticated, service_role;

-- Renumbers an org's stages 0, 1, 2, … in their current order, placing p_stage_id (when
-- given) at index p_index (clamped to the pipeline) and the others around it.
create function app._place_stage(p_org_id text, p_stage_id text, p_index integer) returns void
  language plpgsql
  set search_path = ''
  as $$
  begin
    with others as (
      select s.id, (row_number() over (order by s.position, lower(s.name), s.id) - 1)::integer as idx
      from app.stages s
      where s.org_id = p_org_id and s.id is distinct from p_stage_id
    ),
    target as (
      select least(greatest(coalesce(p_index, 0), 0), (select count(*) from others))::integer as k
    ),
    placed as (
      select o.id, case when p_stage_id is not null and o.idx >= t.k then o.idx + 1 else o.idx end as pos
      from others o cross join target t
      union all
      select p_stage_id, t.k from target t where p_stage_id is not null
    )
    update app.stages s set position = p.pos
    from placed p
    where s.id = p.id and s.position <> p.pos;
  end;
  $$;
comment on function app._place_stage(text, text, integer) is 'Renumbers an org''s stages densely from 0, moving one stage (if given) to the given index.';
revoke execute on function app._place_stage(text, text, integer) from public;
grant execute on function app._place_stage(text, text, integer) to authenticated, service_role;

create function app._refuse_taken_stage_name(p_org_id text, p_name text, p_except_id text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_other app.stages;
  begin
    select s.* into v_other from app.stages s
    where s.org_id = p_org_id and lower(s.name) = lower(btrim(p_name)) and s.id is distinct from p_except_id;
    if v_other.id is not null then
      perform app.refuse(409, 'stage_exists',
        pg_catalog.format('A stage named "%s" already exists (%s)', v_other.name, v_other.id),
        'Stage names are unique per workspace (case-insensitive). Choose another name, or change the existing stage with PUT /api/openclaw/stages { "id": "' || v_other.id || '", … }.');
    end if;
  end;
  $$;
comment on function app._refuse_taken_stage_name(text, text, text) is 'Refuses (409, naming the existing stage) a stage name the org already uses.';
revoke execute on function app._refuse_taken_stage_name(text, text, text) from public;
grant execute on function app._refuse_taken_stage_name(text, text, text) to authenticated, service_role;

-- The current org's stage from an id or a name, refusing with the valid names; the
-- two-argument form it calls (for any org) is in 62_automation.sql.
create function app.resolve_stage(p_stage text) returns text
  language plpgsql stable
  set search_path = ''
  as $$
  begin
    return app.resolve_stage(p_stage, app.current_org_id());
  end;
  $$;

comment on function app.resolve_stage(text) is 'The id of the current org''s stage given its id or name (case-insensitive); refuses with the valid names otherwise.';
revoke execute on function app.resolve_stage(text) from public;
grant execute on function app.resolve_stage(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The stages API: outcome and stallAfterDays, as create and change take them.
-- ---------------------------------------------------------------------------
create function app._set_stage_rules(p_stage_id text, p_rules jsonb) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_days jsonb := p_rules -> 'stallAfterDays';
    v_outcome jsonb := p_rules -> 'outcome';
    v_was_open boolean := (select s.outcome = 'open' from app.stages s where s.id = p_stage_id);
  begin
    if p_rules ? 'outcome' then
      if v_outcome <> 'null'::jsonb and (pg_catalog.jsonb_typeof(v_outcome) <> 'string' or v_outcome ->> 0 not in ('open', 'won', 'lost')) then
        perform app.refuse(400, 'invalid_outcome', pg_catalog.format('outcome %s is not open, won or lost', v_outcome),
          'Send outcome as "open" (still in play), "won" or "lost" (closed deals: never stalled, counted as won or lost), or null to take it from the stage name.');
      end if;
      update app.stages s set outcome = p_rules ->> 'outcome' where s.id = p_stage_id;
      -- A closed stage lost its threshold; reopened, it gets its default back unless one is given.
      if not v_was_open and not (p_rules ? 'stallAfterDays') then
        update app.stages s set stall_after_days = app.default_stall_after_days(s.name)
        where s.id = p_stage_id and s.outcome = 'open' and s.stall_after_days is null;
      end if;
    end if;
    if p_rules ? 'stallAfterDays' then
      if v_days <> 'null'::jsonb and (pg_catalog.jsonb_typeof(v_days) <> 'number' or (v_days #>> '{}')::numeric not between 1 and 365
                                       or (v_days #>> '{}')::numeric <> pg_catalog.trunc((v_days #>> '{}')::numeric)) then
        perform app.refuse(400, 'invalid_stall_after_days', pg_catalog.format('stallAfterDays %s is not a whole number of days from 1 to 365', v_days),
          'Send stallAfterDays as 1-365 (a lead in the stage is stalled after that many days without a touch), or null so the stage never stalls.');
      end if;
      update app.stages s set stall_after_days = (p_rules ->> 'stallAfterDays')::integer where s.id = p_stage_id;
    end if;
  end;
  $$;
comment on function app._set_stage_rules(text, jsonb) is 'Sets a stage''s outcome and/or stallAfterDays from the keys present in p_rules, refusing invalid values with a hint.';
revoke execute on function app._set_stage_rules(text, jsonb) from public;
grant execute on function app._set_stage_rules(text, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Create and change one stage. A new stage goes last unless an index is given; marking a
-- stage default (or creating an org's first stage) moves the flag to it; the default flag
-- is never removed by unmarking, only moved.
-- ---------------------------------------------------------------------------
create function app.create_stage(
  p_name text,
  p_position integer default null,
  p_color text default null,
  p_is_default boolean default false,
  p_org_id text default app.current_org_id(),
  p_rules jsonb default '{}')
  returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_id text;
    v_first boolean;
  begin
    if p_org_id is null then
      perform app.refuse(400, 'org_required', 'No org to create the stage in',
        'Call it in a tenant request, or pass p_org_id.');
    end if;
    perform app._lock_stages(p_org_id);
    perform app._refuse_taken_stage_name(p_org_id, p_name, null);
    v_first := not exists (select from app.stages s where s.org_id = p_org_id and s.is_default);

    insert into app.stages (org_id, name, position, color, is_default, stall_after_days)
    values (p_org_id, btrim(p_name), 0, p_color, coalesce(p_is_default, false) or v_first, app.default_stall_after_days(p_name))
    returning id into v_id;
    perform app._set_stage_rules(v_id, coalesce(p_rules, '{}'::jsonb));

    -- The new stage goes last unless an index is given.
    perform app._place_stage(p_org_id, v_id, coalesce(p_position, 2147483647));
    return v_id;
  end;
  $$;
comment on function app.create_stage(text, integer, text, boolean, text, jsonb) is 'Adds a stage at the given index (default last); marking it default (or being the only stage) moves the default flag to it; p_rules may set outcome and stallAfterDays.';
revoke execute on function app.create_stage(text, integer, text, boolean, text, jsonb) from public;
grant execute on function app.create_stage(text, integer, text, boolean, text, jsonb) to authenticated, service_role;

create function app.update_stage(p_stage text, p_changes jsonb) returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_stage app.stages := app._find_stage(p_stage);
    v_changes jsonb := coalesce(p_changes, '{}'::jsonb);
    v_unknown text;
  begin
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;
    select string_agg(k, ', ') into v_unknown
    from pg_catalog.jsonb_object_keys(v_changes) k
    where k not in ('name', 'order', 'color', 'isDefault', 'stallAfterDays', 'outcome');
    if v_unknown is not null then
      perform app.refuse(400, 'invalid_stage_change', pg_catalog.format('Unknown stage field(s): %s', v_unknown),
        'A stage has name, order, color, isDefault, stallAfterDays and outcome.');
    end if;
    perform app._lock_stages(v_stage.org_id);
    v_stage := app._find_stage(v_stage.id);
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;

    if v_changes ? 'name' then
      perform app._refuse_taken_stage_name(v_stage.org_id, v_changes ->> 'name', v_stage.id);
      update app.stages s set name = btrim(v_changes ->> 'name') where s.id = v_stage.id;
    end if;
    if v_changes ? 'color' then
      update app.stages s set color = v_changes ->> 'color' where s.id = v_stage.id;
    end if;
    if v_changes ? 'isDefault' then
      if (v_changes ->> 'isDefault')::boolean then
        update app.stages s set is_default = true where s.id = v_stage.id;
      elsif v_stage.is_default then
        perform app.refuse(409, 'default_stage_required',
          pg_catalog.format('"%s" is the default stage and the pipeline needs one', v_stage.name),
          'Mark another stage as default instead: PUT /api/openclaw/stages { "id": "<other stage id>", "isDefault": true } moves the flag.');
      end if;
    end if;
    perform app._set_stage_rules(v_stage.id, v_changes);
    if v_changes ? 'order' then
      perform app._place_stage(v_stage.org_id, v_stage.id, (v_changes ->> 'order')::integer);
    end if;
    return v_stage.id;
  end;
  $$;
comment on function app.update_stage(text, jsonb) is 'Changes one stage (by id or name): name, order (moves it, others shift), color, isDefault (true moves the flag; the default cannot be unmarked), stallAfterDays, outcome.';
revoke execute on function app.update_stage(text, jsonb) from public;
grant execute on function app.update_stage(text, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Reorder: the org's whole pipeline, every stage once (ids or names), first to last.
-- ---------------------------------------------------------------------------
create function app.reorder_stages(p_stages text[], p_org_id text default app.current_org_id()) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_ids text[];
    v_unknown text;
    v_repeated text;
    v_missing text;
    v_hint text;
  begin
    if p_org_id is null then
      perform app.refuse(400, 'org_required', 'No org whose stages to reorder', 'Call it in a tenant request, or pass p_org_id.');
    end if;
    perform app._lock_stages(p_org_id);
    v_hint := 'Send every stage of the pipeline exactly once, first to last: { "order": ['
      || coalesce((select string_agg(pg_catalog.format('"%s"', s.id), ', ' order by s.position, lower(s.name))
                   from app.stages s where s.org_id = p_org_id), '')
      || '] } (ids or names; GET /api/openclaw/stages lists them). To move one stage, PUT { "id": …, "order": <index> }.';

    -- Each entry resolved to a stage id of this org (null when it names none).
    select array_agg((
        select s.id from app.stages s
        where s.org_id = p_org_id and (s.id = r.ref or lower(s.name) = lower(btrim(r.ref)))
        order by s.id = r.ref desc limit 1) order by r.ord),
      string_agg(pg_catalog.format('"%s"', r.ref), ', ' order by r.ord) filter (where not exists (
        select from app.stages s
        where s.org_id = p_org_id and (s.id = r.ref or lower(s.name) = lower(btrim(r.ref)))))
      into v_ids, v_unknown
    from unnest(coalesce(p_stages, '{}'::text[])) with ordinality as r(ref, ord);

    if v_unknown is not null then
      perform app.refuse(400, 'invalid_stage_order', pg_catalog.format('Not a stage of this workspace: %s', v_unknown), v_hint);
    end if;
    select string_agg(pg_catalog.format('"%s"', d.id), ', ') into v_repeated
    from (select u.id from unnest(v_ids) u(id) group by u.id having count(*) > 1) d;
    if v_repeated is not null then
      perform app.refuse(400, 'invalid_stage_order', pg_catalog.format('Stage(s) listed more than once: %s', v_repeated), v_hint);
    end if;
    select string_agg(pg_catalog.format('"%s" (%s)', s.name, s.id), ', ' order by s.position, lower(s.name)) into v_missing
    from app.stages s
    where s.org_id = p_org_id and not (s.id = any (coalesce(v_ids, '{}'::text[])));
    if v_missing is not null then
      perform app.refuse(400, 'invalid_stage_order', pg_catalog.format('The order leaves out: %s', v_missing), v_hint);
    end if;

    update app.stages s set position = (u.ord - 1)::integer
    from unnest(v_ids) with ordinality as u(id, ord)
    where s.id = u.id and s.position <> u.ord - 1;
  end;
  $$;
comment on function app.reorder_stages(text[], text) is 'Puts the org''s stages in the given order (every stage once, by id or name); refuses unknown, repeated or missing stages.';
revoke execute on function app.reorder_stages(text[], text) from public;
grant execute on function app.reorder_stages(text[], text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Delete: a stage that holds leads (soft-deleted ones too: they would come back) needs a
-- stage to move them to; they move in the same transaction, so the stage history records
-- each move. The default stage stays until another one is default.
-- ---------------------------------------------------------------------------
create function app.delete_stage(p_stage text, p_move_to text default null) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_stage app.stages := app._find_stage(p_stage);
    v_target app.stages;
    v_live integer;
    v_deleted integer;
    v_moved integer := 0;
  begin
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;
    perform app._lock_stages(v_stage.org_id);
    -- No lead can enter the stage from here on, so the count below is the final one.
    perform from app.stages s where s.id = v_stage.id for update;
    v_stage := app._find_stage(v_stage.id);
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;

    if v_stage.is_default then
      perform app.refuse(409, 'default_stage',
        pg_catalog.format('"%s" is the default stage (new leads land there) and cannot be deleted', v_stage.name),
        'Make another stage the default first: PUT /api/openclaw/stages { "id": "<other stage id>", "isDefault": true }, then delete this one (with moveTo if it holds leads).');
    end if;

    if p_move_to is not null then
      select s.* into v_target from app.stages s
      where s.org_id = v_stage.org_id and (s.id = p_move_to or lower(s.name) = lower(btrim(p_move_to)))
      order by s.id = p_move_to desc limit 1;
      if v_target.id is null then
        perform app.refuse(400, 'unknown_stage',
          pg_catalog.format('moveTo: no stage named or with id "%s" in this workspace', p_move_to),
          'moveTo takes the id or name of another stage: ' || coalesce((
            select string_agg(pg_catalog.format('"%s"', s.name), ', ' order by s.position)
            from app.stages s where s.org_id = v_stage.org_id and s.id <> v_stage.id), '(no other stages)') || '.');
      end if;
      if v_target.id = v_stage.id then
        perform app.refuse(400, 'invalid_move_to', 'moveTo is the stage being deleted',
          'Pass another stage as moveTo: the leads need somewhere to go.');
      end if;
    end if;

    select count(*) filter (where l.deleted_at is null), count(*) filter (where l.deleted_at is not null)
      into v_live, v_deleted
    from app.leads l where l.org_id = v_stage.org_id and l.stage_id = v_stage.id;

    if v_live + v_deleted > 0 then
      if v_target.id is null then
        perform app.refuse(409, 'stage_has_leads',
          pg_catalog.format('Stage "%s" holds %s lead(s) (%s live, %s soft-deleted)', v_stage.name, v_live + v_deleted, v_live, v_deleted),
          pg_catalog.format('Pass moveTo with the stage they should move to: DELETE /api/openclaw/stages?id=%s&moveTo=<stage id or name>. Soft-deleted leads move too, so they have a stage if restored.', v_stage.id));
      end if;
      update app.leads l set stage_id = v_target.id
      where l.org_id = v_stage.org_id and l.stage_id = v_stage.id;
      get diagnostics v_moved = row_count;
    end if;

    delete from app.stages s where s.id = v_stage.id;
    perform app._place_stage(v_stage.org_id, null, null);

    return pg_catalog.jsonb_build_object(
      'id', v_stage.id, 'name', v_stage.name, 'leadsMoved', v_moved,
      'movedTo', case when v_target.id is not null then pg_catalog.jsonb_build_object('id', v_target.id, 'name', v_target.name) end);
  end;
  $$;
comment on function app.delete_stage(text, text) is 'Deletes a non-default stage (by id or name); its leads, soft-deleted included, must be moved with p_move_to (recorded in the stage history).';
revoke execute on function app.delete_stage(text, text) from public;
grant execute on function app.delete_stage(text, text) to authenticated, service_role;
