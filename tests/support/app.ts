// The real app (Node entry, the suite's database) served on a free loopback port with settings
// of a test's own, for behaviour that depends on deployment settings the suite's server does
// not have (an AI API, say). Workspaces signed up on the suite's server work here too: same
// database.
//
//   const app = await startApp({ AI_API_KEY: "sk-test" });
//   await as(workspace, app.url).post("/campaigns", { … });
//   await app.close();
import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { inject } from "vitest";
import { connect } from "../../functions/db.ts";
import { createNodeApp } from "../../functions/node/app.ts";

export interface TestApp {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the app; a setting given as undefined is unset, the others come from the environment.
 * pool: the size of its database pool (npm start's default is 10); databaseUrl: where its pool
 * connects (default: the suite's database, as the API logs in to it).
 */
export async function startApp(settings: Record<string, string | undefined>, options: { pool?: number; databaseUrl?: string } = {}): Promise<TestApp> {
  const sql = connect(options.databaseUrl ?? inject("apiDatabaseUrl"), { max: options.pool ?? 5, role: "anon" });
  const app = createNodeApp(sql, (name) => (name in settings ? settings[name] : process.env[name]), 0);
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => resolve(info.port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await sql.end({ timeout: 2 });
    },
  };
}
