import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { as, baseUrl, call, expectError, expectOk, lead, signup, uniqueEmail, type Workspace } from "./support/api.ts";

let ws: Workspace;
let client: ReturnType<typeof as>;
let other: ReturnType<typeof as>;

beforeAll(async () => {
  ws = await signup();
  client = as(ws);
  other = as(await signup());
});

const questions = [
  { id: "size", text: "How big is your team?", options: [{ id: "small", label: "1-5", points: 0 }, { id: "large", label: "50+", points: 10 }] },
  {
    id: "tools", text: "What do you use?", type: "multi", required: false,
    options: [{ id: "crm", label: "A CRM", points: 5 }, { id: "mail", label: "Email", points: 5 }, { id: "paper", label: "Paper", points: -3 }],
  },
];
const resultBands = [
  { min: 0, max: 49, label: "Getting started", message: "Start with the basics." },
  { min: 50, max: 100, label: "Ready", message: "Let's talk." },
];
const quizBody = (overrides: Record<string, unknown> = {}) => ({
  title: "Is your team ready?", questions, resultBands, status: "published", ...overrides,
});
const createQuiz = async (overrides: Record<string, unknown> = {}) => expectOk(await client.post("/quizzes", quizBody(overrides)), 201).quiz;

const submitPath = (slug: string) => `/api/openclaw/public/quizzes/${slug}/submissions`;
const submit = (slug: string, body: Record<string, unknown>) => call("POST", submitPath(slug), body);
const page = (path: string) => fetch(`${baseUrl()}${path}`);

describe("POST /quizzes", () => {
  it("creates a quiz with normalised questions, an unguessable slug and its public URLs", async () => {
    const body = expectOk(await client.post("/quizzes", quizBody({ status: undefined })), 201);
    const quiz = body.quiz;
    expect(body.id).toMatch(/^quiz_[0-9a-f]{24}$/);
    expect(quiz.slug).toMatch(/^is-your-team-ready-[0-9a-z]{12}$/);
    expect(quiz).toMatchObject({
      title: "Is your team ready?", status: "draft", collectName: true, collectPhone: false, archived: false, submissions: 0,
    });
    // $PUBLIC_URL + the paths (the test server's PUBLIC_URL is its configured default).
    expect(quiz.publicUrl).toMatch(new RegExp(`^https?://[^/]+/q/${quiz.slug}$`));
    expect(quiz.submitUrl).toMatch(new RegExp(`^https?://[^/]+${submitPath(quiz.slug)}$`));
    expect(quiz.questions[0]).toEqual({ ...questions[0], type: "single", required: true });
    expect(quiz.resultBands).toEqual(resultBands);
    expect(body.next_steps[0]).toContain("\"status\": \"published\"");
  });

  it.each([
    [{ questions: [] }, "invalid_questions", "1-50"],
    [{ questions: [questions[0], questions[0]] }, "duplicate_question_id", "\"size\""],
    [{ questions: [{ ...questions[0], options: [{ id: "a", label: "A", points: 1 }, { id: "a", label: "B", points: 2 }] }] }, "duplicate_option_id", "\"a\""],
    [{ resultBands: [{ min: 0, max: 40, label: "Low" }, { min: 50, max: 100, label: "High" }] }, "result_bands_gap", "41 to 49"],
    [{ resultBands: [{ min: 0, max: 60, label: "Low" }, { min: 50, max: 100, label: "High" }] }, "result_bands_overlap", "High"],
  ])("refuses an invalid definition (%j) with a hint", async (change, code, named) => {
    const error = expectError(await client.post("/quizzes", quizBody(change)), 400, code);
    expect(error.message).toContain(named);
    expect(error.hint).toMatch(/questions|resultBands/);
  });

  it("refuses points that are not numbers before reaching the database", async () => {
    const bad = [{ ...questions[0], options: [{ id: "a", label: "A", points: "ten" }] }];
    const error = expectError(await client.post("/quizzes", quizBody({ questions: bad })), 400, "invalid_request");
    expect(error.fields[0].field).toBe("questions.0.options.0.points");
  });
});

