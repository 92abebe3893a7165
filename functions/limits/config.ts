// Limit settings: the rate-limit policies (per API key by tier, and per signed-in member the
// same, per client IP on the routes open without a key, per quiz, per address signing in), which proxy hops to believe about the client's address, and
// fair share for expensive work. The counting itself is Postgres's (sql/22_rate_limits.sql).
import { type EnvReader, positiveInt } from "../env.ts";

/** A quota: `limit` requests, refilled evenly over `windowSeconds` (a burst of `limit`). */
export interface RatePolicy {
  limit: number;
  windowSeconds: number;
}

/** The policies of the routes open without a key; the names are the RateLimit headers' policy names. */
export const openPolicies = {
  /** POST /signup, per client IP. */
  "signup-ip": { env: "RATE_LIMIT_SIGNUP_IP", fallback: { limit: 5, windowSeconds: 3600 } },
  /** POST /signup, per email domain (per address for free-mail domains). */
  "signup-domain": { env: "RATE_LIMIT_SIGNUP_DOMAIN", fallback: { limit: 20, windowSeconds: 3600 } },
  /** POST /public/quizzes/{slug}/submissions, per client IP. */
  "quiz-ip": { env: "RATE_LIMIT_QUIZ_IP", fallback: { limit: 10, windowSeconds: 60 } },
  /** POST /public/quizzes/{slug}/submissions, per quiz, whoever sends them. */
  quiz: { env: "RATE_LIMIT_QUIZ", fallback: { limit: 30, windowSeconds: 60 } },
  /** POST /inbound/{token} (sync sources' webhooks), per client IP. */
  "inbound-ip": { env: "RATE_LIMIT_INBOUND_IP", fallback: { limit: 600, windowSeconds: 60 } },
  /** Public pages (GET /p/{slug}, GET /q/{slug}) and unsubscribe links, per client IP. */
  "page-ip": { env: "RATE_LIMIT_PAGE_IP", fallback: { limit: 60, windowSeconds: 60 } },
  /** Signing in (POST /auth/sign-in, POST /auth/callback), per client IP. */
  "sign-in-ip": { env: "RATE_LIMIT_SIGN_IN_IP", fallback: { limit: 30, windowSeconds: 3600 } },
  /** POST /auth/sign-in, per address (its SHA-256), whether or not it is a member's. */
  "sign-in-email": { env: "RATE_LIMIT_SIGN_IN_EMAIL", fallback: { limit: 5, windowSeconds: 3600 } },
  /** The proposal page's beacon (POST /api/tracking/events), per client IP. */
  "tracking-ip": { env: "RATE_LIMIT_TRACKING_IP", fallback: { limit: 300, windowSeconds: 60 } },
} as const satisfies Record<string, { env: string; fallback: RatePolicy }>;
export type OpenPolicy = keyof typeof openPolicies;

/** Plans whose per-key limit a deployment may override (app.tiers.requests_per_minute otherwise). */
export const keyTierSettings = { free: "RATE_LIMIT_KEY_FREE", pro: "RATE_LIMIT_KEY_PRO", ultra: "RATE_LIMIT_KEY_ULTRA" } as const;

export interface LimitsConfig {
  /** Per API key, for the tiers the deployment overrides; the others keep app.tiers' requests_per_minute per 60 s. */
  keyTiers: Partial<Record<keyof typeof keyTierSettings, RatePolicy>>;
  open: Record<OpenPolicy, RatePolicy>;
  /**
   * How many proxies in front of the app add themselves to X-Forwarded-For and may be believed:
   * 0 = none, the socket's peer is the client; Infinity = all (the left-most address).
   */
  trustedProxyHops: number;
  fairShare: {
    /**
     * Expensive requests one org may run at once, across every process (Postgres advisory locks).
     * Default 1: each keeps a database core busy, and a small database has two.
     */
    perOrg: number;
    /** Expensive requests one process may run at once; unset = half its database pool, so cheap requests always find a connection. */
    perProcess: number | undefined;
    /** statement_timeout for expensive requests. */
    statementTimeoutMs: number;
  };
}

const units: Record<string, number> = {
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
  m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  h: 3600, hour: 3600, hours: 3600,
  d: 86_400, day: 86_400, days: 86_400,
};

/**
 * "120/1m", "5/h", "30/60s", "1000/1 hour": a count per window. undefined when the value is not
 * one (the setting then keeps its default, with a warning).
 */
export function parseRatePolicy(value: string): RatePolicy | undefined {
  const match = value.trim().toLowerCase().match(/^(\d+)\s*\/\s*(\d*)\s*([a-z]+)$/);
  if (!match) return undefined;
  const limit = Number(match[1]);
  const count = match[2] === "" ? 1 : Number(match[2]);
  const unit = units[match[3]!];
  if (!unit || !Number.isSafeInteger(limit) || limit < 1 || count < 1) return undefined;
  const windowSeconds = count * unit;
  return Number.isSafeInteger(windowSeconds) && windowSeconds <= 31 * 86_400 ? { limit, windowSeconds } : undefined;
}

function policySetting(env: EnvReader, name: string): RatePolicy | undefined {
  const value = env(name)?.trim();
  if (!value) return undefined;
  const policy = parseRatePolicy(value);
  if (!policy) console.warn(`[config] ${name}=${JSON.stringify(value)} is not a rate like 120/1m, 5/1h or 30/60s: the default applies`);
  return policy;
}

/** TRUST_PROXY: unset/false = 0 hops, true = every hop, a whole number = that many hops. */
function trustedHops(value: string | undefined): number {
  const text = value?.trim().toLowerCase();
  if (!text || text === "false" || text === "0") return 0;
  if (text === "true") return Number.POSITIVE_INFINITY;
  const hops = Number(text);
  if (Number.isInteger(hops) && hops > 0) return hops;
  console.warn(`[config] TRUST_PROXY=${JSON.stringify(value)} is neither true, false nor a number of proxies: X-Forwarded-For is ignored`);
  return 0;
}

export function readLimitsConfig(env: EnvReader): LimitsConfig {
  const keyTiers: LimitsConfig["keyTiers"] = {};
  for (const [tier, name] of Object.entries(keyTierSettings) as [keyof typeof keyTierSettings, string][]) {
    const policy = policySetting(env, name);
    if (policy) keyTiers[tier] = policy;
  }
  const open = Object.fromEntries(Object.entries(openPolicies).map(([policy, { env: name, fallback }]) =>
    [policy, policySetting(env, name) ?? fallback])) as Record<OpenPolicy, RatePolicy>;
  const perProcess = positiveInt(env("EXPENSIVE_CONCURRENCY_PER_PROCESS"), 0);
  return {
    keyTiers,
    open,
    trustedProxyHops: trustedHops(env("TRUST_PROXY")),
    fairShare: {
      perOrg: positiveInt(env("EXPENSIVE_CONCURRENCY_PER_ORG"), 1),
      perProcess: perProcess > 0 ? perProcess : undefined,
      statementTimeoutMs: positiveInt(env("EXPENSIVE_STATEMENT_TIMEOUT_MS"), 5_000),
    },
  };
}
