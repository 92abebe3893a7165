// Enrichment over HTTP, end to end: the real API and database, with Apollo, People Data
// Labs, company websites and DNS played by loopback servers that count what they are asked.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLead, expectError, expectOk, type Workspace } from "./support/api.ts";
import { setLeadEnrichment } from "./support/db.ts";
import { apolloPerson, type EnrichmentStack, homePage, pdlData, startEnrichmentStack, uniqueDomain } from "./support/enrichment-stack.ts";
import { within } from "./support/wait.ts";

let stack: EnrichmentStack;
beforeAll(async () => {
  stack = await startEnrichmentStack();
});
afterAll(async () => {
  await stack?.close();
});

/** A company domain with a website and mail servers, and a person there Apollo and/or PDL know. */
function company(label = "acme") {
  const domain = uniqueDomain(label);
  stack.sites[domain] = { html: homePage("Acme") };
  stack.mx[domain] = [`mx1.${domain}`];
  return domain;
}

const sourceStatuses = (body: any) => Object.fromEntries(body.enrichment.sourceDetails.map((s: any) => [s.name, s.status]));

describe("POST /enrich", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await stack.signup();
  });

  it("enriches a lead from its email, its company's website and Apollo, and stores where each fact came from", async () => {
    const domain = company();
    const email = `jane@${domain}`;
    stack.people.set(email, { apollo: apolloPerson(email) });
    const id = await createLead(stack.as(ws), { email, organizationName: null });

    const body = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
    expect(body).toMatchObject({
      leadId: id,
      status: "complete",
      title: "VP of Engineering",
      seniority: "VP",
      companyName: "Acme",
      linkedinUrl: "https://www.linkedin.com/in/janedoe",
      companySize: "201-500",
      companyRevenue: "$42M",
      enrichedAt: expect.any(String),
    });
    expect(body.error).toBeUndefined();
    expect(sourceStatuses(body)).toEqual({ email: "found", website: "found", apollo: "found", pdl: "skipped" });
    const doc = body.enrichment;
    expect(doc.confidence.overall).toBe(0.9);
    expect(doc.techStack).toEqual(expect.arrayContaining(["Salesforce", "Stripe", "HubSpot"]));
    expect(doc.discussionPoints).toEqual(expect.arrayContaining([
      { topic: "Role", detail: "VP of Engineering at Acme since Mar 2021", source: "apollo" },
      expect.objectContaining({ topic: "What they do", source: "website" }),
    ]));
    expect(doc.facts).toMatchObject({ emailType: "company", hasMx: true, companyDomain: "acme.com", previousEmployers: ["Globex", "Initech"] });
    expect(Object.keys(doc.raw).sort()).toEqual(["apollo", "email", "website"]);
    expect(doc.raw.email.mx).toEqual([`mx1.${domain}`]);
    expect(stack.askedAbout(stack.pdl, email)).toBe(0);
    expect(body.next_steps.join(" ")).toContain("/enrich/spider-web");

    const stored = expectOk(await stack.as(ws).get(`/leads/${id}`)).lead;
    expect(stored).toMatchObject({ enrichmentStatus: "complete", title: "VP of Engineering", companyName: "Acme", enrichedAt: expect.any(String) });
    expect(stored.enrichment.sourceDetails).toHaveLength(4);
    expect(stored.enrichment).toMatchObject({ tier: "high", sources: ["apollo", "website", "email"], confidence: { overall: 0.9, label: "high" } });
  });

  it("falls back to People Data Labs when Apollo does not know the person", async () => {
    const domain = company();
    const email = `sam@${domain}`;
    stack.people.set(email, { pdl: pdlData() });
    const id = await createLead(stack.as(ws), { email });

    const body = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
    expect(body).toMatchObject({ status: "complete", title: "Vice President of Engineering", seniority: "VP", companyName: "Acme", companySize: "201-500" });
    expect(sourceStatuses(body)).toMatchObject({ apollo: "not_found", pdl: "found" });
    expect(body.enrichment.facts.schools).toEqual(["University of Texas at Austin"]);
    expect(stack.askedAbout(stack.apollo, email)).toBe(1);
    expect(stack.askedAbout(stack.pdl, email)).toBe(1);
  });

  it("falls back to People Data Labs when Apollo fails, and says so in warnings", async () => {
    const domain = company();
    const email = `kim@${domain}`;
    stack.people.set(email, { apollo: 401, pdl: pdlData() });
    const id = await createLead(stack.as(ws), { email });

    const body = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
    expect(body.status).toBe("complete");
    expect(sourceStatuses(body)).toMatchObject({ apollo: "error", pdl: "found" });
    expect(body.warnings.join(" ")).toMatch(/apollo failed: .*401/);
  });

  it("completes with what the free sources found when no paid provider knows the person", async () => {
    const domain = company();
    const id = await createLead(stack.as(ws), { email: `nobody@${domain}` });
    const body = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
    expect(body.status).toBe("complete");
    expect(sourceStatuses(body)).toEqual({ email: "found", website: "found", apollo: "not_found", pdl: "not_found" });
    expect(body.companyName).toBe("Acme");
    expect(body.title).toBeNull();
    expect(body.enrichment.confidence.basis).toBe("company");
  });

  it("returns a recently enriched lead as stored, fetching nothing, and says how to force a refresh", async () => {
    const domain = company();
    const email = `fresh@${domain}`;
    stack.people.set(email, { apollo: apolloPerson(email) });
    const id = await createLead(stack.as(ws), { email });
    const first = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));

    const again = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
    expect(again).toMatchObject({ status: "complete", title: "VP of Engineering", enrichedAt: first.enrichedAt });
    expect(again.warnings.join(" ")).toMatch(/nothing was re-fetched.*"force": true/);
    expect(stack.askedAbout(stack.apollo, email)).toBe(1);
    expect(stack.websites.requests.filter((r) => r.path.includes(domain))).toHaveLength(1);
  });

  it("re-fetches every source with force: true, bypassing the cache", async () => {
    const domain = company();
    const email = `forced@${domain}`;
    stack.people.set(email, { apollo: apolloPerson(email) });
    const id = await createLead(stack.as(ws), { email });
    const first = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));

    const forced = expectOk(await stack.as(ws).post("/enrich", { leadId: id, force: true }));
    expect(forced.status).toBe("complete");
    expect(forced.enrichedAt).not.toBe(first.enrichedAt);
    expect(forced.enrichment.sourceDetails.every((s: any) => s.cached === false)).toBe(true);
    expect(forced.warnings.join(" ")).toContain("force: true re-fetched every source");
    expect(stack.askedAbout(stack.apollo, email)).toBe(2);
    expect(stack.websites.requests.filter((r) => r.path.includes(domain))).toHaveLength(2);
  });

  it("spends no second Apollo credit on a person already looked up: the answer comes from the cache", async () => {
    const domain = company();
    const email = `cached@${domain}`;
    stack.people.set(email, { apollo: apolloPerson(email) });
    const first = await createLead(stack.as(ws), { email });
    expectOk(await stack.as(ws).post("/enrich", { leadId: first }));
    // The lead is deleted for good and imported again: same person, new lead.
    expectOk(await stack.as(ws).delete(`/leads/${first}?permanent=true`));
    const second = await createLead(stack.as(ws), { email });

    const body = expectOk(await stack.as(ws).post("/enrich", { leadId: second }));
    expect(body).toMatchObject({ status: "complete", title: "VP of Engineering" });
    expect(body.enrichment.sourceDetails.find((s: any) => s.name === "apollo")).toMatchObject({ status: "found", cached: true });
    expect(stack.askedAbout(stack.apollo, email)).toBe(1);
  });

  it("does not share one workspace's paid person answers with another workspace", async () => {
    const domain = company();
    const email = `private@${domain}`;
    stack.people.set(email, { apollo: apolloPerson(email) });
    expectOk(await stack.as(ws).post("/enrich", { leadId: await createLead(stack.as(ws), { email }) }));
    const other = await stack.signup();
    const body = expectOk(await stack.as(other).post("/enrich", { leadId: await createLead(stack.as(other), { email }) }));
    expect(body.enrichment.sourceDetails.find((s: any) => s.name === "apollo")).toMatchObject({ status: "found", cached: false });
    expect(body.enrichment.sourceDetails.find((s: any) => s.name === "website")).toMatchObject({ status: "found", cached: true });
    expect(stack.askedAbout(stack.apollo, email)).toBe(2);
  });

  it("fetches a company's website once for all its leads", async () => {
    const domain = company();
    const ids = [await createLead(stack.as(ws), { email: `one@${domain}` }), await createLead(stack.as(ws), { email: `two@${domain}` })];
    const first = expectOk(await stack.as(ws).post("/enrich", { leadId: ids[0] }));
    const second = expectOk(await stack.as(ws).post("/enrich", { leadId: ids[1] }));
    expect(first.enrichment.sourceDetails.find((s: any) => s.name === "website")).toMatchObject({ status: "found", cached: false });
    expect(second.enrichment.sourceDetails.find((s: any) => s.name === "website")).toMatchObject({ status: "found", cached: true });
    expect(second.companyName).toBe("Acme");
    expect(stack.websites.requests.filter((r) => r.path.includes(domain))).toHaveLength(1);
  });

  it("never overwrites a field set by hand, and says what it found instead", async () => {
    const domain = company();
    const email = `hand@${domain}`;
    stack.people.set(email, { apollo: apolloPerson(email) });
    const id = await createLead(stack.as(ws), { email, title: "Chief Anvil Officer" });
    const body = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
    expect(body).toMatchObject({ status: "complete", title: "Chief Anvil Officer", seniority: "VP" });
    expect(body.enrichment.facts.title).toBe("VP of Engineering");
    expect(body.warnings).toContain('title was set by hand and kept ("Chief Anvil Officer"); enrichment found "VP of Engineering" (see enrichment.facts.title)');
  });

  it("does not connect free-mail leads to a company domain, and skips the website", async () => {
    const id = await createLead(stack.as(ws), { email: `someone.${Date.now()}@gmail.com` });
    const body = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
    expect(body.status).toBe("complete");
    expect(body.enrichment.facts.emailType).toBe("free");
    expect(body.enrichment.sourceDetails.find((s: any) => s.name === "website")).toMatchObject({ status: "not_found" });
  });

  it("knows country variants of free-mail and sub-domains of throwaway domains from the database's list", async () => {
    const cases = [[`someone.${Date.now()}@hotmail.co.uk`, "free"], [`someone.${Date.now()}@eu.mailinator.com`, "disposable"]] as const;
    for (const [email, emailType] of cases) {
      const id = await createLead(stack.as(ws), { email });
      const body = expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
      expect(body.enrichment.facts.emailType).toBe(emailType);
      expect(body.enrichment.facts.companyDomain).toBeUndefined();
      expect(body.enrichment.sourceDetails.find((s: any) => s.name === "website")).toMatchObject({ status: "not_found" });
    }
  });

  it("answers 404 for an unknown lead, 409 for a deleted one, 400 without leadId and 401 without a key", async () => {
    expectError(await stack.as(ws).post("/enrich", { leadId: "rp_000000000000000000000000" }), 404, "not_found");
    const id = await createLead(stack.as(ws), { email: `gone@${company()}` });
    expectOk(await stack.as(ws).delete(`/leads/${id}`));
    const deleted = expectError(await stack.as(ws).post("/enrich", { leadId: id }), 409, "lead_deleted");
    expect(deleted.hint).toContain('"restore": true');
    const invalid = expectError(await stack.as(ws).post("/enrich", { force: true }), 400, "invalid_request");
    expect(invalid.fields).toEqual([expect.objectContaining({ field: "leadId" })]);
    expectError(await stack.as({ ...ws, apiKey: "" }).post("/enrich", { leadId: id }), 401, "missing_api_key");
  });
});

