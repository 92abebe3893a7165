// Idempotency-Key on POST /integrations/calendly, which holds no transaction across its calls to
// Calendly: the key is claimed (committed) before Calendly is called. Against the loopback
// Calendly server (tests/support/calendly-loopback.ts), counting what Calendly was asked.
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { expectError, expectOk } from "./support/api.ts";
import { type IntegrationStack, startIntegrationStack } from "./support/calendly-loopback.ts";
import type { RecordedRequest } from "./support/loopback.ts";
import { within } from "./support/wait.ts";

let stack: IntegrationStack;
let db: postgres.Sql;

beforeAll(async () => {
  stack = await startIntegrationStack({ recall: false });
  db = postgres(inject("databaseUrl"), { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await Promise.all([stack?.close(), db?.end({ timeout: 2 })]);
});

const withKey = (key: string) => ({ headers: { "Idempotency-Key": key } });
const calendlyCalls = () => stack.calendly.requests.length;
const isSubscribe = (r: RecordedRequest) => r.method === "POST" && r.path === "/webhook_subscriptions";
const subscribeCalls = () => stack.calendly.requests.filter(isSubscribe).length;
const keysOf = async (orgId: string, key: string) =>
  (await db<{ n: number }[]>`select count(*)::int as n from app.idempotency_keys where org_id = ${orgId} and key = ${key}`)[0]!.n;

describe("Idempotency-Key on POST /integrations/calendly", () => {
  it("replays the first answer (status, body, Idempotent-Replayed) without calling Calendly again", async () => {
    const ws = await stack.signup();
    const key = randomUUID();
    const first = await stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key));
    const body = expectOk(first, 201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const calls = calendlyCalls();

    const again = await stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key));
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(body);
    expect(calendlyCalls()).toBe(calls);
    // The first subscription is still the live one: nothing was replaced.
    expect(stack.calendly.subscriptions.has(body.subscriptionUri)).toBe(true);
    expect(expectOk(await stack.as(ws).get("/integrations/calendly")).webhookUrl).toBe(body.webhookUrl);
  });

  it("refuses the same key with another body with 422, calling Calendly for nothing", async () => {
    const ws = await stack.signup();
    const key = randomUUID();
    const body = expectOk(await stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key)), 201);
    const calls = calendlyCalls();
    const error = expectError(await stack.as(ws).post("/integrations/calendly", { token: `${stack.calendly.goodToken}-other` }, withKey(key)),
      422, "idempotency_key_reused");
    expect(error.hint).toMatch(/new Idempotency-Key/);
    expect(calendlyCalls()).toBe(calls);
    expect(expectOk(await stack.as(ws).get("/integrations/calendly")).subscriptionUri).toBe(body.subscriptionUri);
  });

  it("a failed attempt keeps no key, so a retry with the same key really connects", async () => {
    const ws = await stack.signup();
    const key = randomUUID();
    stack.calendly.failNextSubscribe = 500;
    expectError(await stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key)), 502, "calendly_unavailable");
    expect(await keysOf(ws.orgId, key)).toBe(0);

    const subscribes = subscribeCalls();
    const retry = await stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key));
    const body = expectOk(retry, 201);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect(subscribeCalls()).toBe(subscribes + 1);
    expect(stack.calendly.subscriptions.has(body.subscriptionUri)).toBe(true);
    expect(expectOk(await stack.as(ws).get("/integrations/calendly")).connected).toBe(true);
  });

  it("an invalid body (400) keeps no key either", async () => {
    const ws = await stack.signup();
    const key = randomUUID();
    expectError(await stack.as(ws).post("/integrations/calendly", { token: "short" }, withKey(key)), 400);
    expect(await keysOf(ws.orgId, key)).toBe(0);
  });

  it("while the first request with a key waits on Calendly, duplicates answer 409 and create no second subscription", async () => {
    const ws = await stack.signup();
    const key = randomUUID();
    const subscribes = subscribeCalls();
    let release!: () => void;
    stack.calendly.holdSubscribe = new Promise<void>((resolve) => (release = resolve));
    try {
      const subscribing = stack.calendly.nextRequest(isSubscribe);
      const first = stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key));
      await within(subscribing, { what: "the first request to ask Calendly for a webhook subscription" });
      expect(subscribeCalls()).toBe(subscribes + 1);
      const calls = calendlyCalls();

      const duplicates = await Promise.all(Array.from({ length: 5 },
        () => stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key))));
      for (const duplicate of duplicates) {
        const error = expectError(duplicate, 409, "idempotency_key_in_progress");
        expect(error.hint).toMatch(/same Idempotency-Key/);
      }
      expect(calendlyCalls()).toBe(calls);

      release();
      const body = expectOk(await first, 201);
      const after = await stack.as(ws).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key));
      expect(after.status).toBe(201);
      expect(after.headers.get("idempotent-replayed")).toBe("true");
      expect(after.body).toEqual(body);
      expect(subscribeCalls()).toBe(subscribes + 1);
    } finally {
      release();
      stack.calendly.holdSubscribe = undefined;
    }
  });

  it("scopes keys per org: another workspace connects with the same key value", async () => {
    const [a, b] = await Promise.all([stack.signup(), stack.signup()]);
    const key = randomUUID();
    const mine = expectOk(await stack.as(a).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key)), 201);
    const theirs = await stack.as(b).post("/integrations/calendly", { token: stack.calendly.goodToken }, withKey(key));
    expectOk(theirs, 201);
    expect(theirs.headers.get("idempotent-replayed")).toBeNull();
    expect(theirs.body.webhookUrl).not.toBe(mine.webhookUrl);
  });
});
