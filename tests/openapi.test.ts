import { describe, expect, it } from "vitest";
import { as, baseUrl, call, expectError, expectOk, signup } from "./support/api.ts";

const ROUTES: Record<string, string[]> = {
  "/api/openclaw/signup": ["get", "post"],
  "/api/openclaw/setup": ["get", "post"],
  "/api/openclaw/health": ["get"],
  "/api/openclaw/org/tier": ["get"],
  "/api/openclaw/leads": ["delete", "get", "patch", "post", "put"],
  "/api/openclaw/leads/{leadId}": ["delete", "get", "patch"],
  "/api/openclaw/leads/stalled": ["get"],
  "/api/openclaw/playbooks": ["delete", "get", "post", "put"],
  "/api/openclaw/leads/score": ["post"],
  "/api/openclaw/stages": ["delete", "get", "post", "put"],
  "/api/openclaw/stages/history": ["get"],
  "/api/openclaw/stages/sync-sources": ["delete", "get", "post", "put"],
  "/api/openclaw/inbound/{token}": ["post"],
  "/api/openclaw/fields": ["delete", "get", "post", "put"],
  "/api/openclaw/notes": ["delete", "get", "post", "put"],
  "/api/openclaw/touchpoints": ["get", "post"],
  "/api/openclaw/events": ["get", "post"],
  "/api/openclaw/feedback": ["get", "post"],
  "/api/openclaw/feedback/{id}": ["patch"],
  "/api/openclaw/enrich": ["get", "post"],
  "/api/openclaw/enrich/bulk": ["post"],
  "/api/openclaw/enrich/spider-web": ["post"],
  "/api/openclaw/analytics": ["get"],
  "/api/openclaw/integrations/calendly": ["delete", "get", "post"],
  "/api/openclaw/integrations/calendly/webhook/{token}": ["post"],
  "/api/openclaw/integrations/recall/webhook": ["post"],
  "/api/openclaw/proposals": ["get", "put"],
  "/api/tracking/events": ["post"],
  "/api/tracking/proposal": ["get"],
  "/api/openclaw/campaigns": ["get", "post"],
  "/api/openclaw/campaigns/settings": ["get", "put"],
  "/api/openclaw/campaigns/{campaignId}": ["delete", "get", "put"],
  "/api/openclaw/campaigns/{campaignId}/pause": ["post"],
  "/api/openclaw/campaigns/{campaignId}/resume": ["post"],
  "/api/openclaw/campaigns/{campaignId}/enroll": ["post"],
  "/api/openclaw/campaigns/{campaignId}/enrollments": ["get"],
  "/api/openclaw/email/send-sequence": ["post"],
  "/api/openclaw/email/bounces": ["post"],
  "/api/openclaw/email/unsubscribe/{token}": ["get", "post"],
  "/api/openclaw/internal/mail/run": ["post"],
  "/api/openclaw/automation/rules": ["delete", "get", "post", "put"],
  "/api/openclaw/automation/runs": ["get"],
  "/api/openclaw/quizzes": ["delete", "get", "post", "put"],
  "/api/openclaw/quizzes/{id}/submissions": ["get"],
  "/api/openclaw/public/quizzes/{slug}/submissions": ["post"],
};
// Public: no API key. Inbound webhooks authenticate with the source's secret instead; the
// proposal beacon is posted by the public page (/p/{slug}, HTML, not in the document); quiz
// submissions and unsubscribe links are addressed by unguessable slugs and tokens; the mail
// worker route (pg_cron through pg_net) authenticates with the deployment's MAIL_WORKER_SECRET.
const PUBLIC = new Set([
  "get /api/openclaw/signup", "post /api/openclaw/signup", "get /api/openclaw/setup", "get /api/openclaw/health",
  "post /api/openclaw/inbound/{token}",
  "post /api/openclaw/integrations/calendly/webhook/{token}", "post /api/openclaw/integrations/recall/webhook",
  "post /api/tracking/events",
  "get /api/openclaw/email/unsubscribe/{token}", "post /api/openclaw/email/unsubscribe/{token}",
  "post /api/openclaw/public/quizzes/{slug}/submissions",
  "post /api/openclaw/internal/mail/run",
]);
const HTTP_METHODS = new Set(["get", "post", "put", "patch", "delete", "head", "options", "trace"]);

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document", async () => {
    const res = await call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body.openapi).toMatch(/^3\.1\./);
    expect(res.body.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
  });

  it("lists every route under /api/openclaw (and the agent-facing /api/tracking) with its methods", async () => {
    const { paths } = (await call("GET", "/openapi.json")).body;
    expect(Object.keys(paths).sort()).toEqual(Object.keys(ROUTES).sort());
    for (const [path, methods] of Object.entries(ROUTES)) {
      expect(paths, path).toHaveProperty([path]);
      const documented = Object.keys(paths[path]).filter((m) => HTTP_METHODS.has(m)).sort();
      expect(documented, path).toEqual(methods);
    }
    for (const path of Object.keys(paths)) expect(path).toMatch(/^\/api\/(openclaw|tracking)\//);
  });

  it("declares bearer and x-api-key security on every authenticated operation, and none on public ones", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    expect(doc.components.securitySchemes).toMatchObject({
      bearerAuth: { type: "http", scheme: "bearer" },
      apiKeyHeader: { type: "apiKey", in: "header", name: "x-api-key" },
    });
    for (const [path, methods] of Object.entries(ROUTES)) {
      for (const method of methods) {
        const operation = doc.paths[path][method];
        const label = `${method} ${path}`;
        if (PUBLIC.has(label)) {
          expect(operation.security, label).toBeUndefined();
        } else {
          expect(operation.security, label).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
          expect(Object.keys(operation.responses), label).toContain("401");
        }
      }
    }
  });

  it("documents the path parameter and the request bodies", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    const getOne = doc.paths["/api/openclaw/leads/{leadId}"].get;
    expect(getOne.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: "leadId", in: "path", required: true })]));
    for (const [path, method] of [["/api/openclaw/leads", "post"], ["/api/openclaw/leads", "put"], ["/api/openclaw/leads", "patch"], ["/api/openclaw/setup", "post"], ["/api/openclaw/signup", "post"]] as const) {
      expect(doc.paths[path][method].requestBody?.content?.["application/json"], `${method} ${path}`).toBeDefined();
    }
  });
});

