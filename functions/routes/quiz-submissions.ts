// Taking a quiz: POST /public/quizzes/{slug}/submissions. Public (no API key): the
// unguessable slug is the address. JSON for clients, or the quiz page's plain form post
// (answered with an HTML result page). One call to app.submit_quiz checks and scores the
// answers, creates or updates the lead, stores the submission and records quiz_completed.
// The reply says only the score and band: nothing of the org or its leads. Submissions are
// limited per client IP and per quiz before anything is read (http/rate-limit.ts), so nobody
// can fill a workspace's plan with made-up leads faster than that.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { asAnonymous } from "../db.ts";
import { assertStorableText } from "../http/body.ts";
import { ApiError, errorReply, payloadTooLarge, toApiError } from "../http/errors.ts";
import { limitOpenRoute } from "../http/rate-limit.ts";
import { envelope, errorResponse, json, rateLimitedResponse, reply } from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { sha256Hex } from "../http/digest.ts";
import { invalidRequest } from "../http/validation.ts";
import { ANSWER_FIELD_PREFIX, errorPage, type QuizResult, resultPage } from "../quizzes/page.ts";

/** Enough for 50 questions of 30 options; far below the API's general limit. */
export const QUIZ_SUBMISSION_MAX_BYTES = 65_536;

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const OptionId = z.union([z.string().max(64), z.number()]);
const SlugParam = z.object({
  slug: z.string().openapi({ param: { name: "slug", in: "path" }, description: "The quiz's slug (from its publicUrl).", example: "is-your-clinic-ready-k3v9x0q2m7ab" }),
});
const Submission = z.object({
  attemptId: z.string().trim().min(1).max(200).optional().openapi({
    description: "One id per attempt (a UUID); resending it answers with the first result. Without one, the attempt is sha256(slug, lower-cased email, the sorted answers): the same person sending the same answers again counts once.",
  }),
  email: z.string({ error: "is required" }).trim().min(1, "is required").max(320),
  firstName: z.string().trim().max(200).optional(),
  lastName: z.string().trim().max(200).optional(),
  phone: z.string().trim().max(50).optional(),
  answers: z.record(z.string().max(64), z.union([OptionId, z.array(OptionId).max(30)]), { error: "must be an object of question id -> option id(s)" })
    .openapi({ description: "Question id -> the chosen option id, or a list of them for multi questions.", example: { size: "small", tools: ["crm", "email"] } }),
}).openapi("QuizSubmissionRequest");
type SubmissionInput = z.infer<typeof Submission>;

const SubmissionReply = envelope({
  score: z.number().int().openapi({ description: "0-100." }),
  band: z.object({ label: z.string(), message: z.string() }),
  duplicate: z.boolean().openapi({ description: "true: this attempt was submitted before; its first result, nothing written again." }),
}).openapi("QuizSubmissionReply");

// ---------------------------------------------------------------------------
// Reading the body: JSON, or the page's form
// ---------------------------------------------------------------------------
const isForm = (c: Context) => /^application\/x-www-form-urlencoded/i.test(c.req.header("content-type") ?? "");

async function formInput(c: Context): Promise<SubmissionInput> {
  const form = new URLSearchParams(await c.req.text());
  for (const [name, value] of form) assertStorableText({ [name]: value }, "form");
  const answers: Record<string, string[]> = {};
  for (const [name, value] of form) {
    if (name.startsWith(ANSWER_FIELD_PREFIX) && value !== "") (answers[name.slice(ANSWER_FIELD_PREFIX.length)] ??= []).push(value);
  }
  const text = (name: string) => form.get(name) || undefined;
  const parsed = Submission.safeParse({
    attemptId: text("attemptId"), email: form.get("email") ?? undefined,
    firstName: text("firstName"), lastName: text("lastName"), phone: text("phone"), answers,
  });
  if (!parsed.success) throw invalidRequest(parsed.error, "body");
  return parsed.data;
}

/** The attempt when the client names none: same quiz, person and answers = same attempt. */
async function derivedAttemptId(slug: string, input: SubmissionInput): Promise<string> {
  const answers = Object.keys(input.answers).sort().map((id) => {
    const given = input.answers[id]!;
    return [id, (Array.isArray(given) ? given : [given]).map(String).sort()];
  });
  return `derived:${await sha256Hex(JSON.stringify([slug, input.email.toLowerCase(), answers]))}`;
}

// The people taking a quiz are not the workspace: a plan limit is the owner's to fix.
const publicError = (err: ApiError) => err.status === 402
  ? new ApiError(402, "quiz_unavailable", "This quiz cannot take new submissions right now", "Please try again later or contact the quiz's owner.")
  : err;

