-- The pipeline's rules for every writer (API, Studio, setup, automation):
--   * an org that has stages has exactly one default stage: marking a stage default moves
--     the flag, and an org can never be left without one (checked at commit);
--   * stages are created, changed, reordered and deleted by functions that keep the order
--     dense (0, 1, 2, …) and move a deleted stage's leads in the same transaction, so the
--     moves land in the stage history;
--   * app.stage_details: the stages with their live lead counts.

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
-- The stages with their live lead counts, as GET /stages lists them.
-- ---------------------------------------------------------------------------
create view app.stage_details with (security_invoker = true) as
  select s.*,
    (select count(*)::integer from app.leads l
     where l.org_id = s.org_id and l.stage_id = s.id and l.deleted_at is null) as lead_count
  from app.stages s;
comment on view app.stage_details is 'Stages with lead_count, the number of live (not soft-deleted) leads in each.';
grant select on app.stage_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------

-- A stage by id (any visible org: row-level security limits a tenant to its own), or by
-- name (case-insensitive) within the current org.
-- (plpgsql rather than sql throughout: its plans are re-made when the role changes, so
-- a session that switches between a tenant and Studio-like work sees the right rows.)
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

-- ---------------------------------------------------------------------------
-- Create
-- ---------------------------------------------------------------------------
create function app.create_stage(
  p_name text,
  p_position integer default null,
  p_color text default null,
  p_is_default boolean default false,
  p_org_id text default app.current_org_id())
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

    insert into app.stages (org_id, name, position, color, is_default)
    values (p_org_id, btrim(p_name), 0, p_color, coalesce(p_is_default, false) or v_first)
    returning id into v_id;

    -- The new stage goes last unless an index is given.
    perform app._place_stage(p_org_id, v_id, coalesce(p_position, 2147483647));
    return v_id;
  end;
  $$;
comment on function app.create_stage(text, integer, text, boolean, text) is 'Adds a stage at the given index (default last); marking it default (or being the only stage) moves the default flag to it.';
revoke execute on function app.create_stage(text, integer, text, boolean, text) from public;
grant execute on function app.create_stage(text, integer, text, boolean, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Update one stage: p_changes holds the keys to change (name, order, color, isDefault);
-- a key left out keeps its value, color null clears the colour.
-- ---------------------------------------------------------------------------
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
    where k not in ('name', 'order', 'color', 'isDefault');
    if v_unknown is not null then
      perform app.refuse(400, 'invalid_stage_change', pg_catalog.format('Unknown stage field(s): %s', v_unknown),
        'A stage has name, order, color and isDefault.');
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
    if v_changes ? 'order' then
      perform app._place_stage(v_stage.org_id, v_stage.id, (v_changes ->> 'order')::integer);
    end if;
    return v_stage.id;
  end;
  $$;
comment on function app.update_stage(text, jsonb) is 'Changes one stage (by id or name): name, order (moves it, others shift), color, isDefault (true moves the flag; the default cannot be unmarked).';
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
