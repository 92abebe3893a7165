// The API survives database restarts. This file runs its own PostgreSQL cluster (named
// `restart`, on RESTART_DB_PORT, else DB_PORT + 1, else 54406) so that restarting it never
// disturbs the test database the other files share, starts the API as `npm start` does (its
// own Node process), and restarts the cluster 10 times under 16 concurrent clients. Last, it
// checks that `npm start` (scripts/start.sh) starts a process that dies again.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNode } from "../scripts/build.ts";
import { childPids, commandLine, freePort } from "../scripts/processes.ts";
import { waitFor, within } from "./support/wait.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLUSTER = "restart";
const clusterPort = Number(process.env.RESTART_DB_PORT ?? (process.env.DB_PORT ? Number(process.env.DB_PORT) + 1 : 54406));
const clusterUrl = `postgresql://postgres:postgres@127.0.0.1:${clusterPort}/postgres`;
// What the API logs in as, as npm start has it on a local cluster (scripts/db.sh api-url).
const apiClusterUrl = `postgresql://authenticator:postgres@127.0.0.1:${clusterPort}/postgres`;

const RESTARTS = 10;
const CLIENTS = 16;
/** No request may take longer than this, outage or not. */
const MAX_LATENCY_MS = 2_000;
/** While the database is stopped, every request is refused within this. */
const MAX_REFUSAL_MS = 1_000;
/** Successful replies the API must give between two restarts: each restart hits a serving API. */
const SUCCESSES_BETWEEN_RESTARTS = 40;

const run = promisify(execFile);

/** scripts/db.sh for this file's cluster (never DATABASE_URL: reset refuses it, and it names the shared database). */
async function db(command: string): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, DB_PORT: String(clusterPort) };
  delete env.DATABASE_URL;
  const { stdout } = await run("bash", ["scripts/db.sh", command, CLUSTER], { cwd: root, env, timeout: 120_000 });
  return stdout;
}

interface Reply {
  status: number;
  body: any;
  headers: Headers;
  ms: number;
}

async function request(base: string, method: string, path: string, key?: string, json?: unknown): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (json !== undefined) headers["content-type"] = "application/json";
  const started = performance.now();
  // Far above MAX_LATENCY_MS: a hung request is measured and reported, not left hanging.
  const res = await fetch(`${base}/api/openclaw${path}`, {
    method, headers, body: json === undefined ? undefined : JSON.stringify(json), signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // left as text, and reported as unexpected below
  }
  return { status: res.status, body, headers: res.headers, ms };
}

let api: ChildProcess | undefined;
let apiUrl = "";
let apiOutput = "";
let apiExit: string | undefined;

