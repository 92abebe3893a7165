-- app.authenticate_request (rate limits) passes on what app.authenticate_api_key (key
-- rotation) says of an expired key, so the edge refuses it with its own hint. The two changes
-- were made side by side; this joins them. Written by npm run db:diff and reviewed.

drop function if exists "app"."authenticate_request"(p_key_hash text, p_rate_limits jsonb);

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app.authenticate_request(p_key_hash text, p_rate_limits jsonb DEFAULT '{}'::jsonb)
 RETURNS TABLE(org_id text, tier text, key_id text, revoked boolean, expired boolean, expires_at timestamp with time zone, quota integer, window_seconds integer, allowed boolean, remaining integer, reset_after integer, retry_after integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    select a.org_id, a.tier, a.key_id, a.revoked, a.expired, a.expires_at
    into org_id, tier, key_id, revoked, expired, expires_at
    from app.authenticate_api_key(p_key_hash) a;
    if not found then
      return;
    end if;
    if not revoked then
      quota := coalesce((p_rate_limits -> authenticate_request.tier ->> 'limit')::integer,
                        (select t.requests_per_minute from app.tiers t where t.tier = authenticate_request.tier));
      window_seconds := coalesce((p_rate_limits -> authenticate_request.tier ->> 'window')::integer, 60);
      select l.allowed, l.remaining, l.reset_after, l.retry_after into allowed, remaining, reset_after, retry_after
      from app.take_rate_limit('api-key', authenticate_request.key_id, quota, pg_catalog.make_interval(secs => window_seconds)) l;
    end if;
    return next;
  end;
  $function$
;

-- The recreated functions' comments and privileges.
comment on function app.authenticate_request(text,jsonb) is 'Authenticates an API key by hash (app.authenticate_api_key) and, for a live key, takes one request from its bucket (the tier''s requests_per_minute, or p_rate_limits->tier { limit, window }); answers the key and the limit''s state in one row, none for an unknown key.';
revoke all on function app.authenticate_request(text,jsonb) from public; grant execute on function app.authenticate_request(text,jsonb) to anon; grant execute on function app.authenticate_request(text,jsonb) to service_role;
