// The OpenAI-compatible API that rewrites campaign emails (AI personalisation). Read by the
// mail worker's settings (mail/config.ts), where `configured` decides per email whether the
// rewrite is tried, and by the app's settings (config.ts), where the same `configured` lets
// the campaign routes warn as soon as a campaign asks for AI that is not there. A leaf apart
// from mail/config.ts, which imports config.ts.
import { type EnvReader, positiveInt } from "../env.ts";

export interface AiConfig {
  /** OpenAI-compatible API root; POST {baseUrl}/chat/completions. */
  baseUrl: string;
  apiKey?: string;
  /** Model used when a campaign's ai_config names none. */
  model: string;
  /** Limit for one chat-completions call, in ms. */
  timeoutMs: number;
  /** First wait between attempts, doubled per attempt. */
  retryBaseMs: number;
  /** False when neither AI_API_KEY nor AI_BASE_URL is set: AI campaigns send their template with a warning. */
  configured: boolean;
}

export function readAiConfig(env: EnvReader): AiConfig {
  return {
    baseUrl: (env("AI_BASE_URL")?.trim() || "https://api.openai.com/v1").replace(/\/+$/, ""),
    apiKey: env("AI_API_KEY")?.trim() || undefined,
    model: env("AI_MODEL")?.trim() || "gpt-4o-mini",
    timeoutMs: positiveInt(env("AI_TIMEOUT_MS"), 20_000),
    retryBaseMs: positiveInt(env("AI_RETRY_BASE_MS"), 1_000),
    configured: Boolean(env("AI_API_KEY")?.trim() || env("AI_BASE_URL")?.trim()),
  };
}
