// HTTP for the enrichment providers, on web fetch only (Node and Deno alike): every attempt
// is bounded by its own timeout and by the caller's budget signal; 429, 5xx and network
// errors are retried with exponential backoff and jitter, honouring Retry-After; bodies are
// streamed and never read past a size cap. Fetches of arbitrary company websites pass a
// NetworkGuard, which refuses URLs that point into private networks (SSRF), hop by hop.
//
// Residual risk, by design of web fetch: the guard resolves the host name, checks every
// address, and then fetch resolves the name again on its own. A name server that answers
// "public" to the first lookup and "private" to the second (DNS rebinding) can slip past the
// check; fetch offers no portable way to pin the connection to the checked address. The
// window is one lookup per hop; only GETs without credentials are sent; and the website
// provider keeps no page, only its title, description, links and technology fingerprints,
// so a successful rebinding could leak at most those into the enrichment of the org that
// asked. Pinning would need a runtime-specific client (an undici dispatcher with a fixed
// lookup on Node, none on Deno today).
import { ProviderError } from "./types.ts";

/** A/AAAA lookup for the SSRF guard, supplied by the runtime (Node's dns.lookup, Deno.resolveDns). */
export type ResolveHost = (host: string) => Promise<string[]>;

export interface NetworkGuard {
  /** Lets loopback/private addresses and any port through (tests only). */
  allowPrivateNetwork: boolean;
  /** Without a resolver, host names cannot be checked and are refused (fail closed). */
  resolveHost?: ResolveHost;
  /** Ports allowed when private networks are off (default 80 and 443). */
  ports?: number[];
}

export interface FetchOptions {
  /** The provider's name, carried by the ProviderErrors thrown. */
  source: string;
  /** The caller's budget: once aborted, nothing more is attempted or awaited. */
  signal: AbortSignal;
  /** Limit for one attempt (request, redirects and reading the body). */
  timeoutMs: number;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** Extra attempts after 429, 5xx, a network error or an attempt's timeout (default 0). */
  retries?: number;
  /** First backoff delay; doubled per attempt, with jitter (default 500 ms). */
  retryBaseMs?: number;
  /** A Retry-After longer than this is not waited for: the call fails as retryable (default 10 s). */
  maxRetryWaitMs?: number;
  /** Bytes read at most (default 1 MiB): text is cut there, JSON past it is refused. */
  maxBytes?: number;
  /** Set for URLs we do not trust: SSRF checks on every hop, up to MAX_REDIRECTS redirects. */
  guard?: NetworkGuard;
}

export interface FetchedText {
  status: number;
  headers: Headers;
  /** The URL that answered, after redirects. */
  url: string;
  text: string;
  /** True when the body was longer than maxBytes and only its start was read. */
  truncated: boolean;
}

export interface FetchedJson {
  status: number;
  headers: Headers;
  url: string;
  /** The parsed body; undefined for an empty or non-JSON error answer. */
  json: unknown;
}

export const MAX_REDIRECTS = 3;
const DEFAULT_MAX_BYTES = 1_048_576;

/**
 * GETs (or POSTs) a URL and reads its body as text, at most maxBytes of it. Resolves with any
 * status except 429/5xx, which are retried and, once retries run out, thrown as retryable.
 */
export function fetchText(url: string, options: FetchOptions): Promise<FetchedText> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return withRetries(url, options, async (response, finalUrl) => {
    const { bytes, truncated } = await readCapped(response, maxBytes);
    return { status: response.status, headers: response.headers, url: finalUrl, text: decode(bytes, response.headers), truncated };
  });
}

/**
 * As fetchText, parsing the body as JSON. A 2xx answer that is not JSON, and any answer
 * larger than maxBytes, is a non-retryable ProviderError; an error answer's body may be absent.
 */
export function fetchJson(url: string, options: FetchOptions): Promise<FetchedJson> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return withRetries(url, options, async (response, finalUrl) => {
    const { bytes, truncated } = await readCapped(response, maxBytes);
    if (truncated) throw new ProviderError(options.source, `${options.source} answered with more than ${maxBytes} bytes`, false, response.status);
    const text = new TextDecoder().decode(bytes);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      if (response.ok) throw new ProviderError(options.source, `${options.source} answered ${response.status} with a body that is not JSON`, false, response.status);
    }
    return { status: response.status, headers: response.headers, url: finalUrl, json };
  });
}

/** The message in an API's error body ({ error: "…" }, { error: { message } }, { message }), for error texts. */
export function errorMessage(json: unknown): string {
  if (json && typeof json === "object") {
    const record = json as Record<string, unknown>;
    for (const candidate of [record.error, record.message, record.error_message]) {
      if (typeof candidate === "string") return candidate;
      if (candidate && typeof candidate === "object" && typeof (candidate as { message?: unknown }).message === "string") return (candidate as { message: string }).message;
    }
  }
  return "unexpected answer";
}

