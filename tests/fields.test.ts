import { beforeAll, describe, expect, it } from "vitest";
import { as, call, createLead, expectError, expectOk, lead, signup } from "./support/api.ts";

type Client = ReturnType<typeof as>;

/** A fresh workspace per test where definitions would get in each other's way. */
async function workspace(): Promise<Client> {
  return as(await signup());
}
const define = async (client: Client, body: Record<string, unknown>) => expectOk(await client.post("/fields", body), 201).field;
const customFieldsOf = async (client: Client, id: string) => expectOk(await client.get(`/leads/${id}`)).lead.customFields;

describe("POST /fields", () => {
  it("defines a field and answers 201 with its shape; the label defaults to the key", async () => {
    const client = await workspace();
    const body = expectOk(await client.post("/fields", { key: "practiceSize", fieldType: "select", options: ["Solo", "Small", "Large"] }), 201);
    expect(body.id).toMatch(/^cf_[0-9a-f]{24}$/);
    expect(body.field).toEqual({
      id: body.id, key: "practiceSize", label: "practiceSize", fieldType: "select", options: ["Solo", "Small", "Large"],
      required: false, order: 0, createdAt: expect.any(String), updatedAt: expect.any(String),
    });
    expect(body.next_steps).toEqual(['POST /api/openclaw/leads { "firstName": …, "email": …, "customFields": { "practiceSize": … } }']);
  });

  it("defines every field type, with options only for select and multiselect, in order", async () => {
    const client = await workspace();
    const made = [
      await define(client, { key: "notes", label: "Notes", fieldType: "text" }),
      await define(client, { key: "seats", fieldType: "number", required: true }),
      await define(client, { key: "renewal", fieldType: "date" }),
      await define(client, { key: "region", fieldType: "select", options: ["EU", "US"] }),
      await define(client, { key: "tags", fieldType: "multiselect", options: ["vip", "partner"] }),
      await define(client, { key: "optedIn", fieldType: "boolean" }),
    ];
    expect(made.map((f) => [f.key, f.fieldType, f.options, f.required, f.order])).toEqual([
      ["notes", "text", null, false, 0], ["seats", "number", null, true, 1], ["renewal", "date", null, false, 2],
      ["region", "select", ["EU", "US"], false, 3], ["tags", "multiselect", ["vip", "partner"], false, 4], ["optedIn", "boolean", null, false, 5],
    ]);
    expect(made[0].label).toBe("Notes");
  });

  it("refuses a select or multiselect without options, and options on other types, with 400 invalid_field_options", async () => {
    const client = await workspace();
    for (const fieldType of ["select", "multiselect"]) {
      const error = expectError(await client.post("/fields", { key: "k", fieldType }), 400, "invalid_field_options");
      expect(error.message).toBe(`A ${fieldType} field needs options`);
      expect(error.hint).toMatch(/"options": \[/);
    }
    const error = expectError(await client.post("/fields", { key: "k", fieldType: "text", options: ["a"] }), 400, "invalid_field_options");
    expect(error.message).toBe("Only select and multiselect fields have options, not text fields");
    expectError(await client.post("/fields", { key: "k", fieldType: "select", options: ["a", "a"] }), 400, "invalid_field_options");
  });

  it("refuses a bad key, an unknown fieldType and empty options with 400 naming the field", async () => {
    const client = await workspace();
    for (const [body, field] of [
      [{ key: "1st", fieldType: "text" }, "key"], [{ key: "has space", fieldType: "text" }, "key"], [{ key: "x".repeat(65), fieldType: "text" }, "key"],
      [{ key: "ok", fieldType: "currency" }, "fieldType"], [{ key: "ok" }, "fieldType"], [{ fieldType: "text" }, "key"],
      [{ key: "ok", fieldType: "select", options: [] }, "options"], [{ key: "ok", fieldType: "text", required: "yes" }, "required"],
    ] as const) {
      const error = expectError(await client.post("/fields", body), 400, "invalid_request");
      expect(error.fields.map((f: { field: string }) => f.field)).toEqual([field]);
    }
    const error = expectError(await client.post("/fields", { key: "ok", fieldType: "currency" }), 400, "invalid_request");
    expect(error.fields[0].message).toBe("must be one of: text, number, date, select, multiselect, boolean");
  });

  it("refuses a key already defined (case-insensitive) with 409 naming the existing field", async () => {
    const client = await workspace();
    const first = await define(client, { key: "region", fieldType: "text" });
    const error = expectError(await client.post("/fields", { key: "Region", fieldType: "number" }), 409, "field_exists");
    expect(error.message).toContain(first.id);
    expect(error.hint).toContain(`PUT /api/openclaw/fields { "id": "${first.id}"`);
  });

  it("refuses a definition that existing live leads' free-form values break, naming a lead", async () => {
    const client = await workspace();
    const leadId = await createLead(client, { customFields: { budget: "lots" } });
    const error = expectError(await client.post("/fields", { key: "budget", fieldType: "number" }), 409, "field_values_conflict");
    expect(error.message).toMatch(/^1 live lead\(s\) hold customFields\.budget values that a number field would refuse/);
    expect(error.hint).toContain(`Lead ${leadId} has "lots"`);
    expect(expectOk(await client.get("/fields")).total).toBe(0);
  });

  it("warns, when a required field is defined, how many leads have no value yet", async () => {
    const client = await workspace();
    await createLead(client);
    const body = expectOk(await client.post("/fields", { key: "seats", fieldType: "number", required: true }), 201);
    expect(body.warnings).toEqual(["1 existing lead(s) have no seats yet; they are accepted as they are, but must get one the next time their customFields are written"]);
  });

  it("replays a retried define with the same Idempotency-Key", async () => {
    const client = await workspace();
    const headers = { "idempotency-key": crypto.randomUUID() };
    const first = await client.post("/fields", { key: "once", fieldType: "text" }, { headers });
    const again = await client.post("/fields", { key: "once", fieldType: "text" }, { headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(first.body.id);
  });
});

describe("GET /fields", () => {
  it("lists the definitions in order, paged, with total", async () => {
    const client = await workspace();
    for (const key of ["a", "b", "c"]) await define(client, { key, fieldType: "text" });
    const all = expectOk(await client.get("/fields"));
    expect(all.fields.map((f: { key: string }) => f.key)).toEqual(["a", "b", "c"]);
    expect(all).toMatchObject({ total: 3, limit: 50, offset: 0, warnings: [], next_steps: [] });
    const page = expectOk(await client.get("/fields?limit=1&offset=1"));
    expect(page.fields.map((f: { key: string }) => f.key)).toEqual(["b"]);
    expect(page.next_steps).toEqual(["GET /api/openclaw/fields?offset=2&limit=1 for the next page"]);
  });

  it("suggests defining a field when there are none", async () => {
    const client = await workspace();
    const body = expectOk(await client.get("/fields"));
    expect(body).toMatchObject({ fields: [], total: 0 });
    expect(body.next_steps[0]).toMatch(/^POST \/api\/openclaw\/fields/);
  });

  it("needs an API key", async () => {
    expectError(await call("GET", "/fields"), 401, "missing_api_key");
    expectError(await call("POST", "/fields", { key: "k", fieldType: "text" }), 401, "missing_api_key");
    expectError(await call("PUT", "/fields", { key: "k", label: "K" }), 401, "missing_api_key");
    expectError(await call("DELETE", "/fields?key=k"), 401, "missing_api_key");
  });
});

describe("PUT /fields", () => {
  it("changes a field found by id or by key", async () => {
    const client = await workspace();
    const field = await define(client, { key: "region", fieldType: "select", options: ["EU", "US"] });
    const byId = expectOk(await client.put("/fields", { id: field.id, label: "Sales region", required: true }));
    expect(byId.field).toMatchObject({ id: field.id, label: "Sales region", required: true });
    const byKey = expectOk(await client.put("/fields", { key: "REGION", options: ["EU", "US", "APAC"], order: 4 }));
    expect(byKey.field).toMatchObject({ id: field.id, options: ["EU", "US", "APAC"], order: 4, label: "Sales region" });
  });

  it("changes the type when no live lead's value conflicts; leaving a choice type drops the options", async () => {
    const client = await workspace();
    const leadId = await createLead(client, { customFields: { region: "EU" } });
    await define(client, { key: "region", fieldType: "select", options: ["EU", "US"] });
    const body = expectOk(await client.put("/fields", { key: "region", fieldType: "text" }));
    expect(body.field).toMatchObject({ fieldType: "text", options: null });
    expect(await customFieldsOf(client, leadId)).toEqual({ region: "EU" });
  });

  it("refuses (409) a type change that live leads' values break, naming a lead and how to clear it", async () => {
    const client = await workspace();
    await define(client, { key: "budget", fieldType: "text" });
    const leadId = await createLead(client, { customFields: { budget: "about 5k" } });
    const error = expectError(await client.put("/fields", { key: "budget", fieldType: "number" }), 409, "field_values_conflict");
    expect(error.message).toContain("(it must be a number");
    expect(error.hint).toContain(`PATCH /api/openclaw/leads/${leadId} { "customFields": { "budget": null } }`);
    expect(expectOk(await client.get("/fields")).fields[0].fieldType).toBe("text");
  });

  it("refuses (409) removing an option a live lead uses; a soft-deleted lead's value does not block", async () => {
    const client = await workspace();
    await define(client, { key: "region", fieldType: "select", options: ["EU", "US", "APAC"] });
    const usesUs = await createLead(client, { customFields: { region: "US" } });
    const deleted = await createLead(client, { customFields: { region: "APAC" } });
    expectOk(await client.delete(`/leads/${deleted}`));
    expectError(await client.put("/fields", { key: "region", options: ["EU", "APAC"] }), 409, "field_values_conflict");
    expect(expectOk(await client.put("/fields", { key: "region", options: ["EU", "US"] })).field.options).toEqual(["EU", "US"]);
    expectOk(await client.patch(`/leads/${usesUs}`, { customFields: { region: null } }));
    expect(expectOk(await client.put("/fields", { key: "region", options: ["EU"] })).field.options).toEqual(["EU"]);
  });

  it("refuses a change to a select type without options, and a rename of the key", async () => {
    const client = await workspace();
    const field = await define(client, { key: "size", fieldType: "text" });
    expectError(await client.put("/fields", { id: field.id, fieldType: "select" }), 400, "invalid_field_options");
    const error = expectError(await client.put("/fields", { id: field.id, key: "volume" }), 400, "field_key_immutable");
    expect(error.hint).toMatch(/create a new field/);
  });

  it("answers 404 for an unknown field and 400 without id or key", async () => {
    const client = await workspace();
    expectError(await client.put("/fields", { id: "cf_000000000000000000000000", label: "X" }), 404, "not_found");
    expectError(await client.put("/fields", { key: "nothing", label: "X" }), 404, "not_found");
    const error = expectError(await client.put("/fields", { label: "X" }), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "id", message: "id or key is required" }]);
  });

  it("warns when there is nothing to change, and when a field becomes required for leads without a value", async () => {
    const client = await workspace();
    await define(client, { key: "seats", fieldType: "number" });
    expect(expectOk(await client.put("/fields", { key: "seats" })).warnings).toEqual(["Nothing to change: send label, fieldType, options, required and/or order"]);
    await createLead(client);
    expect(expectOk(await client.put("/fields", { key: "seats", required: true })).warnings[0]).toMatch(/^1 existing lead\(s\) have no seats yet/);
  });
});

describe("DELETE /fields", () => {
  it("deletes by id or key; leads keep their values, now free-form", async () => {
    const client = await workspace();
    const seats = await define(client, { key: "seats", fieldType: "number" });
    await define(client, { key: "region", fieldType: "select", options: ["EU"] });
    const leadId = await createLead(client, { customFields: { seats: 3, region: "EU" } });

    const byId = expectOk(await client.delete(`/fields?id=${seats.id}`));
    expect(byId).toMatchObject({ id: seats.id, key: "seats", deleted: true, leadsWithValues: 1 });
    expect(byId.warnings).toEqual(["1 lead(s) keep their customFields.seats values; they are no longer checked (free-form)"]);
    expect(expectOk(await client.delete("/fields?key=region")).key).toBe("region");

    expect(await customFieldsOf(client, leadId)).toEqual({ seats: 3, region: "EU" });
    expectOk(await client.patch(`/leads/${leadId}`, { customFields: { seats: "three", region: "Mars" } }));
    expect(expectOk(await client.get("/fields")).total).toBe(0);
  });

  it("answers 404 for an unknown field and 400 without id or key", async () => {
    const client = await workspace();
    expectError(await client.delete("/fields?id=cf_000000000000000000000000"), 404, "not_found");
    expectError(await client.delete("/fields?key=nothing"), 404, "not_found");
    expectError(await client.delete("/fields"), 400, "invalid_request");
  });
});

describe("customFields on leads are checked against the definitions", () => {
  let client: Client;
  beforeAll(async () => {
    client = await workspace();
    await define(client, { key: "notes", fieldType: "text" });
    await define(client, { key: "seats", fieldType: "number" });
    await define(client, { key: "renewal", fieldType: "date" });
    await define(client, { key: "region", label: "Sales region", fieldType: "select", options: ["EU", "US"] });
    await define(client, { key: "tags", fieldType: "multiselect", options: ["vip", "partner"] });
    await define(client, { key: "optedIn", fieldType: "boolean" });
  });

  const valid: [string, unknown][] = [
    ["notes", "Prefers mornings"], ["notes", ""], ["seats", 12], ["seats", 9.5], ["seats", -1],
    ["renewal", "2026-03-01"], ["renewal", "2026-03-01T09:30:00Z"], ["renewal", "2026-03-01T09:30:00.123+02:00"],
    ["region", "EU"], ["tags", ["vip", "partner"]], ["tags", []], ["optedIn", true], ["optedIn", false],
  ];
  const invalid: [string, string, unknown, RegExp][] = [
    ["a number as text", "notes", 42, /must be text/], ["text over 10,000 characters", "notes", "x".repeat(10_001), /must be text/],
    ["a numeric string as number", "seats", "12", /must be a number/], ["a boolean as number", "seats", true, /must be a number/],
    ["February 30th", "renewal", "2026-02-30", /must be a date/], ["a US-style date", "renewal", "03/01/2026", /must be a date/],
    ["a word as date", "renewal", "tomorrow", /must be a date/], ["a number as date", "renewal", 20260301, /must be a date/],
    ["an option in the wrong case", "region", "eu", /must be one of "EU", "US"/], ["an array as select", "region", ["EU"], /must be one of/],
    ["a string as multiselect", "tags", "vip", /must be an array of options from "vip", "partner"/],
    ["an unknown option in multiselect", "tags", ["vip", "gold"], /array of options/], ["a number in multiselect", "tags", [1], /array of options/],
    ["a string as boolean", "optedIn", "true", /must be a boolean/], ["a number as boolean", "optedIn", 1, /must be a boolean/],
  ];

  it.each(valid)("POST /leads accepts customFields.%s = %j", async (key, value) => {
    const id = await createLead(client, { customFields: { [key]: value } });
    expect((await customFieldsOf(client, id))[key]).toEqual(value);
  });

  it.each(invalid)("POST /leads refuses %s (customFields.%s) with 400 naming the field and type", async (_label, key, value, expected) => {
    const error = expectError(await client.post("/leads", lead({ customFields: { [key]: value } })), 400, "invalid_custom_field");
    expect(error.message).toMatch(new RegExp(`^customFields\\.${key} must be `));
    expect(error.message).toMatch(expected);
    expect(error.hint).toMatch(/GET \/api\/openclaw\/fields/);
  });

  it("names the label, type and options in the hint", async () => {
    const error = expectError(await client.post("/leads", lead({ customFields: { region: "Mars" } })), 400, "invalid_custom_field");
    expect(error.message).toBe('customFields.region must be one of "EU", "US", got "Mars"');
    expect(error.hint).toBe('region ("Sales region") is a select field: send one of "EU", "US", or null to clear it. GET /api/openclaw/fields lists the definitions.');
  });

  it("accepts null for any field and keys without a definition (free-form)", async () => {
    const id = await createLead(client, { customFields: { seats: null, somethingElse: { nested: [1, "two"] } } });
    expect(await customFieldsOf(client, id)).toEqual({ seats: null, somethingElse: { nested: [1, "two"] } });
  });

  it("PATCH /leads refuses a bad value and changes nothing; a good one merges", async () => {
    const id = await createLead(client, { customFields: { seats: 3 } });
    const error = expectError(await client.patch(`/leads/${id}`, { firstName: "Changed", customFields: { seats: "four" } }), 400, "invalid_custom_field");
    expect(error.message).toMatch(/^customFields\.seats must be a number/);
    expect(expectOk(await client.get(`/leads/${id}`)).lead).toMatchObject({ firstName: "Jane", customFields: { seats: 3 } });
    expectOk(await client.patch("/leads", { id, customFields: { region: "US" } }));
    expect(await customFieldsOf(client, id)).toEqual({ seats: 3, region: "US" });
    expectError(await client.patch("/leads", { id, customFields: { optedIn: "no" } }), 400, "invalid_custom_field");
  });

  it("PUT /leads refuses a bad value with 400 naming the field", async () => {
    const id = await createLead(client);
    const error = expectError(await client.put("/leads", lead({ id, customFields: { tags: ["gold"] } })), 400, "invalid_custom_field");
    expect(error.message).toMatch(/^customFields\.tags must be an array of options/);
    expect(expectOk(await client.put("/leads", lead({ id, customFields: { tags: ["vip"] } }))).lead.customFields).toEqual({ tags: ["vip"] });
  });
});

describe("required custom fields", () => {
  let client: Client;
  beforeAll(async () => {
    client = await workspace();
    await define(client, { key: "source", fieldType: "select", options: ["web", "referral"], required: true });
  });

  it("POST /leads without the field is refused with 400 naming it and its options", async () => {
    const error = expectError(await client.post("/leads", lead()), 400, "invalid_custom_field");
    expect(error.message).toBe('customFields.source is required (one of "web", "referral")');
    expect(error.hint).toMatch(/^Send customFields\.source/);
    expectError(await client.post("/leads", lead({ customFields: { source: null } })), 400, "invalid_custom_field");
    expect(await customFieldsOf(client, await createLead(client, { customFields: { source: "web" } }))).toEqual({ source: "web" });
  });

  it("PATCH without customFields leaves it alone; clearing it with PATCH or PUT is refused", async () => {
    const id = await createLead(client, { customFields: { source: "referral" } });
    expectOk(await client.patch(`/leads/${id}`, { status: "contacted" }));
    expect(expectError(await client.patch(`/leads/${id}`, { customFields: { source: null } }), 400, "invalid_custom_field").message)
      .toMatch(/^customFields\.source is required/);
    expectError(await client.put("/leads", lead({ id, customFields: { source: null } })), 400, "invalid_custom_field");
    expect(expectOk(await client.put("/leads", lead({ id, customFields: { source: "web" } }))).lead.customFields).toEqual({ source: "web" });
  });
});

describe("custom fields across workspaces", () => {
  it("org B neither sees, changes nor deletes org A's fields, and A's definitions do not apply to B's leads", async () => {
    const a = await workspace();
    const b = await workspace();
    const field = await define(a, { key: "seats", fieldType: "number", required: true });

    expect(expectOk(await b.get("/fields")).total).toBe(0);
    expectError(await b.put("/fields", { id: field.id, label: "Hacked" }), 404, "not_found");
    expectError(await b.put("/fields", { key: "seats", fieldType: "text" }), 404, "not_found");
    expectError(await b.delete(`/fields?id=${field.id}`), 404, "not_found");
    expectError(await b.delete("/fields?key=seats"), 404, "not_found");

    const bLead = await createLead(b, { customFields: { seats: "many" } });
    expect(await customFieldsOf(b, bLead)).toEqual({ seats: "many" });
    expect(expectOk(await b.post("/fields", { key: "seats", fieldType: "text" }), 201).field.fieldType).toBe("text");

    expect(expectOk(await a.get("/fields")).fields).toEqual([field]);
  });
});
