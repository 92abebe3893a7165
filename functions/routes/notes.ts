// Notes on a lead: list (pinned first, newest first), write, edit content or pin, delete.
// The rules live in app.notes: the composite key to the lead (another org's lead is
// unreachable: notes_lead_fkey answers 404), the types, the content bounds, and which
// columns a tenant may change. This file validates, calls and shapes the reply.
import { createRoute, z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import { noteTypes } from "../http/enums.ts";
import { notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const NoteType = z.enum(noteTypes, { error: `must be one of: ${noteTypes.join(", ")}` });
const Content = z.string().max(100_000).regex(/\S/, "must not be blank")
  .openapi({ description: "The note text (up to 100,000 characters), stored as written.", example: "Called Jane: budget approved for Q3, wants a demo next week." });
const LeadId = z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rp_3f9c0a1b2c3d4e5f6a7b8c9d" });
const NoteId = z.string({ error: "is required" }).min(1).max(100).openapi({ example: "note_3f9c0a1b2c3d4e5f6a7b8c9d" });

const createFields = {
  leadId: LeadId,
  content: Content,
  type: NoteType.optional().openapi({ description: "Default manual." }),
  pinned: z.boolean().optional().openapi({ description: "Pinned notes list first. Default false." }),
};
const CreateNote = z.looseObject(createFields).openapi("CreateNoteRequest");

const updateFields = {
  id: NoteId,
  content: Content.optional(),
  pinned: z.boolean().optional(),
};
const UpdateNote = z.looseObject(updateFields).openapi("UpdateNoteRequest");

const Note = z.object({
  id: z.string(),
  leadId: z.string(),
  type: z.enum(noteTypes),
  content: z.string(),
  pinned: z.boolean(),
  createdBy: z.string().openapi({ description: "The API key (or database user) that wrote it." }),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Note");
type NoteRow = z.infer<typeof Note>;

const NoteReply = envelope({ id: z.string(), note: Note }).openapi("NoteReply");
const DeletedReply = envelope({ id: z.string(), leadId: z.string(), deleted: z.literal(true) }).openapi("DeletedNoteReply");

const ListQuery = z.object({
  leadId: LeadId,
  type: NoteType.optional(),
  pinned: z.enum(["true", "false"], { error: "must be true or false" }).transform((v) => v === "true").optional()
    .openapi({ description: "Only pinned (true) or unpinned (false) notes." }),
  ...pageQuery,
});
const ListReply = envelope({
  leadId: z.string(),
  notes: z.array(Note),
  ...pageFields,
}).openapi("NoteListReply");
const DeleteQuery = z.object({ id: NoteId });

const hints = {
  leadId: "Pass the lead's id as leadId (e.g. leadId=rp_…); GET /api/openclaw/leads lists your leads.",
  type: `type is one of: ${noteTypes.join(", ")}.`,
};

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const noteSelect = `
  id, lead_id as "leadId", type, content, pinned, created_by as "createdBy",
  created_at as "createdAt", updated_at as "updatedAt"`;

/** The note and whether its lead is soft-deleted, read in the statement that wrote it. */
type WrittenNote = NoteRow & { leadDeleted: boolean };
const writtenSelect = (db: Tx) => db.unsafe(`${noteSelect},
  exists (select from app.leads l where l.id = notes.lead_id and l.deleted_at is not null) as "leadDeleted"`);

const deletedLeadWarning = (leadId: string) =>
  `Lead ${leadId} is soft-deleted; its notes stay with it and show again if it is restored (PATCH /api/openclaw/leads/${leadId} { "restore": true })`;

const listNext = (leadId: string) => `GET /api/openclaw/notes?leadId=${leadId} lists the lead's notes`;

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  operationId: "listNotes",
  method: "get", path: "/notes", tags: ["Notes"], summary: "A lead's notes, pinned first, then newest first",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of the lead's notes."), ...notFoundError, ...commonErrors },
});
const createNoteRoute = createRoute({
  operationId: "createNote",
  method: "post", path: "/notes", tags: ["Notes"], summary: "Write a note on a lead",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(CreateNote),
  responses: { 201: json(NoteReply, "Note written."), ...notFoundError, ...idempotencyError, ...commonErrors },
});
const updateRoute = createRoute({
  operationId: "updateNote",
  method: "put", path: "/notes", tags: ["Notes"], summary: "Edit a note's content or pin (id in body; only the fields sent change)",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(UpdateNote),
  responses: { 200: json(NoteReply, "Note updated."), ...notFoundError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "deleteNote",
  method: "delete", path: "/notes", tags: ["Notes"], summary: "Delete a note (permanently)",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: DeleteQuery },
  responses: { 200: json(DeletedReply, "Note deleted."), ...notFoundError, ...commonErrors },
});

export const notesRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/notes",
      sort: [{ sql: "pinned", type: "boolean", desc: true }, { sql: "created_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
      filters: { leadId: query.leadId, type: query.type, pinned: query.pinned },
    });
    const filters = [
      db`lead_id = ${query.leadId}`,
      ...(query.type !== undefined ? [db`type = ${query.type}`] : []),
      ...(query.pinned !== undefined ? [db`pinned = ${query.pinned}`] : []),
    ];
    const where = filters.reduce((all, f) => db`${all} and ${f}`);
    const [[lead], fetched, [count]] = await Promise.all([
      db<{ deleted: boolean }[]>`select deleted_at is not null as deleted from app.leads where id = ${query.leadId}`,
      db<NoteRow[]>`
        select ${db.unsafe(noteSelect)}, ${page.keys(db)} from app.notes where ${where} and ${page.after(db)}
        order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.notes where ${where}`,
    ]);
    if (!lead) throw notFound("Lead", query.leadId);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { leadId: query.leadId, notes: rows, ...page.fields(total) }, {
      warnings: [...page.warnings, ...(lead.deleted ? [deletedLeadWarning(query.leadId)] : [])],
      next_steps: [
        ...page.next("/notes", { leadId: query.leadId, type: query.type, pinned: query.pinned === undefined ? undefined : String(query.pinned) }),
        ...(total === 0 ? [`POST /api/openclaw/notes { "leadId": "${query.leadId}", "content": "…" } to write one`] : []),
      ],
    });
  }, validationWithHints(hints))
  .openapi(createNoteRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = {
      lead_id: input.leadId,
      content: input.content,
      ...(input.type !== undefined ? { type: input.type } : {}),
      ...(input.pinned !== undefined ? { pinned: input.pinned } : {}),
    };
    // A lead that is not this org's fails notes_lead_fkey, which answers 404.
    const [row] = await db<WrittenNote[]>`insert into app.notes ${db(values)} returning ${writtenSelect(db)}`;
    const { leadDeleted, ...note } = row!;
    return reply(c, { id: note.id, note }, {
      warnings: [
        ...(leadDeleted ? [deletedLeadWarning(note.leadId)] : []),
        ...ignoredFieldWarnings(input, Object.keys(createFields), "A note has leadId, content, type and pinned."),
      ],
      next_steps: [listNext(note.leadId)],
    }, 201);
  }, validationWithHints(hints))
  .openapi(updateRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = {
      ...(input.content !== undefined ? { content: input.content } : {}),
      ...(input.pinned !== undefined ? { pinned: input.pinned } : {}),
    };
    const warnings = ignoredFieldWarnings(input, Object.keys(updateFields), "PUT changes content and pinned; a note's lead and type stay as written.");
    const changing = Object.keys(values).length > 0;
    if (!changing) warnings.push("Nothing to change: send content and/or pinned");
    const [row] = changing
      ? await db<WrittenNote[]>`update app.notes set ${db(values)} where id = ${input.id} returning ${writtenSelect(db)}`
      : await db<WrittenNote[]>`select ${writtenSelect(db)} from app.notes where id = ${input.id}`;
    if (!row) throw notFound("Note", input.id);
    const { leadDeleted, ...note } = row;
    if (leadDeleted) warnings.push(deletedLeadWarning(note.leadId));
    return reply(c, { id: note.id, note }, { warnings, next_steps: [listNext(note.leadId)] });
  }, validationWithHints({ id: "Send the note's id in the body: { \"id\": \"note_…\", \"content\": \"…\" }." }))
  .openapi(deleteRoute, async (c) => {
    const { id } = c.req.valid("query");
    const [row] = await c.var.db<{ leadId: string }[]>`delete from app.notes where id = ${id} returning lead_id as "leadId"`;
    if (!row) throw notFound("Note", id);
    return reply(c, { id, leadId: row.leadId, deleted: true as const }, {
      warnings: ["Note permanently deleted; this cannot be undone"],
      next_steps: [listNext(row.leadId)],
    });
  }, validationWithHints({ id: "Pass the note's id: DELETE /api/openclaw/notes?id=note_… (GET /api/openclaw/notes?leadId=… lists them)." }));
