// Where a quiz lives for the people who take it: its page and the endpoint the page
// (or any other client) posts answers to. Both hang off the public slug only.
import { API_PREFIX } from "../http/prefixes.ts";

export const quizPagePath = (slug: string) => `/q/${encodeURIComponent(slug)}`;
export const quizSubmitPath = (slug: string) => `${API_PREFIX}/public/quizzes/${encodeURIComponent(slug)}/submissions`;

export function quizUrls(publicUrl: string, slug: string) {
  return { publicUrl: `${publicUrl}${quizPagePath(slug)}`, submitUrl: `${publicUrl}${quizSubmitPath(slug)}` };
}
