-- Helpers every write of a request calls, made cheap. app.current_org_id, current_member_role,
-- current_actor, current_source, new_id and json_fits get SQL-standard bodies (`return …`,
-- bound when created) without a SET clause, so the planner inlines them: with the SET clause
-- each statement parsed and planned them again (a lead's creation called current_org_id 13
-- times). app.lead_fields and app.lead_fields_problem become PL/pgSQL, whose plans are kept
-- per session: as SQL with a SET clause they were parsed and planned on every lead written
-- alone (about 0.5 and 0.4 ms).
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand. Reference data changes (inserts, updates) are not diffed: add them here.

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app.current_actor()
 RETURNS text
 LANGUAGE sql
 STABLE
RETURN COALESCE(((NULLIF(current_setting('request.jwt.claims'::text, true), ''::text))::jsonb ->> 'actor'::text), ((NULLIF(current_setting('request.jwt.claims'::text, true), ''::text))::jsonb ->> 'key_id'::text), ((NULLIF(current_setting('request.jwt.claims'::text, true), ''::text))::jsonb ->> 'member_id'::text), (SESSION_USER)::text)
;

CREATE OR REPLACE FUNCTION app.current_member_role()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
RETURN CASE WHEN ((NULLIF(current_setting('request.jwt.claims'::text, true), ''::text))::jsonb ? 'member_role'::text) THEN ((NULLIF(current_setting('request.jwt.claims'::text, true), ''::text))::jsonb ->> 'member_role'::text) WHEN (((NULLIF(current_setting('request.jwt.claims'::text, true), ''::text))::jsonb ->> 'org_id'::text) IS NOT NULL) THEN 'owner'::text ELSE NULL::text END
;

CREATE OR REPLACE FUNCTION app.current_org_id()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
RETURN ((NULLIF(current_setting('request.jwt.claims'::text, true), ''::text))::jsonb ->> 'org_id'::text)
;

CREATE OR REPLACE FUNCTION app.current_source()
 RETURNS text
 LANGUAGE sql
 STABLE
RETURN COALESCE(((NULLIF(current_setting('request.jwt.claims'::text, true), ''::text))::jsonb ->> 'source'::text), CASE WHEN (NULLIF(current_setting('request.jwt.claims'::text, true), ''::text) IS NULL) THEN 'sql'::text ELSE 'api'::text END)
;

CREATE OR REPLACE FUNCTION app.json_fits(p_value jsonb, p_max_bytes integer, p_max_depth integer)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN ((octet_length((p_value)::text) <= p_max_bytes) AND (NOT jsonb_path_exists(p_value, (format('strict $.**{%s to last} ? (@.type() == "object" || @.type() == "array")'::text, p_max_depth))::jsonpath)))
;

CREATE OR REPLACE FUNCTION app.lead_fields(p_item jsonb, p_drop_nulls boolean DEFAULT false)
 RETURNS jsonb
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO ''
AS $function$
  begin
    return (
      select coalesce(pg_catalog.jsonb_object_agg(g.key,
               case when pg_catalog.jsonb_typeof(g.value) = 'string'
                    then pg_catalog.to_jsonb(pg_catalog.btrim(g.value #>> '{}', E' \t\r\n')) else g.value end), '{}'::jsonb)
      from (
        select e.key, e.value from pg_catalog.jsonb_each(p_item) e
        where e.key in ('firstName', 'lastName', 'email', 'organizationName', 'businessType', 'phone', 'tier', 'status',
                        'stage', 'customFields', 'crmData', 'title', 'seniority', 'companyName', 'linkedinUrl',
                        'companySize', 'companyRevenue', 'displayName')
        union all
        select 'organizationName', p_item -> 'clinicName' where p_item ? 'clinicName' and not p_item ? 'organizationName'
        union all
        select 'businessType', p_item -> 'practiceType' where p_item ? 'practiceType' and not p_item ? 'businessType'
      ) g
      where not (p_drop_nulls and g.value = 'null'::jsonb));
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.lead_fields_problem(p_fields jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO ''
AS $function$
  begin
    return (
      select coalesce(
        case
          when p_fields -> 'email' is null or p_fields -> 'email' = 'null'::jsonb then pg_catalog.jsonb_build_object(
            'status', 400, 'code', 'missing_email', 'field', 'email', 'message', 'email is required: leads are matched by email',
            'hint', 'Send the lead''s email, e.g. { "email": "jane@acme.com", "firstName": "Jane" }.')
          when pg_catalog.jsonb_typeof(p_fields -> 'email') <> 'string' or length(p_fields ->> 'email') > 320
               or (p_fields ->> 'email') !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then pg_catalog.jsonb_build_object(
            'status', 400, 'code', 'invalid_email', 'field', 'email', 'message', 'email must be a valid address of at most 320 characters',
            'hint', 'Send email like "jane@example.com".')
        end,
        (select case
                  when c.key = 'firstName' then pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_first_name', 'field', c.key,
                    'message', 'firstName must be 1-200 characters', 'hint', 'Send a non-empty firstName.')
                  when c.key = 'status' then pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_status', 'field', c.key,
                    'message', 'status must be 1-50 characters', 'hint', 'Send a short status such as "new", "contacted", "won" or "lost".')
                  when c.key = 'stage' then pg_catalog.jsonb_build_object('status', 400, 'code', 'unknown_stage', 'field', c.key,
                    'message', 'stage must be the name or id of one of the workspace''s stages', 'hint', 'GET /api/openclaw/stages lists them; leave stage out to keep the lead where it is (new leads start in the default stage).')
                  else pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_value', 'field', c.key,
                    'message', pg_catalog.format('%s must be text of at most %s characters, or null', c.key, c.max),
                    'hint', pg_catalog.format('Shorten %s (or leave it out); longer text belongs in a note (POST /api/openclaw/notes).', c.key))
                end
         from (values ('firstName', 200, true, 1), ('lastName', 200, false, 2), ('organizationName', 300, false, 3),
                      ('businessType', 200, false, 4), ('phone', 50, false, 5), ('tier', 50, false, 6), ('status', 50, true, 7),
                      ('stage', 100, true, 8), ('title', 300, false, 9), ('seniority', 100, false, 10),
                      ('companyName', 300, false, 11), ('linkedinUrl', 2000, false, 12), ('companySize', 100, false, 13),
                      ('companyRevenue', 100, false, 14), ('displayName', 500, false, 15)) c(key, max, required, position)
         where p_fields ? c.key and case
                 when p_fields -> c.key = 'null'::jsonb then c.required
                 else pg_catalog.jsonb_typeof(p_fields -> c.key) <> 'string' or length(p_fields ->> c.key) > c.max
                      or (c.required and p_fields ->> c.key = '') end
         order by c.position
         limit 1),
        (select pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_value', 'field', j.key,
                  'message', j.key || ' must be a JSON object',
                  'hint', pg_catalog.format('Send %s as an object of keys and values, e.g. { "%s": { "source": "trade show" } }, or leave it out.', j.key, j.key))
         from (values ('customFields', 1), ('crmData', 2)) j(key, position)
         where p_fields ? j.key and pg_catalog.jsonb_typeof(p_fields -> j.key) <> 'object'
         order by j.position
         limit 1)));
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.new_id(p_prefix text)
 RETURNS text
 LANGUAGE sql
 PARALLEL SAFE
RETURN ((p_prefix || '_'::text) || substr(replace((gen_random_uuid())::text, '-'::text, ''::text), 1, 24))
;
