-- Sync sources: outside systems (Gmail, an SDR tool, a form, any webhook) that create or
-- update leads and move them through the pipeline by posting events to an inbound URL.
--
-- This file holds:
--   * app.sync_sources: one row per integration: its type, default target stage, per-event
--     stages, field mapping (payload path -> lead field), and the credentials of its inbound
--     URL: an unguessable token in the URL and a secret that authenticates the sender. The
--     secret is kept (HMACs are verified with it) but the tenant role can never read it
--     back: it is handed out once, on create and on rotation;
--   * app.sync_events: every event received, unique per source and sender's event id, so a
--     redelivery answers with the first outcome instead of writing twice, and unique per
--     source and signed content for requests whose signature does not cover the event id
--     (v1: "<timestamp>.<body>"), so replaying a signed request under a new id is a
--     duplicate too; kept 30 days (app.purge_sync_events, run daily by the job
--     purge-sync-events in 90_jobs.sql);
--   * app.sync_source_details: the API's view of a source (no secret);
--   * validation for every writer (trigger sync_sources_check), app.create_sync_source and
--     app.update_sync_source for the API, and app.sync_source_for_token, the inbound edge's
--     lookup by URL token;
--   * app.ingest_sync_event: the whole ingest in one call, acting as the source's org: claim
--     the event id (and the signed content's digest), map the payload, create or update the lead by email, move it to the
--     event's stage, log a touchpoint. Any refusal (bad payload, plan limit, disabled source)
--     rolls all of it back, the event claim included, so the sender may retry;
--   * the trigger stages_refuse_deleting_synced on app.stages: a stage a sync source targets
--     cannot be deleted until the source is retargeted.
-- Stage names are resolved by app.resolve_stage (30_stages.sql); lead sources in analytics
-- (64_analytics.sql) are told apart by sync source name.

-- ---------------------------------------------------------------------------
-- Random credentials: the sync_sources defaults call this, so it precedes the table.
-- ---------------------------------------------------------------------------
-- Random hex from three v4 UUIDs (366 random bits from the server's strong random source)
-- hashed with SHA-256, so up to 64 hex digits carry their full entropy.
create function app._random_hex(p_digits integer) returns text
  language sql volatile parallel safe
  set search_path = ''
  as $$
    select left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
      pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text,
      'UTF8')), 'hex'), p_digits)
  $$;
