// Turns a claimed outbox row into the email that is sent: {{variable}} templates filled from
// the lead (the list of names is app.template_variables(), checked when a campaign is
// written), a plain-text and an HTML part (values and text HTML-escaped there), the
// unsubscribe footer, and the headers: a Message-ID fixed per outbox row, so a retried send
// carries the same one, and RFC 8058 one-click List-Unsubscribe.
// Web-standard only: the same code could render on Deno.
import { escapeHtml } from "../http/page.ts";
import type { Claim, Variables } from "./claim.ts";

export interface Content {
  subject: string;
  /** Plain text; paragraphs are separated by blank lines. */
  body: string;
}

export interface Email {
  messageId: string;
  to: string;
  fromName?: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  /** Campaign mail only: the lead's one-click unsubscribe link. */
  unsubscribeUrl?: string;
}

export interface RenderOptions {
  /** The API's public base URL (unsubscribe links point there). */
  publicUrl: string;
  messageIdDomain: string;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

/** Fills {{name}} placeholders; names that are not variables stay as written. */
export function renderTemplate(template: string, variables: Variables): string {
  return template.replace(PLACEHOLDER, (whole, name: string) =>
    Object.hasOwn(variables, name) ? variables[name as keyof Variables] : whole);
}

/**
 * The claim's templates with the lead's values filled in (the AI rewriter starts from this).
 * The database gives a proposal page as a path (/p/<slug>): it is made absolute here.
 */
export function renderContent(claim: Claim, publicUrl?: string): Content {
  const { proposalUrl } = claim.variables;
  const variables = publicUrl && proposalUrl.startsWith("/")
    ? { ...claim.variables, proposalUrl: `${publicUrl.replace(/\/+$/, "")}${proposalUrl}` }
    : claim.variables;
  return { subject: oneLine(renderTemplate(claim.subject, variables)), body: renderTemplate(claim.body, variables) };
}

export function messageId(outboxId: string, domain: string): string {
  return `<${outboxId}@${domain}>`;
}

export function unsubscribeUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/api/openclaw/email/unsubscribe/${encodeURIComponent(token)}`;
}

/** The whole email for a claim, from its (rendered, possibly rewritten) content. */
export function composeEmail(claim: Claim, content: Content, options: RenderOptions): Email {
  const url = unsubscribeUrl(options.publicUrl, claim.unsubscribeToken);
  const body = content.body.replace(/\r\n?/g, "\n").trim();
  return {
    messageId: messageId(claim.id, options.messageIdDomain),
    to: claim.to,
    fromName: claim.fromName ?? undefined,
    subject: oneLine(content.subject),
    text: `${body}\n\n--\nYou are receiving this because you are in touch with ${claim.fromName || "us"}. Unsubscribe: ${url}\n`,
    html: `<!doctype html><html><body>${htmlParagraphs(body)}`
      + `<hr><p style="font-size:12px;color:#666">You are receiving this because you are in touch with ${escapeHtml(claim.fromName || "us")}. `
      + `<a href="${escapeHtml(url)}">Unsubscribe</a></p></body></html>`,
    headers: {
      "List-Unsubscribe": `<${url}>`,
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
    unsubscribeUrl: url,
  };
}

/** Plain text as HTML: escaped, blank lines become paragraphs, line breaks <br>, http(s) URLs links. */
function htmlParagraphs(text: string): string {
  return text.split(/\n{2,}/).map((paragraph) =>
    `<p>${paragraph.split("\n").map(linkify).join("<br>")}</p>`).join("");
}

const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)]/g;

/** Escapes a line of text, turning its http(s) URLs into links. */
function linkify(line: string): string {
  let html = "";
  let last = 0;
  for (const match of line.matchAll(URL_IN_TEXT)) {
    const url = escapeHtml(match[0]);
    html += `${escapeHtml(line.slice(last, match.index))}<a href="${url}">${url}</a>`;
    last = match.index + match[0].length;
  }
  return html + escapeHtml(line.slice(last));
}

/** Subjects are one header line: no CR/LF, runs of whitespace collapsed. */
function oneLine(value: string): string {
  return value.replace(/\s+/g, " ").trim();
}
