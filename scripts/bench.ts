// npm run bench -- api: the API measured from outside, against the same work done directly in
// SQL, in the same run on the same database.
//
//   * the API runs as npm start runs it: built (npm run build), node dist/node/server.js in a
//     process of its own, its workers on every core (WORKERS, DB_POOL_SIZE as set), its pool
//     logged in as API_DATABASE_URL (npm run bench sets the local cluster's authenticator);
//     the rate limits are raised (RATE_LIMIT_KEY_*), so it measures work, not 429s;
//   * the load comes from autocannon in another process (scripts/bench/load.ts);
//   * the SQL path is the same work as a client of the database does it with postgres.js, in a
//     third process (scripts/bench/sql-load.ts): BEGIN, the role and claims, the statements and
//     COMMIT, one round trip each (four for a read), as the same login role.
// Operations: GET /leads/{id}, GET /leads?limit=50 (pages of 50 of BENCH_LEADS seeded leads),
// POST /leads (one org; BENCH_CREATES requests at concurrency 16, a quarter of that at 1, the
// leads removed after each run) and GET /health (no key: the database and the scheduled
// work's state; no SQL counterpart), each at the concurrencies of BENCH_CONNECTIONS, after a
// warm-up. Prints req/s, p50 and p99 per path, the ratio API req/s ÷ SQL req/s, where the CPU
// went during each run (the API, its Postgres backends, the load generator, the machine), the
// API's peak memory (all its processes) and the machine's load before and after.
//
// Settings (environment): DATABASE_URL (the owner, for seeding; required), API_DATABASE_URL
// (default DATABASE_URL), BENCH_SECONDS (10 per measured read run), BENCH_WARMUP_SECONDS (2),
// BENCH_LEADS (1000), BENCH_CREATES (3000), BENCH_CONNECTIONS ("1,16"), BENCH_OPERATIONS (all of
// "get,list,create,health"), WORKERS, DB_POOL_SIZE.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import process from "node:process";
import { promisify } from "node:util";
import postgres from "postgres";
import { buildNode } from "./build.ts";
import { childPids, freePort } from "./processes.ts";
import type { LoadSpec } from "./bench/load.ts";
import { databaseUrlOrExit, type LoadResult, setting } from "./bench/settings.ts";
import type { SqlLoadSpec } from "./bench/sql-load.ts";

const databaseUrl = databaseUrlOrExit("npm run bench sets it to the local cluster");
const apiDatabaseUrl = process.env.API_DATABASE_URL || databaseUrl;
const SECONDS = setting("BENCH_SECONDS", 10);
const WARMUP = setting("BENCH_WARMUP_SECONDS", 2);
const LEADS = setting("BENCH_LEADS", 1000);
const CREATES = setting("BENCH_CREATES", 3000);
const PAGE_SIZE = 50;
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? "1,16").split(",").map((n) => Number(n.trim()));
if (CONNECTIONS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("BENCH_CONNECTIONS must be a list of positive integers, e.g. 1,16");
const OPERATIONS = (process.env.BENCH_OPERATIONS ?? "get,list,create,health").split(",").map((name) => name.trim());
if (OPERATIONS.some((name) => !["get", "list", "create", "health"].includes(name))) throw new Error("BENCH_OPERATIONS must be a list of get, list, create and health, e.g. get,list");
const root = new URL("..", import.meta.url).pathname;
const run = promisify(execFile);
const log = (line: string) => console.log(`[bench] ${line}`);

// ---------------------------------------------------------------------------
// The API's process
// ---------------------------------------------------------------------------
const raisedLimits = {
  RATE_LIMIT_KEY_FREE: "100000000/1m", RATE_LIMIT_KEY_PRO: "100000000/1m", RATE_LIMIT_KEY_ULTRA: "100000000/1m",
  RATE_LIMIT_SIGNUP_IP: "1000/1h", RATE_LIMIT_SIGNUP_DOMAIN: "1000/1h",
};

async function startApi(port: number): Promise<ChildProcess> {
  const api = spawn(process.execPath, ["--enable-source-maps", "dist/node/server.js"], {
    cwd: root,
    env: { ...process.env, ...raisedLimits, PORT: String(port), HOST: "127.0.0.1", DATABASE_URL: databaseUrl, API_DATABASE_URL: apiDatabaseUrl },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    api.once("exit", (code) => reject(new Error(`the API exited with status ${code}: ${out}`)));
    api.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("[api] listening")) resolve();
    });
  });
  return api;
}

