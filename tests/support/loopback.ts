// Loopback stand-ins for the outside world enrichment talks to: Apollo, People Data Labs,
// company websites and a DNS server for MX lookups. Every server listens on 127.0.0.1 with
// a free port, records what it was asked, and answers as the test scripts it.
//
//   const apollo = await startApolloServer([{ status: 429, headers: { "retry-after": "0" } }, { json: apolloMatch }]);
//   … point APOLLO_BASE_URL (or config.apollo.baseUrl) at apollo.url …
//   expect(apollo.requests).toHaveLength(2);
//   await apollo.close();
//
// nextRequest(matches) is the signal that a request arrived: a promise that resolves when the
// next matching request has been recorded (before it is answered), so a test can wait for the
// app to reach a provider instead of sleeping.
//
// A behaviour is one Reply (given to every call), a list of Replies (call n gets the n-th;
// the last one repeats), or a function of the recorded request and its 0-based call number.
// A Reply is `{ status?, headers?, json? | body? }` (json is serialised; body is sent as-is,
// so malformed JSON is `{ body: "{oops" }`), or `"hang"`: accept the request and never
// answer (close() still ends such connections, so timeout tests leave nothing behind).
import { createSocket } from "node:dgram";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** Path and query as sent, e.g. "/v5/person/enrich?email=a%40b.com". */
  path: string;
  /** The query string parsed. */
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  /** The body parsed as JSON when it is JSON, otherwise undefined. */
  json: unknown;
}

export type Reply = { status?: number; headers?: Record<string, string>; json?: unknown; body?: string } | "hang";
export type Behaviour = Reply | Reply[] | ((request: RecordedRequest, call: number) => Reply);

export interface LoopbackServer {
  /** Base URL without a trailing slash, e.g. "http://127.0.0.1:40123". */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Resolves with the next request that matches (any request when no test is given), once it is recorded and before it is answered. */
  nextRequest(matches?: (request: RecordedRequest) => boolean): Promise<RecordedRequest>;
  close(): Promise<void>;
}

function pick(behaviour: Behaviour, request: RecordedRequest, call: number): Reply {
  if (typeof behaviour === "function") return behaviour(request, call);
  if (Array.isArray(behaviour)) return behaviour[Math.min(call, behaviour.length - 1)] ?? { status: 500, json: { error: "no reply scripted" } };
  return behaviour;
}

function send(res: ServerResponse, reply: Exclude<Reply, "hang">) {
  const headers = { ...reply.headers };
  let body = reply.body ?? "";
  if (reply.json !== undefined) {
    body = JSON.stringify(reply.json);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
  }
  res.writeHead(reply.status ?? 200, headers);
  res.end(body);
}

