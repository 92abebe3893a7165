// The built-in "website" provider: the company's home page, fetched once per domain through
// the SSRF guard, read for its name, description, social profiles and the technologies its
// scripts and headers give away. Careful regular expressions over the first part of the page
// are enough for <head> metadata and script URLs; no HTML parser is needed.
import type { EnrichmentConfig } from "./config.ts";
import { clip, listing } from "./facts.ts";
import { type FetchedText, fetchText, type NetworkGuard, type ResolveHost } from "./http.ts";
import { type DiscussionPoint, type EnrichmentProvider, ProviderError, type ProviderFacts, type ProviderResult } from "./types.ts";

export interface WebsiteDeps {
  /** A/AAAA lookups for the SSRF guard; without it public host names cannot be checked and are refused. */
  resolveHost?: ResolveHost;
  /** Ports the guard lets through when private networks are off (default 80 and 443). */
  ports?: number[];
}

/** What a home page says about the company. */
export interface SiteFacts {
  title?: string;
  description?: string;
  siteName?: string;
  ogTitle?: string;
  socialLinks: Record<string, string>;
  techStack: string[];
  careersUrl?: string;
}

export function createWebsiteProvider(config: EnrichmentConfig, deps: WebsiteDeps = {}): EnrichmentProvider {
  const guard: NetworkGuard = { allowPrivateNetwork: config.allowPrivateNetwork, resolveHost: deps.resolveHost, ports: deps.ports };
  return {
    name: "website",
    cacheKey: (query) => (query.domain ? `domain:${query.domain.toLowerCase()}` : null),
    async enrich(query, signal): Promise<ProviderResult> {
      const domain = query.domain?.toLowerCase();
      if (!domain) return notFound({ reason: "no company domain (free-mail or unknown address)" });
      const urls = homePageUrls(config.websiteUrlTemplate, domain);
      const attempts: Array<{ url: string; error: string; retryable: boolean }> = [];
      for (const url of urls) {
        let page: FetchedText;
        try {
          page = await fetchText(url, {
            source: "website",
            signal,
            timeoutMs: config.requestTimeoutMs,
            maxBytes: config.websiteMaxBytes,
            headers: {
              "user-agent": config.userAgent,
              accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
              "accept-language": "en;q=0.9,*;q=0.5",
            },
            guard,
          });
        } catch (error) {
          if (signal.aborted) throw error;
          if (!(error instanceof ProviderError)) throw error;
          attempts.push({ url, error: error.message, retryable: error.retryable });
          // A refusal by the guard holds for the http variant of the same URL too.
          if (!error.retryable) break;
          continue;
        }
        const type = page.headers.get("content-type") ?? "text/html";
        if (page.status < 200 || page.status > 299) {
          attempts.push({ url, error: `answered ${page.status}`, retryable: false });
          break;
        }
        if (!/html|xml/i.test(type)) {
          attempts.push({ url, error: `answered ${type}, not a web page`, retryable: false });
          break;
        }
        const site = readHomePage(page.text, page.headers);
        return found(domain, page, site);
      }
      // transient: every attempt failed in a way a later try may not (timeouts, 5xx, network);
      // the caller may prefer not to cache such an answer for long.
      return notFound({ domain, attempts, transient: attempts.every((attempt) => attempt.retryable) });
    },
  };
}

/** The template's URL, then its http:// twin when the template is https (many small sites still lack TLS). */
export function homePageUrls(template: string, domain: string): string[] {
  const url = template.replaceAll("{domain}", encodeURIComponent(domain));
  return url.startsWith("https://") ? [url, `http://${url.slice("https://".length)}`] : [url];
}

function notFound(raw: unknown): ProviderResult {
  return { source: "website", status: "not_found", facts: {}, confidence: 0, raw };
}

