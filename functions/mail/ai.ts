// AI personalisation: an OpenAI-compatible chat-completions API rewrites the rendered subject
// and body in the campaign's tone, using what enrichment found about the lead. The answer must
// be a JSON object { subject, body } (asked for with response_format json_object, checked with
// zod). Every failure (HTTP error, timeout, malformed JSON, wrong shape) is retried up to
// maxRetries times; after that the rendered template is sent with a warning. The unsubscribe
// footer is added after this step, so the model can never drop it.
import { z } from "zod";
import { fetchJson } from "../enrichment/http.ts";
import type { Claim } from "./claim.ts";
import type { AiConfig } from "./ai-config.ts";
import type { Content } from "./render.ts";

export interface Personalised {
  content: Content;
  /** Set when the template was sent instead of a rewrite (passed to complete_send). */
  warnings: string[];
  /** Chat-completions calls made. */
  calls: number;
}

const Rewrite = z.object({
  subject: z.string().trim().min(1).max(200),
  body: z.string().trim().min(1).max(20_000),
});

const Completion = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string() }) })).min(1),
});

const SYSTEM_PROMPT = [
  "You personalise one outbound sales email for one recipient.",
  "Rewrite the subject and body in the requested tone, using the facts about the recipient where they fit.",
  "Keep the meaning, every link and every concrete offer of the original; invent no facts; plain text only, no markdown.",
  "Do not add a signature block, an unsubscribe line or placeholders.",
  'Answer with a JSON object only: {"subject": "...", "body": "..."}.',
].join(" ");

/** Rewrites content when the claim's campaign asks for AI; otherwise returns it unchanged. */
export async function personalise(claim: Claim, rendered: Content, config: AiConfig): Promise<Personalised> {
  if (!claim.ai.enabled) return { content: rendered, warnings: [], calls: 0 };
  if (!config.configured) {
    return { content: rendered, warnings: ["AI personalisation is on for this campaign but no AI API is configured (AI_BASE_URL / AI_API_KEY): the template was sent."], calls: 0 };
  }
  const model = claim.ai.model || config.model;
  const attempts = 1 + (claim.ai.maxRetries ?? 2);
  let lastError = "";
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, config.retryBaseMs * 2 ** (attempt - 1)));
    try {
      return { content: await rewrite(claim, rendered, model, config), warnings: [], calls: attempt + 1 };
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
  }
  return {
    content: rendered,
    warnings: [`AI personalisation failed after ${attempts} attempt${attempts === 1 ? "" : "s"} (${lastError}): the template was sent.`],
    calls: attempts,
  };
}

async function rewrite(claim: Claim, rendered: Content, model: string, config: AiConfig): Promise<Content> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
  const { status, json } = await fetchJson(`${config.baseUrl}/chat/completions`, {
    source: "AI API",
    signal: AbortSignal.timeout(config.timeoutMs * 2),
    timeoutMs: config.timeoutMs,
    method: "POST",
    headers,
    body: JSON.stringify({
      model,
      response_format: { type: "json_object" },
      messages: [
        { role: "system", content: SYSTEM_PROMPT },
        {
          role: "user",
          content: JSON.stringify({
            tone: claim.ai.tone || "friendly and professional",
            recipient: claim.variables,
            facts: claim.enrichment ?? null,
            subject: rendered.subject,
            body: rendered.body,
          }),
        },
      ],
    }),
  });
  if (status < 200 || status > 299) throw new Error(`the AI API answered ${status}`);
  const completion = Completion.safeParse(json);
  if (!completion.success) throw new Error("the AI API's answer has no message content");
  let content: unknown;
  try {
    content = JSON.parse(completion.data.choices[0]!.message.content);
  } catch {
    throw new Error("the model's answer is not JSON");
  }
  const parsed = Rewrite.safeParse(content);
  if (!parsed.success) throw new Error("the model's answer lacks a non-empty subject and body");
  return parsed.data;
}
