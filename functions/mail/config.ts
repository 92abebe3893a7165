// Mail delivery settings: the SMTP server, the sender, the worker loop and the optional
// AI rewriter. Read once by the worker's entry point (scripts/worker.ts) from an env reader.
import { DEFAULT_API_PORT, readConfig } from "../config.ts";
import { type EnvReader, positiveInt } from "../env.ts";
import { type AiConfig, readAiConfig } from "./ai-config.ts";

export type EnqueueMode = "auto" | "always" | "never";

export interface MailConfig {
  /** Any SMTP server by URL: smtp://user:pass@host:587, smtps://…:465. */
  smtpUrl: string;
  /** Sender address; its display name is replaced by the org's name. */
  from: string;
  /** Base of the unsubscribe links (the API's public URL). */
  publicUrl: string;
  /** Right-hand side of Message-IDs: <{outbox id}@{domain}>. */
  messageIdDomain: string;
  worker: {
    /** MAIL_WORKER=off: this process sends no mail (npm start runs no mail loop; POST /internal/mail/run skips the mail tick). */
    enabled?: boolean;
    intervalMs: number;
    batch: number;
    leaseSeconds: number;
    /** Whether each tick also runs app.enqueue_due_steps() (auto: only when pg_cron does not). */
    enqueue: EnqueueMode;
    /** MAIL_WORKER_SECRET: enables POST /api/openclaw/internal/mail/run (x-worker-secret); unset = the route does not exist. */
    secret?: string;
  };
  ai: AiConfig;
}

export const DEFAULT_FROM = "OpenClaw CRM <crm@localhost>";
export const DEFAULT_CATCHER_SMTP_PORT = 54405;
export const DEFAULT_CATCHER_HTTP_PORT = 54404;

export function readMailConfig(env: EnvReader): MailConfig {
  const { publicUrl } = readConfig(env, positiveInt(env("PORT"), DEFAULT_API_PORT));
  const enqueue = env("MAIL_WORKER_ENQUEUE")?.trim().toLowerCase();
  return {
    smtpUrl: env("SMTP_URL")?.trim() || `smtp://127.0.0.1:${positiveInt(env("MAIL_CATCHER_SMTP_PORT"), DEFAULT_CATCHER_SMTP_PORT)}`,
    from: env("MAIL_FROM")?.trim() || DEFAULT_FROM,
    publicUrl,
    messageIdDomain: env("MAIL_MESSAGE_ID_DOMAIN")?.trim() || new URL(publicUrl).hostname,
    worker: {
      enabled: env("MAIL_WORKER")?.trim().toLowerCase() !== "off",
      intervalMs: positiveInt(env("MAIL_WORKER_INTERVAL_MS"), 5_000),
      batch: positiveInt(env("MAIL_WORKER_BATCH"), 10),
      leaseSeconds: positiveInt(env("MAIL_WORKER_LEASE_SECONDS"), 120),
      enqueue: enqueue === "true" ? "always" : enqueue === "false" ? "never" : "auto",
      secret: env("MAIL_WORKER_SECRET")?.trim() || undefined,
    },
    ai: readAiConfig(env),
  };
}
