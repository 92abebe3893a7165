// Integration settings: Calendly's API, the meeting-recording provider (Recall.ai) and the
// key that encrypts stored tokens.
import { type EnvReader, positiveInt } from "../env.ts";
import { parseEncryptionKey } from "./crypto.ts";

export interface IntegrationsConfig {
  /** AES-256-GCM key for stored tokens (INTEGRATIONS_ENCRYPTION_KEY); unset = connecting answers 503. */
  encryptionKey: Uint8Array<ArrayBuffer> | undefined;
  calendly: {
    apiUrl: string;
    /** How far a webhook's signed timestamp may be from our clock. */
    webhookToleranceSeconds: number;
    /** Limit for one call to Calendly's API. */
    timeoutMs: number;
  };
  recall: {
    /** Unset = no meeting bots. */
    apiKey: string | undefined;
    apiUrl: string;
    /** The workspace verification secret (whsec_…) Recall signs webhooks with. */
    webhookSecret: string | undefined;
    botName: string;
    timeoutMs: number;
  };
}

export function readIntegrationsConfig(env: EnvReader): IntegrationsConfig {
  return {
    encryptionKey: parseEncryptionKey(env("INTEGRATIONS_ENCRYPTION_KEY")),
    calendly: {
      apiUrl: (env("CALENDLY_API_URL") || "https://api.calendly.com").replace(/\/+$/, ""),
      webhookToleranceSeconds: positiveInt(env("CALENDLY_WEBHOOK_TOLERANCE_SECONDS"), 180),
      timeoutMs: positiveInt(env("CALENDLY_TIMEOUT_MS"), 10_000),
    },
    recall: {
      apiKey: env("RECALL_API_KEY")?.trim() || undefined,
      apiUrl: (env("RECALL_API_URL") || "https://us-east-1.recall.ai").replace(/\/+$/, ""),
      webhookSecret: env("RECALL_WEBHOOK_SECRET")?.trim() || undefined,
      botName: env("RECALL_BOT_NAME")?.trim() || "OpenClaw Notetaker",
      timeoutMs: positiveInt(env("RECALL_TIMEOUT_MS"), 10_000),
    },
  };
}
