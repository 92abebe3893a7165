// The Supabase Edge Function, as it is deployed and as Deno serves it. `npm run build:edge`
// bundles it (scripts/build-edge.ts); the pinned Supabase CLI then deploys it with
// `functions deploy openclaw --use-api` (the upload Supabase bundles server-side, and what
// the CLI does without Docker) to a loopback stand-in for the Management API, which keeps
// the files it receives. Those files alone, in an empty folder with no node_modules and no
// functions/ beside them, are served with `deno serve`, and signup → create lead → get lead
// must answer as the Node server does. Nothing here uses the network.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { dashboardAssets } from "../functions/dashboard/assets.ts";
import { buildEdge, type EdgeBuild } from "../scripts/build-edge.ts";
import { freePort } from "../scripts/processes.ts";
import { within } from "./support/wait.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const FUNCTION_DIR = "supabase/functions/openclaw";
// Building, deploying through the CLI and the first start of the bundle.
const STARTUP_TIMEOUT_MS = 120_000;
const PROJECT_REF = "abcdefghijklmnopqrst";

let built: EdgeBuild;
let deployed: { files: Map<string, string>; metadata: Record<string, unknown>; cli: string };
let scratch = "";
let deno: ChildProcess | undefined;
let denoUrl = "";
let output = "";

function bin(name: string): string {
  const local = join(root, "node_modules/.bin", name);
  if (!existsSync(local)) throw new Error(`${name} is not installed: run npm ci`);
  return local;
}

/** Runs a command to its end; resolves with its output, rejects (with the output) on failure. */
function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (chunk) => (text += chunk));
    child.stderr.on("data", (chunk) => (text += chunk));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${text}`))));
  });
}

/**
 * The Management API's deploy endpoint, on loopback: it keeps the multipart upload of
 * POST /v1/projects/{ref}/functions/deploy and answers as Supabase does (201, the function).
 */
async function startManagementApi() {
  let upload: { contentType: string; body: Buffer } | undefined;
  const server: Server = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    res.setHeader("content-type", "application/json");
    if (req.method === "POST" && req.url === `/v1/projects/${PROJECT_REF}/functions/deploy?slug=openclaw`) {
      upload = { contentType: req.headers["content-type"] ?? "", body: Buffer.concat(chunks) };
      res.statusCode = 201;
      res.end(JSON.stringify({ id: randomUUID(), slug: "openclaw", name: "openclaw", status: "ACTIVE", version: 1, created_at: 0, updated_at: 0, verify_jwt: false }));
      return;
    }
    res.statusCode = 404;
    res.end(JSON.stringify({ message: "not part of this stand-in" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    upload: () => upload,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `supabase functions deploy openclaw --use-api` with the pinned CLI, against the stand-in; returns what it uploaded. */
async function deployWithCli() {
  const api = await startManagementApi();
  const home = join(scratch, "home");
  await mkdir(home, { recursive: true });
  const profile = join(scratch, "profile.yaml");
  await writeFile(profile, `name: loopback\napi_url: ${api.url}\ndashboard_url: ${api.url}/dashboard\nproject_host: example.test\n`);
  try {
    const cli = await run(bin("supabase"), ["functions", "deploy", "openclaw", "--use-api", "--no-verify-jwt", "--project-ref", PROJECT_REF, "--profile", profile], {
      cwd: root,
      // A home of its own: no login, profile or token of the machine is read.
      env: { ...process.env, HOME: home, SUPABASE_ACCESS_TOKEN: `sbp_${"0".repeat(40)}`, NO_COLOR: "1" },
    });
    const upload = api.upload();
    if (!upload) throw new Error(`the CLI uploaded nothing:\n${cli}`);
    const form = await new Response(new Uint8Array(upload.body), { headers: { "content-type": upload.contentType } }).formData();
    const files = new Map<string, string>();
    for (const entry of form.getAll("file")) {
      if (typeof entry === "string") continue;
      files.set(entry.name, await entry.text());
    }
    const metadata = JSON.parse(String(form.get("metadata"))) as Record<string, unknown>;
    return { files, metadata, cli };
  } finally {
    await api.close();
  }
}

/**
 * Resolves once the child has printed `line` (deno serve prints "Listening on <url>" once
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
      reject(new Error(`deno serve exited (${code}) before it listened`));
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
  scratch = await mkdtemp(join(tmpdir(), "openclaw-edge-"));
  built = await buildEdge();
  deployed = await deployWithCli();

  // What the deploy uploaded, and nothing else, in a folder of its own.
  const site = join(scratch, "deployed");
  for (const [path, text] of deployed.files) {
    await mkdir(dirname(join(site, path)), { recursive: true });
    await writeFile(join(site, path), text);
  }
  const port = await freePort();
  denoUrl = `http://127.0.0.1:${port}`;
  deno = spawn(bin("deno"), ["serve", "--host", "127.0.0.1", "--port", String(port), "--allow-net", "--allow-env", "index.ts"], {
    cwd: join(site, FUNCTION_DIR),
    // Its own process group, so the whole group is stopped afterwards.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SUPABASE_DB_URL: inject("databaseUrl"), PUBLIC_URL: denoUrl, NO_COLOR: "1" },
  });
  deno.stdout?.on("data", (chunk) => (output += chunk));
  deno.stderr?.on("data", (chunk) => (output += chunk));
  const listening = `Listening on ${denoUrl}/`;
  try {
    await within(printed(deno, listening), { what: `deno serve to print "${listening}"`, timeoutMs: STARTUP_TIMEOUT_MS });
  } catch (error) {
    throw new Error(`${(error as Error).message}; its output:\n${output}`);
  }
}, STARTUP_TIMEOUT_MS + 10_000);