comment on function app._random_hex(integer) is 'Up to 64 random hex digits (4 bits of entropy each), for tokens and secrets.';
revoke execute on function app._random_hex(integer) from public;
grant execute on function app._random_hex(integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Sync sources
-- ---------------------------------------------------------------------------
create table app.sync_sources (
  id text not null default app.new_id('ss'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null constraint sync_sources_name_check check (length(btrim(name)) between 1 and 100),
  type text not null constraint sync_sources_type_check
    check (type in ('gmail', 'api_sdr', 'form_webhook', 'generic_webhook')),
  enabled boolean not null default true,
  -- Where an event's lead goes unless event_stages names a stage for the event.
  stage_id text not null,
  event_stages jsonb not null default '{}'
    constraint sync_sources_event_stages_check check (jsonb_typeof(event_stages) = 'object')
    constraint sync_sources_event_stages_size check (app.json_fits(event_stages, 8192, 10)),
  field_mapping jsonb not null default '{}'
    constraint sync_sources_field_mapping_check check (jsonb_typeof(field_mapping) = 'object'),
  -- 192 random bits: the inbound URL is /api/openclaw/inbound/{inbound_token}.
  inbound_token text not null default app._random_hex(48)
    constraint sync_sources_inbound_token_check check (inbound_token ~ '^[0-9a-f]{48}$'),
  -- 256 random bits. Stored as is because HMACs are computed with it; the tenant role has no
  -- select privilege on it.
  secret text not null default 'whsec_' || app._random_hex(64)
    constraint sync_sources_secret_check check (secret ~ '^whsec_[0-9a-f]{64}$'),
  last_event_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint sync_sources_stage_fkey foreign key (org_id, stage_id) references app.stages (org_id, id)
);
comment on table app.sync_sources is 'Outside systems that create, update and move leads by posting events to their inbound URL (gmail, api_sdr, form_webhook, generic_webhook).';
comment on column app.sync_sources.event_stages is 'Event name -> stage id, e.g. {"reply_received": "stg_…"}; events not listed go to stage_id.';
comment on column app.sync_sources.field_mapping is 'Lead or event field -> payload path (or list of paths, first with a value wins), e.g. {"email": "contact.email"}.';
comment on column app.sync_sources.secret is 'Authenticates the sender (shared secret or HMAC key). Never readable by tenants; returned on create and rotation only.';

create unique index sync_sources_inbound_token_key on app.sync_sources (inbound_token);
-- app.ingest_sync_event's lookup across orgs: the inbound edge knows the source's id only
-- (from app.sync_source_for_token), not its org.
create index sync_sources_id_idx on app.sync_sources (id);
create unique index sync_sources_org_name_key on app.sync_sources (org_id, lower(name));
create index sync_sources_org_stage_idx on app.sync_sources (org_id, stage_id);
create index sync_sources_org_created_idx on app.sync_sources (org_id, created_at, id);

-- Config changes stamp updated_at; receiving an event (last_event_at) does not.
create trigger sync_sources_touch_updated_at
  before update of name, type, enabled, stage_id, event_stages, field_mapping, inbound_token, secret on app.sync_sources
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.sync_sources', 'Sync sources');

-- Even its own org never reads the secret back; a new one is written on rotation.
grant select (id, org_id, name, type, enabled, stage_id, event_stages, field_mapping, inbound_token,
              last_event_at, created_at, updated_at) on app.sync_sources to authenticated;
grant insert (name, type, enabled, stage_id, event_stages, field_mapping, secret) on app.sync_sources to authenticated;
grant update (name, enabled, stage_id, event_stages, field_mapping, inbound_token, secret) on app.sync_sources to authenticated;
grant delete on app.sync_sources to authenticated;
grant all on app.sync_sources to service_role;

-- ---------------------------------------------------------------------------
-- Sync events: what each source received, one row per sender's event id.
-- ---------------------------------------------------------------------------
create table app.sync_events (
  id text not null default app.new_id('se'),
  org_id text not null references app.orgs (id) on delete cascade,
  source_id text not null,
  event_id text not null constraint sync_events_event_id_check check (length(event_id) between 1 and 255),
  event text not null,
  received_at timestamptz not null default now(),
  lead_id text,
  -- Null only inside the transaction that is processing the event.
  outcome text constraint sync_events_outcome_check check (outcome in ('created', 'updated', 'ignored')),
  -- The answer the first delivery got; a redelivery gets it again.
  result jsonb,
  -- SHA-256 of what a v1 signature covered ("<timestamp>.<raw body>"), when the request was
  -- signed that way: the event id header is not covered, so this identifies the request.
  signed_digest text constraint sync_events_signed_digest_check check (signed_digest ~ '^[0-9a-f]{64}$'),
  primary key (org_id, id),
  constraint sync_events_source_event_key unique (org_id, source_id, event_id),
  constraint sync_events_source_fkey foreign key (org_id, source_id) references app.sync_sources (org_id, id) on delete cascade,
  constraint sync_events_lead_fkey foreign key (org_id, lead_id) references app.leads (org_id, id) on delete set null (lead_id)
);
comment on table app.sync_events is 'Events received by sync sources, unique per source and event id (idempotency), with the outcome replayed to redeliveries; kept 30 days.';
create index sync_events_org_source_idx on app.sync_events (org_id, source_id, received_at desc);
create index sync_events_org_lead_idx on app.sync_events (org_id, lead_id) where lead_id is not null;
create index sync_events_received_idx on app.sync_events (received_at);
create unique index sync_events_source_signed_digest_key on app.sync_events (org_id, source_id, signed_digest)
  where signed_digest is not null;

alter table app.sync_events enable row level security;
alter table app.sync_events force row level security;
-- Written only by app.ingest_sync_event; tenants read their own.
create policy "Sync events are visible to their own org" on app.sync_events
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.sync_events to authenticated;
grant all on app.sync_events to service_role;

-- ---------------------------------------------------------------------------
-- The API's view of a sync source: no secret, stage names alongside ids.
-- ---------------------------------------------------------------------------
create view app.sync_source_details with (security_invoker = true) as
  select s.id, s.org_id, s.name, s.type, s.enabled, s.stage_id, st.name as stage,
    (select coalesce(pg_catalog.jsonb_object_agg(e.key, pg_catalog.jsonb_build_object('id', e.value, 'name', es.name) order by e.key), '{}'::jsonb)
     from pg_catalog.jsonb_each_text(s.event_stages) e
     left join app.stages es on es.org_id = s.org_id and es.id = e.value) as event_stages,
    s.field_mapping, s.inbound_token, s.last_event_at, s.created_at, s.updated_at
  from app.sync_sources s
  join app.stages st on st.org_id = s.org_id and st.id = s.stage_id;
comment on view app.sync_source_details is 'Sync sources as the API lists them: stage names resolved, event stages as {event: {id, name}}, never the secret.';
grant select on app.sync_source_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Event names and field mappings
-- ---------------------------------------------------------------------------

-- Event names as they are matched: lower case, runs of other characters as "_"
-- ("Reply Received" and "reply_received" are the same event).
create function app._sync_event_name(p_event text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select nullif(left(pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(pg_catalog.btrim(p_event)),
      '[^a-z0-9_.:-]+', '_', 'g'), '_'), 100), '')
  $$;
comment on function app._sync_event_name(text) is 'Normalises an event name (lower case, other characters as _, at most 100); null when nothing is left.';
revoke execute on function app._sync_event_name(text) from public;
grant execute on function app._sync_event_name(text) to authenticated, service_role;

-- The lead fields (and event fields) a field mapping may fill, in the order we document.
create function app.sync_mapping_fields() returns text[]
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select array['email', 'firstName', 'lastName', 'name', 'organizationName', 'businessType', 'phone',
                 'title', 'companyName', 'linkedinUrl', 'event', 'occurredAt', 'summary', 'direction']
  $$;
comment on function app.sync_mapping_fields() is 'The keys a sync source''s field_mapping may have: lead fields (name = full name, split into first and last) and event fields.';
revoke execute on function app.sync_mapping_fields() from public;
grant execute on function app.sync_mapping_fields() to authenticated, service_role;

-- Where each field is looked for when the source's mapping does not say otherwise. A path
-- is dot-separated keys (digits index arrays: "answers.0.email"); a list of paths means the
-- first one holding a value wins.
create function app.sync_default_field_mapping(p_type text) returns jsonb
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case p_type
      -- Gmail: the forwarder's message; "contact" is the other party (from, or to for email_sent).
      when 'gmail' then '{
        "email": "contact",
        "event": "event",
        "occurredAt": "date",
        "summary": "subject",
        "direction": "direction"
      }'::jsonb
      else '{
        "email": ["email", "contact.email", "lead.email"],
        "firstName": ["firstName", "first_name", "contact.firstName", "contact.first_name", "lead.firstName"],
        "lastName": ["lastName", "last_name", "contact.lastName", "contact.last_name", "lead.lastName"],
        "name": ["name", "fullName", "full_name", "contact.name", "lead.name"],
        "organizationName": ["organizationName", "company", "companyName", "contact.company", "lead.organizationName"],
        "phone": ["phone", "contact.phone", "lead.phone"],
        "title": ["title", "jobTitle", "contact.title", "lead.title"],
        "event": ["event", "eventType", "event_type"],
        "occurredAt": ["occurredAt", "occurred_at", "timestamp"],
        "summary": ["summary"],
        "direction": ["direction"]
      }'::jsonb
    end
  $$;
