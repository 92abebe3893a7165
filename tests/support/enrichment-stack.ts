// An API of its own for enrichment tests: the real app (same database as the suite) served
// on a free port, with every provider pointed at loopback stand-ins this file controls —
// Apollo, People Data Labs, company websites and DNS — so a test can script what each
// answers and count what each was asked. Nothing reaches the internet.
//
//   const stack = await startEnrichmentStack({ ENRICHMENT_BUDGET_MS: "500" });
//   stack.people.set("jane@acme-1.com", { apollo: apolloPerson({ … }) });
//   const ws = await stack.signup();
//   await stack.as(ws).post("/enrich", { leadId });
//   expect(stack.apollo.requests).toHaveLength(1);
//   await stack.close();
import { serve, type ServerType } from "@hono/node-server";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { inject } from "vitest";
import { connect } from "../../functions/db.ts";
import { createNodeApp } from "../../functions/node/app.ts";
import type { ApiResponse, RequestOptions, Workspace } from "./api.ts";
import {
  apolloMatch, type LoopbackDns, type LoopbackServer, pdlPerson, type Reply, type Site, startApolloServer, startDnsServer,
  startPdlServer, startWebsiteServer,
} from "./loopback.ts";

/** What the stand-ins know about one person: a provider's answer, "hang" (never answers) or an HTTP status. */
export interface Person {
  apollo?: Record<string, unknown> | "hang" | number;
  pdl?: Record<string, unknown> | "hang" | number;
}

export interface EnrichmentStack {
  url: string;
  apollo: LoopbackServer;
  pdl: LoopbackServer;
  websites: LoopbackServer;
  dns: LoopbackDns;
  /** Keyed by lower-case email; people not listed are unknown to both paid providers. */
  people: Map<string, Person>;
  /** Keyed by domain; domains not listed answer 404. */
  sites: Record<string, Site>;
  /** Keyed by domain: its mail exchangers. */
  mx: Record<string, string[]>;
  signup(): Promise<Workspace>;
  as(workspace: Workspace): {
    get<T = any>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
    post<T = any>(path: string, json?: unknown, options?: RequestOptions): Promise<ApiResponse<T>>;
    delete<T = any>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  };
  /** The requests a loopback server received for one person (Apollo: JSON body; PDL: query). */
  askedAbout(server: LoopbackServer, email: string): number;
  close(): Promise<void>;
}

/** Apollo's documented match, for this person. */
export function apolloPerson(email: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...apolloMatch.person, email, ...overrides };
}

/** People Data Labs' documented person, with overrides of its data. */
export function pdlData(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...pdlPerson.data, ...overrides };
}

/** A domain no other test (or earlier run: the domain cache is shared and kept) has used. */
export const uniqueDomain = (label = "acme") => `${label}-${randomUUID().slice(0, 12)}.com`;

export const homePage = (name: string) => `<!doctype html><html><head>
  <title>${name} — Anvils for the cloud</title>
  <meta property="og:site_name" content="${name}">
  <meta name="description" content="${name} makes anvils for the cloud.">
  <script src="https://js.hs-scripts.com/123.js"></script>
</head><body><a href="https://www.linkedin.com/company/${name.toLowerCase()}">LinkedIn</a><a href="/careers">Careers</a></body></html>`;

function personReply(answer: Person["apollo"], found: (value: Record<string, unknown>) => Reply, missing: Reply): Reply {
  if (answer === "hang") return "hang";
  if (typeof answer === "number") return { status: answer, json: { error: `scripted ${answer}` } };
  return answer ? found(answer) : missing;
}

export async function startEnrichmentStack(env: Record<string, string> = {}): Promise<EnrichmentStack> {
  const people = new Map<string, Person>();
  const sites: Record<string, Site> = {};
  const mx: Record<string, string[]> = {};
  const apollo = await startApolloServer((request) => {
    const email = String((request.json as { email?: unknown } | undefined)?.email ?? "").toLowerCase();
    return personReply(people.get(email)?.apollo, (person) => ({ json: { person } }), { json: { person: null } });
  });
  const pdl = await startPdlServer((request) => {
    const email = (request.query.get("email") ?? "").toLowerCase();
    return personReply(people.get(email)?.pdl, (data) => ({ json: { status: 200, likelihood: 9, data } }),
      { status: 404, json: { status: 404, error: { type: "not_found", message: "No records were found matching your request" } } });
  });
  const websites = await startWebsiteServer(sites);
  const dns = await startDnsServer(mx);

  const settings: Record<string, string> = {
    APOLLO_API_KEY: "apollo-test-key",
    APOLLO_BASE_URL: apollo.url,
    PDL_API_KEY: "pdl-test-key",
    PDL_BASE_URL: pdl.url,
    ENRICHMENT_WEBSITE_URL_TEMPLATE: `${websites.url}/sites/{domain}/`,
    ENRICHMENT_ALLOW_PRIVATE_NETWORK: "true",
    ENRICHMENT_DNS_SERVER: dns.address,
    ENRICHMENT_RETRIES: "0",
    ENRICHMENT_REQUEST_TIMEOUT_MS: "5000",
    ...env,
  };
  const sql = connect(inject("apiDatabaseUrl"), { max: 10, role: "anon" });
  const app = createNodeApp(sql, (name) => (name in settings ? settings[name] : process.env[name]), 0);
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(info.port));
  });
  const url = `http://127.0.0.1:${port}`;

  async function call<T>(method: string, path: string, json: unknown, options: RequestOptions & { key?: string }): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    const body = options.raw ?? (json === undefined ? undefined : JSON.stringify(json));
    if (body !== undefined) headers["content-type"] ??= "application/json";
    const response = await fetch(`${url}/api/openclaw${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  return {
    url, apollo, pdl, websites, dns, people, sites, mx,
    async signup() {
      const email = `owner-${randomUUID()}@example.com`;
      const res = await call<any>("POST", "/signup", { email, workspace_name: "Enrichment", agent_name: "vitest", agent_platform: "openclaw" }, {});
      if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
      return { orgId: res.body.orgId, apiKey: res.body.apiKey, email };
    },
    as(workspace) {
      const key = workspace.apiKey;
      return {
        get: (path, options = {}) => call("GET", path, undefined, { key, ...options }),
        post: (path, json, options = {}) => call("POST", path, json, { key, ...options }),
        delete: (path, options = {}) => call("DELETE", path, undefined, { key, ...options }),
      };
    },
    askedAbout(server, email) {
      const wanted = email.toLowerCase();
      return server.requests.filter((r) =>
        String((r.json as { email?: unknown } | undefined)?.email ?? r.query.get("email") ?? "").toLowerCase() === wanted).length;
    },
    async close() {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await Promise.all([apollo.close(), pdl.close(), websites.close(), dns.close()]);
      await sql.end({ timeout: 2 });
    },
  };
}
