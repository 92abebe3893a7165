// The small HTML pages people open from a mailed link (key recovery: keys/page.ts; sign-in:
// auth/page.ts): self-contained, no external assets, no script, everything printed escaped,
// a strict CSP with a nonce for the one inline style. The links carry secrets in their URL, so
// no referrer leaves for another origin and nothing is cached. Same-origin, not no-referrer: under
// no-referrer a browser sends `Origin: null` with the page's own form post, which the sign-in
// callback's cross-site check (http/session.ts) must refuse; our own origin may see the URL.
import type { Context } from "hono";
import { escapeToBuffer, type StringBuffer } from "hono/utils/html";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * The one HTML escaper of the app: Hono's own (what its `html` tagged template applies to every
 * interpolation, as the dashboard's pages use it), for the pages and mails that are built as
 * plain strings. It escapes & < > " ', so a value is safe in text and in a quoted attribute.
 */
export function escapeHtml(value: unknown): string {
  const buffer: StringBuffer = [""];
  escapeToBuffer(String(value ?? ""), buffer);
  return buffer[0] as string;
}

const style = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
  body { margin: 0 auto; max-width: 40rem; padding: 1rem; }
  button { font: inherit; padding: .6rem 1.2rem; border-radius: .4rem; border: 0; background: #1d4ed8; color: #fff; cursor: pointer; }
  input { font: inherit; padding: .5rem; border-radius: .4rem; border: 1px solid #8888; min-width: 18rem; }
  code { display: block; padding: .75rem; border: 1px solid #8884; border-radius: .4rem; word-break: break-all; font-size: 1.05rem; }
`;

/** A page with a title and a body (HTML the caller escaped), under the headers above. */
export function linkPage(c: Context, status: ContentfulStatusCode, title: string, body: string) {
  const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  c.header("Content-Security-Policy", `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "same-origin");
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
