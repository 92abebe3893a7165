-- Which stages close a deal. Stalled detection skips closed leads, analytics counts won and
-- lost, campaigns stop at either: all read stages.outcome rather than guessing from names.
-- A stage created without an outcome gets one from its name ("Closed Won" → won,
-- "Lost" → lost, anything else open); an explicit outcome always wins.

alter table app.stages add column outcome text check (outcome in ('open', 'won', 'lost'));
comment on column app.stages.outcome is 'open, won or lost: whether a lead in this stage is still in play or a closed deal.';

create function app.outcome_from_stage_name(p_name text) returns text
  language sql immutable
  set search_path = ''
  as $$
    select case
      when p_name ~* '\m(won|win|signed|customer)\M' then 'won'
      when p_name ~* '\m(lost|lose|dead|disqualified|churned)\M' then 'lost'
      else 'open'
    end
  $$;
comment on function app.outcome_from_stage_name(text) is 'The outcome a stage name implies: won, lost or open.';
revoke execute on function app.outcome_from_stage_name(text) from public;
grant execute on function app.outcome_from_stage_name(text) to authenticated, service_role;

create function app._default_stage_outcome() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.outcome is null then
      new.outcome := app.outcome_from_stage_name(new.name);
    end if;
    return new;
  end;
  $$;
comment on function app._default_stage_outcome() is 'Trigger: a stage without an outcome takes the one its name implies.';
revoke execute on function app._default_stage_outcome() from public;

create trigger stages_default_outcome before insert or update of outcome on app.stages
  for each row execute function app._default_stage_outcome();

update app.stages s set outcome = app.outcome_from_stage_name(s.name);
alter table app.stages alter column outcome set not null;
