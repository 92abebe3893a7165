-- Enrichment in the database: a run's start and finish, what it may overwrite, the
-- stuck-run sweep, the provider cache and its tenancy, and the spider web.
begin;
select plan(62);

select tests.create_org('enrich-a') as org_a \gset
select tests.create_org('enrich-b') as org_b \gset

-- ---------------------------------------------------------------------------
-- Names and domains
-- ---------------------------------------------------------------------------
select is(app.name_key('Acme, Inc.'), app.name_key('ACME'), 'name_key ignores case, punctuation and legal suffixes');
select is(app.name_key('Procter & Gamble Co.'), 'procter and gamble', 'name_key spells & as and and drops Co.');
select is(app.name_key('  ...  '), null, 'name_key of a name with no letters is null');
select ok(app.is_personal_mail_domain('gmail.com') and app.is_personal_mail_domain('hotmail.co.uk')
  and app.is_personal_mail_domain('mailinator.com'), 'free-mail, their country variants and disposable domains are personal');
select ok(not app.is_personal_mail_domain('acme.com'), 'a company domain is not personal');

-- ---------------------------------------------------------------------------
-- Start and finish
-- ---------------------------------------------------------------------------
select tests.create_lead(:'org_a', 'jane@acme.com') as lead \gset
select tests.create_lead(:'org_b') as lead_b \gset
select is((select email_domain from app.leads where id = :'lead'), 'acme.com', 'email_domain is kept from the email');

select tests.authenticate_as(:'org_a');
select outcome, started_at as started from app.start_enrichment(:'lead', false, '24 hours', '20 seconds') \gset
select is(:'outcome'::text, 'started', 'a lead never enriched is started');
select is((select row(enrichment_status, enrichment_started_at = now(), enrichment_error)::text from app.leads where id = :'lead'),
  '(enriching,t,)', 'starting marks the lead enriching with its start time');
select throws_ok(format($$ select * from app.start_enrichment(%L, false, '24 hours', '20 seconds') $$, :'lead'),
  'CR409', null, 'a second run within the budget of the first is refused with 409');
select throws_ok(format($$ select * from app.start_enrichment(%L, true, '24 hours', '20 seconds') $$, :'lead'),
  'CR409', null, 'force does not start a second concurrent run');
select throws_ok($$ select * from app.start_enrichment('rp_nope', false, '24 hours', '20 seconds') $$,
  'CR404', 'Lead rp_nope was not found', 'an unknown lead is 404');
select throws_ok(format($$ select * from app.start_enrichment(%L, false, '24 hours', '20 seconds') $$, :'lead_b'),
  'CR404', null, 'another org''s lead is 404');

select is((select row(applied, kept_fields)::text from app.finish_enrichment(:'lead', :'started', 'complete',
  '{"title": "VP of Engineering", "seniority": "VP", "companyName": "Acme", "linkedinUrl": "https://www.linkedin.com/in/jane",
    "companySize": "201-500", "companyDomain": "Acme.com", "schools": ["University of Texas at Austin"], "previousEmployers": ["Globex", "Initech Inc"]}',
  '{"facts": {"title": "VP of Engineering", "seniority": "VP", "companyName": "Acme", "linkedinUrl": "https://www.linkedin.com/in/jane", "companySize": "201-500"}, "sources": []}',
  null)), '(t,{})', 'finishing the run applies it');
select is((select row(enrichment_status, title, seniority, company_name, linkedin_url, company_size, company_revenue, company_domain, enriched_at = now())::text
  from app.leads where id = :'lead'),
  '(complete,"VP of Engineering",VP,Acme,https://www.linkedin.com/in/jane,201-500,,acme.com,t)',
  'a complete run writes the top-level fields, the company domain and enriched_at');
select is((select enrichment -> 'sources' from app.leads where id = :'lead'), '[]'::jsonb, 'the document is stored on the lead');
select is((select array_agg(kind || ':' || value order by kind, value) from app.lead_facts where lead_id = :'lead'),
  array['previous_employer:Globex', 'previous_employer:Initech Inc', 'school:University of Texas at Austin'],
  'schools and former employers are recorded as lead facts');

select is((select outcome from app.start_enrichment(:'lead', false, '24 hours', '20 seconds')), 'fresh',
  'a lead enriched within the freshness window is fresh');
select is((select enrichment_status from app.leads where id = :'lead'), 'complete', 'a fresh answer leaves the lead complete');

