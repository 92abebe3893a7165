// npm run bench: the API against the same work done directly in SQL, on the same database
// in the same run.
//
// One fresh org on the ultra tier. For each path (API over HTTP, then plain SQL):
//   create  N leads           API: POST /api/openclaw/leads
//                             SQL: tenant transaction; insert into app.leads; select from app.lead_details by id
//   read    each lead by id   API: GET /api/openclaw/leads/{id}
//                             SQL: tenant transaction; select from app.lead_details by id
//   list    pages of 50       API: GET /api/openclaw/leads?limit=50&offset=…
//                             SQL: tenant transaction; the page and the total count
// A "tenant transaction" acts as the org exactly as functions/http/tenant.ts does (role
// authenticated, request.jwt.claims with org_id, transaction-local), so row-level security
// applies to both paths. Both paths run with the same concurrency and the same pool size.
// The org's leads are removed between paths so both start from the same state, and the
// org is deleted at the end.
//
// Settings (environment): DATABASE_URL (required), BENCH_LEADS (1000), BENCH_CONCURRENCY (16),
// BENCH_POOL (pool size of the app and of the SQL path; defaults to BENCH_CONCURRENCY),
// BENCH_LIST_READS (200), BENCH_PAGE_SIZE (50), BENCH_WARMUP (100).
import { serve, type ServerType } from "@hono/node-server";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import process from "node:process";
import postgres from "postgres";
import { connect, type Sql, type Tx } from "../functions/db.ts";
import { createNodeApp } from "../functions/node/app.ts";
import { leadSelect } from "../functions/routes/leads.ts";
import { databaseUrlOrExit, percentile, setting } from "./bench/settings.ts";

const databaseUrl = databaseUrlOrExit("npm run bench sets it to the local cluster");
const LEADS = setting("BENCH_LEADS", 1000);
const CONCURRENCY = setting("BENCH_CONCURRENCY", 16);
const POOL = setting("BENCH_POOL", CONCURRENCY);
const LIST_READS = setting("BENCH_LIST_READS", 200);
const PAGE_SIZE = Math.min(setting("BENCH_PAGE_SIZE", 50), 200);
const WARMUP = setting("BENCH_WARMUP", 100);

interface LeadInput {
  firstName: string;
  lastName: string;
  email: string;
  organizationName: string;
}

const leadInput = (path: string, i: number): LeadInput => ({
  firstName: `Bench${i}`,
  lastName: path,
  email: `bench-${path}-${i}-${randomUUID().slice(0, 8)}@example.com`,
  organizationName: `Bench Clinic ${i % 97}`,
});

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------
interface Result {
  ops: number;
  seconds: number;
  latencies: number[];
}

/** Runs op(0..count-1) with `concurrency` workers; each op's latency in ms. */
async function measure<T>(count: number, concurrency: number, op: (i: number) => Promise<T>): Promise<{ result: Result; values: T[] }> {
  const latencies = new Array<number>(count);
  const values = new Array<T>(count);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const t0 = performance.now();
      values[i] = await op(i);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { result: { ops: count, seconds: (performance.now() - started) / 1000, latencies }, values };
}

