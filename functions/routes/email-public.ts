// Email endpoints the outside world calls: the unsubscribe link in every campaign email
// (no API key: the per-lead token is the secret; GET shows a confirmation page, POST
// unsubscribes, including RFC 8058 one-click POSTs from mail clients) and the bounce
// webhook (the org's API key) that an email provider or the agent calls when mail bounced.
// Suppression, stopping enrolments and the events are app.unsubscribe / app.record_bounce.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { asAnonymous } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import type { AppEnv } from "../http/context.ts";
import { ApiError, toApiError } from "../http/errors.ts";
import { bearerAuth, commonErrors, envelope, json, rateLimitedResponse, reply } from "../http/reply.ts";
import { escapeHtml } from "../http/page.ts";
import { limitOpenRoute } from "../http/rate-limit.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { validationWithHints } from "../http/validation.ts";

const Token = z.object({ token: z.string().min(1).max(200).openapi({ param: { name: "token", in: "path" }, description: "The token from the email's unsubscribe link." }) });
const UnsubscribeReply = envelope({
  email: z.string(), organizationName: z.string(), unsubscribed: z.literal(true),
  alreadyUnsubscribed: z.boolean(), stoppedEnrollments: z.number().int(),
}).openapi("UnsubscribeReply");
const html = (description: string) => ({ content: { "text/html": { schema: z.string() } }, description });

const bounceFields = {
  email: z.string().trim().min(3).max(320).regex(/^[^@\s]+@[^@\s]+$/, "must be an email address").openapi({ example: "jane@example.com" }),
  type: z.enum(["hard", "soft"], { error: "must be hard or soft" }).openapi({ description: "hard: the address does not exist (suppressed, enrolments stop); soft: temporary (recorded only)." }),
  reason: z.string().max(2000).optional().openapi({ example: "550 5.1.1 user unknown" }),
  messageId: z.string().max(998).optional().openapi({ description: "The bounced email's Message-ID, when known: the lead is also found by it." }),
};
const Bounce = z.looseObject(bounceFields).openapi("BounceRequest");
const BounceReply = envelope({
  email: z.string(), type: z.enum(["hard", "soft"]), suppressed: z.boolean(),
  leadIds: z.array(z.string()).openapi({ description: "The leads with this address (or message) that got an email_bounced event." }),
  stoppedEnrollments: z.number().int(),
}).openapi("BounceReply");

const page = (title: string, inner: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style>
</head><body><h1>${escapeHtml(title)}</h1>${inner}</body></html>`;

const unsubscribeRoute = (method: "get" | "post") => createRoute({
  operationId: method === "get" ? "getUnsubscribePage" : "unsubscribe",
  method, path: "/email/unsubscribe/{token}", tags: ["Email"],
  summary: method === "get"
    ? "Unsubscribe confirmation page (HTML, changes nothing)"
    : "Unsubscribe (RFC 8058 one-click: body List-Unsubscribe=One-Click; HTML for browsers, JSON otherwise)",
  security: [],
  middleware: [limitOpenRoute((_c, ip) => [{ policy: "page-ip", key: ip }])],
  request: {
    params: Token,
    ...(method === "post" ? { body: { required: false, content: { "application/x-www-form-urlencoded": { schema: z.object({ "List-Unsubscribe": z.string().optional() }) } } } } : {}),
  },
  responses: method === "get"
    ? { 200: html("The confirmation page with an Unsubscribe button."), 404: html("Unknown link."), 429: html("Too many requests from this address (page-ip): retry after Retry-After seconds.") }
    : {
      200: { ...json(UnsubscribeReply, "Unsubscribed (also text/html for browsers)."), content: { ...json(UnsubscribeReply, "").content, "text/html": { schema: z.string() } } },
      404: html("Unknown link."),
      429: rateLimitedResponse("Too many requests from this address (page-ip): retry after Retry-After seconds (text/html for browsers)."),
    },
});

const bounceRoute = createRoute({
  operationId: "reportBounce",
  method: "post", path: "/email/bounces", tags: ["Email"], summary: "Report a bounced address (hard: suppressed and enrolments stopped; soft: recorded)",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(Bounce),
  responses: { 200: json(BounceReply, "Bounce recorded."), ...commonErrors },
});

function notFoundPage(c: Context<AppEnv>, err: unknown) {
  const apiError = toApiError(err);
  if (apiError.status !== 404) throw err;
  return c.html(page("Link not valid", `<p>${escapeHtml(apiError.message)}. ${escapeHtml(apiError.hint)}</p>`), 404);
}

interface Unsubscribed { email: string; organizationName: string; alreadyUnsubscribed: boolean; stoppedEnrollments: number }

export const emailPublicRoutes = createRouter()
  .openapi(unsubscribeRoute("get"), async (c) => {
    const { token } = c.req.valid("param");
    try {
      const [row] = await asAnonymous(c.var.sql, (tx) =>
        tx<{ s: { email: string; organizationName: string; unsubscribed: boolean } }[]>`select app.unsubscribe_status(${token}) as s`);
      const { email, organizationName, unsubscribed } = row!.s;
      const inner = unsubscribed
        ? `<p>${escapeHtml(email)} is unsubscribed from emails from ${escapeHtml(organizationName)}.</p>`
        : `<p>Stop emails from ${escapeHtml(organizationName)} to ${escapeHtml(email)}?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`;
      return c.html(page("Unsubscribe", inner), 200);
    } catch (err) {
      return notFoundPage(c, err);
    }
  })
  .openapi(unsubscribeRoute("post"), async (c) => {
    const { token } = c.req.param();
    const wantsHtml = (c.req.header("accept") ?? "").includes("text/html");
    try {
      const [row] = await asAnonymous(c.var.sql, (tx) => tx<{ u: Unsubscribed }[]>`select app.unsubscribe(${token!}) as u`);
      const result = row!.u;
      if (wantsHtml) {
        return c.html(page("Unsubscribed", `<p>${escapeHtml(result.email)} will get no more emails from ${escapeHtml(result.organizationName)}.</p>`), 200);
      }
      return reply(c, { ...result, unsubscribed: true as const }, {});
    } catch (err) {
      if (wantsHtml) return notFoundPage(c, err);
      throw err;
    }
  })
  .openapi(bounceRoute, async (c) => {
    const input = c.req.valid("json");
    const [row] = await c.var.db<{ b: z.infer<typeof BounceReply> }[]>`
      select app.record_bounce(${input.email}, ${input.type}, ${input.reason ?? null}, ${input.messageId ?? null}) as b`;
    const result = row!.b;
    if (result.leadIds.length === 0 && input.type === "soft") {
      throw new ApiError(404, "not_found", `No lead has the address ${input.email}`, "Soft bounces are recorded on leads; check the address with GET /api/openclaw/leads?q=<email>.");
    }
    return reply(c, result, {
      warnings: result.leadIds.length === 0 ? [`No lead has ${result.email}; the address is suppressed for future leads`] : [],
      next_steps: result.leadIds.map((id) => `GET /api/openclaw/leads/${id} shows the lead`),
    });
  }, validationWithHints({
    email: "Send the bounced address as email.",
    type: "type is \"hard\" (address does not exist) or \"soft\" (temporary).",
  }));
