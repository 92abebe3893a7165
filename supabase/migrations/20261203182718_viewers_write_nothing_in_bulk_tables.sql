-- A viewer writes nothing in the bulk tables either: imports, their rows and lead merges get the
-- restrictive "only roles that write" policies every tenant table has (sql/98_roles.sql gives
-- them to each table of app with an org_id; the members migration ran before these tables
-- existed). Written by npm run db:diff, reviewed by hand.


  create policy "Only roles that write add rows"
  on "app"."import_rows"
  as restrictive
  for insert
  to authenticated
with check (( SELECT app.ensure_can_write() AS ensure_can_write));



  create policy "Only roles that write change rows"
  on "app"."import_rows"
  as restrictive
  for update
  to authenticated
using (( SELECT app.ensure_can_write() AS ensure_can_write))
with check (( SELECT app.ensure_can_write() AS ensure_can_write));



  create policy "Only roles that write delete rows"
  on "app"."import_rows"
  as restrictive
  for delete
  to authenticated
using (( SELECT app.ensure_can_write() AS ensure_can_write));



  create policy "Only roles that write add rows"
  on "app"."imports"
  as restrictive
  for insert
  to authenticated
with check (( SELECT app.ensure_can_write() AS ensure_can_write));



  create policy "Only roles that write change rows"
  on "app"."imports"
  as restrictive
  for update
  to authenticated
using (( SELECT app.ensure_can_write() AS ensure_can_write))
with check (( SELECT app.ensure_can_write() AS ensure_can_write));



  create policy "Only roles that write delete rows"
  on "app"."imports"
  as restrictive
  for delete
  to authenticated
using (( SELECT app.ensure_can_write() AS ensure_can_write));



  create policy "Only roles that write add rows"
  on "app"."lead_merges"
  as restrictive
  for insert
  to authenticated
with check (( SELECT app.ensure_can_write() AS ensure_can_write));



  create policy "Only roles that write change rows"
  on "app"."lead_merges"
  as restrictive
  for update
  to authenticated
using (( SELECT app.ensure_can_write() AS ensure_can_write))
with check (( SELECT app.ensure_can_write() AS ensure_can_write));



  create policy "Only roles that write delete rows"
  on "app"."lead_merges"
  as restrictive
  for delete
  to authenticated
using (( SELECT app.ensure_can_write() AS ensure_can_write));
