// Node entry: serves the app with @hono/node-server. Used by `npm start` and the tests.
import "./env.ts";
import { serve } from "@hono/node-server";
import process from "node:process";
import { DEFAULT_API_PORT } from "../config.ts";
import { connect } from "../db.ts";
import { createNodeApp } from "./app.ts";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("DATABASE_URL is not set (npm start sets it to the local cluster).");
  process.exit(1);
}
const port = Number(process.env.PORT ?? DEFAULT_API_PORT);
const host = process.env.HOST ?? "127.0.0.1";
const connectTimeoutMs = Number(process.env.DB_CONNECT_TIMEOUT_MS);
const sql = connect(databaseUrl, {
  max: Number(process.env.DB_POOL_SIZE ?? 10),
  connectTimeout: Number.isFinite(connectTimeoutMs) && connectTimeoutMs > 0 ? connectTimeoutMs / 1_000 : undefined,
});
const app = createNodeApp(sql, (name) => process.env[name], port);

const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => {
  console.log(`[api] listening on http://${host}:${info.port}/api/openclaw  (docs: http://${host}:${info.port}/api-docs)`);
});

async function shutdown() {
  server.close();
  await sql.end({ timeout: 2 });
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
