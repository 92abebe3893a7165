// /mcp: the MCP server over the same app, for agents that speak the Model Context Protocol.
// Streamable HTTP in stateless mode with JSON replies (the SDK's web-standard transport, so it
// runs wherever the app does: Node and the Deno Edge Function): each POST gets a fresh server
// and transport, nothing is kept between requests, and any process or isolate can answer.
// The caller's API key is checked before any MCP processing (401 in the API's error shape);
// every tool call, resource read and so on is then the REST request itself, sent through the
// app's own fetch with that key, so it acts as that workspace under row-level security.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
// The SDK's subpath types are found through its typesVersions, which Deno does not read: the
// @ts-types lines point Deno at the same declarations (tsc and Node ignore them).
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { AppEnv } from "../http/context.ts";
import { ApiError, errorReply, payloadTooLarge } from "../http/errors.ts";
import { createRouter } from "../http/router.ts";
import { readApiKey, tenantAuthenticated } from "../http/tenant.ts";
import { registerPrompts } from "./prompts.ts";
import { registerResources } from "./resources.ts";
import { callRoute, type Rest, type RouteSource, type Tool, toolCatalogue, toolResult } from "./tools.ts";

/** The app /mcp serves: where the tools come from, and what answers their REST requests. */
export type McpSite = RouteSource & Pick<OpenAPIHono<AppEnv>, "fetch">;

const SERVER_INFO = { name: "openclaw-crm", title: "OpenClaw CRM", version: "1.0.0" };

// The JSON-RPC envelope around a REST body; the REST route still applies its own cap to the body.
const ENVELOPE_ALLOWANCE_BYTES = 64 * 1024;

const INSTRUCTIONS = [
  "OpenClaw CRM, the ClawCRM agent API as tools. Each tool is one REST operation named by its operationId, acting as the workspace of the API key this connection uses.",
  "Start a session with getHealth. Replies are the REST replies: read warnings and next_steps in each and act on them.",
  "next_steps name REST calls (\"POST /api/openclaw/enrich …\"): each tool's description ends with the REST call it makes (\"REST: POST /api/openclaw/enrich.\"), so call the tool with that method and path, with the JSON body's fields as its arguments.",
  "Enrichment never happens by itself: call enrichLead after createLead. For tools that take idempotencyKey, send a fresh UUID per action and the same one on a retry.",
  "A refusal comes back as a tool error: the first line has the code and message, the next the hint that says how to fix the call.",
].join(" ");

/** REST requests as the caller: the app's own fetch, the caller's key, the caller's connection info. */
function restAs(site: McpSite, c: Context<AppEnv>, key: string): Rest {
  return async ({ method, path, query, body, headers }) => {
    const url = new URL(path, c.req.url);
    url.search = query.toString();
    const init: RequestInit = {
      method: method.toUpperCase(),
      headers: { ...headers, accept: "application/json", authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    };
    const response = await site.fetch(new Request(url, init), c.env);
    const text = await response.text();
    try {
      return { status: response.status, body: JSON.parse(text) as unknown };
    } catch {
      return { status: response.status, body: text };
    }
  };
}

function mcpServer(tools: Map<string, Tool>, rest: Rest): McpServer {
  const server = new McpServer(SERVER_INFO, { instructions: INSTRUCTIONS, capabilities: { tools: {} } });
  // Tools at the protocol level rather than through registerTool: their schemas are JSON Schema
  // already (toolCatalogue), and the arguments must reach the route as sent, so that the route's
  // own validation, with its hints, is the one that judges them.
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...tools.values()].map((tool) => tool.definition) }));
  server.server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const tool = tools.get(request.params.name);
    if (!tool) {
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool ${request.params.name}: tools/list names every tool (the REST operationIds, e.g. createLead)`);
    }
    return toolResult(await callRoute(tool, request.params.arguments ?? {}, rest));
  });
  registerResources(server, tools, rest);
  registerPrompts(server);
  return server;
}

/** The /mcp route, to mount on the app whose routes it serves (functions/app.ts). */
export function mcpRoutes(site: McpSite) {
  // Built on first use (a quarter of a second): a cold Edge isolate serving REST never pays for it.
  let tools: Map<string, Tool> | undefined;

  return createRouter()
    .use("*", async (c, next) => {
      await next();
      if (c.res.status === 401) c.res.headers.set("WWW-Authenticate", 'Bearer realm="OpenClaw CRM"');
    })
    .use("*", (c, next) => bodyLimit({
      maxSize: c.var.config.maxBodyBytes + ENVELOPE_ALLOWANCE_BYTES,
      onError: (c) => {
        c.header("Connection", "close");
        return errorReply(c, payloadTooLarge(c.var.config.maxBodyBytes + ENVELOPE_ALLOWANCE_BYTES));
      },
    })(c, next))
    .use("*", tenantAuthenticated)
    .post("/", async (c) => {
      tools ??= toolCatalogue(site);
      const server = mcpServer(tools, restAs(site, c, readApiKey(c) ?? ""));
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      await server.connect(transport);
      try {
        // tenantAuthenticated has read the body; the transport gets a request of its own with it.
        const request = new Request(c.req.url, { method: "POST", headers: c.req.raw.headers, body: await c.req.text() });
        return await transport.handleRequest(request);
      } finally {
        await server.close();
      }
    })
    .all("/", (c) => {
      c.header("Allow", "POST");
      return errorReply(c, new ApiError(405, "method_not_allowed", `${c.req.method} /mcp is not supported`,
        "POST JSON-RPC messages to /mcp. The server is stateless: there is no session to resume or delete and no server-sent event stream to open."));
    });
}
