// The public proposal page, rendered on the server from app.proposal_page's one answer.
// Everything printed goes through escapeHtml (text and attributes alike); links only
// ever carry http(s) URLs and the brand colour is checked before it reaches CSS, so a
// lead named <img src=x onerror=alert(1)> is shown as text.
import { escapeHtml } from "../http/page.ts";
import { beaconScript } from "./beacon.ts";

interface DiscussionPoint {
  topic?: unknown;
  detail?: unknown;
}
type Section = Record<string, unknown>;

export interface ProposalPageData {
  slug: string;
  preview: boolean;
  content: Partial<Record<"hero" | "problem" | "offer" | "pricing" | "video" | "cta", Section>>;
  org: { name: string; primaryColor: string | null; bookingLink: string | null; website: string | null };
  lead: {
    firstName: string;
    lastName: string | null;
    title: string | null;
    companyName: string | null;
    discussionPoints: DiscussionPoint[];
  };
}

const DEFAULT_COLOR = "#1d4ed8";

/** The URL when it is absolute http(s), else null: no javascript:, data: or relative tricks. */
export function safeUrl(value: unknown): string | null {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function brandColor(value: string | null): string {
  return value && /^#[0-9a-fA-F]{6}$/.test(value) ? value.toLowerCase() : DEFAULT_COLOR;
}

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** Black or white, whichever reads better on the brand colour (WCAG contrast). */
function textOn(hex: string): string {
  const l = luminance(hex);
  return (1.05 / (l + 0.05)) >= ((l + 0.05) / 0.05) ? "#ffffff" : "#000000";
}

const text = (section: Section | undefined, field: string): string | undefined => {
  const value = section?.[field];
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
};
const list = (section: Section | undefined, field: string): unknown[] =>
  Array.isArray(section?.[field]) ? (section![field] as unknown[]) : [];

function block(name: string, heading: string, inner: string): string {
  return `<section class="block" id="${name}" data-section="${name}" aria-labelledby="${name}-title">
<h2 id="${name}-title">${escapeHtml(heading)}</h2>
${inner}
</section>`;
}

function paragraphs(body: string | undefined): string {
  return body ? body.split(/\n{2,}/).map((p) => `<p>${escapeHtml(p)}</p>`).join("\n") : "";
}

function bullets(items: unknown[]): string {
  const shown = items.filter((i) => typeof i === "string" && i.trim() !== "");
  return shown.length ? `<ul>${shown.map((i) => `<li>${escapeHtml(i)}</li>`).join("")}</ul>` : "";
}

function discussionBullets(points: DiscussionPoint[]): unknown[] {
  return (Array.isArray(points) ? points : []).slice(0, 6).map((p) =>
    typeof p?.topic === "string" && typeof p?.detail === "string" ? `${p.topic}: ${p.detail}` : p?.detail);
}

function pricingTable(items: unknown[]): string {
  const rows = items.filter((i): i is Section => typeof i === "object" && i !== null);
  if (!rows.length) return "";
  return `<table><caption class="sr-only">Pricing</caption>
<thead><tr><th scope="col">Option</th><th scope="col">Price</th></tr></thead>
<tbody>${rows.map((r) => `<tr><th scope="row">${escapeHtml(r.name)}${r.description ? `<br><span class="muted">${escapeHtml(r.description)}</span>` : ""}</th><td>${escapeHtml(r.price)}</td></tr>`).join("")}</tbody>
</table>`;
}

function styles(color: string): string {
  const on = textOn(color);
  return `:root{--brand:${color};--on-brand:${on};color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font:1.0625rem/1.6 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f9fafb}
a{color:#1e3a8a}
:focus-visible{outline:3px solid #111827;outline-offset:3px}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem 1rem}
.skip:focus{left:1rem}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
header.site{background:var(--brand);color:var(--on-brand);padding:1rem 1.25rem}
header.site p{margin:0;font-weight:600}
main{max-width:46rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}
.hero h1{font-size:clamp(1.75rem,5vw,2.5rem);line-height:1.2;margin:1rem 0 .5rem;color:#111827}
.hero p{font-size:1.2rem;color:#374151}
.block{background:#fff;border:1px solid #e5e7eb;border-radius:.75rem;padding:1.25rem 1.5rem;margin:1.5rem 0}
.block h2{margin-top:0;color:#111827}
.muted{color:#4b5563;font-size:.95rem}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.6rem .4rem;border-bottom:1px solid #e5e7eb;vertical-align:top}
td{white-space:nowrap;font-weight:600}
video{width:100%;border-radius:.5rem;background:#000}
.cta a{display:inline-block;background:var(--brand);color:var(--on-brand);padding:.85rem 1.5rem;border-radius:.5rem;font-weight:700;text-decoration:none;font-size:1.1rem}
.preview{background:#fef3c7;color:#78350f;padding:.5rem 1.25rem;margin:0}
footer{text-align:center;padding:2rem 1rem;color:#4b5563;font-size:.9rem}
@media (max-width:480px){.block{padding:1rem;border-radius:.5rem}main{padding:1rem .75rem 2rem}}`;
}

function document_(options: { title: string; nonce: string; color: string; bodyAttributes: string; body: string; script: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(options.title)}</title>
<style nonce="${escapeHtml(options.nonce)}">${styles(options.color)}</style>
</head>
<body${options.bodyAttributes}>
${options.body}
${options.script ? `<script nonce="${escapeHtml(options.nonce)}">${options.script}</script>` : ""}
</body>
</html>`;
}

export interface RenderOptions {
  nonce: string;
  /** Where the beacon posts (relative, so the page works under any prefix). */
  trackUrl: string;
}

export function renderProposalPage(page: ProposalPageData, options: RenderOptions): string {
  const { content, org, lead } = page;
  const color = brandColor(org.primaryColor);
  const company = lead.companyName?.trim() || null;
  const person = [lead.firstName, lead.lastName].filter(Boolean).join(" ");

  const headline = text(content.hero, "headline") ?? `A proposal for ${company ?? person}`;
  const subheadline = text(content.hero, "subheadline")
    ?? `Prepared for ${person}${lead.title ? `, ${lead.title}` : ""}${company ? ` at ${company}` : ""} by ${org.name}.`;
  const sections: string[] = [
    `<section class="hero" id="hero" data-section="hero" aria-labelledby="hero-title">
<h1 id="hero-title">${escapeHtml(headline)}</h1>
<p>${escapeHtml(subheadline)}</p>
</section>`,
  ];

  const problemPoints = list(content.problem, "points").length ? list(content.problem, "points") : discussionBullets(lead.discussionPoints);
  const problemBody = text(content.problem, "body");
  if (problemBody || problemPoints.length) {
    sections.push(block("problem", text(content.problem, "heading") ?? `Where ${company ?? "you"} ${company ? "is" : "are"} today`,
      paragraphs(problemBody) + bullets(problemPoints)));
  }
  if (text(content.offer, "body") || list(content.offer, "points").length) {
    sections.push(block("offer", text(content.offer, "heading") ?? "What we propose",
      paragraphs(text(content.offer, "body")) + bullets(list(content.offer, "points"))));
  }
  if (text(content.pricing, "body") || list(content.pricing, "items").length) {
    sections.push(block("pricing", text(content.pricing, "heading") ?? "Pricing",
      paragraphs(text(content.pricing, "body")) + pricingTable(list(content.pricing, "items"))));
  }
  const videoUrl = safeUrl(content.video?.url);
  if (videoUrl) {
    const title = text(content.video, "title") ?? "Video";
    sections.push(block("video", title,
      `<video controls preload="metadata" playsinline src="${escapeHtml(videoUrl)}" aria-label="${escapeHtml(title)}">
<p><a href="${escapeHtml(videoUrl)}">Watch the video</a></p>
</video>`));
  }
  const ctaUrl = safeUrl(content.cta?.url) ?? safeUrl(org.bookingLink);
  if (ctaUrl) {
    sections.push(`<section class="block cta" id="cta" data-section="cta" aria-labelledby="cta-title">
<h2 id="cta-title">Next step</h2>
<p><a href="${escapeHtml(ctaUrl)}" data-cta rel="noopener noreferrer">${escapeHtml(text(content.cta, "label") ?? "Book a call")}</a></p>
</section>`);
  }

  const website = safeUrl(org.website);
  const body = `<a class="skip" href="#content">Skip to the proposal</a>
${page.preview ? `<p class="preview" role="note">Preview: visits from this link are not counted.</p>` : ""}
<header class="site"><p>${escapeHtml(org.name)}</p></header>
<main id="content">
${sections.join("\n")}
</main>
<footer><p>${escapeHtml(org.name)}${website ? ` · <a href="${escapeHtml(website)}" rel="noopener noreferrer">${escapeHtml(new URL(website).host)}</a>` : ""}</p></footer>`;
  // The org's own preview carries no beacon: it can never count as a view.
  const bodyAttributes = page.preview ? "" : ` data-slug="${escapeHtml(page.slug)}" data-track="${escapeHtml(options.trackUrl)}"`;
  return document_({
    title: `${headline} · ${org.name}`, nonce: options.nonce, color, bodyAttributes, body,
    script: page.preview ? "" : beaconScript,
  });
}

export function renderNotFoundPage(options: { nonce: string }): string {
  return document_({
    title: "Proposal not found", nonce: options.nonce, color: DEFAULT_COLOR, bodyAttributes: "", script: "",
    body: `<main id="content"><h1>Proposal not found</h1>
<p>This link is not (or no longer) a proposal. Check the address, or ask the person who sent it for a new link.</p></main>`,
  });
}

/** Headers for both pages: a nonce-only CSP, no framing, no sniffing, no caching of a personal page. */
export function pageHeaders(nonce: string): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": [
      "default-src 'self'", `script-src 'nonce-${nonce}'`, `style-src 'nonce-${nonce}'`, "img-src 'self' https: data:",
      "media-src 'self' https:", "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "private, no-store",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
  };
}
