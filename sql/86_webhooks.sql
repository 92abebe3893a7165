-- Outbound webhooks: an org subscribes URLs to the things that happen in its workspace (a
-- lead created, an email bounced, a meeting booked, …) and we POST each of them there,
-- signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature
-- v1,<base64 HMAC-SHA256>; the edge signs and sends: functions/webhooks/).
--
-- Nothing is lost and nothing is sent for a change that did not happen: the triggers below
-- write the event and its deliveries in the same transaction as the change, so they commit
-- or roll back with it. Workers then claim due deliveries with `for update skip locked` and
-- report each attempt; a worker that dies mid-delivery leaves a lease that runs out, and the
-- delivery is sent again under the same webhook-id (at least once, never lost).
--
-- This file holds:
--   * app.webhook_event_types: the event catalogue (reference data), each type with when it
--     is sent, what its data holds and, for engagement signals, the app.events type it
--     comes from;
--   * app.webhook_subscriptions: an org's endpoints; its signing secret is readable by no
--     API role (below);
--   * app.webhook_events: each event an org had a subscriber for (its id is the webhook-id,
--     its type, timestamp and data the body);
--   * app.webhook_deliveries: the outbox, one row per (subscription, event): status,
--     attempts, next attempt, the last answer, the claiming worker and its lease;
--   * the fan-out, in the changing transaction (one indexed existence check per statement
--     when the org subscribes to nothing):
--       leads_40_webhook_created, leads_webhook_changed, leads_webhook_deleted  on app.leads
--       events_50_webhooks                                                     on app.events
--       feedback_webhook_answered                                           on app.feedback
--   * what tenants call: app.create_webhook_subscription, app.rotate_webhook_secret,
--     app.redeliver_webhook;
--   * what workers call: app.claim_webhook_deliveries, app.complete_webhook_delivery,
--     app.fail_webhook_delivery, app.release_expired_webhook_claims, with the retry schedule
--     app.webhook_retry_delay and the rule that disables an endpoint that keeps failing;
--   * app.purge_webhook_deliveries, run daily by the job purge-webhook-deliveries (90_jobs.sql).
-- It comes after the domains whose changes it reports (leads, feedback, enrichment, events,
-- the mail outbox, Calendly, quizzes); their files name these triggers in their headers.

-- ---------------------------------------------------------------------------
-- The catalogue
-- ---------------------------------------------------------------------------
create table app.webhook_event_types (
  name text primary key check (name ~ '^[a-z]+\.[a-z_]+$'),
  -- When it is sent.
  description text not null,
  -- What its data holds.
  data text not null,
  -- The engagement event (app.events.type) it reports, for types that come from one.
  source_event text unique references app.event_types (name),
  position integer not null unique
);
comment on table app.webhook_event_types is 'The outbound webhook event catalogue: each type, when it is sent, what its data holds, and the engagement event it reports (if any).';
alter table app.webhook_event_types enable row level security;
alter table app.webhook_event_types force row level security;
create policy "Webhook event types are readable by every org" on app.webhook_event_types
  for select to authenticated using (true);
grant select on app.webhook_event_types to authenticated;
grant all on app.webhook_event_types to service_role;

insert into app.webhook_event_types (position, name, source_event, description, data) values
  (1, 'lead.created', null,
   'A lead was created, by any writer: the API, a sync source, a Calendly booking, a quiz submission, a database user.',
   'lead: the lead (id, names, email, company fields, tier, status, stage and stageId, enrichment facts and status, createdAt, updatedAt, deletedAt).'),
  (2, 'lead.updated', null,
   'A lead''s own fields changed (names, email, organization, business type, phone, tier, status, customFields, crmData, title, seniority, company fields) or it was restored. Not sent for stage moves (lead.stage_changed), enrichment (enrichment.completed), soft deletes (lead.deleted), or a write that changes nothing.',
   'lead: the lead as it is now; changedFields: the names of the fields that changed; previous: their values before (customFields and crmData are named, not copied).'),
  (3, 'lead.stage_changed', 'stage_changed',
   'A lead moved to another stage, by the API, a sync source, an automation rule or a database user.',
   'lead; fromStage, fromStageId, toStage, toStageId; ruleId when a rule moved it; stageChangeId; eventId, occurredAt, source.'),
  (4, 'lead.deleted', null,
   'A lead was soft-deleted (permanent: false) or deleted for good (permanent: true; a soft-deleted lead deleted for good is reported again).',
   'lead: the lead as it was; permanent.'),
  (5, 'enrichment.completed', null,
   'An enrichment run completed and its findings were stored on the lead (failed runs are not sent).',
   'lead: the lead with its enriched fields; tier, sources, confidence and confidenceLabel from the enrichment document; changedFields: the lead fields the run changed.'),
  (6, 'email.sent', 'email_sent',
   'A campaign email was accepted by the SMTP server (or an agent recorded an email_sent event).',
   'lead; campaignId, enrollmentId, step, subject, messageId; eventId, occurredAt, source.'),
  (7, 'email.replied', 'email_replied',
   'The lead replied to an email (a sync source reported it, or an agent recorded email_replied).',
   'lead; what the reporter sent with the event (e.g. subject, messageId); eventId, occurredAt, source.'),
  (8, 'email.bounced', 'email_bounced',
   'An email to the lead bounced (POST /email/bounces, or an email_bounced event).',
   'lead; type (hard or soft), reason, email, messageId; eventId, occurredAt, source.'),
  (9, 'email.unsubscribed', 'unsubscribed',
   'The lead unsubscribed (the link in an email, or an unsubscribed event).',
   'lead; email; eventId, occurredAt, source.'),
  (10, 'meeting.booked', 'meeting_booked',
   'The lead booked a meeting (Calendly, or a meeting_booked event).',
   'lead; startsAt, url (the join link), eventTypeName, meetingId; eventId, occurredAt, source.'),
  (11, 'proposal.viewed', 'proposal_viewed',
   'The lead opened their proposal page (once per visit; bots and the workspace''s own previews are not counted).',
   'lead; proposalId, visitId, seconds (0: sent when the visit begins); eventId, occurredAt, source.'),
  (12, 'quiz.completed', 'quiz_completed',
   'The lead submitted a quiz (a repeated attempt is not sent again).',
   'lead; quizId, score (0-100), band (its label), submissionId; eventId, occurredAt, source.'),
  (13, 'feedback.answered', null,
   'The platform operator answered one of the workspace''s feedback items (each response given, even with the same text).',
   'feedbackId, title, type, status, response, respondedAt, createdAt.');

