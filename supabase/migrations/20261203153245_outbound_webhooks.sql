-- Outbound webhooks (sql/86_webhooks.sql): signed Standard Webhooks deliveries of what
-- happens in an org, through an outbox written in the same transaction as the change.
--
--   * app.webhook_event_types: the event catalogue (reference data, inserted below);
--   * app.webhook_subscriptions: an org's endpoints; tenants get column privileges on every
--     column but the signing secrets (HMAC needs the secret itself, so it is kept, unreadable
--     by any API role, and shown only on create and rotation);
--   * app.webhook_events and app.webhook_deliveries: the outbox, claimed by workers with
--     for update skip locked, retried 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (+ jitter);
--   * statement triggers that fan changes out in the changing transaction: leads_webhook_*
--     on app.leads, events_50_webhooks on app.events, feedback_webhook_answered on
--     app.feedback (cheap for orgs without subscriptions: one indexed existence check);
--   * the job purge-webhook-deliveries (daily, 30 days of delivery log), registered below.
-- Nothing existing changes: new tables, functions and triggers only.
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand: the secret generator moved first (the subscriptions table's default
-- calls it), and added what migra leaves out: forced row-level security, column
-- privileges, the catalogue's rows and the job.

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app._webhook_secret()
 RETURNS text
 LANGUAGE sql
 SET search_path TO ''
AS $function$
    select 'whsec_' || pg_catalog.encode(pg_catalog.decode(app._random_hex(64), 'hex'), 'base64')
  $function$
;

  create table "app"."webhook_deliveries" (
    "id" text not null default app.new_id('whdlv'::text),
    "org_id" text not null,
    "subscription_id" text not null,
    "event_id" text not null,
    "status" text not null default 'pending'::text,
    "attempts" integer not null default 0,
    "next_attempt_at" timestamp with time zone not null default now(),
    "claimed_by" text,
    "lease_until" timestamp with time zone,
    "last_attempt_at" timestamp with time zone,
    "last_status_code" integer,
    "last_error" text,
    "last_response" text,
    "last_duration_ms" integer,
    "delivered_at" timestamp with time zone,
    "redeliveries" integer not null default 0,
    "created_at" timestamp with time zone not null default now(),
    "updated_at" timestamp with time zone not null default now()
      );


alter table "app"."webhook_deliveries" enable row level security;
alter table "app"."webhook_deliveries" force row level security;


  create table "app"."webhook_event_types" (
    "name" text not null,
    "description" text not null,
    "data" text not null,
    "source_event" text,
    "position" integer not null
      );


alter table "app"."webhook_event_types" enable row level security;
alter table "app"."webhook_event_types" force row level security;


  create table "app"."webhook_events" (
    "id" text not null default app.new_id('whmsg'::text),
    "org_id" text not null,
    "type" text not null,
    "occurred_at" timestamp with time zone not null default now(),
    "data" jsonb not null,
    "created_at" timestamp with time zone not null default now()
      );


alter table "app"."webhook_events" enable row level security;
alter table "app"."webhook_events" force row level security;


  create table "app"."webhook_subscriptions" (
    "id" text not null default app.new_id('wh'::text),
    "org_id" text not null default app.current_org_id(),
    "url" text not null,
    "event_types" text[] not null,
    "description" text,
    "enabled" boolean not null default true,
    "secret" text not null default app._webhook_secret(),
    "previous_secret" text,
    "previous_secret_expires_at" timestamp with time zone,
    "disabled_at" timestamp with time zone,
    "disabled_reason" text,
    "failing_since" timestamp with time zone,
    "consecutive_failures" integer not null default 0,
    "last_success_at" timestamp with time zone,
    "last_failure_at" timestamp with time zone,
    "created_by" text not null default app.current_actor(),
    "created_at" timestamp with time zone not null default now(),
    "updated_at" timestamp with time zone not null default now()
      );


