// The providers one enrichment run uses: the built-in ones that need no key (email, website)
// and the paid ones whose API keys are configured, in the configured waterfall order.
import { createApolloProvider } from "./apollo.ts";
import type { EnrichmentConfig, PaidProviderName } from "./config.ts";
import { createEmailProvider } from "./email.ts";
import type { ResolveHost } from "./http.ts";
import { createPdlProvider } from "./pdl.ts";
import type { EnrichmentProvider, ResolveMx } from "./types.ts";
import { createWebsiteProvider } from "./website.ts";

export interface ProviderDeps {
  resolveMx: ResolveMx;
  /** A/AAAA lookups for the website fetcher's SSRF guard; without it only IP-literal URLs could pass, so company sites are refused. */
  resolveHost?: ResolveHost;
}

export interface Providers {
  /** Always run, no key needed: [email, website]. */
  builtin: EnrichmentProvider[];
  /** Providers with a configured key, in config.waterfall order (an empty list when none is configured). */
  paid: EnrichmentProvider[];
}

const PAID: Record<PaidProviderName, (config: EnrichmentConfig) => EnrichmentProvider | null> = {
  apollo: (config) => (config.apollo.apiKey ? createApolloProvider(config) : null),
  pdl: (config) => (config.pdl.apiKey ? createPdlProvider(config) : null),
};

export function createProviders(config: EnrichmentConfig, deps: ProviderDeps): Providers {
  const paid: EnrichmentProvider[] = [];
  for (const name of new Set(config.waterfall)) {
    const provider = PAID[name](config);
    if (provider) paid.push(provider);
  }
  return {
    builtin: [createEmailProvider({ resolveMx: deps.resolveMx }), createWebsiteProvider(config, { resolveHost: deps.resolveHost })],
    paid,
  };
}
