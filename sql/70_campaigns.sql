-- Campaigns: the email sequences an org runs, and its send settings.
--   * app.campaigns: 1-8 steps (delay, subject, body, optional condition), what enrols a
--     lead automatically (trigger_event, and the stage for stage_changed), AI
--     personalisation settings. Ad-hoc campaigns (kind adhoc) are the one-lead sequences
--     of POST /email/send-sequence;
--   * app.campaign_settings: the daily cap and send window, one row per org, made with the
--     org (seeded by the orgs_seed trigger, 20_orgs_keys.sql);
--   * template variables: one list for the step check and the mail renderer. Steps are
--     checked by a trigger, so every writer (API, Studio) is refused an unknown {{variable}}.
-- Elsewhere: enrolments and the suppression list (72_enrollments.sql); the outbox, send
-- guardrails and mail workers (74_outbox.sql); what enrols and stops leads, archiving and
-- ad-hoc sequences (76_campaign_events.sql, which also puts the campaigns_archived trigger
-- on app.campaigns); the tier's campaign limit (the campaigns_enforce_limit triggers on
-- app.campaigns, 78_plan_limits.sql).

-- ---------------------------------------------------------------------------
-- Campaigns. Archived campaigns keep their history and take no new leads.
-- ---------------------------------------------------------------------------
create table app.campaigns (
  id text not null default app.new_id('cmp'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 200),
  status text not null default 'draft' check (status in ('draft', 'active', 'paused', 'archived')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The sequence: its steps, what enrols leads in it, AI personalisation, the sender's name.
  kind text not null default 'sequence' check (kind in ('sequence', 'adhoc')),
  steps jsonb not null default '[]',
  trigger_event text not null default 'manual'
    check (trigger_event in ('quiz_completed', 'proposal_viewed', 'cta_clicked', 'meeting_booked', 'stage_changed', 'manual')),
  trigger_stage_id text,
  ai_enabled boolean not null default false,
  ai_config jsonb not null default '{}',
  from_name text check (length(btrim(from_name)) between 1 and 200),
  -- Keyed within its org: enrolments and steps reference (org_id, campaign_id).
  primary key (org_id, id),
  -- The API asks for 1-8 steps; a campaign made without steps (Studio) just completes its
  -- enrolments.
  constraint campaigns_steps_check check (jsonb_typeof(steps) = 'array' and jsonb_array_length(steps) <= 8),
  constraint campaigns_trigger_stage_check check ((trigger_event = 'stage_changed') = (trigger_stage_id is not null)),
  constraint campaigns_trigger_stage_fkey foreign key (org_id, trigger_stage_id) references app.stages (org_id, id),
  constraint campaigns_ai_config_check check (jsonb_typeof(ai_config) = 'object' and length(ai_config::text) <= 2000)
);
comment on table app.campaigns is 'Email sequences per org. Non-archived campaigns count against the tier''s campaign limit.';
comment on column app.campaigns.steps is 'The sequence: [{ delayMinutes, subject, body, condition? }], 1-8 steps; step 0''s delay counts from enrolment, each later one from the previous step.';
comment on column app.campaigns.trigger_event is 'The event that enrols a lead automatically (manual: only POST /campaigns/{id}/enroll).';
comment on column app.campaigns.kind is 'sequence: a campaign proper (counts against the plan); adhoc: made by POST /email/send-sequence for one lead (does not count).';

create index campaigns_org_created_idx on app.campaigns (org_id, created_at desc, id desc);
create index campaigns_org_status_idx on app.campaigns (org_id, status);
create index campaigns_org_trigger_idx on app.campaigns (org_id, trigger_event) where status = 'active';
create index campaigns_org_trigger_stage_idx on app.campaigns (org_id, trigger_stage_id) where trigger_stage_id is not null;

create trigger campaigns_touch_updated_at before update on app.campaigns
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.campaigns', 'Campaigns');
grant select, insert, update, delete on app.campaigns to authenticated;
grant all on app.campaigns to service_role;

-- ---------------------------------------------------------------------------
-- Send settings per org: one row per org, made with the org, so the defaults live in
-- the column defaults and nowhere else.
-- ---------------------------------------------------------------------------
create table app.campaign_settings (
  org_id text primary key references app.orgs (id) on delete cascade,
  daily_cap integer not null default 500 check (daily_cap between 1 and 100000),
  -- The send window, in the org's time zone; no window = any time.
  window_start time,
  window_end time,
  time_zone text not null default 'UTC' check (length(time_zone) between 1 and 100),
  weekdays_only boolean not null default false,
  updated_at timestamptz not null default now(),
  constraint campaign_settings_window_check check ((window_start is null) = (window_end is null) and window_start < window_end)
);
comment on table app.campaign_settings is 'Per-org send settings: the org-wide daily email cap (per calendar day in time_zone) and an optional send window.';

create trigger campaign_settings_touch_updated_at before update on app.campaign_settings
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.campaign_settings', 'Campaign settings');
grant select, update (daily_cap, window_start, window_end, time_zone, weekdays_only) on app.campaign_settings to authenticated;
grant all on app.campaign_settings to service_role;

-- ---------------------------------------------------------------------------
-- Template variables: the one list both the step check here and the mail renderer use.
-- ---------------------------------------------------------------------------
create function app.template_variables() returns text[]
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select array['firstName', 'lastName', 'organizationName', 'businessType', 'proposalUrl', 'email', 'phone']
  $$;
comment on function app.template_variables() is 'The {{variables}} a campaign step may use, written exactly as {{name}}; the renderer replaces each with the lead''s value (empty when unknown).';
revoke execute on function app.template_variables() from public;
grant execute on function app.template_variables() to anon, authenticated, service_role;

-- {{proposalUrl}}: the lead's crmData.proposalUrl when an agent set one, else the path of
-- its proposal page (/p/<slug>), which the mail worker makes absolute with PUBLIC_URL (the
-- database does not know where the app is served).
create function app.template_values(p_lead app.leads) returns jsonb
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'firstName', p_lead.first_name,
      'lastName', coalesce(p_lead.last_name, ''),
      'organizationName', coalesce(p_lead.organization_name, p_lead.company_name, ''),
      'businessType', coalesce(p_lead.business_type, ''),
      'proposalUrl', coalesce(p_lead.crm_data ->> 'proposalUrl',
        (select '/p/' || p.slug from app.proposals p where p.org_id = p_lead.org_id and p.lead_id = p_lead.id and p.published), ''),
      'email', p_lead.email,
      'phone', coalesce(p_lead.phone, ''))
  $$;
