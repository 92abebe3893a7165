// Calendly's API v2, as much of it as connecting needs: who the token belongs to
// (GET /users/me) and webhook subscriptions (POST /webhook_subscriptions, DELETE its URI).
// Every call is bounded by a timeout; Calendly's failures become 502s with a hint, and a
// token Calendly does not accept becomes our 400.
import { ApiError } from "../http/errors.ts";
import type { IntegrationsConfig } from "./config.ts";

export interface CalendlyUser {
  uri: string;
  name?: string;
  email?: string;
  scheduling_url?: string;
  current_organization?: string;
}

export const tokenHint = "Generate a personal access token in Calendly (Integrations & apps > API and webhooks > Personal access tokens > Generate new token) and send it as { \"token\": \"…\" }. Webhook subscriptions need a paid Calendly plan (Standard or above).";

type Settings = IntegrationsConfig["calendly"];

interface Answer {
  status: number;
  json: unknown;
}

const unreachable = (what: string, detail: string) =>
  new ApiError(502, "calendly_unavailable", `Calendly did not answer ${what}: ${detail}`,
    "Calendly may be down or slow; retry in a minute (status.calendly.com). Nothing was changed here.");

function messageOf(json: unknown): string {
  const body = json as { message?: unknown; title?: unknown } | undefined;
  return [body?.title, body?.message].filter((part) => typeof part === "string").join(": ") || "no message";
}

/** Calendly URIs are absolute; the path is sent to the configured API (tests point it at loopback). */
function apiUrl(settings: Settings, pathOrUri: string): string {
  const path = /^https?:\/\//.test(pathOrUri) ? new URL(pathOrUri).pathname : pathOrUri;
  return `${settings.apiUrl}${path}`;
}

async function request(settings: Settings, token: string, method: string, pathOrUri: string, what: string, body?: unknown): Promise<Answer> {
  let response: Response;
  try {
    response = await fetch(apiUrl(settings, pathOrUri), {
      method,
      headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
  } catch (err) {
    const timedOut = err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError");
    throw unreachable(what, timedOut ? `no answer within ${settings.timeoutMs} ms` : "the connection failed");
  }
  const text = await response.text().catch(() => "");
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

const failed = (what: string, answer: Answer) =>
  answer.status >= 500 || answer.status === 429
    ? unreachable(what, `HTTP ${answer.status} (${messageOf(answer.json)})`)
    : new ApiError(502, "calendly_refused", `Calendly refused ${what}: HTTP ${answer.status} (${messageOf(answer.json)})`,
      `${tokenHint} Nothing was changed here.`);

/** The user the token belongs to; a token Calendly does not accept is the caller's 400. */
export async function currentUser(settings: Settings, token: string): Promise<CalendlyUser> {
  const answer = await request(settings, token, "GET", "/users/me", "GET /users/me");
  if (answer.status === 401 || answer.status === 403) {
    throw new ApiError(400, "invalid_calendly_token", `Calendly did not accept the token (${messageOf(answer.json)})`, tokenHint);
  }
  const user = (answer.json as { resource?: CalendlyUser } | undefined)?.resource;
  if (answer.status !== 200 || typeof user?.uri !== "string") throw failed("GET /users/me", answer);
  return user;
}

/** Creates a user-scoped subscription to bookings and cancellations; returns its URI. */
export async function createSubscription(settings: Settings, token: string, user: CalendlyUser, callbackUrl: string, signingKey: string): Promise<string> {
  const answer = await request(settings, token, "POST", "/webhook_subscriptions", "POST /webhook_subscriptions", {
    url: callbackUrl,
    events: ["invitee.created", "invitee.canceled"],
    organization: user.current_organization,
    user: user.uri,
    scope: "user",
    signing_key: signingKey,
  });
  const uri = (answer.json as { resource?: { uri?: unknown } } | undefined)?.resource?.uri;
  if (answer.status !== 201 && answer.status !== 200) throw failed("POST /webhook_subscriptions", answer);
  if (typeof uri !== "string") throw unreachable("POST /webhook_subscriptions", "the answer has no resource.uri");
  return uri;
}

/**
 * Deletes a subscription: "deleted", "gone" when Calendly no longer has it (404), or
 * "unauthorized" when the token was revoked (only Calendly's own settings can remove the
 * subscription then). Other failures throw.
 */
export async function deleteSubscription(settings: Settings, token: string, uri: string): Promise<"deleted" | "gone" | "unauthorized"> {
  const answer = await request(settings, token, "DELETE", uri, "DELETE the webhook subscription");
  if (answer.status === 204 || answer.status === 200) return "deleted";
  if (answer.status === 404) return "gone";
  if (answer.status === 401) return "unauthorized";
  throw failed("DELETE the webhook subscription", answer);
}
