// Data in and out in bulk, over real HTTP: POST /leads/batch, CSV imports, GET /leads/export,
// cursor pages, duplicates and merges, search.
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { as, baseUrl, createLead, expectError, expectOk, signup, type Workspace } from "./support/api.ts";
import { waitFor } from "./support/wait.ts";

const FREE_LIMIT = 100;
const email = (label = "lead") => `${label}-${randomUUID()}@example.com`;

let sql: postgres.Sql;
beforeAll(() => {
  sql = postgres(inject("databaseUrl"), { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end({ timeout: 2 });
});

const leadCount = async (orgId: string, where = sql`true`) =>
  Number((await sql`select count(*) as n from app.leads where org_id = ${orgId} and ${where}`)[0]!.n);

/** Sends a CSV file to POST /imports as it would go from curl --data-binary. */
async function importCsv(ws: Workspace, body: BodyInit, headers: Record<string, string> = { "content-type": "text/csv" }, query = "") {
  const res = await fetch(`${baseUrl()}/api/openclaw/imports${query}`, {
    method: "POST", headers: { authorization: `Bearer ${ws.apiKey}`, ...headers }, body,
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a non-JSON answer fails the caller's assertions
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/**
 * Announces a text/csv upload of the given size and waits for the answer before sending any of
 * it, as a client using Expect: 100-continue would: a refusal by Content-Length comes back
 * without the client writing into a socket the server is closing.
 */
function announceUpload(ws: Workspace, bytes: number): Promise<{ status: number; body: any; headers: Headers }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl()}/api/openclaw/imports`, {
      method: "POST",
      headers: { authorization: `Bearer ${ws.apiKey}`, "content-type": "text/csv", "content-length": String(bytes) },
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        req.destroy();
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === "string") headers.set(name, value);
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers });
      });
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

async function download(ws: Workspace, path: string) {
  const res = await fetch(`${baseUrl()}/api/openclaw${path}`, { headers: { authorization: `Bearer ${ws.apiKey}` } });
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

describe("POST /leads/batch", () => {
  it("creates, updates (PATCH semantics), leaves unchanged and fails item by item, with a hint per failure", async () => {
    const ws = await signup();
    const client = as(ws);
    const existing = email();
    const id = await createLead(client, { email: existing, phone: "111", customFields: { a: 1, b: 2 }, crmData: { x: "y" } });
    const same = email();
    await createLead(client, { email: same, firstName: "Same" });
    const reply = expectOk(await client.post("/leads/batch", {
      items: [
        { email: existing.toUpperCase(), phone: null, customFields: { a: null, c: 3 }, title: "CEO" },
        { email: email(), firstName: "New", stage: "Engaged" },
        { email: same, firstName: "Same" },
        { email: "not-an-email", firstName: "Bad" },
        { email: email() },
        { email: email(), firstName: "X", stage: "No such stage" },
      ],
    }));
    expect(reply.results.map((r: any) => r.result)).toEqual(["updated", "created", "unchanged", "failed", "failed", "failed"]);
    expect(reply).toMatchObject({ created: 1, updated: 1, unchanged: 1, failed: 3 });
    expect(reply.results[0].id).toBe(id);
    for (const failed of reply.results.filter((r: any) => r.result === "failed")) {
      expect(failed.error).toMatchObject({ code: expect.any(String), message: expect.any(String), hint: expect.any(String), status: 400 });
    }
    expect(reply.results.slice(3).map((r: any) => r.error.code)).toEqual(["invalid_email", "missing_first_name", "unknown_stage"]);
    expect(reply.results[5].error.hint).toContain("Engaged");
    const lead = expectOk(await client.get(`/leads/${id}`)).lead;
    expect(lead).toMatchObject({ phone: null, title: "CEO", customFields: { b: 2, c: 3 }, crmData: { x: "y" }, email: existing });
    expect(expectOk(await client.get(`/leads/${reply.results[1].id}`)).lead.stage).toBe("Engaged");
    expect(reply.warnings[0]).toMatch(/3 of 6 item\(s\) failed/);
  });

  it("fails a second item with the same email (case-insensitive) and keeps the first", async () => {
    const ws = await signup();
    const address = email();
    const reply = expectOk(await as(ws).post("/leads/batch", { items: [{ email: address, firstName: "One" }, { email: address.toUpperCase(), firstName: "Two" }] }));
    expect(reply.results.map((r: any) => r.result)).toEqual(["created", "failed"]);
    expect(reply.results[1].error.code).toBe("duplicate_item");
  });

  it("counts the plan exactly: new leads past the room fail with lead_limit_reached, the rest land", async () => {
    const ws = await signup();
    const client = as(ws);
    const first = expectOk(await client.post("/leads/batch", {
      items: Array.from({ length: FREE_LIMIT - 3 }, (_, i) => ({ email: email(`fill${i}`), firstName: "Fill" })),
    }));
    expect(first.created).toBe(FREE_LIMIT - 3);
    const known = first.results[0].id;
    const knownEmail = expectOk(await client.get(`/leads/${known}`)).lead.email;
    const reply = expectOk(await client.post("/leads/batch", {
      items: [
        ...Array.from({ length: 5 }, (_, i) => ({ email: email(`over${i}`), firstName: "Over" })),
        { email: knownEmail, status: "contacted" },
      ],
    }));
    expect(reply.results.map((r: any) => r.result)).toEqual(["created", "created", "created", "failed", "failed", "updated"]);
    expect(reply.results[3].error).toMatchObject({ code: "lead_limit_reached", status: 402 });
    expect(reply.results[3].error.message).toMatch(/free tier allows 100 leads/);
    expect(reply.next_steps).toContain("GET /api/openclaw/org/tier shows the plan's room");
    expect(await leadCount(ws.orgId)).toBe(FREE_LIMIT);
  });

  it("stays exact when batches of one workspace race for the last room", async () => {
    const ws = await signup();
    const client = as(ws);
    expectOk(await client.post("/leads/batch", { items: Array.from({ length: FREE_LIMIT - 10 }, () => ({ email: email(), firstName: "F" })) }));
    const replies = await Promise.all(Array.from({ length: 4 }, () =>
      client.post("/leads/batch", { items: Array.from({ length: 6 }, () => ({ email: email(), firstName: "R" })) })));
    const created = replies.map((res) => (res.status === 200 ? res.body.created : 0)).reduce((a, b) => a + b, 0);
    for (const res of replies) expect([200, 429]).toContain(res.status);
    expect(await leadCount(ws.orgId)).toBe(Math.min(FREE_LIMIT, FREE_LIMIT - 10 + created));
    expect(await leadCount(ws.orgId)).toBeLessThanOrEqual(FREE_LIMIT);
  });

  it("honours Idempotency-Key: a retry replays the answer and creates nothing", async () => {
    const ws = await signup();
    const client = as(ws);
    const body = { items: [{ email: email(), firstName: "Once" }] };
    const key = randomUUID();
    const first = expectOk(await client.post("/leads/batch", body, { headers: { "idempotency-key": key } }));
    const again = await client.post("/leads/batch", body, { headers: { "idempotency-key": key } });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first);
    expect(await leadCount(ws.orgId)).toBe(1);
  });

  it("refuses more than 1,000 items, a body without items, and an item that is not an object, with 400", async () => {
    const ws = await signup();
    const notAnObject = expectError(await as(ws).post("/leads/batch", { items: [{ email: email(), firstName: "A" }, "not an object"] }), 400);
    expect(notAnObject.fields).toEqual([expect.objectContaining({ field: "items.1" })]);
    expect(await leadCount(ws.orgId)).toBe(0);
    expectError(await as(ws).post("/leads/batch", { items: Array.from({ length: 1001 }, () => ({ email: "a@b.co" })) }), 400);
    expectError(await as(ws).post("/leads/batch", { items: [] }), 400);
    expectError(await as(ws).post("/leads/batch", {}), 400);
  });
});

describe("POST /imports", () => {
  it("maps the header automatically (names, aliases, custom fields by key or label), strips a BOM and upserts by email", async () => {
    const ws = await signup();
    const client = as(ws);
    expectOk(await client.post("/fields", { key: "practiceSize", label: "Practice size", fieldType: "select", options: ["Small", "Large"] }), 201);
    expectOk(await client.post("/fields", { key: "seats", fieldType: "number" }), 201);
    expectOk(await client.post("/fields", { key: "tags", fieldType: "multiselect", options: ["a", "b", "c"] }), 201);
    const existing = email();
    const id = await createLead(client, { email: existing, phone: "123" });
    const csv = "\uFEFFE-mail,First Name,Surname,Company,Practice size,customFields.seats,cf:tags,Favourite colour\n"
      + `${existing},Jane,Doe,Acme,Large,12,a;c,blue\n`
      + `new-${randomUUID()}@example.com,"Smith, John",,"Acme ""Two""",Small,,b,green\n`
      + `bad-row,X,,,,,,\n`
      + `invalid-${randomUUID()}@example.com,Y,,,Huge,,,\n`;
    const res = importCsv(ws, csv);
    const reply = expectOk(await res, 201);
    expect(reply.import).toMatchObject({ status: "completed", totalRows: 4, processedRows: 4, created: 1, updated: 1, failed: 2, progress: 1 });
    expect(reply.import.columns.map((c: any) => c.field)).toEqual(["email", "firstName", "lastName", "organizationName", "customFields.practiceSize", "customFields.seats", "customFields.tags", null]);
    expect(reply.warnings.join(" ")).toContain("Favourite colour");
    expect(reply.errors.map((e: any) => [e.row, e.code])).toEqual([[3, "invalid_email"], [4, "invalid_custom_field"]]);
    expect(reply.errors[1].hint).toContain("Small");
    const lead = expectOk(await client.get(`/leads/${id}`)).lead;
    expect(lead).toMatchObject({ firstName: "Jane", lastName: "Doe", organizationName: "Acme", phone: "123", customFields: { practiceSize: "Large", seats: 12, tags: ["a", "c"] } });
    const created = expectOk(await client.get(`/leads?source=import&createdBy=import:${reply.import.id}`));
    expect(created.leads).toHaveLength(1);
    expect(created.leads[0]).toMatchObject({ firstName: "Smith, John", organizationName: "Acme \"Two\"" });
    const errors = await download(ws, `/imports/${reply.import.id}/errors`);
    expect(errors.status).toBe(200);
    expect(errors.type).toMatch(/^text\/csv/);
    expect(errors.text.split("\n")[0]).toBe("row,email,code,message,hint,field");
    expect(errors.text).toContain("3,bad-row,invalid_email");
    const got = expectOk(await client.get(`/imports/${reply.import.id}`));
    expect(got.import).toMatchObject({ id: reply.import.id, status: "completed", failed: 2 });
    expect(expectOk(await client.get("/imports")).imports.map((i: any) => i.id)).toEqual([reply.import.id]);
  });

  it("takes a file upload with a mapping, and JSON with the CSV as a string", async () => {
    const ws = await signup();
    const form = new FormData();
    form.set("file", new Blob([`Mail,Given\n${email()},Ann\n`], { type: "text/csv" }), "people.csv");
    form.set("mapping", JSON.stringify({ Mail: "email", Given: "firstName" }));
    const upload = expectOk(await importCsv(ws, form, {}), 201);
    expect(upload.import).toMatchObject({ fileName: "people.csv", created: 1 });
    const json = expectOk(await as(ws).post("/imports", { csv: `email,name\n${email()},Bea Bee\n` }), 201);
    expect(json.import.created).toBe(1);
    const leads = expectOk(await as(ws).get("/leads")).leads.map((l: any) => [l.firstName, l.lastName]);
    expect(leads).toContainEqual(["Bea", "Bee"]);
  });

  it("refuses a malformed file, wrong encoding, an oversized file and too many rows, keeping nothing", async () => {
    const ws = await signup();
    const nothing = async () => {
      expect(await leadCount(ws.orgId)).toBe(0);
      expect(Number((await sql`select count(*) as n from app.imports where org_id = ${ws.orgId}`)[0]!.n)).toBe(0);
    };
    const unclosed = expectError(await importCsv(ws, `email,firstName\n${email()},Ann\n"${email()},Bob\n`), 400, "malformed_csv");
    expect(unclosed.hint).toMatch(/Nothing was imported/);
    expectError(await importCsv(ws, `email,firstName\n${email()},Ann,extra\n`), 400, "malformed_csv");
    // Found only after more rows than a chunk applies have been copied: still nothing lands.
    const late = ["email,firstName", ...Array.from({ length: 2500 }, (_, i) => `late${i}-${randomUUID()}@example.com,L`), `"${email()},Broken`].join("\n");
    expect(expectError(await importCsv(ws, late), 400, "malformed_csv").message).toMatch(/line 2502/);
    expectError(await importCsv(ws, new Uint8Array([...new TextEncoder().encode("email,firstName\na@b.co,"), 0xe9, 0x0a])), 400, "invalid_encoding");
    expectError(await importCsv(ws, "firstName,lastName\nAnn,Lee\n"), 400, "missing_email_column");
    expectError(await importCsv(ws, "email,firstName\n"), 400, "empty_file");
    expectError(await importCsv(ws, "x", { "content-type": "application/pdf" }), 415);
    const tooLarge = expectError(await announceUpload(ws, 10 * 1024 * 1024 + 100 * 1024), 413, "file_too_large");
    expect(tooLarge.hint).toMatch(/Nothing was imported/);
    const rows = ["email,firstName", ...Array.from({ length: 50_001 }, (_, i) => `r${i}@example.com,R`)].join("\n");
    expectError(await importCsv(ws, rows), 413, "too_many_rows");
    await nothing();
  }, 60_000);

  it("fails rows past the plan's room with lead_limit_reached and applies the rest", async () => {
    const ws = await signup();
    expectOk(await as(ws).post("/leads/batch", { items: Array.from({ length: FREE_LIMIT - 2 }, () => ({ email: email(), firstName: "F" })) }));
    const csv = ["email,firstName", ...Array.from({ length: 5 }, (_, i) => `${email(`imp${i}`)},I${i}`)].join("\n");
    const reply = expectOk(await importCsv(ws, csv), 201);
    expect(reply.import).toMatchObject({ created: 2, failed: 3 });
    expect(reply.errors.map((e: any) => e.code)).toEqual(["lead_limit_reached", "lead_limit_reached", "lead_limit_reached"]);
    expect(await leadCount(ws.orgId)).toBe(FREE_LIMIT);
  });

  // Right after the upload's COPY the planner has no statistics of the file's rows: statements
  // planned from none compared every row with every other one (minutes for a large file, or
  // 503 query_timeout on its first chunk). A large file with repeated emails goes through whole.
  it("imports a 20,000-row file with repeated emails in one request, to the plan's limit", async () => {
    const ws = await signup();
    await sql`update app.orgs set tier = 'ultra' where id = ${ws.orgId}`;
    const [ultra] = await sql<{ lead_limit: number }[]>`select lead_limit from app.tiers where tier = 'ultra'`;
    const limit = ultra!.lead_limit;
    const emails = Array.from({ length: 19_000 }, (_, i) => `big${i}-${randomUUID()}@example.com`);
    const csv = ["email,firstName", ...emails.map((e) => `${e},B`), ...emails.slice(0, 1_000).map((e) => `${e.toUpperCase()},Again`)].join("\n");
    const reply = expectOk(await importCsv(ws, csv), 201);
    expect(reply.import).toMatchObject({ status: "completed", totalRows: 20_000, processedRows: 20_000, created: limit, failed: 20_000 - limit });
    expect(await leadCount(ws.orgId)).toBe(limit);
  }, 120_000);

  it("applies concurrent imports of one workspace without duplicates, the plan exact across both", async () => {
    const ws = await signup();
    const shared = Array.from({ length: 30 }, () => email("shared"));
    const fileA = ["email,firstName", ...shared.map((e) => `${e},A`), ...Array.from({ length: 40 }, () => `${email("a")},A`)].join("\n");
    const fileB = ["email,firstName,title", ...shared.map((e) => `${e},B,CTO`), ...Array.from({ length: 40 }, () => `${email("b")},B,`)].join("\n");
    const [a, b] = await Promise.all([importCsv(ws, fileA), importCsv(ws, fileB)]);
    const ra = expectOk(a, 201).import;
    const rb = expectOk(b, 201).import;
    // 110 distinct emails against a room of 100: exactly 100 leads, each email once.
    expect(await leadCount(ws.orgId)).toBe(FREE_LIMIT);
    const dupes = await sql`select email_key from app.leads where org_id = ${ws.orgId} group by email_key having count(*) > 1`;
    expect(dupes).toHaveLength(0);
    expect(ra.created + rb.created).toBe(FREE_LIMIT);
    expect(ra.created + ra.updated + ra.unchanged + ra.failed).toBe(70);
    expect(rb.created + rb.updated + rb.unchanged + rb.failed).toBe(70);
  });

  it("keeps imports of other workspaces apart: another workspace's import is 404", async () => {
    const [a, b] = await Promise.all([signup(), signup()]);
    const reply = expectOk(await importCsv(a, `email,firstName\n${email()},Ann\n`), 201);
    expectError(await as(b).get(`/imports/${reply.import.id}`), 404);
    expectError(await as(b).post(`/imports/${reply.import.id}/resume`), 404);
    expect((await download(b, `/imports/${reply.import.id}/errors`)).status).toBe(404);
  });
});

