// The enrichment providers on their own, against loopback stand-ins for Apollo, People Data
// Labs, company websites and DNS: what each sends, how each reads the documented answers,
// and how each fails (401/402, 429 and 5xx with backoff, timeouts, malformed bodies).
// Nothing here reaches the internet. Whether a mail domain is free-mail or throwaway is
// asked of the test database (app.mail_domain_kind), as an enrichment run does.
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, type Sql } from "../functions/db.ts";
import { createApolloProvider } from "../functions/enrichment/apollo.ts";
import { type EnrichmentConfig, readEnrichmentConfig } from "../functions/enrichment/config.ts";
import { classifyEmail, companyDomain, companyDomainOf, createEmailProvider, mailDomainOf } from "../functions/enrichment/email.ts";
import { checkUrl, fetchJson, fetchText, type NetworkGuard, type ResolveHost } from "../functions/enrichment/http.ts";
import { readMailDomainKind } from "../functions/enrichment/mail-domain-kind.ts";
import { createPdlProvider } from "../functions/enrichment/pdl.ts";
import { coverageWarning, createProviders } from "../functions/enrichment/providers.ts";
import { type PersonQuery, ProviderError } from "../functions/enrichment/types.ts";
import { createWebsiteProvider } from "../functions/enrichment/website.ts";
import { nodeResolveHost, nodeResolveMx } from "../functions/node/dns.ts";
import {
  apolloMatch, type LoopbackDns, type LoopbackServer, pdlPerson, startApolloServer, startDnsServer, startHttpServer,
  startPdlServer, startWebsiteServer,
} from "./support/loopback.ts";

/** Settings as the env would give them, with quick backoff so retry tests stay fast. */
function settings(env: Record<string, string> = {}): EnrichmentConfig {
  const values: Record<string, string> = {
    ENRICHMENT_RETRY_BASE_MS: "5", ENRICHMENT_REQUEST_TIMEOUT_MS: "2000", APOLLO_API_KEY: "apollo-test-key", PDL_API_KEY: "pdl-test-key", ...env,
  };
  return readEnrichmentConfig((name) => values[name]);
}

function person(overrides: Partial<PersonQuery> = {}): PersonQuery {
  return {
    leadId: "rp_test", email: "jane@acme.com", firstName: "Jane", lastName: "Doe", organizationName: "Acme",
    companyName: null, linkedinUrl: "https://www.linkedin.com/in/janedoe", domain: "acme.com", mailDomainKind: null, ...overrides,
  };
}

let sql: Sql;
beforeAll(() => {
  sql = connect(inject("databaseUrl"), { max: 2 });
});
afterAll(() => sql.end({ timeout: 2 }));

/** What the database says an address's domain is, as an enrichment run asks it. */
const kindOf = (email: string) => readMailDomainKind(sql, mailDomainOf(email));

/** The query an enrichment run builds for an address: domain and kind from the database. */
async function personAt(email: string): Promise<PersonQuery> {
  const mailDomainKind = await kindOf(email);
  return person({ email, domain: companyDomain(email, mailDomainKind), mailDomainKind });
}

const noBudgetLimit = () => new AbortController().signal;

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

