-- API keys: `rcm_live_` + 64 random hex digits, shown once at creation, stored only as
-- a SHA-256 hash with a short display prefix.

create table app.api_keys (
  id text primary key default app.new_id('key'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  name text not null default 'default' check (length(name) between 1 and 100),
  key_hash text not null check (key_hash ~ '^[0-9a-f]{64}$'),
  key_prefix text not null check (length(key_prefix) between 8 and 32),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
comment on table app.api_keys is 'Hashed API keys per org; the plaintext key is never stored.';

create unique index api_keys_key_hash_key on app.api_keys (key_hash);
create index api_keys_org_id_idx on app.api_keys (org_id, created_at);

alter table app.api_keys enable row level security;
alter table app.api_keys force row level security;
create policy "API keys are visible to their own org" on app.api_keys
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "API keys can be revoked by their own org" on app.api_keys
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));

-- Even its own org never reads a key's hash back.
grant select (id, org_id, name, key_prefix, created_at, last_used_at, revoked_at) on app.api_keys to authenticated;
grant update (name, revoked_at) on app.api_keys to authenticated;
grant all on app.api_keys to service_role;

-- ---------------------------------------------------------------------------
-- Key material.
-- ---------------------------------------------------------------------------
create function app.hash_api_key(p_key text) returns text
  language sql immutable parallel safe
  set search_path = ''
  as $$
    select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_key, 'UTF8')), 'hex')
  $$;
comment on function app.hash_api_key(text) is 'The stored form of an API key: lowercase hex SHA-256 of its UTF-8 bytes.';
revoke execute on function app.hash_api_key(text) from public;
grant execute on function app.hash_api_key(text) to service_role;

create function app._issue_api_key(p_org_id text, p_name text default 'default')
  returns table (key_id text, api_key text)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_key text := 'rcm_live_'
      || replace(pg_catalog.gen_random_uuid()::text, '-', '')
      || replace(pg_catalog.gen_random_uuid()::text, '-', '');
  begin
    insert into app.api_keys (org_id, name, key_hash, key_prefix)
    values (p_org_id, p_name, app.hash_api_key(v_key), left(v_key, 16))
    returning id into key_id;
    api_key := v_key;
    return next;
  end;
  $$;
comment on function app._issue_api_key(text, text) is 'Creates a key for an org and returns its plaintext once; only its hash is kept.';
revoke execute on function app._issue_api_key(text, text) from public;

-- ---------------------------------------------------------------------------
-- Authentication: the one cross-tenant lookup every request makes. On success it
-- sets the transaction-local JWT claims (role authenticated, org_id, key_id) that
-- row-level security reads; the caller then switches to the authenticated role.
-- ---------------------------------------------------------------------------
create function app.authenticate_api_key(p_key_hash text)
  returns table (org_id text, tier text, key_id text, revoked boolean)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_key app.api_keys%rowtype;
  begin
    select k.* into v_key from app.api_keys k where k.key_hash = p_key_hash;
    if not found then
      return;
    end if;

    org_id := v_key.org_id;
    key_id := v_key.id;
    revoked := v_key.revoked_at is not null;
    select o.tier into tier from app.orgs o where o.id = v_key.org_id;

    if not revoked then
      perform pg_catalog.set_config(
        'request.jwt.claims',
        pg_catalog.json_build_object('role', 'authenticated', 'org_id', v_key.org_id, 'key_id', v_key.id)::text,
        true);
      -- One write a minute at most per key, so busy agents don't turn every read into a write.
      if v_key.last_used_at is null or v_key.last_used_at < pg_catalog.now() - interval '1 minute' then
        update app.api_keys set last_used_at = pg_catalog.now() where id = v_key.id;
      end if;
    end if;
    return next;
  end;
  $$;
comment on function app.authenticate_api_key(text) is 'Looks up an API key by hash; for a live key sets request.jwt.claims to its org for the rest of the transaction.';
revoke execute on function app.authenticate_api_key(text) from public;
grant execute on function app.authenticate_api_key(text) to anon, service_role;
