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
    /**
     * Settles once orgId, keyId and identity are set (in a tenant transaction, when the
     * credential's answer is back; or once it refused, and then the request answers with that
     * refusal). Unset where they are set before the handler starts. For the rare handler that
     * needs the org in TypeScript before its first statement (a list page's cursor, signed for
     * its org): awaiting it costs that request a second round trip.
     */
    identified: Promise<void> | undefined;
    /** The API key the request authenticated with (recorded as the actor of changes); undefined for a browser session. */
    keyId: string | undefined;
    /** Who the request acts as: an API key, or a member signed in with a browser session (tenant routes only). */
    identity: Identity;
  };
}

/** A member's role in a workspace (app.org_members.role; the rules: sql/10_foundation.sql). */
export type MemberRole = "owner" | "admin" | "member" | "viewer";

export type Identity =
  /** An API key: acts with an owner's rights (keys have no role). */
  | { kind: "api_key"; keyId: string }
  /** A member signed in with a browser session; role is read from app.org_members on every request. */
  | {
    kind: "session";
    sessionId: string;
    memberId: string;
    email: string;
    role: MemberRole;
    /** What a cookie-authenticated write sends in x-csrf-token (session.ts). */
    csrfToken: string;
    /** The session's absolute end (30 days after sign-in). */
    expiresAt: Date;
    /** When it ends if unused (14 days after the last request, at most expiresAt). */
    idleExpiresAt: Date;
  };
