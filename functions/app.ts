// The HTTP app: one Hono app built from web-standard APIs only, so the same code runs
// on Node (npm start, tests) and on Deno (the Supabase Edge Function).
import type { NotFoundHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppConfig } from "./config.ts";
import type { Sql } from "./db.ts";
import type { ResolveHost } from "./enrichment/http.ts";
import type { ResolveMx } from "./enrichment/types.ts";
import type { AppEnv } from "./http/context.ts";
import type { MailWorker } from "./mail/worker.ts";
import { ApiError, errorReply, handleError, payloadTooLarge } from "./http/errors.ts";
import { API_PREFIX, FUNCTION_PREFIX } from "./http/prefixes.ts";
import { apiTags, securitySchemes } from "./http/openapi.ts";
import { createRouter } from "./http/router.ts";
import { mcpRoutes } from "./mcp/server.ts";
import { analyticsRoutes } from "./routes/analytics.ts";
import { docsRoutes } from "./routes/docs.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { calendlyRoutes } from "./routes/calendly.ts";
import { automationRoutes } from "./routes/automation.ts";
import { enrichRoutes } from "./routes/enrich.ts";
import { eventsRoutes } from "./routes/events.ts";
import { campaignsRoutes } from "./routes/campaigns.ts";
import { emailPublicRoutes } from "./routes/email-public.ts";
import { enrollmentsRoutes } from "./routes/enrollments.ts";
import { feedbackRoutes } from "./routes/feedback.ts";
import { fieldsRoutes } from "./routes/fields.ts";
import { healthRoutes } from "./routes/health.ts";
import { importsRoutes } from "./routes/imports.ts";
import { inboundRoutes } from "./routes/inbound.ts";
import { keysRoutes } from "./routes/keys.ts";
import { membersRoutes } from "./routes/members.ts";
import { authRoutes } from "./routes/auth.ts";
import { leadRoutes } from "./routes/leads.ts";
import { mailWorkerRoutes } from "./routes/mail-worker.ts";
import { notesRoutes } from "./routes/notes.ts";
import { orgRoutes } from "./routes/org.ts";
import { playbooksRoutes } from "./routes/playbooks.ts";
import { scoreRoutes } from "./routes/score.ts";
import { recallRoutes } from "./routes/recall.ts";
import { proposalPageRoutes } from "./routes/proposal-page.ts";
import { proposalsRoutes } from "./routes/proposals.ts";
import { quizPageRoutes } from "./routes/quiz-page.ts";
import { sendSequenceRoutes } from "./routes/send-sequence.ts";
import { quizSubmissionRoutes } from "./routes/quiz-submissions.ts";
import { quizzesRoutes } from "./routes/quizzes.ts";
import { setupRoutes } from "./routes/setup.ts";
import { signupRoutes } from "./routes/signup.ts";
import { stagesRoutes } from "./routes/stages.ts";
import { stalledRoutes } from "./routes/stalled.ts";
import { syncSourcesRoutes } from "./routes/sync-sources.ts";
import { touchpointsRoutes } from "./routes/touchpoints.ts";
import { trackingRoutes } from "./routes/tracking.ts";
import { webhooksRoutes } from "./routes/webhooks.ts";

export interface AppDeps {
  sql: Sql;
  config: AppConfig;
  /** MX lookups for enrichment; each runtime entry supplies its own resolver. */
  resolveMx: ResolveMx;
  /** A/AAAA lookups for the website fetcher's SSRF guard, likewise per runtime. */
  resolveHost: ResolveHost;
  /** The mail worker behind POST /internal/mail/run; each runtime builds its SMTP sender. Unset = route off. */
  mailWorker?: MailWorker;
}

