-- Foundation: the `app` schema and the helpers every domain uses.
-- `app` is not exposed through Supabase's REST API: the only way in is our HTTP edge
-- (or a human in Studio), and row-level security decides what each org sees.
--   * app.new_id: ids made in Postgres (rp_…, stg_…);
--   * app.current_org_id: the one tenant helper every policy reads;
--   * app.current_member_role, app.current_member_id, app.can_write, app.can_administer and
--     the raising forms app.ensure_can_write, app.ensure_can_administer: the role rules
--     (a viewer reads and writes nothing; members and keys are managed by owners and admins);
--   * app.refuse: the error the HTTP edge turns into a status, code and hint;
--   * app._touch_updated_at: the trigger behind every updated_at column;
--   * app.jsonb_merge_patch: the merge behind PATCHes of crmData and customFields;
--   * app.json_fits: the size and depth cap of every free-form JSON column;
--   * app.make_org_private: the standard "own org only" RLS policies for a table;
--   * app.make_read_only_for_viewers: the restrictive write policies of the role rules, which
--     98_roles.sql puts on every tenant table;
--   * app.slugify, app.random_base36: public slugs (proposal pages in 66_proposals.sql,
--     quiz pages in 84_quizzes.sql);
--   * app.current_actor, app.current_source: who and what is making a change (the defaults
--     of a lead's source and created_by, and of the stage history, touchpoints, notes,
--     feedback and events).

create schema if not exists app;
grant usage on schema app to anon, authenticated, service_role;

-- Privileges are explicit: nothing we create is executable by public by default.
alter default privileges in schema app revoke execute on functions from public;
alter default privileges in schema app revoke all on tables from public;

-- ---------------------------------------------------------------------------
-- Identifiers: readable prefix + 24 random hex digits (96 bits), made in Postgres so
-- rows inserted from Studio or SQL get the same ids as rows from the API.
-- ---------------------------------------------------------------------------
create function app.new_id(p_prefix text) returns text
  language sql volatile parallel safe
  return p_prefix || '_' || pg_catalog.substr(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 1, 24);
