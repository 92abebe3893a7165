// What an enrichment came to, in the words the public skill uses: the names of the sources
// that found something (most trusted first), a confidence label beside the number, and a tier
// (how promising the lead looks from what was found). enrich.ts writes them into the document
// when a run ends; summaryOf reads them back from a stored document for the replies, deriving
// them with the same rules from a document stored before these keys existed.
import type { ProviderFacts } from "./types.ts";

export const enrichmentTiers = ["high", "medium", "low"] as const;
export type EnrichmentTier = (typeof enrichmentTiers)[number];

export const confidenceLabels = ["high", "medium", "low"] as const;
export type ConfidenceLabel = (typeof confidenceLabels)[number];

/** The lower bounds of the confidence labels; below medium is low. */
export const CONFIDENCE_THRESHOLDS = { high: 0.7, medium: 0.4 } as const;

export function confidenceLabel(overall: number): ConfidenceLabel {
  return overall >= CONFIDENCE_THRESHOLDS.high ? "high" : overall >= CONFIDENCE_THRESHOLDS.medium ? "medium" : "low";
}

/**
 * The order sources are trusted in: paid providers know the person (their own order is the
 * waterfall's), then the company's own website, then what the address alone says.
 */
export function trustRank(source: string): number {
  return source === "email" ? 2 : source === "website" ? 1 : 0;
}

/** Seniority labels (facts.ts SENIORITY_LABELS) that make a person a decision maker. */
const SENIOR_LEVELS = new Set(["C-Suite", "Owner", "Founder", "Partner", "VP", "Head", "Director"]);
/** The same, read from a title when no provider reported a seniority. */
const SENIOR_TITLE = /\b(owner|founder|co-?founder|chief|ceo|cto|cfo|coo|cmo|cio|cro|cpo|ciso|president|vp|svp|evp|director|head of|managing partner|general partner)\b/i;
const NOT_SENIOR_TITLE = /\b(assistant|intern)\b/i;
/** More employees than this makes a large company (companySize "501-1000" and up). */
const LARGE_COMPANY_EMPLOYEES = 500;

function isSenior(facts: ProviderFacts): boolean {
  if (facts.seniority) return SENIOR_LEVELS.has(facts.seniority);
  return Boolean(facts.title && SENIOR_TITLE.test(facts.title) && !NOT_SENIOR_TITLE.test(facts.title));
}

/** The smallest employee count companySize allows ("501-1000" → 501, "10001+" → 10001, "750" → 750). */
function employeesAtLeast(size: string | undefined): number {
  const first = size?.replace(/,/g, "").match(/\d+/)?.[0];
  return first === undefined ? 0 : Number(first);
}

/**
 * The tier, from what was found:
 * - high: a senior person (seniority C-Suite, Owner, Founder, Partner, VP, Head or Director; without a
 *   seniority, a title naming an owner, founder, chief/C-level, president, VP, director or head of)
 *   at a known company, or a large company (more than 500 employees) whoever the person is;
 * - medium: the company is known (its name or size, or its domain confirmed by a source other
 *   than the address: the website or a paid provider), or the person is (title, seniority, LinkedIn);
 * - low: only the address was read, or nothing was found.
 */
export function enrichmentTier(facts: ProviderFacts, sources: string[]): EnrichmentTier {
  const companyKnown = Boolean(facts.companyName || facts.companySize || (facts.companyDomain && sources.some((name) => name !== "email")));
  const personKnown = Boolean(facts.title || facts.seniority || facts.linkedinUrl);
  if ((companyKnown && isSenior(facts)) || employeesAtLeast(facts.companySize) > LARGE_COMPANY_EMPLOYEES) return "high";
  if (companyKnown || personKnown) return "medium";
  return "low";
}

export interface EnrichmentSummary {
  tier: EnrichmentTier | null;
  sources: string[];
  confidence: number | null;
  confidenceLabel: ConfidenceLabel | null;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const oneOf = <T extends string>(values: readonly T[], value: unknown): T | undefined => values.find((v) => v === value);

/** The names of the sources that found something, most trusted first, from a stored document. */
function sourceNames(document: Record<string, unknown>): string[] {
  const { sources, sourceDetails } = document;
  if (Array.isArray(sources) && sources.every((name) => typeof name === "string")) return sources as string[];
  // Stored before sourceDetails existed: sources held the per-source objects.
  const details = Array.isArray(sourceDetails) ? sourceDetails : Array.isArray(sources) ? sources : [];
  return details
    .filter((detail): detail is { name: string; status: string } => isRecord(detail) && typeof detail.name === "string" && detail.status === "found")
    .map((detail, index) => ({ name: detail.name, index }))
    .sort((a, b) => trustRank(a.name) - trustRank(b.name) || a.index - b.index)
    .map(({ name }) => name);
}

/** tier, sources (names), confidence and its label of a stored enrichment document (all empty when there is none). */
export function summaryOf(document: Record<string, unknown> | null): EnrichmentSummary {
  if (!document) return { tier: null, sources: [], confidence: null, confidenceLabel: null };
  const sources = sourceNames(document);
  const overall = isRecord(document.confidence) && typeof document.confidence.overall === "number" ? document.confidence.overall : null;
  const storedLabel = isRecord(document.confidence) ? oneOf(confidenceLabels, document.confidence.label) : undefined;
  return {
    tier: oneOf(enrichmentTiers, document.tier) ?? enrichmentTier(isRecord(document.facts) ? document.facts as ProviderFacts : {}, sources),
    sources,
    confidence: overall,
    confidenceLabel: storedLabel ?? (overall === null ? null : confidenceLabel(overall)),
  };
}
