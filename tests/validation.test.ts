import { beforeAll, describe, expect, it } from "vitest";
import { as, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";

const STAGE_NAMES = ["Prospects", "Leads", "Engaged", "Contacted", "Negotiated", "Re-engage later", "Closed Won", "Closed Lost"];
const MAX_BODY = 1_048_576;

const fieldNames = (error: any): string[] => error.fields.map((f: { field: string }) => f.field);

describe("request validation", () => {
  let ws: Workspace;
  let client: ReturnType<typeof as>;
  let existingId: string;
  beforeAll(async () => {
    ws = await signup();
    client = as(ws);
    existingId = expectOk(await client.post("/leads", lead()), 201).id;
  });

  describe("malformed JSON", () => {
    const broken = "{\"firstName\": \"Jane\", ";
    it.each([
      ["POST", "/leads"],
      ["PUT", "/leads"],
      ["PATCH", "/leads"],
      ["PATCH", "/leads/:id"],
    ])("%s %s answers 400 with a hint about JSON", async (method, path) => {
      const url = path.replace(":id", existingId);
      const res = method === "POST" ? await client.post(url, undefined, { raw: broken })
        : method === "PUT" ? await client.put(url, undefined, { raw: broken })
          : await client.patch(url, undefined, { raw: broken });
      const error = expectError(res, 400, "invalid_request");
      expect(error.hint).toMatch(/JSON/);
    });
  });

  describe("wrong types", () => {
    it.each([
      ["firstName", { firstName: 123 }],
      ["email", { email: ["jane@example.com"] }],
      ["lastName", { lastName: 5 }],
      ["customFields", { customFields: "not an object" }],
      ["crmData", { crmData: [1, 2, 3] }],
      ["tier", { tier: { level: "high" } }],
      ["status", { status: false }],
    ])("answers 400 naming %s in error.fields", async (field, overrides) => {
      const error = expectError(await client.post("/leads", lead(overrides)), 400, "invalid_request");
      expect(fieldNames(error)).toEqual([field]);
      expect(error.fields[0].message).toEqual(expect.any(String));
      expect(error.message).toContain(field);
      expect(error.hint).toContain("error.fields");
    });

    it("reports every wrong field at once", async () => {
      const error = expectError(await client.post("/leads", { firstName: 1, email: 2, phone: 3 }), 400, "invalid_request");
      expect(fieldNames(error).sort()).toEqual(["email", "firstName", "phone"]);
    });

    it("checks types on PATCH as well", async () => {
      const error = expectError(await client.patch(`/leads/${existingId}`, { crmData: "flat" }), 400, "invalid_request");
      expect(fieldNames(error)).toEqual(["crmData"]);
    });

    it("refuses a JSON body that is not an object", async () => {
      expectError(await client.post("/leads", [lead()]), 400, "invalid_request");
      expectError(await client.post("/leads", "jane@example.com"), 400, "invalid_request");
    });
  });

  describe("required fields and formats", () => {
    it("refuses a lead without firstName", async () => {
      const { firstName: _omit, ...body } = lead();
      const error = expectError(await client.post("/leads", body), 400, "invalid_request");
      expect(fieldNames(error)).toEqual(["firstName"]);
    });

    it("refuses a lead without email", async () => {
      const { email: _omit, ...body } = lead();
      const error = expectError(await client.post("/leads", body), 400, "invalid_request");
      expect(fieldNames(error)).toEqual(["email"]);
    });

    it("refuses an empty body, naming both firstName and email", async () => {
      const error = expectError(await client.post("/leads", {}), 400, "invalid_request");
      expect(fieldNames(error).sort()).toEqual(["email", "firstName"]);
    });

    it("refuses a blank firstName", async () => {
      const error = expectError(await client.post("/leads", lead({ firstName: "   " })), 400, "invalid_request");
      expect(fieldNames(error)).toEqual(["firstName"]);
    });

    it.each(["not-an-email", "jane@", "@example.com", "jane example@example.com"])("refuses the invalid email %j", async (email) => {
      const error = expectError(await client.post("/leads", lead({ email })), 400, "invalid_request");
      expect(fieldNames(error)).toEqual(["email"]);
    });

    it("refuses an invalid email on PATCH", async () => {
      const error = expectError(await client.patch(`/leads/${existingId}`, { email: "nope" }), 400, "invalid_request");
      expect(fieldNames(error)).toEqual(["email"]);
    });

    it("refuses values longer than their limit", async () => {
      const error = expectError(await client.post("/leads", lead({ firstName: "x".repeat(201) })), 400, "invalid_request");
      expect(fieldNames(error)).toEqual(["firstName"]);
    });

    it("refuses an over-long lead id in the path", async () => {
      const error = expectError(await client.get(`/leads/rp_${"0".repeat(120)}`), 400, "invalid_request");
      expect(fieldNames(error)).toEqual(["leadId"]);
    });
  });

  describe("unknown stage", () => {
    it("answers 400 on create with a hint listing every stage name", async () => {
      const error = expectError(await client.post("/leads", lead({ stage: "Qualified" })), 400, "unknown_stage");
      expect(error.message).toContain("Qualified");
      for (const name of STAGE_NAMES) expect(error.hint).toContain(`"${name}"`);
    });

    it("answers 400 on PATCH with the same hint and leaves the lead's stage alone", async () => {
      const error = expectError(await client.patch(`/leads/${existingId}`, { stage: "Qualified", status: "changed" }), 400, "unknown_stage");
      for (const name of STAGE_NAMES) expect(error.hint).toContain(`"${name}"`);
      const lead = expectOk(await client.get(`/leads/${existingId}`)).lead;
      expect(lead).toMatchObject({ stage: "Prospects", status: "new" });
    });
  });

  describe("body size", () => {
    it("refuses a body over 1 MiB with 413", async () => {
      const body = JSON.stringify(lead({ crmData: { blob: "x".repeat(MAX_BODY) } }));
      expect(body.length).toBeGreaterThan(MAX_BODY);
      const error = expectError(await client.post("/leads", undefined, { raw: body }), 413, "payload_too_large");
      expect(error.hint).toContain(String(MAX_BODY));
    });

    it("refuses an oversize body before authentication, also on PATCH", async () => {
      const raw = JSON.stringify({ crmData: { blob: "x".repeat(MAX_BODY + 10) } });
      expectError(await client.patch(`/leads/${existingId}`, undefined, { raw }), 413, "payload_too_large");
      expectError(await as({ ...ws, apiKey: "" }).post("/leads", undefined, { raw }), 413, "payload_too_large");
    });

    it("accepts a large body under the limit (a field the lead does not keep, so no field cap applies)", async () => {
      const reply = expectOk(await client.post("/leads", lead({ blob: "x".repeat(MAX_BODY - 4096) })), 201);
      expect(reply.warnings.join(" ")).toContain("blob");
    });
  });

  it("writes nothing for any refused request", async () => {
    const list = expectOk(await client.get("/leads"));
    // The lead from beforeAll and the one large-body lead.
    expect(list.total).toBe(2);
    expect(expectOk(await client.get("/org/tier")).usage.leads).toBe(2);
  });
});
