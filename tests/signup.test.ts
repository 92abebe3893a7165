import { describe, expect, it } from "vitest";
import { as, call, expectError, expectOk, lead, signup, uniqueEmail } from "./support/api.ts";

const body = (overrides: Record<string, unknown> = {}) => ({
  email: uniqueEmail("signup"),
  workspace_name: "My Sales Pipeline",
  agent_name: "vitest",
  agent_platform: "openclaw",
  ...overrides,
});

describe("POST /signup", () => {
  it("creates a workspace without auth and returns its API key once, with next steps", async () => {
    const res = await call("POST", "/signup", body());
    const reply = expectOk(res, 201);
    expect(reply.orgId).toMatch(/^org_[0-9a-f]{24}$/);
    expect(reply.apiKey).toMatch(/^rcm_live_[0-9a-f]{64}$/);
    expect(reply.dashboardUrl).toEqual(expect.any(String));
    expect(reply.warnings.join(" ")).toMatch(/shown only once/);
    expect(reply.next_steps.some((s: string) => s.includes("GET /api/openclaw/health"))).toBe(true);
    expect(reply.next_steps.some((s: string) => s.includes("POST /api/openclaw/setup"))).toBe(true);
    expect(reply.next_steps.some((s: string) => s.includes("POST /api/openclaw/leads"))).toBe(true);
  });

  it("issues a key that immediately works for its own workspace on the free tier", async () => {
    const ws = await signup();
    const res = await as(ws).get("/org/tier");
    const reply = expectOk(res);
    expect(reply).toMatchObject({ orgId: ws.orgId, tier: "free", limits: { leads: 100, campaigns: 3 } });
  });

  it("gives each signup its own workspace and key", async () => {
    const [a, b] = await Promise.all([signup(), signup()]);
    expect(a.orgId).not.toBe(b.orgId);
    expect(a.apiKey).not.toBe(b.apiKey);
  });

  it("starts the workspace with the default pipeline, new leads landing in Prospects", async () => {
    const ws = await signup();
    const created = expectOk(await as(ws).post("/leads", lead()), 201);
    expect(created.lead.stage).toBe("Prospects");
    for (const stage of ["Leads", "Engaged", "Contacted", "Negotiated", "Re-engage later", "Closed Won", "Closed Lost"]) {
      const res = await as(ws).post("/leads", lead({ stage }));
      expect(expectOk(res, 201).lead.stage).toBe(stage);
    }
  });

  it("accepts the optional owner fields", async () => {
    const res = await call("POST", "/signup", body({ firstName: "Ada", lastName: "Lovelace", organizationName: "Analytical Engines" }));
    expectOk(res, 201);
  });

  it("refuses a second workspace for the same email with 409", async () => {
    const first = body();
    expectOk(await call("POST", "/signup", first), 201);
    const res = await call("POST", "/signup", body({ email: first.email }));
    const error = expectError(res, 409, "email_already_registered");
    expect(error.hint).toMatch(/API key/);
  });

  it("treats the email case-insensitively when refusing a duplicate", async () => {
    const first = body();
    expectOk(await call("POST", "/signup", first), 201);
    const res = await call("POST", "/signup", body({ email: first.email.toUpperCase() }));
    expectError(res, 409, "email_already_registered");
  });

  it("refuses a body without an email with 400 naming it (the other fields have defaults)", async () => {
    const res = await call("POST", "/signup", {});
    const error = expectError(res, 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toEqual(["email"]);
  });

  it("refuses an invalid email with 400 naming the email field", async () => {
    const res = await call("POST", "/signup", body({ email: "not-an-email" }));
    const error = expectError(res, 400, "invalid_request");
    expect(error.fields).toEqual([expect.objectContaining({ field: "email" })]);
  });

  it("refuses malformed JSON with 400 and a hint about JSON", async () => {
    const res = await call("POST", "/signup", undefined, { raw: "{\"email\": " });
    const error = expectError(res, 400);
    expect(error.hint).toMatch(/JSON/);
  });
});

describe("GET /signup", () => {
  it("explains how to sign up without auth: required fields, example and tiers", async () => {
    const res = await call("GET", "/signup");
    const reply = expectOk(res);
    expect(reply).toMatchObject({ method: "POST", endpoint: "/api/openclaw/signup" });
    expect(reply.required).toEqual(["email"]);
    expect(reply.optional).toEqual(expect.arrayContaining(["workspace_name", "agent_name", "agent_platform", "organizationName"]));
    expect(Object.keys(reply.example)).toEqual(["email", "workspace_name", "agent_name", "agent_platform"]);
    expect(Object.keys(reply.tiers)).toEqual(expect.arrayContaining(["free", "pro", "ultra"]));
    expect(reply.tiers.free).toMatch(/100 leads/);
    expect(reply.next_steps.length).toBeGreaterThan(0);
  });

  it("gives an example body that signs up successfully", async () => {
    const { example } = expectOk(await call("GET", "/signup"));
    const res = await call("POST", "/signup", { ...example, email: uniqueEmail("example") });
    expectOk(res, 201);
  });
});
