import { beforeAll, describe, expect, it } from "vitest";
import { as, call, createLeads, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";
import { createCampaigns, setOrgTier } from "./support/db.ts";

const FREE_LIMIT = 100;

describe("GET /org/tier", () => {
  it("reports a new workspace's plan, limits, usage and upgrade link", async () => {
    const ws = await signup();
    const reply = expectOk(await as(ws).get("/org/tier"));
    expect(reply).toMatchObject({
      orgId: ws.orgId,
      tier: "free",
      limits: { leads: FREE_LIMIT, campaigns: 3 },
      usage: { leads: 0, activeLeads: 0, deletedLeads: 0 },
      upgrade_url: expect.stringMatching(/^https?:\/\//),
      warnings: [],
    });
  });

  it("requires an API key", async () => {
    expectError(await call("GET", "/org/tier"), 401, "missing_api_key");
  });

  it("counts soft-deleted leads against the plan until they are permanently deleted", async () => {
    const ws = await signup();
    const client = as(ws);
    const [first, second] = await createLeads(client, 3);
    expectOk(await client.delete(`/leads/${first}`));
    expectOk(await client.delete(`/leads/${second}`));
    expect(expectOk(await client.get("/org/tier")).usage).toEqual({ leads: 3, activeLeads: 1, deletedLeads: 2, campaigns: 0, archivedCampaigns: 0 });
    expectOk(await client.delete(`/leads/${first}?permanent=true`));
    expect(expectOk(await client.get("/org/tier")).usage).toEqual({ leads: 2, activeLeads: 1, deletedLeads: 1, campaigns: 0, archivedCampaigns: 0 });
  });
});

describe("free tier lead limit (100)", () => {
  let ws: Workspace;
  let ids: string[];
  beforeAll(async () => {
    ws = await signup();
    ids = await createLeads(as(ws), FREE_LIMIT);
  });

  it("warns on GET /org/tier once usage nears the limit", async () => {
    const reply = expectOk(await as(ws).get("/org/tier"));
    expect(reply.usage.leads).toBe(FREE_LIMIT);
    expect(reply.warnings).toEqual([`${FREE_LIMIT} of ${FREE_LIMIT} leads used on the free tier`]);
    expect(reply.next_steps.join(" ")).toContain(reply.upgrade_url);
  });

  it("refuses the 101st lead with 402 naming the tier and limit, the upgrade_url and GET /org/tier", async () => {
    const tier = expectOk(await as(ws).get("/org/tier"));
    const res = await as(ws).post("/leads", lead());
    const error = expectError(res, 402, "lead_limit_reached");
    expect(error.message).toMatch(/\bfree\b/);
    expect(error.message).toMatch(/\b100\b/);
    expect(error.upgrade_url).toBe(tier.upgrade_url);
    expect(error.hint).toContain("GET /api/openclaw/org/tier");
    expect(res.body.next_steps).toContain("GET /api/openclaw/org/tier");
    expect(expectOk(await as(ws).get("/org/tier")).usage.leads).toBe(FREE_LIMIT);
  });

  it("keeps refusing after a soft delete (soft-deleted leads still count), and accepts once one is permanently deleted", async () => {
    const client = as(ws);
    expectOk(await client.delete(`/leads/${ids[0]}`));
    expectError(await client.post("/leads", lead()), 402, "lead_limit_reached");
    expect(expectOk(await client.get("/org/tier")).usage).toEqual({ leads: FREE_LIMIT, activeLeads: FREE_LIMIT - 1, deletedLeads: 1, campaigns: 0, archivedCampaigns: 0 });

    expectOk(await client.delete(`/leads/${ids[0]}?permanent=true`));
    expectOk(await client.post("/leads", lead()), 201);
    expectError(await client.post("/leads", lead()), 402, "lead_limit_reached");
    expect(expectOk(await client.get("/org/tier")).usage).toEqual({ leads: FREE_LIMIT, activeLeads: FREE_LIMIT, deletedLeads: 0, campaigns: 0, archivedCampaigns: 0 });
  });

  it("restoring a soft-deleted lead at the limit is allowed (it was already counted)", async () => {
    const client = as(ws);
    expectOk(await client.delete(`/leads/${ids[1]}`));
    const restored = expectOk(await client.patch(`/leads/${ids[1]}`, { restore: true }));
    expect(restored.lead.deletedAt).toBeNull();
    expect(expectOk(await client.get("/org/tier")).usage.leads).toBe(FREE_LIMIT);
  });

  it("limits each workspace separately: another free workspace can still create leads", async () => {
    const other = await signup();
    expectOk(await as(other).post("/leads", lead()), 201);
  });
});

describe("free tier lead limit under concurrency", () => {
  it("lets exactly 5 of 50 parallel creates through at 95 leads (soft-deleted included) and ends at exactly 100", async () => {
    const ws = await signup();
    const client = as(ws);
    const existing = await createLeads(client, 95);
    await Promise.all(existing.slice(0, 5).map(async (id) => expectOk(await client.delete(`/leads/${id}`))));
    expect(expectOk(await client.get("/org/tier")).usage).toEqual({ leads: 95, activeLeads: 90, deletedLeads: 5, campaigns: 0, archivedCampaigns: 0 });

    const results = await Promise.all(Array.from({ length: 50 }, () => client.post("/leads", lead())));
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 402);
    expect(created).toHaveLength(5);
    expect(refused).toHaveLength(45);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(5);
    for (const res of refused) expectError(res, 402, "lead_limit_reached");

    const tier = expectOk(await client.get("/org/tier"));
    expect(tier.usage).toEqual({ leads: 100, activeLeads: 95, deletedLeads: 5, campaigns: 0, archivedCampaigns: 0 });
    expect(expectOk(await client.get("/leads?limit=1")).total).toBe(95);
  });
});

describe("campaign usage on GET /org/tier", () => {
  it("counts campaigns against the limit, archived ones separately", async () => {
    const ws = await signup();
    await createCampaigns(ws.orgId, 2, "active");
    await createCampaigns(ws.orgId, 1, "archived");
    const reply = expectOk(await as(ws).get("/org/tier"));
    expect(reply.limits.campaigns).toBe(3);
    expect(reply.usage).toMatchObject({ campaigns: 2, archivedCampaigns: 1 });
    expect(reply.warnings).toEqual([]);
  });

  it("warns when the free tier's 3 campaigns are in use, pointing at the upgrade and at archiving", async () => {
    const ws = await signup();
    await createCampaigns(ws.orgId, 3);
    const reply = expectOk(await as(ws).get("/org/tier"));
    expect(reply.usage.campaigns).toBe(3);
    expect(reply.warnings).toEqual(["3 of 3 campaigns used on the free tier"]);
    expect(reply.next_steps).toEqual([`Ask your human to upgrade at ${reply.upgrade_url}, or archive a campaign you no longer run`]);
  });

  it("reports unlimited campaigns (null) on pro, without a warning however many there are", async () => {
    const ws = await signup();
    await setOrgTier(ws.orgId, "pro");
    await createCampaigns(ws.orgId, 5);
    const reply = expectOk(await as(ws).get("/org/tier"));
    expect(reply.limits.campaigns).toBeNull();
    expect(reply.usage.campaigns).toBe(5);
    expect(reply.warnings).toEqual([]);
  });

  it("only counts the caller's own campaigns", async () => {
    const [a, b] = await Promise.all([signup(), signup()]);
    await createCampaigns(a.orgId, 3);
    expect(expectOk(await as(b).get("/org/tier")).usage).toMatchObject({ campaigns: 0, archivedCampaigns: 0 });
  });
});
