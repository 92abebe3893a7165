// GET /p/{slug}: the public proposal page (HTML, no key). One call to app.proposal_page
// fetches everything it prints; unknown or unpublished slugs get a 404 page. The
// workspace's own views (?preview=<token>, or a request with one of its API keys) are
// rendered without the beacon.
import { asAnonymous } from "../db.ts";
import { limitOpenRoute } from "../http/rate-limit.ts";
import { createRouter } from "../http/router.ts";
import { sha256Hex } from "../http/digest.ts";
import { readApiKey } from "../http/tenant.ts";
import { pageHeaders, type ProposalPageData, renderNotFoundPage, renderProposalPage } from "../proposals/page.ts";

const SLUG = /^[a-z0-9-]{8,60}$/;
const PREVIEW_TOKEN = /^[0-9a-f]{32}$/;

function newNonce(): string {
  // Hex digits are valid base64 and need no escaping in the attribute.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export const proposalPageRoutes = createRouter().get("/p/:slug", limitOpenRoute((_c, ip) => [{ policy: "page-ip", key: ip }]), async (c) => {
  const nonce = newNonce();
  const slug = c.req.param("slug");
  const preview = c.req.query("preview");
  const key = readApiKey(c);
  const keyHash = key && /^rcm_live_[0-9a-f]{64}$/.test(key) ? await sha256Hex(key) : null;
  const page = SLUG.test(slug)
    ? (await asAnonymous(c.var.sql, (tx) => tx<{ page: ProposalPageData | null }[]>`
        select app.proposal_page(${slug}, ${preview && PREVIEW_TOKEN.test(preview) ? preview : null}, ${keyHash}) as page`))[0]!.page
    : null;
  const headers = pageHeaders(nonce);
  if (!page) return c.body(renderNotFoundPage({ nonce }), 404, headers);
  // Relative to /p/{slug}, so the beacon also finds the API under the Edge Function's prefix.
  return c.body(renderProposalPage(page, { nonce, trackUrl: "../api/tracking/events" }), 200, headers);
});
