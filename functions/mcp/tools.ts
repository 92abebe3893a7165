// The MCP tools: one per operation of the REST contract that an agent calls with its key,
// derived from the app's OpenAPI route registry, so no tool is written by hand:
//   * name = the route's operationId, unchanged (the name typed clients and /openapi.json use);
//   * input schema = the route's path parameters, query and JSON body in one object, as the
//     OpenAPI generator turns the route's own zod schemas into JSON Schema (descriptions and
//     examples included), which is exactly what /openapi.json publishes;
//   * annotations from the method, with the few exceptions the method cannot tell listed below.
// A call is the REST request itself (see server.ts: the app's own fetch, with the caller's
// key), so authentication, RLS, validation and its hints, idempotency, limits and the reply
// shape are the REST ones; the reply comes back whole, warnings and next_steps included.
import type { OpenAPIHono } from "@hono/zod-openapi";
// @ts-types="@modelcontextprotocol/sdk/types"
import type { CallToolResult, Tool as McpTool, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import type { AppEnv } from "../http/context.ts";
import { idempotencyError } from "../http/reply.ts";

/** The app the tools are derived from: its route registry and the document generated from it. */
export type RouteSource = Pick<OpenAPIHono<AppEnv>, "openAPIRegistry" | "getOpenAPI31Document">;

type Json = Record<string, unknown>;
type Method = "get" | "post" | "put" | "patch" | "delete";

export interface RestRequest {
  method: Method;
  /** The path with its parameters filled in, e.g. /api/openclaw/leads/rp_…. */
  path: string;
  query: URLSearchParams;
  /** Sent as JSON when defined. */
  body?: unknown;
  headers: Record<string, string>;
}

export interface RestReply {
  status: number;
  /** The parsed JSON reply (the text itself if it was not JSON). */
  body: unknown;
}

/** Sends one REST request as the MCP caller (server.ts binds it to the caller's key). */
export type Rest = (request: RestRequest) => Promise<RestReply>;

export interface Tool {
  /** What tools/list announces. */
  definition: McpTool;
  method: Method;
  /** The route's path template, e.g. /api/openclaw/leads/{leadId}. */
  path: string;
  pathParams: string[];
  queryParams: string[];
  /** "fields": the body's fields are arguments of their own; "whole": the body is the `body` argument. */
  body: "none" | "fields" | "whole";
  /** The route honours Idempotency-Key: the tool takes it as `idempotencyKey`. */
  idempotencyKey: boolean;
}

const IDEMPOTENCY_ARGUMENT = "idempotencyKey";

// The method says most of it: a GET only reads; a DELETE removes (soft deletes included: the
// record leaves every list); PUT and PATCH set the fields they name, so repeating one changes
// nothing more, and nothing is removed; a POST creates or acts. No tool reaches beyond this
// CRM unless listed below (openWorldHint defaults to true in MCP, so it is always stated).
const byMethod: Record<Method, ToolAnnotations> = {
  get: { readOnlyHint: true, openWorldHint: false },
  post: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  put: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  patch: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  delete: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
};

/** What the method cannot tell, by operationId. An id no route has fails the catalogue. */
const exceptions: Record<string, ToolAnnotations> = {
  // POST because it takes a body; it only reads.
  getSpiderWeb: { readOnlyHint: true, destructiveHint: undefined, idempotentHint: undefined },
  // Stages left out of the body are removed (their leads move); the same body again changes nothing.
  setupWorkspace: { destructiveHint: true, idempotentHint: true },
  // Recomputes scores from the current data: the same call again gives the same scores.
  scoreLeads: { idempotentHint: true },
  // Set a campaign's status.
  pauseCampaign: { idempotentHint: true },
  resumeCampaign: { idempotentHint: true },
  // These reach outside the CRM: enrichment providers and company websites, Calendly, and
  // the lead's inbox.
  enrichLead: { openWorldHint: true },
  bulkEnrichLeads: { openWorldHint: true },
  connectCalendly: { openWorldHint: true },
  disconnectCalendly: { openWorldHint: true },
  sendSequence: { openWorldHint: true },
  enrollLead: { openWorldHint: true },
};

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/** True when the route is called with a workspace's API key (required or optional). */
function takesApiKey(security: unknown): boolean {
  return Array.isArray(security) && security.some((requirement) => isObject(requirement) && "bearerAuth" in requirement);
}

/**
 * True when the route honours Idempotency-Key: it documents the kit's 422 answer for a reused
 * key, as every route behind the idempotency middleware does (the registry keeps a route's
 * responses, not its middleware).
 */
function honoursIdempotencyKey(responses: unknown): boolean {
  return isObject(responses) && responses[422] === idempotencyError[422];
}

const COMPONENT_REF = "#/components/schemas/";

/**
 * The schema with references to the document's components rewritten to $defs, which it
 * collects (with whatever those reference in turn): a tool's input schema stands alone.
 */
function localise(schema: unknown, components: Json, defs: Json): unknown {
  if (Array.isArray(schema)) return schema.map((item) => localise(item, components, defs));
  if (!isObject(schema)) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "$ref" && typeof value === "string" && value.startsWith(COMPONENT_REF)) {
      const name = value.slice(COMPONENT_REF.length);
      if (!(name in defs)) {
        defs[name] = {};
        defs[name] = localise(components[name], components, defs);
      }
      out.$ref = `#/$defs/${name}`;
    } else {
      out[key] = localise(value, components, defs);
    }
  }
  return out;
}