-- A person edits the title by hand; the next (forced) run must keep it.
update app.leads set title = 'Chief Anvil Officer' where id = :'lead';
select outcome, started_at as started2 from app.start_enrichment(:'lead', true, '24 hours', '20 seconds') \gset
select is(:'outcome'::text, 'started', 'force starts a run even when fresh');
select is((select row(applied, kept_fields)::text from app.finish_enrichment(:'lead', :'started2'::timestamptz - interval '1 second', 'complete', '{"title": "CTO"}', '{}', null)),
  '(f,{})', 'a finish for a run that is not the current one is not applied');
select is((select row(enrichment_status, title)::text from app.leads where id = :'lead'), '(enriching,"Chief Anvil Officer")',
  'a superseded run''s finish changes nothing');
select is((select row(applied, kept_fields)::text from app.finish_enrichment(:'lead', :'started2', 'complete',
  '{"title": "CTO", "companySize": "501-1000", "companyName": "Acme", "schools": ["Rice University"]}',
  '{"facts": {"title": "CTO", "companySize": "501-1000", "companyName": "Acme"}}', null)),
  '(t,{title})', 'a value set by hand is reported as kept');
select is((select row(title, company_size, seniority)::text from app.leads where id = :'lead'),
  '("Chief Anvil Officer",501-1000,VP)',
  'enrichment never overwrites a value set by hand, replaces its own earlier values, and keeps values it did not find again');
select is((select array_agg(value) from app.lead_facts where lead_id = :'lead'), array['Rice University'],
  'a complete run replaces the lead''s facts');

-- A failed run keeps the last good result and says why.
select started_at as started3 from app.start_enrichment(:'lead', true, '24 hours', '20 seconds') \gset
select is((select applied from app.finish_enrichment(:'lead', :'started3', 'failed', '{}', '{"status": "failed", "sources": []}',
  'Enrichment ran out of its 20000 ms time budget: apollo was cut off')), true, 'a failed run is applied');
select is((select row(enrichment_status, enrichment_error, title, enrichment -> 'facts' ->> 'title', enrichment -> 'lastAttempt' ->> 'status')::text
  from app.leads where id = :'lead'),
  '(failed,"Enrichment ran out of its 20000 ms time budget: apollo was cut off","Chief Anvil Officer",CTO,failed)',
  'a failed run records the reason and the attempt, keeping the last good document and fields');
select is((select outcome from app.start_enrichment(:'lead', false, '24 hours', '20 seconds')), 'started',
  'a failed lead is not fresh: the next call runs again');
select throws_ok(format($$ select * from app.finish_enrichment(%L, now(), 'enriching', '{}', '{}', null) $$, :'lead'),
  'P0001', null, 'a run can only finish complete or failed');

-- A run past its budget is taken over by the next call.
select tests.clear_authentication();
update app.leads set enrichment_started_at = now() - interval '30 seconds' where id = :'lead';
select tests.authenticate_as(:'org_a');
select is((select outcome from app.start_enrichment(:'lead', false, '24 hours', '20 seconds')), 'started',
  'a run older than the budget no longer blocks a new one');

-- Deleted leads
select tests.create_lead(:'org_a') as deleted_lead \gset
update app.leads set deleted_at = now() where id = :'deleted_lead';
select throws_ok(format($$ select * from app.start_enrichment(%L, false, '24 hours', '20 seconds') $$, :'deleted_lead'),
  'CR409', null, 'a deleted lead cannot be enriched (409, restore first)');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- The stuck-run sweep
-- ---------------------------------------------------------------------------
select tests.create_lead(:'org_a') as stuck \gset
select tests.create_lead(:'org_a') as running \gset
update app.leads set enrichment_status = 'enriching', enrichment_started_at = now() - interval '10 minutes' where id = :'stuck';
update app.leads set enrichment_status = 'enriching', enrichment_started_at = now() - interval '5 seconds' where id = :'running';
select is(app.fail_stuck_enrichments('5 minutes'), 1, 'the sweep fails only runs older than the threshold');
select is((select enrichment_status from app.leads where id = :'stuck'), 'failed', 'a stuck run is marked failed');
select matches((select enrichment_error from app.leads where id = :'stuck'), 'did not finish within 00:05:00.*force',
  'the stuck run''s reason says what happened and how to retry');
select is((select enrichment_status from app.leads where id = :'running'), 'enriching', 'a run within the threshold is left alone');
select is((select schedule from cron.job where jobname = 'fail-stuck-enrichments'), '* * * * *', 'the sweep runs every minute under pg_cron');
select is((select count(*)::int from cron.job where jobname = 'purge-enrichment-cache'), 1, 'the cache purge is scheduled');
select ok(not has_function_privilege('authenticated', 'app.fail_stuck_enrichments(interval)', 'execute'), 'tenants cannot run the cross-org sweep');
select ok(not has_function_privilege('anon', 'app.start_enrichment(text, boolean, interval, interval)', 'execute'), 'anon cannot start enrichment');

