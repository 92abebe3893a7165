// The Supabase Edge Function entry (supabase/functions/openclaw/index.ts) serves the same
// app under Deno: start it with its own deno.json against the test database, then run
// signup → create lead → get lead over HTTP and compare the replies' shapes with the
// Node server's. --node-modules-dir=manual makes the npm: specifiers of that deno.json
// resolve from the project's node_modules (exact versions), so no download is needed.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { within } from "./support/wait.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "supabase/functions/openclaw/index.ts");
const denoConfig = join(root, "supabase/functions/openclaw/deno.json");
// The first start may type-check and compile the whole app.
const STARTUP_TIMEOUT_MS = 120_000;

let deno: ChildProcess | undefined;
let denoUrl = "";
let output = "";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function denoCommand(): { command: string; args: string[] } {
  const local = join(root, "node_modules/.bin/deno");
  return existsSync(local) ? { command: local, args: [] } : { command: "npx", args: ["--no-install", "deno"] };
}

/**
 * Resolves once the child has printed `line` (Deno.serve prints "Listening on <url>" once
 * its socket is bound); fails as soon as the child exits instead.
 */
function printed(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = () => {
      child.stdout?.off("data", check);
      child.stderr?.off("data", check);
      child.off("exit", exited);
    };
    // Registered after the listeners that fill `output`, so it sees each chunk already added.
    function check() {
      if (!output.includes(line)) return;
      stop();
      resolve();
    }
    function exited(code: number | null) {
      stop();
      reject(new Error(`the Deno entry exited (${code}) before it listened`));
    }
    child.stdout?.on("data", check);
    child.stderr?.on("data", check);
    child.once("exit", exited);
    check();
  });
}

interface Reply {
  status: number;
  body: any;
  contentType: string;
}

async function request(base: string, method: string, path: string, json?: unknown, key?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // left as text
  }
  return { status: res.status, body, contentType: res.headers.get("content-type") ?? "" };
}

/** The structure of a JSON value: keys and value types, not the values. */
function shape(value: unknown): unknown {
  if (value === null) return "null";
  if (Array.isArray(value)) return value.map(shape);
  if (typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, shape(v)]));
  }
  return typeof value;
}

/** signup → create lead → get lead, as an agent would do it. */
async function journey(base: string, prefix = "/api/openclaw") {
  const signup = await request(base, "POST", `${prefix}/signup`, {
    email: `deno-${randomUUID()}@example.com`, workspace_name: "Deno Workspace", agent_name: "vitest", agent_platform: "openclaw",
  });
  expect(signup.status, JSON.stringify(signup.body)).toBe(201);
  const key = signup.body.apiKey as string;
  const input = { firstName: "Dina", lastName: "Deno", email: `lead-${randomUUID()}@example.com`, organizationName: "Edge Clinic", crmData: { runtime: "deno" } };
  const created = await request(base, "POST", `${prefix}/leads`, input, key);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const fetched = await request(base, "GET", `${prefix}/leads/${created.body.id}`, undefined, key);
  expect(fetched.status, JSON.stringify(fetched.body)).toBe(200);
  return { signup, created, fetched, input };
}

beforeAll(async () => {
  const port = await freePort();
  denoUrl = `http://127.0.0.1:${port}`;
  const { command, args } = denoCommand();
  deno = spawn(command, [...args, "run", "--allow-net", "--allow-env", "--allow-read", "--node-modules-dir=manual", `--config=${denoConfig}`, entry], {
    cwd: root,
    // Its own process group, so the whole group (npx included, if used) is stopped afterwards.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      SUPABASE_DB_URL: inject("databaseUrl"),
      PORT: String(port),
      PUBLIC_URL: denoUrl,
      NO_COLOR: "1",
    },
  });
  deno.stdout?.on("data", (chunk) => (output += chunk));
  deno.stderr?.on("data", (chunk) => (output += chunk));
  const listening = `Listening on ${denoUrl}/`;
  try {
    await within(printed(deno, listening), { what: `the Deno entry to print "${listening}"`, timeoutMs: STARTUP_TIMEOUT_MS });
  } catch (error) {
    throw new Error(`${(error as Error).message}; its output:\n${output}`);
  }
}, STARTUP_TIMEOUT_MS + 10_000);

