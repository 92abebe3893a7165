-- fast edge: one round trip per request, cheap lead creation.
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand. Reference data changes (inserts, updates) are not diffed: add them here.
--
--   * the authenticator role (login, no privileges of its own) the API's pool logs in as;
--   * request admission: app.authenticate_request admits the request's ticket when the key
--     is live and its bucket lets it through, app.authenticate_session (sql/24_members.sql,
--     from 20261203164603_members_roles_sign_in) does the same for a browser session, and
--     app.begin_request, the transaction's first statement, takes on the admitted identity or
--     aborts the transaction;
--   * lead creation: the new lead's proposal and first stage written once per statement, the
--     first score from a plan kept per session, the lead limit checked last against a count
--     kept per org (app.org_lead_counts: an org is counted by its first insert from here on,
--     so nothing is backfilled; read-only for viewers like every tenant table, sql/98_roles.sql),
--     and no second key to app.orgs on proposals and the stage history, which locked the
--     org's row for every lead created; the batch upsert (app._upsert_leads, from
--     20261203182521_bulk_data_in_and_out) counts the plan's room from the same count
--     (app.lock_lead_count) instead of locking the org and counting its leads, and a lead
--     created alone (POST /leads) locks nothing ahead: the limit trigger counts it.

-- ---------------------------------------------------------------------------
-- The API's login role (sql/00_supabase.sql). Created where missing; on Supabase it exists.
-- ---------------------------------------------------------------------------
do $$
declare
  v_role text;
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    execute 'create role authenticator login noinherit';
  end if;
  foreach v_role in array array['anon', 'authenticated', 'service_role'] loop
    if not pg_catalog.pg_has_role('authenticator', v_role, 'member') then
      execute format('grant %I to authenticator', v_role);
    end if;
  end loop;
end
$$;

set check_function_bodies = off;

-- ---------------------------------------------------------------------------
-- Request admission (sql/22_rate_limits.sql).
-- ---------------------------------------------------------------------------
drop function if exists "app"."authenticate_request"(p_key_hash text, p_rate_limits jsonb);

CREATE OR REPLACE FUNCTION app._admit_request(p_ticket text, p_claims jsonb)
 RETURNS void
 LANGUAGE sql
 SET search_path TO ''
AS $function$
    select pg_catalog.set_config('request.admission',
      case when p_ticket is null then '' else pg_catalog.jsonb_build_object('ticket', p_ticket, 'claims', p_claims)::text end,
      false)
  $function$
;

