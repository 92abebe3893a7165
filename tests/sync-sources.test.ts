// Stage sync sources over HTTP: create (credentials shown once, setup steps per type), list
// (never the secret), change and rotate, delete, validation, and tenancy.
import { beforeAll, describe, expect, it } from "vitest";
import { as, call, expectError, expectOk, signup, type Workspace } from "./support/api.ts";

const PATH = "/stages/sync-sources";
const inboundPath = (url: string) => new URL(url).pathname;

let owner: Workspace;
let other: Workspace;
let api: ReturnType<typeof as>;

beforeAll(async () => {
  [owner, other] = await Promise.all([signup(), signup()]);
  api = as(owner);
});

let counter = 0;
const unique = (label: string) => `${label} ${++counter}-${Math.random().toString(36).slice(2, 8)}`;

async function createSource(body: Record<string, unknown>, client = api) {
  return expectOk(await client.post(PATH, { name: unique("Source"), type: "form_webhook", stage: "Leads", ...body }), 201);
}

describe("POST /stages/sync-sources", () => {
  it("creates a form source with an inbound URL and a secret shown once", async () => {
    const body = await createSource({ eventStages: { "Reply Received": "Engaged" }, fieldMapping: { phone: "contact.tel" } });
    expect(body.id).toMatch(/^ss_[0-9a-f]{24}$/);
    expect(body.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(body.inboundUrl).toMatch(/\/api\/openclaw\/inbound\/[0-9a-f]{48}$/);
    expect(body.syncSource).toMatchObject({
      id: body.id, type: "form_webhook", enabled: true, stage: "Leads", inboundUrl: body.inboundUrl, lastEventAt: null,
      eventStages: { reply_received: { id: expect.stringMatching(/^stg_/), name: "Engaged" } },
    });
    expect(body.syncSource.fieldMapping.phone).toBe("contact.tel");
    expect(body.syncSource.fieldMapping.email).toEqual(["email", "contact.email", "lead.email"]);
    expect(body.syncSource.authentication).toContain("X-OpenClaw-Secret");
    expect(body.pushEndpoint).toBeUndefined();
    expect(body.next_steps.join("\n")).toContain(`X-OpenClaw-Secret: ${body.secret}`);
    expect(body.next_steps.join("\n")).toContain("X-OpenClaw-Event-Id");
  });

  it("tells a generic webhook sender how to sign with HMAC", async () => {
    const body = await createSource({ type: "generic_webhook" });
    expect(body.syncSource.authentication).toContain("HMAC-SHA256");
    expect(body.next_steps.join("\n")).toMatch(/X-OpenClaw-Signature: v1=<hex HMAC-SHA256/);
    expect(body.next_steps.join("\n")).not.toContain(body.secret);
  });

  it("gives a gmail source its Pub/Sub push endpoint with the secret and the data contract", async () => {
    const body = await createSource({ type: "gmail", eventStages: { reply_received: "Engaged" } });
    expect(body.pushEndpoint).toBe(`${body.inboundUrl}?secret=${body.secret}`);
    const steps = body.next_steps.join("\n");
    expect(steps).toContain("push subscription");
    expect(steps).toContain("\"event\": \"reply_received\"");
    expect(steps).toContain("historyId");
    expect(body.syncSource.fieldMapping.email).toBe("contact");
  });

  it("accepts a stage id as well as a name", async () => {
    const stages = expectOk(await api.get("/stages")).stages;
    const engaged = stages.find((s: { name: string }) => s.name === "Engaged");
    const body = await createSource({ stage: engaged.id });
    expect(body.syncSource).toMatchObject({ stage: "Engaged", stageId: engaged.id });
  });

  it("creates a disabled source when asked, with a warning", async () => {
    const body = await createSource({ enabled: false });
    expect(body.syncSource.enabled).toBe(false);
    expect(body.warnings.join(" ")).toContain("disabled");
  });

  it("refuses an unknown stage with 400 naming the valid stages", async () => {
    const error = expectError(await api.post(PATH, { name: unique("Bad stage"), type: "api_sdr", stage: "Nowhere" }), 400, "unknown_stage");
    expect(error.hint).toContain("\"Prospects\"");
    expect(error.hint).toContain("\"Closed Won\"");
  });

  it("refuses an unknown event stage with 400", async () => {
    expectError(await api.post(PATH, { name: unique("Bad event"), type: "api_sdr", stage: "Leads", eventStages: { replied: "Nowhere" } }), 400, "unknown_stage");
  });

  it("refuses an unknown type with 400 listing the types", async () => {
    const error = expectError(await api.post(PATH, { name: unique("Fax"), type: "fax", stage: "Leads" }), 400, "invalid_request");
    expect(error.hint).toContain("gmail, api_sdr, form_webhook, generic_webhook");
  });

  it("lists every missing required field (stage has a default)", async () => {
    const error = expectError(await api.post(PATH, {}), 400, "invalid_request");
    expect(error.fields.map((f: { field: string }) => f.field).sort()).toEqual(["name", "type"]);
  });

  it("refuses an unknown mapping field with the fields it knows", async () => {
    const error = expectError(await api.post(PATH, { name: unique("Bad map"), type: "api_sdr", stage: "Leads", fieldMapping: { shoeSize: "shoe" } }),
      400, "invalid_field_mapping");
    expect(error.message).toContain("shoeSize");
    expect(error.hint).toContain("organizationName");
  });

  it("refuses a mapping value that is not a path", async () => {
    expectError(await api.post(PATH, { name: unique("Bad path"), type: "api_sdr", stage: "Leads", fieldMapping: { phone: 42 } }), 400, "invalid_request");
  });

  it("refuses removing the email mapping", async () => {
    expectError(await api.post(PATH, { name: unique("No email"), type: "api_sdr", stage: "Leads", fieldMapping: { email: null } }), 400, "email_mapping_required");
  });

  it("answers a second source of the same name with 409 naming it, so a retry never issues a second secret", async () => {
    const name = unique("Twice");
    const first = await createSource({ name });
    const error = expectError(await api.post(PATH, { name: name.toUpperCase(), type: "api_sdr", stage: "Leads" }), 409, "sync_source_exists");
    expect(error.message).toContain(first.id);
    expect(error.hint).toContain("rotateSecret");
  });

  it("says Idempotency-Key is not honoured here", async () => {
    const res = await api.post(PATH, { name: unique("Keyed"), type: "api_sdr", stage: "Leads" }, { headers: { "idempotency-key": "abc" } });
    expect(expectOk(res, 201).warnings.join(" ")).toContain("Idempotency-Key is not honoured");
  });

  it("needs an API key", async () => {
    expectError(await call("POST", `/api/openclaw${PATH}`, { name: "x", type: "api_sdr", stage: "Leads" }), 401, "missing_api_key");
  });
});

describe("GET /stages/sync-sources", () => {
  it("lists the workspace's sources without their secrets", async () => {
    const workspace = await signup();
    const client = as(workspace);
    const form = await createSource({ name: "Form" }, client);
    const gmail = await createSource({ name: "Gmail", type: "gmail" }, client);
    const body = expectOk(await client.get(PATH));
    expect(body.total).toBe(2);
    expect(body.syncSources.map((s: { id: string }) => s.id)).toEqual([form.id, gmail.id]);
    expect(body.syncSources[0].inboundUrl).toBe(form.inboundUrl);
    const text = JSON.stringify(body);
    expect(text).not.toContain(form.secret);
    expect(text).not.toContain(gmail.secret);
    expect(text).not.toContain("whsec_");
  });

  it("filters by type and pages", async () => {
    const workspace = await signup();
    const client = as(workspace);
    for (const type of ["api_sdr", "api_sdr", "gmail"]) await createSource({ type }, client);
    const sdr = expectOk(await client.get(`${PATH}?type=api_sdr`));
    expect(sdr.total).toBe(2);
    expect(sdr.syncSources.every((s: { type: string }) => s.type === "api_sdr")).toBe(true);
    const page = expectOk(await client.get(`${PATH}?limit=1&offset=1`));
    expect(page).toMatchObject({ total: 3, limit: 1, offset: 1 });
    expect(page.syncSources).toHaveLength(1);
    expect(page.next_steps[0]).toContain("offset=2");
  });

  it("starts empty with a hint on how to add a source", async () => {
    const body = expectOk(await as(await signup()).get(PATH));
    expect(body).toMatchObject({ syncSources: [], total: 0 });
    expect(body.next_steps[0]).toContain("POST /api/openclaw/stages/sync-sources");
  });

  it("refuses an unknown type filter", async () => {
    expectError(await api.get(`${PATH}?type=fax`), 400, "invalid_request");
  });
});

describe("PUT /stages/sync-sources", () => {
  it("changes name, stage, event stages (merged) and enabled without showing the secret", async () => {
    const source = await createSource({ eventStages: { reply_received: "Engaged", meeting_booked: "Negotiated" } });
    const name = unique("Renamed");
    const body = expectOk(await api.put(PATH, {
      id: source.id, name, stage: "Contacted", enabled: false,
      eventStages: { reply_received: null, form_submitted: "Engaged" }, fieldMapping: { phone: ["tel", "contact.tel"] },
    }));
    expect(body.syncSource).toMatchObject({ name, stage: "Contacted", enabled: false });
    expect(Object.keys(body.syncSource.eventStages).sort()).toEqual(["form_submitted", "meeting_booked"]);
    expect(body.syncSource.fieldMapping.phone).toEqual(["tel", "contact.tel"]);
    expect(body.secret).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain("whsec_");
  });

  it("rotates the secret, returning the new one once", async () => {
    const source = await createSource({ type: "gmail" });
    const body = expectOk(await api.put(PATH, { id: source.id, rotateSecret: true }));
    expect(body.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(body.secret).not.toBe(source.secret);
    expect(body.pushEndpoint).toBe(`${source.inboundUrl}?secret=${body.secret}`);
    expect(body.warnings.join(" ")).toContain("old one no longer works");
  });

  it("rotates the inbound URL", async () => {
    const source = await createSource({});
    const body = expectOk(await api.put(PATH, { id: source.id, rotateToken: true }));
    expect(body.syncSource.inboundUrl).not.toBe(source.inboundUrl);
    expect(body.warnings.join(" ")).toContain(body.syncSource.inboundUrl);
    expectError(await call("POST", inboundPath(source.inboundUrl), { email: "x@example.com" }, { headers: { "x-openclaw-secret": source.secret } }), 404, "not_found");
  });

  it("ignores a type change with a warning", async () => {
    const source = await createSource({});
    const body = expectOk(await api.put(PATH, { id: source.id, type: "gmail" }));
    expect(body.syncSource.type).toBe("form_webhook");
    expect(body.warnings.join(" ")).toContain("type of a source cannot change");
  });

  it("refuses an unknown stage with 400", async () => {
    const source = await createSource({});
    expectError(await api.put(PATH, { id: source.id, stage: "Nowhere" }), 400, "unknown_stage");
  });

  it("refuses renaming onto another source's name with 409", async () => {
    const a = await createSource({});
    const b = await createSource({});
    expectError(await api.put(PATH, { id: b.id, name: a.syncSource.name }), 409, "sync_source_exists");
  });

  it("answers 404 for an unknown id", async () => {
    expectError(await api.put(PATH, { id: "ss_000000000000000000000000", enabled: false }), 404, "not_found");
  });

  it("needs the id", async () => {
    expectError(await api.put(PATH, { enabled: false }), 400, "invalid_request");
  });
});

describe("DELETE /stages/sync-sources", () => {
  it("deletes a source; its inbound URL then answers 404", async () => {
    const source = await createSource({});
    const body = expectOk(await api.delete(`${PATH}?id=${source.id}`));
    expect(body).toMatchObject({ id: source.id, deleted: true });
    expectError(await api.delete(`${PATH}?id=${source.id}`), 404, "not_found");
    expectError(await call("POST", inboundPath(source.inboundUrl), { email: "x@example.com" }, { headers: { "x-openclaw-secret": source.secret } }), 404);
    const list = expectOk(await api.get(PATH));
    expect(list.syncSources.map((s: { id: string }) => s.id)).not.toContain(source.id);
  });

  it("needs the id", async () => {
    expectError(await api.delete(PATH), 400, "invalid_request");
  });
});

describe("stages a sync source targets", () => {
  it("cannot be deleted until the source points elsewhere", async () => {
    const workspace = await signup();
    const client = as(workspace);
    const created = expectOk(await client.post("/stages", { name: "Webinar" }), 201);
    const source = await createSource({ stage: "Leads", eventStages: { webinar_attended: "Webinar" } }, client);
    const error = expectError(await client.delete(`/stages?id=${created.id}`), 409, "stage_used_by_sync_source");
    expect(error.message).toContain(source.id);
    expect(error.hint).toContain("PUT /api/openclaw/stages/sync-sources");
    expectOk(await client.put(PATH, { id: source.id, eventStages: { webinar_attended: null } }));
    expectOk(await client.delete(`/stages?id=${created.id}`));
  });
});

describe("tenancy", () => {
  it("keeps one workspace's sources away from another (404 on its ids)", async () => {
    const source = await createSource({});
    const intruder = as(other);
    const list = expectOk(await intruder.get(PATH));
    expect(list.syncSources.map((s: { id: string }) => s.id)).not.toContain(source.id);
    expectError(await intruder.put(PATH, { id: source.id, enabled: false }), 404, "not_found");
    expectError(await intruder.put(PATH, { id: source.id, rotateSecret: true }), 404, "not_found");
    expectError(await intruder.delete(`${PATH}?id=${source.id}`), 404, "not_found");
    const mine = expectOk(await api.get(PATH)).syncSources.find((s: { id: string }) => s.id === source.id);
    expect(mine).toMatchObject({ enabled: true, inboundUrl: source.inboundUrl });
  });

  it("cannot target another workspace's stage", async () => {
    const theirStages = expectOk(await as(other).get("/stages")).stages;
    expectError(await api.post(PATH, { name: unique("Cross"), type: "api_sdr", stage: theirStages[0].id }), 400, "unknown_stage");
  });
});