const isRetryableStatus = (status: number) => status === 429 || (status >= 500 && status <= 599);
const isRedirect = (status: number) => status === 301 || status === 302 || status === 303 || status === 307 || status === 308;

async function withRetries<T>(url: string, options: FetchOptions, read: (response: Response, url: string) => Promise<T>): Promise<T> {
  const { source, signal } = options;
  const retries = options.retries ?? 0;
  const maxRetryWaitMs = options.maxRetryWaitMs ?? 10_000;
  for (let attempt = 0; ; attempt++) {
    if (signal.aborted) throw budgetSpent(source);
    const limit = attemptLimit(signal, options.timeoutMs);
    let failure: ProviderError;
    let wait: number | undefined;
    try {
      const { response, url: answeredUrl } = await send(url, options, limit.signal);
      if (!isRetryableStatus(response.status)) return await read(response, answeredUrl);
      await response.body?.cancel().catch(() => undefined);
      failure = new ProviderError(source, `${source} answered ${response.status} (after ${attempt + 1} attempt${attempt ? "s" : ""})`, true, response.status);
      wait = retryAfterMs(response.headers.get("retry-after"));
      if (wait !== undefined && wait > maxRetryWaitMs) {
        throw new ProviderError(source, `${source} answered ${response.status} and asks to wait ${Math.ceil(wait / 1000)} s, longer than we wait`, true, response.status);
      }
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      if (signal.aborted) throw budgetSpent(source);
      failure = limit.timedOut()
        ? new ProviderError(source, `${source} did not answer within ${options.timeoutMs} ms`, true)
        : new ProviderError(source, `could not reach ${source}: ${describe(error)}`, true);
    } finally {
      limit.done();
    }
    if (attempt >= retries) throw failure;
    await sleep(wait ?? backoff(attempt, options.retryBaseMs ?? 500), signal, source);
  }
}

/** One attempt: the request and, when guarded, its redirects (each hop checked). */
async function send(url: string, options: FetchOptions, signal: AbortSignal): Promise<{ response: Response; url: string }> {
  let current = new URL(url);
  let method = options.method ?? "GET";
  let body = options.body;
  for (let hop = 0; ; hop++) {
    if (options.guard) {
      const refusal = await checkUrl(current, options.guard, signal);
      if (refusal) throw new ProviderError(options.source, `refused to fetch ${current.href}: ${refusal}`, false);
    }
    // Redirects are never followed blindly: an API key must not travel to another host.
    const response = await fetch(current, { method, headers: options.headers, body, signal, redirect: "manual" });
    const location = response.headers.get("location");
    if (!options.guard || !isRedirect(response.status) || !location) return { response, url: current.href };
    await response.body?.cancel().catch(() => undefined);
    if (hop >= MAX_REDIRECTS) throw new ProviderError(options.source, `more than ${MAX_REDIRECTS} redirects from ${url}`, false, response.status);
    current = new URL(location, current);
    if (response.status === 303 || (method === "POST" && response.status !== 307 && response.status !== 308)) {
      method = "GET";
      body = undefined;
    }
  }
}

/** A signal for one attempt: aborts on the caller's signal or after timeoutMs, whichever first. */
function attemptLimit(budget: AbortSignal, timeoutMs: number) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onBudget = () => controller.abort();
  budget.addEventListener("abort", onBudget, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(timer);
      budget.removeEventListener("abort", onBudget);
    },
  };
}

function budgetSpent(source: string) {
  return new ProviderError(source, `the enrichment time budget ran out while waiting for ${source}`, true);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

function backoff(attempt: number, baseMs: number): number {
  const ceiling = baseMs * 2 ** attempt;
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Retry-After as delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal: AbortSignal, source: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(budgetSpent(source));
    const onAbort = () => {
      clearTimeout(timer);
      reject(budgetSpent(source));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function readCapped(response: Response, maxBytes: number): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  if (!response.body) return { bytes: new Uint8Array(), truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let truncated = false;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - total));
      total = maxBytes;
      truncated = true;
      await reader.cancel().catch(() => undefined);
      break;
    }
    chunks.push(value);
    total += value.byteLength;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, truncated };
}

