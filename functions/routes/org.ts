// GET /org/tier: the plan, its limits and current usage (leads and campaigns).
import { createRoute, z } from "@hono/zod-openapi";
import { tiers } from "../http/enums.ts";
import { bearerAuth, commonErrors, envelope, json, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";

const TierReply = envelope({
  orgId: z.string(),
  tier: z.enum(tiers),
  limits: z.object({
    leads: z.number().int(),
    campaigns: z.number().int().nullable().openapi({ description: "null means unlimited." }),
  }),
  usage: z.object({
    leads: z.number().int().openapi({ description: "Leads counted against the limit (soft-deleted included)." }),
    activeLeads: z.number().int(),
    deletedLeads: z.number().int().openapi({ description: "Soft-deleted; still counted until permanently deleted." }),
    campaigns: z.number().int().openapi({ description: "Campaigns counted against the limit (all but archived)." }),
    archivedCampaigns: z.number().int().openapi({ description: "Archived campaigns; they do not count." }),
  }),
  upgrade_url: z.string(),
}).openapi("OrgTierReply");

const tierRoute = createRoute({
  operationId: "getOrgTier",
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
  campaigns: number;
  archivedCampaigns: number;
}

export const orgRoutes = createRouter()
  .openapi(tierRoute, async (c) => {
    const [row] = await c.var.db<TierRow[]>`
      select org_id as "orgId", tier, lead_limit as "leadLimit", campaign_limit as "campaignLimit",
             leads, live_leads as "liveLeads", deleted_leads as "deletedLeads",
             campaigns, archived_campaigns as "archivedCampaigns"
      from app.org_tier()`;
    const t = row!;
    const upgrade = c.var.config.upgradeUrl;
    const leadsNearLimit = t.leads >= t.leadLimit * 0.9;
    const campaignsAtLimit = t.campaignLimit !== null && t.campaigns >= t.campaignLimit;
    return reply(c, {
      orgId: t.orgId,
      tier: t.tier,
      limits: { leads: t.leadLimit, campaigns: t.campaignLimit },
      usage: {
        leads: t.leads, activeLeads: t.liveLeads, deletedLeads: t.deletedLeads,
        campaigns: t.campaigns, archivedCampaigns: t.archivedCampaigns,
      },
      upgrade_url: upgrade,
    }, {
      warnings: [
        ...(leadsNearLimit ? [`${t.leads} of ${t.leadLimit} leads used on the ${t.tier} tier`] : []),
        ...(campaignsAtLimit ? [`${t.campaigns} of ${t.campaignLimit} campaigns used on the ${t.tier} tier`] : []),
      ],
      next_steps: [
        ...(leadsNearLimit ? [`Ask your human to upgrade at ${upgrade}, or permanently delete leads you no longer need`] : []),
        ...(campaignsAtLimit ? [`Ask your human to upgrade at ${upgrade}, or archive a campaign you no longer run`] : []),
      ],
    });
  });