afterAll(async () => {
  const child = deno;
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(-child.pid, "SIGTERM");
    const timer = setTimeout(() => child.exitCode === null && process.kill(-child.pid!, "SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe("the Edge Function bundle (npm run build:edge)", () => {
  it("imports nothing but node: builtins", () => {
    expect(built.imports.length).toBeGreaterThan(0);
    expect(built.imports.filter((specifier) => !specifier.startsWith("node:"))).toEqual([]);
  });

  it("carries postgres.js from node_modules as patched at install", async () => {
    expect(built.inputs).toContain("node_modules/postgres/src/connection.js");
    const installed = await readFile(join(root, "node_modules/postgres/src/connection.js"), "utf8");
    expect(installed, "patches/postgres+3.4.9.patch is applied (npm ci)").toContain("Patched (porsager/postgres#1066");
    // The patched guard in execute(), as esbuild prints it.
    const bundle = await readFile(join(root, FUNCTION_DIR, "dist/edge.js"), "utf8");
    expect(bundle).toMatch(/if \(!socket\)\s+return queryError\(q, Errors\.connection\("CONNECTION_CLOSED", options\)\), true;/);
  });
});

describe("supabase functions deploy openclaw --use-api (the pinned CLI, to a loopback Management API)", () => {
  it("uploads the entry, its deno.json and the bundle: only files under supabase/functions/openclaw", () => {
    expect([...deployed.files.keys()].sort(), deployed.cli).toEqual([
      `${FUNCTION_DIR}/deno.json`, `${FUNCTION_DIR}/dist/edge.js`, `${FUNCTION_DIR}/index.ts`,
    ]);
    expect(deployed.metadata).toMatchObject({ name: "openclaw", entrypoint_path: `${FUNCTION_DIR}/index.ts`, verify_jwt: false });
  });

  it("uploads the bundle as built", async () => {
    expect(deployed.files.get(`${FUNCTION_DIR}/dist/edge.js`)).toBe(await readFile(join(root, FUNCTION_DIR, "dist/edge.js"), "utf8"));
  });
});

describe("the deployed files under deno serve", () => {
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

  it("serves the dashboard's assets from the bundle, Chart.js included, at the root and under the prefix", async () => {
    // The Node app reads the files from disk; the bundle carries them inline (scripts/build-edge.ts).
    const { names, byName } = await dashboardAssets();
    for (const file of ["chart.umd.min.js", "dashboard.js", "dashboard.css"] as const) {
      for (const prefix of ["", "/openclaw"]) {
        const res = await fetch(`${denoUrl}${prefix}/app/assets/${names[file]}`);
        expect(res.status, `${prefix}/app/assets/${names[file]}`).toBe(200);
        expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
        expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), Buffer.from(byName.get(names[file])!.body)), file).toBe(0);
      }
    }
    // A signed-out visitor of the dashboard is sent to sign in, relative to the prefix.
    const page = await fetch(`${denoUrl}/openclaw/app/`, { redirect: "manual" });
    expect(page.status).toBe(302);
    expect(new URL(page.headers.get("location")!, `${denoUrl}/openclaw/app/`).pathname).toBe("/openclaw/api/openclaw/auth/sign-in");
  });

  it("imports a CSV file (COPY … FROM STDIN) and exports it again (COPY … TO STDOUT) under Deno", async () => {
    const { signup } = await journey(denoUrl);
    const key = signup.body.apiKey as string;
    const emails = [`deno-a-${randomUUID()}@example.com`, `deno-b-${randomUUID()}@example.com`];
    const imported = await fetch(`${denoUrl}/api/openclaw/imports`, {
      method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "text/csv" },
      body: `email,First name,Company\n${emails[0]},Ada,"Edge, Inc"\n${emails[1]},Bo,Edge\n`,
    });
    const reply = await imported.json() as any;
    expect(imported.status, JSON.stringify(reply)).toBe(201);
    expect(reply.import).toMatchObject({ status: "completed", created: 2, failed: 0 });
    const exported = await fetch(`${denoUrl}/api/openclaw/leads/export?q=edge`, { headers: { authorization: `Bearer ${key}` } });
    expect(exported.status).toBe(200);
    const csv = await exported.text();
    for (const email of emails) expect(csv).toContain(email);
    expect(csv).toContain('"Edge, Inc"');
  });

  it("answers errors with the same envelope", async () => {
    const res = await request(denoUrl, "GET", "/api/openclaw/leads/rp_000000000000000000000000");
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ success: false, error: { code: "missing_api_key", message: expect.any(String), hint: expect.any(String) } });
    const node = await request(inject("apiUrl"), "GET", "/api/openclaw/leads/rp_000000000000000000000000");
    expect(shape(res.body)).toEqual(shape(node.body));
  });
});
