// One claimed outbox row as app.claim_outbox() returns it: everything the worker needs to
// render and send one email without reading any other table. Parsed, not trusted: a row
// that does not fit is failed permanently rather than half-sent.
import { z } from "zod";

const text = z.string().nullish().transform((value) => value ?? "");

export const Variables = z.object({
  firstName: text,
  lastName: text,
  organizationName: text,
  businessType: text,
  proposalUrl: text,
  email: text,
  phone: text,
});
export type Variables = z.infer<typeof Variables>;

export const Claim = z.object({
  id: z.string().min(1),
  orgId: z.string().min(1),
  leadId: z.string().min(1),
  campaignId: z.string().nullish(),
  enrollmentId: z.string().nullish(),
  stepIndex: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  to: z.string().min(3),
  fromName: z.string().nullish(),
  subject: z.string(),
  body: z.string(),
  variables: Variables,
  ai: z.object({
    enabled: z.boolean(),
    model: z.string().nullish(),
    tone: z.string().nullish(),
    maxRetries: z.number().int().nonnegative().max(10).nullish(),
  }).nullish().transform((ai) => ai ?? { enabled: false, model: null, tone: null, maxRetries: 0 }),
  enrichment: z.unknown().nullish(),
  unsubscribeToken: z.string().min(1),
});
export type Claim = z.infer<typeof Claim>;
