// Enrichment settings: the time budget, the paid providers' keys and order, the cache,
// and the network guard for the built-in website fetcher.
import { type EnvReader, positiveInt } from "../env.ts";

export type PaidProviderName = "apollo" | "pdl";

export interface EnrichmentConfig {
  /** Whole-request budget for one lead, in ms (bulk runs leads side by side within it). */
  budgetMs: number;
  /** Order in which configured paid providers are tried (the waterfall). */
  waterfall: PaidProviderName[];
  apollo: { apiKey?: string; baseUrl: string };
  pdl: { apiKey?: string; baseUrl: string };
  /** How long cached provider answers are reused. */
  cacheTtlHours: number;
  /** A lead enriched more recently than this is not re-fetched unless forced. */
  freshForHours: number;
  /** Off in production: lets the website fetcher reach loopback/private addresses (tests). */
  allowPrivateNetwork: boolean;
  /** DNS server for MX lookups as host:port (default: the system resolver). */
  dnsServer?: string;
  userAgent: string;
  /** Home page URL for a company domain; `{domain}` is replaced (https, with an http fallback). */
  websiteUrlTemplate: string;
  /** Largest part of a home page read, in bytes (the rest is not downloaded). */
  websiteMaxBytes: number;
  /** Time limit for one HTTP attempt, in ms (the whole-request budget still applies). */
  requestTimeoutMs: number;
  /** Extra attempts after a 429, a 5xx or a network error. */
  retries: number;
  /** First backoff delay in ms; it doubles per attempt, with jitter. */
  retryBaseMs: number;
  /** PDL's min_likelihood (1-10): weaker matches come back as 404 and cost nothing. */
  pdlMinLikelihood: number;
}

export function readEnrichmentConfig(env: EnvReader): EnrichmentConfig {
  const waterfall = (env("ENRICHMENT_WATERFALL") ?? "apollo,pdl")
    .split(",").map((name) => name.trim()).filter((name): name is PaidProviderName => name === "apollo" || name === "pdl");
  return {
    budgetMs: positiveInt(env("ENRICHMENT_BUDGET_MS"), 20_000),
    waterfall,
    apollo: { apiKey: env("APOLLO_API_KEY") || undefined, baseUrl: env("APOLLO_BASE_URL") ?? "https://api.apollo.io" },
    pdl: { apiKey: env("PDL_API_KEY") || undefined, baseUrl: env("PDL_BASE_URL") ?? "https://api.peopledatalabs.com" },
    cacheTtlHours: positiveInt(env("ENRICHMENT_CACHE_TTL_HOURS"), 24 * 7),
    freshForHours: positiveInt(env("ENRICHMENT_FRESH_HOURS"), 24),
    allowPrivateNetwork: env("ENRICHMENT_ALLOW_PRIVATE_NETWORK") === "true",
    dnsServer: env("ENRICHMENT_DNS_SERVER") || undefined,
    userAgent: env("ENRICHMENT_USER_AGENT") ?? "Mozilla/5.0 (compatible; OpenClawCRM/1.0; +https://github.com/openclaw-crm)",
    websiteUrlTemplate: env("ENRICHMENT_WEBSITE_URL_TEMPLATE") ?? "https://{domain}/",
    websiteMaxBytes: positiveInt(env("ENRICHMENT_WEBSITE_MAX_BYTES"), 1_048_576),
    requestTimeoutMs: positiveInt(env("ENRICHMENT_REQUEST_TIMEOUT_MS"), 8_000),
    retries: nonNegativeInt(env("ENRICHMENT_RETRIES"), 2),
    retryBaseMs: positiveInt(env("ENRICHMENT_RETRY_BASE_MS"), 500),
    pdlMinLikelihood: Math.min(10, positiveInt(env("PDL_MIN_LIKELIHOOD"), 6)),
  };
}

function nonNegativeInt(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return value !== undefined && value.trim() !== "" && Number.isInteger(parsed) && parsed >= 0 ? parsed : fallback;
}
