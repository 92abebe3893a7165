// Recall.ai meeting bots: schedule one for a meeting's video link at its start time
// (POST /api/v1/bot/), cancel it when the meeting is canceled (DELETE /api/v1/bot/{id}/),
// and read its transcript when Recall says it is done (GET /api/v1/transcript/{id}/, then
// its download_url). Recall signs webhooks the Standard Webhooks way (webhook-id,
// webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">,
// keyed with the base64 part of the workspace secret whsec_…).
import { ApiError } from "../http/errors.ts";
import type { IntegrationsConfig } from "./config.ts";
import { fromBase64, hmacSha256, sameBytes } from "./crypto.ts";

type Settings = IntegrationsConfig["recall"];

export const NO_KEY_NOTE = "no meeting bot scheduled: RECALL_API_KEY is not set";

async function call(settings: Settings, method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, {
    method,
    headers: {
      authorization: `Token ${settings.apiKey}`,
      accept: "application/json",
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(settings.timeoutMs),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

export interface BotRequest {
  meetingUrl: string;
  joinAt: string | undefined;
  metadata: Record<string, string>;
}

/** Schedules a bot; the bot's id, or the reason it could not be scheduled. */
export async function scheduleBot(settings: Settings, bot: BotRequest): Promise<{ botId: string } | { error: string }> {
  try {
    const answer = await call(settings, "POST", `${settings.apiUrl}/api/v1/bot/`, {
      meeting_url: bot.meetingUrl,
      bot_name: settings.botName,
      // A start time already past means "join now": Recall refuses join_at in the past.
      ...(bot.joinAt && Date.parse(bot.joinAt) > Date.now() ? { join_at: bot.joinAt } : {}),
      recording_config: { transcript: { provider: { recallai_streaming: { mode: "prioritize_accuracy" } } } },
      metadata: bot.metadata,
    });
    const id = (answer.json as { id?: unknown } | undefined)?.id;
    if (answer.status >= 200 && answer.status < 300 && typeof id === "string") return { botId: id };
    return { error: `Recall answered HTTP ${answer.status} to POST /api/v1/bot/` };
  } catch {
    return { error: `Recall did not answer POST /api/v1/bot/ within ${settings.timeoutMs} ms` };
  }
}

/** Removes a scheduled bot; true when Recall deleted it (or no longer has it). */
export async function cancelBot(settings: Settings, botId: string): Promise<boolean> {
  try {
    const answer = await call(settings, "DELETE", `${settings.apiUrl}/api/v1/bot/${encodeURIComponent(botId)}/`);
    return answer.status < 300 || answer.status === 404;
  } catch {
    return false;
  }
}

interface TranscriptSegment {
  participant?: { name?: string | null } | null;
  words?: { text?: string }[];
}

const unavailable = (detail: string) =>
  new ApiError(502, "recall_unavailable", `Could not read the transcript from Recall: ${detail}`,
    "Recall retries webhooks that fail; nothing was stored, so a retry is safe.");

/** The transcript's speaker segments, fetched through its download_url. */
export async function fetchTranscript(settings: Settings, transcriptId: string): Promise<TranscriptSegment[]> {
  try {
    const meta = await call(settings, "GET", `${settings.apiUrl}/api/v1/transcript/${encodeURIComponent(transcriptId)}/`);
    const url = (meta.json as { data?: { download_url?: unknown } } | undefined)?.data?.download_url;
    if (meta.status !== 200 || typeof url !== "string") throw unavailable(`HTTP ${meta.status} for the transcript`);
    const download = await fetch(url, { signal: AbortSignal.timeout(settings.timeoutMs) });
    const segments: unknown = await download.json();
    if (!download.ok || !Array.isArray(segments)) throw unavailable(`HTTP ${download.status} for its download_url`);
    return segments as TranscriptSegment[];
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw unavailable("no answer");
  }
}

export const SUMMARY_TURNS = 20;
const TURN_CHARS = 400;

/** A plain summary: who spoke, then the first speaker turns (consecutive segments of one speaker joined). */
export function summariseTranscript(segments: TranscriptSegment[], title: string | null): string {
  const turns: { speaker: string; text: string }[] = [];
  for (const segment of segments) {
    const speaker = segment.participant?.name?.trim() || "Unknown speaker";
    const text = (segment.words ?? []).map((w) => w.text ?? "").join(" ").replace(/\s+/g, " ").trim();
    if (!text) continue;
    const last = turns.at(-1);
    if (last?.speaker === speaker) last.text = `${last.text} ${text}`;
    else turns.push({ speaker, text });
  }
  const speakers = [...new Set(turns.map((t) => t.speaker))];
  const shown = turns.slice(0, SUMMARY_TURNS).map((t) =>
    `${t.speaker}: ${t.text.length > TURN_CHARS ? `${t.text.slice(0, TURN_CHARS)}…` : t.text}`);
  return [
    `Meeting transcript${title ? `: ${title}` : ""}`,
    turns.length === 0 ? "Nothing was said (the transcript is empty)." : `Speakers: ${speakers.join(", ")}. ${turns.length} speaker turn(s)${turns.length > SUMMARY_TURNS ? `; the first ${SUMMARY_TURNS} follow` : ""}.`,
    "",
    ...shown,
  ].join("\n");
}

/** Why a Recall webhook is refused, or undefined when its signature holds. */
export async function recallSignatureProblem(secret: string, headers: (name: string) => string | undefined, raw: Uint8Array, toleranceSeconds: number): Promise<string | undefined> {
  const id = headers("webhook-id");
  const timestamp = headers("webhook-timestamp");
  const signature = headers("webhook-signature");
  if (!id || !timestamp || !signature) return "webhook-id, webhook-timestamp and webhook-signature are required";
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) {
    return `webhook-timestamp is more than ${toleranceSeconds} seconds from our clock`;
  }
  let key: Uint8Array<ArrayBuffer>;
  try {
    key = fromBase64(secret.replace(/^whsec_/, ""));
  } catch {
    return "RECALL_WEBHOOK_SECRET is not a whsec_<base64> secret, so nothing can be verified";
  }
  const expected = await hmacSha256(key, `${id}.${timestamp}.`, raw);
  for (const part of signature.split(" ")) {
    const [version, value] = part.split(",", 2);
    if (version !== "v1" || !value) continue;
    let given: Uint8Array;
    try {
      given = fromBase64(value);
    } catch {
      continue;
    }
    if (sameBytes(given, expected)) return undefined;
  }
  return "webhook-signature does not match the body";
}
