-- Quizzes: what a definition may hold (refusals name the question, option or band), slugs,
-- the scoring math and bands, app.submit_quiz (lead created or updated by email, the
-- submission stored, quiz_completed recorded and rolled up, a repeated attempt idempotent,
-- invalid answers and the plan limit refused with nothing written), what the public page
-- reads, delete-or-archive, privileges and tenancy.
begin;
select plan(85);

select tests.create_org('quiz-a') as org_a \gset
select tests.create_org('quiz-b') as org_b \gset

-- A submission as the public edge makes it: as anon.
create function pg_temp.submit(p_slug text, p_attempt text, p_email text, p_answers jsonb,
  p_first text default null, p_phone text default null) returns jsonb language plpgsql as $$
declare
  v_result jsonb;
begin
  perform tests.authenticate_as_anon();
  v_result := app.submit_quiz(p_slug, p_attempt, p_email, p_first, null, p_phone, p_answers, '2026-03-01 10:00:00+00');
  perform tests.clear_authentication();
  return v_result;
end;
$$;
grant execute on all functions in schema pg_temp to anon, authenticated;

-- Two questions: "size" (single; 0 or 10 points) and "tools" (multi, optional; 5, 5, -3).
-- Most points: 10 + (5 + 5) = 20.
create function pg_temp.questions() returns jsonb language sql as $$
  select '[{"id": "size", "text": "How big is your team?", "options": [{"id": "small", "label": "1-5", "points": 0}, {"id": "large", "label": "50+", "points": 10}]},
           {"id": "tools", "text": "What do you use?", "type": "multi", "required": false,
            "options": [{"id": "crm", "label": "A CRM", "points": 5}, {"id": "mail", "label": "Email", "points": 5}, {"id": "paper", "label": "Paper", "points": -3}]}]'::jsonb
$$;
create function pg_temp.bands() returns jsonb language sql as $$
  select '[{"min": 50, "max": 100, "label": "Ready", "message": "Let''s talk."}, {"min": 0, "max": 49, "label": "Early"}]'::jsonb
$$;
create function pg_temp.create_quiz(p_title text, p_questions jsonb, p_bands jsonb, p_status text default 'published') returns text
  language sql as $$
  insert into app.quizzes (title, questions, result_bands, status) values (p_title, p_questions, p_bands, p_status) returning id
$$;
grant execute on all functions in schema pg_temp to anon, authenticated;

-- ===========================================================================
-- Definitions
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select pg_temp.create_quiz('  Is your <team> ready?  ', pg_temp.questions(), pg_temp.bands()) as quiz_a \gset
select slug as slug_a, questions as questions_a, result_bands as bands_a from app.quizzes where id = :'quiz_a' \gset

select matches(:'quiz_a'::text, '^quiz_[0-9a-f]{24}$', 'quiz ids are quiz_ followed by 24 hex digits');
select is((select org_id from app.quizzes where id = :'quiz_a'), :'org_a'::text, 'a quiz belongs to the caller''s org');
select matches(:'slug_a'::text, '^is-your-team-ready-[0-9a-z]{12}$', 'the slug is the title''s words and 12 random base-36 characters');
select is((select title from app.quizzes where id = :'quiz_a'), 'Is your <team> ready?', 'the title is trimmed, otherwise stored as written');
select is(:'questions_a'::jsonb -> 0 -> 'type', '"single"', 'type defaults to single');
select is(:'questions_a'::jsonb -> 0 -> 'required', 'true', 'required defaults to true');
select is(:'questions_a'::jsonb -> 1 -> 'required', 'false', 'required: false is kept');
select is(:'bands_a'::jsonb -> 0 ->> 'label', 'Early', 'bands are stored sorted by min');
select is(:'bands_a'::jsonb -> 0 ->> 'message', '', 'a band without a message gets an empty one');
select matches(app.quiz_slug('¡Olé! ½'), '^ol-[0-9a-z]{12}$', 'characters outside a-z0-9 become dashes');
select matches(app.quiz_slug('***'), '^quiz-[0-9a-z]{12}$', 'a title with no letters or digits gives "quiz-…"');
select isnt(app.quiz_slug('Same'), app.quiz_slug('Same'), 'two quizzes with one title get different slugs');

