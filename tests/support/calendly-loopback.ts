// Loopback stand-ins for Calendly's API v2 and Recall.ai's bot API, speaking their documented
// shapes, plus an API of its own pointed at them (the real app, the suite's database):
//
//   const stack = await startIntegrationStack({ recall: true });
//   const ws = await stack.signup();
//   await stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken });
//   const sub = [...stack.calendly.subscriptions.values()][0];       // what Calendly was asked
//   await stack.deliver(sub, calendlyDelivery("invitee.created", { email }));  // signed like Calendly
//   expect(stack.recall.bots).toHaveLength(1);
//   await stack.close();
import { serve, type ServerType } from "@hono/node-server";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { inject } from "vitest";
import { connect } from "../../functions/db.ts";
import { createNodeApp } from "../../functions/node/app.ts";
import { type ApiResponse, call, type RequestOptions, type Workspace } from "./api.ts";
import { type LoopbackServer, type RecordedRequest, startHttpServer } from "./loopback.ts";

// ---------------------------------------------------------------------------
// Calendly
// ---------------------------------------------------------------------------
export interface CalendlySubscription {
  uri: string;
  callback_url: string;
  events: string[];
  scope: string;
  organization: string;
  user: string;
  signing_key: string;
}

export interface CalendlyLoopback extends LoopbackServer {
  /** A token Calendly accepts (GET /users/me answers 200). */
  goodToken: string;
  userUri: string;
  organizationUri: string;
  /** Live subscriptions by URI. */
  subscriptions: Map<string, CalendlySubscription>;
  /** Set to answer the next POST /webhook_subscriptions with this status. */
  failNextSubscribe?: number;
  /** While set, POST /webhook_subscriptions waits for this promise before answering (a slow Calendly). */
  holdSubscribe?: Promise<void>;
}

export async function startCalendlyServer(): Promise<CalendlyLoopback> {
  const goodToken = `eyJraWQiOi.${randomBytes(24).toString("hex")}`;
  const subscriptions = new Map<string, CalendlySubscription>();
  let self: CalendlyLoopback | undefined;
  const server = await startHttpServer(async (request: RecordedRequest) => {
    const base = server.url;
    const path = new URL(request.path, "http://loopback").pathname;
    if (request.headers.authorization !== `Bearer ${goodToken}`) {
      return { status: 401, json: { title: "Unauthenticated", message: "The access token is invalid" } };
    }
    if (request.method === "GET" && path === "/users/me") {
      return {
        json: {
          resource: {
            uri: self!.userUri, name: "Casey Host", slug: "casey-host", email: "casey@example.com",
            scheduling_url: "https://calendly.com/casey-host", timezone: "America/New_York", avatar_url: null,
            created_at: "2024-01-02T03:04:05.678900Z", updated_at: "2024-01-02T03:04:05.678900Z",
            current_organization: self!.organizationUri,
          },
        },
      };
    }
    if (request.method === "POST" && path === "/webhook_subscriptions") {
      await self?.holdSubscribe;
      if (self?.failNextSubscribe) {
        const status = self.failNextSubscribe;
        self.failNextSubscribe = undefined;
        return { status, json: { title: "Internal Server Error", message: "scripted failure" } };
      }
      const body = request.json as Record<string, unknown>;
      if (typeof body?.url !== "string" || !Array.isArray(body.events) || typeof body.organization !== "string" || typeof body.scope !== "string") {
        return { status: 400, json: { title: "Invalid Argument", message: "url, events, organization and scope are required" } };
      }
      const uri = `${base}/webhook_subscriptions/${randomUUID()}`;
      const subscription: CalendlySubscription = {
        uri, callback_url: body.url, events: body.events as string[], scope: body.scope, organization: body.organization,
        user: String(body.user), signing_key: String(body.signing_key),
      };
      subscriptions.set(uri, subscription);
      const now = new Date().toISOString();
      return {
        status: 201,
        json: {
          resource: {
            uri, callback_url: body.url, created_at: now, updated_at: now, retry_started_at: null, state: "active",
            events: body.events, scope: body.scope, organization: body.organization, user: body.user, creator: body.user,
          },
        },
      };
    }
    if (request.method === "DELETE" && path.startsWith("/webhook_subscriptions/")) {
      const uri = `${base}${path}`;
      if (!subscriptions.delete(uri)) return { status: 404, json: { title: "Resource Not Found", message: "The server could not find the requested resource." } };
      return { status: 204 };
    }
    return { status: 404, json: { title: "Resource Not Found", message: `no route ${request.method} ${path}` } };
  });
  self = Object.assign(server, {
    goodToken, subscriptions,
    userUri: `${server.url}/users/AAAAAAAAAAAAAAAA`, organizationUri: `${server.url}/organizations/BBBBBBBBBBBBBBBB`,
  });
  return self;
}

export interface DeliveryOptions {
  email: string;
  name?: string;
  inviteeUri?: string;
  startTime?: string;
  joinUrl?: string | null;
  reason?: string;
}

