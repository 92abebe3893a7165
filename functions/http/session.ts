// Browser sessions at the edge: the cookie, CSRF, and the statement that authenticates one.
// The rules live in SQL (24_members.sql): app.sign_in_with_link makes a session,
// app.authenticate_session checks one (org, member, current role, rolling expiry) and
// app.revoke_session ends one. This file only moves the token between the cookie and those
// calls, and keeps a cookie-authenticated write from being forged by another site.
//
// The cookie: `openclaw_session`, HttpOnly, SameSite=Lax, Path=/, Max-Age up to the session's
// absolute end (30 days). Under https it is `__Host-openclaw_session` and Secure: the __Host-
// prefix makes browsers refuse it unless it is Secure, has Path=/ and no Domain, so a sibling
// subdomain cannot plant one. A request is https when its URL is, when the deployment's
// PUBLIC_URL is, or when X-Forwarded-Proto says so (a proxy terminating TLS; believing a
// forged header only withholds the cookie from plain http).
//
// CSRF: a write (any method but GET, HEAD, OPTIONS) that authenticates with the cookie must
//   1. come from this site: a cross-site Sec-Fetch-Site, or an Origin other than the API's own
//      or the dashboard's (DASHBOARD_URL), is refused (403 cross_site_request);
//   2. carry the session's CSRF token in the x-csrf-token header (403 csrf_token_missing,
//      csrf_token_invalid). The token is derived from the session token (SHA-256 of
//      "csrf:" + token), so it needs no storage, dies with the session, and is useless
//      without the cookie; GET /auth/session hands it to the dashboard's script.
// Requests with an API key (Authorization or x-api-key) send no cookie-based authority and are
// never checked for CSRF: when a key is present the cookie is ignored.
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "./context.ts";
import { sameBytes, sha256Hex } from "./digest.ts";
import { ApiError } from "./errors.ts";

/** The session cookie's name over plain http; under https it carries the __Host- prefix. */
export const SESSION_COOKIE = "openclaw_session";
/** The header a cookie-authenticated write carries its CSRF token in. */
export const CSRF_HEADER = "x-csrf-token";

const TOKEN_SHAPE = /^[0-9a-f]{64}$/;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Whether the request reached us over https (directly, by the deployment's URL, or per its proxy). */
export function isHttps(c: Context<AppEnv>): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  if (c.var.config.publicUrl.startsWith("https:")) return true;
  return c.req.header("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase() === "https";
}

/**
 * The session token the request carries, if any. Under https only the __Host- cookie counts:
 * a plain one could have been set by a sibling subdomain.
 */
export function readSessionToken(c: Context<AppEnv>): string | undefined {
  const secure = getCookie(c, SESSION_COOKIE, "host");
  const token = secure ?? (isHttps(c) ? undefined : getCookie(c, SESSION_COOKIE));
  return token === undefined || token === "" ? undefined : token;
}

/** Sets the session cookie (after sign-in); it lasts until the session's absolute end. */
export function setSessionCookie(c: Context<AppEnv>, token: string, expiresAt: Date): void {
  const secure = isHttps(c);
  setCookie(c, SESSION_COOKIE, token, {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    secure,
    maxAge: Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000)),
    ...(secure ? { prefix: "host" as const } : {}),
  });
}

/** Tells the browser to drop the session cookie (sign-out, or a session that no longer works). */
export function clearSessionCookie(c: Context<AppEnv>): void {
  const secure = isHttps(c);
  deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "Lax", secure, ...(secure ? { prefix: "host" as const } : {}) });
}

/** The CSRF token of a session: derived from its token, never stored. */
export const csrfTokenFor = (sessionToken: string): Promise<string> => sha256Hex(`csrf:${sessionToken}`);

const originOf = (url: string): string | undefined => {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
};

/** The origins a browser write may come from: the API's own, its public URL's and the dashboard's. */
function allowedOrigins(c: Context<AppEnv>): Set<string> {
  const own = new URL(c.req.url);
  const forwardedHost = c.req.header("x-forwarded-host")?.split(",")[0]?.trim();
  const origins = [own.origin, originOf(c.var.config.publicUrl), originOf(c.var.config.dashboardUrl)];
  if (forwardedHost) origins.push(`${isHttps(c) ? "https" : "http"}://${forwardedHost}`);
  if (isHttps(c)) origins.push(`https://${own.host}`);
  return new Set(origins.filter((o): o is string => o !== undefined));
}

const crossSite = () =>
  new ApiError(403, "cross_site_request", "This write comes from another site and carries the session cookie",
    "Writes with a browser session are accepted only from the dashboard itself. Scripts and agents: send an API key (Authorization: Bearer rcm_live_…) instead of a cookie.");

/**
 * Refuses a browser request that another site made (the Origin check): a cross-site
 * Sec-Fetch-Site, or an Origin that is neither ours nor the dashboard's. For the sign-in
 * callback, which must not sign a browser into someone else's account, and for every
 * cookie-authenticated write.
 */
export function refuseCrossSite(c: Context<AppEnv>): void {
  const origin = c.req.header("origin");
  if (origin !== undefined) {
    if (origin === "null" || !allowedOrigins(c).has(origin)) throw crossSite();
    return;
  }
  const site = c.req.header("sec-fetch-site")?.toLowerCase();
  if (site !== undefined && site !== "same-origin" && site !== "none") throw crossSite();
}

/** The CSRF check of a cookie-authenticated request: nothing for safe methods; for writes the Origin and the token. */
export async function checkCsrf(c: Context<AppEnv>, sessionToken: string): Promise<void> {
  if (SAFE_METHODS.has(c.req.method)) return;
  refuseCrossSite(c);
  const sent = c.req.header(CSRF_HEADER);
  if (!sent) {
    throw new ApiError(403, "csrf_token_missing", "A write with a browser session needs the session's CSRF token",
      `Send the csrfToken from GET /api/openclaw/auth/session in the ${CSRF_HEADER} header. Scripts and agents: use an API key (Authorization: Bearer rcm_live_…), which needs none.`);
  }
  const utf8 = new TextEncoder();
  if (!sameBytes(utf8.encode(sent), utf8.encode(await csrfTokenFor(sessionToken)))) {
    throw new ApiError(403, "csrf_token_invalid", "The CSRF token does not belong to this session",
      `Read csrfToken again from GET /api/openclaw/auth/session (it changes with every sign-in) and send it in the ${CSRF_HEADER} header.`);
  }
}

/** The session token, if the cookie holds something of the right shape (garbage never reaches the database). */
export function wellFormedSessionToken(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

export const missingSession = () =>
  new ApiError(401, "not_signed_in", "This needs a browser session: you are not signed in",
    "Sign in with a link mailed to your address: POST /api/openclaw/auth/sign-in { \"email\": \"you@example.com\" }, then open the link.");

export const endedSession = (status: "expired" | "revoked" | "unknown") =>
  new ApiError(401, status === "expired" ? "session_expired" : "session_ended",
    status === "expired" ? "Your session has expired (14 days without use, or 30 days after sign-in)" : "Your session has ended (signed out, or removed)",
    "Sign in again: POST /api/openclaw/auth/sign-in { \"email\": \"you@example.com\" } mails a link.");