-- ---------------------------------------------------------------------------
-- Subscriptions
-- ---------------------------------------------------------------------------
-- A signing secret as Standard Webhooks writes one: whsec_ and 32 random bytes in base64.
create function app._webhook_secret() returns text
  language sql volatile
  set search_path = ''
  as $$
    select 'whsec_' || pg_catalog.encode(pg_catalog.decode(app._random_hex(64), 'hex'), 'base64')
  $$;
comment on function app._webhook_secret() is 'A new webhook signing secret: whsec_ followed by 32 random bytes in base64 (the Standard Webhooks form).';
revoke execute on function app._webhook_secret() from public;
grant execute on function app._webhook_secret() to authenticated, service_role;

-- The secret signs every delivery (HMAC-SHA256), so it must be kept as it is: a hash could
-- not sign. It is not encrypted by the edge either (as Calendly tokens are), because the
-- database's own workers and the pg_cron → pg_net path must sign without a key held
-- elsewhere. Instead no API role can read it: tenants get column privileges on every
-- column but the two secrets, see it once (create, rotate: the security definer
-- functions below return it) and never again; only the worker's claim function
-- (service_role) reads it.
create table app.webhook_subscriptions (
  id text not null default app.new_id('wh'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  url text not null check (length(url) <= 2000 and url ~ '^https?://[^\s/?#]+'),
  -- Catalogue names, or '*' for every type (checked, deduplicated and sorted by a trigger).
  event_types text[] not null,
  description text check (length(description) <= 500),
  enabled boolean not null default true,
  secret text not null default app._webhook_secret()
    constraint webhook_subscriptions_secret_check check (secret ~ '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$'),
  -- After a rotation the old secret signs too (a second v1 signature) for 24 hours, so a
  -- receiver can switch without dropping deliveries.
  previous_secret text,
  previous_secret_expires_at timestamptz,
  -- Set when the subscription was switched off; disabled_reason only when the CRM did it
  -- after persistent failures (GET /health shows those).
  disabled_at timestamptz,
  disabled_reason text check (length(disabled_reason) <= 2000),
  -- The current run of failed attempts: since when, and how many in a row.
  failing_since timestamptz,
  consecutive_failures integer not null default 0 check (consecutive_failures >= 0),
  last_success_at timestamptz,
  last_failure_at timestamptz,
  created_by text not null default app.current_actor(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint webhook_subscriptions_previous_secret_check check (previous_secret ~ '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$')
);
comment on table app.webhook_subscriptions is 'Each org''s webhook endpoints: URL, event types, enabled, the signing secret (no API role can read it), and the endpoint''s failure streak.';
comment on column app.webhook_subscriptions.secret is 'The whsec_ signing secret. Kept as is because HMAC signing needs it; no API role has SELECT on it (column privileges), so it is shown only when created or rotated.';
comment on column app.webhook_subscriptions.disabled_reason is 'Why the CRM disabled the subscription (persistent delivery failure); null when enabled or switched off by the org.';
-- The fan-out's one check per statement: does this org subscribe to anything?
create index webhook_subscriptions_org_enabled_idx on app.webhook_subscriptions (org_id) where enabled;

create trigger webhook_subscriptions_touch_updated_at before update on app.webhook_subscriptions
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.webhook_subscriptions', 'Webhook subscriptions');
grant select (id, org_id, url, event_types, description, enabled, previous_secret_expires_at, disabled_at, disabled_reason,
              failing_since, consecutive_failures, last_success_at, last_failure_at, created_by, created_at, updated_at)
  on app.webhook_subscriptions to authenticated;
grant insert (org_id, url, event_types, description, enabled, secret) on app.webhook_subscriptions to authenticated;
grant update (url, event_types, description, enabled) on app.webhook_subscriptions to authenticated;
grant delete on app.webhook_subscriptions to authenticated;
grant all on app.webhook_subscriptions to service_role;

-- ---------------------------------------------------------------------------
-- What every writer of a subscription passes: known event types, a bounded number of
-- endpoints per org, and the bookkeeping of switching on and off.
-- ---------------------------------------------------------------------------
create function app._check_webhook_subscription() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_unknown text[];
    v_count integer;
  begin
    if new.event_types is null or pg_catalog.cardinality(new.event_types) = 0 then
      perform app.refuse(400, 'no_event_types', 'A webhook subscription needs at least one event type',
        'Send events, e.g. ["lead.created", "lead.stage_changed"], or ["*"] for every type; GET /api/openclaw/webhooks/event-types lists them.');
    end if;
    select array_agg(x order by x) into v_unknown
    from unnest(new.event_types) x
    where x is distinct from '*' and not exists (select from app.webhook_event_types t where t.name = x);
    if v_unknown is not null then
      perform app.refuse(400, 'unknown_webhook_event_type',
        pg_catalog.format('Not a webhook event type: %s', pg_catalog.array_to_string(v_unknown, ', ')),
        'Use one or more of: ' || (select string_agg(t.name, ', ' order by t.position) from app.webhook_event_types t)
          || ', or "*" for every type (GET /api/openclaw/webhooks/event-types describes each).');
    end if;
    new.event_types := array(select distinct x from unnest(new.event_types) x order by x);

    if tg_op = 'INSERT' then
      -- Counted under a per-org lock, so concurrent creates cannot pass the limit together.
      perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('app.webhook_subscriptions:' || new.org_id, 0));
      select count(*) into v_count from app.webhook_subscriptions s where s.org_id = new.org_id;
      if v_count >= 20 then
        perform app.refuse(409, 'webhook_limit_reached', 'A workspace can have at most 20 webhook subscriptions',
          'Delete one you no longer use (DELETE /api/openclaw/webhooks/{id}), or subscribe an existing endpoint to more event types (PATCH /api/openclaw/webhooks/{id} { "events": [...] }).');
      end if;
      if not new.enabled then
        new.disabled_at := pg_catalog.now();
      end if;
      return new;
    end if;

    if new.enabled and not old.enabled then
      -- Switched on again: a fresh start, and whatever waited is due now.
      new.disabled_at := null;
      new.disabled_reason := null;
      new.failing_since := null;
      new.consecutive_failures := 0;
    elsif old.enabled and not new.enabled then
      new.disabled_at := coalesce(new.disabled_at, pg_catalog.now());
    end if;
    if new.url is distinct from old.url then
      -- Another endpoint: the old one's failures say nothing about it.
      new.failing_since := null;
      new.consecutive_failures := 0;
    end if;
    return new;
  end;
  $$;
comment on function app._check_webhook_subscription() is 'Trigger: refuses unknown event types (400, listing the catalogue) and a 21st subscription per org (409); normalises the types; resets the failure streak when re-enabled or pointed at another URL; stamps disabled_at.';
revoke execute on function app._check_webhook_subscription() from public;

create trigger webhook_subscriptions_check before insert or update on app.webhook_subscriptions
  for each row execute function app._check_webhook_subscription();

-- ---------------------------------------------------------------------------
-- Events and deliveries: the outbox
-- ---------------------------------------------------------------------------
create table app.webhook_events (
  -- The webhook-id: the same on every attempt and every redelivery of this event.
  id text not null default app.new_id('whmsg'),
  org_id text not null references app.orgs (id) on delete cascade,
  type text not null references app.webhook_event_types (name),
  -- The body's timestamp: when it happened (the changing transaction's time).
  occurred_at timestamptz not null default now(),
  data jsonb not null check (jsonb_typeof(data) = 'object'),
  created_at timestamptz not null default now(),
  primary key (org_id, id)
);
comment on table app.webhook_events is 'Each event an org had a subscriber for when it happened: the body of its deliveries ({ type, timestamp, data }); its id is the webhook-id.';
-- What the retention sweep reads, across orgs.
create index webhook_events_created_idx on app.webhook_events (created_at);