/** A Calendly webhook body in the documented shape ({ event, created_at, created_by, payload }). */
export function calendlyDelivery(event: "invitee.created" | "invitee.canceled", options: DeliveryOptions): Record<string, unknown> {
  const start = options.startTime ?? new Date(Date.now() + 3 * 86_400_000).toISOString();
  const eventUri = "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2";
  const inviteeUri = options.inviteeUri ?? `${eventUri}/invitees/${randomUUID()}`;
  const now = new Date().toISOString();
  return {
    created_at: now,
    created_by: "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
    event,
    payload: {
      cancel_url: `https://calendly.com/cancellations/${inviteeUri.slice(-12)}`,
      created_at: now,
      email: options.email,
      event: eventUri,
      first_name: null,
      last_name: null,
      name: options.name ?? "Jane Q Public",
      new_invitee: null,
      old_invitee: null,
      questions_and_answers: [],
      reschedule_url: `https://calendly.com/reschedulings/${inviteeUri.slice(-12)}`,
      rescheduled: false,
      status: event === "invitee.created" ? "active" : "canceled",
      text_reminder_number: null,
      timezone: "America/New_York",
      tracking: { utm_campaign: null, utm_source: null, utm_medium: null, utm_content: null, utm_term: null, salesforce_uuid: null },
      updated_at: now,
      uri: inviteeUri,
      ...(event === "invitee.canceled"
        ? { cancellation: { canceled_by: "Jane Q Public", reason: options.reason ?? "Something came up", canceler_type: "invitee", created_at: now } }
        : {}),
      scheduled_event: {
        uri: eventUri,
        name: "30 Minute Discovery Call",
        status: event === "invitee.created" ? "active" : "canceled",
        start_time: start,
        end_time: new Date(Date.parse(start) + 30 * 60_000).toISOString(),
        event_type: "https://api.calendly.com/event_types/GBGBDCAADAEDCRZ2",
        location: options.joinUrl === null
          ? { type: "physical", location: "Main street 1" }
          : { type: "google_conference", status: "pushed", join_url: options.joinUrl ?? "https://meet.google.com/abc-defg-hij" },
        invitees_counter: { total: 1, active: event === "invitee.created" ? 1 : 0, limit: 1 },
        created_at: now,
        updated_at: now,
        event_memberships: [{ user: "https://api.calendly.com/users/AAAAAAAAAAAAAAAA" }],
        event_guests: [],
      },
    },
  };
}

/** Calendly-Webhook-Signature for a raw body: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">. */
export function calendlySignature(rawBody: string, signingKey: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac("sha256", signingKey).update(`${t}.${rawBody}`).digest("hex")}`;
}

// ---------------------------------------------------------------------------
// Recall.ai
// ---------------------------------------------------------------------------
export interface RecallBot {
  id: string;
  meeting_url: string;
  join_at?: string;
  bot_name?: string;
  metadata?: Record<string, string>;
  recording_config?: unknown;
  deleted: boolean;
}

export interface RecallLoopback extends LoopbackServer {
  apiKey: string;
  /** The workspace verification secret, whsec_<base64>. */
  webhookSecret: string;
  bots: RecallBot[];
  /** Transcript download contents by transcript id. */
  transcripts: Map<string, unknown[]>;
}

export async function startRecallServer(): Promise<RecallLoopback> {
  const apiKey = randomBytes(20).toString("hex");
  const webhookSecret = `whsec_${randomBytes(24).toString("base64")}`;
  const bots: RecallBot[] = [];
  const transcripts = new Map<string, unknown[]>();
  const server = await startHttpServer((request) => {
    const path = new URL(request.path, "http://loopback").pathname;
    const download = path.match(/^\/download\/([^/]+)$/);
    if (request.method === "GET" && download) {
      const segments = transcripts.get(download[1]!);
      return segments ? { json: segments } : { status: 404, json: { detail: "Not found." } };
    }
    if (request.headers.authorization !== `Token ${apiKey}`) return { status: 401, json: { detail: "Invalid token." } };
    if (request.method === "POST" && path === "/api/v1/bot/") {
      const body = request.json as Record<string, unknown>;
      if (typeof body?.meeting_url !== "string") return { status: 400, json: { meeting_url: ["This field is required."] } };
      const bot: RecallBot = { id: randomUUID(), ...(body as Omit<RecallBot, "id" | "deleted">), deleted: false };
      bots.push(bot);
      return { status: 201, json: { id: bot.id, meeting_url: { meeting_id: "abc-defg-hij", platform: "google_meet" }, join_at: bot.join_at ?? null, metadata: bot.metadata ?? {}, status_changes: [], recordings: [] } };
    }
    const botPath = path.match(/^\/api\/v1\/bot\/([^/]+)\/$/);
    if (request.method === "DELETE" && botPath) {
      const bot = bots.find((b) => b.id === botPath[1] && !b.deleted);
      if (!bot) return { status: 404, json: { detail: "Not found." } };
      bot.deleted = true;
      return { status: 204 };
    }
    const transcriptPath = path.match(/^\/api\/v1\/transcript\/([^/]+)\/$/);
    if (request.method === "GET" && transcriptPath) {
      const id = transcriptPath[1]!;
      if (!transcripts.has(id)) return { status: 404, json: { detail: "Not found." } };
      return { json: { id, status: { code: "done", sub_code: null }, data: { download_url: `${server.url}/download/${id}` }, metadata: {} } };
    }
    return { status: 404, json: { detail: `no route ${request.method} ${path}` } };
  });
  return Object.assign(server, { apiKey, webhookSecret, bots, transcripts });
}

/** Standard Webhooks headers as Recall sends them, for a raw body. */
export function recallHeaders(rawBody: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const id = `msg_${randomBytes(8).toString("hex")}`;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${rawBody}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${signature}`, "content-type": "application/json" };
}

