-- The kind of a mail domain, from the one list in app.personal_mail_domains: free-mail
-- (with the country variants of the big providers), disposable (with sub-domains), and
-- app.is_personal_mail_domain, which the spider web asks, built on it.
begin;
select plan(17);

select has_function('app', 'mail_domain_kind', array['text'], 'app.mail_domain_kind(text) exists');
select ok(has_function_privilege('authenticated', 'app.mail_domain_kind(text)', 'execute')
  and has_function_privilege('service_role', 'app.mail_domain_kind(text)', 'execute'),
  'authenticated and service_role may classify a mail domain');
select ok(not has_function_privilege('anon', 'app.mail_domain_kind(text)', 'execute'), 'anon may not');

select tests.create_org('mail-domains') as org \gset
select tests.authenticate_as(:'org');

select results_eq($$ select app.mail_domain_kind(d) from unnest(array['gmail.com', 'googlemail.com', 'proton.me', 'mail.ru', 'hey.com']) d $$,
  $$ values ('free'), ('free'), ('free'), ('free'), ('free') $$, 'a listed free-mail domain is free (as an org reads it)');
select results_eq($$ select app.mail_domain_kind(d) from unnest(array['hotmail.co.uk', 'yahoo.fr', 'gmx.es', 'outlook.com.au', 'aol.de']) d $$,
  $$ values ('free'), ('free'), ('free'), ('free'), ('free') $$, 'a country variant of a big provider is free without being listed');
select is(app.mail_domain_kind('hotmail.example.com'), null, 'the family rule takes country suffixes only, not any domain');
select is(app.mail_domain_kind('mailinator.com'), 'disposable', 'a listed throwaway domain is disposable');
select is(app.mail_domain_kind('eu.mailinator.com'), 'disposable', 'a sub-domain of a throwaway domain is disposable');
select is(app.mail_domain_kind('a.b.10minutemail.co.uk'), 'disposable', 'so is a deeper one, under a two-label suffix');
select is(app.mail_domain_kind('notmailinator.com'), null, 'a name that only ends like a throwaway domain is not one');
select is(app.mail_domain_kind(' GMail.COM. '), 'free', 'spaces, case and a final dot are ignored, as in an address');
select results_eq($$ select app.mail_domain_kind(d) from unnest(array['acme.com', 'mail.acme.com', 'co.uk', 'localhost', '', null]) d $$,
  $$ values (null::text), (null), (null), (null), (null), (null) $$, 'company domains, suffixes, bare names, empty and null have no kind');
select is((select count(*)::integer from app.personal_mail_domains d where app.mail_domain_kind(d.domain) is distinct from d.kind), 0,
  'every domain in the list is classified as its row says');

-- app.is_personal_mail_domain answers as before, on top of the kind.
select ok(app.is_personal_mail_domain('gmail.com') and app.is_personal_mail_domain('hotmail.co.uk')
  and app.is_personal_mail_domain('mailinator.com'), 'free-mail, country variants and disposable domains are personal');
select ok(app.is_personal_mail_domain(null), 'no domain is personal (nothing to connect on)');
select ok(not app.is_personal_mail_domain('acme.com') and not app.is_personal_mail_domain('mail.acme.com'), 'company domains are not personal');

-- The spider web through it: two leads at one throwaway sub-domain are not connected.
select tests.clear_authentication();
insert into app.leads (org_id, first_name, email) values (:'org', 'Tess', 'tess@eu.mailinator.com'), (:'org', 'Tim', 'tim@eu.mailinator.com');
select id as tess from app.leads where org_id = :'org' and first_name = 'Tess' \gset
select tests.authenticate_as(:'org');
select is_empty(format($$ select * from app.spider_web(%L) $$, :'tess'), 'leads sharing only a disposable sub-domain are not connected');

select * from finish();
rollback;
