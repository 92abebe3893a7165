// Signing in without a password, over real HTTP: the link reaches the mail catcher through the
// system mail outbox, its page uses nothing up, its button starts a browser session (an
// HttpOnly, SameSite=Lax cookie; Secure with the __Host- prefix under https); the session acts
// through the same transaction and row-level security as an API key, with the member's role;
// cookie-authenticated writes need the CSRF token and this site's origin; sign-out and
// revocation end a session; sign-in is rate limited.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { as, baseUrl, call, createLead, expectError, expectOk, lead, signup, uniqueEmail, type Workspace } from "./support/api.ts";
import { startApp, type TestApp } from "./support/app.ts";
import {
  asSession, completeSignIn, mailFor, type Mailbox, openMailbox, signIn, signInLink,
} from "./support/sessions.ts";

let mailbox: Mailbox;
const apps: TestApp[] = [];
beforeAll(async () => {
  mailbox = await openMailbox();
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await mailbox?.close();
});

/** Adds a member to the workspace with its key; returns the address. */
async function invite(ws: Workspace, role: string): Promise<{ email: string; id: string }> {
  const email = uniqueEmail(role);
  const body = expectOk(await as(ws).post("/members", { email, role }), 201);
  return { email, id: body.id };
}

describe("POST /auth/sign-in", () => {
  it("answers the same 202 for a member's address and for any other", async () => {
    const ws = await signup();
    const known = await call("POST", "/auth/sign-in", { email: ws.email });
    const unknown = await call("POST", "/auth/sign-in", { email: uniqueEmail("nobody") });
    expectOk(known, 202);
    expect(unknown.status).toBe(202);
    expect(unknown.body).toEqual(known.body);
    expectError(await call("POST", "/auth/sign-in", { email: "not an address" }), 400);
  });

  it("the sign-in page's form asks for the address and answers with a page", async () => {
    const page = await fetch(`${baseUrl()}/api/openclaw/auth/sign-in`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<form method="post" action="sign-in">');
    expect(html).toContain('name="email"');
    const sent = await fetch(`${baseUrl()}/api/openclaw/auth/sign-in`, {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `email=${encodeURIComponent(uniqueEmail("form"))}`,
    });
    expect(sent.status).toBe(202);
    expect(await sent.text()).toContain("Check your email");
  });
});

describe("the link", () => {
  it("the owner's welcome mail carries a link; its page uses nothing up; its button starts a session and goes to the dashboard", async () => {
    const ws = await signup({ workspace_name: "Welcome Co" });
    // Queued at signup. Another file's worker may have sent it first: then it is queued again
    // (a fresh token), ahead of the suite's other welcome mails.
    const mail = await mailFor(mailbox, ws.email, /^Your workspace Welcome Co is ready$/, async (attempt) => {
      if (attempt > 0) {
        await mailbox.sql`update app.system_mail set status = 'queued', next_attempt_at = now() - interval '1 day', claimed_by = null, lease_until = null
                          where org_id = ${ws.orgId} and kind = 'welcome'`;
      }
    });
    const { url, token } = signInLink(mail);
    expect(url).toBe(`${baseUrl()}/api/openclaw/auth/callback?token=${token}`);
    expect(mail.html).toContain(`href="${url}"`);

    // A mail scanner opening the link twice uses nothing up.
    for (let i = 0; i < 2; i++) {
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get("referrer-policy")).toBe("same-origin");
      expect(page.headers.get("cache-control")).toBe("no-store");
      const html = await page.text();
      expect(html).toContain('<form method="post" action="callback">');
      expect(html).toContain(`name="token" value="${token}"`);
    }

    const action = new URL("callback", url).href;
    const pressed = await fetch(action, {
      method: "POST", redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(url).origin, "sec-fetch-site": "same-origin" },
      body: `token=${token}`,
    });
    expect(pressed.status).toBe(303);
    // DASHBOARD_URL; unset, this app's own dashboard, relative to the callback (…/auth/callback → …/app/).
    expect(pressed.headers.get("location")).toBe("../../../app/");
    expect(new URL(pressed.headers.get("location")!, `${baseUrl()}/api/openclaw/auth/callback`).pathname).toBe("/app/");
    const setCookie = pressed.headers.getSetCookie().find((c) => c.startsWith("openclaw_session="))!;
    expect(setCookie).toMatch(/^openclaw_session=[0-9a-f]{64}; /);
    const attributes = setCookie.split(/;\s*/).slice(1).map((a) => a.toLowerCase());
    expect(attributes).toEqual(expect.arrayContaining(["httponly", "samesite=lax", "path=/"]));
    expect(attributes).not.toContain("secure");
    expect(Number(attributes.find((a) => a.startsWith("max-age="))!.split("=")[1])).toBeGreaterThan(29 * 86_400);

    const cookie = setCookie.split(";")[0]!;
    const me = expectOk(await call("GET", "/auth/session", undefined, { headers: { cookie } }));
    expect(me).toMatchObject({
      member: { email: ws.email.toLowerCase(), role: "owner", joinedAt: expect.any(String) },
      org: { id: ws.orgId, workspaceName: "Welcome Co" },
      session: { status: "active", current: true },
      csrfToken: expect.stringMatching(/^[0-9a-f]{64}$/),
      canWrite: true, canManageMembers: true,
    });
    expect(me.memberships).toEqual([expect.objectContaining({ orgId: ws.orgId, role: "owner", current: true })]);

    const again = await fetch(action, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `token=${token}` });
    expect(again.status).toBe(410);
    expect(await again.text()).toContain("already used");
  });

  it("refuses an unknown, a used and an expired link", async () => {
    const ws = await signup();
    expectError(await call("POST", "/auth/callback", { token: "0".repeat(64) }), 400, "invalid_sign_in_link");
    expect((await fetch(`${baseUrl()}/api/openclaw/auth/callback?token=nope`)).status).toBe(400);
    const mail = await mailFor(mailbox, ws.email, /^Sign in to /, () => call("POST", "/auth/sign-in", { email: ws.email }));
    const { token } = signInLink(mail);
    await mailbox.sql`update app.email_links set token_expires_at = now() - interval '1 second'
                      where token_hash = encode(sha256(convert_to(${token}, 'UTF8')), 'hex')`;
    const error = expectError(await call("POST", "/auth/callback", { token }), 410, "sign_in_link_expired");
    expect(error.hint).toContain("POST /api/openclaw/auth/sign-in");
  });

  it("a link used from another site is refused: nobody signs a browser into their own account", async () => {
    const ws = await signup();
    const mail = await mailFor(mailbox, ws.email, /^Sign in to /, () => call("POST", "/auth/sign-in", { email: ws.email }));
    const { token } = signInLink(mail);
    expectError(await call("POST", "/auth/callback", { token }, { headers: { origin: "https://evil.example" } }), 403, "cross_site_request");
    expectError(await call("POST", "/auth/callback", { token }, { headers: { "sec-fetch-site": "cross-site" } }), 403, "cross_site_request");
    // Still unused: the owner can follow it.
    await completeSignIn(token, { headers: { origin: baseUrl() } });
  });

  it("under https the cookie is __Host- prefixed and Secure, and a plain one is not believed", async () => {
    const ws = await signup();
    const mail = await mailFor(mailbox, ws.email, /^Sign in to /, () => call("POST", "/auth/sign-in", { email: ws.email }));
    const res = await call("POST", "/auth/callback", { token: signInLink(mail).token }, { headers: { "x-forwarded-proto": "https" } });
    expectOk(res);
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("__Host-openclaw_session="))!;
    const attributes = setCookie.split(/;\s*/).slice(1).map((a) => a.toLowerCase());
    expect(attributes).toEqual(expect.arrayContaining(["httponly", "secure", "samesite=lax", "path=/"]));
    expect(attributes.some((a) => a.startsWith("domain="))).toBe(false);

    const token = setCookie.split(";")[0]!.split("=")[1]!;
    const https = { "x-forwarded-proto": "https" };
    expectOk(await call("GET", "/auth/session", undefined, { headers: { ...https, cookie: `__Host-openclaw_session=${token}` } }));
    expectError(await call("GET", "/auth/session", undefined, { headers: { ...https, cookie: `openclaw_session=${token}` } }), 401, "not_signed_in");
  });
});

