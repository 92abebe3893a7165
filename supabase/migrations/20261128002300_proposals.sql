-- Proposals: every lead has one public proposal page at /p/{slug}. The slug is readable
-- (the lead's company or name) and unguessable (8 random base36 characters); the content
-- is what the agent wrote per section, checked here so Studio edits obey the same rules.
-- A trigger on app.leads creates the proposal, so leads from every writer get one.

-- ---------------------------------------------------------------------------
-- Slugs
-- ---------------------------------------------------------------------------
create function app.slugify(p_text text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select pg_catalog.rtrim(left(pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(coalesce(p_text, '')), '[^a-z0-9]+', '-', 'g'), '-'), 40), '-')
  $$;
comment on function app.slugify(text) is 'Lowercase letters and digits joined by single dashes, at most 40 characters ("Cool Startup, Inc." → cool-startup-inc).';
revoke execute on function app.slugify(text) from public;
grant execute on function app.slugify(text) to authenticated, service_role;

create function app.random_base36(p_length integer) returns text
  language sql volatile parallel safe
  set search_path = ''
  as $$
    -- Bytes of 252 and above are skipped (252 = 7 * 36), so every character is equally likely.
    select string_agg(substr('0123456789abcdefghijklmnopqrstuvwxyz', b % 36 + 1, 1), '')
    from (
      select b from (
        select pg_catalog.get_byte(pg_catalog.uuid_send(pg_catalog.gen_random_uuid()), 0) as b
        from pg_catalog.generate_series(1, p_length * 2)
      ) r
      where r.b < 252
      limit p_length
    ) kept
  $$;
comment on function app.random_base36(integer) is 'p_length random characters from 0-9a-z (uniform; from gen_random_uuid).';
revoke execute on function app.random_base36(integer) from public;
grant execute on function app.random_base36(integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Content: the sections a page has, and what each may hold.
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
-- The table
-- ---------------------------------------------------------------------------
create table app.proposals (
  id text primary key default app.new_id('prop'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  -- Global: the public page finds a proposal by slug alone.
  slug text not null check (slug ~ '^([a-z0-9]+(-[a-z0-9]+)*-)?[a-z0-9]{8}$' and length(slug) <= 60),
  content jsonb not null default '{}',
  published boolean not null default true,
  -- The org's own preview link (?preview=…): shows the page, even unpublished, without tracking.
  preview_token text not null default replace(gen_random_uuid()::text, '-', '') check (preview_token ~ '^[0-9a-f]{32}$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
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
-- Every lead gets a proposal, whoever inserts it.
-- ---------------------------------------------------------------------------
create function app.create_proposal(p_org_id text, p_lead_id text, p_name text) returns text
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_base text := app.slugify(p_name);
    v_slug text;
  begin
    -- 36^8 slugs per name: a collision is rare, ten in a row does not happen.
    for attempt in 1..10 loop
      v_slug := case when v_base = '' then '' else v_base || '-' end || app.random_base36(8);
      begin
        insert into app.proposals (org_id, lead_id, slug) values (p_org_id, p_lead_id, v_slug)
        on conflict (org_id, lead_id) do nothing
        returning slug into v_slug;
        if v_slug is null then
          select p.slug into v_slug from app.proposals p where p.org_id = p_org_id and p.lead_id = p_lead_id;
        end if;
        return v_slug;
      exception when unique_violation then
        -- the slug was taken: draw again
      end;
    end loop;
    perform app.refuse(409, 'slug_collision', 'Could not find a free proposal slug', 'Retry the request.');
    return null;
  end;
  $$;
comment on function app.create_proposal(text, text, text) is 'Creates a lead''s proposal with a fresh unique slug made from p_name; no-op when the lead has one.';
revoke execute on function app.create_proposal(text, text, text) from public;

create function app._lead_proposal() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    perform app.create_proposal(new.org_id, new.id,
      coalesce(nullif(new.company_name, ''), nullif(new.organization_name, ''), pg_catalog.concat_ws(' ', new.first_name, new.last_name)));
    return null;
  end;
  $$;
comment on function app._lead_proposal() is 'Trigger: gives every new lead its proposal page.';
revoke execute on function app._lead_proposal() from public;

create trigger leads_proposal after insert on app.leads
  for each row execute function app._lead_proposal();

select app.create_proposal(l.org_id, l.id,
  coalesce(nullif(l.company_name, ''), nullif(l.organization_name, ''), pg_catalog.concat_ws(' ', l.first_name, l.last_name)))
from app.leads l
where not exists (select from app.proposals p where p.org_id = l.org_id and p.lead_id = l.id);

-- ---------------------------------------------------------------------------
-- Lead replies carry the proposal's slug. The view is rebuilt so l.* also picks up the
-- columns added to app.leads since it was first made.
-- ---------------------------------------------------------------------------
drop view app.lead_details;
create view app.lead_details with (security_invoker = true) as
  select l.*, s.name as stage, c.score, c.label as score_label, c.scored_at, p.slug as proposal_slug
  from app.leads l
  left join app.stages s on s.id = l.stage_id
  left join app.lead_scores c on c.lead_id = l.id
  left join app.proposals p on p.org_id = l.org_id and p.lead_id = l.id;
comment on view app.lead_details is 'Leads with their stage name, stored score and proposal slug, as the API returns them.';
grant select on app.lead_details to authenticated, service_role;

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
