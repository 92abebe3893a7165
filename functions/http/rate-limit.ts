// Rate limits at the edge. Postgres counts (sql/22_rate_limits.sql: GCRA buckets shared by every
// process and Edge isolate); this file says which buckets a request takes, announces what is
// left in the IETF RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers:
// `RateLimit-Policy: "quiz";q=30;w=60` and `RateLimit: "quiz";r=29;t=2`) on every reply of a
// limited route, and refuses with 429, Retry-After and a hint.
//   * per API key: taken by the statement that authenticates the key (tenant.ts); per member
//     signed in with a browser session likewise, by the statement that authenticates it;
//   * signing in: per client IP and per address (routes/auth.ts);
//   * per client IP (and per quiz) on the routes open without a key: limitOpenRoute, one
//     statement before any work;
//   * signup: per client IP and per email domain, takeSignupLimits.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { OpenPolicy } from "../limits/config.ts";
import { clientIp } from "./client-ip.ts";
import type { AppEnv } from "./context.ts";
import { ApiError, errorReply } from "./errors.ts";
import { escapeHtml } from "./page.ts";

/** One bucket's answer: the policy it belongs to and what is left of it. */
export interface LimitState {
  policy: string;
  quota: number;
  windowSeconds: number;
  allowed: boolean;
  /** Requests that may still be sent now. */
  remaining: number;
  /** Seconds until the allowance is whole again. */
  resetAfter: number;
  /** Seconds until a refused request would be let through (0 when it was). */
  retryAfter: number;
}

/** The columns of app.take_rate_limits' rows, as LimitState names them. */
const limitColumns = `policy, quota, window_seconds as "windowSeconds", allowed, remaining, reset_after as "resetAfter", retry_after as "retryAfter"`;

/** Adds the policies and what is left of them to the reply's RateLimit-Policy and RateLimit fields. */
export function announce(c: Context, states: LimitState[]): void {
  if (states.length === 0) return;
  c.header("RateLimit-Policy", states.map((s) => `"${s.policy}";q=${s.quota};w=${s.windowSeconds}`).join(", "), { append: true });
  // A refused request has nothing left until its retry time, so Retry-After is never earlier
  // than the end of the effective window (the draft's rule for replies carrying both).
  c.header("RateLimit", states.map((s) => s.allowed
    ? `"${s.policy}";r=${s.remaining};t=${s.resetAfter}`
    : `"${s.policy}";r=0;t=${s.retryAfter}`).join(", "), { append: true });
}

const per = (seconds: number) =>
  seconds === 60 ? "minute" : seconds === 3600 ? "hour" : seconds === 86_400 ? "day" : `${seconds} seconds`;

/** What each policy's refusal says: the message, and the hint after "Retry after N s.". */
const refusals: Record<string, (s: LimitState, subject?: string) => { message: string; hint: string }> = {
  "api-key": (s, tier) => ({
    message: `Too many requests for this API key: ${tier ? `the ${tier} plan allows` : "the limit is"} ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Every reply's RateLimit header says how many requests are left (r) and in how many seconds the allowance is whole again (t): pace bulk work by it, e.g. one request at a time. A higher plan has a higher limit (GET /api/openclaw/org/tier).",
  }),
  member: (s, tier) => ({
    message: `Too many requests from your session: ${tier ? `the ${tier} plan allows` : "the limit is"} ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Every reply's RateLimit header says how many requests are left (r) and in how many seconds the allowance is whole again (t).",
  }),
  "sign-in-ip": (s) => ({
    message: `Too many sign-in attempts from your address: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Use the last link you were mailed (it works for 15 minutes), or try again later.",
  }),
  "sign-in-email": (s) => ({
    message: `Too many sign-in links asked for this address: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Look for the last sign-in email (and in the spam folder): each link works for 15 minutes.",
  }),
  "signup-ip": (s) => ({
    message: `Too many signups from your address: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "A workspace needs one signup: keep using the API key it returned.",
  }),
  "signup-domain": (s) => ({
    message: `Too many signups for this email domain: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "A workspace needs one signup: keep using the API key it returned, or sign up later.",
  }),
  "quiz-ip": (s) => ({
    message: `Too many quiz submissions from your address: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Please try again in a little while.",
  }),
  quiz: (s) => ({
    message: `This quiz is taking too many submissions: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Please try again in a little while.",
  }),
  "inbound-ip": (s) => ({
    message: `Too many inbound events from this address: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Senders that retry a 429 after Retry-After need do nothing else; otherwise spread bursts out. The deployment sets the limit (RATE_LIMIT_INBOUND_IP).",
  }),
  "page-ip": (s) => ({
    message: `Too many page requests from your address: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Please try again in a little while.",
  }),
  "tracking-ip": (s) => ({
    message: `Too many tracking reports from your address: at most ${s.quota} per ${per(s.windowSeconds)}`,
    hint: "Send fewer reports; the page's beacon needs one every 15 seconds at most.",
  }),
};

