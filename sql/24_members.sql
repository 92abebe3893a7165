-- Members, the links the system mails, and browser sessions: how people (not only agents) get
-- into a workspace. The role rules themselves (a viewer reads everything and writes nothing;
-- members and keys are managed by owners and admins) are in 10_foundation.sql and
-- 98_roles.sql.
--   * app.org_members: who belongs to an org and with which role (owner, admin, member,
--     viewer), who invited them and when they joined (their first sign-in). The owner email of
--     a new org is its first owner (trigger orgs_owner_member). Whoever writes, the guard
--     org_members_guard holds: only owners make, change or remove owners, and the last owner
--     is never removed or demoted. Adding a member through a request (POST /members, or a row
--     inserted through the api schema) mails the invitation (org_members_invite).
--   * app.member_sessions: browser sessions: the token (in an HttpOnly cookie) stored as its
--     SHA-256 hash, 14 days idle and 30 days at most, revocable;
--   * app.email_links: the one-time links the system mails: key recovery (20_orgs_keys.sql)
--     and sign-in links (purpose sign_in, invitation, welcome). A link's token exists in
--     plaintext only in its mail: app._issue_email_link_token makes it when the mail worker is
--     about to send (app.begin_system_mail, 74_outbox.sql) and stores its hash; it works once,
--     for 15 minutes. app._send_email_link records a link and queues its mail (app.system_mail)
--     in the same transaction;
--   * signing in: app.request_sign_in (POST /auth/sign-in: a link for a member's address),
--     app.sign_in_with_link (POST /auth/callback: the link becomes a session, the member
--     joins), app.authenticate_session (the first statement of every request with a session
--     cookie: the member's org and current role, and the member's rate limit),
--     app.end_session (sign-out), app.revoke_session (DELETE /auth/sessions/{id});
--   * members over the API (functions/routes/members.ts): app.invite_member,
--     app.change_member_role, app.remove_member, the views app.member_details and
--     app.member_session_details, app.member_memberships (the other workspaces of a signed-in
--     person);
--   * Supabase Auth: app.custom_access_token_hook puts the member's org, id and role into a
--     Supabase user's JWT, so the same policies apply to supabase-js and PostgREST.

-- ---------------------------------------------------------------------------
-- Members
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
create function app._guard_org_member() returns trigger
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

-- A new org's owner email is its first owner, whoever inserts the org.
create function app._add_org_owner() returns trigger
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
-- Browser sessions. The token lives in an HttpOnly cookie and here only as its SHA-256 hash.
-- A session works until it is revoked, until 14 days pass without a request (last_seen_at
-- moves at most once a minute), and at most 30 days after sign-in (expires_at).
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
-- One-time links the system mails: key recovery (20_orgs_keys.sql) and sign-in links
-- (sign_in, invitation, welcome). The columns up to key_id are those of the key recoveries
-- this table generalises; purpose, member_id and session_id came with sign-in.
-- ---------------------------------------------------------------------------
create table app.email_links (
  id text not null default app.new_id('lnk'),
  org_id text not null references app.orgs (id) on delete cascade,
  email text not null check (length(email) <= 320),
  requested_at timestamptz not null default now(),
  token_hash text constraint email_links_token_hash_check check (token_hash ~ '^[0-9a-f]{64}$'),
  -- The link works until then (15 minutes after the mail went out), once.
  token_expires_at timestamptz,
  used_at timestamptz,
  -- The key a recovery link issued.
  key_id text,
  purpose text not null constraint email_links_purpose_check check (purpose in ('key_recovery', 'sign_in', 'invitation', 'welcome')),
  -- The member a sign-in link signs in (none for a key recovery).
  member_id text,
  -- The session a sign-in link started.
  session_id text,
  primary key (org_id, id),
  constraint email_links_key_fkey foreign key (org_id, key_id) references app.api_keys (org_id, id) on delete set null (key_id),
  constraint email_links_member_fkey foreign key (org_id, member_id) references app.org_members (org_id, id) on delete cascade,
  constraint email_links_session_fkey foreign key (org_id, session_id) references app.member_sessions (org_id, id) on delete set null (session_id),
  constraint email_links_member_check check ((purpose = 'key_recovery') = (member_id is null))
);
comment on table app.email_links is 'One-time links the system mails (key recovery; sign-in, invitation and welcome links of members): the token only as its hash, when it expires (15 minutes after sending), when it was used and what it issued (a key or a session).';
-- A link finds its row by its token's hash before any org is known.
create unique index email_links_token_hash_key on app.email_links (token_hash);
create index email_links_org_idx on app.email_links (org_id, requested_at);
create index email_links_member_idx on app.email_links (org_id, member_id) where member_id is not null;

alter table app.email_links enable row level security;
alter table app.email_links force row level security;
-- Written only by the functions that mail and use them. Owners and admins see the org's
-- links; a member sees their own sign-in links.
create policy "Email links are visible to admins and to their member" on app.email_links
  for select to authenticated
  using (org_id = (select app.current_org_id())
         and ((select app.can_administer()) or member_id = (select app.current_member_id())));
grant select (id, org_id, email, requested_at, token_expires_at, used_at, key_id, purpose, member_id, session_id) on app.email_links to authenticated;
grant all on app.email_links to service_role;

-- A link and its mail, in one transaction: the mail is owed exactly when the link exists.
create function app._send_email_link(p_org_id text, p_purpose text, p_email text, p_member_id text default null)
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

-- Called by the mail worker right before it sends a link's mail (app.begin_system_mail): a
-- new token each time, so a mail that was never sent leaves no working link behind. A link
-- someone is waiting for (key recovery, sign-in) is mailed within the hour it was asked for;
-- invitations and welcomes within 7 days.
create function app._issue_email_link_token(p_org_id text, p_link_id text, p_now timestamptz default now())
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

-- Adding a member through a request mails the invitation. At most 20 invitations an org an
-- hour, so a key cannot be used to mail strangers in bulk.
create function app._mail_invitation() returns trigger
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

-- ---------------------------------------------------------------------------
-- Members over the API, as the org (row-level security in force).
-- ---------------------------------------------------------------------------
create view app.member_details with (security_invoker = true) as
  select m.id, m.org_id, m.email, m.role, m.invited_by, m.invited_at, m.joined_at, m.last_sign_in_at, m.created_at, m.updated_at,
    case when m.joined_at is null then 'invited' else 'active' end as status
  from app.org_members m;
comment on view app.member_details is 'Members as the API lists them: address, role, who invited them and when, when they joined and last signed in, status (invited until the first sign-in, then active).';
grant select on app.member_details to authenticated, service_role;

create function app._valid_member_role(p_role text) returns text
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

create function app.invite_member(p_email text, p_role text default 'member') returns text
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

create function app.change_member_role(p_member_id text, p_role text) returns boolean
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

create function app.remove_member(p_member_id text) returns text
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

-- ---------------------------------------------------------------------------
-- Signing in.
-- ---------------------------------------------------------------------------

-- POST /auth/sign-in { email, orgId? }: a sign-in link for the address's membership: the one in
-- p_org_id if given, else the one signed into most recently (else the latest invitation).
-- Says nothing about whether the address is a member anywhere; the HTTP edge rate-limits
-- the requests per address and per client (app.take_rate_limits) before calling it.
create function app.request_sign_in(p_email text, p_org_id text default null) returns void
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

-- POST /auth/callback: the link's token becomes a session. The session's token is returned
-- once (it goes into the cookie) and kept only as its hash. The member joins (joined_at) at
-- their first sign-in: that is accepting the invitation.
create function app.sign_in_with_link(p_token text, p_user_agent text default null)
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

-- The first statement of every request with a session cookie, like app.authenticate_request
-- for keys: the session's org and the member's current role (a role change applies to the
-- next request), status active / expired / revoked, and, for an active session, one request
-- from the member's rate-limit bucket (policy member: the tier's requests_per_minute, or
-- p_rate_limits->tier { limit, window }). No row for an unknown token. For an active
-- session it also sets the transaction's claims (role authenticated, org_id, member_id,
-- member_role, session_id), for callers that continue in the same transaction. The HTTP edge
-- runs it on its own, ahead of the request's transaction, as for keys (22_rate_limits.sql): an
-- active session let through by its bucket admits p_ticket with those claims, which
-- app.begin_request then takes on; any other outcome forgets the previous request's admission.
create function app.authenticate_session(p_token_hash text, p_rate_limits jsonb default '{}', p_ticket text default null)
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
    v_claims jsonb;
  begin
    perform app._admit_request(null, null);
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
      v_claims := pg_catalog.jsonb_build_object(
        'role', 'authenticated', 'org_id', v_session.org_id, 'member_id', v_session.member_id,
        'member_role', member_role, 'session_id', v_session.id);
      perform pg_catalog.set_config('request.jwt.claims', v_claims::text, true);
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
      if allowed then
        perform app._admit_request(p_ticket, v_claims);
      end if;
    end if;
    return next;
  end;
  $$;
