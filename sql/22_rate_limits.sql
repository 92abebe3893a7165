-- Rate limits and fair share: what one caller may ask of the deployment, kept in Postgres so
-- that every process and Edge isolate in front of the database counts against the same
-- numbers.
--   * app.rate_limit_buckets: one row per (policy, key) that has been used lately: an API
--     key's id, a client IP, an email domain, a quiz. Unlogged: a crash empties it, which
--     only starts every limit afresh. Not tenant rows (an IP or a domain belongs to no org).
--   * app.take_rate_limit: GCRA (the generic cell rate algorithm, a token bucket kept as one
--     timestamp) in one upsert: a burst of p_limit, refilled evenly over p_window;
--   * app.take_rate_limits: several buckets in order (a client IP, then a quiz), stopping at
--     the first that refuses, so a refused request never uses up the next one's allowance;
--   * app.take_signup_limits: POST /signup, per client IP and per email domain (per address
--     for free-mail domains, which thousands of strangers share);
--   * app.authenticate_request: the first statement of every request with an API key: the key
--     lookup (app._api_key_by_hash, 20_orgs_keys.sql) and its bucket (the tier's
--     requests_per_minute, or the deployment's override), and the admission of the request
--     it names (its ticket) when both let it through;
--   * app.begin_request: the request transaction's first statement: takes on the identity
--     its ticket was admitted with, or fails, and the transaction with it;
--   * app.purge_rate_limit_buckets: the purge-rate-limit-buckets job (90_jobs.sql) deletes
--     buckets that are full again, which hold nothing a new bucket would not;
--   * app.begin_expensive_work: fair share between tenants: an org runs at most N expensive
--     requests (analytics, spider web, rescoring all, large lists, bulk deletes) at once,
--     each under a statement timeout.
-- Callers take buckets in statements of their own, outside any request transaction: a
-- bucket's row lock then lasts microseconds (inside a transaction it would queue every
-- request of the same key behind the slowest), and a request that fails later still counts.
--
-- A request is one round trip (functions/http/tenant.ts): the edge sends, in one write,
--   select … from app.authenticate_request(<key hash>, <limits>, <ticket>);  -- on its own
--   begin;
--   select app.begin_request(<ticket>);        -- role authenticated, the key's org's claims
--   <the route's statements>;
--   commit;
-- where the ticket is a random id the edge draws per request. The first statement admits
-- the ticket in the session (request.admission) only when the key is live and its bucket
-- lets the request through; app.begin_request refuses any other ticket, which aborts the
-- transaction: a bad key's request runs nothing as anyone, and its COMMIT rolls back.
-- Behind a transaction pooler (no session outlives a transaction) the first statement goes
-- right after BEGIN instead, and the bucket's row stays locked until the request ends.

-- ---------------------------------------------------------------------------
-- Buckets. tat, the theoretical arrival time, is when the bucket will be full again: every
-- request let through moves it one emission interval (window / limit) later, and a request
-- is let through while that leaves tat at most one window ahead of now.
-- ---------------------------------------------------------------------------
create unlogged table app.rate_limit_buckets (
  scope text not null check (scope ~ '^[a-z0-9-]{1,40}$'),
  key text not null check (length(key) between 1 and 200),
  tat timestamptz not null,
  -- Whether the latest request was let through (false: the bucket is refusing).
  allowed boolean not null,
  primary key (scope, key)
);
comment on table app.rate_limit_buckets is 'Rate-limit state per policy (scope) and caller (key: an API key id, a client IP, an email domain, a quiz slug); tat is when the bucket is full again. Unlogged: a crash resets the limits.';

alter table app.rate_limit_buckets enable row level security;
alter table app.rate_limit_buckets force row level security;
-- Written only by the security definer functions below; operators may look.
create policy "Rate limit buckets are visible to the service role" on app.rate_limit_buckets
  for select to service_role using (true);
grant select on app.rate_limit_buckets to service_role;

