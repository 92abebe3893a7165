-- members roles sign in
-- Written by npm run db:diff from the difference between supabase/migrations/ and sql/;
-- reviewed by hand: ordered so that each step finds what it uses, the key recoveries renamed
-- into email links (migra would drop and recreate them, losing pending recoveries), forced RLS
-- and the restrictive write policies applied by the same loop as sql/98_roles.sql, and the
-- existing orgs given their owner as first member.
--
-- Humans get in:
--   1. role helpers (10_foundation.sql): app.current_member_role, app.current_member_id,
--      app.can_write, app.can_administer, app.ensure_can_write, app.ensure_can_administer,
--      app.make_read_only_for_viewers; app.current_actor names members; Supabase Auth's role
--      supabase_auth_admin where it is missing (00_supabase.sql);
--   2. members (24_members.sql): app.org_members with its guard, invitation mail and the
--      owner trigger on app.orgs; the owners of existing orgs become their first members;
--   3. browser sessions: app.member_sessions, app.member_session_details;
--   4. app.key_recoveries becomes app.email_links (purpose, member_id, session_id), the
--      one-time links of key recovery and sign-in; app.system_mail.recovery_id becomes link_id
--      and the mail kinds sign_in, invitation and welcome join key_recovery;
--   5. functions: members, sign-in, sessions, the Supabase Auth hook; the changed ones of
--      20_orgs_keys.sql (signup mails the welcome, keys are managed by owners and admins,
--      recovery through email links), 74_outbox.sql (any link's mail, urgent mail first) and
--      the security definer writers that now check the role (52, 72, 82, 86);
--   6. API keys are created and changed only by owners and admins;
--   7. the api schema of views for supabase-js (96_api.sql);
--   8. the role rule on every tenant table (98_roles.sql).

-- ---------------------------------------------------------------------------
-- 1. Roles and their helpers
-- ---------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin nologin noinherit;
  end if;
end
$$;

create or replace function app.current_member_role() returns text
  language sql stable parallel safe
  set search_path = ''
  as $$
    select case
      when c ? 'member_role' then c ->> 'member_role'
      when c ->> 'org_id' is not null then 'owner'
    end
    from (select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb) as claims (c)
  $$;
comment on function app.current_member_role() is 'The role the current request acts with: the member_role claim of a person (owner, admin, member, viewer), owner for claims that name an org without one (API keys, inbound webhooks, automation), null outside a tenant request.';
revoke execute on function app.current_member_role() from public;
grant execute on function app.current_member_role() to anon, authenticated, service_role;

create or replace function app.current_member_id() returns text
  language sql stable parallel safe
  set search_path = ''
  as $$
    select nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'member_id'
  $$;
comment on function app.current_member_id() is 'The member the current request acts as (member_id claim of a browser session or a Supabase Auth JWT); null for API keys and outside a request.';
revoke execute on function app.current_member_id() from public;
grant execute on function app.current_member_id() to anon, authenticated, service_role;

create or replace function app.can_write() returns boolean
  language sql stable parallel safe
  set search_path = ''
  as $$
    select coalesce(app.current_member_role() in ('owner', 'admin', 'member'), false)
  $$;
comment on function app.can_write() is 'Whether the current request may change its org''s data: owners, admins, members and API keys may; viewers (and unknown roles) may not.';
revoke execute on function app.can_write() from public;
grant execute on function app.can_write() to anon, authenticated, service_role;

create or replace function app.can_administer() returns boolean
  language sql stable parallel safe
  set search_path = ''
  as $$
    select coalesce(app.current_member_role() in ('owner', 'admin'), false)
  $$;
comment on function app.can_administer() is 'Whether the current request may manage its org''s members and API keys: owners, admins and API keys may.';
revoke execute on function app.can_administer() from public;
grant execute on function app.can_administer() to anon, authenticated, service_role;

create or replace function app.ensure_can_write() returns boolean
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_role constant text := app.current_member_role();
  begin
    if coalesce(v_role in ('owner', 'admin', 'member'), false) then
      return true;
    end if;
    perform app.refuse(403, 'read_only_role',
      case when v_role = 'viewer' then 'Your role in this workspace is viewer: it reads everything and changes nothing'
           else pg_catalog.format('The role %s may not change anything in this workspace', coalesce(v_role, '(none)')) end,
      'Ask an owner or admin of the workspace for the member role: PATCH /api/openclaw/members/{your member id} { "role": "member" } (GET /api/openclaw/members lists the members).');
    return false;
  end;
  $$;
comment on function app.ensure_can_write() is 'true when the current request may change its org''s data (app.can_write); otherwise raises 403 read_only_role with a hint. What the restrictive write policies call.';
revoke execute on function app.ensure_can_write() from public;
grant execute on function app.ensure_can_write() to anon, authenticated, service_role;

create or replace function app.ensure_can_administer() returns boolean
  language plpgsql stable
  set search_path = ''
  as $$
  declare
    v_role constant text := app.current_member_role();
  begin
    if coalesce(v_role in ('owner', 'admin'), false) then
      return true;
    end if;
    perform app.refuse(403, 'admin_role_required',
      pg_catalog.format('Managing members and API keys needs the owner or admin role; yours is %s', coalesce(v_role, '(none)')),
      'Ask an owner or admin of the workspace to do it, or to make you an admin: PATCH /api/openclaw/members/{id} { "role": "admin" }. An API key acts with an owner''s rights.');
    return false;
  end;
  $$;
comment on function app.ensure_can_administer() is 'true when the current request may manage its org''s members and API keys (app.can_administer); otherwise raises 403 admin_role_required with a hint.';
revoke execute on function app.ensure_can_administer() from public;
grant execute on function app.ensure_can_administer() to anon, authenticated, service_role;

create or replace function app.make_read_only_for_viewers(p_table regclass) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_check constant text := '((select app.ensure_can_write()))';
    v_policy record;
  begin
    for v_policy in
      select * from (values
        ('Only roles that write add rows', 'insert', null, v_check),
        ('Only roles that write change rows', 'update', v_check, v_check),
        ('Only roles that write delete rows', 'delete', v_check, null)) as p (name, command, using_expr, check_expr)
    loop
      if not exists (select from pg_catalog.pg_policy p where p.polrelid = p_table and p.polname = v_policy.name) then
        execute pg_catalog.format('create policy %I on %s as restrictive for %s to authenticated%s%s',
          v_policy.name, p_table, v_policy.command,
          coalesce(' using ' || v_policy.using_expr, ''), coalesce(' with check ' || v_policy.check_expr, ''));
      end if;
    end loop;
  end;
  $$;
comment on function app.make_read_only_for_viewers(regclass) is 'Adds the restrictive insert, update and delete policies through app.ensure_can_write() to a table (once): roles that may not write (viewers) change nothing in it, whatever the permissive policies allow.';
revoke execute on function app.make_read_only_for_viewers(regclass) from public;

create or replace function app.current_actor() returns text
  language sql stable
  set search_path = ''
  as $$
    select coalesce(
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'actor',
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'key_id',
      nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'member_id',
      session_user::text)
  $$;
comment on function app.current_actor() is 'Who is making the current change: the actor claim, else the API key id, else the member id (a browser session or a Supabase Auth user), else the database user.';
revoke execute on function app.current_actor() from public;
grant execute on function app.current_actor() to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- 2. Members
-- ---------------------------------------------------------------------------
create table app.org_members (
  id text not null default app.new_id('mem'),
  org_id text not null default app.current_org_id() references app.orgs (id) on delete cascade,
  email text not null constraint org_members_email_check
    check (length(email) <= 320 and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  role text not null default 'member' constraint org_members_role_check check (role in ('owner', 'admin', 'member', 'viewer')),
  -- Who added them (a member id or an API key id, from the request's claims); null for the
  -- owner of a new workspace and for rows written outside a request.
  invited_by text check (length(invited_by) <= 100),
  invited_at timestamptz not null default now(),
  -- Their first sign-in: accepting the invitation.
  joined_at timestamptz,
  last_sign_in_at timestamptz,
  -- The Supabase Auth user they sign in as on a hosted project, once the hook matched them.
  auth_user_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The address as lookups compare it. A plain column (not an expression index) so lookups
  -- stay index scans under RLS, as for leads.
  email_key text generated always as (lower(email)) stored,
  primary key (org_id, id)
);
comment on table app.org_members is 'The people of a workspace and their role (owner, admin, member, viewer); joined_at is their first sign-in. Managed by owners and admins; the last owner stays.';

create unique index org_members_org_email_key on app.org_members (org_id, email_key);
-- Signing in finds a person's memberships by address before any org is known.
create index org_members_email_idx on app.org_members (email_key);
create index org_members_auth_user_idx on app.org_members (auth_user_id) where auth_user_id is not null;

create trigger org_members_touch_updated_at before update on app.org_members
  for each row execute function app._touch_updated_at();

alter table app.org_members enable row level security;
alter table app.org_members force row level security;
create policy "Members are visible to their own org" on app.org_members
  for select to authenticated using (org_id = (select app.current_org_id()));
create policy "Members can be added to the caller's org" on app.org_members
  for insert to authenticated with check (org_id = (select app.current_org_id()));
create policy "Members can be changed by their own org" on app.org_members
  for update to authenticated
  using (org_id = (select app.current_org_id()))
  with check (org_id = (select app.current_org_id()));
create policy "Members can be removed by their own org" on app.org_members
  for delete to authenticated using (org_id = (select app.current_org_id()));
-- Whoever writes: only owners and admins (and API keys) manage members.
create policy "Members are added only by owners and admins" on app.org_members
  as restrictive for insert to authenticated with check ((select app.ensure_can_administer()));
create policy "Members are changed only by owners and admins" on app.org_members
  as restrictive for update to authenticated
  using ((select app.ensure_can_administer()))
  with check ((select app.ensure_can_administer()));
create policy "Members are removed only by owners and admins" on app.org_members
  as restrictive for delete to authenticated using ((select app.ensure_can_administer()));

grant select (id, org_id, email, role, invited_by, invited_at, joined_at, last_sign_in_at, created_at, updated_at, email_key)
  on app.org_members to authenticated;
grant insert (email, role) on app.org_members to authenticated;
grant update (role) on app.org_members to authenticated;
grant delete on app.org_members to authenticated;
grant all on app.org_members to service_role;

-- For every writer: who invited a member added by a request; only owners make, change or
-- remove owners (checked when a request acts: Studio and SQL are the database's owners); the
-- last owner of an org is never removed or demoted. Changes to an org's owners take a per-org
-- lock first, and the check then reads what is committed, so two admins demoting the two
-- last owners at once cannot both succeed.
create or replace function app._guard_org_member() returns trigger
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_acting constant boolean := app.current_org_id() is not null;
    v_touches_owner boolean;
  begin
    if tg_op = 'INSERT' and v_acting then
      new.invited_by := app.current_actor();
      new.invited_at := pg_catalog.now();
    end if;
    if tg_op = 'UPDATE' and (new.org_id is distinct from old.org_id or pg_catalog.lower(new.email) is distinct from old.email_key) then
      perform app.refuse(400, 'member_identity_fixed', 'A member''s workspace and address cannot change',
        'Remove the member (DELETE /api/openclaw/members/{id}) and invite the new address (POST /api/openclaw/members).');
    end if;

    v_touches_owner := case tg_op
      when 'INSERT' then new.role = 'owner'
      when 'DELETE' then old.role = 'owner'
      else old.role is distinct from new.role and 'owner' in (old.role, new.role) end;
    if v_touches_owner and v_acting and app.current_member_role() is distinct from 'owner' then
      perform app.refuse(403, 'owner_role_required', 'Only an owner can make someone an owner, or change or remove an owner',
        'Ask an owner of the workspace to do it (GET /api/openclaw/members lists the owners). An API key acts with an owner''s rights.');
    end if;

    if (tg_op = 'DELETE' and old.role = 'owner') or (tg_op = 'UPDATE' and old.role = 'owner' and new.role <> 'owner') then
      perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('app.org_members:' || old.org_id, 0));
      -- An org being deleted takes its members with it, owners included.
      if exists (select from app.orgs o where o.id = old.org_id)
         and not exists (select from app.org_members m where m.org_id = old.org_id and m.id <> old.id and m.role = 'owner') then
        perform app.refuse(409, 'last_owner', pg_catalog.format('%s is the workspace''s last owner', old.email),
          'Make another member an owner first (PATCH /api/openclaw/members/{id} { "role": "owner" }), then change or remove this one.');
      end if;
    end if;
    return case when tg_op = 'DELETE' then old else new end;
  end;
  $$;
comment on function app._guard_org_member() is 'Trigger: records who invited a member added by a request; only owners make, change or remove owners (403 owner_role_required); the last owner is never removed or demoted (409 last_owner); address and workspace are fixed.';
revoke execute on function app._guard_org_member() from public;

create trigger org_members_guard before insert or update or delete on app.org_members
  for each row execute function app._guard_org_member();

create or replace function app._add_org_owner() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    insert into app.org_members (org_id, email, role) values (new.id, pg_catalog.lower(new.owner_email), 'owner');
    return null;
  end;
  $$;
comment on function app._add_org_owner() is 'Trigger: makes a new org''s owner_email its first member, with the owner role.';
revoke execute on function app._add_org_owner() from public;

create trigger orgs_owner_member after insert on app.orgs
  for each row execute function app._add_org_owner();

-- ---------------------------------------------------------------------------
-- 3. Browser sessions
-- ---------------------------------------------------------------------------
create table app.member_sessions (
  id text not null default app.new_id('ses'),
  org_id text not null references app.orgs (id) on delete cascade,
  member_id text not null,
  token_hash text not null constraint member_sessions_token_hash_check check (token_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  -- The absolute end: 30 days after sign-in.
  expires_at timestamptz not null,
  revoked_at timestamptz,
  user_agent text check (length(user_agent) <= 500),
  primary key (org_id, id),
  -- Removing a member ends their sessions.
  constraint member_sessions_member_fkey foreign key (org_id, member_id) references app.org_members (org_id, id) on delete cascade
);
comment on table app.member_sessions is 'Browser sessions of members: the cookie''s token only as its hash; valid until revoked, 14 days without a request, or 30 days after sign-in.';
-- Every request with a session cookie finds its session by the token's hash before any org is known.
create unique index member_sessions_token_hash_key on app.member_sessions (token_hash);
create index member_sessions_member_idx on app.member_sessions (org_id, member_id, created_at);

alter table app.member_sessions enable row level security;
alter table app.member_sessions force row level security;
-- Written only by the sign-in functions below; a person sees their own sessions.
create policy "Sessions are visible to the member they belong to" on app.member_sessions
  for select to authenticated
  using (org_id = (select app.current_org_id()) and member_id = (select app.current_member_id()));
grant select (id, org_id, member_id, created_at, last_seen_at, expires_at, revoked_at, user_agent) on app.member_sessions to authenticated;
grant all on app.member_sessions to service_role;

create view app.member_session_details with (security_invoker = true) as
  select s.id, s.org_id, s.member_id, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, s.user_agent,
    least(s.expires_at, s.last_seen_at + interval '14 days') as idle_expires_at,
    case
      when s.revoked_at is not null then 'revoked'
      when least(s.expires_at, s.last_seen_at + interval '14 days') <= pg_catalog.now() then 'expired'
      else 'active'
    end as status
  from app.member_sessions s;
comment on view app.member_session_details is 'Sessions as GET /auth/sessions lists them: times, user agent, when the session ends if unused (idle_expires_at) and status (active, expired, revoked); never the hash.';
grant select on app.member_session_details to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- 4. Key recoveries become email links; system mail carries any link
-- ---------------------------------------------------------------------------
alter table app.key_recoveries rename to email_links;
alter table app.email_links rename constraint key_recoveries_pkey to email_links_pkey;
alter table app.email_links rename constraint key_recoveries_org_id_fkey to email_links_org_id_fkey;
alter table app.email_links rename constraint key_recoveries_email_check to email_links_email_check;
alter table app.email_links rename constraint key_recoveries_token_hash_check to email_links_token_hash_check;
alter table app.email_links rename constraint key_recoveries_key_fkey to email_links_key_fkey;
alter index app.key_recoveries_token_hash_key rename to email_links_token_hash_key;
alter index app.key_recoveries_org_idx rename to email_links_org_idx;
alter table app.email_links alter column id set default app.new_id('lnk');
-- Every link so far is a key recovery.
alter table app.email_links add column purpose text not null default 'key_recovery'
  constraint email_links_purpose_check check (purpose in ('key_recovery', 'sign_in', 'invitation', 'welcome'));
alter table app.email_links alter column purpose drop default;
alter table app.email_links add column member_id text;
alter table app.email_links add column session_id text;
alter table app.email_links add constraint email_links_member_fkey foreign key (org_id, member_id) references app.org_members (org_id, id) on delete cascade;
alter table app.email_links add constraint email_links_session_fkey foreign key (org_id, session_id) references app.member_sessions (org_id, id) on delete set null (session_id);
alter table app.email_links add constraint email_links_member_check check ((purpose = 'key_recovery') = (member_id is null));
comment on table app.email_links is 'One-time links the system mails (key recovery; sign-in, invitation and welcome links of members): the token only as its hash, when it expires (15 minutes after sending), when it was used and what it issued (a key or a session).';
create index email_links_member_idx on app.email_links (org_id, member_id) where member_id is not null;
drop policy "Key recoveries are visible to their own org" on app.email_links;
-- Written only by the functions that mail and use them. Owners and admins see the org's
-- links; a member sees their own sign-in links.
create policy "Email links are visible to admins and to their member" on app.email_links
  for select to authenticated
  using (org_id = (select app.current_org_id())
         and ((select app.can_administer()) or member_id = (select app.current_member_id())));
grant select (id, org_id, email, requested_at, token_expires_at, used_at, key_id, purpose, member_id, session_id) on app.email_links to authenticated;

alter table app.system_mail rename column recovery_id to link_id;
alter table app.system_mail drop constraint system_mail_recovery_check;
-- Every mail so far is a key recovery, which always had its recovery.
alter table app.system_mail alter column link_id set not null;
alter table app.system_mail rename constraint system_mail_recovery_fkey to system_mail_link_fkey;
alter table app.system_mail drop constraint system_mail_kind_check;
alter table app.system_mail add constraint system_mail_kind_check check (kind in ('key_recovery', 'sign_in', 'invitation', 'welcome'));
drop index app.system_mail_recovery_idx;
create index system_mail_link_idx on app.system_mail (org_id, link_id);
drop index app.system_mail_queued_idx;
-- The claim order: mail someone is waiting for first.
create index system_mail_queued_idx on app.system_mail ((kind in ('invitation', 'welcome')), next_attempt_at, id) where status = 'queued';
comment on table app.system_mail is 'Mail the system sends a workspace''s people (key recovery, sign-in, invitation and welcome links), from queued to sent, with the claiming worker, its lease and the outcome; never the secret a mail carries.';

-- ---------------------------------------------------------------------------
-- 5. Functions
-- ---------------------------------------------------------------------------
drop function app._issue_recovery_token(text, text, timestamptz);

create or replace function app._send_email_link(p_org_id text, p_purpose text, p_email text, p_member_id text default null)
  returns text
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_link text;
  begin
    insert into app.email_links (org_id, purpose, email, member_id)
    values (p_org_id, p_purpose, pg_catalog.lower(pg_catalog.btrim(p_email)), p_member_id)
    returning id into v_link;
    insert into app.system_mail (org_id, kind, link_id, to_email)
    values (p_org_id, p_purpose, v_link, pg_catalog.lower(pg_catalog.btrim(p_email)));
    return v_link;
  end;
  $$;
comment on function app._send_email_link(text, text, text, text) is 'Records a one-time link (key_recovery, sign_in, invitation, welcome) for an address of an org and queues its mail; returns the link''s id. The token is made when the mail is sent.';
revoke execute on function app._send_email_link(text, text, text, text) from public;

create or replace function app._issue_email_link_token(p_org_id text, p_link_id text, p_now timestamptz default now())
  returns table (token text, expires_at timestamptz)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_token constant text := replace(pg_catalog.gen_random_uuid()::text, '-', '') || replace(pg_catalog.gen_random_uuid()::text, '-', '');
  begin
    update app.email_links l
    set token_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_token, 'UTF8')), 'hex'),
        token_expires_at = p_now + interval '15 minutes'
    where l.org_id = p_org_id and l.id = p_link_id and l.used_at is null
      and l.requested_at > p_now - case when l.purpose in ('invitation', 'welcome') then interval '7 days' else interval '1 hour' end
    returning l.token_expires_at into expires_at;
    if found then
      token := v_token;
      return next;
    end if;
  end;
  $$;
comment on function app._issue_email_link_token(text, text, timestamptz) is 'A fresh one-time token for an unused link still owed its mail (key recovery and sign-in links within the hour, invitations and welcomes within 7 days): stores its hash, valid 15 minutes from p_now, returns the plaintext once; nothing otherwise.';
revoke execute on function app._issue_email_link_token(text, text, timestamptz) from public;

create or replace function app._mail_invitation() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    if app.current_org_id() is null then
      return null;
    end if;
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('app.invitations:' || new.org_id, 0));
    if (select count(*) from app.email_links l
        where l.org_id = new.org_id and l.purpose = 'invitation' and l.requested_at > pg_catalog.now() - interval '1 hour') >= 20 then
      perform app.refuse(429, 'too_many_invitations', 'This workspace has sent 20 invitations in the last hour',
        'Invite the others later; an invited person can also sign in by themselves once added (POST /api/openclaw/auth/sign-in { "email": "…" }).',
        pg_catalog.jsonb_build_object('retryAfter', 3600));
    end if;
    perform app._send_email_link(new.org_id, 'invitation', new.email, new.id);
    return null;
  end;
  $$;