alter table app.webhook_events enable row level security;
alter table app.webhook_events force row level security;
create policy "Webhook events are visible to their own org" on app.webhook_events
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.webhook_events to authenticated;
grant all on app.webhook_events to service_role;

create table app.webhook_deliveries (
  id text not null default app.new_id('whdlv'),
  org_id text not null references app.orgs (id) on delete cascade,
  subscription_id text not null,
  event_id text not null,
  -- pending → sending (claimed, leased) → delivered, or back to pending (retry), or failed
  -- (every attempt failed); redelivery makes a delivered or failed one pending again.
  status text not null default 'pending' check (status in ('pending', 'sending', 'delivered', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  claimed_by text check (length(claimed_by) <= 200),
  lease_until timestamptz,
  last_attempt_at timestamptz,
  last_status_code integer check (last_status_code between 100 and 599),
  last_error text check (length(last_error) <= 2000),
  -- The start of the endpoint's last answer, for the delivery log.
  last_response text check (length(last_response) <= 1000),
  last_duration_ms integer check (last_duration_ms >= 0),
  delivered_at timestamptz,
  redeliveries integer not null default 0 check (redeliveries >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint webhook_deliveries_subscription_event_key unique (org_id, subscription_id, event_id),
  constraint webhook_deliveries_subscription_fkey foreign key (org_id, subscription_id)
    references app.webhook_subscriptions (org_id, id) on delete cascade,
  constraint webhook_deliveries_event_fkey foreign key (org_id, event_id)
    references app.webhook_events (org_id, id) on delete cascade
);
comment on table app.webhook_deliveries is 'The webhook outbox: one row per (subscription, event) with its status, attempts, next attempt, the last answer (status code, error, start of the body) and the claiming worker''s lease.';
-- Workers: due rows, and expired leases, across orgs.
create index webhook_deliveries_due_idx on app.webhook_deliveries (next_attempt_at, id) where status = 'pending';
create index webhook_deliveries_leased_idx on app.webhook_deliveries (lease_until) where status = 'sending';
-- The delivery log of one subscription, newest first.
create index webhook_deliveries_org_subscription_idx on app.webhook_deliveries (org_id, subscription_id, created_at desc, id desc);
-- Deleting an event (retention) finds its deliveries.
create index webhook_deliveries_org_event_idx on app.webhook_deliveries (org_id, event_id);
create index webhook_deliveries_created_idx on app.webhook_deliveries (created_at);

create trigger webhook_deliveries_touch_updated_at before update on app.webhook_deliveries
  for each row execute function app._touch_updated_at();

-- Tenants read their log; every write goes through the fan-out, the workers' functions and
-- app.redeliver_webhook.
alter table app.webhook_deliveries enable row level security;
alter table app.webhook_deliveries force row level security;
create policy "Webhook deliveries are visible to their own org" on app.webhook_deliveries
  for select to authenticated using (org_id = (select app.current_org_id()));
grant select on app.webhook_deliveries to authenticated;
grant all on app.webhook_deliveries to service_role;

-- ---------------------------------------------------------------------------
-- Payloads: bounded by construction (every value comes from a length-checked column, the
-- event data is at most 20,000 characters), never from a free-form document.
-- ---------------------------------------------------------------------------
create function app._iso_time(p_at timestamptz) returns text
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.to_char(pg_catalog.timezone('UTC', p_at), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  $$;
comment on function app._iso_time(timestamptz) is 'A time as the API writes it: ISO 8601 in UTC with milliseconds (2026-12-03T15:17:55.123Z); null stays null.';
revoke execute on function app._iso_time(timestamptz) from public;

-- The lead as a webhook shows it: what GET /leads/{id} shows, less the open-ended documents
-- (customFields, crmData, the enrichment document) a receiver can fetch when it needs them.
create function app._webhook_lead(p_lead app.leads) returns jsonb
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'id', p_lead.id, 'firstName', p_lead.first_name, 'lastName', p_lead.last_name, 'email', p_lead.email,
      'organizationName', p_lead.organization_name, 'businessType', p_lead.business_type, 'phone', p_lead.phone,
      'tier', p_lead.tier, 'status', p_lead.status,
      'stage', (select s.name from app.stages s where s.org_id = p_lead.org_id and s.id = p_lead.stage_id),
      'stageId', p_lead.stage_id,
      'title', p_lead.title, 'seniority', p_lead.seniority, 'companyName', p_lead.company_name,
      'linkedinUrl', p_lead.linkedin_url, 'companySize', p_lead.company_size, 'companyRevenue', p_lead.company_revenue,
      'enrichmentStatus', p_lead.enrichment_status, 'enrichedAt', app._iso_time(p_lead.enriched_at),
      'createdAt', app._iso_time(p_lead.created_at), 'updatedAt', app._iso_time(p_lead.updated_at),
      'deletedAt', app._iso_time(p_lead.deleted_at))
  $$;
comment on function app._webhook_lead(app.leads) is 'A lead as webhook payloads carry it: ids, names, email, company fields, tier, status, stage name and id, enrichment facts and status, times (no customFields, crmData or enrichment document).';
revoke execute on function app._webhook_lead(app.leads) from public;

-- ---------------------------------------------------------------------------
-- The fan-out: events (org, type, data) in, one app.webhook_events row per event some
-- enabled subscription of its org wants, and one delivery per such subscription. Called
-- once per statement by the triggers below with everything the statement produced.
-- ---------------------------------------------------------------------------
create function app._enqueue_webhooks(p_org_ids text[], p_types text[], p_data jsonb[]) returns integer
  language sql
  security definer
  set search_path = ''
  as $$
    with wanted as (
      select m.org_id, m.type, m.data
      from unnest(p_org_ids, p_types, p_data) m (org_id, type, data)
      where exists (select from app.webhook_subscriptions s
                    where s.org_id = m.org_id and s.enabled and s.event_types operator(pg_catalog.&&) array[m.type, '*'])
        -- An org being deleted (its leads going with it) reports nothing.
        and exists (select from app.orgs o where o.id = m.org_id)
    ), events as (
      insert into app.webhook_events (org_id, type, data)
      select w.org_id, w.type, w.data from wanted w
      returning org_id, id, type
    ), deliveries as (
      insert into app.webhook_deliveries (org_id, subscription_id, event_id)
      select e.org_id, s.id, e.id
      from events e
      join app.webhook_subscriptions s
        on s.org_id = e.org_id and s.enabled and s.event_types operator(pg_catalog.&&) array[e.type, '*']
      returning 1
    )
    select count(*)::integer from deliveries
  $$;
comment on function app._enqueue_webhooks(text[], text[], jsonb[]) is 'The webhook fan-out: for each (org, type, data) an enabled subscription of the org wants, one webhook event and one pending delivery per such subscription; returns how many deliveries.';
revoke execute on function app._enqueue_webhooks(text[], text[], jsonb[]) from public;

-- Leads created: lead.created, after the first score (name order). The lead limit is checked
-- after this (leads_90_enforce_limit), and a refused insert takes these rows back with it.
create function app._lead_webhooks_created() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    if not exists (select from app.webhook_subscriptions s where s.enabled and s.org_id in (select n.org_id from new_leads n)) then
      return null;
    end if;
    perform app._enqueue_webhooks(array_agg(n.org_id), array_agg('lead.created'::text),
      array_agg(pg_catalog.jsonb_build_object('lead', app._webhook_lead(n))))
    from new_leads n;
    return null;
  end;
  $$;
comment on function app._lead_webhooks_created() is 'Statement trigger: lead.created for every inserted lead of an org with a subscriber.';
revoke execute on function app._lead_webhooks_created() from public;

create trigger leads_40_webhook_created after insert on app.leads
  referencing new table as new_leads
  for each statement execute function app._lead_webhooks_created();

-- Leads changed: lead.deleted (soft delete), enrichment.completed (a run stored its
-- findings) or lead.updated (a field an agent sees changed, or a restore), at most one per
-- lead and statement. Stage moves are reported from their stage_changed event (below); a
-- write that changes nothing visible (updated_at, last touch, enrichment in progress)
-- reports nothing.
create function app._lead_webhooks_changed() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    if not exists (select from app.webhook_subscriptions s where s.enabled and s.org_id in (select n.org_id from new_leads n)) then
      return null;
    end if;
    perform app._enqueue_webhooks(array_agg(c.org_id), array_agg(c.type), array_agg(c.data))
    from (
      select n.org_id,
        case when p.soft_deleted then 'lead.deleted'
             when p.enriched then 'enrichment.completed'
             else 'lead.updated' end as type,
        case when p.soft_deleted then pg_catalog.jsonb_build_object('lead', app._webhook_lead(n), 'permanent', false)
             when p.enriched then pg_catalog.jsonb_build_object('lead', app._webhook_lead(n),
               'tier', n.enrichment -> 'tier', 'sources', n.enrichment -> 'sources',
               'confidence', n.enrichment -> 'confidence' -> 'overall', 'confidenceLabel', n.enrichment -> 'confidence' -> 'label',
               'changedFields', pg_catalog.to_jsonb(p.changed))
             else pg_catalog.jsonb_build_object('lead', app._webhook_lead(n), 'changedFields', pg_catalog.to_jsonb(p.changed),
               'previous', (select coalesce(pg_catalog.jsonb_object_agg(f.key, f.value), '{}'::jsonb)
                            from pg_catalog.jsonb_each(app._webhook_lead(o)) f where f.key = any (p.changed)))
        end as data,
        p.soft_deleted or p.enriched or pg_catalog.cardinality(p.changed) > 0 as report
      from new_leads n
      join old_leads o on o.org_id = n.org_id and o.id = n.id
      cross join lateral (
        select n.deleted_at is not null and o.deleted_at is null as soft_deleted,
               n.enrichment_status = 'complete'
                 and (o.enrichment_status <> 'complete' or n.enriched_at is distinct from o.enriched_at) as enriched,
               array_remove(array[
                 case when n.first_name is distinct from o.first_name then 'firstName' end,
                 case when n.last_name is distinct from o.last_name then 'lastName' end,
                 case when n.email is distinct from o.email then 'email' end,
                 case when n.organization_name is distinct from o.organization_name then 'organizationName' end,
                 case when n.business_type is distinct from o.business_type then 'businessType' end,
                 case when n.phone is distinct from o.phone then 'phone' end,
                 case when n.tier is distinct from o.tier then 'tier' end,
                 case when n.status is distinct from o.status then 'status' end,
                 case when n.custom_fields is distinct from o.custom_fields then 'customFields' end,
                 case when n.crm_data is distinct from o.crm_data then 'crmData' end,
                 case when n.title is distinct from o.title then 'title' end,
                 case when n.seniority is distinct from o.seniority then 'seniority' end,
                 case when n.company_name is distinct from o.company_name then 'companyName' end,
                 case when n.linkedin_url is distinct from o.linkedin_url then 'linkedinUrl' end,
                 case when n.company_size is distinct from o.company_size then 'companySize' end,
                 case when n.company_revenue is distinct from o.company_revenue then 'companyRevenue' end,
                 case when n.deleted_at is null and o.deleted_at is not null then 'deletedAt' end
               ], null) as changed
      ) p
    ) c
    where c.report;
    return null;
  end;
  $$;
comment on function app._lead_webhooks_changed() is 'Statement trigger: lead.deleted (soft delete), enrichment.completed (a completed run) or lead.updated (visible fields changed, with changedFields and previous values) per updated lead of an org with a subscriber; nothing for writes that change nothing visible.';
revoke execute on function app._lead_webhooks_changed() from public;

create trigger leads_webhook_changed after update on app.leads
  referencing old table as old_leads new table as new_leads
  for each statement execute function app._lead_webhooks_changed();

create function app._lead_webhooks_deleted() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    if not exists (select from app.webhook_subscriptions s where s.enabled and s.org_id in (select o.org_id from old_leads o)) then
      return null;
    end if;
    perform app._enqueue_webhooks(array_agg(o.org_id), array_agg('lead.deleted'::text),
      array_agg(pg_catalog.jsonb_build_object('lead', app._webhook_lead(o), 'permanent', true)))
    from old_leads o;
    return null;
  end;
  $$;
comment on function app._lead_webhooks_deleted() is 'Statement trigger: lead.deleted with permanent: true for every lead deleted for good, of an org with a subscriber.';
revoke execute on function app._lead_webhooks_deleted() from public;

create trigger leads_webhook_deleted after delete on app.leads
  referencing old table as old_leads
  for each statement execute function app._lead_webhooks_deleted();

-- Engagement events and stage moves: every app.events type the catalogue maps (its
-- source_event) becomes that webhook type, with the lead and the event's own data.
create function app._event_webhooks() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    if not exists (select from app.webhook_subscriptions s where s.enabled and s.org_id in (select n.org_id from new_events n)) then
      return null;
    end if;
    perform app._enqueue_webhooks(array_agg(n.org_id), array_agg(t.name),
      array_agg(n.data operator(pg_catalog.||) pg_catalog.jsonb_build_object(
        'lead', app._webhook_lead(l), 'eventId', n.id, 'occurredAt', app._iso_time(n.occurred_at), 'source', n.source)))
    from new_events n
    join app.webhook_event_types t on t.source_event = n.type
    join app.leads l on l.org_id = n.org_id and l.id = n.lead_id;
    return null;
  end;
  $$;
comment on function app._event_webhooks() is 'Statement trigger: each new engagement event whose type the webhook catalogue maps (stage_changed, email_sent, quiz_completed, …) becomes that webhook event, with the lead, for orgs with a subscriber.';
revoke execute on function app._event_webhooks() from public;

create trigger events_50_webhooks after insert on app.events
  referencing new table as new_events
  for each statement execute function app._event_webhooks();

-- Feedback answered: each response the operator gives (respond_to_feedback stamps a new
-- responded_at every time), or a human writes in Studio.
create function app._feedback_webhooks() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    if not exists (select from app.webhook_subscriptions s where s.enabled and s.org_id in (select n.org_id from new_feedback n)) then
      return null;
    end if;
    perform app._enqueue_webhooks(array_agg(n.org_id), array_agg('feedback.answered'::text),
      array_agg(pg_catalog.jsonb_build_object('feedbackId', n.id, 'title', n.title, 'type', n.type, 'status', n.status,
        'response', n.response, 'respondedAt', app._iso_time(n.responded_at), 'createdAt', app._iso_time(n.created_at))))
    from new_feedback n
    join old_feedback o on o.org_id = n.org_id and o.id = n.id
    where n.response is not null and n.responded_at is distinct from o.responded_at;
    return null;
  end;
  $$;
comment on function app._feedback_webhooks() is 'Statement trigger: feedback.answered for each feedback item given a response, of an org with a subscriber.';
revoke execute on function app._feedback_webhooks() from public;

create trigger feedback_webhook_answered after update on app.feedback
  referencing old table as old_feedback new table as new_feedback
  for each statement execute function app._feedback_webhooks();

-- ---------------------------------------------------------------------------
-- Tenants: create (the secret shown once), rotate, redeliver.
-- ---------------------------------------------------------------------------
create function app.create_webhook_subscription(p_url text, p_event_types text[], p_description text default null,
  p_enabled boolean default true)
  returns table (id text, secret text)
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_secret constant text := app._webhook_secret();
  begin
    insert into app.webhook_subscriptions as s (url, event_types, description, enabled, secret)
    values (p_url, p_event_types, p_description, coalesce(p_enabled, true), v_secret)
    returning s.id into id;
    secret := v_secret;
    return next;
  end;
  $$;
comment on function app.create_webhook_subscription(text, text[], text, boolean) is 'Creates a webhook subscription in the current org and returns its id and signing secret, the only time the secret is shown.';
revoke execute on function app.create_webhook_subscription(text, text[], text, boolean) from public;
grant execute on function app.create_webhook_subscription(text, text[], text, boolean) to authenticated, service_role;

create function app.rotate_webhook_secret(p_id text) returns table (id text, secret text, previous_secret_expires_at timestamptz)
  language plpgsql
  -- Moves the current secret aside, which needs reading it: no tenant may.
  security definer
  set search_path = ''
  as $$
  declare
    v_secret constant text := app._webhook_secret();
  begin
    -- Security definer: the role rule (a viewer writes nothing) is checked here.
    perform app.ensure_can_write();
    update app.webhook_subscriptions s
    set previous_secret = s.secret, previous_secret_expires_at = pg_catalog.now() + interval '24 hours', secret = v_secret
    where s.org_id = app.current_org_id() and s.id = p_id
    returning s.id, s.previous_secret_expires_at into id, previous_secret_expires_at;
    if id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Webhook subscription %s not found', p_id),
        'Check the id with GET /api/openclaw/webhooks; subscriptions of other workspaces are not visible.');
    end if;
    secret := v_secret;
    return next;
  end;
  $$;
comment on function app.rotate_webhook_secret(text) is 'Issues a new signing secret for one of the caller''s subscriptions and returns it (shown once); the old one keeps signing alongside for 24 hours.';
revoke execute on function app.rotate_webhook_secret(text) from public;
grant execute on function app.rotate_webhook_secret(text) to authenticated, service_role;

create function app.redeliver_webhook(p_subscription_id text, p_delivery_id text) returns void
  language plpgsql
  -- Tenants read deliveries but write none of their columns.
  security definer
  set search_path = ''
  as $$
  declare
    v_status text;
    v_enabled boolean;
    v_next timestamptz;
  begin
    -- Security definer: the role rule (a viewer writes nothing) is checked here.
    perform app.ensure_can_write();
    select d.status, s.enabled, d.next_attempt_at into v_status, v_enabled, v_next
    from app.webhook_deliveries d
    join app.webhook_subscriptions s on s.org_id = d.org_id and s.id = d.subscription_id
    where d.org_id = app.current_org_id() and d.subscription_id = p_subscription_id and d.id = p_delivery_id
    for update of d;
    if v_status is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Delivery %s of webhook subscription %s not found', p_delivery_id, p_subscription_id),
        pg_catalog.format('GET /api/openclaw/webhooks/%s/deliveries lists the subscription''s deliveries.', p_subscription_id));
    end if;
    if not v_enabled then
      perform app.refuse(409, 'webhook_disabled', pg_catalog.format('Webhook subscription %s is disabled', p_subscription_id),
        pg_catalog.format('Fix the endpoint, then PATCH /api/openclaw/webhooks/%s { "enabled": true }: deliveries still pending go out at once, and this one can be redelivered.', p_subscription_id));
    end if;
    if v_status in ('pending', 'sending') then
      perform app.refuse(409, 'delivery_in_progress', pg_catalog.format('Delivery %s is %s', p_delivery_id, v_status),
        pg_catalog.format('It is already being retried (next attempt at %s); redeliver a delivered or failed one.',
          app._iso_time(v_next)));
    end if;
    update app.webhook_deliveries d
    set status = 'pending', next_attempt_at = pg_catalog.now(), attempts = 0, redeliveries = d.redeliveries + 1, delivered_at = null
    where d.org_id = app.current_org_id() and d.id = p_delivery_id;
  end;
  $$;
comment on function app.redeliver_webhook(text, text) is 'Sends a delivered or failed delivery of one of the caller''s enabled subscriptions again, under the same webhook-id, with a fresh retry schedule; 404 unknown, 409 disabled or still in progress.';
revoke execute on function app.redeliver_webhook(text, text) from public;
grant execute on function app.redeliver_webhook(text, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Delivery: the schedule, claims, outcomes.
-- ---------------------------------------------------------------------------
-- After failed attempt n: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (the 8th attempt is the
-- last): 27 h 35 min of retries, each wait stretched by up to 20 % of random jitter (never
-- shortened, so a delivery is retried for at least 24 hours).
create function app.webhook_retry_delay(p_attempt integer) returns interval
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select (array[interval '5 seconds', interval '5 minutes', interval '30 minutes', interval '2 hours',
                  interval '5 hours', interval '10 hours', interval '10 hours'])[p_attempt]
  $$;
comment on function app.webhook_retry_delay(integer) is 'The wait after failed attempt p_attempt before the next (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, before jitter); null after the 8th attempt: the delivery has failed.';
revoke execute on function app.webhook_retry_delay(integer) from public;
grant execute on function app.webhook_retry_delay(integer) to authenticated, service_role;

-- A worker that died mid-delivery: its lease ran out, so nobody knows whether the endpoint
-- got it. Sent again at once (at least once), under the same webhook-id; not counted
-- against the endpoint, whose answer never came.
create function app.release_expired_webhook_claims(p_now timestamptz default now()) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    update app.webhook_deliveries d
    set status = case when app.webhook_retry_delay(d.attempts) is null then 'failed' else 'pending' end,
        next_attempt_at = p_now, lease_until = null, claimed_by = null,
        last_error = pg_catalog.format('%s stopped before the endpoint answered (its lease ran out at %s)%s',
          coalesce(d.claimed_by, 'a worker'), app._iso_time(d.lease_until),
          case when app.webhook_retry_delay(d.attempts) is null then '; that was the last attempt' else ': sent again' end)
    where d.status = 'sending' and d.lease_until < p_now;
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.release_expired_webhook_claims(timestamptz) is 'Workers: deliveries whose worker''s lease ran out go back to pending, due at once (failed if that was the last attempt); returns how many.';
revoke execute on function app.release_expired_webhook_claims(timestamptz) from public;
grant execute on function app.release_expired_webhook_claims(timestamptz) to service_role;

create function app.claim_webhook_deliveries(p_worker text, p_limit integer default 20, p_lease interval default '60 seconds',
  p_now timestamptz default now())
  returns setof jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    if p_worker is null or length(p_worker) not between 1 and 200 or p_limit not between 1 and 1000 or p_lease <= interval '0' then
      perform app.refuse(400, 'invalid_claim', 'claim_webhook_deliveries needs a worker name (1-200 characters), a limit of 1-1000 and a positive lease',
        'Call app.claim_webhook_deliveries(''worker-1'', 20, ''60 seconds'').');
    end if;
    perform app.release_expired_webhook_claims(p_now);
    return query
    with due as (
      select d.org_id, d.id
      from app.webhook_deliveries d
      where d.status = 'pending' and d.next_attempt_at <= p_now
        and exists (select from app.webhook_subscriptions s where s.org_id = d.org_id and s.id = d.subscription_id and s.enabled)
      order by d.next_attempt_at, d.id
      limit p_limit
      for update of d skip locked
    ), claimed as (
      update app.webhook_deliveries d
      set status = 'sending', attempts = d.attempts + 1, claimed_by = p_worker, lease_until = p_now + p_lease, last_attempt_at = p_now
      from due
      where d.org_id = due.org_id and d.id = due.id
      returning d.org_id, d.id, d.subscription_id, d.event_id, d.attempts
    )
    select pg_catalog.jsonb_build_object(
      'id', c.id, 'orgId', c.org_id, 'subscriptionId', c.subscription_id, 'attempt', c.attempts,
      'webhookId', e.id, 'type', e.type, 'timestamp', app._iso_time(e.occurred_at), 'data', e.data,
      'url', s.url,
      'secrets', pg_catalog.to_jsonb(array_remove(array[s.secret,
        case when s.previous_secret_expires_at > p_now then s.previous_secret end], null)))
    from claimed c
    join app.webhook_subscriptions s on s.org_id = c.org_id and s.id = c.subscription_id
    join app.webhook_events e on e.org_id = c.org_id and e.id = c.event_id;
  end;
  $$;
comment on function app.claim_webhook_deliveries(text, integer, interval, timestamptz) is 'Workers: releases expired leases, then claims up to p_limit due deliveries of enabled subscriptions across orgs (for update skip locked, leased for p_lease); returns what each needs: webhook-id, body parts, URL and signing secrets.';
revoke execute on function app.claim_webhook_deliveries(text, integer, interval, timestamptz) from public;
grant execute on function app.claim_webhook_deliveries(text, integer, interval, timestamptz) to service_role;

create function app.complete_webhook_delivery(p_org_id text, p_delivery_id text, p_worker text, p_status_code integer,
  p_duration_ms integer, p_response text, p_now timestamptz default now())
  returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_subscription_id text;
  begin
    update app.webhook_deliveries d
    set status = 'delivered', delivered_at = p_now, lease_until = null, last_status_code = p_status_code, last_error = null,
        last_response = left(p_response, 1000), last_duration_ms = greatest(p_duration_ms, 0)
    where d.org_id = p_org_id and d.id = p_delivery_id and d.status = 'sending' and d.claimed_by = p_worker
    returning d.subscription_id into v_subscription_id;
    if v_subscription_id is null then
      -- The lease ran out and the delivery was released (or taken by another worker): it
      -- goes out again; the receiver deduplicates on webhook-id.
      return false;
    end if;
    update app.webhook_subscriptions s
    set failing_since = null, consecutive_failures = 0, last_success_at = p_now
    where s.org_id = p_org_id and s.id = v_subscription_id;
    return true;
  end;
  $$;
comment on function app.complete_webhook_delivery(text, text, text, integer, integer, text, timestamptz) is 'Workers: the endpoint answered 2xx: the delivery is delivered and the subscription''s failure streak ends; false when the worker no longer held the delivery.';
revoke execute on function app.complete_webhook_delivery(text, text, text, integer, integer, text, timestamptz) from public;
grant execute on function app.complete_webhook_delivery(text, text, text, integer, integer, text, timestamptz) to service_role;

-- A failed attempt: retried after the schedule's wait (with jitter), or failed for good
-- after the 8th. The endpoint's streak grows; an endpoint whose every attempt has failed
-- for 24 hours, at least 8 in a row (so a whole retry schedule, or a day of steady
-- traffic), is disabled with the reason, and GET /health tells the org.
create function app.fail_webhook_delivery(p_org_id text, p_delivery_id text, p_worker text, p_status_code integer,
  p_error text, p_duration_ms integer, p_response text, p_now timestamptz default now())
  returns text
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.webhook_deliveries;
    v_delay interval;
    v_sub app.webhook_subscriptions;
  begin
    select * into v_row from app.webhook_deliveries d
    where d.org_id = p_org_id and d.id = p_delivery_id and d.status = 'sending' and d.claimed_by = p_worker
    for update;
    if v_row.id is null then
      return 'ignored';
    end if;
    v_delay := app.webhook_retry_delay(v_row.attempts);
    update app.webhook_deliveries d
    set status = case when v_delay is null then 'failed' else 'pending' end,
        next_attempt_at = case when v_delay is null then d.next_attempt_at
                               else p_now + v_delay * (1 + 0.2 * pg_catalog.random()) end,
        lease_until = null, claimed_by = null, last_status_code = p_status_code,
        last_error = left(coalesce(nullif(p_error, ''), 'the attempt failed'), 2000),
        last_response = left(p_response, 1000), last_duration_ms = greatest(p_duration_ms, 0)
    where d.org_id = v_row.org_id and d.id = v_row.id;

    update app.webhook_subscriptions s
    set consecutive_failures = s.consecutive_failures + 1, failing_since = coalesce(s.failing_since, p_now), last_failure_at = p_now
    where s.org_id = v_row.org_id and s.id = v_row.subscription_id
    returning * into v_sub;
    if v_sub.enabled and v_sub.consecutive_failures >= 8 and v_sub.failing_since <= p_now - interval '24 hours' then
      update app.webhook_subscriptions s
      set enabled = false, disabled_at = p_now,
          disabled_reason = left(pg_catalog.format(
            'Disabled at %s: every delivery attempt since %s failed (%s in a row; the last: %s)',
            app._iso_time(p_now), app._iso_time(v_sub.failing_since), v_sub.consecutive_failures,
            coalesce(nullif(p_error, ''), 'HTTP ' || p_status_code)), 2000)
      where s.org_id = v_sub.org_id and s.id = v_sub.id;
      return 'disabled';
    end if;
    return case when v_delay is null then 'failed' else 'retry' end;
  end;
  $$;
comment on function app.fail_webhook_delivery(text, text, text, integer, text, integer, text, timestamptz) is 'Workers: a failed attempt (non-2xx, timeout, refused URL): retried after app.webhook_retry_delay plus up to 20 % jitter, failed after the 8th; the subscription is disabled once every attempt for 24 hours (at least 8 in a row) failed. Returns retry, failed, disabled or ignored (no longer this worker''s).';
revoke execute on function app.fail_webhook_delivery(text, text, text, integer, text, integer, text, timestamptz) from public;
grant execute on function app.fail_webhook_delivery(text, text, text, integer, text, integer, text, timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Retention: the delivery log keeps 30 days (a delivery still in flight is kept), and an
-- event goes with its last delivery.
-- ---------------------------------------------------------------------------
create function app.purge_webhook_deliveries(p_keep interval default '30 days') returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    delete from app.webhook_deliveries d
    where d.created_at < pg_catalog.now() - p_keep and d.status <> 'sending';
    get diagnostics v_count = row_count;
    delete from app.webhook_events e
    where e.created_at < pg_catalog.now() - p_keep
      and not exists (select from app.webhook_deliveries d where d.org_id = e.org_id and d.event_id = e.id);
    return v_count;
  end;
  $$;
comment on function app.purge_webhook_deliveries(interval) is 'Deletes webhook deliveries older than p_keep (not those being sent) and events left without deliveries; returns how many deliveries.';
revoke execute on function app.purge_webhook_deliveries(interval) from public;
grant execute on function app.purge_webhook_deliveries(interval) to service_role;
