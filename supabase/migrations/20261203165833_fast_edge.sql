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
--     org's row for every lead created.

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
      perform app.refuse(402, 'lead_limit_reached',
        pg_catalog.format('Lead limit reached: the %s tier allows %s leads and this workspace has %s', v_over.tier, v_over.lead_limit, v_over.total - v_over.added)
          || case when v_over.added > 1 then pg_catalog.format(' (this request adds %s)', v_over.added) else '' end,
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or permanently delete leads you no longer need (DELETE /api/openclaw/leads/{id}?permanent=true; soft-deleted leads still count).');
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