comment on function app.new_id(text) is 'A new random id such as rp_3f9c0a…: the prefix names the kind of record.';
revoke execute on function app.new_id(text) from public;
grant execute on function app.new_id(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The one tenant helper. Policies call it as (select app.current_org_id()) so it is
-- evaluated once per statement, not once per row.
-- ---------------------------------------------------------------------------
-- A SQL-standard body (`return …`: bound when created, so no search_path applies) without a SET
-- clause: the planner inlines it, where a function with a SET clause is parsed and planned
-- again by every statement that calls it (a lead's creation called this one 13 times). The
-- other helpers a write calls for each row are written the same way (app.new_id above,
-- app.current_member_role, app.json_fits, app.current_actor and app.current_source below).
create function app.current_org_id() returns text
  language sql stable parallel safe
  return nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'org_id';
comment on function app.current_org_id() is 'The org of the current request, from the org_id claim of request.jwt.claims; null outside a tenant request.';
revoke execute on function app.current_org_id() from public;
grant execute on function app.current_org_id() to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Roles. A person acts with the role of their membership (app.org_members, 24_members.sql):
-- a browser session and a Supabase Auth JWT carry it as the member_role claim, next to
-- org_id and member_id. Claims that name an org but no member role come from the org's own
-- machinery: an API key (key_id), an inbound webhook, a quiz, an automation rule. Keys have
-- no roles: they act with an owner's rights. So:
--   owner   everything, including making, changing and removing owners;
--   admin   everything else, including managing members and API keys;
--   member  reads and writes the workspace's data;
--   viewer  reads everything of its org and writes nothing.
-- Policies call these as (select app.…()) so each is evaluated once per statement.
-- ---------------------------------------------------------------------------
create function app.current_member_role() returns text
  language sql stable parallel safe
  return case
    when nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ? 'member_role'
      then nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'member_role'
    when nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'org_id' is not null then 'owner'
  end;
comment on function app.current_member_role() is 'The role the current request acts with: the member_role claim of a person (owner, admin, member, viewer), owner for claims that name an org without one (API keys, inbound webhooks, automation), null outside a tenant request.';
revoke execute on function app.current_member_role() from public;
grant execute on function app.current_member_role() to anon, authenticated, service_role;

create function app.current_member_id() returns text
  language sql stable parallel safe
  set search_path = ''
  as $$
    select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'member_id'
  $$;
comment on function app.current_member_id() is 'The member the current request acts as (member_id claim of a browser session or a Supabase Auth JWT); null for API keys and outside a request.';
revoke execute on function app.current_member_id() from public;
grant execute on function app.current_member_id() to anon, authenticated, service_role;

create function app.current_session_id() returns text
  language sql stable parallel safe
  set search_path = ''
  as $$
    select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'session_id'
  $$;
comment on function app.current_session_id() is 'The browser session the current request comes with (session_id claim); null for API keys, Supabase Auth JWTs and outside a request.';
revoke execute on function app.current_session_id() from public;
grant execute on function app.current_session_id() to authenticated, service_role;

create function app.current_key_id() returns text
  language sql stable parallel safe
  set search_path = ''
  as $$
    select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'key_id'
  $$;
comment on function app.current_key_id() is 'The API key the current request authenticated with (key_id claim); null for people and outside a request.';
revoke execute on function app.current_key_id() from public;
grant execute on function app.current_key_id() to authenticated, service_role;

create function app.can_write() returns boolean
  language sql stable parallel safe
  set search_path = ''
  as $$
    select coalesce(app.current_member_role() in ('owner', 'admin', 'member'), false)
  $$;
comment on function app.can_write() is 'Whether the current request may change its org''s data: owners, admins, members and API keys may; viewers (and unknown roles) may not.';
revoke execute on function app.can_write() from public;
grant execute on function app.can_write() to anon, authenticated, service_role;

create function app.can_administer() returns boolean
  language sql stable parallel safe
  set search_path = ''
  as $$
    select coalesce(app.current_member_role() in ('owner', 'admin'), false)
  $$;
comment on function app.can_administer() is 'Whether the current request may manage its org''s members and API keys: owners, admins and API keys may.';
revoke execute on function app.can_administer() from public;
grant execute on function app.can_administer() to anon, authenticated, service_role;

-- The forms the restrictive policies call: true, or the refusal with its hint. A policy that
-- only filtered would turn a viewer's PATCH into "not found"; this says what is wrong. The
-- error is raised at the first row a write reaches, so a write that touches no row of the
-- org (another org's id) still answers as before.
create function app.ensure_can_write() returns boolean
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_role constant text := app.current_member_role();
  begin
    if coalesce(v_role in ('owner', 'admin', 'member'), false) then
      return true;
    end if;
    perform app.refuse(403, 'read_only_role',
      case when v_role = 'viewer' then 'Your role in this workspace is viewer: it reads everything and changes nothing'
           else pg_catalog.format('The role %s may not change anything in this workspace', coalesce(v_role, '(none)')) end,
      'Ask an owner or admin of the workspace for the member role: PATCH /api/openclaw/members/{your member id} { "role": "member" } (GET /api/openclaw/members lists the members).');
    return false;
  end;
  $$;
comment on function app.ensure_can_write() is 'true when the current request may change its org''s data (app.can_write); otherwise raises 403 read_only_role with a hint. What the restrictive write policies call.';
revoke execute on function app.ensure_can_write() from public;
grant execute on function app.ensure_can_write() to anon, authenticated, service_role;

create function app.ensure_can_administer() returns boolean
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_role constant text := app.current_member_role();
  begin
    if coalesce(v_role in ('owner', 'admin'), false) then
      return true;
    end if;
    perform app.refuse(403, 'admin_role_required',
      pg_catalog.format('Managing members and API keys needs the owner or admin role; yours is %s', coalesce(v_role, '(none)')),
      'Ask an owner or admin of the workspace to do it, or to make you an admin: PATCH /api/openclaw/members/{id} { "role": "admin" }. An API key acts with an owner''s rights.');
    return false;
  end;
  $$;
comment on function app.ensure_can_administer() is 'true when the current request may manage its org''s members and API keys (app.can_administer); otherwise raises 403 admin_role_required with a hint.';
revoke execute on function app.ensure_can_administer() from public;
grant execute on function app.ensure_can_administer() to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Errors the edge translates. SQLSTATE 'CRnnn' means "answer HTTP nnn"; detail carries
-- the machine-readable code and hint tells the caller how to fix the request.
-- ---------------------------------------------------------------------------
create function app.refuse(p_status integer, p_code text, p_message text, p_hint text)
  returns void
  -- volatile on purpose: an immutable raiser could be folded at plan time
  language plpgsql volatile
  set search_path = ''
  as $$
  begin
    raise exception using
      errcode = 'CR' || p_status::text,
      message = p_message,
      detail = p_code,
      hint = p_hint;
  end;
  $$;
comment on function app.refuse(integer, text, text, text) is 'Raises an error the HTTP edge answers with status p_status, code p_code and the hint.';
revoke execute on function app.refuse(integer, text, text, text) from public;
grant execute on function app.refuse(integer, text, text, text) to anon, authenticated, service_role;

-- The same with details the agent can act on (the id of the record a request collides with,
-- the calls to make next): detail is then a JSON object with the code, the edge adds
-- p_extra's keys to the error and its next_steps array to the reply's next_steps.
create function app.refuse(p_status integer, p_code text, p_message text, p_hint text, p_extra jsonb)
  returns void
  language plpgsql volatile
  set search_path = ''
  as $$
  begin
    raise exception using
      errcode = 'CR' || p_status::text,
      message = p_message,
      detail = (coalesce(p_extra, '{}'::jsonb) operator(pg_catalog.||) pg_catalog.jsonb_build_object('code', p_code))::text,
      hint = p_hint;
  end;
  $$;
comment on function app.refuse(integer, text, text, text, jsonb) is 'Raises an error the HTTP edge answers with status p_status, code p_code and the hint, plus p_extra''s keys on the error (next_steps: on the reply).';
revoke execute on function app.refuse(integer, text, text, text, jsonb) from public;
grant execute on function app.refuse(integer, text, text, text, jsonb) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- updated_at, kept by the database for every writer.
-- ---------------------------------------------------------------------------
create function app._touch_updated_at() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    new.updated_at := pg_catalog.now();
    return new;
  end;
  $$;
comment on function app._touch_updated_at() is 'Trigger: stamps updated_at on every update.';
revoke execute on function app._touch_updated_at() from public;

-- ---------------------------------------------------------------------------
-- Shallow JSON merge used for crmData and customFields: keys in the patch overwrite,
-- keys set to null in the patch are removed, everything else is kept.
-- ---------------------------------------------------------------------------
create function app.jsonb_merge_patch(p_target jsonb, p_patch jsonb) returns jsonb
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select (coalesce(p_target, '{}'::jsonb) operator(pg_catalog.||) coalesce(p_patch, '{}'::jsonb))
      operator(pg_catalog.-) coalesce(
        (select array_agg(e.key) from pg_catalog.jsonb_each(p_patch) e where e.value = 'null'::jsonb),
        '{}'::text[])
  $$;
comment on function app.jsonb_merge_patch(jsonb, jsonb) is 'Merges a patch object into a target object (one level); null values in the patch delete the key.';
revoke execute on function app.jsonb_merge_patch(jsonb, jsonb) from public;
grant execute on function app.jsonb_merge_patch(jsonb, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Caps on free-form JSON columns (crmData, customFields, metadata, context, …), checked by
-- each column's <table>_<column>_size constraint, so Studio and SQL writers are held to the
-- numbers the API documents (functions/http/caps.ts; the edge names the field and the cap).
-- Size is the JSON text as Postgres prints it, in UTF-8 bytes; depth counts nested objects
-- and arrays, the value itself being 1.
-- ---------------------------------------------------------------------------
create function app.json_fits(p_value jsonb, p_max_bytes integer, p_max_depth integer) returns boolean
  language sql immutable parallel safe
  return pg_catalog.octet_length(p_value::text) <= p_max_bytes
    and not pg_catalog.jsonb_path_exists(p_value, pg_catalog.format(
      'strict $.**{%s to last} ? (@.type() == "object" || @.type() == "array")', p_max_depth)::pg_catalog.jsonpath);
comment on function app.json_fits(jsonb, integer, integer) is 'Whether a JSON value is at most p_max_bytes bytes as text (UTF-8, as Postgres prints it) and nests objects and arrays at most p_max_depth deep.';
revoke execute on function app.json_fits(jsonb, integer, integer) from public;
grant execute on function app.json_fits(jsonb, integer, integer) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- One way to make a table private to its org: row-level security enabled and forced, one
-- policy per command, all through app.current_org_id(). Tables whose rows simply belong to
-- their org call this instead of spelling out the same four policies; a table whose rules
-- differ (read-only to tenants, shared reference data) writes its own. Grants stay with
-- each table: some are per column.
-- ---------------------------------------------------------------------------
create function app.make_org_private(p_table regclass, p_rows text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_mine constant text := '(org_id = (select app.current_org_id()))';
  begin
    execute pg_catalog.format('alter table %s enable row level security', p_table);
    execute pg_catalog.format('alter table %s force row level security', p_table);
    execute pg_catalog.format('create policy %I on %s for select to authenticated using %s',
      p_rows || ' are visible to their own org', p_table, v_mine);
    execute pg_catalog.format('create policy %I on %s for insert to authenticated with check %s',
      p_rows || ' can be created in the caller''s org', p_table, v_mine);
    execute pg_catalog.format('create policy %I on %s for update to authenticated using %s with check %s',
      p_rows || ' can be changed by their own org', p_table, v_mine, v_mine);
    execute pg_catalog.format('create policy %I on %s for delete to authenticated using %s',
      p_rows || ' can be deleted by their own org', p_table, v_mine);
  end;
  $$;
comment on function app.make_org_private(regclass, text) is 'Enables and forces RLS on a table with an org_id column: select/insert/update/delete only within app.current_org_id(), named after the rows ("Notes are visible to their own org").';
revoke execute on function app.make_org_private(regclass, text) from public;

-- ---------------------------------------------------------------------------
-- The role rule on a table: three restrictive policies (ANDed with whatever permissive
-- policies let the org write) that refuse inserts, updates and deletes from a role that may
-- not write. 98_roles.sql applies it to every tenant table; a schema guard checks that none is
-- missing. Idempotent: a table that has them is left as it is.
-- ---------------------------------------------------------------------------
create function app.make_read_only_for_viewers(p_table regclass) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_check constant text := '((select app.ensure_can_write()))';
    v_policy record;
  begin
    for v_policy in
      select * from (values
        ('Only roles that write add rows', 'insert', null, v_check),
        ('Only roles that write change rows', 'update', v_check, v_check),
        ('Only roles that write delete rows', 'delete', v_check, null)) as p (name, command, using_expr, check_expr)
    loop
      if not exists (select from pg_catalog.pg_policy p where p.polrelid = p_table and p.polname = v_policy.name) then
        execute pg_catalog.format('create policy %I on %s as restrictive for %s to authenticated%s%s',
          v_policy.name, p_table, v_policy.command,
          coalesce(' using ' || v_policy.using_expr, ''), coalesce(' with check ' || v_policy.check_expr, ''));
      end if;
    end loop;
  end;
  $$;
comment on function app.make_read_only_for_viewers(regclass) is 'Adds the restrictive insert, update and delete policies through app.ensure_can_write() to a table (once): roles that may not write (viewers) change nothing in it, whatever the permissive policies allow.';
revoke execute on function app.make_read_only_for_viewers(regclass) from public;

-- ---------------------------------------------------------------------------
-- Slugs for public pages: readable (a company, name or title) and unguessable (random
-- base36 characters appended by the page's own slug function).
-- ---------------------------------------------------------------------------
create function app.slugify(p_text text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select pg_catalog.rtrim(left(pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(coalesce(p_text, '')), '[^a-z0-9]+', '-', 'g'), '-'), 40), '-')
  $$;
comment on function app.slugify(text) is 'Lowercase letters and digits joined by single dashes, at most 40 characters ("Cool Startup, Inc." → cool-startup-inc).';
revoke execute on function app.slugify(text) from public;
grant execute on function app.slugify(text) to authenticated, service_role;

create function app.random_base36(p_length integer) returns text
  language plpgsql volatile parallel safe
  set search_path = ''
  as $$
  declare
    v_alphabet constant text := '0123456789abcdefghijklmnopqrstuvwxyz';
    v_bytes bytea;
    v_byte integer;
    v_result text := '';
  begin
    -- Two UUIDs give 28 random bytes (bytes 6 and 8 of each carry the version and variant
    -- bits); bytes of 252 and above are skipped (252 = 7 * 36), so every character is
    -- equally likely. plpgsql keeps its plans: a call costs microseconds (a new lead's
    -- proposal slug draws one).
    while pg_catalog.length(v_result) < p_length loop
      v_bytes := pg_catalog.uuid_send(pg_catalog.gen_random_uuid()) operator(pg_catalog.||) pg_catalog.uuid_send(pg_catalog.gen_random_uuid());
      for v_i in 0..31 loop
        continue when v_i % 16 in (6, 8);
        v_byte := pg_catalog.get_byte(v_bytes, v_i);
        continue when v_byte >= 252;
        v_result := v_result || pg_catalog.substr(v_alphabet, v_byte % 36 + 1, 1);
        exit when pg_catalog.length(v_result) = p_length;
      end loop;
    end loop;
    return v_result;
  end;
  $$;
comment on function app.random_base36(integer) is 'p_length random characters from 0-9a-z (uniform; from gen_random_uuid).';
revoke execute on function app.random_base36(integer) from public;
grant execute on function app.random_base36(integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Who and what is acting. API requests carry key_id in their claims, a member's (a browser
-- session's, a Supabase Auth user's) member_id; inbound webhooks and automation set
-- actor/source claims of their own; a human in Studio or a cron job
-- has no claims and shows up as the database user with source 'sql'.
-- ---------------------------------------------------------------------------
create function app.current_actor() returns text
  language sql stable
  return coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'actor',
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'key_id',
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'member_id',
    session_user::text);
comment on function app.current_actor() is 'Who is making the current change: the actor claim, else the API key id, else the member id (a browser session or a Supabase Auth user), else the database user.';
revoke execute on function app.current_actor() from public;
grant execute on function app.current_actor() to anon, authenticated, service_role;

create function app.current_source() returns text
  language sql stable
  return coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'source',
    case when nullif(pg_catalog.current_setting('request.jwt.claims', true), '') is null then 'sql' else 'api' end);
comment on function app.current_source() is 'Where the current change comes from: the source claim, else api for requests and sql for direct database work.';
revoke execute on function app.current_source() from public;
grant execute on function app.current_source() to anon, authenticated, service_role;