const servers: Array<{ close(): Promise<void> }> = [];
async function track<T extends { close(): Promise<void> }>(server: Promise<T>): Promise<T> {
  const started = await server;
  servers.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe("Apollo people match", () => {
  const apollo = (server: LoopbackServer, env: Record<string, string> = {}) => createApolloProvider(settings({ APOLLO_BASE_URL: server.url, ...env }));

  it("POSTs the person to /api/v1/people/match with the API key, JSON and no-cache headers", async () => {
    const server = await track(startApolloServer());
    await apollo(server).enrich(person(), noBudgetLimit());
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.method).toBe("POST");
    expect(request!.path).toBe("/api/v1/people/match");
    expect(request!.headers["x-api-key"]).toBe("apollo-test-key");
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers["cache-control"]).toBe("no-cache");
    expect(request!.json).toEqual({
      email: "jane@acme.com", first_name: "Jane", last_name: "Doe", organization_name: "Acme", domain: "acme.com",
      linkedin_url: "https://www.linkedin.com/in/janedoe", reveal_personal_emails: false,
    });
  });

  it("leaves unknown fields out of the body rather than sending nulls", async () => {
    const server = await track(startApolloServer());
    await apollo(server).enrich(person({ lastName: null, organizationName: null, companyName: "Acme Inc", linkedinUrl: null, domain: null }), noBudgetLimit());
    expect(server.requests[0]!.json).toEqual({ email: "jane@acme.com", first_name: "Jane", organization_name: "Acme Inc", reveal_personal_emails: false });
  });

  it("maps a full match to title, seniority, company, size, revenue, industry, location, history, tech stack and talking points", async () => {
    const server = await track(startApolloServer());
    const result = await apollo(server).enrich(person(), noBudgetLimit());
    expect(result.status).toBe("found");
    expect(result.source).toBe("apollo");
    expect(result.confidence).toBe(0.9);
    expect(result.facts).toEqual({
      title: "VP of Engineering",
      seniority: "VP",
      companyName: "Acme",
      companyDomain: "acme.com",
      linkedinUrl: "https://www.linkedin.com/in/janedoe",
      companySize: "201-500",
      companyRevenue: "$42M",
      industry: "Computer Software",
      location: "Austin, Texas, United States",
      description: "Acme makes anvils for the cloud.",
      previousEmployers: ["Globex", "Initech"],
      techStack: ["Salesforce", "Stripe", "Google Analytics"],
      discussionPoints: [
        { topic: "Role", detail: "VP of Engineering at Acme since Mar 2021", source: "apollo" },
        { topic: "Career path", detail: "Previously at Globex and Initech", source: "apollo" },
        { topic: "Company", detail: "Acme: Computer Software, 201-500 employees, $42M revenue", source: "apollo" },
        { topic: "Tech stack", detail: "Uses Salesforce, Stripe and Google Analytics", source: "apollo" },
      ],
    });
    expect(result.raw).toMatchObject({ person: { id: apolloMatch.person.id, organization: { primary_domain: "acme.com" } } });
  });

  it("answers not_found when Apollo matches nobody (person: null)", async () => {
    const server = await track(startApolloServer({ json: { person: null } }));
    const result = await apollo(server).enrich(person(), noBudgetLimit());
    expect(result).toMatchObject({ source: "apollo", status: "not_found", facts: {}, confidence: 0 });
  });

  it("fails without retrying when the key is refused (401)", async () => {
    const server = await track(startApolloServer({ status: 401, json: { error: "Invalid access credentials." } }));
    const error = await providerError(apollo(server).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ source: "apollo", retryable: false, status: 401 });
    expect(error.message).toMatch(/invalid API key/);
    expect(server.requests).toHaveLength(1);
  });

  it("retries 429s after their Retry-After and returns the match once Apollo answers", async () => {
    const server = await track(startApolloServer([
      { status: 429, headers: { "retry-after": "0" }, json: { error: "rate limited" } },
      { status: 429, headers: { "retry-after": "0" }, json: { error: "rate limited" } },
      { json: apolloMatch },
    ]));
    const result = await apollo(server).enrich(person(), noBudgetLimit());
    expect(result.status).toBe("found");
    expect(server.requests).toHaveLength(3);
  });

  it("gives up after its retries on repeated 5xx with a retryable error", async () => {
    const server = await track(startApolloServer({ status: 503, json: { error: "unavailable" } }));
    const error = await providerError(apollo(server, { ENRICHMENT_RETRIES: "2" }).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ source: "apollo", retryable: true, status: 503 });
    expect(server.requests).toHaveLength(3);
  });

  it("does not wait out a Retry-After longer than it allows: one request, a retryable error", async () => {
    const server = await track(startApolloServer({ status: 429, headers: { "retry-after": "3600" } }));
    const started = Date.now();
    const error = await providerError(apollo(server).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ retryable: true, status: 429 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(server.requests).toHaveLength(1);
  });

  it("stops waiting for a server that never answers when the budget signal fires", async () => {
    const server = await track(startApolloServer("hang"));
    const started = Date.now();
    const error = await providerError(apollo(server, { ENRICHMENT_REQUEST_TIMEOUT_MS: "10000" }).enrich(person(), AbortSignal.timeout(300)));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toMatchObject({ source: "apollo", retryable: true });
    expect(error.message).toMatch(/budget/);
    expect(server.requests).toHaveLength(1);
  });

  it("times out each attempt on its own and retries it within the budget", async () => {
    const server = await track(startApolloServer("hang"));
    const error = await providerError(apollo(server, { ENRICHMENT_REQUEST_TIMEOUT_MS: "150", ENRICHMENT_RETRIES: "1" }).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ retryable: true });
    expect(error.message).toMatch(/did not answer within 150 ms/);
    expect(server.requests).toHaveLength(2);
  });

  it("refuses a 200 whose body is not JSON, without retrying", async () => {
    const server = await track(startApolloServer({ status: 200, headers: { "content-type": "application/json" }, body: "{\"person\": {" }));
    const error = await providerError(apollo(server).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ source: "apollo", retryable: false, status: 200 });
    expect(error.message).toMatch(/not JSON/);
    expect(server.requests).toHaveLength(1);
  });

  it("caches per person: the key is the lower-cased email", () => {
    const provider = createApolloProvider(settings());
    expect(provider.cacheKey(person({ email: "Jane@Acme.com" }))).toBe("person:jane@acme.com");
  });
});