comment on function app.authenticate_session(text, jsonb, text) is 'Looks up a browser session by its token''s hash: org, member, current role, status (active, expired, revoked) and ends; for an active one sets the claims, moves last_seen_at (at most once a minute) and takes one request from the member''s rate-limit bucket; a request let through admits p_ticket for app.begin_request. No row for an unknown token.';
revoke execute on function app.authenticate_session(text, jsonb, text) from public;
grant execute on function app.authenticate_session(text, jsonb, text) to anon, service_role;

-- DELETE /auth/sessions/{id}: a person ends one of their own sessions (a viewer too: that
-- changes no data of the org).
create function app.revoke_session(p_session_id text)
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

-- POST /auth/sign-out: whoever holds a session's token may end it (the HTTP edge checks CSRF
-- first). true when a working session ended; false for an unknown or already ended one.
create function app.end_session(p_token_hash text) returns boolean
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

-- The workspaces a signed-in person (by address) belongs to, for switching: each is signed
-- into with its own link (POST /auth/sign-in { email, orgId }).
create function app.member_memberships()
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

-- ---------------------------------------------------------------------------
-- Supabase Auth: the Custom Access Token Hook (Authentication → Hooks → Custom Access Token
-- in the dashboard, or [auth.hook.custom_access_token] in config.toml). Supabase Auth calls it
-- as supabase_auth_admin with { user_id, claims, authentication_method } before it issues a
-- JWT and uses the claims it returns. A user who is a member gets org_id, member_id and
-- member_role, so the policies treat them like a browser session of that member; anyone
-- else gets a token without them, which sees nothing of any org.
--   * Who: the member row linked to the user (auth_user_id), else the user's address, when
--     Supabase has confirmed it (auth.users.email_confirmed_at; where auth.users does not exist,
--     as on a plain Postgres, the email claim). Matching by address links the row.
--   * Which org, for a member of several: app_metadata.org_id when the user is a member there
--     (app_metadata is only written with the service role), else the one signed into most
--     recently, else the latest invitation.
-- A new sign-in (not a token refresh) counts as signing in: joined_at, last_sign_in_at.
-- ---------------------------------------------------------------------------
create function app.custom_access_token_hook(event jsonb) returns jsonb
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
