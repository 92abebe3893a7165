-- Custom fields: an org's definitions of the keys in a lead's customFields, and the check of
-- customFields against them, in the database so every writer (API, Studio, imports) is
-- held to them.
--   * app.custom_fields (/fields): key (unique per org, case-insensitive), label, field_type
--     (text | number | date | select | multiselect | boolean), options for the choice types,
--     required;
--   * a lead's custom_fields are checked when written (trigger leads_check_custom_fields on
--     app.leads, at the end of this file): each defined key must hold a value of its type
--     (null clears it), and required keys must be present and not null. Keys without a
--     definition stay free-form;
--   * a definition cannot be created or changed in a way that breaks live leads' values
--     (trigger custom_fields_check).

-- ---------------------------------------------------------------------------
-- The options of select and multiselect fields. Defined before the table, whose options
-- check calls it.
-- ---------------------------------------------------------------------------
create function app._field_options_ok(p_options text[]) returns boolean
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select pg_catalog.cardinality(p_options) between 1 and 200
      and (select count(distinct o) = count(*) and bool_and(length(btrim(o)) between 1 and 200 and o = btrim(o))
           from unnest(p_options) o)
  $$;
comment on function app._field_options_ok(text[]) is 'True for 1-200 distinct, trimmed, non-empty options of at most 200 characters each.';
revoke execute on function app._field_options_ok(text[]) from public;
grant execute on function app._field_options_ok(text[]) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Definitions
-- ---------------------------------------------------------------------------
create table app.custom_fields (
  id text not null default app.new_id('cf'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  key text not null,
  label text not null,
  field_type text not null,
  options text[],
  required boolean not null default false,
  -- Filled with "last" by the definition trigger when not given.
  position integer not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (org_id, id),
  constraint custom_fields_key_check check (key ~ '^[a-zA-Z][a-zA-Z0-9_]{0,63}$'),
  constraint custom_fields_label_check check (length(btrim(label)) between 1 and 200),
  constraint custom_fields_field_type_check check (field_type in ('text', 'number', 'date', 'select', 'multiselect', 'boolean')),
  constraint custom_fields_options_check check (case when field_type in ('select', 'multiselect')
    then options is not null and app._field_options_ok(options) else options is null end),
  constraint custom_fields_position_check check (position >= 0)
);
comment on table app.custom_fields is 'Custom field definitions per org: the type (and options) a lead''s customFields.<key> must have, and whether it is required.';
comment on column app.custom_fields.key is 'The key in a lead''s customFields; unique per org (case-insensitive), never changed.';
comment on column app.custom_fields.options is 'The allowed values of select and multiselect fields; null for other types.';
comment on column app.custom_fields.required is 'Whether customFields.<key> must be present and not null whenever a lead''s customFields are written.';

create unique index custom_fields_org_key_key on app.custom_fields (org_id, lower(key));
create index custom_fields_org_position_idx on app.custom_fields (org_id, position);

create trigger custom_fields_touch_updated_at before update on app.custom_fields
  for each row execute function app._touch_updated_at();

select app.make_org_private('app.custom_fields', 'Custom fields');
grant select, insert, update, delete on app.custom_fields to authenticated;
grant all on app.custom_fields to service_role;

-- ---------------------------------------------------------------------------
-- Values: whether a value fits a field type, and what it must be, in words, for refusals.
-- ---------------------------------------------------------------------------
-- ISO 8601: a date (2026-03-01) or a timestamp (2026-03-01T09:30:00Z, offsets and
-- fractions allowed) that is a real moment.
create function app._is_iso_date(p_text text) returns boolean
  language plpgsql stable
  set search_path = ''
  as $$
  begin
    if p_text ~ '^\d{4}-\d{2}-\d{2}$' then
      perform p_text::date;
    elsif p_text ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$' then
      perform p_text::timestamptz;
    else
      return false;
    end if;
    return true;
  exception when data_exception then
    return false;
  end;
  $$;
comment on function app._is_iso_date(text) is 'True for an ISO 8601 date (YYYY-MM-DD) or timestamp that names a real day and time.';
revoke execute on function app._is_iso_date(text) from public;
grant execute on function app._is_iso_date(text) to authenticated, service_role;

create function app.custom_field_value_ok(p_field_type text, p_options text[], p_value jsonb) returns boolean
  language sql stable
  set search_path = ''
  as $$
    select case
      when p_value is null or pg_catalog.jsonb_typeof(p_value) = 'null' then true
      when p_field_type = 'text' then pg_catalog.jsonb_typeof(p_value) = 'string' and length(p_value #>> '{}') <= 10000
      when p_field_type = 'number' then pg_catalog.jsonb_typeof(p_value) = 'number'
      when p_field_type = 'boolean' then pg_catalog.jsonb_typeof(p_value) = 'boolean'
      when p_field_type = 'date' then pg_catalog.jsonb_typeof(p_value) = 'string' and app._is_iso_date(p_value #>> '{}')
      when p_field_type = 'select' then pg_catalog.jsonb_typeof(p_value) = 'string' and (p_value #>> '{}') = any (p_options)
      when p_field_type = 'multiselect' then pg_catalog.jsonb_typeof(p_value) = 'array'
        and not exists (select from pg_catalog.jsonb_array_elements(p_value) e
                        where pg_catalog.jsonb_typeof(e) <> 'string' or not ((e #>> '{}') = any (p_options)))
      else false
    end
  $$;
comment on function app.custom_field_value_ok(text, text[], jsonb) is 'Whether a customFields value fits a field type (and its options); null always fits (it clears the value).';
revoke execute on function app.custom_field_value_ok(text, text[], jsonb) from public;
grant execute on function app.custom_field_value_ok(text, text[], jsonb) to authenticated, service_role;

create function app._custom_field_expectation(p_field_type text, p_options text[]) returns text
  language sql immutable
  set search_path = ''
  as $$
    select case p_field_type
      when 'text' then 'text (a string of at most 10,000 characters)'
      when 'number' then 'a number (a JSON number such as 42 or 9.5, not a string)'
      when 'boolean' then 'a boolean (true or false, not a string)'
      when 'date' then 'a date (an ISO 8601 string: "2026-03-01" or "2026-03-01T09:30:00Z")'
      when 'select' then 'one of ' || (select string_agg(pg_catalog.format('"%s"', o), ', ') from unnest(p_options) o)
      when 'multiselect' then 'an array of options from ' || (select string_agg(pg_catalog.format('"%s"', o), ', ') from unnest(p_options) o)
      else p_field_type
    end
  $$;
comment on function app._custom_field_expectation(text, text[]) is 'What a value of this field type must be, in words, for refusals.';
revoke execute on function app._custom_field_expectation(text, text[]) from public;
grant execute on function app._custom_field_expectation(text, text[]) to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- A definition's own rules, with refusals that say what to send. Security invoker on
-- purpose: the lead check below only sees the caller's own leads, so a definition aimed
-- at another org learns nothing about it before row-level security refuses the row.
-- ---------------------------------------------------------------------------
create function app._check_custom_field() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_choice boolean := new.field_type in ('select', 'multiselect');
    v_bad integer;
    v_example record;
    v_existing record;
  begin
    if tg_op = 'UPDATE' and new.key is distinct from old.key then
      perform app.refuse(400, 'field_key_immutable',
        pg_catalog.format('The key of custom field %s cannot change (it is "%s")', old.id, old.key),
        'Leads store values under the key. To rename it, create a new field (POST /api/openclaw/fields), copy the values, then delete this one.');
    end if;
    if tg_op = 'INSERT' then
      select f.id, f.key into v_existing from app.custom_fields f
      where f.org_id = new.org_id and lower(f.key) = lower(new.key);
      if v_existing.id is not null then
        perform app.refuse(409, 'field_exists',
          pg_catalog.format('A custom field with key "%s" already exists (%s)', v_existing.key, v_existing.id),
          pg_catalog.format('Keys are unique per workspace (case-insensitive). Change the existing field with PUT /api/openclaw/fields { "id": "%s", … }, or choose another key.', v_existing.id));
      end if;
    end if;
    new.label := coalesce(nullif(btrim(new.label), ''), new.key);
    if tg_op = 'INSERT' and new.position is null then
      select coalesce(max(f.position) + 1, 0) into new.position from app.custom_fields f where f.org_id = new.org_id;
    end if;
    -- Changing to a type without options drops the options that came with the old type.
    if tg_op = 'UPDATE' and not v_choice and new.field_type is distinct from old.field_type
       and new.options is not distinct from old.options then
      new.options := null;
    end if;

    if v_choice and (new.options is null or pg_catalog.cardinality(new.options) = 0) then
      perform app.refuse(400, 'invalid_field_options',
        pg_catalog.format('A %s field needs options', new.field_type),
        'Send options as a list of the allowed values, e.g. "options": ["Small", "Medium", "Large"] (1-200 distinct strings).');
    elsif not v_choice and new.options is not null then
      perform app.refuse(400, 'invalid_field_options',
        pg_catalog.format('Only select and multiselect fields have options, not %s fields', new.field_type),
        'Leave options out (or send null) for text, number, date and boolean fields.');
    elsif v_choice and not app._field_options_ok(new.options) then
      perform app.refuse(400, 'invalid_field_options',
        'options must be 1-200 distinct, non-empty strings of at most 200 characters without surrounding spaces',
        'Send options like ["Small", "Medium", "Large"]: no duplicates, no blank entries.');
    end if;

    if tg_op = 'INSERT' or new.field_type is distinct from old.field_type or new.options is distinct from old.options then
      select count(*) into v_bad
      from app.leads l
      where l.org_id = new.org_id and l.deleted_at is null and l.custom_fields ? new.key
        and not app.custom_field_value_ok(new.field_type, new.options, l.custom_fields -> new.key);
      if v_bad > 0 then
        select l.id, left((l.custom_fields -> new.key)::text, 100) as value into v_example
        from app.leads l
        where l.org_id = new.org_id and l.deleted_at is null and l.custom_fields ? new.key
          and not app.custom_field_value_ok(new.field_type, new.options, l.custom_fields -> new.key)
        order by l.created_at, l.id
        limit 1;
        perform app.refuse(409, 'field_values_conflict',
          pg_catalog.format('%s live lead(s) hold customFields.%s values that a %s field would refuse (it must be %s)',
            v_bad, new.key, new.field_type, app._custom_field_expectation(new.field_type, new.options)),
          pg_catalog.format('Lead %s has %s. Fix or clear those values first (PATCH /api/openclaw/leads/%s { "customFields": { "%s": null } } clears one), or keep the field''s current %s.',
            v_example.id, v_example.value, v_example.id, new.key,
            case when tg_op = 'INSERT' then 'free-form values (no definition)' else 'type and options' end));
      end if;
    end if;
    return new;
  end;
  $$;
comment on function app._check_custom_field() is 'Trigger: a definition''s key never changes, options fit the type, and no live lead holds a value the (new) definition refuses.';
revoke execute on function app._check_custom_field() from public;

create trigger custom_fields_check before insert or update on app.custom_fields
  for each row execute function app._check_custom_field();

-- ---------------------------------------------------------------------------
-- A lead's customFields against the definitions, whenever they are written. Values that
-- did not change are not checked again (a stored value can predate its definition only
-- on a soft-deleted lead); required keys are checked on every write of customFields.
-- app.custom_fields_problem says what is wrong, as data, so the batch upsert
-- (app._upsert_leads, 40_leads.sql) can fail one item of many with the same words the
-- trigger refuses a single write with. Security invoker on purpose (see above): only the
-- caller's own definitions apply. PL/pgSQL rather than SQL: its query is planned through the
-- plan cache, which plans again for another role; a SQL function called from the trigger's
-- expression would keep, for the rest of the transaction, a plan made under the first
-- caller's row-level security (a Studio edit after an API write would then see no definition).
-- ---------------------------------------------------------------------------
create function app.custom_fields_problem(p_org_id text, p_new jsonb, p_old jsonb default null) returns jsonb
  language plpgsql stable
  set search_path = ''
  as $$
  begin
    return (select pg_catalog.jsonb_build_object('status', 400, 'code', 'invalid_custom_field', 'field', 'customFields.' || f.key,
      'message', case when v.value is null
        then pg_catalog.format('customFields.%s is required (%s)', f.key, app._custom_field_expectation(f.field_type, f.options))
        else pg_catalog.format('customFields.%s must be %s, got %s', f.key, app._custom_field_expectation(f.field_type, f.options),
          case when length(v.value::text) > 100 then left(v.value::text, 100) || '…' else v.value::text end) end,
      'hint', case when v.value is null
        then pg_catalog.format('Send customFields.%s ("%s") as %s whenever you write a lead''s customFields. GET /api/openclaw/fields lists the definitions.',
          f.key, f.label, app._custom_field_expectation(f.field_type, f.options))
        else pg_catalog.format('%s ("%s") is a %s field: send %s, or null to clear it. GET /api/openclaw/fields lists the definitions.',
          f.key, f.label, f.field_type, app._custom_field_expectation(f.field_type, f.options)) end)
    from app.custom_fields f
    cross join lateral (select nullif(p_new -> f.key, 'null'::jsonb) as value) v
    where f.org_id = p_org_id and (f.required or p_new ? f.key)
      and case when v.value is null then f.required
               else (p_old is null or v.value is distinct from p_old -> f.key)
                    and not app.custom_field_value_ok(f.field_type, f.options, v.value) end
    order by f.position, f.key
    limit 1);
  end;
  $$;
comment on function app.custom_fields_problem(text, jsonb, jsonb) is 'The first way a lead''s customFields (p_new; p_old: the stored ones, whose unchanged values are not checked again) break the org''s definitions, as {status, code, message, hint, field}; null when they fit.';
revoke execute on function app.custom_fields_problem(text, jsonb, jsonb) from public;
grant execute on function app.custom_fields_problem(text, jsonb, jsonb) to authenticated, service_role;

create function app._check_lead_custom_fields() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_problem jsonb;
  begin
    if tg_op = 'UPDATE' and new.custom_fields is not distinct from old.custom_fields then
      return new;
    end if;
    v_problem := app.custom_fields_problem(new.org_id, new.custom_fields, case when tg_op = 'UPDATE' then old.custom_fields end);
    if v_problem is not null then
      perform app.refuse(400, v_problem ->> 'code', v_problem ->> 'message', v_problem ->> 'hint');
    end if;
    return new;
  end;
  $$;
comment on function app._check_lead_custom_fields() is 'Trigger: refuses (400, naming the field and its type) customFields values that do not fit their definitions, and missing required fields.';
revoke execute on function app._check_lead_custom_fields() from public;

create trigger leads_check_custom_fields before insert or update of custom_fields on app.leads
  for each row execute function app._check_lead_custom_fields();
