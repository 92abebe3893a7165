import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { as, call, createLead, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";

let ws: Workspace;
let client: ReturnType<typeof as>;

beforeAll(async () => {
  ws = await signup();
  client = as(ws);
});

const write = async (leadId: string, fields: Record<string, unknown> = {}) =>
  expectOk(await client.post("/notes", { leadId, content: "A note", ...fields }), 201);
const list = async (query: string) => expectOk(await client.get(`/notes?${query}`));

describe("POST /notes", () => {
  it("writes a manual, unpinned note and answers 201 with id and the note", async () => {
    const leadId = await createLead(client);
    const body = await write(leadId, { content: "Called Jane: budget approved for Q3." });
    expect(body.id).toMatch(/^note_[0-9a-f]{24}$/);
    expect(body.note).toEqual({
      id: body.id, leadId, type: "manual", content: "Called Jane: budget approved for Q3.", pinned: false,
      createdBy: expect.stringMatching(/^key_[0-9a-f]{24}$/), createdAt: expect.any(String), updatedAt: expect.any(String),
    });
    expect(body.note.updatedAt).toBe(body.note.createdAt);
    expect(body.warnings).toEqual([]);
    expect(body.next_steps).toEqual([`GET /api/openclaw/notes?leadId=${leadId} lists the lead's notes`]);
  });

  it("accepts every note type and a pinned flag", async () => {
    const leadId = await createLead(client);
    for (const type of ["manual", "transcript_summary", "ai_insight", "system"]) {
      const body = await write(leadId, { type, pinned: true, content: `A ${type} note` });
      expect(body.note).toMatchObject({ type, pinned: true, content: `A ${type} note` });
    }
  });

  it("stores content exactly as written, markdown indentation and newlines included", async () => {
    const leadId = await createLead(client);
    const content = "  - indented item\n\n```\ncode\n```\n";
    expect((await write(leadId, { content })).note.content).toBe(content);
  });

  it("refuses an unknown type, naming the valid ones", async () => {
    const leadId = await createLead(client);
    const error = expectError(await client.post("/notes", { leadId, content: "x", type: "memo" }), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "type", message: "must be one of: manual, transcript_summary, ai_insight, system" }]);
    expect(error.hint).toMatch(/manual, transcript_summary, ai_insight, system/);
  });

  it("refuses missing, empty, blank and over-long content", async () => {
    const leadId = await createLead(client);
    for (const content of [undefined, "", "  \n\t ", "x".repeat(100_001)]) {
      const error = expectError(await client.post("/notes", { leadId, content }), 400, "invalid_request");
      expect(error.fields.map((f: { field: string }) => f.field)).toEqual(["content"]);
    }
    expect((await write(leadId, { content: "x".repeat(100_000) })).note.content).toHaveLength(100_000);
  });

  it("refuses a missing leadId with a hint on where to find lead ids", async () => {
    const error = expectError(await client.post("/notes", { content: "orphan" }), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "leadId", message: "is required" }]);
    expect(error.hint).toMatch(/leadId.*GET \/api\/openclaw\/leads/);
  });

  it("refuses a non-boolean pinned", async () => {
    const leadId = await createLead(client);
    const error = expectError(await client.post("/notes", { leadId, content: "x", pinned: "yes" }), 400, "invalid_request");
    expect(error.fields[0].field).toBe("pinned");
  });

  it("answers 404 for a lead that does not exist", async () => {
    const error = expectError(await client.post("/notes", { leadId: "rp_000000000000000000000000", content: "x" }), 404, "not_found");
    expect(error.hint).toMatch(/GET \/api\/openclaw\/leads/);
  });

  it("writes a note on a soft-deleted lead, with a warning that the lead is deleted", async () => {
    const leadId = await createLead(client);
    expectOk(await client.delete(`/leads/${leadId}`));
    const body = await write(leadId, { content: "Post-mortem" });
    expect(body.note.leadId).toBe(leadId);
    expect(body.warnings).toEqual([expect.stringContaining(`Lead ${leadId} is soft-deleted`)]);
  });

  it("ignores unknown fields and names them in warnings", async () => {
    const leadId = await createLead(client);
    const body = await write(leadId, { author: "me", color: "red" });
    expect(body.warnings).toEqual([expect.stringMatching(/^Ignored field\(s\): author, color\./)]);
  });

  it("replays a retry with the same Idempotency-Key instead of writing the note twice", async () => {
    const leadId = await createLead(client);
    const headers = { "idempotency-key": randomUUID() };
    const first = expectOk(await client.post("/notes", { leadId, content: "Once" }, { headers }), 201);
    const again = await client.post("/notes", { leadId, content: "Once" }, { headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(first.id);
    expect((await list(`leadId=${leadId}`)).total).toBe(1);
  });
});