afterAll(async () => {
  const child = deno;
  if (!child?.pid || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(-child.pid, "SIGTERM");
  const timer = setTimeout(() => child.exitCode === null && process.kill(-child.pid!, "SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
});

describe("the Deno entry (Supabase Edge Function)", () => {
  it("answers /health at the contract path and under the Edge Function prefix", async () => {
    for (const path of ["/api/openclaw/health", "/openclaw/api/openclaw/health"]) {
      const res = await request(denoUrl, "GET", path);
      expect(res.status, path).toBe(200);
      expect(res.contentType).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({ success: true, status: "ok", database: "reachable", action_required: false, unread_responses: [] });
    }
  });

  it("signs up, creates a lead and reads it back, with the Node app's reply shapes", async () => {
    const onDeno = await journey(denoUrl);
    const onNode = await journey(inject("apiUrl"));

    expect(onDeno.signup.body).toMatchObject({ success: true, orgId: expect.stringMatching(/^org_/), apiKey: expect.stringMatching(/^rcm_live_[0-9a-f]{64}$/) });
    expect(onDeno.created.body).toMatchObject({
      success: true, id: expect.stringMatching(/^rp_/), enrichmentQueued: false,
      lead: { ...onDeno.input, clinicName: "Edge Clinic", status: "new", enrichmentStatus: "not_enriched", deletedAt: null },
    });
    expect(onDeno.created.body.warnings).toContain("Auto-enrichment disabled — enrich explicitly");
    expect(onDeno.fetched.body).toMatchObject({ success: true, id: onDeno.created.body.id, warnings: [], next_steps: expect.any(Array) });
    expect(onDeno.fetched.body.lead).toEqual(onDeno.created.body.lead);

    for (const step of ["signup", "created", "fetched"] as const) {
      expect(onDeno[step].contentType, step).toBe(onNode[step].contentType);
      expect(shape(onDeno[step].body), step).toEqual(shape(onNode[step].body));
    }
  });

  it("serves the same routes under the Edge Function prefix", async () => {
    const prefixed = await journey(denoUrl, "/openclaw/api/openclaw");
    expect(prefixed.fetched.body.lead).toEqual(prefixed.created.body.lead);
  });

  it("serves MCP at /mcp and under the Edge Function prefix, with the Node app's tools", async () => {
    const { signup } = await journey(denoUrl);
    const key = signup.body.apiKey as string;
    const connect = async (base: string, path: string) => {
      const client = new Client({ name: "vitest-deno", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(path, base), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
      return client;
    };
    const [onDeno, prefixed, onNode] = await Promise.all([connect(denoUrl, "/mcp"), connect(denoUrl, "/openclaw/mcp"), connect(inject("apiUrl"), "/mcp")]);
    try {
      const names = async (client: Client) => (await client.listTools()).tools.map((t) => t.name);
      expect(await names(onDeno)).toEqual(await names(onNode));
      const input = { firstName: "Mcp", lastName: "Deno", email: `mcp-${randomUUID()}@example.com` };
      const created = await prefixed.callTool({ name: "createLead", arguments: input });
      expect(created.structuredContent).toMatchObject({ success: true, lead: input });
      const id = (created.structuredContent as { id: string }).id;
      const fetched = await onDeno.callTool({ name: "getLead", arguments: { leadId: id } });
      expect(fetched.structuredContent).toMatchObject({ success: true, id, lead: input });
    } finally {
      await Promise.all([onDeno.close(), prefixed.close(), onNode.close()]);
    }
  });

  it("answers errors with the same envelope", async () => {
    const res = await request(denoUrl, "GET", "/api/openclaw/leads/rp_000000000000000000000000");
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ success: false, error: { code: "missing_api_key", message: expect.any(String), hint: expect.any(String) } });
    const node = await request(inject("apiUrl"), "GET", "/api/openclaw/leads/rp_000000000000000000000000");
    expect(shape(res.body)).toEqual(shape(node.body));
  });
});
