-- Proposals: the slug (readable, random, globally unique), one proposal per lead made by
-- a trigger, content rules and merging, what the beacon records (visits, events, the
-- lead's engagement; bots, the org's own key, rate limits), the public page's data, the
-- rollup, privileges and tenancy.
begin;
select plan(75);

select tests.create_org('proposals-a') as org_a \gset
select tests.create_org('proposals-b') as org_b \gset
select k.key_hash as key_hash_a from app.api_keys k where k.org_id = :'org_a' \gset
select k.key_hash as key_hash_b from app.api_keys k where k.org_id = :'org_b' \gset
\set ua '''Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'''
\set t0 '''2026-03-02 10:00:00+00'''

-- ===========================================================================
-- Slugs and the trigger
-- ===========================================================================
select is(app.slugify('Cool Startup, Inc.'), 'cool-startup-inc', 'slugify keeps letters and digits joined by single dashes');
select is(app.slugify('  --Zoë O''Neil--  '), 'zo-o-neil', 'slugify drops accents'' letters, punctuation and edge dashes');
select is(app.slugify('李'), '', 'a name without latin letters or digits slugifies to nothing');
select ok(length(app.slugify(repeat('abcdefghi ', 10))) <= 40 and app.slugify(repeat('abcdefghi ', 10)) !~ '-$',
  'slugify stops at 40 characters without a trailing dash');
select matches(app.random_base36(8), '^[0-9a-z]{8}$', 'random_base36 draws from 0-9a-z');
select is((select count(distinct app.random_base36(8)) from generate_series(1, 200))::integer, 200, '200 random suffixes are all different');

insert into app.leads (org_id, first_name, email, company_name, organization_name)
values (:'org_a', 'Jane', 'jane@coolstartup.com', 'Cool Startup, Inc.', 'Ignored Org') returning id as lead_a \gset
select slug as slug_a, preview_token as token_a from app.proposals where lead_id = :'lead_a' \gset
select matches(:'slug_a'::text, '^cool-startup-inc-[0-9a-z]{8}$', 'a new lead gets a proposal slugged from its company plus 8 random characters');
insert into app.leads (org_id, first_name, email, organization_name) values (:'org_a', 'Sam', 'sam@smile.com', 'Smile Clinic') returning id as lead_org \gset
select slug as slug_org from app.proposals where lead_id = :'lead_org' \gset
select matches(:'slug_org'::text, '^smile-clinic-[0-9a-z]{8}$', 'without a company the organisation names the slug');
insert into app.leads (org_id, first_name, last_name, email) values (:'org_a', 'Ada', 'Lovelace', 'ada@example.com') returning id as lead_name \gset
select matches((select slug from app.proposals where lead_id = :'lead_name'), '^ada-lovelace-[0-9a-z]{8}$', 'without either the person''s name does');
insert into app.leads (org_id, first_name, email) values (:'org_a', '李', 'li@example.com') returning id as lead_cjk \gset
select matches((select slug from app.proposals where lead_id = :'lead_cjk'), '^[0-9a-z]{8}$', 'a name that slugifies to nothing still gets a random slug');
select is((select row(org_id, published, content)::text from app.proposals where lead_id = :'lead_a'), row(:'org_a'::text, true, '{}'::jsonb)::text,
  'the proposal is in the lead''s org, published, with no content yet');
select matches(:'token_a'::text, '^[0-9a-f]{32}$', 'each proposal has a 32-hex-digit preview token');

select tests.create_lead(:'org_b') as lead_b \gset
select slug as slug_b from app.proposals where lead_id = :'lead_b' \gset
select throws_ok(format($$ update app.proposals set slug = %L where lead_id = %L $$, :'slug_a', :'lead_b'), '23505', null,
  'slugs are unique across all orgs');
select throws_ok(format($$ insert into app.proposals (org_id, lead_id, slug) values (%L, %L, 'second-abcdefgh') $$, :'org_a', :'lead_a'), '23505', null,
  'a lead has one proposal');