function summary(r: Result) {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  return { rps: r.ops / r.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

// ---------------------------------------------------------------------------
// The API path
// ---------------------------------------------------------------------------
async function http(base: string, method: string, path: string, key: string | undefined, body?: unknown, expected = 200): Promise<any> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}/api/openclaw${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

function apiPath(base: string, key: string) {
  return {
    create: async (input: LeadInput): Promise<string> => (await http(base, "POST", "/leads", key, input, 201)).id,
    read: async (id: string): Promise<void> => {
      const reply = await http(base, "GET", `/leads/${id}`, key);
      if (reply.lead.id !== id) throw new Error(`GET /leads/${id} returned ${reply.lead.id}`);
    },
    list: async (offset: number): Promise<void> => {
      const reply = await http(base, "GET", `/leads?limit=${PAGE_SIZE}&offset=${offset}`, key);
      if (reply.leads.length === 0) throw new Error(`GET /leads offset ${offset} returned no leads`);
    },
  };
}

// ---------------------------------------------------------------------------
// The SQL path: the same work, as the org, straight through postgres.js
// ---------------------------------------------------------------------------
function sqlPath(sql: Sql, orgId: string) {
  const claims = JSON.stringify({ role: "authenticated", org_id: orgId });
  const asOrg = <T>(work: (tx: Tx) => Promise<T>): Promise<T> =>
    sql.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`;
      return work(tx);
    }) as Promise<T>;
  return {
    create: (input: LeadInput): Promise<string> =>
      asOrg(async (tx) => {
        const [row] = await tx<{ id: string }[]>`
          insert into app.leads (first_name, last_name, email, organization_name)
          values (${input.firstName}, ${input.lastName}, ${input.email}, ${input.organizationName})
          returning id`;
        const [lead] = await tx`select ${tx.unsafe(leadSelect)} from app.lead_details where id = ${row!.id}`;
        if (!lead) throw new Error(`lead ${row!.id} not readable after insert`);
        return row!.id;
      }),
    read: (id: string): Promise<void> =>
      asOrg(async (tx) => {
        const [lead] = await tx`select ${tx.unsafe(leadSelect)} from app.lead_details where id = ${id}`;
        if (lead?.id !== id) throw new Error(`lead ${id} not found`);
      }),
    list: (offset: number): Promise<void> =>
      asOrg(async (tx) => {
        const [rows] = await Promise.all([
          tx`select ${tx.unsafe(leadSelect)} from app.lead_details where deleted_at is null
             order by created_at desc, id desc limit ${PAGE_SIZE} offset ${offset}`,
          tx`select count(*)::integer as total from app.leads where deleted_at is null`,
        ]);
        if (rows.length === 0) throw new Error(`list offset ${offset} returned no leads`);
      }),
  };
}

type Path = ReturnType<typeof apiPath>;

async function runPath(name: string, path: Path, clearLeads: () => Promise<void>) {
  // Warm-up (JIT, plan caches, connections), not measured, then back to an empty org.
  const warm = await measure(WARMUP, CONCURRENCY, (i) => path.create(leadInput(`${name}-warm`, i)));
  await measure(WARMUP, CONCURRENCY, (i) => path.read(warm.values[i]!));
  await measure(Math.min(WARMUP, 20), CONCURRENCY, () => path.list(0));
  await clearLeads();

  const created = await measure(LEADS, CONCURRENCY, (i) => path.create(leadInput(name, i)));
  const ids = created.values;
  const read = await measure(LEADS, CONCURRENCY, (i) => path.read(ids[i]!));
  const pages = Math.ceil(LEADS / PAGE_SIZE);
  const list = await measure(LIST_READS, CONCURRENCY, (i) => path.list((i % pages) * PAGE_SIZE));
  await clearLeads();
  return { create: created.result, read: read.result, list: list.result };
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------
function printTable(api: Awaited<ReturnType<typeof runPath>>, direct: Awaited<ReturnType<typeof runPath>>) {
  const labels = {
    create: "create lead",
    read: "get lead by id",
    list: `list page (${PAGE_SIZE})`,
  } as const;
  const header = ["operation", "ops", "API req/s", "SQL req/s", "API/SQL", "API p50", "SQL p50", "API p99", "SQL p99"];
  const rows: string[][] = [];
  for (const op of ["create", "read", "list"] as const) {
    const a = summary(api[op]);
    const s = summary(direct[op]);
    rows.push([
      labels[op], String(api[op].ops), a.rps.toFixed(0), s.rps.toFixed(0), `${(s.rps / a.rps).toFixed(2)}x`,
      `${a.p50.toFixed(2)} ms`, `${s.p50.toFixed(2)} ms`, `${a.p99.toFixed(2)} ms`, `${s.p99.toFixed(2)} ms`,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
  console.log("API/SQL: how many times longer the API takes for the same work (SQL req/s ÷ API req/s).");
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------
async function main(url: string) {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  const appSql = connect(url, { max: POOL });
  const directSql = connect(url, { max: POOL });
  let server: ServerType | undefined;
  let orgId: string | undefined;
  const cleanup = async () => {
    if (orgId) await admin`delete from app.orgs where id = ${orgId}`;
    orgId = undefined;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    await Promise.all([appSql.end({ timeout: 5 }), directSql.end({ timeout: 5 }), admin.end({ timeout: 5 })]);
  };
  const interrupted = () => {
    console.error("\n[bench] interrupted, cleaning up");
    cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  try {
    const [limit] = await admin<{ leadLimit: number }[]>`select lead_limit as "leadLimit" from app.tiers where tier = 'ultra'`;
    const maxLeads = Math.max(LEADS, WARMUP);
    if (limit && maxLeads > limit.leadLimit) {
      throw new Error(`BENCH_LEADS=${LEADS} is more than the ultra tier's ${limit.leadLimit} leads`);
    }
    const app = createNodeApp(appSql, (name) => process.env[name], 0);
    const port = await new Promise<number>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(info.port));
    });
    const base = `http://127.0.0.1:${port}`;

    const signup = await http(base, "POST", "/signup", undefined, {
      email: `bench-${randomUUID()}@example.com`, workspace_name: "Benchmark", agent_name: "bench", agent_platform: "openclaw",
    }, 201);
    orgId = signup.orgId as string;
    await admin`update app.orgs set tier = 'ultra' where id = ${orgId}`;
    const clearLeads = async () => {
      await admin`delete from app.leads where org_id = ${orgId!}`;
    };

    const [version] = await admin<{ v: string }[]>`select current_setting('server_version') as v`;
    console.log(`[bench] ${LEADS} leads, concurrency ${CONCURRENCY}, pool ${POOL}, ${LIST_READS} list reads of ${PAGE_SIZE}, `
      + `PostgreSQL ${version!.v}, Node ${process.versions.node}; API served in-process at ${base}`);
    console.log("[bench] API path …");
    const api = await runPath("api", apiPath(base, signup.apiKey as string), clearLeads);
    console.log("[bench] SQL path …");
    const direct = await runPath("sql", sqlPath(directSql, orgId), clearLeads);
    console.log("");
    printTable(api, direct);
  } finally {
    await cleanup();
  }
}

main(databaseUrl).catch((err) => {
  console.error(`[bench] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