comment on function app._mail_invitation() is 'Trigger: a member added by a request (not by signup or SQL) is mailed an invitation with a sign-in link; at most 20 an org an hour (429 too_many_invitations).';
revoke execute on function app._mail_invitation() from public;

create trigger org_members_invite after insert on app.org_members
  for each row execute function app._mail_invitation();

create view app.member_details with (security_invoker = true) as
  select m.id, m.org_id, m.email, m.role, m.invited_by, m.invited_at, m.joined_at, m.last_sign_in_at, m.created_at, m.updated_at,
    case when m.joined_at is null then 'invited' else 'active' end as status
  from app.org_members m;
comment on view app.member_details is 'Members as the API lists them: address, role, who invited them and when, when they joined and last signed in, status (invited until the first sign-in, then active).';
grant select on app.member_details to authenticated, service_role;

create or replace function app._valid_member_role(p_role text) returns text
  language plpgsql immutable
  set search_path = ''
  as $$
  begin
    if p_role is null or p_role not in ('owner', 'admin', 'member', 'viewer') then
      perform app.refuse(400, 'invalid_role', 'role must be owner, admin, member or viewer',
        'owner: everything; admin: everything but owners; member: reads and writes the workspace''s data; viewer: reads everything, writes nothing.');
    end if;
    return p_role;
  end;
  $$;