/** A transcript.done webhook body in Recall's documented shape. */
export function transcriptDone(botId: string, transcriptId: string): Record<string, unknown> {
  return {
    event: "transcript.done",
    data: {
      data: { code: "done", sub_code: null, updated_at: new Date().toISOString() },
      transcript: { id: transcriptId, metadata: {} },
      recording: { id: randomUUID(), metadata: {} },
      bot: { id: botId, metadata: {} },
    },
  };
}

// ---------------------------------------------------------------------------
// The app, pointed at the stand-ins
// ---------------------------------------------------------------------------
export interface IntegrationStack {
  url: string;
  calendly: CalendlyLoopback;
  recall: RecallLoopback;
  signup(): Promise<Workspace>;
  as(workspace: Workspace): {
    get<T = any>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
    post<T = any>(path: string, json?: unknown, options?: RequestOptions): Promise<ApiResponse<T>>;
    delete<T = any>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  };
  /** POSTs a raw body to a path of this app (the webhook routes). */
  post(path: string, raw: string, headers: Record<string, string>): Promise<ApiResponse>;
  /** Delivers a body to a subscription's callback URL signed with its key, as Calendly does. */
  deliver(subscription: CalendlySubscription, body: unknown, sign?: (raw: string) => string | undefined): Promise<ApiResponse>;
  close(): Promise<void>;
}

export async function startIntegrationStack(options: { recall: boolean }): Promise<IntegrationStack> {
  const calendly = await startCalendlyServer();
  const recall = await startRecallServer();
  const settings: Record<string, string | undefined> = {
    CALENDLY_API_URL: calendly.url,
    CALENDLY_TIMEOUT_MS: "3000",
    INTEGRATIONS_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    RECALL_API_KEY: options.recall ? recall.apiKey : undefined,
    RECALL_API_URL: recall.url,
    RECALL_WEBHOOK_SECRET: options.recall ? recall.webhookSecret : undefined,
    EIR_ADMIN_KEY: undefined,
  };
  const sql = connect(inject("apiDatabaseUrl"), { max: 5, role: "anon" });
  const app = createNodeApp(sql, (name) => (name in settings ? settings[name] : process.env[name]), 0);
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(info.port));
  });
  const url = `http://127.0.0.1:${port}`;
  const request = async (method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<ApiResponse> => {
    const response = await fetch(`${url}${path.startsWith("/api/") ? path : `/api/openclaw${path}`}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
  const post = (path: string, raw: string, headers: Record<string, string>) =>
    request("POST", path, raw, { "content-type": "application/json", ...headers });
  return {
    url, calendly, recall,
    // Signup goes through the suite's API: the same database.
    signup: async () => {
      const res = await call("POST", "/signup", {
        email: `owner-${randomUUID()}@example.com`, workspace_name: "Calendly Test", agent_name: "vitest", agent_platform: "openclaw",
      });
      return { orgId: res.body.orgId, apiKey: res.body.apiKey, email: "" };
    },
    as: (workspace) => {
      const auth = (options: RequestOptions = {}) => ({ authorization: `Bearer ${workspace.apiKey}`, ...options.headers });
      return {
        get: (path, options) => request("GET", path, undefined, auth(options)),
        post: (path, json, options) => request("POST", path, json === undefined ? undefined : JSON.stringify(json), { "content-type": "application/json", ...auth(options) }),
        delete: (path, options) => request("DELETE", path, undefined, auth(options)),
      };
    },
    post,
    deliver: (subscription, body, sign) => {
      const raw = JSON.stringify(body);
      const signature = sign ? sign(raw) : calendlySignature(raw, subscription.signing_key);
      return post(new URL(subscription.callback_url).pathname, raw, signature === undefined ? {} : { "Calendly-Webhook-Signature": signature });
    },
    close: async () => {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await sql.end({ timeout: 2 });
      await Promise.all([calendly.close(), recall.close()]);
    },
  };
}
