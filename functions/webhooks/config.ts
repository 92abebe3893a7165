// Outbound webhook settings: what subscription URLs may point at, how long an endpoint may
// take, and the delivery loop (in `npm run worker`, and in POST /internal/mail/run on
// Supabase). Read once by each entry point from its env reader.
import { type EnvReader, positiveInt } from "../env.ts";

export interface WebhooksConfig {
  /** Limit of one delivery attempt: connecting, sending, and the endpoint's answer. */
  timeoutMs: number;
  /** WEBHOOKS_ALLOW_HTTP=true: subscriptions may use http:// URLs (local development only); otherwise https only. */
  allowHttp: boolean;
  /** WEBHOOKS_ALLOW_PRIVATE_NETWORK=true: lifts the SSRF guard's address and port rules (tests against loopback receivers only). */
  allowPrivateNetwork: boolean;
  worker: {
    /** WEBHOOKS_WORKER=off: this process delivers no webhooks (another worker does). */
    enabled: boolean;
    intervalMs: number;
    /** Deliveries claimed per tick, all sent side by side. */
    batch: number;
    /** How long a claim lasts; always longer than an attempt can take, so a live worker never loses its claim. */
    leaseSeconds: number;
  };
}

export function readWebhooksConfig(env: EnvReader): WebhooksConfig {
  const timeoutMs = positiveInt(env("WEBHOOKS_TIMEOUT_MS"), 10_000);
  return {
    timeoutMs,
    allowHttp: env("WEBHOOKS_ALLOW_HTTP")?.trim() === "true",
    allowPrivateNetwork: env("WEBHOOKS_ALLOW_PRIVATE_NETWORK")?.trim() === "true",
    worker: {
      enabled: env("WEBHOOKS_WORKER")?.trim().toLowerCase() !== "off",
      intervalMs: positiveInt(env("WEBHOOKS_WORKER_INTERVAL_MS"), 1_000),
      batch: Math.min(positiveInt(env("WEBHOOKS_WORKER_BATCH"), 20), 100),
      leaseSeconds: Math.max(positiveInt(env("WEBHOOKS_WORKER_LEASE_SECONDS"), 60), Math.ceil(timeoutMs / 1000) + 30),
    },
  };
}
