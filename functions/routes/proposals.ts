// Proposals: each lead's public page (/p/{slug}). Agents read a proposal with its
// engagement and write its content; app.set_proposal merges and validates the sections
// (the rules live in app.proposal_content_problem), RLS keeps other orgs' leads at 404.
import { createRoute, z } from "@hono/zod-openapi";
import type { AppConfig } from "../config.ts";
import type { Tx } from "../db.ts";
import { capped, jsonBody } from "../http/body.ts";
import { jsonCaps } from "../http/caps.ts";
import { notFound } from "../http/errors.ts";
import { bearerAuth, commonErrors, envelope, json, notFoundError, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";
import { ProposalTracking, readProposalTracking } from "../proposals/tracking.ts";
import { proposalPreviewUrl, proposalUrl } from "../proposals/urls.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const LeadId = z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" });
const Section = z.record(z.string(), z.unknown()).nullable();
const Content = capped(z.object({
  hero: Section.optional().openapi({ description: "{ headline, subheadline }" }),
  problem: Section.optional().openapi({ description: "{ heading, body, points[] }; points default to the lead's enrichment discussion points." }),
  offer: Section.optional().openapi({ description: "{ heading, body, points[] }" }),
  pricing: Section.optional().openapi({ description: "{ heading, body, items: [{ name, price, description? }] }" }),
  video: Section.optional().openapi({ description: "{ url, title }: a direct http(s) video file (mp4/webm)." }),
  cta: Section.optional().openapi({ description: "{ label, url }; default label \"Book a call\", default url the workspace's bookingLink." }),
}).catchall(z.unknown()), jsonCaps.proposalContent, {
  description: "Sections of the page. A PUT merges: fields of a section sent replace those stored, a field or section sent as null is removed, sections left out stay. The page's own rule allows 50,000 characters of JSON in all.",
  hint: "Shorten the sections: a page's content is at most 50,000 characters of JSON (bodies up to 5,000 characters, other texts up to 500).",
  example: { hero: { headline: "A faster front desk for Acme Clinic" }, cta: { label: "Book a 20-minute call", url: "https://cal.com/acme/intro" } },
}).openapi("ProposalContent");

const Proposal = z.object({
  id: z.string(),
  leadId: z.string(),
  proposalId: z.string().openapi({ description: "The slug, as lead replies carry it." }),
  slug: z.string(),
  url: z.string().openapi({ description: "The public page." }),
  previewUrl: z.string().openapi({ description: "The page for the workspace's own eyes: shown even unpublished, never tracked." }),
  published: z.boolean().openapi({ description: "Unpublished pages answer 404 to the public." }),
  content: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Proposal");
const ProposalReply = envelope({ proposal: Proposal, tracking: ProposalTracking }).openapi("ProposalReply");

const SetProposal = z.looseObject({
  leadId: LeadId,
  content: Content.optional(),
  published: z.boolean({ error: "must be true or false" }).optional(),
}).openapi("SetProposalRequest");
const hints = { leadId: "Pass the lead's id as leadId; GET /api/openclaw/leads lists your leads." };

// ---------------------------------------------------------------------------
// Database access
// ---------------------------------------------------------------------------
interface ProposalRow {
  id: string; leadId: string; slug: string; previewToken: string; published: boolean;
  content: Record<string, unknown>; createdAt: string; updatedAt: string;
}

async function findProposal(db: Tx, leadId: string): Promise<ProposalRow> {
  const [row] = await db<ProposalRow[]>`
    select id, lead_id as "leadId", slug, preview_token as "previewToken", published, content,
           created_at as "createdAt", updated_at as "updatedAt"
    from app.proposals where lead_id = ${leadId}`;
  if (!row) throw notFound("Lead", leadId);
  return row;
}

function present(config: AppConfig, { previewToken, ...row }: ProposalRow): z.infer<typeof Proposal> {
  return { ...row, proposalId: row.slug, url: proposalUrl(config, row.slug), previewUrl: proposalPreviewUrl(config, row.slug, previewToken) };
}

async function proposalReply(db: Tx, config: AppConfig, leadId: string) {
  const [proposal, tracking] = await Promise.all([findProposal(db, leadId), readProposalTracking(db, leadId)]);
  return { proposal: present(config, proposal), tracking };
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const getRoute = createRoute({
  operationId: "getProposal",
  method: "get", path: "/proposals", tags: ["Proposals"], summary: "A lead's proposal page: content, links and engagement",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: z.object({ leadId: LeadId }) },
  responses: { 200: json(ProposalReply, "The proposal and its tracking rollup."), ...notFoundError, ...commonErrors },
});
const putRoute = createRoute({
  operationId: "updateProposal",
  method: "put", path: "/proposals", tags: ["Proposals"], summary: "Set a lead's proposal content (sections merge) and/or publish it",
  security: bearerAuth, middleware: [tenantTransaction],
  request: jsonBody(SetProposal),
  responses: { 200: json(ProposalReply, "The proposal as stored."), ...notFoundError, ...commonErrors },
});

export const proposalsRoutes = createRouter()
  .openapi(getRoute, async (c) => {
    const { leadId } = c.req.valid("query");
    const body = await proposalReply(c.var.db, c.var.config, leadId);
    return reply(c, body, {
      next_steps: Object.keys(body.proposal.content).length === 0
        ? [`PUT /api/openclaw/proposals { "leadId": "${leadId}", "content": { "hero": { "headline": "…" } } } to personalise the page`]
        : [`Send the lead ${body.proposal.url}`],
    });
  }, validationWithHints(hints))
  .openapi(putRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    await db`select app.set_proposal(${input.leadId}, ${input.content === undefined ? null : db.json(input.content as never)}, ${input.published ?? null})`;
    const body = await proposalReply(db, c.var.config, input.leadId);
    return reply(c, body, {
      warnings: [
        ...(input.content === undefined && input.published === undefined ? ["Nothing to change: send content and/or published"] : []),
        ...ignoredFieldWarnings(input, ["leadId", "content", "published"]),
      ],
      next_steps: [`Open ${body.proposal.previewUrl} to check the page (previews are not counted as views)`],
    });
  }, validationWithHints(hints));
