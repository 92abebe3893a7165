-- Where a lead's confidence score lives: on the lead, so lists, filters, automation
-- conditions and playbooks read it without recomputing. Scoring (a later migration) writes
-- these columns; nothing else does.
alter table app.leads
  add column score integer check (score between 0 and 100),
  add column score_label text check (score_label in ('hot', 'warm', 'cool', 'cold')),
  add column scored_at timestamptz;
comment on column app.leads.score is 'Confidence score 0-100 (null until first scored); see app.score_leads.';
comment on column app.leads.score_label is 'hot (>= 70), warm (>= 45), cool (>= 20) or cold.';
