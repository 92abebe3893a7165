-- A booked meeting's bot is 'scheduling' from the webhook's commit until the edge records
-- Recall's answer (app.record_meeting_bot), a call bounded by a timeout of seconds. A process
-- that dies in between leaves it 'scheduling' for good; this sweep, run by pg_cron, says what
-- happened instead: 'failed', with a note on the meeting and its booking touchpoint.
-- It does not retry: Recall may have created the bot before the process died, and a second
-- one would join the meeting too. An answer recorded after the sweep still wins.

-- The sweep's lookup across orgs: only meetings whose bot is being scheduled, a handful.
create index meetings_bot_scheduling_idx on app.meetings (updated_at) where bot_status = 'scheduling';

create function app.fail_interrupted_meeting_bots(
  p_after interval default '10 minutes',
  p_now timestamptz default now()
) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    with stale as (
      select m.id from app.meetings m
      where m.bot_status = 'scheduling' and m.updated_at < p_now - p_after
      for update of m skip locked
    ), failed as (
      update app.meetings m set
        bot_status = 'failed',
        bot_note = pg_catalog.format('no meeting bot scheduled: scheduling was interrupted before Recall''s answer was recorded. '
          || 'Recall may still have a bot for this meeting (its metadata has meeting_id %s): check the Recall dashboard, '
          || 'or have someone record the meeting; a new booking schedules its own bot.', m.id)
      from stale s
      where m.id = s.id
      returning m.org_id, m.touchpoint_id, m.bot_id, m.bot_note
    ), noted as (
      -- The booking's touchpoint says what became of its bot, as app.record_meeting_bot does.
      update app.touchpoints t set metadata = t.metadata || pg_catalog.jsonb_build_object('meetingBot',
          pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('status', 'failed', 'botId', f.bot_id, 'note', f.bot_note)))
      from failed f
      where t.org_id = f.org_id and t.id = f.touchpoint_id
    )
    select count(*)::integer into v_count from failed;
    return v_count;
  end;
  $$;
comment on function app.fail_interrupted_meeting_bots(interval, timestamptz) is 'Marks meeting bots left ''scheduling'' for longer than p_after (the process died before recording Recall''s answer) as ''failed'' with a note saying so and what to do, on the meeting and its booking touchpoint, in every org; returns how many.';
revoke execute on function app.fail_interrupted_meeting_bots(interval, timestamptz) from public;
grant execute on function app.fail_interrupted_meeting_bots(interval, timestamptz) to service_role;

insert into app.scheduled_jobs (name, schedule, command) values
  ('fail-interrupted-meeting-bots', '*/5 * * * *', 'select app.fail_interrupted_meeting_bots()');

select app.schedule_jobs();
