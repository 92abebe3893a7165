// POST /internal/mail/run: one mail worker tick (claim, send, record) over HTTP, for
// deployments where nothing runs `npm run worker` (on Supabase, pg_cron calls this Edge
// Function through pg_net every minute: app.schedule_mail_worker_http). Off by default: it
// exists only when MAIL_WORKER_SECRET is set (and the runtime supplied an SMTP sender), and
// answers only requests whose x-worker-secret header matches it (compared in constant time).
// The same tick delivers due outbound webhooks (functions/webhooks/worker.ts) side by side
// with the mail, unless WEBHOOKS_WORKER=off; MAIL_WORKER=off leaves the mail out.
import { createRoute, z } from "@hono/zod-openapi";
import { asServiceRole } from "../db.ts";
import { sameKey } from "../http/admin.ts";
import { ApiError } from "../http/errors.ts";
import { workerSecret } from "../http/openapi.ts";
import { envelope, errorResponse, json, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { runTick, shouldEnqueue, type TickResult } from "../mail/worker.ts";
import { runWebhookTick, type WebhookTickResult } from "../webhooks/worker.ts";

/** Shorter secrets are treated as not configured: the route must not be guessable. */
export const MIN_WORKER_SECRET_LENGTH = 32;

const count = (description: string) => z.number().int().openapi({ description });
const RunReply = envelope({
  enqueued: count("Due campaign steps moved into the outbox by this tick (0 when pg_cron's enqueue-due-steps job does it)."),
  claimed: count("Outbox rows this tick claimed."),
  sent: count("Accepted by the SMTP server and recorded."),
  failed: count("Refused for good (SMTP 5xx); recorded as failed."),
  deferred: count("Transient failures (SMTP 4xx, network); retried later with backoff."),
  skipped: count("Rows whose lease was lost before sending."),
  webhooks: z.object({
    claimed: count("Webhook deliveries this tick claimed."),
    delivered: count("Answered 2xx by their endpoint."),
    retried: count("Failed attempts that will be retried (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h)."),
    failed: count("Failed for good: that was the last attempt."),
    disabled: count("Failed attempts that disabled their subscription after 24 hours of failures."),
  }).openapi({ description: "Outbound webhooks delivered by the same tick (all 0 with WEBHOOKS_WORKER=off)." }),
}).openapi("MailRunReply");

const noMail: TickResult = { enqueued: 0, claimed: 0, sent: 0, failed: 0, deferred: 0, skipped: 0 };
const noWebhooks: WebhookTickResult = { claimed: 0, delivered: 0, retried: 0, failed: 0, disabled: 0 };

const runRoute = createRoute({
  operationId: "runMailWorker",
  method: "post", path: "/internal/mail/run", tags: ["Email"],
  summary: "Run one mail worker tick (for pg_cron through pg_net; needs MAIL_WORKER_SECRET, not an API key)",
  // The x-worker-secret header is the workerSecret scheme: declared once, not also as a parameter.
  security: workerSecret,
  responses: {
    200: json(RunReply, "The tick ran; the counts say what it did."),
    403: errorResponse("Missing or wrong x-worker-secret."),
    404: errorResponse("MAIL_WORKER_SECRET is not set on this deployment: the route does not exist."),
    500: errorResponse("Our fault."),
  },
});

export const mailWorkerRoutes = createRouter()
  .openapi(runRoute, async (c) => {
    const mail = c.var.mailWorker;
    const secret = mail?.config.worker.secret;
    if (!mail || secret === undefined || secret.length < MIN_WORKER_SECRET_LENGTH) {
      throw new ApiError(404, "route_not_found", `No route for ${c.req.method} ${c.req.path}`,
        `The mail worker route is off: set MAIL_WORKER_SECRET (at least ${MIN_WORKER_SECRET_LENGTH} random characters, e.g. openssl rand -hex 32) to enable it.`);
    }
    if (!(await sameKey(c.req.header("x-worker-secret") ?? "", secret))) {
      throw new ApiError(403, "invalid_worker_secret", "The x-worker-secret header does not match this deployment's MAIL_WORKER_SECRET",
        "Send the deployment's MAIL_WORKER_SECRET in the x-worker-secret header (app.schedule_mail_worker_http does this for pg_cron).");
    }
    const webhooks = c.var.config.webhooks;
    // Side by side, so a slow SMTP server does not hold webhooks back (or the reverse);
    // both finish before the answer, and a failure of either is reported after both ran.
    // Each on a connection of its own acting as service_role (the outbox functions are granted
    // to it alone; the API's sessions act as anon).
    const [mailTick, webhookTick] = await Promise.allSettled([
      mail.config.worker.enabled === false ? noMail
        : asServiceRole(c.var.sql, async (sql) =>
          runTick({ sql, sender: mail.sender, config: mail.config, name: mail.name }, await shouldEnqueue(sql, mail.config.worker.enqueue))),
      webhooks.worker.enabled
        ? asServiceRole(c.var.sql, (sql) => runWebhookTick({ sql, config: webhooks, resolveHost: c.var.resolveHost, name: mail.name }))
        : noWebhooks,
    ]);
    if (mailTick.status === "rejected") throw mailTick.reason;
    if (webhookTick.status === "rejected") throw webhookTick.reason;
    const result = { ...mailTick.value, webhooks: webhookTick.value };
    return reply(c, result, {
      warnings: result.deferred ? [`${result.deferred} send(s) deferred by the SMTP server; they are retried with backoff`] : [],
    }, 200);
  });
