// Fair share bench: how far one tenant hammering expensive work moves another tenant's
// everyday reads, measured side by side in one run. The target (issue: abuse and faults) is at
// most 2x on the reader's p50 for GET /leads/{id}.
//
// The app is served in-process as npm start runs it (a pool of 10, the default caps: one
// expensive request per org, half the pool per process). Two fresh orgs: the heavy one on the
// ultra tier with BENCH_FAIR_LEADS (2500) connected leads (one company domain, so the spider web
// spans them all), the light one with one lead. The hammer runs on a thread of its own (a client
// elsewhere, not sharing the server's event loop): 16 loops, each sending GET /analytics?days=365
// or POST /enrich/spider-web as soon as the previous answer arrives, and again when Retry-After
// says after a refusal. Meanwhile the reader sends GET /leads/{id} one at a time. Baseline and
// load alternate in BENCH_FAIR_ROUNDS (16) short rounds of 15 reads each, so whatever else the
// machine is doing lands on both sides alike. Then the same with the caps lifted, for scale.
// Both orgs are deleted at the end.
//
// Run: npm run bench -- fair-share   (or DATABASE_URL=… npx tsx scripts/bench/fair-share.ts)
import { serve, type ServerType } from "@hono/node-server";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { Worker } from "node:worker_threads";
import postgres from "postgres";
import { connect } from "../../functions/db.ts";
import { createNodeApp } from "../../functions/node/app.ts";
import { databaseUrlOrExit, percentile, setting } from "./settings.ts";

const databaseUrl = databaseUrlOrExit("npm run bench sets it to the local cluster");
const LEADS = setting("BENCH_FAIR_LEADS", 2500);
const ROUNDS = setting("BENCH_FAIR_ROUNDS", 16);
const TARGET = 2;

type Outcomes = { done: number; refused: number; other: number };

const HAMMER = `
  const { parentPort, workerData: { url, key, hub } } = require("node:worker_threads");
  const outcomes = { done: 0, refused: 0, other: 0 };
  let hammering = false;
  let loops = [];
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const headers = { authorization: "Bearer " + key, "content-type": "application/json" };
  async function loop(i) {
    while (hammering) {
      const res = i % 2 === 0
        ? await fetch(url + "/api/openclaw/analytics?days=365", { headers })
        : await fetch(url + "/api/openclaw/enrich/spider-web", { method: "POST", headers, body: JSON.stringify({ leadId: hub }) });
      await res.arrayBuffer();
      if (res.status === 200) outcomes.done += 1;
      else if (res.status === 429 || res.status === 503) { outcomes.refused += 1; await sleep(1000 * Number(res.headers.get("retry-after") ?? 1)); }
      else outcomes.other += 1;
    }
  }
  parentPort.on("message", async (command) => {
    if (command === "start") { hammering = true; loops = Array.from({ length: 16 }, (_, i) => loop(i)); }
    else { hammering = false; await Promise.all(loops); parentPort.postMessage(outcomes); }
  });
`;

async function call(base: string, method: string, path: string, key: string | undefined, body?: unknown): Promise<any> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}/api/openclaw${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

/** Serves the app in-process with `settings` over the environment; returns its URL and a closer. */
async function serveApp(settings: Record<string, string | undefined>) {
  const sql = connect(databaseUrl, { max: 10 });
  const app = createNodeApp(sql, (name) => (name in settings ? settings[name] : process.env[name]), 0);
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(info.port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await sql.end({ timeout: 2 });
    },
  };
}

