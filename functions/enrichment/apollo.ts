// Apollo People Enrichment (POST /api/v1/people/match): one person matched by email, name,
// company and LinkedIn URL. Apollo charges a credit only when it returns data; an unmatched
// person comes back as `person: null`. Personal emails are never asked for.
import type { EnrichmentConfig } from "./config.ts";
import { clean, httpsUrl, listing, monthYear, sizeRange, titleCase, unique } from "./facts.ts";
import { errorMessage, fetchJson } from "./http.ts";
import { type DiscussionPoint, type EnrichmentProvider, ProviderError, type ProviderFacts, type ProviderResult } from "./types.ts";

interface ApolloEmployment {
  organization_name?: string | null;
  title?: string | null;
  start_date?: string | null;
  end_date?: string | null;
  current?: boolean | null;
}

interface ApolloOrganization {
  name?: string | null;
  primary_domain?: string | null;
  website_url?: string | null;
  linkedin_url?: string | null;
  estimated_num_employees?: number | null;
  annual_revenue_printed?: string | null;
  industry?: string | null;
  technology_names?: string[] | null;
  short_description?: string | null;
}

interface ApolloPerson {
  id?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  name?: string | null;
  title?: string | null;
  seniority?: string | null;
  headline?: string | null;
  linkedin_url?: string | null;
  email?: string | null;
  city?: string | null;
  state?: string | null;
  country?: string | null;
  employment_history?: ApolloEmployment[] | null;
  organization?: ApolloOrganization | null;
}

/** Apollo's seniority values as the labels both paid providers report. */
const SENIORITY: Record<string, string> = {
  c_suite: "C-Suite", owner: "Owner", founder: "Founder", partner: "Partner", vp: "VP", head: "Head",
  director: "Director", manager: "Manager", senior: "Senior", entry: "Entry", intern: "Intern",
};

export function createApolloProvider(config: EnrichmentConfig): EnrichmentProvider {
  const apiKey = config.apollo.apiKey;
  if (!apiKey) throw new Error("createApolloProvider needs config.apollo.apiKey");
  const endpoint = `${config.apollo.baseUrl.replace(/\/+$/, "")}/api/v1/people/match`;
  return {
    name: "apollo",
    cacheKey: (query) => `person:${query.email.trim().toLowerCase()}`,
    async enrich(query, signal): Promise<ProviderResult> {
      const body: Record<string, unknown> = {
        email: query.email,
        first_name: query.firstName,
        last_name: query.lastName,
        organization_name: query.organizationName ?? query.companyName,
        domain: query.domain,
        linkedin_url: query.linkedinUrl,
      };
      for (const key of Object.keys(body)) if (body[key] === null || body[key] === undefined || body[key] === "") delete body[key];
      body.reveal_personal_emails = false;
      const answer = await fetchJson(endpoint, {
        source: "apollo",
        signal,
        method: "POST",
        headers: { "x-api-key": apiKey, "content-type": "application/json", "cache-control": "no-cache", accept: "application/json" },
        body: JSON.stringify(body),
        timeoutMs: config.requestTimeoutMs,
        retries: config.retries,
        retryBaseMs: config.retryBaseMs,
      });
      if (answer.status === 401 || answer.status === 403) {
        throw new ProviderError("apollo", `Apollo refused the request (${answer.status}): invalid API key or the key lacks access to people/match`, false, answer.status);
      }
      if (answer.status === 422 && /credit/i.test(JSON.stringify(answer.json ?? ""))) {
        throw new ProviderError("apollo", "Apollo is out of credits (422)", false, answer.status);
      }
      if (answer.status < 200 || answer.status > 299) {
        throw new ProviderError("apollo", `Apollo answered ${answer.status}: ${errorMessage(answer.json)}`, false, answer.status);
      }
      if (typeof answer.json !== "object" || answer.json === null || Array.isArray(answer.json) || !("person" in answer.json)) {
        throw new ProviderError("apollo", "Apollo answered without a person field", false, answer.status);
      }
      const person = (answer.json as { person: ApolloPerson | null }).person;
      if (!person || typeof person !== "object") {
        return { source: "apollo", status: "not_found", facts: {}, confidence: 0, raw: { person: null } };
      }
      return {
        source: "apollo",
        status: "found",
        facts: apolloFacts(person),
        // Matched on the exact address we sent: almost certainly the right person.
        confidence: person.email && person.email.toLowerCase() === query.email.trim().toLowerCase() ? 0.9 : 0.7,
        raw: trimmed(person),
      };
    },
  };
}

