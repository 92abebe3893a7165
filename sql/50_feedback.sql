-- Feedback: the hub between an org's agents and the platform operator (ClawCRM EIR).
-- Agents file bugs, errors and requests; the operator answers with a status and a
-- response; GET /health shows each org its unread answers until the org acknowledges
-- them. A tenant may file and read its own items and set acknowledged_at, nothing else:
-- status and response are the operator's, written through app.respond_to_feedback
-- (service_role only) or by a human in Studio.
--
-- This file holds the table app.feedback (with its policies and column privileges), the
-- trigger feedback_stamp (app._stamp_feedback) that stamps responses and acknowledgements
-- for every writer, and app.respond_to_feedback. Each response given is also sent as the
-- outbound webhook feedback.answered (the trigger feedback_webhook_answered, 86_webhooks.sql).

create table app.feedback (
  id text not null default app.new_id('fb'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  type text not null check (type in ('bug', 'feature', 'error', 'question', 'improvement', 'other')),
  agent text check (length(agent) between 1 and 200),
  priority text not null default 'medium' check (priority in ('critical', 'high', 'medium', 'low')),
  title text not null check (length(btrim(title)) between 1 and 300),
  description text check (length(description) <= 20000),
  context jsonb not null default '{}' check (jsonb_typeof(context) = 'object'),
  -- The operator's side. "Acknowledged" is not a status: it is the org's receipt of a
  -- response (acknowledged_at), independent of where the operator is with the item.
  status text not null default 'open' check (status in ('open', 'in_progress', 'resolved', 'wont_fix')),
  response text check (length(btrim(response)) between 1 and 20000),
  responded_at timestamptz,
  responded_by text check (length(responded_by) <= 200),
  acknowledged_at timestamptz,
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A response the org has not acknowledged since it was (last) given. A new response
  -- after an acknowledgement is unread again.
  unread boolean generated always as (
    response is not null and (acknowledged_at is null or acknowledged_at < responded_at)) stored,
  primary key (org_id, id),
  constraint feedback_response_stamped check ((response is null) = (responded_at is null)),
  constraint feedback_context_size check (app.json_fits(context, 8192, 10))
);
comment on table app.feedback is 'Feedback from an org''s agents and the operator''s (EIR) answers; unread answers surface in GET /health until acknowledged.';
comment on column app.feedback.unread is 'True while a response exists that the org has not acknowledged since it was given.';
comment on column app.feedback.created_by is 'The API key (or database user) that filed the item.';

create index feedback_org_created_idx on app.feedback (org_id, created_at desc, id desc);
-- What GET /health reads on every session start.
create index feedback_org_unread_idx on app.feedback (org_id, responded_at) where unread;
-- The operator's queue across orgs (GET /feedback?status=open with the admin key).
create index feedback_status_created_idx on app.feedback (status, created_at desc, id desc);
-- The operator answers (app.respond_to_feedback) and looks up (GET /feedback?id=) an item
-- by its id alone, across orgs.
create index feedback_id_idx on app.feedback (id);

create trigger feedback_touch_updated_at before update on app.feedback
  for each row execute function app._touch_updated_at();

-- Tenants insert only the fields an agent files and update only acknowledged_at (column
-- privileges), on their own org's rows (policies). Nobody deletes through the API; the
-- operator (service_role) bypasses RLS.
alter table app.feedback enable row level security;
alter table app.feedback force row level security;
create policy "Feedback is visible to the org that filed it" on app.feedback
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Feedback can be filed in the caller's org" on app.feedback
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Feedback responses can be acknowledged by the org that filed it" on app.feedback
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));

grant select on app.feedback to authenticated;
grant insert (org_id, type, agent, priority, title, description, context) on app.feedback to authenticated;
grant update (acknowledged_at) on app.feedback to authenticated;
grant all on app.feedback to service_role;

-- ---------------------------------------------------------------------------
-- Timestamps the database keeps for every writer: a new or changed response is stamped
-- with when and by whom it was given; in a tenant request an acknowledgement is always
-- "now" (an org cannot pre-acknowledge answers it has not read by sending a future time).
-- ---------------------------------------------------------------------------
create function app._stamp_feedback() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if new.response is null then
      new.responded_at := null;
      new.responded_by := null;
    elsif tg_op = 'INSERT' or new.response is distinct from old.response then
      if tg_op = 'INSERT' or new.responded_at is not distinct from old.responded_at then
        new.responded_at := coalesce(case when tg_op = 'INSERT' then new.responded_at end, pg_catalog.now());
      end if;
      if tg_op = 'INSERT' or new.responded_by is not distinct from old.responded_by then
        new.responded_by := coalesce(case when tg_op = 'INSERT' then new.responded_by end, app.current_actor());
      end if;
    end if;

    if new.acknowledged_at is not null and app.current_org_id() is not null
       and (tg_op = 'INSERT' or new.acknowledged_at is distinct from old.acknowledged_at) then
      new.acknowledged_at := pg_catalog.now();
    end if;
    return new;
  end;
  $$;
comment on function app._stamp_feedback() is 'Trigger: stamps responded_at/responded_by when a response is given or changed, and acknowledged_at with the current time in tenant requests.';
revoke execute on function app._stamp_feedback() from public;

create trigger feedback_stamp before insert or update on app.feedback
  for each row execute function app._stamp_feedback();

-- ---------------------------------------------------------------------------
-- The operator's answer. The one way the API writes status and response; granted to
-- service_role only, so no tenant request (role authenticated) can call it.
-- ---------------------------------------------------------------------------
create function app.respond_to_feedback(
  p_id text, p_status text default null, p_response text default null, p_responder text default null)
  returns app.feedback
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.feedback;
  begin
    if p_status is null and p_response is null then
      perform app.refuse(400, 'nothing_to_change', 'Send a status, a response, or both',
        'PATCH /api/openclaw/feedback/{id} { "status": "resolved", "response": "What changed and what the agent should do now" }');
    end if;

    update app.feedback f set
      status = coalesce(p_status, f.status),
      response = coalesce(p_response, f.response),
      -- Every response given counts as new, even with the same text: the org sees it again.
      responded_at = case when p_response is not null then pg_catalog.now() else f.responded_at end,
      responded_by = case when p_response is not null then coalesce(p_responder, app.current_actor()) else f.responded_by end
    where f.id = p_id
    returning f.* into v_row;

    if not found then
      perform app.refuse(404, 'not_found', pg_catalog.format('Feedback %s was not found', p_id),
        'Check the id: GET /api/openclaw/feedback with the admin key lists every org''s feedback.');
    end if;
    return v_row;
  end;
  $$;
comment on function app.respond_to_feedback(text, text, text, text) is 'The operator (EIR) sets status and/or a response on any org''s feedback; a response is unread for the org until acknowledged.';
revoke execute on function app.respond_to_feedback(text, text, text, text) from public;
grant execute on function app.respond_to_feedback(text, text, text, text) to service_role;