describe("GET, PUT and DELETE /quizzes", () => {
  it("lists live quizzes, updates one and keeps its slug", async () => {
    const quiz = await createQuiz({ status: "draft" });
    const updated = expectOk(await client.put("/quizzes", { id: quiz.id, title: "Renamed", status: "published", collectPhone: true })).quiz;
    expect(updated).toMatchObject({ id: quiz.id, title: "Renamed", status: "published", collectPhone: true, slug: quiz.slug });
    const list = expectOk(await client.get("/quizzes?status=published"));
    expect(list.quizzes.map((q: { id: string }) => q.id)).toContain(quiz.id);
    expect(list.quizzes.every((q: { status: string }) => q.status === "published")).toBe(true);
  });

  it("refuses an update that breaks the bands, and a bad status, naming the valid values", async () => {
    const quiz = await createQuiz();
    expectError(await client.put("/quizzes", { id: quiz.id, resultBands: [{ min: 0, max: 99, label: "Almost" }] }), 400, "result_bands_gap");
    const error = expectError(await client.put("/quizzes", { id: quiz.id, status: "live" }), 400, "invalid_request");
    expect(error.hint).toContain("draft, published");
  });

  it("deletes a quiz nobody took", async () => {
    const quiz = await createQuiz();
    expect(expectOk(await client.delete(`/quizzes?id=${quiz.id}`))).toMatchObject({ id: quiz.id, deleted: true, archived: false });
    expectError(await client.put("/quizzes", { id: quiz.id, title: "x" }), 404, "not_found");
  });

  it("archives a quiz with submissions instead: the page goes, the submissions stay, and it can be restored", async () => {
    const quiz = await createQuiz();
    expectOk(await submit(quiz.slug, { email: uniqueEmail("taker"), answers: { size: "large" } }), 201);
    const gone = expectOk(await client.delete(`/quizzes?id=${quiz.id}`));
    expect(gone).toMatchObject({ deleted: false, archived: true, submissions: 1 });
    expect((await page(`/q/${quiz.slug}`)).status).toBe(404);
    expectError(await submit(quiz.slug, { email: uniqueEmail(), answers: { size: "large" } }), 404, "quiz_not_found");
    expect(expectOk(await client.get(`/quizzes/${quiz.id}/submissions`)).total).toBe(1);
    const archived = expectOk(await client.get("/quizzes?archived=true")).quizzes;
    expect(archived.map((q: { id: string }) => q.id)).toContain(quiz.id);
    expect(expectOk(await client.put("/quizzes", { id: quiz.id, archived: false })).quiz.archived).toBe(false);
    expect((await page(`/q/${quiz.slug}`)).status).toBe(200);
  });

  it("answers 404 for another workspace's quiz, on every route", async () => {
    const quiz = await createQuiz();
    expectError(await other.put("/quizzes", { id: quiz.id, title: "Mine now" }), 404, "not_found");
    expectError(await other.delete(`/quizzes?id=${quiz.id}`), 404, "not_found");
    expectError(await other.get(`/quizzes/${quiz.id}/submissions`), 404, "not_found");
    expect(expectOk(await other.get("/quizzes")).quizzes.map((q: { id: string }) => q.id)).not.toContain(quiz.id);
  });

  it("needs an API key", async () => {
    expectError(await call("GET", "/quizzes"), 401, "missing_api_key");
  });
});