describe("GET /notes", () => {
  let leadId: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    leadId = await createLead(client);
    // Written one after another, so each is newer than the one before.
    ids.oldPinned = (await write(leadId, { content: "old pinned", pinned: true })).id;
    ids.manual = (await write(leadId, { content: "manual" })).id;
    ids.summary = (await write(leadId, { content: "summary", type: "transcript_summary" })).id;
    ids.newPinned = (await write(leadId, { content: "new pinned", pinned: true, type: "ai_insight" })).id;
    ids.newest = (await write(leadId, { content: "newest" })).id;
  });

  it("lists the lead's notes pinned first, then newest first, with total, limit and offset", async () => {
    const body = await list(`leadId=${leadId}`);
    expect(body.notes.map((n: { id: string }) => n.id)).toEqual([ids.newPinned, ids.oldPinned, ids.newest, ids.summary, ids.manual]);
    expect(body).toMatchObject({ leadId, total: 5, limit: 50, offset: 0, warnings: [], next_steps: [] });
    expect(body.notes[0]).toEqual({
      id: ids.newPinned, leadId, type: "ai_insight", content: "new pinned", pinned: true,
      createdBy: expect.any(String), createdAt: expect.any(String), updatedAt: expect.any(String),
    });
  });

  it("filters by type", async () => {
    const body = await list(`leadId=${leadId}&type=transcript_summary`);
    expect(body.notes.map((n: { id: string }) => n.id)).toEqual([ids.summary]);
    expect(body.total).toBe(1);
  });

  it("filters by pinned=true and pinned=false", async () => {
    expect((await list(`leadId=${leadId}&pinned=true`)).notes.map((n: { id: string }) => n.id)).toEqual([ids.newPinned, ids.oldPinned]);
    expect((await list(`leadId=${leadId}&pinned=false`)).notes.map((n: { id: string }) => n.id)).toEqual([ids.newest, ids.summary, ids.manual]);
  });

  it("pages with limit and offset, pointing at the next page", async () => {
    const first = await list(`leadId=${leadId}&limit=2`);
    expect(first.notes.map((n: { id: string }) => n.id)).toEqual([ids.newPinned, ids.oldPinned]);
    expect(first).toMatchObject({ total: 5, limit: 2, offset: 0 });
    expect(first.next_steps).toEqual([`GET /api/openclaw/notes?leadId=${leadId}&offset=2&limit=2 for the next page`]);
    const last = await list(`leadId=${leadId}&limit=2&offset=4`);
    expect(last.notes.map((n: { id: string }) => n.id)).toEqual([ids.manual]);
    expect(last.next_steps).toEqual([]);
  });

  it("caps limit at 200 with a warning", async () => {
    const body = await list(`leadId=${leadId}&limit=500`);
    expect(body.limit).toBe(200);
    expect(body.warnings).toEqual(["limit capped at 200"]);
  });

  it("answers an empty list for a lead without notes, suggesting how to write one", async () => {
    const empty = await createLead(client);
    const body = await list(`leadId=${empty}`);
    expect(body).toMatchObject({ notes: [], total: 0 });
    expect(body.next_steps).toEqual([`POST /api/openclaw/notes { "leadId": "${empty}", "content": "…" } to write one`]);
  });

  it("requires leadId, with a hint saying how to pass it", async () => {
    const error = expectError(await client.get("/notes"), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "leadId", message: "is required" }]);
    expect(error.hint).toMatch(/^Pass the lead's id as leadId/);
  });

  it("refuses an unknown type filter, a pinned value other than true/false, and a bad limit", async () => {
    expect(expectError(await client.get(`/notes?leadId=${leadId}&type=memo`), 400).hint).toMatch(/manual, transcript_summary/);
    expect(expectError(await client.get(`/notes?leadId=${leadId}&pinned=yes`), 400).fields[0].field).toBe("pinned");
    expect(expectError(await client.get(`/notes?leadId=${leadId}&limit=0`), 400).fields[0].field).toBe("limit");
    expect(expectError(await client.get(`/notes?leadId=${leadId}&offset=-1`), 400).fields[0].field).toBe("offset");
  });

  it("answers 404 for a lead that does not exist", async () => {
    expectError(await client.get("/notes?leadId=rp_000000000000000000000000"), 404, "not_found");
  });

  it("keeps a soft-deleted lead's notes readable, with a warning", async () => {
    const gone = await createLead(client);
    const noteId = (await write(gone, { content: "still here" })).id;
    expectOk(await client.delete(`/leads/${gone}`));
    const body = await list(`leadId=${gone}`);
    expect(body.notes.map((n: { id: string }) => n.id)).toEqual([noteId]);
    expect(body.warnings).toEqual([expect.stringContaining(`Lead ${gone} is soft-deleted`)]);
  });

  it("deletes a lead's notes when the lead is permanently deleted", async () => {
    const doomed = await createLead(client);
    await write(doomed);
    expectOk(await client.delete(`/leads/${doomed}?permanent=true`));
    expectError(await client.get(`/notes?leadId=${doomed}`), 404, "not_found");
  });
});