describe("GET /leads/export", () => {
  it("streams every lead matching GET /leads' filters as CSV, custom fields as columns, and reads back with POST /imports", async () => {
    const ws = await signup();
    const client = as(ws);
    expectOk(await client.post("/fields", { key: "seats", fieldType: "number" }), 201);
    expectOk(await client.post("/fields", { key: "tags", fieldType: "multiselect", options: ["a", "b"] }), 201);
    await createLead(client, { firstName: "Ann", status: "won", customFields: { seats: 3, tags: ["a", "b"], free: "x" }, crmData: { note: "line1\nline2, \"quoted\"" } });
    await createLead(client, { firstName: "Bob", status: "new" });
    const all = await download(ws, "/leads/export");
    expect(all.status).toBe(200);
    expect(all.type).toMatch(/^text\/csv/);
    const header = all.text.split("\n")[0]!.split(",");
    expect(header).toEqual(expect.arrayContaining(["id", "firstName", "email", "stage", "score", "crmData", "customFields", "customFields.seats", "customFields.tags"]));
    const won = await download(ws, "/leads/export?status=won");
    expect(won.text).toContain("Ann");
    expect(won.text).not.toContain("Bob");
    expect(won.text).toContain("a;b");
    // Round trip into another workspace with the same fields.
    const other = await signup();
    expectOk(await as(other).post("/fields", { key: "seats", fieldType: "number" }), 201);
    expectOk(await as(other).post("/fields", { key: "tags", fieldType: "multiselect", options: ["a", "b"] }), 201);
    const imported = expectOk(await importCsv(other, all.text), 201);
    expect(imported.import).toMatchObject({ created: 2, failed: 0 });
    const ann = expectOk(await as(other).get("/leads?q=ann")).leads[0];
    const full = expectOk(await as(other).get(`/leads/${ann.id}`)).lead;
    expect(full).toMatchObject({ status: "won", customFields: { seats: 3, tags: ["a", "b"], free: "x" }, crmData: { note: "line1\nline2, \"quoted\"" } });
  });

  it("streams NDJSON, one lead per line with customFields as an object", async () => {
    const ws = await signup();
    await createLead(as(ws), { firstName: "Nd", customFields: { k: "v\\w" } });
    const res = await download(ws, "/leads/export?format=ndjson");
    expect(res.type).toMatch(/^application\/x-ndjson/);
    const lines = res.text.trim().split("\n").map((line) => JSON.parse(line));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ firstName: "Nd", customFields: { k: "v\\w" } });
  });

  it("streams a large export as it reads it (no Content-Length, many chunks), and a client that goes away frees the workspace's export", async () => {
    const ws = await signup();
    await sql`update app.orgs set tier = 'ultra' where id = ${ws.orgId}`;
    const padding = "x".repeat(200);
    for (let batch = 0; batch < 3; batch++) {
      const reply = expectOk(await as(ws).post("/leads/batch", {
        items: Array.from({ length: 1000 }, (_, i) => ({ email: email(`s${batch}-${i}`), firstName: "Stream", title: padding })),
      }));
      expect(reply.created).toBe(1000);
    }
    const open = () => fetch(`${baseUrl()}/api/openclaw/leads/export`, { headers: { authorization: `Bearer ${ws.apiKey}` } });
    const res = await open();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBeNull();
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let chunks = 0;
    let text = "";
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      chunks++;
      text += decoder.decode(next.value, { stream: true });
    }
    expect(chunks).toBeGreaterThan(1);
    expect(text.trim().split("\n")).toHaveLength(3001);

    // A client that reads one chunk and goes away: the COPY stops and the transaction ends, so
    // the workspace's export slot (one at a time) is free again.
    const abandoned = await open();
    const abandonedReader = abandoned.body!.getReader();
    expect((await abandonedReader.read()).done).toBe(false);
    await abandonedReader.cancel();
    const again = await waitFor(async () => {
      const next = await open();
      if (next.status === 200) return next;
      await next.body?.cancel();
      return undefined;
    }, { what: "another export of the workspace once the first client went away", timeoutMs: 15_000 });
    expect((await again.text()).trim().split("\n")).toHaveLength(3001);
  }, 60_000);

  it("exports only the caller's leads", async () => {
    const [a, b] = await Promise.all([signup(), signup()]);
    await createLead(as(a), { firstName: "OnlyA" });
    expect((await download(b, "/leads/export")).text).not.toContain("OnlyA");
  });
});

