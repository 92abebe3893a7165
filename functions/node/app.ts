// The app as Node runs it: config from an env reader, Node's DNS for MX and host lookups.
import { createApp } from "../app.ts";
import { type EnvReader, readConfig } from "../config.ts";
import type { Sql } from "../db.ts";
import { nodeResolveHost, nodeResolveMx } from "./dns.ts";

export function createNodeApp(sql: Sql, env: EnvReader, port: number) {
  const config = readConfig(env, port);
  return createApp({ sql, config, resolveMx: nodeResolveMx(config.enrichment.dnsServer), resolveHost: nodeResolveHost() });
}
