// The database connection and the one way a request reaches it: a transaction that
// first takes on the caller's identity the way PostgREST does (role + JWT claims,
// transaction-local), so row-level security decides what the request may see.
//
// A transaction goes out the way PostgREST sends one: BEGIN, the statement that takes on the
// identity, the work and COMMIT pipelined on one connection, so a request whose work is a
// statement or two costs one network round trip (transaction() below). The API's pool logs in
// as a role with no privileges of its own (authenticator, sql/00_supabase.sql) and its
// sessions act as anon between transactions (connect's role), so nothing the API sends runs
// with more than a request's own role.
//
// When the database goes away (a restart, a failover, a network cut) requests fail fast
// instead of queueing: connection failures trip a small breaker (whenAvailable), and
// functions/http/errors.ts answers every such failure with 503 database_unavailable.
// The postgres.js client itself is patched at install (patches/postgres+3.4.9.patch, applied
// by patch-package from npm's postinstall): in 3.4.9 a transaction whose connection closes
// sends its ROLLBACK to a socket that is already null, and the write, deferred by
// setImmediate, throws outside any promise and kills the process (porsager/postgres#1066,
// #1154, #1208; fixes proposed in #1168, #1176, #1209, none released); and the reconnected
// session replays the old session's 57P01 onto its first query (#1223). The patch also makes
// reserve(), which transaction() runs on, reject what is queued on a reserved connection that
// closes, and answer a reserve() that waited while a connection of the pool closed (it was
// dropped: the request hung), and read a COPY's reply to its end when its stream ended with the
// reply's last chunk (porsager/postgres#499: the export's transaction hung). See README, "When the database goes away".
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
  /**
   * The role every session acts as outside the transactions that switch it (sent at login, so
   * RESET ROLE and the end of a transaction come back to it): the API's pools use anon, so
   * that a login role without privileges (authenticator) works and nothing the API sends runs
   * as the login role itself. Not behind a transaction pooler, whose sessions are not ours.
   */
  role?: string;
  /** application_name, which pg_stat_activity shows; default openclaw-crm. */
  name?: string;
}

/** Whether a URL points at Supabase's transaction pooler (port 6543). */
const behindPooler = (url: string) => /:6543\//.test(url);

export function connect(url: string, options: ConnectOptions = {}): Sql {
  const prepare = options.prepare ?? !behindPooler(url);
  return postgres(url, {
    max: options.max ?? 10,
    prepare,
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
    connection: {
      application_name: options.name ?? "openclaw-crm",
      ...(options.role !== undefined && prepare ? { role: options.role } : {}),
    },
  });
}

/** Runs work as the anonymous role (signup): no org, only what anon is granted. */
export function asAnonymous<T>(sql: Sql, work: (tx: Tx) => Promise<T>): Promise<T> {
  return transaction(sql, { identity: (tx) => tx`select set_config('role', 'anon', true)` }, (t) => work(t.tx));
}

/**
 * Runs work on one connection of the pool acting as service_role, outside any transaction
 * (operator work such as a mail worker tick, whose statements commit one by one).
 */
