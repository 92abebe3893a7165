-- API key management and recovery; signed inbound webhooks whose event id cannot be swapped.
--   * app.api_keys gains expires_at (rotation's overlap window) and replaced_by; tenants may
--     create keys (insert policy, column grants) and set an expiry, guarded for every writer
--     by the trigger api_keys_guard (a revoked key stays revoked, an expiry only comes
--     closer, at most 7 days ahead). app.authenticate_api_key also answers expired and
--     expires_at (revoked stays "may not be used", now true for expired keys too), so the
--     edge can refuse a rotated-out key with its own hint. New: app.api_key_details,
--     app.create_api_key, app.revoke_api_key (the last working key only when confirmed),
--     app.rotate_api_key, behind GET/POST /keys, DELETE /keys/{id}, POST /keys/{id}/rotate.
--   * Key recovery: app.key_recovery_requests (per-address rate limit, addresses hashed),
--     app.key_recoveries (one-time tokens, hashed), app.request_key_recovery,
--     app._issue_recovery_token, app.confirm_key_recovery; the recovery mail goes through
--     the new app.system_mail outbox and its worker calls (claim/begin/complete/fail).
--     The new tenant tables are keyed within their org ((org_id, id), foreign keys with
--     org_id) like the others; the token's hash is the one global lookup.
--   * app.sync_events gains signed_digest (unique per source): a v1-signed inbound request
--     does not sign X-OpenClaw-Event-Id, so app.ingest_sync_event also claims the digest of
--     its signed "<timestamp>.<body>", and a replay under a new id is a duplicate.
-- Order: functions whose signature changes are dropped first (authenticate_api_key's result
-- gains columns; ingest_sync_event gains p_signed_digest), tables before the functions and
-- view that read them; grants, policies and triggers last, all in one transaction.
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand: added what migra leaves out (forced RLS on the new tables, column
-- grants, authenticate_api_key's privileges after its re-creation).

drop function if exists "app"."ingest_sync_event"(p_source_id text, p_event_id text, p_payload jsonb);

drop function if exists "app"."authenticate_api_key"(p_key_hash text);


  create table "app"."key_recoveries" (
    "id" text not null default app.new_id('kr'::text),
    "org_id" text not null,
    "email" text not null,
    "requested_at" timestamp with time zone not null default now(),
    "token_hash" text,
    "token_expires_at" timestamp with time zone,
    "used_at" timestamp with time zone,
    "key_id" text
      );


alter table "app"."key_recoveries" enable row level security;

alter table "app"."key_recoveries" force row level security;


  create table "app"."key_recovery_requests" (
    "id" bigint generated always as identity not null,
    "email_hash" text not null,
    "requested_at" timestamp with time zone not null default now()
      );


alter table "app"."key_recovery_requests" enable row level security;

alter table "app"."key_recovery_requests" force row level security;


  create table "app"."system_mail" (
    "id" text not null default app.new_id('sys'::text),
    "org_id" text not null,
    "kind" text not null,
    "recovery_id" text,
    "to_email" text not null,
    "status" text not null default 'queued'::text,
    "next_attempt_at" timestamp with time zone not null default now(),
    "attempts" integer not null default 0,
    "claimed_by" text,
    "claimed_at" timestamp with time zone,
    "lease_until" timestamp with time zone,
    "message_id" text,
    "smtp_response" text,
    "reason" text,
    "last_error" text,
    "sent_at" timestamp with time zone,
    "created_at" timestamp with time zone not null default now(),
    "updated_at" timestamp with time zone not null default now()
      );


alter table "app"."system_mail" enable row level security;

alter table "app"."system_mail" force row level security;

alter table "app"."api_keys" add column "expires_at" timestamp with time zone;

alter table "app"."api_keys" add column "replaced_by" text;

alter table "app"."sync_events" add column "signed_digest" text;

CREATE INDEX key_recoveries_org_idx ON app.key_recoveries USING btree (org_id, requested_at);

CREATE UNIQUE INDEX key_recoveries_pkey ON app.key_recoveries USING btree (org_id, id);

CREATE UNIQUE INDEX key_recoveries_token_hash_key ON app.key_recoveries USING btree (token_hash);

CREATE INDEX key_recovery_requests_email_idx ON app.key_recovery_requests USING btree (email_hash, requested_at);

CREATE UNIQUE INDEX key_recovery_requests_pkey ON app.key_recovery_requests USING btree (id);

CREATE INDEX key_recovery_requests_requested_idx ON app.key_recovery_requests USING btree (requested_at);

CREATE UNIQUE INDEX sync_events_source_signed_digest_key ON app.sync_events USING btree (org_id, source_id, signed_digest) WHERE (signed_digest IS NOT NULL);

CREATE INDEX system_mail_id_idx ON app.system_mail USING btree (id);

CREATE INDEX system_mail_leased_idx ON app.system_mail USING btree (lease_until) WHERE (status = ANY (ARRAY['claimed'::text, 'sending'::text]));

CREATE INDEX system_mail_org_idx ON app.system_mail USING btree (org_id, created_at);

CREATE UNIQUE INDEX system_mail_pkey ON app.system_mail USING btree (org_id, id);

CREATE INDEX system_mail_queued_idx ON app.system_mail USING btree (next_attempt_at, id) WHERE (status = 'queued'::text);

CREATE INDEX system_mail_recovery_idx ON app.system_mail USING btree (org_id, recovery_id) WHERE (recovery_id IS NOT NULL);

alter table "app"."key_recoveries" add constraint "key_recoveries_pkey" PRIMARY KEY using index "key_recoveries_pkey";

alter table "app"."key_recovery_requests" add constraint "key_recovery_requests_pkey" PRIMARY KEY using index "key_recovery_requests_pkey";

alter table "app"."system_mail" add constraint "system_mail_pkey" PRIMARY KEY using index "system_mail_pkey";

alter table "app"."api_keys" add constraint "api_keys_replaced_by_fkey" FOREIGN KEY (org_id, replaced_by) REFERENCES app.api_keys(org_id, id) ON DELETE SET NULL (replaced_by) not valid;

alter table "app"."api_keys" validate constraint "api_keys_replaced_by_fkey";

alter table "app"."key_recoveries" add constraint "key_recoveries_email_check" CHECK ((length(email) <= 320)) not valid;

alter table "app"."key_recoveries" validate constraint "key_recoveries_email_check";

alter table "app"."key_recoveries" add constraint "key_recoveries_key_fkey" FOREIGN KEY (org_id, key_id) REFERENCES app.api_keys(org_id, id) ON DELETE SET NULL (key_id) not valid;

alter table "app"."key_recoveries" validate constraint "key_recoveries_key_fkey";

alter table "app"."key_recoveries" add constraint "key_recoveries_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE not valid;

alter table "app"."key_recoveries" validate constraint "key_recoveries_org_id_fkey";

alter table "app"."key_recoveries" add constraint "key_recoveries_token_hash_check" CHECK ((token_hash ~ '^[0-9a-f]{64}$'::text)) not valid;

alter table "app"."key_recoveries" validate constraint "key_recoveries_token_hash_check";

alter table "app"."key_recovery_requests" add constraint "key_recovery_requests_email_hash_check" CHECK ((email_hash ~ '^[0-9a-f]{64}$'::text)) not valid;

alter table "app"."key_recovery_requests" validate constraint "key_recovery_requests_email_hash_check";

alter table "app"."sync_events" add constraint "sync_events_signed_digest_check" CHECK ((signed_digest ~ '^[0-9a-f]{64}$'::text)) not valid;

alter table "app"."sync_events" validate constraint "sync_events_signed_digest_check";

alter table "app"."system_mail" add constraint "system_mail_attempts_check" CHECK ((attempts >= 0)) not valid;

alter table "app"."system_mail" validate constraint "system_mail_attempts_check";

alter table "app"."system_mail" add constraint "system_mail_kind_check" CHECK ((kind = 'key_recovery'::text)) not valid;

alter table "app"."system_mail" validate constraint "system_mail_kind_check";

alter table "app"."system_mail" add constraint "system_mail_last_error_check" CHECK ((length(last_error) <= 2000)) not valid;

alter table "app"."system_mail" validate constraint "system_mail_last_error_check";

alter table "app"."system_mail" add constraint "system_mail_message_id_check" CHECK ((length(message_id) <= 998)) not valid;

alter table "app"."system_mail" validate constraint "system_mail_message_id_check";

alter table "app"."system_mail" add constraint "system_mail_org_id_fkey" FOREIGN KEY (org_id) REFERENCES app.orgs(id) ON DELETE CASCADE not valid;

alter table "app"."system_mail" validate constraint "system_mail_org_id_fkey";

alter table "app"."system_mail" add constraint "system_mail_recovery_check" CHECK (((kind <> 'key_recovery'::text) OR (recovery_id IS NOT NULL))) not valid;

alter table "app"."system_mail" validate constraint "system_mail_recovery_check";

alter table "app"."system_mail" add constraint "system_mail_recovery_fkey" FOREIGN KEY (org_id, recovery_id) REFERENCES app.key_recoveries(org_id, id) ON DELETE CASCADE not valid;

alter table "app"."system_mail" validate constraint "system_mail_recovery_fkey";

alter table "app"."system_mail" add constraint "system_mail_smtp_response_check" CHECK ((length(smtp_response) <= 2000)) not valid;

alter table "app"."system_mail" validate constraint "system_mail_smtp_response_check";

alter table "app"."system_mail" add constraint "system_mail_status_check" CHECK ((status = ANY (ARRAY['queued'::text, 'claimed'::text, 'sending'::text, 'sent'::text, 'failed'::text, 'skipped'::text, 'unconfirmed'::text]))) not valid;

alter table "app"."system_mail" validate constraint "system_mail_status_check";

alter table "app"."system_mail" add constraint "system_mail_to_email_check" CHECK ((length(to_email) <= 320)) not valid;

alter table "app"."system_mail" validate constraint "system_mail_to_email_check";

set check_function_bodies = off;

CREATE OR REPLACE FUNCTION app._guard_api_key()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  begin
    if old.revoked_at is not null and new.revoked_at is null then
      perform app.refuse(409, 'api_key_revoked', pg_catalog.format('API key %s is revoked and stays revoked', old.id),
        'Create a new key instead: POST /api/openclaw/keys { "name": "…" }.');
    end if;
    if new.expires_at is distinct from old.expires_at
       and (new.expires_at is null or new.expires_at > coalesce(old.expires_at, 'infinity')
            or new.expires_at > pg_catalog.now() + interval '7 days') then
      perform app.refuse(409, 'invalid_key_expiry', pg_catalog.format('The expiry of API key %s can only be brought forward, to at most 7 days from now', old.id),
        'Rotate the key (POST /api/openclaw/keys/{id}/rotate { "overlapHours": 0-168 }) to set it; once set it can only come closer.');
    end if;
    return new;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._issue_recovery_token(p_org_id text, p_recovery_id text, p_now timestamp with time zone DEFAULT now())
 RETURNS TABLE(token text, expires_at timestamp with time zone)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_token constant text := replace(pg_catalog.gen_random_uuid()::text, '-', '') || replace(pg_catalog.gen_random_uuid()::text, '-', '');
  begin
    -- A recovery is mailed within the hour it was asked for, and only until it is used.
    update app.key_recoveries r
    set token_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_token, 'UTF8')), 'hex'),
        token_expires_at = p_now + interval '15 minutes'
    where r.org_id = p_org_id and r.id = p_recovery_id and r.used_at is null and r.requested_at > p_now - interval '1 hour'
    returning r.token_expires_at into expires_at;
    if found then
      token := v_token;
      return next;
    end if;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._lock_org_keys()
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app.current_org_id();
  begin
    if v_org is null then
      perform app.refuse(401, 'missing_api_key', 'Managing API keys needs a workspace identity',
        'Call it with one of the workspace''s API keys (Authorization: Bearer rcm_live_…).');
    end if;
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('app.api_keys:' || v_org, 0));
    return v_org;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._new_api_key()
 RETURNS text
 LANGUAGE sql
 SET search_path TO ''