/** The 429 for a refused bucket, with Retry-After set on the reply. */
export function rateLimited(c: Context, refused: LimitState, subject?: string): ApiError {
  c.header("Retry-After", String(refused.retryAfter));
  const words = (refusals[refused.policy] ?? ((s: LimitState) => ({ message: `Rate limit ${s.policy} reached`, hint: "" })))(refused, subject);
  return new ApiError(429, "rate_limited", words.message,
    `Retry after ${refused.retryAfter} s (Retry-After). ${words.hint}`.trim(),
    { policy: refused.policy, retryAfter: refused.retryAfter });
}

/** Announces the states; throws the 429 when one refused. */
export function enforce(c: Context, states: LimitState[], subject?: string): void {
  announce(c, states);
  const refused = states.find((s) => !s.allowed);
  if (refused) throw rateLimited(c, refused, subject);
}

export interface Take {
  policy: OpenPolicy;
  key: string;
}

/** Takes the buckets in order (the first refusal ends it), in one statement outside any transaction. */
export async function takeOpenLimits(c: Context<AppEnv>, takes: Take[]): Promise<LimitState[]> {
  const policies = c.var.config.limits.open;
  const json = takes.map(({ policy, key }) => ({ policy, key: key.slice(0, 200), limit: policies[policy].limit, window: policies[policy].windowSeconds }));
  return await c.var.sql<LimitState[]>`select ${c.var.sql.unsafe(limitColumns)} from app.take_rate_limits(${c.var.sql.json(json)})`;
}

/** POST /signup: the client IP's bucket, then the email domain's (per address for free mail). */
export async function enforceSignupLimits(c: Context<AppEnv>, email: string): Promise<void> {
  const { "signup-ip": ip, "signup-domain": domain } = c.var.config.limits.open;
  const states = await c.var.sql<LimitState[]>`
    select ${c.var.sql.unsafe(limitColumns)}
    from app.take_signup_limits(${clientIp(c)}, ${email}, ${ip.limit}, ${ip.windowSeconds}, ${domain.limit}, ${domain.windowSeconds})`;
  enforce(c, states);
}


/** People in a browser (public pages, the quiz form) get a page; everyone else the error envelope. */
function refusalReply(c: Context, error: ApiError): Response {
  if (!(c.req.header("accept") ?? "").includes("text/html")) return errorReply(c, error);
  return c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Too many requests</title></head>
<body><main><h1>Too many requests</h1><p>${escapeHtml(error.message)}.</p><p>${escapeHtml(error.hint)}</p></main></body></html>`, 429);
}

/**
 * A route open without a key: takes the client's buckets (`takes` names them: the client IP's
 * for the route's policy, a quiz's, …) before any work, and refuses with 429 when one is empty.
 * The body is read first (as raw bytes, which webhooks verify), so that a refusal is answered
 * after it, never while it is still arriving (see readBody in tenant.ts).
 */
export function limitOpenRoute(takes: (c: Context<AppEnv>, ip: string) => Take[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.raw.body) await c.req.arrayBuffer();
    const states = await takeOpenLimits(c, takes(c, clientIp(c)));
    try {
      enforce(c, states);
    } catch (err) {
      if (err instanceof ApiError) return refusalReply(c, err);
      throw err;
    }
    await next();
  });
}
