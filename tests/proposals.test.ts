// Proposals over HTTP: every lead comes with its page, agents read and write the content,
// the public page is branded, personalised, escaped and locked down, other orgs see 404.
import { beforeAll, describe, expect, it } from "vitest";
import { as, baseUrl, expectError, expectOk, lead, signup, type Workspace } from "./support/api.ts";
import { setLeadEnrichment } from "./support/db.ts";

let ws: Workspace;
let other: Workspace;
const BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

async function page(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${baseUrl()}${path}`, { headers: { "user-agent": BROWSER_UA, ...headers } });
  return { status: res.status, headers: res.headers, html: await res.text() };
}

beforeAll(async () => {
  [ws, other] = await Promise.all([signup(), signup()]);
  expectOk(await as(ws).post("/setup", { org: { name: "Bright Dental Growth", primaryColor: "#FFD700", bookingLink: "https://cal.example.com/bright/intro" } }));
});

describe("lead replies", () => {
  it("carry proposalId (a readable slug with 8 random characters) and proposalUrl on create, fetch and list", async () => {
    const created = expectOk(await as(ws).post("/leads", lead({ companyName: "Cool Startup, Inc." })), 201);
    expect(created.lead.proposalId).toMatch(/^cool-startup-inc-[a-z0-9]{8}$/);
    expect(new URL(created.lead.proposalUrl).pathname).toBe(`/p/${created.lead.proposalId}`);
    const fetched = expectOk(await as(ws).get(`/leads/${created.id}`));
    expect(fetched.lead.proposalId).toBe(created.lead.proposalId);
    const listed = expectOk(await as(ws).get("/leads?limit=200"));
    expect(listed.leads.find((l: { id: string }) => l.id === created.id).proposalUrl).toBe(created.lead.proposalUrl);
  });

  it("name the slug after the organisation, else the person", async () => {
    const byOrg = expectOk(await as(ws).post("/leads", lead({ organizationName: "Smile Clinic", companyName: null })), 201);
    expect(byOrg.lead.proposalId).toMatch(/^smile-clinic-[a-z0-9]{8}$/);
    const byName = expectOk(await as(ws).post("/leads", lead({ firstName: "Zoë", lastName: "O'Neil", organizationName: null })), 201);
    expect(byName.lead.proposalId).toMatch(/^zo-o-neil-[a-z0-9]{8}$/);
  });
});

describe("GET/PUT /proposals", () => {
  it("reads a new lead's proposal: links, default content, no engagement yet", async () => {
    const { id, lead: created } = expectOk(await as(ws).post("/leads", lead()), 201);
    const body = expectOk(await as(ws).get(`/proposals?leadId=${id}`));
    expect(body.proposal).toMatchObject({
      leadId: id, slug: created.proposalId, proposalId: created.proposalId, url: created.proposalUrl, published: true, content: {},
    });
    expect(body.proposal.previewUrl).toBe(`${created.proposalUrl}?preview=${new URL(body.proposal.previewUrl).searchParams.get("preview")}`);
    expect(new URL(body.proposal.previewUrl).searchParams.get("preview")).toMatch(/^[0-9a-f]{32}$/);
    expect(body.tracking).toEqual({ totalViews: 0, timeOnPage: 0, sectionsViewed: [], videoCompletion: 0, ctaClicks: 0, lastViewedAt: null });
    expect(body.next_steps[0]).toContain("PUT /api/openclaw/proposals");
  });

  it("merges sections: fields sent replace, null removes, sections left out stay", async () => {
    const { id } = expectOk(await as(ws).post("/leads", lead()), 201);
    expectOk(await as(ws).put("/proposals", {
      leadId: id,
      content: { hero: { headline: "Fill every chair", subheadline: "Sub" }, offer: { body: "We run your recall campaigns." } },
    }));
    const merged = expectOk(await as(ws).put("/proposals", { leadId: id, content: { hero: { subheadline: null }, cta: { label: "Book now" } } }));
    expect(merged.proposal.content).toEqual({
      hero: { headline: "Fill every chair" }, offer: { body: "We run your recall campaigns." }, cta: { label: "Book now" },
    });
    const removed = expectOk(await as(ws).put("/proposals", { leadId: id, content: { offer: null } }));
    expect(Object.keys(removed.proposal.content).sort()).toEqual(["cta", "hero"]);
  });

  it("unpublishes a page: the public gets 404, the preview link still shows it", async () => {
    const { id } = expectOk(await as(ws).post("/leads", lead()), 201);
    const { proposal } = expectOk(await as(ws).put("/proposals", { leadId: id, published: false }));
    expect(proposal.published).toBe(false);
    expect((await page(`/p/${proposal.slug}`)).status).toBe(404);
    const preview = await page(new URL(proposal.previewUrl).pathname + new URL(proposal.previewUrl).search);
    expect(preview.status).toBe(200);
    expect(preview.html).toContain("Preview: visits from this link are not counted.");
    expect(preview.html).not.toContain("<script");
  });

  it.each([
    [{ hero: { headline: 42 } }, "hero.headline must be a text"],
    [{ cta: { url: "javascript:alert(1)" } }, "cta.url must be an http(s) URL"],
    [{ footer: { text: "x" } }, "unknown section \"footer\""],
    [{ hero: { image: "x" } }, "hero.image is not a field of hero"],
    [{ pricing: { items: [{ name: "Basic" }] } }, "pricing.items must hold"],
    [{ video: { title: "Demo" } }, "video needs a url"],
  ])("refuses invalid content %j with a hint listing the sections", async (content, message) => {
    const { id } = expectOk(await as(ws).post("/leads", lead()), 201);
    const error = expectError(await as(ws).put("/proposals", { leadId: id, content }), 400, "invalid_proposal_content");
    expect(error.message).toContain(message);
    expect(error.hint).toContain("hero { headline, subheadline }");
  });

  it("asks for leadId, with a hint", async () => {
    const error = expectError(await as(ws).get("/proposals"), 400, "invalid_request");
    expect(error.hint).toContain("leadId");
    expectError(await as(ws).put("/proposals", { content: {} }), 400, "invalid_request");
  });

  it("answers 404 for an unknown lead and for another workspace's lead, and changes nothing there", async () => {
    const { id } = expectOk(await as(ws).post("/leads", lead()), 201);
    expectError(await as(ws).get("/proposals?leadId=rp_000000000000000000000000"), 404, "not_found");
    expectError(await as(other).get(`/proposals?leadId=${id}`), 404, "not_found");
    expectError(await as(other).put("/proposals", { leadId: id, content: { hero: { headline: "Hijacked" } } }), 404, "not_found");
    expect(expectOk(await as(ws).get(`/proposals?leadId=${id}`)).proposal.content).toEqual({});
  });

  it("needs an API key", async () => {
    expectError(await as({ ...ws, apiKey: "" }).get("/proposals?leadId=x"), 401, "missing_api_key");
  });
});

describe("GET /p/{slug}", () => {
  it("renders a branded, personalised, accessible page with the content and the booking link as CTA", async () => {
    const { id, lead: created } = expectOk(await as(ws).post("/leads", lead({ firstName: "Dana", lastName: "Reyes", title: "Practice Owner", companyName: "Reyes Family Dental" })), 201);
    expectOk(await as(ws).put("/proposals", { leadId: id, content: {
      problem: { points: ["Empty chairs on Tuesdays"] },
      offer: { heading: "Our plan", body: "Automated recall.\n\nWeekly reports." },
      pricing: { items: [{ name: "Starter", price: "$499/mo", description: "Up to 2 chairs" }] },
      video: { url: "https://video.example.com/demo.mp4", title: "A two-minute tour" },
    } }));
    const res = await page(`/p/${created.proposalId}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = res.html;
    expect(html).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain("<h1 id=\"hero-title\">A proposal for Reyes Family Dental</h1>");
    expect(html).toContain("Prepared for Dana Reyes, Practice Owner at Reyes Family Dental by Bright Dental Growth.");
    expect(html).toMatch(/<header class="site">[\s\S]*<main id="content">[\s\S]*<\/main>[\s\S]*<footer>/);
    expect(html).toContain("<li>Empty chairs on Tuesdays</li>");
    expect(html).toContain("<p>Automated recall.</p>\n<p>Weekly reports.</p>");
    expect(html).toContain("$499/mo");
    expect(html).toContain('src="https://video.example.com/demo.mp4"');
    expect(html).toContain('<a href="https://cal.example.com/bright/intro" data-cta rel="noopener noreferrer">Book a call</a>');
    // Brand colour #FFD700 is light: the button text is black for contrast.
    expect(html).toContain("--brand:#ffd700;--on-brand:#000000");
    for (const section of ["hero", "problem", "offer", "pricing", "video", "cta"]) expect(html).toContain(`data-section="${section}"`);
    expect(html).toContain(`data-slug="${created.proposalId}"`);
  });

  it("uses the lead's enrichment discussion points when the agent wrote no problem section", async () => {
    const { id, lead: created } = expectOk(await as(ws).post("/leads", lead({ companyName: "Points Co" })), 201);
    await setLeadEnrichment(id, { discussionPoints: [{ topic: "Hiring", detail: "Two open hygienist roles", source: "website" }] });
    const res = await page(`/p/${created.proposalId}`);
    expect(res.html).toContain("<li>Hiring: Two open hygienist roles</li>");
    expect(res.html).toContain("Where Points Co is today");
  });

  it("sends a nonce-only CSP (script and style carry the nonce) and hardening headers", async () => {
    const { lead: created } = expectOk(await as(ws).post("/leads", lead()), 201);
    const res = await page(`/p/${created.proposalId}`);
    const csp = res.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([0-9a-f]{32})'/.exec(csp)![1]!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain(`style-src 'nonce-${nonce}'`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.html).toContain(`<script nonce="${nonce}">`);
    expect(res.html).toContain(`<style nonce="${nonce}">`);
    expect(res.html.match(/<script/g)).toHaveLength(1);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    const again = await page(`/p/${created.proposalId}`);
    expect(again.headers.get("content-security-policy")).not.toBe(csp);
  });

  it("escapes every lead field, in text and attributes, and drops non-http links", async () => {
    const evil = `<img src=x onerror=alert(1)>"'`;
    const { id, lead: created } = expectOk(await as(ws).post("/leads", lead({ firstName: evil, lastName: "</script><script>alert(2)</script>", title: `" onmouseover="alert(3)`, companyName: null, organizationName: null })), 201);
    expectOk(await as(ws).put("/proposals", { leadId: id, content: {
      hero: { subheadline: "<b>bold</b>" },
      video: { url: "https://x.example.com/v.mp4?a=\"><script>alert(4)</script>" },
      cta: { label: "<svg onload=alert(5)>" },
    } }));
    const { html } = await page(`/p/${created.proposalId}`);
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>");
    expect(html).not.toContain("<svg");
    expect(html).not.toMatch(/<script>alert/);
    expect(html).not.toContain('" onmouseover="');
    // Hono's escaping (http/page.ts escapeHtml), in text and in quoted attributes alike.
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;");
    // Exactly one script element: the nonce'd beacon.
    expect(html.match(/<script\b/g)).toHaveLength(1);
  });

  it("answers an unknown or malformed slug with a 404 HTML page", async () => {
    for (const slug of ["no-such-proposal-abcdefgh", "x", "%3Cscript%3E"]) {
      const res = await page(`/p/${slug}`);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.html).toContain("<h1>Proposal not found</h1>");
      expect(res.html).not.toContain("<script");
    }
  });

  it("shows the workspace's own key a preview without the beacon", async () => {
    const { lead: created } = expectOk(await as(ws).post("/leads", lead()), 201);
    const own = await page(`/p/${created.proposalId}`, { authorization: `Bearer ${ws.apiKey}` });
    expect(own.html).toContain("Preview: visits from this link are not counted.");
    expect(own.html).not.toContain("<script");
    const stranger = await page(`/p/${created.proposalId}`, { authorization: `Bearer ${other.apiKey}` });
    expect(stranger.html).toContain("<script");
  });

  it("is served under the Edge Function prefix too", async () => {
    const { lead: created } = expectOk(await as(ws).post("/leads", lead()), 201);
    expect((await page(`/openclaw/p/${created.proposalId}`)).status).toBe(200);
  });
});
