-- The contract's examples, as written:
--   * POST /stages/sync-sources without a stage: app.create_sync_source uses the default stage;
--   * GET /playbooks?tier=high&stage=new: app.playbook_stages reads a stage or a lead status,
--     app.playbook_stage_values names what is valid when it is neither.
-- Written by npm run db:diff and reviewed.

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app.playbook_stage_values()
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
    select pg_catalog.jsonb_build_object(
      'stages', (select coalesce(pg_catalog.jsonb_agg(s.name order by s.position), '[]') from app.stages s
                 where s.org_id = app.current_org_id()),
      'statuses', (select pg_catalog.jsonb_agg(t.status order by t.status) from (
                     select distinct lower(l.status) as status from app.leads l
                     where l.org_id = app.current_org_id() and l.deleted_at is null
                     union select 'new') t))
  $function$
;

CREATE OR REPLACE FUNCTION app.playbook_stages(p_stage text)
 RETURNS text[]
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.create_sync_source(p_name text, p_type text, p_stage text, p_event_stages jsonb DEFAULT NULL::jsonb, p_field_mapping jsonb DEFAULT NULL::jsonb, p_enabled boolean DEFAULT true)
 RETURNS TABLE(id text, secret text)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_secret constant text := 'whsec_' || app._random_hex(64);
  begin
    perform app._refuse_taken_sync_source_name(p_name, null);
    insert into app.sync_sources as s (name, type, enabled, stage_id, event_stages, field_mapping, secret)
    values (btrim(p_name), p_type, coalesce(p_enabled, true),
            -- No stage named: the workspace's default stage, where new leads land anyway.
            coalesce(app.resolve_stage(p_stage), (select d.id from app.stages d where d.org_id = app.current_org_id() and d.is_default)),
            app._resolve_event_stages('{}'::jsonb, p_event_stages), coalesce(p_field_mapping, '{}'::jsonb), v_secret)
    returning s.id into id;
    secret := v_secret;
    return next;
  end;
  $function$
;

-- Comments and function privileges (migra leaves them out).
comment on function app.create_sync_source(text,text,text,jsonb,jsonb,boolean) is 'Creates a sync source in the current org (stages by name or id, the default stage when none is named; mapping over the type''s defaults) and returns its secret, the only time it is shown.';
comment on function app.playbook_stage_values() is 'What a playbook stage filter may name in the current org: its stages (in pipeline order) and the lead statuses in use (always new).';
comment on function app.playbook_stages(text) is 'The current org''s stages a playbook stage filter names: the stage itself (id or name), else the stages of live leads with that status (new: also the default stage); null when it names neither.';
revoke all on function app.playbook_stage_values() from public; grant execute on function app.playbook_stage_values() to authenticated; grant execute on function app.playbook_stage_values() to service_role;
revoke all on function app.playbook_stages(text) from public; grant execute on function app.playbook_stages(text) to authenticated; grant execute on function app.playbook_stages(text) to service_role;
