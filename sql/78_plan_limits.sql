-- Plan limits: how many leads and campaigns an org's tier allows, enforced in the
-- inserting transaction whoever inserts. The limits are data in app.tiers
-- (20_orgs_keys.sql; a null limit means unlimited).
--   * app.org_tier (GET /org/tier): the current org's tier, its limits and what counts
--     against them;
--   * the lead limit: the leads_enforce_limit trigger on app.leads (table in 40_leads.sql);
--   * the campaign limit: the campaigns_enforce_limit and
--     campaigns_enforce_limit_on_unarchive triggers on app.campaigns (table in
--     70_campaigns.sql).
-- The limit triggers answer 402 with a hint to upgrade or make room. The file comes after
-- 70_campaigns.sql because app.org_tier, plain SQL, reads app.campaigns.

-- ---------------------------------------------------------------------------
-- Usage: the tier, its limits and the counts they apply to.
-- ---------------------------------------------------------------------------
create function app.org_tier() returns table (
  org_id text, tier text, lead_limit integer, campaign_limit integer,
  leads integer, live_leads integer, deleted_leads integer,
  campaigns integer, archived_campaigns integer)
  language sql stable
  set search_path = ''
  as $$
    select o.id, o.tier, t.lead_limit, t.campaign_limit, l.total, l.total - l.deleted, l.deleted,
           c.counted, c.archived
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    cross join lateral (
      select count(*)::integer as total, (count(*) filter (where x.deleted_at is not null))::integer as deleted
      from app.leads x where x.org_id = o.id
    ) l
    cross join lateral (
      select (count(*) filter (where x.status <> 'archived'))::integer as counted,
             (count(*) filter (where x.status = 'archived'))::integer as archived
      from app.campaigns x where x.org_id = o.id and x.kind = 'sequence'
    ) c
    where o.id = app.current_org_id()
  $$;
comment on function app.org_tier() is 'The current org''s tier, its limits and how many leads and campaigns (ad-hoc sequences excluded) count against them.';
revoke execute on function app.org_tier() from public;
grant execute on function app.org_tier() to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The limits are checked once per inserting (or un-archiving) statement, after its rows are
-- in, from the statement's transition table: a statement of 5,000 leads locks each org it
-- touches once and counts once, so it costs O(n), not a count per row. Locking the org rows
-- (in id order, so two statements never wait on each other crosswise) serialises the
-- statements of one org, and the count, taken after the lock by a statement of its own,
-- sees what the statement before committed: 50 concurrent inserts at 95 of 100 end at
-- exactly 100. Other orgs are not affected.
-- ---------------------------------------------------------------------------

-- The lead limit. Soft-deleted leads count until permanently deleted, so restoring a lead
-- can never take an org over its limit. app.lead_limit_error words the refusal once, for
-- this trigger and for the batch upsert (app._upsert_leads, 40_leads.sql), which counts the
-- room left itself and fails only the items past it.
create function app.lead_limit_error(p_tier text, p_limit integer, p_leads integer, p_added integer) returns jsonb
  language sql immutable
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object('status', 402, 'code', 'lead_limit_reached',
      'message', pg_catalog.format('Lead limit reached: the %s tier allows %s leads and this workspace has %s', p_tier, p_limit, p_leads)
        || case when p_added > 1 then pg_catalog.format(' (this request adds %s)', p_added) else '' end,
      'hint', 'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or permanently delete leads you no longer need (DELETE /api/openclaw/leads/{id}?permanent=true; soft-deleted leads still count).')
  $$;
comment on function app.lead_limit_error(text, integer, integer, integer) is 'The 402 lead_limit_reached refusal as {status, code, message, hint}: the tier, its limit, the leads the workspace has and how many the request adds.';
revoke execute on function app.lead_limit_error(text, integer, integer, integer) from public;
grant execute on function app.lead_limit_error(text, integer, integer, integer) to authenticated, service_role;

