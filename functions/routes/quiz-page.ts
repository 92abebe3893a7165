// GET /q/{slug}: a published quiz's public page (HTML, no key), limited per client IP. One call
// to app.public_quiz fetches what it shows; unknown, unpublished or archived quizzes get a 404
// page. The page itself is rendered by quizzes/page.ts.
import { asAnonymous } from "../db.ts";
import { limitOpenRoute } from "../http/rate-limit.ts";
import { createRouter } from "../http/router.ts";
import { errorPage, type PublicQuiz, quizPageResponse } from "../quizzes/page.ts";

export const quizPageRoutes = createRouter().get("/q/:slug", limitOpenRoute((_c, ip) => [{ policy: "page-ip", key: ip }]), async (c) => {
  const slug = c.req.param("slug");
  const quiz = /^[a-z0-9-]{1,60}$/.test(slug)
    ? await asAnonymous(c.var.sql, async (tx) => {
      const [row] = await tx<{ quiz: PublicQuiz | null }[]>`select app.public_quiz(${slug}) as quiz`;
      return row!.quiz;
    })
    : null;
  if (!quiz) return errorPage(c, 404, "There is no quiz at this address.", "Check the link; the quiz may have been unpublished or removed.");
  return quizPageResponse(c, quiz);
});
