-- pg_cron keeps a row per job run in cron.job_run_details forever; with jobs every few
-- minutes that grows without bound. A daily job keeps a week of history.

create function app.purge_cron_history(p_keep interval default '7 days') returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    if pg_catalog.to_regclass('cron.job_run_details') is null then
      return 0;
    end if;
    -- Dynamic so the function compiles (and lints) where pg_cron is absent. A run still
    -- going has no end_time yet: it is kept.
    execute 'delete from cron.job_run_details d where d.end_time < pg_catalog.now() - $1' using p_keep;
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_cron_history(interval) is 'Deletes pg_cron run history (cron.job_run_details) that ended more than p_keep ago; returns how many; 0 without pg_cron.';
revoke execute on function app.purge_cron_history(interval) from public;
grant execute on function app.purge_cron_history(interval) to service_role;

insert into app.scheduled_jobs (name, schedule, command) values
  ('purge-cron-history', '43 3 * * *', 'select app.purge_cron_history()');

select app.schedule_jobs();
