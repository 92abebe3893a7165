import { describe, expect, it } from "vitest";
import { as, baseUrl, call, expectError, expectOk, signup } from "./support/api.ts";

// Every documented path, its methods and each operation's operationId. operationIds are part of
// the contract: generated clients name their methods after them, so renaming one breaks clients.
const ROUTES: Record<string, Record<string, string>> = {
  "/api/openclaw/signup": { get: "getSignupInstructions", post: "signUp" },
  "/api/openclaw/setup": { get: "getSetupSchema", post: "setupWorkspace" },
  "/api/openclaw/health": { get: "getHealth" },
  "/api/openclaw/org/tier": { get: "getOrgTier" },
  "/api/openclaw/keys": { get: "listApiKeys", post: "createApiKey" },
  "/api/openclaw/keys/{id}": { delete: "revokeApiKey" },
  "/api/openclaw/keys/{id}/rotate": { post: "rotateApiKey" },
  "/api/openclaw/keys/recover": { get: "showApiKeyRecoveryPage", post: "recoverApiKey" },
  "/api/openclaw/keys/recover/confirm": { post: "confirmApiKeyRecovery" },
  "/api/openclaw/members": { get: "listMembers", post: "inviteMember" },
  "/api/openclaw/members/{id}": { delete: "removeMember", patch: "updateMember" },
  "/api/openclaw/auth/sign-in": { get: "showSignInPage", post: "requestSignInLink" },
  "/api/openclaw/auth/callback": { get: "showSignInCallbackPage", post: "completeSignIn" },
  "/api/openclaw/auth/sign-out": { post: "signOut" },
  "/api/openclaw/auth/session": { get: "getSession" },
  "/api/openclaw/auth/sessions": { get: "listSessions" },
  "/api/openclaw/auth/sessions/{id}": { delete: "revokeSession" },
  "/api/openclaw/leads": { delete: "deleteLead", get: "listLeads", patch: "patchLead", post: "createLead", put: "updateLead" },
  "/api/openclaw/leads/{leadId}": { delete: "deleteLeadById", get: "getLead", patch: "patchLeadById" },
  "/api/openclaw/leads/stalled": { get: "listStalledLeads" },
  "/api/openclaw/leads/bulk-delete": { post: "bulkDeleteLeads" },
  "/api/openclaw/leads/batch": { post: "batchUpsertLeads" },
  "/api/openclaw/leads/export": { get: "exportLeads" },
  "/api/openclaw/leads/duplicates": { get: "listLeadDuplicates" },
  "/api/openclaw/leads/merge": { post: "mergeLeads" },
  "/api/openclaw/leads/search": { get: "searchLeads" },
  "/api/openclaw/imports": { get: "listImports", post: "importLeads" },
  "/api/openclaw/imports/{id}": { get: "getImport" },
  "/api/openclaw/imports/{id}/errors": { get: "getImportErrors" },
  "/api/openclaw/imports/{id}/resume": { post: "resumeImport" },
  "/api/openclaw/playbooks": { delete: "deletePlaybook", get: "listPlaybooks", post: "recommendOrCreatePlaybook", put: "updatePlaybook" },
  "/api/openclaw/leads/score": { post: "scoreLeads" },
  "/api/openclaw/stages": { delete: "deleteStage", get: "listStages", post: "createStage", put: "updateStage" },
  "/api/openclaw/stages/history": { get: "listStageHistory" },
  "/api/openclaw/stages/sync-sources": { delete: "deleteSyncSource", get: "listSyncSources", post: "createSyncSource", put: "updateSyncSource" },
  "/api/openclaw/inbound/{token}": { post: "receiveInboundEvent" },
  "/api/openclaw/fields": { delete: "deleteCustomField", get: "listCustomFields", post: "createCustomField", put: "updateCustomField" },
  "/api/openclaw/notes": { delete: "deleteNote", get: "listNotes", post: "createNote", put: "updateNote" },
  "/api/openclaw/touchpoints": { get: "listTouchpoints", post: "logTouchpoint" },
  "/api/openclaw/events": { get: "listEvents", post: "recordEvent" },
  "/api/openclaw/feedback": { get: "listFeedback", post: "submitFeedback" },
  "/api/openclaw/feedback/{id}": { patch: "updateFeedback" },
  "/api/openclaw/enrich": { get: "getEnrichment", post: "enrichLead" },
  "/api/openclaw/enrich/bulk": { post: "bulkEnrichLeads" },
  "/api/openclaw/enrich/spider-web": { post: "getSpiderWeb" },
  "/api/openclaw/analytics": { get: "getAnalytics" },
  "/api/openclaw/integrations/calendly": { delete: "disconnectCalendly", get: "getCalendlyConnection", post: "connectCalendly" },
  "/api/openclaw/integrations/calendly/webhook/{token}": { post: "receiveCalendlyWebhook" },
  "/api/openclaw/integrations/recall/webhook": { post: "receiveRecallWebhook" },
  "/api/openclaw/proposals": { get: "getProposal", put: "updateProposal" },
  "/api/tracking/events": { post: "trackProposalEvent" },
  "/api/tracking/proposal": { get: "getProposalTracking" },
  "/api/openclaw/campaigns": { get: "listCampaigns", post: "createCampaign" },
  "/api/openclaw/campaigns/settings": { get: "getCampaignSettings", put: "updateCampaignSettings" },
  "/api/openclaw/campaigns/{campaignId}": { delete: "archiveCampaign", get: "getCampaign", put: "updateCampaign" },
  "/api/openclaw/campaigns/{campaignId}/pause": { post: "pauseCampaign" },
  "/api/openclaw/campaigns/{campaignId}/resume": { post: "resumeCampaign" },
  "/api/openclaw/campaigns/{campaignId}/enroll": { post: "enrollLead" },
  "/api/openclaw/campaigns/{campaignId}/enrollments": { get: "listEnrollments" },
  "/api/openclaw/email/send-sequence": { post: "sendSequence" },
  "/api/openclaw/email/bounces": { post: "reportBounce" },
  "/api/openclaw/email/unsubscribe/{token}": { get: "getUnsubscribePage", post: "unsubscribe" },
  "/api/openclaw/internal/mail/run": { post: "runMailWorker" },
  "/api/openclaw/automation/rules": { delete: "deleteAutomationRule", get: "listAutomationRules", post: "createAutomationRule", put: "updateAutomationRule" },
  "/api/openclaw/automation/runs": { get: "listAutomationRuns" },
  "/api/openclaw/quizzes": { delete: "deleteQuiz", get: "listQuizzes", post: "createQuiz", put: "updateQuiz" },
  "/api/openclaw/quizzes/{id}/submissions": { get: "listQuizSubmissions" },
  "/api/openclaw/public/quizzes/{slug}/submissions": { post: "submitQuiz" },
  "/api/openclaw/webhooks": { get: "listWebhooks", post: "createWebhook" },
  "/api/openclaw/webhooks/event-types": { get: "listWebhookEventTypes" },
  "/api/openclaw/webhooks/{webhookId}": { delete: "deleteWebhook", get: "getWebhook", patch: "updateWebhook" },
  "/api/openclaw/webhooks/{webhookId}/rotate-secret": { post: "rotateWebhookSecret" },
  "/api/openclaw/webhooks/{webhookId}/deliveries": { get: "listWebhookDeliveries" },
  "/api/openclaw/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver": { post: "redeliverWebhook" },
};
// Routes that take no workspace key declare so (security: [] rather than nothing), or the
// credential they take instead. Inbound webhooks authenticate with the source's secret or a
// signature over the body, which no security scheme describes; the proposal beacon is posted
// by the public page (/p/{slug}, HTML, not in the document); quiz submissions and unsubscribe
// links are addressed by unguessable slugs and tokens; key recovery is for whoever lost every
// key (the mailed link's token is the secret). GET /health takes a key optionally
// (the empty requirement {}); the mail worker route (pg_cron through pg_net) takes the
// deployment's MAIL_WORKER_SECRET in x-worker-secret. Every route that takes a key also takes a
// member's browser session (the session cookie); signing in is open, and a member's own
// session routes take the cookie only.
const KEY = [{ bearerAuth: [] }, { apiKeyHeader: [] }, { sessionCookie: [] }];
const SESSION = [{ sessionCookie: [] }];
const NOT_THE_KEY: Record<string, unknown[]> = {
  "get /api/openclaw/signup": [], "post /api/openclaw/signup": [], "get /api/openclaw/setup": [],
  "get /api/openclaw/health": [{}, { bearerAuth: [] }, { apiKeyHeader: [] }],
  "get /api/openclaw/auth/sign-in": [], "post /api/openclaw/auth/sign-in": [],
  "get /api/openclaw/auth/callback": [], "post /api/openclaw/auth/callback": [],
  "post /api/openclaw/auth/sign-out": SESSION, "get /api/openclaw/auth/session": SESSION,
  "get /api/openclaw/auth/sessions": SESSION, "delete /api/openclaw/auth/sessions/{id}": SESSION,
  "get /api/openclaw/keys/recover": [], "post /api/openclaw/keys/recover": [], "post /api/openclaw/keys/recover/confirm": [],
  "post /api/openclaw/inbound/{token}": [],
  "post /api/openclaw/integrations/calendly/webhook/{token}": [], "post /api/openclaw/integrations/recall/webhook": [],
  "post /api/tracking/events": [],
  "get /api/openclaw/email/unsubscribe/{token}": [], "post /api/openclaw/email/unsubscribe/{token}": [],
  "post /api/openclaw/public/quizzes/{slug}/submissions": [],
  "post /api/openclaw/internal/mail/run": [{ workerSecret: [] }],
};
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
    for (const [path, operations] of Object.entries(ROUTES)) {
      expect(paths, path).toHaveProperty([path]);
      const documented = Object.keys(paths[path]).filter((m) => HTTP_METHODS.has(m)).sort();
      expect(documented, path).toEqual(Object.keys(operations).sort());
    }
    for (const path of Object.keys(paths)) expect(path).toMatch(/^\/api\/(openclaw|tracking)\//);
  });

  it("names every operation with its operationId, unchanged", async () => {
    const { paths } = (await call("GET", "/openapi.json")).body;
    const named = Object.fromEntries(Object.entries(ROUTES).map(([path, operations]) => [path,
      Object.fromEntries(Object.keys(operations).map((method) => [method, paths[path]?.[method]?.operationId]))]));
    expect(named).toEqual(ROUTES);
  });

  it("declares bearer and x-api-key security on every authenticated operation, and what the others take instead", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    expect(doc.components.securitySchemes).toMatchObject({
      bearerAuth: { type: "http", scheme: "bearer" },
      apiKeyHeader: { type: "apiKey", in: "header", name: "x-api-key" },
      sessionCookie: { type: "apiKey", in: "cookie", name: "openclaw_session" },
      workerSecret: { type: "apiKey", in: "header", name: "x-worker-secret" },
    });
    for (const [path, operations] of Object.entries(ROUTES)) {
      for (const method of Object.keys(operations)) {
        const operation = doc.paths[path][method];
        const label = `${method} ${path}`;
        if (label in NOT_THE_KEY) {
          expect(operation.security, label).toEqual(NOT_THE_KEY[label]);
        } else {
          expect(operation.security, label).toEqual(KEY);
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
