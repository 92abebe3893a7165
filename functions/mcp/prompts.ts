// MCP prompts: the two routines an agent runs most, as messages that name the tools to call
// in order. The tools do the work; a prompt only sets the agent going.
import { z } from "@hono/zod-openapi";
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";

const whole = (value: string | undefined, fallback: number, max: number) => {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, max) : fallback;
};

const say = (text: string) => ({ messages: [{ role: "user" as const, content: { type: "text" as const, text } }] });

export function registerPrompts(server: McpServer): void {
  server.registerPrompt("daily_pipeline_review", {
    title: "Daily pipeline review",
    description: "Review the pipeline: health, stages and counts, the period's numbers, fresh scores and the stalled leads, ending in today's priorities.",
    argsSchema: { days: z.string().optional().describe("Analytics window in days, 1-365 (default 30).") },
  }, ({ days }) => {
    const window = whole(days, 30, 365);
    return say([
      "Run today's pipeline review for this CRM workspace with the OpenClaw CRM tools.",
      "Read warnings and next_steps in every reply and act on what they say.",
      "",
      "1. getHealth: check the API and database are reachable; if unread_responses lists answers to our feedback, read them.",
      `2. Read the resource crm://pipeline, or call listStages and getAnalytics { "days": ${window} }: stages in order with their lead counts, new, won and lost leads and the conversion rate.`,
      "3. scoreLeads { \"all\": true }: rescore every lead so the hot and warm counts are current.",
      "4. listLeads { \"limit\": 20 } and pick out the hot and warm leads (scoreLabel).",
      "5. listStalledLeads: the leads overdue for follow-up, most urgent first, each with its suggestedAction.",
      "",
      `Then report, briefly: the pipeline by stage; what changed over the last ${window} days; the hot leads;`,
      "the stalled leads with the action each needs; and the three most valuable things to do today.",
      "Change nothing (no emails, stage moves or deletions) without asking me first.",
    ].join("\n"));
  });

  server.registerPrompt("follow_up_stalled_leads", {
    title: "Follow up on stalled leads",
    description: "Work through the leads overdue for follow-up: context for each, the playbook's next action, a drafted follow-up, and the touchpoint that clears it.",
    argsSchema: { limit: z.string().optional().describe("How many stalled leads to work through, most urgent first (default 10, at most 50).") },
  }, ({ limit }) => {
    const count = whole(limit, 10, 50);
    return say([
      "Follow up on the stalled leads in this CRM workspace with the OpenClaw CRM tools.",
      "Read warnings and next_steps in every reply and act on what they say.",
      "",
      `1. listStalledLeads { "limit": ${count} }: the most urgent first, each with stalledReason, suggestedAction and priority.`,
      "2. For each lead, in that order:",
      "   a. getLead { \"leadId\": … } and listTouchpoints { \"leadId\": …, \"limit\": 5 }: who they are and the last exchanges.",
      "   b. recommendOrCreatePlaybook { \"leadId\": … }: the recommended next action for its tier, stage and score.",
      "   c. Draft the follow-up the suggestedAction calls for (an email, a call script, or a polite break-up note after a long silence).",
      "3. Show me the drafts together, one per lead, and wait for my go-ahead.",
      "4. For each approved follow-up: send it (sendSequence { \"leadId\": …, \"sequence\": [ … ] } for email) or do it,",
      "   then logTouchpoint { \"leadId\": …, \"type\": \"email\" | \"call\" | …, \"summary\": … }, which takes the lead off the stalled list.",
      "5. Finish with listStalledLeads again and say what is left.",
    ].join("\n"));
  });
}
