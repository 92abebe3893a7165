// Signing in without a password, for people (agents use API keys):
//   POST /auth/sign-in { email }  mails a one-time link (always 202, the same answer for any
//                                 address; rate-limited per client IP and per address);
//   GET  /auth/callback?token=…   the link's page: a button, nothing used up on GET;
//   POST /auth/callback           the button: the link becomes a browser session (the cookie,
//                                 http/session.ts), then a redirect to the dashboard;
//   POST /auth/sign-out           ends the session and drops the cookie;
//   GET  /auth/session            who am I: member, role, workspace, the CSRF token for writes,
//                                 and the other workspaces of the same address;
//   GET/DELETE /auth/sessions     the member's own sessions, and ending one.
// GET /auth/sign-in is a small form for the address, for people without the dashboard.
// The rules live in SQL (24_members.sql): app.request_sign_in, app.sign_in_with_link (one
// use, 15 minutes, tokens hashed; the member joins at the first sign-in),
// app.authenticate_session (tenant.ts), app.end_session, app.revoke_session.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { callbackPage, checkEmailPage, signInErrorPage, signInPage } from "../auth/page.ts";
import { asAnonymous } from "../db.ts";
import { clientIp } from "../http/client-ip.ts";
import type { AppEnv } from "../http/context.ts";
import { memberRoles, tiers } from "../http/enums.ts";
import { ApiError, notFound, toApiError } from "../http/errors.ts";
import { enforce, limitOpenRoute, takeOpenLimits } from "../http/rate-limit.ts";
import {
  commonErrors, envelope, errorResponse, json, notFoundError, rateLimitedResponse, reply, sessionAuth,
} from "../http/reply.ts";
import { sha256Hex } from "../http/digest.ts";
import { createRouter } from "../http/router.ts";
import {
  checkCsrf, clearSessionCookie, CSRF_HEADER, csrfTokenFor, refuseCrossSite, setSessionCookie,
  wellFormedSessionToken, readSessionToken,
} from "../http/session.ts";
import { finishWith, memberTransaction } from "../http/tenant.ts";
import { validationWithHints } from "../http/validation.ts";

const TAGS = ["Sign-in"];
const LINK_MINUTES = 15 as const;

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const SignInBody = z.object({
  email: z.email().max(320).openapi({ description: "The address you were invited (or signed up) with.", example: "you@example.com" }),
  orgId: z.string().min(1).max(100).optional()
    .openapi({ description: "For a member of several workspaces: which one to sign into. Default: the one used most recently." }),
}).openapi("SignInRequest");
const SignInReply = envelope({
  accepted: z.literal(true),
  linkValidMinutes: z.literal(LINK_MINUTES),
}).openapi("SignInReply");

const TokenQuery = z.object({
  token: z.string().optional().openapi({ description: "The token from the sign-in email's link." }),
});
const CallbackBody = z.object({
  token: z.string().min(1).max(200).openapi({ description: "The sign-in link's token= value (64 hex digits)." }),
}).openapi("CompleteSignInRequest");

const SessionInfo = z.object({
  id: z.string(),
  createdAt: z.string(),
  lastSeenAt: z.string(),
  expiresAt: z.string().openapi({ description: "The absolute end: 30 days after sign-in." }),
  idleExpiresAt: z.string().openapi({ description: "When the session ends if unused: 14 days after the last request (at most expiresAt)." }),
  userAgent: z.string().nullable(),
  status: z.enum(["active", "expired", "revoked"]),
  revokedAt: z.string().nullable(),
  current: z.boolean().openapi({ description: "true for the session this request uses." }),
}).openapi("MemberSession");

const SignedInReply = envelope({
  orgId: z.string(),
  memberId: z.string(),
  email: z.string(),
  role: z.enum(memberRoles),
  sessionId: z.string(),
  expiresAt: z.string(),
  csrfToken: z.string().openapi({ description: `Send it in ${CSRF_HEADER} with every write made with this session.` }),
  redirectTo: z.string().openapi({ description: "The dashboard (DASHBOARD_URL)." }),
}).openapi("SignedInReply");