comment on function app._valid_member_role(text) is 'p_role when it is owner, admin, member or viewer; 400 invalid_role otherwise.';
revoke execute on function app._valid_member_role(text) from public;
grant execute on function app._valid_member_role(text) to authenticated, service_role;

create or replace function app.invite_member(p_email text, p_role text default 'member') returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org constant text := app.current_org_id();
    v_email constant text := pg_catalog.lower(pg_catalog.btrim(p_email));
    v_existing text;
    v_id text;
  begin
    perform app.ensure_can_administer();
    perform app._valid_member_role(p_role);
    if v_email is null or length(v_email) > 320 or v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
      perform app.refuse(400, 'invalid_email', 'email must be a valid address of at most 320 characters',
        'Send the address of the person to invite: { "email": "colleague@example.com", "role": "member" }.');
    end if;
    select m.id into v_existing from app.org_members m where m.org_id = v_org and m.email_key = v_email;
    if v_existing is not null then
      perform app.refuse(409, 'member_exists', pg_catalog.format('%s is already a member of this workspace', v_email),
        pg_catalog.format('Change their role with PATCH /api/openclaw/members/%s { "role": "…" }; they sign in with POST /api/openclaw/auth/sign-in { "email": "%s" }.', v_existing, v_email),
        pg_catalog.jsonb_build_object('existingId', v_existing));
    end if;
    insert into app.org_members as m (email, role) values (v_email, p_role) returning m.id into v_id;
    return v_id;
  end;
  $$;