describe("GET /q/{slug}", () => {
  it("serves an accessible, self-contained form for a published quiz", async () => {
    const quiz = await createQuiz({ collectPhone: true });
    const res = await page(`/q/${quiz.slug}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain("<legend>1. How big is your team?");
    expect(html).toContain('type="radio" name="answers.size" value="large" required');
    expect(html).toContain('type="checkbox" name="answers.tools" value="crm"');
    expect(html).toContain('name="phone"');
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    expect(new URL(action!, `${baseUrl()}/q/${quiz.slug}`).pathname).toBe(submitPath(quiz.slug));
    expect(new URL(action!, `${baseUrl()}/openclaw/q/${quiz.slug}`).pathname).toBe(`/openclaw${submitPath(quiz.slug)}`);
    expect((await page(`/openclaw/q/${quiz.slug}`)).status).toBe(200);
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(html).not.toContain("points");
  });

  it("escapes a malicious title, description, question and option", async () => {
    const xss = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";
    const quiz = await createQuiz({
      title: xss, description: xss,
      questions: [{ id: "q", text: xss, options: [{ id: "o", label: xss, points: 1 }] }],
    });
    const html = await (await page(`/q/${quiz.slug}`)).text();
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
  });

  it("answers 404 for a draft quiz and an unknown slug", async () => {
    const draft = await createQuiz({ status: "draft" });
    expect((await page(`/q/${draft.slug}`)).status).toBe(404);
    expect((await page("/q/no-such-quiz-000000000000")).status).toBe(404);
  });
});

describe("POST /public/quizzes/{slug}/submissions", () => {
  it("scores the answers, creates the lead and records quiz_completed, without leaking anything else", async () => {
    const quiz = await createQuiz();
    const email = uniqueEmail("taker");
    const res = await submit(quiz.slug, {
      attemptId: randomUUID(), email, firstName: "Ana", phone: "+1 555 0100", answers: { size: "large", tools: ["crm", "paper"] },
    });
    const body = expectOk(res, 201);
    // (10 + 5 - 3) of at most 10 + 10 = 60
    expect(body).toEqual({ success: true, score: 60, band: { label: "Ready", message: "Let's talk." }, duplicate: false, warnings: [], next_steps: [] });

    const leads = expectOk(await client.get(`/leads?q=${encodeURIComponent(email)}`)).leads;
    expect(leads).toHaveLength(1);
    expect(leads[0]).toMatchObject({ firstName: "Ana", phone: "+1 555 0100" });
    const submissions = expectOk(await client.get(`/quizzes/${quiz.id}/submissions`));
    expect(submissions.submissions[0]).toMatchObject({
      leadId: leads[0].id, email, score: 60, rawPoints: 12, maxPoints: 20,
      answers: { size: ["large"], tools: ["crm", "paper"] }, band: { label: "Ready" },
    });
  });

  it("updates an existing lead with the same email instead of creating another", async () => {
    const quiz = await createQuiz();
    const existing = expectOk(await client.post("/leads", lead({ firstName: "Old", lastName: "Name" })), 201);
    expectOk(await submit(quiz.slug, { email: existing.lead.email.toUpperCase(), firstName: "New", answers: { size: "small" } }), 201);
    const after = expectOk(await client.get(`/leads/${existing.id}`));
    expect(after.lead ?? after).toMatchObject({ firstName: "New", lastName: "Name" });
    const submissions = expectOk(await client.get(`/quizzes/${quiz.id}/submissions`)).submissions;
    expect(submissions[0]).toMatchObject({ leadId: existing.id, score: 0, band: { label: "Getting started" } });
  });

  it("answers a repeated attempt with its first result and writes nothing", async () => {
    const quiz = await createQuiz();
    const attemptId = randomUUID();
    const email = uniqueEmail("twice");
    expectOk(await submit(quiz.slug, { attemptId, email, answers: { size: "large" } }), 201);
    const again = expectOk(await submit(quiz.slug, { attemptId, email, answers: { size: "small" } }), 200);
    expect(again).toMatchObject({ score: 50, duplicate: true });
    expect(again.warnings[0]).toContain("submitted before");
    expect(expectOk(await client.get(`/quizzes/${quiz.id}/submissions`)).total).toBe(1);
  });

  it("stores one submission when the same attempt arrives several times at once", async () => {
    const quiz = await createQuiz();
    const attempt = { attemptId: randomUUID(), email: uniqueEmail("racer"), answers: { size: "large" } };
    const replies = await Promise.all(Array.from({ length: 6 }, () => submit(quiz.slug, attempt)));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect(new Set(replies.map((r) => r.body.score))).toEqual(new Set([50]));
    expect(expectOk(await client.get(`/quizzes/${quiz.id}/submissions`)).total).toBe(1);
  });

  it("derives the attempt from email and answers when none is sent", async () => {
    const quiz = await createQuiz();
    const email = uniqueEmail("derived");
    const first = expectOk(await submit(quiz.slug, { email, answers: { tools: ["mail", "crm"], size: "large" } }), 201);
    expect(first.warnings[0]).toContain("No attemptId");
    const same = expectOk(await submit(quiz.slug, { email: email.toUpperCase(), answers: { size: "large", tools: ["crm", "mail"] } }), 200);
    expect(same.duplicate).toBe(true);
    expectOk(await submit(quiz.slug, { email, answers: { size: "small" } }), 201);
    expect(expectOk(await client.get(`/quizzes/${quiz.id}/submissions`)).total).toBe(2);
  });

  it.each([
    [{ answers: { size: "large", colour: "red" } }, "unknown_question", "colour"],
    [{ answers: { size: "huge" } }, "unknown_option", "\"size\""],
    [{ answers: { tools: ["crm"] } }, "missing_answer", "\"size\""],
    [{ answers: { size: ["small", "large"] } }, "single_answer_expected", "\"size\""],
    [{ email: "not-an-email", answers: { size: "large" } }, "invalid_email", "email"],
  ])("refuses an invalid submission (%j) with 400 naming the problem", async (change, code, named) => {
    const quiz = await createQuiz();
    const error = expectError(await submit(quiz.slug, { email: uniqueEmail(), ...change }), 400, code);
    expect(error.message).toContain(named);
    expect(expectOk(await client.get(`/quizzes/${quiz.id}/submissions`)).total).toBe(0);
  });

  it("refuses a missing email and malformed answers before the database", async () => {
    const quiz = await createQuiz();
    expectError(await submit(quiz.slug, { answers: { size: "large" } }), 400, "invalid_request");
    expectError(await submit(quiz.slug, { email: uniqueEmail(), answers: "large" }), 400, "invalid_request");
  });

  it("answers 404 for a draft or unknown quiz, and 413 for an oversized body", async () => {
    const draft = await createQuiz({ status: "draft" });
    expectError(await submit(draft.slug, { email: uniqueEmail(), answers: { size: "large" } }), 404, "quiz_not_found");
    expectError(await submit("no-such-quiz", { email: uniqueEmail(), answers: {} }), 404, "quiz_not_found");
    const quiz = await createQuiz();
    const huge = { email: uniqueEmail(), answers: { size: "large" }, firstName: "x".repeat(70_000) };
    expectError(await submit(quiz.slug, huge), 413, "payload_too_large");
  });

  it("takes the page's form post and answers with an escaped HTML result page", async () => {
    const quiz = await createQuiz({ resultBands: [{ min: 0, max: 100, label: "<b>All</b>", message: "<i>Thanks</i>" }] });
    const form = new URLSearchParams([
      ["attemptId", randomUUID()], ["email", uniqueEmail("form")], ["firstName", "Form"],
      ["answers.size", "large"], ["answers.tools", "crm"], ["answers.tools", "mail"],
    ]);
    const post = (body: URLSearchParams) => fetch(`${baseUrl()}${submitPath(quiz.slug)}`, {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body,
    });
    const res = await post(form);
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain("&lt;b&gt;All&lt;/b&gt;");
    expect(html).toContain("&lt;i&gt;Thanks&lt;/i&gt;");
    expect(html).toMatch(/>100<small>/);

    const bad = await post(new URLSearchParams([["email", uniqueEmail()], ["answers.size", "<script>"]]));
    expect(bad.status).toBe(400);
    const errorHtml = await bad.text();
    expect(errorHtml).toContain("&lt;script&gt;");
    expect(errorHtml).not.toContain("<script>");
  });

  it("refuses other content types with 415", async () => {
    const quiz = await createQuiz();
    const res = await call("POST", submitPath(quiz.slug), undefined, { raw: "email=a", headers: { "content-type": "text/plain" } });
    expectError(res, 415, "unsupported_media_type");
  });
});
