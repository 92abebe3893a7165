#!/usr/bin/env node
// openclaw-crm mcp: an MCP server on stdio, for desktop agents that start their servers as
// commands, in front of a running OpenClaw CRM. It connects to the server's /mcp as an MCP
// client (Streamable HTTP, with the API key) and answers every tools, resources and prompts
// request by asking the server, so the tools, their schemas and the replies are the server's
// own and nothing here needs updating when the API grows.
//
// Plain JavaScript, so it runs with node alone: no build step and no TypeScript loader.
import process from "node:process";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import {
  CallToolRequestSchema, CallToolResultSchema, CompleteRequestSchema, CompleteResultSchema, GetPromptRequestSchema,
  GetPromptResultSchema, ListPromptsRequestSchema, ListPromptsResultSchema, ListResourcesRequestSchema,
  ListResourcesResultSchema, ListResourceTemplatesRequestSchema, ListResourceTemplatesResultSchema, ListToolsRequestSchema,
  ListToolsResultSchema, ReadResourceRequestSchema, ReadResourceResultSchema,
} from "@modelcontextprotocol/sdk/types.js";

const USAGE = `Usage: openclaw-crm mcp [--url <server>] [--key <api key>]

Serves the OpenClaw CRM tools, resources and prompts over MCP on stdin/stdout, forwarding
each request to <server>/mcp with the API key.

  --url   The server: http://127.0.0.1:54400 (npm start), or your Edge Function,
          https://<project>.supabase.co/functions/v1/openclaw. Default: $OPENCLAW_URL,
          else http://127.0.0.1:54400.
  --key   The workspace's API key (rcm_live_…). Default: $OPENCLAW_API_KEY.
          Prefer the variable: a command line is visible to other local users.
`;

/** What to forward, by the capability the server announces. */
const forwarded = {
  tools: [[ListToolsRequestSchema, ListToolsResultSchema], [CallToolRequestSchema, CallToolResultSchema]],
  resources: [
    [ListResourcesRequestSchema, ListResourcesResultSchema], [ListResourceTemplatesRequestSchema, ListResourceTemplatesResultSchema],
    [ReadResourceRequestSchema, ReadResourceResultSchema],
  ],
  prompts: [[ListPromptsRequestSchema, ListPromptsResultSchema], [GetPromptRequestSchema, GetPromptResultSchema]],
  completions: [[CompleteRequestSchema, CompleteResultSchema]],
};

function fail(message) {
  process.stderr.write(`openclaw-crm: ${message}\n`);
  process.exit(1);
}

/** An error's message; the API's error envelope in it (a refused key, say) as code, message and hint. */
function explain(error) {
  const text = error instanceof Error ? error.message : String(error);
  try {
    const { error: refusal } = JSON.parse(text.slice(text.indexOf("{")));
    if (refusal?.code) return `${refusal.code}: ${refusal.message}. Hint: ${refusal.hint}`;
  } catch {
    // not the API's envelope
  }
  return text;
}

/** The server's MCP endpoint: <server>/mcp, unless the URL names it already. */
function endpoint(server) {
  let url;
  try {
    url = new URL(server);
  } catch {
    fail(`--url ${server} is not a URL; pass the server's address, e.g. http://127.0.0.1:54400`);
  }
  if (!/\/mcp\/?$/.test(url.pathname)) url.pathname = `${url.pathname.replace(/\/+$/, "")}/mcp`;
  return url;
}

async function mcp(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: "string" }, key: { type: "string" }, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const url = endpoint(values.url ?? process.env.OPENCLAW_URL ?? "http://127.0.0.1:54400");
  const key = values.key ?? process.env.OPENCLAW_API_KEY;
  if (!key) fail("no API key: pass --key rcm_live_… or set OPENCLAW_API_KEY (POST /api/openclaw/signup issues one)");

  const client = new Client({ name: "openclaw-crm-stdio", version: "1.0.0" });
  try {
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
  } catch (error) {
    fail(`cannot connect to ${url.href}: ${explain(error)}`);
  }

  const capabilities = client.getServerCapabilities() ?? {};
  const server = new Server(client.getServerVersion() ?? { name: "openclaw-crm", version: "1.0.0" }, {
    capabilities, instructions: client.getInstructions(),
  });
  for (const [capability, pairs] of Object.entries(forwarded)) {
    if (!capabilities[capability]) continue;
    for (const [requestSchema, resultSchema] of pairs) {
      server.setRequestHandler(requestSchema, (request, extra) => client.request(request, resultSchema, { signal: extra.signal }));
    }
  }
  server.onclose = () => {
    void client.close().finally(() => process.exit(0));
  };
  await server.connect(new StdioServerTransport());
}

const [command, ...rest] = process.argv.slice(2);
if (command === "mcp") {
  await mcp(rest).catch((error) => fail(explain(error)));
} else if (command === undefined || command === "help" || command === "--help" || command === "-h") {
  process.stdout.write(USAGE);
} else {
  process.stderr.write(USAGE);
  fail(`unknown command ${command}`);
}
