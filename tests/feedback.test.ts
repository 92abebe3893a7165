import { serve, type ServerType } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, type Sql } from "../functions/db.ts";
import { createNodeApp } from "../functions/node/app.ts";
import { as, call, expectError, expectOk, signup, type Workspace } from "./support/api.ts";

/** The platform operator (ClawCRM EIR), authenticated with the deployment's admin key. */
const eir = {
  get: (path: string) => call("GET", path, undefined, { key: inject("eirAdminKey") }),
  patch: (path: string, json: unknown) => call("PATCH", path, json, { key: inject("eirAdminKey") }),
};

const bugReport = (overrides: Record<string, unknown> = {}) => ({
  type: "bug",
  agent: "vitest-agent",
  priority: "high",
  title: "API Error: POST /api/openclaw/enrich",
  description: "Enrichment answered 500 twice",
  context: { endpoint: "/api/openclaw/enrich", statusCode: 500, errorMessage: "boom" },
  ...overrides,
});

async function file(ws: Workspace, overrides: Record<string, unknown> = {}): Promise<string> {
  return expectOk(await as(ws).post("/feedback", bugReport(overrides)), 201).feedbackId;
}

describe("POST /feedback", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await signup();
  });

  it("files feedback and answers 201 with feedbackId, the item and how to follow up", async () => {
    const reply = expectOk(await as(ws).post("/feedback", bugReport()), 201);
    expect(reply.feedbackId).toMatch(/^fb_[0-9a-f]{24}$/);
    expect(reply.feedback).toMatchObject({
      id: reply.feedbackId,
      orgId: ws.orgId,
      type: "bug",
      agent: "vitest-agent",
      priority: "high",
      title: "API Error: POST /api/openclaw/enrich",
      description: "Enrichment answered 500 twice",
      context: { endpoint: "/api/openclaw/enrich", statusCode: 500, errorMessage: "boom" },
      status: "open",
      response: null,
      respondedAt: null,
      acknowledgedAt: null,
      unread: false,
    });
    expect(reply.next_steps).toEqual([
      `GET /api/openclaw/feedback?id=${reply.feedbackId} to check for a response`,
      "GET /api/openclaw/health at session start shows responses",
    ]);
    expect(reply.warnings).toEqual([]);
  });

  it("needs only type and title: priority defaults to medium, context to {}", async () => {
    const reply = expectOk(await as(ws).post("/feedback", { type: "question", title: "How do stages work?" }), 201);
    expect(reply.feedback).toMatchObject({ priority: "medium", context: {}, agent: null, description: null, status: "open" });
  });

  it("names unknown fields in warnings and ignores them", async () => {
    const reply = expectOk(await as(ws).post("/feedback", { type: "feature", title: "Bulk notes", severity: "big" }), 201);
    expect(reply.warnings).toEqual(["Ignored unknown field(s): severity"]);
  });

  it.each([
    [{ type: "bug" }, "title"],
    [{ title: "No type" }, "type"],
    [{ type: "complaint", title: "x" }, "type"],
    [{ type: "bug", title: "x", priority: "urgent" }, "priority"],
    [{ type: "bug", title: "x".repeat(301) }, "title"],
    [{ type: "bug", title: "x", context: "not an object" }, "context"],
  ])("refuses %j with 400 naming %s", async (payload, field) => {
    const error = expectError(await as(ws).post("/feedback", payload), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field)).toContain(field);
  });

  it("requires an API key", async () => {
    expectError(await call("POST", "/feedback", bugReport()), 401, "missing_api_key");
  });

  it("replays a retry with the same Idempotency-Key instead of filing twice", async () => {
    const other = await signup();
    const headers = { "idempotency-key": crypto.randomUUID() };
    const first = expectOk(await as(other).post("/feedback", bugReport(), { headers }), 201);
    const retry = await as(other).post("/feedback", bugReport(), { headers });
    expect(expectOk(retry, 201).feedbackId).toBe(first.feedbackId);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(expectOk(await as(other).get("/feedback")).total).toBe(1);
  });
});

