-- {{proposalUrl}} now that every lead has a proposal page: the lead's crmData.proposalUrl
-- when an agent set one, else the path of its page (/p/<slug>), which the mail worker makes
-- absolute with PUBLIC_URL (the database does not know where the app is served).
create or replace function app.template_values(p_lead app.leads) returns jsonb
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'firstName', p_lead.first_name,
      'lastName', coalesce(p_lead.last_name, ''),
      'organizationName', coalesce(p_lead.organization_name, p_lead.company_name, ''),
      'businessType', coalesce(p_lead.business_type, ''),
      'proposalUrl', coalesce(p_lead.crm_data ->> 'proposalUrl',
        (select '/p/' || p.slug from app.proposals p where p.lead_id = p_lead.id and p.published), ''),
      'email', p_lead.email,
      'phone', coalesce(p_lead.phone, ''))
  $$;
