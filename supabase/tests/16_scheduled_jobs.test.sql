-- Every job the application declares in app.scheduled_jobs is registered with pg_cron under
-- its name, with the same schedule and command, so a job added by a later migration is
-- covered without touching this file. Where pg_cron is absent the checks pass as skipped.
-- And the history purge keeps pg_cron's run log bounded.
begin;
select plan(6);

select case when to_regnamespace('cron') is null then skip('pg_cron is not installed', 1)
  else is_empty($$ select j.name, j.schedule, j.command from app.scheduled_jobs j
                   except select c.jobname, c.schedule, c.command from cron.job c $$,
    'every row of app.scheduled_jobs is registered in cron.job with the same schedule and command') end;

select case when to_regnamespace('cron') is null then skip('pg_cron is not installed', 1)
  else is_empty($$ select c.jobname from cron.job c join app.scheduled_jobs j on j.name = c.jobname
                   group by c.jobname having count(*) > 1 $$,
    'no declared job is registered twice') end;

select ok(exists (select from app.scheduled_jobs where name = 'purge-cron-history' and command = 'select app.purge_cron_history()'),
  'the cron history purge is a declared job');

-- Arrange (where pg_cron is installed): runs that ended 8 days and 1 day ago, and one still going.
do $$
begin
  if to_regclass('cron.job_run_details') is not null then
    execute $sql$
      insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message, start_time, end_time)
      values (0, -1, 0, current_database(), current_user, 'select 1', 'succeeded', '1 row', now() - interval '8 days', now() - interval '8 days'),
             (0, -2, 0, current_database(), current_user, 'select 1', 'succeeded', '1 row', now() - interval '1 day', now() - interval '1 day'),
             (0, -3, 0, current_database(), current_user, 'select 1', 'running', null, now() - interval '9 days', null) $sql$;
  end if;
end
$$;
create function pg_temp.runs_ended_before(p_cutoff timestamptz) returns integer language plpgsql as $$
declare
  v_count integer := 0;
begin
  if to_regclass('cron.job_run_details') is not null then
    execute 'select count(*) from cron.job_run_details where end_time < $1' into v_count using p_cutoff;
  end if;
  return v_count;
end
$$;
select pg_temp.runs_ended_before(now() - interval '7 days') as old_runs \gset

select case when to_regclass('cron.job_run_details') is null then skip('pg_cron is not installed', 1)
  else is(app.purge_cron_history(), :old_runs, 'the purge deletes every run that ended more than 7 days ago, and says how many') end;

select case when to_regclass('cron.job_run_details') is null then skip('pg_cron is not installed', 1)
  else is(pg_temp.runs_ended_before(now() - interval '7 days'), 0, 'no run that ended over a week ago is left') end;

select case when to_regclass('cron.job_run_details') is null then skip('pg_cron is not installed', 1)
  else results_eq($$ select runid from cron.job_run_details where runid < 0 order by runid desc $$,
    $$ values (-2::bigint), (-3::bigint) $$, 'recent runs and runs still going are kept') end;

select * from finish();
rollback;