-- ---------------------------------------------------------------------------
-- One bucket, one statement. With emission interval T = window / limit, a request costing n
-- at time now is let through when max(tat, now) + n*T <= now + window, and then moves tat to
-- max(tat, now) + n*T; a refusal leaves tat as it was. So a full bucket lets `limit` requests
-- through at once and then one every T. The answer: remaining = what may still be sent now,
-- reset_after = seconds until the bucket is full again, retry_after = seconds until this
-- request would be let through (0 when it was).
-- ---------------------------------------------------------------------------
create function app.take_rate_limit(
  p_scope text,
  p_key text,
  p_limit integer,
  p_window interval,
  p_cost integer default 1,
  p_now timestamptz default pg_catalog.now())
  returns table (allowed boolean, remaining integer, reset_after integer, retry_after integer)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_emission interval;
    v_window_s numeric;
    v_emission_s numeric;
  begin
    if p_limit is null or p_limit < 1 or p_window is null or p_window <= interval '0'
       or p_cost is null or p_cost < 1 or p_cost > p_limit then
      raise exception 'app.take_rate_limit: limit %, window %, cost %', p_limit, p_window, p_cost
        using errcode = '22023', hint = 'The limit must be at least 1, the window positive and the cost between 1 and the limit.';
    end if;
    v_emission := p_window / p_limit;
    v_window_s := extract(epoch from p_window);
    v_emission_s := extract(epoch from v_emission);

    return query
    insert into app.rate_limit_buckets as b (scope, key, tat, allowed)
    values (p_scope, p_key, p_now + p_cost * v_emission, true)
    on conflict (scope, key) do update set
      allowed = greatest(b.tat, p_now) + p_cost * v_emission <= p_now + p_window,
      tat = case when greatest(b.tat, p_now) + p_cost * v_emission <= p_now + p_window
                 then greatest(b.tat, p_now) + p_cost * v_emission
                 else b.tat end
    returning
      b.allowed,
      pg_catalog.floor((v_window_s - greatest(0, extract(epoch from b.tat - p_now))) / v_emission_s)::integer,
      pg_catalog.ceil(greatest(0, extract(epoch from b.tat - p_now)))::integer,
      case when b.allowed then 0
           else pg_catalog.ceil(extract(epoch from greatest(b.tat, p_now) + p_cost * v_emission - p_window - p_now))::integer
      end;
  end;
  $$;
comment on function app.take_rate_limit(text, text, integer, interval, integer, timestamptz) is 'GCRA in one upsert: lets a request of p_cost through when the bucket (p_scope, p_key) holds it (a burst of p_limit, refilled evenly over p_window) and answers allowed, remaining, reset_after (seconds until full) and retry_after (seconds until it would be let through; 0 when it was).';
revoke execute on function app.take_rate_limit(text, text, integer, interval, integer, timestamptz) from public;
grant execute on function app.take_rate_limit(text, text, integer, interval, integer, timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Several buckets for one request, e.g. [{ "policy": "quiz-ip", "key": "203.0.113.7",
-- "limit": 10, "window": 60 }, { "policy": "quiz", "key": "<slug>", "limit": 30, "window":
-- 60 }] (window in seconds). Taken in order; the first refusal ends it, so a client refused
-- by its own IP limit never uses up the quiz's. The policy names the bucket's scope and is
-- what the RateLimit headers call it.
-- ---------------------------------------------------------------------------
create function app.take_rate_limits(p_takes jsonb)
  returns table (policy text, quota integer, window_seconds integer, allowed boolean, remaining integer,
                 reset_after integer, retry_after integer)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_take jsonb;
  begin
    for v_take in select t.value from pg_catalog.jsonb_array_elements(p_takes) t loop
      policy := v_take ->> 'policy';
      quota := (v_take ->> 'limit')::integer;
      window_seconds := (v_take ->> 'window')::integer;
      select l.allowed, l.remaining, l.reset_after, l.retry_after
        into allowed, remaining, reset_after, retry_after
      from app.take_rate_limit(policy, v_take ->> 'key', quota, pg_catalog.make_interval(secs => window_seconds)) l;
      return next;
      exit when not allowed;
    end loop;
  end;
  $$;
comment on function app.take_rate_limits(jsonb) is 'Takes the buckets of [{ policy, key, limit, window (seconds) }] in order and answers one row per bucket taken (policy, quota, window_seconds, allowed, remaining, reset_after, retry_after), stopping after the first refusal.';
revoke execute on function app.take_rate_limits(jsonb) from public;
grant execute on function app.take_rate_limits(jsonb) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Signup: per client IP, then per email domain. Free-mail domains (gmail.com, …:
-- app.mail_domain_kind, 52_enrichment.sql) are counted per address instead, kept as its
-- SHA-256 so no address sits in the buckets; disposable domains stay per domain, which is
-- what keeps throwaway signups in check.
-- ---------------------------------------------------------------------------
create function app.take_signup_limits(
  p_ip text,
  p_email text,
  p_ip_limit integer,
  p_ip_window integer,
  p_domain_limit integer,
  p_domain_window integer)
  returns table (policy text, quota integer, window_seconds integer, allowed boolean, remaining integer,
                 reset_after integer, retry_after integer)
  -- plpgsql: app.mail_domain_kind is defined in a later file (52_enrichment.sql).
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_address constant text := pg_catalog.lower(pg_catalog.btrim(p_email));
    v_domain constant text := pg_catalog.split_part(v_address, '@', 2);
    v_key text;
  begin
    v_key := case when app.mail_domain_kind(v_domain) = 'free'
      then 'address:' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(v_address, 'UTF8')), 'hex')
      else 'domain:' || left(v_domain, 190) end;
    return query select * from app.take_rate_limits(pg_catalog.jsonb_build_array(
      pg_catalog.jsonb_build_object('policy', 'signup-ip', 'key', p_ip, 'limit', p_ip_limit, 'window', p_ip_window),
      pg_catalog.jsonb_build_object('policy', 'signup-domain', 'key', v_key, 'limit', p_domain_limit, 'window', p_domain_window)));
  end;
  $$;