alter table "app"."webhook_subscriptions" enable row level security;
alter table "app"."webhook_subscriptions" force row level security;

CREATE INDEX webhook_deliveries_created_idx ON app.webhook_deliveries USING btree (created_at);

CREATE INDEX webhook_deliveries_due_idx ON app.webhook_deliveries USING btree (next_attempt_at, id) WHERE (status = 'pending'::text);

CREATE INDEX webhook_deliveries_leased_idx ON app.webhook_deliveries USING btree (lease_until) WHERE (status = 'sending'::text);

CREATE INDEX webhook_deliveries_org_event_idx ON app.webhook_deliveries USING btree (org_id, event_id);

CREATE INDEX webhook_deliveries_org_subscription_idx ON app.webhook_deliveries USING btree (org_id, subscription_id, created_at DESC, id DESC);

CREATE UNIQUE INDEX webhook_deliveries_pkey ON app.webhook_deliveries USING btree (org_id, id);

CREATE UNIQUE INDEX webhook_deliveries_subscription_event_key ON app.webhook_deliveries USING btree (org_id, subscription_id, event_id);

CREATE UNIQUE INDEX webhook_event_types_pkey ON app.webhook_event_types USING btree (name);

CREATE UNIQUE INDEX webhook_event_types_position_key ON app.webhook_event_types USING btree ("position");

CREATE UNIQUE INDEX webhook_event_types_source_event_key ON app.webhook_event_types USING btree (source_event);

CREATE INDEX webhook_events_created_idx ON app.webhook_events USING btree (created_at);

CREATE UNIQUE INDEX webhook_events_pkey ON app.webhook_events USING btree (org_id, id);

CREATE INDEX webhook_subscriptions_org_enabled_idx ON app.webhook_subscriptions USING btree (org_id) WHERE enabled;

CREATE UNIQUE INDEX webhook_subscriptions_pkey ON app.webhook_subscriptions USING btree (org_id, id);

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_pkey" PRIMARY KEY using index "webhook_deliveries_pkey";

alter table "app"."webhook_event_types" add constraint "webhook_event_types_pkey" PRIMARY KEY using index "webhook_event_types_pkey";

alter table "app"."webhook_events" add constraint "webhook_events_pkey" PRIMARY KEY using index "webhook_events_pkey";

alter table "app"."webhook_subscriptions" add constraint "webhook_subscriptions_pkey" PRIMARY KEY using index "webhook_subscriptions_pkey";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_attempts_check" CHECK ((attempts >= 0)) not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_attempts_check";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_claimed_by_check" CHECK ((length(claimed_by) <= 200)) not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_claimed_by_check";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_event_fkey" FOREIGN KEY (org_id, event_id) REFERENCES app.webhook_events(org_id, id) ON DELETE CASCADE not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_event_fkey";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_last_duration_ms_check" CHECK ((last_duration_ms >= 0)) not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_last_duration_ms_check";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_last_error_check" CHECK ((length(last_error) <= 2000)) not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_last_error_check";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_last_response_check" CHECK ((length(last_response) <= 1000)) not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_last_response_check";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_last_status_code_check" CHECK (((last_status_code >= 100) AND (last_status_code <= 599))) not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_last_status_code_check";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_org_id_fkey";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_redeliveries_check" CHECK ((redeliveries >= 0)) not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_redeliveries_check";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_status_check" CHECK ((status = ANY (ARRAY['pending'::text, 'sending'::text, 'delivered'::text, 'failed'::text]))) not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_status_check";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_subscription_event_key" UNIQUE using index "webhook_deliveries_subscription_event_key";

alter table "app"."webhook_deliveries" add constraint "webhook_deliveries_subscription_fkey" FOREIGN KEY (org_id, subscription_id) REFERENCES app.webhook_subscriptions(org_id, id) ON DELETE CASCADE not valid;

alter table "app"."webhook_deliveries" validate constraint "webhook_deliveries_subscription_fkey";