describe("GET /feedback", () => {
  let a: Workspace;
  let b: Workspace;
  let bug: string;
  let question: string;
  let resolved: string;
  beforeAll(async () => {
    [a, b] = await Promise.all([signup(), signup()]);
    bug = await file(a, { type: "bug", title: "First" });
    question = await file(a, { type: "question", title: "Second" });
    resolved = await file(a, { type: "error", title: "Third" });
    expectOk(await eir.patch(`/feedback/${resolved}`, { status: "resolved", response: "Fixed in the latest deploy" }));
  });

  it("lists the workspace's feedback newest first, with total and paging", async () => {
    const reply = expectOk(await as(a).get("/feedback"));
    expect(reply.feedback.map((f: { id: string }) => f.id)).toEqual([resolved, question, bug]);
    expect(reply).toMatchObject({ total: 3, limit: 50, offset: 0 });
    const page = expectOk(await as(a).get("/feedback?limit=1&offset=1"));
    expect(page.feedback.map((f: { id: string }) => f.id)).toEqual([question]);
    expect(page.next_steps).toContain("GET /api/openclaw/feedback?offset=2&limit=1 for the next page");
  });

  it("filters by status, type, id and unread", async () => {
    const ids = async (query: string) => expectOk(await as(a).get(`/feedback?${query}`)).feedback.map((f: { id: string }) => f.id);
    expect(await ids("status=resolved")).toEqual([resolved]);
    expect(await ids("status=open")).toEqual([question, bug]);
    expect(await ids("type=question")).toEqual([question]);
    expect(await ids(`id=${bug}`)).toEqual([bug]);
    expect(await ids("unread=true")).toEqual([resolved]);
  });

  it("shows EIR's response and asks for an acknowledgement of unread ones", async () => {
    const reply = expectOk(await as(a).get(`/feedback?id=${resolved}`));
    expect(reply.feedback[0]).toMatchObject({ status: "resolved", response: "Fixed in the latest deploy", respondedBy: "eir", unread: true });
    expect(reply.next_steps).toEqual([`PATCH /api/openclaw/feedback/${resolved} { acknowledged: true }`]);
  });

  it("refuses an unknown filter value with 400", async () => {
    expectError(await as(a).get("/feedback?status=done"), 400, "invalid_request");
  });

  it("shows another workspace nothing of this one's feedback, even by id or orgId", async () => {
    expect(expectOk(await as(b).get("/feedback")).total).toBe(0);
    const byId = expectOk(await as(b).get(`/feedback?id=${bug}`));
    expect(byId.feedback).toEqual([]);
    expect(byId.warnings.join(" ")).toContain(bug);
    expect(expectOk(await as(b).get(`/feedback?orgId=${a.orgId}`)).total).toBe(0);
  });

  it("requires an API key", async () => {
    expectError(await call("GET", "/feedback"), 401, "missing_api_key");
  });

  it("lets the operator list every workspace's feedback and filter by orgId", async () => {
    const fromB = await file(b, { title: "From B" });
    const all = expectOk(await eir.get("/feedback?limit=200"));
    const allIds = all.feedback.map((f: { id: string }) => f.id);
    expect(allIds).toEqual(expect.arrayContaining([bug, question, resolved, fromB]));
    const onlyA = expectOk(await eir.get(`/feedback?orgId=${a.orgId}`));
    expect(onlyA.feedback.map((f: { id: string }) => f.id)).toEqual([resolved, question, bug]);
    expect(onlyA.feedback.every((f: { orgId: string }) => f.orgId === a.orgId)).toBe(true);
  });
});

