// A campaign's steps as the API takes and shows them: POST and PUT /campaigns and
// POST /email/send-sequence all send them. The database checks them again
// (app._validate_campaign): template variables, step count and shape.
import { z } from "@hono/zod-openapi";

/** The placeholders a subject or body may use (app.template_variables()). */
export const templateVariables = "{{firstName}} {{lastName}} {{organizationName}} {{businessType}} {{proposalUrl}} {{email}} {{phone}}";
const skipIfs = ["replied", "opened", "clicked", "meeting_booked"] as const;

export const Step = z.object({
  delayMinutes: z.number().int().min(0).max(525_600)
    .openapi({ description: "Minutes to wait: for the first step after enrolment, for later steps after the previous step went out." }),
  subject: z.string().min(1).max(500).openapi({ example: "Quick idea for {{organizationName}}" }),
  body: z.string().min(1).max(50_000).openapi({ description: `Plain text. Template variables: ${templateVariables}.`, example: "Hi {{firstName}}, …" }),
  condition: z.object({ skipIf: z.enum(skipIfs, { error: `must be one of: ${skipIfs.join(", ")}` }) }).nullable().optional()
    .openapi({ description: "Skip this step when the lead did this since enrolling (replied, opened, clicked a CTA, booked a meeting)." }),
}).openapi("CampaignStep");
export const Steps = z.array(Step).min(1, "needs at least 1 step").max(8, "at most 8 steps");