// The public skill's shape: tier, sources (names), confidence with its label, on the document
// and at the top of the reply. Each request is the contract's example body with a real lead id.
describe("tier, sources and confidence label", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await stack.signup();
  });
  const enrich = async (leadId: string) => expectOk(await stack.as(ws).post("/enrich", { "leadId": leadId }));
  /** A lead at a company with a website whose person Apollo answers for, with these changes. */
  const apolloLead = async (changes: Record<string, unknown>) => {
    const email = `person@${company()}`;
    stack.people.set(email, { apollo: apolloPerson(email, changes) });
    return createLead(stack.as(ws), { email, organizationName: null });
  };

  it("answers the shape at the top and in the document: a VP at a known company is high, sources most trusted first", async () => {
    const id = await apolloLead({});
    const body = await enrich(id);
    expect(body).toMatchObject({ leadId: id, status: "complete", tier: "high", sources: ["apollo", "website", "email"], confidence: 0.9, confidenceLabel: "high" });
    expect(body.enrichment).toMatchObject({
      tier: "high",
      sources: ["apollo", "website", "email"],
      confidence: { overall: 0.9, label: "high", basis: "person", bySource: { apollo: 0.9, website: 0.8, email: 0.9 } },
    });
    expect(body.enrichment.sourceDetails).toEqual([
      { name: "email", status: "found", cached: false, confidence: 0.9, ms: expect.any(Number) },
      { name: "website", status: "found", cached: false, confidence: 0.8, ms: expect.any(Number) },
      { name: "apollo", status: "found", cached: false, confidence: 0.9, ms: expect.any(Number) },
      { name: "pdl", status: "skipped", cached: false, error: "not needed: title and company already known" },
    ]);
    // Both paid providers are configured: nothing to warn about.
    expect(body.warnings).toEqual([]);
    expect(expectOk(await stack.as(ws).get(`/leads/${id}`)).lead.enrichment).toMatchObject({ tier: "high", sources: ["apollo", "website", "email"] });
  });

  it("is high for a senior title when no seniority is reported, and for a large company whoever the person is", async () => {
    const founder = await enrich(await apolloLead({ title: "Co-Founder & CEO", seniority: null }));
    expect(founder).toMatchObject({ title: "Co-Founder & CEO", seniority: null, tier: "high" });
    const large = await enrich(await apolloLead({
      title: "Software Engineer", seniority: "senior", organization: { ...apolloPerson("x@example.com").organization as object, estimated_num_employees: 2500 },
    }));
    expect(large).toMatchObject({ seniority: "Senior", companySize: "1001-5000", tier: "high" });
  });

  it("is medium for a person who is not senior at a company of 500 or fewer, or when only the company is known", async () => {
    const engineer = await enrich(await apolloLead({ title: "Software Engineer", seniority: "senior" }));
    expect(engineer).toMatchObject({ companySize: "201-500", tier: "medium", confidenceLabel: "high" });
    const assistant = await enrich(await apolloLead({ title: "Executive Assistant to the CEO", seniority: null }));
    expect(assistant.tier).toBe("medium");

    // Nobody knows the person; the company's website names the company.
    const websiteOnly = await enrich(await createLead(stack.as(ws), { email: `nobody@${company()}` }));
    expect(websiteOnly).toMatchObject({ tier: "medium", sources: ["website", "email"], confidence: 0.48, confidenceLabel: "medium" });
    expect(websiteOnly.enrichment.confidence).toMatchObject({ overall: 0.48, label: "medium", basis: "company" });
  });

  it("is low when only the address could be read", async () => {
    const body = await enrich(await createLead(stack.as(ws), { email: `someone.${Date.now()}@gmail.com` }));
    expect(body).toMatchObject({ status: "complete", tier: "low", sources: ["email"], confidence: 0.3, confidenceLabel: "low" });
    expect(body.enrichment).toMatchObject({ tier: "low", sources: ["email"], confidence: { overall: 0.3, label: "low", basis: "email" } });
    expect(sourceStatuses(body)).toEqual({ email: "found", website: "not_found", apollo: "not_found", pdl: "not_found" });
  });

  it("reports the tier without changing the lead's own tier", async () => {
    const email = `owner@${company()}`;
    stack.people.set(email, { apollo: apolloPerson(email, { title: "Owner", seniority: "owner" }) });
    const id = await createLead(stack.as(ws), { email, tier: "low" });
    expect((await enrich(id)).tier).toBe("high");
    expect(expectOk(await stack.as(ws).get(`/leads/${id}`)).lead).toMatchObject({ tier: "low", enrichment: { tier: "high" } });
  });

  it("answers tier and confidenceLabel per lead in bulk", async () => {
    const high = await apolloLead({});
    const low = await createLead(stack.as(ws), { email: `bulk.${Date.now()}@gmail.com` });
    const body = expectOk(await stack.as(ws).post("/enrich/bulk", { leadIds: [high, low] }));
    expect(body.results).toEqual([
      expect.objectContaining({ leadId: high, status: "complete", tier: "high", confidenceLabel: "high" }),
      expect.objectContaining({ leadId: low, status: "complete", tier: "low", confidenceLabel: "low" }),
    ]);
    expect(body.warnings.join(" ")).not.toMatch(/APOLLO_API_KEY|PDL_API_KEY/);
  });
});

