// What every handler can reach through c.var.
import type { AppConfig } from "../config.ts";
import type { Sql, Transaction, Tx } from "../db.ts";
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
    /** The same transaction's controls: finishWith and holdCommit (http/tenant.ts) use them. */
    transaction: Transaction;
    /**
     * The org and key of the request. In a tenant transaction the handler starts before the
     * key's answer is back: these are set once the handler's first statement has answered
     * (until then SQL knows the org: app.current_org_id()).
     */
    orgId: string;
    /** The API key the request authenticated with (recorded as the actor of changes). */
    keyId: string;
  };
}
