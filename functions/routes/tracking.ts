// Proposal tracking over HTTP: the public beacon endpoint the page posts to, and the
// per-lead rollup agents read. app.track_proposal decides what counts (bots, the org's
// own key, rate limits) and writes visits and engagement events; this file only parses.
import { createRoute, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { asAnonymous } from "../db.ts";
import { readJson } from "../http/body.ts";
import { limitOpenRoute } from "../http/rate-limit.ts";
import { ApiError, errorReply, payloadTooLarge } from "../http/errors.ts";
import { bearerAuth, commonErrors, envelope, json, notFoundError, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { sha256Hex } from "../http/digest.ts";
import { readApiKey, tenantTransaction } from "../http/tenant.ts";
import { invalidRequest, validationWithHints } from "../http/validation.ts";
import { ProposalTracking, readProposalTracking } from "../proposals/tracking.ts";

/** A beacon report is a few hundred bytes; anything much larger is not from our page. */
export const MAX_BEACON_BYTES = 2048;

const kinds = ["view", "heartbeat", "leave", "section", "video", "cta"] as const;
const BeaconEvent = z.object({
  slug: z.string().min(1).max(60).openapi({ example: "acme-clinic-k3v9x2qa" }),
  visitId: z.string().min(8).max(64).openapi({ description: "Random per page load.", example: "9f86d081884c7d659a2feaa0c55ad015" }),
  kind: z.enum(kinds, { error: `must be one of: ${kinds.join(", ")}` }),
  seconds: z.number().min(0).optional().openapi({ description: "Total seconds the page was visible in this visit so far; required for heartbeat and leave, optional otherwise." }),
  section: z.string().max(30).optional().openapi({ description: "section: hero, problem, offer, pricing, video or cta." }),
  percent: z.number().optional().openapi({ description: "video: milestone passed, 25, 50, 75 or 100." }),
  label: z.string().max(200).optional().openapi({ description: "cta: the button's text." }),
  url: z.string().max(2000).optional().openapi({ description: "cta: where it leads." }),
}).openapi("ProposalBeaconEvent");
const BeaconReply = envelope({
  recorded: z.boolean(),
  firstView: z.boolean().optional().openapi({ description: "This report opened a new visit (a proposal_viewed event)." }),
  reason: z.enum(["bot", "preview", "visit_expired"]).optional().openapi({ description: "Why nothing was recorded." }),
}).openapi("ProposalBeaconReply");

const eventsRoute = createRoute({
  operationId: "trackProposalEvent",
  method: "post", path: "/events", tags: ["Tracking"],
  summary: "Proposal page beacon (public): view, heartbeat, leave, section, video, cta",
  security: [],
  description: "Sent by the page with navigator.sendBeacon, so the body is JSON as text/plain (application/json works too). Bots (by User-Agent) and requests carrying the workspace's own API key are answered with recorded: false.",
  middleware: [limitOpenRoute((_c, ip) => [{ policy: "tracking-ip", key: ip }])],
  request: { body: { content: { "text/plain": { schema: BeaconEvent } }, required: true } },
  responses: {
    200: json(BeaconReply, "Recorded, or deliberately not counted (reason)."),
    400: json(z.any(), "Not a valid report: error.hint says what to fix."),
    404: json(z.any(), "No published proposal has this slug."),
    409: json(z.any(), "The visitId belongs to another proposal."),
    413: json(z.any(), `Body over ${MAX_BEACON_BYTES} bytes.`),
    429: json(z.any(), "Too many reports from this address (tracking-ip: Retry-After and the RateLimit fields say when to retry), too many visits of this proposal, or events of this visit."),
  },
});
const rollupRoute = createRoute({
  operationId: "getProposalTracking",
  method: "get", path: "/proposal", tags: ["Tracking"], summary: "A lead's proposal engagement",
  security: bearerAuth, middleware: [tenantTransaction],
  request: { query: z.object({ leadId: z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" }) }) },
  responses: { 200: json(envelope({ leadId: z.string(), ...ProposalTracking.shape }).openapi("ProposalTrackingReply"), "Views, time on page, sections, video, CTA clicks."), ...notFoundError, ...commonErrors },
});

const notJson = () =>
  new ApiError(400, "invalid_json", "The body is not JSON", "Send the report as a JSON object (text/plain or application/json).");

function parseBeacon(text: string): z.infer<typeof BeaconEvent> {
  const parsed = BeaconEvent.safeParse(readJson(text, notJson));
  if (!parsed.success) throw invalidRequest(parsed.error, "json");
  return parsed.data;
}

export const trackingRoutes = createRouter();
trackingRoutes.use("/events", bodyLimit({
  maxSize: MAX_BEACON_BYTES,
  onError: (c) => {
    // The unread rest of the body is still on the socket: without this the client may see
    // its connection reset instead of the 413.
    c.header("Connection", "close");
    return errorReply(c, payloadTooLarge(MAX_BEACON_BYTES));
  },
}));
trackingRoutes
  .openapi(eventsRoute, async (c) => {
    const { slug, visitId, kind, ...data } = parseBeacon(await c.req.text());
    const key = readApiKey(c);
    const keyHash = key && /^rcm_live_[0-9a-f]{64}$/.test(key) ? await sha256Hex(key) : null;
    const [row] = await asAnonymous(c.var.sql, (tx) => tx<{ result: z.infer<typeof BeaconReply> }[]>`
      select app.track_proposal(${slug}, ${visitId}, ${kind}, ${tx.json(data as never)}, ${c.req.header("user-agent") ?? null}, ${keyHash}) as result`);
    return reply(c, row!.result, {}, 200);
  })
  .openapi(rollupRoute, async (c) => {
    const { leadId } = c.req.valid("query");
    const tracking = await readProposalTracking(c.var.db, leadId);
    return reply(c, { leadId, ...tracking });
  }, validationWithHints({ leadId: "Pass the lead's id as leadId (e.g. leadId=rp_…); GET /api/openclaw/leads lists your leads." }));
