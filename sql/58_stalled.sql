-- Stalled leads: open leads nobody has touched for longer than their stage allows, and
-- what to do about each (a follow-up, a breakup email, a check-in call).
--
-- This file holds the view app.stage_stall_rules (each stage's threshold and whether it is
-- late in the pipeline), app.stall_verdict (the one definition of "stalled" and of the
-- response to it, also read by playbook recommendations in 60_playbooks.sql) and
-- app.stalled_leads (the current org's list, highest priority first).
-- The thresholds are stages.stall_after_days, with app.default_stall_after_days and the
-- trigger that clears them on won and lost stages, in 30_stages.sql; leads.idle_since and
-- the index leads_org_stage_idle_idx the list scans are in 40_leads.sql; hot leads come
-- from app.lead_scores (56_scoring.sql).

-- ---------------------------------------------------------------------------
-- Whether a stage is late in the pipeline: among the org's open stages, in the back half by
-- position (Contacted, Negotiated and Re-engage later in the default pipeline).
-- ---------------------------------------------------------------------------
create view app.stage_stall_rules with (security_invoker = true) as
  select s.org_id, s.id as stage_id, s.name as stage, s.position, s.outcome, s.stall_after_days,
    s.outcome = 'open'
      and 2 * count(*) filter (where s.outcome = 'open') over (partition by s.org_id order by s.position, s.id)
        > count(*) filter (where s.outcome = 'open') over (partition by s.org_id) as late_stage
  from app.stages s;
comment on view app.stage_stall_rules is 'Each stage''s stall threshold and outcome, and whether it is a late stage (back half of the org''s open stages).';
grant select on app.stage_stall_rules to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The one definition of stalled and of the response to it. Returns no row when the lead is
-- not stalled: deleted, in a won/lost stage or with a won/lost status, in a stage that never
-- stalls, or touched within the stage's threshold.
--   suggested_action: check_in_call for a hot lead (scored hot: 70 or more); else
--     send_breakup_email when idle for more than 3x the threshold; else check_in_call in a
--     late stage; else send_follow_up_email.
--   priority: high (1) for a call, medium (2) for a follow-up, low (3) for a breakup.
-- The label decides; the score itself only goes into the wording of stalled_reason, so a
-- caller that ranks leads without that wording need not read it.
-- No `set search_path` on purpose: a SQL function with a SET clause is never inlined, and
-- inlined into app.stalled_leads it costs a few microseconds per lead instead of a function
-- call each (several times faster on a page over thousands of stalled leads). Safe here:
-- the body names only pg_catalog functions and operators (always searched first), it reads
-- no table and runs with the caller's rights.
-- ---------------------------------------------------------------------------
create function app.stall_verdict(
  p_idle_since timestamptz,
  p_touched boolean,
  p_stall_after_days integer,
  p_outcome text,
  p_status text,
  p_deleted_at timestamptz,
  p_score integer,
  p_score_label text,
  p_late_stage boolean,
  p_stage text,
  p_now timestamptz)
  returns table (days_since_touch integer, days_overdue integer, stalled_reason text,
                 suggested_action text, priority text, priority_rank integer)
  -- stable, not immutable: format() is stable.
  language sql stable
  as $$
    select d.days, d.days - p_stall_after_days,
      case when p_touched then pg_catalog.format('No touch for %s days', d.days)
           else pg_catalog.format('Never touched in the %s days since it was added', d.days) end
        || pg_catalog.format('; "%s" stalls after %s days', p_stage, p_stall_after_days)
        || case a.action
             when 'send_breakup_email' then pg_catalog.format(' and it has been over 3x that (%s days)', 3 * p_stall_after_days)
             when 'check_in_call' then case when p_score_label = 'hot' then pg_catalog.format('; hot lead (score %s)', p_score)
                                            else '; late in the pipeline' end
             else '' end,
      a.action,
      case a.action when 'check_in_call' then 'high' when 'send_follow_up_email' then 'medium' else 'low' end,
      case a.action when 'check_in_call' then 1 when 'send_follow_up_email' then 2 else 3 end
    from (select pg_catalog.floor(pg_catalog.date_part('epoch', p_now - p_idle_since) / 86400)::integer as days) d
    cross join lateral (select case
        when p_score_label = 'hot' then 'check_in_call'
        when d.days > 3 * p_stall_after_days then 'send_breakup_email'
        when p_late_stage then 'check_in_call'
        else 'send_follow_up_email'
      end as action) a
    where p_deleted_at is null
      and p_outcome = 'open'
      and p_stall_after_days is not null
      and pg_catalog.lower(p_status) not in ('won', 'lost')
      and p_idle_since < p_now - pg_catalog.make_interval(days => p_stall_after_days)
  $$;
comment on function app.stall_verdict(timestamptz, boolean, integer, text, text, timestamptz, integer, text, boolean, text, timestamptz) is 'Whether a lead is stalled at p_now and, if so, why, what to do (send_breakup_email | send_follow_up_email | check_in_call) and how urgently; no row when it is not.';
revoke execute on function app.stall_verdict(timestamptz, boolean, integer, text, text, timestamptz, integer, text, boolean, text, timestamptz) from public;
grant execute on function app.stall_verdict(timestamptz, boolean, integer, text, text, timestamptz, integer, text, boolean, text, timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The list, in two passes:
--   1. ranking: per open stage with a threshold, an index-only range scan of the leads idle
--      since before the stage's cutoff (the index carries what the verdict needs), and the
--      org's hot leads from an index-only scan of their scores; the verdict ranks them
--      without wording anything;
--   2. the page: only its leads are read in full (name, email, score) and worded.
-- Highest priority first, then the most overdue.
-- ---------------------------------------------------------------------------
create function app.stalled_leads(p_now timestamptz default now(), p_limit integer default 50, p_offset integer default 0,
                                  p_after jsonb default null)
  returns table (lead_id text, name text, email text, stage_id text, stage text,
                 days_since_touch integer, stalled_reason text, suggested_action text,
                 priority text, priority_rank integer, total bigint, sort_key jsonb)
  language sql stable
  set search_path = ''
  as $$
    with rules as materialized (
      -- Materialised so each stage's cutoff reaches the lead scan as a parameter of the
      -- index condition.
      select r.org_id, r.stage_id, r.stage, r.outcome, r.stall_after_days, r.late_stage,
        p_now - pg_catalog.make_interval(days => r.stall_after_days) as cutoff
      from app.stage_stall_rules r
      where r.outcome = 'open' and r.stall_after_days is not null
    ),
    -- The hot leads of the orgs in view (the caller's, under row-level security).
    hot as materialized (
      select c.lead_id
      from (select distinct r.org_id from rules r) o
      join app.lead_scores c on c.org_id = o.org_id and c.label = 'hot'
    ),
    verdicts as (
      select l.id, l.idle_since, r.stage_id, v.priority_rank, v.days_overdue, count(*) over () as total
      from rules r
      join lateral (
        -- offset 0 keeps this a subquery per stage, so its conditions stay the index range
        -- (org_id, stage_id, idle_since < cutoff) rather than a join filter. The hot leads
        -- are a hashed subplan: hashed once, looked up per lead.
        select l.id, l.status, l.last_touch_at, l.idle_since, l.id in (select h.lead_id from hot h) as hot
        from app.leads l
        where l.org_id = r.org_id and l.stage_id = r.stage_id and l.deleted_at is null and l.idle_since < r.cutoff
        offset 0
      ) l on true
      cross join lateral app.stall_verdict(l.idle_since, l.last_touch_at is not null, r.stall_after_days, r.outcome,
        l.status, null, null, case when l.hot then 'hot' end, r.late_stage, r.stage, p_now) v
    ),
    -- The page: after p_after's lead (a cursor: its rank, days overdue, idle_since and id, in
    -- the list's order) when given, else from p_offset.
    ranked as (
      select k.* from verdicts k
      where p_after is null
         or (k.priority_rank, -k.days_overdue, k.idle_since, k.id)
            > ((p_after ->> 0)::integer, -(p_after ->> 1)::integer, (p_after ->> 2)::timestamptz, p_after ->> 3)
      order by k.priority_rank, k.days_overdue desc, k.idle_since, k.id
      limit greatest(p_limit, 0) offset greatest(p_offset, 0)
    )
    select l.id, pg_catalog.btrim(l.first_name || ' ' || coalesce(l.last_name, '')), l.email,
      r.stage_id, r.stage, v.days_since_touch, v.stalled_reason, v.suggested_action,
      v.priority, v.priority_rank, k.total,
      pg_catalog.jsonb_build_array(k.priority_rank, k.days_overdue, k.idle_since, k.id)
    from ranked k
    join rules r on r.stage_id = k.stage_id
    join app.leads l on l.id = k.id
    left join app.lead_scores c on c.lead_id = k.id
    cross join lateral app.stall_verdict(l.idle_since, l.last_touch_at is not null, r.stall_after_days, r.outcome,
      l.status, l.deleted_at, c.score, c.label, r.late_stage, r.stage, p_now) v
    order by k.priority_rank, k.days_overdue desc, k.idle_since, k.id
  $$;
comment on function app.stalled_leads(timestamptz, integer, integer, jsonb) is 'The current org''s stalled leads at p_now, highest priority then most overdue first, one page (from p_offset, or after the lead whose sort_key is p_after); total = all stalled leads.';
revoke execute on function app.stalled_leads(timestamptz, integer, integer, jsonb) from public;
grant execute on function app.stalled_leads(timestamptz, integer, integer, jsonb) to authenticated, service_role;