async function measure(url: string, heavyKey: string, hub: string, lightKey: string, leadId: string) {
  const sample = async () => {
    const started = performance.now();
    const res = await fetch(`${url}/api/openclaw/leads/${leadId}`, { headers: { authorization: `Bearer ${lightKey}` } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET /leads/{id} answered ${res.status}`);
    return performance.now() - started;
  };
  const hammer = new Worker(HAMMER, { eval: true, workerData: { url, key: heavyKey, hub } });
  const stopped = () => new Promise<Outcomes>((resolve) => {
    hammer.once("message", resolve);
    hammer.postMessage("stop");
  });
  const total: Outcomes = { done: 0, refused: 0, other: 0 };
  for (let i = 0; i < 30; i++) await sample();
  const baseline: number[] = [];
  const loaded: number[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < 15; i++) baseline.push(await sample());
      hammer.postMessage("start");
      await new Promise((resolve) => setTimeout(resolve, 150));
      for (let i = 0; i < 15; i++) loaded.push(await sample());
      Object.assign(total, await stopped()); // the hammer's counts run on across rounds
    }
  } finally {
    await hammer.terminate();
  }
  const p = (values: number[], q: number) => percentile([...values].sort((a, b) => a - b), q);
  return { alone: p(baseline, 50), beside: p(loaded, 50), aloneP99: p(baseline, 99), besideP99: p(loaded, 99), outcomes: total };
}

async function main() {
  const admin = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const orgs: string[] = [];
  const servers: Array<{ close(): Promise<void> }> = [];
  try {
    const first = await serveApp({});
    servers.push(first);
    const signup = () => call(first.url, "POST", "/signup", undefined, {
      email: `fair-${randomUUID()}@example.com`, workspace_name: "Fair share bench", agent_name: "bench", agent_platform: "openclaw",
    });
    const [heavy, light] = [await signup(), await signup()];
    orgs.push(heavy.orgId, light.orgId);
    await admin`update app.orgs set tier = 'ultra' where id = ${heavy.orgId}`;
    const domain = `${randomUUID().slice(0, 8)}.example.com`;
    await admin`
      with stages as (select array_agg(id order by position) as ids from app.stages where org_id = ${heavy.orgId})
      insert into app.leads (org_id, first_name, email, organization_name, company_domain, stage_id, created_at)
      select ${heavy.orgId}, 'Lead ' || g, 'lead' || g || '@' || ${domain}, 'Seeded Co', ${domain},
             s.ids[1 + g % cardinality(s.ids)], now() - (g % 360) * interval '1 day'
      from stages s, generate_series(1, ${LEADS}::integer) g`;
    const hub = (await call(first.url, "GET", "/leads?limit=1", heavy.apiKey)).leads[0].id as string;
    const leadId = (await call(first.url, "POST", "/leads", light.apiKey, { firstName: "Reader", email: `reader-${randomUUID()}@example.com` })).id as string;
    const [version] = await admin<{ v: string }[]>`select current_setting('server_version') as v`;
    console.log(`[bench] fair share: ${LEADS} connected leads, ${ROUNDS} rounds of 15 reads alone and 15 beside the hammer, `
      + `PostgreSQL ${version!.v}, Node ${process.versions.node}`);

    const capped = await measure(first.url, heavy.apiKey, hub, light.apiKey, leadId);
    await first.close();
    servers.length = 0;
    const uncapped = await serveApp({ EXPENSIVE_CONCURRENCY_PER_ORG: "1000", EXPENSIVE_CONCURRENCY_PER_PROCESS: "1000" });
    servers.push(uncapped);
    const lifted = await measure(uncapped.url, heavy.apiKey, hub, light.apiKey, leadId);

    const row = (name: string, r: Awaited<ReturnType<typeof measure>>) => {
      const ratio = r.beside / r.alone;
      console.log(`| ${name} | ${r.alone.toFixed(2)} ms (p99 ${r.aloneP99.toFixed(1)}) | ${r.beside.toFixed(2)} ms (p99 ${r.besideP99.toFixed(1)}) `
        + `| ${ratio.toFixed(2)}x | ${r.outcomes.done} done, ${r.outcomes.refused} refused, ${r.outcomes.other} other |`);
      return ratio;
    };
    console.log("");
    console.log("| caps | reader p50 alone | reader p50 beside the hammer | ratio | hammer's expensive requests |");
    console.log("|---|---|---|---|---|");
    const ratio = row("default (1 per org, half the pool)", capped);
    row("lifted", lifted);
    console.log("");
    console.log(`[bench] target: at most ${TARGET}x with the default caps: ${ratio <= TARGET ? "met" : `missed by ${(ratio / TARGET).toFixed(2)}x`}`);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    if (orgs.length > 0) await admin`delete from app.orgs where id = any(${orgs})`;
    await admin.end({ timeout: 2 });
  }
}

main().catch((err) => {
  console.error(`[bench] failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
