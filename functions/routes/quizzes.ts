// Quizzes, as the org manages them: list, create, change, delete (or archive), and read
// submissions. The rules live in app.quizzes: its trigger checks and normalises questions
// and result bands (unique ids, numeric points, bands covering 0-100) and sets the public
// slug; app.delete_quiz archives a quiz that has submissions. This file validates the
// shape, calls and replies with the quiz's public page and submit URLs.
import { createRoute, z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import { quizStatuses } from "../http/enums.ts";
import { notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";
import { quizUrls } from "../quizzes/urls.ts";

// ---------------------------------------------------------------------------
// Schemas (the shape; the database checks counts, uniqueness and band coverage)
// ---------------------------------------------------------------------------
const ItemId = z.union([z.string(), z.number()]).openapi({ description: "1-64 letters, digits, _ . : -", example: "size" });
const Option = z.looseObject({
  id: ItemId,
  label: z.string().openapi({ example: "1-5 people" }),
  points: z.number().openapi({ description: "Points this option adds (may be negative).", example: 5 }),
}).openapi("QuizOption");
const Question = z.looseObject({
  id: ItemId,
  text: z.string().openapi({ example: "How big is your team?" }),
  type: z.enum(["single", "multi"], { error: "must be single or multi" }).optional().openapi({ description: "single (one option, default) or multi (any number)." }),
  required: z.boolean().optional().openapi({ description: "Default true." }),
  options: z.array(Option).openapi({ description: "1-30 options with unique ids." }),
}).openapi("QuizQuestion");
const Band = z.looseObject({
  min: z.number().int().min(0).max(100),
  max: z.number().int().min(0).max(100),
  label: z.string().openapi({ example: "Ready to talk" }),
  message: z.string().optional().openapi({ description: "Shown with the result (up to 2000 characters)." }),
}).openapi("QuizResultBand");
const Status = z.enum(quizStatuses, { error: "must be draft or published" });

const createFields = {
  title: z.string().openapi({ description: "1-200 characters; also the readable part of the public slug.", example: "Is your clinic ready to grow?" }),
  description: z.string().max(2000).nullable().optional(),
  questions: z.array(Question).openapi({ description: "1-50 questions; ids unique in the quiz." }),
  resultBands: z.array(Band).openapi({ description: "Bands covering scores 0-100 with no gap or overlap." }),
  status: Status.optional().openapi({ description: "draft (default; the public page answers 404) or published." }),
  collectName: z.boolean().optional().openapi({ description: "The page asks for first and last name. Default true." }),
  collectPhone: z.boolean().optional().openapi({ description: "The page asks for a phone number. Default false." }),
};
const CreateQuiz = z.looseObject(createFields).openapi("CreateQuizRequest");
const updateFields = {
  id: z.string({ error: "is required" }).min(1).max(100),
  title: createFields.title.optional(),
  description: createFields.description,
  questions: createFields.questions.optional(),
  resultBands: createFields.resultBands.optional(),
  status: Status.optional(),
  collectName: z.boolean().optional(),
  collectPhone: z.boolean().optional(),
  archived: z.boolean().optional().openapi({ description: "true takes the page down and keeps the submissions; false restores it." }),
};
const UpdateQuiz = z.looseObject(updateFields).openapi("UpdateQuizRequest");

const Quiz = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string().nullable(),
  slug: z.string().openapi({ description: "Public and unguessable; set once." }),
  status: z.enum(quizStatuses),
  questions: z.array(Question),
  resultBands: z.array(Band),
  collectName: z.boolean(),
  collectPhone: z.boolean(),
  archived: z.boolean(),
  archivedAt: z.string().nullable(),
  submissions: z.number().int(),
  publicUrl: z.string().openapi({ description: "The quiz page ($PUBLIC_URL/q/{slug}); answers 404 unless published and not archived." }),
  submitUrl: z.string().openapi({ description: "POST answers here (JSON or a form), no API key." }),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("Quiz");
type QuizRow = Omit<z.infer<typeof Quiz>, "publicUrl" | "submitUrl">;

const QuizReply = envelope({ id: z.string(), quiz: Quiz }).openapi("QuizReply");
const ListQuery = z.object({
  status: Status.optional(),
  archived: z.enum(["true", "false"], { error: "must be true or false" }).transform((v) => v === "true").optional()
    .openapi({ description: "true: only archived quizzes; default only live ones." }),
  ...pageQuery,
});
const ListReply = envelope({ quizzes: z.array(Quiz), ...pageFields }).openapi("QuizListReply");
const DeleteQuery = z.object({ id: z.string({ error: "is required" }).min(1).max(100) });
const DeletedReply = envelope({
  id: z.string(),
  deleted: z.boolean().openapi({ description: "true: the quiz is gone (it had no submissions)." }),
  archived: z.boolean().openapi({ description: "true: it had submissions, so it was archived: page down, submissions kept." }),
  submissions: z.number().int(),
}).openapi("DeletedQuizReply");

const IdParam = z.object({
  id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" }, example: "quiz_3f9c0a1b2c3d4e5f6a7b8c9d" }),
});
const Submission = z.object({
  id: z.string(),
  leadId: z.string(),
  email: z.string(),
  attemptId: z.string(),
  answers: z.record(z.string(), z.array(z.string())).openapi({ description: "Question id -> chosen option ids." }),
  rawPoints: z.number(),
  maxPoints: z.number(),
  score: z.number().int().openapi({ description: "0-100: rawPoints (clamped to 0..maxPoints) as a share of maxPoints, rounded." }),
  band: z.object({ label: z.string(), message: z.string() }),
  createdAt: z.string(),
}).openapi("QuizSubmission");
const SubmissionsReply = envelope({ quizId: z.string(), submissions: z.array(Submission), ...pageFields }).openapi("QuizSubmissionListReply");

const hints = {
  questions: "questions is a list like [{ \"id\": \"size\", \"text\": \"How big is your team?\", \"type\": \"single\", \"options\": [{ \"id\": \"small\", \"label\": \"1-5\", \"points\": 5 }] }].",
  resultBands: "resultBands is a list like [{ \"min\": 0, \"max\": 49, \"label\": \"Early\", \"message\": \"…\" }, { \"min\": 50, \"max\": 100, \"label\": \"Ready\" }].",
  status: `status is one of: ${quizStatuses.join(", ")}.`,
  id: "Pass the quiz's id (quiz_…); GET /api/openclaw/quizzes lists them.",
};

// ---------------------------------------------------------------------------
// Database access
// ---------------------------------------------------------------------------
const quizSelect = `
  q.id, q.title, q.description, q.slug, q.status, q.questions, q.result_bands as "resultBands",
  q.collect_name as "collectName", q.collect_phone as "collectPhone",
  q.archived_at is not null as archived, q.archived_at as "archivedAt",
  (select count(*)::integer from app.quiz_submissions s where s.org_id = q.org_id and s.quiz_id = q.id) as submissions,
  q.created_at as "createdAt", q.updated_at as "updatedAt"`;

const readQuiz = (db: Tx, id: string) => db<QuizRow[]>`select ${db.unsafe(quizSelect)} from app.quizzes q where q.id = ${id}`;

const withUrls = (publicUrl: string, quiz: QuizRow) => ({ ...quiz, ...quizUrls(publicUrl, quiz.slug) });

function guidance(quiz: ReturnType<typeof withUrls>): string[] {
  if (quiz.archived) return [`PUT /api/openclaw/quizzes { "id": "${quiz.id}", "archived": false } restores its page`];
  if (quiz.status === "draft") return [`PUT /api/openclaw/quizzes { "id": "${quiz.id}", "status": "published" } to open ${quiz.publicUrl}`];
  return [`Share ${quiz.publicUrl}; each submission creates or updates a lead and records quiz_completed`,
    `GET /api/openclaw/quizzes/${quiz.id}/submissions lists the results`];
}

/** Request fields -> columns, only those sent. */
function columns(db: Tx, input: Partial<z.infer<typeof UpdateQuiz>>) {
  return {
    ...(input.title !== undefined ? { title: input.title } : {}),
    ...(input.description !== undefined ? { description: input.description } : {}),
    ...(input.questions !== undefined ? { questions: db.json(input.questions as never) } : {}),
    ...(input.resultBands !== undefined ? { result_bands: db.json(input.resultBands as never) } : {}),
    ...(input.status !== undefined ? { status: input.status } : {}),
    ...(input.collectName !== undefined ? { collect_name: input.collectName } : {}),
    ...(input.collectPhone !== undefined ? { collect_phone: input.collectPhone } : {}),
  };
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const tags = ["Quizzes"];

const listRoute = createRoute({
  operationId: "listQuizzes",
  method: "get", path: "/quizzes", tags, summary: "The workspace's quizzes, newest first",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of quizzes."), ...commonErrors },
});
const createQuizRoute = createRoute({
  operationId: "createQuiz",
  method: "post", path: "/quizzes", tags, summary: "Create a quiz (draft unless status is published)",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(CreateQuiz),
  responses: { 201: json(QuizReply, "Quiz created, with its public URLs."), ...idempotencyError, ...commonErrors },
});
const updateRoute = createRoute({
  operationId: "updateQuiz",
  method: "put", path: "/quizzes", tags, summary: "Change a quiz (id in body; only the fields sent change)",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(UpdateQuiz),
  responses: { 200: json(QuizReply, "Quiz updated."), ...notFoundError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "deleteQuiz",
  method: "delete", path: "/quizzes", tags, summary: "Delete a quiz; one with submissions is archived instead",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: DeleteQuery },
  responses: { 200: json(DeletedReply, "Quiz deleted or archived."), ...notFoundError, ...commonErrors },
});
const submissionsRoute = createRoute({
  operationId: "listQuizSubmissions",
  method: "get", path: "/quizzes/{id}/submissions", tags, summary: "A quiz's submissions, newest first",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: IdParam, query: z.object(pageQuery) },
  responses: { 200: json(SubmissionsReply, "A page of submissions."), ...notFoundError, ...commonErrors },
});

export const quizzesRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/quizzes",
      sort: [{ sql: "q.created_at", type: "timestamptz", desc: true }, { sql: "q.id", type: "text", desc: true }],
      filters: { archived: query.archived, status: query.status },
    });
    const where = db`${query.archived ? db`q.archived_at is not null` : db`q.archived_at is null`}
      ${query.status !== undefined ? db`and q.status = ${query.status}` : db``}`;
    const [fetched, [count]] = await Promise.all([
      db<QuizRow[]>`select ${db.unsafe(quizSelect)}, ${page.keys(db)} from app.quizzes q where ${where} and ${page.after(db)}
        order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.quizzes q where ${where}`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { quizzes: rows.map((row) => withUrls(c.var.config.publicUrl, row)), ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: [
        ...page.next("/quizzes", { archived: query.archived ? "true" : undefined, status: query.status }),
        ...(total === 0 ? ["POST /api/openclaw/quizzes { \"title\", \"questions\", \"resultBands\" } to create one"] : []),
      ],
    });
  }, validationWithHints(hints))
  .openapi(createQuizRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const [created] = await db<{ id: string }[]>`
      insert into app.quizzes ${db(columns(db, input))}
      returning id`;
    const [row] = await readQuiz(db, created!.id);
    const quiz = withUrls(c.var.config.publicUrl, row!);
    return reply(c, { id: quiz.id, quiz }, {
      warnings: ignoredFieldWarnings(input, Object.keys(createFields)),
      next_steps: guidance(quiz),
    }, 201);
  }, validationWithHints(hints))
  .openapi(updateRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = columns(db, input);
    const warnings = ignoredFieldWarnings(input, Object.keys(updateFields));
    const setting = Object.keys(values).length > 0;
    const changing = setting || input.archived !== undefined;
    if (!changing) warnings.push("Nothing to change: send the fields to change");
    const [found] = !changing
      ? await db<{ id: string }[]>`select id from app.quizzes where id = ${input.id}`
      : [
        ...(setting ? await db<{ id: string }[]>`update app.quizzes set ${db(values)} where id = ${input.id} returning id` : []),
        ...(input.archived !== undefined
          ? await db<{ id: string }[]>`
              update app.quizzes set archived_at = case when ${input.archived} then coalesce(archived_at, now()) end
              where id = ${input.id} returning id`
          : []),
      ];
    if (!found) throw notFound("Quiz", input.id);
    const [row] = await readQuiz(db, input.id);
    const quiz = withUrls(c.var.config.publicUrl, row!);
    return reply(c, { id: quiz.id, quiz }, { warnings, next_steps: guidance(quiz) });
  }, validationWithHints(hints))
  .openapi(deleteRoute, async (c) => {
    const { id } = c.req.valid("query");
    const [row] = await c.var.db<{ result: { id: string; deleted: boolean; archived: boolean; submissions: number } }[]>`
      select app.delete_quiz(${id}) as result`;
    const result = row!.result;
    return reply(c, result, result.archived
      ? {
        warnings: [`Quiz ${id} has ${result.submissions} submission(s), so it was archived instead of deleted: its page answers 404, its submissions stay readable`],
        next_steps: [`GET /api/openclaw/quizzes/${id}/submissions`, `PUT /api/openclaw/quizzes { "id": "${id}", "archived": false } restores it`],
      }
      : { warnings: ["Quiz permanently deleted; this cannot be undone"] });
  }, validationWithHints(hints))
  .openapi(submissionsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const page = await pageOf(c, c.req.valid("query"), {
      list: `/quizzes/${id}/submissions`,
      sort: [{ sql: "s.created_at", type: "timestamptz", desc: true }, { sql: "s.id", type: "text", desc: true }],
    });
    const db = c.var.db;
    const [[quiz], fetched] = await Promise.all([
      db<{ submissions: number }[]>`select ${db.unsafe(quizSelect)} from app.quizzes q where q.id = ${id}`,
      db`select s.id, s.lead_id as "leadId", l.email, s.attempt_id as "attemptId", s.answers,
               s.raw_points::float8 as "rawPoints", s.max_points::float8 as "maxPoints", s.score, s.band,
               s.created_at as "createdAt", ${page.keys(db)}
          from app.quiz_submissions s join app.leads l on l.org_id = s.org_id and l.id = s.lead_id
          where s.quiz_id = ${id} and ${page.after(db)}
          order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
    ]);
    if (!quiz) throw notFound("Quiz", id);
    const total = quiz.submissions;
    const rows = await page.fit(fetched);
    return reply(c, { quizId: id, submissions: rows as unknown as z.infer<typeof Submission>[], ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: page.next(`/quizzes/${id}/submissions`),
    });
  }, validationWithHints(hints));
