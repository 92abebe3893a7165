// API keys: list, create, revoke, rotate (the old key keeps working for an overlap window),
// and recovery of a lost key through the owner's mailbox. The rules live in SQL
// (20_orgs_keys.sql): app.create_api_key, app.revoke_api_key (never the last working key
// unless confirmed), app.rotate_api_key, app.request_key_recovery (rate limit, the mail queued
// in app.system_mail) and app.confirm_key_recovery (one-time, 15 minutes). Keys are shown
// once, in the answer that creates them; nothing here ever reads a key's hash.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { asAnonymous } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import type { AppEnv } from "../http/context.ts";
import { ApiError, notFound, toApiError } from "../http/errors.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, errorResponse, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { validationWithHints } from "../http/validation.ts";
import { issuedPage, recoveryErrorPage, recoveryPage } from "../keys/page.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const keyStatuses = ["active", "expiring", "expired", "revoked"] as const;
const TAGS = ["API keys"];

const KeyIdParam = z.object({
  id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" }, example: "key_3f9c0a1b2c3d4e5f6a7b8c9d" }),
});
const TokenQuery = z.object({
  token: z.string().optional().openapi({ description: "The token from the recovery email's link." }),
});

const ApiKey = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().openapi({ description: "The key's first 16 characters, to tell keys apart.", example: "rcm_live_3f9c0a1" }),
  status: z.enum(keyStatuses).openapi({ description: "active; expiring (rotated, still working until expiresAt); expired; revoked." }),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable().openapi({ description: "Last authenticated request (updated at most once a minute)." }),
  expiresAt: z.string().nullable().openapi({ description: "Set by rotation: the end of the overlap window." }),
  revokedAt: z.string().nullable(),
  replacedBy: z.string().nullable().openapi({ description: "The key that replaced this one on rotation." }),
  current: z.boolean().openapi({ description: "true for the key this request was made with." }),
}).openapi("ApiKey");
type ApiKeyRow = z.infer<typeof ApiKey>;

const ListQuery = z.object({
  status: z.enum(keyStatuses, { error: `must be one of: ${keyStatuses.join(", ")}` }).optional(),
  ...pageQuery,
});
const ListReply = envelope({ keys: z.array(ApiKey), ...pageFields }).openapi("ApiKeyListReply");

const CreateBody = z.object({
  name: z.string().trim().min(1).max(100).optional()
    .openapi({ description: "What uses the key, e.g. \"sdr-agent\". Default: \"key <date time>\".", example: "sdr-agent" }),
}).openapi("CreateApiKeyRequest");
const IssuedReply = envelope({
  id: z.string(),
  apiKey: z.string().openapi({ description: "Shown only here. Store it now." }),
  key: ApiKey,
}).openapi("ApiKeyIssuedReply");

const RevokeQuery = z.object({
  confirm: z.enum(["last-key"], { error: "must be last-key" }).optional()
    .openapi({ description: "last-key: revoke even the workspace's last working key (agents are then locked out until a key is recovered)." }),
});
const RevokeReply = envelope({
  id: z.string(),
  revoked: z.literal(true),
  alreadyRevoked: z.boolean(),
  liveKeys: z.number().int().openapi({ description: "Working keys the workspace has left." }),
  key: ApiKey,
}).openapi("ApiKeyRevokedReply");

const RotateBody = z.object({
  overlapHours: z.number().int().min(0).max(168).optional()
    .openapi({ description: "How long the old key keeps working, 0-168 hours (7 days). Default 24.", example: 24 }),
}).openapi("RotateApiKeyRequest");
const RotateReply = envelope({
  id: z.string().openapi({ description: "The new key's id." }),
  apiKey: z.string().openapi({ description: "The new key, shown only here. Store it now." }),
  key: ApiKey,
  previousKey: ApiKey.openapi({ description: "The rotated key: status expiring until expiresAt." }),
}).openapi("ApiKeyRotatedReply");

const RecoverBody = z.object({
  email: z.email().max(320).openapi({ description: "The email the workspace was signed up with.", example: "owner@example.com" }),
}).openapi("RecoverApiKeyRequest");
const RecoverReply = envelope({
  accepted: z.literal(true),
  linkValidMinutes: z.literal(15),
}).openapi("RecoverApiKeyReply");

