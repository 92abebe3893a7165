// GET /health: connectivity check at the start of every agent session, and the place
// where the platform's answers to an org's feedback surface (unread_responses).
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../context.ts";
import { ErrorSchema, json } from "../reply.ts";
import { validationHook } from "../validation.ts";

const UnreadResponse = z.object({
  feedbackId: z.string(),
  title: z.string(),
  status: z.string(),
  response: z.string(),
  acknowledge: z.string(),
});

const HealthReply = z
  .object({
    success: z.boolean(),
    status: z.enum(["ok", "unavailable"]),
    database: z.enum(["reachable", "unreachable"]),
    action_required: z.boolean(),
    unread_responses: z.array(UnreadResponse),
    warnings: z.array(z.string()),
    next_steps: z.array(z.string()),
  })
  .openapi("HealthReply");

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  tags: ["Health"],
  summary: "Connectivity check and unread notifications (call at every session start)",
  responses: {
    200: json(HealthReply, "The API and its database are up."),
    503: json(HealthReply, "The database did not answer in time."),
    500: json(ErrorSchema, "Our fault."),
  },
});

async function databaseAnswers(c: { var: AppEnv["Variables"] }): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), c.var.config.healthTimeoutMs);
  });
  const ping = c.var.sql`select 1`.then(() => true, () => false);
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(healthRoute, async (c) => {
    if (!(await databaseAnswers(c))) {
      return c.json({
        success: false,
        status: "unavailable" as const,
        database: "unreachable" as const,
        action_required: false,
        unread_responses: [],
        warnings: [`The database did not answer within ${c.var.config.healthTimeoutMs} ms`],
        next_steps: ["Retry GET /api/openclaw/health in a few seconds before other calls"],
      }, 503);
    }
    return c.json({
      success: true,
      status: "ok" as const,
      database: "reachable" as const,
      action_required: false,
      unread_responses: [],
      warnings: [],
      next_steps: [],
    }, 200);
  });
