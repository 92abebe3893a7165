-- Notes and touchpoints: tenancy (row-level security and the composite key to the lead),
-- defaults, checks, what a tenant may change, and the lead's last touch that only moves
-- forward.
begin;
select plan(61);

select tests.create_org('notes-a') as org_a \gset
select tests.create_org('notes-b') as org_b \gset
select tests.create_lead(:'org_a') as lead_a \gset
select tests.create_lead(:'org_b') as lead_b \gset
select id as key_a from app.api_keys where org_id = :'org_a' \gset
-- Act as org A's API key, as app.authenticate_api_key would.
create function pg_temp.act_as_key(p_org_id text, p_key_id text) returns void language sql as $$
  select set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'org_id', p_org_id, 'key_id', p_key_id)::text, true),
         set_config('role', 'authenticated', true)
$$;

-- ===========================================================================
-- Notes: defaults and checks
-- ===========================================================================
select pg_temp.act_as_key(:'org_a', :'key_a');
insert into app.notes (lead_id, content) values (:'lead_a', 'Called Jane; budget approved.') returning id as note_a \gset

select matches(:'note_a'::text, '^note_[0-9a-f]{24}$', 'note ids are note_ followed by 24 hex digits');
select is((select org_id from app.notes where id = :'note_a'), :'org_a'::text, 'a note''s org defaults to the caller''s org');
select is((select type from app.notes where id = :'note_a'), 'manual', 'a note''s type defaults to manual');
select is((select pinned from app.notes where id = :'note_a'), false, 'a note is not pinned by default');
select is((select created_by from app.notes where id = :'note_a'), :'key_a'::text, 'created_by is the API key that wrote the note');

select lives_ok(format($$ insert into app.notes (lead_id, type, content) values
  (%1$L, 'manual', 'm'), (%1$L, 'transcript_summary', 't'), (%1$L, 'ai_insight', 'a'), (%1$L, 'system', 's') $$, :'lead_a'),
  'all four note types are accepted');
select throws_like(format($$ insert into app.notes (lead_id, type, content) values (%L, 'memo', 'x') $$, :'lead_a'),
  '%notes_type_check%', 'an unknown note type is refused by notes_type_check');
select throws_like(format($$ insert into app.notes (lead_id, content) values (%L, '') $$, :'lead_a'),
  '%notes_content_check%', 'empty content is refused');
select throws_like(format($$ insert into app.notes (lead_id, content) values (%L, E' \n\t ') $$, :'lead_a'),
  '%notes_content_check%', 'blank content is refused');
select throws_ok(format($$ insert into app.notes (lead_id) values (%L) $$, :'lead_a'),
  '23502', null, 'content is required');
select lives_ok(format($$ insert into app.notes (lead_id, content) values (%L, repeat('x', 100000)) $$, :'lead_a'),
  'content of 100,000 characters is accepted');
select throws_like(format($$ insert into app.notes (lead_id, content) values (%L, repeat('x', 100001)) $$, :'lead_a'),
  '%notes_content_check%', 'content over 100,000 characters is refused');
select is((select content from app.notes where id = :'note_a'), 'Called Jane; budget approved.', 'content is stored as written');

-- What a tenant may change
select lives_ok(format($$ update app.notes set content = 'Edited', pinned = true where id = %L $$, :'note_a'),
  'a tenant can edit a note''s content and pin it');
select throws_ok(format($$ update app.notes set type = 'system' where id = %L $$, :'note_a'),
  '42501', null, 'a tenant cannot change a note''s type');
select throws_ok(format($$ update app.notes set created_by = 'someone-else' where id = %L $$, :'note_a'),
  '42501', null, 'a tenant cannot rewrite who wrote a note');
select throws_ok(format($$ update app.notes set created_at = now() - interval '1 year' where id = %L $$, :'note_a'),
  '42501', null, 'a tenant cannot backdate a note');
select throws_ok(format($$ insert into app.notes (lead_id, content, created_by) values (%L, 'x', 'forged') $$, :'lead_a'),
  '42501', null, 'a tenant cannot choose created_by when writing a note');
select tests.create_lead(:'org_a') as lead_a2 \gset
select throws_ok(format($$ update app.notes set lead_id = %L where id = %L $$, :'lead_a2', :'note_a'),
  '42501', null, 'a tenant cannot move a note to another lead');
select tests.clear_authentication();

-- updated_at is kept by the database
insert into app.notes (id, org_id, lead_id, content, created_at, updated_at)
values ('note_old', :'org_a', :'lead_a', 'Old note', '2020-01-01', '2020-01-01');
select pg_temp.act_as_key(:'org_a', :'key_a');
update app.notes set pinned = true where id = 'note_old';
select is((select updated_at = now() from app.notes where id = 'note_old'), true, 'editing a note stamps updated_at');
select is((select created_at from app.notes where id = 'note_old'), '2020-01-01'::timestamptz, 'editing a note keeps created_at');
select tests.clear_authentication();