const ConfirmBody = z.object({
  token: z.string().min(1).max(200).openapi({ description: "The recovery link's token= value (64 hex digits)." }),
}).openapi("ConfirmApiKeyRecoveryRequest");
const RecoveredReply = envelope({
  orgId: z.string(),
  keyId: z.string(),
  apiKey: z.string().openapi({ description: "Shown only here. Store it now." }),
}).openapi("ApiKeyRecoveredReply");

const html = (description: string) => ({ content: { "text/html": { schema: z.string() } }, description });

const RECOVERY_LINK_MINUTES = 15 as const;

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const keySelect = (c: Context<AppEnv>) => c.var.db`
  id, name, key_prefix as prefix, status, created_at as "createdAt", last_used_at as "lastUsedAt",
  expires_at as "expiresAt", revoked_at as "revokedAt", replaced_by as "replacedBy",
  (id = app.current_key_id()) is true as current`;

async function findKey(c: Context<AppEnv>, id: string): Promise<ApiKeyRow> {
  const [row] = await c.var.db<ApiKeyRow[]>`select ${keySelect(c)} from app.api_key_details where id = ${id}`;
  if (!row) throw notFound("API key", id);
  return row;
}

const storeNow = "Store apiKey now: it is shown only once. Only its hash is kept, so nobody can show it again";
const listStep = "GET /api/openclaw/keys lists the workspace's keys (prefix, name, createdAt, lastUsedAt, status)";
const recoverStep = "POST /api/openclaw/keys/recover { \"email\": \"<owner email>\" } (no key needed) mails the owner a link that issues a new key";
const idempotencyWarning = (c: Context) => c.req.header("idempotency-key") !== undefined
  ? ["Idempotency-Key is not honoured here (the answer holds a key, which is never stored): a retry issues another key; revoke any you do not use"]
  : [];

const recoverReply = (c: Context) => reply(c, { accepted: true as const, linkValidMinutes: RECOVERY_LINK_MINUTES }, {
  warnings: [`If this address is a workspace owner's, a link to issue a new API key was emailed to it. It works once, for ${RECOVERY_LINK_MINUTES} minutes after the email is sent`],
  next_steps: [
    "Open the link in the email and press the button, or POST /api/openclaw/keys/recover/confirm { \"token\": \"<the link's token= value>\" }",
    "No email within a few minutes? Check the spam folder and the address; at most 3 requests per address an hour",
  ],
}, 202);

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  method: "get", path: "/keys", tags: TAGS, operationId: "listApiKeys",
  summary: "The workspace's API keys: prefix, name, status, created and last used (never the key itself)",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of keys, newest first."), ...commonErrors },
});
const createKeyRoute = createRoute({
  method: "post", path: "/keys", tags: TAGS, operationId: "createApiKey",
  summary: "Create a named API key (shown once)",
  security: bearerAuth, middleware: [tenantTransaction],
  request: { body: { content: { "application/json": { schema: CreateBody } }, required: false } },
  responses: { 201: json(IssuedReply, "Key created; apiKey is shown only in this answer."), ...conflictError, ...commonErrors },
});
const revokeRoute = createRoute({
  method: "delete", path: "/keys/{id}", tags: TAGS, operationId: "revokeApiKey",
  summary: "Revoke an API key for good (the last working key only with ?confirm=last-key)",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: KeyIdParam, query: RevokeQuery },
  responses: {
    200: json(RevokeReply, "Key revoked (or already revoked)."),
    ...notFoundError,
    409: errorResponse("It is the workspace's last working key: create or rotate one first, or send ?confirm=last-key."),
    ...commonErrors,
  },
});
const rotateRoute = createRoute({
  method: "post", path: "/keys/{id}/rotate", tags: TAGS, operationId: "rotateApiKey",
  summary: "Replace a key with a new one; the old key keeps working for overlapHours (default 24, at most 168)",
  security: bearerAuth, middleware: [tenantTransaction],
  request: { params: KeyIdParam, body: { content: { "application/json": { schema: RotateBody } }, required: false } },
  responses: {
    201: json(RotateReply, "New key issued (shown only here); the old one expires at previousKey.expiresAt."),
    ...notFoundError,
    409: errorResponse("The key is revoked, or was already rotated."),
    ...commonErrors,
  },
});
const recoverRoute = createRoute({
  method: "post", path: "/keys/recover", tags: TAGS, operationId: "recoverApiKey",
  security: [],
  summary: "Lost every key? Email the workspace owner a one-time link that issues a new one (no key needed)",
  description: "Always 202 with the same body, whether or not the address owns a workspace. At most 3 requests per address an hour (429 with Retry-After).",
  request: jsonBody(RecoverBody),
  responses: {
    202: json(RecoverReply, "If the address owns a workspace, the link is on its way."),
    400: errorResponse("Not an email address."),
    429: errorResponse("3 requests for this address in the last hour: see Retry-After."),
    500: errorResponse("Our fault; retry once after 2 s."),
    503: errorResponse("Database unavailable."),
  },
});
const confirmRoute = createRoute({
  method: "post", path: "/keys/recover/confirm", tags: TAGS, operationId: "confirmApiKeyRecovery",
  security: [],
  summary: "Use a recovery link's token: issues a new API key once (no key needed)",
  description: "JSON { token } answers JSON; the recovery page's form (application/x-www-form-urlencoded) answers an HTML page with the key.",
  request: {
    body: {
      content: { "application/json": { schema: ConfirmBody }, "application/x-www-form-urlencoded": { schema: ConfirmBody } },
      required: false,
    },
  },
  responses: {
    201: { ...json(RecoveredReply, "A new key, shown only here (text/html for the form)."), content: { ...json(RecoveredReply, "").content, "text/html": { schema: z.string() } } },
    400: errorResponse("Unknown token."),
    410: errorResponse("The link was already used, or has expired (15 minutes)."),
    500: errorResponse("Our fault; retry once after 2 s."),
    503: errorResponse("Database unavailable."),
  },
});
const pageRoute = createRoute({
  method: "get", path: "/keys/recover", tags: TAGS, operationId: "showApiKeyRecoveryPage",
  security: [],
  summary: "The recovery link's page, /keys/recover?token=… (HTML; changes nothing): a button that issues the new key",
  request: { query: TokenQuery },
  responses: { 200: html("The page with its button."), 400: html("Not a recovery link.") },
});