comment on function app.sync_default_field_mapping(text) is 'The field mapping a new sync source of this type starts with (its own fieldMapping overrides it key by key).';
revoke execute on function app.sync_default_field_mapping(text) from public;
grant execute on function app.sync_default_field_mapping(text) to authenticated, service_role;

-- The event a payload without one stands for.
create function app.sync_default_event(p_type text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case p_type
      when 'gmail' then 'email_received'
      when 'form_webhook' then 'form_submitted'
      when 'api_sdr' then 'lead_received'
      else 'event_received'
    end
  $$;
comment on function app.sync_default_event(text) is 'The event name used when a payload of this source type names none.';
revoke execute on function app.sync_default_event(text) from public;
grant execute on function app.sync_default_event(text) to authenticated, service_role;

-- A mapping value: one path, or a list of 1-10 paths, each 1-200 characters.
create function app._is_mapping_path(p_value jsonb) returns boolean
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select case pg_catalog.jsonb_typeof(p_value)
      when 'string' then length(p_value #>> '{}') between 1 and 200
      when 'array' then pg_catalog.jsonb_array_length(p_value) between 1 and 10
        and not exists (
          select from pg_catalog.jsonb_array_elements(p_value) x
          where pg_catalog.jsonb_typeof(x) <> 'string' or length(x #>> '{}') not between 1 and 200)
      else false
    end
  $$;
comment on function app._is_mapping_path(jsonb) is 'True for a valid field-mapping value: a path string or a list of 1-10 path strings.';
revoke execute on function app._is_mapping_path(jsonb) from public;
grant execute on function app._is_mapping_path(jsonb) to authenticated, service_role;

-- The first non-empty scalar found at the given path(s); objects and arrays count as absent.
create function app._sync_value(p_payload jsonb, p_paths jsonb) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select v.value
    from (
      select pg_catalog.btrim(p_payload #>> pg_catalog.string_to_array(p.path, '.')) as value, p.ord
      from pg_catalog.jsonb_array_elements_text(
             case pg_catalog.jsonb_typeof(p_paths) when 'array' then p_paths when 'string' then pg_catalog.jsonb_build_array(p_paths) else '[]'::jsonb end)
           with ordinality as p(path, ord)
      where pg_catalog.jsonb_typeof(p_payload #> pg_catalog.string_to_array(p.path, '.')) in ('string', 'number', 'boolean')
    ) v
    where v.value <> ''
    order by v.ord
    limit 1
  $$;
comment on function app._sync_value(jsonb, jsonb) is 'The value of a payload at the first of the mapping''s paths that holds a non-empty scalar; null when none does.';
revoke execute on function app._sync_value(jsonb, jsonb) from public;
grant execute on function app._sync_value(jsonb, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- What a sync source may hold, for every writer: a new source starts from its type's
-- default mapping; mapping keys are known fields with path values and always include
-- email; event names are normalised names; event stages are stages of the source's org.
-- ---------------------------------------------------------------------------
create function app._check_sync_source() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_bad text;
    v_usage constant text := 'fieldMapping maps fields to payload paths: {"email": "contact.email", "firstName": ["first_name", "contact.first_name"]} (a list: the first path with a value wins; digits index arrays, e.g. "answers.0.email"). Fields: '
      || pg_catalog.array_to_string(app.sync_mapping_fields(), ', ') || '.';
  begin
    if tg_op = 'INSERT' then
      new.field_mapping := app.jsonb_merge_patch(app.sync_default_field_mapping(new.type), new.field_mapping);
    end if;

    select string_agg(k, ', ' order by k) into v_bad
    from pg_catalog.jsonb_object_keys(new.field_mapping) k
    where k <> all (app.sync_mapping_fields());
    if v_bad is not null then
      perform app.refuse(400, 'invalid_field_mapping', pg_catalog.format('Unknown fieldMapping field(s): %s', v_bad), v_usage);
    end if;
    select string_agg(e.key, ', ' order by e.key) into v_bad
    from pg_catalog.jsonb_each(new.field_mapping) e
    where not app._is_mapping_path(e.value);
    if v_bad is not null then
      perform app.refuse(400, 'invalid_field_mapping',
        pg_catalog.format('fieldMapping.%s must be a path or a list of 1-10 paths (1-200 characters each)', v_bad), v_usage);
    end if;
    if not new.field_mapping ? 'email' then
      perform app.refuse(400, 'email_mapping_required', 'fieldMapping must say where the email is: leads are matched by email',
        'Set fieldMapping.email to the payload path of the email, e.g. {"email": "contact.email"}.');
    end if;

    select string_agg(pg_catalog.format('"%s"', k), ', ' order by k) into v_bad
    from pg_catalog.jsonb_object_keys(new.event_stages) k
    where k is distinct from app._sync_event_name(k);
    if v_bad is not null then
      perform app.refuse(400, 'invalid_event_stages', pg_catalog.format('Event name(s) not in normal form: %s', v_bad),
        'Event names are lower case letters, digits and _ . : - (at most 100), e.g. "reply_received".');
    end if;
    select string_agg(pg_catalog.format('%s: %s', e.key, e.value), ', ' order by e.key) into v_bad
    from pg_catalog.jsonb_each(new.event_stages) e
    where pg_catalog.jsonb_typeof(e.value) <> 'string'
       or not exists (select from app.stages s where s.org_id = new.org_id and s.id = e.value #>> '{}');
    if v_bad is not null then
      perform app.refuse(400, 'unknown_stage', pg_catalog.format('eventStages names stages that are not in this workspace: %s', v_bad),
        'Map each event to the id or name of one of your stages: GET /api/openclaw/stages lists them.');
    end if;
    return new;
  end;
  $$;
comment on function app._check_sync_source() is 'Trigger: fills a new sync source''s default field mapping and refuses invalid mappings and event stages of another org (400 with a hint).';
revoke execute on function app._check_sync_source() from public;

create trigger sync_sources_check before insert or update of type, org_id, event_stages, field_mapping on app.sync_sources
  for each row execute function app._check_sync_source();

-- ---------------------------------------------------------------------------
-- A stage a sync source sends leads to cannot disappear under it (the composite key
-- guards stage_id; this also covers event_stages and explains how to proceed). Deleting the
-- whole org deletes its sources too, so it is let through.
-- ---------------------------------------------------------------------------
create function app._refuse_deleting_synced_stage() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_sources text;
  begin
    select string_agg(pg_catalog.format('"%s" (%s)', ss.name, ss.id), ', ' order by ss.name) into v_sources
    from app.sync_sources ss
    where ss.org_id = old.org_id
      and (ss.stage_id = old.id
           or exists (select from pg_catalog.jsonb_each_text(ss.event_stages) e where e.value = old.id));
    if v_sources is not null and exists (select from app.orgs o where o.id = old.org_id) then
      perform app.refuse(409, 'stage_used_by_sync_source',
        pg_catalog.format('Stage "%s" is a target of sync source(s) %s', old.name, v_sources),
        'Point those sync sources at another stage first: PUT /api/openclaw/stages/sync-sources { "id": "ss_…", "stage": "<other stage>", "eventStages": { "<event>": "<other stage>" or null } }, or delete them.');
    end if;
    return old;
  end;
  $$;
comment on function app._refuse_deleting_synced_stage() is 'Trigger: refuses (409) deleting a stage that a sync source targets, by default or for an event.';
revoke execute on function app._refuse_deleting_synced_stage() from public;

create trigger stages_refuse_deleting_synced before delete on app.stages
  for each row execute function app._refuse_deleting_synced_stage();

-- ---------------------------------------------------------------------------
-- Create, change (and rotate credentials of) a sync source, as the current org.
-- ---------------------------------------------------------------------------
create function app._refuse_taken_sync_source_name(p_name text, p_except_id text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_other text;
  begin
    select s.id into v_other from app.sync_sources s
    where s.org_id = app.current_org_id() and lower(s.name) = lower(btrim(p_name)) and s.id is distinct from p_except_id;
    if v_other is not null then
      perform app.refuse(409, 'sync_source_exists',
        pg_catalog.format('A sync source named "%s" already exists (%s)', btrim(p_name), v_other),
        pg_catalog.format('Sync source names are unique per workspace. Use the existing one (its secret is shown only once: PUT /api/openclaw/stages/sync-sources { "id": "%s", "rotateSecret": true } issues a new one), or choose another name.', v_other));
    end if;
  end;
  $$;
comment on function app._refuse_taken_sync_source_name(text, text) is 'Refuses (409, naming the existing source) a sync source name the current org already uses.';
revoke execute on function app._refuse_taken_sync_source_name(text, text) from public;
grant execute on function app._refuse_taken_sync_source_name(text, text) to authenticated, service_role;

-- Applies {event: stage name or id | null} to an event -> stage id map (null removes).
create function app._resolve_event_stages(p_current jsonb, p_changes jsonb) returns jsonb
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_result jsonb := coalesce(p_current, '{}'::jsonb);
    v_entry record;
    v_event text;
  begin
    if p_changes is null or pg_catalog.jsonb_typeof(p_changes) = 'null' then
      return v_result;
    end if;
    if pg_catalog.jsonb_typeof(p_changes) <> 'object' then
      perform app.refuse(400, 'invalid_event_stages', 'eventStages must be an object of event name to stage',
        'Send eventStages like { "reply_received": "Engaged", "meeting_booked": "Negotiated" } (stage names or ids).');
    end if;
    for v_entry in select e.key, e.value from pg_catalog.jsonb_each(p_changes) e loop
      v_event := app._sync_event_name(v_entry.key);
      if v_event is null then
        perform app.refuse(400, 'invalid_event_stages', pg_catalog.format('"%s" is not a usable event name', v_entry.key),
          'Event names are letters, digits and _ . : - (e.g. "reply_received").');
      end if;
      if pg_catalog.jsonb_typeof(v_entry.value) = 'null' then
        v_result := v_result - v_event;
      elsif pg_catalog.jsonb_typeof(v_entry.value) = 'string' then
        v_result := v_result || pg_catalog.jsonb_build_object(v_event, app.resolve_stage(v_entry.value #>> '{}'));
      else
        perform app.refuse(400, 'invalid_event_stages', pg_catalog.format('eventStages.%s must be a stage name or id', v_entry.key),
          'Map each event to a stage name or id (or null to remove the event''s stage).');
      end if;
    end loop;
    return v_result;
  end;
  $$;
comment on function app._resolve_event_stages(jsonb, jsonb) is 'Merges {event: stage name or id, or null to remove} into an event -> stage id map, resolving names in the current org.';
revoke execute on function app._resolve_event_stages(jsonb, jsonb) from public;
grant execute on function app._resolve_event_stages(jsonb, jsonb) to authenticated, service_role;

create function app.create_sync_source(
  p_name text,
  p_type text,
  p_stage text,
  p_event_stages jsonb default null,
  p_field_mapping jsonb default null,
  p_enabled boolean default true)
  returns table (id text, secret text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_secret constant text := 'whsec_' || app._random_hex(64);
  begin
    perform app._refuse_taken_sync_source_name(p_name, null);
    insert into app.sync_sources as s (name, type, enabled, stage_id, event_stages, field_mapping, secret)
    values (btrim(p_name), p_type, coalesce(p_enabled, true),
            -- No stage named: the workspace's default stage, where new leads land anyway.
            coalesce(app.resolve_stage(p_stage), (select d.id from app.stages d where d.org_id = app.current_org_id() and d.is_default)),
            app._resolve_event_stages('{}'::jsonb, p_event_stages), coalesce(p_field_mapping, '{}'::jsonb), v_secret)
    returning s.id into id;
    secret := v_secret;
    return next;
  end;
  $$;
comment on function app.create_sync_source(text, text, text, jsonb, jsonb, boolean) is 'Creates a sync source in the current org (stages by name or id, the default stage when none is named; mapping over the type''s defaults) and returns its secret, the only time it is shown.';
revoke execute on function app.create_sync_source(text, text, text, jsonb, jsonb, boolean) from public;
grant execute on function app.create_sync_source(text, text, text, jsonb, jsonb, boolean) to authenticated, service_role;

-- p_changes: name, stage, eventStages (merged; null removes an event), fieldMapping
-- (merged; null removes a field), enabled, rotateSecret, rotateToken. Returns the new
-- secret when rotated (else null).
create function app.update_sync_source(p_id text, p_changes jsonb)
  returns table (id text, secret text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_changes constant jsonb := coalesce(p_changes, '{}'::jsonb);
    v_id text;
    v_unknown text;
    v_secret text;
  begin
    select string_agg(k, ', ' order by k) into v_unknown
    from pg_catalog.jsonb_object_keys(v_changes) k
    where k not in ('name', 'stage', 'eventStages', 'fieldMapping', 'enabled', 'rotateSecret', 'rotateToken');
    if v_unknown is not null then
      perform app.refuse(400, 'invalid_sync_source_change', pg_catalog.format('Unknown sync source field(s): %s', v_unknown),
        'A sync source has name, stage, eventStages, fieldMapping and enabled; rotateSecret and rotateToken issue new credentials. Its type cannot change: create a new source instead.');
    end if;

    select s.id into v_id from app.sync_sources s where s.id = p_id for update;
    if v_id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Sync source %s was not found', p_id),
        'Check the id: GET /api/openclaw/stages/sync-sources lists your sync sources. Ids belong to one workspace: another workspace''s sources are not visible with this key.');
    end if;
    if v_changes ? 'name' then
      perform app._refuse_taken_sync_source_name(v_changes ->> 'name', v_id);
    end if;

    update app.sync_sources s set
      name = case when v_changes ? 'name' then btrim(v_changes ->> 'name') else s.name end,
      stage_id = case when v_changes ? 'stage' then app.resolve_stage(v_changes ->> 'stage') else s.stage_id end,
      event_stages = app._resolve_event_stages(s.event_stages, v_changes -> 'eventStages'),
      field_mapping = case when v_changes ? 'fieldMapping'
        then app.jsonb_merge_patch(s.field_mapping, v_changes -> 'fieldMapping') else s.field_mapping end,
      enabled = coalesce((v_changes ->> 'enabled')::boolean, s.enabled)
    where s.id = v_id;

    if coalesce((v_changes ->> 'rotateToken')::boolean, false) then
      update app.sync_sources s set inbound_token = app._random_hex(48) where s.id = v_id;
    end if;
    if coalesce((v_changes ->> 'rotateSecret')::boolean, false) then
      v_secret := 'whsec_' || app._random_hex(64);
      update app.sync_sources s set secret = v_secret where s.id = v_id;
    end if;
    id := v_id;
    secret := v_secret;
    return next;
  end;
  $$;
comment on function app.update_sync_source(text, jsonb) is 'Changes a sync source of the current org (maps merged, null removes a key); rotateSecret returns a new secret, rotateToken issues a new inbound URL.';
revoke execute on function app.update_sync_source(text, jsonb) from public;
grant execute on function app.update_sync_source(text, jsonb) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The inbound edge's one cross-tenant lookup: by URL token, what it needs to check the
-- sender. It has no API key, so this is granted to anon.
-- ---------------------------------------------------------------------------
create function app.sync_source_for_token(p_token text)
  returns table (id text, type text, secret text)
  language sql stable
  security definer
  set search_path = ''
  as $$
    select s.id, s.type, s.secret from app.sync_sources s where s.inbound_token = p_token
  $$;
comment on function app.sync_source_for_token(text) is 'The sync source behind an inbound URL token: id, type and the secret that authenticates its sender; nothing for an unknown token.';
revoke execute on function app.sync_source_for_token(text) from public;
grant execute on function app.sync_source_for_token(text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Ingest one event (already authenticated by the edge) for a source, as its org.
-- p_signed_digest: for a request signed without its event id (v1), SHA-256 of the signed
-- "<timestamp>.<raw body>"; an event whose id or digest was seen before is a duplicate.
-- ---------------------------------------------------------------------------
create function app.ingest_sync_event(p_source_id text, p_event_id text, p_payload jsonb, p_signed_digest text default null)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_claims constant text := pg_catalog.current_setting('request.jwt.claims', true);
    v_source app.sync_sources;
    v_payload jsonb := p_payload;
    v_map jsonb;
    v_event text;
    v_claim text;
    v_result jsonb;
    v_email_raw text;
    v_email text;
    v_display text;
    v_name text;
    v_first text;
    v_last text;
    v_occurred_raw text;
    v_occurred timestamptz;
    v_direction text;
    v_target text;
    v_lead_id text;
    v_from_stage text;
    v_created boolean := false;
    v_touchpoint text;
    v_constraint text;
    v_detail text;
  begin
    select s.* into v_source from app.sync_sources s where s.id = p_source_id;
    if v_source.id is null then
      perform app.refuse(404, 'not_found', 'No sync source for this inbound URL',
        'Check the URL: the sync source may have been deleted or its URL rotated (GET /api/openclaw/stages/sync-sources shows the current one).');
    end if;
    if p_event_id is null or length(p_event_id) not between 1 and 255 then
      perform app.refuse(400, 'invalid_event_id', 'The event id must be 1-255 characters',
        'Send a unique id per event in the X-OpenClaw-Event-Id header (or eventId in the body); a redelivery reuses it.');
    end if;
    if v_payload is null or pg_catalog.jsonb_typeof(v_payload) <> 'object' then
      perform app.refuse(400, 'invalid_payload', 'The event payload must be a JSON object',
        'Send the event as a JSON object, e.g. { "event": "form_submitted", "email": "jane@acme.com", "firstName": "Jane" }.');
    end if;

    v_map := v_source.field_mapping;
    v_event := coalesce(app._sync_event_name(app._sync_value(v_payload, v_map -> 'event')), app.sync_default_event(v_source.type));

    -- Claim the event id (and signed digest) first: a concurrent redelivery waits here for
    -- this one to finish. Either one seen before makes the event a duplicate.
    insert into app.sync_events as e (org_id, source_id, event_id, event, signed_digest)
    values (v_source.org_id, v_source.id, p_event_id, v_event, p_signed_digest)
    on conflict do nothing
    returning e.id into v_claim;
    if v_claim is null then
      select e.result into v_result from app.sync_events e
      where e.org_id = v_source.org_id and e.source_id = v_source.id
        and (e.event_id = p_event_id or e.signed_digest = p_signed_digest)
      order by e.event_id = p_event_id desc
      limit 1;
      return coalesce(v_result, '{}'::jsonb) || pg_catalog.jsonb_build_object('duplicate', true);
    end if;

    if not v_source.enabled then
      perform app.refuse(409, 'sync_source_disabled', pg_catalog.format('Sync source "%s" is disabled', v_source.name),
        pg_catalog.format('Its owner can enable it with PUT /api/openclaw/stages/sync-sources { "id": "%s", "enabled": true }; events sent while it is disabled are not recorded, so resend them afterwards.', v_source.id));
    end if;

    -- Act as the source's org; history and touchpoints record who did it.
    perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
      'org_id', v_source.org_id, 'actor', 'sync_source:' || v_source.id, 'source', 'sync_source')::text, true);

    -- A raw Gmail watch notification ({emailAddress, historyId}) names no message.
    if v_source.type = 'gmail' and (v_payload ? 'historyId') and not (v_payload ? 'event') then
      v_result := pg_catalog.jsonb_build_object(
        'outcome', 'ignored', 'syncSourceId', v_source.id, 'event', v_event, 'eventId', p_event_id,
        'reason', 'A bare Gmail watch notification ({emailAddress, historyId}) names no message, so there is nothing to map. Have your forwarder publish {event, from, to, subject, snippet, messageId, threadId, date} instead.');
      update app.sync_events e set outcome = 'ignored', result = v_result where e.org_id = v_source.org_id and e.id = v_claim;
      update app.sync_sources s set last_event_at = pg_catalog.now() where s.org_id = v_source.org_id and s.id = v_source.id;
      perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
      return v_result || pg_catalog.jsonb_build_object('duplicate', false);
    end if;

    -- Gmail: the lead is the other party of the message.
    if v_source.type = 'gmail' and not (v_payload ? 'contact') then
      v_payload := v_payload || pg_catalog.jsonb_build_object('contact',
        case when v_event = 'email_sent' then v_payload -> 'to' else v_payload -> 'from' end);
    end if;

    -- Map the payload. "Jane Doe <jane@acme.com>" gives the email and a display name; of
    -- a list of addresses the first counts.
    v_email_raw := app._sync_value(v_payload, v_map -> 'email');
    if v_email_raw is null then
      perform app.refuse(400, 'missing_email',
        pg_catalog.format('The payload has no email at %s (fieldMapping.email)', coalesce(v_map -> 'email', 'null'::jsonb)),
        pg_catalog.format('Send the lead''s email at that path, or point fieldMapping.email at where it is: PUT /api/openclaw/stages/sync-sources { "id": "%s", "fieldMapping": { "email": "contact.email" } }.', v_source.id));
    end if;
    if v_email_raw ~ '<[^<>]+>' then
      v_email := pg_catalog.btrim(substring(v_email_raw from '<([^<>]+)>'));
      v_display := nullif(pg_catalog.btrim(substring(v_email_raw from '^([^<]*)<'), ' "'''), '');
    else
      v_email := pg_catalog.btrim(pg_catalog.split_part(v_email_raw, ',', 1));
    end if;

    v_first := app._sync_value(v_payload, v_map -> 'firstName');
    v_last := app._sync_value(v_payload, v_map -> 'lastName');
    v_name := app._sync_value(v_payload, v_map -> 'name');
    if v_name is not null then
      v_first := coalesce(v_first, substring(v_name from '^\S+'));
      v_last := coalesce(v_last, nullif(pg_catalog.btrim(pg_catalog.regexp_replace(v_name, '^\S+', '')), ''));
    end if;

    v_occurred_raw := app._sync_value(v_payload, v_map -> 'occurredAt');
    if v_occurred_raw ~ '^\d{9,13}(\.\d+)?$' then
      -- Unix time, in seconds or (13 digits) milliseconds.
      v_occurred := pg_catalog.to_timestamp(v_occurred_raw::double precision
        / case when length(pg_catalog.split_part(v_occurred_raw, '.', 1)) = 13 then 1000 else 1 end);
    elsif v_occurred_raw is not null then
      begin
        v_occurred := v_occurred_raw::timestamptz;
      exception when data_exception then
        perform app.refuse(400, 'invalid_occurred_at', pg_catalog.format('"%s" (fieldMapping.occurredAt) is not a time', v_occurred_raw),
          'Send the time as ISO 8601 with a zone (2026-01-31T14:00:00Z), RFC 2822 (Sat, 31 Jan 2026 14:00:00 +0000) or Unix seconds, or leave it out for now.');
      end;
    end if;

    v_direction := pg_catalog.lower(app._sync_value(v_payload, v_map -> 'direction'));
    if v_direction is null or v_direction not in ('inbound', 'outbound') then
      v_direction := case
        when v_source.type = 'gmail' then case when v_event = 'email_sent' then 'outbound' else 'inbound' end
        when v_source.type = 'form_webhook' then 'inbound'
      end;
    end if;

    v_target := coalesce(v_source.event_stages ->> v_event, v_source.stage_id);

    -- Create or update the lead by email (app.upsert_lead_by_email: an existing lead only
    -- moves forward, so a routine email to a lead in negotiation does not send it back to the
    -- source's first stage; a new lead without a mapped name is named from the display name).
    begin
      select u.lead_id, u.created, u.stage_id, u.previous_stage_id into v_lead_id, v_created, v_target, v_from_stage
      from app.upsert_lead_by_email(v_source.org_id, v_email, pg_catalog.jsonb_build_object(
        'firstName', v_first, 'lastName', v_last,
        'organizationName', app._sync_value(v_payload, v_map -> 'organizationName'),
        'businessType', app._sync_value(v_payload, v_map -> 'businessType'),
        'phone', app._sync_value(v_payload, v_map -> 'phone'),
        'title', app._sync_value(v_payload, v_map -> 'title'),
        'companyName', app._sync_value(v_payload, v_map -> 'companyName'),
        'linkedinUrl', app._sync_value(v_payload, v_map -> 'linkedinUrl')), v_target, v_display) u;
    exception when check_violation or sqlstate 'CR400' then
      -- The upsert refuses an invalid email as invalid_email; a direct writer trips the check.
      get stacked diagnostics v_constraint = constraint_name, v_detail = pg_exception_detail;
      if v_constraint = 'leads_email_check' or coalesce(v_detail, '') ~ '"?invalid_email"?' then
        perform app.refuse(400, 'invalid_email',
          pg_catalog.format('"%s" (fieldMapping.email) is not a valid email address', v_email_raw),
          pg_catalog.format('Send the lead''s email (like jane@acme.com or "Jane Doe <jane@acme.com>") at %s, or change fieldMapping.email.', v_map -> 'email'));
      end if;
      raise;
    end;

    insert into app.touchpoints as t (org_id, lead_id, type, direction, summary, occurred_at, metadata)
    values (
      v_source.org_id, v_lead_id,
      case v_source.type when 'gmail' then 'email' when 'form_webhook' then 'form' else 'other' end,
      v_direction,
      left(coalesce(app._sync_value(v_payload, v_map -> 'summary'),
                    pg_catalog.format('%s via %s', pg_catalog.replace(v_event, '_', ' '), v_source.name)), 10000),
      coalesce(v_occurred, pg_catalog.now()),
      pg_catalog.jsonb_build_object(
        'syncSourceId', v_source.id, 'syncSourceName', v_source.name, 'syncSourceType', v_source.type,
        'event', v_event, 'eventId', p_event_id)
      -- The payload itself when it is of a reasonable size (form answers, the message) and
      -- fits under metadata's cap (touchpoints_metadata_size: 64 KiB, 10 deep).
      || case when app.json_fits(p_payload, 32768, 9)
           then pg_catalog.jsonb_build_object('payload', p_payload)
           else pg_catalog.jsonb_build_object('payloadOmitted', true) end)
    returning t.id into v_touchpoint;

    v_result := pg_catalog.jsonb_build_object(
      'outcome', case when v_created then 'created' else 'updated' end,
      'syncSourceId', v_source.id, 'event', v_event, 'eventId', p_event_id,
      'leadId', v_lead_id, 'email', v_email,
      'stage', (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s
                where s.org_id = v_source.org_id and s.id = v_target),
      'previousStage', case when not v_created then
        (select pg_catalog.jsonb_build_object('id', s.id, 'name', s.name) from app.stages s
         where s.org_id = v_source.org_id and s.id = v_from_stage) end,
      'moved', not v_created and v_from_stage is distinct from v_target,
      'touchpointId', v_touchpoint);
    update app.sync_events e set lead_id = v_lead_id, outcome = v_result ->> 'outcome', result = v_result
    where e.org_id = v_source.org_id and e.id = v_claim;
    update app.sync_sources s set last_event_at = pg_catalog.now() where s.org_id = v_source.org_id and s.id = v_source.id;

    perform pg_catalog.set_config('request.jwt.claims', coalesce(v_claims, ''), true);
    return v_result || pg_catalog.jsonb_build_object('duplicate', false);
  end;
  $$;
comment on function app.ingest_sync_event(text, text, jsonb, text) is 'Ingests one authenticated event for a sync source: idempotent on the event id and on the signed digest of a request signed without its id; creates or updates the lead by email, moves it to the event''s stage and logs a touchpoint, all or nothing.';
revoke execute on function app.ingest_sync_event(text, text, jsonb, text) from public;
grant execute on function app.ingest_sync_event(text, text, jsonb, text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Housekeeping, run daily by the job purge-sync-events (90_jobs.sql): senders redeliver
-- within days (Pub/Sub for up to 7); 30 days of events keep redeliveries idempotent and
-- the recent history readable.
-- ---------------------------------------------------------------------------
create function app.purge_sync_events() returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    delete from app.sync_events e where e.received_at < pg_catalog.now() - interval '30 days';
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_sync_events() is 'Deletes sync events received more than 30 days ago; returns how many.';
revoke execute on function app.purge_sync_events() from public;
grant execute on function app.purge_sync_events() to service_role;
