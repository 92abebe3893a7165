// The one place where failures become agent-facing errors:
// { success: false, error: { code, message, hint } } with the right status.
// Database refusals arrive as SQLSTATE 'CRnnn' (see app.refuse) or as named
// constraints, and are translated here rather than re-checked in TypeScript.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import postgres from "postgres";
import { isConnectionFailure } from "../db.ts";
import { type JsonCap, jsonCaps } from "./caps.ts";

export interface ErrorBody {
  success: false;
  error: { code: string; message: string; hint: string; [extra: string]: unknown };
  warnings: string[];
  next_steps: string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly hint: string,
    readonly extra: Record<string, unknown> = {},
    readonly nextSteps: string[] = [],
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string) =>
  new ApiError(404, "not_found", `${what} ${id} was not found`,
    `Check the id. Ids belong to one workspace: another workspace's ${what.toLowerCase()}s are not visible with this key.`);

/** 57014 from a statement timeout (expensive work runs under one: http/fair-share.ts). */
const queryTimeout = () =>
  new ApiError(503, "query_timeout", "The request took longer than this deployment allows and was stopped",
    "Ask for less at once (a shorter analytics window, a smaller page, a narrower bulk delete), or retry in a minute when the workspace is less busy; nothing was changed.");

interface ConstraintRule {
  status: ContentfulStatusCode;
  code: string;
  message: string;
  hint: string;
}

/** A column held to its cap by app.json_fits (caps.ts), as a writer outside the API meets it. */
const capRule = (field: string, cap: JsonCap, hint: string): ConstraintRule => ({
  status: 400, code: "value_too_large",
  message: `${field} must be at most ${cap.maxBytes.toLocaleString("en-US")} bytes as JSON and nested at most ${cap.maxDepth} deep (as stored: after merging into what is there)`,
  hint,
});