-- ===========================================================================
-- Touchpoints: defaults, checks, and the lead's last touch
-- ===========================================================================
select pg_temp.act_as_key(:'org_a', :'key_a');
insert into app.touchpoints (lead_id, type, occurred_at) values (:'lead_a', 'call', now() - interval '1 day')
returning id as tp_a \gset

select matches(:'tp_a'::text, '^tp_[0-9a-f]{24}$', 'touchpoint ids are tp_ followed by 24 hex digits');
select is((select source from app.touchpoints where id = :'tp_a'), 'api', 'a touchpoint logged in a request has source api');
select is((select created_by from app.touchpoints where id = :'tp_a'), :'key_a'::text, 'created_by is the API key that logged it');
select is((select metadata from app.touchpoints where id = :'tp_a'), '{}'::jsonb, 'metadata defaults to an empty object');
select is((select last_touch_at from app.leads where id = :'lead_a'), now() - interval '1 day',
  'logging a touchpoint sets the lead''s last_touch_at to its occurred_at');

insert into app.touchpoints (lead_id, type, occurred_at) values (:'lead_a', 'email', now() - interval '10 days');
select is((select last_touch_at from app.leads where id = :'lead_a'), now() - interval '1 day',
  'a backdated touchpoint does not move last_touch_at back');

insert into app.touchpoints (lead_id, type) values (:'lead_a', 'meeting') returning id as tp_now \gset
select is((select occurred_at from app.touchpoints where id = :'tp_now'), now(), 'occurred_at defaults to now');
select is((select last_touch_at from app.leads where id = :'lead_a'), now(), 'a newer touchpoint moves last_touch_at forward');

update app.touchpoints set occurred_at = now() - interval '30 days' where id = :'tp_now';
select is((select last_touch_at from app.leads where id = :'lead_a'), now(),
  'correcting a touchpoint to an earlier time does not move last_touch_at back');

select throws_ok(format($$ insert into app.touchpoints (lead_id, type, occurred_at) values (%L, 'call', now() + interval '10 minutes') $$, :'lead_a'),
  'CR400', null, 'a touchpoint more than 5 minutes in the future is refused with a 400');
select throws_like(format($$ insert into app.touchpoints (lead_id, type, occurred_at) values (%L, 'call', now() + interval '1 day') $$, :'lead_a'),
  'occurredAt % is in the future', 'the refusal says occurredAt is in the future');
select throws_ok(format($$ update app.touchpoints set occurred_at = now() + interval '1 hour' where id = %L $$, :'tp_a'),
  'CR400', null, 'a touchpoint cannot be moved into the future either');
select lives_ok(format($$ insert into app.touchpoints (lead_id, type, occurred_at) values (%L, 'sms', now() + interval '4 minutes') $$, :'lead_a'),
  'up to 5 minutes ahead is accepted (clock skew)');
select is((select last_touch_at from app.leads where id = :'lead_a'), now() + interval '4 minutes',
  'the skewed touchpoint is the lead''s last touch');

select lives_ok(format($$ insert into app.touchpoints (lead_id, type)
  select %L, t from unnest(array['email', 'call', 'meeting', 'linkedin', 'sms', 'note', 'form', 'chat', 'other']) t $$, :'lead_a'),
  'all nine touchpoint types are accepted');
select throws_like(format($$ insert into app.touchpoints (lead_id, type) values (%L, 'fax') $$, :'lead_a'),
  '%touchpoints_type_check%', 'an unknown touchpoint type is refused by touchpoints_type_check');
select throws_like(format($$ insert into app.touchpoints (lead_id, type, direction) values (%L, 'call', 'sideways') $$, :'lead_a'),
  '%touchpoints_direction_check%', 'direction is inbound, outbound or null');

-- What a tenant may correct
select lives_ok(format($$ update app.touchpoints set summary = 'Left a voicemail', direction = 'outbound' where id = %L $$, :'tp_a'),
  'a tenant can correct a touchpoint''s summary and direction');
select throws_ok(format($$ update app.touchpoints set lead_id = %L where id = %L $$, :'lead_a2', :'tp_a'),
  '42501', null, 'a tenant cannot move a touchpoint to another lead');
select throws_ok(format($$ update app.touchpoints set source = 'calendly', created_by = 'forged' where id = %L $$, :'tp_a'),
  '42501', null, 'a tenant cannot rewrite a touchpoint''s source or author');