export async function asServiceRole<T>(sql: Sql, work: (service: Sql) => Promise<T>): Promise<T> {
  return whenAvailable(sql, async () => {
    const conn = await sql.reserve();
    let broken = false;
    try {
      await conn`set role service_role`;
      return await work(conn);
    } catch (err) {
      broken = isConnectionFailure(err);
      throw err;
    } finally {
      if (!broken) {
        try {
          await conn`reset role`;
          conn.release();
        } catch {
          // The connection went away: the pool has it back as closed, nothing to release.
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Transactions in one round trip

/** A statement made and not yet awaited: postgres.js sends it when it is awaited, or executed. */
export interface Statement<T = unknown> extends PromiseLike<T> {
  execute(): unknown;
}

export interface TransactionPlan {
  /**
   * Statements that go out ahead of BEGIN, in the same write, each in a transaction of its own
   * (taking a request's rate-limit bucket: its row lock then ends with the statement), and
   * whose session state the transaction's identity statement reads. Behind a transaction
   * pooler, where a session does not outlive a transaction, they go right after BEGIN instead.
   */
  ahead?: (conn: Sql) => void;
  /**
   * The transaction's first statement: it takes on the caller's role and claims, or fails, and
   * then the transaction is aborted and none of the statements sent behind it runs.
   */
  identity: (tx: Tx) => Statement;
}

/** What the work of a transaction() can do besides running statements. */
export interface Transaction {
  /**
   * The transaction's sql (the postgres.js API). A statement goes out when it is awaited (or
   * executed), behind the ones already sent, without waiting for their answers: statements
   * made in the same tick leave in one write.
   */
  readonly tx: Tx;
  /**
   * Sends COMMIT right behind the statements made so far (in the same write when they were
   * made in the same tick), so work that is those statements takes one round trip; statements
   * made after it are refused. Ignored while the commit is held.
   */
  commitNow(): void;
  /** Keeps COMMIT for the end of the work: for work that writes after the caller's last statements. */
  holdCommit(): void;
  /** Ends the transaction with ROLLBACK instead of COMMIT (unless COMMIT already went out). */
  rollbackAtEnd(): void;
}

class TransactionEnded extends Error {
  constructor() {
    super("The transaction's COMMIT has gone out (commitNow): no statement may follow it");
  }
}

/**
 * The transaction's sql as work sees it: the reserved connection's, refusing statements once
 * COMMIT or ROLLBACK has gone out (they would run outside the transaction, as the session's
 * role), and without the calls that would leave it (begin, reserve, release, end).
 */
function transactionSql(conn: postgres.ReservedSql, open: () => boolean): Tx {
  const closed = () => {
    throw new TransactionEnded();
  };
  const unavailable = (name: string) => () => {
    throw new Error(`sql.${name} is not available inside a transaction()`);
  };
  const outside = new Set(["begin", "reserve", "release", "end", "close", "listen", "notify", "subscribe", "savepoint", "prepare"]);
  return new Proxy(conn, {
    apply(target, self, args) {
      if (!open()) closed();
      return Reflect.apply(target, self, args);
    },
    get(target, property, receiver) {
      if (property === "unsafe" || property === "file") {
        const make = Reflect.get(target, property, receiver) as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => (open() ? make(...args) : closed());
      }
      if (typeof property === "string" && outside.has(property)) return unavailable(property);
      return Reflect.get(target, property, receiver);
    },
  }) as unknown as Tx;
}

/**
 * One transaction, pipelined (see the top of this file): plan.ahead's statements, BEGIN and the
 * identity statement go out at once, the work's statements follow them without waiting, and
 * COMMIT follows the work's last statement (commitNow) or the end of the work. A work that
 * throws, or asks for it, ends with ROLLBACK. The connection goes back to the pool once the
 * transaction's end has been answered; a connection that failed is left to the pool.
 */
export function transaction<T>(sql: Sql, plan: TransactionPlan, work: (t: Transaction) => Promise<T>): Promise<T> {
  return whenAvailable(sql, async () => {
    const conn = await sql.reserve();
    let broken = false;
    let ending: Statement | undefined;
    let held = false;
    let rollback = false;
    const noteFailure = (err: unknown) => {
      if (isConnectionFailure(err)) broken = true;
    };
    // Sent and not awaited by anyone else: its failure (a refused identity aborts the rest) is
    // the work's to report.
    const send = (statement: Statement): Statement => {
      statement.then(undefined, noteFailure);
      return statement;
    };
    const end = (outcome: "commit" | "rollback") => ending ??= send(outcome === "commit" ? conn`commit` : conn`rollback`);

    const tx = transactionSql(conn, () => ending === undefined);
    const pooled = sql.options.prepare === false;
    if (!pooled) plan.ahead?.(conn);
    send(conn`begin`);
    if (pooled) plan.ahead?.(conn);
    send(plan.identity(tx));
    const t: Transaction = {
      tx,
      commitNow: () => {
        if (!held) end("commit");
      },
      holdCommit: () => {
        held = true;
      },
      rollbackAtEnd: () => {
        rollback = true;
      },
    };
    try {
      let result: T;
      try {
        result = await work(t);
      } catch (err) {
        noteFailure(err);
        end("rollback");
        throw err;
      }
      await end(rollback ? "rollback" : "commit");
      return result;
    } finally {
      // Every statement sent is answered once the end is: then the connection is idle again.
      if (ending && !broken) await ending.then(undefined, noteFailure);
      if (!broken) conn.release();
    }
  });
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
