-- Workspace setup (POST /setup): the org's settings and, when given, its whole pipeline in
-- one idempotent call.
--   * app._stage_list: the stages of a setup body as rows;
--   * app.setup_workspace: applies the settings (app.orgs, 20_orgs_keys.sql) and replaces the
--     pipeline by stage name.
-- The stages are written to app.stages directly, so its triggers (30_stages.sql: outcome
-- from the name, one default stage) hold here too, and the stage history (42_stage_history.sql)
-- records the leads moved off removed stages.

-- ---------------------------------------------------------------------------
-- The stages of a setup body as rows; a stage without "order" takes its list position.
-- ---------------------------------------------------------------------------
create function app._stage_list(p_stages jsonb)
  returns table (name text, "position" integer, color text, is_default boolean)
  language sql immutable
  set search_path = ''
  as $$
    select btrim(s.name), coalesce(s."order", (s.ord - 1)::integer), s.color, coalesce(s."isDefault", false)
    from rows from (pg_catalog.jsonb_to_recordset(p_stages)
      as (name text, "order" integer, color text, "isDefault" boolean)) with ordinality
      as s(name, "order", color, "isDefault", ord)
  $$;
comment on function app._stage_list(jsonb) is 'Parses the stages array of a setup body into rows.';
revoke execute on function app._stage_list(jsonb) from public;
grant execute on function app._stage_list(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Setup: org settings and, when given, the pipeline. Stages are matched by name
-- (case-insensitive), so repeating the same body changes nothing; stages left out
-- are removed and their leads move to the default stage.
-- ---------------------------------------------------------------------------
create function app.setup_workspace(p_project_slug text, p_org jsonb, p_stages jsonb)
  returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org_id text := app.current_org_id();
    v_org jsonb := coalesce(p_org, '{}'::jsonb);
    v_default_name text;
    v_default_id text;
    v_moved integer := 0;
    v_removed text[] := '{}'::text[];
  begin
    update app.orgs o set
      project_slug = coalesce(p_project_slug, o.project_slug),
      name = coalesce(v_org ->> 'name', o.name),
      industry = case when v_org ? 'industry' then v_org ->> 'industry' else o.industry end,
      website = case when v_org ? 'website' then v_org ->> 'website' else o.website end,
      booking_link = case when v_org ? 'bookingLink' then v_org ->> 'bookingLink' else o.booking_link end,
      primary_color = case when v_org ? 'primaryColor' then v_org ->> 'primaryColor' else o.primary_color end
    where o.id = v_org_id;

    if p_stages is null then
      return pg_catalog.jsonb_build_object('leadsMoved', 0, 'stagesRemoved', '[]'::jsonb);
    end if;

    if (select count(*) from app._stage_list(p_stages)) = 0 then
      perform app.refuse(400, 'no_stages', 'stages must list at least one stage',
        'Send stages as [{ "name": "Prospects", "order": 0, "isDefault": true }, …], or leave stages out to keep the current pipeline.');
    end if;
    if (select count(*) from app._stage_list(p_stages) where is_default) > 1 then
      perform app.refuse(400, 'several_default_stages', 'More than one stage has isDefault: true',
        'Mark exactly one stage as isDefault (new leads land there), or none to make the first stage the default.');
    end if;
    if (select count(distinct lower(name)) from app._stage_list(p_stages)) < (select count(*) from app._stage_list(p_stages)) then
      perform app.refuse(400, 'duplicate_stage_names', 'Stage names must be unique (case-insensitive)',
        'Give every stage a distinct name.');
    end if;

    select s.name into v_default_name
    from app._stage_list(p_stages) s
    order by s.is_default desc, s.position
    limit 1;

    update app.stages s set is_default = false where s.org_id = v_org_id and s.is_default;

    insert into app.stages (org_id, name, position, color, is_default)
    select v_org_id, s.name, s.position, s.color, lower(s.name) = lower(v_default_name)
    from app._stage_list(p_stages) s
    on conflict (org_id, lower(name)) do update set
      name = excluded.name,
      position = excluded.position,
      color = coalesce(excluded.color, app.stages.color),
      is_default = excluded.is_default;

    select s.id into v_default_id from app.stages s where s.org_id = v_org_id and s.is_default;

    with removed as (
      select s.id from app.stages s
      where s.org_id = v_org_id
        and lower(s.name) not in (select lower(n.name) from app._stage_list(p_stages) n)
    )
    update app.leads l set stage_id = v_default_id
    where l.org_id = v_org_id and l.stage_id in (select r.id from removed r);
    get diagnostics v_moved = row_count;

    with deleted as (
      delete from app.stages s
      where s.org_id = v_org_id
        and lower(s.name) not in (select lower(n.name) from app._stage_list(p_stages) n)
      returning s.name
    )
    select coalesce(array_agg(d.name order by d.name), '{}') into v_removed from deleted d;

    return pg_catalog.jsonb_build_object('leadsMoved', v_moved, 'stagesRemoved', pg_catalog.to_jsonb(v_removed));
  end;
  $$;
comment on function app.setup_workspace(text, jsonb, jsonb) is 'Applies org settings and, when given, replaces the pipeline by stage name; idempotent for the same input.';
revoke execute on function app.setup_workspace(text, jsonb, jsonb) from public;
grant execute on function app.setup_workspace(text, jsonb, jsonb) to authenticated, service_role;
