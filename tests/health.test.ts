import { serve, type ServerType } from "@hono/node-server";
import { createServer, type AddressInfo, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type Sql } from "../functions/db.ts";
import { createNodeApp } from "../functions/node/app.ts";
import { as, call, signup } from "./support/api.ts";
import { revokeOrgKeys } from "./support/db.ts";

describe("GET /health", () => {
  it("answers ok with the final shape and no action required", async () => {
    const res = await call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, status: "ok", database: "reachable", action_required: false, unread_responses: [] });
    expect(Array.isArray(res.body.next_steps)).toBe(true);
  });

  it("answers the same under the Edge Function prefix /openclaw", async () => {
    const direct = await call("GET", "/health");
    const prefixed = await call("GET", "/openclaw/api/openclaw/health");
    expect(prefixed.status).toBe(200);
    expect(prefixed.body).toEqual(direct.body);
  });
});

describe("GET /health with a key", () => {
  it("checks the workspace's notifications with a valid key (authenticated: true)", async () => {
    const res = await as(await signup()).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, status: "ok", authenticated: true, action_required: false, unread_responses: [], warnings: [], next_steps: [] });
  });

  it("without a key answers ok and suggests sending it to see notifications", async () => {
    const res = await call("GET", "/health");
    expect(res.body.authenticated).toBe(false);
    expect(res.body.next_steps.join(" ")).toContain("Authorization: Bearer");
  });

  it.each([
    ["unknown", `rcm_live_${"0".repeat(64)}`],
    ["malformed", "not-a-key"],
  ])("still answers 200 ok with an %s key, warning that the key is not valid", async (_label, key) => {
    const res = await call("GET", "/health", undefined, { key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, status: "ok", database: "reachable", authenticated: false, action_required: false, unread_responses: [] });
    expect(res.body.warnings).toEqual(["The API key sent is not valid, so unread responses were not checked"]);
    expect(res.body.next_steps.join(" ")).toContain("rcm_live_");
  });

  it("still answers 200 ok with a revoked key, warning that it is revoked", async () => {
    const ws = await signup();
    await revokeOrgKeys(ws.orgId);
    const res = await as(ws).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", authenticated: false, action_required: false });
    expect(res.body.warnings).toEqual(["The API key sent has been revoked, so unread responses were not checked"]);
  });
});

describe("GET /health when the database does not answer", () => {
  // A loopback "database" that accepts connections and never says a word: the API must
  // report it within its timeout rather than hang.
  let silent: Server;
  let api: ServerType;
  let apiUrl: string;
  let sql: Sql;

  beforeAll(async () => {
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const dbPort = (silent.address() as AddressInfo).port;
    sql = connect(`postgresql://postgres:postgres@127.0.0.1:${dbPort}/postgres`, { max: 1 });
    const env = (name: string) => ({ HEALTH_DB_TIMEOUT_MS: "500" } as Record<string, string>)[name];
    const app = createNodeApp(sql, env, 0);
    const port = await new Promise<number>((resolve) => {
      api = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port));
    });
    apiUrl = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => api.close(() => resolve()));
    await sql.end({ timeout: 0 });
    silent.close();
  });

  it("answers 503 with database unreachable within the timeout", async () => {
    const started = Date.now();
    const res = await fetch(`${apiUrl}/api/openclaw/health`);
    const body = await res.json();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    expect(body).toMatchObject({ success: false, status: "unavailable", database: "unreachable", action_required: false, unread_responses: [] });
    expect(body.next_steps.length).toBeGreaterThan(0);
  });

  it("answers 503 within the timeout when a key is sent too", async () => {
    const started = Date.now();
    const res = await fetch(`${apiUrl}/api/openclaw/health`, { headers: { authorization: `Bearer rcm_live_${"a".repeat(64)}` } });
    const body = await res.json();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(res.status).toBe(503);
    expect(body).toMatchObject({ success: false, status: "unavailable", authenticated: false, action_required: false, unread_responses: [] });
  });
});