describe("which sources ran, in warnings", () => {
  const builtinOnly = "Only the built-in sources ran (email, website): set APOLLO_API_KEY (Apollo) or PDL_API_KEY (People Data Labs) to add person data";
  let free: EnrichmentStack;
  let apolloOnly: EnrichmentStack;
  beforeAll(async () => {
    [free, apolloOnly] = await Promise.all([
      startEnrichmentStack({ APOLLO_API_KEY: "", PDL_API_KEY: "" }),
      startEnrichmentStack({ PDL_API_KEY: "" }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([free?.close(), apolloOnly?.close()]);
  });

  it("says that only the built-in sources ran, and which settings add person data, when no paid provider is configured", async () => {
    const ws = await free.signup();
    const domain = uniqueDomain();
    free.sites[domain] = { html: homePage("Acme") };
    free.mx[domain] = [`mx1.${domain}`];
    const id = await createLead(free.as(ws), { email: `jane@${domain}` });

    const body = expectOk(await free.as(ws).post("/enrich", { "leadId": id }));
    expect(body).toMatchObject({ status: "complete", tier: "medium", sources: ["website", "email"], confidence: 0.48, confidenceLabel: "medium", companyName: "Acme" });
    expect(body.enrichment.sourceDetails.map((s: any) => s.name)).toEqual(["email", "website"]);
    expect(body.warnings).toEqual([builtinOnly]);
    expect(free.apollo.requests).toHaveLength(0);

    // Answered from storage, nothing ran: only the freshness warning.
    const again = expectOk(await free.as(ws).post("/enrich", { "leadId": id }));
    expect(again.warnings).toEqual([expect.stringContaining("nothing was re-fetched")]);
  });

  it("says it once per bulk reply, not per lead", async () => {
    const ws = await free.signup();
    const ids = [await createLead(free.as(ws), { email: `a@${uniqueDomain()}` }), await createLead(free.as(ws), { email: `b@${uniqueDomain()}` })];
    const body = expectOk(await free.as(ws).post("/enrich/bulk", { leadIds: ids }));
    expect(body.succeeded).toBe(2);
    expect(body.warnings.filter((w: string) => w.includes("APOLLO_API_KEY"))).toEqual([builtinOnly]);
  });

  it("with Apollo alone, names People Data Labs only when Apollo left the title or company unknown", async () => {
    const ws = await apolloOnly.signup();
    const known = `jane@${uniqueDomain()}`;
    apolloOnly.people.set(known, { apollo: apolloPerson(known) });
    const found = expectOk(await apolloOnly.as(ws).post("/enrich", { "leadId": await createLead(apolloOnly.as(ws), { email: known }) }));
    expect(found).toMatchObject({ tier: "high", sources: ["apollo", "email"] });
    expect(found.warnings.join(" ")).not.toMatch(/PDL_API_KEY|APOLLO_API_KEY/);

    const unknown = expectOk(await apolloOnly.as(ws).post("/enrich", { "leadId": await createLead(apolloOnly.as(ws), { email: `sam@${uniqueDomain()}` }) }));
    expect(unknown.warnings).toContain("Apollo did not find this lead's title and company: set PDL_API_KEY to ask People Data Labs as well");

    const alsoKnown = `ada@${uniqueDomain()}`;
    apolloOnly.people.set(alsoKnown, { apollo: apolloPerson(alsoKnown) });
    const bulk = expectOk(await apolloOnly.as(ws).post("/enrich/bulk", {
      leadIds: [await createLead(apolloOnly.as(ws), { email: `kim@${uniqueDomain()}` }), await createLead(apolloOnly.as(ws), { email: alsoKnown })],
    }));
    expect(bulk.warnings).toContain("Apollo did not find 1 of 2 leads' title and company: set PDL_API_KEY to ask People Data Labs as well");
  });
});

describe("GET /enrich", () => {
  it("returns the stored status and data, before and after enrichment", async () => {
    const ws = await stack.signup();
    const domain = company();
    const email = `status@${domain}`;
    stack.people.set(email, { apollo: apolloPerson(email) });
    const id = await createLead(stack.as(ws), { email });

    const before = expectOk(await stack.as(ws).get(`/enrich?leadId=${id}`));
    expect(before).toMatchObject({ leadId: id, status: "not_enriched", enrichment: null, enrichedAt: null, error: null, title: null });
    expect(before.next_steps).toEqual([`POST /api/openclaw/enrich { "leadId": "${id}" }`]);

    expectOk(await stack.as(ws).post("/enrich", { leadId: id }));
    const after = expectOk(await stack.as(ws).get(`/enrich?leadId=${id}`));
    expect(after).toMatchObject({ leadId: id, status: "complete", title: "VP of Engineering", companyName: "Acme", error: null, startedAt: expect.any(String) });
    expect(after.enrichment.sourceDetails.map((s: any) => s.name)).toEqual(["email", "website", "apollo", "pdl"]);
    expect(after).toMatchObject({ tier: "high", sources: ["apollo", "website", "email"], confidence: 0.9, confidenceLabel: "high" });
    expect(before).toMatchObject({ tier: null, sources: [], confidence: null, confidenceLabel: null });
  });

  it("answers tier, source names and the confidence label for a document stored before they were written", async () => {
    const ws = await stack.signup();
    const id = await createLead(stack.as(ws), { email: `earlier@${company()}` });
    await setLeadEnrichment(id, {
      status: "complete",
      sources: [
        { name: "email", status: "found", cached: false }, { name: "website", status: "found", cached: true },
        { name: "apollo", status: "found", cached: false }, { name: "pdl", status: "skipped", cached: false },
      ],
      facts: { title: "Director of Operations", seniority: "Director", companyName: "Acme", companyDomain: "acme.com" },
      confidence: { overall: 0.62, basis: "person", bySource: { apollo: 0.62 } },
    });
    expect(expectOk(await stack.as(ws).get(`/enrich?leadId=${id}`)))
      .toMatchObject({ tier: "high", sources: ["apollo", "website", "email"], confidence: 0.62, confidenceLabel: "medium" });
  });

  it("answers 404 for an unknown lead and 400 without leadId", async () => {
    const ws = await stack.signup();
    expectError(await stack.as(ws).get("/enrich?leadId=rp_nope"), 404, "not_found");
    expectError(await stack.as(ws).get("/enrich"), 400, "invalid_request");
  });
});

describe("POST /enrich/bulk", () => {
  it("enriches five leads side by side", async () => {
    const ws = await stack.signup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const email = `bulk${i}@${company()}`;
      stack.people.set(email, { apollo: apolloPerson(email) });
      ids.push(await createLead(stack.as(ws), { email }));
    }
    const body = expectOk(await stack.as(ws).post("/enrich/bulk", { leadIds: ids }));
    expect(body).toMatchObject({ succeeded: 5, failed: 0 });
    expect(body.results.map((r: any) => [r.leadId, r.status])).toEqual(ids.map((id) => [id, "complete"]));
    for (const id of ids) expect(expectOk(await stack.as(ws).get(`/enrich?leadId=${id}`)).title).toBe("VP of Engineering");
  });

  it("refuses six or more leads with a hint to batch by five", async () => {
    const ws = await stack.signup();
    const error = expectError(await stack.as(ws).post("/enrich/bulk", { leadIds: ["a", "b", "c", "d", "e", "f"] }), 400, "too_many_leads");
    expect(error.hint).toMatch(/batches of 5/);
  });

  it("reports each lead's outcome: enriched, unknown, another workspace's", async () => {
    const ws = await stack.signup();
    const other = await stack.signup();
    const mine = await createLead(stack.as(ws), { email: `mixed@${company()}` });
    const theirs = await createLead(stack.as(other), { email: `theirs@${company()}` });
    const body = expectOk(await stack.as(ws).post("/enrich/bulk", { leadIds: [mine, "rp_unknown", theirs], forceRefresh: false }));
    expect(body).toMatchObject({ succeeded: 1, failed: 2 });
    expect(body.results).toEqual([
      expect.objectContaining({ leadId: mine, status: "complete" }),
      { leadId: "rp_unknown", status: "failed", error: "Lead rp_unknown was not found", errorCode: "not_found" },
      { leadId: theirs, status: "failed", error: `Lead ${theirs} was not found`, errorCode: "not_found" },
    ]);
    expect(expectOk(await stack.as(other).get(`/enrich?leadId=${theirs}`)).status).toBe("not_enriched");
  });

  it("fetches a shared company website once when its leads are enriched together", async () => {
    const ws = await stack.signup();
    const domain = company();
    const ids = [await createLead(stack.as(ws), { email: `a@${domain}` }), await createLead(stack.as(ws), { email: `b@${domain}` })];
    const body = expectOk(await stack.as(ws).post("/enrich/bulk", { leadIds: ids }));
    expect(body.succeeded).toBe(2);
    expect(stack.websites.requests.filter((r) => r.path.includes(domain))).toHaveLength(1);
  });

  it("validates the body: leadIds required and non-empty", async () => {
    const ws = await stack.signup();
    expectError(await stack.as(ws).post("/enrich/bulk", {}), 400, "invalid_request");
    expectError(await stack.as(ws).post("/enrich/bulk", { leadIds: [] }), 400, "invalid_request");
  });
});

describe("cross-workspace enrichment", () => {
  it("answers 404 for another workspace's lead on every enrichment route and leaves it untouched", async () => {
    const owner = await stack.signup();
    const intruder = await stack.signup();
    const id = await createLead(stack.as(owner), { email: `owned@${company()}` });
    expectError(await stack.as(intruder).post("/enrich", { leadId: id }), 404, "not_found");
    expectError(await stack.as(intruder).post("/enrich", { leadId: id, force: true }), 404, "not_found");
    expectError(await stack.as(intruder).get(`/enrich?leadId=${id}`), 404, "not_found");
    expectError(await stack.as(intruder).post("/enrich/spider-web", { leadId: id }), 404, "not_found");
    expect(expectOk(await stack.as(owner).get(`/enrich?leadId=${id}`)).status).toBe("not_enriched");
  });
});

describe("the time budget", () => {
  let slow: EnrichmentStack;
  beforeAll(async () => {
    slow = await startEnrichmentStack({ ENRICHMENT_BUDGET_MS: "600" });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it("cuts off a provider that does not answer, and marks the lead failed with the reason, never left enriching", async () => {
    const ws = await slow.signup();
    const domain = uniqueDomain();
    slow.sites[domain] = { html: homePage("Acme") };
    const email = `hang@${domain}`;
    slow.people.set(email, { apollo: "hang" });
    const id = await createLead(slow.as(ws), { email });

    const started = Date.now();
    const body = expectOk(await slow.as(ws).post("/enrich", { leadId: id }));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(body.status).toBe("failed");
    expect(body.error).toBe("Enrichment ran out of its 600 ms time budget: apollo did not answer in time and was cut off");
    expect(body.enrichment.sourceDetails).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: "website", status: "found" }),
      expect.objectContaining({ name: "apollo", status: "cut_off" }),
      expect.objectContaining({ name: "pdl", status: "skipped", error: "not asked: the time budget was spent" }),
    ]));
    expect(body.next_steps[0]).toContain('"force": true');

    const stored = expectOk(await slow.as(ws).get(`/enrich?leadId=${id}`));
    expect(stored).toMatchObject({ status: "failed", error: body.error });
  });

  it("runs bulk leads side by side within one budget", async () => {
    const ws = await slow.signup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const email = `hang${i}@${uniqueDomain()}`;
      slow.people.set(email, { apollo: "hang" });
      ids.push(await createLead(slow.as(ws), { email }));
    }
    const started = Date.now();
    const body = expectOk(await slow.as(ws).post("/enrich/bulk", { leadIds: ids }));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(body).toMatchObject({ succeeded: 0, failed: 3 });
    for (const result of body.results) expect(result.error).toMatch(/time budget/);
  });

  it("refuses a second run of a lead that is being enriched with 409 and when to look again", async () => {
    const ws = await slow.signup();
    const email = `busy@${uniqueDomain()}`;
    slow.people.set(email, { apollo: "hang" });
    const id = await createLead(slow.as(ws), { email });
    // Apollo is asked only after the run has marked the lead enriching, and never answers.
    const askedApollo = slow.apollo.nextRequest((request) => (request.json as { email?: string } | undefined)?.email === email);
    const first = slow.as(ws).post("/enrich", { leadId: id });
    await within(askedApollo, { what: "the first run to ask Apollo about the lead" });
    const second = expectError(await slow.as(ws).post("/enrich", { leadId: id, force: true }), 409, "enrichment_in_progress");
    expect(second.hint).toContain(`GET /api/openclaw/enrich?leadId=${id}`);
    expect(expectOk(await first).status).toBe("failed");
  });
});

