-- Where a lead's confidence score lives: a narrow table beside the lead, one row per scored
-- lead, so lists, filters, automation conditions and playbooks read it without recomputing,
-- and rescoring a whole org rewrites small rows instead of wide lead rows with all their
-- indexes. Scoring (a later migration) writes it; nothing else does. Pages are left 30 %
-- free so the scores a decay pass changes are rewritten in place (HOT updates).
create table app.lead_scores (
  lead_id text primary key,
  org_id text not null,
  score integer not null constraint lead_scores_score_check check (score between 0 and 100),
  label text not null constraint lead_scores_label_check check (label in ('hot', 'warm', 'cool', 'cold')),
  scored_at timestamptz not null,
  -- The lead's org is the org: no second key to app.orgs to check on every insert (an org's
  -- leads, and so their scores, go with it).
  constraint lead_scores_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
) with (fillfactor = 70);
comment on table app.lead_scores is 'Each lead''s stored confidence score, written by app.score_leads only; a lead without a row has not been scored yet.';
comment on column app.lead_scores.score is 'Confidence score 0-100; see app.score_leads.';
comment on column app.lead_scores.label is 'hot (>= 70), warm (>= 45), cool (>= 20) or cold.';
comment on column app.lead_scores.scored_at is 'When the stored score or label last changed.';
-- An org's scores by label, with the lead: the score distribution and the hot leads are
-- index-only scans. The score itself is left out, so a rescore that keeps the label is a
-- HOT update that writes no index.
create index lead_scores_org_label_idx on app.lead_scores (org_id, label) include (lead_id);

-- Org-private; the API role reads it, and writes it only through app.score_leads (which runs
-- as the caller, so row-level security keeps each org to its own leads).
select app.make_org_private('app.lead_scores', 'Lead scores');
grant select, insert, update on app.lead_scores to authenticated;
grant all on app.lead_scores to service_role;
