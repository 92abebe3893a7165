// POST /signup: a new workspace and its first API key, no auth needed; limited per client IP
// and per email domain (http/rate-limit.ts) before anything is written.
// GET /signup: how to sign up.
import { createRoute, z } from "@hono/zod-openapi";
import { asAnonymous } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import { enforceSignupLimits } from "../http/rate-limit.ts";
import { commonErrors, conflictError, envelope, json, rateLimitedResponse, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";

// The contract's body is { email, workspace_name, agent_name, agent_platform }; the public
// skill's is { email, firstName, lastName, organizationName }. Both work: what one leaves out
// is defaulted and the reply's warnings name it.
const DEFAULT_AGENT_NAME = "agent";
const DEFAULT_AGENT_PLATFORM = "openclaw";

const SignupBody = z
  .object({
    email: z.email().max(320).openapi({ description: "Your human's email; one workspace per email.", example: "your-human@example.com" }),
    workspace_name: z.string().trim().min(1).max(200).optional()
      .openapi({ example: "My Sales Pipeline", description: "Default: organizationName, else the owner's name, else the email's domain." }),
    agent_name: z.string().trim().min(1).max(200).optional().openapi({ example: "Your Name", description: `Default: "${DEFAULT_AGENT_NAME}".` }),
    agent_platform: z.string().trim().min(1).max(100).optional().openapi({ example: "openclaw", description: `Default: "${DEFAULT_AGENT_PLATFORM}".` }),
    firstName: z.string().trim().max(200).optional(),
    lastName: z.string().trim().max(200).optional(),
    organizationName: z.string().trim().max(200).optional(),
  })
  .openapi("SignupRequest");

const SignupReply = envelope({
  orgId: z.string().openapi({ example: "org_3f9c0a1b2c3d4e5f6a7b8c9d" }),
  apiKey: z.string().openapi({ description: "Shown only here. Store it now." }),
  dashboardUrl: z.string(),
}).openapi("SignupReply");

const signupRoute = createRoute({
  operationId: "signUp",
  method: "post",
  path: "/signup",
  tags: ["Signup"],
  summary: "Create a workspace and get an API key (no auth)",
  security: [],
  request: jsonBody(SignupBody),
  responses: {
    201: json(SignupReply, "Workspace created."),
    ...conflictError,
    ...commonErrors,
    429: rateLimitedResponse("Too many signups from this address (signup-ip) or for this email domain (signup-domain; per address for free-mail domains): retry after Retry-After seconds."),
  },
});

const SignupInstructions = envelope({
  method: z.literal("POST"),
  endpoint: z.string(),
  required: z.array(z.string()),
  optional: z.array(z.string()),
  example: z.record(z.string(), z.string()),
  tiers: z.record(z.string(), z.string()),
});

const instructionsRoute = createRoute({
  operationId: "getSignupInstructions",
  method: "get",
  path: "/signup",
  tags: ["Signup"],
  summary: "How to sign up",
  security: [],
  responses: { 200: json(SignupInstructions, "Signup instructions.") },
});

export const signupRoutes = createRouter()
  .openapi(signupRoute, async (c) => {
    const body = c.req.valid("json");
    await enforceSignupLimits(c, body.email);
    const ownerName = [body.firstName, body.lastName].filter(Boolean).join(" ");
    const workspaceName = body.workspace_name ?? (body.organizationName || ownerName || body.email.split("@")[1]!);
    const agentName = body.agent_name ?? DEFAULT_AGENT_NAME;
    const agentPlatform = body.agent_platform ?? DEFAULT_AGENT_PLATFORM;
    const defaulted = [
      ...(body.workspace_name === undefined ? [`workspace_name was not given: the workspace is named "${workspaceName}"`] : []),
      ...(body.agent_name === undefined ? [`agent_name was not given: recorded as "${agentName}"`] : []),
      ...(body.agent_platform === undefined ? [`agent_platform was not given: recorded as "${agentPlatform}"`] : []),
    ];
    const [created] = await asAnonymous(c.var.sql, (tx) => tx<{ orgId: string; apiKey: string }[]>`
      select org_id as "orgId", api_key as "apiKey"
      from app.signup(${body.email}, ${workspaceName}, ${agentName}, ${agentPlatform},
                      ${body.firstName ?? null}, ${body.lastName ?? null}, ${body.organizationName ?? null})`);
    return reply(c, { orgId: created!.orgId, apiKey: created!.apiKey, dashboardUrl: c.var.config.dashboardUrl }, {
      warnings: ["Store apiKey now: it is shown only once (a lost key is replaced by a link mailed to the owner: POST /api/openclaw/keys/recover).", ...defaulted],
      next_steps: [
        "GET /api/openclaw/health with Authorization: Bearer <apiKey> at the start of every session",
        "POST /api/openclaw/setup { projectSlug, org: { name, industry, bookingLink }, stages: [...] } to bootstrap the workspace (optional)",
        "POST /api/openclaw/leads { firstName, email } to add your first lead",
      ],
    }, 201);
  })
  .openapi(instructionsRoute, (c) =>
    reply(c, {
      method: "POST" as const,
      endpoint: "/api/openclaw/signup",
      required: ["email"],
      optional: ["workspace_name", "agent_name", "agent_platform", "firstName", "lastName", "organizationName"],
      example: { email: "your-human@example.com", workspace_name: "My Sales Pipeline", agent_name: "Your Name", agent_platform: "openclaw" },
      tiers: { free: "100 leads, 3 campaigns", pro: "1,000 leads, unlimited campaigns", ultra: "5,000 leads, unlimited everything" },
    }, { next_steps: ["POST /api/openclaw/signup with the body above; the reply carries your API key once"] }));