describe("PUT /notes", () => {
  let leadId: string;
  beforeAll(async () => {
    leadId = await createLead(client);
  });

  it("changes only content when only content is sent, and stamps updatedAt", async () => {
    const created = (await write(leadId, { content: "draft", pinned: true, type: "ai_insight" })).note;
    const body = expectOk(await client.put("/notes", { id: created.id, content: "final" }));
    expect(body.id).toBe(created.id);
    expect(body.note).toMatchObject({ id: created.id, content: "final", pinned: true, type: "ai_insight", createdAt: created.createdAt });
    expect(new Date(body.note.updatedAt).getTime()).toBeGreaterThan(new Date(created.updatedAt).getTime());
    expect(body.warnings).toEqual([]);
  });

  it("changes only pinned when only pinned is sent", async () => {
    const created = (await write(leadId, { content: "keep me" })).note;
    const body = expectOk(await client.put("/notes", { id: created.id, pinned: true }));
    expect(body.note).toMatchObject({ content: "keep me", pinned: true });
    const unpinned = expectOk(await client.put("/notes", { id: created.id, pinned: false }));
    expect(unpinned.note.pinned).toBe(false);
  });

  it("answers with the note unchanged and a warning when nothing to change was sent", async () => {
    const created = (await write(leadId)).note;
    const body = expectOk(await client.put("/notes", { id: created.id }));
    expect(body.note).toEqual(created);
    expect(body.warnings).toEqual(["Nothing to change: send content and/or pinned"]);
  });

  it("ignores type and leadId (a note's kind and lead stay as written) and says so", async () => {
    const other = await createLead(client);
    const created = (await write(leadId, { content: "stay" })).note;
    const body = expectOk(await client.put("/notes", { id: created.id, type: "system", leadId: other, content: "moved?" }));
    expect(body.note).toMatchObject({ type: "manual", leadId, content: "moved?" });
    expect(body.warnings).toEqual([expect.stringMatching(/^Ignored field\(s\): type, leadId\./)]);
  });

  it("refuses blank content and a missing id", async () => {
    const created = (await write(leadId)).note;
    expect(expectError(await client.put("/notes", { id: created.id, content: "   " }), 400, "invalid_request").fields[0].field).toBe("content");
    const error = expectError(await client.put("/notes", { content: "no id" }), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "id", message: "is required" }]);
    expect(error.hint).toMatch(/note's id in the body/);
  });

  it("answers 404 for a note that does not exist", async () => {
    expectError(await client.put("/notes", { id: "note_000000000000000000000000", content: "x" }), 404, "not_found");
    expectError(await client.put("/notes", { id: "note_000000000000000000000000" }), 404, "not_found");
  });
});