beforeAll(async () => {
  // A fresh database on this file's own cluster, migrated like any other.
  await db("reset");
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  // As scripts/start.sh runs it: built, node dist/node/server.js (a worker per core), nothing in between.
  await buildNode();
  api = spawn(process.execPath, ["dist/node/server.js"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env, DATABASE_URL: clusterUrl, API_DATABASE_URL: apiClusterUrl, PORT: String(port), HOST: "127.0.0.1",
      PUBLIC_URL: apiUrl, MAIL_WORKER_SECRET: "",
    },
  });
  api.stdout?.on("data", (chunk) => (apiOutput += chunk));
  api.stderr?.on("data", (chunk) => (apiOutput += chunk));
  api.once("exit", (code, signal) => (apiExit = `exit code ${code}, signal ${signal}`));
  await within(new Promise<void>((resolve, reject) => {
    const check = () => {
      if (apiOutput.includes("[api] listening")) resolve();
      else if (apiExit) reject(new Error(`the API exited (${apiExit}) before it listened:\n${apiOutput}`));
    };
    api!.stdout?.on("data", check);
    api!.once("exit", check);
  }), { what: "the API to print \"[api] listening\"", timeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  if (api && !apiExit) {
    const exited = new Promise((resolve) => api!.once("exit", resolve));
    api.kill("SIGTERM");
    await exited;
  }
  await db("stop");
}, 60_000);

describe("the postgres.js client with its install-time patch", () => {
  // porsager/postgres#1066/#1154: a transaction whose connection closes sends its ROLLBACK to
  // a null socket from a setImmediate, which crashed the process; #1223: the reconnected
  // session replayed the old 57P01 onto its first query. Run in a child process, so an
  // unpatched client fails this test instead of the test runner.
  it("rejects a transaction whose backend is terminated with CONNECTION_CLOSED, and the next query on the pool succeeds", async () => {
    const script = `
      import postgres from "postgres";
      const sql = postgres(process.env.URL, { max: 2, onnotice: () => {} });
      const killer = postgres(process.env.URL, { max: 1 });
      for (let i = 0; i < 3; i++) {
        const outcome = await sql.begin(async (tx) => {
          const [{ pid }] = await tx\`select pg_backend_pid() as pid\`;
          await Promise.all([tx\`select pg_sleep(5)\`, killer\`select pg_terminate_backend(\${pid})\`]);
        }).then(() => "committed", (error) => error.code);
        const [{ one }] = await sql\`select 1 as one\`;
        console.log(outcome, one);
      }
      await sql.end();
      await killer.end();`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: root, env: { ...process.env, URL: clusterUrl }, timeout: 30_000 });
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    // CONNECTION_CLOSED when the server's FIN arrives, ECONNRESET when the socket was reset.
    for (const line of lines) expect(line).toMatch(/^(CONNECTION_CLOSED|ECONNRESET) 1$/);
  });

  // A reserve() waiting for a connection was taken out of the pool's queue when a connection
  // closed and was opened again for it, and the reopened connection then left it to the queue,
  // where it no longer was: the request waited for ever (requests hung while the database
  // restarted, or when a busy machine made a connection attempt time out).
  it("hands a connection to a reserve() that waited while the pool's only connection was lost", async () => {
    const script = `
      import postgres from "postgres";
      const sql = postgres(process.env.URL, { max: 1, onnotice: () => {} });
      const killer = postgres(process.env.URL, { max: 1 });
      const first = await sql.reserve();
      const [{ pid }] = await first\`select pg_backend_pid() as pid\`;
      const waiting = sql.reserve();
      await killer\`select pg_terminate_backend(\${pid})\`;
      const lost = await first\`select 1\`.then(() => "answered", (error) => error.code);
      const second = await waiting;
      const [{ one }] = await second\`select 1 as one\`;
      second.release();
      const [{ two }] = await sql\`select 2 as two\`;
      console.log(lost, one, two);
      await sql.end();
      await killer.end();`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: root, env: { ...process.env, URL: clusterUrl }, timeout: 30_000 });
    expect(stdout.trim()).toMatch(/^(CONNECTION_CLOSED|ECONNRESET) 1 2$/);
  });
});