// Named constraints the edge knows how to explain. Unknown ones still become a
// clear 400/409 with the constraint's name, never a 500.
const constraintRules: Record<string, ConstraintRule> = {
  leads_crm_data_size: capRule("crmData", jsonCaps.crmData, "Keep crmData to short facts about the lead; remove keys you no longer need (PATCH with the key set to null) and put long text in a note (POST /api/openclaw/notes)."),
  leads_custom_fields_size: capRule("customFields", jsonCaps.customFields, "Keep customFields to your fields' values; clear ones you no longer need (PATCH with the key set to null)."),
  touchpoints_metadata_size: capRule("metadata", jsonCaps.touchpointMetadata, "Keep metadata to references and short facts; put long text in a note (POST /api/openclaw/notes)."),
  events_data_size: capRule("data", jsonCaps.eventData, "Keep data to the event's details; put large content in a note (POST /api/openclaw/notes)."),
  feedback_context_size: capRule("context", jsonCaps.feedbackContext, "Shorten context to the endpoint, status and error; longer explanations go in description."),
  automation_rules_conditions_size: capRule("conditions", jsonCaps.automationConditions, "Send only the condition keys GET /api/openclaw/automation/rules lists, with short values."),
  sync_sources_event_stages_size: capRule("eventStages", jsonCaps.eventStages, "Map only the events the source sends; remove the others with null."),
  leads_org_email_key: { status: 409, code: "lead_exists", message: "A lead with this email already exists in this workspace", hint: "GET /api/openclaw/leads?q=<email> finds it; update it with PATCH /api/openclaw/leads/{id}." },
  leads_email_check: { status: 400, code: "invalid_email", message: "email must be a valid address of at most 320 characters", hint: "Send email like \"jane@example.com\"." },
  leads_first_name_check: { status: 400, code: "invalid_first_name", message: "firstName must be 1-200 characters", hint: "Send a non-empty firstName." },
  leads_status_check: { status: 400, code: "invalid_status", message: "status must be 1-50 characters", hint: "Send a short status such as \"new\", \"contacted\", \"won\" or \"lost\"." },
  leads_stage_fkey: { status: 400, code: "unknown_stage", message: "The stage does not exist in this workspace", hint: "Pass the name or id of one of your stages." },
  org_members_org_email_key: { status: 409, code: "member_exists", message: "This address is already a member of this workspace", hint: "GET /api/openclaw/members finds them; change their role with PATCH /api/openclaw/members/{id}." },
  org_members_email_check: { status: 400, code: "invalid_email", message: "email must be a valid address of at most 320 characters", hint: "Send email like \"colleague@example.com\"." },
  org_members_role_check: { status: 400, code: "invalid_role", message: "role must be owner, admin, member or viewer", hint: "Send role as one of: owner, admin, member, viewer." },
  orgs_owner_email_key: { status: 409, code: "email_already_registered", message: "A workspace is already registered to this email", hint: "Use the API key issued at signup, or sign up with a different email." },
  orgs_project_slug_key: { status: 409, code: "project_slug_taken", message: "This projectSlug is already used by another workspace", hint: "Choose a different projectSlug (lowercase letters, digits and dashes)." },
  orgs_project_slug_check: { status: 400, code: "invalid_project_slug", message: "projectSlug must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash", hint: "Send projectSlug like \"my-company\"." },
  orgs_primary_color_check: { status: 400, code: "invalid_color", message: "primaryColor must be a hex colour like #1A2B3C", hint: "Send primaryColor as #RRGGBB." },
  stages_color_check: { status: 400, code: "invalid_color", message: "Stage color must be a hex colour like #1A2B3C", hint: "Send color as #RRGGBB." },
  stages_org_name_key: { status: 409, code: "stage_exists", message: "A stage with this name already exists", hint: "Stage names are unique per workspace (case-insensitive)." },
  stages_position_check: { status: 400, code: "invalid_order", message: "Stage order must be 0 or more", hint: "Number stages from 0." },
  stages_name_check: { status: 400, code: "invalid_stage_name", message: "Stage name must be 1-100 characters and not blank", hint: "Send a short name such as \"Qualified\"." },
  custom_fields_org_key_key: { status: 409, code: "field_exists", message: "A custom field with this key already exists", hint: "Keys are unique per workspace (case-insensitive): GET /api/openclaw/fields lists them; change one with PUT /api/openclaw/fields." },
  custom_fields_key_check: { status: 400, code: "invalid_field_key", message: "key must start with a letter and hold only letters, digits and _ (at most 64)", hint: "Send key like \"practiceSize\" or \"annual_revenue\"." },
  custom_fields_label_check: { status: 400, code: "invalid_field_label", message: "label must be 1-200 characters and not blank", hint: "Send a short label such as \"Practice size\", or leave it out to use the key." },
  custom_fields_field_type_check: { status: 400, code: "invalid_field_type", message: "fieldType must be text, number, date, select, multiselect or boolean", hint: "Send fieldType as one of: text, number, date, select, multiselect, boolean." },
  custom_fields_options_check: { status: 400, code: "invalid_field_options", message: "select and multiselect fields need 1-200 distinct, non-empty options; other types take none", hint: "Send options like [\"Small\", \"Large\"] for select/multiselect, and leave options out for other types." },
  notes_lead_fkey: { status: 404, code: "not_found", message: "The lead was not found in this workspace", hint: "Check leadId: GET /api/openclaw/leads lists your leads. Ids belong to one workspace: another workspace's leads are not visible with this key." },
  notes_type_check: { status: 400, code: "invalid_note_type", message: "Note type must be manual, transcript_summary, ai_insight or system", hint: "Send type as one of: manual, transcript_summary, ai_insight, system (default manual)." },
  notes_content_check: { status: 400, code: "invalid_content", message: "Note content must be 1-100000 characters and not blank", hint: "Send the note text in content; split very long transcripts into several notes." },
  touchpoints_lead_fkey: { status: 404, code: "not_found", message: "The lead was not found in this workspace", hint: "Check leadId: GET /api/openclaw/leads lists your leads. Ids belong to one workspace: another workspace's leads are not visible with this key." },
  touchpoints_type_check: { status: 400, code: "invalid_touchpoint_type", message: "Unknown touchpoint type", hint: "Send type (or channel) as one of: email, call, meeting, linkedin, sms, note, form, chat, other." },
  touchpoints_direction_check: { status: 400, code: "invalid_direction", message: "direction must be inbound or outbound", hint: "Send direction as \"inbound\" or \"outbound\", or leave it out." },
  playbooks_org_name_key: { status: 409, code: "playbook_exists", message: "A playbook with this name already exists", hint: "Playbook names are unique per workspace (case-insensitive): GET /api/openclaw/playbooks lists them. Choose another name, or change the existing one with PUT /api/openclaw/playbooks { \"id\": … }." },
  stages_stall_after_days_check: { status: 400, code: "invalid_stall_after_days", message: "stallAfterDays must be 1-365 days", hint: "Send stallAfterDays as a whole number of days from 1 to 365, or null so the stage never stalls." },
  events_score_range: { status: 400, code: "invalid_event_data", message: "quiz_completed data.score must be a number from 0 to 100", hint: "Send data like { \"score\": 80 }, or leave score out." },
  events_percent_range: { status: 400, code: "invalid_event_data", message: "video_watched data.percent must be a number from 0 to 100", hint: "Send data like { \"percent\": 75 } (how far the lead watched), or leave percent out for a full watch." },
  events_seconds_range: { status: 400, code: "invalid_event_data", message: "proposal_viewed data.seconds must be a number of 0 or more", hint: "Send data like { \"seconds\": 95 } (time on the page), or leave seconds out." },
  events_data_check: { status: 400, code: "invalid_event_data", message: "data must be a JSON object", hint: "Send data like { \"seconds\": 95 }, or leave it out." },
  sync_sources_org_name_key: { status: 409, code: "sync_source_exists", message: "A sync source with this name already exists", hint: "Sync source names are unique per workspace: GET /api/openclaw/stages/sync-sources lists them. Choose another name or change the existing one." },
  sync_sources_name_check: { status: 400, code: "invalid_name", message: "A sync source name must be 1-100 characters", hint: "Send a short, non-empty name such as \"Website form\"." },
  sync_sources_type_check: { status: 400, code: "invalid_sync_source_type", message: "Unknown sync source type", hint: "Send type as one of: gmail, api_sdr, form_webhook, generic_webhook." },
  sync_sources_stage_fkey: { status: 400, code: "unknown_stage", message: "The stage does not exist in this workspace", hint: "Pass the name or id of one of your stages (GET /api/openclaw/stages)." },
};

