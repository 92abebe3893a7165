-- An upload's last step (app.finish_import_upload) plans without nested loops: the rows were
-- copied in by the same transaction, so the planner has no statistics of them, and the nested
-- loop it chose for failing rows that repeat an email compared every row with every other one
-- (a 50,000-row file ran for minutes). Hash and merge joins are linear whatever it guesses.
-- Written by hand: npm run db:diff does not see a function's settings.
alter function app.finish_import_upload(text, integer) set enable_nestloop = off;
