// Recall.ai's webhook: when a meeting bot's transcript is done, store a transcript_summary
// note on the meeting's lead. Public (no API key): Recall signs each request the Standard
// Webhooks way with the workspace secret (RECALL_WEBHOOK_SECRET, whsec_…), checked on the raw
// body before anything is read. The transcript is fetched from Recall outside any
// transaction; the note is written once per meeting (a redelivery writes nothing).
import { createRoute, z } from "@hono/zod-openapi";
import { asAnonymous } from "../db.ts";
import { readJsonObject } from "../http/body.ts";
import { ApiError } from "../http/errors.ts";
import { envelope, errorResponse, json, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { fetchTranscript, recallSignatureProblem, summariseTranscript } from "../integrations/recall.ts";

const TranscriptReply = envelope({
  outcome: z.enum(["stored", "ignored"]),
  duplicate: z.boolean(),
  event: z.string(),
  botId: z.string().optional(),
  meetingId: z.string().optional(),
  leadId: z.string().optional(),
  noteId: z.string().optional().openapi({ description: "The transcript_summary note on the lead." }),
  reason: z.string().optional(),
}).openapi("RecallWebhookReply");

/** Standard Webhooks allow five minutes of clock skew. */
const TOLERANCE_SECONDS = 300;

const webhookRoute = createRoute({
  operationId: "receiveRecallWebhook",
  method: "post", path: "/integrations/recall/webhook", tags: ["Integrations"],
  summary: "Recall.ai's webhook (no API key: Recall's webhook-signature authenticates)",
  security: [],
  description: "Point Recall's webhook endpoint here and subscribe it to transcript.done. Requests are verified with webhook-id, webhook-timestamp (within 5 minutes) and webhook-signature (v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">, keyed with RECALL_WEBHOOK_SECRET). A transcript.done for a bot scheduled for a Calendly meeting stores a transcript_summary note on the lead: the speakers and their first turns. Other events are acknowledged and ignored.",
  responses: {
    200: json(TranscriptReply, "A redelivery: the note was stored before (duplicate true)."),
    201: json(TranscriptReply, "Note stored."),
    202: json(TranscriptReply, "Acknowledged, nothing to store (another event, or a bot not scheduled here)."),
    400: errorResponse("Not a Recall webhook body."),
    401: errorResponse("Missing, wrong or stale signature: nothing was read or written."),
    502: errorResponse("Recall did not hand out the transcript; Recall retries."),
    503: errorResponse("Meeting bots are not configured here (RECALL_API_KEY and RECALL_WEBHOOK_SECRET)."),
  },
});

const notConfigured = () =>
  new ApiError(503, "meeting_bots_not_configured", "Meeting bots are not configured on this server",
    "The operator sets RECALL_API_KEY and RECALL_WEBHOOK_SECRET (the workspace verification secret, whsec_…, from Recall's API keys page).");

const invalidBody = () =>
  new ApiError(400, "invalid_payload", "The body is not a Recall webhook",
    "Recall sends { \"event\": \"transcript.done\", \"data\": { \"bot\": { \"id\" }, \"transcript\": { \"id\" }, … } }.");

interface RecallEvent {
  event?: unknown;
  data?: { bot?: { id?: unknown }; transcript?: { id?: unknown } };
}

interface MeetingOfBot {
  meetingId: string;
  leadId: string;
  eventName: string | null;
  transcriptNoteId: string | null;
}

export const recallRoutes = createRouter()
  .openapi(webhookRoute, async (c) => {
    const settings = c.var.config.integrations.recall;
    if (!settings.apiKey || !settings.webhookSecret) throw notConfigured();
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const problem = await recallSignatureProblem(settings.webhookSecret, (name) => c.req.header(name), raw, TOLERANCE_SECONDS);
    if (problem) {
      throw new ApiError(401, "invalid_signature", `The request is not signed by Recall: ${problem}`,
        "Recall signs with the workspace verification secret; set RECALL_WEBHOOK_SECRET to that secret (whsec_…).");
    }
    const body = readJsonObject(raw, invalidBody) as RecallEvent;
    const event = typeof body.event === "string" ? body.event : "";
    if (event !== "transcript.done") {
      return reply(c, { outcome: "ignored" as const, duplicate: false, event, reason: `Only transcript.done is handled, not ${event || "an unnamed event"}` }, {}, 202);
    }
    const botId = body.data?.bot?.id;
    const transcriptId = body.data?.transcript?.id;
    if (typeof botId !== "string" || typeof transcriptId !== "string") throw invalidBody();

    const [meeting] = await asAnonymous(c.var.sql, (tx) => tx<MeetingOfBot[]>`
      select meeting_id as "meetingId", lead_id as "leadId", event_name as "eventName", transcript_note_id as "transcriptNoteId"
      from app.meeting_for_bot(${botId})`);
    if (!meeting) {
      return reply(c, { outcome: "ignored" as const, duplicate: false, event, botId, reason: "No meeting here has this bot" }, {}, 202);
    }
    const base = { event, botId, meetingId: meeting.meetingId, leadId: meeting.leadId };
    if (meeting.transcriptNoteId) {
      return reply(c, { outcome: "stored" as const, duplicate: true, ...base, noteId: meeting.transcriptNoteId }, {}, 200);
    }
    const summary = summariseTranscript(await fetchTranscript(settings, transcriptId), meeting.eventName);
    const [stored] = await asAnonymous(c.var.sql, (tx) => tx<{ result: { noteId: string; duplicate: boolean } }[]>`
      select app.store_meeting_transcript(${botId}, ${summary}) as result`);
    const { noteId, duplicate } = stored!.result;
    return reply(c, { outcome: "stored" as const, duplicate, ...base, noteId }, {
      next_steps: [`GET /api/openclaw/notes?leadId=${meeting.leadId}&type=transcript_summary reads it`],
    }, duplicate ? 200 : 201);
  });