comment on function app.invite_member(text, text) is 'POST /members: adds an address to the current org with a role (owners and admins; an owner only by an owner), which mails the invitation; 409 member_exists with existingId when it is a member already. Returns the member id.';
revoke execute on function app.invite_member(text, text) from public;
grant execute on function app.invite_member(text, text) to authenticated, service_role;

create or replace function app.change_member_role(p_member_id text, p_role text) returns boolean
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_old text;
  begin
    perform app.ensure_can_administer();
    perform app._valid_member_role(p_role);
    select m.role into v_old from app.org_members m where m.org_id = app.current_org_id() and m.id = p_member_id for update;
    if v_old is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Member %s was not found', p_member_id),
        'GET /api/openclaw/members lists this workspace''s members.');
    end if;
    if v_old = p_role then
      return false;
    end if;
    update app.org_members m set role = p_role where m.org_id = app.current_org_id() and m.id = p_member_id;
    return true;
  end;
  $$;
comment on function app.change_member_role(text, text) is 'PATCH /members/{id}: gives a member of the current org another role (owners and admins; owners only by an owner; never the last owner away); returns whether it changed. 404 for a member of another org.';
revoke execute on function app.change_member_role(text, text) from public;
grant execute on function app.change_member_role(text, text) to authenticated, service_role;

create or replace function app.remove_member(p_member_id text) returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_email text;
  begin
    perform app.ensure_can_administer();
    delete from app.org_members m where m.org_id = app.current_org_id() and m.id = p_member_id returning m.email into v_email;
    if v_email is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Member %s was not found', p_member_id),
        'GET /api/openclaw/members lists this workspace''s members.');
    end if;
    return v_email;
  end;
  $$;
comment on function app.remove_member(text) is 'DELETE /members/{id}: removes a member of the current org, ending their sessions and links (owners and admins; owners only by an owner; never the last owner); returns their address. 404 for a member of another org.';
revoke execute on function app.remove_member(text) from public;
grant execute on function app.remove_member(text) to authenticated, service_role;

create or replace function app.request_sign_in(p_email text, p_org_id text default null) returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_email constant text := pg_catalog.lower(pg_catalog.btrim(p_email));
    v_member app.org_members;
  begin
    if v_email is null or length(v_email) > 320 or v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
      perform app.refuse(400, 'invalid_email', 'email must be a valid address of at most 320 characters',
        'Send the address you were invited with: { "email": "you@example.com" }.');
    end if;
    select m.* into v_member from app.org_members m
    where m.email_key = v_email and (p_org_id is null or m.org_id = p_org_id)
    order by m.last_sign_in_at desc nulls last, m.invited_at desc
    limit 1;
    if v_member.id is not null then
      perform app._send_email_link(v_member.org_id, 'sign_in', v_member.email, v_member.id);
    end if;
  end;
  $$;
comment on function app.request_sign_in(text, text) is 'POST /auth/sign-in: for a member''s address queues a mail with a one-time sign-in link (to workspace p_org_id, else the one used most recently); nothing for other addresses, and the same answer.';
revoke execute on function app.request_sign_in(text, text) from public;
grant execute on function app.request_sign_in(text, text) to anon, service_role;

create or replace function app.sign_in_with_link(p_token text, p_user_agent text default null)
  returns table (session_token text, session_id text, org_id text, member_id text, member_role text, email text,
                 expires_at timestamptz, purpose text, first_sign_in boolean)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_link app.email_links;
    v_member app.org_members;
    v_token constant text := replace(pg_catalog.gen_random_uuid()::text, '-', '') || replace(pg_catalog.gen_random_uuid()::text, '-', '');
    v_now constant timestamptz := pg_catalog.now();
  begin
    if p_token ~ '^[0-9a-f]{64}$' then
      select l.* into v_link from app.email_links l
      where l.token_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8')), 'hex')
        and l.purpose in ('sign_in', 'invitation', 'welcome')
      for update;
    end if;
    if v_link.id is null then
      perform app.refuse(400, 'invalid_sign_in_link', 'This sign-in link is not valid',
        'Use the whole link from the email, or ask for a new one: POST /api/openclaw/auth/sign-in { "email": "<your address>" }.');
    elsif v_link.used_at is not null then
      perform app.refuse(410, 'sign_in_link_used', 'This sign-in link was already used',
        'Each link signs in once. Ask for a new one: POST /api/openclaw/auth/sign-in { "email": "<your address>" }. If you did not use it, someone with access to the mailbox did: sign in and end the sessions you do not know (GET /api/openclaw/auth/sessions).');
    elsif v_link.token_expires_at <= v_now then
      perform app.refuse(410, 'sign_in_link_expired', 'This sign-in link has expired',
        'Links work for 15 minutes after the email was sent. Ask for a new one: POST /api/openclaw/auth/sign-in { "email": "<your address>" }.');
    end if;

    select m.* into v_member from app.org_members m where m.org_id = v_link.org_id and m.id = v_link.member_id for update;
    -- Sessions that ended a week ago are only clutter.
    delete from app.member_sessions s
    where s.org_id = v_member.org_id and s.member_id = v_member.id
      and (s.revoked_at < v_now - interval '7 days' or s.expires_at < v_now - interval '7 days'
           or s.last_seen_at < v_now - interval '21 days');
    insert into app.member_sessions as s (org_id, member_id, token_hash, expires_at, user_agent)
    values (v_member.org_id, v_member.id, pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_token, 'UTF8')), 'hex'),
            v_now + interval '30 days', left(p_user_agent, 500))
    returning s.id, s.expires_at into session_id, expires_at;
    update app.email_links l set used_at = v_now, session_id = sign_in_with_link.session_id
    where l.org_id = v_link.org_id and l.id = v_link.id;
    update app.org_members m set joined_at = coalesce(m.joined_at, v_now), last_sign_in_at = v_now
    where m.org_id = v_member.org_id and m.id = v_member.id;

    session_token := v_token;
    org_id := v_member.org_id;
    member_id := v_member.id;
    member_role := v_member.role;
    email := v_member.email;
    purpose := v_link.purpose;
    first_sign_in := v_member.joined_at is null;
    return next;
  end;
  $$;