select throws_like($$ update app.proposals set slug = 'Not A Slug' where id = (select min(id) from app.proposals) $$, '%proposals_slug_check%',
  'a slug must be lowercase words and 8 random characters');
select is(app.create_proposal(:'org_a', :'lead_a', 'Anything'), :'slug_a'::text, 'create_proposal on a lead that has one returns its slug and changes nothing');
select is((select proposal_slug from app.lead_details where id = :'lead_a'), :'slug_a'::text, 'lead_details carries the proposal slug');

-- ===========================================================================
-- Content
-- ===========================================================================
select is(app.proposal_content_problem('{"hero":{"headline":"Hi"},"problem":{"points":["a","b"]},"pricing":{"items":[{"name":"Basic","price":"$1"}]},"video":{"url":"https://v.example/x.mp4"},"cta":{"label":"Go","url":"http://x.example"}}'),
  null, 'valid content has no problem');
select is(app.proposal_content_problem('{"footer":{}}'), 'unknown section "footer"', 'unknown sections are refused');
select is(app.proposal_content_problem('{"hero":"Hi"}'), 'hero must be an object', 'a section is an object');
select matches(app.proposal_content_problem('{"hero":{"image":"x"}}'), '^hero.image is not a field of hero', 'unknown fields are refused, naming the valid ones');
select is(app.proposal_content_problem('{"cta":{"url":"javascript:alert(1)"}}'), 'cta.url must be an http(s) URL', 'URLs must be http(s)');
select is(app.proposal_content_problem('{"hero":{"headline":""}}'), 'hero.headline must be a text of 1-500 characters', 'texts are not empty');
select is(app.proposal_content_problem(jsonb_build_object('offer', jsonb_build_object('body', repeat('x', 5001)))), 'offer.body must be a text of 1-5000 characters', 'bodies are at most 5000 characters');
select is(app.proposal_content_problem('{"offer":{"points":[1]}}'), 'offer.points must hold texts of 1-500 characters', 'points are texts');
select matches(app.proposal_content_problem('{"pricing":{"items":[{"name":"x"}]}}'), '^pricing.items must hold', 'a price item needs a name and a price');
select is(app.proposal_content_problem('{"video":{"title":"Tour"}}'), 'video needs a url', 'a video needs its url');
select throws_like(format($$ update app.proposals set content = '{"cta":{"url":"data:text/html,x"}}' where lead_id = %L $$, :'lead_a'),
  '%proposals_content_check%', 'the table refuses invalid content from any writer (Studio included)');

select tests.authenticate_as(:'org_a');
select lives_ok(format($$ select app.set_proposal(%L, '{"hero":{"headline":"H","subheadline":"S"},"offer":{"body":"B"}}') $$, :'lead_a'),
  'an org sets its proposal content');
select app.set_proposal(:'lead_a', '{"hero":{"subheadline":null},"offer":null,"cta":{"label":"Book"}}');
select is((select content from app.proposals where lead_id = :'lead_a'), '{"hero":{"headline":"H"},"cta":{"label":"Book"}}'::jsonb,
  'content merges per section: a null field or section is removed, sections left out stay');
select throws_ok(format($$ select app.set_proposal(%L, '{"cta":{"url":"ftp://x"}}') $$, :'lead_a'), 'CR400',
  'Invalid proposal content: cta.url must be an http(s) URL', 'invalid content is a 400 naming the rule');
select app.set_proposal(:'lead_a', null, false);
select is((select published from app.proposals where lead_id = :'lead_a'), false, 'set_proposal unpublishes without touching content');
select app.set_proposal(:'lead_a', null, true);

-- Tenancy
select tests.authenticate_as(:'org_b');
select is_empty(format($$ select * from app.proposals where lead_id = %L $$, :'lead_a'), 'org B cannot see org A''s proposal');
select throws_ok(format($$ select app.set_proposal(%L, '{"hero":{"headline":"Hijacked"}}') $$, :'lead_a'), 'CR404', null,
  'org B cannot set org A''s proposal: 404');
