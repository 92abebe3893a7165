import { beforeAll, describe, expect, it } from "vitest";
import { as, createLeads, expectError, expectOk, lead, signup, uniqueEmail, type Workspace } from "./support/api.ts";
import { setOrgTier } from "./support/db.ts";

let ws: Workspace;
let client: ReturnType<typeof as>;

beforeAll(async () => {
  ws = await signup();
  client = as(ws);
});

const create = async (overrides: Record<string, unknown> = {}) => expectOk(await client.post("/leads", lead(overrides)), 201);
const fetchLead = async (id: string) => expectOk(await client.get(`/leads/${id}`)).lead;

describe("POST /leads", () => {
  it("creates a lead from firstName and email alone, in the default stage, not enriched", async () => {
    const email = uniqueEmail("minimal");
    const reply = expectOk(await client.post("/leads", { firstName: "Mina", email }), 201);
    expect(reply.id).toMatch(/^rp_[0-9a-f]{24}$/);
    expect(reply.lead).toMatchObject({
      id: reply.id, firstName: "Mina", email, lastName: null, organizationName: null, clinicName: null,
      businessType: null, practiceType: null, phone: null, tier: null, status: "new", stage: "Prospects",
      customFields: {}, crmData: {}, enrichmentStatus: "not_enriched", enrichment: null, deletedAt: null,
    });
    expect(new Date(reply.lead.createdAt).getTime()).not.toBeNaN();
  });

  it("answers enrichmentQueued: false with a warning and the explicit enrich call as next step", async () => {
    const reply = await create();
    expect(reply.enrichmentQueued).toBe(false);
    expect(reply.warnings).toContain("Auto-enrichment disabled — enrich explicitly");
    expect(reply.next_steps).toEqual([`POST /api/openclaw/enrich { "leadId": "${reply.id}" }`]);
  });

  it("stores every optional field and returns it", async () => {
    const input = lead({
      lastName: "Smith", organizationName: "Smith Dental", businessType: "dental", phone: "+1 555 0100", tier: "high",
      status: "contacted", stage: "Engaged", customFields: { source: "webinar" }, crmData: { specialty: "ortho", website: "https://smith.example" },
      title: "Owner", seniority: "c-level", companyName: "Smith Holdings", linkedinUrl: "https://linkedin.com/in/smith",
      companySize: "11-50", companyRevenue: "$5M",
    });
    const reply = await create(input);
    expect(reply.lead).toMatchObject({ ...input, clinicName: "Smith Dental", practiceType: "dental" });
    expect(reply.warnings).toEqual(["Auto-enrichment disabled — enrich explicitly"]);
    expect(await fetchLead(reply.id)).toEqual(reply.lead);
  });

  it("accepts clinicName and practiceType as aliases of organizationName and businessType", async () => {
    const reply = await create({ organizationName: undefined, clinicName: "Bright Smiles", practiceType: "orthodontics" });
    expect(reply.lead).toMatchObject({
      organizationName: "Bright Smiles", clinicName: "Bright Smiles", businessType: "orthodontics", practiceType: "orthodontics",
    });
    expect(reply.warnings).toEqual(["Auto-enrichment disabled — enrich explicitly"]);
  });

  it("prefers organizationName over a different clinicName and warns about it", async () => {
    const reply = await create({ organizationName: "Canonical", clinicName: "Alias" });
    expect(reply.lead.organizationName).toBe("Canonical");
    expect(reply.warnings.join(" ")).toMatch(/organizationName and clinicName/);
  });

  it("ignores unknown fields with a warning that names them", async () => {
    const reply = await create({ favouriteColour: "teal", shoeSize: 42 });
    expect(reply.warnings.some((w: string) => w.includes("favouriteColour") && w.includes("shoeSize"))).toBe(true);
    expect(reply.lead).not.toHaveProperty("favouriteColour");
    expect(await fetchLead(reply.id)).not.toHaveProperty("shoeSize");
  });

  it("accepts a stage by id as well as by name (case-insensitive)", async () => {
    const byName = await create({ stage: "closed won" });
    expect(byName.lead.stage).toBe("Closed Won");
    const byId = await create({ stage: byName.lead.stageId });
    expect(byId.lead).toMatchObject({ stage: "Closed Won", stageId: byName.lead.stageId });
  });

  it("refuses a duplicate email (case-insensitive) with 409 carrying the existing id in error.existingId and the hint", async () => {
    const email = uniqueEmail("dup");
    const first = await create({ email });
    const res = await client.post("/leads", lead({ email: email.toUpperCase() }));
    const error = expectError(res, 409, "lead_exists");
    expect(error.existingId).toBe(first.id);
    expect(error.hint).toContain(first.id);
    expect(res.body.next_steps.join(" ")).toContain(`PATCH /api/openclaw/leads/${first.id}`);
    const list = expectOk(await client.get(`/leads?q=${encodeURIComponent(email)}`));
    expect(list.total).toBe(1);
  });

  it("lets a new lead reuse the email of a soft-deleted lead", async () => {
    const email = uniqueEmail("reuse");
    const old = await create({ email });
    expectOk(await client.delete(`/leads/${old.id}`));
    const fresh = await create({ email });
    expect(fresh.id).not.toBe(old.id);
  });
});