CREATE OR REPLACE FUNCTION app.authenticate_request(p_key_hash text, p_rate_limits jsonb DEFAULT '{}'::jsonb, p_ticket text DEFAULT NULL::text)
 RETURNS TABLE(org_id text, tier text, key_id text, revoked boolean, expired boolean, expires_at timestamp with time zone, quota integer, window_seconds integer, allowed boolean, remaining integer, reset_after integer, retry_after integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    perform app._admit_request(null, null);
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
      if allowed then
        perform app._admit_request(p_ticket,
          pg_catalog.jsonb_build_object('role', 'authenticated', 'org_id', authenticate_request.org_id, 'key_id', authenticate_request.key_id));
      end if;
    end if;
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.begin_request(p_ticket text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_admission constant jsonb := nullif(pg_catalog.current_setting('request.admission', true), '')::jsonb;
  begin
    if p_ticket is null or v_admission is null or v_admission ->> 'ticket' is distinct from p_ticket then
      perform app.refuse(401, 'not_admitted', 'This request was not admitted',
        'Its credentials were refused or rate limited by the statement before this transaction; nothing in this transaction runs.');
    end if;
    perform pg_catalog.set_config('request.admission', '', false);
    perform pg_catalog.set_config('request.jwt.claims', (v_admission -> 'claims')::text, true);
    perform pg_catalog.set_config('role', 'authenticated', true);
  end;
  $function$
;

comment on function app._admit_request(text,jsonb) is 'Admits a request: remembers its ticket and claims in the session (request.admission) for app.begin_request; a null ticket forgets the last admission.';
revoke all on function app._admit_request(text,jsonb) from public;
comment on function app.authenticate_request(text,jsonb,text) is 'Authenticates an API key by hash (app.authenticate_api_key) and, for a live key, takes one request from its bucket (the tier''s requests_per_minute, or p_rate_limits->tier { limit, window }); a request let through admits p_ticket for app.begin_request. Answers the key and the limit''s state in one row, none for an unknown key.';
revoke all on function app.authenticate_request(text,jsonb,text) from public;
grant execute on function app.authenticate_request(text,jsonb,text) to anon, service_role;
comment on function app.begin_request(text) is 'Takes on, for the rest of the transaction, the role and claims the request''s ticket was admitted with (app.authenticate_request, app.authenticate_session), or refuses 401 not_admitted and so aborts the transaction.';
revoke all on function app.begin_request(text) from public;
grant execute on function app.begin_request(text) to anon, authenticated, service_role;

-- A browser session is admitted the same way (sql/24_members.sql): app.authenticate_session
-- takes the request's ticket. Its signature changes, so it is dropped and created again.
drop function app.authenticate_session(text, jsonb);

create function app.authenticate_session(p_token_hash text, p_rate_limits jsonb default '{}', p_ticket text default null)
  returns table (org_id text, tier text, session_id text, member_id text, member_role text, email text, status text,
                 expires_at timestamptz, idle_expires_at timestamptz, quota integer, window_seconds integer,
                 allowed boolean, remaining integer, reset_after integer, retry_after integer)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_session app.member_sessions;
    v_now constant timestamptz := pg_catalog.now();
    v_claims jsonb;
  begin
    perform app._admit_request(null, null);
    select s.* into v_session from app.member_sessions s where s.token_hash = p_token_hash;
    if v_session.id is null then
      return;
    end if;
    select m.role, m.email into member_role, email from app.org_members m
    where m.org_id = v_session.org_id and m.id = v_session.member_id;
    select o.tier into tier from app.orgs o where o.id = v_session.org_id;
    org_id := v_session.org_id;
    session_id := v_session.id;
    member_id := v_session.member_id;
    expires_at := v_session.expires_at;
    idle_expires_at := least(v_session.expires_at, v_session.last_seen_at + interval '14 days');
    status := case
      when v_session.revoked_at is not null then 'revoked'
      when idle_expires_at <= v_now then 'expired'
      else 'active' end;
    if status = 'active' then
      v_claims := pg_catalog.jsonb_build_object(
        'role', 'authenticated', 'org_id', v_session.org_id, 'member_id', v_session.member_id,
        'member_role', member_role, 'session_id', v_session.id);
      perform pg_catalog.set_config('request.jwt.claims', v_claims::text, true);
      -- One write a minute at most per session, so reading is not writing.
      if v_session.last_seen_at < v_now - interval '1 minute' then
        update app.member_sessions s set last_seen_at = v_now where s.org_id = v_session.org_id and s.id = v_session.id;
        idle_expires_at := least(v_session.expires_at, v_now + interval '14 days');
      end if;
      quota := coalesce((p_rate_limits -> authenticate_session.tier ->> 'limit')::integer,
                        (select t.requests_per_minute from app.tiers t where t.tier = authenticate_session.tier));
      window_seconds := coalesce((p_rate_limits -> authenticate_session.tier ->> 'window')::integer, 60);
      select l.allowed, l.remaining, l.reset_after, l.retry_after into allowed, remaining, reset_after, retry_after
      from app.take_rate_limit('member', v_session.member_id, quota, pg_catalog.make_interval(secs => window_seconds)) l;
      if allowed then
        perform app._admit_request(p_ticket, v_claims);
      end if;
    end if;
    return next;
  end;
  $$;
comment on function app.authenticate_session(text, jsonb, text) is 'Looks up a browser session by its token''s hash: org, member, current role, status (active, expired, revoked) and ends; for an active one sets the claims, moves last_seen_at (at most once a minute) and takes one request from the member''s rate-limit bucket; a request let through admits p_ticket for app.begin_request. No row for an unknown token.';
revoke execute on function app.authenticate_session(text, jsonb, text) from public;
grant execute on function app.authenticate_session(text, jsonb, text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Lead creation: the statement triggers on app.leads, in the order they fire.
-- ---------------------------------------------------------------------------
drop trigger if exists "leads_proposal" on "app"."leads";
drop trigger if exists "leads_score_new" on "app"."leads";
drop trigger if exists "leads_webhook_created" on "app"."leads";
drop trigger if exists "leads_enforce_limit" on "app"."leads";
drop trigger if exists "leads_record_stage_change" on "app"."leads";
drop trigger if exists "stage_changes_event" on "app"."stage_changes";
drop function if exists "app"."_lead_proposal"();

-- No second key to app.orgs: the lead's key names the org.
alter table "app"."proposals" drop constraint "proposals_org_id_fkey";
alter table "app"."stage_changes" drop constraint "stage_changes_org_id_fkey";

-- Proposals (sql/66_proposals.sql, sql/10_foundation.sql).
CREATE OR REPLACE FUNCTION app.random_base36(p_length integer)
 RETURNS text
 LANGUAGE plpgsql
 PARALLEL SAFE
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.proposal_slug(p_name text)
 RETURNS text
 LANGUAGE sql
 SET search_path TO ''
AS $function$
    select pg_catalog.concat_ws('-', nullif(app.slugify(p_name), ''), app.random_base36(8))
  $function$
;

CREATE OR REPLACE FUNCTION app.create_proposal(p_org_id text, p_lead_id text, p_name text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_slug text;
  begin
    -- 36^8 slugs per name: a collision is rare, ten in a row does not happen.
    for attempt in 1..10 loop
      insert into app.proposals (org_id, lead_id, slug) values (p_org_id, p_lead_id, app.proposal_slug(p_name))
      on conflict do nothing
      returning slug into v_slug;
      if v_slug is not null then
        return v_slug;
      end if;
      -- Nothing inserted: the lead has its proposal already, or the slug was taken.
      select p.slug into v_slug from app.proposals p where p.org_id = p_org_id and p.lead_id = p_lead_id;
      if v_slug is not null then
        return v_slug;
      end if;
    end loop;
    perform app.refuse(409, 'slug_collision', 'Could not find a free proposal slug', 'Retry the request.');
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._new_lead_proposals()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_created integer;
  begin
    insert into app.proposals (org_id, lead_id, slug)
    select n.org_id, n.id,
           app.proposal_slug(coalesce(nullif(n.company_name, ''), nullif(n.organization_name, ''), pg_catalog.concat_ws(' ', n.first_name, n.last_name)))
    from new_leads n
    on conflict do nothing;
    get diagnostics v_created = row_count;
    if v_created < (select count(*) from new_leads) then
      perform app.create_proposal(n.org_id, n.id,
        coalesce(nullif(n.company_name, ''), nullif(n.organization_name, ''), pg_catalog.concat_ws(' ', n.first_name, n.last_name)))
      from new_leads n
      where not exists (select from app.proposals p where p.org_id = n.org_id and p.lead_id = n.id);
    end if;
    return null;
  end;
  $function$
;

comment on function app.proposal_slug(text) is 'A fresh proposal slug for a name: its slug, a dash and 8 random base-36 characters (just the 8 for a name with no letters or digits).';
revoke all on function app.proposal_slug(text) from public;
comment on function app._new_lead_proposals() is 'Statement trigger: gives every lead an insert created its proposal page, in one statement.';
revoke all on function app._new_lead_proposals() from public;

-- The stage history (sql/42_stage_history.sql, sql/54_events.sql).
CREATE OR REPLACE FUNCTION app._record_first_stages()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    insert into app.stage_changes (org_id, lead_id, from_stage_id, to_stage_id, to_stage_name, changed_by, source, rule_id)
    select n.org_id, n.id, null, n.stage_id, s.name, a.actor, a.source, a.rule_id
    from new_leads n
    cross join (select app.current_actor() as actor, app.current_source() as source,
                       nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'rule_id' as rule_id) a
    left join app.stages s on s.org_id = n.org_id and s.id = n.stage_id;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._record_stage_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
  begin
    insert into app.stage_changes
      (org_id, lead_id, from_stage_id, to_stage_id, from_stage_name, to_stage_name, changed_by, source, rule_id)
    values (
      new.org_id, new.id, old.stage_id, new.stage_id,
      (select s.name from app.stages s where s.org_id = old.org_id and s.id = old.stage_id),
      (select s.name from app.stages s where s.org_id = new.org_id and s.id = new.stage_id),
      app.current_actor(), app.current_source(), v_claims ->> 'rule_id');
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._stage_change_event()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    insert into app.events (org_id, lead_id, type, occurred_at, source, actor, data)
    values (new.org_id, new.lead_id, 'stage_changed', new.changed_at, new.source, new.changed_by,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'stageChangeId', new.id, 'fromStageId', new.from_stage_id, 'toStageId', new.to_stage_id,
        'fromStage', new.from_stage_name, 'toStage', new.to_stage_name, 'ruleId', new.rule_id)));
    return null;
  end;
  $function$
;

comment on function app._record_first_stages() is 'Statement trigger: records the first stage of every lead an insert created, in one statement.';
revoke all on function app._record_first_stages() from public;
comment on function app._record_stage_change() is 'Trigger: records a lead moving to another stage.';

-- Scoring (sql/56_scoring.sql).
CREATE OR REPLACE FUNCTION app.score_leads(p_org_id text, p_lead_ids text[] DEFAULT NULL::text[], p_now timestamp with time zone DEFAULT now())
 RETURNS TABLE(lead_id text, score integer, label text, factors jsonb, suggested_action text)
 LANGUAGE plpgsql
 SET search_path TO ''
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_nestloop TO 'on'
 SET enable_hashjoin TO 'on'
 SET enable_mergejoin TO 'on'
 SET jit TO 'off'
AS $function$
  begin
    if p_lead_ids is null then
      perform pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);
      perform pg_catalog.set_config('enable_nestloop', 'off', true);
    else
      perform pg_catalog.set_config('enable_hashjoin', 'off', true);
      perform pg_catalog.set_config('enable_mergejoin', 'off', true);
    end if;
    return query
    with w as (
      select
        max(x.points_per_unit::float8) filter (where x.factor = 'quiz_score') as quiz_rate,
        max(x.max_points) filter (where x.factor = 'quiz_score') as quiz_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'tier') as tier_rate,
        max(x.max_points) filter (where x.factor = 'tier') as tier_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'proposal_views') as views_rate,
        max(x.max_points) filter (where x.factor = 'proposal_views') as views_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'video_watched') as video_rate,
        max(x.max_points) filter (where x.factor = 'video_watched') as video_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'cta_click') as cta_rate,
        max(x.max_points) filter (where x.factor = 'cta_click') as cta_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'meeting_booked') as meeting_rate,
        max(x.max_points) filter (where x.factor = 'meeting_booked') as meeting_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'enrichment') as enrichment_rate,
        max(x.max_points) filter (where x.factor = 'enrichment') as enrichment_cap,
        max(x.points_per_unit::float8) filter (where x.factor = 'staleness') as stale_rate,
        max(x.max_points) filter (where x.factor = 'staleness') as stale_cap
      from app.score_weights x
    ),
    measured as (
      select
        l.id,
        l.tier,
        l.enrichment_status,
        g.quiz_score,
        case pg_catalog.lower(l.tier) when 'high' then 2 when 'medium' then 1 else 0 end as tier_level,
        coalesce(g.proposal_views, 0) as views,
        coalesce(g.video_percent, 0) as video,
        coalesce(g.cta_clicks, 0) as ctas,
        coalesce(g.meetings_booked > 0 and (g.meeting_canceled_at is null or g.meeting_canceled_at < g.last_meeting_booked_at), false) as meeting,
        g.meeting_canceled_at is not null as canceled,
        greatest(0, floor(pg_catalog.date_part('epoch', p_now - coalesce(l.last_touch_at, l.created_at)) / 86400))::integer as idle_days,
        l.last_touch_at is not null as touched,
        s.outcome,
        g.bounced_at is not null as bounced,
        g.unsubscribed_at is not null as unsubscribed,
        c.score as stored_score,
        c.label as stored_label
      from (
        -- Every live lead of the org (a custom plan, p_lead_ids null) ...
        select x.id, x.org_id, x.tier, x.enrichment_status, x.last_touch_at, x.created_at, x.stage_id
        from app.leads x
        where p_lead_ids is null and x.org_id = p_org_id and x.deleted_at is null
        union all
        -- ... or the leads asked for (the generic plan; the branch above is skipped at run time).
        select x.id, x.org_id, x.tier, x.enrichment_status, x.last_touch_at, x.created_at, x.stage_id
        from app.leads x
        where x.org_id = p_org_id and x.id = any(p_lead_ids)
      ) l
      left join app.lead_engagement g on g.org_id = l.org_id and g.lead_id = l.id
      left join app.stages s on s.org_id = l.org_id and s.id = l.stage_id
      left join app.lead_scores c on c.org_id = l.org_id and c.lead_id = l.id
    ),
    -- Materialized: each later step refers to the points (and the label to the total) several
    -- times, and inlined CTEs would recompute every one of them at each reference.
    pointed as materialized (
      select
        m.*,
        least(w.quiz_cap, app.round_points(coalesce(m.quiz_score, 0)::float8 * w.quiz_rate)) as quiz_points,
        least(w.tier_cap, app.round_points(m.tier_level * w.tier_rate)) as tier_points,
        least(w.views_cap, app.round_points(m.views * w.views_rate)) as views_points,
        least(w.video_cap, app.round_points(m.video::float8 * w.video_rate)) as video_points,
        least(w.cta_cap, app.round_points(m.ctas * w.cta_rate)) as cta_points,
        least(w.meeting_cap, app.round_points(m.meeting::integer * w.meeting_rate)) as meeting_points,
        least(w.enrichment_cap, app.round_points((m.enrichment_status = 'complete')::integer * w.enrichment_rate)) as enrichment_points,
        greatest(w.stale_cap, app.round_points((m.idle_days / 7) * w.stale_rate)) as stale_points
      from measured m cross join w
    ),
    totalled as (
      select
        p.*,
        greatest(0, least(100, p.quiz_points + p.tier_points + p.views_points + p.video_points + p.cta_points
          + p.meeting_points + p.enrichment_points + p.stale_points)) as total
      from pointed p
    ),
    labelled as materialized (
      select
        t.*,
        case when t.total >= 70 then 'hot' when t.total >= 45 then 'warm' when t.total >= 20 then 'cool' else 'cold' end as grade
      from totalled t
    ),
    scored as (
      select
        b.id,
        b.total,
        b.grade,
        case when p_lead_ids is not null then pg_catalog.jsonb_build_array(
          pg_catalog.jsonb_build_object('factor', 'quiz_score', 'points', b.quiz_points, 'detail',
            case when b.quiz_score is null then 'No quiz completed' else 'Quiz score ' || b.quiz_score || '/100' end),
          pg_catalog.jsonb_build_object('factor', 'tier', 'points', b.tier_points, 'detail',
            case when b.tier is null then 'No tier set' else 'Tier ' || b.tier end),
          pg_catalog.jsonb_build_object('factor', 'proposal_views', 'points', b.views_points, 'detail',
            case b.views when 0 then 'Proposal not viewed' when 1 then '1 proposal view' else b.views || ' proposal views' end),
          pg_catalog.jsonb_build_object('factor', 'video_watched', 'points', b.video_points, 'detail',
            case when b.video = 0 then 'Video not watched' else 'Watched ' || round(b.video) || '% of the video' end),
          pg_catalog.jsonb_build_object('factor', 'cta_click', 'points', b.cta_points, 'detail',
            case b.ctas when 0 then 'No CTA clicks' when 1 then '1 CTA click' else b.ctas || ' CTA clicks' end),
          pg_catalog.jsonb_build_object('factor', 'meeting_booked', 'points', b.meeting_points, 'detail',
            case when b.meeting then 'Meeting booked' when b.canceled then 'Meeting canceled' else 'No meeting booked' end),
          pg_catalog.jsonb_build_object('factor', 'enrichment', 'points', b.enrichment_points, 'detail',
            'Enrichment ' || pg_catalog.replace(b.enrichment_status, '_', ' ')),
          pg_catalog.jsonb_build_object('factor', 'staleness', 'points', b.stale_points, 'detail',
            case
              when b.idle_days < 7 then case when b.touched then 'Touched within the last week' else 'Created within the last week' end
              else case when b.touched then '' else 'Never touched; created ' end
                || case when b.idle_days < 14 then '1 week' else (b.idle_days / 7) || ' weeks' end
                || case when b.touched then ' since the last touch' else ' ago' end
            end)
        ) end as factor_list,
        case
          when b.outcome = 'won' then 'onboard_customer'
          when b.outcome = 'lost' then 'no_action'
          when b.unsubscribed then 'do_not_contact'
          when b.bounced then 'verify_email'
          when b.meeting then 'prepare_for_meeting'
          when b.grade = 'hot' then 'book_meeting'
          when b.grade = 'warm' and b.views = 0 then 'send_proposal'
          when b.grade = 'warm' then 'follow_up'
          when b.grade = 'cool' then 'nurture'
          when b.enrichment_status <> 'complete' then 'enrich'
          else 're_engage'
        end as action
      from labelled b
    )
    ,
    -- Rows whose score and label come out as stored (read with the lead above) are not
    -- rewritten: a daily decay pass writes only the leads whose staleness crossed a week.
    -- Changed scores are updated by a join (an upsert would lock every row it compares);
    -- leads without one yet are inserted, and a score another transaction wrote in the
    -- meantime is overwritten with this one.
    rewritten as (
      update app.lead_scores c
      set score = b.total, label = b.grade, scored_at = p_now
      from labelled b
      where c.org_id = p_org_id and c.lead_id = b.id and (b.stored_score <> b.total or b.stored_label <> b.grade)
    ),
    first_scored as (
      insert into app.lead_scores as c (lead_id, org_id, score, label, scored_at)
      select b.id, p_org_id, b.total, b.grade, p_now from labelled b
      where b.stored_score is null
      on conflict on constraint lead_scores_pkey do update set score = excluded.score, label = excluded.label, scored_at = excluded.scored_at
      where c.score <> excluded.score or c.label <> excluded.label
    )
    select s.id, s.total, s.grade, s.factor_list, s.action from scored s;
  end;
  $function$
