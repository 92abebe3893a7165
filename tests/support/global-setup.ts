// Starts the real API (Node entry's app, real Postgres) on a free loopback port for the
// whole run; test files reach it over HTTP through inject("apiUrl").
import { serve, type ServerType } from "@hono/node-server";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { connect, type Sql } from "../../functions/db.ts";
import { createNodeApp } from "../../functions/node/app.ts";
import { generousLimits } from "./limits.ts";
import { type LoopbackDns, type LoopbackServer, startDnsServer, startWebsiteServer } from "./loopback.ts";

declare module "vitest" {
  export interface ProvidedContext {
    apiUrl: string;
    /** The database as its owner: arrange steps and reads of state no route shows. */
    databaseUrl: string;
    /** The database as the API logs in to it (the authenticator role on the project's clusters). */
    apiDatabaseUrl: string;
    /** The test server's operator (EIR) key: random per run, so nothing outside the run has it. */
    eirAdminKey: string;
  }
}

let server: ServerType | undefined;
let sql: Sql | undefined;
let websites: LoopbackServer | undefined;
let dns: LoopbackDns | undefined;

export async function setup(project: TestProject) {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error("DATABASE_URL is not set: run the suite with `npm test`.");
  // As npm start runs it: logged in as API_DATABASE_URL (npm test: the authenticator role,
  // which can do nothing of its own), its sessions acting as anon between transactions.
  const apiDatabaseUrl = process.env.API_DATABASE_URL || databaseUrl;
  sql = connect(apiDatabaseUrl, { max: 20, role: "anon" });
  const eirAdminKey = randomBytes(32).toString("hex");
  // Enrichment stays on loopback: no company website exists (404) and DNS knows no domain,
  // and no paid provider is configured. Enrichment tests start stacks of their own
  // (tests/support/enrichment-stack.ts) to script and count what providers answer.
  websites = await startWebsiteServer({});
  dns = await startDnsServer({});
  const settings: Record<string, string | undefined> = {
    // Many files make many requests with one key and sign up many workspaces from 127.0.0.1.
    ...generousLimits,
    EIR_ADMIN_KEY: eirAdminKey,
    ENRICHMENT_WEBSITE_URL_TEMPLATE: `${websites.url}/sites/{domain}/`,
    ENRICHMENT_ALLOW_PRIVATE_NETWORK: "true",
    ENRICHMENT_DNS_SERVER: dns.address,
    APOLLO_API_KEY: undefined,
    PDL_API_KEY: undefined,
    // No AI API either: campaigns with ai_enabled are answered with a warning (tests/campaigns.test.ts
    // starts an app of its own with one configured).
    AI_API_KEY: undefined,
    AI_BASE_URL: undefined,
  };
  const env = (name: string) => (name in settings ? settings[name] : process.env[name]);
  const app = createNodeApp(sql, env, 0);
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(info.port));
  });
  project.provide("apiUrl", `http://127.0.0.1:${port}`);
  project.provide("databaseUrl", databaseUrl);
  project.provide("apiDatabaseUrl", apiDatabaseUrl);
  project.provide("eirAdminKey", eirAdminKey);
}

export async function teardown() {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await sql?.end({ timeout: 2 });
  await Promise.all([websites?.close(), dns?.close()]);
}
