// Bounded payloads over HTTP: every free-form JSON field has a size and depth cap (accepted at
// the cap, refused one byte over, naming the field and the cap), any body nested thousands
// deep is a 400 rather than a crash, NUL and unpaired surrogates are refused naming the
// field (body, query, path; routes with and without a key), and list replies stay within
// their byte budget.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { as, call, createLead, createLeads, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";

let ws: Workspace;
let client: ReturnType<typeof as>;
let leadId: string;

beforeAll(async () => {
  ws = await signup();
  client = as(ws);
  leadId = await createLead(client);
});

const fieldNames = (error: any): string[] => error.fields.map((f: { field: string }) => f.field);

/**
 * { blob: "xx…" } whose JSON, as Postgres prints it ({"blob": "xx…"}), is exactly `bytes`
 * bytes: the caps count that text.
 */
const blobOf = (bytes: number) => ({ blob: "x".repeat(bytes - 12) });

/** JSON nested `depth` deep: {"a": {"a": … 1 …}}. */
const nested = (depth: number): string => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

describe("free-form JSON caps", () => {
  interface Cap {
    field: string;
    maxBytes: number;
    send: (value: Record<string, unknown>) => ReturnType<typeof client.post>;
  }
  const caps: Cap[] = [
    { field: "crmData", maxBytes: 16_384, send: (crmData) => client.post("/leads", lead({ crmData })) },
    { field: "customFields", maxBytes: 65_536, send: (customFields) => client.patch(`/leads/${leadId}`, { customFields }) },
    { field: "metadata", maxBytes: 65_536, send: (metadata) => client.post("/touchpoints", { leadId, type: "call", metadata }) },
    { field: "data", maxBytes: 16_384, send: (data) => client.post("/events", { leadId, type: "cta_clicked", data }) },
    { field: "context", maxBytes: 8_192, send: (context) => client.post("/feedback", { type: "bug", title: "Caps", context }) },
  ];

  it.each(caps)("$field: accepted at $maxBytes bytes", async ({ maxBytes, send }) => {
    const res = await send(blobOf(maxBytes));
    expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBeLessThan(300);
  });

  it.each(caps)("$field: one byte over $maxBytes is 400 value_too_large naming the field and the cap", async ({ field, maxBytes, send }) => {
    const error = expectError(await send(blobOf(maxBytes + 1)), 400, "value_too_large");
    expect(fieldNames(error)).toEqual([field]);
    expect(error.maxBytes).toBe(maxBytes);
    expect(error.message).toContain(field);
    expect(error.message).toContain(maxBytes.toLocaleString("en-US"));
  });

  it("counts bytes, not characters: multi-byte text reaches the cap sooner", async () => {
    // 16,372 characters of "é" are 32,744 bytes.
    const error = expectError(await client.post("/leads", lead({ crmData: { blob: "é".repeat(16_372) } })), 400, "value_too_large");
    expect(fieldNames(error)).toEqual(["crmData"]);
  });

  it("crmData: nested 10 deep is accepted, 11 deep is 400 too_deep naming the field", async () => {
    const deep = (depth: number) => JSON.parse(nested(depth)) as Record<string, unknown>;
    expectOk(await client.post("/leads", lead({ crmData: deep(10) })), 201);
    const error = expectError(await client.post("/leads", lead({ crmData: deep(11) })), 400, "too_deep");
    expect(fieldNames(error)).toEqual(["crmData"]);
    expect(error.maxDepth).toBe(10);
  });

  it("a PATCH merge that would take crmData over its cap is refused by the database's constraint, naming crmData", async () => {
    const id = await createLead(client, { crmData: blobOf(10_000) });
    const error = expectError(await client.patch(`/leads/${id}`, { crmData: { more: "y".repeat(8_000) } }), 400, "value_too_large");
    expect(error.message).toContain("crmData");
    expect(error.message).toContain("16,384");
    expect(expectOk(await client.get(`/leads/${id}`)).lead.crmData).toEqual(blobOf(10_000));
  });

  it("automation conditions, sync source eventStages and proposal content are capped too", async () => {
    const conditions = expectError(await client.post("/automation/rules", {
      name: "Too big", triggerEvent: "meeting_booked", targetStage: "Negotiated", conditions: { tier: "x".repeat(4_100) },
    }), 400, "value_too_large");
    expect(fieldNames(conditions)).toEqual(["conditions"]);
    const eventStages = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`event_${i}`, "Leads"]));
    const stages = expectError(await client.post("/stages/sync-sources", { name: `Big ${randomUUID()}`, type: "form_webhook", eventStages }), 400, "value_too_large");
    expect(fieldNames(stages)).toEqual(["eventStages"]);
    const content = expectError(await client.put("/proposals", { leadId, content: { hero: JSON.parse(nested(12)) } }), 400, "too_deep");
    expect(fieldNames(content)).toEqual(["content"]);
  });

  it("documents each cap in /openapi.json (x-max-bytes, x-max-depth)", async () => {
    const doc = (await call("GET", "/openapi.json")).body;
    const crmData = doc.components.schemas.CreateLeadRequest.properties.crmData;
    expect(crmData).toMatchObject({ "x-max-bytes": 16_384, "x-max-depth": 10 });
    expect(crmData.description).toContain("16,384 bytes");
  });
});

