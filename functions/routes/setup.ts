// POST /setup: one-shot workspace bootstrap (org settings + pipeline), idempotent for
// the same body. GET /setup: the body's full schema with an example.
import { createRoute, z } from "@hono/zod-openapi";
import { jsonBody } from "../http/body.ts";
import { idempotency } from "../http/idempotency.ts";
import { bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";

const hexColor = z.string().regex(/^#[0-9A-Fa-f]{6}$/, "must be a hex colour like #1A2B3C");
const optionalText = (max: number) => z.string().trim().max(max).nullable().optional();

const SetupStage = z.strictObject({
  name: z.string().trim().min(1).max(100),
  order: z.number().int().min(0).max(1000).optional().openapi({ description: "Position in the pipeline, 0 first; defaults to the list position." }),
  color: hexColor.optional(),
  isDefault: z.boolean().optional().openapi({ description: "New leads land here. At most one; defaults to the first stage." }),
});

const SetupBody = z
  .strictObject({
    projectSlug: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "must be lowercase letters, digits and dashes").optional(),
    org: z.strictObject({
      name: z.string().trim().min(1).max(200).optional(),
      industry: optionalText(200),
      website: optionalText(2000),
      bookingLink: optionalText(2000),
      primaryColor: hexColor.nullable().optional(),
    }).optional(),
    stages: z.array(SetupStage).min(1).max(50).optional().openapi({ description: "Replaces the pipeline: stages are matched by name; stages left out are removed and their leads move to the default stage." }),
  })
  .openapi("SetupRequest");

const Stage = z.object({
  id: z.string(),
  name: z.string(),
  order: z.number().int(),
  color: z.string().nullable(),
  isDefault: z.boolean(),
}).openapi("Stage");

const OrgSettings = z.object({
  id: z.string(),
  name: z.string(),
  industry: z.string().nullable(),
  website: z.string().nullable(),
  bookingLink: z.string().nullable(),
  primaryColor: z.string().nullable(),
  projectSlug: z.string().nullable(),
  tier: z.string(),
}).openapi("OrgSettings");

const SetupReply = envelope({
  orgId: z.string(),
  org: OrgSettings,
  stages: z.array(Stage),
  stagesRemoved: z.array(z.string()),
  leadsMoved: z.number().int(),
}).openapi("SetupReply");

const setupRoute = createRoute({
  operationId: "setupWorkspace",
  method: "post",
  path: "/setup",
  tags: ["Setup"],
  summary: "One-shot workspace bootstrap",
  security: bearerAuth,
  middleware: [tenantTransaction, idempotency],
  request: jsonBody(SetupBody),
  responses: { 200: json(SetupReply, "The workspace as it now is."), ...conflictError, ...idempotencyError, ...commonErrors },
});

const SchemaReply = envelope({
  endpoint: z.string(),
  method: z.literal("POST"),
  schema: z.record(z.string(), z.unknown()).openapi({ description: "JSON Schema of the POST /setup body." }),
  example: z.record(z.string(), z.unknown()),
  notes: z.array(z.string()),
}).openapi("SetupSchemaReply");

const schemaRoute = createRoute({
  operationId: "getSetupSchema",
  method: "get",
  path: "/setup",
  tags: ["Setup"],
  summary: "The full schema of the setup body",
  security: [],
  responses: { 200: json(SchemaReply, "Schema and example.") },
});

const example = {
  projectSlug: "my-company",
  org: { name: "Acme Corp", industry: "SaaS", bookingLink: "https://calendly.com/acme/intro", primaryColor: "#2563EB" },
  stages: [
    { name: "Prospects", order: 0, isDefault: true }, { name: "Leads", order: 1 }, { name: "Engaged", order: 2 },
    { name: "Contacted", order: 3 }, { name: "Negotiated", order: 4 }, { name: "Re-engage later", order: 5 },
    { name: "Closed Won", order: 6 }, { name: "Closed Lost", order: 7 },
  ],
};

export const setupRoutes = createRouter()
  .openapi(setupRoute, async (c) => {
    const body = c.req.valid("json");
    const db = c.var.db;
    const [outcome] = await db<{ result: { leadsMoved: number; stagesRemoved: string[] } }[]>`
      select app.setup_workspace(${body.projectSlug ?? null}, ${body.org ? db.json(body.org) : null},
                                 ${body.stages ? db.json(body.stages) : null}) as result`;
    const [org, stages] = await Promise.all([
      db<z.infer<typeof OrgSettings>[]>`
        select id, name, industry, website, booking_link as "bookingLink", primary_color as "primaryColor",
               project_slug as "projectSlug", tier
        from app.orgs where id = ${c.var.orgId}`,
      db<z.infer<typeof Stage>[]>`
        select id, name, position as "order", color, is_default as "isDefault"
        from app.stages order by position, name`,
    ]);
    const { leadsMoved, stagesRemoved } = outcome!.result;
    return reply(c, { orgId: c.var.orgId, org: org[0]!, stages, stagesRemoved, leadsMoved }, {
      warnings: leadsMoved > 0
        ? [`${leadsMoved} lead(s) were in removed stages (${stagesRemoved.join(", ")}) and moved to the default stage`]
        : [],
      next_steps: ["POST /api/openclaw/leads { firstName, email } to add leads"],
    });
  })
  .openapi(schemaRoute, (c) =>
    reply(c, {
      endpoint: "/api/openclaw/setup",
      method: "POST" as const,
      schema: z.toJSONSchema(SetupBody) as Record<string, unknown>,
      example,
      notes: [
        "Every part is optional; send only what you want to change.",
        "stages replaces the pipeline by name: repeating the same body changes nothing.",
        "Stages left out are removed; their leads move to the default stage.",
        "Requires Authorization: Bearer rcm_live_… for POST.",
      ],
    }));
