-- POST /setup's database side: org settings and the pipeline replaced by stage name.
begin;
select plan(10);

select tests.create_org('setup') as org \gset
select tests.authenticate_as(:'org');
select tests.create_lead(:'org') as lead \gset
update app.leads set stage_id = (select id from app.stages where name = 'Negotiated') where id = :'lead';

select is(app.setup_workspace('acme', '{"name":"Acme","industry":"SaaS","bookingLink":"https://cal.example/acme"}',
  '[{"name":"Prospects","order":0},{"name":"Qualified","order":1,"isDefault":true,"color":"#22C55E"},{"name":"Won","order":2}]'),
  '{"leadsMoved":1,"stagesRemoved":["Closed Lost","Closed Won","Contacted","Engaged","Leads","Negotiated","Re-engage later"]}'::jsonb,
  'setup reports the removed stages and the leads it moved');
select results_eq($$ select name, position, is_default from app.stages order by position $$,
  $$ values ('Prospects'::text, 0, false), ('Qualified', 1, true), ('Won', 2, false) $$,
  'the pipeline is exactly the stages sent, with the chosen default');
select is((select s.name from app.leads l join app.stages s on s.id = l.stage_id where l.id = :'lead'), 'Qualified',
  'leads in removed stages move to the new default stage');
select is((select row(name, industry, booking_link, project_slug)::text from app.orgs), '(Acme,SaaS,https://cal.example/acme,acme)',
  'org settings are stored');

select array_agg(id order by id) as ids_before from app.stages \gset
select is(app.setup_workspace('acme', '{"name":"Acme","industry":"SaaS","bookingLink":"https://cal.example/acme"}',
  '[{"name":"Prospects","order":0},{"name":"Qualified","order":1,"isDefault":true,"color":"#22C55E"},{"name":"Won","order":2}]'),
  '{"leadsMoved":0,"stagesRemoved":[]}'::jsonb, 'the same setup again changes nothing');
select is((select array_agg(id order by id) from app.stages)::text, :'ids_before', 'repeating setup keeps the stage ids');

select is(app.setup_workspace(null, '{"industry":"Health"}', null), '{"leadsMoved":0,"stagesRemoved":[]}'::jsonb,
  'setup without stages keeps the pipeline');
select is((select row(name, industry)::text from app.orgs), '(Acme,Health)', 'a partial org update keeps the other settings');

select throws_ok($$ select app.setup_workspace(null, null, '[{"name":"A","isDefault":true},{"name":"B","isDefault":true}]') $$,
  'CR400', 'More than one stage has isDefault: true', 'two default stages are refused');
select throws_ok($$ select app.setup_workspace(null, null, '[{"name":"A"},{"name":"a"}]') $$,
  'CR400', 'Stage names must be unique (case-insensitive)', 'duplicate stage names are refused');

select * from finish();
rollback;