const WhoAmIReply = envelope({
  member: z.object({
    id: z.string(),
    email: z.string(),
    role: z.enum(memberRoles),
    joinedAt: z.string().nullable(),
    lastSignInAt: z.string().nullable(),
  }),
  org: z.object({ id: z.string(), name: z.string(), workspaceName: z.string(), tier: z.enum(tiers) }),
  session: SessionInfo,
  csrfToken: z.string().openapi({ description: `The session's CSRF token: send it in the ${CSRF_HEADER} header with every POST, PUT, PATCH and DELETE made with the cookie.` }),
  canWrite: z.boolean().openapi({ description: "false for a viewer, who reads everything and changes nothing." }),
  canManageMembers: z.boolean().openapi({ description: "Owners and admins manage members and API keys." }),
  memberships: z.array(z.object({
    orgId: z.string(),
    workspaceName: z.string(),
    memberId: z.string(),
    role: z.enum(memberRoles),
    current: z.boolean(),
  })).openapi({ description: "Every workspace this address belongs to (this one first); sign into another with POST /auth/sign-in { email, orgId }." }),
}).openapi("WhoAmIReply");

const SessionsReply = envelope({ sessions: z.array(SessionInfo) }).openapi("MemberSessionListReply");
const SessionIdParam = z.object({
  id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" }, example: "ses_3f9c0a1b2c3d4e5f6a7b8c9d" }),
});
const RevokedReply = envelope({
  id: z.string(),
  revoked: z.literal(true),
  alreadyRevoked: z.boolean(),
  current: z.boolean().openapi({ description: "true when it was this request's own session: the cookie is dropped too." }),
}).openapi("MemberSessionRevokedReply");
const SignedOutReply = envelope({
  signedOut: z.boolean().openapi({ description: "true when a working session ended; false when there was none (the cookie is dropped anyway)." }),
}).openapi("SignedOutReply");

const html = (description: string) => ({ content: { "text/html": { schema: z.string() } }, description });
const openErrors = {
  429: rateLimitedResponse("Too many sign-in attempts from this client or for this address: see Retry-After."),
  500: errorResponse("Our fault; retry once after 2 s."),
  503: errorResponse("Database unavailable."),
} as const;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------
const isFormPost = (c: Context) => /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(c.req.header("content-type") ?? "");

/** Answers a browser form's refusal as a page (a 5xx stays an error for the error handler). */
function pageFor(c: Context<AppEnv>, err: unknown): Response {
  const apiError = toApiError(err);
  if (apiError.status >= 500) throw err;
  return signInErrorPage(c, apiError.status, apiError.message, apiError.hint);
}

const checkEmailReply = (c: Context) => reply(c, { accepted: true as const, linkValidMinutes: LINK_MINUTES }, {
  warnings: [`If this address belongs to a member of a workspace, a sign-in link was emailed to it. It works once, for ${LINK_MINUTES} minutes after the email is sent`],
  next_steps: [
    "Open the link in the email and press the button: the browser is then signed in (a session cookie) and sent to the dashboard",
    "No email within a few minutes? Check the spam folder and the address; a few links per address an hour at most",
  ],
}, 202);

interface SessionRow {
  id: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  idleExpiresAt: Date;
  userAgent: string | null;
  status: "active" | "expired" | "revoked";
  revokedAt: Date | null;
  current: boolean;
}

