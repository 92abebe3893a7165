// The database connection and the one way a request reaches it: a transaction that
// first takes on the caller's identity the way PostgREST does (role + JWT claims,
// transaction-local), so row-level security decides what the request may see.
import postgres from "postgres";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

export interface ConnectOptions {
  /** Pool size. */
  max?: number;
  /** Supabase's transaction pooler (port 6543) cannot keep prepared statements. */
  prepare?: boolean;
}

export function connect(url: string, options: ConnectOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    prepare: options.prepare ?? !/:6543\//.test(url),
    connect_timeout: 5,
    idle_timeout: 30,
    onnotice: () => {},
    connection: { application_name: "openclaw-crm" },
  });
}

/** Runs work as the anonymous role (signup): no org, only what anon is granted. */
export function asAnonymous<T>(sql: Sql, work: (tx: Tx) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('role', 'anon', true)`;
    return work(tx);
  }) as Promise<T>;
}
