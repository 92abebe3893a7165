// A lead's proposal engagement as agents read it (app.proposal_tracking), shared by
// GET /api/tracking/proposal and GET /api/openclaw/proposals.
import { z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";

export const ProposalTracking = z.object({
  totalViews: z.number().int().openapi({ description: "Counted visits (bots and the org's own previews excluded)." }),
  timeOnPage: z.number().openapi({ description: "Seconds the page was visible, summed over visits." }),
  sectionsViewed: z.array(z.string()).openapi({ description: "Sections scrolled into view in any visit.", example: ["hero", "problem", "offer"] }),
  videoCompletion: z.number().int().openapi({ description: "Furthest video milestone reached: 0, 25, 50, 75 or 100 (percent)." }),
  ctaClicks: z.number().int(),
  lastViewedAt: z.string().nullable(),
}).openapi("ProposalTracking");
export type ProposalTrackingRow = z.infer<typeof ProposalTracking>;

/** The rollup for one of the caller's leads; app.proposal_tracking answers 404 for any other. */
export async function readProposalTracking(db: Tx, leadId: string): Promise<ProposalTrackingRow> {
  const [row] = await db<{ tracking: ProposalTrackingRow }[]>`select app.proposal_tracking(${leadId}) as tracking`;
  const tracking = row!.tracking;
  return { ...tracking, timeOnPage: Number(tracking.timeOnPage) };
}