describe("PATCH /feedback/{id}", () => {
  let a: Workspace;
  let b: Workspace;
  beforeAll(async () => {
    [a, b] = await Promise.all([signup(), signup()]);
  });

  it("lets the operator set status and response, recorded as EIR's", async () => {
    const id = await file(a);
    const reply = expectOk(await eir.patch(`/feedback/${id}`, { status: "resolved", response: "Enrichment is synchronous now. Re-enrich with force:true." }));
    expect(reply.feedbackId).toBe(id);
    expect(reply.feedback).toMatchObject({
      id, status: "resolved", response: "Enrichment is synchronous now. Re-enrich with force:true.", respondedBy: "eir", unread: true,
    });
    expect(reply.feedback.respondedAt).toEqual(expect.any(String));
    expect(reply.next_steps.join(" ")).toContain("GET /api/openclaw/health");
  });

  it("lets the operator change only the status, and name the responder", async () => {
    const id = await file(a);
    const statusOnly = expectOk(await eir.patch(`/feedback/${id}`, { status: "in_progress" }));
    expect(statusOnly.feedback).toMatchObject({ status: "in_progress", response: null, unread: false });
    const answered = expectOk(await eir.patch(`/feedback/${id}`, { response: "Workaround: retry after 2 s", responder: "EIR Alice" }));
    expect(answered.feedback).toMatchObject({ status: "in_progress", response: "Workaround: retry after 2 s", respondedBy: "EIR Alice" });
  });

  it("answers the operator 404 for an unknown id and 400 for an empty or invalid change", async () => {
    const id = await file(a);
    expectError(await eir.patch("/feedback/fb_000000000000000000000000", { status: "resolved" }), 404, "not_found");
    expectError(await eir.patch(`/feedback/${id}`, {}), 400, "nothing_to_change");
    expectError(await eir.patch(`/feedback/${id}`, { status: "done" }), 400, "invalid_request");
  });

  it("answers 401 to a bearer token that is neither a workspace key nor the operator key", async () => {
    const id = await file(a);
    expectError(await call("PATCH", `/feedback/${id}`, { status: "resolved" }, { key: "x".repeat(64) }), 401, "invalid_api_key");
    expect(expectOk(await as(a).get(`/feedback?id=${id}`)).feedback[0].status).toBe("open");
  });

  it("lets a workspace acknowledge its own response", async () => {
    const id = await file(a);
    expectOk(await eir.patch(`/feedback/${id}`, { status: "resolved", response: "Done" }));
    const reply = expectOk(await as(a).patch(`/feedback/${id}`, { acknowledged: true }));
    expect(reply.feedback).toMatchObject({ id, unread: false, status: "resolved", response: "Done" });
    expect(reply.feedback.acknowledgedAt).toEqual(expect.any(String));
  });

  it("warns when a workspace acknowledges an item that has no response yet", async () => {
    const id = await file(a);
    const reply = expectOk(await as(a).patch(`/feedback/${id}`, { acknowledged: true }));
    expect(reply.warnings.join(" ")).toContain("no response");
  });

  it.each([
    [{ status: "resolved" }],
    [{ response: "I fixed it myself" }],
    [{ acknowledged: true, status: "wont_fix" }],
  ])("refuses a workspace key that sends %j with 403 eir_only and changes nothing", async (payload) => {
    const id = await file(a);
    const error = expectError(await as(a).patch(`/feedback/${id}`, payload), 403, "eir_only");
    expect(error.hint).toContain(`PATCH /api/openclaw/feedback/${id} { "acknowledged": true }`);
    expect(expectOk(await as(a).get(`/feedback?id=${id}`)).feedback[0]).toMatchObject({ status: "open", response: null, acknowledgedAt: null });
  });

  it("refuses a workspace PATCH without acknowledged: true with 400", async () => {
    const id = await file(a);
    expectError(await as(a).patch(`/feedback/${id}`, {}), 400, "nothing_to_change");
    expectError(await as(a).patch(`/feedback/${id}`, { acknowledged: false }), 400, "invalid_request");
  });

  it("answers 404 when a workspace acknowledges another workspace's feedback, and leaves it unread", async () => {
    const id = await file(a);
    expectOk(await eir.patch(`/feedback/${id}`, { response: "Answer for A" }));
    expectError(await as(b).patch(`/feedback/${id}`, { acknowledged: true }), 404, "not_found");
    expect(expectOk(await as(a).get(`/feedback?id=${id}`)).feedback[0].unread).toBe(true);
  });

  it("answers 404 for an unknown id", async () => {
    expectError(await as(a).patch("/feedback/fb_000000000000000000000000", { acknowledged: true }), 404, "not_found");
  });

  it("requires a key", async () => {
    expectError(await call("PATCH", "/feedback/fb_000000000000000000000000", { acknowledged: true }), 401, "missing_api_key");
  });
});