/** A schema with its top-level reference followed. */
function resolved(schema: unknown, components: Json): unknown {
  if (isObject(schema) && typeof schema.$ref === "string" && schema.$ref.startsWith(COMPONENT_REF)) {
    return resolved(components[schema.$ref.slice(COMPONENT_REF.length)], components);
  }
  return schema;
}

function describe(summary: string, description: string | undefined, method: Method, path: string, idempotencyKey: boolean): string {
  const parts = [summary.replace(/\.?$/, ".")];
  if (description) parts.push(description);
  if (idempotencyKey) {
    parts.push(`Pass ${IDEMPOTENCY_ARGUMENT} (a fresh UUID per action, the same one on a retry) and a retry never acts twice.`);
  }
  // Last, so an agent can map a REST call named in next_steps to this tool.
  parts.push(`REST: ${method.toUpperCase()} ${path}.`);
  return parts.join(" ");
}

/** One operation as a tool; throws, naming the operation, when it cannot be one. */
function toTool(route: Json, operation: Json, components: Json): Tool {
  const name = String(route.operationId);
  const method = String(route.method) as Method;
  const path = String(route.path);
  const properties: Record<string, object> = {};
  const required: string[] = [];
  const defs: Json = {};
  const add = (argument: string, schema: unknown, isRequired: boolean) => {
    if (argument in properties) throw new Error(`MCP tool ${name}: argument "${argument}" would mean two things (path, query or body); rename one in the route's schemas`);
    properties[argument] = localise(schema, components, defs) as object;
    if (isRequired) required.push(argument);
  };

  const requestBody = isObject(operation.requestBody) ? operation.requestBody : undefined;
  const content = requestBody && isObject(requestBody.content) ? requestBody.content["application/json"] : undefined;
  const bodySchema = isObject(content) ? resolved(content.schema, components) : undefined;
  const bodyFields = isObject(bodySchema) && bodySchema.type === "object" && isObject(bodySchema.properties) ? bodySchema.properties : {};

  const pathParams: string[] = [];
  const queryParams: string[] = [];
  for (const parameter of Array.isArray(operation.parameters) ? operation.parameters : []) {
    if (!isObject(parameter) || (parameter.in !== "path" && parameter.in !== "query")) continue;
    // A query parameter that stands in for a JSON body field when the body is not JSON (POST
    // /imports with a text/csv body: mapping, fileName) is the body's field in a tool.
    if (parameter.in === "query" && Object.hasOwn(bodyFields, String(parameter.name))) continue;
    const schema = isObject(parameter.schema) ? { ...parameter.schema } : {};
    if (typeof parameter.description === "string" && schema.description === undefined) schema.description = parameter.description;
    add(String(parameter.name), schema, parameter.required === true);
    (parameter.in === "path" ? pathParams : queryParams).push(String(parameter.name));
  }

  let body: Tool["body"] = "none";
  let additionalProperties: unknown = false;
  if (isObject(content) && content.schema !== undefined) {
    const schema = resolved(content.schema, components);
    if (isObject(schema) && schema.type === "object" && isObject(schema.properties)) {
      body = "fields";
      const bodyRequired = Array.isArray(schema.required) ? schema.required : [];
      for (const [field, fieldSchema] of Object.entries(schema.properties)) add(field, fieldSchema, bodyRequired.includes(field));
      additionalProperties = schema.additionalProperties;
    } else {
      body = "whole";
      add("body", content.schema, requestBody?.required === true);
    }
  }

  const idempotencyKey = method === "post" && honoursIdempotencyKey(route.responses);
  if (idempotencyKey) {
    add(IDEMPOTENCY_ARGUMENT, {
      type: "string", minLength: 1, maxLength: 255,
      description: "Sent as the Idempotency-Key header: the same key and arguments replay the first answer instead of acting again.",
    }, false);
  }

  const inputSchema: McpTool["inputSchema"] = { type: "object", properties, ...(required.length ? { required } : {}) };
  // A strict body (or none) takes no other arguments; a loose one passes them on to the route.
  if (additionalProperties !== undefined) inputSchema.additionalProperties = additionalProperties;
  if (Object.keys(defs).length > 0) inputSchema.$defs = defs;

  const summary = typeof route.summary === "string" ? route.summary : name;
  const description = typeof route.description === "string" ? route.description : undefined;
  return {
    definition: {
      name,
      title: summary,
      description: describe(summary, description, method, path, idempotencyKey),
      inputSchema,
      annotations: { title: summary, ...byMethod[method], ...exceptions[name] },
    },
    method, path, pathParams, queryParams, body, idempotencyKey,
  };
}

/**
 * Every documented route called with a workspace's key, as a tool, in registry order. Left out:
 * routes without a key (signup, the setup schema, public pages, webhook receivers, the
 * tracking beacon: an MCP session already has a key, or they are not an agent's to call) and
 * the mail worker's tick (the deployment's secret).
 */
