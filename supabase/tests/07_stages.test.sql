-- Pipeline stages: one default stage per org (moved by marking another, never lost),
-- create / update / reorder / delete functions that keep the order dense, deletes that
-- move the stage's leads (recorded in the stage history), and tenancy throughout.
begin;
select plan(71);

select tests.create_org('stages-a') as org_a \gset
select tests.create_org('stages-b') as org_b \gset
select id as a_prospects from app.stages where org_id = :'org_a' and name = 'Prospects' \gset
select id as a_leads from app.stages where org_id = :'org_a' and name = 'Leads' \gset
select id as a_engaged from app.stages where org_id = :'org_a' and name = 'Engaged' \gset
select id as a_contacted from app.stages where org_id = :'org_a' and name = 'Contacted' \gset
select id as b_leads from app.stages where org_id = :'org_b' and name = 'Leads' \gset

-- The org's pipeline as text, for compact assertions.
create function pg_temp.pipeline(p_org_id text) returns text language sql as $$
  select string_agg(s.name || case when s.is_default then '*' else '' end, ',' order by s.position)
  from app.stages s where s.org_id = p_org_id
$$;
create function pg_temp.positions(p_org_id text) returns integer[] language sql as $$
  select array_agg(s.position order by s.position) from app.stages s where s.org_id = p_org_id
$$;

-- ===========================================================================
-- Privileges
-- ===========================================================================
select ok(not has_function_privilege('anon', 'app.create_stage(text, integer, text, boolean, text, jsonb)', 'execute'), 'anon cannot call app.create_stage');
select ok(not has_function_privilege('anon', 'app.update_stage(text, jsonb)', 'execute'), 'anon cannot call app.update_stage');
select ok(not has_function_privilege('anon', 'app.reorder_stages(text[], text)', 'execute'), 'anon cannot call app.reorder_stages');
select ok(not has_function_privilege('anon', 'app.delete_stage(text, text)', 'execute'), 'anon cannot call app.delete_stage');
select ok(has_function_privilege('authenticated', 'app.delete_stage(text, text)', 'execute'), 'authenticated can call app.delete_stage');

-- ===========================================================================
-- Tenancy: the stage_details view and the functions see only the caller's org
-- ===========================================================================
select tests.authenticate_as(:'org_b');
select is((select count(*)::integer from app.stage_details where org_id = :'org_a'), 0, 'org B cannot read org A''s stages through stage_details');
select is((select count(*)::integer from app.stage_details), 8, 'org B sees its own eight stages in stage_details');
select throws_ok(format($$ select app.update_stage(%L, '{"name":"Hacked"}') $$, :'a_leads'), 'CR404', format('Stage %s was not found', :'a_leads'),
  'org B cannot change org A''s stage: 404');
select throws_ok(format($$ select app.delete_stage(%L, 'Prospects') $$, :'a_leads'), 'CR404', null, 'org B cannot delete org A''s stage: 404');
select throws_ok(format($$ select app.delete_stage('Leads', %L) $$, :'a_engaged'), 'CR400', null,
  'org B cannot move its leads into org A''s stage when deleting one of its own');
select throws_like(format($$ select app.reorder_stages(array(select id from app.stages order by position) || %L::text) $$, :'a_leads'),
  'Not a stage of this workspace%', 'org B cannot put org A''s stage into its order');
select throws_ok(format($$ select app.create_stage('Sneaky', null, null, false, %L) $$, :'org_a'), '42501', null,
  'org B cannot create a stage in org A by passing its org id');
select tests.clear_authentication();
select is(pg_temp.pipeline(:'org_a'), 'Prospects*,Leads,Engaged,Contacted,Negotiated,Re-engage later,Closed Won,Closed Lost',
  'org A''s pipeline is untouched by org B');

-- ===========================================================================
-- One default stage per org
-- ===========================================================================
select tests.authenticate_as(:'org_a');
update app.stages set is_default = true where id = :'a_leads';
select is(pg_temp.pipeline(:'org_a'), 'Prospects,Leads*,Engaged,Contacted,Negotiated,Re-engage later,Closed Won,Closed Lost',
  'marking a stage default (one update, as in Studio) moves the flag from the old default');