comment on function app.sign_in_with_link(text, text) is 'The sign-in link: for a valid, unused, unexpired token starts a session (30 days at most, 14 idle) for its member, marks the link used and the member joined; returns the session token once. 400 unknown, 410 used or expired.';
revoke execute on function app.sign_in_with_link(text, text) from public;
grant execute on function app.sign_in_with_link(text, text) to anon, service_role;

create or replace function app.authenticate_session(p_token_hash text, p_rate_limits jsonb default '{}')
  returns table (org_id text, tier text, session_id text, member_id text, member_role text, email text, status text,
                 expires_at timestamptz, idle_expires_at timestamptz, quota integer, window_seconds integer,
                 allowed boolean, remaining integer, reset_after integer, retry_after integer)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_session app.member_sessions;
    v_now constant timestamptz := pg_catalog.now();
  begin
    select s.* into v_session from app.member_sessions s where s.token_hash = p_token_hash;
    if v_session.id is null then
      return;
    end if;
    select m.role, m.email into member_role, email from app.org_members m
    where m.org_id = v_session.org_id and m.id = v_session.member_id;
    select o.tier into tier from app.orgs o where o.id = v_session.org_id;
    org_id := v_session.org_id;
    session_id := v_session.id;
    member_id := v_session.member_id;
    expires_at := v_session.expires_at;
    idle_expires_at := least(v_session.expires_at, v_session.last_seen_at + interval '14 days');
    status := case
      when v_session.revoked_at is not null then 'revoked'
      when idle_expires_at <= v_now then 'expired'
      else 'active' end;
    if status = 'active' then
      perform pg_catalog.set_config('request.jwt.claims', pg_catalog.json_build_object(
        'role', 'authenticated', 'org_id', v_session.org_id, 'member_id', v_session.member_id,
        'member_role', member_role, 'session_id', v_session.id)::text, true);
      -- One write a minute at most per session, so reading is not writing.
      if v_session.last_seen_at < v_now - interval '1 minute' then
        update app.member_sessions s set last_seen_at = v_now where s.org_id = v_session.org_id and s.id = v_session.id;
        idle_expires_at := least(v_session.expires_at, v_now + interval '14 days');
      end if;
      quota := coalesce((p_rate_limits -> authenticate_session.tier ->> 'limit')::integer,
                        (select t.requests_per_minute from app.tiers t where t.tier = authenticate_session.tier));
      window_seconds := coalesce((p_rate_limits -> authenticate_session.tier ->> 'window')::integer, 60);
      select l.allowed, l.remaining, l.reset_after, l.retry_after into allowed, remaining, reset_after, retry_after
      from app.take_rate_limit('member', v_session.member_id, quota, pg_catalog.make_interval(secs => window_seconds)) l;
    end if;
    return next;
  end;
  $$;
comment on function app.authenticate_session(text, jsonb) is 'Looks up a browser session by its token''s hash: org, member, current role, status (active, expired, revoked) and ends; for an active one sets the claims, moves last_seen_at (at most once a minute) and takes one request from the member''s rate-limit bucket. No row for an unknown token.';
revoke execute on function app.authenticate_session(text, jsonb) from public;
grant execute on function app.authenticate_session(text, jsonb) to anon, service_role;

create or replace function app.revoke_session(p_session_id text)
  returns table (session_id text, revoked_at timestamptz, already_revoked boolean)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_session app.member_sessions;
  begin
    select s.* into v_session from app.member_sessions s
    where s.org_id = app.current_org_id() and s.id = p_session_id and s.member_id = app.current_member_id()
    for update;
    if v_session.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Session %s was not found', p_session_id),
        'GET /api/openclaw/auth/sessions lists your sessions; only your own can be ended.');
    end if;
    session_id := v_session.id;
    already_revoked := v_session.revoked_at is not null;
    if not already_revoked then
      update app.member_sessions s set revoked_at = pg_catalog.now() where s.org_id = v_session.org_id and s.id = v_session.id;
    end if;
    revoked_at := coalesce(v_session.revoked_at, pg_catalog.now());
    return next;
  end;
  $$;
comment on function app.revoke_session(text) is 'Ends one of the current member''s own sessions for good (again: no change); 404 for any other session.';
revoke execute on function app.revoke_session(text) from public;
grant execute on function app.revoke_session(text) to authenticated, service_role;

create or replace function app.end_session(p_token_hash text) returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
  begin
    update app.member_sessions s set revoked_at = pg_catalog.now()
    where s.token_hash = p_token_hash and s.revoked_at is null
      and least(s.expires_at, s.last_seen_at + interval '14 days') > pg_catalog.now();
    return found;
  end;
  $$;
comment on function app.end_session(text) is 'Sign-out: revokes the session whose token has this hash; true when a working session ended, false otherwise.';
revoke execute on function app.end_session(text) from public;
grant execute on function app.end_session(text) to anon, service_role;

create or replace function app.member_memberships()
  returns table (org_id text, workspace_name text, member_id text, role text, current boolean)
  language sql stable
  security definer
  set search_path = ''
  as $$
    select m.org_id, o.workspace_name, m.id, m.role, m.org_id = app.current_org_id()
    from app.org_members me
    join app.org_members m on m.email_key = me.email_key
    join app.orgs o on o.id = m.org_id
    where me.org_id = app.current_org_id() and me.id = app.current_member_id()
    order by m.org_id = app.current_org_id() desc, m.last_sign_in_at desc nulls last, o.workspace_name
  $$;
comment on function app.member_memberships() is 'The workspaces the current member''s address belongs to (this one first), with the role in each; nothing for an API key.';
revoke execute on function app.member_memberships() from public;
grant execute on function app.member_memberships() to authenticated, service_role;

