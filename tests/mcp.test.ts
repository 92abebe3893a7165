// The MCP server at /mcp, driven by the official SDK's own client over Streamable HTTP against
// the running test API: the tools are the contract's keyed operations, a call is the REST
// request (same replies, same refusals with their hints, same tenancy), and the key is
// checked before anything else.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { as, call, expectOk, lead, signup, type Workspace } from "./support/api.ts";
import { apolloPerson, type EnrichmentStack, homePage, startEnrichmentStack, uniqueDomain } from "./support/enrichment-stack.ts";

const clients: Client[] = [];

/** An SDK client connected to base's /mcp (or another path) with the workspace's key. */
async function connect(key: string, { base = inject("apiUrl"), path = "/mcp" } = {}): Promise<Client> {
  const client = new Client({ name: "vitest", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(path, base), { requestInit: { headers: { authorization: `Bearer ${key}` } } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

/** The JSON a resource read answered with. */
async function readJson(client: Client, uri: string) {
  const { contents } = await client.readResource({ uri });
  expect(contents[0]).toMatchObject({ uri, mimeType: "application/json", text: expect.any(String) });
  return JSON.parse((contents[0] as { text: string }).text);
}

/** A tool call's result, with the JSON reply and the text the agent reads. */
async function tool(client: Client, name: string, args: Record<string, unknown> = {}) {
  const result = await client.callTool({ name, arguments: args });
  const content = result.content as { type: string; text: string }[];
  return { isError: result.isError === true, body: result.structuredContent as any, text: content.map((part) => part.text).join("\n") };
}

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();

let orgA: Workspace;
let orgB: Workspace;
let a: Client;
let b: Client;

beforeAll(async () => {
  [orgA, orgB] = await Promise.all([signup(), signup()]);
  [a, b] = await Promise.all([connect(orgA.apiKey), connect(orgB.apiKey)]);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
});

describe("MCP tools/list", () => {
  it("lists one tool per operation an agent calls with its key, named by its operationId", async () => {
    const document = (await call("GET", "/openapi.json")).body;
    const keyed: string[] = [];
    const open: string[] = [];
    for (const methods of Object.values<any>(document.paths)) {
      for (const operation of Object.values<any>(methods)) {
        const takesKey = operation.security.some((requirement: object) => "bearerAuth" in requirement);
        (takesKey ? keyed : open).push(operation.operationId);
      }
    }
    const { tools } = await a.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(keyed.sort());
    // Every resource of the contract is there.
    expect(keyed).toEqual(expect.arrayContaining([
      "getHealth", "setupWorkspace", "getOrgTier", "createLead", "getLead", "listLeads", "patchLeadById", "deleteLeadById",
      "listStages", "createStage", "createCustomField", "createNote", "logTouchpoint", "enrichLead", "bulkEnrichLeads",
      "scoreLeads", "listStalledLeads", "listPlaybooks", "recommendOrCreatePlaybook", "createAutomationRule",
      "getAnalytics", "createCampaign", "enrollLead", "sendSequence", "submitFeedback", "listFeedback",
    ]));
    // No key, or not an agent's to call: signup, public pages and beacons, webhook receivers, the mail worker.
    expect(open).toEqual(expect.arrayContaining(["signUp", "getSetupSchema", "receiveInboundEvent", "receiveCalendlyWebhook", "trackProposalEvent", "submitQuiz", "runMailWorker"]));
  });

  it("takes each tool's input schema from its route's zod schemas, as /openapi.json publishes them", async () => {
    const document = (await call("GET", "/openapi.json")).body;
    const { tools } = await a.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));

    const createLead = byName.get("createLead")!;
    const bodyRef: string = document.paths["/api/openclaw/leads"].post.requestBody.content["application/json"].schema.$ref;
    const body = document.components.schemas[bodyRef.split("/").pop()!];
    const { idempotencyKey, ...fields } = createLead.inputSchema.properties as Record<string, any>;
    expect(fields).toEqual(body.properties);
    expect(createLead.inputSchema.required).toEqual(body.required);
    expect(idempotencyKey).toMatchObject({ type: "string" });
    expect(createLead.description).toMatch(/idempotencyKey.* REST: POST \/api\/openclaw\/leads\.$/);

    // Path parameters and query parameters become arguments too.
    expect(byName.get("getLead")!.inputSchema).toMatchObject({ properties: { leadId: { type: "string" } }, required: ["leadId"] });
    expect(byName.get("deleteLeadById")!.inputSchema.properties).toHaveProperty("permanent");
    expect(byName.get("getAnalytics")!.inputSchema.properties).toMatchObject({ days: { description: expect.stringContaining("last N days") } });
    // Only routes that honour Idempotency-Key take idempotencyKey.
    expect(byName.get("enrichLead")!.inputSchema.properties).not.toHaveProperty("idempotencyKey");
    expect(byName.get("getLead")!.inputSchema.properties).not.toHaveProperty("idempotencyKey");
  });

  it("annotates reads as read-only, deletes as destructive and updates as idempotent", async () => {
    const { tools } = await a.listTools();
    const hints = (name: string) => tools.find((t) => t.name === name)!.annotations;
    expect(hints("getLead")).toMatchObject({ readOnlyHint: true, openWorldHint: false });
    expect(hints("listStalledLeads")).toMatchObject({ readOnlyHint: true });
    expect(hints("createLead")).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false });
    expect(hints("deleteLeadById")).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true });
    expect(hints("updateStage")).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: true });
    // Where the method does not tell: a POST that only reads, a POST that can remove stages,
    // and calls that reach outside the CRM.
    expect(hints("getSpiderWeb")).toMatchObject({ readOnlyHint: true });
    expect(hints("setupWorkspace")).toMatchObject({ destructiveHint: true, idempotentHint: true });
    expect(hints("enrichLead")).toMatchObject({ readOnlyHint: false, openWorldHint: true });
    expect(hints("sendSequence")).toMatchObject({ openWorldHint: true });
  });
});

