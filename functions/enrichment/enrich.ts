// One enrichment run: mark the lead enriching (a short transaction), ask the providers with
// no transaction open, then store the merged result (a second short transaction). The run
// is bounded by a deadline: whatever has not answered by then is cut off and the lead is
// marked failed with the reason, never left "enriching".
//
// Providers, in order: the built-in ones (email, website) side by side, then the paid ones
// one at a time in the configured waterfall, stopping as soon as the person's title and
// company are known, so credits are spent only when needed. Every call with a cache key
// reads the Postgres cache first (domain answers are shared by all orgs, person answers
// are per org) and writes it after; concurrent runs in this process asking the same
// question share one call, so a domain is fetched once for all its leads.
import type { Tx } from "../db.ts";
import { toApiError } from "../http/errors.ts";
import type { EnrichmentConfig } from "./config.ts";
import { companyDomain, mailDomainOf } from "./email.ts";
import { readMailDomainKind } from "./mail-domain-kind.ts";
import { coverageWarning, type Providers } from "./providers.ts";
import { confidenceLabel, enrichmentTier, trustRank } from "./summary.ts";
import type { DiscussionPoint, EnrichmentProvider, PersonQuery, ProviderFacts, ProviderResult } from "./types.ts";

/** Runs work in one short transaction acting as the org (asTenant). */
export type TenantTransaction = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>;

export interface EnrichmentRunContext {
  orgId: string;
  transaction: TenantTransaction;
}

export interface EnrichOptions {
  /** Re-fetch even if the lead was enriched recently, and bypass the provider cache. */
  force: boolean;
  /** Date.now() value by which the providers must have answered. */
  deadline: number;
}

export type EnrichmentStatus = "not_enriched" | "enriching" | "complete" | "failed";

/** What Postgres holds about a lead's enrichment (GET /enrich answers with it). */
export interface EnrichmentState {
  leadId: string;
  status: EnrichmentStatus;
  enrichedAt: string | null;
  startedAt: string | null;
  error: string | null;
  title: string | null;
  seniority: string | null;
  companyName: string | null;
  linkedinUrl: string | null;
  companySize: string | null;
  companyRevenue: string | null;
  enrichment: Record<string, unknown> | null;
}

export interface EnrichOutcome {
  state: EnrichmentState;
  /** True when the stored result was recent enough and nothing was fetched. */
  fresh: boolean;
  /** True when the providers ran and left the person's title or company unknown (another paid provider might know them). */
  unfinished: boolean;
  warnings: string[];
}

type SourceStatus = "found" | "not_found" | "error" | "cut_off" | "skipped";

interface SourceReport {
  name: string;
  status: SourceStatus;
  cached: boolean;
  confidence?: number;
  error?: string;
  ms?: number;
}

interface Answer {
  result: ProviderResult;
  cached: boolean;
}

interface SourceOutcome {
  report: SourceReport;
  result?: ProviderResult;
}

const FIELDS = ["title", "seniority", "companyName", "linkedinUrl", "companySize", "companyRevenue"] as const;

const stateSelect = `
  id as "leadId", enrichment_status as status, enriched_at as "enrichedAt", enrichment_started_at as "startedAt",
  enrichment_error as error, title, seniority, company_name as "companyName", linkedin_url as "linkedinUrl",
  company_size as "companySize", company_revenue as "companyRevenue", enrichment`;

/** The stored enrichment of a lead (deleted leads too), or undefined when it is not visible. */
export async function readEnrichment(tx: Tx, leadId: string): Promise<(EnrichmentState & { deleted: boolean }) | undefined> {
  const [row] = await tx<(EnrichmentState & { deleted: boolean })[]>`
    select ${tx.unsafe(stateSelect)}, deleted_at is not null as deleted from app.leads where id = ${leadId}`;
  return row;
}

class BudgetExceeded extends Error {}