/** The resident memory of a process and its children (the API's workers), in MB. */
function treeRss(pid: number): number {
  const rss = (p: number) => {
    try {
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0) / 1024;
    } catch {
      return 0;
    }
  };
  return rss(pid) + childPids(pid).reduce((sum, child) => sum + rss(child), 0);
}

// ---------------------------------------------------------------------------
// Load, each in a process of its own
// ---------------------------------------------------------------------------
async function child<T>(script: string, spec: unknown): Promise<T> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", script, JSON.stringify(spec)],
    { cwd: root, maxBuffer: 64 * 1024 * 1024, env: process.env });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
}

// ---------------------------------------------------------------------------
// Where the CPU goes during a run: what bounds a path on a machine of few cores. In cores
// (1 = one core busy for the whole run), from /proc (Linux, a database on this machine).
// ---------------------------------------------------------------------------
const CLOCK_TICKS = 100;

/** A process's CPU time so far, in clock ticks (user + system); 0 when it is gone or not readable. */
function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** The machine's busy and total clock ticks so far (all cores). */
function machineTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
  const n = values.slice(0, 8).map(Number);
  const idle = n[3]! + n[4]!;
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

interface CpuShare {
  /** The server's processes (the API: primary and workers), or nothing for the SQL path. */
  server: number;
  /** The Postgres backends serving the run's connections. */
  backends: number;
  /** Everything busy on the machine, and its cores. */
  machine: number;
  cores: number;
}

/**
 * Runs work while sampling the CPU of `serverPid`'s process tree and of the Postgres backends
 * whose application_name matches `backendsLike` (a backend that appears during the run counts
 * from zero).
 */
async function withCpu<T>(admin: postgres.Sql, serverPid: number | undefined, backendsLike: string, work: () => Promise<T>): Promise<{ result: T; cpu: CpuShare }> {
  const treePids = (pid: number) => [pid, ...childPids(pid)];
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = async (initial: boolean) => {
    const backends = (await admin<{ pid: number }[]>`select pid from pg_stat_activity where application_name like ${backendsLike}`).map((r) => r.pid);
    const server = serverPid === undefined ? [] : treePids(serverPid);
    for (const pid of [...backends, ...server.map((p) => -p)]) {
      const value = ticks(Math.abs(pid));
      if (!first.has(pid)) first.set(pid, initial ? value : 0);
      if (value > 0) last.set(pid, value);
    }
  };
  const machineBefore = machineTicks();
  const started = performance.now();
  await sample(true);
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(() => sample(false)).catch(() => {});
    if (serverPid !== undefined) peakRss = Math.max(peakRss, treeRss(serverPid));
  }, 250);
  try {
    const result = await work();
    clearInterval(timer);
    await sampling;
    await sample(false);
    const seconds = (performance.now() - started) / 1000;
    const machineAfter = machineTicks();
    const used = (server: boolean) => [...last].filter(([pid]) => (pid < 0) === server)
      .reduce((sum, [pid, value]) => sum + value - (first.get(pid) ?? 0), 0) / CLOCK_TICKS / seconds;
    const cores = availableParallelism();
    const machineShare = (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total) * cores;
    return { result, cpu: { server: used(true), backends: used(false), machine: machineShare, cores } };
  } finally {
    clearInterval(timer);
  }
}

let peakRss = 0;

