-- Quizzes: an org defines questions whose options carry points, and result bands that turn
-- a 0-100 score into a label and a message. A published quiz has a public, unguessable
-- address (/q/{slug}); whoever answers it gives their email, and one call
-- (app.submit_quiz) checks the answers, scores them, creates or updates the lead, stores
-- the submission and records a quiz_completed event, which feeds the lead's engagement,
-- score, automation and campaigns.
--
--   * app.quizzes: the definition, normalised and checked by a trigger for every writer;
--   * app.quiz_submissions: one row per attempt, unique per quiz and attempt id, so a
--     resubmitted attempt (a double click, a retry) answers with its first result;
--   * scoring: points of the chosen options / the most points the quiz can give, as 0-100;
--   * app.public_quiz (what the page shows), app.submit_quiz (taking it), app.delete_quiz.
-- The event is recorded through app.record_event (54_events.sql); a new lead is subject
-- to the plan's lead limit (78_plan_limits.sql).

-- ---------------------------------------------------------------------------
-- Quizzes
-- ---------------------------------------------------------------------------
create table app.quizzes (
  id text not null default app.new_id('quiz'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  title text not null constraint quizzes_title_check check (length(btrim(title)) between 1 and 200),
  description text constraint quizzes_description_check check (length(description) <= 2000),
  slug text not null constraint quizzes_slug_check check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) <= 60),
  questions jsonb not null,
  result_bands jsonb not null,
  status text not null default 'draft' constraint quizzes_status_check check (status in ('draft', 'published')),
  collect_name boolean not null default true,
  collect_phone boolean not null default false,
  -- Set instead of deleting a quiz that has submissions: those stay readable, the page goes.
  archived_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id)
);
comment on table app.quizzes is 'Quizzes per org: questions with scored options and result bands; published and not archived ones are public at /q/{slug}.';
comment on column app.quizzes.questions is '[{ id, text, type single|multi, required, options [{ id, label, points }] }], normalised by app.checked_quiz_questions.';
comment on column app.quizzes.result_bands is '[{ min, max, label, message }] covering 0-100, sorted by min (app.checked_quiz_bands).';
comment on column app.quizzes.slug is 'The public address (/q/{slug}): title words and 12 random base-36 characters; set once, never changed.';

create unique index quizzes_slug_key on app.quizzes (slug);
create index quizzes_org_created_idx on app.quizzes (org_id, created_at desc, id desc);

create trigger quizzes_touch_updated_at before update on app.quizzes
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.quizzes', 'Quizzes');

-- The slug is the database's: a tenant can neither choose nor change a quiz's address.
grant select, delete on app.quizzes to authenticated;
grant insert (org_id, title, description, questions, result_bands, status, collect_name, collect_phone) on app.quizzes to authenticated;
grant update (title, description, questions, result_bands, status, collect_name, collect_phone, archived_at) on app.quizzes to authenticated;
grant all on app.quizzes to service_role;