describe("a session at work", () => {
  let ws: Workspace;
  let other: Workspace;
  beforeAll(async () => {
    [ws, other] = await Promise.all([signup(), signup()]);
  });

  it("acts as its org through the same row-level security as a key: GET /leads sees only the org's leads", async () => {
    const mine = await createLead(as(ws));
    const theirs = await createLead(as(other));
    const session = await signIn(mailbox, ws.email);
    const ids = expectOk(await asSession(session).get("/leads")).leads.map((l: any) => l.id);
    expect(ids).toEqual([mine]);
    expectError(await asSession(session).get(`/leads/${theirs}`), 404, "not_found");
    const res = await asSession(session).get("/leads");
    expect(res.headers.get("ratelimit-policy")).toMatch(/"member";q=\d+;w=60/);
  });

  it("writes with the CSRF token from this site; without it, or from another site, 403", async () => {
    const session = await signIn(mailbox, ws.email);
    const client = asSession(session);
    const noToken = expectError(await client.post("/leads", lead(), { headers: { "x-csrf-token": "" } }), 403, "csrf_token_missing");
    expect(noToken.hint).toContain("GET /api/openclaw/auth/session");
    expectError(await client.post("/leads", lead(), { headers: { "x-csrf-token": "f".repeat(64) } }), 403, "csrf_token_invalid");
    expectError(await client.post("/leads", lead(), { headers: { origin: "https://evil.example" } }), 403, "cross_site_request");
    expectError(await client.delete("/leads/rp_000000000000000000000000", { headers: { "sec-fetch-site": "cross-site" } }), 403, "cross_site_request");
    const created = expectOk(await client.post("/leads", lead(), { headers: { origin: baseUrl(), "sec-fetch-site": "same-origin" } }), 201);
    // Created by the member: the lead records who.
    expect(created.lead.createdBy).toBe(session.memberId);
  });

  it("an API key is never asked for a CSRF token, and wins over a cookie", async () => {
    const session = await signIn(mailbox, ws.email);
    expectOk(await call("POST", "/leads", lead(), { key: ws.apiKey, headers: { cookie: session.cookie, origin: "https://evil.example" } }), 201);
  });

  it("reads every part of the workspace as a viewer, and writes nothing (403 with a hint)", async () => {
    const viewer = await invite(ws, "viewer");
    const session = await signIn(mailbox, viewer.email);
    expect(session.role).toBe("viewer");
    const client = asSession(session);
    const leadId = await createLead(as(ws));
    const refused = expectError(await client.post("/leads", lead()), 403, "read_only_role");
    expect(refused.hint).toContain("PATCH /api/openclaw/members/");
    expectError(await client.patch(`/leads/${leadId}`, { status: "won" }), 403, "read_only_role");
    expectError(await client.delete(`/leads/${leadId}`), 403, "read_only_role");
    expectError(await client.post("/notes", { leadId, content: "hi" }), 403, "read_only_role");
    expectError(await client.post("/members", { email: uniqueEmail("x") }), 403);
    expectError(await client.post("/keys", { name: "mine" }), 403, "admin_role_required");
    expect(expectOk(await client.get("/auth/session"))).toMatchObject({ canWrite: false, warnings: [expect.stringContaining("viewer")] });

    // Every list and read of the document answers a viewer (200, or 400 for a missing parameter), never 403 or 5xx.
    const doc = (await call("GET", "/openapi.json")).body;
    const reads = Object.entries<any>(doc.paths).flatMap(([path, item]) => Object.entries<any>(item)
      .filter(([method, op]) => method === "get" && (op.security ?? []).some((s: object) => "sessionCookie" in s))
      .map(([, op]) => ({ path: path.replace(/^\/api\/openclaw/, "").replace("{leadId}", leadId).replace(/\{[^}]+\}/g, "x"), op })));
    expect(reads.length).toBeGreaterThan(30);
    for (const { path } of reads) {
      const res = await client.get(path);
      expect(res.status, `GET ${path}: ${JSON.stringify(res.body).slice(0, 300)}`).not.toBe(403);
      expect(res.status, `GET ${path}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(500);
    }
    expect(expectOk(await client.get(`/leads/${leadId}`)).lead.id).toBe(leadId);
  });

  it("a role change applies from the member's next request; removing a member ends their session", async () => {
    const member = await invite(ws, "member");
    const session = await signIn(mailbox, member.email);
    const client = asSession(session);
    expectOk(await client.post("/leads", lead()), 201);
    expectOk(await as(ws).patch(`/members/${member.id}`, { role: "viewer" }));
    expectError(await client.post("/leads", lead()), 403, "read_only_role");
    expectOk(await as(ws).delete(`/members/${member.id}`));
    const ended = await client.get("/leads");
    expectError(ended, 401, "session_ended");
    expect(ended.headers.getSetCookie().join()).toMatch(/openclaw_session=; Max-Age=0/);
  });

  it("an invitation's link signs the invitee in, who then has joined", async () => {
    const email = uniqueEmail("invitee");
    let memberId = "";
    const mail = await mailFor(mailbox, email, /^You are invited to /, async () => {
      if (!memberId) memberId = expectOk(await as(ws).post("/members", { email, role: "member" }), 201).id;
      else await call("POST", "/auth/sign-in", { email });
    });
    expect(mail.text).toContain("as a member");
    const session = await completeSignIn(signInLink(mail).token);
    expect(session.memberId).toBe(memberId);
    const members = expectOk(await as(ws).get("/members")).members;
    expect(members.find((m: any) => m.id === memberId)).toMatchObject({ status: "active", joinedAt: expect.any(String) });
  });
});

describe("ending sessions", () => {
  it("sign-out ends the session and drops the cookie", async () => {
    const ws = await signup();
    const session = await signIn(mailbox, ws.email);
    expectError(await call("POST", "/auth/sign-out", undefined, { headers: { cookie: session.cookie } }), 403, "csrf_token_missing");
    const out = await asSession(session).post("/auth/sign-out");
    expect(expectOk(out).signedOut).toBe(true);
    expect(out.headers.getSetCookie().join()).toMatch(/openclaw_session=; Max-Age=0/);
    expectError(await asSession(session).get("/auth/session"), 401, "session_ended");
    // Signing out again, or without a session, is no error.
    expect(expectOk(await call("POST", "/auth/sign-out")).signedOut).toBe(false);
  });

  it("a member lists their own sessions and ends one of them", async () => {
    const ws = await signup();
    const laptop = await signIn(mailbox, ws.email);
    const phone = await signIn(mailbox, ws.email);
    const listed = expectOk(await asSession(laptop).get("/auth/sessions")).sessions;
    expect(listed.map((s: any) => s.id)).toEqual(expect.arrayContaining([laptop.sessionId, phone.sessionId]));
    expect(listed.find((s: any) => s.id === laptop.sessionId)).toMatchObject({ current: true, status: "active" });
    const revoked = expectOk(await asSession(laptop).delete(`/auth/sessions/${phone.sessionId}`));
    expect(revoked).toMatchObject({ revoked: true, alreadyRevoked: false, current: false });
    expectError(await asSession(phone).get("/leads"), 401, "session_ended");
    expectOk(await asSession(laptop).get("/leads"));
    expectError(await asSession(laptop).delete("/auth/sessions/ses_000000000000000000000000"), 404, "not_found");
  });

  it("a session unused for 14 days has expired", async () => {
    const ws = await signup();
    const session = await signIn(mailbox, ws.email);
    await mailbox.sql`update app.member_sessions set last_seen_at = now() - interval '15 days' where id = ${session.sessionId}`;
    const res = await asSession(session).get("/leads");
    const error = expectError(res, 401, "session_expired");
    expect(error.hint).toContain("POST /api/openclaw/auth/sign-in");
  });

  it("an API key is not a session: the member's own routes need the cookie", async () => {
    const ws = await signup();
    expectError(await as(ws).get("/auth/session"), 401, "not_signed_in");
    expectError(await call("GET", "/leads"), 401, "missing_api_key");
    expectError(await call("GET", "/leads", undefined, { headers: { cookie: `openclaw_session=${"0".repeat(64)}` } }), 401, "session_ended");
  });
});

describe("rate limits of signing in", () => {
  const freshIp = () => `203.0.${randomBytes(1)[0]}.${randomBytes(1)[0]! % 250 + 1}`;

  it("a few links per address an hour, then 429 with Retry-After, for members and others alike", async () => {
    const app = await startApp({ TRUST_PROXY: "true", RATE_LIMIT_SIGN_IN_EMAIL: "2/1h" });
    apps.push(app);
    for (const email of [(await signup()).email, uniqueEmail("nobody")]) {
      const ip = { "x-forwarded-for": freshIp() };
      for (let i = 0; i < 2; i++) expect((await call("POST", "/auth/sign-in", { email }, { base: app.url, headers: ip })).status).toBe(202);
      const refused = await call("POST", "/auth/sign-in", { email: email.toUpperCase() }, { base: app.url, headers: ip });
      const error = expectError(refused, 429, "rate_limited");
      expect(error.policy).toBe("sign-in-email");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    }
  });

  it("a few attempts per client an hour, whatever the address", async () => {
    const app = await startApp({ TRUST_PROXY: "true", RATE_LIMIT_SIGN_IN_IP: "3/1h" });
    apps.push(app);
    const ip = { "x-forwarded-for": freshIp() };
    for (let i = 0; i < 3; i++) expect((await call("POST", "/auth/sign-in", { email: uniqueEmail("ip") }, { base: app.url, headers: ip })).status).toBe(202);
    expect(expectError(await call("POST", "/auth/sign-in", { email: uniqueEmail("ip") }, { base: app.url, headers: ip }), 429, "rate_limited").policy)
      .toBe("sign-in-ip");
    expect(expectError(await call("POST", "/auth/callback", { token: "0".repeat(64) }, { base: app.url, headers: ip }), 429, "rate_limited").policy)
      .toBe("sign-in-ip");
    expect((await call("POST", "/auth/sign-in", { email: uniqueEmail("ip") }, { base: app.url, headers: { "x-forwarded-for": freshIp() } })).status).toBe(202);
  });
});
