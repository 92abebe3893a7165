-- Payload caps in SQL: every free-form JSON column is held to the size and depth the API
-- documents (functions/http/caps.ts) by a named constraint over app.json_fits, so a writer
-- that bypasses the API (Studio, psql, a job) is bounded too; and the edge can name the
-- field from the constraint.
begin;
select plan(24);

select tests.create_org('caps-a') as org_a \gset

-- The constraint a statement violates, or null when it succeeds.
create function pg_temp.violated(p_sql text) returns text
  language plpgsql
  as $$
  declare
    v_name text;
  begin
    execute p_sql;
    return null;
  exception when check_violation then
    get stacked diagnostics v_name = constraint_name;
    return v_name;
  end;
  $$;

-- {"blob": "xx…"} of exactly p_bytes bytes as Postgres prints it.
create function pg_temp.blob(p_bytes integer) returns jsonb
  language sql immutable
  as $$ select pg_catalog.jsonb_build_object('blob', pg_catalog.repeat('x', p_bytes - 12)) $$;

-- {"a": {"a": … 1 …}} nested p_depth deep.
create function pg_temp.nested(p_depth integer) returns jsonb
  language sql immutable
  as $$ select (pg_catalog.repeat('{"a":', p_depth) || '1' || pg_catalog.repeat('}', p_depth))::jsonb $$;

-- ---------------------------------------------------------------------------
-- app.json_fits
-- ---------------------------------------------------------------------------
select is(pg_catalog.octet_length(pg_temp.blob(100)::text), 100, 'the test helper builds values of an exact size');
select ok(app.json_fits(pg_temp.blob(16384), 16384, 10), 'a value at the byte cap fits');
select ok(not app.json_fits(pg_temp.blob(16385), 16384, 10), 'one byte over does not');
select ok(app.json_fits(pg_temp.nested(10), 16384, 10), 'a value nested at the depth cap fits');
select ok(not app.json_fits(pg_temp.nested(11), 16384, 10), 'one level deeper does not');
select ok(not app.json_fits('{"a": [[[[[[[[[[]]]]]]]]]]}', 16384, 10), 'arrays count as levels, empty ones too');
select ok(not app.json_fits(('{"b": "' || pg_catalog.repeat('é', 10000) || '"}')::jsonb, 16384, 10),
  'size is counted in UTF-8 bytes, not characters');
select ok(has_function_privilege('anon', 'app.json_fits(jsonb, integer, integer)', 'execute')
  and has_function_privilege('authenticated', 'app.json_fits(jsonb, integer, integer)', 'execute'),
  'every role that writes capped columns may evaluate the check');

-- ---------------------------------------------------------------------------
-- The columns, as a tenant writing SQL directly
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
insert into app.leads (first_name, email, crm_data) values ('At', 'at-cap@example.com', pg_temp.blob(16384)) returning id as lead_id \gset

select is(pg_temp.violated(format($$ insert into app.leads (first_name, email, crm_data) values ('Over', 'over@example.com', %L) $$, pg_temp.blob(16385))),
  'leads_crm_data_size', 'a lead whose crm_data is one byte over 16 KiB is refused by leads_crm_data_size');
select is(pg_temp.violated(format($$ insert into app.leads (first_name, email, crm_data) values ('Deep', 'deep@example.com', %L) $$, pg_temp.nested(11))),
  'leads_crm_data_size', 'a lead whose crm_data nests 11 deep is refused');
select is(pg_temp.violated(format($$ update app.leads set crm_data = app.jsonb_merge_patch(crm_data, '{"more": 1}') where id = %L $$, :'lead_id')),
  'leads_crm_data_size', 'a merge that takes crm_data over its cap is refused');
select is(pg_temp.violated(format($$ update app.leads set custom_fields = %L where id = %L $$, pg_temp.blob(65536), :'lead_id')),
  null, 'custom_fields takes 64 KiB');
select is(pg_temp.violated(format($$ update app.leads set custom_fields = %L where id = %L $$, pg_temp.blob(65537), :'lead_id')),
  'leads_custom_fields_size', 'custom_fields one byte over 64 KiB is refused by leads_custom_fields_size');

select is(pg_temp.violated(format($$ insert into app.touchpoints (lead_id, type, metadata) values (%L, 'call', %L) $$, :'lead_id', pg_temp.blob(65536))),
  null, 'touchpoint metadata takes 64 KiB');
select is(pg_temp.violated(format($$ insert into app.touchpoints (lead_id, type, metadata) values (%L, 'call', %L) $$, :'lead_id', pg_temp.blob(65537))),
  'touchpoints_metadata_size', 'touchpoint metadata one byte over is refused by touchpoints_metadata_size');

select is(pg_temp.violated(format($$ insert into app.events (lead_id, type, data) values (%L, 'cta_clicked', %L) $$, :'lead_id', pg_temp.blob(16384))),
  null, 'event data takes 16 KiB');
select is(pg_temp.violated(format($$ insert into app.events (lead_id, type, data) values (%L, 'cta_clicked', %L) $$, :'lead_id', pg_temp.blob(16385))),
  'events_data_size', 'event data one byte over is refused by events_data_size');

select is(pg_temp.violated(format($$ insert into app.feedback (type, title, context) values ('bug', 'x', %L) $$, pg_temp.blob(8192))),
  null, 'feedback context takes 8 KiB');
select is(pg_temp.violated(format($$ insert into app.feedback (type, title, context) values ('bug', 'x', %L) $$, pg_temp.blob(8193))),
  'feedback_context_size', 'feedback context one byte over is refused by feedback_context_size');

select is(pg_temp.violated(format($$ insert into app.automation_rules (name, trigger_event, target_stage_id, conditions)
    select 'Big', 'meeting_booked', s.id, %L from app.stages s limit 1 $$, jsonb_build_object('tier', repeat('x', 4100)))),
  'automation_rules_conditions_size', 'automation conditions over 4 KiB are refused by automation_rules_conditions_size');
select is(pg_temp.violated($$ insert into app.sync_sources (name, type, stage_id, event_stages)
    select 'Many events', 'form_webhook', s.id, (select jsonb_object_agg('event_' || g, s.id) from generate_series(1, 300) g)
    from app.stages s order by s.position limit 1 $$),
  'sync_sources_event_stages_size', 'event stages over 8 KiB are refused by sync_sources_event_stages_size');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- Every capped column has its named constraint, over app.json_fits
-- ---------------------------------------------------------------------------
select is(
  (select array_agg(conname::text order by conname) from pg_catalog.pg_constraint
   where connamespace = 'app'::regnamespace and contype = 'c' and pg_catalog.pg_get_constraintdef(oid) like '%json_fits(%'),
  array['automation_rules_conditions_size', 'events_data_size', 'feedback_context_size', 'leads_crm_data_size',
        'leads_custom_fields_size', 'sync_sources_event_stages_size', 'touchpoints_metadata_size'],
  'the capped columns are exactly the documented ones');
select is(
  (select pg_catalog.pg_get_constraintdef(oid) from pg_catalog.pg_constraint where conname = 'leads_crm_data_size'),
  'CHECK (app.json_fits(crm_data, 16384, 10))', 'crm_data: 16 KiB, 10 deep');
select is(
  (select pg_catalog.pg_get_constraintdef(oid) from pg_catalog.pg_constraint where conname = 'feedback_context_size'),
  'CHECK (app.json_fits(context, 8192, 10))', 'feedback context: 8 KiB, 10 deep');

select * from finish();
rollback;