;

-- The lead limit and each org's count (sql/78_plan_limits.sql).
create table "app"."org_lead_counts" (
  "org_id" text not null,
  "leads" integer not null
);
alter table "app"."org_lead_counts" enable row level security;
alter table "app"."org_lead_counts" force row level security;
CREATE UNIQUE INDEX org_lead_counts_pkey ON app.org_lead_counts USING btree (org_id);
alter table "app"."org_lead_counts" add constraint "org_lead_counts_pkey" PRIMARY KEY using index "org_lead_counts_pkey";
alter table "app"."org_lead_counts" add constraint "org_lead_counts_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE;
comment on table app.org_lead_counts is 'Each org''s number of leads (soft-deleted ones included), what the lead limit compares with the tier''s; kept by triggers on app.leads.';

create policy "Lead counts are visible to their own org"
  on "app"."org_lead_counts"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));

create policy "Lead counts can be changed by their own org"
  on "app"."org_lead_counts"
  as permissive
  for update
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)))
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));

create policy "Lead counts can be created in the caller's org"
  on "app"."org_lead_counts"
  as permissive
  for insert
  to authenticated
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));

create policy "Lead counts can be deleted by their own org"
  on "app"."org_lead_counts"
  as permissive
  for delete
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));

grant select on table "app"."org_lead_counts" to "authenticated";
grant all on table "app"."org_lead_counts" to "service_role";