describe("GET /leads", () => {
  let org: ReturnType<typeof as>;
  let alice: any, bob: any, carol: any, dan: any, eve: any;
  const tag = Math.random().toString(36).slice(2, 8);

  beforeAll(async () => {
    org = as(await signup());
    const make = async (fields: Record<string, unknown>) => expectOk(await org.post("/leads", lead(fields)), 201).lead;
    // Created one after another so "newest first" has a defined order.
    alice = await make({ firstName: "Alice", lastName: "Anders", organizationName: "Northwind Dental", status: "new", tier: "high", email: `alice.${tag}@northwind.example` });
    bob = await make({ firstName: "Bob", lastName: "Brown", organizationName: "Contoso Vet", status: "contacted", tier: "low", stage: "Engaged" });
    carol = await make({ firstName: "Carol", lastName: "Clark", organizationName: null, companyName: "Fabrikam 100%_Off", status: "contacted", tier: "high", stage: "Engaged" });
    dan = await make({ firstName: "Dan", lastName: "Dunn", organizationName: null, status: "won", tier: null, stage: "Closed Won" });
    eve = await make({ firstName: "Eve", lastName: "Evans", status: "contacted", tier: "high" });
    expectOk(await org.delete(`/leads/${eve.id}`));
  });

  const ids = (reply: any) => reply.leads.map((l: { id: string }) => l.id);

  it("lists live leads newest first with total, limit and offset", async () => {
    const reply = expectOk(await org.get("/leads"));
    expect(ids(reply)).toEqual([dan.id, carol.id, bob.id, alice.id]);
    expect(reply).toMatchObject({ total: 4, limit: 50, offset: 0, warnings: [], next_steps: [] });
    expect(reply.leads[0]).toMatchObject({ clinicName: dan.organizationName, practiceType: dan.businessType });
  });

  it("filters by status", async () => {
    const reply = expectOk(await org.get("/leads?status=contacted"));
    expect(ids(reply)).toEqual([carol.id, bob.id]);
    expect(reply.total).toBe(2);
  });

  it("filters by tier", async () => {
    expect(ids(expectOk(await org.get("/leads?tier=high")))).toEqual([carol.id, alice.id]);
    expect(ids(expectOk(await org.get("/leads?tier=low")))).toEqual([bob.id]);
  });

  it("combines filters", async () => {
    const reply = expectOk(await org.get("/leads?status=contacted&tier=high"));
    expect(ids(reply)).toEqual([carol.id]);
    expect(reply.total).toBe(1);
  });

  it("filters by stage name (case-insensitive) or stage id", async () => {
    expect(ids(expectOk(await org.get("/leads?stage=engaged")))).toEqual([carol.id, bob.id]);
    expect(ids(expectOk(await org.get(`/leads?stage=${dan.stageId}`)))).toEqual([dan.id]);
    expect(ids(expectOk(await org.get("/leads?stage=Prospects")))).toEqual([alice.id]);
  });

  it("refuses an unknown stage filter with 400 whose hint lists the stage names", async () => {
    const error = expectError(await org.get("/leads?stage=Nowhere"), 400, "unknown_stage");
    expect(error.hint).toContain("\"Prospects\"");
    expect(error.hint).toContain("\"Closed Lost\"");
  });

  it("searches first name, last name, email, organization and company with q, case-insensitively", async () => {
    const search = async (q: string) => ids(expectOk(await org.get(`/leads?q=${encodeURIComponent(q)}`)));
    expect(await search("ALICE")).toEqual([alice.id]);
    expect(await search("brown")).toEqual([bob.id]);
    expect(await search(`alice.${tag}@northwind`)).toEqual([alice.id]);
    expect(await search("contoso")).toEqual([bob.id]);
    expect(await search("fabrikam")).toEqual([carol.id]);
    expect(await search("no-such-person")).toEqual([]);
  });

  it("treats % and _ in q literally", async () => {
    const search = async (q: string) => expectOk(await org.get(`/leads?q=${encodeURIComponent(q)}`));
    expect(ids(await search("100%_off"))).toEqual([carol.id]);
    expect((await search("%")).total).toBe(1);
    expect((await search("_")).total).toBe(1);
  });

  it("pages with limit and offset and points at the next page", async () => {
    const first = expectOk(await org.get("/leads?limit=2"));
    expect(ids(first)).toEqual([dan.id, carol.id]);
    expect(first).toMatchObject({ total: 4, limit: 2, offset: 0 });
    expect(first.next_steps).toEqual(["GET /api/openclaw/leads?offset=2&limit=2 for the next page"]);
    const second = expectOk(await org.get("/leads?limit=2&offset=2"));
    expect(ids(second)).toEqual([bob.id, alice.id]);
    expect(second.next_steps).toEqual([]);
    const beyond = expectOk(await org.get("/leads?limit=2&offset=10"));
    expect(beyond).toMatchObject({ leads: [], total: 4, offset: 10 });
  });

  it("hides soft-deleted leads and shows only them with deletedOnly=true", async () => {
    expect(ids(expectOk(await org.get("/leads")))).not.toContain(eve.id);
    const deleted = expectOk(await org.get("/leads?deletedOnly=true"));
    expect(ids(deleted)).toEqual([eve.id]);
    expect(deleted.total).toBe(1);
    expect(deleted.leads[0].deletedAt).not.toBeNull();
    expect(ids(expectOk(await org.get("/leads?deletedOnly=true&tier=high")))).toEqual([eve.id]);
    expect(expectOk(await org.get("/leads?deletedOnly=false")).total).toBe(4);
  });

  it("refuses invalid paging and flag values with 400 naming the parameter", async () => {
    for (const [query, field] of [["limit=0", "limit"], ["limit=abc", "limit"], ["offset=-1", "offset"], ["deletedOnly=yes", "deletedOnly"]] as const) {
      const error = expectError(await org.get(`/leads?${query}`), 400, "invalid_request");
      expect(error.fields.map((f: { field: string }) => f.field)).toContain(field);
    }
  });
});

