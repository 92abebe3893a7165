-- Stalled leads: open leads nobody has touched for longer than their stage allows.
--   * stages.stall_after_days: the per-stage threshold (null = the stage never stalls; won
--     and lost stages never do), with defaults for the eight default stages, editable
--     through the stages API (app.create_stage / app.update_stage take stallAfterDays and
--     outcome);
--   * leads.idle_since: the last touch, or the creation for a lead never touched, kept by
--     Postgres and indexed per (org, stage) so the list is index range scans, one per stage;
--   * app.stall_verdict: the one definition of "stalled" and of what to do about it, read by
--     app.stalled_leads and by playbook recommendations;
--   * app.stalled_leads: the current org's stalled leads, highest priority first.

-- ---------------------------------------------------------------------------
-- Per-stage thresholds
-- ---------------------------------------------------------------------------
alter table app.stages add column stall_after_days integer default 7
  constraint stages_stall_after_days_check check (stall_after_days between 1 and 365);
comment on column app.stages.stall_after_days is 'Days without a touch after which a lead in this stage is stalled; null = never. Always null for won and lost stages.';

create function app.default_stall_after_days(p_stage_name text) returns integer
  language sql immutable
  set search_path = ''
  as $$
    select case lower(btrim(p_stage_name))
      when 'prospects' then 7
      when 'leads' then 5
      when 'engaged' then 3
      when 'contacted' then 5
      when 'negotiated' then 3
      when 're-engage later' then 30
      else 7
    end
  $$;
comment on function app.default_stall_after_days(text) is 'The stall threshold a stage starts with: 7 days, shorter for the default pipeline''s hot stages, 30 for Re-engage later.';
revoke execute on function app.default_stall_after_days(text) from public;
grant execute on function app.default_stall_after_days(text) to authenticated, service_role;

-- A closed deal is never overdue: a stage that is (or becomes) won or lost drops its threshold.
create function app._closed_stage_never_stalls() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.outcome <> 'open' then
      new.stall_after_days := null;
    end if;
    return new;
  end;
  $$;
comment on function app._closed_stage_never_stalls() is 'Trigger: clears stall_after_days on won and lost stages.';
revoke execute on function app._closed_stage_never_stalls() from public;

-- Named to run after stages_default_outcome, which fills in the outcome first.
create trigger stages_stall_only_open before insert or update of outcome, stall_after_days on app.stages
  for each row execute function app._closed_stage_never_stalls();

update app.stages s set stall_after_days = app.default_stall_after_days(s.name);

-- The eight default stages, now with their thresholds (and outcomes, spelled out).
create or replace function app._create_default_stages(p_org_id text) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    insert into app.stages (org_id, name, position, color, is_default, outcome, stall_after_days)
    select p_org_id, d.name, d.position, d.color, d.position = 0, d.outcome, app.default_stall_after_days(d.name)
    from (values
      ('Prospects', 0, '#94A3B8', 'open'),
      ('Leads', 1, '#60A5FA', 'open'),
      ('Engaged', 2, '#818CF8', 'open'),
      ('Contacted', 3, '#A78BFA', 'open'),
      ('Negotiated', 4, '#F59E0B', 'open'),
      ('Re-engage later', 5, '#F97316', 'open'),
      ('Closed Won', 6, '#22C55E', 'won'),
      ('Closed Lost', 7, '#EF4444', 'lost')
    ) as d(name, position, color, outcome)
  $$;
comment on function app._create_default_stages(text) is 'Gives a new org the default eight-stage pipeline (Prospects the default stage) with outcomes and stall thresholds.';
revoke execute on function app._create_default_stages(text) from public;