describe("GET /health and feedback responses", () => {
  let a: Workspace;
  let b: Workspace;
  let id: string;
  beforeAll(async () => {
    [a, b] = await Promise.all([signup(), signup()]);
    id = await file(a, { title: "Enrichment failing for leads" });
  });

  it("reports nothing to do before EIR responds", async () => {
    const res = await as(a).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, status: "ok", authenticated: true, action_required: false, unread_responses: [], warnings: [], next_steps: [] });
  });

  it("reports the response as action_required with the contract's unread_responses and next_steps", async () => {
    expectOk(await eir.patch(`/feedback/${id}`, { status: "resolved", response: "Enrichment now synchronous. Re-enrich with force:true." }));
    const res = await as(a).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", action_required: true });
    expect(res.body.unread_responses).toEqual([{
      feedbackId: id,
      title: "Enrichment failing for leads",
      status: "resolved",
      response: "Enrichment now synchronous. Re-enrich with force:true.",
      acknowledge: `PATCH /api/openclaw/feedback/${id} { acknowledged: true }`,
    }]);
    expect(res.body.next_steps).toEqual(["Read unread_responses and act on them", "PATCH acknowledged:true when done"]);
  });

  it("reads the key from x-api-key as well", async () => {
    const res = await call("GET", "/health", undefined, { headers: { "x-api-key": a.apiKey } });
    expect(res.body.unread_responses.map((r: { feedbackId: string }) => r.feedbackId)).toEqual([id]);
  });

  it("shows another workspace nothing, and shows nothing without a key", async () => {
    expect((await as(b).get("/health")).body).toMatchObject({ authenticated: true, action_required: false, unread_responses: [] });
    expect((await call("GET", "/health")).body).toMatchObject({ authenticated: false, action_required: false, unread_responses: [] });
  });

  it("stops reporting it once acknowledged, and reports it again after a new response", async () => {
    expectOk(await as(a).patch(`/feedback/${id}`, { acknowledged: true }));
    expect((await as(a).get("/health")).body).toMatchObject({ action_required: false, unread_responses: [] });

    expectOk(await eir.patch(`/feedback/${id}`, { response: "Follow-up: also clear the enrichment cache." }));
    const again = (await as(a).get("/health")).body;
    expect(again.action_required).toBe(true);
    expect(again.unread_responses).toEqual([expect.objectContaining({ feedbackId: id, response: "Follow-up: also clear the enrichment cache." })]);
  });
});

describe("operator access when the deployment has no usable EIR_ADMIN_KEY", () => {
  const servers: ServerType[] = [];
  let sql: Sql;

  async function startApi(env: Record<string, string>): Promise<string> {
    const app = createNodeApp(sql, (name) => env[name], 0);
    const port = await new Promise<number>((resolve) => {
      servers.push(serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port)));
    });
    return `http://127.0.0.1:${port}`;
  }

  beforeAll(() => {
    sql = connect(inject("databaseUrl"), { max: 2 });
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    await sql.end({ timeout: 2 });
  });

  it.each([
    ["unset", {}],
    ["shorter than 32 characters", { EIR_ADMIN_KEY: "short-key" }],
  ])("answers 403 admin_not_configured with a hint when the key is %s", async (_label, env) => {
    const url = await startApi(env);
    const headers = { authorization: `Bearer ${"k".repeat(40)}`, "content-type": "application/json" };
    for (const [method, path, body] of [
      ["PATCH", "/api/openclaw/feedback/fb_000000000000000000000000", JSON.stringify({ status: "resolved" })],
      ["GET", "/api/openclaw/feedback", undefined],
    ] as const) {
      const res = await fetch(`${url}${path}`, { method, headers, body });
      const reply = await res.json();
      expect(res.status).toBe(403);
      expect(reply).toMatchObject({ success: false, error: { code: "admin_not_configured" } });
      expect(reply.error.hint).toContain("EIR_ADMIN_KEY");
    }
  });

  it("still serves workspace keys normally", async () => {
    const url = await startApi({});
    const ws = await signup();
    const res = await fetch(`${url}/api/openclaw/feedback`, { headers: { authorization: `Bearer ${ws.apiKey}` } });
    expect(res.status).toBe(200);
  });
});
