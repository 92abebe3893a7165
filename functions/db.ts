// The database connection and the one way a request reaches it: a transaction that
// first takes on the caller's identity the way PostgREST does (role + JWT claims,
// transaction-local), so row-level security decides what the request may see.
//
// When the database goes away (a restart, a failover, a network cut) requests fail fast
// instead of queueing: connection failures trip a small breaker (whenAvailable), and
// functions/http/errors.ts answers every such failure with 503 database_unavailable.
// The postgres.js client itself is patched at install (patches/postgres+3.4.9.patch, applied
// by patch-package from npm's postinstall): in 3.4.9 a transaction whose connection closes
// sends its ROLLBACK to a socket that is already null, and the write, deferred by
// setImmediate, throws outside any promise and kills the process (porsager/postgres#1066,
// #1154, #1208; fixes proposed in #1168, #1176, #1209, none released); and the reconnected
// session replays the old session's 57P01 onto its first query (#1223). See README, "When
// the database goes away".
import postgres from "postgres";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

export interface ConnectOptions {
  /** Pool size. */
  max?: number;
  /** Supabase's transaction pooler (port 6543) cannot keep prepared statements. */
  prepare?: boolean;
  /** Seconds a new connection may take to be ready (TCP, TLS, authentication); default 1. */
  connectTimeout?: number;
}

export function connect(url: string, options: ConnectOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    prepare: options.prepare ?? !/:6543\//.test(url),
    // A database that does not complete a connection within a second is treated as down:
    // the request answers 503 rather than hanging (a local or same-region database connects
    // in milliseconds; raise it for a distant one).
    connect_timeout: options.connectTimeout ?? 1,
    // postgres.js waits before reconnecting a connection that failed, 3^n/100 s (up to 20 s)
    // for n failed attempts since the last success, so after an outage the first requests
    // waited seconds for a database that was already back. The breaker below already spaces
    // out attempts while the database is down, so the delay stays short.
    backoff: (failures: number) => Math.min(3 ** failures / 100, 0.25) * (0.5 + Math.random() / 2),
    idle_timeout: 30,
    onnotice: () => {},
    connection: { application_name: "openclaw-crm" },
  });
}

/** Runs work as the anonymous role (signup): no org, only what anon is granted. */
export function asAnonymous<T>(sql: Sql, work: (tx: Tx) => Promise<T>): Promise<T> {
  return whenAvailable(sql, () => sql.begin(async (tx) => {
    await tx`select set_config('role', 'anon', true)`;
    return work(tx);
  }) as Promise<T>);
}

// ---------------------------------------------------------------------------------------------
// Failing fast while the database is down

/** Thrown instead of waiting on the pool while the database is known to be unreachable. */
export class DatabaseUnavailable extends Error {
  readonly code = "DATABASE_UNAVAILABLE";
  constructor() {
    super("The database is unavailable");
  }
}

// SQLSTATEs that mean the server ended or refused the session: class 08 (connection
// exception), 57P01 admin_shutdown (a restart or pg_terminate_backend), 57P02 crash_shutdown,
// 57P03 cannot_connect_now (starting up, shutting down, in recovery).
const connectionStates = /^(08...|57P0[123])$/;
// postgres.js's own codes for a connection that closed, timed out or was ended, and the socket
// errors of a database that cannot be reached.
const connectionCodes = new Set([
  "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT",
  "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
  "DATABASE_UNAVAILABLE",
]);

/** Whether err means the database could not be reached or dropped the connection (not a refusal of the work). */
export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return err instanceof postgres.PostgresError ? connectionStates.test(code) : connectionCodes.has(code);
}

/**
 * How long after a connection failure requests are refused at once, before one may probe:
 * short enough that requests succeed within a quarter second of the database's return, long
 * enough that a database that is down gets at most four connection attempts a second from here.
 */
const COOL_DOWN_MS = 250;

interface Breaker {
  /** When a connection failure was last seen; 0 while the database answers. */
  failedAt: number;
  /** A request is checking whether the database is back; the others do not pile up behind it. */
  probing: boolean;
}

const breakers = new WeakMap<Sql, Breaker>();

function breakerOf(sql: Sql): Breaker {
  let breaker = breakers.get(sql);
  if (!breaker) breakers.set(sql, breaker = { failedAt: 0, probing: false });
  return breaker;
}

function tripped(breaker: Breaker, err: unknown): void {
  if (breaker.failedAt === 0) {
    const code = (err as { code?: unknown } | null)?.code;
    console.warn(`[db] the database is unreachable (${String(code)}: ${err instanceof Error ? err.message : String(err)}); answering 503 until it is back`);
  }
  breaker.failedAt = Date.now();
}

function recovered(breaker: Breaker): void {
  if (breaker.failedAt !== 0) console.log("[db] the database answers again");
  breaker.failedAt = 0;
}

/**
 * Runs one request's database work, unless the database is known to be down: after a
 * connection failure, requests fail at once with DatabaseUnavailable (503) for COOL_DOWN_MS
 * instead of queueing on a pool that cannot connect; then one request at a time checks with
 * `select 1` on a fresh connection (postgres.js reconnects lazily, and connections the server
 * closed are never handed out again), and the first that gets an answer lets everyone through.
 */
export async function whenAvailable<T>(sql: Sql, work: () => Promise<T>): Promise<T> {
  const breaker = breakerOf(sql);
  if (breaker.failedAt !== 0) {
    if (breaker.probing || Date.now() - breaker.failedAt < COOL_DOWN_MS) throw new DatabaseUnavailable();
    breaker.probing = true;
    try {
      await sql`select 1`;
      recovered(breaker);
    } catch (err) {
      tripped(breaker, err);
      throw err;
    } finally {
      breaker.probing = false;
    }
  }
  try {
    const result = await work();
    recovered(breaker);
    return result;
  } catch (err) {
    if (isConnectionFailure(err)) tripped(breaker, err);
    throw err;
  }
}