describe("People Data Labs person enrichment", () => {
  const pdl = (server: LoopbackServer, env: Record<string, string> = {}) => createPdlProvider(settings({ PDL_BASE_URL: server.url, ...env }));

  it("GETs /v5/person/enrich with the person as query parameters, min_likelihood and the API key header", async () => {
    const server = await track(startPdlServer());
    await pdl(server, { PDL_MIN_LIKELIHOOD: "7" }).enrich(person(), noBudgetLimit());
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.method).toBe("GET");
    expect(request!.path.split("?")[0]).toBe("/v5/person/enrich");
    expect(request!.headers["x-api-key"]).toBe("pdl-test-key");
    expect(Object.fromEntries(request!.query)).toEqual({
      email: "jane@acme.com", first_name: "Jane", last_name: "Doe", company: "Acme",
      profile: "https://www.linkedin.com/in/janedoe", min_likelihood: "7",
    });
    expect(request!.query.has("api_key")).toBe(false);
  });

  it("maps a full record to title, seniority, company, size, industry, LinkedIn, location, schools, history and talking points", async () => {
    const server = await track(startPdlServer());
    const result = await pdl(server).enrich(person(), noBudgetLimit());
    expect(result.status).toBe("found");
    expect(result.confidence).toBe(0.9);
    expect(result.facts).toEqual({
      title: "Vice President of Engineering",
      seniority: "VP",
      companyName: "Acme",
      companyDomain: "acme.com",
      companySize: "201-500",
      industry: "Computer Software",
      linkedinUrl: "https://www.linkedin.com/in/janedoe",
      location: "Austin, Texas, United States",
      schools: ["University of Texas at Austin"],
      previousEmployers: ["Globex"],
      discussionPoints: [
        { topic: "Education", detail: "Studied at University of Texas at Austin: a shared school or city is an easy opener", source: "pdl" },
        { topic: "Career path", detail: "Previously at Globex", source: "pdl" },
        { topic: "Skills", detail: "Lists distributed systems, kubernetes and team leadership", source: "pdl" },
      ],
    });
    expect(result.raw).toMatchObject({ likelihood: pdlPerson.likelihood, data: { job_title: pdlPerson.data.job_title } });
  });

  it("answers not_found on 404 (no match, no credit spent)", async () => {
    const server = await track(startPdlServer({ status: 404, json: { status: 404, error: { type: "not_found", message: "No records were found matching your request" } } }));
    const result = await pdl(server).enrich(person(), noBudgetLimit());
    expect(result).toMatchObject({ source: "pdl", status: "not_found", facts: {}, confidence: 0 });
    expect(server.requests).toHaveLength(1);
  });

  it("fails without retrying when the account is out of credits (402)", async () => {
    const server = await track(startPdlServer({ status: 402, json: { status: 402, error: { type: "payment_required", message: "You have hit your account maximum" } } }));
    const error = await providerError(pdl(server).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ source: "pdl", retryable: false, status: 402 });
    expect(error.message).toMatch(/out of credits/);
    expect(server.requests).toHaveLength(1);
  });

  it("fails without retrying when the key is refused (401)", async () => {
    const server = await track(startPdlServer({ status: 401, json: { status: 401, error: { type: "authentication_error", message: "Invalid API key" } } }));
    const error = await providerError(pdl(server).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ source: "pdl", retryable: false, status: 401 });
    expect(error.message).toMatch(/invalid API key/);
    expect(server.requests).toHaveLength(1);
  });

  it("backs off after a 429 and returns the record on the next attempt", async () => {
    const server = await track(startPdlServer([{ status: 429, headers: { "retry-after": "0" }, json: { status: 429, error: { type: "rate_limit" } } }, { json: pdlPerson }]));
    const result = await pdl(server).enrich(person(), noBudgetLimit());
    expect(result.status).toBe("found");
    expect(server.requests).toHaveLength(2);
  });

  it("gives up after its retries on repeated 500s with a retryable error", async () => {
    const server = await track(startPdlServer({ status: 500, json: { status: 500, error: { type: "error" } } }));
    const error = await providerError(pdl(server, { ENRICHMENT_RETRIES: "1" }).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ source: "pdl", retryable: true, status: 500 });
    expect(server.requests).toHaveLength(2);
  });

  it("stops waiting for a server that never answers when the budget signal fires", async () => {
    const server = await track(startPdlServer("hang"));
    const started = Date.now();
    const error = await providerError(pdl(server, { ENRICHMENT_REQUEST_TIMEOUT_MS: "10000" }).enrich(person(), AbortSignal.timeout(300)));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toMatchObject({ source: "pdl", retryable: true });
  });

  it("refuses a 200 whose body is not JSON, without retrying", async () => {
    const server = await track(startPdlServer({ status: 200, body: "<html>gateway</html>" }));
    const error = await providerError(pdl(server).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ source: "pdl", retryable: false });
    expect(server.requests).toHaveLength(1);
  });

  it("refuses a 200 without a data object", async () => {
    const server = await track(startPdlServer({ json: { status: 200, likelihood: 8 } }));
    const error = await providerError(pdl(server).enrich(person(), noBudgetLimit()));
    expect(error).toMatchObject({ source: "pdl", retryable: false });
  });

  it("caches per person: the key is the lower-cased email", () => {
    expect(createPdlProvider(settings()).cacheKey(person({ email: " JANE@acme.com " }))).toBe("person:jane@acme.com");
  });
});

const ACME_HOME = `<!doctype html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Home | Acme &amp; Co — Anvils for the cloud</title>
<meta name="description" content="Plain meta description.">
<meta property="og:title" content="Acme: anvils for the cloud">
<meta property="og:description" content="Acme builds reliable anvils for cloud teams.">
<meta property="og:site_name" content="Acme">
<script async src="https://www.googletagmanager.com/gtag/js?id=G-123"></script>
<script src="https://js.stripe.com/v3/"></script>
<script id="hs-script-loader" src="//js.hs-scripts.com/123456.js"></script>
<script>window.intercomSettings = { app_id: "abc" };</script>
<script src="https://widget.intercom.io/widget/abc"></script>
<link rel="stylesheet" href="/wp-content/themes/acme/style.css">
<script type="application/ld+json">{"@type":"Organization","sameAs":["https:\\/\\/github.com\\/acme"]}</script>
</head><body>
<a href="https://twitter.com/intent/tweet?text=hi">Share</a>
<a href="https://www.facebook.com/sharer/sharer.php?u=x">Share</a>
<a href="https://www.linkedin.com/company/acme-anvils/about/?trk=x">LinkedIn</a>
<a href="https://twitter.com/acmeanvils">Twitter</a>
<a href="https://facebook.com/acmeanvils">Facebook</a>
<a href="https://www.youtube.com/@acme">YouTube</a>
<a href="https://www.instagram.com/acme.anvils/">Instagram</a>
<a href="/careers">We're hiring</a>
</body></html>`;

