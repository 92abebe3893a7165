// Deployment settings, read once by the entry point (Node or Deno) and handed to the app,
// so the app itself never touches process.env or Deno.env.
import { type EnrichmentConfig, readEnrichmentConfig } from "./enrichment/config.ts";
import { type EnvReader, positiveInt } from "./env.ts";
import { type IntegrationsConfig, readIntegrationsConfig } from "./integrations/config.ts";
import { type LimitsConfig, readLimitsConfig } from "./limits/config.ts";
import { type AiConfig, readAiConfig } from "./mail/ai-config.ts";
import { readWebhooksConfig, type WebhooksConfig } from "./webhooks/config.ts";

export interface AppConfig {
  /** Public base URL of this deployment, used in links we hand to agents. */
  publicUrl: string;
  /** Where the human looks at the workspace; signup hands it out. Default: this app's own /app. */
  dashboardUrl: string;
  /** Whether DASHBOARD_URL set dashboardUrl; if not, a sign-in lands on this app's /app relative to the request. */
  dashboardElsewhere: boolean;
  /** Where a human upgrades a plan. */
  upgradeUrl: string;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** How long GET /health waits for the database before saying it is unreachable. */
  healthTimeoutMs: number;
  /** The platform operator's (ClawCRM EIR) key for answering feedback; unset = no operator access. */
  eirAdminKey: string | undefined;
  enrichment: EnrichmentConfig;
  /** Calendly, meeting bots (Recall.ai) and the key that encrypts their stored tokens. */
  integrations: IntegrationsConfig;
  /** The AI API the mail worker rewrites emails with; the campaign routes warn when a campaign asks for AI and it is not configured. */
  ai: AiConfig;
  /** Outbound webhooks: which URLs subscriptions may use, and the delivery loop. */
  webhooks: WebhooksConfig;
  /** Rate limits (per key, per client IP, per quiz), the proxies to trust, and fair share for expensive work. */
  limits: LimitsConfig;
  /**
   * The key list cursors are signed with (http/paging.ts): CURSOR_SECRET, else the database URL,
   * which holds its password, so every process and Edge isolate of a deployment shares it and
   * nobody outside knows it.
   */
  cursorSecret: string;
}

export { DEFAULT_API_PORT } from "./env.ts";

export function readConfig(env: EnvReader, port: number): AppConfig {
  const publicUrl = (env("PUBLIC_URL") ?? `http://127.0.0.1:${port}`).replace(/\/+$/, "");
  return {
    publicUrl,
    dashboardUrl: env("DASHBOARD_URL")?.trim() || `${publicUrl}/app`,
    dashboardElsewhere: Boolean(env("DASHBOARD_URL")?.trim()),
    upgradeUrl: env("UPGRADE_URL") ?? "https://clawcrm.ai/pricing",
    maxBodyBytes: positiveInt(env("MAX_BODY_BYTES"), 1_048_576),
    healthTimeoutMs: positiveInt(env("HEALTH_DB_TIMEOUT_MS"), 2_000),
    eirAdminKey: env("EIR_ADMIN_KEY")?.trim() || undefined,
    enrichment: readEnrichmentConfig(env),
    integrations: readIntegrationsConfig(env),
    ai: readAiConfig(env),
    webhooks: readWebhooksConfig(env),
    limits: readLimitsConfig(env),
    cursorSecret: env("CURSOR_SECRET")?.trim() || `cursor:${env("SUPABASE_DB_URL") ?? env("DATABASE_URL") ?? "openclaw-crm"}`,
  };
}