create or replace function app.custom_access_token_hook(event jsonb) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_user_id uuid;
    v_claims jsonb := coalesce(event -> 'claims', '{}'::jsonb);
    v_email text := pg_catalog.lower(pg_catalog.btrim(v_claims ->> 'email'));
    v_confirmed boolean := true;
    v_wanted_org constant text := v_claims #>> '{app_metadata,org_id}';
    -- Supabase Auth's users table: on a hosted project only.
    v_users constant regclass := pg_catalog.to_regclass('auth.users');
    v_member app.org_members;
  begin
    begin
      v_user_id := (event ->> 'user_id')::uuid;
    exception when invalid_text_representation then
      v_user_id := null;
    end;
    -- Only what this hook says about orgs counts.
    v_claims := v_claims - 'org_id' - 'member_id' - 'member_role' - 'key_id';
    if coalesce((v_claims ->> 'is_anonymous')::boolean, false) then
      v_email := null;
    elsif v_users is not null and v_user_id is not null then
      begin
        execute pg_catalog.format('select pg_catalog.lower(u.email), u.email_confirmed_at is not null from %s u where u.id = $1', v_users)
          into v_email, v_confirmed using v_user_id;
      exception when insufficient_privilege then
        -- An owner that cannot read auth.users cannot tell a confirmed address: linked users only.
        v_confirmed := false;
      end;
    end if;
    if not coalesce(v_confirmed, false) then
      v_email := null;
    end if;

    select m.* into v_member from app.org_members m
    where (m.auth_user_id = v_user_id or (v_email is not null and m.email_key = v_email))
    order by m.org_id = v_wanted_org desc nulls last, m.last_sign_in_at desc nulls last, m.invited_at desc
    limit 1;
    if v_member.id is null then
      return pg_catalog.jsonb_build_object('claims', v_claims);
    end if;

    if v_member.auth_user_id is distinct from v_user_id
       or (coalesce(event ->> 'authentication_method', '') <> 'token_refresh'
           and (v_member.last_sign_in_at is null or v_member.last_sign_in_at < pg_catalog.now() - interval '1 minute')) then
      update app.org_members m
      set auth_user_id = coalesce(v_user_id, m.auth_user_id),
          joined_at = case when coalesce(event ->> 'authentication_method', '') <> 'token_refresh' then coalesce(m.joined_at, pg_catalog.now()) else m.joined_at end,
          last_sign_in_at = case when coalesce(event ->> 'authentication_method', '') <> 'token_refresh' then pg_catalog.now() else m.last_sign_in_at end
      where m.org_id = v_member.org_id and m.id = v_member.id;
    end if;
    return pg_catalog.jsonb_build_object('claims', v_claims || pg_catalog.jsonb_build_object(
      'org_id', v_member.org_id, 'member_id', v_member.id, 'member_role', v_member.role));
  end;
  $$;
comment on function app.custom_access_token_hook(jsonb) is 'Supabase Auth''s Custom Access Token Hook: adds org_id, member_id and member_role of the user''s membership (linked user, else confirmed address; app_metadata.org_id, else the most recent one) to the JWT''s claims; removes them for anyone else.';
revoke execute on function app.custom_access_token_hook(jsonb) from public;
grant usage on schema app to supabase_auth_admin;
grant execute on function app.custom_access_token_hook(jsonb) to supabase_auth_admin;

create or replace function app._lock_org_keys() returns text
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org constant text := app.current_org_id();
  begin
    if v_org is null then
      perform app.refuse(401, 'missing_api_key', 'Managing API keys needs a workspace identity',
        'Call it with one of the workspace''s API keys (Authorization: Bearer rcm_live_…).');
    end if;
    perform app.ensure_can_administer();
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('app.api_keys:' || v_org, 0));
    return v_org;
  end;
  $$;
comment on function app._lock_org_keys() is 'Serialises changes to the current org''s keys until the transaction ends; returns the org id (refuses without one, and 403 for a role that may not manage keys).';
revoke execute on function app._lock_org_keys() from public;
grant execute on function app._lock_org_keys() to authenticated, service_role;

create or replace function app.signup(
  p_email text,
  p_workspace_name text,
  p_agent_name text,
  p_agent_platform text,
  p_first_name text default null,
  p_last_name text default null,
  p_organization_name text default null)
  returns table (org_id text, api_key text, key_prefix text)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_email text := lower(btrim(p_email));
    v_owner text;
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
    select m.id into v_owner from app.org_members m where m.org_id = signup.org_id and m.role = 'owner';
    perform app._send_email_link(org_id, 'welcome', v_email, v_owner);
    return next;
  end;
  $$;
comment on function app.signup(text, text, text, text, text, text, text) is 'Creates a workspace (an org, seeded by app._seed_org, its owner member and its first API key) for an email not yet registered and queues the owner''s welcome mail with a sign-in link; returns the key once.';
revoke execute on function app.signup(text, text, text, text, text, text, text) from public;
grant execute on function app.signup(text, text, text, text, text, text, text) to anon, service_role;

create or replace function app.request_key_recovery(p_email text) returns void
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_email constant text := pg_catalog.lower(pg_catalog.btrim(p_email));
    v_hash text;
    v_recent timestamptz[];
    v_org app.orgs;
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
      -- The link and its mail, in the same transaction: the mail is owed exactly when the recovery exists.
      perform app._send_email_link(v_org.id, 'key_recovery', v_email);
    end if;
  end;
  $$;
comment on function app.request_key_recovery(text) is 'POST /keys/recover: at most 3 requests per address an hour (429 with retryAfter otherwise, for any address); for a workspace owner''s address records a recovery and queues its mail (app.system_mail). Says nothing about whether the address is registered.';
revoke execute on function app.request_key_recovery(text) from public;
grant execute on function app.request_key_recovery(text) to anon, service_role;

create or replace function app.confirm_key_recovery(p_token text)
  returns table (org_id text, key_id text, api_key text, key_prefix text)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_recovery_org text;
    v_recovery_id text;
    v_used_at timestamptz;
    v_token_expires_at timestamptz;
    v_key_id text;
    v_key text;
  begin
    if p_token ~ '^[0-9a-f]{64}$' then
      select r.org_id, r.id, r.used_at, r.token_expires_at into v_recovery_org, v_recovery_id, v_used_at, v_token_expires_at
      from app.email_links r
      where r.token_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8')), 'hex')
        and r.purpose = 'key_recovery'
      for update;
    end if;
    if v_recovery_id is null then
      perform app.refuse(400, 'invalid_recovery_token', 'This key recovery link is not valid',
        'Use the whole link from the recovery email, or ask for a new one: POST /api/openclaw/keys/recover { "email": "<owner email>" }.');
    elsif v_used_at is not null then
      perform app.refuse(410, 'recovery_link_used', 'This key recovery link was already used',
        'Each link issues one key. If you did not use it, someone with access to the mailbox did: ask for a new link (POST /api/openclaw/keys/recover), then revoke the keys you do not know (GET /api/openclaw/keys, DELETE /api/openclaw/keys/{id}).');
    elsif v_token_expires_at <= pg_catalog.now() then
      perform app.refuse(410, 'recovery_link_expired', 'This key recovery link has expired',
        'Links work for 15 minutes after the email was sent. Ask for a new one: POST /api/openclaw/keys/recover { "email": "<owner email>" }.');
    end if;

    select i.key_id, i.api_key into v_key_id, v_key from app._issue_api_key(v_recovery_org, 'recovered') i;
    update app.email_links r set used_at = pg_catalog.now(), key_id = v_key_id
    where r.org_id = v_recovery_org and r.id = v_recovery_id;
    org_id := v_recovery_org;
    key_id := v_key_id;
    api_key := v_key;
    key_prefix := left(v_key, 16);
    return next;
  end;
  $$;
comment on function app.confirm_key_recovery(text) is 'The recovery link: for a valid, unused, unexpired token issues a new key named "recovered" for its workspace (plaintext returned once) and marks the token used; 400 unknown, 410 used or expired.';
revoke execute on function app.confirm_key_recovery(text) from public;
grant execute on function app.confirm_key_recovery(text) to anon, service_role;