-- ---------------------------------------------------------------------------
-- The provider cache
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
select app.cache_put('website', 'domain:acme.com', '{"status": "found", "facts": {"companyName": "Acme"}}', '7 days');
select app.cache_put('apollo', 'person:jane@acme.com', '{"status": "found", "facts": {"title": "VP"}}', '7 days');
select is(app.cache_get('website', 'domain:acme.com') -> 'facts' ->> 'companyName', 'Acme', 'a cached domain answer is read back');
select is(app.cache_get('apollo', 'person:jane@acme.com') -> 'facts' ->> 'title', 'VP', 'a cached person answer is read back by its org');
select is(app.cache_get('apollo', 'domain:acme.com'), null, 'answers are cached per source');
select app.cache_put('website', 'domain:acme.com', '{"status": "found", "facts": {"companyName": "Acme Corp"}}', '7 days');
select is(app.cache_get('website', 'domain:acme.com') -> 'facts' ->> 'companyName', 'Acme Corp', 'putting a key again replaces the answer');
select is((select count(*)::int from app.enrichment_cache), 1, 'an org sees its own person answers in the table, not the shared ones');

select tests.authenticate_as(:'org_b');
select is(app.cache_get('website', 'domain:acme.com') -> 'facts' ->> 'companyName', 'Acme Corp', 'domain answers are shared across orgs');
select is(app.cache_get('apollo', 'person:jane@acme.com'), null, 'another org''s paid person answer is not shared');
select is((select count(*)::int from app.enrichment_cache), 0, 'org B cannot read org A''s cached person answers');
select throws_ok($$ insert into app.enrichment_cache (source, cache_key, result, expires_at) values ('apollo', 'person:x', '{}', now() + interval '1 day') $$,
  '42501', null, 'tenants cannot write the cache table directly');
select tests.clear_authentication();

update app.enrichment_cache set fetched_at = now() - interval '8 days', expires_at = now() - interval '1 day' where cache_key = 'domain:acme.com';
select tests.authenticate_as(:'org_a');
select is(app.cache_get('website', 'domain:acme.com'), null, 'an expired answer is not used');
select tests.clear_authentication();
select is(app.purge_enrichment_cache(), 1, 'the purge deletes expired answers');
select throws_ok($$ select app.cache_get('apollo', 'person:jane@acme.com') $$, 'P0001', null,
  'person answers need an org: outside a request there is none');

-- ---------------------------------------------------------------------------
-- Lead facts are tenant data
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.lead_facts where org_id = :'org_a'), 0, 'org B cannot read org A''s lead facts');
select throws_ok(format($$ insert into app.lead_facts (org_id, lead_id, kind, value) values (%L, %L, 'school', 'X') $$, :'org_a', :'lead'),
  '42501', null, 'org B cannot add facts to org A''s lead');
select throws_ok(format($$ insert into app.lead_facts (lead_id, kind, value) values (%L, 'school', 'X') $$, :'lead'),
  '23503', null, 'org B cannot attach a fact to org A''s lead from its own org');
delete from app.lead_facts where org_id = :'org_a';
select tests.clear_authentication();
select is((select count(*)::int from app.lead_facts where lead_id = :'lead'), 1, 'org A''s facts survive org B''s delete');

-- ---------------------------------------------------------------------------
-- The spider web
-- ---------------------------------------------------------------------------
select tests.create_org('spider') as org_s \gset
insert into app.leads (org_id, first_name, last_name, email, organization_name, crm_data) values
  (:'org_s', 'Jane', 'Doe', 'jane@acme.com', 'Acme, Inc.', '{"referredBy": "bob@partner.com"}'),
  (:'org_s', 'Joe', null, 'joe@acme.com', null, '{}'),
  (:'org_s', 'Ann', null, 'ann@gmail.com', 'ACME', '{}'),
  (:'org_s', 'Tom', null, 'tom@other.com', null, '{"referrer": "Bob@Partner.com"}'),
  (:'org_s', 'Bob', null, 'bob@partner.com', null, '{}'),
  (:'org_s', 'Sue', null, 'sue@school.org', null, '{}'),
  (:'org_s', 'Max', null, 'max@globex.com', 'Globex Corporation', '{}'),
  (:'org_s', 'Ex', null, 'ex@globex-old.com', null, '{}'),
  (:'org_s', 'Gail', null, 'gail@gmail.com', null, '{}'),
  (:'org_s', 'Gus', null, 'gus@gmail.com', null, '{}'),
  (:'org_s', 'Del', null, 'del@acme.com', null, '{}');