function contractApi(config: AppConfig) {
  const api = createRouter();
  const limitBody = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: (c) => {
      // The unread rest of the body is still on the socket: tell the client not to reuse it.
      c.header("Connection", "close");
      return errorReply(c, payloadTooLarge(config.maxBodyBytes));
    },
  });
  // A CSV import's upload has a limit of its own (routes/imports.ts). A GET or HEAD has no body
  // to limit, and bodyLimit asking for one builds the whole Request (headers, body stream, abort
  // signal) that the Node server otherwise never makes for it.
  api.use("*", (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD" || (method === "POST" && /\/imports$/.test(c.req.path))) return next();
    return limitBody(c, next);
  });
  // Literal paths before parameterised ones: /stages/sync-sources before /stages/{id},
  // and any /leads/{literal} (/leads/stalled) before the leads router's /leads/{leadId}.
  return api
    .route("/", signupRoutes)
    .route("/", setupRoutes)
    .route("/", healthRoutes)
    .route("/", orgRoutes)
    .route("/", keysRoutes)
    .route("/", membersRoutes)
    .route("/", authRoutes)
    .route("/", stalledRoutes)
    .route("/", scoreRoutes)
    .route("/", leadRoutes)
    .route("/", importsRoutes)
    .route("/", syncSourcesRoutes)
    .route("/", inboundRoutes)
    .route("/", stagesRoutes)
    .route("/", fieldsRoutes)
    .route("/", notesRoutes)
    .route("/", touchpointsRoutes)
    .route("/", playbooksRoutes)
    .route("/", eventsRoutes)
    .route("/", feedbackRoutes)
    .route("/", enrichRoutes)
    .route("/", analyticsRoutes)
    .route("/", calendlyRoutes)
    .route("/", recallRoutes)
    .route("/", proposalsRoutes)
    .route("/", campaignsRoutes)
    .route("/", enrollmentsRoutes)
    .route("/", sendSequenceRoutes)
    .route("/", emailPublicRoutes)
    .route("/", mailWorkerRoutes)
    .route("/", automationRoutes)
    .route("/", quizzesRoutes)
    .route("/", quizSubmissionRoutes)
    .route("/", webhooksRoutes);
}

const routeNotFound: NotFoundHandler<AppEnv> = (c) =>
  errorReply(c, new ApiError(404, "route_not_found", `No route for ${c.req.method} ${c.req.path}`,
    "Check the method and path against /openapi.json; contract routes live under /api/openclaw."));

function site(deps: AppDeps) {
  const app = createRouter();
  app.use("*", async (c, next) => {
    c.set("sql", deps.sql);
    c.set("config", deps.config);
    c.set("resolveMx", deps.resolveMx);
    c.set("resolveHost", deps.resolveHost);
    c.set("mailWorker", deps.mailWorker);
    await next();
  });
  app.route(API_PREFIX, contractApi(deps.config));
  // Proposal pages and their beacon are public and live outside the contract's prefix.
  app.route("/api/tracking", trackingRoutes);
  app.route("/", proposalPageRoutes);
  // Public pages people open in a browser (quizzes), outside the API.
  app.route("/", quizPageRoutes);
  // The dashboard for people (browser sessions), at /app/.
  app.route("/", dashboardRoutes);
  // MCP (Streamable HTTP): the contract's keyed routes as tools, each call the REST request itself.
  app.route("/mcp", mcpRoutes(app));

  for (const [name, scheme] of Object.entries(securitySchemes)) app.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
  app.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: "OpenClaw CRM API",
      version: "1.0.0",
      description: "Agent-first multi-tenant CRM implementing the ClawCRM agent API. Every reply carries success, warnings[] and next_steps[]; errors carry error.code, error.message and error.hint. POSTs accept an Idempotency-Key header.",
    },
    // Under the Edge Function the API lives below /…/openclaw, not at the origin's root.
    servers: [{ url: new URL(c.req.url).href.replace(/\/openapi\.json(\?.*)?$/, "") }],
    tags: [...apiTags],
  }));
  // Relative links, so the docs work at the root and under the Edge Function's path alike.
  app.route("/", docsRoutes);
  app.get("/", (c) => c.redirect("api-docs"));

  app.notFound(routeNotFound);
  app.onError((err, c) => handleError(err, c));
  return app;
}

/** The app as served: at the root, and again under the Edge Function's own prefix. */
export function createApp(deps: AppDeps) {
  const app = site(deps);
  const served = createRouter();
  // A mounted app's notFound is not consulted; the outermost app answers unmatched routes.
  served.notFound(routeNotFound);
  served.route(FUNCTION_PREFIX, app);
  served.route("/", app);
  return served;
}
