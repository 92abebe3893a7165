// The server as npm start runs it (npm run build, then node dist/node/server.js): worker
// processes on every core share the port, each with its share of the pool, and the primary
// starts again a worker that dies.
import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { buildNode } from "../scripts/build.ts";
import { childPids, commandLine, freePort } from "../scripts/processes.ts";
import { call, expectOk, signup, type Workspace } from "./support/api.ts";
import { generousLimits } from "./support/limits.ts";
import { waitFor } from "./support/wait.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * GET on a connection of its own: a kept-alive one may belong to a worker that was killed. A
 * reply that never comes fails the test with its own message rather than the test's timeout.
 */
async function get(url: string, key: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { authorization: `Bearer ${key}` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no reply to GET ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

const workersOf = childPids;

describe.runIf(process.platform === "linux")("the server on every core", () => {
  let server: ChildProcess;
  let output = "";
  let base: string;
  let owner: postgres.Sql;
  let ws: Workspace;

  beforeAll(async () => {
    await buildNode();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, ["dist/node/server.js"], {
      cwd: root,
      env: {
        ...process.env, ...generousLimits, WORKERS: "2", DB_POOL_SIZE: "4", PORT: String(port), HOST: "127.0.0.1",
        DATABASE_URL: inject("databaseUrl"), API_DATABASE_URL: inject("apiDatabaseUrl"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    server.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    server.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(() => output.includes("[api] listening"), { timeoutMs: 20_000, what: `the server to listen (output: ${output})` });
    owner = postgres(inject("databaseUrl"), { max: 1, onnotice: () => {} });
    ws = await signup();
  });
  afterAll(async () => {
    server?.kill("SIGTERM");
    await owner?.end({ timeout: 2 });
  });

  it("runs WORKERS processes with DB_POOL_SIZE split between them, and every one of them serves", async () => {
    expect(output).toContain("2 workers, 2 database connections each");
    expect(workersOf(server.pid!)).toHaveLength(2);
    const replies = await Promise.all(Array.from({ length: 40 }, () => call("GET", "/org/tier", undefined, { key: ws.apiKey, base })));
    for (const reply of replies) expectOk(reply);
    // Each worker's pool connects when that worker serves: both have connected.
    const names = await owner<{ name: string }[]>`
      select distinct application_name as name from pg_stat_activity
      where application_name like 'openclaw-crm api/%' and usename = ${new URL(inject("apiDatabaseUrl")).username}
      order by 1`;
    expect(names.map((r) => r.name)).toEqual(["openclaw-crm api/0", "openclaw-crm api/1"]);
  });

  it("holds each worker's heap to WORKER_HEAP_MB (default 128) and 4 MB semi-spaces", () => {
    for (const worker of workersOf(server.pid!)) {
      const args = commandLine(worker).split(" ");
      expect(args).toContain("--max-old-space-size=128");
      expect(args).toContain("--max-semi-space-size=4");
    }
  });

  it("starts a worker that dies again, and keeps answering meanwhile", async () => {
    const [first, second] = workersOf(server.pid!);
    process.kill(first!, "SIGKILL");
    // Until the primary has seen the worker go, it may still hand it a connection, which is
    // then lost with it (node:cluster); once it has, the other worker takes every connection.
    const exited = new RegExp(`worker (\\d) \\(pid ${first}\\) exited with SIGKILL; starting it again in 1 s`);
    const [, index] = await waitFor(() => output.match(exited), { timeoutMs: 10_000, what: `the primary to see worker pid ${first} exit` });
    expect(await get(`${base}/api/openclaw/org/tier`, ws.apiKey)).toBe(200);
    const serving = new RegExp(`worker ${index} \\(pid (\\d+)\\) is serving again`);
    const [, restarted] = await waitFor(() => output.match(serving), { timeoutMs: 10_000, what: `worker ${index} to be started again` });
    expect(workersOf(server.pid!).sort()).toEqual([Number(restarted), second!].sort());
    const statuses = await Promise.all(Array.from({ length: 20 }, () => get(`${base}/api/openclaw/org/tier`, ws.apiKey)));
    expect(statuses).toEqual(Array(20).fill(200));
  });

  it("stops every worker on SIGTERM", async () => {
    const workers = workersOf(server.pid!);
    const exited = new Promise<number | null>((resolve) => server.once("exit", (code) => resolve(code)));
    server.kill("SIGTERM");
    expect(await exited).toBe(0);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  });
});
