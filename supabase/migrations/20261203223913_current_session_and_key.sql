-- app.current_session_id() and app.current_key_id(): the session and the key a request comes with,
-- read from its claims as app.current_member_id() reads the member, for the routes that mark
-- the caller's own session or key in a list (they read the claims' JSON themselves before).
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand. Reference data changes (inserts, updates) are not diffed: add them here.

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app.current_key_id()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
 SET search_path TO ''
AS $function$
    select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'key_id'
  $function$
;

CREATE OR REPLACE FUNCTION app.current_session_id()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
 SET search_path TO ''
AS $function$
    select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'session_id'
  $function$
;

-- Comments and function privileges (migra leaves them out).
comment on function app.current_key_id() is 'The API key the current request authenticated with (key_id claim); null for people and outside a request.';
comment on function app.current_session_id() is 'The browser session the current request comes with (session_id claim); null for API keys, Supabase Auth JWTs and outside a request.';
revoke all on function app.current_key_id() from public; grant execute on function app.current_key_id() to authenticated; grant execute on function app.current_key_id() to service_role;
revoke all on function app.current_session_id() from public; grant execute on function app.current_session_id() to authenticated; grant execute on function app.current_session_id() to service_role;
