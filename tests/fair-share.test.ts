// Fair share between tenants over real HTTP: an org's expensive requests (analytics, spider web,
// rescoring all, large pages, bulk deletes) are capped in concurrency across processes (slots
// held by another connection count), per process (half the pool stays for everyday requests) and
// by a statement timeout; and under a hammer of them, another tenant's reads all go through
// (how far their latency moves: `npm run bench -- fair-share`).
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect } from "../functions/db.ts";
import { createNodeApp } from "../functions/node/app.ts";
import { as, createLead, expectError, expectOk, signup } from "./support/api.ts";
import { startApp, type TestApp } from "./support/app.ts";
import { seedLeads, setOrgTier } from "./support/db.ts";
import { waitFor } from "./support/wait.ts";

const apps: TestApp[] = [];
let sql: postgres.Sql;

beforeAll(() => {
  sql = postgres(inject("databaseUrl"), { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
  await sql.end({ timeout: 2 });
});

async function app(settings: Record<string, string | undefined>, pool?: number): Promise<string> {
  const started = await startApp(settings, { pool });
  apps.push(started);
  return started.url;
}

/**
 * Runs `work` in a transaction of another connection acting as the org, and keeps that
 * transaction open (its locks held) until release() is called: another process, as far as the
 * app can tell.
 */
async function hold(orgId: string, work: (tx: postgres.TransactionSql) => Promise<unknown>) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const ready = new Promise<void>((resolve) => (started = resolve));
  const done = sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify({ role: "authenticated", org_id: orgId })}, true)`;
    await work(tx);
    started();
    await released;
  });
  await Promise.race([ready, done]);
  return { release: async () => { release(); await done; } };
}

describe("a request refused at once", () => {
  // Refused before any database work (its key's share already runs here), it must still read its
  // whole body before it answers: a reply sent while the body is arriving leaves the rest unread,
  // and the Node server then closes the connection, so a client on a busy machine got no answer.
  it("for its key's share is answered 429 only once its whole body has been read", async () => {
    const pool = connect(inject("apiDatabaseUrl"), { max: 3, role: "anon" });
    const api = createNodeApp(pool, (name) => (name === "EXPENSIVE_CONCURRENCY_PER_ORG" ? "1" : process.env[name]), 0);
    const ws = await signup();
    await createLead(as(ws));
    const headers = { authorization: `Bearer ${ws.apiKey}`, "content-type": "application/json" };
    // The key's one expensive request in this process: a bulk delete that waits on a lead the test locks.
    let holder = 0;
    const held = await hold(ws.orgId, async (tx) => {
      const [me] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
      holder = me!.pid;
      await tx`select id from app.leads where org_id = ${ws.orgId} for update`;
    });
    try {
      const running = api.request("/api/openclaw/leads/bulk-delete", { method: "POST", headers, body: JSON.stringify({ source: "api" }) });
      await waitFor(async () => (await sql`select 1 from pg_stat_activity where ${holder} = any(pg_blocking_pids(pid))`).length > 0,
        { what: "the bulk delete to wait on the test's lock" });

      // The refused request's body comes in two reads; the second ends it.
      const body = JSON.stringify({ source: "api", dryRun: true });
      let reads = 0;
      let bodyRead = false;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          reads++;
          controller.enqueue(new TextEncoder().encode(reads === 1 ? body.slice(0, 10) : body.slice(10)));
          if (reads === 2) {
            controller.close();
            bodyRead = true;
          }
        },
      }, { highWaterMark: 0 });
      const refused = await api.request("/api/openclaw/leads/bulk-delete", {
        method: "POST", headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, body: stream, duplex: "half",
      } as RequestInit);
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("too_many_concurrent");
      expect(bodyRead, "the body was read to its end before the answer").toBe(true);

      await held.release();
      expect((await running).status).toBe(200);
    } finally {
      await held.release();
      await pool.end({ timeout: 2 });
    }
  });
});

describe("expensive work is capped", () => {
  it("per org across processes: while another process holds the org's slots, 429 too_many_concurrent with Retry-After; others and everyday calls go on", async () => {
    const url = await app({ EXPENSIVE_CONCURRENCY_PER_ORG: "1" });
    const [a, b] = await Promise.all([signup(), signup()]);
    const aLead = await createLead(as(a));
    const held = await hold(a.orgId, (tx) => tx`select app.begin_expensive_work(1, null)`);
    try {
      const refused = await as(a, url).get("/analytics?days=365");
      const error = expectError(refused, 429, "too_many_concurrent");
      expect(error.hint).toContain("Retry after 1 s");
      expect(refused.headers.get("retry-after")).toBe("1");
      expect(refused.headers.get("ratelimit-policy")).toContain("\"expensive\";q=1;qu=\"concurrent-requests\"");
      expect(refused.headers.get("ratelimit")).toContain("\"expensive\";r=0;t=1");
      expectOk(await as(b, url).get("/analytics?days=365"));
      // Rescoring every lead and large pages are expensive too; one lead and a small page are not.
      expectError(await as(a, url).post("/leads/score", { all: true }), 429, "too_many_concurrent");
      expectError(await as(a, url).get("/leads?limit=200"), 429, "too_many_concurrent");
      expectOk(await as(a, url).post("/leads/score", { leadId: aLead }));
      expectOk(await as(a, url).get("/leads"));
    } finally {
      await held.release();
    }
    const res = expectOk(await as(a, url).get("/analytics?days=365"));
    expect(res.totalLeads).toBe(1);
  });

  it("per process, so everyday requests keep their connections (503 server_busy), and by the statement timeout (503 query_timeout)", async () => {
    const url = await app({ EXPENSIVE_CONCURRENCY_PER_PROCESS: "1", EXPENSIVE_STATEMENT_TIMEOUT_MS: "1500" });
    const [a, b] = await Promise.all([signup(), signup()]);
    const [locked, bLead] = await Promise.all([createLead(as(a)), createLead(as(b))]);
    // A's bulk delete waits on a row another connection holds: it keeps the process's one
    // expensive slot until its statement times out.
    const held = await hold(a.orgId, (tx) => tx`select id from app.leads where id = ${locked} for update`);
    try {
      const blocked = as(a, url).post("/leads/bulk-delete", { source: "api" });
      await waitFor(async () => (await sql`
        select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%delete_leads_by_source%'`).length > 0,
      { what: "the bulk delete to wait on the locked lead" });
      const busy = await as(b, url).get("/analytics?days=30");
      expectError(busy, 503, "server_busy");
      expect(busy.headers.get("retry-after")).toBe("1");
      expectOk(await as(b, url).get(`/leads/${bLead}`));
      const timedOut = await blocked;
      const error = expectError(timedOut, 503, "query_timeout");
      expect(error.hint).toContain("Ask for less");
    } finally {
      await held.release();
    }
    expect(expectOk(await as(a, url).get(`/leads/${locked}`)).lead.deletedAt).toBeNull();
    expectOk(await as(b, url).get("/analytics?days=30"));
  });
});

