-- Campaigns: row-level security, and the tier's campaign limit (free 3, pro and ultra
-- unlimited; archived campaigns do not count) enforced by the inserting transaction.
begin;
select plan(22);

select tests.create_org('cmp-a') as org_a \gset
select tests.create_org('cmp-b') as org_b \gset

-- ---------------------------------------------------------------------------
-- Ids, defaults and checks
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_a');
insert into app.campaigns (name) values ('Welcome') returning id as cmp_a \gset
select matches(:'cmp_a'::text, '^cmp_[0-9a-f]{24}$', 'campaign ids are cmp_ followed by 24 hex digits');
select is((select row(org_id, status)::text from app.campaigns where id = :'cmp_a'), row(:'org_a'::text, 'draft')::text,
  'a new campaign belongs to the caller''s org and starts as a draft');
select throws_ok($$ insert into app.campaigns (name, status) values ('x', 'running') $$, '23514', null, 'an unknown status is refused');
select throws_ok($$ insert into app.campaigns (name) values (' ') $$, '23514', null, 'a blank name is refused');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------
-- Tenancy
-- ---------------------------------------------------------------------------
select tests.authenticate_as(:'org_b');
select is((select count(*)::int from app.campaigns where id = :'cmp_a'), 0, 'org B cannot read org A''s campaign');
update app.campaigns set name = 'Hacked' where id = :'cmp_a';
delete from app.campaigns where id = :'cmp_a';
select throws_ok(format($$ insert into app.campaigns (org_id, name) values (%L, 'Planted') $$, :'org_a'),
  '42501', null, 'org B cannot create a campaign in org A');
select tests.clear_authentication();
select is((select name from app.campaigns where id = :'cmp_a'), 'Welcome', 'org B could neither rename nor delete org A''s campaign');

-- ---------------------------------------------------------------------------
-- The free tier's limit: 3 campaigns that are not archived
-- ---------------------------------------------------------------------------
create extension if not exists pgrowlocks;
select tests.authenticate_as(:'org_a');
insert into app.campaigns (name, status) values ('Second', 'active'), ('Third', 'paused');
select is((select campaigns from app.org_tier()), 3, 'an org on the free tier can run 3 campaigns');
select throws_ok($$ insert into app.campaigns (name) values ('Fourth') $$,
  'CR402', 'Campaign limit reached: the free tier allows 3 campaigns and this workspace has 3',
  'the 4th campaign is refused, naming tier and limit');
select throws_like($$ insert into app.campaigns (name) values ('Fourth') $$, '%campaign%', 'the refusal is about campaigns');
select tests.clear_authentication();
select is((select modes from pgrowlocks('app.orgs') r join app.orgs o on o.ctid = r.locked_row where o.id = :'org_a'),
  array['For No Key Update'], 'creating a campaign locks the org row, serialising concurrent creates in that org');
select tests.authenticate_as(:'org_a');

select lives_ok($$ insert into app.campaigns (name, status) values ('Old one', 'archived') $$,
  'an archived campaign can be stored at the limit (it does not count)');
update app.campaigns set status = 'archived' where id = :'cmp_a';
select is((select row(campaigns, archived_campaigns)::text from app.org_tier()), row(2, 2)::text,
  'org_tier counts archived campaigns separately from those against the limit');
select lives_ok($$ insert into app.campaigns (name) values ('Replacement') $$, 'archiving a campaign frees a slot');
select throws_ok(format($$ update app.campaigns set status = 'active' where id = %L $$, :'cmp_a'),
  'CR402', null, 'taking a campaign out of the archive at the limit is refused');
select lives_ok($$ update app.campaigns set status = 'active' where name = 'Second' $$,
  'changing the status of a counted campaign is not limited');
select is((select count(*)::int from app.campaigns where status <> 'archived'), 3, 'the org still runs exactly 3 campaigns');
select tests.clear_authentication();

select tests.authenticate_as(:'org_b');
select lives_ok($$ insert into app.campaigns (name) values ('B first') $$, 'each org''s limit is its own');
select tests.clear_authentication();

select throws_ok(format($$ insert into app.campaigns (org_id, name) values (%L, 'From Studio') $$, :'org_a'),
  'CR402', null, 'the limit holds for direct database writes too');

-- ---------------------------------------------------------------------------
-- Pro and ultra: unlimited
-- ---------------------------------------------------------------------------
update app.orgs set tier = 'pro' where id = :'org_a';
select tests.authenticate_as(:'org_a');
insert into app.campaigns (name) select 'Pro ' || g from generate_series(1, 10) g;
select is((select campaigns from app.org_tier()), 13, 'after an upgrade to pro the org can run more than 3 campaigns');
select is((select campaign_limit from app.org_tier()), null, 'pro has no campaign limit');
select tests.clear_authentication();
update app.orgs set tier = 'ultra' where id = :'org_b';
select lives_ok(format($$ insert into app.campaigns (org_id, name) select %L, 'Ultra ' || g from generate_series(1, 10) g $$, :'org_b'),
  'ultra has no campaign limit');

select * from finish();
rollback;
