// POST /internal/mail/run: one mail worker tick (claim, send, record) over HTTP, for
// deployments where nothing runs `npm run worker` (on Supabase, pg_cron calls this Edge
// Function through pg_net every minute: app.schedule_mail_worker_http). Off by default: it
// exists only when MAIL_WORKER_SECRET is set (and the runtime supplied an SMTP sender), and
// answers only requests whose x-worker-secret header matches it (compared in constant time).
import { createRoute, z } from "@hono/zod-openapi";
import { sameKey } from "../http/admin.ts";
import { ApiError } from "../http/errors.ts";
import { workerSecret } from "../http/openapi.ts";
import { envelope, errorResponse, json, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { runTick, shouldEnqueue } from "../mail/worker.ts";

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
}).openapi("MailRunReply");

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
    const enqueue = await shouldEnqueue(c.var.sql, mail.config.worker.enqueue);
    const result = await runTick({ sql: c.var.sql, sender: mail.sender, config: mail.config, name: mail.name }, enqueue);
    return reply(c, result, {
      warnings: result.deferred ? [`${result.deferred} send(s) deferred by the SMTP server; they are retried with backoff`] : [],
    }, 200);
  });
