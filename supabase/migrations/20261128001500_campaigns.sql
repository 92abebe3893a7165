-- Campaigns, as far as the plan limit needs them: the table (extended by the campaign
-- and enrolment work) and the tier's campaign limit, enforced by the inserting
-- transaction like the lead limit. Archived campaigns do not count: archiving frees a
-- slot without losing history, and taking a campaign out of the archive is checked
-- against the limit like a new one.

create table app.campaigns (
  id text primary key default app.new_id('cmp'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  status text not null default 'draft' check (status in ('draft', 'active', 'paused', 'archived')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- For composite foreign keys (org_id, campaign_id) from enrolments and steps.
  constraint campaigns_org_id_id_key unique (org_id, id)
);
comment on table app.campaigns is 'Email sequences per org. Non-archived campaigns count against the tier''s campaign limit.';

create index campaigns_org_created_idx on app.campaigns (org_id, created_at desc, id desc);
create index campaigns_org_status_idx on app.campaigns (org_id, status);

create trigger campaigns_touch_updated_at before update on app.campaigns
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.campaigns', 'Campaigns');
grant select, insert, update, delete on app.campaigns to authenticated;
grant all on app.campaigns to service_role;

-- ---------------------------------------------------------------------------
-- The plan's campaign limit (null = unlimited). As for leads, locking the org row
-- serialises one org's concurrent inserts (and un-archivings), so the count is exact.
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
    where c.org_id = new.org_id and c.status <> 'archived' and c.id <> new.id;

    if v_count >= v_limit then
      perform app.refuse(402, 'campaign_limit_reached',
        pg_catalog.format('Campaign limit reached: the %s tier allows %s campaigns and this workspace has %s', v_tier, v_limit, v_count),
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or archive a campaign you no longer run (archived campaigns do not count).');
    end if;
    return new;
  end;
  $$;
comment on function app._enforce_campaign_limit() is 'Trigger: refuses a new (or un-archived) campaign once the org runs its tier''s campaign limit; archived campaigns do not count; exact under concurrency.';
revoke execute on function app._enforce_campaign_limit() from public;

create trigger campaigns_enforce_limit before insert on app.campaigns
  for each row when (new.status <> 'archived')
  execute function app._enforce_campaign_limit();
create trigger campaigns_enforce_limit_on_unarchive before update of status on app.campaigns
  for each row when (old.status = 'archived' and new.status <> 'archived')
  execute function app._enforce_campaign_limit();

-- ---------------------------------------------------------------------------
-- GET /org/tier: the same columns as before, plus campaign usage. The result type
-- changes, so the function is dropped and created again (with its privileges).
-- ---------------------------------------------------------------------------
drop function app.org_tier();
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
      from app.campaigns x where x.org_id = o.id
    ) c
    where o.id = app.current_org_id()
  $$;
comment on function app.org_tier() is 'The current org''s tier, its limits and how many leads and campaigns count against them.';
revoke execute on function app.org_tier() from public;
grant execute on function app.org_tier() to authenticated, service_role;
