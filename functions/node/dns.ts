// MX and host lookups on Node (the Deno entry uses Deno.resolveDns instead).
import { lookup, Resolver } from "node:dns/promises";
import type { ResolveHost } from "../enrichment/http.ts";
import type { ResolveMx } from "../enrichment/types.ts";

/** A resolver using the system's DNS, or `host:port` when given (tests use a loopback server). */
export function nodeResolveMx(server?: string): ResolveMx {
  const resolver = new Resolver({ timeout: 3_000, tries: 2 });
  if (server) resolver.setServers([server]);
  return async (domain) => (await resolver.resolveMx(domain)).sort((a, b) => a.priority - b.priority).map((mx) => mx.exchange);
}

/**
 * Every A/AAAA address of a host as fetch will see it: getaddrinfo, the same lookup Node's
 * fetch makes (so /etc/hosts entries such as localhost are seen too), for the SSRF guard.
 */
export function nodeResolveHost(): ResolveHost {
  return async (host) => (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
}