create or replace function app.claim_system_mail(p_worker text, p_limit integer default 10, p_lease interval default '2 minutes',
  p_now timestamptz default now())
  returns setof jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
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
        order by q.kind in ('invitation', 'welcome'), q.next_attempt_at, q.id
        limit p_limit
        for update skip locked)
      returning pg_catalog.jsonb_build_object('id', m.id, 'kind', m.kind, 'to', m.to_email, 'attempt', m.attempts);
  end;
  $$;
comment on function app.claim_system_mail(text, integer, interval, timestamptz) is 'Mail workers: settles expired leases (claimed → queued, sending → unconfirmed), then claims up to p_limit due system mails (skip locked); returns id, kind, recipient and attempt of each.';
revoke execute on function app.claim_system_mail(text, integer, interval, timestamptz) from public;
grant execute on function app.claim_system_mail(text, integer, interval, timestamptz) to service_role;

create or replace function app.begin_system_mail(p_id text, p_worker text, p_now timestamptz default now()) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_row app.system_mail;
    v_token text;
    v_expires_at timestamptz;
    v_workspace text;
    v_member app.org_members;
    v_inviter text;
  begin
    select * into v_row from app.system_mail m where m.id = p_id for update;
    if v_row.id is null or v_row.status <> 'claimed' or v_row.claimed_by is distinct from p_worker or v_row.lease_until < p_now then
      return null;
    end if;
    -- The link's token is made now, stored hashed.
    select t.token, t.expires_at into v_token, v_expires_at from app._issue_email_link_token(v_row.org_id, v_row.link_id, p_now) t;
    if v_token is null then
      update app.system_mail m
      set status = 'skipped', lease_until = null,
          reason = 'the link was already used, or its mail is too late (sign-in and key recovery links after an hour, invitations and welcomes after 7 days): nothing to send'
      where m.org_id = v_row.org_id and m.id = p_id;
      return null;
    end if;
    select o.workspace_name into v_workspace from app.orgs o where o.id = v_row.org_id;
    select m.* into v_member from app.email_links l
    join app.org_members m on m.org_id = l.org_id and m.id = l.member_id
    where l.org_id = v_row.org_id and l.id = v_row.link_id;
    if v_row.kind = 'invitation' then
      select coalesce(
        (select i.email from app.org_members i where i.org_id = v_row.org_id and i.id = v_member.invited_by),
        (select 'an agent (API key "' || k.name || '")' from app.api_keys k where k.org_id = v_row.org_id and k.id = v_member.invited_by))
      into v_inviter;
    end if;
    -- The sending lease: a worker that has not confirmed by then is presumed dead.
    update app.system_mail m set status = 'sending', lease_until = p_now + interval '10 minutes'
    where m.org_id = v_row.org_id and m.id = p_id;
    return pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('id', v_row.id, 'kind', v_row.kind, 'to', v_row.to_email,
      'workspaceName', v_workspace, 'token', v_token, 'expiresAt', v_expires_at,
      'role', v_member.role, 'invitedBy', v_inviter));
  end;
  $$;
comment on function app.begin_system_mail(text, text, timestamptz) is 'Mail workers, right before SMTP: claimed → sending (10-minute lease) and the mail''s content, made now (its link''s one-time token, stored only hashed; for members their role, for invitations who invited them); null when the lease was lost or there is nothing left to send (then skipped).';
revoke execute on function app.begin_system_mail(text, text, timestamptz) from public;
grant execute on function app.begin_system_mail(text, text, timestamptz) to service_role;

create or replace function app.cache_put(p_source text, p_cache_key text, p_result jsonb, p_ttl interval) returns void
  language sql
  security definer
  set search_path = ''
  as $$
    -- Security definer: the role rule (a viewer writes nothing) is checked here.
    select app.ensure_can_write();
    insert into app.enrichment_cache as c (org_id, source, cache_key, result, fetched_at, expires_at)
    values (nullif(app._cache_scope(p_cache_key), '*'), p_source, p_cache_key, p_result, pg_catalog.now(), pg_catalog.now() + p_ttl)
    on conflict (scope, source, cache_key) do update
      set result = excluded.result, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at
  $$;
comment on function app.cache_put(text, text, jsonb, interval) is 'Stores a provider''s answer for a key for p_ttl: shared for domain:… keys, for the caller''s org otherwise.';
revoke execute on function app.cache_put(text, text, jsonb, interval) from public;
grant execute on function app.cache_put(text, text, jsonb, interval) to authenticated, service_role;

create or replace function app.enroll_lead(p_campaign_id text, p_lead_id text, p_now timestamptz default now())
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id constant text := app.current_org_id();
    v_campaign app.campaigns;
    v_lead app.leads;
    v_id text;
    v_active text;
  begin
    -- Security definer: the role rule (a viewer writes nothing) is checked here.
    perform app.ensure_can_write();
    select * into v_campaign from app.campaigns c where c.id = p_campaign_id and c.org_id = v_org_id;
    if v_campaign.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Campaign %s was not found', p_campaign_id),
        'Check the id with GET /api/openclaw/campaigns; campaigns of other workspaces are not visible.');
    end if;
    select * into v_lead from app.leads l where l.id = p_lead_id and l.org_id = v_org_id and l.deleted_at is null;
    if v_lead.id is null then
      perform app.refuse(404, 'not_found', pg_catalog.format('Lead %s was not found', p_lead_id),
        'Check leadId with GET /api/openclaw/leads; soft-deleted leads and leads of other workspaces cannot be enrolled.');
    end if;
    if v_campaign.status = 'archived' then
      perform app.refuse(409, 'campaign_archived', pg_catalog.format('Campaign %s is archived', p_campaign_id),
        'Archived campaigns take no new leads. Create a new campaign with POST /api/openclaw/campaigns.');
    end if;
    if exists (select from app.email_suppressions s where s.org_id = v_org_id and s.email_key = v_lead.email_key) then
      perform app.refuse(409, 'email_suppressed',
        pg_catalog.format('%s is on this workspace''s suppression list (%s)', v_lead.email,
          (select s.reason from app.email_suppressions s where s.org_id = v_org_id and s.email_key = v_lead.email_key)),
        'Unsubscribed and bounced addresses are never emailed again. Use another channel for this lead.');
    end if;
    v_id := app._enroll(v_org_id, p_campaign_id, p_lead_id, 'manual', null, p_now);
    if v_id is null then
      select e.id into v_active from app.enrollments e
      where e.org_id = v_org_id and e.campaign_id = p_campaign_id and e.lead_id = p_lead_id and e.status = 'active';
      perform app.refuse(409, 'already_enrolled',
        pg_catalog.format('Lead %s is already enrolled in campaign %s (enrolment %s)', p_lead_id, p_campaign_id, v_active),
        pg_catalog.format('A lead runs through a campaign once at a time. GET /api/openclaw/campaigns/%s/enrollments shows its progress; enrol it again after this enrolment completes or stops.', p_campaign_id));
    end if;
    return app.enrollment_json(v_id);
  end;
  $$;
comment on function app.enroll_lead(text, text, timestamptz) is 'Enrols one of the caller''s leads in one of its campaigns; 404 unknown, 409 archived campaign, suppressed address or already active. A finished enrolment may be restarted (its first step waits out the 48 h cooldown).';
revoke execute on function app.enroll_lead(text, text, timestamptz) from public;
grant execute on function app.enroll_lead(text, text, timestamptz) to authenticated, service_role;