-- The role rules' write policies, which sql/98_roles.sql puts on every tenant table.
select app.make_read_only_for_viewers('app.org_lead_counts');

CREATE OR REPLACE FUNCTION app._enforce_lead_limit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_over record;
    v_error jsonb;
  begin
    with added as (
      select n.org_id, count(*)::integer as added from new_leads n group by n.org_id
    ), counted as (
      insert into app.org_lead_counts as c (org_id, leads)
      select a.org_id,
             -- An org without a count yet is counted (its new leads included); else the
             -- update below adds them.
             case when exists (select from app.org_lead_counts x where x.org_id = a.org_id) then a.added
                  else (select count(*)::integer from app.leads l where l.org_id = a.org_id) end
      from added a
      order by a.org_id
      on conflict (org_id) do update set leads = c.leads + (select a.added from added a where a.org_id = c.org_id)
      returning c.org_id, c.leads
    )
    select o.tier, t.lead_limit, c.leads as total, a.added into v_over
    from counted c
    join added a on a.org_id = c.org_id
    join app.orgs o on o.id = c.org_id
    join app.tiers t on t.tier = o.tier
    where c.leads > t.lead_limit
    limit 1;

    if found then
      v_error := app.lead_limit_error(v_over.tier, v_over.lead_limit, v_over.total - v_over.added, v_over.added);
      perform app.refuse(402, v_error ->> 'code', v_error ->> 'message', v_error ->> 'hint');
    end if;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._count_deleted_leads()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    update app.org_lead_counts c set leads = greatest(0, c.leads - d.removed)
    from (select o.org_id, count(*)::integer as removed from old_leads o group by o.org_id) d
    where c.org_id = d.org_id;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._count_truncated_leads()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    delete from app.org_lead_counts;
    return null;
  end;
  $function$
