-- Touchpoints and notes: what happened with a lead, and what was written about it.
--   * app.touchpoints (GET/POST /touchpoints): the lead's interaction log. Each touchpoint
--     moves the lead's last_touch_at forward (trigger touchpoints_touch_lead), which stalled
--     detection (58_stalled.sql) and scoring (56_scoring.sql, trigger leads_rescore) read;
--     occurred_at is when the interaction happened, so it cannot lie in the future
--     (trigger touchpoints_refuse_future);
--   * app.notes (/notes): manual notes, call-transcript summaries, AI insights and system
--     notes on a lead.
-- Elsewhere: the trigger touchpoints_event (54_events.sql) turns each touchpoint into a
-- touch_logged event; the source and author defaults are app.current_source and
-- app.current_actor (10_foundation.sql).

-- ---------------------------------------------------------------------------
-- Touchpoints: the lead's interaction log.
-- ---------------------------------------------------------------------------
create table app.touchpoints (
  id text not null default app.new_id('tp'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  type text not null check (type in ('email', 'call', 'meeting', 'linkedin', 'sms', 'note', 'form', 'chat', 'other')),
  direction text check (direction in ('inbound', 'outbound')),
  summary text check (length(summary) <= 10000),
  occurred_at timestamptz not null default now(),
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  source text not null default app.current_source() check (length(source) <= 100),
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint touchpoints_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade,
  constraint touchpoints_metadata_size check (app.json_fits(metadata, 65536, 10))
);
comment on table app.touchpoints is 'Interactions with a lead (email, call, meeting, …); each one moves the lead''s last_touch_at forward.';
create index touchpoints_org_lead_idx on app.touchpoints (org_id, lead_id, occurred_at desc);

alter table app.touchpoints enable row level security;
alter table app.touchpoints force row level security;
create policy "Touchpoints are visible to their own org" on app.touchpoints
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Touchpoints can be logged in the caller's org" on app.touchpoints
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Touchpoints can be corrected by their own org" on app.touchpoints
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));
create policy "Touchpoints can be deleted by their own org" on app.touchpoints
  for delete to authenticated using (org_id = (select app.current_org_id()));
grant select, insert, update, delete on app.touchpoints to authenticated;
grant all on app.touchpoints to service_role;

-- A logged touchpoint may be corrected (what, which way, when), but its lead, author,
-- source and logging time stay as they were recorded.
revoke update on app.touchpoints from authenticated;
grant update (type, direction, summary, occurred_at, metadata) on app.touchpoints to authenticated;

-- ---------------------------------------------------------------------------
-- Notes
-- ---------------------------------------------------------------------------
create table app.notes (
  id text not null default app.new_id('note'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  lead_id text not null,
  type text not null default 'manual',
  content text not null,
  pinned boolean not null default false,
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- What GET /leads/search finds in a note (88_bulk.sql): stored, so ranking a match reads it
  -- instead of parsing the note again.
  search_doc tsvector generated always as (to_tsvector('pg_catalog.english'::regconfig, content)) stored,
  primary key (org_id, id),
  constraint notes_type_check check (type in ('manual', 'transcript_summary', 'ai_insight', 'system')),
  -- Stored as written (leading indentation may be markdown), but never blank.
  constraint notes_content_check check (length(content) <= 100000 and btrim(content, E' \t\r\n') <> ''),
  -- The composite key makes a note on another org's lead impossible, whoever writes.
  constraint notes_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete cascade
);
comment on table app.notes is 'Notes on a lead: manual, transcript_summary, ai_insight or system; pinned notes list first. Deleted with their lead (permanent delete only).';
comment on column app.notes.created_by is 'The API key (or actor, or database user) that wrote the note.';

-- GET /notes?leadId=…: one lead's notes, pinned first, newest first.
create index notes_org_lead_idx on app.notes (org_id, lead_id, pinned desc, created_at desc, id desc);

create trigger notes_touch_updated_at before update on app.notes
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.notes', 'Notes');

-- A tenant writes a note's lead, type, content and pin; the id, author and timestamps
-- are the database's. Afterwards only what it says and whether it is pinned change.
grant select, delete on app.notes to authenticated;
grant insert (org_id, lead_id, type, content, pinned) on app.notes to authenticated;
grant update (content, pinned) on app.notes to authenticated;
grant all on app.notes to service_role;

-- ---------------------------------------------------------------------------
-- Touchpoints move their lead's last touch forward, never back.
-- ---------------------------------------------------------------------------
create function app._touch_lead() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    update app.leads l
    set last_touch_at = new.occurred_at
    where l.org_id = new.org_id and l.id = new.lead_id and (l.last_touch_at is null or l.last_touch_at < new.occurred_at);
    return null;
  end;
  $$;
comment on function app._touch_lead() is 'Trigger: a logged touchpoint moves its lead''s last_touch_at forward (never back).';
revoke execute on function app._touch_lead() from public;

create trigger touchpoints_touch_lead after insert or update of occurred_at on app.touchpoints
  for each row execute function app._touch_lead();

-- ---------------------------------------------------------------------------
-- Touchpoints: no interaction from the future. Five minutes of slack absorb clock skew
-- between an agent and the database (a future occurred_at would push last_touch_at, and
-- with it stalled detection, ahead of reality). A meeting booked for next week is logged
-- when it takes place, or as a booking now (its start time in metadata).
-- ---------------------------------------------------------------------------
create function app._refuse_future_touchpoint() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.occurred_at > pg_catalog.now() + interval '5 minutes' then
      perform app.refuse(400, 'occurred_at_in_future',
        pg_catalog.format('occurredAt %s is in the future',
          pg_catalog.to_char(pg_catalog.timezone('UTC', new.occurred_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
        pg_catalog.format('occurredAt is when the interaction happened: send an ISO 8601 time no later than 5 minutes from now (it is %s), or leave it out to use the current time. Log a scheduled meeting when it takes place, or log the booking now with the meeting time in metadata.',
          pg_catalog.to_char(pg_catalog.timezone('UTC', pg_catalog.now()), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
    end if;
    return new;
  end;
  $$;
comment on function app._refuse_future_touchpoint() is 'Trigger: refuses a touchpoint whose occurred_at is more than 5 minutes in the future (a 400 refusal with a hint).';
revoke execute on function app._refuse_future_touchpoint() from public;

create trigger touchpoints_refuse_future before insert or update of occurred_at on app.touchpoints
  for each row execute function app._refuse_future_touchpoint();