function check(label: string, result: LoadResult): LoadResult {
  const failed = result.errors + Object.entries(result.statuses).filter(([status]) => !status.startsWith("2")).reduce((n, [, count]) => n + count, 0);
  if (failed > 0) throw new Error(`${label}: ${failed} of ${result.ops + result.errors} requests failed (${JSON.stringify(result.statuses)})`);
  return result;
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------
interface Row {
  operation: string;
  connections: number;
  api: LoadResult;
  apiCpu: CpuShare;
  sql?: LoadResult;
  sqlCpu?: CpuShare;
}

function printTable(rows: Row[]) {
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  const header = ["operation", "c", "API req/s", "API p50", "API p99", "SQL req/s", "SQL p50", "SQL p99", "API÷SQL"];
  const cells = rows.map((r) => [
    r.operation, String(r.connections), r.api.rps.toFixed(0), ms(r.api.p50), ms(r.api.p99),
    r.sql ? r.sql.rps.toFixed(0) : "-", r.sql ? ms(r.sql.p50) : "-", r.sql ? ms(r.sql.p99) : "-",
    r.sql ? `${(r.api.rps / r.sql.rps).toFixed(2)}x` : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const c of cells) console.log(line(c));
  console.log("API÷SQL: the API's requests per second over the SQL path's transactions per second for the same work (above 1: the API is faster).");
}

function printCpu(rows: Row[]) {
  const c = (n: number) => n.toFixed(2);
  const header = ["operation", "c", "API", "its backends", "autocannon", "machine", "SQL client", "its backends", "machine"];
  const cells = rows.map((r) => [
    r.operation, String(r.connections), c(r.apiCpu.server), c(r.apiCpu.backends), c(r.api.cpu), c(r.apiCpu.machine),
    r.sql ? c(r.sql.cpu) : "-", r.sqlCpu ? c(r.sqlCpu.backends) : "-", r.sqlCpu ? c(r.sqlCpu.machine) : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const x of cells) console.log(line(x));
  console.log(`CPU in cores (of ${availableParallelism()}) during each run: the API's processes, the Postgres backends of its pool, the load generator, `
    + "and everything busy on the machine (other work included); the same for the SQL path.");
}

const load = () => loadavg().map((n) => n.toFixed(2)).join(" ");

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------
async function main() {
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  let api: ChildProcess | undefined;
  let orgId: string | undefined;
  const cleanup = async () => {
    api?.kill("SIGTERM");
    if (orgId) await admin`delete from app.orgs where id = ${orgId}`;
    await admin.end({ timeout: 5 });
  };
  process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));

  try {
    await buildNode();
    const port = await freePort();
    api = await startApi(port);
    const base = `http://127.0.0.1:${port}`;
    const signupReply = await fetch(`${base}/api/openclaw/signup`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `bench-${randomUUID()}@example.com`, workspace_name: "Benchmark", agent_name: "bench", agent_platform: "openclaw" }),
    });
    const signup = await signupReply.json() as { orgId: string; apiKey: string };
    orgId = signup.orgId;
    await admin`update app.orgs set tier = 'ultra' where id = ${orgId}`;
    await admin`
      insert into app.leads (org_id, first_name, last_name, email, organization_name)
      select ${orgId}, 'Seed' || g, 'Seeded', 'seed-' || g || '@example.com', 'Bench Clinic ' || (g % 97)
      from generate_series(1, ${LEADS}::integer) g`;
    await admin`vacuum analyze app.leads`;
    const ids = (await admin<{ id: string }[]>`select id from app.leads where org_id = ${orgId} order by random()`).map((r) => r.id);
    const pages = Math.ceil(LEADS / PAGE_SIZE);
    const clearCreated = () => admin`delete from app.leads where org_id = ${orgId!} and last_name = 'Created'`;

    const [facts] = await admin<{ version: string; fsync: string; commit: string }[]>`
      select current_setting('server_version') as version, current_setting('fsync') as fsync,
             current_setting('synchronous_commit') as commit`;
    const workers = Number(process.env.WORKERS ?? process.env.WEB_CONCURRENCY ?? availableParallelism());
    log(`API at ${base} (${workers} worker(s), DB_POOL_SIZE ${process.env.DB_POOL_SIZE ?? 10}, logged in as ${new URL(apiDatabaseUrl).username}); `
      + `PostgreSQL ${facts!.version} (fsync ${facts!.fsync}, synchronous_commit ${facts!.commit}); Node ${process.versions.node}; `
      + `${availableParallelism()} cores; ${LEADS} leads; ${SECONDS} s per read run, ${CREATES} creates at the highest concurrency`);
    const loadBefore = load();
    log(`load average before: ${loadBefore}`);

    const apiSpec = (operation: LoadSpec["operation"], connections: number, extra: Partial<LoadSpec> = {}): LoadSpec => ({
      base, operation, connections, key: operation === "health" ? undefined : signup.apiKey, ids, pages, pageSize: PAGE_SIZE, ...extra,
    });
    const sqlSpec = (operation: SqlLoadSpec["operation"], connections: number, extra: Partial<SqlLoadSpec> = {}): SqlLoadSpec => ({
      url: apiDatabaseUrl, orgId: orgId!, operation, connections, ids, pages, pageSize: PAGE_SIZE, ...extra,
    });
    const rows: Row[] = [];
    const operations = [
      { label: "get lead by id", api: "get", sql: "get" },
      { label: `list page (${PAGE_SIZE})`, api: "list", sql: "list" },
      { label: "create lead", api: "create", sql: "create" },
      { label: "health (no key)", api: "health", sql: undefined },
    ] as const;
    for (const operation of operations.filter((o) => OPERATIONS.includes(o.api))) {
      for (const connections of CONNECTIONS) {
        const creating = operation.api === "create";
        const amount = creating ? (connections === Math.max(...CONNECTIONS) ? CREATES : Math.ceil(CREATES / 4)) : undefined;
        const size = amount !== undefined ? { amount, label: "Created" } : { seconds: SECONDS };
        const warm = creating ? { amount: Math.min(200, CREATES), label: "Created" } : { seconds: WARMUP };
        log(`${operation.label}, concurrency ${connections}: API …`);
        await child("scripts/bench/load.ts", apiSpec(operation.api, connections, warm));
        if (creating) await clearCreated();
        const apiRun = await withCpu(admin, api.pid!, "openclaw-crm api%", () => child<LoadResult>("scripts/bench/load.ts", apiSpec(operation.api, connections, size)));
        const apiResult = check(`API ${operation.label}`, apiRun.result);
        if (creating) await clearCreated();
        let sqlResult: LoadResult | undefined;
        let sqlCpu: CpuShare | undefined;
        if (operation.sql) {
          log(`${operation.label}, concurrency ${connections}: SQL …`);
          await child("scripts/bench/sql-load.ts", sqlSpec(operation.sql, connections, warm));
          if (creating) await clearCreated();
          const sqlRun = await withCpu(admin, undefined, "openclaw-crm bench sql", () => child<LoadResult>("scripts/bench/sql-load.ts", sqlSpec(operation.sql, connections, size)));
          sqlResult = check(`SQL ${operation.label}`, sqlRun.result);
          sqlCpu = sqlRun.cpu;
          if (creating) await clearCreated();
        }
        rows.push({ operation: operation.label, connections, api: apiResult, apiCpu: apiRun.cpu, sql: sqlResult, sqlCpu });
      }
    }
    console.log("");
    printTable(rows);
    console.log("");
    printCpu(rows);
    console.log(`API memory: peak ${peakRss.toFixed(0)} MB resident, all its processes together (${workers > 1 ? `primary and ${workers} workers` : "one process"})`);
    console.log(`load average (1, 5, 15 min): ${loadBefore} before, ${load()} after`);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(`[bench] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