describe("MCP tools/call", () => {
  it("creates a lead and reads it back, with the REST replies' warnings and next_steps", async () => {
    const input = lead({ firstName: "Mona", lastName: "Client" });
    const created = await tool(a, "createLead", input);
    expect(created.isError, created.text).toBe(false);
    expect(created.body).toMatchObject({ success: true, id: expect.stringMatching(/^rp_/), lead: { ...input, status: "new" }, next_steps: expect.any(Array) });
    expect(created.body.warnings).toContain("Auto-enrichment disabled — enrich explicitly");
    expect(JSON.parse(created.text)).toEqual(created.body);

    const fetched = await tool(a, "getLead", { leadId: created.body.id });
    expect(fetched.isError).toBe(false);
    expect(fetched.body.lead).toEqual(created.body.lead);
    expect(expectOk(await as(orgA).get(`/leads/${created.body.id}`)).lead).toEqual(created.body.lead);
  });

  it("passes idempotencyKey on as Idempotency-Key: a retry replays the first answer", async () => {
    const input = { ...lead(), idempotencyKey: randomUUID() };
    const first = await tool(a, "createLead", input);
    const retry = await tool(a, "createLead", input);
    expect(first.isError, first.text).toBe(false);
    expect(retry.body).toEqual(first.body);
  });

  it("lists a lead idle past its stage's threshold as stalled", async () => {
    const id = (await tool(a, "createLead", lead({ stage: "Prospects", firstName: "Idle" }))).body.id;
    const touched = await tool(a, "logTouchpoint", { leadId: id, type: "email", occurredAt: daysAgo(10) });
    expect(touched.isError, touched.text).toBe(false);
    const stalled = await tool(a, "listStalledLeads", { limit: 200 });
    expect(stalled.isError).toBe(false);
    expect(stalled.body.leads).toContainEqual(expect.objectContaining({ leadId: id, daysSinceTouch: 10, suggestedAction: "send_follow_up_email" }));
    expect(stalled.body.next_steps.length).toBeGreaterThan(0);
  });

  it("scores one lead and rescores all", async () => {
    const id = (await tool(a, "createLead", lead())).body.id;
    const one = await tool(a, "scoreLeads", { leadId: id });
    expect(one.isError, one.text).toBe(false);
    expect(one.body).toMatchObject({ leadId: id, score: expect.any(Number), label: expect.any(String), factors: expect.any(Array), suggestedAction: expect.any(String) });
    const all = await tool(a, "scoreLeads", { all: true });
    expect(all.body).toMatchObject({ success: true, scored: expect.any(Number), distribution: expect.any(Object) });
  });

  it("answers an unknown lead with a tool error carrying the code, message and hint", async () => {
    const missing = await tool(a, "getLead", { leadId: "rp_000000000000000000000000" });
    expect(missing.isError).toBe(true);
    expect(missing.text).toMatch(/^Error 404 not_found: .+\nHint: .+/);
    expect(missing.body).toMatchObject({ success: false, error: { code: "not_found", hint: expect.any(String) } });
  });

  it("refuses invalid arguments with the route's own validation and hint", async () => {
    const invalid = await tool(a, "createLead", { firstName: "No email" });
    expect(invalid.isError).toBe(true);
    expect(invalid.text).toMatch(/^Error 400 \S+: .+\nHint: .+/);
    expect(invalid.text).toMatch(/email/);
    const unknown = await tool(a, "getLead", { leadId: "rp_1", nonsense: true });
    expect(unknown.isError).toBe(true);
    expect(unknown.text).toMatch(/nonsense[\s\S]*Hint: This tool takes: leadId/);
  });

  it("answers an unknown tool with a protocol error", async () => {
    await expect(a.callTool({ name: "stealLeads", arguments: {} })).rejects.toThrow(/Unknown tool stealLeads/);
  });
});