const sessionSelect = (c: Context<AppEnv>) => c.var.db`
  id, created_at as "createdAt", last_seen_at as "lastSeenAt", expires_at as "expiresAt", idle_expires_at as "idleExpiresAt",
  user_agent as "userAgent", status, revoked_at as "revokedAt",
  (id = app.current_session_id()) is true as current`;

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const signInRoute = createRoute({
  method: "post", path: "/auth/sign-in", tags: TAGS, operationId: "requestSignInLink",
  security: [],
  summary: "Email a one-time sign-in link to a member's address (no key; always 202)",
  description: `Always 202 with the same body, whether or not the address belongs to a member. The link works once, for ${LINK_MINUTES} minutes after the email is sent. Rate-limited per client IP and per address (429 with Retry-After). The sign-in page's form (application/x-www-form-urlencoded) gets a page instead of JSON.`,
  request: {
    body: {
      content: { "application/json": { schema: SignInBody }, "application/x-www-form-urlencoded": { schema: SignInBody } },
      required: false,
    },
  },
  responses: {
    202: { ...json(SignInReply, "If the address is a member's, the link is on its way."), content: { ...json(SignInReply, "").content, "text/html": { schema: z.string() } } },
    400: errorResponse("Not an email address."),
    ...openErrors,
  },
});
const signInPageRoute = createRoute({
  method: "get", path: "/auth/sign-in", tags: TAGS, operationId: "showSignInPage",
  security: [],
  summary: "The sign-in page (HTML): a form that asks for the address and posts it to POST /auth/sign-in",
  middleware: [limitOpenRoute((_c, ip) => [{ policy: "page-ip", key: ip }])],
  responses: { 200: html("The form."), 429: html("Too many page requests from this client.") },
});
const callbackPageRoute = createRoute({
  method: "get", path: "/auth/callback", tags: TAGS, operationId: "showSignInCallbackPage",
  security: [],
  summary: "The sign-in link's page, /auth/callback?token=… (HTML; uses nothing up): a button that signs in",
  middleware: [limitOpenRoute((_c, ip) => [{ policy: "page-ip", key: ip }])],
  request: { query: TokenQuery },
  responses: { 200: html("The page with its button."), 400: html("Not a sign-in link."), 429: html("Too many page requests from this client.") },
});
const callbackRoute = createRoute({
  method: "post", path: "/auth/callback", tags: TAGS, operationId: "completeSignIn",
  security: [],
  summary: "Use a sign-in link's token: starts a browser session (HttpOnly cookie) and redirects to the dashboard",
  description: "The callback page's form (application/x-www-form-urlencoded) is answered 303 to DASHBOARD_URL with the session cookie; JSON { token } is answered 200 with the member, the session and its CSRF token (the cookie is set too). Only from this site: a request another site makes is refused (403 cross_site_request), so nobody can sign a browser into their own account.",
  request: {
    body: {
      content: { "application/json": { schema: CallbackBody }, "application/x-www-form-urlencoded": { schema: CallbackBody } },
      required: false,
    },
  },
  responses: {
    200: json(SignedInReply, "Signed in (JSON); the Set-Cookie header carries the session."),
    303: { description: "Signed in (form): Set-Cookie carries the session, Location is the dashboard." },
    400: errorResponse("Unknown token."),
    403: errorResponse("Sent by another site (Origin / Sec-Fetch-Site)."),
    410: errorResponse("The link was already used, or has expired (15 minutes)."),
    ...openErrors,
  },
});
const signOutRoute = createRoute({
  method: "post", path: "/auth/sign-out", tags: TAGS, operationId: "signOut",
  security: sessionAuth,
  summary: "End this browser session and drop its cookie (send x-csrf-token)",
  responses: {
    200: json(SignedOutReply, "Signed out (or there was nothing to end)."),
    403: errorResponse("Without the session's CSRF token, or from another site."),
    500: errorResponse("Our fault; retry once after 2 s."),
    503: errorResponse("Database unavailable."),
  },
});
const sessionRoute = createRoute({
  method: "get", path: "/auth/session", tags: TAGS, operationId: "getSession",
  security: sessionAuth, middleware: [memberTransaction],
  summary: "Who am I: the signed-in member, role, workspace, this session and its CSRF token",
  responses: { 200: json(WhoAmIReply, "The signed-in member."), ...commonErrors },
});
const sessionsRoute = createRoute({
  method: "get", path: "/auth/sessions", tags: TAGS, operationId: "listSessions",
  security: sessionAuth, middleware: [memberTransaction],
  summary: "The signed-in member's own browser sessions, newest first",
  responses: { 200: json(SessionsReply, "The member's sessions (the last 30 days' and any still working)."), ...commonErrors },
});
const revokeSessionRoute = createRoute({
  method: "delete", path: "/auth/sessions/{id}", tags: TAGS, operationId: "revokeSession",
  security: sessionAuth, middleware: [memberTransaction], request: { params: SessionIdParam },
  summary: "End one of the signed-in member's own sessions (e.g. a lost laptop's)",
  responses: { 200: json(RevokedReply, "Session ended (or already ended)."), ...notFoundError, ...commonErrors },
});