-- ---------------------------------------------------------------------------
-- Submissions
-- ---------------------------------------------------------------------------
create table app.quiz_submissions (
  id text not null default app.new_id('qs'),
  org_id text not null references app.orgs (id) on delete cascade,
  quiz_id text not null,
  lead_id text not null,
  attempt_id text not null constraint quiz_submissions_attempt_id_check check (length(attempt_id) between 1 and 200),
  -- { questionId: [optionId, …] } as checked: known questions and options only.
  answers jsonb not null constraint quiz_submissions_answers_check check (jsonb_typeof(answers) = 'object'),
  raw_points numeric not null,
  max_points numeric not null,
  score integer not null constraint quiz_submissions_score_check check (score between 0 and 100),
  -- The band as it read when the quiz was taken: { label, message }.
  band jsonb not null,
  created_at timestamptz not null default now(),
  primary key (org_id, id),
  -- Submissions outlive nothing they refer to: a quiz with submissions is archived, not
  -- deleted; a permanently deleted lead takes its submissions with it.
  constraint quiz_submissions_quiz_fkey foreign key (org_id, quiz_id) references app.quizzes (org_id, id),
  constraint quiz_submissions_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.quiz_submissions is 'One row per quiz attempt: the checked answers, points, 0-100 score and result band; unique per quiz and attempt id.';

create unique index quiz_submissions_attempt_key on app.quiz_submissions (org_id, quiz_id, attempt_id);
create index quiz_submissions_org_quiz_created_idx on app.quiz_submissions (org_id, quiz_id, created_at desc, id desc);
create index quiz_submissions_org_lead_idx on app.quiz_submissions (org_id, lead_id);

select app.make_org_private('app.quiz_submissions', 'Quiz submissions');

-- Written only by app.submit_quiz; tenants read them (and lose them with a deleted lead).
grant select on app.quiz_submissions to authenticated;
grant all on app.quiz_submissions to service_role;

-- ---------------------------------------------------------------------------
-- Slugs: the title made readable, plus 12 random base-36 characters (about 62 bits), so
-- a quiz's address can be shared but not guessed (the same helpers as proposal slugs).
-- ---------------------------------------------------------------------------
create function app.quiz_slug(p_title text) returns text
  language sql volatile
  set search_path = ''
  as $$
    select coalesce(nullif(app.slugify(p_title), ''), 'quiz') || '-' || app.random_base36(12)
  $$;
comment on function app.quiz_slug(text) is 'A new public slug for a quiz: its title in lower-case words joined by dashes (at most 40 characters, "quiz" when none) and 12 random base-36 characters.';
revoke execute on function app.quiz_slug(text) from public;
grant execute on function app.quiz_slug(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The definition's rules, as functions the trigger calls: each refusal names the
-- question, option or band and shows the shape that works.
-- ---------------------------------------------------------------------------
create function app._quiz_item_id(p_value jsonb) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case when pg_catalog.jsonb_typeof(p_value) in ('string', 'number')
                 and pg_catalog.btrim(p_value #>> '{}') ~ '^[A-Za-z0-9_.:-]{1,64}$'
           then pg_catalog.btrim(p_value #>> '{}') end
  $$;
comment on function app._quiz_item_id(jsonb) is 'A question or option id as text (1-64 letters, digits, _ . : -; numbers are accepted as text); null when not valid.';
revoke execute on function app._quiz_item_id(jsonb) from public;
grant execute on function app._quiz_item_id(jsonb) to authenticated, service_role;

create function app._text_between(p_value jsonb, p_min integer, p_max integer) returns boolean
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select coalesce(pg_catalog.jsonb_typeof(p_value) = 'string'
       and length(pg_catalog.btrim(p_value #>> '{}')) between p_min and p_max, false)
  $$;
comment on function app._text_between(jsonb, integer, integer) is 'True when the JSON value is a string whose trimmed length is within the bounds.';
revoke execute on function app._text_between(jsonb, integer, integer) from public;
grant execute on function app._text_between(jsonb, integer, integer) to authenticated, service_role;

create function app.checked_quiz_questions(p_questions jsonb) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_usage constant text := 'questions is a list of 1-50 questions: [{ "id": "size", "text": "How big is your team?", "type": "single", "required": true, "options": [{ "id": "small", "label": "1-5 people", "points": 5 }, { "id": "large", "label": "50+", "points": 20 }] }]. type is single (one option) or multi (any number); required defaults to true; each question has 1-30 options; question ids are unique in the quiz and option ids in their question (1-64 letters, digits, _ . : -); points are numbers (negative allowed).';
    v_question jsonb;
    v_option jsonb;
    v_at text;
    v_id text;
    v_option_id text;
    v_ids text[] := '{}'::text[];
    v_option_ids text[];
    v_options jsonb;
    v_out jsonb := '[]'::jsonb;
  begin
    if p_questions is null or pg_catalog.jsonb_typeof(p_questions) <> 'array'
       or pg_catalog.jsonb_array_length(p_questions) not between 1 and 50 then
      perform app.refuse(400, 'invalid_questions', 'questions must be a list of 1-50 questions', v_usage);
    end if;
    for v_question, v_at in
      select q.value, 'questions[' || (q.ord - 1) || ']' from pg_catalog.jsonb_array_elements(p_questions) with ordinality q(value, ord)
    loop
      if pg_catalog.jsonb_typeof(v_question) <> 'object' then
        perform app.refuse(400, 'invalid_questions', v_at || ' must be an object', v_usage);
      end if;
      v_id := app._quiz_item_id(v_question -> 'id');
      if v_id is null then
        perform app.refuse(400, 'invalid_questions', v_at || '.id must be 1-64 letters, digits, _ . : -', v_usage);
      end if;
      if v_id = any (v_ids) then
        perform app.refuse(400, 'duplicate_question_id', pg_catalog.format('Question id "%s" is used twice', v_id), v_usage);
      end if;
      v_ids := v_ids || v_id;
      v_at := pg_catalog.format('Question "%s"', v_id);
      if not app._text_between(v_question -> 'text', 1, 500) then
        perform app.refuse(400, 'invalid_questions', v_at || ': text must be 1-500 characters', v_usage);
      end if;
      if v_question ? 'type' and (v_question ->> 'type') is distinct from 'single' and (v_question ->> 'type') is distinct from 'multi' then
        perform app.refuse(400, 'invalid_questions', v_at || ': type must be single or multi', v_usage);
      end if;
      if v_question ? 'required' and pg_catalog.jsonb_typeof(v_question -> 'required') <> 'boolean' then
        perform app.refuse(400, 'invalid_questions', v_at || ': required must be true or false', v_usage);
      end if;
      if pg_catalog.jsonb_typeof(v_question -> 'options') is distinct from 'array'
         or pg_catalog.jsonb_array_length(v_question -> 'options') not between 1 and 30 then
        perform app.refuse(400, 'invalid_questions', v_at || ': options must be a list of 1-30 options', v_usage);
      end if;
      v_option_ids := '{}'::text[];
      v_options := '[]'::jsonb;
      for v_option in select o.value from pg_catalog.jsonb_array_elements(v_question -> 'options') o loop
        v_option_id := app._quiz_item_id(v_option -> 'id');
        if pg_catalog.jsonb_typeof(v_option) <> 'object' or v_option_id is null then
          perform app.refuse(400, 'invalid_questions', v_at || ': every option needs an id of 1-64 letters, digits, _ . : -', v_usage);
        end if;
        if v_option_id = any (v_option_ids) then
          perform app.refuse(400, 'duplicate_option_id', pg_catalog.format('%s: option id "%s" is used twice', v_at, v_option_id), v_usage);
        end if;
        v_option_ids := v_option_ids || v_option_id;
        if not app._text_between(v_option -> 'label', 1, 200) then
          perform app.refuse(400, 'invalid_questions', pg_catalog.format('%s, option "%s": label must be 1-200 characters', v_at, v_option_id), v_usage);
        end if;
        if pg_catalog.jsonb_typeof(v_option -> 'points') is distinct from 'number'
           or abs((v_option ->> 'points')::numeric) > 1000000 then
          perform app.refuse(400, 'invalid_points', pg_catalog.format('%s, option "%s": points must be a number between -1000000 and 1000000', v_at, v_option_id), v_usage);
        end if;
        v_options := v_options || pg_catalog.jsonb_build_object(
          'id', v_option_id, 'label', pg_catalog.btrim(v_option ->> 'label'), 'points', v_option -> 'points');
      end loop;
      v_out := v_out || pg_catalog.jsonb_build_object(
        'id', v_id,
        'text', pg_catalog.btrim(v_question ->> 'text'),
        'type', coalesce(v_question ->> 'type', 'single'),
        'required', coalesce((v_question ->> 'required')::boolean, true),
        'options', v_options);
    end loop;
    return v_out;
  end;
  $$;
comment on function app.checked_quiz_questions(jsonb) is 'A quiz''s questions checked (1-50, unique ids, single|multi, 1-30 options with unique ids, labels and numeric points) and normalised (type single and required true by default, unknown keys dropped); refuses (400) naming the question or option otherwise.';
revoke execute on function app.checked_quiz_questions(jsonb) from public;
grant execute on function app.checked_quiz_questions(jsonb) to authenticated, service_role;

create function app.checked_quiz_bands(p_bands jsonb) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_usage constant text := 'resultBands is a list of 1-20 bands that cover scores 0 to 100 exactly once, whole numbers, e.g. [{ "min": 0, "max": 49, "label": "Getting started", "message": "Here is where to begin…" }, { "min": 50, "max": 100, "label": "Ready", "message": "Let''s talk." }]. label is 1-100 characters, message up to 2000.';
    v_band jsonb;
    v_next integer := 0;
    v_out jsonb := '[]'::jsonb;
  begin
    if p_bands is null or pg_catalog.jsonb_typeof(p_bands) <> 'array'
       or pg_catalog.jsonb_array_length(p_bands) not between 1 and 20 then
      perform app.refuse(400, 'invalid_result_bands', 'resultBands must be a list of 1-20 bands', v_usage);
    end if;
    if exists (
      select from pg_catalog.jsonb_array_elements(p_bands) b
      where pg_catalog.jsonb_typeof(b) <> 'object'
         or pg_catalog.jsonb_typeof(b -> 'min') is distinct from 'number' or pg_catalog.jsonb_typeof(b -> 'max') is distinct from 'number'
         or (b ->> 'min')::numeric <> pg_catalog.trunc((b ->> 'min')::numeric) or (b ->> 'max')::numeric <> pg_catalog.trunc((b ->> 'max')::numeric)
         or (b ->> 'min')::numeric not between 0 and 100 or (b ->> 'max')::numeric not between 0 and 100
         or (b ->> 'min')::numeric > (b ->> 'max')::numeric) then
      perform app.refuse(400, 'invalid_result_bands', 'Every band needs whole-number min and max between 0 and 100, min <= max', v_usage);
    end if;
    if exists (
      select from pg_catalog.jsonb_array_elements(p_bands) b
      where not app._text_between(b -> 'label', 1, 100)
         or (b ? 'message' and b -> 'message' <> 'null'::jsonb and (pg_catalog.jsonb_typeof(b -> 'message') <> 'string' or length(b ->> 'message') > 2000))) then
      perform app.refuse(400, 'invalid_result_bands', 'Every band needs a label of 1-100 characters; message is text up to 2000 characters', v_usage);
    end if;
    for v_band in
      select b from pg_catalog.jsonb_array_elements(p_bands) b order by (b ->> 'min')::integer, (b ->> 'max')::integer
    loop
      if (v_band ->> 'min')::integer > v_next then
        perform app.refuse(400, 'result_bands_gap', pg_catalog.format('No band covers scores %s to %s', v_next, (v_band ->> 'min')::integer - 1), v_usage);
      elsif (v_band ->> 'min')::integer < v_next then
        perform app.refuse(400, 'result_bands_overlap', pg_catalog.format('Band "%s" (%s-%s) overlaps the band before it (scores from %s on are covered)',
          v_band ->> 'label', v_band ->> 'min', v_band ->> 'max', v_next), v_usage);
      end if;
      v_next := (v_band ->> 'max')::integer + 1;
      v_out := v_out || pg_catalog.jsonb_build_object(
        'min', (v_band ->> 'min')::integer, 'max', (v_band ->> 'max')::integer,
        'label', pg_catalog.btrim(v_band ->> 'label'), 'message', coalesce(v_band ->> 'message', ''));
    end loop;
    if v_next <= 100 then
      perform app.refuse(400, 'result_bands_gap', pg_catalog.format('No band covers scores %s to 100', v_next), v_usage);
    end if;
    return v_out;
  end;
  $$;
comment on function app.checked_quiz_bands(jsonb) is 'Result bands checked (whole-number min/max covering 0-100 with no gap or overlap, a label, an optional message) and returned sorted by min; refuses (400) naming the gap or overlap otherwise.';
revoke execute on function app.checked_quiz_bands(jsonb) from public;
grant execute on function app.checked_quiz_bands(jsonb) to authenticated, service_role;

-- A trigger, so every writer (API, Studio) is held to the rules above.
create function app._check_quiz() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if tg_op = 'INSERT' then
      new.slug := app.quiz_slug(new.title);
    end if;
    new.title := pg_catalog.btrim(new.title);
    new.questions := app.checked_quiz_questions(new.questions);
    new.result_bands := app.checked_quiz_bands(new.result_bands);
    return new;
  end;
  $$;
comment on function app._check_quiz() is 'Trigger: gives a new quiz its slug and checks and normalises questions and result bands on every write.';
revoke execute on function app._check_quiz() from public;

create trigger quizzes_check before insert or update of title, questions, result_bands on app.quizzes
  for each row execute function app._check_quiz();

-- ---------------------------------------------------------------------------
-- Scoring. Most points = for each question, its best option (single) or all its positive
-- options (multi). Score = points scored, clamped to 0..most, as a share of the most,
-- rounded to a whole 0-100; a quiz whose options give no positive points scores 0.
-- ---------------------------------------------------------------------------
create function app.score_quiz_answers(p_questions jsonb, p_answers jsonb) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_question jsonb;
    v_given jsonb;
    v_chosen text[];
    v_bad text;
    v_answers jsonb := '{}'::jsonb;
    v_raw numeric := 0;
    v_max numeric := 0;
    v_ids constant text := (select string_agg(q ->> 'id', ', ') from pg_catalog.jsonb_array_elements(p_questions) q);
  begin
    if p_answers is not null and pg_catalog.jsonb_typeof(p_answers) <> 'object' then
      perform app.refuse(400, 'invalid_answers', 'answers must be an object of question id -> option id(s)',
        pg_catalog.format('Send answers like { "%s": "<option id>" } (a list of option ids for multi questions). Questions: %s.',
          p_questions -> 0 ->> 'id', v_ids));
    end if;
    select string_agg(pg_catalog.format('"%s"', k), ', ' order by k) into v_bad
    from pg_catalog.jsonb_object_keys(coalesce(p_answers, '{}')) k
    where not exists (select from pg_catalog.jsonb_array_elements(p_questions) q where q ->> 'id' = k);
    if v_bad is not null then
      perform app.refuse(400, 'unknown_question', pg_catalog.format('This quiz has no question %s', v_bad),
        pg_catalog.format('Answer only this quiz''s questions: %s.', v_ids));
    end if;

    for v_question in select q from pg_catalog.jsonb_array_elements(p_questions) q loop
      v_given := p_answers -> (v_question ->> 'id');
      if v_given is not null and pg_catalog.jsonb_typeof(v_given) <> 'array' then
        v_given := pg_catalog.jsonb_build_array(v_given);
      end if;
      if exists (select from pg_catalog.jsonb_array_elements(v_given) g where pg_catalog.jsonb_typeof(g) not in ('string', 'number')) then
        perform app.refuse(400, 'invalid_answers', pg_catalog.format('Question "%s": answers must be option ids', v_question ->> 'id'),
          pg_catalog.format('Send the id of the chosen option (a list of ids for multi questions). Options: %s.',
            (select string_agg(o ->> 'id', ', ') from pg_catalog.jsonb_array_elements(v_question -> 'options') o)));
      end if;
      select coalesce(array_agg(distinct pg_catalog.btrim(g #>> '{}')) filter (where pg_catalog.btrim(g #>> '{}') <> ''), '{}')
      into v_chosen from pg_catalog.jsonb_array_elements(coalesce(v_given, '[]')) g;

      select string_agg(pg_catalog.format('"%s"', c), ', ' order by c) into v_bad
      from pg_catalog.unnest(v_chosen) c
      where not exists (select from pg_catalog.jsonb_array_elements(v_question -> 'options') o where o ->> 'id' = c);
      if v_bad is not null then
        perform app.refuse(400, 'unknown_option', pg_catalog.format('Question "%s" has no option %s', v_question ->> 'id', v_bad),
          pg_catalog.format('Choose from its options: %s.',
            (select string_agg(pg_catalog.format('%s (%s)', o ->> 'id', o ->> 'label'), ', ') from pg_catalog.jsonb_array_elements(v_question -> 'options') o)));
      end if;
      if cardinality(v_chosen) = 0 and coalesce((v_question ->> 'required')::boolean, true) then
        perform app.refuse(400, 'missing_answer', pg_catalog.format('Question "%s" needs an answer: %s', v_question ->> 'id', v_question ->> 'text'),
          'Answer every required question; GET the quiz page to see them.');
      end if;
      if cardinality(v_chosen) > 1 and coalesce(v_question ->> 'type', 'single') = 'single' then
        perform app.refuse(400, 'single_answer_expected', pg_catalog.format('Question "%s" takes one answer, not %s', v_question ->> 'id', cardinality(v_chosen)),
          'Send one option id for a single-choice question.');
      end if;

      if cardinality(v_chosen) > 0 then
        -- Stored in the quiz's option order.
        v_answers := v_answers || pg_catalog.jsonb_build_object(v_question ->> 'id',
          (select pg_catalog.jsonb_agg(o -> 'id' order by n) from pg_catalog.jsonb_array_elements(v_question -> 'options') with ordinality x(o, n)
           where o ->> 'id' = any (v_chosen)));
        v_raw := v_raw + (select coalesce(sum((o ->> 'points')::numeric), 0)
                          from pg_catalog.jsonb_array_elements(v_question -> 'options') o where o ->> 'id' = any (v_chosen));
      end if;
      v_max := v_max + (select case when coalesce(v_question ->> 'type', 'single') = 'single'
                                    then greatest(max((o ->> 'points')::numeric), 0)
                                    else coalesce(sum(greatest((o ->> 'points')::numeric, 0)), 0) end
                        from pg_catalog.jsonb_array_elements(v_question -> 'options') o);
    end loop;

    return pg_catalog.jsonb_build_object(
      'answers', v_answers, 'rawPoints', v_raw, 'maxPoints', v_max,
      'score', case when v_max > 0 then pg_catalog.round(100 * greatest(least(v_raw, v_max), 0) / v_max)::integer else 0 end);
  end;
  $$;
comment on function app.score_quiz_answers(jsonb, jsonb) is 'Checks answers ({ questionId: optionId | [optionIds] }) against checked questions and scores them: { answers, rawPoints, maxPoints, score 0-100 }. Refuses (400) an unknown question or option, a missing required answer, or several answers to a single question, naming the question.';
revoke execute on function app.score_quiz_answers(jsonb, jsonb) from public;
grant execute on function app.score_quiz_answers(jsonb, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- What the public page shows: never the points, the bands or anything of the org's.
-- ---------------------------------------------------------------------------
create function app.public_quiz(p_slug text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'title', q.title, 'description', q.description, 'slug', q.slug,
      'collectName', q.collect_name, 'collectPhone', q.collect_phone,
      'questions', (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
          'id', x ->> 'id', 'text', x ->> 'text', 'type', x ->> 'type', 'required', x -> 'required',
          'options', (select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', o ->> 'id', 'label', o ->> 'label') order by m)
                      from pg_catalog.jsonb_array_elements(x -> 'options') with ordinality y(o, m)))
          order by n)
        from pg_catalog.jsonb_array_elements(q.questions) with ordinality z(x, n)))
    from app.quizzes q
    where q.slug = p_slug and q.status = 'published' and q.archived_at is null
  $$;
comment on function app.public_quiz(text) is 'A published, unarchived quiz as its public page shows it (title, description, questions and option labels, which contact fields to ask for); null for any other slug.';
revoke execute on function app.public_quiz(text) from public;
grant execute on function app.public_quiz(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Taking a quiz: the public entry point.
-- ---------------------------------------------------------------------------
create function app.submit_quiz(
  p_slug text,
  p_attempt_id text,
  p_email text,
  p_first_name text,
  p_last_name text,
  p_phone text,
  p_answers jsonb,
  p_now timestamptz default now()
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_quiz app.quizzes;
    v_prior app.quiz_submissions;
    v_scored jsonb;
    v_score integer;
    v_band jsonb;
    v_email constant text := nullif(pg_catalog.btrim(p_email), '');
    v_first constant text := nullif(pg_catalog.btrim(p_first_name), '');
    v_last constant text := nullif(pg_catalog.btrim(p_last_name), '');
    v_phone constant text := nullif(pg_catalog.btrim(p_phone), '');
    v_lead_id text;
    v_created boolean := false;
    v_submission_id text;
  begin
    -- key share: a concurrent delete of the quiz waits for this attempt (and then archives).
    select q.* into v_quiz from app.quizzes q
    where q.slug = p_slug and q.status = 'published' and q.archived_at is null
    for key share;
    if v_quiz.id is null then
      perform app.refuse(404, 'quiz_not_found', 'There is no published quiz at this address',
        'Check the link; the quiz may have been unpublished or removed.');
    end if;
    if p_attempt_id is null or length(p_attempt_id) not between 1 and 200 then
      perform app.refuse(400, 'invalid_attempt_id', 'attemptId must be 1-200 characters',
        'Send one attemptId per attempt (a UUID is ideal) and reuse it when retrying, or leave it out.');
    end if;

    -- One attempt at a time: a double submit waits here and then finds the first result.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(v_quiz.id || ':' || p_attempt_id, 0));
    select s.* into v_prior from app.quiz_submissions s
    where s.org_id = v_quiz.org_id and s.quiz_id = v_quiz.id and s.attempt_id = p_attempt_id;
    if v_prior.id is not null then
      return pg_catalog.jsonb_build_object('leadId', v_prior.lead_id, 'submissionId', v_prior.id,
        'score', v_prior.score, 'band', v_prior.band, 'leadCreated', false, 'duplicate', true);
    end if;

    v_scored := app.score_quiz_answers(v_quiz.questions, p_answers);
    v_score := (v_scored ->> 'score')::integer;
    select pg_catalog.jsonb_build_object('label', b ->> 'label', 'message', b ->> 'message') into v_band
    from pg_catalog.jsonb_array_elements(v_quiz.result_bands) b
    where v_score between (b ->> 'min')::integer and (b ->> 'max')::integer;

    if v_email is null then
      perform app.refuse(400, 'missing_email', 'email is required', 'Send the email address of the person taking the quiz.');
    end if;

    -- Act as the quiz's org; the lead's history records the quiz as the actor.
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_quiz.org_id, 'actor', 'quiz:' || v_quiz.id, 'source', 'quiz')::text, true);

    -- Create or update the lead by email (app.upsert_lead_by_email, 40_leads.sql): a
    -- workspace at its plan's limit still takes quizzes from leads it has; a new lead over
    -- the plan is refused (402).
    select u.lead_id, u.created into v_lead_id, v_created
    from app.upsert_lead_by_email(v_quiz.org_id, v_email,
      pg_catalog.jsonb_build_object('firstName', v_first, 'lastName', v_last, 'phone', v_phone)) u;

    insert into app.quiz_submissions (org_id, quiz_id, lead_id, attempt_id, answers, raw_points, max_points, score, band, created_at)
    values (v_quiz.org_id, v_quiz.id, v_lead_id, p_attempt_id, v_scored -> 'answers',
            (v_scored ->> 'rawPoints')::numeric, (v_scored ->> 'maxPoints')::numeric, v_score, v_band, p_now)
    returning id into v_submission_id;

    -- The sender's id is the attempt, scoped to the quiz: attempt ids only need to be
    -- unique per quiz, and two quizzes of one org must not swallow each other's events.
    perform app.record_event(v_lead_id, 'quiz_completed',
      pg_catalog.jsonb_build_object('score', v_score, 'quizId', v_quiz.id, 'band', v_band ->> 'label', 'submissionId', v_submission_id),
      p_now, v_quiz.id || ':' || p_attempt_id);

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return pg_catalog.jsonb_build_object('leadId', v_lead_id, 'submissionId', v_submission_id,
      'score', v_score, 'band', v_band, 'leadCreated', v_created, 'duplicate', false);
  end;
  $$;
comment on function app.submit_quiz(text, text, text, text, text, text, jsonb, timestamptz) is 'Takes a published quiz: checks and scores the answers, creates or updates the lead by email in the quiz''s org (plan limit applies), stores the submission and records quiz_completed { score, quizId, band }. A repeated attempt id answers with the first result (duplicate true) and writes nothing.';
revoke execute on function app.submit_quiz(text, text, text, text, text, text, jsonb, timestamptz) from public;
grant execute on function app.submit_quiz(text, text, text, text, text, text, jsonb, timestamptz) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Deleting a quiz: gone when nobody took it; archived (page gone, submissions kept)
-- when somebody did, because a submission is part of its lead's history.
-- ---------------------------------------------------------------------------
create function app.delete_quiz(p_id text) returns jsonb
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_found text;
    v_submissions integer;
  begin
    select q.id into v_found from app.quizzes q where q.id = p_id for update;
    if v_found is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Quiz %s was not found', p_id),
        'Check the id: GET /api/openclaw/quizzes lists your quizzes; another workspace''s quizzes are not visible with this key.');
    end if;
    select count(*) into v_submissions from app.quiz_submissions s where s.quiz_id = p_id;
    if v_submissions > 0 then
      update app.quizzes q set archived_at = coalesce(q.archived_at, pg_catalog.now()) where q.id = p_id;
      return pg_catalog.jsonb_build_object('id', p_id, 'deleted', false, 'archived', true, 'submissions', v_submissions);
    end if;
    delete from app.quizzes q where q.id = p_id;
    return pg_catalog.jsonb_build_object('id', p_id, 'deleted', true, 'archived', false, 'submissions', 0);
  end;
  $$;
comment on function app.delete_quiz(text) is 'Deletes one of the caller''s quizzes, or archives it when it has submissions (they stay readable; its public page answers 404). Returns { id, deleted, archived, submissions }.';
revoke execute on function app.delete_quiz(text) from public;
grant execute on function app.delete_quiz(text) to authenticated, service_role;