// Text Postgres cannot store or parse, should a check in the kit (validation.ts) not have
// caught it first: NUL, an unpaired surrogate, a document nested too deep for its parser.
const inputErrors: Record<string, Omit<ConstraintRule, "status">> = {
  "22021": { code: "invalid_characters", message: "A text holds a character the database cannot store (NUL or invalid UTF-8)", hint: "Remove NUL characters (\\u0000) and send text as valid UTF-8." },
  "22P05": { code: "invalid_characters", message: "A JSON value holds a character the database cannot store (\\u0000 or an unpaired surrogate)", hint: "Remove \\u0000 and unpaired \\ud800-\\udfff escapes from the JSON you send." },
  "54001": { code: "too_deep", message: "A value is nested too deeply", hint: "Flatten the JSON you send: free-form fields nest at most 10 deep." },
};

const dataErrors: Record<string, string> = {
  "22P02": "A value has the wrong type or format",
  "22007": "A date or time is not valid",
  "22008": "A date or time is out of range",
  "22003": "A number is out of range",
  "22001": "A value is too long",
  "23502": "A required value is missing",
  "22000": "A value is not valid",
  "22023": "A value is not valid",
  "22025": "A value holds an invalid escape sequence",
  "2201B": "A pattern is not a valid regular expression",
  "2202E": "A list index is out of range",
  "22032": "A JSON text is not valid",
};

/**
 * An app.refuse error: detail is the code, or (app.refuse with details) a JSON object with
 * the code, keys for the error (existingId, …) and next_steps for the reply.
 */
function refusal(err: InstanceType<typeof postgres.PostgresError>): ApiError {
  const status = Number(err.code.slice(2)) as ContentfulStatusCode;
  const detail = err.detail ?? "refused";
  if (!detail.startsWith("{")) return new ApiError(status, detail, err.message, err.hint ?? "");
  const { code, next_steps: nextSteps, ...extra } = JSON.parse(detail) as Record<string, unknown>;
  return new ApiError(status, String(code), err.message, err.hint ?? "", extra,
    Array.isArray(nextSteps) ? nextSteps.map(String) : []);
}

export function fromDatabase(err: InstanceType<typeof postgres.PostgresError>): ApiError {
  const sqlState = err.code;
  if (/^CR\d{3}$/.test(sqlState)) return refusal(err);
  // The statement timeout of expensive work (http/fair-share.ts), not an outage.
  if (sqlState === "57014" && /statement timeout/i.test(err.message)) return queryTimeout();
  const rule = err.constraint_name ? constraintRules[err.constraint_name] : undefined;
  if (rule) return new ApiError(rule.status, rule.code, rule.message, rule.hint);
  if (sqlState === "23505") {
    return new ApiError(409, "conflict", `Conflicts with an existing record (${err.constraint_name ?? "unique"})`, "Change the value that must be unique, or update the existing record instead.");
  }
  if (sqlState === "23514" || sqlState === "23503") {
    return new ApiError(400, "invalid_value", `A value was refused (${err.constraint_name ?? sqlState})`, "Check the field values against GET /api/openclaw/setup or /openapi.json.");
  }
  const input = inputErrors[sqlState];
  if (input) return new ApiError(400, input.code, input.message, input.hint);
  if (sqlState in dataErrors) {
    return new ApiError(400, "invalid_value", dataErrors[sqlState]!, "Check the types and lengths of the fields you sent (see /openapi.json).");
  }
  if (sqlState === "42501") {
    return new ApiError(403, "forbidden", "This request may not do that", "The record may belong to another workspace, or the caller's role may not change it (GET /api/openclaw/auth/session shows a signed-in member's role).");
  }
  // A deadlock or a serialization failure: Postgres rolled the whole transaction back, so
  // nothing was written, and the same request normally passes when sent again.
  if (sqlState === "40P01" || sqlState === "40001") return writeConflict();
  // Statement timeout or cancel, too many connections; the connection-level states (57P01
  // on a restart, 57P03 while starting up, class 08) are answered in toApiError.
  if (sqlState === "57014" || sqlState === "53300") {
    return unavailable();
  }
  throw err;
}

