// The dashboard at /app (signup's dashboardUrl): server-rendered pages for people signed in
// with a mailed link (a browser session), read in the same tenant transaction as the API
// (memberTransaction: the member's org, role and row-level security), from the same views
// and SQL functions (dashboard/data.ts), rendered by dashboard/pages.ts.
//   GET /app                 → app/ (so relative links resolve below it)
//   GET /app/                the pipeline board (?tier=&label=&q=)
//   GET /app/leads/{leadId}  a lead (404 for another org's lead)
//   GET /app/stalled, /app/analytics (?days=), /app/campaigns, /app/settings
//   GET /app/assets/{file}   our script and stylesheet and Chart.js, under content-hashed names
// Writes are not routes here: the page's script calls the JSON API with the session cookie
// and its CSRF token, so a person's change passes the same routes and SQL rules as an agent's.
// Signed-out visitors (no session, or one that ended) are sent to the sign-in page.
// These HTML pages are left out of the OpenAPI document, as the other HTML pages are.
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/context.ts";
import { ApiError } from "../http/errors.ts";
import { readSessionToken } from "../http/session.ts";
import { memberTransaction } from "../http/tenant.ts";
import { dashboardAssets } from "../dashboard/assets.ts";
import {
  BOARD_LIMIT, readAnalytics, readBoard, readCampaigns, readLead, readSettings, readStalled, readViewer,
} from "../dashboard/data.ts";
import {
  analyticsPage, boardPage, campaignsPage, leadPage, notFoundPage, type Shell, settingsPage, stalledPage,
} from "../dashboard/pages.ts";

/** The strict policy of every dashboard page: our own script, style, images and API, nothing inline. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
  + "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** The relative way from this page back to /app/: one "../" per path segment below it. */
function baseOf(c: Context): string {
  const path = c.req.path;
  const below = path.slice(path.lastIndexOf("/app/") + "/app/".length);
  const depth = below.split("/").length - 1;
  return depth > 0 ? "../".repeat(depth) : "./";
}

const signInPath = (c: Context) => `${baseOf(c).replace(/^\.\/$/, "")}../api/openclaw/auth/sign-in`;

/** Pages need a working session; without one (or with one that ended) the visitor goes to sign in. */
const signedIn: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (readSessionToken(c) === undefined) return c.redirect(signInPath(c), 302);
  try {
    await memberTransaction(c, next);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return c.redirect(signInPath(c), 302);
    throw err;
  }
  return undefined;
};

const pageHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header("Content-Security-Policy", DASHBOARD_CSP);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
};

/**
 * The page's frame: who is signed in. The handler starts before the session's answer is back
 * (memberTransaction), so the viewer is read by the session's claims in SQL, and c.var.identity
 * (its CSRF token) only once that read has answered.
 */
async function shell(c: Context<AppEnv>): Promise<Shell> {
  const [viewer, assets] = await Promise.all([readViewer(c.var.db), dashboardAssets()]);
  const identity = c.var.identity;
  if (identity.kind !== "session") throw new Error("dashboard pages run with a browser session only");
  return { base: baseOf(c), viewer, csrfToken: identity.csrfToken, assets };
}

const text = (value: string | undefined, max: number) => {
  const trimmed = value?.trim();
  return trimmed ? trimmed.slice(0, max) : undefined;
};

export const dashboardRoutes = new Hono<AppEnv>();
dashboardRoutes
  // /app itself moves to app/, so the pages' relative links resolve below it.
  .get("/app", (c) => c.redirect("app/", 302))
  .get("/app/assets/:file", async (c) => {
    const asset = (await dashboardAssets()).byName.get(c.req.param("file"));
    if (!asset) return c.text("Not found", 404);
    // The name carries the content's hash, so the file under it never changes.
    return c.body(asset.body, 200, {
      "content-type": asset.contentType,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    });
  })
  .use("/app/", pageHeaders, signedIn)
  .use("/app/:page{stalled|analytics|campaigns|settings}", pageHeaders, signedIn)
  .use("/app/leads/:leadId", pageHeaders, signedIn)
  .get("/app/", async (c) => {
    const filter = { tier: text(c.req.query("tier"), 50), label: text(c.req.query("label"), 20), q: text(c.req.query("q"), 200) };
    const board = await readBoard(c.var.db, filter);
    return c.html(boardPage(await shell(c), board, filter, BOARD_LIMIT));
  })
  .get("/app/leads/:leadId", async (c) => {
    const leadId = c.req.param("leadId");
    const page = leadId.length <= 100 ? await readLead(c.var.db, leadId) : undefined;
    const frame = await shell(c);
    if (!page) return c.html(notFoundPage(frame, `Lead ${leadId}`), 404);
    return c.html(leadPage(frame, page));
  })
  .get("/app/stalled", async (c) => c.html(stalledPage(await shell(c), await readStalled(c.var.db))))
  .get("/app/analytics", async (c) => {
    const asked = Number(c.req.query("days") ?? 30);
    const days = Number.isInteger(asked) && asked >= 1 && asked <= 365 ? asked : 30;
    return c.html(analyticsPage(await shell(c), await readAnalytics(c.var.db, days)));
  })
  .get("/app/campaigns", async (c) => c.html(campaignsPage(await shell(c), await readCampaigns(c.var.db))))
  .get("/app/settings", async (c) => c.html(settingsPage(await shell(c), await readSettings(c.var.db))));