describe("bodies nested 5,000 deep", () => {
  const deepBody = `{"firstName":"Jane","email":"jane@example.com","crmData":${nested(5_000)}}`;
  const routes: [string, string, string, Record<string, string>?][] = [
    ["POST", "/leads", "key"],
    ["PATCH", "/leads/:id", "key"],
    ["POST", "/feedback", "key"],
    ["POST", "/signup", "open"],
    ["POST", `/inbound/${"ab".repeat(24)}`, "open"],
    ["POST", "/public/quizzes/no-such-quiz/submissions", "open"],
    ["POST", `/integrations/calendly/webhook/${"0".repeat(48)}`, "open"],
    ["POST", "/integrations/recall/webhook", "open"],
  ];

  it.each(routes)("%s %s (%s) answers 400 too_deep, naming the top-level field", async (method, path, auth) => {
    const res = await call(method, path.replace(":id", leadId), undefined, { raw: deepBody, ...(auth === "key" ? { key: ws.apiKey } : {}) });
    const error = expectError(res, 400, "too_deep");
    expect(fieldNames(error)).toEqual(["crmData"]);
    expect(error.maxDepth).toBe(32);
  });

  it("the public proposal beacon (its own 2 KiB limit) answers 400 too_deep as well", async () => {
    const res = await call("POST", "/api/tracking/events", undefined, { raw: `[${"[".repeat(900)}${"]".repeat(900)}]`, headers: { "content-type": "text/plain" } });
    expectError(res, 400, "too_deep");
  });

  it("a megabyte of [ is refused before it is parsed", async () => {
    const started = Date.now();
    expectError(await client.post("/leads", undefined, { raw: "[".repeat(1_000_000) }), 400, "too_deep");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a body nested up to 32 deep in a field the lead does not keep is accepted", async () => {
    const body = `{"firstName":"Jane","email":"${randomUUID()}@example.com","ignored":${nested(31)}}`;
    expectOk(await client.post("/leads", undefined, { raw: body }), 201);
  });
});

