-- The api schema: what supabase-js and PostgREST clients of a hosted Supabase project see.
-- supabase/config.toml's [api] schemas lists it (and not app, which stays unexposed): a
-- curated set of views over the tables a dashboard reads and edits, each security_invoker, so
-- the caller's row-level security applies to the tables underneath: a user whose JWT carries
-- org_id and member_role (app.custom_access_token_hook, 24_members.sql) sees only its org,
-- and the role rules hold (a viewer writes nothing; members are managed by owners and admins).
-- The views are simple (one table, plain columns), so Postgres makes them updatable: inserts,
-- updates and deletes through them go to the table, with its defaults, triggers, grants and
-- policies. Adding a member through api.members mails the invitation, as POST /members does.
-- Everything else (scoring, enrichment, campaigns' sending, key management) goes through the
-- HTTP API.

create schema if not exists api;
grant usage on schema api to authenticated, service_role;
alter default privileges in schema api revoke all on tables from public;
alter default privileges in schema api revoke execute on functions from public;

create view api.workspace with (security_invoker = true) as
  select o.id, o.name, o.workspace_name, o.tier, o.industry, o.website, o.booking_link, o.primary_color, o.project_slug,
    o.created_at, o.updated_at
  from app.orgs o;
comment on view api.workspace is 'The caller''s workspace (one row): name and settings; owners, admins and members may update the settings.';
grant select, update on api.workspace to authenticated, service_role;

create view api.members with (security_invoker = true) as
  select m.id, m.org_id, m.email, m.role, m.invited_by, m.invited_at, m.joined_at, m.last_sign_in_at, m.created_at, m.updated_at
  from app.org_members m;
comment on view api.members is 'The workspace''s members and their roles; owners and admins add (which mails the invitation), change and remove them.';
grant select, insert, update, delete on api.members to authenticated, service_role;

create view api.leads with (security_invoker = true) as
  select l.id, l.org_id, l.first_name, l.last_name, l.email, l.organization_name, l.business_type, l.phone, l.tier, l.status,
    l.stage_id, l.custom_fields, l.crm_data, l.title, l.seniority, l.company_name, l.company_domain, l.linkedin_url,
    l.company_size, l.company_revenue, l.enrichment_status, l.enriched_at, l.last_touch_at, l.source, l.created_by,
    l.created_at, l.updated_at, l.deleted_at
  from app.leads l;
comment on view api.leads is 'The workspace''s leads (soft-deleted ones have deleted_at set).';
grant select, insert, update, delete on api.leads to authenticated, service_role;

create view api.stages with (security_invoker = true) as
  select s.id, s.org_id, s.name, s.position, s.color, s.is_default, s.outcome, s.stall_after_days, s.created_at, s.updated_at
  from app.stages s;
comment on view api.stages is 'The workspace''s pipeline stages, in position order.';
grant select, insert, update, delete on api.stages to authenticated, service_role;

create view api.stage_history with (security_invoker = true) as
  select c.id, c.org_id, c.lead_id, c.from_stage_id, c.to_stage_id, c.from_stage_name, c.to_stage_name, c.changed_at,
    c.changed_by, c.source, c.rule_id
  from app.stage_changes c;
comment on view api.stage_history is 'Every stage a lead entered, when, and who or what moved it (read only).';
grant select on api.stage_history to authenticated, service_role;

create view api.notes with (security_invoker = true) as
  select n.id, n.org_id, n.lead_id, n.type, n.content, n.pinned, n.created_by, n.created_at, n.updated_at
  from app.notes n;
comment on view api.notes is 'Notes on the workspace''s leads.';
grant select, insert, update, delete on api.notes to authenticated, service_role;

create view api.touchpoints with (security_invoker = true) as
  select t.id, t.org_id, t.lead_id, t.type, t.direction, t.summary, t.occurred_at, t.metadata, t.source, t.created_by, t.created_at
  from app.touchpoints t;
comment on view api.touchpoints is 'The interaction history of the workspace''s leads.';
grant select, insert, update, delete on api.touchpoints to authenticated, service_role;

create view api.campaigns with (security_invoker = true) as
  select c.id, c.org_id, c.name, c.status, c.kind, c.steps, c.trigger_event, c.trigger_stage_id, c.ai_enabled, c.ai_config,
    c.from_name, c.created_at, c.updated_at
  from app.campaigns c;
comment on view api.campaigns is 'The workspace''s email campaigns and their steps (enrolling and sending go through the HTTP API).';
grant select, insert, update, delete on api.campaigns to authenticated, service_role;

create view api.custom_fields with (security_invoker = true) as
  select f.id, f.org_id, f.key, f.label, f.field_type, f.options, f.required, f.position, f.created_at, f.updated_at
  from app.custom_fields f;
comment on view api.custom_fields is 'Definitions of the workspace''s custom lead fields.';
grant select, insert, update, delete on api.custom_fields to authenticated, service_role;