update app.leads set deleted_at = now() where org_id = :'org_s' and first_name = 'Del';
select tests.create_lead(:'org_b', 'other-org@acme.com');
select id as jane from app.leads where org_id = :'org_s' and first_name = 'Jane' \gset
select id as gail from app.leads where org_id = :'org_s' and first_name = 'Gail' \gset
insert into app.lead_facts (org_id, lead_id, kind, value)
select :'org_s', l.id, f.kind, f.value from app.leads l
join (values ('Jane', 'school', 'University of Texas at Austin'), ('Jane', 'previous_employer', 'Globex'),
             ('Sue', 'school', 'university of texas at austin'), ('Ex', 'previous_employer', 'Acme')) f (who, kind, value)
  on f.who = l.first_name
where l.org_id = :'org_s';

select tests.authenticate_as(:'org_s');
select results_eq(
  format($$ select name, connection_type, strength from app.spider_web(%L) order by strength desc, name, connection_type $$, :'jane'),
  $$ values ('Bob', 'referral', 0.90), ('Joe', 'same_company_domain', 0.80), ('Ann', 'same_organization', 0.70),
            ('Ex', 'worked_at_their_company', 0.60), ('Max', 'worked_at_their_company', 0.60), ('Tom', 'same_referrer', 0.60),
            ('Sue', 'shared_school', 0.40) $$,
  'the spider web finds every kind of connection with its strength, and no deleted or other-org leads');
select is((select detail from app.spider_web(:'jane') where name = 'Sue'), 'Both studied at University of Texas at Austin',
  'a shared school names the school');
select is((select detail from app.spider_web(:'jane') where name = 'Joe'), 'Both at acme.com', 'a shared domain names the domain');
select is((select detail from app.spider_web(:'jane') where name = 'Max'), 'This lead previously worked at Globex, their company',
  'a former employer that is another lead''s company is explained');
select is_empty(format($$ select * from app.spider_web(%L) $$, :'gail'), 'leads sharing only a free-mail domain are not connected');
select throws_ok(format($$ select * from app.spider_web(%L) $$, :'lead'), 'CR404', null, 'the spider web of another org''s lead is 404');

-- The spider web's lookups are index scans led by org_id, at a realistic volume.
select tests.clear_authentication();
select tests.create_org('spider-perf', 'pro') as org_p \gset
select tests.create_org('spider-perf-2', 'pro') as org_p2 \gset
insert into app.leads (org_id, first_name, email, organization_name, crm_data, deleted_at)
select o, 'Lead' || g, 'lead' || g || '@example' || (g % 300) || '.com', 'Company ' || g,
       case when g % 7 = 0 then jsonb_build_object('referredBy', 'ref' || (g % 40) || '@x.com') else '{}' end,
       case when g % 10 = 0 then now() end
from unnest(array[:'org_p', :'org_p2']) o, generate_series(1, 900) g;
insert into app.lead_facts (org_id, lead_id, kind, value)
select org_id, id, 'school', 'School ' || (length(id) + ascii(substr(id, 4, 1))) % 97 from app.leads where org_id in (:'org_p', :'org_p2');
analyze app.leads;
analyze app.lead_facts;
select tests.authenticate_as(:'org_p');
set local enable_seqscan = off;
select ok((select string_agg(line, E'\n') from tests.explain(format($$
    select o.id from app.leads o where o.org_id = %L and o.deleted_at is null
      and (o.company_domain = any('{example5.com}') or o.email_domain = any('{example5.com}')
           or o.organization_key = any('{company 5}') or o.company_key = any('{company 5}') or o.referrer_key = 'ref5@x.com') $$, :'org_p')) line)
  ~ 'leads_org_company_domain_idx.*leads_org_email_domain_idx.*leads_org_organization_key_idx.*leads_org_company_key_idx.*leads_org_referrer_key_idx',
  'the spider web finds candidate leads through one (org_id, key) index per connection kind');
select ok((select string_agg(line, E'\n') from tests.explain(format($$
    select f.lead_id from app.lead_facts mine
    join app.lead_facts f on f.org_id = mine.org_id and f.kind = mine.kind and f.value_key = mine.value_key and f.lead_id <> mine.lead_id
    where mine.org_id = %L and mine.lead_id = 'rp_x' $$, :'org_p')) line)
  ~ 'lead_facts_pkey.*lead_facts_org_kind_key_idx', 'shared facts are joined through indexes led by org_id');
select tests.clear_authentication();

select * from finish();
rollback;