update app.quizzes set title = 'Renamed' where id = :'quiz_a';
select is((select slug from app.quizzes where id = :'quiz_a'), :'slug_a'::text, 'renaming a quiz keeps its address');
select throws_ok(format($$ update app.quizzes set slug = 'chosen' where id = %L $$, :'quiz_a'), '42501', null,
  'a tenant cannot choose or change a slug');

select is(tests.refusal($$ select pg_temp.create_quiz('Q', '[]', pg_temp.bands()) $$), 'CR400 invalid_questions', 'no questions is refused');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', (select jsonb_agg(q) from generate_series(1, 51) g,
    lateral (select jsonb_set(pg_temp.questions() -> 0, '{id}', to_jsonb('q' || g)) q) x), pg_temp.bands()) $$),
  'CR400 invalid_questions', 'more than 50 questions are refused');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', pg_temp.questions() || (pg_temp.questions() -> 0), pg_temp.bands()) $$),
  'CR400 duplicate_question_id', 'a question id used twice is refused');
select is(tests.refusal_message($$ select pg_temp.create_quiz('Q', pg_temp.questions() || (pg_temp.questions() -> 0), pg_temp.bands()) $$),
  'Question id "size" is used twice', '… naming the id');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', '[{"id": "a", "text": "A?", "options": [{"id": "x", "label": "X", "points": 1}, {"id": "x", "label": "Y", "points": 2}]}]', pg_temp.bands()) $$),
  'CR400 duplicate_option_id', 'an option id used twice in a question is refused');
select is(tests.refusal_message($$ select pg_temp.create_quiz('Q', '[{"id": "a", "text": "A?", "options": [{"id": "x", "label": "X", "points": "ten"}]}]', pg_temp.bands()) $$),
  'Question "a", option "x": points must be a number between -1000000 and 1000000', 'points that are not a number are refused, naming question and option');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', '[{"id": "a", "text": "A?", "type": "ranked", "options": [{"id": "x", "label": "X", "points": 1}]}]', pg_temp.bands()) $$),
  'CR400 invalid_questions', 'an unknown question type is refused');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', '[{"id": "a", "text": "A?", "options": []}]', pg_temp.bands()) $$),
  'CR400 invalid_questions', 'a question without options is refused');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', '[{"id": "has space", "text": "A?", "options": [{"id": "x", "label": "X", "points": 1}]}]', pg_temp.bands()) $$),
  'CR400 invalid_questions', 'an id with a space is refused');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', pg_temp.questions(), '[{"min": 0, "max": 40, "label": "Low"}, {"min": 50, "max": 100, "label": "High"}]') $$),
  'CR400 result_bands_gap', 'bands with a gap are refused');
select is(tests.refusal_message($$ select pg_temp.create_quiz('Q', pg_temp.questions(), '[{"min": 0, "max": 40, "label": "Low"}, {"min": 50, "max": 100, "label": "High"}]') $$),
  'No band covers scores 41 to 49', '… naming the uncovered scores');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', pg_temp.questions(), '[{"min": 0, "max": 60, "label": "Low"}, {"min": 50, "max": 100, "label": "High"}]') $$),
  'CR400 result_bands_overlap', 'overlapping bands are refused');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', pg_temp.questions(), '[{"min": 0, "max": 99, "label": "Low"}]') $$),
  'CR400 result_bands_gap', 'bands that stop short of 100 are refused');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', pg_temp.questions(), '[{"min": 0, "max": 100.5, "label": "All"}]') $$),
  'CR400 invalid_result_bands', 'a band bound that is not a whole number 0-100 is refused');
select is(tests.refusal($$ select pg_temp.create_quiz('Q', pg_temp.questions(), '[{"min": 0, "max": 100}]') $$),
  'CR400 invalid_result_bands', 'a band without a label is refused');
select is(tests.refusal(format($$ update app.quizzes set result_bands = '[{"min": 1, "max": 100, "label": "x"}]' where id = %L $$, :'quiz_a')),
  'CR400 result_bands_gap', 'an update is checked like an insert');
select is(left(tests.refusal($$ select pg_temp.create_quiz('Q', pg_temp.questions(), pg_temp.bands(), 'live') $$), 5),
  '23514', 'status is draft or published');