alter table "app"."webhook_event_types" add constraint "webhook_event_types_name_check" CHECK ((name ~ '^[a-z]+\.[a-z_]+$'::text)) not valid;

alter table "app"."webhook_event_types" validate constraint "webhook_event_types_name_check";

alter table "app"."webhook_event_types" add constraint "webhook_event_types_position_key" UNIQUE using index "webhook_event_types_position_key";

alter table "app"."webhook_event_types" add constraint "webhook_event_types_source_event_fkey" FOREIGN KEY (source_event) REFERENCES app.event_types(name) not valid;

alter table "app"."webhook_event_types" validate constraint "webhook_event_types_source_event_fkey";

alter table "app"."webhook_event_types" add constraint "webhook_event_types_source_event_key" UNIQUE using index "webhook_event_types_source_event_key";

alter table "app"."webhook_events" add constraint "webhook_events_data_check" CHECK ((jsonb_typeof(data) = 'object'::text)) not valid;

alter table "app"."webhook_events" validate constraint "webhook_events_data_check";

alter table "app"."webhook_events" add constraint "webhook_events_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE not valid;

alter table "app"."webhook_events" validate constraint "webhook_events_org_id_fkey";

alter table "app"."webhook_events" add constraint "webhook_events_type_fkey" FOREIGN KEY (type) REFERENCES app.webhook_event_types(name) not valid;

alter table "app"."webhook_events" validate constraint "webhook_events_type_fkey";

alter table "app"."webhook_subscriptions" add constraint "webhook_subscriptions_consecutive_failures_check" CHECK ((consecutive_failures >= 0)) not valid;

alter table "app"."webhook_subscriptions" validate constraint "webhook_subscriptions_consecutive_failures_check";

alter table "app"."webhook_subscriptions" add constraint "webhook_subscriptions_description_check" CHECK ((length(description) <= 500)) not valid;

alter table "app"."webhook_subscriptions" validate constraint "webhook_subscriptions_description_check";

alter table "app"."webhook_subscriptions" add constraint "webhook_subscriptions_disabled_reason_check" CHECK ((length(disabled_reason) <= 2000)) not valid;

alter table "app"."webhook_subscriptions" validate constraint "webhook_subscriptions_disabled_reason_check";

alter table "app"."webhook_subscriptions" add constraint "webhook_subscriptions_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE not valid;

alter table "app"."webhook_subscriptions" validate constraint "webhook_subscriptions_org_id_fkey";

alter table "app"."webhook_subscriptions" add constraint "webhook_subscriptions_previous_secret_check" CHECK ((previous_secret ~ '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$'::text)) not valid;

alter table "app"."webhook_subscriptions" validate constraint "webhook_subscriptions_previous_secret_check";

alter table "app"."webhook_subscriptions" add constraint "webhook_subscriptions_secret_check" CHECK ((secret ~ '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$'::text)) not valid;

alter table "app"."webhook_subscriptions" validate constraint "webhook_subscriptions_secret_check";

alter table "app"."webhook_subscriptions" add constraint "webhook_subscriptions_url_check" CHECK (((length(url) <= 2000) AND (url ~ '^https?://[^\s/?#]+'::text))) not valid;

alter table "app"."webhook_subscriptions" validate constraint "webhook_subscriptions_url_check";


