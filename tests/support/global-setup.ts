// Starts the real API (Node entry's app, real Postgres) on a free loopback port for the
// whole run; test files reach it over HTTP through inject("apiUrl").
import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { connect, type Sql } from "../../functions/db.ts";
import { createNodeApp } from "../../functions/node/app.ts";

declare module "vitest" {
  export interface ProvidedContext {
    apiUrl: string;
    databaseUrl: string;
  }
}

let server: ServerType | undefined;
let sql: Sql | undefined;

export async function setup(project: TestProject) {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error("DATABASE_URL is not set: run the suite with `npm test`.");
  sql = connect(databaseUrl, { max: 20 });
  const env = (name: string) => process.env[name];
  const app = createNodeApp(sql, env, 0);
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(info.port));
  });
  project.provide("apiUrl", `http://127.0.0.1:${port}`);
  project.provide("databaseUrl", databaseUrl);
}

export async function teardown() {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await sql?.end({ timeout: 2 });
}
