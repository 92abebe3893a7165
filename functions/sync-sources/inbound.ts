// A sync source's inbound URL and how senders authenticate to it: the sync source routes
// hand this out (routes/sync-sources.ts), the inbound endpoint checks it (routes/inbound.ts).
//
// Two ways to sign a request, both HMAC-SHA256 with the source's secret:
//   * Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature), the format our
//     outbound webhooks use too: the signature covers "<id>.<timestamp>.<raw body>", so the
//     event id is signed and a replay under another id fails;
//   * v1 (X-OpenClaw-Timestamp, X-OpenClaw-Signature: v1=<hex>), as first documented: the
//     signature covers "<timestamp>.<raw body>" only. X-OpenClaw-Event-Id is not signed, so
//     the signed content itself also identifies the event (app.ingest_sync_event's
//     signed digest): replaying the request under another id is a duplicate.
import type { AppConfig } from "../config.ts";
import type { SyncSourceType } from "../http/enums.ts";

export const inboundHeaders = {
  timestamp: "X-OpenClaw-Timestamp",
  signature: "X-OpenClaw-Signature",
  secret: "X-OpenClaw-Secret",
  eventId: "X-OpenClaw-Event-Id",
} as const;

/** Standard Webhooks (standardwebhooks.com) header names. */
export const standardHeaders = {
  id: "webhook-id",
  timestamp: "webhook-timestamp",
  signature: "webhook-signature",
} as const;

/** How far a signed request's timestamp may be from our clock. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export const inboundUrl = (config: AppConfig, token: string) => `${config.publicUrl}/api/openclaw/inbound/${token}`;

export const standardHowTo = `Standard Webhooks (recommended; any standardwebhooks library signs it with the secret as given): send ${standardHeaders.id}: <unique event id, no dots>, `
  + `${standardHeaders.timestamp}: <Unix seconds> and ${standardHeaders.signature}: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>" keyed with the base64-decoded part of the secret after whsec_>; `
  + `the id is signed, so it is the event id`;
export const hmacHowTo = `HMAC v1: send ${inboundHeaders.timestamp}: <Unix seconds> and ${inboundHeaders.signature}: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the secret (the whole whsec_… string as UTF-8)>; `
  + `${inboundHeaders.eventId} is not covered by v1, so the signed timestamp and body also identify the event (the same signed request under another id is a duplicate)`;
const toleranceHowTo = `a timestamp more than ${SIGNATURE_TOLERANCE_SECONDS / 60} minutes off is refused`;
export const signingHowTo = `${standardHowTo}. Or ${hmacHowTo}. Either way ${toleranceHowTo}`;
export const secretHowTo = `send ${inboundHeaders.secret}: <secret> (or Authorization: Bearer <secret>)`;

/** How a source of this type authenticates, as the sync source's authentication field and 401 hints say. */
export function authenticationGuide(type: SyncSourceType): string {
  switch (type) {
    case "generic_webhook":
      return `Signed requests only. ${signingHowTo}.`;
    case "gmail":
      return `Google Pub/Sub push: use the inbound URL with ?secret=<secret> appended as the subscription's push endpoint (or ${secretHowTo}).`;
    default:
      return `Shared secret: ${secretHowTo}. A signature as for generic_webhook is accepted too (Standard Webhooks ${standardHeaders.id}/${standardHeaders.timestamp}/${standardHeaders.signature}, or ${inboundHeaders.timestamp} + ${inboundHeaders.signature}).`;
  }
}