const isFormPost = (c: Context) => /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(c.req.header("content-type") ?? "");

export const keysRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/keys",
      sort: [{ sql: "created_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
      filters: { status: query.status },
    });
    const where = query.status !== undefined ? db`status = ${query.status}` : db`true`;
    const [fetched, [count]] = await Promise.all([
      db<ApiKeyRow[]>`select ${keySelect(c)}, ${page.keys(db)} from app.api_key_details where ${where} and ${page.after(db)}
                      order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.api_key_details where ${where}`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { keys: rows, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: [
        ...page.next("/keys", { status: query.status }),
        "POST /api/openclaw/keys { \"name\": \"…\" } creates a key; POST /api/openclaw/keys/{id}/rotate replaces one; DELETE /api/openclaw/keys/{id} revokes one",
      ],
    });
  }, validationWithHints({ status: `status is one of: ${keyStatuses.join(", ")}.` }))
  .openapi(createKeyRoute, async (c) => {
    const input = c.req.valid("json");
    const [created] = await c.var.db<{ keyId: string; apiKey: string; name: string }[]>`
      select key_id as "keyId", api_key as "apiKey", name from app.create_api_key(${input.name ?? null})`;
    const key = await findKey(c, created!.keyId);
    return reply(c, { id: key.id, apiKey: created!.apiKey, key }, {
      warnings: [
        storeNow,
        ...(input.name === undefined ? [`No name was given: the key is named "${key.name}"`] : []),
        ...idempotencyWarning(c),
      ],
      next_steps: [
        "Send it as Authorization: Bearer <apiKey> (or x-api-key: <apiKey>)",
        listStep,
      ],
    }, 201);
  }, validationWithHints({ name: "name is 1-100 characters, e.g. { \"name\": \"sdr-agent\" }." }))
  .openapi(revokeRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { confirm } = c.req.valid("query");
    const [result] = await c.var.db<{ alreadyRevoked: boolean; liveKeys: number }[]>`
      select already_revoked as "alreadyRevoked", live_keys as "liveKeys"
      from app.revoke_api_key(${id}, ${confirm === "last-key"})`;
    const key = await findKey(c, id);
    const { alreadyRevoked, liveKeys } = result!;
    return reply(c, { id, revoked: true as const, alreadyRevoked, liveKeys, key }, {
      warnings: [
        ...(alreadyRevoked ? [`Key ${id} was already revoked at ${key.revokedAt}: nothing changed`] : []),
        ...(!alreadyRevoked && key.current ? ["This request's own key is now revoked: use another key from the next request on"] : []),
        ...(liveKeys === 0 ? ["The workspace has no working key left: agents are locked out until one is recovered"] : []),
      ],
      next_steps: liveKeys === 0 ? [recoverStep] : [listStep],
    }, 200);
  }, validationWithHints({ confirm: "Send ?confirm=last-key only to revoke the workspace's last working key on purpose." }))
  .openapi(rotateRoute, async (c) => {
    const { id } = c.req.valid("param");
    const input = c.req.valid("json");
    const [rotated] = await c.var.db<{ keyId: string; apiKey: string }[]>`
      select key_id as "keyId", api_key as "apiKey" from app.rotate_api_key(${id}, ${input.overlapHours ?? 24})`;
    const [key, previousKey] = await Promise.all([findKey(c, rotated!.keyId), findKey(c, id)]);
    const until = previousKey.expiresAt;
    return reply(c, { id: key.id, apiKey: rotated!.apiKey, key, previousKey }, {
      warnings: [
        storeNow,
        previousKey.status === "expired"
          ? `Key ${id} stopped working now (overlapHours 0)`
          : `Key ${id} keeps working until ${until}, then stops`,
        ...idempotencyWarning(c),
      ],
      next_steps: [
        `Switch every agent to the new key (Authorization: Bearer <apiKey>)${previousKey.status === "expired" ? "" : ` before ${until}`}`,
        ...(previousKey.status === "expired" ? [] : [`DELETE /api/openclaw/keys/${id} ends the overlap now, once nothing uses the old key`]),
      ],
    }, 201);
  }, validationWithHints({ overlapHours: "overlapHours is a whole number of hours from 0 to 168 (default 24), e.g. { \"overlapHours\": 24 }." }))
  .openapi(recoverRoute, async (c) => {
    const { email } = c.req.valid("json");
    try {
      await asAnonymous(c.var.sql, (tx) => tx`select app.request_key_recovery(${email})`);
    } catch (err) {
      const apiError = toApiError(err);
      const retryAfter = apiError.extra.retryAfter;
      if (apiError.status === 429 && typeof retryAfter === "number") c.header("Retry-After", String(retryAfter));
      throw apiError;
    }
    return recoverReply(c);
  }, validationWithHints({ email: "Send the workspace owner's email: { \"email\": \"owner@example.com\" }." }))
  .openapi(confirmRoute, async (c) => {
    const form = isFormPost(c);
    const parsed = ConfirmBody.safeParse(form ? c.req.valid("form") : c.req.valid("json"));
    const token = parsed.success ? parsed.data.token : undefined;
    try {
      if (token === undefined) {
        throw new ApiError(400, "invalid_request", "token is required",
          "Send { \"token\": \"<the recovery link's token= value, 64 hex digits>\" } as JSON.");
      }
      const [issued] = await asAnonymous(c.var.sql, (tx) => tx<{ orgId: string; keyId: string; apiKey: string }[]>`
        select org_id as "orgId", key_id as "keyId", api_key as "apiKey" from app.confirm_key_recovery(${token})`);
      if (form) return issuedPage(c, issued!);
      return reply(c, issued!, {
        warnings: [storeNow],
        next_steps: [
          "Send it as Authorization: Bearer <apiKey>",
          "GET /api/openclaw/keys with it, then DELETE /api/openclaw/keys/{id} for any key that was lost or leaked",
        ],
      }, 201);
    } catch (err) {
      if (!form) throw err;
      const apiError = toApiError(err);
      if (apiError.status >= 500) throw err;
      return recoveryErrorPage(c, apiError.status, apiError.message, apiError.hint);
    }
  })
  .openapi(pageRoute, (c) => {
    const { token } = c.req.valid("query");
    if (token === undefined || !/^[0-9a-f]{64}$/.test(token)) {
      return recoveryErrorPage(c, 400, "This is not a key recovery link",
        "Open the link exactly as it is in the email, or ask for a new one: POST /api/openclaw/keys/recover { \"email\": \"<owner email>\" }.");
    }
    return recoveryPage(c, token);
  });