AS $function$
    select 'rcm_live_'
      || replace(pg_catalog.gen_random_uuid()::text, '-', '')
      || replace(pg_catalog.gen_random_uuid()::text, '-', '')
  $function$
;

CREATE OR REPLACE FUNCTION app._own_system_mail(p_id text, p_worker text, p_statuses text[])
 RETURNS app.system_mail
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_row app.system_mail;
  begin
    select * into v_row from app.system_mail m where m.id = p_id for update;
    if v_row.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('System mail %s was not found', p_id), 'Pass the id claim_system_mail returned.');
    end if;
    if v_row.claimed_by is distinct from p_worker or not v_row.status = any (p_statuses) then
      perform app.refuse(409, 'not_claimed_by_worker',
        pg_catalog.format('System mail %s is %s (claimed by %s), not %s by %s', p_id, v_row.status,
          coalesce(v_row.claimed_by, 'nobody'), array_to_string(p_statuses, '/'), p_worker),
        'Only the worker holding the claim records its result; claim again with app.claim_system_mail.');
    end if;
    return v_row;
  end;
  $function$
;

create or replace view "app"."api_key_details" as  SELECT k.id,
    k.org_id,
    k.name,
    k.key_prefix,
    k.created_at,
    k.last_used_at,
    k.expires_at,
    k.revoked_at,
    k.replaced_by,
        CASE
            WHEN (k.revoked_at IS NOT NULL) THEN 'revoked'::text
            WHEN (k.expires_at <= now()) THEN 'expired'::text
            WHEN (k.expires_at IS NOT NULL) THEN 'expiring'::text
            ELSE 'active'::text
        END AS status
   FROM app.api_keys k;


