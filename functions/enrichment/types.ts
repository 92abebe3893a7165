// The contract between the enrichment providers and the code that runs them.

/** What we know about a lead when we ask a provider. */
export interface PersonQuery {
  leadId: string;
  email: string;
  firstName: string;
  lastName: string | null;
  organizationName: string | null;
  companyName: string | null;
  linkedinUrl: string | null;
  /** The company domain from the email, or null for free-mail/unknown addresses. */
  domain: string | null;
  /** What the database says the email's domain is (app.mail_domain_kind), null for any other domain. */
  mailDomainKind: MailDomainKind;
}

/** A consumer mailbox provider's domain, a throwaway one, or null (a company's, or none). */
export type MailDomainKind = "free" | "disposable" | null;

export interface DiscussionPoint {
  topic: string;
  detail: string;
  source: string;
}

/** Facts a provider found; every field optional, merged across providers in order. */
export interface ProviderFacts {
  title?: string;
  seniority?: string;
  companyName?: string;
  companyDomain?: string;
  linkedinUrl?: string;
  companySize?: string;
  companyRevenue?: string;
  industry?: string;
  location?: string;
  description?: string;
  schools?: string[];
  previousEmployers?: string[];
  techStack?: string[];
  socialLinks?: Record<string, string>;
  emailType?: "company" | "free" | "role" | "disposable";
  hasMx?: boolean;
  discussionPoints?: DiscussionPoint[];
}

export interface ProviderResult {
  source: string;
  status: "found" | "not_found";
  facts: ProviderFacts;
  /** 0..1: how sure the provider is that this is the right person/company. */
  confidence: number;
  /** The provider's own answer (trimmed to what matters), kept per source. */
  raw: unknown;
}

export interface EnrichmentProvider {
  name: string;
  /** Cache key for this query ("domain:acme.com", "person:jane@acme.com"), or null to never cache. */
  cacheKey(query: PersonQuery): string | null;
  enrich(query: PersonQuery, signal: AbortSignal): Promise<ProviderResult>;
}

/** A provider failed (after its retries); `retryable` says whether a later try may work. */
export class ProviderError extends Error {
  constructor(
    readonly source: string,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** DNS MX lookup, supplied by the runtime (Node's dns module or Deno.resolveDns). */
export type ResolveMx = (domain: string) => Promise<string[]>;