select pg_temp.create_quiz('Draft', pg_temp.questions(), pg_temp.bands(), 'draft') as draft_a \gset
select slug as draft_slug from app.quizzes where id = :'draft_a' \gset
select tests.clear_authentication();

-- ===========================================================================
-- Scoring math
-- ===========================================================================
select is(app.score_quiz_answers(:'questions_a', '{"size": "large", "tools": ["crm", "mail"]}') - 'answers',
  '{"rawPoints": 20, "maxPoints": 20, "score": 100}', 'every best answer scores 100');
select is(app.score_quiz_answers(:'questions_a', '{"size": "small"}') - 'answers',
  '{"rawPoints": 0, "maxPoints": 20, "score": 0}', 'no points scores 0; an optional question may be skipped');
select is(app.score_quiz_answers(:'questions_a', '{"size": "large", "tools": ["paper", "crm"]}') ->> 'score', '60',
  '(10 + 5 - 3) / 20 = 60: negative points count');
select is(app.score_quiz_answers(:'questions_a', '{"size": "small", "tools": ["paper"]}') ->> 'score', '0',
  'a negative total is clamped to 0');
select is(app.score_quiz_answers(:'questions_a', '{"size": "large", "tools": "mail"}') ->> 'score', '75',
  '15 / 20 = 75; a single id for a multi question is one choice');
select is(app.score_quiz_answers('[{"id": "a", "text": "A?", "options": [{"id": "x", "label": "X", "points": 1}, {"id": "y", "label": "Y", "points": 2}]}]', '{"a": "x"}') ->> 'score', '50',
  '1 / 2 = 50');
select is(app.score_quiz_answers('[{"id": "a", "text": "A?", "options": [{"id": "x", "label": "X", "points": 1}, {"id": "y", "label": "Y", "points": 2}, {"id": "z", "label": "Z", "points": 1}]},
                                   {"id": "b", "text": "B?", "options": [{"id": "x", "label": "X", "points": 0}, {"id": "y", "label": "Y", "points": 1}]}]', '{"a": "x", "b": "x"}') ->> 'score', '33',
  '1 / 3 = 33.3 rounds to 33');
select is(app.score_quiz_answers('[{"id": "a", "text": "A?", "options": [{"id": "x", "label": "X", "points": 0}]}]', '{"a": "x"}') ->> 'score', '0',
  'a quiz that gives no points scores 0');
select is(app.score_quiz_answers(:'questions_a', '{"tools": ["paper", "crm", "crm"], "size": 1}'::jsonb || '{"size": "large"}') -> 'answers',
  '{"size": ["large"], "tools": ["crm", "paper"]}', 'answers are stored as lists of option ids, deduplicated, in the quiz''s order');

select is(tests.refusal(format($$ select app.score_quiz_answers(%L, '{"size": "large", "colour": "red"}') $$, :'questions_a')),
  'CR400 unknown_question', 'an unknown question is refused');
select is(tests.refusal_message(format($$ select app.score_quiz_answers(%L, '{"size": "huge"}') $$, :'questions_a')),
  'Question "size" has no option "huge"', 'an unknown option is refused, naming the question');
select is(tests.refusal(format($$ select app.score_quiz_answers(%L, '{"tools": ["crm"]}') $$, :'questions_a')),
  'CR400 missing_answer', 'an unanswered required question is refused');
select is(tests.refusal(format($$ select app.score_quiz_answers(%L, '{"size": []}') $$, :'questions_a')),
  'CR400 missing_answer', 'an empty answer to a required question is refused');
select is(tests.refusal_message(format($$ select app.score_quiz_answers(%L, '{"size": ["small", "large"]}') $$, :'questions_a')),
  'Question "size" takes one answer, not 2', 'two answers to a single question are refused, naming the question');
select is(tests.refusal(format($$ select app.score_quiz_answers(%L, '["large"]') $$, :'questions_a')),
  'CR400 invalid_answers', 'answers that are not an object are refused');

-- ===========================================================================
-- Submitting
-- ===========================================================================
select pg_temp.submit(:'slug_a', 'attempt-1', 'Ana@Example.com', '{"size": "large", "tools": ["crm", "paper"]}', 'Ana', '+1 555 0100') as first \gset
select :'first'::jsonb ->> 'leadId' as lead_ana \gset