describe("cursor pages", () => {
  it("pages GET /leads with nextCursor, stable under inserts and deletes in between", async () => {
    const ws = await signup();
    const client = as(ws);
    expectOk(await client.post("/leads/batch", { items: Array.from({ length: 7 }, (_, i) => ({ email: email(`p${i}`), firstName: `P${i}` })) }));
    const seen: string[] = [];
    let page = expectOk(await client.get("/leads?limit=3"));
    seen.push(...page.leads.map((l: any) => l.id));
    expect(page.nextCursor).toEqual(expect.any(String));
    // Between pages: a new lead (newest, so before the cursor) and a deleted one not yet seen.
    await createLead(client, { firstName: "Later" });
    const all = expectOk(await client.get("/leads?limit=50")).leads.map((l: any) => l.id);
    const unseen = all.filter((id: string) => !seen.includes(id) && id !== all[0]);
    expectOk(await client.delete(`/leads/${unseen[0]}`));
    while (page.nextCursor) {
      page = expectOk(await client.get(`/leads?limit=3&cursor=${page.nextCursor}`));
      seen.push(...page.leads.map((l: any) => l.id));
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toHaveLength(6);
    expect(seen).not.toContain(unseen[0]);
  });

  it("refuses a changed cursor, one for other filters or another list, and another workspace's, with 400 and a hint", async () => {
    const [a, b] = await Promise.all([signup(), signup()]);
    await Promise.all([0, 1, 2].map((i) => createLead(as(a), { firstName: `C${i}`, status: "new" })));
    const page = expectOk(await as(a).get("/leads?limit=1&status=new"));
    const cursor: string = page.nextCursor;
    const [body, mac] = cursor.split(".");
    const tampered = `${body!.slice(0, -2)}${body!.slice(-2) === "AA" ? "BB" : "AA"}.${mac}`;
    for (const [client, path] of [
      [as(a), `/leads?limit=1&status=new&cursor=${tampered}`],
      [as(a), `/leads?limit=1&status=won&cursor=${cursor}`],
      [as(a), `/notes?leadId=${page.leads[0].id}&cursor=${cursor}`],
      [as(b), `/leads?limit=1&status=new&cursor=${cursor}`],
      [as(a), `/leads?limit=1&status=new&cursor=garbage`],
    ] as const) {
      const error = expectError(await client.get(path), 400, "invalid_cursor");
      expect(error.hint).toContain("nextCursor");
    }
    expectError(await as(a).get(`/leads?limit=1&status=new&offset=1&cursor=${cursor}`), 400, "invalid_request");
    expect(expectOk(await as(a).get(`/leads?limit=5&status=new&cursor=${cursor}`)).leads).toHaveLength(2);
  });

  it("gives every list a nextCursor", async () => {
    const ws = await signup();
    const client = as(ws);
    const leadId = await createLead(client);
    for (const i of [1, 2, 3]) expectOk(await client.post("/notes", { leadId, content: `note ${i}` }), 201);
    for (const path of ["/stages?limit=2", `/notes?leadId=${leadId}&limit=2`, `/stages/history?leadId=${leadId}&limit=1`, "/keys?limit=1", "/fields", "/campaigns", "/quizzes", "/webhooks", "/imports", `/events?leadId=${leadId}`, "/leads/stalled", "/feedback", "/stages/sync-sources", "/automation/rules", "/automation/runs", `/touchpoints?leadId=${leadId}`, "/leads/duplicates"]) {
      const reply = expectOk(await client.get(path));
      expect(reply, path).toHaveProperty("nextCursor");
    }
    const first = expectOk(await client.get(`/notes?leadId=${leadId}&limit=2`));
    const second = expectOk(await client.get(`/notes?leadId=${leadId}&limit=2&cursor=${first.nextCursor}`));
    expect(second.notes).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect(first.next_steps[0]).toContain("offset=2");
    expect(expectOk(await client.get(`/stages?limit=3`)).next_steps[0]).toContain("offset=3");
  });
});

describe("duplicates and merges", () => {
  it("finds the same person across emails by name and company, phone, and a similar name", async () => {
    const ws = await signup();
    const client = as(ws);
    const jane = await createLead(client, { firstName: "Jane", lastName: "Doe", organizationName: "Acme Clinic" });
    const jane2 = await createLead(client, { firstName: "jane", lastName: "doe", organizationName: "ACME Clinic Inc" });
    const phone = await createLead(client, { firstName: "Pat", lastName: "One", phone: "+1 (415) 555-0101" });
    const phone2 = await createLead(client, { firstName: "Patricia", lastName: "Two", phone: "415.555.0101" });
    const jon = await createLead(client, { firstName: "Jonathan", lastName: "Smithers", organizationName: "X" });
    const jon2 = await createLead(client, { firstName: "Jonathon", lastName: "Smithers", organizationName: "Y" });
    await createLead(client, { firstName: "Someone", lastName: "Else", organizationName: "Z" });
    const reply = expectOk(await client.get("/leads/duplicates"));
    const pairs = reply.duplicates.map((d: any) => [[d.leadId, d.duplicateId].sort().join(":"), d.reasons]);
    const key = (x: string, y: string) => [x, y].sort().join(":");
    expect(pairs).toContainEqual([key(jane, jane2), ["same_name_and_company", "similar_name"]]);
    expect(pairs).toContainEqual([key(phone, phone2), ["same_phone"]]);
    expect(pairs).toContainEqual([key(jon, jon2), ["similar_name"]]);
    expect(reply.total).toBe(3);
    const one = expectOk(await client.get(`/leads/duplicates?leadId=${jane}`));
    expect(one.duplicates.map((d: any) => d.duplicateId)).toEqual([jane2]);
    expect(one.duplicates[0].similarity).toBe(1);
  });

  it("merges: moves notes, touchpoints, events and history, fills empty fields, soft-deletes the duplicates pointing at the primary", async () => {
    const ws = await signup();
    const client = as(ws);
    const primary = await createLead(client, { firstName: "Jane", customFields: { a: 1 } });
    const dup = await createLead(client, { firstName: "Jane", phone: "555-0100", title: "CEO", customFields: { a: 2, b: 3 } });
    expectOk(await client.post("/notes", { leadId: dup, content: "met at the fair" }), 201);
    expectOk(await client.post("/touchpoints", { leadId: dup, type: "call" }), 201);
    expectOk(await client.post("/events", { leadId: dup, type: "cta_clicked" }), 201);
    const reply = expectOk(await client.post("/leads/merge", { primaryId: primary, duplicateIds: [dup] }));
    expect(reply.merge).toMatchObject({ primaryId: primary, duplicateIds: [dup] });
    expect(reply.merge.moved).toMatchObject({ notes: 1, touchpoints: 1 });
    expect(reply.merge.moved.events).toBeGreaterThanOrEqual(2);
    expect(reply.merge.filled).toEqual(expect.arrayContaining(["phone", "title", "customFields"]));
    expect(reply.lead).toMatchObject({ phone: "555-0100", title: "CEO", customFields: { a: 1, b: 3 } });
    const gone = expectOk(await client.get(`/leads/${dup}`)).lead;
    expect(gone.deletedAt).not.toBeNull();
    expect(Number((await sql`select count(*) as n from app.leads where id = ${dup} and merged_into = ${primary}`)[0]!.n)).toBe(1);
    expect(expectOk(await client.get(`/notes?leadId=${primary}`)).notes.map((n: any) => n.content)).toEqual(["met at the fair"]);
    expect(expectOk(await client.get(`/touchpoints?leadId=${primary}`)).touchpoints).toHaveLength(1);
    expect(Number((await sql`select count(*) as n from app.lead_merges where primary_id = ${primary}`)[0]!.n)).toBe(1);
    expectError(await client.post("/leads/merge", { primaryId: primary, duplicateIds: [dup] }), 409, "already_merged");
  });

  it("refuses a merge across workspaces with 404 and changes nothing", async () => {
    const [a, b] = await Promise.all([signup(), signup()]);
    const mine = await createLead(as(a), { firstName: "Mine" });
    const theirs = await createLead(as(b), { firstName: "Theirs" });
    expectOk(await as(b).post("/notes", { leadId: theirs, content: "private" }), 201);
    expectError(await as(a).post("/leads/merge", { primaryId: mine, duplicateIds: [theirs] }), 404, "not_found");
    expectError(await as(a).post("/leads/merge", { primaryId: theirs, duplicateIds: [mine] }), 404, "not_found");
    const still = expectOk(await as(b).get(`/leads/${theirs}`)).lead;
    expect(still.deletedAt).toBeNull();
    expect(expectOk(await as(b).get(`/notes?leadId=${theirs}`)).notes).toHaveLength(1);
    expect(expectOk(await as(a).get(`/leads/${mine}`)).lead.deletedAt).toBeNull();
  });

  it("refuses merging a lead into itself and a deleted primary", async () => {
    const ws = await signup();
    const client = as(ws);
    const one = await createLead(client);
    const two = await createLead(client);
    expectError(await client.post("/leads/merge", { primaryId: one, duplicateIds: [one] }), 400);
    expectOk(await client.delete(`/leads/${one}`));
    expectError(await client.post("/leads/merge", { primaryId: one, duplicateIds: [two] }), 409, "lead_deleted");
  });
});

describe("GET /leads/search", () => {
  it("ranks leads by name, email, company, notes and enrichment facts, within the workspace only", async () => {
    const [ws, other] = await Promise.all([signup(), signup()]);
    const client = as(ws);
    const byName = await createLead(client, { firstName: "Zelda", lastName: "Quartermaine", organizationName: "Hyrule Dental" });
    const byCompany = await createLead(client, { firstName: "Link", organizationName: "Quartermaine Orthodontics" });
    const byNote = await createLead(client, { firstName: "Impa" });
    expectOk(await client.post("/notes", { leadId: byNote, content: "She asked about the Quartermaine renovation budgets" }), 201);
    const byFact = await createLead(client, { firstName: "Ganon" });
    await sql`insert into app.lead_facts (org_id, lead_id, kind, value) values (${ws.orgId}, ${byFact}, 'school', 'Quartermaine University')`;
    await createLead(as(other), { firstName: "Zelda", lastName: "Quartermaine" });
    const reply = expectOk(await client.get("/leads/search?q=quartermaine"));
    const ids = reply.results.map((r: any) => r.lead.id);
    expect(ids.sort()).toEqual([byName, byCompany, byNote, byFact].sort());
    expect(reply.results[0].lead.id).toBe(byName);
    const note = reply.results.find((r: any) => r.lead.id === byNote);
    expect(note.matched).toContain("note");
    expect(note.snippet).toContain("Quartermaine");
    expect(reply.results.find((r: any) => r.lead.id === byFact).matched).toContain("fact");
    const typo = expectOk(await client.get("/leads/search?q=quartermane"));
    expect(typo.results.map((r: any) => r.lead.id)).toContain(byName);
    expect(expectOk(await client.get(`/leads/search?q=${encodeURIComponent("budgets renovated")}`)).results.map((r: any) => r.lead.id)).toEqual([byNote]);
  });
});