CREATE OR REPLACE FUNCTION app.begin_system_mail(p_id text, p_worker text, p_now timestamp with time zone DEFAULT now())
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_row app.system_mail;
    v_token text;
    v_expires_at timestamptz;
    v_workspace text;
  begin
    select * into v_row from app.system_mail m where m.id = p_id for update;
    if v_row.id is null or v_row.status <> 'claimed' or v_row.claimed_by is distinct from p_worker or v_row.lease_until < p_now then
      return null;
    end if;
    -- kind = 'key_recovery' (the only kind): the link's token is made now, stored hashed.
    select t.token, t.expires_at into v_token, v_expires_at from app._issue_recovery_token(v_row.org_id, v_row.recovery_id, p_now) t;
    if v_token is null then
      update app.system_mail m
      set status = 'skipped', lease_until = null,
          reason = 'the recovery was already used, or was asked for more than an hour ago: nothing to send'
      where m.org_id = v_row.org_id and m.id = p_id;
      return null;
    end if;
    select o.workspace_name into v_workspace from app.orgs o where o.id = v_row.org_id;
    -- The sending lease: a worker that has not confirmed by then is presumed dead.
    update app.system_mail m set status = 'sending', lease_until = p_now + interval '10 minutes'
    where m.org_id = v_row.org_id and m.id = p_id;
    return pg_catalog.jsonb_build_object('id', v_row.id, 'kind', v_row.kind, 'to', v_row.to_email,
      'workspaceName', v_workspace, 'token', v_token, 'expiresAt', v_expires_at);
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.claim_system_mail(p_worker text, p_limit integer DEFAULT 10, p_lease interval DEFAULT '00:02:00'::interval, p_now timestamp with time zone DEFAULT now())
 RETURNS SETOF jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  begin
    if p_worker is null or length(p_worker) not between 1 and 200 or p_limit not between 1 and 1000 or p_lease <= interval '0' then
      perform app.refuse(400, 'invalid_claim', 'claim_system_mail needs a worker name (1-200 characters), a limit of 1-1000 and a positive lease',
        'Call app.claim_system_mail(''worker-1'', 10, ''2 minutes'').');
    end if;
    -- Expired leases first, as for campaign mail: a claim that never began sending is queued
    -- again (nothing went out); a send never confirmed may have gone out and is not repeated.
    update app.system_mail m
    set status = case when m.status = 'claimed' then 'queued' else 'unconfirmed' end,
        next_attempt_at = case when m.status = 'claimed' then p_now else m.next_attempt_at end,
        lease_until = null,
        reason = case when m.status = 'claimed'
          then pg_catalog.format('claim by %s expired at %s before sending began: nothing was sent, queued again', m.claimed_by, m.lease_until)
          else pg_catalog.format('%s began sending but did not confirm before %s: the SMTP server may have accepted it, so it is never resent automatically', m.claimed_by, m.lease_until)
        end
    where m.status in ('claimed', 'sending') and m.lease_until < p_now;

    return query
      update app.system_mail m
      set status = 'claimed', claimed_by = p_worker, claimed_at = p_now, lease_until = p_now + p_lease,
          attempts = m.attempts + 1, reason = null
      where (m.org_id, m.id) in (
        select q.org_id, q.id from app.system_mail q
        where q.status = 'queued' and q.next_attempt_at <= p_now
        order by q.next_attempt_at, q.id
        limit p_limit
        for update skip locked)
      returning pg_catalog.jsonb_build_object('id', m.id, 'kind', m.kind, 'to', m.to_email, 'attempt', m.attempts);
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.complete_system_mail(p_id text, p_worker text, p_message_id text, p_smtp_response text, p_now timestamp with time zone DEFAULT now())
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    -- A late confirmation of an unconfirmed mail is the truth: it was sent.
    v_row constant app.system_mail := app._own_system_mail(p_id, p_worker, array['sending', 'unconfirmed']);
  begin
    update app.system_mail m
    set status = 'sent', sent_at = p_now, message_id = p_message_id, smtp_response = left(p_smtp_response, 2000),
        lease_until = null, reason = null
    where m.org_id = v_row.org_id and m.id = p_id;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.confirm_key_recovery(p_token text)
 RETURNS TABLE(org_id text, key_id text, api_key text, key_prefix text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_recovery app.key_recoveries;
    v_key_id text;
    v_key text;
  begin
    if p_token ~ '^[0-9a-f]{64}$' then
      select r.* into v_recovery from app.key_recoveries r
      where r.token_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8')), 'hex')
      for update;
    end if;
    if v_recovery.id is null then
      perform app.refuse(400, 'invalid_recovery_token', 'This key recovery link is not valid',
        'Use the whole link from the recovery email, or ask for a new one: POST /api/openclaw/keys/recover { "email": "<owner email>" }.');
    elsif v_recovery.used_at is not null then
      perform app.refuse(410, 'recovery_link_used', 'This key recovery link was already used',
        'Each link issues one key. If you did not use it, someone with access to the mailbox did: ask for a new link (POST /api/openclaw/keys/recover), then revoke the keys you do not know (GET /api/openclaw/keys, DELETE /api/openclaw/keys/{id}).');
    elsif v_recovery.token_expires_at <= pg_catalog.now() then
      perform app.refuse(410, 'recovery_link_expired', 'This key recovery link has expired',
        'Links work for 15 minutes after the email was sent. Ask for a new one: POST /api/openclaw/keys/recover { "email": "<owner email>" }.');
    end if;

    select i.key_id, i.api_key into v_key_id, v_key from app._issue_api_key(v_recovery.org_id, 'recovered') i;
    update app.key_recoveries r set used_at = pg_catalog.now(), key_id = v_key_id
    where r.org_id = v_recovery.org_id and r.id = v_recovery.id;
    org_id := v_recovery.org_id;
    key_id := v_key_id;
    api_key := v_key;
    key_prefix := left(v_key, 16);
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.create_api_key(p_name text DEFAULT NULL::text)
 RETURNS TABLE(key_id text, api_key text, key_prefix text, name text)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app._lock_org_keys();
    v_key constant text := app._new_api_key();
    v_name constant text := coalesce(nullif(pg_catalog.btrim(p_name), ''),
      'key ' || pg_catalog.to_char(pg_catalog.now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI'));
  begin
    if length(v_name) > 100 then
      perform app.refuse(400, 'invalid_key_name', 'A key name must be 1-100 characters',
        'Name the key after what uses it, e.g. "sdr-agent" or "zapier".');
    end if;
    if (select count(*) from app.api_keys k
        where k.org_id = v_org and k.revoked_at is null and (k.expires_at is null or k.expires_at > pg_catalog.now())) >= 25 then
      perform app.refuse(409, 'too_many_api_keys', 'This workspace already has 25 working API keys',
        'Revoke keys nothing uses any more (GET /api/openclaw/keys shows lastUsedAt; DELETE /api/openclaw/keys/{id}), then create the new one.');
    end if;
    insert into app.api_keys as k (name, key_hash, key_prefix)
    values (v_name, app.hash_api_key(v_key), left(v_key, 16))
    returning k.id, k.key_prefix, k.name into key_id, key_prefix, name;
    api_key := v_key;
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.fail_system_mail(p_id text, p_worker text, p_error text, p_permanent boolean, p_now timestamp with time zone DEFAULT now())
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_row constant app.system_mail := app._own_system_mail(p_id, p_worker, array['claimed', 'sending']);
    v_retry_at timestamptz;
  begin
    if not p_permanent and v_row.attempts < 5 then
      -- Backoff 1, 2, 4, 8 minutes after attempts 1-4, as for campaign mail; the 5th failure is final.
      v_retry_at := p_now + pg_catalog.make_interval(mins => (2 ^ (v_row.attempts - 1))::integer);
      update app.system_mail m
      set status = 'queued', next_attempt_at = v_retry_at, last_error = left(p_error, 2000),
          claimed_by = null, claimed_at = null, lease_until = null,
          reason = pg_catalog.format('attempt %s failed; retry at %s', v_row.attempts, v_retry_at)
      where m.org_id = v_row.org_id and m.id = p_id;
    else
      update app.system_mail m
      set status = 'failed', last_error = left(p_error, 2000), lease_until = null,
          reason = case when p_permanent then 'permanent failure' else pg_catalog.format('gave up after %s attempts', v_row.attempts) end
      where m.org_id = v_row.org_id and m.id = p_id;
    end if;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.ingest_sync_event(p_source_id text, p_event_id text, p_payload jsonb, p_signed_digest text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
    exception when check_violation then
      get stacked diagnostics v_constraint = constraint_name;
      if v_constraint = 'leads_email_check' then
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
  $function$
;

CREATE OR REPLACE FUNCTION app.request_key_recovery(p_email text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_email constant text := pg_catalog.lower(pg_catalog.btrim(p_email));
    v_hash text;
    v_recent timestamptz[];
    v_org app.orgs;
    v_recovery text;
    v_wait integer;
  begin
    if v_email is null or length(v_email) > 320 or v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
      perform app.refuse(400, 'invalid_email', 'email must be a valid address of at most 320 characters',
        'Send the email address the workspace was signed up with: { "email": "owner@example.com" }.');
    end if;
    v_hash := pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_email, 'UTF8')), 'hex');
    -- One request per address at a time, so the limit is exact under concurrency.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('app.key_recovery:' || v_hash, 0));

    delete from app.key_recovery_requests r where r.requested_at < pg_catalog.now() - interval '1 day';
    select pg_catalog.array_agg(r.requested_at order by r.requested_at desc) into v_recent
    from app.key_recovery_requests r
    where r.email_hash = v_hash and r.requested_at > pg_catalog.now() - interval '1 hour';
    if coalesce(pg_catalog.array_length(v_recent, 1), 0) >= 3 then
      v_wait := greatest(1, ceil(extract(epoch from v_recent[3] + interval '1 hour' - pg_catalog.now()))::integer);
      perform app.refuse(429, 'rate_limited', 'Too many key recovery requests for this address: at most 3 an hour',
        pg_catalog.format('Look for the last recovery email (and in the spam folder); each link works for 15 minutes. Ask again in %s minute(s).', ceil(v_wait / 60.0)::integer),
        pg_catalog.jsonb_build_object('retryAfter', v_wait));
    end if;
    insert into app.key_recovery_requests (email_hash) values (v_hash);

    select o.* into v_org from app.orgs o where pg_catalog.lower(o.owner_email) = v_email;
    if v_org.id is not null then
      insert into app.key_recoveries (org_id, email) values (v_org.id, v_email) returning id into v_recovery;
      -- In the same transaction: the mail is owed exactly when the recovery exists.
      insert into app.system_mail (org_id, kind, recovery_id, to_email) values (v_org.id, 'key_recovery', v_recovery, v_email);
    end if;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.revoke_api_key(p_key_id text, p_confirm_last boolean DEFAULT false)
 RETURNS TABLE(key_id text, revoked_at timestamp with time zone, already_revoked boolean, live_keys integer)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app._lock_org_keys();
    v_id text;
    v_revoked_at timestamptz;
    v_expires_at timestamptz;
  begin
    select k.id, k.revoked_at, k.expires_at into v_id, v_revoked_at, v_expires_at
    from app.api_keys k where k.id = p_key_id and k.org_id = v_org for update;
    if v_id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('API key %s was not found', p_key_id),
        'GET /api/openclaw/keys lists this workspace''s keys; another workspace''s keys are not visible with this key.');
    end if;
    key_id := v_id;
    already_revoked := v_revoked_at is not null;
    if not already_revoked then
      -- Revoking a working key must leave a working key without an expiry, or be meant.
      if (v_expires_at is null or v_expires_at > pg_catalog.now())
         and not coalesce(p_confirm_last, false)
         and not exists (select from app.api_keys k
                         where k.org_id = v_org and k.id <> v_id and k.revoked_at is null and k.expires_at is null) then
        perform app.refuse(409, 'last_api_key',
          pg_catalog.format('API key %s is this workspace''s last working key%s: revoking it would lock every agent out',
            v_id, case when exists (select from app.api_keys k where k.org_id = v_org and k.id <> v_id and k.revoked_at is null
                                      and k.expires_at > pg_catalog.now()) then ' (the others expire after their rotation overlap)' else '' end),
          pg_catalog.format('Create its replacement first (POST /api/openclaw/keys, or POST /api/openclaw/keys/%s/rotate), or, if you mean to lock the workspace, DELETE /api/openclaw/keys/%s?confirm=last-key. A lost key is replaced with POST /api/openclaw/keys/recover { "email": "<owner email>" }.', v_id, v_id),
          pg_catalog.jsonb_build_object('next_steps', pg_catalog.jsonb_build_array(
            pg_catalog.format('POST /api/openclaw/keys/%s/rotate to replace it with a new key', v_id),
            pg_catalog.format('DELETE /api/openclaw/keys/%s?confirm=last-key to revoke it anyway', v_id))));
      end if;
      update app.api_keys k set revoked_at = pg_catalog.now() where k.org_id = v_org and k.id = v_id;
    end if;
    revoked_at := coalesce(v_revoked_at, pg_catalog.now());
    select count(*)::integer into live_keys from app.api_keys k
    where k.org_id = v_org and k.revoked_at is null and (k.expires_at is null or k.expires_at > pg_catalog.now());
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.rotate_api_key(p_key_id text, p_overlap_hours integer DEFAULT 24)
 RETURNS TABLE(key_id text, api_key text, key_prefix text, name text, old_key_id text, old_expires_at timestamp with time zone)
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
  declare
    v_org constant text := app._lock_org_keys();
    v_id text;
    v_name text;
    v_revoked_at timestamptz;
    v_expires_at timestamptz;
    v_replaced_by text;
    v_new constant text := app._new_api_key();
  begin
    if p_overlap_hours is null or p_overlap_hours not between 0 and 168 then
      perform app.refuse(400, 'invalid_overlap', 'overlapHours must be a whole number of hours from 0 to 168 (7 days)',
        'Send { "overlapHours": 24 } (the default) to keep the old key working for a day while agents switch; 0 stops it at once.');
    end if;
    select k.id, k.name, k.revoked_at, k.expires_at, k.replaced_by into v_id, v_name, v_revoked_at, v_expires_at, v_replaced_by
    from app.api_keys k where k.id = p_key_id and k.org_id = v_org for update;
    if v_id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('API key %s was not found', p_key_id),
        'GET /api/openclaw/keys lists this workspace''s keys; another workspace''s keys are not visible with this key.');
    elsif v_revoked_at is not null then
      perform app.refuse(409, 'api_key_revoked', pg_catalog.format('API key %s is revoked', v_id),
        'Only a working key is rotated. Create a new key instead: POST /api/openclaw/keys { "name": "…" }.');
    elsif v_expires_at is not null then
      perform app.refuse(409, 'api_key_already_rotated',
        pg_catalog.format('API key %s was already rotated%s; it %s at %s', v_id,
          coalesce(' (replaced by ' || v_replaced_by || ')', ''),
          case when v_expires_at <= pg_catalog.now() then 'stopped working' else 'stops working' end, v_expires_at),
        case when v_replaced_by is not null
          then pg_catalog.format('Rotate its replacement instead: POST /api/openclaw/keys/%s/rotate.', v_replaced_by)
          else 'Create a new key instead: POST /api/openclaw/keys.' end);
    end if;

    insert into app.api_keys as k (name, key_hash, key_prefix)
    values (v_name, app.hash_api_key(v_new), left(v_new, 16))
    returning k.id, k.key_prefix, k.name into key_id, key_prefix, name;
    update app.api_keys k
    set expires_at = pg_catalog.now() + pg_catalog.make_interval(hours => p_overlap_hours), replaced_by = key_id
    where k.org_id = v_org and k.id = v_id
    returning k.id, k.expires_at into old_key_id, old_expires_at;
    api_key := v_new;
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app._issue_api_key(p_org_id text, p_name text DEFAULT 'default'::text)
 RETURNS TABLE(key_id text, api_key text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_key constant text := app._new_api_key();
  begin
    insert into app.api_keys (org_id, name, key_hash, key_prefix)
    values (p_org_id, p_name, app.hash_api_key(v_key), left(v_key, 16))
    returning id into key_id;
    api_key := v_key;
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.authenticate_api_key(p_key_hash text)
 RETURNS TABLE(org_id text, tier text, key_id text, revoked boolean, expired boolean, expires_at timestamp with time zone)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_key app.api_keys%rowtype;
  begin
    select k.* into v_key from app.api_keys k where k.key_hash = p_key_hash;
    if not found then
      return;
    end if;

    org_id := v_key.org_id;
    key_id := v_key.id;
    expires_at := v_key.expires_at;
    expired := v_key.revoked_at is null and coalesce(v_key.expires_at <= pg_catalog.now(), false);
    revoked := v_key.revoked_at is not null or expired;
    select o.tier into tier from app.orgs o where o.id = v_key.org_id;

    if not revoked then
      perform pg_catalog.set_config(
        'request.jwt.claims',
        pg_catalog.json_build_object('role', 'authenticated', 'org_id', v_key.org_id, 'key_id', v_key.id)::text,
        true);
      -- One write a minute at most per key, so busy agents don't turn every read into a write.
      if v_key.last_used_at is null or v_key.last_used_at < pg_catalog.now() - interval '1 minute' then
        update app.api_keys k set last_used_at = pg_catalog.now() where k.org_id = v_key.org_id and k.id = v_key.id;
      end if;
    end if;
    return next;
  end;
  $function$
;

CREATE OR REPLACE FUNCTION app.signup(p_email text, p_workspace_name text, p_agent_name text, p_agent_platform text, p_first_name text DEFAULT NULL::text, p_last_name text DEFAULT NULL::text, p_organization_name text DEFAULT NULL::text)
 RETURNS TABLE(org_id text, api_key text, key_prefix text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
  declare
    v_email text := lower(btrim(p_email));
  begin
    if exists (select from app.orgs o where lower(o.owner_email) = v_email) then
      perform app.refuse(409, 'email_already_registered',
        pg_catalog.format('A workspace is already registered to %s', v_email),
        'Use the API key issued when that workspace was created, or sign up with a different email. Lost the key? POST /api/openclaw/keys/recover { "email": "…" } mails the owner a one-time link that issues a new one.');
    end if;

    insert into app.orgs (name, workspace_name, owner_email, owner_first_name, owner_last_name, agent_name, agent_platform)
    values (coalesce(nullif(btrim(p_organization_name), ''), btrim(p_workspace_name)), btrim(p_workspace_name),
            v_email, p_first_name, p_last_name, p_agent_name, p_agent_platform)
    returning id into org_id;

    select k.api_key into api_key from app._issue_api_key(org_id) k;
    key_prefix := left(api_key, 16);
    return next;
  end;
  $function$
;

grant delete on table "app"."key_recoveries" to "service_role";

grant insert on table "app"."key_recoveries" to "service_role";

grant references on table "app"."key_recoveries" to "service_role";

grant select on table "app"."key_recoveries" to "service_role";

grant trigger on table "app"."key_recoveries" to "service_role";

grant truncate on table "app"."key_recoveries" to "service_role";

grant update on table "app"."key_recoveries" to "service_role";

grant delete on table "app"."key_recovery_requests" to "service_role";

grant insert on table "app"."key_recovery_requests" to "service_role";

grant references on table "app"."key_recovery_requests" to "service_role";

grant select on table "app"."key_recovery_requests" to "service_role";

grant trigger on table "app"."key_recovery_requests" to "service_role";

grant truncate on table "app"."key_recovery_requests" to "service_role";

grant update on table "app"."key_recovery_requests" to "service_role";

grant select on table "app"."system_mail" to "authenticated";

grant delete on table "app"."system_mail" to "service_role";

grant insert on table "app"."system_mail" to "service_role";

grant references on table "app"."system_mail" to "service_role";

grant select on table "app"."system_mail" to "service_role";

grant trigger on table "app"."system_mail" to "service_role";

grant truncate on table "app"."system_mail" to "service_role";

grant update on table "app"."system_mail" to "service_role";


  create policy "API keys can be created by their own org"
  on "app"."api_keys"
  as permissive
  for insert
  to authenticated
with check ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Key recoveries are visible to their own org"
  on "app"."key_recoveries"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));



  create policy "Key recovery requests are visible to the service role only"
  on "app"."key_recovery_requests"
  as permissive
  for select
  to service_role