create or replace function app.save_calendly_connection(
  p_webhook_token text,
  p_signing_key text,
  p_token_ciphertext text,
  p_user jsonb,
  p_subscription_uri text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_org_id constant text := app.current_org_id();
    v_previous app.calendly_connections;
  begin
    if v_org_id is null then
      perform app.refuse(401, 'not_authenticated', 'No workspace for this request', 'Send your API key.');
    end if;
    -- Security definer: the role rule (a viewer writes nothing) is checked here.
    perform app.ensure_can_write();
    select c.* into v_previous from app.calendly_connections c where c.org_id = v_org_id for update;
    insert into app.calendly_connections as c (org_id, webhook_token, signing_key, token_ciphertext, user_uri,
      organization_uri, subscription_uri, user_name, user_email, scheduling_url, connected_at, last_event_at)
    values (v_org_id, p_webhook_token, p_signing_key, p_token_ciphertext, p_user ->> 'uri',
      p_user ->> 'current_organization', p_subscription_uri, p_user ->> 'name', p_user ->> 'email',
      p_user ->> 'scheduling_url', pg_catalog.now(), null)
    on conflict (org_id) do update set
      webhook_token = excluded.webhook_token, signing_key = excluded.signing_key,
      token_ciphertext = excluded.token_ciphertext, user_uri = excluded.user_uri,
      organization_uri = excluded.organization_uri, subscription_uri = excluded.subscription_uri,
      user_name = excluded.user_name, user_email = excluded.user_email, scheduling_url = excluded.scheduling_url,
      connected_at = excluded.connected_at, last_event_at = null;
    return pg_catalog.jsonb_build_object(
      'previousSubscriptionUri', v_previous.subscription_uri,
      'previousTokenCiphertext', v_previous.token_ciphertext);
  end;
  $$;
comment on function app.save_calendly_connection(text, text, text, jsonb, text) is 'Stores (or replaces) the caller org''s Calendly connection; returns the replaced subscription URI and encrypted token, if any.';
revoke execute on function app.save_calendly_connection(text, text, text, jsonb, text) from public;
grant execute on function app.save_calendly_connection(text, text, text, jsonb, text) to authenticated, service_role;

create or replace function app.rotate_webhook_secret(p_id text) returns table (id text, secret text, previous_secret_expires_at timestamptz)
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

create or replace function app.redeliver_webhook(p_subscription_id text, p_delivery_id text) returns void
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

-- Existing workspaces: the owner email is the first owner (as app._add_org_owner does for new
-- ones). No request acts here, so nobody is mailed.
insert into app.org_members (org_id, email, role)
select o.id, pg_catalog.lower(o.owner_email), 'owner' from app.orgs o
on conflict do nothing;

-- ---------------------------------------------------------------------------
-- 6. API keys are managed by owners and admins
-- ---------------------------------------------------------------------------
-- Whoever writes: only owners and admins (and API keys) create, rotate and revoke keys.
create policy "API keys are created only by owners and admins" on app.api_keys
  as restrictive for insert to authenticated with check ((select app.ensure_can_administer()));
create policy "API keys are changed only by owners and admins" on app.api_keys
  as restrictive for update to authenticated
  using ((select app.ensure_can_administer()))
  with check ((select app.ensure_can_administer()));

-- ---------------------------------------------------------------------------
-- 7. The api schema (supabase-js, PostgREST)
-- ---------------------------------------------------------------------------
create schema if not exists api;
grant usage on schema api to authenticated, service_role;
alter default privileges in schema api revoke all on tables from public;
alter default privileges in schema api revoke execute on functions from public;

create view api.workspace with (security_invoker = true) as
  select o.id, o.name, o.workspace_name, o.tier, o.industry, o.website, o.booking_link, o.primary_color, o.project_slug,
    o.created_at, o.updated_at
  from app.orgs o;
comment on view api.workspace is 'The caller''s workspace (one row): name and settings; owners, admins and members may update the settings.';
grant select, update on api.workspace to authenticated, service_role;

create view api.members with (security_invoker = true) as
  select m.id, m.org_id, m.email, m.role, m.invited_by, m.invited_at, m.joined_at, m.last_sign_in_at, m.created_at, m.updated_at
  from app.org_members m;
comment on view api.members is 'The workspace''s members and their roles; owners and admins add (which mails the invitation), change and remove them.';
grant select, insert, update, delete on api.members to authenticated, service_role;

create view api.leads with (security_invoker = true) as
  select l.id, l.org_id, l.first_name, l.last_name, l.email, l.organization_name, l.business_type, l.phone, l.tier, l.status,
    l.stage_id, l.custom_fields, l.crm_data, l.title, l.seniority, l.company_name, l.company_domain, l.linkedin_url,
    l.company_size, l.company_revenue, l.enrichment_status, l.enriched_at, l.last_touch_at, l.source, l.created_by,
    l.created_at, l.updated_at, l.deleted_at
  from app.leads l;
comment on view api.leads is 'The workspace''s leads (soft-deleted ones have deleted_at set).';
grant select, insert, update, delete on api.leads to authenticated, service_role;

create view api.stages with (security_invoker = true) as
  select s.id, s.org_id, s.name, s.position, s.color, s.is_default, s.outcome, s.stall_after_days, s.created_at, s.updated_at
  from app.stages s;
comment on view api.stages is 'The workspace''s pipeline stages, in position order.';
grant select, insert, update, delete on api.stages to authenticated, service_role;

create view api.stage_history with (security_invoker = true) as
  select c.id, c.org_id, c.lead_id, c.from_stage_id, c.to_stage_id, c.from_stage_name, c.to_stage_name, c.changed_at,
    c.changed_by, c.source, c.rule_id
  from app.stage_changes c;
comment on view api.stage_history is 'Every stage a lead entered, when, and who or what moved it (read only).';
grant select on api.stage_history to authenticated, service_role;

create view api.notes with (security_invoker = true) as
  select n.id, n.org_id, n.lead_id, n.type, n.content, n.pinned, n.created_by, n.created_at, n.updated_at
  from app.notes n;
comment on view api.notes is 'Notes on the workspace''s leads.';
grant select, insert, update, delete on api.notes to authenticated, service_role;

create view api.touchpoints with (security_invoker = true) as
  select t.id, t.org_id, t.lead_id, t.type, t.direction, t.summary, t.occurred_at, t.metadata, t.source, t.created_by, t.created_at
  from app.touchpoints t;
comment on view api.touchpoints is 'The interaction history of the workspace''s leads.';
grant select, insert, update, delete on api.touchpoints to authenticated, service_role;

create view api.campaigns with (security_invoker = true) as
  select c.id, c.org_id, c.name, c.status, c.kind, c.steps, c.trigger_event, c.trigger_stage_id, c.ai_enabled, c.ai_config,
    c.from_name, c.created_at, c.updated_at
  from app.campaigns c;
comment on view api.campaigns is 'The workspace''s email campaigns and their steps (enrolling and sending go through the HTTP API).';
grant select, insert, update, delete on api.campaigns to authenticated, service_role;

create view api.custom_fields with (security_invoker = true) as
  select f.id, f.org_id, f.key, f.label, f.field_type, f.options, f.required, f.position, f.created_at, f.updated_at
  from app.custom_fields f;
comment on view api.custom_fields is 'Definitions of the workspace''s custom lead fields.';
grant select, insert, update, delete on api.custom_fields to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- 8. The role rule on every tenant table (sql/98_roles.sql)
-- ---------------------------------------------------------------------------
do $$
declare
  v_table regclass;
begin
  for v_table in
    select c.oid::regclass from pg_catalog.pg_class c
    where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
      and (c.oid = 'app.orgs'::regclass
           or exists (select from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped))
    order by c.relname
  loop
    perform app.make_read_only_for_viewers(v_table);
  end loop;
end
$$;
