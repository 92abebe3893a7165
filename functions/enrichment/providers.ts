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

/** The setting that turns each paid provider on, and its name for people. */
const PAID_SETTINGS: Record<PaidProviderName, { key: string; label: string }> = {
  apollo: { key: "APOLLO_API_KEY", label: "Apollo" },
  pdl: { key: "PDL_API_KEY", label: "People Data Labs" },
};

/** One lead's run as the warning needs it (enrich.ts EnrichOutcome). */
export interface RunCoverage {
  /** Answered from storage: nothing ran. */
  fresh: boolean;
  /** The providers left the person's title or company unknown. */
  unfinished: boolean;
}

/**
 * The one warning an enrichment reply carries when a paid provider that is not in use could
 * add person data: always when none is in use, and when some are but left a lead without
 * title or company, naming what to set. undefined when nothing ran or nothing would help.
 */
export function coverageWarning(config: EnrichmentConfig, providers: Providers, outcomes: RunCoverage[]): string | undefined {
  const ran = outcomes.filter((outcome) => !outcome.fresh);
  const unfinished = ran.filter((outcome) => outcome.unfinished).length;
  if (ran.length === 0) return undefined;
  const used = new Set(providers.paid.map((provider) => provider.name));
  const unused = (Object.keys(PAID_SETTINGS) as PaidProviderName[]).filter((name) => !used.has(name));
  // A key that is set but left out of ENRICHMENT_WATERFALL needs the waterfall, not a key.
  const remedy = (labelled: boolean) => {
    const keyless = unused.filter((name) => !config[name].apiKey);
    const unlisted = unused.filter((name) => config[name].apiKey);
    return [
      ...(keyless.length > 0 ? [`set ${keyless.map((name) => PAID_SETTINGS[name].key + (labelled ? ` (${PAID_SETTINGS[name].label})` : "")).join(" or ")}`] : []),
      ...(unlisted.length > 0 ? [`add ${unlisted.join(" and ")} to ENRICHMENT_WATERFALL`] : []),
    ].join(" or ");
  };
  if (used.size === 0) {
    return `Only the built-in sources ran (${providers.builtin.map((provider) => provider.name).join(", ")}): ${remedy(true)} to add person data`;
  }
  if (unused.length === 0 || unfinished === 0) return undefined;
  const asked = providers.paid.map((provider) => PAID_SETTINGS[provider.name as PaidProviderName].label).join(" and ");
  const whose = ran.length === 1 ? "this lead's" : `${unfinished} of ${ran.length} leads'`;
  return `${asked} did not find ${whose} title and company: ${remedy(false)} to ask ${unused.map((name) => PAID_SETTINGS[name].label).join(" and ")} as well`;
}