CREATE OR REPLACE FUNCTION app._check_webhook_subscription()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._enqueue_webhooks(p_org_ids text[], p_types text[], p_data jsonb[])
 RETURNS integer
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._event_webhooks()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._feedback_webhooks()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._iso_time(p_at timestamp with time zone)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
    select pg_catalog.to_char(pg_catalog.timezone('UTC', p_at), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  $function$
;

CREATE OR REPLACE FUNCTION app._lead_webhooks_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app._lead_webhooks_created()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    if not exists (select from app.webhook_subscriptions s where s.enabled and s.org_id in (select n.org_id from new_leads n)) then
      return null;
    end if;
    perform app._enqueue_webhooks(array_agg(n.org_id), array_agg('lead.created'::text),
      array_agg(pg_catalog.jsonb_build_object('lead', app._webhook_lead(n))))
    from new_leads n;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._lead_webhooks_deleted()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    if not exists (select from app.webhook_subscriptions s where s.enabled and s.org_id in (select o.org_id from old_leads o)) then
      return null;
    end if;
    perform app._enqueue_webhooks(array_agg(o.org_id), array_agg('lead.deleted'::text),
      array_agg(pg_catalog.jsonb_build_object('lead', app._webhook_lead(o), 'permanent', true)))
    from old_leads o;
    return null;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._webhook_lead(p_lead app.leads)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.claim_webhook_deliveries(p_worker text, p_limit integer DEFAULT 20, p_lease interval DEFAULT '00:01:00'::interval, p_now timestamp with time zone DEFAULT now())
 RETURNS SETOF jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.complete_webhook_delivery(p_org_id text, p_delivery_id text, p_worker text, p_status_code integer, p_duration_ms integer, p_response text, p_now timestamp with time zone DEFAULT now())
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.create_webhook_subscription(p_url text, p_event_types text[], p_description text DEFAULT NULL::text, p_enabled boolean DEFAULT true)
 RETURNS TABLE(id text, secret text)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_secret constant text := app._webhook_secret();
  begin
    insert into app.webhook_subscriptions as s (url, event_types, description, enabled, secret)
    values (p_url, p_event_types, p_description, coalesce(p_enabled, true), v_secret)
    returning s.id into id;
    secret := v_secret;
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.fail_webhook_delivery(p_org_id text, p_delivery_id text, p_worker text, p_status_code integer, p_error text, p_duration_ms integer, p_response text, p_now timestamp with time zone DEFAULT now())
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.purge_webhook_deliveries(p_keep interval DEFAULT '30 days'::interval)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.redeliver_webhook(p_subscription_id text, p_delivery_id text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_status text;
    v_enabled boolean;
    v_next timestamptz;
  begin
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
  $function$
;

CREATE OR REPLACE FUNCTION app.release_expired_webhook_claims(p_now timestamp with time zone DEFAULT now())
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  $function$
;

CREATE OR REPLACE FUNCTION app.rotate_webhook_secret(p_id text)
 RETURNS TABLE(id text, secret text, previous_secret_expires_at timestamp with time zone)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_secret constant text := app._webhook_secret();
  begin
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
  $function$
;

CREATE OR REPLACE FUNCTION app.webhook_retry_delay(p_attempt integer)
 RETURNS interval
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO ''
AS $function$
    select (array[interval '5 seconds', interval '5 minutes', interval '30 minutes', interval '2 hours',
                  interval '5 hours', interval '10 hours', interval '10 hours'])[p_attempt]
  $function$
;

grant select on table "app"."webhook_deliveries" to "authenticated";

grant delete on table "app"."webhook_deliveries" to "service_role";

grant insert on table "app"."webhook_deliveries" to "service_role";

grant references on table "app"."webhook_deliveries" to "service_role";

grant select on table "app"."webhook_deliveries" to "service_role";

grant trigger on table "app"."webhook_deliveries" to "service_role";

grant truncate on table "app"."webhook_deliveries" to "service_role";

grant update on table "app"."webhook_deliveries" to "service_role";

grant select on table "app"."webhook_event_types" to "authenticated";

grant delete on table "app"."webhook_event_types" to "service_role";

grant insert on table "app"."webhook_event_types" to "service_role";

grant references on table "app"."webhook_event_types" to "service_role";

grant select on table "app"."webhook_event_types" to "service_role";

grant trigger on table "app"."webhook_event_types" to "service_role";

grant truncate on table "app"."webhook_event_types" to "service_role";

grant update on table "app"."webhook_event_types" to "service_role";

grant select on table "app"."webhook_events" to "authenticated";

grant delete on table "app"."webhook_events" to "service_role";

grant insert on table "app"."webhook_events" to "service_role";

grant references on table "app"."webhook_events" to "service_role";

grant select on table "app"."webhook_events" to "service_role";

grant trigger on table "app"."webhook_events" to "service_role";

grant truncate on table "app"."webhook_events" to "service_role";

grant update on table "app"."webhook_events" to "service_role";

grant delete on table "app"."webhook_subscriptions" to "authenticated";

grant delete on table "app"."webhook_subscriptions" to "service_role";

grant insert on table "app"."webhook_subscriptions" to "service_role";

grant references on table "app"."webhook_subscriptions" to "service_role";

grant select on table "app"."webhook_subscriptions" to "service_role";

grant trigger on table "app"."webhook_subscriptions" to "service_role";

grant truncate on table "app"."webhook_subscriptions" to "service_role";

grant update on table "app"."webhook_subscriptions" to "service_role";

-- The tenant's columns: everything but the two secrets.
grant select (id, org_id, url, event_types, description, enabled, previous_secret_expires_at, disabled_at, disabled_reason,
              failing_since, consecutive_failures, last_success_at, last_failure_at, created_by, created_at, updated_at)
  on app.webhook_subscriptions to authenticated;
grant insert (org_id, url, event_types, description, enabled, secret) on app.webhook_subscriptions to authenticated;
grant update (url, event_types, description, enabled) on app.webhook_subscriptions to authenticated;


  create policy "Webhook deliveries are visible to their own org"
  on "app"."webhook_deliveries"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Webhook event types are readable by every org"
  on "app"."webhook_event_types"
  as permissive
  for select
  to authenticated
using (true);



  create policy "Webhook events are visible to their own org"
  on "app"."webhook_events"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Webhook subscriptions are visible to their own org"
  on "app"."webhook_subscriptions"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Webhook subscriptions can be changed by their own org"
  on "app"."webhook_subscriptions"
  as permissive
  for update
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)))
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Webhook subscriptions can be created in the caller's org"
  on "app"."webhook_subscriptions"
  as permissive
  for insert
  to authenticated
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Webhook subscriptions can be deleted by their own org"
  on "app"."webhook_subscriptions"
  as permissive
  for delete
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));


