// GET /org/tier: the plan, its limits and current usage.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../context.ts";
import { bearerAuth, commonErrors, envelope, json, reply } from "../reply.ts";
import { tenantTransaction } from "../tenant.ts";
import { validationHook } from "../validation.ts";

const TierReply = envelope({
  orgId: z.string(),
  tier: z.enum(["free", "pro", "ultra"]),
  limits: z.object({
    leads: z.number().int(),
    campaigns: z.number().int().nullable().openapi({ description: "null means unlimited." }),
  }),
  usage: z.object({
    leads: z.number().int().openapi({ description: "Leads counted against the limit (soft-deleted included)." }),
    activeLeads: z.number().int(),
    deletedLeads: z.number().int().openapi({ description: "Soft-deleted; still counted until permanently deleted." }),
  }),
  upgrade_url: z.string(),
}).openapi("OrgTierReply");

const tierRoute = createRoute({
  method: "get",
  path: "/org/tier",
  tags: ["Org"],
  summary: "Current plan tier, limits and usage",
  security: bearerAuth,
  middleware: [tenantTransaction],
  responses: { 200: json(TierReply, "The plan and usage."), ...commonErrors },
});

interface TierRow {
  orgId: string;
  tier: "free" | "pro" | "ultra";
  leadLimit: number;
  campaignLimit: number | null;
  leads: number;
  liveLeads: number;
  deletedLeads: number;
}

export const orgRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(tierRoute, async (c) => {
    const [row] = await c.var.db<TierRow[]>`
      select org_id as "orgId", tier, lead_limit as "leadLimit", campaign_limit as "campaignLimit",
             leads, live_leads as "liveLeads", deleted_leads as "deletedLeads"
      from app.org_tier()`;
    const t = row!;
    const nearLimit = t.leads >= t.leadLimit * 0.9;
    return reply(c, {
      orgId: t.orgId,
      tier: t.tier,
      limits: { leads: t.leadLimit, campaigns: t.campaignLimit },
      usage: { leads: t.leads, activeLeads: t.liveLeads, deletedLeads: t.deletedLeads },
      upgrade_url: c.var.config.upgradeUrl,
    }, nearLimit ? {
      warnings: [`${t.leads} of ${t.leadLimit} leads used on the ${t.tier} tier`],
      next_steps: [`Ask your human to upgrade at ${c.var.config.upgradeUrl}, or permanently delete leads you no longer need`],
    } : {});
  });