/** Apollo's person mapped to the shared facts. */
export function apolloFacts(person: ApolloPerson): ProviderFacts {
  const org = person.organization && typeof person.organization === "object" ? person.organization : undefined;
  const facts: ProviderFacts = {};
  const set = <K extends keyof ProviderFacts>(key: K, value: ProviderFacts[K] | null | undefined | "") => {
    if (value !== null && value !== undefined && value !== "" && !(Array.isArray(value) && value.length === 0)) facts[key] = value;
  };
  set("title", clean(person.title));
  set("seniority", typeof person.seniority === "string" ? SENIORITY[person.seniority] ?? titleCase(person.seniority.replace(/_/g, " ")) : undefined);
  set("companyName", clean(org?.name));
  set("companyDomain", clean(org?.primary_domain)?.toLowerCase());
  set("linkedinUrl", httpsUrl(person.linkedin_url));
  if (typeof org?.estimated_num_employees === "number" && org.estimated_num_employees > 0) set("companySize", sizeRange(org.estimated_num_employees));
  const printedRevenue = clean(org?.annual_revenue_printed);
  set("companyRevenue", printedRevenue ? revenue(printedRevenue) : undefined);
  const industry = clean(org?.industry);
  set("industry", industry ? titleCase(industry) : undefined);
  set("location", [person.city, person.state, person.country].map(clean).filter(Boolean).join(", "));
  set("description", clean(org?.short_description));
  const current = (clean(org?.name) ?? "").toLowerCase();
  const employment = Array.isArray(person.employment_history) ? person.employment_history : [];
  const history = employment.filter((job) => job && !job.current && clean(job.organization_name));
  set("previousEmployers", unique(history.map((job) => clean(job.organization_name)!).filter((name) => name.toLowerCase() !== current)));
  set("techStack", unique((Array.isArray(org?.technology_names) ? org.technology_names : []).map(clean).filter((name): name is string => !!name)));

  const points: DiscussionPoint[] = [];
  const job = employment.find((entry) => entry?.current);
  if (facts.title && facts.companyName) {
    const started = clean(job?.start_date);
    const since = started ? ` since ${monthYear(started)}` : "";
    points.push({ topic: "Role", detail: `${facts.title} at ${facts.companyName}${since}`, source: "apollo" });
  }
  if (facts.previousEmployers?.length) points.push({ topic: "Career path", detail: `Previously at ${listing(facts.previousEmployers.slice(0, 3))}`, source: "apollo" });
  const company = [facts.industry, facts.companySize ? `${facts.companySize} employees` : undefined, facts.companyRevenue ? `${facts.companyRevenue} revenue` : undefined].filter(Boolean);
  if (facts.companyName && company.length) points.push({ topic: "Company", detail: `${facts.companyName}: ${company.join(", ")}`, source: "apollo" });
  if (facts.techStack?.length) points.push({ topic: "Tech stack", detail: `Uses ${listing(facts.techStack.slice(0, 6))}`, source: "apollo" });
  if (points.length) facts.discussionPoints = points;
  return facts;
}

/** What we keep of Apollo's answer: the match, without contact details we never asked for. */
function trimmed(person: ApolloPerson) {
  const org = person.organization;
  return {
    person: {
      id: person.id, name: person.name, title: person.title, seniority: person.seniority, headline: person.headline,
      linkedin_url: person.linkedin_url, city: person.city, state: person.state, country: person.country,
      employment_history: person.employment_history,
      organization: org ? {
        name: org.name, primary_domain: org.primary_domain, website_url: org.website_url, linkedin_url: org.linkedin_url,
        estimated_num_employees: org.estimated_num_employees, annual_revenue_printed: org.annual_revenue_printed,
        industry: org.industry, technology_names: org.technology_names, short_description: org.short_description,
      } : null,
    },
  };
}

function revenue(printed: string): string {
  const value = printed.trim();
  return /^\d/.test(value) ? `$${value}` : value;
}
