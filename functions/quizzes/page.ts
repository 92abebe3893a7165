// The quiz as people see it: the page GET /q/{slug} serves (routes/quiz-page.ts), a small,
// self-contained HTML form (no external assets, mobile viewport, labelled fieldsets) that
// posts to the public submission endpoint as a plain form; the result and error pages
// answer that post.
// Everything printed is HTML-escaped: titles, questions and labels are the org's input,
// and a quiz page must never run anyone's script.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { escapeHtml } from "../http/page.ts";
import { quizSubmitPath } from "./urls.ts";

export interface PublicQuestion {
  id: string;
  text: string;
  type: "single" | "multi";
  required: boolean;
  options: { id: string; label: string }[];
}

export interface PublicQuiz {
  title: string;
  description: string | null;
  slug: string;
  collectName: boolean;
  collectPhone: boolean;
  questions: PublicQuestion[];
}

/** Form field name of a question's answers (repeated for each ticked option). */
export const ANSWER_FIELD_PREFIX = "answers.";


const style = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
  body { margin: 0 auto; max-width: 40rem; padding: 1rem; }
  fieldset { border: 1px solid #8884; border-radius: .5rem; margin: 0 0 1rem; padding: .75rem 1rem; }
  legend { font-weight: 600; padding: 0 .25rem; }
  label { display: block; margin: .35rem 0; }
  input[type=email], input[type=text], input[type=tel] { box-sizing: border-box; width: 100%; padding: .5rem; font: inherit; }
  button { font: inherit; padding: .6rem 1.2rem; border-radius: .4rem; border: 0; background: #1d4ed8; color: #fff; cursor: pointer; }
  .score { font-size: 2.5rem; font-weight: 700; margin: .5rem 0; }
`;

function document(title: string, body: string, nonce?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style${nonce ? ` nonce="${nonce}"` : ""}>${style}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

/** Inline script and style only, from this response; posts only back to this site. */
function htmlResponse(c: Context, html: string, status: ContentfulStatusCode, nonce: string) {
  c.header("Content-Security-Policy",
    `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'`);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cache-Control", "no-store");
  return c.html(html, status);
}

const newNonce = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));

function questionHtml(question: PublicQuestion, index: number): string {
  const input = question.type === "multi" ? "checkbox" : "radio";
  const name = escapeHtml(ANSWER_FIELD_PREFIX + question.id);
  // A required radio group is enforced by the browser; checkboxes by the server.
  const required = question.required && input === "radio" ? " required" : "";
  const hint = question.type === "multi" ? " <small>(choose any)</small>" : "";
  const options = question.options.map((option) =>
    `<label><input type="${input}" name="${name}" value="${escapeHtml(option.id)}"${required}> ${escapeHtml(option.label)}</label>`).join("\n");
  return `<fieldset>
<legend>${index + 1}. ${escapeHtml(question.text)}${question.required ? ' <span aria-hidden="true">*</span>' : ""}${hint}</legend>
${options}
</fieldset>`;
}

const field = (name: string, label: string, type: string, autocomplete: string, required: boolean) =>
  `<label>${escapeHtml(label)}${required ? ' <span aria-hidden="true">*</span>' : ""}
<input type="${type}" name="${name}" autocomplete="${autocomplete}" maxlength="${type === "email" ? 320 : 200}"${required ? " required" : ""}></label>`;

export function quizPage(quiz: PublicQuiz, nonce: string): string {
  // Relative, so the form posts to the same deployment under any prefix (/q/… or /openclaw/q/…).
  const action = `..${quizSubmitPath(quiz.slug)}`;
  const contact = [
    ...(quiz.collectName
      ? [field("firstName", "First name", "text", "given-name", false), field("lastName", "Last name", "text", "family-name", false)]
      : []),
    field("email", "Email", "email", "email", true),
    ...(quiz.collectPhone ? [field("phone", "Phone", "tel", "tel", false)] : []),
  ].join("\n");
  return document(quiz.title, `<h1>${escapeHtml(quiz.title)}</h1>
${quiz.description ? `<p>${escapeHtml(quiz.description)}</p>` : ""}
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="attemptId" id="attemptId">
${quiz.questions.map(questionHtml).join("\n")}
<fieldset>
<legend>Your details</legend>
${contact}
</fieldset>
<button type="submit">See my result</button>
</form>
<script nonce="${nonce}">
  // One attempt id per page load: a double submit or a retry counts once.
  (function () {
    var bytes = crypto.getRandomValues(new Uint8Array(16)), id = "";
    for (var i = 0; i < bytes.length; i++) id += (bytes[i] + 256).toString(16).slice(1);
    document.getElementById("attemptId").value = id;
  })();
</script>`, nonce);
}

export interface QuizResult {
  score: number;
  band: { label: string; message: string };
}

export function resultPage(c: Context, result: QuizResult, status: ContentfulStatusCode) {
  const nonce = newNonce();
  return htmlResponse(c, document(`Your result: ${result.band.label}`, `<h1>${escapeHtml(result.band.label)}</h1>
<p class="score" aria-label="Your score">${escapeHtml(result.score)}<small>/100</small></p>
${result.band.message ? `<p>${escapeHtml(result.band.message)}</p>` : ""}`, nonce), status, nonce);
}

export function errorPage(c: Context, status: ContentfulStatusCode, message: string, hint: string) {
  const nonce = newNonce();
  return htmlResponse(c, document("Something is not right", `<h1>Something is not right</h1>
<p role="alert">${escapeHtml(message)}</p>
${hint ? `<p>${escapeHtml(hint)}</p>` : ""}
<p>Use your browser's back button to change your answers.</p>`, nonce), status, nonce);
}

/** The quiz's page, as GET /q/{slug} answers it. */
export function quizPageResponse(c: Context, quiz: PublicQuiz) {
  const nonce = newNonce();
  return htmlResponse(c, quizPage(quiz, nonce), 200, nonce);
}