;

comment on function app._enforce_lead_limit() is 'Statement trigger: counts an insert''s leads into app.org_lead_counts and refuses it when that takes an org past its tier''s lead limit (soft-deleted leads included); one row per org and statement; exact under concurrency.';
comment on function app._count_deleted_leads() is 'Statement trigger: takes the leads a delete removed out of their orgs'' counts (app.org_lead_counts).';
revoke all on function app._count_deleted_leads() from public;
comment on function app._count_truncated_leads() is 'Statement trigger: a truncate of app.leads empties every org''s count (app.org_lead_counts).';
revoke all on function app._count_truncated_leads() from public;

-- The triggers.
CREATE TRIGGER leads_10_proposals AFTER INSERT ON app.leads REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION app._new_lead_proposals();

CREATE TRIGGER leads_20_first_stage AFTER INSERT ON app.leads REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION app._record_first_stages();

CREATE TRIGGER leads_30_score_new AFTER INSERT ON app.leads REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION app._score_new_leads();

CREATE TRIGGER leads_40_webhook_created AFTER INSERT ON app.leads REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION app._lead_webhooks_created();

CREATE TRIGGER leads_90_enforce_limit AFTER INSERT ON app.leads REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION app._enforce_lead_limit();

CREATE TRIGGER leads_count_deleted AFTER DELETE ON app.leads REFERENCING OLD TABLE AS old_leads FOR EACH STATEMENT EXECUTE FUNCTION app._count_deleted_leads();

