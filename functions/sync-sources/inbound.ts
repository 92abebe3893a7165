// A sync source's inbound URL and how senders authenticate to it: the sync source routes
// hand this out (routes/sync-sources.ts), the inbound endpoint checks it (routes/inbound.ts).
import type { AppConfig } from "../config.ts";
import type { SyncSourceType } from "../http/enums.ts";

export const inboundHeaders = {
  timestamp: "X-OpenClaw-Timestamp",
  signature: "X-OpenClaw-Signature",
  secret: "X-OpenClaw-Secret",
  eventId: "X-OpenClaw-Event-Id",
} as const;

/** How far a signed request's timestamp may be from our clock. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export const inboundUrl = (config: AppConfig, token: string) => `${config.publicUrl}/api/openclaw/inbound/${token}`;

export const hmacHowTo = `HMAC: send ${inboundHeaders.timestamp}: <Unix seconds> and ${inboundHeaders.signature}: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the secret (the whole whsec_… string as UTF-8)>; `
  + `a timestamp more than ${SIGNATURE_TOLERANCE_SECONDS / 60} minutes off is refused`;
export const secretHowTo = `send ${inboundHeaders.secret}: <secret> (or Authorization: Bearer <secret>)`;

/** How a source of this type authenticates, as the sync source's authentication field and 401 hints say. */
export function authenticationGuide(type: SyncSourceType): string {
  switch (type) {
    case "generic_webhook":
      return `${hmacHowTo}.`;
    case "gmail":
      return `Google Pub/Sub push: use the inbound URL with ?secret=<secret> appended as the subscription's push endpoint (or ${secretHowTo}).`;
    default:
      return `Shared secret: ${secretHowTo}. An HMAC signature as for generic_webhook is accepted too (${inboundHeaders.timestamp} + ${inboundHeaders.signature}).`;
  }
}