comment on function app.take_signup_limits(text, text, integer, integer, integer, integer) is 'POST /signup''s limits: the client IP''s bucket (signup-ip), then the email domain''s (signup-domain; per address, hashed, for free-mail domains); rows as app.take_rate_limits.';
revoke execute on function app.take_signup_limits(text, text, integer, integer, integer, integer) from public;
grant execute on function app.take_signup_limits(text, text, integer, integer, integer, integer) to anon, service_role;

-- ---------------------------------------------------------------------------
-- The statement every request with an API key starts with: who it is (app._api_key_by_hash)
-- and whether its key may make another request now. Only a live key takes from its bucket
-- (policy api-key, keyed by the key's id, never by the key); its limit is the tier's
-- requests_per_minute unless p_rate_limits names the tier: { "free": { "limit": 300,
-- "window": 60 } }. No row for an unknown key; the limit columns are null for a revoked (or
-- expired) one.
-- Run it outside the request's transaction (the claims it sets are then gone: the request's
-- transaction takes them on with app.begin_request). A live key let through admits
-- p_ticket: the session remembers the ticket and the claims (request.admission) until the
-- next request; any other outcome forgets the previous request's.
-- ---------------------------------------------------------------------------
create function app.authenticate_request(p_key_hash text, p_rate_limits jsonb default '{}', p_ticket text default null)
  returns table (org_id text, tier text, key_id text, revoked boolean, expired boolean, expires_at timestamptz,
                 quota integer, window_seconds integer, allowed boolean, remaining integer, reset_after integer,
                 retry_after integer)
  language plpgsql
  security definer
  set search_path = ''
  as $$
  -- One lookup (app._api_key_by_hash, inlined) and one bucket, with no function in between:
  -- this runs before every request with a key, and each nested call costs it.
  declare
    v_known boolean;
    v_stale boolean;
    v_quota integer;
    v_window integer;
  begin
    select a.org_id, a.tier, a.key_id, a.revoked, a.expired, a.expires_at, a.stale,
           coalesce((p_rate_limits -> a.tier ->> 'limit')::integer, t.requests_per_minute),
           coalesce((p_rate_limits -> a.tier ->> 'window')::integer, 60)
    into org_id, tier, key_id, revoked, expired, expires_at, v_stale, v_quota, v_window
    from app._api_key_by_hash(p_key_hash) a
    left join app.tiers t on t.tier = a.tier;
    v_known := found;
    if not v_known or revoked then
      perform app._admit_request(null, null);
      if v_known then
        return next;
      end if;
      return;
    end if;
    if v_stale then
      perform app._note_api_key_use(authenticate_request.org_id, authenticate_request.key_id);
    end if;
    quota := v_quota;
    window_seconds := v_window;
    select l.allowed, l.remaining, l.reset_after, l.retry_after into allowed, remaining, reset_after, retry_after
    from app.take_rate_limit('api-key', authenticate_request.key_id, quota, pg_catalog.make_interval(secs => window_seconds)) l;
    perform app._admit_request(case when allowed then p_ticket end,
      pg_catalog.jsonb_build_object('role', 'authenticated', 'org_id', authenticate_request.org_id, 'key_id', authenticate_request.key_id));
    return next;
  end;
  $$;
comment on function app.authenticate_request(text, jsonb, text) is 'Authenticates an API key by hash (app._api_key_by_hash) and, for a live key, takes one request from its bucket (the tier''s requests_per_minute, or p_rate_limits->tier { limit, window }); a request let through admits p_ticket for app.begin_request. Answers the key and the limit''s state in one row, none for an unknown key.';
revoke execute on function app.authenticate_request(text, jsonb, text) from public;
grant execute on function app.authenticate_request(text, jsonb, text) to anon, service_role;

