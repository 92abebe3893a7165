// GET /api-docs: the interactive docs (Swagger UI over /openapi.json), with Swagger UI's script
// and stylesheet served by the app itself from the pinned swagger-ui-dist package, so the docs
// work with no network (npm start on a laptop offline) and the page loads nothing from a CDN.
// The files are read once, on first use, through node:fs (which Deno provides too). A runtime
// that cannot read the package's files gets a page that loads the same pinned version from
// jsDelivr instead, so the docs never break where the network is there anyway.
// Links are relative, so the page works at the root and under the Edge Function's prefix.
import { swaggerUI } from "@hono/swagger-ui";
import { Hono } from "hono";

/** The swagger-ui-dist version package.json pins (tests/api-docs.test.ts keeps them equal). */
export const SWAGGER_UI_VERSION = "5.35.0";
const CDN = "https://cdn.jsdelivr.net/npm";

const ASSETS = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
} as const;
type Asset = keyof typeof ASSETS;

type Files = Map<Asset, Uint8Array<ArrayBuffer>>;
let loading: Promise<Files | undefined> | undefined;

/** The asset files' bytes, or undefined where this runtime cannot read the package. */
function localAssets(): Promise<Files | undefined> {
  loading ??= (async () => {
    try {
      // The package's own answer to "where are my files", resolved at run time from
      // node_modules (a CommonJS file: the Edge bundle leaves it out and takes the CDN page).
      const specifier = "swagger-ui-dist/absolute-path.js";
      const { default: packageFolder } = await import(specifier);
      const [{ readFile }, { join }] = await Promise.all([import("node:fs/promises"), import("node:path")]);
      const folder = (packageFolder as () => string)();
      const names = Object.keys(ASSETS) as Asset[];
      const bytes = await Promise.all(names.map((name) => readFile(join(folder, name))));
      return new Map(names.map((name, i) => [name, new Uint8Array(bytes[i]!)]));
    } catch {
      return undefined;
    }
  })();
  return loading;
}

const page = (baseUrl: string) =>
  swaggerUI({ url: "openapi.json", title: "OpenClaw CRM API", baseUrl, version: SWAGGER_UI_VERSION });
// Relative to /api-docs: the assets below, at …/api-docs/swagger-ui-dist@<version>/<file>.
const localPage = page("api-docs");
const cdnPage = page(CDN);

// No AppEnv: nothing here reads the request's database or settings.
export const docsRoutes = new Hono()
  .get("/api-docs", async (c, next) => ((await localAssets()) ? localPage : cdnPage)(c, next))
  .get(`/api-docs/swagger-ui-dist@${SWAGGER_UI_VERSION}/:file`, async (c) => {
    const name = c.req.param("file");
    const body = name in ASSETS ? (await localAssets())?.get(name as Asset) : undefined;
    if (!body) return c.notFound();
    // The path names the version, so the file under it never changes.
    return c.body(body, 200, { "content-type": ASSETS[name as Asset], "cache-control": "public, max-age=31536000, immutable" });
  });