describe(`the API while its database restarts ${RESTARTS} times, then stops and starts, under ${CLIENTS} concurrent clients`, () => {
  it("stays up, answers 2xx or 503 database_unavailable within 2 s (1 s while it is down), recovers, and loses no acknowledged write", async () => {
    // One workspace per client, on the largest plan, so no plan limit answers instead.
    const keys: string[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const res = await request(apiUrl, "POST", "/signup", undefined, {
        email: `restart-${randomUUID()}@example.com`, workspace_name: `Restart ${i}`, agent_name: "vitest", agent_platform: "openclaw",
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      keys.push(res.body.apiKey);
    }
    const admin = postgres(clusterUrl, { max: 1, onnotice: () => {} });
    await admin`update app.orgs set tier = 'ultra'`;
    await admin.end();
    const pid = api!.pid;

    const acknowledged: { key: string; id: string }[] = [];
    const statuses = new Map<number, number>();
    const unexpected: string[] = [];
    const slow: string[] = [];
    let maxMs = 0;
    let successes = 0;
    let stop = false;
    // Set while the cluster is stopped (between `db.sh stop` returning and `db.sh start` starting).
    let down = false;
    const whileDown = { replies: 0, successes: 0, maxMs: 0 };

    const client = async (key: string) => {
      const mine: string[] = [];
      for (let n = 0; !stop; n++) {
        const read = n % 2 === 1 && mine.length > 0;
        const what = read ? `GET /leads/${mine[n % mine.length]}` : "POST /leads";
        const sentWhileDown = down;
        let res: Reply;
        try {
          res = read
            ? await request(apiUrl, "GET", `/leads/${mine[n % mine.length]}`, key)
            : await request(apiUrl, "POST", "/leads", key, { firstName: "Rita", lastName: "Restart", email: `lead-${randomUUID()}@example.com` });
        } catch (error) {
          // No reply at all: the API is gone (reported below with its output) or hung.
          unexpected.push(`${what}: no reply (${(error as Error).message})`);
          if (apiExit) return;
          continue;
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (sentWhileDown && down) {
          whileDown.replies++;
          whileDown.maxMs = Math.max(whileDown.maxMs, res.ms);
          if (res.status < 300) whileDown.successes++;
        }
        maxMs = Math.max(maxMs, res.ms);
        if (res.ms > MAX_LATENCY_MS) slow.push(`${what}: ${res.status} after ${Math.round(res.ms)} ms`);
        if (res.status === (read ? 200 : 201)) {
          successes++;
          if (!read) {
            mine.push(res.body.id);
            acknowledged.push({ key, id: res.body.id });
          }
        } else if (res.status === 503 && res.body?.error?.code === "database_unavailable" && res.body.error.hint && res.headers.get("retry-after")) {
          // Refused while the database was away: allowed, and retried by the loop.
        } else {
          unexpected.push(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
        }
      }
    };
    const clients = keys.map(client);

    const recoveries: number[] = [];
    let healthWhileDown: Reply | undefined;
    try {
      for (let i = 0; i < RESTARTS; i++) {
        const before = successes;
        await waitFor(() => apiExit !== undefined || successes >= before + SUCCESSES_BETWEEN_RESTARTS, { what: `${SUCCESSES_BETWEEN_RESTARTS} successful replies before restart ${i + 1}`, timeoutMs: 10_000 });
        if (apiExit) break;
        // pg_ctl restart -m fast -w: returns once the cluster accepts connections again.
        await db("restart");
        const back = performance.now();
        const after = successes;
        await waitFor(() => apiExit !== undefined || successes > after, { what: `a successful reply after restart ${i + 1}`, timeoutMs: 5_000 });
        if (apiExit) break;
        recoveries.push(Math.round(performance.now() - back));
      }
      // And a real outage: stopped until every client has been refused a few times, then started.
      if (!apiExit) {
        await db("stop");
        down = true;
        await waitFor(() => apiExit !== undefined || whileDown.replies >= CLIENTS * 20, { what: "replies while the database is stopped", timeoutMs: 10_000 });
        healthWhileDown = await request(apiUrl, "GET", "/health");
        down = false;
        await db("start");
        const back = performance.now();
        const after = successes;
        await waitFor(() => apiExit !== undefined || successes > after, { what: "a successful reply after the database started again", timeoutMs: 5_000 });
        recoveries.push(Math.round(performance.now() - back));
      }
    } finally {
      stop = true;
      await Promise.all(clients);
    }

    expect(apiExit, `the API process died:\n${apiOutput.slice(-3000)}`).toBeUndefined();
    expect(api!.pid).toBe(pid);

    // Every acknowledged lead is there, read back through the API by the workspace that made it.
    // Each worker process has its own breaker: the success awaited above came from one of them,
    // and another may still refuse (503 database_unavailable) until its first probe after the
    // start, within MAX_LATENCY_MS. A refused read is retried, as its Retry-After asks.
    const readBack = (key: string, id: string) => waitFor(async () => {
      const res = await request(apiUrl, "GET", `/leads/${id}`, key);
      return res.status === 503 && res.body?.error?.code === "database_unavailable" ? false : res;
    }, { what: `lead ${id} to be served after the database is back`, timeoutMs: MAX_LATENCY_MS });
    const missing: string[] = [];
    for (let start = 0; start < acknowledged.length; start += CLIENTS) {
      await Promise.all(acknowledged.slice(start, start + CLIENTS).map(async ({ key, id }) => {
        const res = await readBack(key, id);
        if (res.status !== 200 || res.body.id !== id) missing.push(`${id}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      }));
    }

    console.log(`[db-restart] ${RESTARTS} restarts and a stop: ${[...statuses].map(([s, n]) => `${n}×${s}`).join(", ")}; `
      + `max latency ${Math.round(maxMs)} ms (${Math.round(whileDown.maxMs)} ms while stopped); `
      + `first success ${recoveries.join("/")} ms after each restart and the start; `
      + `${acknowledged.length} acknowledged leads read back, ${missing.length} missing`);
    // What the API printed, for any failure below: a worker's exit, a breaker's state.
    const printed = `\nthe API printed:\n${apiOutput.slice(-4000)}`;
    expect(unexpected, `replies other than 2xx or 503 database_unavailable${printed}`).toEqual([]);
    expect(statuses.get(500) ?? 0).toBe(0);
    expect(slow, `requests slower than ${MAX_LATENCY_MS} ms`).toEqual([]);
    expect(whileDown.successes).toBe(0);
    expect(healthWhileDown?.status).toBe(503);
    expect(healthWhileDown?.body).toMatchObject({ status: "unavailable", database: "unreachable" });
    expect((await request(apiUrl, "GET", "/health")).body).toMatchObject({ status: "ok", database: "reachable" });
    expect(whileDown.maxMs).toBeLessThan(MAX_REFUSAL_MS);
    // Once the cluster accepts connections again, the API serves within the same bound.
    expect(Math.max(...recoveries)).toBeLessThan(MAX_LATENCY_MS);
    expect(missing, `acknowledged leads not found afterwards${printed}`).toEqual([]);
    expect(acknowledged.length).toBeGreaterThan(RESTARTS * SUCCESSES_BETWEEN_RESTARTS / 2);
  }, 120_000);
});

/** The children of a process, with their command lines (Linux /proc). */
const children = (pid: number) => childPids(pid).map((child) => ({ pid: child, command: commandLine(child) }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("npm start (scripts/start.sh)", () => {
  it("starts the API again when it dies, keeps the worker and mail catcher running, and stops them all on TERM", async () => {
    const [port, smtpPort, inboxPort] = [await freePort(), await freePort(), await freePort()];
    let output = "";
    let exited: number | null | undefined;
    const start = spawn("bash", ["scripts/start.sh"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env, DATABASE_URL: clusterUrl, API_DATABASE_URL: apiClusterUrl, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`,
        MAIL_CATCHER_SMTP_PORT: String(smtpPort), MAIL_CATCHER_HTTP_PORT: String(inboxPort), SMTP_URL: "",
        INTEGRATIONS_ENCRYPTION_KEY: randomBytes(32).toString("base64"), MAIL_WORKER_SECRET: "",
      },
    });
    start.stdout?.on("data", (chunk) => (output += chunk));
    start.stderr?.on("data", (chunk) => (output += chunk));
    start.once("exit", (code) => (exited = code));
    const count = (text: string) => output.split(text).length - 1;
    try {
      await waitFor(() => exited === undefined && count("[api] listening") === 1 && count("[mail] catcher:") === 1 && count("[mail] worker") === 1,
        { what: "npm start to start the API, the worker and the mail catcher", timeoutMs: 60_000 });
      const first = children(start.pid!);
      const apiPid = first.find((c) => c.command.includes("dist/node/server.js"))!.pid;
      const others = first.filter((c) => c.pid !== apiPid).map((c) => c.pid);
      expect(others).toHaveLength(2);

      process.kill(apiPid, "SIGKILL");
      await waitFor(() => count("[api] listening") === 2, { what: "the API to listen again", timeoutMs: 20_000 });
      expect(output).toContain(`[start] api (pid ${apiPid}) exited with status 137; starting it again in 1 s`);
      expect((await request(`http://127.0.0.1:${port}`, "GET", "/health")).body).toMatchObject({ status: "ok" });
      expect(exited).toBeUndefined();
      for (const pid of others) expect(alive(pid)).toBe(true);

      const running = children(start.pid!).map((c) => c.pid);
      start.kill("SIGTERM");
      await waitFor(() => exited !== undefined, { what: "npm start to stop on TERM", timeoutMs: 10_000 });
      expect(exited).toBe(143);
      for (const pid of running) expect(alive(pid)).toBe(false);
    } finally {
      if (exited === undefined) {
        for (const child of children(start.pid!)) process.kill(child.pid, "SIGKILL");
        start.kill("SIGKILL");
      }
    }
  }, 120_000);
});
