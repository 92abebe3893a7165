// The pages a person sees when signing in (routes/auth.ts), all on the shell of http/page.ts
// (self-contained, escaped, no referrer, not cached):
//   * GET /auth/sign-in: a form for the address; it posts to POST /auth/sign-in, which answers
//     with "check your email" whatever the address;
//   * GET /auth/callback?token=… (the mailed link): a button, and nothing else: mail scanners
//     that open links must not use them up. The button posts the token to POST /auth/callback,
//     which starts the session and redirects to the dashboard, or says why the link no longer
//     works.
// Forms post to the path next to the page, so they work under any prefix.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { escapeHtml, linkPage } from "../http/page.ts";

export function signInPage(c: Context) {
  return linkPage(c, 200, "Sign in to OpenClaw CRM", `<p>Enter the address you were invited with (or signed up with). We email you a link that signs you in: no password.</p>
<form method="post" action="sign-in">
<p><input type="email" name="email" required autocomplete="email" placeholder="you@example.com" aria-label="Email address"></p>
<button type="submit">Email me a sign-in link</button>
</form>`);
}

export function checkEmailPage(c: Context, email: string, status: ContentfulStatusCode = 202) {
  return linkPage(c, status, "Check your email", `<p>If ${escapeHtml(email)} belongs to a member of a workspace, a sign-in link is on its way to it.</p>
<p>The link works once, for 15 minutes after it is sent. Nothing arrived within a few minutes? Look in the spam folder, and check the address.</p>`);
}

/** The mailed link's page: one button that signs in. */
export function callbackPage(c: Context, token: string) {
  return linkPage(c, 200, "Sign in to OpenClaw CRM", `<p>This link signs you in once, within 15 minutes of the email.</p>
<form method="post" action="callback">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<button type="submit">Sign in</button>
</form>`);
}

export function signInErrorPage(c: Context, status: ContentfulStatusCode, message: string, hint: string) {
  return linkPage(c, status, "This link does not work", `<p role="alert">${escapeHtml(message)}.</p>
<p>${escapeHtml(hint)}</p>
<p><a href="sign-in">Ask for a new sign-in link</a></p>`);
}
