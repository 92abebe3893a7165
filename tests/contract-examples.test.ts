// The contract's own examples (../shared/spec/clawcrm-api.md) and the public skill's shapes,
// sent as written: an agent that knows only those must get what they promise.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { as, call, expectError, expectOk, signup, uniqueEmail } from "./support/api.ts";
import { type IntegrationStack, startIntegrationStack } from "./support/calendly-loopback.ts";

let calendly: IntegrationStack;

beforeAll(async () => {
  calendly = await startIntegrationStack({ recall: false });
});
afterAll(async () => {
  await calendly?.close();
});

describe("POST /integrations/calendly { personal_access_token }", () => {
  it("connects with the contract's field name", async () => {
    const ws = await calendly.signup();
    const body = expectOk(await calendly.as(ws).post("/integrations/calendly", { personal_access_token: calendly.calendly.goodToken }), 201);
    expect(body.connected).toBe(true);
    expect(body.warnings).toEqual([]);
    expect(calendly.calendly.subscriptions.has(body.subscriptionUri)).toBe(true);
  });

  it("keeps token as an alias, and says which one it used when both differ", async () => {
    const ws = await calendly.signup();
    expectOk(await calendly.as(ws).post("/integrations/calendly", { token: calendly.calendly.goodToken }), 201);
    const both = expectOk(await calendly.as(ws).post("/integrations/calendly",
      { personal_access_token: calendly.calendly.goodToken, token: "another-token-that-is-long-enough" }), 201);
    expect(both.warnings).toContain("Both personal_access_token and token were sent; personal_access_token was used");
  });

  it("asks for personal_access_token when neither is sent", async () => {
    const ws = await calendly.signup();
    const error = expectError(await calendly.as(ws).post("/integrations/calendly", {}), 400, "invalid_request");
    expect(error.fields).toEqual([expect.objectContaining({ field: "personal_access_token" })]);
    expect(error.hint).toMatch(/personal access token/i);
  });
});

describe("GET /playbooks?tier=high&stage=new", () => {
  it("answers 200 with the playbooks for new, high-tier leads", async () => {
    const ws = await signup();
    const body = expectOk(await as(ws).get("/playbooks?tier=high&stage=new"));
    expect(body.playbooks.map((p: { name: string }) => p.name)).toContain("New prospect opener");
    expect(body.playbooks.map((p: { name: string }) => p.name)).toContain("High-tier fast track");
    expect(body.playbooks.every((p: { tier: string | null }) => p.tier === null || p.tier === "high")).toBe(true);
  });
});

describe("POST /stages/sync-sources without a stage", () => {
  it("uses the workspace's default stage and says so", async () => {
    const ws = await signup();
    const body = expectOk(await as(ws).post("/stages/sync-sources", { name: "Website form", type: "form_webhook" }), 201);
    expect(body.syncSource.stage).toBe("Prospects");
    expect(body.warnings).toContainEqual(expect.stringMatching(/No stage given: the source's leads go to the workspace's default stage "Prospects"/));
  });

  it("follows the default stage the workspace has when it was moved", async () => {
    const ws = await signup();
    expectOk(await as(ws).put("/stages", { id: "Leads", isDefault: true }));
    const body = expectOk(await as(ws).post("/stages/sync-sources", { name: "Inbox", type: "gmail" }), 201);
    expect(body.syncSource.stage).toBe("Leads");
  });
});

describe("POST /signup with the public skill's body", () => {
  it("accepts { email, firstName, lastName, organizationName }, naming what it defaulted", async () => {
    const email = uniqueEmail("skill");
    const res = await call("POST", "/signup", { email, firstName: "Ada", lastName: "Lovelace", organizationName: "Analytical Engines" });
    const body = expectOk(res, 201);
    expect(body.apiKey).toMatch(/^rcm_live_/);
    expect(body.warnings).toEqual([
      "Store apiKey now: it is shown only once (a lost key is replaced by a link mailed to the owner: POST /api/openclaw/keys/recover).",
      'workspace_name was not given: the workspace is named "Analytical Engines"',
      'agent_name was not given: recorded as "agent"',
      'agent_platform was not given: recorded as "openclaw"',
    ]);
    const tier = expectOk(await as({ orgId: body.orgId, apiKey: body.apiKey, email }).get("/org/tier"));
    expect(tier.orgId).toBe(body.orgId);
  });

  it("still takes the contract's body as written, without warnings beyond the key", async () => {
    const body = expectOk(await call("POST", "/signup", {
      email: uniqueEmail("contract"), workspace_name: "My Sales Pipeline", agent_name: "Your Name", agent_platform: "openclaw",
    }), 201);
    expect(body.warnings).toEqual(["Store apiKey now: it is shown only once (a lost key is replaced by a link mailed to the owner: POST /api/openclaw/keys/recover)."]);
  });

  it("names a workspace without an organization after its owner", async () => {
    const body = expectOk(await call("POST", "/signup", { email: uniqueEmail("owner"), firstName: "Grace", lastName: "Hopper" }), 201);
    expect(body.warnings).toContain('workspace_name was not given: the workspace is named "Grace Hopper"');
  });
});
