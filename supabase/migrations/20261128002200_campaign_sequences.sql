-- Campaigns become real email sequences: 1-8 steps (delay, subject, body, optional
-- condition), what enrols a lead automatically (trigger_event, and the stage for
-- stage_changed), AI personalisation settings, and the org's send settings (daily cap,
-- send window). Templates are checked here, so every writer (API, Studio) is refused
-- an unknown {{variable}}. Ad-hoc campaigns (POST /email/send-sequence) are a kind of
-- campaign that does not count against the tier's campaign limit.

-- ---------------------------------------------------------------------------
-- Template variables: the one list both the validation here and the mail renderer use.
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

create function app.template_values(p_lead app.leads) returns jsonb
  language sql stable
  set search_path = ''
  as $$
    select pg_catalog.jsonb_build_object(
      'firstName', p_lead.first_name,
      'lastName', coalesce(p_lead.last_name, ''),
      'organizationName', coalesce(p_lead.organization_name, p_lead.company_name, ''),
      'businessType', coalesce(p_lead.business_type, ''),
      -- Leads get a proposal page later (issue #7); until then crmData.proposalUrl, if any.
      'proposalUrl', coalesce(p_lead.crm_data ->> 'proposalUrl', ''),
      'email', p_lead.email,
      'phone', coalesce(p_lead.phone, ''))
  $$;
comment on function app.template_values(app.leads) is 'The value of every template variable for one lead (empty strings where the lead has none).';
revoke execute on function app.template_values(app.leads) from public;
grant execute on function app.template_values(app.leads) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The sequence itself, on the campaign row.
-- ---------------------------------------------------------------------------
alter table app.campaigns
  add column kind text not null default 'sequence' check (kind in ('sequence', 'adhoc')),
  add column steps jsonb not null default '[]',
  add column trigger_event text not null default 'manual'
    check (trigger_event in ('quiz_completed', 'proposal_viewed', 'cta_clicked', 'meeting_booked', 'stage_changed', 'manual')),
  add column trigger_stage_id text,
  add column ai_enabled boolean not null default false,
  add column ai_config jsonb not null default '{}',
  add column from_name text check (length(btrim(from_name)) between 1 and 200),
  -- The API asks for 1-8 steps; a campaign made without steps (Studio, older rows) just
  -- completes its enrolments.
  add constraint campaigns_steps_check check (jsonb_typeof(steps) = 'array' and jsonb_array_length(steps) <= 8),
  add constraint campaigns_trigger_stage_check check ((trigger_event = 'stage_changed') = (trigger_stage_id is not null)),
  add constraint campaigns_trigger_stage_fkey foreign key (org_id, trigger_stage_id) references app.stages (org_id, id),
  add constraint campaigns_ai_config_check check (jsonb_typeof(ai_config) = 'object' and length(ai_config::text) <= 2000);
comment on column app.campaigns.steps is 'The sequence: [{ delayMinutes, subject, body, condition? }], 1-8 steps; step 0''s delay counts from enrolment, each later one from the previous step.';
comment on column app.campaigns.trigger_event is 'The event that enrols a lead automatically (manual: only POST /campaigns/{id}/enroll).';
comment on column app.campaigns.kind is 'sequence: a campaign proper (counts against the plan); adhoc: made by POST /email/send-sequence for one lead (does not count).';

create index campaigns_org_trigger_idx on app.campaigns (org_id, trigger_event) where status = 'active';
create index campaigns_org_trigger_stage_idx on app.campaigns (org_id, trigger_stage_id) where trigger_stage_id is not null;

-- Every {{…}} in a template that is not a known variable, in order of appearance.
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
-- Ad-hoc campaigns do not count against the plan: the limit trigger and the usage
-- report skip them.
-- ---------------------------------------------------------------------------
create or replace function app._enforce_campaign_limit() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_tier text;
    v_limit integer;
    v_count integer;
  begin
    if new.kind = 'adhoc' then
      return new;
    end if;
    select o.tier, t.campaign_limit into v_tier, v_limit
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    where o.id = new.org_id
    for no key update of o;

    if v_limit is null then
      return new;
    end if;

    select count(*) into v_count
    from app.campaigns c
    where c.org_id = new.org_id and c.status <> 'archived' and c.kind = 'sequence' and c.id <> new.id;

    if v_count >= v_limit then
      perform app.refuse(402, 'campaign_limit_reached',
        pg_catalog.format('Campaign limit reached: the %s tier allows %s campaigns and this workspace has %s', v_tier, v_limit, v_count),
        'GET /api/openclaw/org/tier shows your plan and usage. Upgrade the plan, or archive a campaign you no longer run (DELETE /api/openclaw/campaigns/{campaignId}; archived campaigns do not count).');
    end if;
    return new;
  end;
  $$;
comment on function app._enforce_campaign_limit() is 'Trigger: refuses a new (or un-archived) campaign once the org runs its tier''s campaign limit; archived and ad-hoc campaigns do not count; exact under concurrency.';

create or replace function app.org_tier() returns table (
  org_id text, tier text, lead_limit integer, campaign_limit integer,
  leads integer, live_leads integer, deleted_leads integer,
  campaigns integer, archived_campaigns integer)
  language sql stable
  set search_path = ''
  as $$
    select o.id, o.tier, t.lead_limit, t.campaign_limit, l.total, l.total - l.deleted, l.deleted,
           c.counted, c.archived
    from app.orgs o
    join app.tiers t on t.tier = o.tier
    cross join lateral (
      select count(*)::integer as total, (count(*) filter (where x.deleted_at is not null))::integer as deleted
      from app.leads x where x.org_id = o.id
    ) l
    cross join lateral (
      select (count(*) filter (where x.status <> 'archived'))::integer as counted,
             (count(*) filter (where x.status = 'archived'))::integer as archived
      from app.campaigns x where x.org_id = o.id and x.kind = 'sequence'
    ) c
    where o.id = app.current_org_id()
  $$;
comment on function app.org_tier() is 'The current org''s tier, its limits and how many leads and campaigns (ad-hoc sequences excluded) count against them.';

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

create function app._create_campaign_settings() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    insert into app.campaign_settings (org_id) values (new.id) on conflict do nothing;
    return null;
  end;
  $$;
comment on function app._create_campaign_settings() is 'Trigger: every new org gets its send settings row with the defaults.';
revoke execute on function app._create_campaign_settings() from public;

create trigger orgs_create_campaign_settings after insert on app.orgs
  for each row execute function app._create_campaign_settings();

insert into app.campaign_settings (org_id) select o.id from app.orgs o on conflict do nothing;
