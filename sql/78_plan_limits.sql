-- Plan limits: how many leads and campaigns an org's tier allows, enforced in the
-- inserting transaction whoever inserts. The limits are data in app.tiers
-- (20_orgs_keys.sql; a null limit means unlimited).
--   * app.org_tier (GET /org/tier): the current org's tier, its limits and what counts
--     against them;
--   * the lead limit: the leads_90_enforce_limit trigger on app.leads (table in 40_leads.sql),
--     against app.org_lead_counts, each org's count of leads kept by the insert and delete
--     triggers;
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
-- in, from the statement's transition table, so a statement of 5,000 leads costs O(n), not a
-- check per row. Exact under concurrency: the statement locks one row per org (the org's lead
-- count, which it updates; for campaigns the org itself, then counted), in id order so two
-- statements never wait on each other crosswise, and waits for the org's statement before it,
-- whose rows it then counts: 50 concurrent inserts at 95 of 100 end at exactly 100. Other orgs
-- are not affected.
-- ---------------------------------------------------------------------------

-- Each org's leads, live and soft-deleted, as the lead limit counts them: a count kept
-- beside the org, so the check is one row however many leads the org has, and the row it
-- locks until commit is taken last (the leads are already in when it is). Kept by
-- leads_90_enforce_limit (insert) and leads_count_deleted (delete); an org without a row yet
-- (new, or from before the count existed) is counted once, by its first insert. Inserting
-- leads with triggers disabled (session_replication_role = replica) is not counted: delete
-- the org's row here and its next insert counts again.
create table app.org_lead_counts (
  org_id text not null references app.orgs (id) on delete cascade,
  leads integer not null,
  primary key (org_id)
);
comment on table app.org_lead_counts is 'Each org''s number of leads (soft-deleted ones included), what the lead limit compares with the tier''s; kept by triggers on app.leads.';
select app.make_org_private('app.org_lead_counts', 'Lead counts');
grant select on app.org_lead_counts to authenticated;
grant all on app.org_lead_counts to service_role;

-- The batch upsert's room (app._upsert_leads, 40_leads.sql): the org's count, locked as the
-- limit trigger locks it, so concurrent batches of one org count the room one at a time, in
-- one row however many leads the org has. An org without a count yet is counted here once.
create function app.lock_lead_count(p_org_id text) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
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
  $$;
comment on function app.lock_lead_count(text) is 'Locks an org''s lead count (app.org_lead_counts, created from its leads when missing) until commit, as the lead limit''s trigger does, and answers it: the room a batch upsert counts.';
revoke execute on function app.lock_lead_count(text) from public;
grant execute on function app.lock_lead_count(text) to authenticated, service_role;

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
  $$;
comment on function app._enforce_lead_limit() is 'Statement trigger: counts an insert''s leads into app.org_lead_counts and refuses it when that takes an org past its tier''s lead limit (soft-deleted leads included); one row per org and statement; exact under concurrency.';
revoke execute on function app._enforce_lead_limit() from public;

-- Last of the insert's statement triggers (they fire in name order), so the org's count is
-- locked as late as possible: the lock lasts until commit and queues the org's next insert.
create trigger leads_90_enforce_limit after insert on app.leads
  referencing new table as new_leads
  for each statement execute function app._enforce_lead_limit();

-- Leads deleted for good leave the count (soft deletes stay in it).
create function app._count_deleted_leads() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    update app.org_lead_counts c set leads = greatest(0, c.leads - d.removed)
    from (select o.org_id, count(*)::integer as removed from old_leads o group by o.org_id) d
    where c.org_id = d.org_id;
    return null;
  end;
  $$;
comment on function app._count_deleted_leads() is 'Statement trigger: takes the leads a delete removed out of their orgs'' counts (app.org_lead_counts).';
revoke execute on function app._count_deleted_leads() from public;

create trigger leads_count_deleted after delete on app.leads
  referencing old table as old_leads
  for each statement execute function app._count_deleted_leads();

-- A truncate leaves no lead of any org.
create function app._count_truncated_leads() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    delete from app.org_lead_counts;
    return null;
  end;
  $$;
comment on function app._count_truncated_leads() is 'Statement trigger: a truncate of app.leads empties every org''s count (app.org_lead_counts).';
revoke execute on function app._count_truncated_leads() from public;

create trigger leads_count_truncated after truncate on app.leads
  for each statement execute function app._count_truncated_leads();

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