describe("GET /leads limit cap", () => {
  it("caps limit at 200 with a warning", async () => {
    const big = await signup();
    await setOrgTier(big.orgId, "pro");
    const bigClient = as(big);
    await createLeads(bigClient, 205, () => ({}), 25);
    const reply = expectOk(await bigClient.get("/leads?limit=1000"));
    expect(reply.leads).toHaveLength(200);
    expect(reply).toMatchObject({ total: 205, limit: 200, offset: 0 });
    expect(reply.warnings).toEqual(["limit capped at 200"]);
    expect(reply.next_steps).toEqual(["GET /api/openclaw/leads?offset=200&limit=200 for the next page"]);
    expect(expectOk(await bigClient.get("/leads?limit=1000&offset=200")).leads).toHaveLength(5);
  });
});

describe("GET /leads/{leadId}", () => {
  it("fetches one lead with the enrich call as next step", async () => {
    const created = await create({ crmData: { location: "Berlin" } });
    const reply = expectOk(await client.get(`/leads/${created.id}`));
    expect(reply.id).toBe(created.id);
    expect(reply.lead).toEqual(created.lead);
    expect(reply.next_steps).toEqual([`POST /api/openclaw/enrich { "leadId": "${created.id}" }`]);
  });

  it("answers 404 for an unknown id", async () => {
    const error = expectError(await client.get("/leads/rp_000000000000000000000000"), 404, "not_found");
    expect(error.message).toContain("rp_000000000000000000000000");
  });
});