export function toolCatalogue(app: RouteSource): Map<string, Tool> {
  const document = app.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "OpenClaw CRM API", version: "1.0.0" } }) as unknown as Json;
  const paths = isObject(document.paths) ? document.paths : {};
  const components = isObject(document.components) && isObject(document.components.schemas) ? document.components.schemas : {};
  const tools = new Map<string, Tool>();
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== "route") continue;
    const route = definition.route as unknown as Json;
    if (route.hide === true || !takesApiKey(route.security)) continue;
    const item = paths[String(route.path)];
    const operation = isObject(item) ? item[String(route.method)] : undefined;
    if (!isObject(operation)) throw new Error(`MCP tools: ${String(route.method)} ${String(route.path)} is not in the OpenAPI document`);
    const tool = toTool(route, operation, components);
    if (tools.has(tool.definition.name)) throw new Error(`MCP tools: two routes have operationId ${tool.definition.name}`);
    tools.set(tool.definition.name, tool);
  }
  const unknown = Object.keys(exceptions).filter((name) => !tools.has(name));
  if (unknown.length > 0) throw new Error(`MCP tools: annotation exceptions name no tool: ${unknown.join(", ")} (functions/mcp/tools.ts)`);
  return tools;
}

/** A refusal of the arguments before any request, in the API's error shape. */
function argumentError(tool: Tool, message: string, hint: string): RestReply {
  return {
    status: 400,
    body: { success: false, error: { code: "invalid_arguments", message: `${tool.definition.name}: ${message}`, hint }, warnings: [], next_steps: [] },
  };
}

function queryValues(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(queryValues);
  return [isObject(value) ? JSON.stringify(value) : String(value)];
}

/** Sends the tool's REST request: path parameters into the path, query ones into the query, the rest as the body. */
export async function callRoute(tool: Tool, args: Json, rest: Rest): Promise<RestReply> {
  const accepted = Object.keys(tool.definition.inputSchema.properties ?? {});
  const unknown = Object.keys(args).filter((key) => !accepted.includes(key));
  if (unknown.length > 0 && tool.body !== "fields") {
    return argumentError(tool, `unknown argument(s) ${unknown.join(", ")}`, `This tool takes: ${accepted.join(", ") || "no arguments"}.`);
  }
  const missing = tool.pathParams.filter((name) => args[name] === undefined || args[name] === null || args[name] === "");
  if (missing.length > 0) {
    return argumentError(tool, `${missing.join(", ")} is required`, `Pass ${missing.map((name) => `"${name}"`).join(" and ")}; the tool's input schema describes it.`);
  }
  const path = tool.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(String(args[name])));
  const query = new URLSearchParams();
  for (const name of tool.queryParams) {
    if (args[name] === undefined || args[name] === null) continue;
    for (const value of queryValues(args[name])) query.append(name, value);
  }
  const headers: Record<string, string> = {};
  const key = args[IDEMPOTENCY_ARGUMENT];
  if (tool.idempotencyKey && key !== undefined) headers["idempotency-key"] = String(key);

  let body: unknown;
  if (tool.body === "whole") body = args.body ?? {};
  if (tool.body === "fields") {
    const taken = new Set([...tool.pathParams, ...tool.queryParams, ...(tool.idempotencyKey ? [IDEMPOTENCY_ARGUMENT] : [])]);
    body = Object.fromEntries(Object.entries(args).filter(([name]) => !taken.has(name)));
  }
  return rest({ method: tool.method, path, query, body, headers });
}

interface ErrorReply {
  success: false;
  error: { code?: unknown; message?: unknown; hint?: unknown };
  next_steps?: unknown;
}

const isErrorReply = (body: unknown): body is ErrorReply => isObject(body) && body.success === false && isObject(body.error);

/**
 * The REST reply as a tool result: the JSON reply as structured content and as text, and a
 * refusal (any `success: false` or error status) as a tool error whose first line names the
 * code and message and whose second gives the hint, so the agent can correct itself.
 */
export function toolResult(reply: RestReply): CallToolResult {
  const json = isObject(reply.body) ? reply.body : undefined;
  const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
  const failed = reply.status >= 400 || json?.success === false;
  if (!failed) return { content: [{ type: "text", text }], ...(json ? { structuredContent: json } : {}) };

  const lines: string[] = [];
  if (isErrorReply(reply.body)) {
    const { code, message, hint } = reply.body.error;
    lines.push(`Error ${reply.status} ${String(code)}: ${String(message)}`);
    if (hint) lines.push(`Hint: ${String(hint)}`);
    const steps = Array.isArray(reply.body.next_steps) ? reply.body.next_steps : [];
    if (steps.length > 0) lines.push(`Next steps: ${steps.map(String).join("; ")}`);
  } else {
    lines.push(`Error ${reply.status}`);
  }
  return {
    isError: true,
    content: [{ type: "text", text: lines.join("\n") }, { type: "text", text }],
    ...(json ? { structuredContent: json } : {}),
  };
}
