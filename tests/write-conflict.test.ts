// A deadlock between two requests' transactions is answered 409 write_conflict (retry), not 500:
// Postgres rolls the losing transaction back whole, so nothing of it was written. The deadlock
// here is a real one, between two connections locking two rows in opposite order.
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { toApiError } from "../functions/http/errors.ts";
import { as, createLead, signup } from "./support/api.ts";

let sql: postgres.Sql;
beforeAll(() => {
  sql = postgres(inject("databaseUrl"), { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await sql.end({ timeout: 2 });
});

describe("write conflicts", () => {
  it("answers a real deadlock 409 write_conflict with a hint to send the request again", async () => {
    const ws = await signup();
    const [first, second] = await Promise.all([createLead(as(ws)), createLead(as(ws))]);
    let bothLockedOne!: () => void;
    let locked = 0;
    const ready = new Promise<void>((resolve) => (bothLockedOne = resolve));
    const lockInOrder = (a: string, b: string) => sql.begin(async (tx) => {
      await tx`set local deadlock_timeout = '50ms'`;
      await tx`select id from app.leads where id = ${a} for update`;
      if (++locked === 2) bothLockedOne();
      await ready;
      await tx`select id from app.leads where id = ${b} for update`;
    });
    const outcomes = await Promise.allSettled([lockInOrder(first, second), lockInOrder(second, first)]);
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected").map((o) => o.reason);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: "40P01" });
    const error = toApiError(failures[0]);
    expect(error).toMatchObject({ status: 409, code: "write_conflict" });
    expect(error.hint).toContain("Idempotency-Key");
  });
});