describe("PUT /leads", () => {
  it("replaces the lead: fields left out are cleared, crmData and customFields replaced, status back to new", async () => {
    const created = await create({
      lastName: "Old", phone: "123", tier: "high", status: "contacted", title: "CEO",
      crmData: { specialty: "ortho", location: "Paris" }, customFields: { score: 5 },
    });
    const email = uniqueEmail("put");
    const reply = expectOk(await client.put("/leads", { id: created.id, firstName: "Newname", email, crmData: { website: "https://x.example" } }));
    expect(reply.id).toBe(created.id);
    expect(reply.lead).toMatchObject({
      id: created.id, firstName: "Newname", email, lastName: null, organizationName: null, phone: null, tier: null,
      status: "new", title: null, crmData: { website: "https://x.example" }, customFields: {},
    });
    expect(await fetchLead(created.id)).toEqual(reply.lead);
  });

  it("accepts the clinicName and practiceType aliases", async () => {
    const created = await create({ organizationName: "Before", businessType: "before" });
    const reply = expectOk(await client.put("/leads", { id: created.id, firstName: "A", email: created.lead.email, clinicName: "After Clinic", practiceType: "dental" }));
    expect(reply.lead).toMatchObject({ organizationName: "After Clinic", clinicName: "After Clinic", businessType: "dental", practiceType: "dental" });
  });

  it("answers 404 for an unknown id", async () => {
    expectError(await client.put("/leads", { id: "rp_000000000000000000000000", firstName: "X", email: uniqueEmail() }), 404, "not_found");
  });

  it("requires id, firstName and email", async () => {
    const error = expectError(await client.put("/leads", { lastName: "Only" }), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toEqual(expect.arrayContaining(["id", "firstName", "email"]));
  });

  it("refuses to take another live lead's email with 409 and its id", async () => {
    const [a, b] = [await create(), await create()];
    const error = expectError(await client.put("/leads", { id: b.id, firstName: "B", email: a.lead.email }), 409, "lead_exists");
    expect(error.existingId).toBe(a.id);
    expect((await fetchLead(b.id)).email).toBe(b.lead.email);
  });

  it("refuses to replace a soft-deleted lead with 409 pointing at restore", async () => {
    const created = await create();
    expectOk(await client.delete(`/leads/${created.id}`));
    const error = expectError(await client.put("/leads", { id: created.id, firstName: "X", email: created.lead.email }), 409, "lead_deleted");
    expect(error.hint).toContain("\"restore\": true");
  });
});

describe("PATCH /leads and /leads/{leadId}", () => {
  it("updates only the given fields, id in the body", async () => {
    const created = await create({ lastName: "Keep", phone: "111", status: "new" });
    const reply = expectOk(await client.patch("/leads", { id: created.id, status: "contacted", tier: "warm" }));
    expect(reply.id).toBe(created.id);
    expect(reply.lead).toMatchObject({ lastName: "Keep", phone: "111", status: "contacted", tier: "warm", email: created.lead.email });
  });

  it("updates only the given fields, id in the path", async () => {
    const created = await create({ lastName: "Keep", phone: "111" });
    const reply = expectOk(await client.patch(`/leads/${created.id}`, { phone: "222", clinicName: "Via Alias" }));
    expect(reply.lead).toMatchObject({ lastName: "Keep", phone: "222", organizationName: "Via Alias", clinicName: "Via Alias" });
  });

  it("merges crmData and customFields (keys set to null are deleted), by path", async () => {
    const created = await create({ crmData: { specialty: "ortho", location: "Paris", website: "a" }, customFields: { score: 1, owner: "kim" } });
    const reply = expectOk(await client.patch(`/leads/${created.id}`, {
      crmData: { location: "Lyon", website: null, clinic_type: "private" },
      customFields: { owner: null, region: "EU" },
    }));
    expect(reply.lead.crmData).toEqual({ specialty: "ortho", location: "Lyon", clinic_type: "private" });
    expect(reply.lead.customFields).toEqual({ score: 1, region: "EU" });
    expect((await fetchLead(created.id)).crmData).toEqual(reply.lead.crmData);
  });

  it("merges crmData and customFields, id in the body", async () => {
    const created = await create({ crmData: { a: 1, b: 2 }, customFields: { x: true } });
    const reply = expectOk(await client.patch("/leads", { id: created.id, crmData: { b: null, c: 3 }, customFields: { y: "z" } }));
    expect(reply.lead.crmData).toEqual({ a: 1, c: 3 });
    expect(reply.lead.customFields).toEqual({ x: true, y: "z" });
  });

  it("moves a lead to another stage by name", async () => {
    const created = await create();
    expect(expectOk(await client.patch(`/leads/${created.id}`, { stage: "Negotiated" })).lead.stage).toBe("Negotiated");
  });

  it("clears a nullable field sent as null", async () => {
    const created = await create({ phone: "999" });
    expect(expectOk(await client.patch(`/leads/${created.id}`, { phone: null })).lead.phone).toBeNull();
  });

  it("warns and changes nothing when the body has no lead fields", async () => {
    const created = await create();
    const reply = expectOk(await client.patch(`/leads/${created.id}`, {}));
    expect(reply.warnings).toContain("Nothing to change: the body had no lead fields");
    expect(reply.lead).toEqual(created.lead);
  });

  it("warns about unknown fields", async () => {
    const created = await create();
    const reply = expectOk(await client.patch(`/leads/${created.id}`, { status: "x", mystery: 1 }));
    expect(reply.warnings.join(" ")).toContain("mystery");
  });

  it("refuses to change the email to another live lead's (case-insensitive) with 409 and its id", async () => {
    const a = await create();
    const b = await create();
    const error = expectError(await client.patch(`/leads/${b.id}`, { email: a.lead.email.toUpperCase() }), 409, "lead_exists");
    expect(error.existingId).toBe(a.id);
    expect(error.hint).toContain(a.id);
  });

  it("answers 404 for an unknown id, in the path or in the body", async () => {
    expectError(await client.patch("/leads/rp_000000000000000000000000", { status: "x" }), 404, "not_found");
    expectError(await client.patch("/leads", { id: "rp_000000000000000000000000", status: "x" }), 404, "not_found");
  });

  it("requires id in the body for PATCH /leads", async () => {
    const error = expectError(await client.patch("/leads", { status: "x" }), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toContain("id");
  });

  it("refuses to edit a soft-deleted lead without restore, with 409 pointing at restore", async () => {
    const created = await create();
    expectOk(await client.delete(`/leads/${created.id}`));
    const error = expectError(await client.patch(`/leads/${created.id}`, { status: "contacted" }), 409, "lead_deleted");
    expect(error.hint).toContain(`PATCH /api/openclaw/leads/${created.id} { "restore": true }`);
  });
});

describe("DELETE, restore and permanent delete", () => {
  it("soft-deletes by path: hidden from the list, listed with deletedOnly, still fetchable with a warning", async () => {
    const created = await create();
    const reply = expectOk(await client.delete(`/leads/${created.id}`));
    expect(reply).toMatchObject({ id: created.id, deleted: true, permanent: false });
    expect(reply.next_steps).toContain(`PATCH /api/openclaw/leads/${created.id} { "restore": true } to undo`);

    const list = expectOk(await client.get(`/leads?q=${encodeURIComponent(created.lead.email)}`));
    expect(list.total).toBe(0);
    const deleted = expectOk(await client.get(`/leads?deletedOnly=true&q=${encodeURIComponent(created.lead.email)}`));
    expect(deleted.leads.map((l: { id: string }) => l.id)).toEqual([created.id]);

    const fetched = expectOk(await client.get(`/leads/${created.id}`));
    expect(fetched.lead.deletedAt).not.toBeNull();
    expect(fetched.warnings).toEqual(["This lead is soft-deleted"]);
    expect(fetched.next_steps[0]).toContain("\"restore\": true");
  });

  it("soft-deletes with the legacy ?id= form", async () => {
    const created = await create();
    const reply = expectOk(await client.delete(`/leads?id=${created.id}`));
    expect(reply).toMatchObject({ id: created.id, deleted: true, permanent: false });
    expect((await fetchLead(created.id)).deletedAt).not.toBeNull();
  });

  it("requires id for the legacy form", async () => {
    const error = expectError(await client.delete("/leads"), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toContain("id");
  });

  it("warns when the lead was already deleted", async () => {
    const created = await create();
    expectOk(await client.delete(`/leads/${created.id}`));
    const again = expectOk(await client.delete(`/leads/${created.id}`));
    expect(again.warnings).toEqual(["Lead was already deleted"]);
  });

  it("answers 404 when deleting an unknown id", async () => {
    expectError(await client.delete("/leads/rp_000000000000000000000000"), 404, "not_found");
    expectError(await client.delete("/leads?id=rp_000000000000000000000000"), 404, "not_found");
    expectError(await client.delete("/leads/rp_000000000000000000000000?permanent=true"), 404, "not_found");
  });

  it("restores with PATCH { restore: true }: back in the list, deletedAt cleared", async () => {
    const created = await create();
    expectOk(await client.delete(`/leads/${created.id}`));
    const reply = expectOk(await client.patch(`/leads/${created.id}`, { restore: true }));
    expect(reply.lead.deletedAt).toBeNull();
    expect(reply.warnings).toContain("Lead restored");
    const list = expectOk(await client.get(`/leads?q=${encodeURIComponent(created.lead.email)}`));
    expect(list.leads.map((l: { id: string }) => l.id)).toEqual([created.id]);
  });

  it("restores and updates in one PATCH", async () => {
    const created = await create({ status: "new" });
    expectOk(await client.delete(`/leads/${created.id}`));
    const reply = expectOk(await client.patch(`/leads/${created.id}`, { restore: true, status: "reopened", crmData: { note: "back" } }));
    expect(reply.lead).toMatchObject({ deletedAt: null, status: "reopened", crmData: { note: "back" } });
  });

  it("refuses to restore onto an email a live lead now has, with 409 and that lead's id", async () => {
    const email = uniqueEmail("restore");
    const old = await create({ email });
    expectOk(await client.delete(`/leads/${old.id}`));
    const replacement = await create({ email });
    const error = expectError(await client.patch(`/leads/${old.id}`, { restore: true }), 409, "lead_exists");
    expect(error.existingId).toBe(replacement.id);
    expect(error.hint).toContain(replacement.id);
    expect((await fetchLead(old.id)).deletedAt).not.toBeNull();
  });

  it("refuses restore: false as invalid input", async () => {
    const created = await create();
    const error = expectError(await client.patch(`/leads/${created.id}`, { restore: false }), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toContain("restore");
  });

  it("deletes for good with ?permanent=true: gone from GET and from deletedOnly", async () => {
    const created = await create();
    const reply = expectOk(await client.delete(`/leads/${created.id}?permanent=true`));
    expect(reply).toMatchObject({ id: created.id, deleted: true, permanent: true });
    expect(reply.warnings).toEqual(["Lead permanently deleted; this cannot be undone"]);
    expectError(await client.get(`/leads/${created.id}`), 404, "not_found");
    expect(expectOk(await client.get(`/leads?deletedOnly=true&q=${encodeURIComponent(created.lead.email)}`)).total).toBe(0);
    expectError(await client.patch(`/leads/${created.id}`, { restore: true }), 404, "not_found");
  });

  it("permanently deletes an already soft-deleted lead, also with the legacy form", async () => {
    const created = await create();
    expectOk(await client.delete(`/leads/${created.id}`));
    const reply = expectOk(await client.delete(`/leads?id=${created.id}&permanent=true`));
    expect(reply).toMatchObject({ id: created.id, deleted: true, permanent: true });
    expectError(await client.get(`/leads/${created.id}`), 404, "not_found");
  });
});