comment on function app.template_values(app.leads) is 'The value of every template variable for one lead (empty strings where the lead has none).';
revoke execute on function app.template_values(app.leads) from public;
grant execute on function app.template_values(app.leads) to authenticated, service_role;

-- Every distinct {{…}} in a template that is not a known variable.
create function app.unknown_template_variables(p_text text) returns text[]
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select coalesce(array_agg(distinct m[1]), '{}')
    from pg_catalog.regexp_matches(coalesce(p_text, ''), '\{\{([^{}]*)\}\}', 'g') m
    where not m[1] = any(app.template_variables())
  $$;
comment on function app.unknown_template_variables(text) is 'The {{…}} placeholders in a text that are not template variables.';
revoke execute on function app.unknown_template_variables(text) from public;
grant execute on function app.unknown_template_variables(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Checking a campaign on every write: well-formed steps, known {{variables}} and step
-- conditions, a valid ai_config.
-- ---------------------------------------------------------------------------
create function app._validate_campaign() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_step jsonb;
    v_index integer := 0;
    v_unknown text[];
    v_valid constant text := (select string_agg('{{' || v || '}}', ' ') from unnest(app.template_variables()) v);
  begin
    if jsonb_typeof(new.steps) is distinct from 'array' or jsonb_array_length(new.steps) > 8 then
      perform app.refuse(400, 'invalid_steps', 'A campaign has at most 8 steps',
        'Send steps as a list of 1 to 8 { delayMinutes, subject, body } objects.');
    end if;
    for v_step in select s from jsonb_array_elements(new.steps) s loop
      if jsonb_typeof(v_step) <> 'object'
         or jsonb_typeof(v_step -> 'subject') is distinct from 'string' or length(btrim(v_step ->> 'subject')) not between 1 and 500
         or jsonb_typeof(v_step -> 'body') is distinct from 'string' or length(btrim(v_step ->> 'body')) not between 1 and 50000
         or jsonb_typeof(v_step -> 'delayMinutes') is distinct from 'number'
         or (v_step ->> 'delayMinutes')::numeric not between 0 and 525600
         or (v_step ->> 'delayMinutes')::numeric <> trunc((v_step ->> 'delayMinutes')::numeric) then
        perform app.refuse(400, 'invalid_step', pg_catalog.format('Step %s is not valid', v_index + 1),
          'Each step needs delayMinutes (a whole number 0-525600), subject (1-500 characters) and body (1-50000 characters).');
      end if;
      if v_step ? 'condition' and v_step -> 'condition' <> 'null'::jsonb
         and (jsonb_typeof(v_step -> 'condition') <> 'object'
              or coalesce(v_step -> 'condition' ->> 'skipIf', '') not in ('replied', 'opened', 'clicked', 'meeting_booked')) then
        perform app.refuse(400, 'invalid_step_condition', pg_catalog.format('Step %s has an unknown condition', v_index + 1),
          'condition is { "skipIf": "replied" | "opened" | "clicked" | "meeting_booked" }: the step is skipped when the lead did that since enrolling.');
      end if;
      v_unknown := app.unknown_template_variables((v_step ->> 'subject') || ' ' || (v_step ->> 'body'));
      if cardinality(v_unknown) > 0 then
        perform app.refuse(400, 'unknown_template_variable',
          pg_catalog.format('Step %s uses unknown template variable(s): %s', v_index + 1,
            (select string_agg('{{' || u || '}}', ', ') from unnest(v_unknown) u)),
          'Valid variables (written exactly like this): ' || v_valid || '.');
      end if;
      v_index := v_index + 1;
    end loop;
    if (new.ai_config ? 'maxRetries' and (jsonb_typeof(new.ai_config -> 'maxRetries') <> 'number'
          or (new.ai_config ->> 'maxRetries')::numeric not in (0, 1, 2, 3, 4, 5)))
       or (new.ai_config ? 'model' and jsonb_typeof(new.ai_config -> 'model') <> 'string')
       or (new.ai_config ? 'tone' and jsonb_typeof(new.ai_config -> 'tone') <> 'string') then
      perform app.refuse(400, 'invalid_ai_config', 'ai_config is not valid',
        'Send ai_config as { "model": "gpt-4o-mini", "tone": "friendly", "maxRetries": 2 } (maxRetries 0-5; every field optional).');
    end if;
    return new;
  end;
  $$;
comment on function app._validate_campaign() is 'Trigger: refuses steps that are not 1-8 well-formed steps, unknown {{variables}} (naming them and listing the valid ones), unknown conditions and a malformed ai_config.';
revoke execute on function app._validate_campaign() from public;

create trigger campaigns_validate before insert or update of steps, ai_config on app.campaigns
  for each row execute function app._validate_campaign();

-- ---------------------------------------------------------------------------
-- Send settings: a time zone Postgres knows, and a row for every new org.
-- ---------------------------------------------------------------------------
create function app._valid_time_zone() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  begin
    if not exists (select from pg_catalog.pg_timezone_names z where z.name = new.time_zone) then
      perform app.refuse(400, 'invalid_time_zone', pg_catalog.format('"%s" is not a time zone', new.time_zone),
        'Send an IANA time zone such as "Europe/Berlin", "America/New_York" or "UTC".');
    end if;
    return new;
  end;
  $$;
comment on function app._valid_time_zone() is 'Trigger: refuses a time zone Postgres does not know.';
revoke execute on function app._valid_time_zone() from public;

create trigger campaign_settings_valid_time_zone before insert or update of time_zone on app.campaign_settings
  for each row execute function app._valid_time_zone();