CREATE TRIGGER events_50_webhooks AFTER INSERT ON app.events REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION app._event_webhooks();

CREATE TRIGGER feedback_webhook_answered AFTER UPDATE ON app.feedback REFERENCING OLD TABLE AS old_feedback NEW TABLE AS new_feedback FOR EACH STATEMENT EXECUTE FUNCTION app._feedback_webhooks();

CREATE TRIGGER leads_webhook_changed AFTER UPDATE ON app.leads REFERENCING OLD TABLE AS old_leads NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION app._lead_webhooks_changed();

CREATE TRIGGER leads_webhook_created AFTER INSERT ON app.leads REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION app._lead_webhooks_created();

CREATE TRIGGER leads_webhook_deleted AFTER DELETE ON app.leads REFERENCING OLD TABLE AS old_leads FOR EACH STATEMENT EXECUTE FUNCTION app._lead_webhooks_deleted();

CREATE TRIGGER webhook_deliveries_touch_updated_at BEFORE UPDATE ON app.webhook_deliveries FOR EACH ROW EXECUTE FUNCTION app._touch_updated_at();

CREATE TRIGGER webhook_subscriptions_check BEFORE INSERT OR UPDATE ON app.webhook_subscriptions FOR EACH ROW EXECUTE FUNCTION app._check_webhook_subscription();

CREATE TRIGGER webhook_subscriptions_touch_updated_at BEFORE UPDATE ON app.webhook_subscriptions FOR EACH ROW EXECUTE FUNCTION app._touch_updated_at();

