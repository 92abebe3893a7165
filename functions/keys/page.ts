// The pages a workspace owner sees when opening a key recovery link (routes/keys.ts):
// GET /keys/recover?token=… shows a button and changes nothing (mail scanners that open
// links must not use them up); the button posts the token to /keys/recover/confirm, which
// answers with the new key, shown once, or says why the link no longer works.
// Self-contained HTML: no external assets, no script, everything printed escaped; the token
// is in the URL, so no referrer leaves the page and nothing is cached.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (value: unknown): string => String(value ?? "").replace(/[&<>"']/g, (ch) => entities[ch]!);

const style = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
  body { margin: 0 auto; max-width: 40rem; padding: 1rem; }
  button { font: inherit; padding: .6rem 1.2rem; border-radius: .4rem; border: 0; background: #1d4ed8; color: #fff; cursor: pointer; }
  code { display: block; padding: .75rem; border: 1px solid #8884; border-radius: .4rem; word-break: break-all; font-size: 1.05rem; }
`;

function page(c: Context, status: ContentfulStatusCode, title: string, body: string) {
  const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  c.header("Content-Security-Policy", `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cache-Control", "no-store");
  return c.html(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${style}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>`, status);
}

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