describe("website provider", () => {
  const local = (server: LoopbackServer, env: Record<string, string> = {}) => settings({
    ENRICHMENT_WEBSITE_URL_TEMPLATE: `${server.url}/sites/{domain}/`, ENRICHMENT_ALLOW_PRIVATE_NETWORK: "true", ...env,
  });

  it("reads name, description, social profiles and technologies from the home page and its headers", async () => {
    const server = await track(startWebsiteServer({ "acme.com": { html: ACME_HOME, headers: { server: "cloudflare", "cf-ray": "8a1b2c3d4e-AMS", "x-vercel-id": "fra1::abc" } } }));
    const result = await createWebsiteProvider(local(server)).enrich(person(), noBudgetLimit());
    expect(result.status).toBe("found");
    expect(result.facts.companyName).toBe("Acme");
    expect(result.facts.companyDomain).toBe("acme.com");
    expect(result.facts.description).toBe("Acme builds reliable anvils for cloud teams.");
    expect(result.facts.socialLinks).toEqual({
      github: "https://github.com/acme",
      linkedin: "https://www.linkedin.com/company/acme-anvils",
      twitter: "https://x.com/acmeanvils",
      facebook: "https://www.facebook.com/acmeanvils",
      youtube: "https://www.youtube.com/@acme",
      instagram: "https://www.instagram.com/acme.anvils",
    });
    expect(result.facts.techStack).toEqual(["Stripe", "Intercom", "HubSpot", "Google Analytics", "WordPress", "Cloudflare", "Vercel"]);
    expect(result.facts.discussionPoints).toEqual([
      { topic: "What they do", detail: "Acme builds reliable anvils for cloud teams.", source: "website" },
      { topic: "Tech stack", detail: "Uses Stripe, Intercom, HubSpot, Google Analytics, WordPress and Cloudflare", source: "website" },
      { topic: "Hiring", detail: "The website links to a careers page (/careers): they may be growing the team", source: "website" },
    ]);
    expect(result.raw).toMatchObject({ title: "Home | Acme & Co — Anvils for the cloud", ogTitle: "Acme: anvils for the cloud", siteName: "Acme", truncated: false });
  });

  it("sends a browser-like user agent and asks for HTML", async () => {
    const server = await track(startWebsiteServer({ "acme.com": { html: ACME_HOME } }));
    await createWebsiteProvider(local(server, { ENRICHMENT_USER_AGENT: "Mozilla/5.0 (compatible; TestBot/1.0)" })).enrich(person(), noBudgetLimit());
    expect(server.requests[0]!.headers["user-agent"]).toBe("Mozilla/5.0 (compatible; TestBot/1.0)");
    expect(server.requests[0]!.headers.accept).toMatch(/text\/html/);
  });

  it("takes the company name from the title when there is no og:site_name, and fingerprints from headers and inline markers", async () => {
    const html = `<html><head><title>Welcome - Globex Corporation</title><meta content="We make globes." name="description">
      <script id="__NEXT_DATA__" type="application/json">{}</script><script src="https://cdn.shopify.com/s/shop.js"></script></head>
      <body><a href="https://calendly.com/globex-sales">Book a demo</a><script src="https://js.driftt.com/include/x.js"></script></body></html>`;
    const server = await track(startWebsiteServer({ "globex.com": { html, headers: { "x-shopify-stage": "production", "x-powered-by": "Next.js" } } }));
    const result = await createWebsiteProvider(local(server)).enrich(person({ domain: "globex.com" }), noBudgetLimit());
    expect(result.facts.companyName).toBe("Globex Corporation");
    expect(result.facts.description).toBe("We make globes.");
    expect(result.facts.techStack).toEqual(["Shopify", "Next.js", "React", "Drift", "Calendly"]);
    expect(result.facts.socialLinks).toBeUndefined();
  });

  it("reads no further than its size cap and still uses what came before it", async () => {
    const padding = "<p>" + "x".repeat(200_000) + "</p>";
    const html = `<html><head><title>Initech</title><script src="https://js.stripe.com/v3/"></script></head><body>${padding}<script src="https://static.hotjar.com/c/hotjar.js"></script></body></html>`;
    const server = await track(startWebsiteServer({ "initech.com": { html } }));
    const result = await createWebsiteProvider(local(server, { ENRICHMENT_WEBSITE_MAX_BYTES: "65536" })).enrich(person({ domain: "initech.com" }), noBudgetLimit());
    expect(result.status).toBe("found");
    expect(result.facts.companyName).toBe("Initech");
    expect(result.facts.techStack).toEqual(["Stripe"]);
    expect(result.raw).toMatchObject({ truncated: true });
  });

  it("falls back to http when https does not answer", async () => {
    const server = await track(startWebsiteServer({ "acme.com": { html: ACME_HOME } }));
    const template = `${server.url.replace("http://", "https://")}/sites/{domain}/`;
    const result = await createWebsiteProvider(settings({ ENRICHMENT_WEBSITE_URL_TEMPLATE: template, ENRICHMENT_ALLOW_PRIVATE_NETWORK: "true" })).enrich(person(), noBudgetLimit());
    expect(result.status).toBe("found");
    expect(result.raw).toMatchObject({ url: `${server.url}/sites/acme.com/` });
    expect(server.requests).toHaveLength(1);
  });

  it("follows a redirect on the same site", async () => {
    const server = await track(startWebsiteServer({ "acme.com": { html: ACME_HOME } }));
    const sites = { "old-acme.com": { status: 301, headers: { location: `${server.url}/sites/acme.com/` } } };
    const redirecting = await track(startWebsiteServer(sites));
    const result = await createWebsiteProvider(local(redirecting)).enrich(person({ domain: "old-acme.com" }), noBudgetLimit());
    expect(result.status).toBe("found");
    expect(result.raw).toMatchObject({ url: `${server.url}/sites/acme.com/` });
  });

  it("gives up after three redirects", async () => {
    const server = await track(startHttpServer((request) => ({ status: 302, headers: { location: `${request.path}again/` } })));
    const result = await createWebsiteProvider(settings({ ENRICHMENT_WEBSITE_URL_TEMPLATE: `${server.url}/sites/{domain}/`, ENRICHMENT_ALLOW_PRIVATE_NETWORK: "true" })).enrich(person(), noBudgetLimit());
    expect(result.status).toBe("not_found");
    expect(JSON.stringify(result.raw)).toMatch(/more than 3 redirects/);
    expect(server.requests).toHaveLength(4);
  });

  it("answers not_found without fetching for a free-mail lead, and is never cached then", async () => {
    const server = await track(startWebsiteServer({}));
    const provider = createWebsiteProvider(local(server));
    const query = await personAt("jane@gmail.com");
    expect(provider.cacheKey(query)).toBeNull();
    expect(await provider.enrich(query, noBudgetLimit())).toMatchObject({ source: "website", status: "not_found", facts: {} });
    expect(server.requests).toHaveLength(0);
  });

  it("caches per company domain", () => {
    expect(createWebsiteProvider(settings()).cacheKey(person({ domain: "Acme.com" }))).toBe("domain:acme.com");
  });

  it("answers not_found marked transient when neither https nor http answers", async () => {
    const server = await track(startHttpServer(() => ({ status: 503, body: "down" })));
    const result = await createWebsiteProvider(settings({ ENRICHMENT_WEBSITE_URL_TEMPLATE: `${server.url.replace("http://", "https://")}/sites/{domain}/`, ENRICHMENT_ALLOW_PRIVATE_NETWORK: "true" }))
      .enrich(person(), noBudgetLimit());
    expect(result.status).toBe("not_found");
    expect(result.raw).toMatchObject({ transient: true, attempts: [{ retryable: true }, { error: expect.stringMatching(/503/), retryable: true }] });
  });

  it("answers not_found when the site answers 404 or not with HTML", async () => {
    const server = await track(startWebsiteServer({ "pdf.com": { html: "%PDF-1.4", headers: { "content-type": "application/pdf" } } }));
    const provider = createWebsiteProvider(local(server));
    expect((await provider.enrich(person({ domain: "gone.com" }), noBudgetLimit())).status).toBe("not_found");
    expect((await provider.enrich(person({ domain: "pdf.com" }), noBudgetLimit())).status).toBe("not_found");
  });

  it("refuses loopback sites when private networks are not allowed: nothing reaches the server", async () => {
    const server = await track(startWebsiteServer({ "acme.com": { html: ACME_HOME } }));
    const result = await createWebsiteProvider(local(server, { ENRICHMENT_ALLOW_PRIVATE_NETWORK: "false" }), { resolveHost: async () => ["127.0.0.1"] })
      .enrich(person(), noBudgetLimit());
    expect(result.status).toBe("not_found");
    expect(JSON.stringify(result.raw)).toMatch(/refused/);
    expect(server.requests).toHaveLength(0);
  });

  it("refuses a redirect to a private address even when the first hop looked public", async () => {
    // The guard is told "localhost" is a public address (as a rebinding name server might say);
    // the page then redirects to the cloud metadata address, which the guard checks and refuses.
    const server = await track(startWebsiteServer({ "acme.com": { status: 302, headers: { location: "http://169.254.169.254/latest/meta-data/" } } }));
    const lyingResolver: ResolveHost = async (host) => (host === "localhost" ? ["93.184.216.34"] : ["127.0.0.1"]);
    const config = settings({ ENRICHMENT_WEBSITE_URL_TEMPLATE: `http://localhost:${server.port}/sites/{domain}/` });
    const result = await createWebsiteProvider(config, { resolveHost: lyingResolver, ports: [80, 443, server.port] }).enrich(person(), noBudgetLimit());
    expect(result.status).toBe("not_found");
    expect(JSON.stringify(result.raw)).toMatch(/169\.254\.169\.254 is not a public address/);
    expect(result.raw).toMatchObject({ transient: false });
    expect(server.requests).toHaveLength(1);
  });

  it("throws a retryable error when the budget runs out on a site that never answers", async () => {
    const server = await track(startHttpServer(() => "hang"));
    const provider = createWebsiteProvider(settings({ ENRICHMENT_WEBSITE_URL_TEMPLATE: `${server.url}/sites/{domain}/`, ENRICHMENT_ALLOW_PRIVATE_NETWORK: "true", ENRICHMENT_REQUEST_TIMEOUT_MS: "10000" }));
    const started = Date.now();
    const error = await providerError(provider.enrich(person(), AbortSignal.timeout(300)));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toMatchObject({ source: "website", retryable: true });
  });
});