describe("NUL and unpaired surrogates", () => {
  it.each([
    ["firstName", `{"firstName":"Ja\\u0000ne","email":"nul@example.com"}`],
    ["firstName", `{"firstName":"Ja\\ud800ne","email":"surrogate@example.com"}`],
    ["lastName", `{"firstName":"Jane","email":"low@example.com","lastName":"\\udc00"}`],
    ["crmData.notes.1", `{"firstName":"Jane","email":"deep@example.com","crmData":{"notes":["ok","bad\\u0000"]}}`],
    ["crmData", `{"firstName":"Jane","email":"key@example.com","crmData":{"k\\u0000":1}}`],
    ["extra", `{"firstName":"Jane","email":"extra@example.com","extra":"\\u0000"}`],
  ])("POST /leads refuses %s with 400 invalid_characters", async (field, raw) => {
    const error = expectError(await client.post("/leads", undefined, { raw }), 400, "invalid_characters");
    expect(fieldNames(error)).toEqual([field]);
  });

  it("keeps a well-formed emoji (a surrogate pair)", async () => {
    const created = expectOk(await client.post("/leads", lead({ firstName: "Jane 😀", crmData: { mood: "😀" } })), 201);
    expect(created.lead.firstName).toBe("Jane 😀");
  });

  it("refuses NUL in a query parameter, naming it", async () => {
    const error = expectError(await client.get("/leads?q=a%00b"), 400, "invalid_characters");
    expect(fieldNames(error)).toEqual(["q"]);
  });

  it("refuses NUL in a path parameter, naming it", async () => {
    const error = expectError(await client.get("/leads/rp_%00"), 400, "invalid_characters");
    expect(fieldNames(error)).toEqual(["leadId"]);
    expectError(await client.delete("/notes?id=note_%00"), 400, "invalid_characters");
  });

  it("signup (no key) refuses NUL in the body, naming the field", async () => {
    const error = expectError(await call("POST", "/signup", { email: `nul-${randomUUID()}@example.com`, workspace_name: "A\u0000B" }), 400, "invalid_characters");
    expect(fieldNames(error)).toEqual(["workspace_name"]);
  });

  it("a quiz submission (no key) refuses NUL in JSON and in the page's form", async () => {
    const json = expectError(await call("POST", "/public/quizzes/any-quiz/submissions", { email: "a\u0000@example.com", answers: {} }), 400, "invalid_characters");
    expect(fieldNames(json)).toEqual(["email"]);
    const form = await call("POST", "/public/quizzes/any-quiz/submissions", undefined, {
      raw: "email=a%00%40example.com&answers.size=small", headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(400);
  });

  it("the proposal beacon (no key) refuses NUL, naming the field", async () => {
    const res = await call("POST", "/api/tracking/events", undefined, {
      raw: JSON.stringify({ slug: "nope-12345678", visitId: "v".repeat(16), kind: "cta", label: "\u0000" }), headers: { "content-type": "text/plain" },
    });
    expect(fieldNames(expectError(res, 400, "invalid_characters"))).toEqual(["label"]);
  });

  it("an inbound event (the source's secret, no key) refuses NUL in JSON and in a form, writing nothing", async () => {
    const source = expectOk(await client.post("/stages/sync-sources", { name: `NUL ${randomUUID()}`, type: "form_webhook" }), 201);
    const path = new URL(source.inboundUrl).pathname;
    const send = (raw: string, contentType: string) =>
      call("POST", path, undefined, { raw, headers: { "content-type": contentType, "x-openclaw-secret": source.secret } });
    const email = `inbound-${randomUUID()}@example.com`;
    const json = expectError(await send(JSON.stringify({ email, firstName: "Ja\u0000ne" }), "application/json"), 400, "invalid_characters");
    expect(fieldNames(json)).toEqual(["firstName"]);
    const form = expectError(await send(`email=${encodeURIComponent(email)}&firstName=Ja%00ne`, "application/x-www-form-urlencoded"), 400, "invalid_characters");
    expect(fieldNames(form)).toEqual(["firstName"]);
    expect(expectOk(await client.get(`/leads?q=${encodeURIComponent(email)}`)).total).toBe(0);
  });
});

describe("lists bounded in bytes", () => {
  let big: ReturnType<typeof as>;

  beforeAll(async () => {
    const owner = await signup();
    big = as(owner);
    // 100 leads, each with 16 KiB of crmData: 1.6 MB of documents in all.
    await createLeads(big, 100, (i) => ({ crmData: blobOf(16_384), firstName: `Lead ${i}` }));
  }, 120_000);

  it("GET /leads leaves crmData out by default, says so, and stays far under the budget", async () => {
    const res = await big.get("/leads?limit=200");
    const body = expectOk(res);
    expect(body.leads).toHaveLength(100);
    expect(body.leads[0].crmData).toBeUndefined();
    expect(body.leads[0].customFields).toBeUndefined();
    expect(body.leads[0].enrichment).toBeUndefined();
    expect(body.warnings.join(" ")).toContain("fields=crmData,customFields,enrichment");
    expect(JSON.stringify(body).length).toBeLessThan(300_000);
  });

  it("GET /leads?fields=crmData stops at the 1 MiB budget with a warning and the next page's call", async () => {
    const body = expectOk(await big.get("/leads?limit=200&fields=crmData"));
    expect(body.leads.length).toBeGreaterThan(10);
    expect(body.leads.length).toBeLessThan(100);
    expect(body.leads[0].crmData).toEqual(blobOf(16_384));
    expect(Buffer.byteLength(JSON.stringify(body.leads))).toBeLessThanOrEqual(1_048_576 + body.leads.length);
    expect(JSON.stringify(body).length).toBeLessThan(1_100_000);
    expect(body.warnings.join(" ")).toMatch(/at most 1,048,576 bytes of rows/);
    expect(body.next_steps).toEqual([`GET /api/openclaw/leads?fields=crmData&offset=${body.leads.length}&limit=200 for the next page`]);
    const next = expectOk(await big.get(`/leads?fields=crmData&offset=${body.leads.length}&limit=200`));
    expect(next.leads[0].crmData).toEqual(blobOf(16_384));
  });

  it("GET /leads/{leadId} still has everything", async () => {
    const [first] = expectOk(await big.get("/leads?limit=1")).leads;
    expect(expectOk(await big.get(`/leads/${first.id}`)).lead.crmData).toEqual(blobOf(16_384));
  });

  it("refuses an unknown name in fields=", async () => {
    const error = expectError(await big.get("/leads?fields=crmData,password"), 400, "invalid_request");
    expect(fieldNames(error)).toEqual(["fields"]);
  });

  it("notes: a page of 100,000-character notes stops at the budget too", async () => {
    const id = await createLead(client);
    for (let i = 0; i < 12; i++) expectOk(await client.post("/notes", { leadId: id, content: `${i} ${"n".repeat(99_990)}` }), 201);
    const body = expectOk(await client.get(`/notes?leadId=${id}&limit=50`));
    expect(body.notes.length).toBe(10);
    expect(body.total).toBe(12);
    expect(body.next_steps).toContain(`GET /api/openclaw/notes?leadId=${id}&offset=10&limit=50 for the next page`);
  });
});