-- ---------------------------------------------------------------------------
-- The stages API: stallAfterDays and outcome, set on create or change.
-- ---------------------------------------------------------------------------
create function app._set_stage_rules(p_stage_id text, p_rules jsonb) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_days jsonb := p_rules -> 'stallAfterDays';
    v_outcome jsonb := p_rules -> 'outcome';
    v_was_open boolean := (select s.outcome = 'open' from app.stages s where s.id = p_stage_id);
  begin
    if p_rules ? 'outcome' then
      if v_outcome <> 'null'::jsonb and (pg_catalog.jsonb_typeof(v_outcome) <> 'string' or v_outcome ->> 0 not in ('open', 'won', 'lost')) then
        perform app.refuse(400, 'invalid_outcome', pg_catalog.format('outcome %s is not open, won or lost', v_outcome),
          'Send outcome as "open" (still in play), "won" or "lost" (closed deals: never stalled, counted as won or lost), or null to take it from the stage name.');
      end if;
      update app.stages s set outcome = p_rules ->> 'outcome' where s.id = p_stage_id;
      -- A closed stage lost its threshold; reopened, it gets its default back unless one is given.
      if not v_was_open and not (p_rules ? 'stallAfterDays') then
        update app.stages s set stall_after_days = app.default_stall_after_days(s.name)
        where s.id = p_stage_id and s.outcome = 'open' and s.stall_after_days is null;
      end if;
    end if;
    if p_rules ? 'stallAfterDays' then
      if v_days <> 'null'::jsonb and (pg_catalog.jsonb_typeof(v_days) <> 'number' or (v_days #>> '{}')::numeric not between 1 and 365
                                       or (v_days #>> '{}')::numeric <> pg_catalog.trunc((v_days #>> '{}')::numeric)) then
        perform app.refuse(400, 'invalid_stall_after_days', pg_catalog.format('stallAfterDays %s is not a whole number of days from 1 to 365', v_days),
          'Send stallAfterDays as 1-365 (a lead in the stage is stalled after that many days without a touch), or null so the stage never stalls.');
      end if;
      update app.stages s set stall_after_days = (p_rules ->> 'stallAfterDays')::integer where s.id = p_stage_id;
    end if;
  end;
  $$;
comment on function app._set_stage_rules(text, jsonb) is 'Sets a stage''s outcome and/or stallAfterDays from the keys present in p_rules, refusing invalid values with a hint.';
revoke execute on function app._set_stage_rules(text, jsonb) from public;
grant execute on function app._set_stage_rules(text, jsonb) to authenticated, service_role;

drop function app.create_stage(text, integer, text, boolean, text);
create function app.create_stage(
  p_name text,
  p_position integer default null,
  p_color text default null,
  p_is_default boolean default false,
  p_org_id text default app.current_org_id(),
  p_rules jsonb default '{}')
  returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_id text;
    v_first boolean;
  begin
    if p_org_id is null then
      perform app.refuse(400, 'org_required', 'No org to create the stage in',
        'Call it in a tenant request, or pass p_org_id.');
    end if;
    perform app._lock_stages(p_org_id);
    perform app._refuse_taken_stage_name(p_org_id, p_name, null);
    v_first := not exists (select from app.stages s where s.org_id = p_org_id and s.is_default);

    insert into app.stages (org_id, name, position, color, is_default, stall_after_days)
    values (p_org_id, btrim(p_name), 0, p_color, coalesce(p_is_default, false) or v_first, app.default_stall_after_days(p_name))
    returning id into v_id;
    perform app._set_stage_rules(v_id, coalesce(p_rules, '{}'::jsonb));

    -- The new stage goes last unless an index is given.
    perform app._place_stage(p_org_id, v_id, coalesce(p_position, 2147483647));
    return v_id;
  end;
  $$;
comment on function app.create_stage(text, integer, text, boolean, text, jsonb) is 'Adds a stage at the given index (default last); marking it default (or being the only stage) moves the default flag to it; p_rules may set outcome and stallAfterDays.';
revoke execute on function app.create_stage(text, integer, text, boolean, text, jsonb) from public;
grant execute on function app.create_stage(text, integer, text, boolean, text, jsonb) to authenticated, service_role;

create or replace function app.update_stage(p_stage text, p_changes jsonb) returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_stage app.stages := app._find_stage(p_stage);
    v_changes jsonb := coalesce(p_changes, '{}'::jsonb);
    v_unknown text;
  begin
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;
    select string_agg(k, ', ') into v_unknown
    from pg_catalog.jsonb_object_keys(v_changes) k
    where k not in ('name', 'order', 'color', 'isDefault', 'stallAfterDays', 'outcome');
    if v_unknown is not null then
      perform app.refuse(400, 'invalid_stage_change', pg_catalog.format('Unknown stage field(s): %s', v_unknown),
        'A stage has name, order, color, isDefault, stallAfterDays and outcome.');
    end if;
    perform app._lock_stages(v_stage.org_id);
    v_stage := app._find_stage(v_stage.id);
    if v_stage.id is null then
      perform app._refuse_unknown_stage(p_stage);
    end if;

    if v_changes ? 'name' then
      perform app._refuse_taken_stage_name(v_stage.org_id, v_changes ->> 'name', v_stage.id);
      update app.stages s set name = btrim(v_changes ->> 'name') where s.id = v_stage.id;
    end if;
    if v_changes ? 'color' then
      update app.stages s set color = v_changes ->> 'color' where s.id = v_stage.id;
    end if;
    if v_changes ? 'isDefault' then
      if (v_changes ->> 'isDefault')::boolean then
        update app.stages s set is_default = true where s.id = v_stage.id;
      elsif v_stage.is_default then
        perform app.refuse(409, 'default_stage_required',
          pg_catalog.format('"%s" is the default stage and the pipeline needs one', v_stage.name),
          'Mark another stage as default instead: PUT /api/openclaw/stages { "id": "<other stage id>", "isDefault": true } moves the flag.');
      end if;
    end if;
    perform app._set_stage_rules(v_stage.id, v_changes);
    if v_changes ? 'order' then
      perform app._place_stage(v_stage.org_id, v_stage.id, (v_changes ->> 'order')::integer);
    end if;
    return v_stage.id;
  end;
  $$;
comment on function app.update_stage(text, jsonb) is 'Changes one stage (by id or name): name, order (moves it, others shift), color, isDefault (true moves the flag; the default cannot be unmarked), stallAfterDays, outcome.';

-- The stages as GET /stages lists them, now with outcome and threshold (spelled out: the
-- view's columns must not shift when app.stages grows).
drop view app.stage_details;
create view app.stage_details with (security_invoker = true) as
  select s.id, s.org_id, s.name, s.position, s.color, s.is_default, s.outcome, s.stall_after_days,
    s.created_at, s.updated_at,
    (select count(*)::integer from app.leads l
     where l.org_id = s.org_id and l.stage_id = s.id and l.deleted_at is null) as lead_count
  from app.stages s;
comment on view app.stage_details is 'Stages with outcome, stall threshold and lead_count, the number of live (not soft-deleted) leads in each.';
grant select on app.stage_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- What stalled detection reads, per lead and per stage.
-- ---------------------------------------------------------------------------
-- A plain column (not an expression index on coalesce()): under row-level security only
-- leakproof comparisons become index conditions, and coalesce() does not count as one.
alter table app.leads add column idle_since timestamptz
  generated always as (coalesce(last_touch_at, created_at)) stored;
comment on column app.leads.idle_since is 'The last touch, or the creation for a lead never touched: what stalled detection measures from.';

-- It carries each lead's id and what the verdict reads of it (last touch, status), so
-- ranking the stalled leads is an index-only scan.
create index leads_org_stage_idle_idx on app.leads (org_id, stage_id, idle_since) include (id, last_touch_at, status)
  where deleted_at is null;

-- Whether a stage is late in the pipeline: among the org's open stages, in the back half by
-- position (Contacted, Negotiated and Re-engage later in the default pipeline).
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
-- call each (several times faster on a page over thousands of stalled leads). Safe here: the body
-- names only pg_catalog functions and operators (always searched first), it reads no table and runs with the caller's rights.
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
create function app.stalled_leads(p_now timestamptz default now(), p_limit integer default 50, p_offset integer default 0)
  returns table (lead_id text, name text, email text, stage_id text, stage text,
                 days_since_touch integer, stalled_reason text, suggested_action text,
                 priority text, priority_rank integer, total bigint)
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
    ranked as (
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
      order by v.priority_rank, v.days_overdue desc, l.idle_since, l.id
      limit greatest(p_limit, 0) offset greatest(p_offset, 0)
    )
    select l.id, pg_catalog.btrim(l.first_name || ' ' || coalesce(l.last_name, '')), l.email,
      r.stage_id, r.stage, v.days_since_touch, v.stalled_reason, v.suggested_action,
      v.priority, v.priority_rank, k.total
    from ranked k
    join rules r on r.stage_id = k.stage_id
    join app.leads l on l.id = k.id
    left join app.lead_scores c on c.lead_id = k.id
    cross join lateral app.stall_verdict(l.idle_since, l.last_touch_at is not null, r.stall_after_days, r.outcome,
      l.status, l.deleted_at, c.score, c.label, r.late_stage, r.stage, p_now) v
    order by k.priority_rank, k.days_overdue desc, k.idle_since, k.id
  $$;
comment on function app.stalled_leads(timestamptz, integer, integer) is 'The current org''s stalled leads at p_now, highest priority then most overdue first, one page (total = all stalled leads).';
revoke execute on function app.stalled_leads(timestamptz, integer, integer) from public;
grant execute on function app.stalled_leads(timestamptz, integer, integer) to authenticated, service_role;
