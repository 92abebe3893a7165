// Signing in as a person, the way a browser does: a mail catcher of the file's own receives
// the system mail (the worker's system-mail tick runs here, as in tests/keys.test.ts), the
// link's token goes to POST /auth/callback, and the session cookie comes back in Set-Cookie.
// A session client then sends the cookie with every request and, for writes, the session's
// CSRF token in x-csrf-token, as the dashboard's script does.
//
//   const mailbox = await openMailbox();              // in beforeAll; mailbox.close() in afterAll
//   const session = await signIn(mailbox, email);     // asks for a link, follows it
//   await asSession(session).post("/leads", { … });
//
// Workers of other files share the database and may take a mail first (it then lands in their
// catcher): the link is asked for again, a few times.
import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import { connect, type Sql } from "../../functions/db.ts";
import { createSmtpSender, type MailSender } from "../../functions/mail/smtp.ts";
import { runSystemMailTick } from "../../functions/mail/worker.ts";
import { type CaughtMessage, type MailCatcher, startMailCatcher } from "../../functions/node/mail-catcher.ts";
import { type ApiResponse, baseUrl, call, type RequestOptions } from "./api.ts";
import { mailConfig } from "./smtp.ts";

export interface Mailbox {
  sql: Sql;
  catcher: MailCatcher;
  /** Runs the system mail half of a worker tick into this file's catcher. */
  tick(): Promise<void>;
  close(): Promise<void>;
}

export async function openMailbox(): Promise<Mailbox> {
  const sql = connect(inject("databaseUrl"), { max: 2 });
  const catcher = await startMailCatcher({ smtpPort: 0, httpPort: 0 });
  const sender: MailSender = createSmtpSender(catcher.smtpUrl, "OpenClaw CRM <crm@localhost>");
  return {
    sql,
    catcher,
    async tick() {
      // A large batch: the suite's signups queue many welcome mails, which wait behind urgent mail.
      const config = mailConfig({ publicUrl: baseUrl(), messageIdDomain: "mail.test" });
      await runSystemMailTick({
        sql, sender, name: `sessions-test-${randomUUID().slice(0, 8)}`, config: { ...config, worker: { ...config.worker, batch: 100 } },
      });
    },
    async close() {
      sender.close();
      await catcher.close();
      await sql.end({ timeout: 2 });
    },
  };
}

/** The sign-in link in a mail, and its token. */
export function signInLink(mail: CaughtMessage): { url: string; token: string } {
  const match = mail.text.match(/(https?:\/\/\S+\/api\/openclaw\/auth\/callback\?token=([0-9a-f]{64}))/);
  if (!match) throw new Error(`no sign-in link in: ${mail.text}`);
  return { url: match[1]!, token: match[2]! };
}

/**
 * The newest mail to `email` whose subject matches, once `ask` (which queues it) and a tick
 * have run; asked again when another file's worker took it.
 */
export async function mailFor(mailbox: Mailbox, email: string, subject: RegExp, ask: (attempt: number) => Promise<unknown>): Promise<CaughtMessage> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const seen = new Set(mailbox.catcher.messages);
    await ask(attempt);
    for (let tick = 0; tick < 3; tick++) {
      await mailbox.tick();
      const mail = mailbox.catcher.messages.find((m) => !seen.has(m) && m.envelope.to.includes(email.toLowerCase()) && subject.test(m.subject));
      if (mail) return mail;
    }
  }
  throw new Error(`no mail "${subject}" for ${email} reached this file's mail catcher`);
}

export interface Session {
  /** The Cookie header value: name=token. */
  cookie: string;
  token: string;
  csrfToken: string;
  orgId: string;
  memberId: string;
  role: string;
  sessionId: string;
}

/** The session cookie a reply sets ("name=value"), if any. */
export function sessionCookieIn(res: { headers: Headers }): string | undefined {
  return res.headers.getSetCookie().map((c) => c.split(";")[0]!).find((c) => /^(__Host-)?openclaw_session=./.test(c));
}

/** Uses a sign-in link's token as the callback page's button (JSON) does, and keeps the cookie. */
export async function completeSignIn(token: string, options: RequestOptions = {}): Promise<Session> {
  const res = await call("POST", "/auth/callback", { token }, options);
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${JSON.stringify(res.body)}`);
  const cookie = sessionCookieIn(res);
  if (!cookie) throw new Error("the sign-in set no session cookie");
  return {
    cookie, token: cookie.split("=")[1]!, csrfToken: res.body.csrfToken, orgId: res.body.orgId, memberId: res.body.memberId,
    role: res.body.role, sessionId: res.body.sessionId,
  };
}

/** Asks for a sign-in link for the address (into orgId, when given), reads it from the mail and follows it. */
export async function signIn(mailbox: Mailbox, email: string, orgId?: string): Promise<Session> {
  const mail = await mailFor(mailbox, email, /^Sign in to /, () => call("POST", "/auth/sign-in", { email, ...(orgId ? { orgId } : {}) }));
  return completeSignIn(signInLink(mail).token);
}

/** A client that acts with a browser session: the cookie on every request, the CSRF token on writes. */
export function asSession(session: Session, base?: string) {
  const send = <T = any>(method: string, path: string, json?: unknown, options: RequestOptions = {}): Promise<ApiResponse<T>> =>
    call<T>(method, path, json, {
      base,
      ...options,
      headers: {
        cookie: session.cookie,
        ...(method === "GET" ? {} : { "x-csrf-token": session.csrfToken }),
        ...options.headers,
      },
    });
  return {
    get: <T = any>(path: string, options: RequestOptions = {}) => send<T>("GET", path, undefined, options),
    post: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => send<T>("POST", path, json, options),
    put: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => send<T>("PUT", path, json, options),
    patch: <T = any>(path: string, json?: unknown, options: RequestOptions = {}) => send<T>("PATCH", path, json, options),
    delete: <T = any>(path: string, options: RequestOptions = {}) => send<T>("DELETE", path, undefined, options),
  };
}