describe("MCP tenancy and keys", () => {
  it("does not let org B read or change org A's lead", async () => {
    const id = (await tool(a, "createLead", lead({ firstName: "Private" }))).body.id;
    const read = await tool(b, "getLead", { leadId: id });
    expect(read.isError).toBe(true);
    expect(read.body.error.code).toBe("not_found");
    const patched = await tool(b, "patchLeadById", { leadId: id, status: "stolen" });
    expect(patched.body.error.code).toBe("not_found");
    const listed = await tool(b, "listLeads", { limit: 200 });
    expect(listed.body.leads.map((l: { id: string }) => l.id)).not.toContain(id);
    await expect(b.readResource({ uri: `crm://leads/${id}` })).rejects.toThrow(/not found/);
    expect((await tool(a, "getLead", { leadId: id })).body.lead.status).toBe("new");
  });

  it("refuses a missing or invalid key with 401 in the API's error shape, before any MCP processing", async () => {
    const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "curl", version: "1" } } };
    for (const authorization of [undefined, "Bearer rcm_live_nope", `Bearer rcm_live_${"0".repeat(64)}`]) {
      const res = await fetch(`${inject("apiUrl")}/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(initialize),
      });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
      expect(await res.json()).toMatchObject({ success: false, error: { code: expect.stringMatching(/_api_key$/), hint: expect.any(String) } });
    }
    await expect(connect(`rcm_live_${"0".repeat(64)}`)).rejects.toThrow(/401|invalid_api_key/);
  });

  it("accepts the key in x-api-key as the REST API does", async () => {
    const client = new Client({ name: "vitest", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", inject("apiUrl")), { requestInit: { headers: { "x-api-key": orgA.apiKey } } }));
    clients.push(client);
    expect((await tool(client, "getOrgTier")).body).toMatchObject({ success: true });
  });
});

describe("MCP over HTTP", () => {
  it("answers GET and DELETE with 405: the server is stateless and opens no event stream", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(`${inject("apiUrl")}/mcp`, { method, headers: { authorization: `Bearer ${orgA.apiKey}`, accept: "text/event-stream" } });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
      expect((await res.json()).error.code).toBe("method_not_allowed");
    }
  });

  it("is served under the Edge Function prefix as well", async () => {
    const client = await connect(orgA.apiKey, { path: "/openclaw/mcp" });
    expect((await tool(client, "getHealth")).body).toMatchObject({ success: true, status: "ok" });
  });
});

describe("MCP resources and prompts", () => {
  it("reads the pipeline summary: stages with lead counts, the period's numbers and the stalled count", async () => {
    const ws = await signup();
    const client = await connect(ws.apiKey);
    await tool(client, "createLead", lead({ stage: "Prospects" }));
    const { resources } = await client.listResources();
    expect(resources).toContainEqual(expect.objectContaining({ uri: "crm://pipeline", mimeType: "application/json" }));
    const summary = await readJson(client, "crm://pipeline");
    expect(summary.stages.find((s: { name: string }) => s.name === "Prospects")).toMatchObject({ leadCount: 1 });
    expect(summary).toMatchObject({ stalledLeads: 0, analytics: { totalLeads: 1, period: { days: 30 } }, warnings: expect.any(Array), next_steps: expect.any(Array) });
  });

  it("reads a lead by its crm://leads/{leadId} URI, and lists recent leads", async () => {
    const id = (await tool(a, "createLead", lead({ firstName: "Resource" }))).body.id;
    const { resourceTemplates } = await a.listResourceTemplates();
    expect(resourceTemplates).toContainEqual(expect.objectContaining({ uriTemplate: "crm://leads/{leadId}" }));
    expect(await readJson(a, `crm://leads/${id}`)).toMatchObject({ success: true, id, lead: { firstName: "Resource" } });
    const { resources } = await a.listResources();
    expect(resources).toContainEqual(expect.objectContaining({ uri: `crm://leads/${id}`, name: expect.stringContaining("Resource") }));
  });

  it("offers the daily pipeline review and the stalled-lead follow-up as prompts that name the tools", async () => {
    const { prompts } = await a.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(["daily_pipeline_review", "follow_up_stalled_leads"]);
    const review = await a.getPrompt({ name: "daily_pipeline_review", arguments: { days: "7" } });
    const reviewText = (review.messages[0]!.content as { text: string }).text;
    expect(reviewText).toMatch(/getHealth[\s\S]*getAnalytics \{ "days": 7 \}[\s\S]*listStalledLeads/);
    const followUp = await a.getPrompt({ name: "follow_up_stalled_leads", arguments: {} });
    expect((followUp.messages[0]!.content as { text: string }).text).toMatch(/listStalledLeads \{ "limit": 10 \}[\s\S]*logTouchpoint/);
  });
});

describe("MCP enrichment", () => {
  let stack: EnrichmentStack;
  beforeAll(async () => {
    stack = await startEnrichmentStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("enriches a lead synchronously through enrichLead", async () => {
    const ws = await stack.signup();
    const client = await connect(ws.apiKey, { base: stack.url });
    const domain = uniqueDomain();
    stack.sites[domain] = { html: homePage("Acme") };
    stack.mx[domain] = [`mx1.${domain}`];
    const email = `jane@${domain}`;
    stack.people.set(email, { apollo: apolloPerson(email) });
    const id = (await tool(client, "createLead", lead({ email, organizationName: null }))).body.id;

    const enriched = await tool(client, "enrichLead", { leadId: id });
    expect(enriched.isError, enriched.text).toBe(false);
    expect(enriched.body).toMatchObject({ success: true, leadId: id, status: "complete", title: "VP of Engineering", companyName: "Acme", next_steps: expect.any(Array) });
    expect((await tool(client, "getLead", { leadId: id })).body.lead).toMatchObject({ enrichmentStatus: "complete", companyName: "Acme" });
  });
});