create function app._enforce_lead_limit() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_over record;
    v_error jsonb;
  begin
    perform from app.orgs o
    where o.id in (select distinct n.org_id from new_leads n)
    order by o.id
    for no key update of o;

    select o.tier, t.lead_limit, c.total, a.added into v_over
    from (select n.org_id, count(*)::integer as added from new_leads n group by n.org_id) a
    join app.orgs o on o.id = a.org_id
    join app.tiers t on t.tier = o.tier
    cross join lateral (select count(*)::integer as total from app.leads l where l.org_id = o.id) c
    where c.total > t.lead_limit
    limit 1;

    if found then
      v_error := app.lead_limit_error(v_over.tier, v_over.lead_limit, v_over.total - v_over.added, v_over.added);
      perform app.refuse(402, v_error ->> 'code', v_error ->> 'message', v_error ->> 'hint');
    end if;
    return null;
  end;
  $$;
comment on function app._enforce_lead_limit() is 'Statement trigger: refuses an insert that takes an org past its tier''s lead limit (soft-deleted leads included); one lock and one count per org and statement; exact under concurrency.';
revoke execute on function app._enforce_lead_limit() from public;

create trigger leads_enforce_limit after insert on app.leads
  referencing new table as new_leads
  for each statement execute function app._enforce_lead_limit();

-- The campaign limit. Archived campaigns do not count: archiving frees a slot without losing
-- history, and taking a campaign out of the archive is checked like a new one. Ad-hoc
-- campaigns (POST /email/send-sequence) do not count either. Transition tables cannot go
-- with a column list (update of status), so the update trigger sees every update and picks
-- the un-archived rows itself; any other update costs one empty join.
create function app._enforce_campaign_limit() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_added jsonb;
    v_over record;
  begin
    -- How many counted campaigns the statement added, per org.
    if tg_op = 'INSERT' then
      select pg_catalog.jsonb_object_agg(a.org_id, a.n) into v_added
      from (select n.org_id, count(*) as n from new_campaigns n
            where n.status <> 'archived' and n.kind = 'sequence' group by n.org_id) a;
    else
      select pg_catalog.jsonb_object_agg(a.org_id, a.n) into v_added
      from (select n.org_id, count(*) as n from new_campaigns n join old_campaigns o on o.org_id = n.org_id and o.id = n.id
            where o.status = 'archived' and n.status <> 'archived' and n.kind = 'sequence' group by n.org_id) a;
    end if;
    if v_added is null then
      return null;
    end if;

    perform from app.orgs o where v_added ? o.id order by o.id for no key update of o;

    select o.tier, t.campaign_limit, c.counted, (v_added ->> o.id)::integer as added into v_over
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    cross join lateral (
      select count(*)::integer as counted from app.campaigns x
      where x.org_id = o.id and x.status <> 'archived' and x.kind = 'sequence') c
    where v_added ? o.id and t.campaign_limit is not null and c.counted > t.campaign_limit
    limit 1;

    if found then
      perform app.refuse(402, 'campaign_limit_reached',
        pg_catalog.format('Campaign limit reached: the %s tier allows %s campaigns and this workspace has %s', v_over.tier, v_over.campaign_limit, v_over.counted - v_over.added),
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or archive a campaign you no longer run (DELETE /api/openclaw/campaigns/{campaignId}; archived campaigns do not count).');
    end if;
    return null;
  end;
  $$;
comment on function app._enforce_campaign_limit() is 'Statement trigger: refuses inserting or un-archiving campaigns past the tier''s campaign limit; archived and ad-hoc campaigns do not count; one lock and one count per org and statement; exact under concurrency.';
revoke execute on function app._enforce_campaign_limit() from public;

create trigger campaigns_enforce_limit after insert on app.campaigns
  referencing new table as new_campaigns
  for each statement execute function app._enforce_campaign_limit();
create trigger campaigns_enforce_limit_on_unarchive after update on app.campaigns
  referencing old table as old_campaigns new table as new_campaigns
  for each statement execute function app._enforce_campaign_limit();