select is(:'first'::jsonb - 'leadId' - 'submissionId', '{"score": 60, "band": {"label": "Ready", "message": "Let''s talk."}, "leadCreated": true, "duplicate": false}',
  'a submission answers with the score, its band, and that a lead was created');
select is((select row(first_name, email, phone, org_id)::text from app.leads where id = :'lead_ana'),
  row('Ana', 'Ana@Example.com', '+1 555 0100', :'org_a')::text, 'the lead is created in the quiz''s org from the contact details');
select is((select row(quiz_id, attempt_id, raw_points, max_points, score, band ->> 'label', created_at)::text from app.quiz_submissions where lead_id = :'lead_ana'),
  row(:'quiz_a', 'attempt-1', 12::numeric, 20::numeric, 60, 'Ready', '2026-03-01 10:00:00+00'::timestamptz)::text,
  'the submission is stored with its points, score, band and time');
select is((select row(data, external_id, occurred_at, source, actor)::text from app.events where lead_id = :'lead_ana' and type = 'quiz_completed'),
  row(jsonb_build_object('score', 60, 'quizId', :'quiz_a', 'band', 'Ready', 'submissionId', :'first'::jsonb ->> 'submissionId'),
      :'quiz_a' || ':attempt-1', '2026-03-01 10:00:00+00'::timestamptz, 'quiz', 'quiz:' || :'quiz_a')::text,
  'quiz_completed is recorded with score, quizId and band, the attempt as its external id, the quiz as actor');
select is((select row(quiz_completions, quiz_score)::text from app.lead_engagement where lead_id = :'lead_ana'), row(1, 60::numeric)::text,
  'the lead''s engagement rollup has the quiz score');

select is(pg_temp.submit(:'slug_a', 'attempt-1', 'someone-else@example.com', '{"size": "small"}') - 'submissionId',
  jsonb_build_object('leadId', :'lead_ana', 'score', 60, 'band', jsonb_build_object('label', 'Ready', 'message', 'Let''s talk.'), 'leadCreated', false, 'duplicate', true),
  'a repeated attempt answers with the first result and duplicate true');
select is((select count(*)::int from app.quiz_submissions where quiz_id = :'quiz_a'), 1, 'a repeated attempt stores nothing');
select is((select count(*)::int from app.events where type = 'quiz_completed' and org_id = :'org_a'), 1, 'a repeated attempt records no event');
select is((select count(*)::int from app.leads where email = 'someone-else@example.com'), 0, 'a repeated attempt creates no lead');

select pg_temp.submit(:'slug_a', 'attempt-2', 'ANA@example.com', '{"size": "small"}', 'Anabel') as second \gset
select is(:'second'::jsonb ->> 'leadId', :'lead_ana', 'the same email (any case) updates the existing lead');
select is((select row(first_name, phone)::text from app.leads where id = :'lead_ana'), row('Anabel', '+1 555 0100')::text,
  'given details are updated, missing ones kept');
select is((select row(quiz_completions, quiz_score)::text from app.lead_engagement where lead_id = :'lead_ana'), row(2, 0::numeric)::text,
  'the latest quiz score counts');
select is(pg_temp.submit(:'slug_a', 'attempt-3', 'no-name@example.com', '{"size": "small"}') ->> 'band', '{"label": "Early", "message": ""}',
  'a score of 0 falls in the 0-49 band');
select is((select first_name from app.leads where email = 'no-name@example.com'), 'no-name', 'without a name the lead is named from the email');

select is(tests.refusal(format($$ select pg_temp.submit(%L, 'bad-1', 'x@example.com', '{"size": "huge"}') $$, :'slug_a')), 'CR400 unknown_option',
  'invalid answers are refused with 400');
select is(tests.refusal(format($$ select pg_temp.submit(%L, 'bad-2', 'not-an-email', '{"size": "large"}') $$, :'slug_a')), 'CR400 invalid_email',
  'an invalid email is refused with the leads table''s rule (the upsert checks it, answered 400 invalid_email)');
select is(tests.refusal(format($$ select pg_temp.submit(%L, 'bad-3', ' ', '{"size": "large"}') $$, :'slug_a')), 'CR400 missing_email',
  'a missing email is refused');