function found(domain: string, page: FetchedText, site: SiteFacts): ProviderResult {
  const facts: ProviderFacts = { companyDomain: domain };
  const name = companyName(site, domain);
  if (name) facts.companyName = name;
  if (site.description) facts.description = site.description;
  if (site.techStack.length) facts.techStack = site.techStack;
  if (Object.keys(site.socialLinks).length) facts.socialLinks = site.socialLinks;
  const points: DiscussionPoint[] = [];
  if (site.description) points.push({ topic: "What they do", detail: clip(site.description, 200), source: "website" });
  if (site.techStack.length) points.push({ topic: "Tech stack", detail: `Uses ${listing(site.techStack.slice(0, 6))}`, source: "website" });
  if (site.careersUrl) points.push({ topic: "Hiring", detail: `The website links to a careers page (${site.careersUrl}): they may be growing the team`, source: "website" });
  if (points.length) facts.discussionPoints = points;
  return {
    source: "website",
    status: "found",
    facts,
    confidence: 0.8,
    raw: { url: page.url, status: page.status, truncated: page.truncated, ...site },
  };
}

/** Reads the metadata, social profiles and technology fingerprints from a home page. */
export function readHomePage(html: string, headers: Headers = new Headers()): SiteFacts {
  const meta = metaTags(html);
  const title = text(html.match(/<title[^>]*>([\s\S]{0,2000}?)<\/title\s*>/i)?.[1]);
  const description = meta.get("og:description") ?? meta.get("description") ?? meta.get("twitter:description");
  const site: SiteFacts = {
    socialLinks: socialLinks(html),
    techStack: technologies(html, headers, meta.get("generator")),
  };
  if (title) site.title = title;
  if (description) site.description = description;
  const siteName = meta.get("og:site_name");
  if (siteName) site.siteName = siteName;
  const ogTitle = meta.get("og:title");
  if (ogTitle) site.ogTitle = ogTitle;
  const careers = careersLink(html);
  if (careers) site.careersUrl = careers;
  return site;
}

/** <meta name|property="…" content="…"> as a map (first occurrence wins), values decoded and trimmed. */
function metaTags(html: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const tag of html.matchAll(/<meta\b([^>]{0,2000})>/gi)) {
    const attributes = attributesOf(tag[1]!);
    const key = (attributes.get("property") ?? attributes.get("name") ?? attributes.get("itemprop"))?.toLowerCase();
    const content = text(attributes.get("content"));
    if (key && content && !found.has(key)) found.set(key, content);
  }
  return found;
}

function attributesOf(source: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const match of source.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/g)) {
    attributes.set(match[1]!.toLowerCase(), match[2] ?? match[3] ?? match[4] ?? "");
  }
  return attributes;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: " ", ndash: "–", mdash: "—", middot: "·", rsquo: "’", lsquo: "‘", rdquo: "”", ldquo: "“", hellip: "…", reg: "®", trade: "™", copy: "©" };

/** Decodes entities, drops tags, collapses whitespace; undefined when nothing is left. */
function text(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const decoded = value
    .replace(/<[^>]*>/g, " ")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, code: string) => {
      if (code[0] === "#") {
        const point = code[1] === "x" || code[1] === "X" ? parseInt(code.slice(2), 16) : parseInt(code.slice(1), 10);
        return point > 0 && point <= 0x10ffff ? String.fromCodePoint(point) : entity;
      }
      return ENTITIES[code.toLowerCase()] ?? entity;
    })
    .replace(/\s+/g, " ")
    .trim();
  return decoded === "" ? undefined : decoded;
}

const GENERIC_TITLE = /^(home|home ?page|welcome|index|official (web)?site|startseite|accueil|inicio)$/i;

/** og:site_name, else the part of the <title> that names the company ("Home | Acme — Anvils" → "Acme"). */
function companyName(site: SiteFacts, domain: string): string | undefined {
  if (site.siteName) return clip(site.siteName, 120);
  const source = site.title ?? site.ogTitle;
  if (!source) return undefined;
  const parts = source.split(/\s+[|\-–—·:•»]\s+/).map((part) => part.trim()).filter((part) => part && !GENERIC_TITLE.test(part));
  if (parts.length === 0) return undefined;
  const label = domain.split(".")[0]!.replace(/[^a-z0-9]/g, "");
  const squash = (part: string) => part.toLowerCase().replace(/[^a-z0-9]/g, "");
  const named = parts.find((part) => squash(part) === label) ?? parts.find((part) => squash(part).includes(label) || (squash(part).length > 2 && label.includes(squash(part))));
  return clip(named ?? parts[0]!, 120);
}