-- Comments and function privileges (migra leaves them out).
comment on column app.webhook_subscriptions.disabled_reason is 'Why the CRM disabled the subscription (persistent delivery failure); null when enabled or switched off by the org.';
comment on column app.webhook_subscriptions.secret is 'The whsec_ signing secret. Kept as is because HMAC signing needs it; no API role has SELECT on it (column privileges), so it is shown only when created or rotated.';
comment on function app._check_webhook_subscription() is 'Trigger: refuses unknown event types (400, listing the catalogue) and a 21st subscription per org (409); normalises the types; resets the failure streak when re-enabled or pointed at another URL; stamps disabled_at.';
comment on function app._enqueue_webhooks(text[],text[],jsonb[]) is 'The webhook fan-out: for each (org, type, data) an enabled subscription of the org wants, one webhook event and one pending delivery per such subscription; returns how many deliveries.';
comment on function app._event_webhooks() is 'Statement trigger: each new engagement event whose type the webhook catalogue maps (stage_changed, email_sent, quiz_completed, …) becomes that webhook event, with the lead, for orgs with a subscriber.';
comment on function app._feedback_webhooks() is 'Statement trigger: feedback.answered for each feedback item given a response, of an org with a subscriber.';
comment on function app._iso_time(timestamp with time zone) is 'A time as the API writes it: ISO 8601 in UTC with milliseconds (2026-12-03T15:17:55.123Z); null stays null.';
comment on function app._lead_webhooks_changed() is 'Statement trigger: lead.deleted (soft delete), enrichment.completed (a completed run) or lead.updated (visible fields changed, with changedFields and previous values) per updated lead of an org with a subscriber; nothing for writes that change nothing visible.';
comment on function app._lead_webhooks_created() is 'Statement trigger: lead.created for every inserted lead of an org with a subscriber.';
comment on function app._lead_webhooks_deleted() is 'Statement trigger: lead.deleted with permanent: true for every lead deleted for good, of an org with a subscriber.';
comment on function app._webhook_lead(app.leads) is 'A lead as webhook payloads carry it: ids, names, email, company fields, tier, status, stage name and id, enrichment facts and status, times (no customFields, crmData or enrichment document).';
comment on function app._webhook_secret() is 'A new webhook signing secret: whsec_ followed by 32 random bytes in base64 (the Standard Webhooks form).';
comment on function app.claim_webhook_deliveries(text,integer,interval,timestamp with time zone) is 'Workers: releases expired leases, then claims up to p_limit due deliveries of enabled subscriptions across orgs (for update skip locked, leased for p_lease); returns what each needs: webhook-id, body parts, URL and signing secrets.';
comment on function app.complete_webhook_delivery(text,text,text,integer,integer,text,timestamp with time zone) is 'Workers: the endpoint answered 2xx: the delivery is delivered and the subscription''s failure streak ends; false when the worker no longer held the delivery.';
comment on function app.create_webhook_subscription(text,text[],text,boolean) is 'Creates a webhook subscription in the current org and returns its id and signing secret, the only time the secret is shown.';
comment on function app.fail_webhook_delivery(text,text,text,integer,text,integer,text,timestamp with time zone) is 'Workers: a failed attempt (non-2xx, timeout, refused URL): retried after app.webhook_retry_delay plus up to 20 % jitter, failed after the 8th; the subscription is disabled once every attempt for 24 hours (at least 8 in a row) failed. Returns retry, failed, disabled or ignored (no longer this worker''s).';
comment on function app.purge_webhook_deliveries(interval) is 'Deletes webhook deliveries older than p_keep (not those being sent) and events left without deliveries; returns how many deliveries.';
comment on function app.redeliver_webhook(text,text) is 'Sends a delivered or failed delivery of one of the caller''s enabled subscriptions again, under the same webhook-id, with a fresh retry schedule; 404 unknown, 409 disabled or still in progress.';
comment on function app.release_expired_webhook_claims(timestamp with time zone) is 'Workers: deliveries whose worker''s lease ran out go back to pending, due at once (failed if that was the last attempt); returns how many.';
comment on function app.rotate_webhook_secret(text) is 'Issues a new signing secret for one of the caller''s subscriptions and returns it (shown once); the old one keeps signing alongside for 24 hours.';
comment on function app.webhook_retry_delay(integer) is 'The wait after failed attempt p_attempt before the next (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, before jitter); null after the 8th attempt: the delivery has failed.';
comment on table app.webhook_deliveries is 'The webhook outbox: one row per (subscription, event) with its status, attempts, next attempt, the last answer (status code, error, start of the body) and the claiming worker''s lease.';
comment on table app.webhook_event_types is 'The outbound webhook event catalogue: each type, when it is sent, what its data holds, and the engagement event it reports (if any).';
comment on table app.webhook_events is 'Each event an org had a subscriber for when it happened: the body of its deliveries ({ type, timestamp, data }); its id is the webhook-id.';
comment on table app.webhook_subscriptions is 'Each org''s webhook endpoints: URL, event types, enabled, the signing secret (no API role can read it), and the endpoint''s failure streak.';
revoke all on function app._check_webhook_subscription() from public;
revoke all on function app._enqueue_webhooks(text[],text[],jsonb[]) from public;
revoke all on function app._event_webhooks() from public;
revoke all on function app._feedback_webhooks() from public;
revoke all on function app._iso_time(timestamp with time zone) from public;
revoke all on function app._lead_webhooks_changed() from public;
revoke all on function app._lead_webhooks_created() from public;
revoke all on function app._lead_webhooks_deleted() from public;
revoke all on function app._webhook_lead(app.leads) from public;
revoke all on function app._webhook_secret() from public; grant execute on function app._webhook_secret() to authenticated; grant execute on function app._webhook_secret() to service_role;
revoke all on function app.claim_webhook_deliveries(text,integer,interval,timestamp with time zone) from public; grant execute on function app.claim_webhook_deliveries(text,integer,interval,timestamp with time zone) to service_role;
revoke all on function app.complete_webhook_delivery(text,text,text,integer,integer,text,timestamp with time zone) from public; grant execute on function app.complete_webhook_delivery(text,text,text,integer,integer,text,timestamp with time zone) to service_role;
revoke all on function app.create_webhook_subscription(text,text[],text,boolean) from public; grant execute on function app.create_webhook_subscription(text,text[],text,boolean) to authenticated; grant execute on function app.create_webhook_subscription(text,text[],text,boolean) to service_role;
revoke all on function app.fail_webhook_delivery(text,text,text,integer,text,integer,text,timestamp with time zone) from public; grant execute on function app.fail_webhook_delivery(text,text,text,integer,text,integer,text,timestamp with time zone) to service_role;
revoke all on function app.purge_webhook_deliveries(interval) from public; grant execute on function app.purge_webhook_deliveries(interval) to service_role;
revoke all on function app.redeliver_webhook(text,text) from public; grant execute on function app.redeliver_webhook(text,text) to authenticated; grant execute on function app.redeliver_webhook(text,text) to service_role;
revoke all on function app.release_expired_webhook_claims(timestamp with time zone) from public; grant execute on function app.release_expired_webhook_claims(timestamp with time zone) to service_role;
revoke all on function app.rotate_webhook_secret(text) from public; grant execute on function app.rotate_webhook_secret(text) to authenticated; grant execute on function app.rotate_webhook_secret(text) to service_role;
revoke all on function app.webhook_retry_delay(integer) from public; grant execute on function app.webhook_retry_delay(integer) to authenticated; grant execute on function app.webhook_retry_delay(integer) to service_role;

-- The event catalogue (as in sql/86_webhooks.sql).
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

-- The retention job (sql/90_jobs.sql), registered with pg_cron where it is installed.
insert into app.scheduled_jobs (name, schedule, command) values
  ('purge-webhook-deliveries', '47 3 * * *', 'select app.purge_webhook_deliveries()');
select app.schedule_jobs();