select is_empty(format($$ update app.proposals set published = false where lead_id = %L returning id $$, :'lead_a'), 'org B cannot unpublish org A''s proposal');
select throws_ok(format($$ update app.proposals set slug = 'mine-abcdefgh' where lead_id = %L $$, :'lead_b'), '42501', null,
  'a tenant cannot change a slug, even its own');
select throws_ok(format($$ select app.track_proposal(%L, 'visit-0000001', 'view') $$, :'slug_a'), '42501', null,
  'a tenant request cannot call the beacon function (only anon, from the public page)');
select tests.clear_authentication();

-- ===========================================================================
-- Tracking
-- ===========================================================================
select ok(app.is_bot_user_agent('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)')
  and app.is_bot_user_agent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/126.0 Safari/537.36')
  and app.is_bot_user_agent('facebookexternalhit/1.1') and app.is_bot_user_agent('curl/8.5.0')
  and app.is_bot_user_agent('python-requests/2.31') and app.is_bot_user_agent('') and app.is_bot_user_agent(null),
  'crawlers, link previewers, headless browsers, scripts and a missing User-Agent are bots');
select ok(not app.is_bot_user_agent(:ua) and not app.is_bot_user_agent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Mobile/15E148 Safari/604.1'),
  'desktop and mobile browsers are people');

select tests.authenticate_as_anon();
select is(app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'view', '{}', :ua, null, :t0), '{"recorded": true, "firstView": true}'::jsonb,
  'the first report of a visit records a view');
select is(app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'view', '{}', :ua, null, :t0::timestamptz + interval '1 second'),
  '{"recorded": true, "firstView": false}'::jsonb, 'reporting the view again is the same visit');
select is(app.track_proposal(:'slug_a', 'visit-bot-00001', 'view', '{}', 'Googlebot/2.1', null, :t0), '{"reason": "bot", "recorded": false}'::jsonb,
  'a bot''s view is not recorded');
select is(app.track_proposal(:'slug_a', 'visit-own-00001', 'view', '{}', :ua, :'key_hash_a', :t0), '{"reason": "preview", "recorded": false}'::jsonb,
  'a request with the org''s own API key is a preview, not a view');
select is(app.track_proposal(:'slug_a', 'visit-aaaa-0002', 'view', '{}', :ua, :'key_hash_b', :t0) ->> 'recorded', 'true',
  'another org''s key does not make it a preview');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'heartbeat', '{"seconds": 40}', :ua, null, :t0::timestamptz + interval '30 seconds');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'heartbeat', '{"seconds": 20}', :ua, null, :t0::timestamptz + interval '31 seconds');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'section', '{"section": "pricing"}', :ua, null, :t0::timestamptz + interval '32 seconds');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'section', '{"section": "pricing"}', :ua, null, :t0::timestamptz + interval '33 seconds');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'video', '{"percent": 50}', :ua, null, :t0::timestamptz + interval '34 seconds');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'video', '{"percent": 25}', :ua, null, :t0::timestamptz + interval '35 seconds');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'video', '{"percent": 50}', :ua, null, :t0::timestamptz + interval '36 seconds');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'cta', '{"label": "Book", "url": "https://cal.example/x"}', :ua, null, :t0::timestamptz + interval '37 seconds');
select app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'cta', '{"label": "Book"}', :ua, null, :t0::timestamptz + interval '38 seconds');
select throws_ok(format($$ select app.track_proposal(%L, 'visit-aaaa-0001', 'jump') $$, :'slug_a'), 'CR400', null, 'an unknown kind is a 400');
select throws_ok(format($$ select app.track_proposal(%L, 'bad id!', 'view', '{}', %L) $$, :'slug_a', :ua), 'CR400', null, 'a malformed visit id is a 400');
select throws_ok(format($$ select app.track_proposal(%L, 'visit-aaaa-0001', 'video', '{"percent": 60}', %L) $$, :'slug_a', :ua), 'CR400', null,
  'video progress is reported at milestones only');
