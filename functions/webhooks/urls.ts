// Where a webhook may be sent: the same SSRF guard as enrichment's website fetcher (no
// private, loopback, link-local or reserved addresses, ports 80 and 443 only, no local
// names, no credentials in the URL), plus https unless WEBHOOKS_ALLOW_HTTP is on. Checked
// when a subscription is created or changed, and again before every attempt (a name can
// start pointing somewhere else). Redirects are never followed: a 3xx is a failed attempt.
import { checkUrl, type ResolveHost } from "../enrichment/http.ts";
import type { WebhooksConfig } from "./config.ts";

/** Why a webhook must not go to url, or null when it may. */
export async function webhookUrlRefusal(url: string, config: WebhooksConfig, resolveHost: ResolveHost, signal?: AbortSignal): Promise<string | null> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "it is not a valid absolute URL";
  }
  if (parsed.protocol !== "https:" && !(config.allowHttp && parsed.protocol === "http:")) {
    return config.allowHttp ? "only http and https URLs can receive webhooks" : "webhooks are only sent to https URLs";
  }
  return await checkUrl(parsed, { allowPrivateNetwork: config.allowPrivateNetwork, resolveHost }, signal);
}