describe("HTTP helpers", () => {
  it("cut a text body at the size cap and say so", async () => {
    const server = await track(startHttpServer(() => ({ body: "a".repeat(10_000) })));
    const page = await fetchText(server.url, { source: "test", signal: noBudgetLimit(), timeoutMs: 2_000, maxBytes: 1_000 });
    expect(page.text).toHaveLength(1_000);
    expect(page.truncated).toBe(true);
  });

  it("refuse a JSON body past the size cap", async () => {
    const server = await track(startHttpServer(() => ({ json: { padding: "a".repeat(10_000) } })));
    const error = await providerError(fetchJson(server.url, { source: "test", signal: noBudgetLimit(), timeoutMs: 2_000, maxBytes: 1_000 }));
    expect(error).toMatchObject({ retryable: false });
  });

  it("hand back non-retryable error statuses with their body for the provider to judge", async () => {
    const server = await track(startHttpServer(() => ({ status: 400, json: { error: "bad request" } })));
    const answer = await fetchJson(server.url, { source: "test", signal: noBudgetLimit(), timeoutMs: 2_000, retries: 2 });
    expect(answer).toMatchObject({ status: 400, json: { error: "bad request" } });
    expect(server.requests).toHaveLength(1);
  });

  it("do not follow redirects of unguarded API calls, so a key never travels to another host", async () => {
    const server = await track(startHttpServer(() => ({ status: 302, headers: { location: "http://127.0.0.1:1/elsewhere" } })));
    const answer = await fetchJson(server.url, { source: "test", signal: noBudgetLimit(), timeoutMs: 2_000 });
    expect(answer.status).toBe(302);
  });

  it("refuse a guarded redirect to a loopback address after a first hop that passed", async () => {
    const server = await track(startHttpServer(() => ({ status: 307, headers: { location: "http://127.0.0.1/admin" } })));
    const guard: NetworkGuard = { allowPrivateNetwork: false, ports: [80, 443, server.port], resolveHost: async () => ["93.184.216.34"] };
    const error = await providerError(fetchText(`http://localhost:${server.port}/`, { source: "test", signal: noBudgetLimit(), timeoutMs: 2_000, guard }));
    expect(error).toMatchObject({ retryable: false });
    expect(error.message).toMatch(/127\.0\.0\.1 is not a public address/);
    expect(server.requests).toHaveLength(1);
  });
});