// ---------------------------------------------------------------------------------------
// Social profiles.

interface Network {
  name: string;
  host: RegExp;
  /** The path of a profile (not a share button, a post or a tracking pixel). */
  profile: RegExp;
  /** The host profile links are reported on, whatever variant the page used. */
  canonical: string;
}

const NETWORKS: Network[] = [
  { name: "linkedin", host: /^([a-z]{2,3}\.)?linkedin\.com$/, profile: /^\/(company|school|showcase)\/[^/?#]+/i, canonical: "www.linkedin.com" },
  { name: "twitter", host: /^(mobile\.)?(twitter|x)\.com$/, profile: /^\/(?!intent\b|share\b|home\b|hashtag\b|search\b|i\/|login\b|signup\b)[A-Za-z0-9_]{1,15}\/?$/, canonical: "x.com" },
  { name: "facebook", host: /^([a-z]{2,3}\.|m\.)?(facebook|fb)\.com$/, profile: /^\/(?!sharer|share\b|dialog\b|plugins\b|tr\b|login\b|policy|privacy)[A-Za-z0-9.\-]{2,}\/?$/, canonical: "www.facebook.com" },
  { name: "github", host: /^github\.com$/, profile: /^\/(?!login\b|features\b|about\b|pricing\b|sponsors\b|orgs\/?$)[A-Za-z0-9-]{1,39}\/?$/, canonical: "github.com" },
  { name: "youtube", host: /^(m\.)?youtube\.com$/, profile: /^\/(c\/|channel\/|user\/|@)[^/?#]+/, canonical: "www.youtube.com" },
  { name: "instagram", host: /^instagram\.com$/, profile: /^\/(?!p\/|reel\/|explore\/|accounts\/)[A-Za-z0-9_.]{1,30}\/?$/, canonical: "www.instagram.com" },
];

/** The first profile link per network found anywhere in the page (hrefs and JSON-LD sameAs alike). */
function socialLinks(html: string): Record<string, string> {
  const links: Record<string, string> = {};
  // JSON (JSON-LD sameAs, inline config) may escape slashes as \/.
  for (const match of html.matchAll(/https?:\\?\/\\?\/(?:[^\s"'<>()\\]|\\\/){4,300}/gi)) {
    let url: URL;
    try {
      url = new URL(match[0].replace(/\\\//g, "/").replace(/&amp;/g, "&"));
    } catch {
      continue;
    }
    const host = url.hostname.toLowerCase().replace(/^www\./, "");
    const network = NETWORKS.find((candidate) => candidate.host.test(host));
    const profile = network && !links[network.name] ? url.pathname.match(network.profile)?.[0] : undefined;
    // Only the profile itself: /company/acme/about/ is reported as /company/acme.
    if (network && profile) links[network.name] = `https://${network.canonical}${profile.replace(/\/+$/, "")}`;
  }
  return links;
}

function careersLink(html: string): string | undefined {
  for (const match of html.matchAll(/<a\b[^>]{0,1000}?href\s*=\s*["']([^"']{1,300})["']/gi)) {
    const href = match[1]!;
    if (/(\/(careers?|jobs|join-us|work-with-us)(\/|$|[?#]))|boards\.greenhouse\.io|jobs\.lever\.co|jobs\.ashbyhq\.com|\.workable\.com|\.recruitee\.com|\.personio\.(de|com)/i.test(href)) {
      return href;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Technology fingerprints: a script URL or inline snippet in the page, or a response header.

interface Fingerprint {
  name: string;
  html?: RegExp;
  header?: (headers: Headers) => boolean;
  generator?: RegExp;
}

const header = (name: string, value?: RegExp) => (headers: Headers) => {
  const present = headers.get(name);
  return present !== null && (!value || value.test(present));
};

const FINGERPRINTS: Fingerprint[] = [
  { name: "Stripe", html: /js\.stripe\.com|checkout\.stripe\.com/i },
  { name: "Intercom", html: /widget\.intercom\.io|js\.intercomcdn\.com|intercomSettings/i },
  { name: "HubSpot", html: /js\.hs-scripts\.com|js\.hs-analytics\.net|js\.hsforms\.net|js\.hubspot\.com|_hsq\.push/i },
  { name: "Google Analytics", html: /googletagmanager\.com\/gtag\/js|google-analytics\.com\/(analytics|ga)\.js|gtag\(\s*['"]config['"]/i },
  { name: "Google Tag Manager", html: /googletagmanager\.com\/gtm\.js|googletagmanager\.com\/ns\.html/i },
  { name: "Segment", html: /cdn\.segment\.(com|io)|analytics\.load\(/i },
  { name: "Hotjar", html: /static\.hotjar\.com|hjSettings/i },
  { name: "Mixpanel", html: /cdn\.mxpnl\.com|mixpanel\.init\(/i },
  { name: "Facebook Pixel", html: /connect\.facebook\.net\/[^"']*\/fbevents\.js|fbq\(\s*['"]init['"]/i },
  { name: "LinkedIn Insight", html: /snap\.licdn\.com|_linkedin_partner_id/i },
  { name: "Shopify", html: /cdn\.shopify\.com|Shopify\.shop\s*=/i, header: (h) => [...h.keys()].some((name) => name.startsWith("x-shopify")) || header("powered-by", /shopify/i)(h) },
  { name: "WordPress", html: /\/wp-content\/|\/wp-includes\//i, generator: /wordpress/i, header: header("link", /api\.w\.org/i) },
  { name: "Webflow", html: /data-wf-page|data-wf-site|assets\.website-files\.com|webflow\.js/i, generator: /webflow/i },
  { name: "Wix", html: /static\.wixstatic\.com|static\.parastorage\.com/i, generator: /wix\.com/i, header: header("x-wix-request-id") },
  { name: "Squarespace", html: /static1\.squarespace\.com|assets\.squarespace\.com/i, generator: /squarespace/i },
  { name: "Next.js", html: /__NEXT_DATA__|\/_next\/static\//, header: header("x-powered-by", /next\.js/i) },
  { name: "React", html: /data-reactroot|react-dom(\.production)?(\.min)?\.js|__NEXT_DATA__/ },
  { name: "Nuxt", html: /window\.__NUXT__|\/_nuxt\// },
  { name: "Gatsby", html: /id="___gatsby"/ },
  { name: "Cloudflare", header: (h) => h.has("cf-ray") || header("server", /cloudflare/i)(h) },
  { name: "Vercel", header: (h) => h.has("x-vercel-id") || header("server", /vercel/i)(h) },
  { name: "Netlify", header: (h) => h.has("x-nf-request-id") || header("server", /netlify/i)(h) },
  { name: "Amazon CloudFront", header: (h) => h.has("x-amz-cf-id") || header("via", /cloudfront/i)(h) },
  { name: "Zendesk", html: /static\.zdassets\.com|\.zendesk\.com\/embeddable|zESettings/i },
  { name: "Drift", html: /js\.driftt\.com|drift\.load\(/i },
  { name: "Crisp", html: /client\.crisp\.chat|\$crisp\s*=/i },
  { name: "Calendly", html: /assets\.calendly\.com|calendly\.com\/[a-z0-9_-]+/i },
  { name: "Mailchimp", html: /chimpstatic\.com|list-manage\.com/i },
  { name: "Salesforce Pardot", html: /pi\.pardot\.com|go\.pardot\.com|piAId\s*=/i },
  { name: "Marketo", html: /munchkin\.marketo\.net|Munchkin\.init\(/i },
];

function technologies(html: string, headers: Headers, generator: string | undefined): string[] {
  return FINGERPRINTS
    .filter((fingerprint) =>
      (fingerprint.html?.test(html) ?? false)
      || (fingerprint.header?.(headers) ?? false)
      || (generator !== undefined && (fingerprint.generator?.test(generator) ?? false)))
    .map((fingerprint) => fingerprint.name);
}
