-- Enrichment: the state of each lead's enrichment, the provider answer cache, and the
-- spider web of connections between an org's leads.
--
-- The HTTP edge calls the providers (the network lives in TypeScript), but never inside a
-- transaction: app.start_enrichment marks the lead 'enriching' and commits, the providers
-- run, and app.finish_enrichment writes the result in a second short transaction. A run
-- that never finishes (the process died) is failed by the app.fail_stuck_enrichments sweep.
--
-- Tenancy of the cache: what a company's website says (cache keys 'domain:…') is public web
-- data and is shared by every org, so a domain is fetched once for all leads of all orgs.
-- What a paid provider says about a person (keys 'person:…') was bought by one org and is
-- cached for that org only. Both go through security definer accessors; the table itself
-- shows an org only its own person answers.
--
-- This file holds:
--   * the mail-domain lists: app.personal_mail_domains, app.mail_domain_kind and
--     app.is_personal_mail_domain;
--   * name keys: app.name_key and the trigger leads_name_keys on app.leads;
--   * tables app.lead_facts (schools, former employers) and app.enrichment_cache, with the
--     cache accessors app.cache_get / app.cache_put;
--   * a run: app.start_enrichment, app.finish_enrichment;
--   * the sweeps, run by jobs in 90_jobs.sql: app.fail_stuck_enrichments (every minute,
--     fail-stuck-enrichments) and app.purge_enrichment_cache (hourly, purge-enrichment-cache);
--   * app.spider_web.
-- The enrichment columns of app.leads (enrichment_status, enrichment_started_at,
-- company_domain, email_domain, organization_key, company_key, referrer_key), their comments
-- and indexes are in 40_leads.sql.

-- ---------------------------------------------------------------------------
-- Consumer and throwaway mail domains: a shared gmail.com says nothing about a shared
-- employer. Reference data, the same lists the built-in email provider classifies with.
-- ---------------------------------------------------------------------------
create table app.personal_mail_domains (
  domain text primary key check (domain = lower(domain) and length(domain) between 3 and 253),
  kind text not null check (kind in ('free', 'disposable'))
);
comment on table app.personal_mail_domains is 'Free-mail and disposable mail domains, the only copy of these lists: app.mail_domain_kind classifies with it (for the spider web and the enrichment email provider); leads sharing one of these are not connected by their email domain.';
alter table app.personal_mail_domains enable row level security;
alter table app.personal_mail_domains force row level security;
create policy "Personal mail domains are readable by every org" on app.personal_mail_domains
  for select to authenticated using (true);
grant select on app.personal_mail_domains to authenticated;
grant all on app.personal_mail_domains to service_role;

insert into app.personal_mail_domains (domain, kind)
select d, 'free' from unnest(array[
  'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'passport.com',
  'yahoo.com', 'ymail.com', 'rocketmail.com', 'icloud.com', 'me.com', 'mac.com', 'aol.com', 'aim.com',
  'protonmail.com', 'protonmail.ch', 'proton.me', 'pm.me', 'gmx.com', 'gmx.net', 'gmx.de', 'gmx.at', 'gmx.ch',
  'web.de', 't-online.de', 'freenet.de', 'posteo.de', 'mailbox.org', 'yandex.com', 'yandex.ru', 'ya.ru',
  'mail.ru', 'bk.ru', 'inbox.ru', 'list.ru', 'rambler.ru', 'zoho.com', 'zohomail.com', 'fastmail.com',
  'fastmail.fm', 'hey.com', 'tutanota.com', 'tutanota.de', 'tuta.io', 'tuta.com', 'mail.com', 'email.com',
  'usa.com', 'hushmail.com', 'duck.com', 'runbox.com', 'inbox.com', 'lycos.com', 'juno.com', 'earthlink.net',
  'comcast.net', 'verizon.net', 'att.net', 'sbcglobal.net', 'bellsouth.net', 'cox.net', 'charter.net',
  'btinternet.com', 'sky.com', 'virginmedia.com', 'talktalk.net', 'orange.fr', 'wanadoo.fr', 'free.fr',
  'laposte.net', 'sfr.fr', 'libero.it', 'virgilio.it', 'tiscali.it', 'seznam.cz', 'wp.pl', 'o2.pl',
  'interia.pl', 'onet.pl', 'qq.com', '163.com', '126.com', 'yeah.net', 'sina.com', 'naver.com', 'daum.net',
  'hanmail.net', 'rediffmail.com', 'bigpond.com', 'optusnet.com.au', 'shaw.ca', 'rogers.com', 'sympatico.ca',
  'uol.com.br', 'bol.com.br', 'terra.com.br']) d