/** Rejects when the signal aborts, so a provider that ignores its signal cannot hold the run. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(new BudgetExceeded("cut off"));
    const onAbort = () => reject(new BudgetExceeded("cut off"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The enrichment engine of one app: its providers and the calls in flight, shared by every
 * request the app serves.
 */
export function createEnricher(config: EnrichmentConfig, providers: Providers) {
  const inFlight = new Map<string, Promise<Answer>>();

  /** One provider call for this run: cache, provider, cache write — shared by concurrent runs asking the same. */
  async function ask(provider: EnrichmentProvider, query: PersonQuery, run: EnrichmentRunContext, force: boolean, signal: AbortSignal): Promise<SourceOutcome> {
    const started = Date.now();
    const report = (status: SourceStatus, extra: Partial<SourceReport> = {}): SourceReport =>
      ({ name: provider.name, status, cached: false, ms: Date.now() - started, ...extra });
    try {
      const key = provider.cacheKey(query);
      const { result, cached } = await untilAborted(key ? shared(provider, query, key, run, force, signal) : fresh(provider, query, signal), signal);
      return { result, report: report(result.status, { cached, ...(result.status === "found" ? { confidence: result.confidence } : {}) }) };
    } catch (error) {
      if (error instanceof BudgetExceeded || signal.aborted) return { report: report("cut_off", { error: "did not answer within the time budget" }) };
      return { report: report("error", { error: message(error) }) };
    }
  }

  async function fresh(provider: EnrichmentProvider, query: PersonQuery, signal: AbortSignal): Promise<Answer> {
    return { result: await provider.enrich(query, signal), cached: false };
  }

  /**
   * Concurrent runs asking the same question (scope, source, key) share one lookup: the
   * first reads the cache, asks the provider on a miss and writes the cache; the others
   * wait for it. A run that joins is not charged a second call, so it reports cached.
   */
  function shared(provider: EnrichmentProvider, query: PersonQuery, key: string, run: EnrichmentRunContext, force: boolean, signal: AbortSignal): Promise<Answer> {
    const scope = key.startsWith("domain:") ? "*" : run.orgId;
    const flightKey = [scope, provider.name, key, force ? "force" : ""].join("\u0000");
    const pending = inFlight.get(flightKey);
    if (pending) {
      // If it was cut off by *its* run's budget, ask on our own.
      return pending.then((answer) => ({ ...answer, cached: true }), (error) => (signal.aborted ? Promise.reject(error) : fresh(provider, query, signal)));
    }
    const lookup = (async (): Promise<Answer> => {
      if (!force) {
        const [hit] = await run.transaction((tx) => tx<{ result: ProviderResult | null }[]>`select app.cache_get(${provider.name}, ${key}) as result`);
        if (hit?.result) return { result: hit.result, cached: true };
      }
      const result = await provider.enrich(query, signal);
      // Only answers that found something are kept: a miss costs no credit to ask again,
      // and a site that was down should be tried again next time.
      if (result.status === "found") {
        const ttl = `${config.cacheTtlHours} hours`;
        await run.transaction((tx) => tx`select app.cache_put(${provider.name}, ${key}, ${tx.json(result as never)}, ${ttl}::interval)`)
          .catch((error) => console.error(`enrichment cache write for ${provider.name} failed:`, message(error)));
      }
      return { result, cached: false };
    })();
    inFlight.set(flightKey, lookup);
    lookup.then(() => inFlight.delete(flightKey), () => inFlight.delete(flightKey));
    return lookup;
  }

  /** The providers' network phase: no transaction is open while it runs. */
  async function gather(query: PersonQuery, run: EnrichmentRunContext, force: boolean, signal: AbortSignal) {
    const outcomes = await Promise.all(providers.builtin.map((provider) => ask(provider, query, run, force, signal)));
    let stoppedAfter: string | undefined;
    for (const provider of providers.paid) {
      if (signal.aborted) {
        outcomes.push({ report: { name: provider.name, status: "skipped", cached: false, error: "not asked: the time budget was spent" } });
        continue;
      }
      const known = mergeFacts(outcomes);
      if (stoppedAfter !== undefined || (known.title && known.companyName)) {
        stoppedAfter ??= [...outcomes].reverse().find((o) => o.report.status === "found")?.report.name ?? "builtin";
        outcomes.push({ report: { name: provider.name, status: "skipped", cached: false, error: "not needed: title and company already known" } });
        continue;
      }
      outcomes.push(await ask(provider, query, run, force, signal));
    }
    return { outcomes, stoppedAfter };
  }

  async function enrichLead(run: EnrichmentRunContext, leadId: string, options: EnrichOptions): Promise<EnrichOutcome> {
    const { start, mailDomainKind } = await run.transaction(async (tx) => {
      const [start] = await tx<StartRow[]>`
        select outcome, started_at::text as "startedAt", email, first_name as "firstName", last_name as "lastName",
               organization_name as "organizationName", company_name as "companyName", linkedin_url as "linkedinUrl"
        from app.start_enrichment(${leadId}, ${options.force}, ${`${config.freshForHours} hours`}::interval, ${`${config.budgetMs} milliseconds`}::interval)`;
      // Free-mail or throwaway? Asked once per run, in the same transaction.
      return { start: start!, mailDomainKind: start!.outcome === "started" ? await readMailDomainKind(tx, mailDomainOf(start!.email)) : null };
    });
    if (start.outcome === "fresh") {
      const state = (await run.transaction((tx) => readEnrichment(tx, leadId)))!;
      return {
        state: withoutDeleted(state),
        fresh: true,
        unfinished: false,
        warnings: [`Enriched ${ago(state.enrichedAt)}: the stored result is returned and nothing was re-fetched. Send "force": true to re-fetch (paid providers may spend credits).`],
      };
    }

    const startedAt = start.startedAt;
    const query: PersonQuery = {
      leadId,
      email: start.email,
      firstName: start.firstName,
      lastName: start.lastName,
      organizationName: start.organizationName,
      companyName: start.companyName,
      linkedinUrl: start.linkedinUrl,
      domain: companyDomain(start.email, mailDomainKind),
      mailDomainKind,
    };

    let status: "complete" | "failed" = "failed";
    let error: string | null = null;
    let facts: ProviderFacts = {};
    let document: Record<string, unknown> = {};
    const warnings: string[] = [];
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.max(0, options.deadline - Date.now()));
    const began = Date.now();
    try {
      const { outcomes, stoppedAfter } = await gather(query, run, options.force, controller.signal);
      facts = mergeFacts(outcomes);
      const cutOff = outcomes.filter((o) => o.report.status === "cut_off").map((o) => o.report.name);
      const answered = outcomes.filter((o) => o.report.status === "found" || o.report.status === "not_found");
      if (cutOff.length > 0) {
        error = `Enrichment ran out of its ${config.budgetMs} ms time budget: ${cutOff.join(", ")} did not answer in time and ${cutOff.length === 1 ? "was" : "were"} cut off`;
      } else if (answered.length === 0) {
        error = `Every source failed: ${outcomes.map((o) => `${o.report.name}: ${o.report.error ?? o.report.status}`).join("; ")}`;
      } else {
        status = "complete";
      }
      for (const o of outcomes) {
        if (o.report.status === "error") warnings.push(`${o.report.name} failed: ${o.report.error}`);
        const note = (o.result?.raw as { warning?: unknown } | undefined)?.warning;
        if (typeof note === "string") warnings.push(note);
      }
      if (options.force) warnings.push("force: true re-fetched every source (cached answers were not used)");
      document = buildDocument(outcomes, facts, { startedAt, durationMs: Date.now() - began, budgetMs: config.budgetMs, stoppedAfter, status, error });
    } catch (caught) {
      status = "failed";
      error = `Enrichment failed: ${message(caught)}`;
      document = buildDocument([], {}, { startedAt, durationMs: Date.now() - began, budgetMs: config.budgetMs, status, error });
    } finally {
      clearTimeout(timer);
    }

    let finished: FinishRow;
    try {
      finished = await finish(run, leadId, startedAt, status, facts, document, error);
    } catch (caught) {
      // The result could not be stored (e.g. a value the database refused): record that instead.
      error = `Enrichment found data but could not store it: ${toApiError(caught).message}`;
      status = "failed";
      finished = await finish(run, leadId, startedAt, status, {}, { ...document, status, error }, error);
    }

    const state = (await run.transaction((tx) => readEnrichment(tx, leadId)))!;
    if (!finished.applied) {
      warnings.push("This run was superseded while it ran (a newer run or the stuck-run sweep changed the lead): the stored state is shown");
    }
    for (const field of finished.keptFields) {
      const found = facts[field as (typeof FIELDS)[number]];
      warnings.push(`${field} was set by hand and kept (${JSON.stringify(state[field as (typeof FIELDS)[number]])}); enrichment found ${JSON.stringify(found)} (see enrichment.facts.${field})`);
    }
    return { state: withoutDeleted(state), fresh: false, unfinished: !(facts.title && facts.companyName), warnings };
  }

  /** Up to a handful of leads side by side within one deadline; one lead's failure is its own. */
  function enrichLeads(run: EnrichmentRunContext, leadIds: string[], options: EnrichOptions) {
    return Promise.all(leadIds.map((leadId) => enrichLead(run, leadId, options).then(
      (outcome) => ({ leadId, outcome }),
      (error: unknown) => ({ leadId, error: toApiError(error) }),
    )));
  }

  /** A reply's warning (none or one) about paid providers not in use that could add person data, for the leads it enriched. */
  function sourcesWarnings(outcomes: EnrichOutcome[]): string[] {
    const warning = coverageWarning(config, providers, outcomes);
    return warning ? [warning] : [];
  }

  return { enrichLead, enrichLeads, sourcesWarnings, providers };
}