using (true);



  create policy "System mail is visible to its own org"
  on "app"."system_mail"
  as permissive
  for select
  to authenticated
using ((org_id = ( SELECT app.current_org_id() AS current_org_id)));


CREATE TRIGGER api_keys_guard BEFORE UPDATE ON app.api_keys FOR EACH ROW EXECUTE FUNCTION app._guard_api_key();

CREATE TRIGGER system_mail_touch_updated_at BEFORE UPDATE ON app.system_mail FOR EACH ROW EXECUTE FUNCTION app._touch_updated_at();

-- The recreated views' options, comments and grants (migra drops them).
alter view app.api_key_details set (security_invoker=true);
comment on view app.api_key_details is 'API keys as the API lists them: prefix, name, times and status (active, expiring = rotated and in its overlap window, expired, revoked); never the hash.';
grant select on app.api_key_details to authenticated;
grant select on app.api_key_details to service_role;

-- Comments and function privileges (migra leaves them out).
comment on function app._guard_api_key() is 'Trigger: a revoked key is never un-revoked, and expires_at is only set or brought forward, to at most 7 days ahead.';
comment on function app._issue_recovery_token(text,text,timestamp with time zone) is 'A fresh one-time token for an unused recovery asked for within the hour: stores its hash, valid 15 minutes from p_now, returns the plaintext once; nothing otherwise.';
comment on function app._lock_org_keys() is 'Serialises changes to the current org''s keys until the transaction ends; returns the org id (refuses without one).';
comment on function app._new_api_key() is 'A new plaintext API key: rcm_live_ followed by 64 random hex digits.';
comment on function app._own_system_mail(text,text,text[]) is 'Locks a system mail the worker holds in one of the given statuses, or refuses (404 unknown, 409 not this worker''s).';
comment on function app.authenticate_api_key(text) is 'Looks up an API key by hash; for a live key sets request.jwt.claims to its org for the rest of the transaction. revoked: the key may not be used (revoked, or expired after rotation: expired, expires_at).';
comment on function app.begin_system_mail(text,text,timestamp with time zone) is 'Mail workers, right before SMTP: claimed → sending (10-minute lease) and the mail''s content, made now (a recovery link''s one-time token, stored only hashed); null when the lease was lost or there is nothing left to send (then skipped).';
comment on function app.claim_system_mail(text,integer,interval,timestamp with time zone) is 'Mail workers: settles expired leases (claimed → queued, sending → unconfirmed), then claims up to p_limit due system mails (skip locked); returns id, kind, recipient and attempt of each.';
comment on function app.complete_system_mail(text,text,text,text,timestamp with time zone) is 'Mail workers, after the SMTP server accepted a system mail: sent, with its Message-ID and the server''s reply.';
comment on function app.confirm_key_recovery(text) is 'The recovery link: for a valid, unused, unexpired token issues a new key named "recovered" for its workspace (plaintext returned once) and marks the token used; 400 unknown, 410 used or expired.';
comment on function app.create_api_key(text) is 'Creates an API key for the current org (at most 25 live) and returns its plaintext once; without a name it is named after the time.';
comment on function app.fail_system_mail(text,text,text,boolean,timestamp with time zone) is 'Mail workers, when SMTP refused or failed a system mail: a transient failure is queued again after a backoff (1, 2, 4, 8 min; final after 5 attempts); a permanent one fails it.';
comment on function app.ingest_sync_event(text,text,jsonb,text) is 'Ingests one authenticated event for a sync source: idempotent on the event id and on the signed digest of a request signed without its id; creates or updates the lead by email, moves it to the event''s stage and logs a touchpoint, all or nothing.';
comment on function app.request_key_recovery(text) is 'POST /keys/recover: at most 3 requests per address an hour (429 with retryAfter otherwise, for any address); for a workspace owner''s address records a recovery and queues its mail (app.system_mail). Says nothing about whether the address is registered.';
comment on function app.revoke_api_key(text,boolean) is 'Revokes one of the current org''s keys for good (again: no change); refuses (409 last_api_key) to leave no working key without an expiry unless p_confirm_last.';
comment on function app.rotate_api_key(text,integer) is 'Replaces one of the current org''s working keys with a new one of the same name (plaintext returned once); the old key keeps working for p_overlap_hours (0-168, default 24), then stops.';
comment on table app.api_keys is 'Hashed API keys per org; the plaintext key is never stored. Live while not revoked and before expires_at (set by rotation).';
comment on table app.key_recoveries is 'Key recoveries of workspaces: the mailed one-time link''s token (hashed), when it expires, when it was used and the key it issued.';
comment on table app.key_recovery_requests is 'Key recovery requests by address hash (SHA-256 of the lower-cased address), for the 3-an-hour rate limit; kept a day. Not a tenant table: no org is known for most rows.';
comment on table app.system_mail is 'Mail the system sends a workspace (key recovery links), from queued to sent, with the claiming worker, its lease and the outcome; never the secret a mail carries.';
comment on view app.api_key_details is 'API keys as the API lists them: prefix, name, times and status (active, expiring = rotated and in its overlap window, expired, revoked); never the hash.';
revoke all on function app._guard_api_key() from public;
revoke all on function app._issue_recovery_token(text,text,timestamp with time zone) from public;
revoke all on function app._lock_org_keys() from public; grant execute on function app._lock_org_keys() to authenticated; grant execute on function app._lock_org_keys() to service_role;
revoke all on function app._new_api_key() from public; grant execute on function app._new_api_key() to authenticated; grant execute on function app._new_api_key() to service_role;
revoke all on function app._own_system_mail(text,text,text[]) from public;
revoke all on function app.begin_system_mail(text,text,timestamp with time zone) from public; grant execute on function app.begin_system_mail(text,text,timestamp with time zone) to service_role;
revoke all on function app.claim_system_mail(text,integer,interval,timestamp with time zone) from public; grant execute on function app.claim_system_mail(text,integer,interval,timestamp with time zone) to service_role;
revoke all on function app.complete_system_mail(text,text,text,text,timestamp with time zone) from public; grant execute on function app.complete_system_mail(text,text,text,text,timestamp with time zone) to service_role;
revoke all on function app.confirm_key_recovery(text) from public; grant execute on function app.confirm_key_recovery(text) to anon; grant execute on function app.confirm_key_recovery(text) to service_role;
revoke all on function app.create_api_key(text) from public; grant execute on function app.create_api_key(text) to authenticated; grant execute on function app.create_api_key(text) to service_role;
revoke all on function app.fail_system_mail(text,text,text,boolean,timestamp with time zone) from public; grant execute on function app.fail_system_mail(text,text,text,boolean,timestamp with time zone) to service_role;
revoke all on function app.hash_api_key(text) from public, service_role; grant execute on function app.hash_api_key(text) to authenticated; grant execute on function app.hash_api_key(text) to service_role;
revoke all on function app.ingest_sync_event(text,text,jsonb,text) from public; grant execute on function app.ingest_sync_event(text,text,jsonb,text) to anon; grant execute on function app.ingest_sync_event(text,text,jsonb,text) to service_role;
revoke all on function app.request_key_recovery(text) from public; grant execute on function app.request_key_recovery(text) to anon; grant execute on function app.request_key_recovery(text) to service_role;
revoke all on function app.revoke_api_key(text,boolean) from public; grant execute on function app.revoke_api_key(text,boolean) to authenticated; grant execute on function app.revoke_api_key(text,boolean) to service_role;
revoke all on function app.rotate_api_key(text,integer) from public; grant execute on function app.rotate_api_key(text,integer) to authenticated; grant execute on function app.rotate_api_key(text,integer) to service_role;
-- Re-created with a wider result, so its privileges are granted again.
revoke all on function app.authenticate_api_key(text) from public; grant execute on function app.authenticate_api_key(text) to anon; grant execute on function app.authenticate_api_key(text) to service_role;

-- Column privileges (migra leaves them out): tenants read keys but never their hash, create
-- keys, and revoke or expire them; they read their recoveries but never the token's hash.
grant select (expires_at, replaced_by) on app.api_keys to authenticated;
grant insert (name, key_hash, key_prefix) on app.api_keys to authenticated;
grant update (expires_at, replaced_by) on app.api_keys to authenticated;
grant select (id, org_id, email, requested_at, token_expires_at, used_at, key_id) on app.key_recoveries to authenticated;