union all
select d, 'disposable' from unnest(array[
  'mailinator.com', 'mailinator.net', 'mailinator2.com', '10minutemail.com', '10minutemail.net', '10minutemail.co.uk',
  '20minutemail.com', 'guerrillamail.com', 'guerrillamail.net', 'guerrillamail.org', 'guerrillamail.biz',
  'guerrillamail.de', 'guerrillamailblock.com', 'sharklasers.com', 'grr.la', 'pokemail.net', 'spam4.me',
  'tempmail.com', 'tempmail.net', 'temp-mail.org', 'temp-mail.io', 'tempmailo.com', 'tempmail.plus', 'tempr.email',
  'tempinbox.com', 'tempail.com', 'yopmail.com', 'yopmail.fr', 'yopmail.net', 'trashmail.com', 'trashmail.net',
  'trashmail.de', 'trashmail.me', 'throwawaymail.com', 'getnada.com', 'nada.email', 'maildrop.cc',
  'dispostable.com', 'mailnesia.com', 'mintemail.com', 'mohmal.com', 'fakeinbox.com', 'emailondeck.com',
  'spamgourmet.com', 'mailcatch.com', 'mytemp.email', 'discard.email', 'burnermail.io', 'moakt.com',
  'mailpoof.com', 'getairmail.com', 'fakemail.net', 'emailfake.com', 'harakirimail.com', 'inboxkitten.com',
  'mail.tm', 'mail.gw', 'dropmail.me', '1secmail.com', '1secmail.org', '1secmail.net', 'mailsac.com',
  'spambox.us', 'jetable.org', 'mvrht.com', 'anonaddy.me', '33mail.com', 'mailforspam.com', 'byom.de']) d;

-- What kind a mail domain is, decided in one place. The free-mail and disposable lists live
-- only in app.personal_mail_domains; this function adds the two rules a plain lookup
-- misses: the country variants of the big consumer providers (hotmail.co.uk, yahoo.fr,
-- gmx.es …) and the sub-domains of a throwaway domain (eu.mailinator.com). The spider web
-- (through app.is_personal_mail_domain) and the built-in email provider of enrichment
-- (which asks it once per run) both classify with it, so they cannot disagree.
create function app.mail_domain_kind(p_domain text) returns text
  language sql stable parallel safe
  set search_path = ''
  as $$
    with input as (
      -- Compared the way the email provider reads an address: trimmed, lower case, no final dot.
      select pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(p_domain)), '\.$', '') as domain
    ), parents as (
      -- The domain and each parent with at least two labels: eu.mailinator.com, mailinator.com.
      select pg_catalog.array_to_string(l.labels[i:], '.') as domain
      from input, pg_catalog.string_to_array(input.domain, '.') l (labels),
           pg_catalog.generate_series(1, pg_catalog.cardinality(l.labels) - 1) i
    )
    select case
      when exists (select from app.personal_mail_domains d
                   where d.kind = 'disposable' and d.domain in (select p.domain from parents p)) then 'disposable'
      when exists (select from app.personal_mail_domains d, input where d.kind = 'free' and d.domain = input.domain)
        or (select input.domain from input) ~ '^(hotmail|outlook|live|windowslive|yahoo|gmx|yandex|aol)\.([a-z]{2,3}|com?\.[a-z]{2})$'
        then 'free'
    end
  $$;
comment on function app.mail_domain_kind(text) is 'disposable when the mail domain or one of its parent domains is a throwaway domain (eu.mailinator.com), free for consumer mailboxes (gmail.com, and the country variants of the big providers such as hotmail.co.uk), null otherwise (a company domain, or no domain). Case, surrounding spaces and a final dot are ignored.';
revoke execute on function app.mail_domain_kind(text) from public;
grant execute on function app.mail_domain_kind(text) to authenticated, service_role;

-- For the spider web, which passes leads.email_domain (already lower case): no domain,
-- free-mail and its country variants, disposable domains and their sub-domains are all
-- personal.
create function app.is_personal_mail_domain(p_domain text) returns boolean
  language sql stable parallel safe
  set search_path = ''
  as $$
    select p_domain is null or app.mail_domain_kind(p_domain) is not null
  $$;
