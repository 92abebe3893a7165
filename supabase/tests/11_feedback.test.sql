-- Feedback: tenants file and read their own items and may only acknowledge responses;
-- status and response belong to the operator (service_role, app.respond_to_feedback);
-- what counts as unread, and the index GET /health reads it through.
begin;
select plan(37);

select tests.create_org('fb-a') as org_a \gset
select tests.create_org('fb-b') as org_b \gset

-- ---------------------------------------------------------------------------
-- Filing
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
insert into app.feedback (type, agent, title, description, context)
values ('bug', 'agent-a', 'Enrichment fails', 'It returned 500', '{"endpoint": "/api/openclaw/enrich", "statusCode": 500}')
returning id as fb_a \gset
insert into app.feedback (type, title) values ('question', 'Second item') returning id as fb_a2 \gset

select matches(:'fb_a'::text, '^fb_[0-9a-f]{24}$', 'feedback ids are fb_ followed by 24 hex digits');
select is((select row(org_id, status, priority, response, unread)::text from app.feedback where id = :'fb_a2'),
  row(:'org_a'::text, 'open', 'medium', null::text, false)::text,
  'new feedback belongs to the caller''s org, is open, medium priority, without a response and not unread');
select is((select context from app.feedback where id = :'fb_a2'), '{}'::jsonb, 'context defaults to an empty object');

select throws_ok($$ insert into app.feedback (type, title) values ('complaint', 'x') $$, '23514', null, 'an unknown type is refused');
select throws_ok($$ insert into app.feedback (type, title, priority) values ('bug', 'x', 'urgent') $$, '23514', null, 'an unknown priority is refused');
select throws_ok($$ insert into app.feedback (type, title) values ('bug', '  ') $$, '23514', null, 'a blank title is refused');
select throws_ok($$ insert into app.feedback (type, title) values ('bug', repeat('x', 301)) $$, '23514', null, 'a title over 300 characters is refused');
select throws_ok($$ insert into app.feedback (type, title, context) values ('bug', 'x', '[1]') $$, '23514', null, 'context must be a JSON object');

-- ---------------------------------------------------------------------------
-- A tenant cannot take the operator's part, even in SQL
-- ---------------------------------------------------------------------------
select throws_ok($$ insert into app.feedback (type, title, status) values ('bug', 'x', 'resolved') $$,
  '42501', null, 'a tenant cannot file feedback with a status');
select throws_ok($$ insert into app.feedback (type, title, response, responded_at) values ('bug', 'x', 'fixed', now()) $$,
  '42501', null, 'a tenant cannot file feedback with a response');
select throws_ok(format($$ update app.feedback set status = 'resolved' where id = %L $$, :'fb_a'),
  '42501', null, 'a tenant cannot change the status of its own feedback');
select throws_ok(format($$ update app.feedback set response = 'self-answered' where id = %L $$, :'fb_a'),
  '42501', null, 'a tenant cannot write a response');
select throws_ok(format($$ update app.feedback set responded_at = now() - interval '1 day' where id = %L $$, :'fb_a'),
  '42501', null, 'a tenant cannot move responded_at');
select throws_ok(format($$ delete from app.feedback where id = %L $$, :'fb_a'),
  '42501', null, 'a tenant cannot delete feedback');
select ok(not has_function_privilege('authenticated', 'app.respond_to_feedback(text, text, text, text)', 'execute'),
  'tenants (authenticated) cannot execute app.respond_to_feedback');
select ok(not has_function_privilege('anon', 'app.respond_to_feedback(text, text, text, text)', 'execute'),
  'anon cannot execute app.respond_to_feedback');
select ok(has_function_privilege('service_role', 'app.respond_to_feedback(text, text, text, text)', 'execute'),
  'service_role can execute app.respond_to_feedback');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- Tenancy
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.feedback where id = :'fb_a'), 0, 'org B cannot read org A''s feedback');
update app.feedback set acknowledged_at = now() where id = :'fb_a';
select throws_ok(format($$ insert into app.feedback (org_id, type, title) values (%L, 'bug', 'planted') $$, :'org_a'),
  '42501', null, 'org B cannot file feedback into org A');
select tests.clear_authentication();
select is((select acknowledged_at from app.feedback where id = :'fb_a'), null, 'org B''s acknowledgement of org A''s item changed nothing');