select throws_ok(format($$ select app.track_proposal(%L, 'visit-aaaa-0001', 'section', '{"section": "footer"}', %L) $$, :'slug_a', :ua), 'CR400', null,
  'sections are the page''s sections');
select throws_ok(format($$ select app.track_proposal(%L, 'visit-aaaa-0001', 'view', '{}', %L) $$, :'slug_org', :ua), 'CR409', null,
  'a visit id belongs to one proposal of its workspace');
select throws_ok($$ select app.track_proposal('no-such-abcdefgh', 'visit-aaaa-0003', 'view') $$, 'CR404', null, 'an unknown slug is a 404');
select tests.clear_authentication();

select is((select row(seconds, sections, video_percent, cta_clicks)::text from app.proposal_visits where visit_id = 'visit-aaaa-0001'),
  row(35.0, '{pricing}'::text[], 50, 2)::text,
  'the visit keeps time on page (never more than really passed, never going back), sections once, the furthest milestone and every click');
select is((select count(*)::integer from app.proposal_visits where proposal_id = (select id from app.proposals where lead_id = :'lead_a')), 2,
  'bots and previews leave no visit');
-- Visit ids are keyed within the proposal's workspace: another workspace's page counts the
-- same id as a visit of its own, and org A's visit is untouched.
select is(app.track_proposal(:'slug_b', 'visit-aaaa-0001', 'view', '{}', :ua, null, :t0), '{"recorded": true, "firstView": true}'::jsonb,
  'the same visit id on another workspace''s page is a first view there');
select is((select array_agg(type || coalesce(':' || (data ->> 'percent'), '') order by type, data ->> 'percent') from app.events where lead_id = :'lead_a' and source = 'proposal'),
  '{cta_clicked,cta_clicked,proposal_viewed,proposal_viewed,video_watched:25,video_watched:50}'::text[],
  'events: a view per visit, each milestone once (in any order), each CTA click');
select is((select external_id from app.events where lead_id = :'lead_a' and type = 'proposal_viewed' order by external_id limit 1), 'visit-aaaa-0001',
  'a view''s external_id is its visit id');
select is((select row(proposal_views, proposal_seconds, video_percent, cta_clicks)::text from app.lead_engagement where lead_id = :'lead_a'),
  row(2, 35.0, 50::numeric, 2)::text, 'the lead''s engagement rollup counts views, seconds, video and clicks');

select tests.authenticate_as_anon();
select is(app.track_proposal(:'slug_a', 'visit-aaaa-0001', 'heartbeat', '{"seconds": 90}', :ua, null, :t0::timestamptz + interval '2 days') ->> 'reason',
  'visit_expired', 'a visit older than a day records nothing more');
select tests.clear_authentication();
-- Rate limit: 100 new visits of one proposal per hour.
insert into app.proposal_visits (org_id, lead_id, proposal_id, visit_id, started_at, last_seen_at)
select :'org_a', :'lead_org', p.id, 'flood-' || lpad(g::text, 6, '0'), :t0, :t0
from app.proposals p, generate_series(1, 100) g where p.lead_id = :'lead_org';
select tests.authenticate_as_anon();
select throws_ok(format($$ select app.track_proposal(%L, 'visit-flood-101', 'view', '{}', %L, null, %L) $$, :'slug_org', :ua, :t0),
  'CR429', null, 'the 101st new visit of a proposal within an hour is refused');
select is(app.track_proposal(:'slug_org', 'visit-later-001', 'view', '{}', :ua, null, :t0::timestamptz + interval '61 minutes') ->> 'recorded',
  'true', 'an hour later visits count again');
select tests.clear_authentication();

-- Unpublished
update app.proposals set published = false where lead_id = :'lead_name';
select slug as slug_name, preview_token as token_name from app.proposals where lead_id = :'lead_name' \gset
select tests.authenticate_as_anon();
select throws_ok(format($$ select app.track_proposal(%L, 'visit-unpub-001', 'view', '{}', %L) $$, :'slug_name', :ua),
  'CR404', null, 'an unpublished proposal tracks nothing');