export const authRoutes = createRouter()
  .openapi(signInRoute, async (c) => {
    const form = isFormPost(c);
    const parsed = SignInBody.safeParse(form ? c.req.valid("form") : c.req.valid("json"));
    try {
      if (!parsed.success) {
        throw new ApiError(400, "invalid_email", "email must be a valid address of at most 320 characters",
          "Send the address you were invited with: { \"email\": \"you@example.com\" }.");
      }
      const { email, orgId } = parsed.data;
      const address = email.trim().toLowerCase();
      enforce(c, await takeOpenLimits(c, [
        { policy: "sign-in-ip", key: clientIp(c) },
        { policy: "sign-in-email", key: `address:${await sha256Hex(address)}` },
      ]));
      await asAnonymous(c.var.sql, (tx) => tx`select app.request_sign_in(${address}, ${orgId ?? null})`);
      return form ? checkEmailPage(c, address) : checkEmailReply(c);
    } catch (err) {
      if (form) return pageFor(c, err);
      throw err;
    }
  }, validationWithHints({ email: "Send the address you were invited with: { \"email\": \"you@example.com\" }.", orgId: "orgId is a workspace id (org_…), or leave it out." }))
  .openapi(signInPageRoute, (c) => signInPage(c))
  .openapi(callbackPageRoute, (c) => {
    const { token } = c.req.valid("query");
    if (token === undefined || !/^[0-9a-f]{64}$/.test(token)) {
      return signInErrorPage(c, 400, "This is not a sign-in link",
        "Open the link exactly as it is in the email, or ask for a new one with your address.");
    }
    return callbackPage(c, token);
  })
  .openapi(callbackRoute, async (c) => {
    const form = isFormPost(c);
    try {
      refuseCrossSite(c);
      const parsed = CallbackBody.safeParse(form ? c.req.valid("form") : c.req.valid("json"));
      if (!parsed.success) {
        throw new ApiError(400, "invalid_request", "token is required",
          "Send { \"token\": \"<the sign-in link's token= value, 64 hex digits>\" } as JSON, or open the link and press its button.");
      }
      enforce(c, await takeOpenLimits(c, [{ policy: "sign-in-ip", key: clientIp(c) }]));
      const [session] = await asAnonymous(c.var.sql, (tx) => tx<{
        sessionToken: string; sessionId: string; orgId: string; memberId: string; memberRole: typeof memberRoles[number];
        email: string; expiresAt: Date;
      }[]>`
        select session_token as "sessionToken", session_id as "sessionId", org_id as "orgId", member_id as "memberId",
               member_role as "memberRole", email, expires_at as "expiresAt"
        from app.sign_in_with_link(${parsed.data.token}, ${c.req.header("user-agent")?.slice(0, 500) ?? null})`);
      const s = session!;
      setSessionCookie(c, s.sessionToken, s.expiresAt);
      const redirectTo = c.var.config.dashboardUrl;
      // The app's own dashboard is reached relative to this request (…/api/openclaw/auth/callback
      // → …/app/), so the redirect also lands right under a proxy's or the Edge Function's prefix.
      if (form) return c.redirect(c.var.config.dashboardElsewhere ? redirectTo : "../../../app/", 303);
      return reply(c, {
        orgId: s.orgId, memberId: s.memberId, email: s.email, role: s.memberRole, sessionId: s.sessionId,
        expiresAt: s.expiresAt.toISOString(), csrfToken: await csrfTokenFor(s.sessionToken), redirectTo,
      }, {
        next_steps: [
          "The browser now sends the session cookie with every request to this API",
          `Send csrfToken in the ${CSRF_HEADER} header with every POST, PUT, PATCH and DELETE`,
          "GET /api/openclaw/auth/session says who is signed in; POST /api/openclaw/auth/sign-out ends the session",
        ],
      });
    } catch (err) {
      if (form) return pageFor(c, err);
      throw err;
    }
  })
  .openapi(signOutRoute, async (c) => {
    const token = readSessionToken(c);
    let signedOut = false;
    if (token !== undefined && wellFormedSessionToken(token)) {
      await checkCsrf(c, token);
      const hash = await sha256Hex(token);
      const [ended] = await asAnonymous(c.var.sql, (tx) => tx<{ ended: boolean }[]>`select app.end_session(${hash}) as ended`);
      signedOut = ended!.ended;
    }
    clearSessionCookie(c);
    return reply(c, { signedOut }, {
      warnings: signedOut ? [] : ["There was no working session to end; the cookie was dropped anyway"],
      next_steps: ["POST /api/openclaw/auth/sign-in { \"email\": \"…\" } to sign in again"],
    }, 200);
  })
  .openapi(sessionRoute, async (c) => {
    // Who the request is, in SQL: these go out before the session's answer is back
    // (http/tenant.ts), with the COMMIT right behind them; c.var.identity is set once they
    // have answered.
    const db = c.var.db;
    const [[member], [org], [session], memberships] = await finishWith(c,
      db<{ id: string; email: string; role: typeof memberRoles[number]; joinedAt: Date | null; lastSignInAt: Date | null }[]>`
        select id, email, role, joined_at as "joinedAt", last_sign_in_at as "lastSignInAt"
        from app.member_details where id = app.current_member_id()`,
      db<{ id: string; name: string; workspaceName: string; tier: typeof tiers[number] }[]>`
        select id, name, workspace_name as "workspaceName", tier from app.orgs where id = app.current_org_id()`,
      db<SessionRow[]>`select ${sessionSelect(c)} from app.member_session_details
                       where id = app.current_session_id()`,
      db<{ orgId: string; workspaceName: string; memberId: string; role: typeof memberRoles[number]; current: boolean }[]>`
        select org_id as "orgId", workspace_name as "workspaceName", member_id as "memberId", role, current
        from app.member_memberships()`,
    );
    const identity = c.var.identity;
    if (identity.kind !== "session") throw new Error("memberTransaction authenticated something else than a session");
    const role = member!.role;
    return reply(c, {
      member: member!, org: org!, session: session!, csrfToken: identity.csrfToken,
      canWrite: role !== "viewer", canManageMembers: role === "owner" || role === "admin", memberships,
    }, {
      warnings: role === "viewer" ? ["Your role is viewer: you can read everything, and change nothing"] : [],
      next_steps: [`Send csrfToken in the ${CSRF_HEADER} header with every POST, PUT, PATCH and DELETE`],
    });
  })
  .openapi(sessionsRoute, async (c) => {
    const rows = await c.var.db<SessionRow[]>`
      select ${sessionSelect(c)} from app.member_session_details
      where status = 'active' or created_at > now() - interval '30 days'
      order by created_at desc, id desc limit 100`;
    return reply(c, { sessions: rows }, {
      next_steps: ["DELETE /api/openclaw/auth/sessions/{id} ends a session you do not recognise"],
    });
  })
  .openapi(revokeSessionRoute, async (c) => {
    const { id } = c.req.valid("param");
    const [row] = await c.var.db<{ alreadyRevoked: boolean }[]>`select already_revoked as "alreadyRevoked" from app.revoke_session(${id})`;
    if (!row) throw notFound("Session", id);
    const current = c.var.identity.kind === "session" && c.var.identity.sessionId === id;
    if (current) clearSessionCookie(c);
    return reply(c, { id, revoked: true as const, alreadyRevoked: row.alreadyRevoked, current }, {
      warnings: current ? ["That was this browser's own session: it is signed out now"] : [],
      next_steps: ["GET /api/openclaw/auth/sessions lists the rest"],
    });
  });