comment on function app.is_personal_mail_domain(text) is 'True for free-mail (gmail.com, hotmail.co.uk, …) and disposable mail domains (and their sub-domains), which say nothing about an employer; see app.mail_domain_kind.';
revoke execute on function app.is_personal_mail_domain(text) from public;
grant execute on function app.is_personal_mail_domain(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Names compared the way people mean them: "Acme, Inc." = "ACME" = "acme inc".
-- (Before the tables: lead_facts' generated value_key calls app.name_key.)
-- ---------------------------------------------------------------------------
create function app.name_key(p_name text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select nullif(pg_catalog.btrim(pg_catalog.regexp_replace(
      pg_catalog.btrim(pg_catalog.regexp_replace(
        pg_catalog.lower(pg_catalog.replace(p_name, '&', ' and ')), '[^[:alnum:]]+', ' ', 'g')),
      '( (inc|incorporated|llc|ltd|limited|corp|corporation|co|company|gmbh|plc|pllc|pc|lp|llp|sa|ag|bv|pty))+$', '')), '')
  $$;
comment on function app.name_key(text) is 'A company or school name reduced for comparison: lower case, punctuation removed, legal suffixes (Inc, LLC, GmbH, …) dropped; null when nothing is left.';
revoke execute on function app.name_key(text) from public;
grant execute on function app.name_key(text) to anon, authenticated, service_role;

-- No SET clause on app.name_key: it computes the leads' name keys (trigger leads_name_keys)
-- on every insert or update of a lead, and without one the planner inlines it (its body
-- names only pg_catalog functions, so no search path can change what it calls).
alter function app.name_key(text) reset search_path;

-- The name keys are kept by a trigger rather than generated: Postgres recomputes every
-- generated column on every update of a row (a rescore included), and these run regular
-- expressions. Writing a key directly recomputes it from the name.
create function app._lead_name_keys() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    new.organization_key := app.name_key(new.organization_name);
    new.company_key := app.name_key(new.company_name);
    return new;
  end;
  $$;
comment on function app._lead_name_keys() is 'Trigger: keeps leads.organization_key and company_key equal to app.name_key of the names.';
revoke execute on function app._lead_name_keys() from public;

create trigger leads_name_keys
  before insert or update of organization_name, company_name, organization_key, company_key on app.leads
  for each row execute function app._lead_name_keys();

-- ---------------------------------------------------------------------------
-- Facts enrichment found that connect people: schools and former employers, one row
-- each, so the spider web joins them through an index instead of unpacking documents.
-- ---------------------------------------------------------------------------
create table app.lead_facts (
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  kind text not null check (kind in ('school', 'previous_employer')),
  value text not null check (length(btrim(value)) between 1 and 300),
  value_key text generated always as (app.name_key(value)) stored,
  created_at timestamptz not null default now(),
  constraint lead_facts_pkey primary key (org_id, lead_id, kind, value_key),
  constraint lead_facts_value_key_check check (value_key is not null),
  constraint lead_facts_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.lead_facts is 'Schools and former employers enrichment found for a lead (rewritten by each complete enrichment); the spider web joins leads on them.';
create index lead_facts_org_kind_key_idx on app.lead_facts (org_id, kind, value_key);

select app.make_org_private('app.lead_facts', 'Lead facts');
grant select, insert, update, delete on app.lead_facts to authenticated;
grant all on app.lead_facts to service_role;

-- ---------------------------------------------------------------------------
-- Provider answers, reused until they expire so credits are spent once per person or
-- domain. org_id null = shared public data (domain facts); otherwise the org that paid.
-- ---------------------------------------------------------------------------
create table app.enrichment_cache (
  org_id text references app.orgs (id) on delete cascade,
  -- '*' for shared rows, else the org: part of the key, so one key per scope.
  scope text generated always as (coalesce(org_id, '*')) stored,
  source text not null check (length(source) between 1 and 50),
  cache_key text not null check (length(cache_key) between 1 and 500),
  result jsonb not null,
  fetched_at timestamptz not null default now(),
  expires_at timestamptz not null,
  constraint enrichment_cache_pkey primary key (scope, source, cache_key),
  constraint enrichment_cache_expiry_check check (expires_at > fetched_at)
);
comment on table app.enrichment_cache is 'Provider answers per source and key (domain:… shared by all orgs, person:… per org), reused until expires_at.';
create index enrichment_cache_expires_idx on app.enrichment_cache (expires_at);

alter table app.enrichment_cache enable row level security;
alter table app.enrichment_cache force row level security;
create policy "Cached person answers are visible to the org that paid for them" on app.enrichment_cache
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.enrichment_cache to authenticated;
grant all on app.enrichment_cache to service_role;

-- ---------------------------------------------------------------------------
-- The cache's accessors: shared rows for domain:… keys, the caller's org's own otherwise.
-- ---------------------------------------------------------------------------
create function app._cache_scope(p_cache_key text) returns text
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_org text := app.current_org_id();
  begin
    if p_cache_key like 'domain:%' then
      return '*';
    end if;
    if v_org is null then
      raise exception 'person-level cache entries need an org (no org_id claim)';
    end if;
    return v_org;
  end;
  $$;
comment on function app._cache_scope(text) is 'Where a cache key lives: ''*'' (shared) for domain:… keys, the current org for everything else.';
revoke execute on function app._cache_scope(text) from public;

create function app.cache_get(p_source text, p_cache_key text) returns jsonb
  language sql stable
  security definer
  set search_path = ''
  as $$
    select c.result from app.enrichment_cache c
    where c.scope = app._cache_scope(p_cache_key) and c.source = p_source and c.cache_key = p_cache_key
      and c.expires_at > pg_catalog.now()
  $$;
comment on function app.cache_get(text, text) is 'The cached answer of a provider for a key, if not expired: shared for domain:… keys, the caller''s org''s own otherwise.';
revoke execute on function app.cache_get(text, text) from public;
grant execute on function app.cache_get(text, text) to authenticated, service_role;

create function app.cache_put(p_source text, p_cache_key text, p_result jsonb, p_ttl interval) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    -- Security definer: the role rule (a viewer writes nothing) is checked here.
    select app.ensure_can_write();
    insert into app.enrichment_cache as c (org_id, source, cache_key, result, fetched_at, expires_at)
    values (nullif(app._cache_scope(p_cache_key), '*'), p_source, p_cache_key, p_result, pg_catalog.now(), pg_catalog.now() + p_ttl)
    on conflict (scope, source, cache_key) do update
      set result = excluded.result, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at
  $$;
comment on function app.cache_put(text, text, jsonb, interval) is 'Stores a provider''s answer for a key for p_ttl: shared for domain:… keys, for the caller''s org otherwise.';
revoke execute on function app.cache_put(text, text, jsonb, interval) from public;
grant execute on function app.cache_put(text, text, jsonb, interval) to authenticated, service_role;

-- Run hourly by the job purge-enrichment-cache (90_jobs.sql).
create function app.purge_enrichment_cache() returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    delete from app.enrichment_cache c where c.expires_at <= pg_catalog.now();
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_enrichment_cache() is 'Deletes expired provider answers; returns how many.';
revoke execute on function app.purge_enrichment_cache() from public;
grant execute on function app.purge_enrichment_cache() to service_role;

-- ---------------------------------------------------------------------------
-- A run, in two short transactions around the network calls.
-- ---------------------------------------------------------------------------
create function app.start_enrichment(p_lead_id text, p_force boolean, p_fresh_for interval, p_budget interval)
  returns table (
    outcome text, started_at timestamptz, email text, first_name text, last_name text,
    organization_name text, company_name text, linkedin_url text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_lead app.leads%rowtype;
  begin
    select l.* into v_lead from app.leads l where l.id = p_lead_id for no key update;
    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check the id. Ids belong to one workspace: another workspace''s leads are not visible with this key.');
    end if;
    if v_lead.deleted_at is not null then
      perform app.refuse(409, 'lead_deleted', pg_catalog.format('Lead %s is deleted', p_lead_id),
        pg_catalog.format('Restore it first with PATCH /api/openclaw/leads/%s { "restore": true }, then enrich it.', p_lead_id));
    end if;
    -- Another run is still within its budget: don't run the providers (and spend) twice.
    if v_lead.enrichment_status = 'enriching' and v_lead.enrichment_started_at > pg_catalog.now() - p_budget then
      perform app.refuse(409, 'enrichment_in_progress',
        pg_catalog.format('Lead %s is being enriched by another request (started %s)', p_lead_id, v_lead.enrichment_started_at),
        pg_catalog.format('Wait %s seconds, then read the result with GET /api/openclaw/enrich?leadId=%s.',
          greatest(1, ceil(extract(epoch from v_lead.enrichment_started_at + p_budget - pg_catalog.now())))::integer, p_lead_id));
    end if;

    outcome := 'started';
    if not p_force and v_lead.enrichment_status = 'complete' and v_lead.enriched_at > pg_catalog.now() - p_fresh_for then
      outcome := 'fresh';
      started_at := v_lead.enrichment_started_at;
    else
      update app.leads l
      set enrichment_status = 'enriching', enrichment_started_at = pg_catalog.now(), enrichment_error = null
      where l.id = v_lead.id
      returning l.enrichment_started_at into started_at;
    end if;
    email := v_lead.email;
    first_name := v_lead.first_name;
    last_name := v_lead.last_name;
    organization_name := v_lead.organization_name;
    company_name := v_lead.company_name;
    linkedin_url := v_lead.linkedin_url;
    return next;
  end;
  $$;
comment on function app.start_enrichment(text, boolean, interval, interval) is 'Starts an enrichment run: ''fresh'' when the lead was enriched within p_fresh_for (and not forced), else marks it enriching and returns ''started'' with the run''s start time; 404/409 refusals for unknown, deleted or busy leads.';
revoke execute on function app.start_enrichment(text, boolean, interval, interval) from public;
grant execute on function app.start_enrichment(text, boolean, interval, interval) to authenticated, service_role;

-- A value for a top-level field: the one found, unless a person set the field by hand.
-- "By hand" = the current value is neither empty nor what enrichment itself wrote last.
create function app._enriched_value(p_current text, p_previous text, p_found text, p_max integer) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case
      when nullif(pg_catalog.btrim(p_found), '') is null then p_current
      when p_current is null or p_current = pg_catalog.left(p_previous, p_max) then pg_catalog.left(pg_catalog.btrim(p_found), p_max)
      else p_current
    end
  $$;
comment on function app._enriched_value(text, text, text, integer) is 'The value enrichment writes to a field: what it found (cut to p_max), unless the current value was set by hand (neither empty nor enrichment''s previous value).';
revoke execute on function app._enriched_value(text, text, text, integer) from public;
grant execute on function app._enriched_value(text, text, text, integer) to authenticated, service_role;

create function app.finish_enrichment(
    p_lead_id text, p_started_at timestamptz, p_status text, p_facts jsonb, p_document jsonb, p_error text)
  returns table (applied boolean, kept_fields text[])
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_lead app.leads%rowtype;
    v_previous jsonb;
    v_facts jsonb := coalesce(p_facts, '{}');
  begin
    if p_status not in ('complete', 'failed') then
      raise exception 'finish_enrichment: status must be complete or failed, not %', p_status;
    end if;
    select l.* into v_lead from app.leads l where l.id = p_lead_id for no key update;
    -- Superseded: the sweep failed this run, or a newer run took over.
    if not found or v_lead.enrichment_status <> 'enriching' or v_lead.enrichment_started_at is distinct from p_started_at then
      applied := false;
      kept_fields := '{}';
      return next;
      return;
    end if;

    if p_status = 'failed' then
      update app.leads l
      set enrichment_status = 'failed',
          enrichment_error = pg_catalog.left(coalesce(nullif(p_error, ''), 'Enrichment failed'), 2000),
          -- Keep the last good result; record this attempt next to it.
          enrichment = case when l.enriched_at is not null and l.enrichment is not null
                            then l.enrichment operator(pg_catalog.||) pg_catalog.jsonb_build_object('lastAttempt', p_document)
                            else p_document end
      where l.id = v_lead.id;
      applied := true;
      kept_fields := '{}';
      return next;
      return;
    end if;

    v_previous := coalesce(v_lead.enrichment -> 'facts', '{}');
    select coalesce(array_agg(f.field order by f.field), '{}') into kept_fields
    from (values
      ('title', v_lead.title, 300), ('seniority', v_lead.seniority, 100), ('companyName', v_lead.company_name, 300),
      ('linkedinUrl', v_lead.linkedin_url, 2000), ('companySize', v_lead.company_size, 100),
      ('companyRevenue', v_lead.company_revenue, 100)) f (field, current_value, max_length)
    where app._enriched_value(f.current_value, v_previous ->> f.field, v_facts ->> f.field, f.max_length) is distinct from
          coalesce(pg_catalog.left(pg_catalog.btrim(v_facts ->> f.field), f.max_length), f.current_value);

    update app.leads l
    set enrichment_status = 'complete',
        enrichment_error = null,
        enriched_at = pg_catalog.now(),
        enrichment = p_document,
        title = app._enriched_value(l.title, v_previous ->> 'title', v_facts ->> 'title', 300),
        seniority = app._enriched_value(l.seniority, v_previous ->> 'seniority', v_facts ->> 'seniority', 100),
        company_name = app._enriched_value(l.company_name, v_previous ->> 'companyName', v_facts ->> 'companyName', 300),
        linkedin_url = app._enriched_value(l.linkedin_url, v_previous ->> 'linkedinUrl', v_facts ->> 'linkedinUrl', 2000),
        company_size = app._enriched_value(l.company_size, v_previous ->> 'companySize', v_facts ->> 'companySize', 100),
        company_revenue = app._enriched_value(l.company_revenue, v_previous ->> 'companyRevenue', v_facts ->> 'companyRevenue', 100),
        company_domain = coalesce(pg_catalog.left(nullif(pg_catalog.lower(pg_catalog.btrim(v_facts ->> 'companyDomain')), ''), 253), l.company_domain)
    where l.id = v_lead.id;

    delete from app.lead_facts f where f.org_id = v_lead.org_id and f.lead_id = v_lead.id;
    insert into app.lead_facts (org_id, lead_id, kind, value)
    select v_lead.org_id, v_lead.id, k.kind, pg_catalog.left(pg_catalog.btrim(v.value), 300)
    from (values ('school', 'schools'), ('previous_employer', 'previousEmployers')) k (kind, field)
    cross join lateral pg_catalog.jsonb_array_elements_text(
      case when pg_catalog.jsonb_typeof(v_facts -> k.field) = 'array' then v_facts -> k.field else '[]' end) v (value)
    where app.name_key(v.value) is not null
    on conflict do nothing;

    applied := true;
    return next;
  end;
  $$;
comment on function app.finish_enrichment(text, timestamptz, text, jsonb, jsonb, text) is 'Ends the run started at p_started_at: complete writes the document and fills the top-level fields (never overwriting a value set by hand, which kept_fields names) and the lead''s schools and former employers; failed records the reason and keeps the last good result. applied = false when the run was superseded.';
revoke execute on function app.finish_enrichment(text, timestamptz, text, jsonb, jsonb, text) from public;
grant execute on function app.finish_enrichment(text, timestamptz, text, jsonb, jsonb, text) to authenticated, service_role;

-- Run every minute by the job fail-stuck-enrichments (90_jobs.sql), for runs older than
-- 5 minutes.
create function app.fail_stuck_enrichments(p_older_than interval) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    update app.leads l
    set enrichment_status = 'failed',
        enrichment_error = pg_catalog.format(
          'Enrichment started at %s did not finish within %s (the request was interrupted). Retry with POST /api/openclaw/enrich { "leadId": "%s", "force": true }.',
          l.enrichment_started_at, p_older_than, l.id)
    where l.enrichment_status = 'enriching' and l.enrichment_started_at < pg_catalog.now() - p_older_than;
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.fail_stuck_enrichments(interval) is 'Marks leads left enriching for longer than p_older_than as failed, with the reason; returns how many.';
revoke execute on function app.fail_stuck_enrichments(interval) from public;
grant execute on function app.fail_stuck_enrichments(interval) to service_role;

-- ---------------------------------------------------------------------------
-- The spider web: how a lead is connected to the org's other live leads.
-- ---------------------------------------------------------------------------
create function app.spider_web(p_lead_id text)
  returns table (lead_id text, name text, connection_type text, detail text, strength numeric)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_me app.leads%rowtype;
    v_domains text[];
    v_names text[];
  begin
    select l.* into v_me from app.leads l where l.id = p_lead_id;
    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check the id. Ids belong to one workspace: another workspace''s leads are not visible with this key.');
    end if;
    if v_me.deleted_at is not null then
      perform app.refuse(409, 'lead_deleted', pg_catalog.format('Lead %s is deleted', p_lead_id),
        pg_catalog.format('Restore it first with PATCH /api/openclaw/leads/%s { "restore": true }.', p_lead_id));
    end if;
    v_domains := array(select distinct d from unnest(array[v_me.company_domain,
      case when not app.is_personal_mail_domain(v_me.email_domain) then v_me.email_domain end]) d where d is not null);
    v_names := array(select distinct n from unnest(array[v_me.organization_key, v_me.company_key]) n where n is not null);

    return query
    with others as (
      select o.id, o.first_name, o.last_name, o.email_key, o.company_domain, o.email_domain,
             o.organization_name, o.company_name, o.organization_key, o.company_key, o.referrer_key
      from app.leads o
      where o.org_id = v_me.org_id and o.deleted_at is null and o.id <> v_me.id
        and (o.company_domain = any(v_domains) or o.email_domain = any(v_domains)
             or o.organization_key = any(v_names) or o.company_key = any(v_names)
             or o.referrer_key = v_me.referrer_key
             or o.referrer_key in (v_me.email_key, v_me.id) or o.email_key = v_me.referrer_key or o.id = v_me.referrer_key)
    ),
    connections (cid, ctype, cdetail, cstrength) as (
      select o.id, 'referral',
             case when o.referrer_key in (v_me.email_key, v_me.id) then 'This lead referred them' else 'They referred this lead' end,
             0.90
      from others o
      where o.referrer_key in (v_me.email_key, v_me.id) or o.email_key = v_me.referrer_key or o.id = v_me.referrer_key
      union all
      select o.id, 'same_company_domain',
             'Both at ' || coalesce(case when o.company_domain = any(v_domains) then o.company_domain end, o.email_domain),
             0.80
      from others o
      where o.company_domain = any(v_domains) or o.email_domain = any(v_domains)
      union all
      select o.id, 'same_organization',
             'Both at ' || coalesce(case when o.company_key = any(v_names) then o.company_name end, o.organization_name),
             0.70
      from others o
      where o.organization_key = any(v_names) or o.company_key = any(v_names)
      union all
      select o.id, 'same_referrer', 'Both referred by ' || v_me.referrer_key, 0.60
      from others o
      where o.referrer_key = v_me.referrer_key
      union all
      -- Shared schools or former employers, one connection per lead and kind.
      select f.lead_id,
             case mine.kind when 'school' then 'shared_school' else 'shared_previous_employer' end,
             case mine.kind when 'school' then 'Both studied at ' else 'Both worked at ' end
               || string_agg(distinct mine.value, ', ' order by mine.value),
             least(case mine.kind when 'school' then 0.60 else 0.70 end,
                   case mine.kind when 'school' then 0.40 else 0.50 end + 0.10 * (count(distinct mine.value_key) - 1))
      from app.lead_facts mine
      join app.lead_facts f on f.org_id = mine.org_id and f.kind = mine.kind and f.value_key = mine.value_key and f.lead_id <> mine.lead_id
      join app.leads o on o.org_id = f.org_id and o.id = f.lead_id and o.deleted_at is null
      where mine.org_id = v_me.org_id and mine.lead_id = v_me.id
      group by f.lead_id, mine.kind
      union all
      -- A former employer of one is the other's current company.
      select o.id, 'worked_at_their_company', 'This lead previously worked at ' || mine.value || ', their company', 0.60
      from app.lead_facts mine
      join app.leads o on o.org_id = mine.org_id and o.deleted_at is null and o.id <> mine.lead_id
        and (o.organization_key = mine.value_key or o.company_key = mine.value_key)
      where mine.org_id = v_me.org_id and mine.lead_id = v_me.id and mine.kind = 'previous_employer'
      union all
      select f.lead_id, 'worked_at_their_company', 'They previously worked at ' || f.value || ', this lead''s company', 0.60
      from app.lead_facts f
      join app.leads o on o.org_id = f.org_id and o.id = f.lead_id and o.deleted_at is null
      where f.org_id = v_me.org_id and f.kind = 'previous_employer' and f.value_key = any(v_names) and f.lead_id <> v_me.id
    )
    select distinct on (c.cid, c.ctype)
           c.cid, pg_catalog.btrim(l.first_name || ' ' || coalesce(l.last_name, '')), c.ctype, c.cdetail, c.cstrength::numeric(3, 2)
    from connections c
    join app.leads l on l.id = c.cid
    order by c.cid, c.ctype, c.cstrength desc;
  end;
  $$;
comment on function app.spider_web(text) is 'The lead''s connections to the org''s other live leads (referral, same company domain, same organisation, same referrer, shared school, shared or linked former employer), each with a detail and a strength from 0 to 1.';
revoke execute on function app.spider_web(text) from public;
grant execute on function app.spider_web(text) to authenticated, service_role;
