import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { as, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";

const withKey = (key: string) => ({ headers: { "Idempotency-Key": key } });

describe("Idempotency-Key on POST", () => {
  let ws: Workspace;
  let client: ReturnType<typeof as>;
  beforeAll(async () => {
    ws = await signup();
    client = as(ws);
  });

  const countByEmail = async (c: ReturnType<typeof as>, email: string) =>
    expectOk(await c.get(`/leads?q=${encodeURIComponent(email)}`)).total as number;

  it("replays the first answer (status and body) for the same key and body, marked Idempotent-Replayed, creating one lead", async () => {
    const key = randomUUID();
    const body = lead();
    const first = await client.post("/leads", body, withKey(key));
    expectOk(first, 201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();

    const second = await client.post("/leads", body, withKey(key));
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(second.body).toEqual(first.body);

    expect(await countByEmail(client, body.email)).toBe(1);
  });

  it("without a key, a repeated create is not replayed but refused as a duplicate", async () => {
    const body = lead();
    expectOk(await client.post("/leads", body), 201);
    const again = await client.post("/leads", body);
    expectError(again, 409, "lead_exists");
    expect(again.headers.get("idempotent-replayed")).toBeNull();
  });

  it("refuses the same key with a different body with 422", async () => {
    const key = randomUUID();
    const first = expectOk(await client.post("/leads", lead(), withKey(key)), 201);
    const other = lead();
    const error = expectError(await client.post("/leads", other, withKey(key)), 422, "idempotency_key_reused");
    expect(error.hint).toMatch(/new Idempotency-Key/);
    expect(await countByEmail(client, other.email)).toBe(0);
    expect(expectOk(await client.get(`/leads/${first.id}`)).id).toBe(first.id);
  });

  it("refuses the same key on another endpoint with 422", async () => {
    const key = randomUUID();
    expectOk(await client.post("/leads", lead(), withKey(key)), 201);
    expectError(await client.post("/setup", {}, withKey(key)), 422, "idempotency_key_reused");
  });

  it("creates exactly one lead for 10 concurrent requests with the same key, all answering with the same id", async () => {
    const key = randomUUID();
    const body = lead();
    const results = await Promise.all(Array.from({ length: 10 }, () => client.post("/leads", body, withKey(key))));
    for (const res of results) expectOk(res, 201);
    const ids = new Set(results.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(9);
    expect(await countByEmail(client, body.email)).toBe(1);
  });

  it("scopes keys per org: another org can use the same key value independently", async () => {
    const key = randomUUID();
    const other = as(await signup());
    const body = lead();
    const mine = expectOk(await client.post("/leads", body, withKey(key)), 201);
    const theirs = await other.post("/leads", body, withKey(key));
    expectOk(theirs, 201);
    expect(theirs.headers.get("idempotent-replayed")).toBeNull();
    expect(theirs.body.id).not.toBe(mine.id);
    // And a different body under the same key value is not a mismatch in the other org.
    const third = as(await signup());
    expectOk(await third.post("/leads", lead(), withKey(key)), 201);
    expect(await countByEmail(other, body.email)).toBe(1);
  });

  it("does not consume the key when the request fails, so a corrected retry goes through", async () => {
    const key = randomUUID();
    expectError(await client.post("/leads", { firstName: "NoEmail" }, withKey(key)), 400, "invalid_request");
    const retry = await client.post("/leads", lead({ firstName: "NoEmail" }), withKey(key));
    expectOk(retry, 201);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
  });

  it("does not store a refused create: the same key and body are refused again, not replayed", async () => {
    const existing = expectOk(await client.post("/leads", lead()), 201);
    const key = randomUUID();
    const body = lead({ email: existing.lead.email });
    expectError(await client.post("/leads", body, withKey(key)), 409, "lead_exists");
    const again = await client.post("/leads", body, withKey(key));
    expectError(again, 409, "lead_exists");
    expect(again.headers.get("idempotent-replayed")).toBeNull();
  });

  it("replays POST /setup too", async () => {
    const key = randomUUID();
    const body = { org: { industry: "Replay" }, stages: [{ name: "One" }, { name: "Two" }] };
    const first = expectOk(await client.post("/setup", body, withKey(key)));
    const second = await client.post("/setup", body, withKey(key));
    expect(second.status).toBe(200);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(second.body).toEqual(first);
  });

  it("refuses a key longer than 255 characters with 400", async () => {
    expectError(await client.post("/leads", lead(), withKey("k".repeat(256))), 400, "invalid_idempotency_key");
  });
});