CREATE TRIGGER leads_count_truncated AFTER TRUNCATE ON app.leads FOR EACH STATEMENT EXECUTE FUNCTION app._count_truncated_leads();

CREATE TRIGGER leads_record_stage_change AFTER UPDATE OF stage_id ON app.leads FOR EACH ROW WHEN ((old.stage_id IS DISTINCT FROM new.stage_id)) EXECUTE FUNCTION app._record_stage_change();

CREATE TRIGGER stage_changes_event AFTER INSERT ON app.stage_changes FOR EACH ROW WHEN ((new.from_stage_id IS NOT NULL)) EXECUTE FUNCTION app._stage_change_event();

-- ---------------------------------------------------------------------------
-- The batch upsert's room from the org's lead count (sql/78_plan_limits.sql, sql/40_leads.sql).
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION app.lock_lead_count(p_org_id text)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_leads integer;
  begin
    -- A request locks only its own org's count, and only when it may write (an operator's or
    -- a definer's call acts for no org).
    if app.current_org_id() is not null then
      perform app.ensure_can_write();
      if p_org_id is distinct from app.current_org_id() then
        perform app.refuse(403, 'forbidden', 'Another workspace''s lead count cannot be taken', 'Write leads of your own workspace only.');
      end if;
    end if;
    select c.leads into v_leads from app.org_lead_counts c where c.org_id = p_org_id for no key update;
    if not found then
      insert into app.org_lead_counts as c (org_id, leads)
      select p_org_id, count(*)::integer from app.leads l where l.org_id = p_org_id
      on conflict (org_id) do update set leads = c.leads
      returning c.leads into v_leads;
    end if;
    return v_leads;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._upsert_leads(p_org_id text, p_items jsonb, p_mode text DEFAULT 'patch'::text)
 RETURNS TABLE(item integer, result text, lead_id text, stage_id text, previous_stage_id text, error jsonb)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_keys text[];
    v_may_create boolean;
    v_tier text;
    v_limit integer;
    v_leads integer;
  begin
    if p_mode is null or p_mode not in ('patch', 'create', 'advance') then
      raise exception 'app._upsert_leads: mode must be patch, create or advance, not %', p_mode using errcode = '22023';
    end if;
    if pg_catalog.jsonb_typeof(p_items) is distinct from 'array' then
      perform app.refuse(400, 'invalid_items', 'items must be a JSON array of leads',
        'Send { "items": [{ "email": "jane@acme.com", "firstName": "Jane" }, …] }.');
    end if;

    -- Locks, each in a statement before the writing one, so that one sees what the writers it
    -- waited for committed: the org's lead count when an item may create a lead
    -- (app.lock_lead_count, 78_plan_limits.sql: the limit trigger takes the same lock, so
    -- concurrent writers of one org count the room one at a time, and the count is one row
    -- however many leads the org has), then the live leads the items name, in id order. One
    -- lead created alone (create: POST /leads) takes neither: the limit trigger refuses it
    -- with the same words, and takes the count's lock after the insert, for the shortest time.
    select coalesce(array_agg(distinct k.key), '{}') into v_keys
    from pg_catalog.jsonb_array_elements(p_items) e
    cross join lateral (select pg_catalog.lower(pg_catalog.btrim(e ->> 'email', E' \t\r\n')) as key) k
    where k.key is not null;
    v_may_create := p_mode <> 'create' and cardinality(v_keys) > (
      select count(*) from app.leads l where l.org_id = p_org_id and l.deleted_at is null and l.email_key = any (v_keys));
    if v_may_create then
      v_leads := app.lock_lead_count(p_org_id);
      select o.tier, t.lead_limit into v_tier, v_limit
      from app.orgs o join app.tiers t on t.tier = o.tier
      where o.id = p_org_id;
    end if;
    if p_mode <> 'create' then
      perform from app.leads l
      where l.org_id = p_org_id and l.deleted_at is null and l.email_key = any (v_keys)
      order by l.id
      for update of l;
    end if;

    -- Materialised steps: each item's fields, checks and new values are computed once, not
    -- once per reference.
    return query
    with src as materialized (
      select (x.n - 1)::integer as item,
             case when pg_catalog.jsonb_typeof(x.doc) = 'object' then app.lead_fields(x.doc, p_mode = 'advance') end as f
      from pg_catalog.jsonb_array_elements(p_items) with ordinality as x(doc, n)
    ),
    checked as materialized (
      select s.item, s.f, pg_catalog.lower(s.f ->> 'email') as email_key,
        case when s.f is null then pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_item',
               'message', 'An item must be a JSON object holding a lead''s fields',
               'hint', 'Send each item like { "email": "jane@acme.com", "firstName": "Jane" }.')
             else app.lead_fields_problem(s.f) end as problem
      from src s
    ),
    matched as (
      select c.*, l.id as old_id, l.first_name, l.last_name, l.organization_name, l.business_type, l.phone, l.tier,
        l.status, l.title, l.seniority, l.company_name, l.linkedin_url, l.company_size, l.company_revenue,
        l.custom_fields, l.crm_data, l.stage_id as old_stage_id,
        (select s.position from app.stages s where s.org_id = p_org_id and s.id = l.stage_id) as old_position,
        st.id as stage_to, st.position as stage_to_position
      from checked c
      left join app.leads l on c.problem is null and l.org_id = p_org_id and l.email_key = c.email_key and l.deleted_at is null
      left join lateral (
        select s.id, s.position from app.stages s
        where c.problem is null and c.f ? 'stage' and s.org_id = p_org_id
          and (s.id = c.f ->> 'stage' or pg_catalog.lower(s.name) = pg_catalog.lower(c.f ->> 'stage'))
        order by s.id = c.f ->> 'stage' desc
        limit 1) st on true
    ),
    computed as materialized (
      select m.*,
        case when m.f ? 'firstName' then m.f ->> 'firstName' when m.old_id is not null then m.first_name
             when p_mode = 'advance' then coalesce(substring(m.f ->> 'displayName' from '^\S+'), pg_catalog.split_part(m.f ->> 'email', '@', 1)) end as n_first_name,
        case when m.f ? 'lastName' then m.f ->> 'lastName' when m.old_id is not null then m.last_name
             when p_mode = 'advance' then nullif(pg_catalog.btrim(pg_catalog.regexp_replace(m.f ->> 'displayName', '^\S+', '')), '') end as n_last_name,
        case when m.f ? 'organizationName' then m.f ->> 'organizationName' else m.organization_name end as n_organization_name,
        case when m.f ? 'businessType' then m.f ->> 'businessType' else m.business_type end as n_business_type,
        case when m.f ? 'phone' then m.f ->> 'phone' else m.phone end as n_phone,
        case when m.f ? 'tier' then m.f ->> 'tier' else m.tier end as n_tier,
        coalesce(case when m.f ? 'status' then m.f ->> 'status' else m.status end, 'new') as n_status,
        case when m.f ? 'title' then m.f ->> 'title' else m.title end as n_title,
        case when m.f ? 'seniority' then m.f ->> 'seniority' else m.seniority end as n_seniority,
        case when m.f ? 'companyName' then m.f ->> 'companyName' else m.company_name end as n_company_name,
        case when m.f ? 'linkedinUrl' then m.f ->> 'linkedinUrl' else m.linkedin_url end as n_linkedin_url,
        case when m.f ? 'companySize' then m.f ->> 'companySize' else m.company_size end as n_company_size,
        case when m.f ? 'companyRevenue' then m.f ->> 'companyRevenue' else m.company_revenue end as n_company_revenue,
        -- A new lead keeps its objects as sent (a key set to null stays, as POST /leads stores
        -- it); a lead that exists merges them (a key set to null is removed).
        case when m.problem is null and m.f ? 'customFields' and m.old_id is null then m.f -> 'customFields'
             when m.problem is null and m.f ? 'customFields' then app.jsonb_merge_patch(m.custom_fields, m.f -> 'customFields')
             else coalesce(m.custom_fields, '{}'::jsonb) end as n_custom_fields,
        case when m.problem is null and m.f ? 'crmData' and m.old_id is null then m.f -> 'crmData'
             when m.problem is null and m.f ? 'crmData' then app.jsonb_merge_patch(m.crm_data, m.f -> 'crmData')
             else coalesce(m.crm_data, '{}'::jsonb) end as n_crm_data,
        case when m.stage_to is null then m.old_stage_id
             when p_mode = 'advance' and m.old_id is not null and m.stage_to_position <= coalesce(m.old_position, -1) then m.old_stage_id
             else m.stage_to end as n_stage_id
      from matched m
    ),
    judged as (
      select c.*, coalesce(c.problem,
        case when p_mode = 'create' and c.old_id is not null then pg_catalog.jsonb_build_object('status', 409, 'code', 'lead_exists',
          'message', 'A lead with this email already exists in this workspace', 'existingId', c.old_id,
          'hint', pg_catalog.format('The existing lead is %s. Update it with PATCH /api/openclaw/leads/%s instead of creating it again.', c.old_id, c.old_id)) end,
        case when c.f ? 'stage' and c.stage_to is null then pg_catalog.jsonb_build_object('status', 400, 'code', 'unknown_stage', 'field', 'stage',
          'message', pg_catalog.format('No stage named or with id "%s" in this workspace', c.f ->> 'stage'),
          'hint', 'Use one of: ' || coalesce((select string_agg(pg_catalog.format('"%s"', s.name), ', ' order by s.position)
                                              from app.stages s where s.org_id = p_org_id), '(no stages yet)') || '.') end,
        case when c.old_id is null and c.n_first_name is null then pg_catalog.jsonb_build_object('status', 400, 'code', 'missing_first_name',
          'field', 'firstName', 'message', 'firstName is required for a new lead',
          'hint', 'Send firstName with the first item (or row) for an email; later updates may leave it out.')
             when length(pg_catalog.btrim(c.n_first_name)) not between 1 and 200 then pg_catalog.jsonb_build_object('status', 400,
          'code', 'invalid_first_name', 'field', 'firstName', 'message', 'firstName must be 1-200 characters', 'hint', 'Send a non-empty firstName.') end,
        case when not app.json_fits(c.n_crm_data, 16384, 10) then pg_catalog.jsonb_build_object('status', 400, 'code', 'value_too_large',
          'field', 'crmData', 'message', 'crmData must be at most 16,384 bytes as JSON and nested at most 10 deep (as stored: after merging into what is there)',
          'hint', 'Keep crmData to short facts about the lead; remove keys you no longer need (set them to null) and put long text in a note (POST /api/openclaw/notes).') end,
        case when not app.json_fits(c.n_custom_fields, 65536, 10) then pg_catalog.jsonb_build_object('status', 400, 'code', 'value_too_large',
          'field', 'customFields', 'message', 'customFields must be at most 65,536 bytes as JSON and nested at most 10 deep (as stored: after merging into what is there)',
          'hint', 'Keep customFields to your fields'' values; clear ones you no longer need (set them to null).') end,
        case when c.old_id is null or c.f ? 'customFields' then app.custom_fields_problem(p_org_id, c.n_custom_fields, c.custom_fields) end,
        case when pg_catalog.row_number() over (partition by c.email_key order by c.item) > 1 then pg_catalog.jsonb_build_object('status', 400,
          'code', 'duplicate_item', 'field', 'email', 'message', pg_catalog.format('Another item before this one has the email %s', c.f ->> 'email'),
          'hint', 'Send each email once per batch or file: put all of a lead''s fields in one item (emails match case-insensitively).') end
      ) as problem2
      from computed c
    ),
    ranked as (
      select j.*,
        case when j.problem2 is null and j.old_id is null
             then pg_catalog.count(*) filter (where j.problem2 is null and j.old_id is null) over (order by j.item) end as new_rank,
        pg_catalog.count(*) filter (where j.problem2 is null and j.old_id is null) over () as new_total
      from judged j
    ),
    final as (
      select r.*, v.error,
        case when v.error is not null then 'failed'
             when r.old_id is null then 'created'
             when (r.n_first_name, r.n_last_name, r.n_organization_name, r.n_business_type, r.n_phone, r.n_tier, r.n_status,
                   r.n_title, r.n_seniority, r.n_company_name, r.n_linkedin_url, r.n_company_size, r.n_company_revenue,
                   r.n_custom_fields, r.n_crm_data, r.n_stage_id)
                  is not distinct from
                  (r.first_name, r.last_name, r.organization_name, r.business_type, r.phone, r.tier, r.status,
                   r.title, r.seniority, r.company_name, r.linkedin_url, r.company_size, r.company_revenue,
                   r.custom_fields, r.crm_data, r.old_stage_id) then 'unchanged'
             else 'updated' end as outcome
      from ranked r
      cross join lateral (select coalesce(r.problem2,
        case when r.new_rank > v_limit - v_leads then app.lead_limit_error(v_tier, v_limit, v_leads, r.new_total::integer) end) as error) v
    ),
    upd as (
      update app.leads l set
        first_name = f.n_first_name, last_name = f.n_last_name, organization_name = f.n_organization_name,
        business_type = f.n_business_type, phone = f.n_phone, tier = f.n_tier, status = f.n_status, title = f.n_title,
        seniority = f.n_seniority, company_name = f.n_company_name, linkedin_url = f.n_linkedin_url,
        company_size = f.n_company_size, company_revenue = f.n_company_revenue, custom_fields = f.n_custom_fields,
        crm_data = f.n_crm_data, stage_id = f.n_stage_id
      from final f
      where f.outcome = 'updated' and l.org_id = p_org_id and l.id = f.old_id
      returning l.id, l.stage_id
    ),
    ins as (
      insert into app.leads as l (org_id, first_name, last_name, email, organization_name, business_type, phone, tier, status,
                                  title, seniority, company_name, linkedin_url, company_size, company_revenue,
                                  custom_fields, crm_data, stage_id)
      select p_org_id, f.n_first_name, f.n_last_name, f.f ->> 'email', f.n_organization_name, f.n_business_type, f.n_phone,
             f.n_tier, f.n_status, f.n_title, f.n_seniority, f.n_company_name, f.n_linkedin_url, f.n_company_size,
             f.n_company_revenue, f.n_custom_fields, f.n_crm_data, f.n_stage_id
      from final f
      where f.outcome = 'created'
      order by f.item
      on conflict (org_id, email_key) where deleted_at is null do nothing
      returning l.id, l.email_key, l.stage_id
    )
    select f.item,
      case when f.outcome = 'created' and i.id is null then 'failed' else f.outcome end,
      coalesce(i.id, f.old_id),
      coalesce(u.stage_id, i.stage_id, f.old_stage_id),
      f.old_stage_id,
      case when f.outcome = 'created' and i.id is null then pg_catalog.jsonb_build_object('status', 409, 'code', 'lead_exists',
             'field', 'email', 'message', 'A lead with this email was created by another request at the same time',
             'hint', 'Send the item again: it then updates that lead.')
           else f.error end
    from final f
    left join upd u on u.id = f.old_id
    left join ins i on f.outcome = 'created' and i.email_key = f.email_key
    order by f.item;
  end;
  $function$
;

comment on function app.lock_lead_count(text) is 'Locks an org''s lead count (app.org_lead_counts, created from its leads when missing) until commit, as the lead limit''s trigger does, and answers it: the room a batch upsert counts.';
revoke all on function app.lock_lead_count(text) from public;
grant execute on function app.lock_lead_count(text) to authenticated, service_role;