describe("DELETE /notes?id=", () => {
  it("deletes the note for good", async () => {
    const leadId = await createLead(client);
    const keep = (await write(leadId, { content: "keep" })).id;
    const gone = (await write(leadId, { content: "gone" })).id;
    const body = expectOk(await client.delete(`/notes?id=${gone}`));
    expect(body).toMatchObject({ id: gone, leadId, deleted: true });
    expect(body.warnings).toEqual(["Note permanently deleted; this cannot be undone"]);
    expect((await list(`leadId=${leadId}`)).notes.map((n: { id: string }) => n.id)).toEqual([keep]);
    expectError(await client.delete(`/notes?id=${gone}`), 404, "not_found");
  });

  it("requires id, with a hint", async () => {
    const error = expectError(await client.delete("/notes"), 400, "invalid_request");
    expect(error.fields).toEqual([{ field: "id", message: "is required" }]);
    expect(error.hint).toMatch(/DELETE \/api\/openclaw\/notes\?id=/);
  });
});

describe("notes need an API key", () => {
  it("answers 401 to every route without a key", async () => {
    for (const [method, path, json] of [
      ["GET", "/notes?leadId=rp_x", undefined],
      ["POST", "/notes", { leadId: "rp_x", content: "x" }],
      ["PUT", "/notes", { id: "note_x", content: "x" }],
      ["DELETE", "/notes?id=note_x", undefined],
    ] as const) {
      expectError(await call(method, path, json), 401, "missing_api_key");
    }
  });
});

describe("notes tenancy: one workspace never sees or touches another's notes", () => {
  let orgB: ReturnType<typeof as>;
  let leadA: string;
  let noteA: { id: string; content: string; pinned: boolean; updatedAt: string };

  beforeAll(async () => {
    orgB = as(await signup());
    leadA = await createLead(client);
    noteA = (await write(leadA, { content: "A's secret", pinned: true })).note;
    expectOk(await orgB.post("/leads", lead()), 201);
  });

  it("answers 404 to listing another workspace's lead's notes", async () => {
    expectError(await orgB.get(`/notes?leadId=${leadA}`), 404, "not_found");
    expectError(await orgB.get(`/notes?leadId=${leadA}&pinned=true`), 404, "not_found");
  });

  it("answers 404 to writing a note on another workspace's lead", async () => {
    expectError(await orgB.post("/notes", { leadId: leadA, content: "sneaky" }), 404, "not_found");
  });

  it("answers 404 to editing or deleting another workspace's note", async () => {
    expectError(await orgB.put("/notes", { id: noteA.id, content: "Hacked", pinned: false }), 404, "not_found");
    expectError(await orgB.put("/notes", { id: noteA.id }), 404, "not_found");
    expectError(await orgB.delete(`/notes?id=${noteA.id}`), 404, "not_found");
  });

  it("leaves the owner's note untouched after all of the other workspace's attempts", async () => {
    const body = await list(`leadId=${leadA}`);
    expect(body.notes).toHaveLength(1);
    expect(body.notes[0]).toMatchObject({ id: noteA.id, content: "A's secret", pinned: true, updatedAt: noteA.updatedAt });
  });
});