const writeConflict = () =>
  new ApiError(409, "write_conflict", "Another request changed the same records at the same moment: this one was rolled back and wrote nothing",
    "Send the same request again after a second (a POST with the same Idempotency-Key); it normally goes through.");

/** Seconds an agent should wait before retrying a 503 database_unavailable (Retry-After). */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

const unavailable = () =>
  new ApiError(503, "database_unavailable", "The database is unavailable (restarting or unreachable)",
    `Retry after ${DATABASE_RETRY_AFTER_SECONDS} seconds, sending a POST again with the same Idempotency-Key so it is never applied twice; GET /api/openclaw/health reports when the database is back.`);

/** Maps anything thrown while handling a request to an ApiError. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  // The database went away (restart, failover, network): the request may be retried.
  if (isConnectionFailure(err)) return unavailable();
  if (err instanceof postgres.PostgresError) {
    try {
      return fromDatabase(err);
    } catch {
      // fall through to the generic answer below
    }
  }
  if (err instanceof HTTPException) return fromHttpException(err);
  return new ApiError(500, "internal_error", "Something went wrong on our side", "Retry once after 2 seconds; if it fails again, POST /api/openclaw/feedback with the request.");
}

function fromHttpException(err: HTTPException): ApiError {
  if (err.status === 413) return payloadTooLarge();
  if (err.status === 415) {
    return new ApiError(415, "unsupported_media_type", "The body must be JSON", "Send the body as JSON with Content-Type: application/json.");
  }
  const status = err.status as ContentfulStatusCode;
  return new ApiError(status, status === 400 ? "invalid_request" : "http_error", err.message || "Bad request",
    err.message.includes("JSON") ? "Send a valid JSON body with Content-Type: application/json." : "Check the request against /openapi.json.");
}

export const payloadTooLarge = (maxBytes?: number) =>
  new ApiError(413, "payload_too_large", "The request body is too large",
    `Send less data per request${maxBytes ? ` (at most ${maxBytes} bytes)` : ""}, e.g. split bulk work into batches.`);

export function errorReply(c: Context, err: ApiError): Response {
  const body: ErrorBody = {
    success: false,
    error: { code: err.code, message: err.message, hint: err.hint, ...err.extra },
    warnings: [],
    next_steps: err.nextSteps,
  };
  return c.json(body, err.status);
}

/**
 * 25P02: a statement sent behind one that failed in the same transaction (a request's
 * statements go out together, tenant.ts). The earlier failure is the one answered (a refused
 * key's 401, say) and the one worth a log line.
 */
const followsEarlierFailure = (err: unknown) => err instanceof postgres.PostgresError && err.code === "25P02";

export function handleError(err: unknown, c: Context): Response {
  const apiError = toApiError(err);
  const upgradeUrl: unknown = c.get("config")?.upgradeUrl;
  if (apiError.status === 402 && typeof upgradeUrl === "string") {
    apiError.extra.upgrade_url = upgradeUrl;
    apiError.nextSteps.push("GET /api/openclaw/org/tier", `Ask your human to upgrade at ${upgradeUrl}`);
  }
  if (apiError.code === "write_conflict") c.header("Retry-After", "1");
  if (apiError.code === "database_unavailable") {
    c.header("Retry-After", String(DATABASE_RETRY_AFTER_SECONDS));
    // An outage is logged once by the breaker in db.ts, not once per refused request.
    if (!isConnectionFailure(err)) console.error(`${c.req.method} ${c.req.path}:`, err);
  } else if (apiError.status >= 500 && !followsEarlierFailure(err)) {
    console.error(`${c.req.method} ${c.req.path}:`, err);
  }
  return errorReply(c, apiError);
}
