-- The API's read views that join several domains:
--   * app.lead_details: a lead with its stage name, stored score and proposal slug (what
--     the leads endpoints read);
--   * app.stage_details: a stage with its count of live leads (what the stages endpoints
--     read).
-- They come last because Postgres checks a view's query when the view is created, so a
-- view must follow every table it reads: app.lead_details reads leads and stages
-- (40_leads.sql, 30_stages.sql), lead scores (56_scoring.sql) and proposals
-- (66_proposals.sql). Both are security_invoker, so the caller's row-level security
-- applies to every table they read. app.lead_details selects l.*, which Postgres expands
-- when the view is created: a column added to app.leads shows here only once the view is
-- created again.

create view app.lead_details with (security_invoker = true) as
  select l.*, s.name as stage, c.score, c.label as score_label, c.scored_at, p.slug as proposal_slug
  from app.leads l
  left join app.stages s on s.org_id = l.org_id and s.id = l.stage_id
  left join app.lead_scores c on c.org_id = l.org_id and c.lead_id = l.id
  left join app.proposals p on p.org_id = l.org_id and p.lead_id = l.id;
comment on view app.lead_details is 'Leads with their stage name, stored score and proposal slug, as the API returns them.';
grant select on app.lead_details to authenticated, service_role;

create view app.stage_details with (security_invoker = true) as
  select s.id, s.org_id, s.name, s.position, s.color, s.is_default, s.outcome, s.stall_after_days,
    s.created_at, s.updated_at,
    (select count(*)::integer from app.leads l
     where l.org_id = s.org_id and l.stage_id = s.id and l.deleted_at is null) as lead_count
  from app.stages s;
comment on view app.stage_details is 'Stages with outcome, stall threshold and lead_count, the number of live (not soft-deleted) leads in each.';
grant select on app.stage_details to authenticated, service_role;