export type Enricher = ReturnType<typeof createEnricher>;

interface StartRow {
  outcome: "started" | "fresh";
  startedAt: string;
  email: string;
  firstName: string;
  lastName: string | null;
  organizationName: string | null;
  companyName: string | null;
  linkedinUrl: string | null;
}

interface FinishRow {
  applied: boolean;
  keptFields: string[];
}

async function finish(run: EnrichmentRunContext, leadId: string, startedAt: string, status: string, facts: ProviderFacts, document: Record<string, unknown>, error: string | null): Promise<FinishRow> {
  const [row] = await run.transaction((tx) => tx<FinishRow[]>`
    select applied, kept_fields as "keptFields"
    from app.finish_enrichment(${leadId}, ${startedAt}::text::timestamptz, ${status}, ${tx.json(facts as never)}, ${tx.json(document as never)}, ${error})`);
  return row!;
}

function withoutDeleted(state: EnrichmentState & { deleted?: boolean }): EnrichmentState {
  const { deleted: _deleted, ...rest } = state;
  return rest;
}

function ago(at: string | Date | null): string {
  if (!at) return "recently";
  const minutes = Math.max(0, Math.round((Date.now() - new Date(at).getTime()) / 60_000));
  return minutes < 1 ? "less than a minute ago" : minutes < 120 ? `${minutes} minute${minutes === 1 ? "" : "s"} ago` : `${Math.round(minutes / 60)} hours ago`;
}

