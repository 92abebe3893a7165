// What every handler can reach through c.var.
import type { AppConfig } from "../config.ts";
import type { Sql, Tx } from "../db.ts";
import type { ResolveHost } from "../enrichment/http.ts";
import type { ResolveMx } from "../enrichment/types.ts";
import type { MailWorker } from "../mail/worker.ts";

export interface AppEnv {
  Variables: {
    sql: Sql;
    config: AppConfig;
    resolveMx: ResolveMx;
    resolveHost: ResolveHost;
    /** Set when MAIL_WORKER_SECRET is configured: what POST /internal/mail/run ticks with. */
    mailWorker: MailWorker | undefined;
    /** The request's transaction, already acting as the caller's org (tenant routes only). */
    db: Tx;
    orgId: string;
    /** The API key the request authenticated with (recorded as the actor of changes). */
    keyId: string;
  };
}
