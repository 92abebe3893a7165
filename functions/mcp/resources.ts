// MCP resources: things an agent (or its human) attaches as context rather than calls.
//   crm://pipeline          the pipeline at a glance: stages with their lead counts, the last
//                           30 days' numbers and how many leads are stalled;
//   crm://leads/{leadId}    one lead, as GET /leads/{leadId} answers it.
// Both are read through the tools' REST calls, by operationId, so they answer exactly what
// the API answers to the same key, under the same rules.
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { type McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { callRoute, type Rest, type Tool } from "./tools.ts";

type Json = Record<string, unknown>;

/** MCP's code for a resource that does not exist (the SDK names no constant for it). */
const RESOURCE_NOT_FOUND = -32002;
const JSON_TYPE = "application/json";

interface Reply {
  success?: boolean;
  error?: { code?: string; message?: string; hint?: string };
  warnings?: string[];
  next_steps?: string[];
}

/** Calls an operation by its operationId; a refusal becomes a protocol error carrying its message and hint. */
function operations(tools: Map<string, Tool>, rest: Rest) {
  return async <T extends Json>(operationId: string, args: Json = {}): Promise<T & Reply> => {
    const tool = tools.get(operationId);
    if (!tool) throw new McpError(ErrorCode.InternalError, `No operation ${operationId}`);
    const { status, body } = await callRoute(tool, args, rest);
    const reply = (typeof body === "object" && body !== null ? body : {}) as T & Reply;
    if (status >= 400 || reply.success === false) {
      const message = `${reply.error?.message ?? `HTTP ${status}`}${reply.error?.hint ? `. Hint: ${reply.error.hint}` : ""}`;
      throw new McpError(status === 404 ? RESOURCE_NOT_FOUND : status < 500 ? ErrorCode.InvalidParams : ErrorCode.InternalError, message, reply.error);
    }
    return reply;
  };
}

const jsonContents = (uri: URL, value: unknown) => ({ contents: [{ uri: uri.href, mimeType: JSON_TYPE, text: JSON.stringify(value) }] });

export function registerResources(server: McpServer, tools: Map<string, Tool>, rest: Rest): void {
  const call = operations(tools, rest);

  server.registerResource("pipeline", "crm://pipeline", {
    title: "Pipeline summary",
    description: "The pipeline at a glance: every stage in order with its live lead count, the last 30 days' analytics (new, won, lost, conversion, score distribution) and how many leads are stalled.",
    mimeType: JSON_TYPE,
  }, async (uri) => {
    const [stages, analytics, stalled] = await Promise.all([
      call<{ stages: Json[] }>("listStages", { limit: 200 }),
      call("getAnalytics", { days: 30 }),
      call<{ total: number }>("listStalledLeads", { limit: 1 }),
    ]);
    const { success: _s, warnings: _w, next_steps: _n, ...numbers } = analytics;
    return jsonContents(uri, {
      stages: stages.stages,
      stalledLeads: stalled.total,
      analytics: numbers,
      warnings: [...(stages.warnings ?? []), ...(analytics.warnings ?? [])],
      next_steps: [...new Set([...(analytics.next_steps ?? []), ...(stalled.total > 0 ? stalled.next_steps ?? [] : [])])],
    });
  });

  const leadTemplate = new ResourceTemplate("crm://leads/{leadId}", {
    // The 50 most recent leads, so a client can offer them; any other id reads as well.
    list: async () => {
      const { leads } = await call<{ leads: { id: string; firstName: string; lastName: string | null; email: string; stage: string | null }[] }>("listLeads", { limit: 50 });
      return {
        resources: leads.map((lead) => ({
          uri: `crm://leads/${lead.id}`,
          name: [lead.firstName, lead.lastName].filter(Boolean).join(" "),
          description: `${lead.email}${lead.stage ? `, in ${lead.stage}` : ""}`,
          mimeType: JSON_TYPE,
        })),
      };
    },
  });
  server.registerResource("lead", leadTemplate, {
    title: "Lead",
    description: "One lead by id (rp_…), as GET /api/openclaw/leads/{leadId} answers it: every field, enrichment, score and proposal link, with warnings and next_steps.",
    mimeType: JSON_TYPE,
  }, async (uri, { leadId }) => jsonContents(uri, await call("getLead", { leadId: String(leadId) })));
}
