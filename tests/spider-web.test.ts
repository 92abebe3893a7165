// POST /enrich/spider-web: how a lead connects to the workspace's other leads — by
// referral, company domain, organisation, referrer, and the schools and former employers
// enrichment found (here from People Data Labs, played by a loopback server).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLead, expectError, expectOk, type Workspace } from "./support/api.ts";
import { type EnrichmentStack, pdlData, startEnrichmentStack, uniqueDomain } from "./support/enrichment-stack.ts";

let stack: EnrichmentStack;
let ws: Workspace;
const ids: Record<string, string> = {};

async function create(name: string, fields: Record<string, unknown>) {
  ids[name] = await createLead(stack.as(ws), { firstName: name, lastName: null, ...fields });
}

async function enrich(name: string) {
  expect(expectOk(await stack.as(ws).post("/enrich", { leadId: ids[name] })).status).toBe("complete");
}

beforeAll(async () => {
  stack = await startEnrichmentStack();
  ws = await stack.signup();
  const acme = uniqueDomain("acme");
  const partner = uniqueDomain("partner");
  const school = uniqueDomain("school");
  stack.people.set(`jane@${acme}`, {
    pdl: pdlData({
      job_company_name: "acme", job_company_website: acme,
      education: [{ school: { name: "rice university" } }],
      experience: [{ company: { name: "acme" }, is_primary: true }, { company: { name: "globex labs" }, is_primary: false }],
    }),
  });
  stack.people.set(`sue@${school}`, {
    pdl: pdlData({
      job_company_name: "sue co", job_company_website: school,
      education: [{ school: { name: "Rice University" } }],
      experience: [{ company: { name: "sue co" }, is_primary: true }],
    }),
  });

  await create("Jane", { email: `jane@${acme}`, organizationName: "Acme Clinic", crmData: { referredBy: `bob@${partner}` } });
  await create("Joe", { email: `joe@${acme}`, organizationName: null });
  await create("Ann", { email: `ann.${Date.now()}@gmail.com`, organizationName: "ACME clinic" });
  await create("Tom", { email: `tom@${uniqueDomain("other")}`, organizationName: null, crmData: { referrer: `Bob@${partner}` } });
  await create("Bob", { email: `bob@${partner}`, organizationName: null });
  await create("Sue", { email: `sue@${school}`, organizationName: null });
  await create("Max", { email: `max@${uniqueDomain("globex")}`, organizationName: "Globex Labs, Inc." });
  await create("Del", { email: `del@${acme}`, organizationName: null });
  await create("Lone", { email: `lone@${uniqueDomain("lone")}`, organizationName: "Nobody Else Ltd" });
  expectOk(await stack.as(ws).delete(`/leads/${ids.Del}`));
  await enrich("Jane");
  await enrich("Sue");
  // Another workspace's lead at the same company is never a connection.
  const other = await stack.signup();
  await createLead(stack.as(other), { email: `other@${acme}`, organizationName: "Acme Clinic" });
});
afterAll(async () => {
  await stack?.close();
});

describe("POST /enrich/spider-web", () => {
  it("finds every kind of connection, strongest first, with what connects them", async () => {
    const body = expectOk(await stack.as(ws).post("/enrich/spider-web", { leadId: ids.Jane }));
    expect(body.leadId).toBe(ids.Jane);
    expect(body.connections.map((c: any) => [c.name, c.connectionType, c.strength])).toEqual([
      ["Bob", "referral", 0.9],
      ["Joe", "same_company_domain", 0.8],
      ["Ann", "same_organization", 0.7],
      ["Max", "worked_at_their_company", 0.6],
      ["Tom", "same_referrer", 0.6],
      ["Sue", "shared_school", 0.4],
    ]);
    expect(body.connections).toContainEqual({ leadId: ids.Sue, name: "Sue", connectionType: "shared_school", detail: "Both studied at Rice University", strength: 0.4 });
    expect(body.connections).toContainEqual(expect.objectContaining({ leadId: ids.Max, detail: "This lead previously worked at Globex Labs, their company" }));
    expect(body.connections).toContainEqual(expect.objectContaining({ leadId: ids.Bob, detail: "They referred this lead" }));
    expect(body).toMatchObject({ totalConnections: 6, connectedLeads: 6 });
  });

  it("sees referrals from the referrer's side", async () => {
    const body = expectOk(await stack.as(ws).post("/enrich/spider-web", { leadId: ids.Bob }));
    expect(body.connections.map((c: any) => [c.name, c.connectionType, c.detail])).toEqual([
      ["Jane", "referral", "This lead referred them"],
      ["Tom", "referral", "This lead referred them"],
    ]);
  });

  it("returns the strongest connections up to limit, with the total and a hint about the rest", async () => {
    const body = expectOk(await stack.as(ws).post("/enrich/spider-web", { leadId: ids.Jane, limit: 2 }));
    expect(body.connections.map((c: any) => c.name)).toEqual(["Bob", "Joe"]);
    expect(body.totalConnections).toBe(6);
    expect(body.next_steps.join(" ")).toContain("4 weaker connections not shown");
  });

  it("answers an empty web for a lead with no connections, suggesting enrichment", async () => {
    const body = expectOk(await stack.as(ws).post("/enrich/spider-web", { leadId: ids.Lone }));
    expect(body).toMatchObject({ connections: [], totalConnections: 0, connectedLeads: 0 });
    expect(body.next_steps.join(" ")).toContain("POST /api/openclaw/enrich");
  });

  it("answers 404 for unknown and other workspaces' leads, 409 for a deleted lead, 400 for bad input, 401 without a key", async () => {
    expectError(await stack.as(ws).post("/enrich/spider-web", { leadId: "rp_000000000000000000000000" }), 404, "not_found");
    const outsider = await stack.signup();
    expectError(await stack.as(outsider).post("/enrich/spider-web", { leadId: ids.Jane }), 404, "not_found");
    expectError(await stack.as(ws).post("/enrich/spider-web", { leadId: ids.Del }), 409, "lead_deleted");
    expectError(await stack.as(ws).post("/enrich/spider-web", {}), 400, "invalid_request");
    expectError(await stack.as(ws).post("/enrich/spider-web", { leadId: ids.Jane, limit: 0 }), 400, "invalid_request");
    expectError(await stack.as({ ...ws, apiKey: "" }).post("/enrich/spider-web", { leadId: ids.Jane }), 401, "missing_api_key");
  });
});
