// The pages a workspace owner sees when opening a key recovery link (routes/keys.ts):
// GET /keys/recover?token=… shows a button and changes nothing (mail scanners that open
// links must not use them up); the button posts the token to /keys/recover/confirm, which
// answers with the new key, shown once, or says why the link no longer works.
// The page shell (self-contained, escaped, no referrer, not cached) is http/page.ts.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { escapeHtml, linkPage as page } from "../http/page.ts";

/** The link's page: one button that issues the key. Posts to recover/confirm next to it, under any prefix. */
export function recoveryPage(c: Context, token: string) {
  return page(c, 200, "Issue a new API key", `<p>This link issues one new API key for your workspace. It works once, within 15 minutes of the email.</p>
<p>Your existing keys keep working. The new key is shown once, on the next page: have somewhere safe to put it.</p>
<form method="post" action="recover/confirm">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<button type="submit">Issue a new API key</button>
</form>`);
}

export function issuedPage(c: Context, issued: { apiKey: string; keyId: string }) {
  return page(c, 201, "Your new API key", `<p>Copy it now: it is shown only this once.</p>
<code>${escapeHtml(issued.apiKey)}</code>
<p>Give it to your agent as <strong>Authorization: Bearer &lt;key&gt;</strong>. Its id is ${escapeHtml(issued.keyId)}, named "recovered".</p>
<p>If a key was lost or leaked, revoke it now: GET /api/openclaw/keys lists the keys, DELETE /api/openclaw/keys/{id} revokes one.</p>`);
}

export function recoveryErrorPage(c: Context, status: ContentfulStatusCode, message: string, hint: string) {
  return page(c, status, "This link does not work", `<p role="alert">${escapeHtml(message)}.</p>
<p>${escapeHtml(hint)}</p>`);
}
