import { beforeAll, describe, expect, it } from "vitest";
import { as, call, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";
import { revokeOrgKeys } from "./support/db.ts";

const protectedRoutes: [method: string, path: string, body?: unknown][] = [
  ["GET", "/org/tier"],
  ["GET", "/leads"],
  ["POST", "/leads", lead()],
  ["PUT", "/leads", { id: "rp_000000000000000000000000", firstName: "X", email: "x@example.com" }],
  ["PATCH", "/leads", { id: "rp_000000000000000000000000", status: "x" }],
  ["DELETE", "/leads?id=rp_000000000000000000000000"],
  ["GET", "/leads/rp_000000000000000000000000"],
  ["PATCH", "/leads/rp_000000000000000000000000", { status: "x" }],
  ["DELETE", "/leads/rp_000000000000000000000000"],
  ["POST", "/setup", {}],
];

const wellFormedUnknownKey = `rcm_live_${"0123456789abcdef".repeat(4)}`;

describe("authentication", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await signup();
  });

  it.each(protectedRoutes)("%s %s without a key answers 401 missing_api_key with a hint pointing at signup", async (method, path, body) => {
    const error = expectError(await call(method, path, body), 401, "missing_api_key");
    expect(error.hint).toContain("POST /api/openclaw/signup");
  });

  it.each(protectedRoutes)("%s %s with an unknown well-formed key answers 401 invalid_api_key", async (method, path, body) => {
    expectError(await call(method, path, body, { key: wellFormedUnknownKey }), 401, "invalid_api_key");
  });

  it.each([
    ["too short", "rcm_live_abc"],
    ["wrong prefix", `sk_live_${"a".repeat(64)}`],
    ["upper-case hex", `rcm_live_${"A".repeat(64)}`],
    ["one digit too many", `${wellFormedUnknownKey}0`],
    ["not a key at all", "hello world"],
  ])("answers 401 invalid_api_key to a malformed key (%s)", async (_label, key) => {
    expectError(await call("GET", "/org/tier", undefined, { headers: { "x-api-key": key } }), 401, "invalid_api_key");
  });

  it("answers 401 missing_api_key to an empty Bearer or another auth scheme", async () => {
    expectError(await call("GET", "/org/tier", undefined, { headers: { authorization: "Bearer " } }), 401, "missing_api_key");
    expectError(await call("GET", "/org/tier", undefined, { headers: { authorization: `Basic ${btoa("user:pass")}` } }), 401, "missing_api_key");
  });

  it("accepts the key as Authorization: Bearer", async () => {
    const reply = expectOk(await call("GET", "/org/tier", undefined, { headers: { authorization: `Bearer ${ws.apiKey}` } }));
    expect(reply.orgId).toBe(ws.orgId);
  });

  it("accepts a lower-case bearer scheme", async () => {
    const reply = expectOk(await call("GET", "/org/tier", undefined, { headers: { authorization: `bearer ${ws.apiKey}` } }));
    expect(reply.orgId).toBe(ws.orgId);
  });

  it("accepts the key as x-api-key, for reads and writes", async () => {
    const headers = { "x-api-key": ws.apiKey };
    expect(expectOk(await call("GET", "/org/tier", undefined, { headers })).orgId).toBe(ws.orgId);
    const created = expectOk(await call("POST", "/leads", lead(), { headers }), 201);
    expect(expectOk(await call("GET", `/leads/${created.id}`, undefined, { headers })).id).toBe(created.id);
  });

  it("acts as the key's own workspace", async () => {
    const other = await signup();
    expect(expectOk(await as(other).get("/org/tier")).orgId).toBe(other.orgId);
    expect(expectOk(await as(ws).get("/org/tier")).orgId).toBe(ws.orgId);
  });

  it("refuses a revoked key with 401 revoked_api_key", async () => {
    const revoked = await signup();
    expectOk(await as(revoked).get("/org/tier"));
    await revokeOrgKeys(revoked.orgId);
    expectError(await as(revoked).get("/org/tier"), 401, "revoked_api_key");
    expectError(await as(revoked).post("/leads", lead()), 401, "revoked_api_key");
  });

  it("leaves the public routes open: health, signup and setup instructions, OpenAPI", async () => {
    for (const path of ["/health", "/signup", "/setup", "/openapi.json"]) {
      const res = await call("GET", path);
      expect(res.status, path).toBe(200);
    }
  });

  it("ignores a bad key on public routes", async () => {
    expect((await call("GET", "/health", undefined, { key: wellFormedUnknownKey })).status).toBe(200);
  });
});
