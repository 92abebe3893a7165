import { afterEach, describe, expect, it } from "vitest";
import { readConfig } from "../functions/config.ts";
import { personalise } from "../functions/mail/ai.ts";
import { readMailConfig } from "../functions/mail/config.ts";
import { renderContent } from "../functions/mail/render.ts";
import { type LoopbackServer, type Reply, startHttpServer } from "./support/loopback.ts";
import { mailConfig, sampleClaim } from "./support/smtp.ts";

const completion = (content: string) => ({ json: { id: "chatcmpl-1", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] } });
const rewrite = completion(JSON.stringify({ subject: "Jane, a quick idea for Acme", body: "Hi Jane, saw Acme uses Stripe." }));

let server: LoopbackServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function aiServer(replies: Reply[]) {
  server = await startHttpServer((_request, call) => replies[Math.min(call, replies.length - 1)]!);
  return mailConfig({ ai: { baseUrl: `${server.url}/v1`, apiKey: "sk-test", model: "default-model", timeoutMs: 2_000, retryBaseMs: 5, configured: true } }).ai;
}

const aiClaim = (ai: Record<string, unknown> = {}) =>
  sampleClaim({ ai: { enabled: true, model: "gpt-test", tone: "playful", maxRetries: 2, ...ai }, enrichment: { techStack: ["Stripe"] } });

describe("AI personalisation (OpenAI-compatible chat completions)", () => {
  it("rewrites subject and body, asking for a JSON object in the campaign's tone with the lead's enrichment", async () => {
    const config = await aiServer([rewrite]);
    const claim = aiClaim();
    const result = await personalise(claim, renderContent(claim), config);
    expect(result).toEqual({ content: { subject: "Jane, a quick idea for Acme", body: "Hi Jane, saw Acme uses Stripe." }, warnings: [], calls: 1 });
    const [request] = server!.requests;
    expect(request).toMatchObject({ method: "POST", path: "/v1/chat/completions" });
    expect(request!.headers.authorization).toBe("Bearer sk-test");
    const body = request!.json as { model: string; response_format: unknown; messages: { role: string; content: string }[] };
    expect(body.model).toBe("gpt-test");
    expect(body.response_format).toEqual({ type: "json_object" });
    const user = JSON.parse(body.messages.find((m) => m.role === "user")!.content);
    expect(user).toMatchObject({ tone: "playful", facts: { techStack: ["Stripe"] }, subject: "Hi Jane, a note for Acme Clinic" });
  });

  it("uses AI_MODEL when the campaign names no model", async () => {
    const config = await aiServer([rewrite]);
    const claim = aiClaim({ model: null });
    await personalise(claim, renderContent(claim), config);
    expect((server!.requests[0]!.json as { model: string }).model).toBe("default-model");
  });

  it("retries a 500 and then uses the rewrite", async () => {
    const config = await aiServer([{ status: 500, json: { error: { message: "overloaded" } } }, rewrite]);
    const claim = aiClaim();
    const result = await personalise(claim, renderContent(claim), config);
    expect(result.calls).toBe(2);
    expect(result.warnings).toEqual([]);
    expect(result.content.subject).toBe("Jane, a quick idea for Acme");
  });

  it("retries a model answer that is not JSON, or lacks the body", async () => {
    const config = await aiServer([completion("Sure! Here is your email: ..."), completion(JSON.stringify({ subject: "only a subject" })), rewrite]);
    const claim = aiClaim();
    const result = await personalise(claim, renderContent(claim), config);
    expect(result.calls).toBe(3);
    expect(result.content.body).toBe("Hi Jane, saw Acme uses Stripe.");
  });

  it("falls back to the rendered template with a warning after maxRetries", async () => {
    const config = await aiServer([{ body: "{oops", headers: { "content-type": "application/json" } }]);
    const claim = aiClaim({ maxRetries: 1 });
    const rendered = renderContent(claim);
    const result = await personalise(claim, rendered, config);
    expect(server!.requests).toHaveLength(2);
    expect(result.content).toEqual(rendered);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/AI personalisation failed after 2 attempts .*not JSON.*template was sent/);
  });

  it("sends the template with a warning when AI is on but no API is configured, calling nothing", async () => {
    const claim = aiClaim();
    const rendered = renderContent(claim);
    const result = await personalise(claim, rendered, mailConfig().ai);
    expect(result).toMatchObject({ content: rendered, calls: 0 });
    expect(result.warnings[0]).toMatch(/no AI API is configured/);
  });

  it("leaves content alone when the campaign does not use AI", async () => {
    const config = await aiServer([rewrite]);
    const claim = sampleClaim();
    const rendered = renderContent(claim);
    expect(await personalise(claim, rendered, config)).toEqual({ content: rendered, warnings: [], calls: 0 });
    expect(server!.requests).toHaveLength(0);
  });
});

describe("whether an AI API is configured", () => {
  it("is one answer for the mail worker and the API (which warns on ai_enabled campaigns): AI_API_KEY or AI_BASE_URL", () => {
    const cases: Array<[Record<string, string>, boolean]> = [
      [{}, false], [{ AI_MODEL: "gpt-4o-mini" }, false], [{ AI_API_KEY: "  " }, false],
      [{ AI_API_KEY: "sk-test" }, true], [{ AI_BASE_URL: "http://127.0.0.1:11434/v1" }, true],
    ];
    for (const [settings, configured] of cases) {
      const env = (name: string) => settings[name];
      expect(readMailConfig(env).ai.configured, JSON.stringify(settings)).toBe(configured);
      expect(readConfig(env, 54321).ai, JSON.stringify(settings)).toEqual(readMailConfig(env).ai);
    }
  });
});