/** The answers that found something, most trusted first (summary.ts trustRank; paid providers in waterfall order). */
function byTrust(outcomes: SourceOutcome[]): ProviderResult[] {
  const found = outcomes.filter((o) => o.result?.status === "found").map((o) => o.result!);
  return found.map((result, index) => ({ result, index }))
    .sort((a, b) => trustRank(a.result.source) - trustRank(b.result.source) || a.index - b.index)
    .map(({ result }) => result);
}

/** Facts merged across sources: the first (most trusted) non-empty value wins; lists are united. */
export function mergeFacts(outcomes: SourceOutcome[]): ProviderFacts {
  const merged: Record<string, unknown> = {};
  for (const result of byTrust(outcomes)) {
    for (const [key, value] of Object.entries(result.facts ?? {})) {
      if (value === undefined || value === null || value === "" || key === "discussionPoints") continue;
      const current = merged[key];
      if (Array.isArray(value)) {
        const list = Array.isArray(current) ? [...(current as string[])] : [];
        for (const item of value as string[]) if (!list.some((have) => have.toLowerCase() === item.toLowerCase())) list.push(item);
        merged[key] = list;
      } else if (typeof value === "object") {
        merged[key] = { ...(value as Record<string, string>), ...(current as Record<string, string> | undefined) };
      } else if (current === undefined) {
        merged[key] = value;
      }
    }
  }
  return merged as ProviderFacts;
}

