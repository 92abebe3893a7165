import { beforeAll, describe, expect, it } from "vitest";
import { as, call, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";

const DEFAULT_STAGES = ["Prospects", "Leads", "Engaged", "Contacted", "Negotiated", "Re-engage later", "Closed Won", "Closed Lost"];

const contractExample = (slug: string) => ({
  projectSlug: slug,
  org: { name: "Acme Corp", industry: "SaaS", bookingLink: "https://calendly.com/acme/intro" },
  stages: [
    { name: "Prospects", order: 0, isDefault: true }, { name: "Leads", order: 1 }, { name: "Engaged", order: 2 },
    { name: "Contacted", order: 3 }, { name: "Negotiated", order: 4 }, { name: "Re-engage later", order: 5 },
    { name: "Closed Won", order: 6 }, { name: "Closed Lost", order: 7 },
  ],
});

const slug = () => `acme-${Math.random().toString(36).slice(2, 10)}`;

describe("GET /setup", () => {
  it("describes the setup body without auth: JSON schema, example and notes", async () => {
    const reply = expectOk(await call("GET", "/setup"));
    expect(reply).toMatchObject({ endpoint: "/api/openclaw/setup", method: "POST" });
    expect(Object.keys(reply.schema.properties)).toEqual(expect.arrayContaining(["projectSlug", "org", "stages"]));
    expect(reply.example.stages).toHaveLength(8);
    expect(reply.notes.length).toBeGreaterThan(0);
  });

  it("gives an example body that POST /setup accepts", async () => {
    const { example } = expectOk(await call("GET", "/setup"));
    const ws = await signup();
    const reply = expectOk(await as(ws).post("/setup", { ...example, projectSlug: slug() }));
    expect(reply.stages.map((s: { name: string }) => s.name)).toEqual(example.stages.map((s: { name: string }) => s.name));
  });
});

describe("POST /setup", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await signup();
  });

  it("requires an API key", async () => {
    expectError(await call("POST", "/setup", contractExample(slug())), 401, "missing_api_key");
  });

  it("applies the contract's example body: org settings, project slug and ordered pipeline", async () => {
    const projectSlug = slug();
    const reply = expectOk(await as(ws).post("/setup", contractExample(projectSlug)));
    expect(reply.orgId).toBe(ws.orgId);
    expect(reply.org).toMatchObject({
      id: ws.orgId, name: "Acme Corp", industry: "SaaS", bookingLink: "https://calendly.com/acme/intro", projectSlug, tier: "free",
    });
    expect(reply.stages.map((s: { name: string }) => s.name)).toEqual(DEFAULT_STAGES);
    expect(reply.stages.map((s: { order: number }) => s.order)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(reply.stages.filter((s: { isDefault: boolean }) => s.isDefault).map((s: { name: string }) => s.name)).toEqual(["Prospects"]);
    expect(reply.stagesRemoved).toEqual([]);
    expect(reply.leadsMoved).toBe(0);
    expect(reply.next_steps.some((s: string) => s.includes("POST /api/openclaw/leads"))).toBe(true);
  });

  it("changes nothing when the same body is sent again (stage ids are kept)", async () => {
    const body = contractExample(slug());
    const first = expectOk(await as(ws).post("/setup", body));
    const second = expectOk(await as(ws).post("/setup", body));
    expect(second.stages).toEqual(first.stages);
    expect(second.org).toEqual(first.org);
    expect(second.stagesRemoved).toEqual([]);
    expect(second.leadsMoved).toBe(0);
  });

  it("updates only the org settings when stages are left out", async () => {
    const other = await signup();
    const reply = expectOk(await as(other).post("/setup", { org: { industry: "Dental", primaryColor: "#1A2B3C" } }));
    expect(reply.org).toMatchObject({ industry: "Dental", primaryColor: "#1A2B3C" });
    expect(reply.stages.map((s: { name: string }) => s.name)).toEqual(DEFAULT_STAGES);
  });

  it("replaces the pipeline by name: kept stages keep their ids, removed stages' leads move to the new default", async () => {
    const org = await signup();
    const client = as(org);
    const before = expectOk(await client.post("/setup", {}));
    const engagedBefore = before.stages.find((s: { name: string }) => s.name === "Engaged");
    const inNegotiated = expectOk(await client.post("/leads", lead({ stage: "Negotiated" })), 201).id;
    const inEngaged = expectOk(await client.post("/leads", lead({ stage: "Engaged" })), 201).id;

    const reply = expectOk(await client.post("/setup", { stages: [{ name: "New", isDefault: true }, { name: "engaged", color: "#00FF00" }] }));
    expect(reply.stages.map((s: { name: string; order: number; isDefault: boolean }) => [s.name, s.order, s.isDefault]))
      .toEqual([["New", 0, true], ["engaged", 1, false]]);
    expect(reply.stages[1].id).toBe(engagedBefore.id);
    expect(reply.stages[1].color).toBe("#00FF00");
    expect(reply.stagesRemoved).toEqual(["Closed Lost", "Closed Won", "Contacted", "Leads", "Negotiated", "Prospects", "Re-engage later"]);
    expect(reply.leadsMoved).toBe(1);
    expect(reply.warnings.join(" ")).toMatch(/1 lead\(s\)/);

    expect(expectOk(await client.get(`/leads/${inNegotiated}`)).lead.stage).toBe("New");
    expect(expectOk(await client.get(`/leads/${inEngaged}`)).lead).toMatchObject({ stage: "engaged", stageId: engagedBefore.id });
    expect(expectOk(await client.post("/leads", lead()), 201).lead.stage).toBe("New");
  });

  it("makes the first stage the default when none is marked, and orders stages by list position", async () => {
    const org = await signup();
    const reply = expectOk(await as(org).post("/setup", { stages: [{ name: "Alpha" }, { name: "Beta" }, { name: "Gamma" }] }));
    expect(reply.stages.map((s: { name: string; order: number; isDefault: boolean }) => [s.name, s.order, s.isDefault]))
      .toEqual([["Alpha", 0, true], ["Beta", 1, false], ["Gamma", 2, false]]);
  });

  it("leaves another workspace's pipeline untouched", async () => {
    const [a, b] = await Promise.all([signup(), signup()]);
    expectOk(await as(b).post("/setup", { stages: [{ name: "Only" }] }));
    expect(expectOk(await as(a).post("/leads", lead({ stage: "Negotiated" })), 201).lead.stage).toBe("Negotiated");
    expect(expectOk(await as(a).post("/leads", lead()), 201).lead.stage).toBe("Prospects");
  });

  it("refuses more than one default stage with 400 and changes nothing", async () => {
    const org = await signup();
    const res = await as(org).post("/setup", { org: { industry: "Changed" }, stages: [{ name: "A", isDefault: true }, { name: "B", isDefault: true }] });
    expectError(res, 400, "several_default_stages");
    const after = expectOk(await as(org).post("/setup", {}));
    expect(after.stages.map((s: { name: string }) => s.name)).toEqual(DEFAULT_STAGES);
    expect(after.org.industry).toBeNull();
  });

  it("refuses duplicate stage names (case-insensitive) with 400", async () => {
    const res = await as(ws).post("/setup", { stages: [{ name: "Won" }, { name: "won" }] });
    expectError(res, 400, "duplicate_stage_names");
  });

  it("refuses an empty stages list with 400 naming the field", async () => {
    const error = expectError(await as(ws).post("/setup", { stages: [] }), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toContain("stages");
  });

  it("refuses a stage colour that is not #RRGGBB with 400 naming the field", async () => {
    const error = expectError(await as(ws).post("/setup", { stages: [{ name: "A", color: "red" }] }), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toContain("stages.0.color");
  });

  it("refuses an invalid projectSlug with 400", async () => {
    const error = expectError(await as(ws).post("/setup", { projectSlug: "Not A Slug" }), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toContain("projectSlug");
  });

  it("refuses unknown fields with 400 (the body is strict)", async () => {
    const error = expectError(await as(ws).post("/setup", { pipeline: [] }), 400, "invalid_request");
    expect(JSON.stringify(error.fields)).toMatch(/pipeline/);
  });

  it("refuses a projectSlug another workspace already uses with 409", async () => {
    const taken = slug();
    const [a, b] = await Promise.all([signup(), signup()]);
    expectOk(await as(a).post("/setup", { projectSlug: taken }));
    expectError(await as(b).post("/setup", { projectSlug: taken }), 409, "project_slug_taken");
  });

  it("refuses malformed JSON with 400 and a hint about JSON", async () => {
    const error = expectError(await as(ws).post("/setup", undefined, { raw: "{\"stages\": [" }), 400);
    expect(error.hint).toMatch(/JSON/);
  });
});
