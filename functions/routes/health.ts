// GET /health: connectivity check at the start of every agent session, and the place
// where the platform's answers to an org's feedback surface (unread_responses), and where
// an org hears that the CRM disabled one of its webhooks (warnings, next_steps).
// Public: without a key it only checks the database. With a workspace key it also lists
// that org's unread responses. A bad key does not fail the check (agents call health to
// test connectivity): the reply says ok, with a warning about the key.
import { createRoute, z } from "@hono/zod-openapi";
import type { Sql } from "../db.ts";
import { acknowledgeStep } from "../feedback/responses.ts";
import { optionalApiKey } from "../http/openapi.ts";
import { errorResponse, json } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { readApiKey, sha256Hex } from "../http/tenant.ts";

/** At most this many unread responses are listed; the rest wait for the next session. */
const MAX_UNREAD = 20;

const UnreadResponse = z.object({
  feedbackId: z.string(),
  title: z.string(),
  status: z.string(),
  response: z.string(),
  acknowledge: z.string().openapi({ example: "PATCH /api/openclaw/feedback/fb_xxx { acknowledged: true }" }),
});

const HealthReply = z
  .object({
    success: z.boolean(),
    status: z.enum(["ok", "unavailable"]),
    database: z.enum(["reachable", "unreachable"]),
    authenticated: z.boolean().openapi({ description: "Whether a valid workspace key was sent, i.e. whether unread_responses was checked." }),
    action_required: z.boolean(),
    unread_responses: z.array(UnreadResponse),
    warnings: z.array(z.string()),
    next_steps: z.array(z.string()),
  })
  .openapi("HealthReply");

const healthRoute = createRoute({
  operationId: "getHealth",
  method: "get",
  path: "/health",
  tags: ["Health"],
  summary: "Connectivity check and unread notifications (call at every session start, with your key)",
  security: optionalApiKey,
  responses: {
    200: json(HealthReply, "The API and its database are up; with a valid key, the workspace's unread responses."),
    503: json(HealthReply, "The database did not answer in time."),
    500: errorResponse("Our fault."),
  },
});

type Unread = z.infer<typeof UnreadResponse>;
type KeyOutcome = "none" | "invalid" | "revoked" | "valid";
interface DisabledWebhook {
  id: string;
  url: string;
  reason: string;
}
interface Check {
  key: KeyOutcome;
  unread: Unread[];
  /** The org's webhook subscriptions the CRM disabled after persistent delivery failures. */
  disabledWebhooks?: DisabledWebhook[];
}

/** The org's unread responses, read as the org (RLS) in one short transaction. */
async function unreadFor(sql: Sql, keyHash: string): Promise<Check> {
  return await sql.begin(async (tx) => {
    const [auth] = await tx<{ revoked: boolean }[]>`
      select a.revoked, case when not a.revoked then set_config('role', 'authenticated', true) end as role
      from app.authenticate_api_key(${keyHash}) a`;
    if (!auth) return { key: "invalid" as const, unread: [] };
    if (auth.revoked) return { key: "revoked" as const, unread: [] };
    const rows = await tx<Omit<Unread, "acknowledge">[]>`
      select id as "feedbackId", title, status, response
      from app.feedback where unread
      order by responded_at, id
      limit ${MAX_UNREAD + 1}`;
    const disabledWebhooks = await tx<DisabledWebhook[]>`
      select id, url, disabled_reason as reason from app.webhook_subscriptions
      where not enabled and disabled_reason is not null order by disabled_at, id limit 5`;
    return { key: "valid" as const, unread: rows.map((r) => ({ ...r, acknowledge: acknowledgeStep(r.feedbackId) })), disabledWebhooks };
  }) as Check;
}

async function check(sql: Sql, key: string | undefined): Promise<Check> {
  if (key === undefined) {
    await sql`select 1`;
    return { key: "none", unread: [] };
  }
  if (!/^rcm_live_[0-9a-f]{64}$/.test(key)) {
    await sql`select 1`;
    return { key: "invalid", unread: [] };
  }
  return unreadFor(sql, await sha256Hex(key));
}

/** The check, or undefined when the database fails or does not answer within the timeout. */
async function withinTimeout(work: Promise<Check>, ms: number): Promise<Check | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const keyWarnings: Record<KeyOutcome, string[]> = {
  none: [],
  invalid: ["The API key sent is not valid, so unread responses were not checked"],
  revoked: ["The API key sent has been revoked, so unread responses were not checked"],
  valid: [],
};
const keySteps: Record<KeyOutcome, string[]> = {
  none: ["Send your API key (Authorization: Bearer rcm_live_…) to GET /api/openclaw/health to see unread responses to your feedback"],
  invalid: ["Check you copied the whole key (rcm_live_ followed by 64 hex digits); other calls will answer 401 with it"],
  revoked: ["Use a current key for this workspace; other calls will answer 401 with this one"],
  valid: [],
};

export const healthRoutes = createRouter()
  .openapi(healthRoute, async (c) => {
    const result = await withinTimeout(check(c.var.sql, readApiKey(c)), c.var.config.healthTimeoutMs);
    if (!result) {
      return c.json({
        success: false,
        status: "unavailable" as const,
        database: "unreachable" as const,
        authenticated: false,
        action_required: false,
        unread_responses: [],
        warnings: [`The database did not answer within ${c.var.config.healthTimeoutMs} ms`],
        next_steps: ["Retry GET /api/openclaw/health in a few seconds before other calls"],
      }, 503);
    }
    const unread = result.unread.slice(0, MAX_UNREAD);
    const more = result.unread.length > MAX_UNREAD;
    const disabled = result.disabledWebhooks ?? [];
    return c.json({
      success: true,
      status: "ok" as const,
      database: "reachable" as const,
      authenticated: result.key === "valid",
      action_required: unread.length > 0,
      unread_responses: unread,
      warnings: [
        ...keyWarnings[result.key],
        ...(more ? [`More than ${MAX_UNREAD} unread responses: acknowledge these to see the rest (or GET /api/openclaw/feedback?unread=true)`] : []),
        ...disabled.map((w) => `Webhook ${w.id} (${w.url}) is disabled: ${w.reason}`),
      ],
      next_steps: [
        ...(unread.length > 0
          ? ["Read unread_responses and act on them", "PATCH acknowledged:true when done"]
          : keySteps[result.key]),
        ...disabled.map((w) => `Fix ${w.url}, then PATCH /api/openclaw/webhooks/${w.id} { "enabled": true } (GET /api/openclaw/webhooks/${w.id}/deliveries shows what failed)`),
      ],
    }, 200);
  });