select tests.clear_authentication();

-- ===========================================================================
-- The public page's data
-- ===========================================================================
update app.orgs set name = 'Acme Growth', primary_color = '#112233', booking_link = 'https://cal.example/acme' where id = :'org_a';
select tests.authenticate_as_anon();
select is(app.proposal_page(:'slug_a') - 'content', jsonb_build_object('slug', :'slug_a', 'preview', false,
  'org', jsonb_build_object('name', 'Acme Growth', 'primaryColor', '#112233', 'bookingLink', 'https://cal.example/acme', 'website', null),
  'lead', jsonb_build_object('firstName', 'Jane', 'lastName', null, 'title', null, 'companyName', 'Cool Startup, Inc.', 'discussionPoints', '[]'::jsonb)),
  'the page gets branding, the lead and its content in one call');
select is(app.proposal_page('no-such-abcdefgh'), null, 'an unknown slug has no page');
select is(app.proposal_page(:'slug_name'), null, 'an unpublished proposal has no public page');
select is(app.proposal_page(:'slug_name', :'token_name') ->> 'preview',
  'true', 'its preview token shows it, marked preview');
select is(app.proposal_page(:'slug_a', null, :'key_hash_a') ->> 'preview', 'true', 'the org''s own API key sees a preview');
select is(app.proposal_page(:'slug_a', :'token_a'::text || '0') ->> 'preview', 'false', 'a wrong token is an ordinary view');
select tests.clear_authentication();
update app.leads set deleted_at = now() where id = :'lead_org';
select tests.authenticate_as_anon();
select is(app.proposal_page(:'slug_org'), null, 'a soft-deleted lead''s page is gone');
select tests.clear_authentication();

-- ===========================================================================
-- Rollup, privileges, cleanup
-- ===========================================================================
select tests.authenticate_as(:'org_a');
select is(app.proposal_tracking(:'lead_a') - 'lastViewedAt', '{"totalViews": 2, "timeOnPage": 35.0, "sectionsViewed": ["pricing"], "videoCompletion": 50, "ctaClicks": 2}'::jsonb,
  'the rollup sums the lead''s visits');
select is(app.proposal_tracking(:'lead_a') ->> 'lastViewedAt', to_jsonb(:t0::timestamptz) #>> '{}', 'lastViewedAt is the latest visit''s start');
select tests.authenticate_as(:'org_b');
select throws_ok(format($$ select app.proposal_tracking(%L) $$, :'lead_a'), 'CR404', null, 'org B cannot read org A''s rollup');
select is_empty(format($$ select * from app.proposal_visits where lead_id = %L $$, :'lead_a'), 'org B cannot see org A''s visits');
select tests.clear_authentication();

select ok(has_function_privilege('anon', 'app.track_proposal(text, text, text, jsonb, text, text, timestamptz)', 'execute')
  and has_function_privilege('anon', 'app.proposal_page(text, text, text)', 'execute'), 'anon may call the beacon and page functions');
select ok(not has_function_privilege('anon', 'app.set_proposal(text, jsonb, boolean)', 'execute')
  and not has_function_privilege('anon', 'app.proposal_tracking(text)', 'execute')
  and not has_function_privilege('authenticated', 'app.create_proposal(text, text, text)', 'execute'), 'anon cannot write content or read rollups; nobody calls create_proposal directly');
select ok(not has_table_privilege('authenticated', 'app.proposal_visits', 'insert') and not has_table_privilege('anon', 'app.proposals', 'select'),
  'tenants cannot forge visits and anon reads no proposal table');

delete from app.leads where id = :'lead_a';
select is((select count(*)::integer from app.proposals where lead_id = :'lead_a') + (select count(*)::integer from app.proposal_visits where lead_id = :'lead_a'), 0,
  'deleting a lead for good deletes its proposal and visits');

select * from finish();
rollback;