-- ---------------------------------------------------------------------------
-- Admission: what an authenticator (an API key here; a member's session does the same)
-- leaves in the session for the request's transaction: the request's ticket and the claims
-- it acts with. Session-level, so it outlives the authenticator's own statement; a null
-- ticket forgets it. Called by authenticators only.
-- ---------------------------------------------------------------------------
create function app._admit_request(p_ticket text, p_claims jsonb) returns void
  language sql
  set search_path = ''
  as $$
    select pg_catalog.set_config('request.admission',
      case when p_ticket is null then '' else pg_catalog.jsonb_build_object('ticket', p_ticket, 'claims', p_claims)::text end,
      false)
  $$;
comment on function app._admit_request(text, jsonb) is 'Admits a request: remembers its ticket and claims in the session (request.admission) for app.begin_request; a null ticket forgets the last admission.';
revoke execute on function app._admit_request(text, jsonb) from public;

-- The request transaction's first statement: the role and the claims its ticket was admitted
-- with, for the rest of the transaction, or refused (401 not_admitted), which aborts the
-- transaction so that none of the statements sent behind it runs. The admission is used up.
-- Not security definer: it switches the role, which the session's login role (authenticator,
-- a member of the API roles) may do and a security definer function may not.
create function app.begin_request(p_ticket text) returns void
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_admission constant jsonb := nullif(pg_catalog.current_setting('request.admission', true), '')::jsonb;
  begin
    if p_ticket is null or v_admission is null or v_admission ->> 'ticket' is distinct from p_ticket then
      perform app.refuse(401, 'not_admitted', 'This request was not admitted',
        'Its credentials were refused or rate limited by the statement before this transaction; nothing in this transaction runs.');
    end if;
    perform pg_catalog.set_config('request.admission', '', false);
    perform pg_catalog.set_config('request.jwt.claims', (v_admission -> 'claims')::text, true);
    perform pg_catalog.set_config('role', 'authenticated', true);
  end;
  $$;
comment on function app.begin_request(text) is 'Takes on, for the rest of the transaction, the role and claims the request''s ticket was admitted with (app.authenticate_request, app.authenticate_session), or refuses 401 not_admitted and so aborts the transaction.';
revoke execute on function app.begin_request(text) from public;
grant execute on function app.begin_request(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- A bucket whose tat has passed is full: a new one would answer the same, so it can go.
-- ---------------------------------------------------------------------------
create function app.purge_rate_limit_buckets(p_now timestamptz default pg_catalog.now()) returns integer
  language plpgsql
  security definer
  set search_path = ''
  as $$
  declare
    v_count integer;
  begin
    delete from app.rate_limit_buckets b where b.tat < p_now;
    get diagnostics v_count = row_count;
    return v_count;
  end;
  $$;
comment on function app.purge_rate_limit_buckets(timestamptz) is 'Deletes the buckets that are full again (tat before p_now), which hold no state; returns how many.';
revoke execute on function app.purge_rate_limit_buckets(timestamptz) from public;
grant execute on function app.purge_rate_limit_buckets(timestamptz) to service_role;

-- ---------------------------------------------------------------------------
-- Fair share: expensive work of one org may run at most p_slots times at once, whatever
-- process or isolate serves it. A slot is a transaction-scoped advisory lock on (the org,
-- slot n), so it is released at commit, at rollback and when a backend dies; no table to
-- clean. The same call caps every later statement of the transaction at
-- p_statement_timeout_ms (57014 query_canceled when hit).
-- ---------------------------------------------------------------------------
create function app.begin_expensive_work(p_slots integer, p_statement_timeout_ms integer) returns integer
  language plpgsql
  set search_path = ''
  as $$
  declare
    v_org constant text := app.current_org_id();
  begin
    if v_org is null then
      raise exception 'app.begin_expensive_work runs inside a request acting as an org' using errcode = '42501';
    end if;
    if p_statement_timeout_ms is not null then
      perform pg_catalog.set_config('statement_timeout', p_statement_timeout_ms::text, true);
    end if;
    for v_slot in 1..p_slots loop
      if pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('expensive:' || v_org), v_slot) then
        return v_slot;
      end if;
    end loop;
    return null;
  end;
  $$;
comment on function app.begin_expensive_work(integer, integer) is 'Takes one of the current org''s p_slots slots for expensive work until the transaction ends (an advisory lock) and sets statement_timeout to p_statement_timeout_ms for the rest of it; returns the slot, or null when all are taken.';
revoke execute on function app.begin_expensive_work(integer, integer) from public;
grant execute on function app.begin_expensive_work(integer, integer) to authenticated, service_role;
