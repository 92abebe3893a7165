-- Rate limits, fair share between tenants, and where each lead came from.
--   * app.rate_limit_buckets (unlogged: a crash only resets the limits) and app.take_rate_limit,
--     GCRA in one upsert; app.take_rate_limits (several buckets in order, stopping at the first
--     refusal), app.take_signup_limits (per client IP, then per email domain, per address for
--     free mail), app.authenticate_request (the key's lookup and its per-key limit in the one
--     statement a request starts with), app.purge_rate_limit_buckets and its pg_cron job;
--   * app.tiers.requests_per_minute, each key's limit per plan: free 120, pro 600, ultra 1200;
--   * app.begin_expensive_work: an org's concurrency slots for expensive work (transaction-scoped
--     advisory locks) and the statement timeout that goes with them;
--   * app.leads.source and created_by, set from the writer's claims for every new lead; existing
--     leads take them from their first stage-history row, which recorded the same claims.
--     leads_org_source_idx and app.delete_leads_by_source (POST /leads/bulk-delete) read them;
--     app.lead_details is dropped and created again to show them (l.* is expanded when a view is
--     created, and new columns land before the view's own).
-- app.current_actor and app.current_source moved from 42_stage_history.sql to 10_foundation.sql,
-- unchanged, so that app.leads' defaults can name them: nothing to migrate.
-- Written by npm run db:diff and reviewed: columns are added so that existing rows get values
-- before NOT NULL applies, constraints are named as sql/ names them, and the backfill does not
-- touch updated_at.

drop view if exists "app"."lead_details";

-- Tiers: the per-key rate limit, as reference data.
alter table "app"."tiers" add column "requests_per_minute" integer;
update "app"."tiers" set "requests_per_minute" = case tier when 'pro' then 600 when 'ultra' then 1200 else 120 end;
alter table "app"."tiers" alter column "requests_per_minute" set not null;
alter table "app"."tiers" add constraint "tiers_requests_per_minute_check" CHECK ((requests_per_minute > 0));

-- Leads: where each came from. The defaults are stable, so existing rows get them once ('sql'
-- and the migrating user), then their first stage-history row's source and actor.
alter table "app"."leads" add column "source" text not null default app.current_source();
alter table "app"."leads" add column "created_by" text not null default app.current_actor();
alter table "app"."leads" disable trigger "leads_touch_updated_at";
update "app"."leads" l set "source" = origin.source, "created_by" = origin.changed_by
from (select distinct on (sc.org_id, sc.lead_id) sc.org_id, sc.lead_id, sc.source, sc.changed_by
      from "app"."stage_changes" sc
      where sc.from_stage_id is null
      order by sc.org_id, sc.lead_id, sc.changed_at) origin
where origin.org_id = l.org_id and origin.lead_id = l.id
  and (l.source, l.created_by) is distinct from (origin.source, origin.changed_by);
alter table "app"."leads" enable trigger "leads_touch_updated_at";
alter table "app"."leads" add constraint "leads_source_check" CHECK (((length(source) >= 1) AND (length(source) <= 50)));
CREATE INDEX leads_org_source_idx ON app.leads USING btree (org_id, source, created_at DESC, id DESC);

-- Rate-limit buckets: global (no org owns an IP), written only by the functions below.
create unlogged table "app"."rate_limit_buckets" (
  "scope" text not null constraint "rate_limit_buckets_scope_check" check ((scope ~ '^[a-z0-9-]{1,40}$'::text)),
  "key" text not null constraint "rate_limit_buckets_key_check" check (((length(key) >= 1) AND (length(key) <= 200))),
  "tat" timestamp with time zone not null,
  "allowed" boolean not null,
  constraint "rate_limit_buckets_pkey" primary key ("scope", "key")
);
alter table "app"."rate_limit_buckets" enable row level security;
alter table "app"."rate_limit_buckets" force row level security;
create policy "Rate limit buckets are visible to the service role"
  on "app"."rate_limit_buckets"
  as permissive
  for select
  to service_role
  using (true);
grant select on table "app"."rate_limit_buckets" to "service_role";

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app.authenticate_request(p_key_hash text, p_rate_limits jsonb DEFAULT '{}'::jsonb)
 RETURNS TABLE(org_id text, tier text, key_id text, revoked boolean, quota integer, window_seconds integer, allowed boolean, remaining integer, reset_after integer, retry_after integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    select a.org_id, a.tier, a.key_id, a.revoked into org_id, tier, key_id, revoked
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

CREATE OR REPLACE FUNCTION app.begin_expensive_work(p_slots integer, p_statement_timeout_ms integer)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
  begin
    if v_org is null then
      raise exception 'app.begin_expensive_work runs inside a request acting as an org' using errcode = '42501';
    end if;
    if p_statement_timeout_ms is not null then
      perform pg_catalog.set_config('statement_timeout', p_statement_timeout_ms::text, true);
    end if;
    for v_slot in 1..p_slots loop
      if pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('expensive:' || v_org), v_slot) then
        return v_slot;
      end if;
    end loop;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.delete_leads_by_source(p_source text, p_created_by text DEFAULT NULL::text, p_created_after timestamp with time zone DEFAULT NULL::timestamp with time zone, p_created_before timestamp with time zone DEFAULT NULL::timestamp with time zone, p_permanent boolean DEFAULT false, p_dry_run boolean DEFAULT false)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
    v_count integer;
  begin
    if p_dry_run then
      select count(*)::integer into v_count from app.leads l
      where l.org_id = v_org and l.source = p_source
        and (p_created_by is null or l.created_by = p_created_by)
        and (p_created_after is null or l.created_at >= p_created_after)
        and (p_created_before is null or l.created_at < p_created_before)
        and (p_permanent or l.deleted_at is null);
    elsif p_permanent then
      delete from app.leads l
      where l.org_id = v_org and l.source = p_source
        and (p_created_by is null or l.created_by = p_created_by)
        and (p_created_after is null or l.created_at >= p_created_after)
        and (p_created_before is null or l.created_at < p_created_before);
      get diagnostics v_count = row_count;
    else
      update app.leads l set deleted_at = pg_catalog.now()
      where l.org_id = v_org and l.source = p_source and l.deleted_at is null
        and (p_created_by is null or l.created_by = p_created_by)
        and (p_created_after is null or l.created_at >= p_created_after)
        and (p_created_before is null or l.created_at < p_created_before);
      get diagnostics v_count = row_count;
    end if;
    return v_count;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.purge_rate_limit_buckets(p_now timestamp with time zone DEFAULT now())
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_count integer;
  begin
    delete from app.rate_limit_buckets b where b.tat < p_now;
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.take_rate_limit(p_scope text, p_key text, p_limit integer, p_window interval, p_cost integer DEFAULT 1, p_now timestamp with time zone DEFAULT now())
 RETURNS TABLE(allowed boolean, remaining integer, reset_after integer, retry_after integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_emission interval;
    v_window_s numeric;
    v_emission_s numeric;
  begin
    if p_limit is null or p_limit < 1 or p_window is null or p_window <= interval '0'
       or p_cost is null or p_cost < 1 or p_cost > p_limit then
      raise exception 'app.take_rate_limit: limit %, window %, cost %', p_limit, p_window, p_cost
        using errcode = '22023', hint = 'The limit must be at least 1, the window positive and the cost between 1 and the limit.';
    end if;
    v_emission := p_window / p_limit;
    v_window_s := extract(epoch from p_window);
    v_emission_s := extract(epoch from v_emission);

    return query
    insert into app.rate_limit_buckets as b (scope, key, tat, allowed)
    values (p_scope, p_key, p_now + p_cost * v_emission, true)
    on conflict (scope, key) do update set
      allowed = greatest(b.tat, p_now) + p_cost * v_emission <= p_now + p_window,
      tat = case when greatest(b.tat, p_now) + p_cost * v_emission <= p_now + p_window
                 then greatest(b.tat, p_now) + p_cost * v_emission
                 else b.tat end
    returning
      b.allowed,
      pg_catalog.floor((v_window_s - greatest(0, extract(epoch from b.tat - p_now))) / v_emission_s)::integer,
      pg_catalog.ceil(greatest(0, extract(epoch from b.tat - p_now)))::integer,
      case when b.allowed then 0
           else pg_catalog.ceil(extract(epoch from greatest(b.tat, p_now) + p_cost * v_emission - p_window - p_now))::integer
      end;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.take_rate_limits(p_takes jsonb)
 RETURNS TABLE(policy text, quota integer, window_seconds integer, allowed boolean, remaining integer, reset_after integer, retry_after integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_take jsonb;
  begin
    for v_take in select t.value from pg_catalog.jsonb_array_elements(p_takes) t loop
      policy := v_take ->> 'policy';
      quota := (v_take ->> 'limit')::integer;
      window_seconds := (v_take ->> 'window')::integer;
      select l.allowed, l.remaining, l.reset_after, l.retry_after
        into allowed, remaining, reset_after, retry_after
      from app.take_rate_limit(policy, v_take ->> 'key', quota, pg_catalog.make_interval(secs => window_seconds)) l;
      return next;
      exit when not allowed;
    end loop;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.take_signup_limits(p_ip text, p_email text, p_ip_limit integer, p_ip_window integer, p_domain_limit integer, p_domain_window integer)
 RETURNS TABLE(policy text, quota integer, window_seconds integer, allowed boolean, remaining integer, reset_after integer, retry_after integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_address constant text := pg_catalog.lower(pg_catalog.btrim(p_email));
    v_domain constant text := pg_catalog.split_part(v_address, '@', 2);
    v_key text;
  begin
    v_key := case when app.mail_domain_kind(v_domain) = 'free'
      then 'address:' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_address, 'UTF8')), 'hex')
      else 'domain:' || left(v_domain, 190) end;
    return query select * from app.take_rate_limits(pg_catalog.jsonb_build_array(
      pg_catalog.jsonb_build_object('policy', 'signup-ip', 'key', p_ip, 'limit', p_ip_limit, 'window', p_ip_window),
      pg_catalog.jsonb_build_object('policy', 'signup-domain', 'key', v_key, 'limit', p_domain_limit, 'window', p_domain_window)));
  end;
  $function$
;

-- The purge job, registered with pg_cron where it is installed (a notice otherwise).
insert into app.scheduled_jobs (name, schedule, command) values
  ('purge-rate-limit-buckets', '*/10 * * * *', 'select app.purge_rate_limit_buckets()');
select app.schedule_jobs();

create or replace view "app"."lead_details" as  SELECT l.id,
    l.org_id,
    l.first_name,
    l.last_name,
    l.email,
    l.organization_name,
    l.business_type,
    l.phone,
    l.tier,
    l.status,
    l.stage_id,
    l.custom_fields,
    l.crm_data,
    l.title,
    l.seniority,
    l.company_name,
    l.linkedin_url,
    l.company_size,
    l.company_revenue,
    l.enrichment_status,
    l.enrichment,
    l.enriched_at,
    l.last_touch_at,
    l.created_at,
    l.updated_at,
    l.deleted_at,
    l.email_key,
    l.search_text,
    l.enrichment_started_at,
    l.enrichment_error,
    l.company_domain,
    l.email_domain,
    l.organization_key,
    l.company_key,
    l.referrer_key,
    l.idle_since,
    l.source,
    l.created_by,
    s.name AS stage,
    c.score,
    c.label AS score_label,
    c.scored_at,
    p.slug AS proposal_slug
   FROM (((app.leads l
     LEFT JOIN app.stages s ON (((s.org_id = l.org_id) AND (s.id = l.stage_id))))
     LEFT JOIN app.lead_scores c ON (((c.org_id = l.org_id) AND (c.lead_id = l.id))))
     LEFT JOIN app.proposals p ON (((p.org_id = l.org_id) AND (p.lead_id = l.id))));

-- The recreated views' options, comments and grants (migra drops them).
alter view app.lead_details set (security_invoker=true);
comment on view app.lead_details is 'Leads with their stage name, stored score and proposal slug, as the API returns them.';
grant select on app.lead_details to authenticated;
grant select on app.lead_details to service_role;

-- Comments and function privileges (migra leaves them out).
comment on column app.leads.created_by is 'Who created the lead: the API key id, quiz:<id>, sync_source:<id>, calendly, or the database user.';
comment on column app.leads.source is 'What created the lead: api, quiz, sync_source, calendly or sql (Studio, scripts); GET /leads?source= and POST /leads/bulk-delete filter on it.';
comment on column app.tiers.requests_per_minute is 'API requests per minute per key (a burst of as many, refilled evenly); the HTTP edge may override it per deployment.';
comment on function app.authenticate_request(text,jsonb) is 'Authenticates an API key by hash (app.authenticate_api_key) and, for a live key, takes one request from its bucket (the tier''s requests_per_minute, or p_rate_limits->tier { limit, window }); answers the key and the limit''s state in one row, none for an unknown key.';
comment on function app.begin_expensive_work(integer,integer) is 'Takes one of the current org''s p_slots slots for expensive work until the transaction ends (an advisory lock) and sets statement_timeout to p_statement_timeout_ms for the rest of it; returns the slot, or null when all are taken.';
comment on function app.delete_leads_by_source(text,text,timestamp with time zone,timestamp with time zone,boolean,boolean) is 'Soft-deletes the current org''s live leads of one source (or, p_permanent, deletes its live and soft-deleted ones for good, freeing the plan), optionally of one creator and creation window, in one statement; p_dry_run only counts. Returns how many.';
comment on function app.purge_rate_limit_buckets(timestamp with time zone) is 'Deletes the buckets that are full again (tat before p_now), which hold no state; returns how many.';
comment on function app.take_rate_limit(text,text,integer,interval,integer,timestamp with time zone) is 'GCRA in one upsert: lets a request of p_cost through when the bucket (p_scope, p_key) holds it (a burst of p_limit, refilled evenly over p_window) and answers allowed, remaining, reset_after (seconds until full) and retry_after (seconds until it would be let through; 0 when it was).';
comment on function app.take_rate_limits(jsonb) is 'Takes the buckets of [{ policy, key, limit, window (seconds) }] in order and answers one row per bucket taken (policy, quota, window_seconds, allowed, remaining, reset_after, retry_after), stopping after the first refusal.';
comment on function app.take_signup_limits(text,text,integer,integer,integer,integer) is 'POST /signup''s limits: the client IP''s bucket (signup-ip), then the email domain''s (signup-domain; per address, hashed, for free-mail domains); rows as app.take_rate_limits.';
comment on table app.rate_limit_buckets is 'Rate-limit state per policy (scope) and caller (key: an API key id, a client IP, an email domain, a quiz slug); tat is when the bucket is full again. Unlogged: a crash resets the limits.';
revoke all on function app.authenticate_request(text,jsonb) from public; grant execute on function app.authenticate_request(text,jsonb) to anon; grant execute on function app.authenticate_request(text,jsonb) to service_role;
revoke all on function app.begin_expensive_work(integer,integer) from public; grant execute on function app.begin_expensive_work(integer,integer) to authenticated; grant execute on function app.begin_expensive_work(integer,integer) to service_role;
revoke all on function app.delete_leads_by_source(text,text,timestamp with time zone,timestamp with time zone,boolean,boolean) from public; grant execute on function app.delete_leads_by_source(text,text,timestamp with time zone,timestamp with time zone,boolean,boolean) to authenticated; grant execute on function app.delete_leads_by_source(text,text,timestamp with time zone,timestamp with time zone,boolean,boolean) to service_role;
revoke all on function app.purge_rate_limit_buckets(timestamp with time zone) from public; grant execute on function app.purge_rate_limit_buckets(timestamp with time zone) to service_role;
revoke all on function app.take_rate_limit(text,text,integer,interval,integer,timestamp with time zone) from public; grant execute on function app.take_rate_limit(text,text,integer,interval,integer,timestamp with time zone) to service_role;
revoke all on function app.take_rate_limits(jsonb) from public; grant execute on function app.take_rate_limits(jsonb) to anon; grant execute on function app.take_rate_limits(jsonb) to service_role;
revoke all on function app.take_signup_limits(text,text,integer,integer,integer,integer) from public; grant execute on function app.take_signup_limits(text,text,integer,integer,integer,integer) to anon; grant execute on function app.take_signup_limits(text,text,integer,integer,integer,integer) to service_role;
