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
-- The plan's lead limit. Locking the org row serialises concurrent inserts of one
-- org (other orgs are not affected), so the count is exact: 50 parallel inserts at
-- 95 of 100 end at exactly 100. Soft-deleted leads count until permanently deleted,
-- so restoring a lead can never take an org over its limit.
-- ---------------------------------------------------------------------------
create function app._enforce_lead_limit() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_tier text;
    v_limit integer;
    v_count integer;
  begin
    select o.tier, t.lead_limit into v_tier, v_limit
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    where o.id = new.org_id
    for no key update of o;

    select count(*) into v_count from app.leads l where l.org_id = new.org_id;

    if v_count >= v_limit then
      perform app.refuse(402, 'lead_limit_reached',
        pg_catalog.format('Lead limit reached: the %s tier allows %s leads and this workspace has %s', v_tier, v_limit, v_count),
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or permanently delete leads you no longer need (DELETE /api/openclaw/leads/{id}?permanent=true; soft-deleted leads still count).');
    end if;
    return new;
  end;
  $$;
comment on function app._enforce_lead_limit() is 'Trigger: refuses a new lead once the org holds its tier''s lead limit (soft-deleted leads included); exact under concurrency.';
revoke execute on function app._enforce_lead_limit() from public;

create trigger leads_enforce_limit before insert on app.leads
  for each row execute function app._enforce_lead_limit();

-- ---------------------------------------------------------------------------
-- The plan's campaign limit, exact under concurrency like the lead limit. Archived
-- campaigns do not count: archiving frees a slot without losing history, and taking a
-- campaign out of the archive is checked against the limit like a new one. Ad-hoc
-- campaigns (POST /email/send-sequence) do not count either: the limit trigger and the
-- usage report skip them.
-- ---------------------------------------------------------------------------
create function app._enforce_campaign_limit() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_tier text;
    v_limit integer;
    v_count integer;
  begin
    if new.kind = 'adhoc' then
      return new;
    end if;
    select o.tier, t.campaign_limit into v_tier, v_limit
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    where o.id = new.org_id
    for no key update of o;

    if v_limit is null then
      return new;
    end if;

    select count(*) into v_count
    from app.campaigns c
    where c.org_id = new.org_id and c.status <> 'archived' and c.kind = 'sequence' and c.id <> new.id;

    if v_count >= v_limit then
      perform app.refuse(402, 'campaign_limit_reached',
        pg_catalog.format('Campaign limit reached: the %s tier allows %s campaigns and this workspace has %s', v_tier, v_limit, v_count),
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or archive a campaign you no longer run (DELETE /api/openclaw/campaigns/{campaignId}; archived campaigns do not count).');
    end if;
    return new;
  end;
  $$;
comment on function app._enforce_campaign_limit() is 'Trigger: refuses a new (or un-archived) campaign once the org runs its tier''s campaign limit; archived and ad-hoc campaigns do not count; exact under concurrency.';
revoke execute on function app._enforce_campaign_limit() from public;

create trigger campaigns_enforce_limit before insert on app.campaigns
  for each row when (new.status <> 'archived')
  execute function app._enforce_campaign_limit();
create trigger campaigns_enforce_limit_on_unarchive before update of status on app.campaigns
  for each row when (old.status = 'archived' and new.status <> 'archived')
  execute function app._enforce_campaign_limit();
