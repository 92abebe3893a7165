-- The enrichment document's shape: tier, sources as the names of the sources that found
-- something, sourceDetails with every source asked, confidence with its label. The document
-- is written by the edge (functions/enrichment/enrich.ts); only the column's comment changes.
-- Written by npm run db:diff (migra plus comments and privileges) and reviewed.

comment on column app.leads.enrichment is 'The enrichment document: tier, sources (names of the sources that found something) and sourceDetails (every source asked), facts, discussion points, tech stack, confidence with its label, per-source raw data.';