/** Discussion points by topic, the most trusted source's wording first. */
function discussionPoints(outcomes: SourceOutcome[]): DiscussionPoint[] {
  const points: DiscussionPoint[] = [];
  for (const result of byTrust(outcomes)) {
    for (const point of result.facts?.discussionPoints ?? []) {
      if (!points.some((have) => have.topic.toLowerCase() === point.topic.toLowerCase())) points.push(point);
    }
  }
  return points;
}

const PERSON_FACTS: (keyof ProviderFacts)[] = ["title", "seniority", "linkedinUrl", "schools", "previousEmployers"];

/**
 * How sure we are, 0..1: the best source's own confidence, weighted by what it could know —
 * a source that knows the person counts fully, one that knows only the company 60%, one
 * that only read the address 30%; labelled high, medium or low (summary.ts confidenceLabel).
 */
function confidence(outcomes: SourceOutcome[]) {
  const bySource: Record<string, number> = {};
  let overall = 0;
  let basis: "person" | "company" | "email" | "none" = "none";
  const levels = { none: 0, email: 1, company: 2, person: 3 } as const;
  for (const result of byTrust(outcomes)) {
    bySource[result.source] = result.confidence;
    const level = PERSON_FACTS.some((key) => result.facts?.[key] !== undefined) ? "person"
      : result.source === "email" ? "email" : "company";
    const weight = level === "person" ? 1 : level === "company" ? 0.6 : 0.3;
    overall = Math.max(overall, result.confidence * weight);
    if (levels[level] > levels[basis]) basis = level;
  }
  const rounded = Math.round(overall * 100) / 100;
  return { overall: rounded, label: confidenceLabel(rounded), basis, bySource };
}

/**
 * The document stored on the lead: the public skill's shape (tier, sources as the names of the
 * sources that found something, most trusted first, confidence with its label) and the detail
 * behind it (sourceDetails per source asked, facts, discussion points, raw answers).
 */
function buildDocument(outcomes: SourceOutcome[], facts: ProviderFacts, run: {
  startedAt: string; durationMs: number; budgetMs: number; stoppedAfter?: string; status: string; error: string | null;
}): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const o of outcomes) if (o.result) raw[o.report.name] = o.result.raw ?? null;
  const sources = byTrust(outcomes).map((result) => result.source);
  return {
    status: run.status,
    ...(run.error ? { error: run.error } : {}),
    startedAt: run.startedAt,
    enrichedAt: new Date().toISOString(),
    durationMs: run.durationMs,
    budgetMs: run.budgetMs,
    tier: enrichmentTier(facts, sources),
    sources,
    sourceDetails: outcomes.map((o) => o.report),
    ...(run.stoppedAfter ? { waterfallStoppedAfter: run.stoppedAfter } : {}),
    facts,
    discussionPoints: discussionPoints(outcomes),
    techStack: facts.techStack ?? [],
    confidence: confidence(outcomes),
    raw,
  };
}
