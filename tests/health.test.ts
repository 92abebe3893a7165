import { describe, expect, it } from "vitest";
import { call } from "./support/api.ts";

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