-- ---------------------------------------------------------------------------
-- The operator responds (as service_role, the way the API's admin requests run)
-- ---------------------------------------------------------------------------
select set_config('request.jwt.claims', '{"role": "service_role", "actor": "eir"}', true);
set local role service_role;
select is((select row(status, response, responded_by)::text from app.respond_to_feedback(:'fb_a', 'resolved', 'Fixed: re-enrich with force:true')),
  row('resolved', 'Fixed: re-enrich with force:true', 'eir')::text, 'the operator sets status and response; the responder defaults to the actor');
select throws_ok($$ select app.respond_to_feedback('fb_000000000000000000000000', 'resolved', 'x') $$,
  'CR404', 'Feedback fb_000000000000000000000000 was not found', 'responding to an unknown id is a 404 refusal');
select throws_ok(format($$ select app.respond_to_feedback(%L) $$, :'fb_a'), 'CR400', null, 'responding with neither status nor response is a 400 refusal');
select throws_ok(format($$ select app.respond_to_feedback(%L, 'done') $$, :'fb_a'), '23514', null, 'an unknown status is refused');
reset role;
select tests.clear_authentication();

select is((select responded_at from app.feedback where id = :'fb_a'), now(), 'a response is stamped with responded_at');

-- ---------------------------------------------------------------------------
-- Unread, acknowledgement, and a new response after an acknowledgement
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
select is((select array_agg(id) from app.feedback where unread), array[:'fb_a'], 'a response is unread for the org that filed the item');
update app.feedback set acknowledged_at = now() + interval '1 year' where id = :'fb_a';
select is((select acknowledged_at from app.feedback where id = :'fb_a'), now(), 'a tenant acknowledgement is stamped with the current time, whatever time is sent');
select is((select unread from app.feedback where id = :'fb_a'), false, 'an acknowledged response is no longer unread');
select tests.clear_authentication();

-- Let an hour pass: the response and its acknowledgement happened an hour ago.
update app.feedback set responded_at = responded_at - interval '1 hour', acknowledged_at = acknowledged_at - interval '1 hour'
where id = :'fb_a';
select is((select unread from app.feedback where id = :'fb_a'), false, 'still read after time passes');

select set_config('request.jwt.claims', '{"role": "service_role", "actor": "eir"}', true);
set local role service_role;
select app.respond_to_feedback(:'fb_a', 'in_progress');
reset role;
select is((select unread from app.feedback where id = :'fb_a'), false, 'a status change without a new response does not make it unread');
set local role service_role;
select app.respond_to_feedback(:'fb_a', null, 'Follow-up: also clear the cache', 'EIR Alice');
reset role;
select tests.clear_authentication();
select is((select row(unread, status, responded_by)::text from app.feedback where id = :'fb_a'), row(true, 'in_progress', 'EIR Alice')::text,
  'a new response after an acknowledgement is unread again (status kept, responder recorded)');

-- Studio: a human editing the response directly gets the same stamps.
update app.feedback set response = 'Answered in Studio', acknowledged_at = null where id = :'fb_a2';
select is((select row(responded_at = now(), responded_by = session_user::text, unread)::text from app.feedback where id = :'fb_a2'),
  row(true, true, true)::text, 'a response written in Studio is stamped and unread');
update app.feedback set response = null where id = :'fb_a2';
select is((select row(responded_at, responded_by, unread)::text from app.feedback where id = :'fb_a2'),
  row(null::timestamptz, null::text, false)::text, 'removing a response clears its stamps');
select throws_ok(format($$ update app.feedback set responded_at = null where id = %L $$, :'fb_a'),
  '23514', null, 'a response cannot exist without responded_at');

select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.feedback where unread), 0, 'org B sees none of org A''s unread responses');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- The health lookup is an index scan on the org's unread items
-- ---------------------------------------------------------------------------
insert into app.feedback (org_id, type, title)
select o, 'bug', 'Bulk ' || g from unnest(array[:'org_a', :'org_b']) o, generate_series(1, 500) g;
analyze app.feedback;
select tests.authenticate_as(:'org_a');
set local enable_seqscan = off;
select ok((select string_agg(line, E'\n') from tests.explain($$ select id, title, status, response from app.feedback where unread order by responded_at limit 21 $$) line)
  like '%feedback_org_unread_idx%', 'the unread lookup of GET /health uses feedback_org_unread_idx');
select ok((select string_agg(line, E'\n') from tests.explain($$ select id from app.feedback order by created_at desc, id desc limit 50 $$) line)
  like '%feedback_org_created_idx%', 'the feedback list uses feedback_org_created_idx');
select tests.clear_authentication();

select * from finish();
rollback;