async function record(req: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString("utf8");
  let json: unknown;
  try {
    json = body ? JSON.parse(body) : undefined;
  } catch {
    json = undefined;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  const path = req.url ?? "/";
  return { method: req.method ?? "GET", path, query: new URL(path, "http://loopback").searchParams, headers, body, json };
}

/** A generic scripted HTTP server; the provider-specific ones below build on it. */
export async function startHttpServer(handle: (request: RecordedRequest, call: number) => Reply | Promise<Reply>): Promise<LoopbackServer> {
  const requests: RecordedRequest[] = [];
  let waiting: { matches: (request: RecordedRequest) => boolean; resolve: (request: RecordedRequest) => void }[] = [];
  const server = createServer(async (req, res) => {
    const request = await record(req);
    const call = requests.length;
    requests.push(request);
    const met = waiting.filter((waiter) => waiter.matches(request));
    waiting = waiting.filter((waiter) => !met.includes(waiter));
    for (const waiter of met) waiter.resolve(request);
    const reply = await handle(request, call);
    if (reply !== "hang") send(res, reply);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    nextRequest: (matches = () => true) => new Promise<RecordedRequest>((resolve) => waiting.push({ matches, resolve })),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function provider(method: string, path: string, behaviour: Behaviour): Promise<LoopbackServer> {
  let calls = 0;
  return startHttpServer((request) => {
    if (request.method !== method || new URL(request.path, "http://loopback").pathname !== path) {
      return { status: 404, json: { error: `no route ${request.method} ${request.path}` } };
    }
    return pick(behaviour, request, calls++);
  });
}

/** A full Apollo People Match answer in the documented shape (POST /api/v1/people/match). */
export const apolloMatch = {
  person: {
    id: "5f1b2c3d4e5f6a7b8c9d0e1f",
    first_name: "Jane",
    last_name: "Doe",
    name: "Jane Doe",
    title: "VP of Engineering",
    seniority: "vp",
    headline: "VP of Engineering at Acme",
    linkedin_url: "http://www.linkedin.com/in/janedoe",
    email: "jane@acme.com",
    city: "Austin",
    state: "Texas",
    country: "United States",
    employment_history: [
      { organization_name: "Acme", title: "VP of Engineering", start_date: "2021-03-01", end_date: null, current: true },
      { organization_name: "Globex", title: "Engineering Manager", start_date: "2017-01-01", end_date: "2021-02-01", current: false },
      { organization_name: "Initech", title: "Software Engineer", start_date: "2013-06-01", end_date: "2016-12-01", current: false },
    ],
    organization: {
      id: "5e66b6381e05b4008c8331b8",
      name: "Acme",
      primary_domain: "acme.com",
      website_url: "http://www.acme.com",
      linkedin_url: "http://www.linkedin.com/company/acme",
      estimated_num_employees: 240,
      annual_revenue_printed: "42M",
      industry: "computer software",
      technology_names: ["Salesforce", "Stripe", "Google Analytics"],
      short_description: "Acme makes anvils for the cloud.",
    },
  },
};

/** A full People Data Labs Person Enrichment 200 answer in the documented shape (GET /v5/person/enrich). */
export const pdlPerson = {
  status: 200,
  likelihood: 9,
  data: {
    full_name: "jane doe",
    first_name: "jane",
    last_name: "doe",
    job_title: "vice president of engineering",
    job_title_role: "engineering",
    job_title_levels: ["vp"],
    job_company_name: "acme",
    job_company_website: "acme.com",
    job_company_size: "201-500",
    job_company_industry: "computer software",
    job_company_linkedin_url: "linkedin.com/company/acme",
    linkedin_url: "linkedin.com/in/janedoe",
    location_name: "austin, texas, united states",
    education: [
      { school: { name: "university of texas at austin", type: "post-secondary institution" }, degrees: ["bachelors"], end_date: "2012" },
    ],
    experience: [
      { company: { name: "acme", website: "acme.com" }, title: { name: "vice president of engineering" }, is_primary: true, start_date: "2021-03" },
      { company: { name: "globex", website: "globex.com" }, title: { name: "engineering manager" }, is_primary: false, start_date: "2017-01", end_date: "2021-02" },
    ],
    inferred_salary: "150,000-250,000",
    skills: ["distributed systems", "kubernetes", "team leadership"],
  },
};

/** Apollo: answers POST /api/v1/people/match as scripted (default: the full match above); other routes 404. */
export function startApolloServer(behaviour: Behaviour = { json: apolloMatch }): Promise<LoopbackServer> {
  return provider("POST", "/api/v1/people/match", behaviour);
}

/** People Data Labs: answers GET /v5/person/enrich as scripted (default: the full person above); other routes 404. */
export function startPdlServer(behaviour: Behaviour = { json: pdlPerson }): Promise<LoopbackServer> {
  return provider("GET", "/v5/person/enrich", behaviour);
}

export interface Site {
  html?: string;
  headers?: Record<string, string>;
  status?: number;
}

/**
 * Company websites: GET /sites/{domain}/ answers that domain's page (text/html unless the
 * site's headers say otherwise); unknown domains get 404. Point the website fetcher here with
 * ENRICHMENT_WEBSITE_URL_TEMPLATE=`${url}/sites/{domain}/` and ENRICHMENT_ALLOW_PRIVATE_NETWORK=true.
 * A redirect is `{ status: 302, headers: { location: "…" } }`. `sites` may be changed between calls.
 */
export function startWebsiteServer(sites: Record<string, Site>): Promise<LoopbackServer> {
  return startHttpServer((request) => {
    const match = new URL(request.path, "http://loopback").pathname.match(/^\/sites\/([^/]+)\/?/);
    const site = match ? sites[decodeURIComponent(match[1]!).toLowerCase()] : undefined;
    if (!site) return { status: 404, headers: { "content-type": "text/html" }, body: "<html><title>Not found</title></html>" };
    return { status: site.status ?? 200, headers: { "content-type": "text/html; charset=utf-8", ...site.headers }, body: site.html ?? "" };
  });
}

export interface DnsQuery {
  name: string;
  /** The numeric query type (15 = MX, 1 = A, 28 = AAAA). */
  type: number;
}

export interface LoopbackDns {
  /** "127.0.0.1:port", the form nodeResolveMx() and ENRICHMENT_DNS_SERVER take. */
  address: string;
  port: number;
  requests: DnsQuery[];
  close(): Promise<void>;
}

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, "").split(".").filter(Boolean);
  return Buffer.concat([...labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, "ascii")])), Buffer.from([0])]);
}

/**
 * A minimal UDP DNS server for MX lookups: `records` maps a domain to its mail exchangers,
 * most preferred first (preference 10, 20, …). A listed domain with [] answers with no
 * records (NODATA); an unlisted one answers NXDOMAIN; any other query type for a listed
 * domain answers no records.
 */
export async function startDnsServer(records: Record<string, string[]>): Promise<LoopbackDns> {
  const requests: DnsQuery[] = [];
  const socket = createSocket("udp4");
  socket.on("message", (message, remote) => {
    if (message.length < 12) return;
    // Question: labels from byte 12, then type and class.
    let offset = 12;
    const labels: string[] = [];
    while (offset < message.length && message[offset] !== 0) {
      const length = message[offset]!;
      labels.push(message.subarray(offset + 1, offset + 1 + length).toString("ascii"));
      offset += length + 1;
    }
    const questionEnd = offset + 5;
    if (questionEnd > message.length) return;
    const type = message.readUInt16BE(offset + 1);
    const name = labels.join(".").toLowerCase();
    requests.push({ name, type });
    const exchanges = records[name];
    const answers = type === 15 && exchanges
      ? exchanges.map((exchange, index) => {
        const rdata = Buffer.concat([Buffer.from([0, (index + 1) * 10]), encodeName(exchange)]);
        const fixed = Buffer.alloc(12);
        fixed.writeUInt16BE(0xc00c, 0); // name: pointer to the question
        fixed.writeUInt16BE(15, 2);
        fixed.writeUInt16BE(1, 4);
        fixed.writeUInt32BE(60, 6);
        fixed.writeUInt16BE(rdata.length, 10);
        return Buffer.concat([fixed, rdata]);
      })
      : [];
    const header = Buffer.alloc(12);
    message.copy(header, 0, 0, 2); // id
    const recursionDesired = message[2]! & 0x01;
    header[2] = 0x84 | recursionDesired; // response, authoritative
    header[3] = 0x80 | (exchanges ? 0 : 3); // recursion available; NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, message.subarray(12, questionEnd), ...answers]), remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const port = socket.address().port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    requests,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