describe("fair share under load", () => {
  // How far the hammer moves the reader's latency is measured by `npm run bench -- fair-share`;
  // here, that the caps do their work: the hammer is refused, the other tenant never is.
  it("one tenant hammering analytics and the spider web is refused past its cap while another's reads all succeed", async () => {
    // As npm start runs it: a pool of 10, the default caps (1 per org, half the pool per process).
    const url = await app({ EXPENSIVE_CONCURRENCY_PER_ORG: undefined, EXPENSIVE_CONCURRENCY_PER_PROCESS: undefined, EXPENSIVE_STATEMENT_TIMEOUT_MS: undefined }, 10);
    const [heavy, light] = await Promise.all([signup(), signup()]);
    await setOrgTier(heavy.orgId, "ultra");
    await seedLeads(heavy.orgId, 500, `${randomUUID().slice(0, 8)}.example.com`);
    const hub = expectOk(await as(heavy).get("/leads?limit=1")).leads[0].id as string;
    const leadId = await createLead(as(light));
    const heavyClient = as(heavy, url);
    const reader = as(light, url);

    const outcomes = { done: 0, refused: 0, other: [] as number[] };
    let hammering = true;
    const loop = async (i: number) => {
      while (hammering) {
        const res = i % 2 === 0
          ? await heavyClient.get("/analytics?days=365")
          : await heavyClient.post("/enrich/spider-web", { leadId: hub });
        if (res.status === 200) outcomes.done += 1;
        else if (res.status === 429 || res.status === 503) outcomes.refused += 1;
        else outcomes.other.push(res.status);
      }
    };
    const loops = Array.from({ length: 8 }, (_, i) => loop(i));
    const reads: number[] = [];
    try {
      // Read until the hammer has been both served and refused a few times.
      await waitFor(async () => {
        reads.push((await reader.get(`/leads/${leadId}`)).status);
        return outcomes.done >= 3 && outcomes.refused >= 3;
      }, { what: "the hammer to be served and refused", timeoutMs: 30_000 });
    } finally {
      hammering = false;
      await Promise.all(loops);
    }
    expect(outcomes.other).toEqual([]);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((status) => status !== 200)).toEqual([]);
  }, 60_000);
});