describe("GET /api-docs", () => {
  it("serves human-readable HTML docs whose spec link resolves to /openapi.json", async () => {
    const res = await call("GET", "/api-docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<html/i);
    const specUrl = /url: '([^']+)'/.exec(res.body)?.[1];
    expect(new URL(specUrl!, `${baseUrl()}/api-docs`).pathname).toBe("/openapi.json");
  });

  it("links the spec relative to the docs page, so it also works under the Edge Function prefix", async () => {
    const res = await call("GET", "/openclaw/api-docs");
    const specUrl = /url: '([^']+)'/.exec(res.body)?.[1];
    const resolved = new URL(specUrl!, `${baseUrl()}/openclaw/api-docs`).pathname;
    expect(resolved).toBe("/openclaw/openapi.json");
    const spec = await call("GET", resolved);
    expect(spec.body.openapi).toBe("3.1.0");
    expect(spec.body.servers[0].url).toBe(`${baseUrl()}/openclaw`);
  });
});

describe("routing", () => {
  it("serves the API under the Edge Function prefix /openclaw as well", async () => {
    const direct = await call("GET", "/api/openclaw/health");
    const prefixed = await call("GET", "/openclaw/api/openclaw/health");
    expect(prefixed.status).toBe(200);
    expect(prefixed.body).toEqual(direct.body);

    const ws = await signup();
    const tier = expectOk(await as(ws).get("/openclaw/api/openclaw/org/tier"));
    expect(tier.orgId).toBe(ws.orgId);
    expectError(await call("GET", "/openclaw/api/openclaw/org/tier"), 401, "missing_api_key");
  });

  it.each([
    ["GET", "/api/openclaw/no-such-route"],
    ["POST", "/api/openclaw/enrich/nowhere"],
    ["GET", "/no-such-page"],
    ["GET", "/openclaw/api/openclaw/no-such-route"],
    ["DELETE", "/api/openclaw/org/tier"],
  ])("answers an unknown route (%s %s) with a 404 error envelope", async (method, path) => {
    const error = expectError(await call(method, path), 404, "route_not_found");
    expect(error.message).toContain(path);
    expect(error.hint).toContain("/openapi.json");
  });
});