select lives_ok($$ set constraints app.stages_require_default immediate $$, 'the moved default satisfies the one-default check');
set constraints app.stages_require_default deferred;
insert into app.stages (name, position, is_default) values ('Inbox', 99, true);
select is((select name from app.stages where is_default), 'Inbox', 'inserting a default stage moves the flag to it');
delete from app.stages where name = 'Inbox';
update app.stages set is_default = true where id = :'a_prospects';

select throws_ok(format($$ do $d$ begin
    update app.stages set is_default = false where id = %L;
    set constraints app.stages_require_default immediate;
  end $d$ $$, :'a_prospects'),
  'CR409', 'The pipeline needs a default stage (new leads land there)', 'unmarking the default stage without marking another is refused at commit');
select throws_ok(format($$ do $d$ begin
    delete from app.stages where id = %L;
    set constraints app.stages_require_default immediate;
  end $d$ $$, :'a_prospects'),
  'CR409', null, 'deleting the default stage directly is refused at commit');
select is(pg_temp.pipeline(:'org_a'), 'Prospects*,Leads,Engaged,Contacted,Negotiated,Re-engage later,Closed Won,Closed Lost',
  'after the refusals the pipeline is as it was');
select tests.clear_authentication();
select is((select count(*)::integer from app.stages where org_id = :'org_b' and is_default), 1, 'org B''s default stage was not affected by org A''s moves');

-- An org without stages needs no default; deleting an org takes its stages along.
select tests.create_org('stages-empty') as org_empty \gset
select lives_ok(format($$ do $d$ begin
    delete from app.stages where org_id = %L;
    set constraints app.stages_require_default immediate;
    set constraints app.stages_require_default deferred;
  end $d$ $$, :'org_empty'), 'an org may have no stages at all (and then no default)');
select tests.create_org('stages-gone') as org_gone \gset
select lives_ok(format($$ do $d$ begin
    delete from app.orgs where id = %L;
    set constraints app.stages_require_default immediate;
    set constraints app.stages_require_default deferred;
  end $d$ $$, :'org_gone'), 'deleting an org deletes its stages without tripping the default check');
select tests.create_org('stages-setup') as org_setup \gset
select tests.authenticate_as(:'org_setup');
select lives_ok($$ do $d$ begin
    perform app.setup_workspace(null, null, '[{"name":"New"},{"name":"Prospects"},{"name":"Won","isDefault":true}]');
    set constraints app.stages_require_default immediate;
    set constraints app.stages_require_default deferred;
  end $d$ $$, 'setup_workspace replaces a pipeline within the one-default rule');
select is(pg_temp.pipeline(:'org_setup'), 'New,Prospects,Won*', 'setup''s chosen default is the only default');
select tests.clear_authentication();

-- ===========================================================================
-- create_stage
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select app.create_stage('  Qualified ', null, '#112233') as a_qualified \gset
select is((select row(name, position, color, is_default)::text from app.stages where id = :'a_qualified'), '(Qualified,8,#112233,f)',
  'create_stage trims the name and adds the stage last by default');
select app.create_stage('Discovery', 1) as a_discovery \gset
select is(pg_temp.pipeline(:'org_a'), 'Prospects*,Discovery,Leads,Engaged,Contacted,Negotiated,Re-engage later,Closed Won,Closed Lost,Qualified',
  'create_stage at an index shifts the later stages down');
