-- Proposals: one public page per lead (/p/{slug}) with sections an agent writes, and the
-- tracking of its visits.
--   * app.proposals: slug, content per section, published flag and the org's preview
--     token; every lead gets one when it is inserted (the leads_proposal trigger on
--     app.leads, in this file);
--   * app.proposal_visits: one row per counted visit, written only by app.track_proposal;
--   * content: app.proposal_content_problem (the rules, also the table's check) and
--     app.set_proposal (agents merge content, publish and unpublish);
--   * the public page: app.proposal_page (what it prints) and app.track_proposal (its
--     beacon); app.proposal_tracking is a lead's rollup for agents.
-- Tracking records engagement events in app.events (54_events.sql), which scoring,
-- automation and campaign triggers react to. The slug also reaches campaign emails as
-- {{proposalUrl}} (app.template_values, 70_campaigns.sql) and the API's leads as
-- proposal_slug (app.lead_details, 95_views.sql).

-- ---------------------------------------------------------------------------
-- Content: the sections a page has, and what each may hold. Created before the table,
-- whose check constraint calls it.
-- ---------------------------------------------------------------------------
create function app.proposal_content_problem(p_content jsonb) returns text
  language plpgsql immutable
  set search_path = ''
  as $$
  declare
    v_allowed constant jsonb := '{
      "hero": ["headline", "subheadline"],
      "problem": ["heading", "body", "points"],
      "offer": ["heading", "body", "points"],
      "pricing": ["heading", "body", "items"],
      "video": ["url", "title"],
      "cta": ["label", "url"]
    }'::jsonb;
    v_section record;
    v_field record;
    v_item jsonb;
  begin
    if pg_catalog.jsonb_typeof(p_content) is distinct from 'object' then
      return 'content must be an object of sections';
    end if;
    if pg_catalog.length(p_content::text) > 50000 then
      return 'content must be at most 50,000 characters of JSON';
    end if;
    for v_section in select * from pg_catalog.jsonb_each(p_content) loop
      if not v_allowed ? v_section.key then
        return pg_catalog.format('unknown section "%s"', v_section.key);
      end if;
      if pg_catalog.jsonb_typeof(v_section.value) <> 'object' then
        return pg_catalog.format('%s must be an object', v_section.key);
      end if;
      for v_field in select * from pg_catalog.jsonb_each(v_section.value) loop
        if not (v_allowed -> v_section.key) ? v_field.key then
          return pg_catalog.format('%s.%s is not a field of %s (fields: %s)', v_section.key, v_field.key, v_section.key,
            (select string_agg(f, ', ') from pg_catalog.jsonb_array_elements_text(v_allowed -> v_section.key) f));
        end if;
        if v_field.key in ('points', 'items') then
          if pg_catalog.jsonb_typeof(v_field.value) <> 'array' or pg_catalog.jsonb_array_length(v_field.value) > 12 then
            return pg_catalog.format('%s.%s must be a list of at most 12 entries', v_section.key, v_field.key);
          end if;
          for v_item in select * from pg_catalog.jsonb_array_elements(v_field.value) loop
            if v_field.key = 'points' and (pg_catalog.jsonb_typeof(v_item) <> 'string' or pg_catalog.length(v_item #>> '{}') not between 1 and 500) then
              return pg_catalog.format('%s.points must hold texts of 1-500 characters', v_section.key);
            end if;
            if v_field.key = 'items' and (pg_catalog.jsonb_typeof(v_item) <> 'object'
                or pg_catalog.jsonb_typeof(v_item -> 'name') is distinct from 'string'
                or pg_catalog.length(v_item ->> 'name') not between 1 and 200
                or pg_catalog.jsonb_typeof(v_item -> 'price') is distinct from 'string'
                or pg_catalog.length(v_item ->> 'price') not between 1 and 100
                or (v_item ? 'description' and (pg_catalog.jsonb_typeof(v_item -> 'description') <> 'string'
                    or pg_catalog.length(v_item ->> 'description') > 1000))
                or exists (select from pg_catalog.jsonb_object_keys(v_item) k where k not in ('name', 'price', 'description'))) then
              return 'pricing.items must hold { name, price, description? } with texts of at most 200, 100 and 1000 characters';
            end if;
          end loop;
        elsif pg_catalog.jsonb_typeof(v_field.value) <> 'string'
            or pg_catalog.length(v_field.value #>> '{}') not between 1 and (case when v_field.key = 'body' then 5000 else 500 end) then
          return pg_catalog.format('%s.%s must be a text of 1-%s characters', v_section.key, v_field.key,
            case when v_field.key = 'body' then 5000 else 500 end);
        elsif v_field.key = 'url' and (v_field.value #>> '{}') !~* '^https?://[^\s/?#]+[^\s]*$' then
          return pg_catalog.format('%s.url must be an http(s) URL', v_section.key);
        end if;
      end loop;
    end loop;
    if p_content ? 'video' and not (p_content -> 'video') ? 'url' then
      return 'video needs a url';
    end if;
    return null;
  end;
  $$;
comment on function app.proposal_content_problem(jsonb) is 'What is wrong with a proposal''s content (unknown section or field, wrong type, too long, a URL that is not http(s)), or null when it is valid.';
revoke execute on function app.proposal_content_problem(jsonb) from public;
grant execute on function app.proposal_content_problem(jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Proposals
-- ---------------------------------------------------------------------------
create table app.proposals (
  id text not null default app.new_id('prop'),
  -- No key of its own to app.orgs: the lead's key (org_id, lead_id) already names the org, and
  -- a second one would lock the org's row for every lead created.
  org_id text not null default app.current_org_id(),
  lead_id text not null,
  -- Global: the public page finds a proposal by slug alone.
  slug text not null check (slug ~ '^([a-z0-9]+(-[a-z0-9]+)*-)?[a-z0-9]{8}$' and length(slug) <= 60),
  content jsonb not null default '{}',
  published boolean not null default true,
  -- The org's own preview link (?preview=…): shows the page, even unpublished, without tracking.
  preview_token text not null default replace(gen_random_uuid()::text, '-', '') check (preview_token ~ '^[0-9a-f]{32}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint proposals_slug_key unique (slug),
  constraint proposals_lead_key unique (org_id, lead_id),
  constraint proposals_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade,
  constraint proposals_content_check check (app.proposal_content_problem(content) is null)
);
comment on table app.proposals is 'One public proposal page per lead: slug, agent-written content per section, published flag and the org''s preview token.';

create trigger proposals_touch_updated_at before update on app.proposals
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.proposals', 'Proposals');
grant select on app.proposals to authenticated;
grant update (content, published) on app.proposals to authenticated;
grant all on app.proposals to service_role;

-- ---------------------------------------------------------------------------
-- Visits: what the page's beacon reports (view, time on page, sections seen, video
-- milestones, CTA clicks) becomes one row per visit, plus engagement events.
-- ---------------------------------------------------------------------------
create table app.proposal_visits (
  id text not null default app.new_id('pvis'),
  org_id text not null references app.orgs (id) on delete cascade,
  lead_id text not null,
  proposal_id text not null,
  -- The page's random id for one page load; the proposal_viewed event's external_id.
  visit_id text not null check (visit_id ~ '^[A-Za-z0-9_-]{8,64}$'),
  started_at timestamptz not null,
  last_seen_at timestamptz not null,
  seconds numeric not null default 0 check (seconds >= 0),
  sections text[] not null default '{}',
  video_percent integer not null default 0 check (video_percent between 0 and 100),
  cta_clicks integer not null default 0 check (cta_clicks >= 0),
  hits integer not null default 1,
  primary key (org_id, id),
  constraint proposal_visits_visit_key unique (org_id, visit_id),
  constraint proposal_visits_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade,
  constraint proposal_visits_proposal_fkey foreign key (org_id, proposal_id) references app.proposals (org_id, id) on delete cascade
);
comment on table app.proposal_visits is 'One row per counted visit of a proposal page: time on page, sections seen, furthest video milestone, CTA clicks.';
create index proposal_visits_org_lead_idx on app.proposal_visits (org_id, lead_id, started_at desc);
create index proposal_visits_org_proposal_idx on app.proposal_visits (org_id, proposal_id, started_at desc);

-- Tenants read their visits; only app.track_proposal writes them.
select app.make_org_private('app.proposal_visits', 'Proposal visits');
grant select on app.proposal_visits to authenticated;
grant all on app.proposal_visits to service_role;

-- ---------------------------------------------------------------------------
-- Every lead gets a proposal, whoever inserts it: the statement trigger leads_10_proposals
-- gives every lead an insert created its page in one statement, with a fresh slug made from
-- the company, organisation or person (app.proposal_slug). A slug drawn twice (36^8 per name:
-- rare) leaves its lead out of that statement; app.create_proposal then draws again for it.
-- No subtransaction: a clash is skipped (on conflict do nothing), not caught.
-- ---------------------------------------------------------------------------
create function app.proposal_slug(p_name text) returns text
  language sql volatile
  set search_path = ''
  as $$
    select pg_catalog.concat_ws('-', nullif(app.slugify(p_name), ''), app.random_base36(8))
  $$;
comment on function app.proposal_slug(text) is 'A fresh proposal slug for a name: its slug, a dash and 8 random base-36 characters (just the 8 for a name with no letters or digits).';
revoke execute on function app.proposal_slug(text) from public;

create function app.create_proposal(p_org_id text, p_lead_id text, p_name text) returns text
  language plpgsql
  security definer
  set search_path = ''
  as $$
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
  $$;
comment on function app.create_proposal(text, text, text) is 'Creates a lead''s proposal with a fresh unique slug made from p_name; no-op when the lead has one.';
revoke execute on function app.create_proposal(text, text, text) from public;

create function app._new_lead_proposals() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
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
  $$;
comment on function app._new_lead_proposals() is 'Statement trigger: gives every lead an insert created its proposal page, in one statement.';
revoke execute on function app._new_lead_proposals() from public;

create trigger leads_10_proposals after insert on app.leads
  referencing new table as new_leads
  for each statement execute function app._new_lead_proposals();

-- ---------------------------------------------------------------------------
-- Agents write content: sections merge one level deep (a field set to null is removed,
-- a section set to null is removed); the result must be valid as a whole.
-- ---------------------------------------------------------------------------
create function app.merge_proposal_content(p_content jsonb, p_patch jsonb) returns jsonb
  language sql immutable
  set search_path = ''
  as $$
    select coalesce(pg_catalog.jsonb_object_agg(k.key, k.value), '{}'::jsonb)
    from (
      select c.key, c.value from pg_catalog.jsonb_each(coalesce(p_content, '{}')) c
      where not coalesce(p_patch, '{}') ? c.key
      union all
      select p.key, case when pg_catalog.jsonb_typeof(p.value) = 'object' and pg_catalog.jsonb_typeof(p_content -> p.key) = 'object'
                         then app.jsonb_merge_patch(p_content -> p.key, p.value) else p.value end
      from pg_catalog.jsonb_each(coalesce(p_patch, '{}')) p
      where p.value <> 'null'::jsonb
    ) k
  $$;
comment on function app.merge_proposal_content(jsonb, jsonb) is 'Merges a content patch into a proposal''s sections: section fields merge (null removes a field), a null section is removed.';
revoke execute on function app.merge_proposal_content(jsonb, jsonb) from public;
grant execute on function app.merge_proposal_content(jsonb, jsonb) to authenticated, service_role;

create function app.set_proposal(p_lead_id text, p_content jsonb default null, p_published boolean default null)
  returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_current jsonb;
    v_merged jsonb;
    v_problem text;
  begin
    select p.content into v_current from app.proposals p where p.lead_id = p_lead_id for update;
    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId: GET /api/openclaw/leads lists your leads. Leads of other workspaces are not visible with this key.');
    end if;
    if p_content is not null and pg_catalog.jsonb_typeof(p_content) <> 'object' then
      perform app.refuse(400, 'invalid_proposal_content', 'content must be an object of sections',
        'Send content like { "hero": { "headline": "…" }, "cta": { "label": "Book a call", "url": "https://…" } }.');
    end if;
    v_merged := app.merge_proposal_content(v_current, p_content);
    v_problem := app.proposal_content_problem(v_merged);
    if v_problem is not null then
      perform app.refuse(400, 'invalid_proposal_content', 'Invalid proposal content: ' || v_problem,
        'Sections: hero { headline, subheadline }, problem and offer { heading, body, points[] }, pricing { heading, body, items[{ name, price, description }] }, video { url, title }, cta { label, url }. URLs must be http(s); send a section or field as null to remove it.');
    end if;
    update app.proposals p set
      content = v_merged,
      published = coalesce(p_published, p.published)
    where p.lead_id = p_lead_id;
  end;
  $$;
comment on function app.set_proposal(text, jsonb, boolean) is 'Merges content into one of the caller''s proposals and/or (un)publishes it; refuses invalid content with the rule it broke.';
revoke execute on function app.set_proposal(text, jsonb, boolean) from public;
grant execute on function app.set_proposal(text, jsonb, boolean) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- What the public page prints, in one call (anon: no key on a public page).
-- ---------------------------------------------------------------------------
create function app.proposal_page(p_slug text, p_preview_token text default null, p_key_hash text default null)
  returns jsonb
  language plpgsql stable
  security definer
  set search_path = ''
  as $$
  declare
    v_page jsonb;
    v_preview boolean;
    v_visible boolean;
  begin
    select pg_catalog.jsonb_build_object(
        'slug', p.slug,
        'content', p.content,
        'org', pg_catalog.jsonb_build_object('name', o.name, 'primaryColor', o.primary_color,
          'bookingLink', o.booking_link, 'website', o.website),
        'lead', pg_catalog.jsonb_build_object('firstName', l.first_name, 'lastName', l.last_name, 'title', l.title,
          'companyName', coalesce(l.company_name, l.organization_name),
          'discussionPoints', coalesce(case when pg_catalog.jsonb_typeof(l.enrichment -> 'discussionPoints') = 'array'
            then l.enrichment -> 'discussionPoints' end, '[]'::jsonb))),
      coalesce(p.preview_token = p_preview_token, false)
        or exists (select from app.api_keys k where k.key_hash = p_key_hash and k.org_id = p.org_id and k.revoked_at is null),
      p.published and l.deleted_at is null
    into v_page, v_preview, v_visible
    from app.proposals p
    join app.leads l on l.org_id = p.org_id and l.id = p.lead_id
    join app.orgs o on o.id = p.org_id
    where p.slug = p_slug;
    if v_page is null or not (v_visible or v_preview) then
      return null;
    end if;
    return v_page || pg_catalog.jsonb_build_object('preview', v_preview);
  end;
  $$;
comment on function app.proposal_page(text, text, text) is 'Everything a proposal page prints (org branding, lead, content), or null when the slug is unknown or unpublished; preview is true for the org''s preview token or API key.';
revoke execute on function app.proposal_page(text, text, text) from public;
grant execute on function app.proposal_page(text, text, text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Tracking: the beacon's one entry point (anon: the page is public).
-- What does not count: bots (app.is_bot_user_agent) and the org's own previews (a request
-- carrying one of the org's API keys, or the page opened with its ?preview= token, which
-- serves the page without the beacon). Visits are rate-limited per proposal and per visit.
-- ---------------------------------------------------------------------------
create function app.is_bot_user_agent(p_user_agent text) returns boolean
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select coalesce(pg_catalog.btrim(p_user_agent), '') = ''
      or p_user_agent ~* '(bot|crawl|spider|slurp|headless|phantomjs|selenium|webdriver|puppeteer|playwright|lighthouse|pagespeed|uripreview|facebookexternalhit|embedly|quora link preview|whatsapp|curl/|wget/|python-|httpclient|go-http-client|node-fetch|undici|axios/|okhttp|java/|libwww|scrapy|pingdom|uptime|monitor|^node$|^mozilla/5\.0$)'
  $$;
comment on function app.is_bot_user_agent(text) is 'Whether a User-Agent is a bot, crawler, link previewer, headless browser or script (empty counts as a bot): their proposal visits are not tracked.';
revoke execute on function app.is_bot_user_agent(text) from public;
grant execute on function app.is_bot_user_agent(text) to anon, authenticated, service_role;

create function app.track_proposal(
  p_slug text,
  p_visit_id text,
  p_kind text,
  p_data jsonb default '{}',
  p_user_agent text default null,
  p_key_hash text default null,
  p_now timestamptz default now()
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_sections constant text[] := array['hero', 'problem', 'offer', 'pricing', 'video', 'cta'];
    v_kinds constant text[] := array['view', 'heartbeat', 'leave', 'section', 'video', 'cta'];
    v_data jsonb := coalesce(p_data, '{}');
    v_proposal record;
    v_visit app.proposal_visits%rowtype;
    v_first boolean := false;
    v_seconds numeric;
    v_percent integer;
    v_section text;
  begin
    if not p_kind = any (v_kinds) then
      perform app.refuse(400, 'invalid_kind', pg_catalog.format('"%s" is not a tracking kind', p_kind),
        'Send kind as one of: ' || pg_catalog.array_to_string(v_kinds, ', ') || '.');
    end if;
    if p_visit_id is null or p_visit_id !~ '^[A-Za-z0-9_-]{8,64}$' then
      perform app.refuse(400, 'invalid_visit_id', 'visitId must be 8-64 letters, digits, _ or -',
        'Generate one random visitId per page load and send it with every event of that load.');
    end if;

    -- heartbeat and leave must carry the time on page; the other reports may.
    if p_kind in ('heartbeat', 'leave') or v_data ? 'seconds' then
      if pg_catalog.jsonb_typeof(v_data -> 'seconds') is distinct from 'number' or (v_data ->> 'seconds')::numeric < 0 then
        perform app.refuse(400, 'invalid_seconds', 'seconds must be a number of seconds on the page',
          'Send { "kind": "heartbeat", "seconds": 42 }: the total seconds the page has been visible in this visit.');
      end if;
      v_seconds := (v_data ->> 'seconds')::numeric;
    end if;
    if p_kind = 'section' then
      v_section := v_data ->> 'section';
      if v_section is null or not v_section = any (v_sections) then
        perform app.refuse(400, 'invalid_section', pg_catalog.format('"%s" is not a proposal section', v_section),
          'Send section as one of: ' || pg_catalog.array_to_string(v_sections, ', ') || '.');
      end if;
    end if;
    if p_kind = 'video' then
      if pg_catalog.jsonb_typeof(v_data -> 'percent') is distinct from 'number'
          or (v_data ->> 'percent')::numeric not in (25, 50, 75, 100) then
        perform app.refuse(400, 'invalid_percent', 'percent must be a video milestone: 25, 50, 75 or 100',
          'Send { "kind": "video", "percent": 50 } when playback first passes a milestone.');
      end if;
      v_percent := (v_data ->> 'percent')::integer;
    end if;

    select p.id, p.org_id, p.lead_id into v_proposal
    from app.proposals p join app.leads l on l.org_id = p.org_id and l.id = p.lead_id
    where p.slug = p_slug and p.published and l.deleted_at is null;
    if not found then
      perform app.refuse(404, 'not_found', 'No published proposal has this slug', 'Check the slug in the page address (/p/{slug}).');
    end if;

    if p_key_hash is not null and exists (
        select from app.api_keys k where k.key_hash = p_key_hash and k.org_id = v_proposal.org_id) then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'preview');
    end if;
    if app.is_bot_user_agent(p_user_agent) then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'bot');
    end if;

    select v.* into v_visit from app.proposal_visits v
    where v.org_id = v_proposal.org_id and v.visit_id = p_visit_id for update;
    if not found then
      if (select count(*) from app.proposal_visits v
          where v.org_id = v_proposal.org_id and v.proposal_id = v_proposal.id and v.started_at > p_now - interval '1 hour') >= 100 then
        perform app.refuse(429, 'rate_limited', 'Too many visits of this proposal in the last hour',
          'At most 100 new visits of one proposal are counted per hour; try again later.');
      end if;
      insert into app.proposal_visits (org_id, lead_id, proposal_id, visit_id, started_at, last_seen_at, hits)
      values (v_proposal.org_id, v_proposal.lead_id, v_proposal.id, p_visit_id, p_now, p_now, 0)
      on conflict (org_id, visit_id) do nothing
      returning * into v_visit;
      if not found then
        -- A concurrent first beacon of the same visit won: continue with its row.
        select v.* into v_visit from app.proposal_visits v
        where v.org_id = v_proposal.org_id and v.visit_id = p_visit_id for update;
      else
        v_first := true;
        insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
        values (v_proposal.org_id, v_proposal.lead_id, 'proposal_viewed', p_now,
          pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id, 'seconds', 0),
          'proposal', 'visitor', p_visit_id)
        on conflict (org_id, type, external_id) where external_id is not null do nothing;
      end if;
    end if;

    if v_visit.proposal_id <> v_proposal.id then
      perform app.refuse(409, 'visit_conflict', 'This visitId belongs to another proposal',
        'Generate a new random visitId for each page load.');
    end if;
    if v_visit.hits >= 1000 then
      perform app.refuse(429, 'rate_limited', 'Too many events for this visit', 'A visit counts at most 1000 events.');
    end if;
    if p_now > v_visit.started_at + interval '1 day' then
      return pg_catalog.jsonb_build_object('recorded', false, 'reason', 'visit_expired');
    end if;

    -- Time on page as the page measured it, never more than has really passed (plus slack).
    if v_seconds is not null then
      v_seconds := pg_catalog.round(least(v_seconds, extract(epoch from p_now - v_visit.started_at) + 5), 1);
    end if;

    update app.proposal_visits v set
      hits = v.hits + 1,
      last_seen_at = greatest(v.last_seen_at, p_now),
      seconds = greatest(v.seconds, coalesce(v_seconds, 0)),
      sections = case when v_section is not null and not v_section = any (v.sections)
                      then pg_catalog.array_append(v.sections, v_section) else v.sections end,
      video_percent = greatest(v.video_percent, coalesce(v_percent, 0)),
      cta_clicks = v.cta_clicks + (p_kind = 'cta')::integer
    where v.org_id = v_visit.org_id and v.id = v_visit.id;

    -- Time on page lives in the visit; the lead's rollup adds what this report added.
    if coalesce(v_seconds, 0) > v_visit.seconds then
      update app.lead_engagement g set proposal_seconds = g.proposal_seconds + (v_seconds - v_visit.seconds)
      where g.org_id = v_proposal.org_id and g.lead_id = v_proposal.lead_id;
    end if;
    -- Each milestone once per visit (external_id), whatever order the beacons arrive in.
    if v_percent is not null then
      insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
      values (v_proposal.org_id, v_proposal.lead_id, 'video_watched', p_now,
        pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id, 'percent', v_percent),
        'proposal', 'visitor', p_visit_id || ':' || v_percent)
      on conflict (org_id, type, external_id) where external_id is not null do nothing;
    end if;
    if p_kind = 'cta' then
      insert into app.events (org_id, lead_id, type, occurred_at, data, source, actor, external_id)
      values (v_proposal.org_id, v_proposal.lead_id, 'cta_clicked', p_now,
        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('proposalId', v_proposal.id, 'visitId', p_visit_id,
          'cta', left(v_data ->> 'label', 200), 'url', left(v_data ->> 'url', 2000))),
        'proposal', 'visitor', p_visit_id || ':cta:' || (v_visit.cta_clicks + 1))
      on conflict (org_id, type, external_id) where external_id is not null do nothing;
    end if;

    return pg_catalog.jsonb_build_object('recorded', true, 'firstView', v_first);
  end;
  $$;
comment on function app.track_proposal(text, text, text, jsonb, text, text, timestamptz) is 'Records one beacon report of a proposal visit (view, heartbeat, leave, section, video, cta) and its engagement events; bots and the org''s own key are not counted.';
revoke execute on function app.track_proposal(text, text, text, jsonb, text, text, timestamptz) from public;
grant execute on function app.track_proposal(text, text, text, jsonb, text, text, timestamptz) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Per-lead rollup for agents (under RLS: the caller's leads only).
-- ---------------------------------------------------------------------------
create function app.proposal_tracking(p_lead_id text) returns jsonb
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_result jsonb;
  begin
    if not exists (select from app.leads l where l.id = p_lead_id) then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId: GET /api/openclaw/leads lists your leads. Leads of other workspaces are not visible with this key.');
    end if;
    select pg_catalog.jsonb_build_object(
      'totalViews', count(*),
      'timeOnPage', coalesce(sum(v.seconds), 0),
      'sectionsViewed', coalesce((select pg_catalog.jsonb_agg(distinct s order by s)
        from app.proposal_visits w cross join unnest(w.sections) s where w.lead_id = p_lead_id), '[]'::jsonb),
      'videoCompletion', coalesce(max(v.video_percent), 0),
      'ctaClicks', coalesce(sum(v.cta_clicks), 0),
      'lastViewedAt', max(v.started_at))
    into v_result
    from app.proposal_visits v
    where v.lead_id = p_lead_id;
    return v_result;
  end;
  $$;
comment on function app.proposal_tracking(text) is 'A lead''s proposal engagement: views, seconds on page, sections seen, furthest video milestone, CTA clicks, last view.';
revoke execute on function app.proposal_tracking(text) from public;
grant execute on function app.proposal_tracking(text) to authenticated, service_role;
