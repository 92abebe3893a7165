import { beforeAll, describe, expect, it } from "vitest";
import { as, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";

describe("lead tenancy: one workspace never sees or touches another's leads", () => {
  let orgA: Workspace;
  let orgB: Workspace;
  let a: ReturnType<typeof as>;
  let b: ReturnType<typeof as>;
  let live: any;
  let deleted: any;

  beforeAll(async () => {
    [orgA, orgB] = await Promise.all([signup(), signup()]);
    a = as(orgA);
    b = as(orgB);
    live = expectOk(await a.post("/leads", lead({ firstName: "Private", crmData: { secret: "a-only" }, tier: "high", status: "contacted" })), 201).lead;
    deleted = expectOk(await a.post("/leads", lead({ firstName: "Binned" })), 201).lead;
    expectOk(await a.delete(`/leads/${deleted.id}`));
    // Org B has leads of its own, so an empty list is not the only thing it could see.
    expectOk(await b.post("/leads", lead({ firstName: "Bee" })), 201);
  });

  const otherFields = () => ({ firstName: "Hijack", email: `hijack-${Date.now()}@example.com` });

  it("answers 404 to GET of the other org's lead ids", async () => {
    expectError(await b.get(`/leads/${live.id}`), 404, "not_found");
    expectError(await b.get(`/leads/${deleted.id}`), 404, "not_found");
  });

  it("answers 404 to PATCH by path and by body", async () => {
    expectError(await b.patch(`/leads/${live.id}`, { status: "stolen", crmData: { secret: null } }), 404, "not_found");
    expectError(await b.patch("/leads", { id: live.id, status: "stolen" }), 404, "not_found");
  });

  it("answers 404 to restoring the other org's soft-deleted lead", async () => {
    expectError(await b.patch(`/leads/${deleted.id}`, { restore: true }), 404, "not_found");
  });

  it("answers 404 to PUT", async () => {
    expectError(await b.put("/leads", { id: live.id, ...otherFields() }), 404, "not_found");
  });

  it("answers 404 to soft DELETE by path and with the legacy ?id=", async () => {
    expectError(await b.delete(`/leads/${live.id}`), 404, "not_found");
    expectError(await b.delete(`/leads?id=${live.id}`), 404, "not_found");
  });

  it("answers 404 to permanent DELETE, by path and legacy, live or soft-deleted", async () => {
    expectError(await b.delete(`/leads/${live.id}?permanent=true`), 404, "not_found");
    expectError(await b.delete(`/leads?id=${live.id}&permanent=true`), 404, "not_found");
    expectError(await b.delete(`/leads/${deleted.id}?permanent=true`), 404, "not_found");
  });

  it("leaves the owner's leads untouched after all of the other org's attempts", async () => {
    expect(expectOk(await a.get(`/leads/${live.id}`)).lead).toEqual(live);
    const stillDeleted = expectOk(await a.get(`/leads/${deleted.id}`)).lead;
    expect(stillDeleted.deletedAt).not.toBeNull();
    expect(expectOk(await a.get("/org/tier")).usage).toEqual({ leads: 2, activeLeads: 1, deletedLeads: 1, campaigns: 0, archivedCampaigns: 0 });
  });

  it("never lists the other org's leads, live or deleted, whatever the filter", async () => {
    const queries = ["", "?deletedOnly=true", "?tier=high", "?status=contacted", `?q=${encodeURIComponent(live.email)}`, "?q=private", "?limit=200"];
    for (const query of queries) {
      const reply = expectOk(await b.get(`/leads${query}`));
      const ids = reply.leads.map((l: { id: string }) => l.id);
      expect(ids).not.toContain(live.id);
      expect(ids).not.toContain(deleted.id);
    }
    const all = expectOk(await b.get("/leads"));
    expect(all.total).toBe(1);
    expect(all.leads[0].firstName).toBe("Bee");
    expect(expectOk(await b.get("/leads?deletedOnly=true")).total).toBe(0);
  });

  it("allows the same email in two workspaces (uniqueness is per workspace)", async () => {
    const reply = expectOk(await b.post("/leads", lead({ email: live.email })), 201);
    expect(reply.id).not.toBe(live.id);
    expect(expectOk(await a.get(`/leads/${live.id}`)).lead.email).toBe(live.email);
  });

  it("refuses the other org's stage id as unknown", async () => {
    const error = expectError(await b.post("/leads", lead({ stage: live.stageId })), 400, "unknown_stage");
    expect(error.hint).toContain("\"Prospects\"");
    expectError(await b.get(`/leads?stage=${live.stageId}`), 400, "unknown_stage");
  });

  it("counts only the caller's own leads in GET /org/tier", async () => {
    const tier = expectOk(await b.get("/org/tier"));
    expect(tier.orgId).toBe(orgB.orgId);
    expect(tier.usage.leads).toBe(2);
  });
});
