// GET /api-docs works offline: the page loads Swagger UI's script and stylesheet from the app
// itself (the pinned swagger-ui-dist package), never from another host, at the root and under
// the Edge Function's prefix alike.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SWAGGER_UI_VERSION } from "../functions/routes/docs.ts";
import { baseUrl, expectError } from "./support/api.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The src and href of every script and stylesheet the page loads. */
function assetLinks(html: string): string[] {
  return [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/g)].map((m) => m[1]!);
}

async function fetchPage(path: string) {
  const res = await fetch(`${baseUrl()}${path}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  return res.text();
}

describe("GET /api-docs offline", () => {
  for (const prefix of ["", "/openclaw"]) {
    it(`loads Swagger UI's script and stylesheet from the app itself (${prefix || "root"})`, async () => {
      const pageUrl = `${baseUrl()}${prefix}/api-docs`;
      const links = assetLinks(await fetchPage(`${prefix}/api-docs`));
      expect(links.length).toBe(2);
      for (const link of links) {
        expect(link, "a relative link").not.toMatch(/^[a-z]+:|^\/\//i);
        const url = new URL(link, pageUrl);
        expect(url.origin).toBe(baseUrl());
        expect(url.pathname.startsWith(`${prefix}/api-docs/swagger-ui-dist@${SWAGGER_UI_VERSION}/`), url.pathname).toBe(true);
        const res = await fetch(url);
        expect(res.status, url.pathname).toBe(200);
        const body = await res.text();
        if (url.pathname.endsWith(".js")) {
          expect(res.headers.get("content-type")).toMatch(/^text\/javascript/);
          expect(body).toContain("SwaggerUIBundle");
        } else {
          expect(res.headers.get("content-type")).toMatch(/^text\/css/);
          expect(body).toContain(".swagger-ui");
        }
        expect(res.headers.get("cache-control")).toContain("immutable");
      }
    });
  }

  it("serves the files of the swagger-ui-dist version package.json pins", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    const installed = JSON.parse(readFileSync(join(root, "node_modules/swagger-ui-dist/package.json"), "utf8"));
    expect(pkg.dependencies["swagger-ui-dist"]).toBe(SWAGGER_UI_VERSION);
    expect(installed.version).toBe(SWAGGER_UI_VERSION);
  });

  it("answers 404 for any other file under the assets' path", async () => {
    const res = await fetch(`${baseUrl()}/api-docs/swagger-ui-dist@${SWAGGER_UI_VERSION}/package.json`);
    const body = await res.json();
    expectError({ status: res.status, body, headers: res.headers }, 404, "route_not_found");
  });
});