select is(pg_temp.positions(:'org_a'), array[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'positions stay dense from 0');
select app.create_stage('Far', 500) as a_far \gset
select is((select position from app.stages where id = :'a_far'), 10, 'an index past the end puts the stage last');
select app.create_stage('Front door', 0, null, true) as a_front \gset
select is((select name from app.stages where is_default), 'Front door', 'create_stage with is_default moves the default flag');
select throws_ok($$ select app.create_stage('qualified') $$, 'CR409', null, 'create_stage refuses a name the org already uses (any case)');
select throws_like($$ select app.create_stage('QUALIFIED') $$, format('A stage named "Qualified" already exists (%s)', :'a_qualified'),
  'the refusal names the existing stage and its id');
select throws_like($$ select app.create_stage('Bad colour', null, 'red') $$, '%stages_color_check%', 'create_stage keeps the colour check');
select tests.clear_authentication();

select tests.authenticate_as(:'org_empty');
select app.create_stage('Only') as only_stage \gset
select is((select is_default from app.stages where id = :'only_stage'), true, 'the first stage of an org without stages becomes its default');
select tests.clear_authentication();

select throws_ok($$ select app.create_stage('Nowhere') $$, 'CR400', 'No org to create the stage in', 'create_stage without an org is refused');
select app.create_stage('From Studio', null, null, false, :'org_b') as b_studio \gset
select is((select org_id from app.stages where id = :'b_studio'), :'org_b', 'in SQL without a request, create_stage takes the org as a parameter');

-- ===========================================================================
-- update_stage
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select tests.create_lead(:'org_a') as lead_1 \gset
update app.leads set stage_id = :'a_engaged' where id = :'lead_1';
select is(app.update_stage(:'a_engaged', '{"name":"Interested"}'), :'a_engaged', 'update_stage answers the stage id');
select is((select s.name from app.leads l join app.stages s on s.id = l.stage_id where l.id = :'lead_1'), 'Interested',
  'renaming a stage keeps its leads attached');
select is((select stage from app.lead_details where id = :'lead_1'), 'Interested', 'the lead shows the new stage name');
select lives_ok($$ select app.update_stage('interested', '{"name":"INTERESTED"}') $$, 'a stage found by name may change the case of its own name');
select throws_ok($$ select app.update_stage('Leads', '{"name":"Qualified"}') $$, 'CR409', null, 'renaming onto another stage''s name is refused');
select lives_ok(format($$ select app.update_stage(%L, '{"color":null}') $$, :'a_qualified'), 'color null is accepted');
select is((select color from app.stages where id = :'a_qualified'), null, 'color null clears the colour');

select app.update_stage(:'a_qualified', '{"order":1}');
select is((select position from app.stages where id = :'a_qualified'), 1, 'update_stage with order moves the stage up to that index');
select app.update_stage(:'a_qualified', '{"order":6}');
select is((select position from app.stages where id = :'a_qualified'), 6, 'and down again');
select is(pg_temp.positions(:'org_a'), array[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'moves keep the positions dense');

select app.update_stage(:'a_prospects', '{"isDefault":true}');
select is((select id from app.stages where is_default), :'a_prospects', 'isDefault true moves the default flag');
select throws_ok(format($$ select app.update_stage(%L, '{"isDefault":false}') $$, :'a_prospects'), 'CR409', null,
  'the default stage cannot be unmarked through update_stage');
select lives_ok(format($$ select app.update_stage(%L, '{"isDefault":false}') $$, :'a_leads'), 'isDefault false on another stage changes nothing');
select throws_ok($$ select app.update_stage('stg_000000000000000000000000', '{"name":"X"}') $$, 'CR404', null, 'an unknown stage is a 404');
select throws_like($$ select app.update_stage('Leads', '{"colour":"#000000"}') $$, 'Unknown stage field(s): colour', 'unknown change keys are refused');
select tests.clear_authentication();

-- ===========================================================================
-- reorder_stages
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select app.reorder_stages(array(select id from app.stages order by position desc));
select is(pg_temp.pipeline(:'org_a'), 'Far,Closed Lost,Closed Won,Re-engage later,Negotiated,Qualified,Contacted,INTERESTED,Leads,Discovery,Prospects*,Front door',
  'reorder_stages puts the stages in the given order');
select is(pg_temp.positions(:'org_a'), array[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'reordered positions run from 0');
select app.reorder_stages(array(select name from app.stages order by position desc));
select is(split_part(pg_temp.pipeline(:'org_a'), ',', 1), 'Front door', 'reorder_stages takes names as well as ids');
select throws_like($$ select app.reorder_stages(array(select id from app.stages order by position offset 1)) $$,
  'The order leaves out: "Front door" (%', 'a reorder that leaves a stage out is refused, naming it');
select throws_like($$ select app.reorder_stages(array(select id from app.stages) || (select id from app.stages where name = 'Far')) $$,
  'Stage(s) listed more than once: %', 'a reorder that repeats a stage is refused');
select throws_ok($$ select app.reorder_stages(array['Nope']) $$, 'CR400', 'Not a stage of this workspace: "Nope"', 'unknown stages are named');
select tests.clear_authentication();

-- ===========================================================================
-- delete_stage
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select is(app.delete_stage(:'a_far') ->> 'leadsMoved', '0', 'an empty stage is deleted without moveTo');
select is((select count(*)::integer from app.stages where id = :'a_far'), 0, 'the stage is gone');
select is(pg_temp.positions(:'org_a'), array[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'deleting closes the gap in the order');

select tests.create_lead(:'org_a') as lead_2 \gset
update app.leads set stage_id = :'a_engaged' where id = :'lead_2';
update app.leads set deleted_at = now() where id = :'lead_2';
select throws_ok(format($$ select app.delete_stage(%L) $$, :'a_engaged'), 'CR409',
  'Stage "INTERESTED" holds 2 lead(s) (1 live, 1 soft-deleted)', 'a stage holding leads (soft-deleted included) needs moveTo');
select is((select count(*)::integer from app.leads where stage_id = :'a_engaged'), 2, 'the refused delete moved no lead');
select throws_ok(format($$ select app.delete_stage(%L, 'Nowhere') $$, :'a_engaged'), 'CR400', null, 'an unknown moveTo is refused');
select throws_ok(format($$ select app.delete_stage(%L, %L) $$, :'a_engaged', :'a_engaged'), 'CR400', 'moveTo is the stage being deleted',
  'moveTo cannot be the stage being deleted');
select throws_ok($$ select app.delete_stage('Prospects', 'Leads') $$, 'CR409', null, 'the default stage cannot be deleted');

select is(app.delete_stage(:'a_engaged', 'contacted'),
  jsonb_build_object('id', :'a_engaged', 'name', 'INTERESTED', 'leadsMoved', 2, 'movedTo', jsonb_build_object('id', :'a_contacted', 'name', 'Contacted')),
  'delete_stage with moveTo (a name) moves the leads and reports it');
select is((select array_agg(stage_id order by id) from app.leads where id in (:'lead_1', :'lead_2')), array[:'a_contacted', :'a_contacted'],
  'live and soft-deleted leads both moved to the moveTo stage');
select is((select count(*)::integer from app.stages where id = :'a_engaged'), 0, 'the stage is deleted');
select results_eq(format($$
    select from_stage_id, from_stage_name, to_stage_id, to_stage_name, source, rule_id from app.stage_changes
    where lead_id in (%L, %L) and to_stage_id = %L order by lead_id $$, :'lead_1', :'lead_2', :'a_contacted'),
  format($$ values (%1$L, 'INTERESTED', %2$L, 'Contacted', 'api', null::text), (%1$L, 'INTERESTED', %2$L, 'Contacted', 'api', null::text) $$,
    :'a_engaged', :'a_contacted'),
  'each move is recorded in the stage history with the old and new stage');
select tests.clear_authentication();

-- In SQL (Studio), by id, with the org taken from the stage.
select tests.create_lead(:'org_b') as lead_b \gset
update app.leads set stage_id = :'b_leads' where id = :'lead_b';
select is(app.delete_stage(:'b_leads', :'b_studio') ->> 'leadsMoved', '1', 'delete_stage works in SQL without a request');
select is((select source from app.stage_changes where lead_id = :'lead_b' and to_stage_id = :'b_studio'), 'sql',
  'a move made in SQL is recorded with source sql');
select is((select count(*)::integer from app.stages where org_id = :'org_a'), 10, 'org A''s pipeline was not touched by org B''s delete');

select * from finish();
rollback;
