// MX lookups on Node (the Deno entry uses Deno.resolveDns instead).
import { Resolver } from "node:dns/promises";
import type { ResolveMx } from "../enrichment/types.ts";

/** A resolver using the system's DNS, or `host:port` when given (tests use a loopback server). */
export function nodeResolveMx(server?: string): ResolveMx {
  const resolver = new Resolver({ timeout: 3_000, tries: 2 });
  if (server) resolver.setServers([server]);
  return async (domain) => (await resolver.resolveMx(domain)).sort((a, b) => a.priority - b.priority).map((mx) => mx.exchange);
}