select tests.clear_authentication();

-- Direct database work is recorded as such
insert into app.touchpoints (org_id, lead_id, type) values (:'org_a', :'lead_a2', 'note') returning id as tp_sql \gset
select is((select source from app.touchpoints where id = :'tp_sql'), 'sql', 'a touchpoint written outside a request has source sql');
select is((select created_by from app.touchpoints where id = :'tp_sql'), session_user::text, 'and is attributed to the database user');

-- ===========================================================================
-- Tenancy: org B sees and changes nothing of org A's
-- ===========================================================================
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.notes where org_id = :'org_a'), 0, 'org B cannot read org A''s notes');
select is((select count(*)::int from app.notes where id = :'note_a'), 0, 'org B cannot read org A''s note by id');
select is((select count(*)::int from app.touchpoints where org_id = :'org_a'), 0, 'org B cannot read org A''s touchpoints');

update app.notes set content = 'Hacked' where id = :'note_a';
delete from app.notes where id = :'note_a';
update app.touchpoints set summary = 'Hacked' where id = :'tp_a';
delete from app.touchpoints where id = :'tp_a';

select throws_ok(format($$ insert into app.notes (org_id, lead_id, content) values (%L, %L, 'x') $$, :'org_a', :'lead_a'),
  '42501', null, 'org B cannot insert a note into org A');
select throws_like(format($$ insert into app.notes (lead_id, content) values (%L, 'x') $$, :'lead_a'),
  '%notes_lead_fkey%', 'org B cannot attach a note to org A''s lead (composite key)');
select throws_ok(format($$ insert into app.touchpoints (org_id, lead_id, type) values (%L, %L, 'call') $$, :'org_a', :'lead_a'),
  '42501', null, 'org B cannot insert a touchpoint into org A');
select throws_like(format($$ insert into app.touchpoints (lead_id, type) values (%L, 'call') $$, :'lead_a'),
  '%touchpoints_lead_fkey%', 'org B cannot log a touchpoint on org A''s lead (composite key)');
select lives_ok(format($$ insert into app.notes (lead_id, content) values (%L, 'Mine') $$, :'lead_b'),
  'org B can write notes on its own lead');
select throws_ok(format($$ update app.notes set org_id = %L where lead_id = %L $$, :'org_a', :'lead_b'),
  '42501', null, 'org B cannot move its notes into org A');
select tests.clear_authentication();

select is((select content from app.notes where id = :'note_a'), 'Edited', 'org A''s note is unchanged after org B''s attempts');
select is((select summary from app.touchpoints where id = :'tp_a'), 'Left a voicemail', 'org A''s touchpoint is unchanged after org B''s attempts');
select is((select count(*)::int from app.notes where org_id = :'org_b'), 1, 'org B''s only note is its own');

select tests.authenticate_as_anon();
select throws_ok($$ select count(*) from app.notes $$, '42501', null, 'anon cannot read notes at all');
select tests.clear_authentication();

-- ===========================================================================
-- Permanent delete of a lead takes its notes and touchpoints with it
-- ===========================================================================
delete from app.leads where id = :'lead_a';
select is((select count(*)::int from app.notes where lead_id = :'lead_a'), 0, 'a permanently deleted lead''s notes are deleted');
select is((select count(*)::int from app.touchpoints where lead_id = :'lead_a'), 0, 'a permanently deleted lead''s touchpoints are deleted');

-- ===========================================================================
-- The note list is served by its index
-- ===========================================================================
insert into app.notes (org_id, lead_id, content, pinned)
select :'org_b', :'lead_b', 'Note ' || g, g % 7 = 0 from generate_series(1, 2000) g;
analyze app.notes;
select tests.authenticate_as(:'org_b');
set local enable_seqscan = off;
select ok((select string_agg(line, E'\n') from tests.explain(format(
  $$ select id from app.notes where lead_id = %L order by pinned desc, created_at desc, id desc limit 50 $$, :'lead_b')) line)
  like '%notes_org_lead_idx%', 'a lead''s note list uses notes_org_lead_idx');
select ok((select string_agg(line, E'\n') from tests.explain(format(
  $$ select id from app.touchpoints where lead_id = %L order by occurred_at desc limit 50 $$, :'lead_b')) line)
  like '%touchpoints_org_lead_idx%', 'a lead''s touchpoint list uses touchpoints_org_lead_idx');
reset enable_seqscan;
select tests.clear_authentication();

-- ===========================================================================
-- Privileges
-- ===========================================================================
select ok(not has_function_privilege('authenticated', 'app._refuse_future_touchpoint()', 'execute'),
  'the future-touchpoint trigger function is not callable by tenants');

select * from finish();
rollback;
