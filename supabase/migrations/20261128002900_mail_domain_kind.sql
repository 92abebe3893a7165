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

-- Same answers as before for the spider web, which passes leads.email_domain (already lower
-- case): null, free-mail, country variants and disposable domains are personal; sub-domains
-- of a disposable domain now are too, as the email provider always counted them.
create or replace function app.is_personal_mail_domain(p_domain text) returns boolean
  language sql stable parallel safe
  set search_path = ''
  as $$
    select p_domain is null or app.mail_domain_kind(p_domain) is not null
  $$;
comment on function app.is_personal_mail_domain(text) is 'True for free-mail (gmail.com, hotmail.co.uk, …) and disposable mail domains (and their sub-domains), which say nothing about an employer; see app.mail_domain_kind.';

comment on table app.personal_mail_domains is 'Free-mail and disposable mail domains, the only copy of these lists: app.mail_domain_kind classifies with it (for the spider web and the enrichment email provider); leads sharing one of these are not connected by their email domain.';