/** HTML pages and error envelopes are not in the route's typed JSON responses. */
const asTyped = (res: Response) => res as never;

// ---------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------
const submitRoute = createRoute({
  operationId: "submitQuiz",
  method: "post", path: "/public/quizzes/{slug}/submissions", tags: ["Quizzes"],
  summary: "Submit answers to a published quiz (no API key)",
  security: [],
  description: [
    "Creates or updates the lead with this email in the quiz's workspace, stores the answers and score, and records a quiz_completed event (data: score, quizId, band).",
    "JSON gets JSON; the quiz page's form post (application/x-www-form-urlencoded: email, firstName, lastName, phone, attemptId, and answers.<questionId> once per chosen option) gets an HTML result page.",
    `Bodies up to ${QUIZ_SUBMISSION_MAX_BYTES} bytes. 201 new result, 200 repeated attempt (duplicate: true).`,
  ].join(" "),
  middleware: [limitOpenRoute((c, ip) => [{ policy: "quiz-ip", key: ip }, { policy: "quiz", key: c.req.param("slug") ?? "" }]), bodyLimit({
    maxSize: QUIZ_SUBMISSION_MAX_BYTES,
    onError: (c) => {
      c.header("Connection", "close");
      return errorReply(c, payloadTooLarge(QUIZ_SUBMISSION_MAX_BYTES));
    },
  })],
  request: {
    params: SlugParam,
    body: {
      required: false,
      content: {
        "application/json": { schema: Submission },
        // A plain schema, not zod: the handler reads the form itself (answers.<id> repeats).
        "application/x-www-form-urlencoded": {
          schema: { type: "object", description: "The quiz page's form: email, firstName, lastName, phone, attemptId, and answers.<questionId> once per chosen option." },
        },
      },
    },
  },
  responses: {
    200: json(SubmissionReply, "This attempt was submitted before: its first result (duplicate true)."),
    201: json(SubmissionReply, "Scored and recorded."),
    400: errorResponse("Invalid answers (unknown question or option, a required question unanswered, several answers to a single question) or contact details: error.message names the question."),
    402: errorResponse("The quiz's workspace cannot take new leads right now."),
    404: errorResponse("No published quiz has this slug."),
    413: errorResponse("Body too large."),
    415: errorResponse("Send JSON or a urlencoded form."),
    429: rateLimitedResponse("Too many submissions from this address (quiz-ip) or to this quiz (quiz): retry after Retry-After seconds (a form post gets an HTML page)."),
    500: errorResponse("Our fault; retry with the same attemptId."),
    503: errorResponse("Database unavailable; retry with the same attemptId."),
  },
});

export const quizSubmissionRoutes = createRouter()
  .openapi(submitRoute, async (c) => {
    const { slug } = c.req.valid("param");
    const form = isForm(c);
    try {
      if (!form && !/^application\/json/i.test(c.req.header("content-type") ?? "")) {
        throw new ApiError(415, "unsupported_media_type", "Send the submission as JSON or as a urlencoded form",
          "Use Content-Type: application/json with { \"email\", \"answers\": { \"<questionId>\": \"<optionId>\" } }.");
      }
      // The JSON body is validated by the route (its hook answers 400); the form is read here.
      const input = form ? await formInput(c) : c.req.valid("json" as never) as SubmissionInput;
      const attemptId = input.attemptId ?? await derivedAttemptId(slug, input);
      const result = await asAnonymous(c.var.sql, async (tx) => {
        const [row] = await tx<{ result: QuizResult & { duplicate: boolean } }[]>`
          select app.submit_quiz(${slug}, ${attemptId}, ${input.email}, ${input.firstName ?? null}, ${input.lastName ?? null},
                                 ${input.phone ?? null}, ${tx.json(input.answers as never)}) as result`;
        return row!.result;
      });
      const status = result.duplicate ? 200 : 201;
      if (form) return asTyped(resultPage(c, result, status));
      return reply(c, { score: result.score, band: result.band, duplicate: result.duplicate }, {
        warnings: [
          ...(input.attemptId === undefined ? ["No attemptId was sent: the same email with the same answers counts as the same attempt. Send one attemptId per attempt to tell retakes apart"] : []),
          ...(result.duplicate ? ["This attempt was submitted before: this is its first result; nothing was written again"] : []),
        ],
      }, status);
    } catch (err) {
      const error = publicError(toApiError(err));
      if (error.status >= 500) console.error(`${c.req.method} ${c.req.path}:`, err);
      return asTyped(form ? errorPage(c, error.status, error.message, error.hint) : errorReply(c, error));
    }
  });