describe("the SSRF guard in the running app", () => {
  let guarded: EnrichmentStack;
  beforeAll(async () => {
    // Private networks off, and company websites looked up by name on port 80: the app's own
    // host resolver must find that "localhost" is loopback and refuse it.
    guarded = await startEnrichmentStack({
      ENRICHMENT_ALLOW_PRIVATE_NETWORK: "false",
      ENRICHMENT_WEBSITE_URL_TEMPLATE: "http://localhost/sites/{domain}/",
    });
  });
  afterAll(async () => {
    await guarded?.close();
  });

  it("resolves the website's host and refuses a loopback address without fetching it", async () => {
    const ws = await guarded.signup();
    const domain = uniqueDomain();
    guarded.sites[domain] = { html: homePage("Acme") };
    const id = await createLead(guarded.as(ws), { email: `jane@${domain}` });

    const body = expectOk(await guarded.as(ws).post("/enrich", { leadId: id }));
    const website = body.enrichment.sourceDetails.find((s: any) => s.name === "website");
    expect(website.status).not.toBe("found");
    expect(JSON.stringify(body.enrichment.raw.website)).toMatch(/localhost resolves to (127\.0\.0\.1|::1), which is not a public address/);
    expect(guarded.websites.requests).toHaveLength(0);
  });
});
