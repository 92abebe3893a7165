// People Data Labs Person Enrichment (GET /v5/person/enrich): one person matched on email,
// name, company and LinkedIn profile. Only matches at or above min_likelihood come back;
// anything weaker is a 404, which PDL does not bill. 402 means the account is out of credits.
import type { EnrichmentConfig } from "./config.ts";
import { bareDomain, clean, httpsUrl, listing, SENIORITY_LABELS, titleCase, unique } from "./facts.ts";
import { errorMessage, fetchJson } from "./http.ts";
import { type DiscussionPoint, type EnrichmentProvider, ProviderError, type ProviderFacts, type ProviderResult } from "./types.ts";

interface PdlPerson {
  full_name?: string | null;
  job_title?: string | null;
  job_title_levels?: string[] | null;
  job_company_name?: string | null;
  job_company_website?: string | null;
  job_company_size?: string | null;
  job_company_industry?: string | null;
  job_company_linkedin_url?: string | null;
  linkedin_url?: string | null;
  location_name?: string | null;
  education?: Array<{ school?: { name?: string | null } | null } | null> | null;
  experience?: Array<{ company?: { name?: string | null } | null; title?: { name?: string | null } | null; is_primary?: boolean | null } | null> | null;
  inferred_salary?: string | null;
  skills?: string[] | null;
}

/** PDL's job_title_levels as the labels both paid providers report. */
const LEVELS: Record<string, (typeof SENIORITY_LABELS)[number]> = {
  cxo: "C-Suite", owner: "Owner", partner: "Partner", vp: "VP", director: "Director", manager: "Manager",
  senior: "Senior", entry: "Entry", training: "Intern", unpaid: "Unpaid",
};

export function createPdlProvider(config: EnrichmentConfig): EnrichmentProvider {
  const apiKey = config.pdl.apiKey;
  if (!apiKey) throw new Error("createPdlProvider needs config.pdl.apiKey");
  const endpoint = `${config.pdl.baseUrl.replace(/\/+$/, "")}/v5/person/enrich`;
  return {
    name: "pdl",
    cacheKey: (query) => `person:${query.email.trim().toLowerCase()}`,
    async enrich(query, signal): Promise<ProviderResult> {
      const params = new URLSearchParams();
      const add = (name: string, value: string | null | undefined) => {
        if (value && value.trim()) params.set(name, value.trim());
      };
      add("email", query.email);
      add("first_name", query.firstName);
      add("last_name", query.lastName);
      add("company", query.organizationName ?? query.companyName ?? query.domain);
      add("profile", query.linkedinUrl);
      params.set("min_likelihood", String(config.pdlMinLikelihood));
      const answer = await fetchJson(`${endpoint}?${params}`, {
        source: "pdl",
        signal,
        headers: { "x-api-key": apiKey, accept: "application/json" },
        timeoutMs: config.requestTimeoutMs,
        retries: config.retries,
        retryBaseMs: config.retryBaseMs,
      });
      if (answer.status === 404) {
        return { source: "pdl", status: "not_found", facts: {}, confidence: 0, raw: { status: 404, minLikelihood: config.pdlMinLikelihood } };
      }
      if (answer.status === 401 || answer.status === 403) {
        throw new ProviderError("pdl", `People Data Labs refused the request (${answer.status}): invalid API key or no access to person enrichment`, false, answer.status);
      }
      if (answer.status === 402) {
        throw new ProviderError("pdl", "People Data Labs is out of credits (402): add credits or remove PDL_API_KEY", false, answer.status);
      }
      if (answer.status < 200 || answer.status > 299) {
        throw new ProviderError("pdl", `People Data Labs answered ${answer.status}: ${errorMessage(answer.json)}`, false, answer.status);
      }
      const body = answer.json as { likelihood?: unknown; data?: unknown } | null;
      if (!body || typeof body !== "object" || !body.data || typeof body.data !== "object" || Array.isArray(body.data)) {
        throw new ProviderError("pdl", "People Data Labs answered 200 without a data object", false, answer.status);
      }
      const likelihood = typeof body.likelihood === "number" ? Math.max(0, Math.min(10, body.likelihood)) : config.pdlMinLikelihood;
      const person = body.data as PdlPerson;
      return { source: "pdl", status: "found", facts: pdlFacts(person), confidence: likelihood / 10, raw: { likelihood, data: trimmed(person) } };
    },
  };
}

/** PDL's person mapped to the shared facts. */
export function pdlFacts(person: PdlPerson): ProviderFacts {
  const facts: ProviderFacts = {};
  const set = <K extends keyof ProviderFacts>(key: K, value: ProviderFacts[K] | undefined) => {
    if (value !== undefined && value !== "" && !(Array.isArray(value) && value.length === 0)) facts[key] = value;
  };
  const named = (value: string | null | undefined) => {
    const text = clean(value);
    return text ? titleCase(text) : undefined;
  };
  set("title", named(person.job_title));
  const levels = (Array.isArray(person.job_title_levels) ? person.job_title_levels : []).map((level) => LEVELS[String(level).toLowerCase()]).filter((label) => label !== undefined);
  set("seniority", levels.sort((a, b) => SENIORITY_LABELS.indexOf(a) - SENIORITY_LABELS.indexOf(b))[0]);
  set("companyName", named(person.job_company_name));
  set("companyDomain", bareDomain(person.job_company_website));
  set("companySize", clean(person.job_company_size));
  set("industry", named(person.job_company_industry));
  set("linkedinUrl", httpsUrl(person.linkedin_url));
  set("location", named(person.location_name));
  const education = Array.isArray(person.education) ? person.education : [];
  set("schools", unique(education.map((entry) => named(entry?.school?.name)).filter((name): name is string => !!name)));
  const current = (clean(person.job_company_name) ?? "").toLowerCase();
  const experience = Array.isArray(person.experience) ? person.experience : [];
  set("previousEmployers", unique(experience
    .filter((entry) => entry && !entry.is_primary)
    .map((entry) => named(entry?.company?.name))
    .filter((name): name is string => !!name && name.toLowerCase() !== current)));

  const points: DiscussionPoint[] = [];
  if (facts.schools?.length) {
    points.push({ topic: "Education", detail: `Studied at ${listing(facts.schools.slice(0, 2))}: a shared school or city is an easy opener`, source: "pdl" });
  }
  if (facts.previousEmployers?.length) points.push({ topic: "Career path", detail: `Previously at ${listing(facts.previousEmployers.slice(0, 3))}`, source: "pdl" });
  const skills = (Array.isArray(person.skills) ? person.skills : []).map((skill) => clean(skill)).filter((skill): skill is string => !!skill);
  if (skills.length) points.push({ topic: "Skills", detail: `Lists ${listing(skills.slice(0, 4))}`, source: "pdl" });
  if (points.length) facts.discussionPoints = points;
  return facts;
}

/** What we keep of PDL's record: work and education, not the personal contact details it may carry. */
function trimmed(person: PdlPerson) {
  return {
    full_name: person.full_name, job_title: person.job_title, job_title_levels: person.job_title_levels,
    job_company_name: person.job_company_name, job_company_website: person.job_company_website,
    job_company_size: person.job_company_size, job_company_industry: person.job_company_industry,
    job_company_linkedin_url: person.job_company_linkedin_url, linkedin_url: person.linkedin_url,
    location_name: person.location_name, education: person.education, experience: person.experience,
    inferred_salary: person.inferred_salary, skills: person.skills,
  };
}