function decode(bytes: Uint8Array, headers: Headers): string {
  const charset = headers.get("content-type")?.match(/charset=["']?([\w-]+)/i)?.[1];
  try {
    return new TextDecoder(charset ?? "utf-8").decode(bytes);
  } catch {
    return new TextDecoder().decode(bytes);
  }
}

// ---------------------------------------------------------------------------------------
// The SSRF guard.

/**
 * Why a URL must not be fetched, or null when it may be: only http(s), no credentials, ports
 * 80/443, and a host whose every address is public. allowPrivateNetwork lifts the port and
 * address rules (tests point the fetcher at loopback servers). Names like "localhost" are
 * refused by what they resolve to, so the check holds for whatever /etc/hosts says.
 */
export async function checkUrl(input: string | URL, guard: NetworkGuard, signal?: AbortSignal): Promise<string | null> {
  let url: URL;
  try {
    url = typeof input === "string" ? new URL(input) : input;
  } catch {
    return "not a valid URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `only http and https URLs are fetched, not ${url.protocol}`;
  if (url.username || url.password) return "URLs with credentials are not fetched";
  if (guard.allowPrivateNetwork) return null;
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  if (!(guard.ports ?? [80, 443]).includes(port)) return `only ports ${listPorts(guard.ports ?? [80, 443])} are fetched, not ${port}`;
  // The URL parser already turned 2130706433, 0x7f.1 and 0177.0.0.1 into 127.0.0.1.
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase().replace(/\.$/, "");
  if (isIpLiteral(host)) return isPublicAddress(host) ? null : `${host} is not a public address`;
  if (/\.(localhost|local|internal|lan|home\.arpa)$/.test(host)) return `${host} is a local network name`;
  if (!guard.resolveHost) return `cannot check where ${host} points (no resolver)`;
  let addresses: string[];
  try {
    addresses = await abortable(guard.resolveHost(host), signal);
  } catch (error) {
    if (signal?.aborted) throw error;
    return `${host} does not resolve`;
  }
  if (addresses.length === 0) return `${host} does not resolve`;
  const blocked = addresses.find((address) => !isPublicAddress(address));
  return blocked ? `${host} resolves to ${blocked}, which is not a public address` : null;
}

function listPorts(ports: number[]): string {
  return ports.length === 1 ? String(ports[0]) : `${ports.slice(0, -1).join(", ")} and ${ports[ports.length - 1]}`;
}

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function isIpLiteral(host: string): boolean {
  return parseIpv4(host) !== null || host.includes(":");
}

/** True for a globally routable unicast address; false for private, loopback, link-local, CGNAT, multicast, reserved and unparseable ones. */
export function isPublicAddress(address: string): boolean {
  const v4 = parseIpv4(address);
  if (v4 !== null) return isPublicIpv4(v4);
  const v6 = parseIpv6(address.replace(/^\[|\]$/g, "").replace(/%.*$/, ""));
  return v6 !== null && isPublicIpv6(v6);
}

function parseIpv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) return null;
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
}

/** IPv4 blocks that are not publicly routable (RFC 6890 and friends): [network, prefix length]. */
const IPV4_BLOCKED: Array<[string, number]> = [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16],
  ["172.16.0.0", 12], ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.88.99.0", 24], ["192.168.0.0", 16],
  ["198.18.0.0", 15], ["198.51.100.0", 24], ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
];

function isPublicIpv4(value: number): boolean {
  return !IPV4_BLOCKED.some(([network, bits]) => {
    const size = 2 ** (32 - bits);
    return Math.floor(value / size) === Math.floor(parseIpv4(network)! / size);
  });
}

/** Eight 16-bit groups, or null. Accepts "::" shorthand and a trailing dotted IPv4. */
function parseIpv6(text: string): number[] | null {
  if (!/^[0-9a-f:.]+$/i.test(text)) return null;
  let tail: number[] = [];
  let rest = text;
  const dotted = text.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const v4 = parseIpv4(dotted[2]!);
    if (v4 === null) return null;
    tail = [Math.floor(v4 / 65536), v4 % 65536];
    rest = dotted[1]!.endsWith("::") ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const halves = rest.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const head = groups(halves[0]!);
  const back = halves.length === 2 ? groups(halves[1]!) : [];
  if ([...head, ...back].some((group) => !/^[0-9a-f]{1,4}$/i.test(group))) return null;
  const known = head.length + back.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  const zeros = new Array<number>(8 - known).fill(0);
  return [...head.map((g) => parseInt(g, 16)), ...(halves.length === 2 ? zeros : []), ...back.map((g) => parseInt(g, 16)), ...tail];
}

function isPublicIpv6(g: number[]): boolean {
  const [a = 0, b = 0] = g;
  const embeddedV4 = (hi: number, lo: number) => hi * 65536 + lo;
  if (g.slice(0, 6).every((x) => x === 0)) return false; // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return isPublicIpv4(embeddedV4(g[6]!, g[7]!)); // IPv4-mapped
  if (a === 0x64 && b === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return isPublicIpv4(embeddedV4(g[6]!, g[7]!)); // NAT64
  if (a === 0x2002) return isPublicIpv4(embeddedV4(b, g[2]!)); // 6to4
  if ((a & 0xfe00) === 0xfc00) return false; // unique local fc00::/7
  if ((a & 0xffc0) === 0xfe80 || (a & 0xffc0) === 0xfec0) return false; // link-local, site-local
  if ((a & 0xff00) === 0xff00) return false; // multicast
  if (a === 0x2001 && b === 0x0db8) return false; // documentation
  if (a === 0x0100 && g.slice(1, 4).every((x) => x === 0)) return false; // discard-only 100::/64
  return (a & 0xe000) === 0x2000; // global unicast lives in 2000::/3
}