select is(tests.refusal(format($$ select pg_temp.submit(%L, '', 'x@example.com', '{"size": "large"}') $$, :'slug_a')), 'CR400 invalid_attempt_id',
  'an empty attempt id is refused');
select is(tests.refusal(format($$ select pg_temp.submit(%L, 'd-1', 'x@example.com', '{"size": "large"}') $$, :'draft_slug')), 'CR404 quiz_not_found',
  'a draft quiz takes no submissions');
select is(tests.refusal($$ select pg_temp.submit('nope-000000000000', 'n-1', 'x@example.com', '{}') $$), 'CR404 quiz_not_found',
  'an unknown slug is 404');
select is((select count(*)::int from app.quiz_submissions where attempt_id like 'bad-%' or attempt_id like 'd-%'), 0, 'refused submissions store nothing');
select is((select count(*)::int from app.leads where email = 'x@example.com'), 0, 'refused submissions create no lead');

-- The plan's lead limit applies; leads the org has can still take quizzes.
select tests.create_org('quiz-c') as org_c \gset
insert into app.leads (org_id, first_name, email) select :'org_c', 'Lead', 'lead' || g || '@example.com' from generate_series(1, 100) g;
select tests.authenticate_as(:'org_c');
select pg_temp.create_quiz('Full', pg_temp.questions(), pg_temp.bands()) as quiz_c \gset
select slug as slug_c from app.quizzes where id = :'quiz_c' \gset
select tests.clear_authentication();
select is(tests.refusal(format($$ select pg_temp.submit(%L, 'c-1', 'newcomer@example.com', '{"size": "large"}') $$, :'slug_c')), 'CR402 lead_limit_reached',
  'a new lead beyond the plan''s limit is refused with 402');
select is((select count(*)::int from app.quiz_submissions where org_id = :'org_c'), 0, '… and nothing is stored');
select is(pg_temp.submit(:'slug_c', 'c-2', 'lead7@example.com', '{"size": "large"}') ->> 'score', '50', 'an existing lead at the limit can still take the quiz');

-- ===========================================================================
-- The public page's view, privileges, delete or archive, tenancy
-- ===========================================================================
select is(app.public_quiz(:'slug_a') -> 'questions' -> 0 -> 'options' -> 1, '{"id": "large", "label": "50+"}', 'the public view has option labels, not points');
select ok(not (app.public_quiz(:'slug_a') ? 'resultBands') and not (app.public_quiz(:'slug_a') ? 'id'), 'the public view has no bands and no ids of the org''s');
select is(app.public_quiz(:'draft_slug'), null, 'a draft quiz has no public view');
select ok(has_function_privilege('anon', 'app.submit_quiz(text, text, text, text, text, text, jsonb, timestamptz)', 'execute')
  and has_function_privilege('anon', 'app.public_quiz(text)', 'execute'), 'anon may submit and read the public view');
select ok(not has_function_privilege('anon', 'app.delete_quiz(text)', 'execute')
  and not has_table_privilege('anon', 'app.quizzes', 'select'), 'anon has nothing else');

select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.quizzes), 0, 'org B sees none of org A''s quizzes');
select is((select count(*)::int from app.quiz_submissions), 0, 'org B sees none of org A''s submissions');
select is(tests.refusal(format($$ select app.delete_quiz(%L) $$, :'quiz_a')), 'CR404 not_found', 'org B cannot delete org A''s quiz');
update app.quizzes set title = 'Taken' where id = :'quiz_a';
select tests.clear_authentication();
select is((select title from app.quizzes where id = :'quiz_a'), 'Renamed', 'org B cannot change org A''s quiz');

select tests.authenticate_as(:'org_a');
select is(app.delete_quiz(:'quiz_a'), jsonb_build_object('id', :'quiz_a', 'deleted', false, 'archived', true, 'submissions', 3),
  'a quiz with submissions is archived, not deleted');
select is(app.public_quiz(:'slug_a'), null, 'an archived quiz has no public page');
select is((select count(*)::int from app.quiz_submissions where quiz_id = :'quiz_a'), 3, 'its submissions stay');
select is(app.delete_quiz(:'draft_a') ->> 'deleted', 'true', 'a quiz nobody took is deleted');
select is((select count(*)::int from app.quizzes where id = :'draft_a'), 0, '… and gone');
select tests.clear_authentication();

select * from finish();
rollback;
