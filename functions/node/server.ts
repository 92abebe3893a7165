// Node entry: serves the app with @hono/node-server on every core. Used by `npm start`, which
// runs it built (npm run build: dist/node/server.js, plain JavaScript, so nothing is compiled
// while the server runs), and by the tests.
//
// WORKERS (or WEB_CONCURRENCY, as Heroku-style platforms set it) worker processes share the
// port (node:cluster: the primary accepts connections and hands them out in turn); default:
// one per core. Each worker has its own pool of DB_POOL_SIZE / WORKERS connections (DB_POOL_SIZE
// is the server's total, default 10, at least one per worker). The primary serves nothing: it
// starts the workers, starts again one that exits on its own (after a pause that doubles while
// it keeps failing), and stops them all on SIGINT or SIGTERM. WORKERS=1 serves from a single
// process, without a primary.
//
// Each worker's V8 heap is held small (WORKER_HEAP_MB, default 128 MB of old space, and young
// semi-spaces of 4 MB): left alone, V8 lets an idle-looking heap grow under load long before it
// collects (a worker's live heap is about 30 MB; a 10 MiB CSV import peaks near 60 MB), and two
// workers reached 450 MB resident. Flags the server was started with (node --max-old-space-size=…,
// or NODE_OPTIONS) win. WORKERS=1 runs no primary, so there only those flags apply.
//
// The pool logs in with API_DATABASE_URL (default DATABASE_URL): on the local cluster npm start
// points it at the authenticator role, which holds no privileges of its own; its sessions act
// as anon between transactions (functions/db.ts).
//
// The primary imports only what supervising takes: the app, its database client and the HTTP
// server are loaded by the processes that serve (dynamic imports, separate chunks in the
// build), so the primary stays a bare Node process in memory.
import "./env.ts";
import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import process from "node:process";
import { DEFAULT_API_PORT, positiveInt } from "../env.ts";

const databaseUrl = process.env.API_DATABASE_URL || process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("DATABASE_URL is not set (npm start sets it to the local cluster).");
  process.exit(1);
}
const port = Number(process.env.PORT ?? DEFAULT_API_PORT);
const host = process.env.HOST ?? "127.0.0.1";
const workers = positiveInt(process.env.WORKERS ?? process.env.WEB_CONCURRENCY, availableParallelism());
const poolSize = positiveInt(process.env.DB_POOL_SIZE, 10);
const workerHeapMb = positiveInt(process.env.WORKER_HEAP_MB, 128);

if (workers > 1 && cluster.isPrimary) supervise();
else await serveApp(cluster.isWorker ? Number(process.env.WORKER_INDEX) : 0);

async function serveApp(index: number) {
  const [{ serve }, { connect, isConnectionFailure }, { createNodeApp }] = await Promise.all([
    import("@hono/node-server"), import("../db.ts"), import("./app.ts"),
  ]);
  // A statement of a connection the database closed can be rejected with nobody left waiting
  // for it (its request already answered 503 from another statement of the same round trip);
  // Node would end the whole process for it, and every request it was serving. That one is
  // logged; any other unhandled rejection still ends the process (the primary starts it again).
  process.on("unhandledRejection", (reason) => {
    if (isConnectionFailure(reason)) {
      console.warn(`[db] a statement of a closed connection failed after its request was answered (${(reason as Error).message})`);
      return;
    }
    console.error("[api] unhandled rejection:", reason);
    process.exit(1);
  });
  const connectTimeoutMs = Number(process.env.DB_CONNECT_TIMEOUT_MS);
  const sql = connect(databaseUrl!, {
    max: Math.max(1, Math.floor(poolSize / workers)),
    connectTimeout: Number.isFinite(connectTimeoutMs) && connectTimeoutMs > 0 ? connectTimeoutMs / 1_000 : undefined,
    role: "anon",
    name: workers > 1 ? `openclaw-crm api/${index}` : "openclaw-crm api",
  });
  const app = createNodeApp(sql, (name) => process.env[name], port);
  const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => {
    if (!cluster.isWorker) console.log(`[api] listening on http://${host}:${info.port}/api/openclaw  (docs: http://${host}:${info.port}/api-docs)`);
  });
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    await sql.end({ timeout: 2 });
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

/** The workers' Node flags: the server's own, plus the heap limits it was not given. */
function workerExecArgv(): string[] {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  const has = (flag: string) => given.some((arg) => arg.startsWith(flag));
  return [
    ...process.execArgv,
    ...(has("--max-old-space-size") ? [] : [`--max-old-space-size=${workerHeapMb}`]),
    ...(has("--max-semi-space-size") ? [] : ["--max-semi-space-size=4"]),
  ];
}

function supervise() {
  cluster.setupPrimary({ execArgv: workerExecArgv() });
  let stopping = false;
  let listening = 0;
  const delays = new Map<number, number>();
  const fork = (index: number) => {
    const startedAt = Date.now();
    const worker = cluster.fork({ WORKER_INDEX: String(index) });
    worker.on("listening", () => {
      if (++listening > workers) console.log(`[api] worker ${index} (pid ${worker.process.pid}) is serving again`);
      else if (listening === workers) {
        console.log(`[api] listening on http://${host}:${port}/api/openclaw  (docs: http://${host}:${port}/api-docs); `
          + `${workers} workers, ${Math.max(1, Math.floor(poolSize / workers))} database connections each`);
      }
    });
    worker.on("exit", (code, signal) => {
      if (stopping) return;
      // Back to a second's pause once a worker has run for a minute; doubling up to 30 s while it keeps failing.
      const delay = Date.now() - startedAt >= 60_000 ? 1 : delays.get(index) ?? 1;
      delays.set(index, Math.min(delay * 2, 30));
      console.error(`[api] worker ${index} (pid ${worker.process.pid}) exited with ${signal ?? `status ${code}`}; starting it again in ${delay} s`);
      setTimeout(() => {
        if (!stopping) fork(index);
      }, delay * 1000);
    });
  };
  for (let index = 0; index < workers; index++) fork(index);

  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    const running = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    if (running.length === 0) process.exit(0);
    let left = running.length;
    for (const worker of running) {
      worker.once("exit", () => {
        if (--left === 0) process.exit(0);
      });
      worker.process.kill("SIGTERM");
    }
    // A worker that does not stop within 5 s is not waited for.
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
