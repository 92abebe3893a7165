-- app._upsert_leads (every lead written from outside: POST /leads, batches, imports, the
-- find-or-create of sync sources, bookings and quizzes) plans its statements once per session
-- instead of per call: a custom plan of its writing statement for one lead took longer to make
-- (about 1.6 ms) than to run, and for 1,000 items ran twice as long as the generic plan.
-- Written by hand: npm run db:diff does not see a function's settings.
alter function app._upsert_leads(text, jsonb, text) set plan_cache_mode = force_generic_plan;
