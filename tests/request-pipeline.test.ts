// A request is one transaction sent in one round trip (functions/http/tenant.ts): the key's
// (or the browser session's) statement, BEGIN, the identity, the route's statements and COMMIT
// go out together; a key or session that is refused (unknown, revoked, rate limited) gets its
// 401 or 429 and nothing it sent runs as anyone; the login role the API uses can do nothing of
// its own.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { as, call, createLead, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";
import { startApp, type TestApp } from "./support/app.ts";
import { revokeOrgKeys } from "./support/db.ts";
import { asSession, type Mailbox, openMailbox, sessionCookieIn, signIn } from "./support/sessions.ts";

/**
 * A TCP proxy in front of Postgres that counts round trips: a round trip starts each time the
 * client sends after the server has spoken.
 */
interface CountingProxy {
  url: string;
  roundTrips(): number;
  reset(): void;
  close(): Promise<void>;
}

async function startCountingProxy(databaseUrl: string): Promise<CountingProxy> {
  const target = new URL(databaseUrl);
  let trips = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(Number(target.port || 5432), target.hostname);
    let answered = true;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.on("data", (chunk) => {
      if (answered) trips++;
      answered = false;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      answered = true;
      client.write(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.toString(),
    roundTrips: () => trips,
    reset: () => {
      trips = 0;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let owner: postgres.Sql;
let mailbox: Mailbox;
beforeAll(async () => {
  owner = postgres(inject("databaseUrl"), { max: 2, onnotice: () => {} });
  mailbox = await openMailbox();
});
afterAll(async () => {
  await mailbox.close();
  await owner.end({ timeout: 2 });
});

describe("one round trip per request", () => {
  let proxy: CountingProxy;
  let app: TestApp;
  let ws: Workspace;

  beforeAll(async () => {
    proxy = await startCountingProxy(inject("apiDatabaseUrl"));
    // One connection, so every request below reuses the statements the first ones prepared.
    app = await startApp({}, { pool: 1, databaseUrl: proxy.url });
    ws = await signup();
  });
  afterAll(async () => {
    await app.close();
    await proxy.close();
  });

  it("GET /leads/{id}, GET /leads and POST /leads send the key's statement, BEGIN, the identity, their statements and COMMIT at once", async () => {
    const client = as(ws, app.url);
    const id = await createLead(client);
    const requests = {
      get: async () => expectOk(await client.get(`/leads/${id}`)),
      list: async () => expectOk(await client.get("/leads?limit=50")),
      create: async () => expectOk(await client.post("/leads", { firstName: "Ann", email: `ann-${crypto.randomUUID().slice(0, 8)}@example.com` }), 201),
    };
    // A statement's first use on a connection asks Postgres for its parameter types first.
    for (const request of Object.values(requests)) for (let i = 0; i < 2; i++) await request();
    for (const [name, request] of Object.entries(requests)) {
      proxy.reset();
      await request();
      expect(proxy.roundTrips(), name).toBe(1);
    }
  });

  it("a browser session's GET /leads/{id}, POST /leads and GET /auth/session go out at once too", async () => {
    const session = await signIn(mailbox, ws.email);
    const client = asSession(session, app.url);
    const id = await createLead(as(ws, app.url));
    const requests = {
      get: async () => expectOk(await client.get(`/leads/${id}`)),
      create: async () => expectOk(await client.post("/leads", { firstName: "Bo", email: `bo-${crypto.randomUUID().slice(0, 8)}@example.com` }), 201),
      session: async () => {
        const body = expectOk(await client.get("/auth/session"));
        expect(body.member.id).toBe(session.memberId);
        expect(body.session).toMatchObject({ id: session.sessionId, current: true });
        expect(body.csrfToken).toBe(session.csrfToken);
      },
    };
    for (const request of Object.values(requests)) for (let i = 0; i < 2; i++) await request();
    for (const [name, request] of Object.entries(requests)) {
      proxy.reset();
      await request();
      expect(proxy.roundTrips(), name).toBe(1);
    }
  });

  it("a refused create rolls back in the same round trip: 409 with the existing lead, nothing written", async () => {
    const client = as(ws, app.url);
    const taken = lead();
    expectOk(await client.post("/leads", taken), 201);
    proxy.reset();
    expectError(await client.post("/leads", { ...taken, firstName: "Again" }), 409, "lead_exists");
    expect(proxy.roundTrips()).toBe(1);
    const [row] = await owner<{ n: number }[]>`select count(*)::integer as n from app.leads where org_id = ${ws.orgId} and email = ${taken.email}`;
    expect(row!.n).toBe(1);
  });
});

describe("a refused key's request runs nothing as anyone", () => {
  it("a revoked key: 401, and no lead, no idempotency key, no bucket taken", async () => {
    const ws = await signup();
    await revokeOrgKeys(ws.orgId);
    const attempt = lead();
    const key = crypto.randomUUID();
    expectError(await call("POST", "/leads", attempt, { key: ws.apiKey, headers: { "idempotency-key": key } }), 401, "revoked_api_key");
    const [trace] = await owner<{ leads: number; keys: number; buckets: number }[]>`
      select (select count(*) from app.leads where org_id = ${ws.orgId})::integer as leads,
             (select count(*) from app.idempotency_keys where org_id = ${ws.orgId})::integer as keys,
             (select count(*) from app.rate_limit_buckets b join app.api_keys k on k.id = b.key
              where b.scope = 'api-key' and k.org_id = ${ws.orgId})::integer as buckets`;
    expect(trace).toEqual({ leads: 0, keys: 0, buckets: 0 });
  });

  it("a revoked browser session: 401, its cookie dropped, and no lead, no idempotency key, no bucket taken", async () => {
    const ws = await signup();
    const session = await signIn(mailbox, ws.email);
    await owner`update app.member_sessions set revoked_at = now() where id = ${session.sessionId}`;
    await owner`delete from app.rate_limit_buckets where scope = 'member' and key = ${session.memberId}`;
    const key = crypto.randomUUID();
    const res = await asSession(session).post("/leads", lead(), { headers: { "idempotency-key": key } });
    expectError(res, 401, "session_ended");
    expect(res.headers.getSetCookie().some((c) => /^openclaw_session=;/.test(c) && /Max-Age=0/i.test(c))).toBe(true);
    expect(sessionCookieIn(res)).toBeUndefined();
    const [trace] = await owner<{ leads: number; keys: number; buckets: number }[]>`
      select (select count(*) from app.leads where org_id = ${ws.orgId})::integer as leads,
             (select count(*) from app.idempotency_keys where org_id = ${ws.orgId})::integer as keys,
             (select count(*) from app.rate_limit_buckets where scope = 'member' and key = ${session.memberId})::integer as buckets`;
    expect(trace).toEqual({ leads: 0, keys: 0, buckets: 0 });
  });

  it("a rate-limited key: 429 with Retry-After, and the request's lead is not written", async () => {
    const limited = await startApp({ RATE_LIMIT_KEY_FREE: "1/1m" });
    try {
      const ws = await signup();
      const client = as(ws, limited.url);
      expectOk(await client.post("/leads", lead()), 201);
      const refused = lead();
      const res = await client.post("/leads", refused);
      expectError(res, 429, "rate_limited");
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      const [row] = await owner<{ n: number }[]>`select count(*)::integer as n from app.leads where org_id = ${ws.orgId}`;
      expect(row!.n).toBe(1);
    } finally {
      await limited.close();
    }
  });
});

describe.runIf(new URL(inject("apiDatabaseUrl")).username === "authenticator")("the API's login role", () => {
  it("can do nothing of its own: no table, no function, not even the key check, until it switches into an API role", async () => {
    const login = postgres(inject("apiDatabaseUrl"), { max: 1, onnotice: () => {} });
    try {
      const [me] = await login`select current_user as "user"`;
      expect(me!.user).toBe("authenticator");
      await expect(login`select count(*) from app.leads`).rejects.toMatchObject({ code: "42501" });
      await expect(login`select * from app.authenticate_request(${"0".repeat(64)})`).rejects.toMatchObject({ code: "42501" });
      await expect(login`select app.begin_request(${"ticket"})`).rejects.toMatchObject({ code: "42501" });
      // Switched into anon, it may do what anon may: the key check, which finds nothing here.
      const rows = await login.begin(async (tx) => {
        await tx`set local role anon`;
        return tx`select * from app.authenticate_request(${"0".repeat(64)})`;
      });
      expect(rows).toHaveLength(0);
    } finally {
      await login.end({ timeout: 2 });
    }
  });
});