describe("SSRF guard", () => {
  const resolver: ResolveHost = async (host) => {
    const table: Record<string, string[]> = {
      localhost: ["127.0.0.1", "::1"],
      "example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
      "intranet.example.com": ["10.0.0.5"],
      "mixed.example.com": ["93.184.216.34", "192.168.0.10"],
      "metadata.example.com": ["169.254.169.254"],
      "v6-private.example.com": ["fd12:3456::1"],
      "empty.example.com": [],
    };
    const found = table[host];
    if (!found) throw Object.assign(new Error(`queryA ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return found;
  };
  const guard: NetworkGuard = { allowPrivateNetwork: false, resolveHost: resolver };

  const refused: Array<[string, RegExp]> = [
    ["http://127.0.0.1/", /not a public address/],
    ["http://127.1.2.3/", /not a public address/],
    ["http://10.1.2.3/", /not a public address/],
    ["http://172.16.5.4/", /not a public address/],
    ["http://172.31.255.255/", /not a public address/],
    ["http://192.168.1.1/", /not a public address/],
    ["http://169.254.169.254/latest/meta-data/", /not a public address/],
    ["http://100.64.0.1/", /not a public address/],
    ["http://224.0.0.1/", /not a public address/],
    ["http://0.0.0.0/", /not a public address/],
    ["http://2130706433/", /127\.0\.0\.1 is not a public address/],
    ["http://0x7f000001/", /127\.0\.0\.1 is not a public address/],
    ["http://0177.0.0.1/", /127\.0\.0\.1 is not a public address/],
    ["http://[::1]/", /not a public address/],
    ["http://[::]/", /not a public address/],
    ["http://[fc00::1]/", /not a public address/],
    ["http://[fd00:ec2::254]/", /not a public address/],
    ["http://[fe80::1]/", /not a public address/],
    ["http://[ff02::1]/", /not a public address/],
    ["http://[::ffff:127.0.0.1]/", /not a public address/],
    ["http://[::ffff:a9fe:a9fe]/", /not a public address/],
    ["http://[64:ff9b::10.0.0.1]/", /not a public address/],
    ["http://localhost/", /resolves to 127\.0\.0\.1/],
    ["http://app.localhost/", /local network name/],
    ["http://printer.local/", /local network name/],
    ["http://intranet.example.com/", /resolves to 10\.0\.0\.5/],
    ["http://mixed.example.com/", /resolves to 192\.168\.0\.10/],
    ["http://metadata.example.com/", /resolves to 169\.254\.169\.254/],
    ["http://v6-private.example.com/", /resolves to fd12:3456::1/],
    ["http://nowhere.example.com/", /does not resolve/],
    ["http://empty.example.com/", /does not resolve/],
    ["http://example.com:8080/", /only ports 80 and 443/],
    ["ftp://example.com/", /only http and https/],
    ["file:///etc/passwd", /only http and https/],
    ["http://user:secret@example.com/", /credentials/],
  ];
  it.each(refused)("refuses %s", async (url, reason) => {
    expect(await checkUrl(url, guard)).toMatch(reason);
  });

  const allowed = ["http://example.com/", "https://example.com:443/about", "http://93.184.216.34/", "https://[2606:4700:4700::1111]/", "http://172.32.0.1/", "https://8.8.8.8/"];
  it.each(allowed)("allows %s", async (url) => {
    expect(await checkUrl(url, guard)).toBeNull();
  });

  it("refuses every host name when no resolver is supplied (fails closed)", async () => {
    expect(await checkUrl("https://example.com/", { allowPrivateNetwork: false })).toMatch(/no resolver/);
  });

  it("lets loopback addresses and any port through only when private networks are allowed", async () => {
    expect(await checkUrl("http://127.0.0.1:8080/", { allowPrivateNetwork: true })).toBeNull();
    expect(await checkUrl("ftp://127.0.0.1/", { allowPrivateNetwork: true })).toMatch(/only http and https/);
  });

  it("sees localhost as loopback through Node's resolver", async () => {
    expect(await checkUrl("http://localhost/", { allowPrivateNetwork: false, resolveHost: nodeResolveHost() })).toMatch(/not a public address/);
  });
});

describe("email classification", () => {
  const table: Array<[string, string, string | null]> = [
    ["jane@acme.com", "company", "acme.com"],
    ["Jane.Doe@Mail.Acme.COM", "company", "acme.com"],
    ["jane@email.acme.co.uk", "company", "acme.co.uk"],
    ["bob@mail.co.uk", "company", "mail.co.uk"],
    ["sam@uk.acme.com", "company", "uk.acme.com"],
    ["info@acme.com", "role", "acme.com"],
    ["no-reply@acme.io", "role", "acme.io"],
    ["Sales+EU@acme.com", "role", "acme.com"],
    ["customer.service@acme.com", "role", "acme.com"],
    ["jane@gmail.com", "free", null],
    ["jane@googlemail.com", "free", null],
    ["jane@hotmail.co.uk", "free", null],
    ["jane@outlook.com", "free", null],
    ["jane@yahoo.fr", "free", null],
    ["jane@icloud.com", "free", null],
    ["jane@proton.me", "free", null],
    ["jane@gmx.de", "free", null],
    ["jane@mail.ru", "free", null],
    ["jane@hey.com", "free", null],
    ["info@gmail.com", "free", null],
    ["x@mailinator.com", "disposable", null],
    ["x@eu.mailinator.com", "disposable", null],
    ["X@Eu.Mailinator.COM.", "disposable", null],
    ["x@10minutemail.com", "disposable", null],
    ["x@guerrillamail.com", "disposable", null],
    ["x@yopmail.fr", "disposable", null],
    ["x@trashmail.com", "disposable", null],
  ];
  it.each(table)("%s is %s with company domain %s", async (email, type, domain) => {
    const found = classifyEmail(email, await kindOf(email));
    expect(found.type).toBe(type);
    expect(found.companyDomain).toBe(domain);
  });

  it("treats text that is not an address as no address at all", async () => {
    expect(classifyEmail("not-an-email", await kindOf("not-an-email"))).toMatchObject({ email: null, companyDomain: null });
    expect(classifyEmail("jane@localhost", await kindOf("jane@localhost"))).toMatchObject({ email: null, companyDomain: null });
  });

  it("strips only mail-host labels from a domain, and never down to a public suffix", () => {
    expect(companyDomainOf("smtp.acme.com")).toBe("acme.com");
    expect(companyDomainOf("mail.acme.com.au")).toBe("acme.com.au");
    expect(companyDomainOf("mail.com.au")).toBe("mail.com.au");
    expect(companyDomainOf("mail.acme")).toBe("mail.acme");
    expect(companyDomainOf("sales.acme.com")).toBe("sales.acme.com");
  });
});

describe("email provider with MX lookups", () => {
  let dns: LoopbackDns;
  beforeAll(async () => {
    dns = await startDnsServer({ "acme.com": ["mx2.acme.com", "mx1.acme.com"], "nomail.com": [], "gmail.com": ["gmail-smtp-in.l.google.com"] });
  });
  afterAll(() => dns.close());

  it("resolves MX records through the given name server, most preferred first", async () => {
    expect(await nodeResolveMx(dns.address)("acme.com")).toEqual(["mx2.acme.com", "mx1.acme.com"]);
    expect(dns.requests).toContainEqual({ name: "acme.com", type: 15 });
  });

  it("reports a company address with its domain and mail servers", async () => {
    const provider = createEmailProvider({ resolveMx: nodeResolveMx(dns.address) });
    const result = await provider.enrich(person(), noBudgetLimit());
    expect(result).toMatchObject({ source: "email", status: "found", confidence: 0.9, facts: { emailType: "company", companyDomain: "acme.com", hasMx: true } });
    expect(result.raw).toMatchObject({ mx: ["mx2.acme.com", "mx1.acme.com"] });
    expect(provider.cacheKey(person())).toBeNull();
  });

  it("reports a free-mail address without a company domain", async () => {
    const result = await createEmailProvider({ resolveMx: nodeResolveMx(dns.address) }).enrich(await personAt("jane@gmail.com"), noBudgetLimit());
    expect(result.facts).toEqual({ emailType: "free", hasMx: true });
  });

  it("reports an address at a sub-domain of a throwaway domain as disposable, without a company domain", async () => {
    const query = await personAt("x@eu.mailinator.com");
    expect(query).toMatchObject({ domain: null, mailDomainKind: "disposable" });
    const result = await createEmailProvider({ resolveMx: nodeResolveMx(dns.address) }).enrich(query, noBudgetLimit());
    expect(result).toMatchObject({ status: "found", confidence: 1, facts: { emailType: "disposable" }, raw: { disposable: true, freeMail: false } });
    expect(result.facts.companyDomain).toBeUndefined();
  });

  it("says hasMx false with a warning when the domain publishes no mail servers", async () => {
    const result = await createEmailProvider({ resolveMx: nodeResolveMx(dns.address) }).enrich(await personAt("jane@nomail.com"), noBudgetLimit());
    expect(result.facts).toMatchObject({ emailType: "company", hasMx: false });
    expect(result.raw).toMatchObject({ warning: expect.stringMatching(/bounce/) });
  });

  it("says hasMx false and keeps the lookup error when the domain does not exist", async () => {
    const result = await createEmailProvider({ resolveMx: nodeResolveMx(dns.address) }).enrich(await personAt("jane@no-such-domain.com"), noBudgetLimit());
    expect(result.facts).toMatchObject({ hasMx: false });
    expect(result.raw).toMatchObject({ mxError: expect.stringMatching(/ENOTFOUND/), warning: expect.stringMatching(/bounce/) });
  });

  it("answers not_found for text that is not an address", async () => {
    const result = await createEmailProvider({ resolveMx: nodeResolveMx(dns.address) }).enrich(await personAt("jane"), noBudgetLimit());
    expect(result).toMatchObject({ status: "not_found", confidence: 0 });
  });

  it("returns the classification without waiting for an MX lookup past the budget", async () => {
    const never = () => new Promise<string[]>(() => undefined);
    const started = Date.now();
    const result = await createEmailProvider({ resolveMx: never }).enrich(person(), AbortSignal.timeout(200));
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(result.facts).toEqual({ emailType: "company", companyDomain: "acme.com" });
  });
});

describe("createProviders", () => {
  const deps = { resolveMx: async () => [] };
  const names = (list: Array<{ name: string }>) => list.map((provider) => provider.name);

  it("always has the built-in email and website providers and no paid ones without keys", () => {
    const providers = createProviders(settings({ APOLLO_API_KEY: "", PDL_API_KEY: "" }), deps);
    expect(names(providers.builtin)).toEqual(["email", "website"]);
    expect(providers.paid).toEqual([]);
  });

  it("lists the paid providers that have keys, in the waterfall order", () => {
    expect(names(createProviders(settings({ ENRICHMENT_WATERFALL: "pdl,apollo" }), deps).paid)).toEqual(["pdl", "apollo"]);
    expect(names(createProviders(settings({ ENRICHMENT_WATERFALL: "apollo, pdl" }), deps).paid)).toEqual(["apollo", "pdl"]);
    expect(names(createProviders(settings({ PDL_API_KEY: "" }), deps).paid)).toEqual(["apollo"]);
    expect(names(createProviders(settings({ ENRICHMENT_WATERFALL: "pdl" }), deps).paid)).toEqual(["pdl"]);
  });

  it("names in one warning what would add person data: a key, or the waterfall when the key is set but left out", () => {
    const run = (unfinished: boolean, fresh = false) => ({ fresh, unfinished });
    const warning = (env: Record<string, string>, runs = [run(true)]) => {
      const config = settings(env);
      return coverageWarning(config, createProviders(config, deps), runs);
    };
    expect(warning({ APOLLO_API_KEY: "", PDL_API_KEY: "" }))
      .toBe("Only the built-in sources ran (email, website): set APOLLO_API_KEY (Apollo) or PDL_API_KEY (People Data Labs) to add person data");
    expect(warning({ ENRICHMENT_WATERFALL: "" }))
      .toBe("Only the built-in sources ran (email, website): add apollo and pdl to ENRICHMENT_WATERFALL to add person data");
    expect(warning({ APOLLO_API_KEY: "" })).toBe("People Data Labs did not find this lead's title and company: set APOLLO_API_KEY to ask Apollo as well");
    expect(warning({ ENRICHMENT_WATERFALL: "apollo" }, [run(true), run(false), run(true), run(true, true)]))
      .toBe("Apollo did not find 2 of 3 leads' title and company: add pdl to ENRICHMENT_WATERFALL to ask People Data Labs as well");
    expect(warning({ PDL_API_KEY: "" }, [run(false), run(false)])).toBeUndefined();
    expect(warning({}, [run(true)])).toBeUndefined();
    expect(warning({ APOLLO_API_KEY: "", PDL_API_KEY: "" }, [run(false, true)])).toBeUndefined();
  });

  it("reads the provider settings with their defaults", () => {
    const config = readEnrichmentConfig(() => undefined);
    expect(config).toMatchObject({
      websiteUrlTemplate: "https://{domain}/", websiteMaxBytes: 1_048_576, requestTimeoutMs: 8_000, retries: 2, retryBaseMs: 500,
      pdlMinLikelihood: 6, allowPrivateNetwork: false, waterfall: ["apollo", "pdl"],
    });
    expect(settings({ ENRICHMENT_RETRIES: "0" }).retries).toBe(0);
  });
});
