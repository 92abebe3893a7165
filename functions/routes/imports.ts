// CSV imports of leads: upload (a text/csv body, a multipart file upload, or JSON with the CSV
// as a string), the import's progress and per-row errors, the errors as a CSV download, and
// resuming an import whose process stopped. What a lead may hold, the plan limit and the
// upsert by email are the database's (sql/88_bulk.sql, app._upsert_leads in sql/40_leads.sql);
// reading the file is functions/imports/csv.ts.
//
// An import happens in two steps:
//   1. upload, one transaction: the file is checked (size, UTF-8, CSV), its rows are parsed as a
//      stream and copied into app.import_rows with COPY … FROM STDIN, then counted (at most
//      50,000) and rows repeating an email are failed. Any refusal rolls it all back: nothing of
//      a refused file is kept or applied;
//   2. apply, in chunks of 1,000 rows, each chunk one transaction (app.apply_import_chunk: one
//      set-based upsert, the plan's room counted once) that records what each row did and the
//      import's progress, which GET /imports/{id} shows meanwhile. Each chunk takes the
//      workspace's fair-share slot for expensive work (waiting for it, not refusing), so
//      concurrent imports of one workspace take turns chunk by chunk.
// The request answers once the last chunk is in. Should the process stop part-way, the import
// shows as interrupted and POST /imports/{id}/resume applies the rest; importing the same file
// again is safe too (rows already applied come back unchanged).
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { Tx } from "../db.ts";
import type { AppEnv } from "../http/context.ts";
import { readJsonObject } from "../http/body.ts";
import { ApiError, errorReply, notFound } from "../http/errors.ts";
import { idempotencyOutsideTransaction } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import { bearerAuth, commonErrors, envelope, errorResponse, idempotencyError, json, notFoundError, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { asTenant, streamingTransaction, tenantAuthenticated, tenantTransaction } from "../http/tenant.ts";
import {
  copyLine, csvRecords, decodeCsv, fileTooLarge, IMPORT_MAX_BYTES, IMPORT_MAX_ROWS, mapColumns, rowFields, type Target,
} from "../imports/csv.ts";

/** Rows applied per transaction. */
const CHUNK_ROWS = 1000;
/** An applying import whose progress has not moved for this long is shown as interrupted. */
const INTERRUPTED_AFTER_SECONDS = 120;
/** How long a chunk waits for the workspace's expensive-work slot before the import answers 503. */
const SLOT_WAIT_MS = 60_000;

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const Mapping = z.record(z.string(), z.string().nullable()).openapi("ImportMapping", {
  description: "Column header → lead field (firstName, lastName, fullName, email, organizationName, businessType, phone, tier, status, stage, title, seniority, companyName, linkedinUrl, companySize, companyRevenue, crmData, customFields) or customFields.<key>, or null to leave the column out. Columns not named are mapped from their header automatically.",
  example: { "E-mail": "email", "Practice size": "customFields.practiceSize", Notes: null },
});
const JsonUpload = z.object({
  csv: z.string().min(1).openapi({ description: `The CSV file's text (UTF-8; at most ${IMPORT_MAX_BYTES / 1024 / 1024} MiB and ${IMPORT_MAX_ROWS.toLocaleString("en-US")} rows; a JSON body is capped at 1 MiB by the body limit, so send larger files as text/csv or a file upload).`, example: "email,firstName,lastName\njane@acme.com,Jane,Doe\n" }),
  mapping: Mapping.optional(),
  fileName: z.string().max(255).optional(),
}).openapi("ImportCsvRequest");
const UploadQuery = z.object({
  mapping: z.string().max(8192).optional().openapi({ description: "With a text/csv body: the mapping as JSON, e.g. {\"E-mail\":\"email\"}." }),
  fileName: z.string().max(255).optional(),
});

const RowError = z.object({
  row: z.number().int().openapi({ description: "The data row's number in the file (1 = the first row after the header)." }),
  email: z.string().nullable(),
  code: z.string(),
  message: z.string(),
  hint: z.string(),
  field: z.string().nullable(),
}).openapi("ImportRowError");
const Import = z.object({
  id: z.string(),
  status: z.enum(["applying", "completed", "interrupted"]).openapi({ description: "applying: rows are being applied (progress shows how far); completed; interrupted: the process applying it stopped (POST /imports/{id}/resume applies the rest)." }),
  fileName: z.string().nullable(),
  fileBytes: z.number().int(),
  columns: z.array(z.object({ header: z.string(), field: z.string().nullable() })).openapi({ description: "The file's columns and the field each fed (null: not imported)." }),
  totalRows: z.number().int(),
  processedRows: z.number().int(),
  progress: z.number().openapi({ description: "processedRows / totalRows, 0-1." }),
  created: z.number().int(),
  updated: z.number().int(),
  unchanged: z.number().int(),
  failed: z.number().int(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  errorsUrl: z.string().openapi({ description: "The failed rows as CSV (GET)." }),
}).openapi("Import");
const ImportReply = envelope({
  import: Import,
  errors: z.array(RowError).openapi({ description: "The first 100 failed rows (all of them: errorsUrl)." }),
}).openapi("ImportReply");
const ListReply = envelope({ imports: z.array(Import), ...pageFields }).openapi("ImportListReply");
const IdParam = z.object({ id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" }, example: "imp_3f9c0a1b2c3d4e5f6a7b8c9d" }) });

// ---------------------------------------------------------------------------
// Database access
// ---------------------------------------------------------------------------
type ImportRow = Omit<z.infer<typeof Import>, "errorsUrl" | "progress" | "columns"> & { columns: string[]; mapping: Record<string, string | null> };

const importSelect = `
  id, case when status = 'applying' and updated_at < now() - make_interval(secs => ${INTERRUPTED_AFTER_SECONDS}) then 'interrupted' else status end as status,
  file_name as "fileName", file_bytes as "fileBytes", columns, mapping, total_rows as "totalRows", processed_rows as "processedRows",
  created, updated, unchanged, failed, created_at as "createdAt", finished_at as "finishedAt"`;

function present(row: ImportRow): z.infer<typeof Import> {
  const { columns, mapping, ...rest } = row;
  return {
    ...rest,
    columns: columns.map((header, i) => ({ header, field: mapping[String(i)] ?? null })),
    progress: row.totalRows === 0 ? 0 : Math.round((row.processedRows / row.totalRows) * 1000) / 1000,
    errorsUrl: `/api/openclaw/imports/${row.id}/errors`,
  };
}

async function findImport(db: Tx, id: string): Promise<ImportRow | undefined> {
  const [row] = await db<ImportRow[]>`select ${db.unsafe(importSelect)} from app.imports where id = ${id}`;
  return row;
}

const rowErrors = (db: Tx, id: string, limit: number) => db<z.infer<typeof RowError>[]>`
  select row_number as row, fields ->> 'email' as email, error ->> 'code' as code, error ->> 'message' as message,
         error ->> 'hint' as hint, error ->> 'field' as field
  from app.import_rows where import_id = ${id} and result = 'failed' order by row_number limit ${limit}`;

// ---------------------------------------------------------------------------
// Reading the upload
// ---------------------------------------------------------------------------
interface Upload {
  bytes: Uint8Array;
  mapping: Record<string, unknown>;
  fileName: string | null;
}

function parseMapping(text: string | undefined | null): Record<string, unknown> {
  if (text === undefined || text === null || text === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new ApiError(400, "invalid_mapping", "mapping must be a JSON object of column header → field",
    "Send mapping like {\"E-mail\": \"email\", \"Practice size\": \"customFields.practiceSize\", \"Notes\": null}.");
}

const unsupportedType = () =>
  new ApiError(415, "unsupported_media_type", "Send the CSV as text/csv, as a file upload (multipart/form-data, part \"file\"), or as JSON { \"csv\": \"…\" }",
    "curl --data-binary @leads.csv -H 'Content-Type: text/csv' …/api/openclaw/imports, or -F file=@leads.csv.");

async function readUpload(c: Context<AppEnv>): Promise<Upload> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  const query = c.req.query() as Record<string, string | undefined>;
  if (type.startsWith("multipart/form-data")) {
    let form: FormData;
    try {
      // await, not .catch(): the form may come from the body cache the validator filled.
      form = await c.req.formData();
    } catch {
      throw new ApiError(400, "invalid_request", "The upload is not a readable multipart form", "Send the file as a form field named file (curl -F file=@leads.csv).");
    }
    const file = form.get("file");
    if (!(file instanceof Blob)) {
      throw new ApiError(400, "missing_file", "The form has no file part", "Send the CSV in a form field named file (curl -F file=@leads.csv), and mapping (JSON) in a field named mapping if needed.");
    }
    const mapping = form.get("mapping");
    return {
      bytes: new Uint8Array(await file.arrayBuffer()),
      mapping: parseMapping(typeof mapping === "string" ? mapping : undefined),
      fileName: file instanceof File && file.name ? file.name.slice(0, 255) : (query.fileName ?? null),
    };
  }
  if (type.startsWith("application/json")) {
    const body = readJsonObject(new Uint8Array(await c.req.arrayBuffer()), () =>
      new ApiError(400, "invalid_request", "The body is not a JSON object", "Send { \"csv\": \"email,firstName\\njane@acme.com,Jane\\n\" }."));
    const parsed = JsonUpload.safeParse(body);
    if (!parsed.success) {
      throw new ApiError(400, "invalid_request", `Invalid body: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
        "Send { \"csv\": \"…the file's text…\", \"mapping\": { \"E-mail\": \"email\" } } (mapping optional).",
        { fields: parsed.error.issues.map((i) => ({ field: i.path.join(".") || "(root)", message: i.message })) });
    }
    return { bytes: new TextEncoder().encode(parsed.data.csv), mapping: parsed.data.mapping ?? {}, fileName: parsed.data.fileName ?? null };
  }
  if (type.startsWith("text/csv") || type.startsWith("text/plain") || type.startsWith("application/csv") || type.startsWith("application/octet-stream")) {
    return { bytes: new Uint8Array(await c.req.arrayBuffer()), mapping: parseMapping(query.mapping), fileName: query.fileName ?? null };
  }
  throw unsupportedType();
}

// ---------------------------------------------------------------------------
// Upload and apply
// ---------------------------------------------------------------------------
/** Step 1: the file, checked and copied into app.import_rows, in one transaction; the new import's id. */
async function upload(c: Context<AppEnv>, file: Upload): Promise<{ id: string; warnings: string[] }> {
  const text = decodeCsv(file.bytes);
  return asTenant(c, async (tx) => {
    const fields = await tx<{ key: string; label: string }[]>`select key, label from app.custom_fields order by position, lower(key)`;
    const records = csvRecords(text);
    const first = await records.next();
    if (first.done) throw new ApiError(400, "empty_file", "The file has no header row", "Send a CSV file whose first row names the columns (email, firstName, …).");
    const header = first.value.map((name) => name.trim());
    const { targets, warnings } = mapColumns(header, fields, file.mapping);
    const mapping = Object.fromEntries(targets.map((target, i) => [String(i), target]));
    const [row] = await tx<{ id: string }[]>`
      insert into app.imports (file_name, file_bytes, columns, mapping)
      values (${file.fileName}, ${file.bytes.byteLength}, ${header}::text[], ${tx.json(mapping as never)}) returning id`;
    const id = row!.id;
    await copyRows(tx, id, targets, records);
    await tx`select app.finish_import_upload(${id}, ${IMPORT_MAX_ROWS})`;
    return { id, warnings };
  });
}

/**
 * The rows, streamed with COPY … FROM STDIN as csv-parse reads them (with the socket's
 * backpressure) into a temporary table, then moved into app.import_rows by one INSERT … SELECT:
 * PostgreSQL refuses COPY FROM into a table under row-level security.
 */
async function copyRows(tx: Tx, id: string, targets: Target[], records: AsyncGenerator<string[]>): Promise<void> {
  await tx`create temporary table import_upload (row_number integer not null, fields jsonb not null) on commit drop`;
  const copy = await tx`copy pg_temp.import_upload (row_number, fields) from stdin`.writable();
  let refusal: unknown;
  let rowNumber = 0;
  try {
    for await (const record of records) {
      rowNumber++;
      if (rowNumber > IMPORT_MAX_ROWS) {
        throw new ApiError(413, "too_many_rows", `The file has more than ${IMPORT_MAX_ROWS.toLocaleString("en-US")} rows`,
          `Split it into files of at most ${IMPORT_MAX_ROWS.toLocaleString("en-US")} rows and import them one after another. Nothing was imported.`);
      }
      if (!copy.write(copyLine(rowNumber, rowFields(targets, record)))) {
        await new Promise<void>((ok, fail) => {
          copy.once("drain", ok);
          copy.once("error", fail);
        });
      }
    }
  } catch (error) {
    refusal = error;
  }
  if (refusal !== undefined) {
    // CopyFail: the server ends the COPY with an error and the transaction rolls back.
    await new Promise<void>((ok) => {
      copy.once("close", ok);
      copy.destroy(refusal as Error);
    });
    throw refusal;
  }
  await new Promise<void>((ok, fail) => {
    copy.once("finish", ok);
    copy.once("error", fail);
    copy.end();
  });
  await tx`insert into app.import_rows (import_id, row_number, fields) select ${id}, u.row_number, u.fields from pg_temp.import_upload u`;
}

const wait = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Step 2: chunk after chunk until the import is completed, each in its own transaction holding the workspace's expensive-work slot. */
async function apply(c: Context<AppEnv>, id: string): Promise<void> {
  const { perOrg, statementTimeoutMs } = c.var.config.limits.fairShare;
  let waitedMs = 0;
  for (;;) {
    const step = await asTenant(c, async (tx) => {
      const [slot] = await tx<{ slot: number | null }[]>`select app.begin_expensive_work(${perOrg}, ${statementTimeoutMs}) as slot`;
      if (slot?.slot == null) return undefined;
      const [state] = await tx<{ status: string }[]>`select status from app.apply_import_chunk(${id}, ${CHUNK_ROWS})`;
      return state!.status;
    });
    if (step === "completed") return;
    if (step === undefined) {
      // Another expensive request of this workspace holds the slot: take turns.
      if (waitedMs >= SLOT_WAIT_MS) {
        c.header("Retry-After", "5");
        throw new ApiError(503, "server_busy", "This workspace's other expensive work kept the import waiting",
          `The rows applied so far stay applied: POST /api/openclaw/imports/${id}/resume applies the rest (GET /api/openclaw/imports/${id} shows how far it got).`);
      }
      await wait(100 + Math.floor(Math.random() * 150));
      waitedMs += 200;
    } else {
      waitedMs = 0;
    }
  }
}

async function answer<S extends 200 | 201>(c: Context<AppEnv>, id: string, warnings: string[], status: S) {
  const [row, errors] = await asTenant(c, async (tx) => Promise.all([findImport(tx, id), rowErrors(tx, id, 100)]));
  const imported = present(row!);
  return reply(c, { import: imported, errors }, {
    warnings: [
      ...warnings,
      ...(imported.failed > 0 ? [`${imported.failed} row(s) failed; the other rows landed. errors lists the first ones; GET ${imported.errorsUrl} has them all as CSV`] : []),
    ],
    next_steps: [
      ...(imported.failed > 0 ? [`GET ${imported.errorsUrl} (CSV: row, email, code, message, hint), fix those rows and import them again`] : []),
      ...(imported.created > 0 ? [`GET /api/openclaw/leads?source=import&createdBy=import:${id} lists the leads it created (POST /api/openclaw/leads/bulk-delete { "source": "import", "createdBy": "import:${id}" } undoes them)`] : []),
    ],
  }, status);
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const uploadLimit = bodyLimit({
  maxSize: IMPORT_MAX_BYTES + 64 * 1024,
  onError: (c) => {
    c.header("Connection", "close");
    return errorReply(c, fileTooLarge());
  },
});
/** The upload's bytes, read before anything reads it as text: UTF-8 is checked on the bytes as sent. */
const keepBytes = createMiddleware(async (c, next) => {
  await c.req.arrayBuffer();
  await next();
});

const uploadRoute = createRoute({
  operationId: "importLeads",
  method: "post", path: "/imports", tags: ["Imports"],
  summary: "Import leads from a CSV file (created or updated by email), with a result per row",
  description: `A text/csv body (mapping as a query parameter), a file upload (multipart/form-data: file, and mapping as JSON text), or JSON { csv, mapping }. At most ${IMPORT_MAX_BYTES / 1024 / 1024} MiB and ${IMPORT_MAX_ROWS.toLocaleString("en-US")} rows, UTF-8 (a byte order mark is fine). The header names the columns; each is mapped to a lead field by its name (firstName, "First name", "E-mail", Company, …, a custom field's key or label, customFields.<key>) unless mapping says otherwise. Each row is upserted by email like POST /leads/batch (empty cells leave a lead's value as it is); rows past the plan's room fail with lead_limit_reached. A malformed, non-UTF-8 or oversized file is refused whole: nothing is kept. The answer comes when every row is applied; GET /imports/{id} shows the progress meanwhile. Idempotency-Key honoured.`,
  security: bearerAuth, middleware: [uploadLimit, keepBytes, tenantAuthenticated, idempotencyOutsideTransaction],
  request: {
    query: UploadQuery,
    // Not required in the document's sense: each media type is validated only when sent, the
    // handler answers any other (415) or none (400).
    body: {
      required: false,
      content: {
        "application/json": { schema: JsonUpload },
        "text/csv": { schema: z.string().openapi({ description: "The CSV file." }) },
        "multipart/form-data": {
          schema: z.object({
            file: z.any().openapi({ type: "string", format: "binary", description: "The CSV file." }),
            mapping: z.string().optional().openapi({ description: "The mapping, as JSON text." }),
          }),
        },
      },
    },
  },
  responses: {
    201: json(ImportReply, "The import, applied, with the first failed rows."),
    415: errorResponse("Not CSV, a file upload or JSON."),
    ...idempotencyError, ...commonErrors,
    413: errorResponse("The file is over the size or row limit (nothing was imported)."),
  },
});
const listRoute = createRoute({
  operationId: "listImports",
  method: "get", path: "/imports", tags: ["Imports"], summary: "List imports, newest first",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: z.object(pageQuery) },
  responses: { 200: json(ListReply, "A page of imports."), ...commonErrors },
});
const getRoute = createRoute({
  operationId: "getImport",
  method: "get", path: "/imports/{id}", tags: ["Imports"], summary: "An import's progress, counts and first failed rows",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: IdParam },
  responses: { 200: json(ImportReply, "The import."), ...notFoundError, ...commonErrors },
});
const errorsRoute = createRoute({
  operationId: "getImportErrors",
  method: "get", path: "/imports/{id}/errors", tags: ["Imports"], summary: "An import's failed rows as CSV (row, email, code, message, hint, field)",
  security: bearerAuth, middleware: [tenantAuthenticated], request: { params: IdParam },
  responses: { 200: { description: "The failed rows.", content: { "text/csv": { schema: z.string() } } }, ...notFoundError, ...commonErrors },
});
const resumeRoute = createRoute({
  operationId: "resumeImport",
  method: "post", path: "/imports/{id}/resume", tags: ["Imports"], summary: "Apply the rest of an interrupted import",
  security: bearerAuth, middleware: [tenantAuthenticated], request: { params: IdParam },
  responses: { 200: json(ImportReply, "The import, applied."), ...notFoundError, ...commonErrors },
});

export const importsRoutes = createRouter()
  .openapi(uploadRoute, async (c) => {
    const file = await readUpload(c);
    const { id, warnings } = await upload(c, file);
    await apply(c, id);
    return answer(c, id, warnings, 201);
  })
  .openapi(listRoute, async (c) => {
    const db = c.var.db;
    const page = await pageOf(c, c.req.valid("query"), {
      list: "/imports",
      sort: [{ sql: "created_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
    });
    const [fetched, [count]] = await Promise.all([
      db<ImportRow[]>`select ${db.unsafe(importSelect)}, ${page.keys(db)} from app.imports where ${page.after(db)}
                      order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.imports`,
    ]);
    const rows = await page.fit(fetched);
    return reply(c, { imports: rows.map(present), ...page.fields(count!.total) }, { next_steps: page.next("/imports") });
  })
  .openapi(getRoute, async (c) => {
    const { id } = c.req.valid("param");
    const db = c.var.db;
    const [row, errors] = await Promise.all([findImport(db, id), rowErrors(db, id, 100)]);
    if (!row) throw notFound("Import", id);
    const imported = present(row);
    return reply(c, { import: imported, errors }, {
      next_steps: [
        ...(imported.status === "interrupted" ? [`POST /api/openclaw/imports/${id}/resume applies the rest`] : []),
        ...(imported.status === "applying" ? [`GET /api/openclaw/imports/${id} again in a few seconds`] : []),
        ...(imported.failed > 0 ? [`GET ${imported.errorsUrl} for every failed row as CSV`] : []),
      ],
    });
  })
  .openapi(errorsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = await streamingTransaction(c, 60_000, async (tx) => {
      const [found] = await tx`select 1 from app.imports where id = ${id}`;
      if (!found) throw notFound("Import", id);
      // COPY takes no bind parameters: the id is read back from a transaction-local setting.
      await tx`select set_config('openclaw.import_id', ${id}, true)`;
      const copy = tx`copy (
        select row_number as row, fields ->> 'email' as email, error ->> 'code' as code, error ->> 'message' as message,
               error ->> 'hint' as hint, error ->> 'field' as field
        from app.import_rows where import_id = current_setting('openclaw.import_id') and result = 'failed' order by row_number
      ) to stdout with (format csv, header)`;
      const stream = await copy.readable();
      return { stream, cancel: () => void copy.cancel() };
    });
    return c.body(body, 200, {
      "Content-Type": "text/csv; charset=utf-8",
      "Content-Disposition": `attachment; filename="${id}-errors.csv"`,
    });
  })
  .openapi(resumeRoute, async (c) => {
    const { id } = c.req.valid("param");
    const found = await asTenant(c, (tx) => findImport(tx, id));
    if (!found) throw notFound("Import", id);
    await apply(c, id);
    return answer(c, id, found.status === "completed" ? ["The import was already completed"] : [], 200);
  });
