// A fuzz test built from the OpenAPI document: for every operation, requests whose body
// properties, query parameters and path parameters are each replaced in turn by a wrong
// type, a string with NUL or an unpaired surrogate, a very long string, a value nested
// 5,000 deep; plus empty, malformed, non-object and deeply nested bodies. Routes that take a
// key get a fresh workspace's key; public routes get none.
//
// It asserts that no answer is a 5xx, that every JSON error carries the envelope with a code
// and a hint, and that nothing is written on refusal: the workspace's rows are fingerprinted
// before and after each batch of requests, and a batch answered only with refusals must leave
// the fingerprint as it was.
//
// Generation is seeded (FUZZ_SEED, default below), so a failure reproduces: the failure
// message names the seed and each failing request.
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { baseUrl, createLead, as, signup, type Workspace } from "./support/api.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_203);
const CONCURRENCY = 8;
const REQUEST_TIMEOUT_MS = 15_000;
const MAX_PROPERTIES_PER_OPERATION = 14;
const LONG_STRING = 100_000;
/** Just under the 1 MiB body limit, once per operation. */
const HUGE_STRING = 1_000_000;
const DEEP = 5_000;

/**
 * Operations left out, and why: they call an outside service with whatever passes
 * validation, so a case could wait on the network rather than be refused quickly.
 */
const SKIPPED: Record<string, string> = {
  "POST /api/openclaw/integrations/calendly": "connecting Calendly calls Calendly's API with the token sent",
};

/**
 * 5xx answers that are not faults: what this test server is not configured for, as the route
 * documents it. Any other 5xx fails the test.
 */
const NOT_CONFIGURED: Record<string, string> = {
  meeting_bots_not_configured: "the suite's server has no Recall settings; POST /integrations/recall/webhook documents the 503",
};

/**
 * Tables of the workspace whose rows change on their own or by the request machinery, not by
 * what a request asks for: they are left out of the fingerprint.
 */
const UNFINGERPRINTED: Record<string, string> = {
  api_keys: "last_used_at moves as the key is used",
  outbox: "the mail pipeline's minute jobs write it",
  enrollments: "the mail pipeline's minute jobs advance it",
  enrollment_history: "the mail pipeline's minute jobs append to it",
  system_mail: "mail workers send the welcome and invitation mails (of any file's tick)",
  email_links: "mail workers give a link its token when they send its mail",
};
const isUnfingerprinted = (table: string) => table in UNFINGERPRINTED || /rate|bucket/.test(table);

// ---------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------
function prng(seed: number) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4_294_967_296;
  };
}

// ---------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------
type Schema = Record<string, any>;
interface Parameter { name: string; in: "query" | "path" | "header"; required?: boolean; schema?: Schema }
interface Operation {
  method: string;
  path: string;
  open: boolean;
  parameters: Parameter[];
  body?: { mediaType: string; schema: Schema };
}

function operationsOf(doc: any): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const security: Record<string, string[]>[] = op.security ?? [];
      const content = op.requestBody?.content ?? {};
      const mediaType = ["application/json", "text/plain", "application/x-www-form-urlencoded"].find((type) => type in content);
      operations.push({
        method: method.toUpperCase(), path,
        open: security.length === 0 || security.some((s) => Object.keys(s).length === 0),
        parameters: op.parameters ?? [],
        ...(mediaType ? { body: { mediaType, schema: content[mediaType].schema } } : {}),
      });
    }
  }
  return operations;
}

// ---------------------------------------------------------------------------
// Valid-looking values, from the schema, so that one wrong value at a time is what a case tests
// ---------------------------------------------------------------------------
function sampler(doc: any, leadId: string) {
  let serial = 0;
  const deref = (schema: Schema | undefined): Schema => {
    let current = schema ?? {};
    for (let hops = 0; current.$ref && hops < 10; hops++) current = doc.components.schemas[current.$ref.split("/").pop()] ?? {};
    return current;
  };
  const typeOf = (schema: Schema): string | undefined =>
    Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  const sample = (raw: Schema | undefined, name = "", depth = 0): unknown => {
    const schema = deref(raw);
    if (/^leadId$/.test(name)) return leadId;
    if (schema.example !== undefined) return schema.example;
    if (schema.enum) return schema.enum[0];
    if (schema.const !== undefined) return schema.const;
    const variants = schema.anyOf ?? schema.oneOf;
    if (variants) return sample(variants.find((v: Schema) => deref(v).type !== "null") ?? variants[0], name, depth);
    if (schema.allOf) return Object.assign({}, ...schema.allOf.map((part: Schema) => sample(part, name, depth)));
    switch (typeOf(schema)) {
      case "string":
        if (schema.format === "email" || /email/i.test(name)) return `fuzz-${randomUUID()}@example.com`;
        if (schema.format === "date-time") return new Date().toISOString();
        if (schema.format === "uri" || /url/i.test(name)) return "https://example.com/fuzz";
        return `fuzz${serial++}`.padEnd(schema.minLength ?? 1, "x");
      case "integer":
      case "number":
        return Math.min(Math.max(schema.minimum ?? 1, 1), schema.maximum ?? 1);
      case "boolean":
        return true;
      case "array":
        return depth > 4 ? [] : Array.from({ length: schema.minItems ?? 0 }, () => sample(schema.items, name, depth + 1));
      case "object": {
        if (depth > 4) return {};
        const properties: Record<string, Schema> = schema.properties ?? {};
        return Object.fromEntries((schema.required ?? []).filter((key: string) => key in properties)
          .map((key: string) => [key, sample(properties[key], key, depth + 1)]));
      }
      default:
        return "fuzz";
    }
  };
  return { deref, typeOf, sample };
}

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------
interface Case {
  operation: Operation;
  description: string;
  path: string;
  /** The raw body, or undefined for none. */
  body?: string;
  contentType?: string;
}

const PLACEHOLDER = "\"__fuzz_value__\"";
const deepArray = `${"[".repeat(DEEP)}${"]".repeat(DEEP)}`;
/** Objects all the way down: what a free-form (record) field accepts at every level. */
const deepObject = `${"{\"a\":".repeat(DEEP)}1${"}".repeat(DEEP)}`;
const withRaw = (value: Record<string, unknown>, name: string, raw: string) =>
  JSON.stringify({ ...value, [name]: "__fuzz_value__" }).replace(PLACEHOLDER, raw);

function casesOf(doc: any, operation: Operation, leadId: string, random: () => number): Case[] {
  const { deref, typeOf, sample } = sampler(doc, leadId);
  const pick = <T>(items: T[], count: number): T[] => {
    const pool = [...items];
    const chosen: T[] = [];
    while (chosen.length < count && pool.length > 0) chosen.push(pool.splice(Math.floor(random() * pool.length), 1)[0]!);
    return chosen;
  };
  const pathParams = operation.parameters.filter((p) => p.in === "path");
  const queryParams = operation.parameters.filter((p) => p.in === "query");
  const pathValues = Object.fromEntries(pathParams.map((p) => [p.name, String(sample(p.schema, p.name))]));
  const requiredQuery = Object.fromEntries(queryParams.filter((p) => p.required).map((p) => [p.name, String(sample(p.schema, p.name))]));
  const urlOf = (paths: Record<string, string>, query: Record<string, string>) => {
    const path = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => paths[name] ?? "x");
    const search = Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join("&");
    return search ? `${path}?${search}` : path;
  };
  const encodedQuery = Object.fromEntries(Object.entries(requiredQuery).map(([k, v]) => [k, encodeURIComponent(v)]));
  const encodedPaths = Object.fromEntries(Object.entries(pathValues).map(([k, v]) => [k, encodeURIComponent(v)]));
  const url = urlOf(encodedPaths, encodedQuery);
  const contentType = operation.body?.mediaType;
  const bodyText = (value: unknown): string => contentType !== "application/x-www-form-urlencoded" ? JSON.stringify(value)
    : new URLSearchParams(Object.entries((value ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)])).toString();
  const cases: Case[] = [];
  const add = (description: string, path: string, body?: string, contentType?: string) =>
    cases.push({ operation, description, path, ...(body === undefined ? {} : { body }), ...(contentType ? { contentType } : {}) });

  // Query and path parameters, as they travel: percent-encoded text.
  const urlValues: [string, string][] = [
    ["NUL", "a%00b"], ["an encoded unpaired surrogate", "%ED%A0%80"], ["a 4,000-character value", "x".repeat(4_000)],
    ["an empty value", ""], ["a negative number", "-1"], ["a huge number", "1e309"], ["brackets", "%5B%7B%7D%5D"], ["a path", "..%2F..%2Fetc"],
  ];
  for (const param of queryParams) {
    for (const [what, value] of [urlValues[0]!, ...pick(urlValues.slice(1), 3)]) {
      add(`query ${param.name}: ${what}`, urlOf(encodedPaths, { ...encodedQuery, [param.name]: value }), operation.body ? bodyText(sample(operation.body.schema)) : undefined);
    }
  }
  for (const param of pathParams) {
    for (const [what, value] of [urlValues[0]!, ...pick(urlValues.slice(1), 3)]) {
      add(`path ${param.name}: ${what}`, urlOf({ ...encodedPaths, [param.name]: value }, encodedQuery), operation.body ? bodyText(sample(operation.body.schema)) : undefined);
    }
  }
  if (!operation.body) {
    add("no parameters changed", url);
    return cases;
  }

  const schema = deref(operation.body.schema);
  const base = (sample(schema) ?? {}) as Record<string, unknown>;

  // Whole bodies.
  add("a valid-looking body", url, bodyText(base), contentType);
  add("no body", url, undefined, contentType);
  add("an empty body", url, "", contentType);
  add("malformed JSON", url, "{\"a\": ", contentType);
  add("a JSON array", url, "[]", contentType);
  add("JSON null", url, "null", contentType);
  add(`a body nested ${DEEP} deep`, url, deepArray, contentType);
  add("a key holding NUL", url, JSON.stringify({ ...base, "k\u0000": 1 }), contentType);
  add(`an unknown key nested ${DEEP} deep`, url, withRaw(base, "fuzzExtra", deepObject), contentType);

  // One property at a time.
  const properties = Object.entries<Schema>(schema.properties ?? {}).slice(0, MAX_PROPERTIES_PER_OPERATION);
  let hugeDone = false;
  for (const [name, raw] of properties) {
    const property = deref(raw);
    const type = typeOf(property) ?? "any";
    const wrongTypes: [string, unknown][] = ([
      ["a number", 12_345], ["a string", "fuzz"], ["an object", { fuzz: true }], ["an array", ["fuzz"]], ["a boolean", false], ["null", null],
    ] as [string, unknown][]).filter(([what]) => !what.includes(type === "integer" ? "number" : type));
    const values: [string, unknown][] = [
      ...pick(wrongTypes, 2),
      ["a string with NUL", "fuzz\u0000value"],
      ["a string with an unpaired surrogate", "fuzz\ud800"],
      [`a ${LONG_STRING.toLocaleString("en-US")}-character string`, "y".repeat(LONG_STRING)],
      [type === "number" || type === "integer" ? "a number past every range" : "a negative number", type === "number" || type === "integer" ? 1e308 : -1],
    ];
    if (!hugeDone && (type === "string" || type === "object")) {
      hugeDone = true;
      values.push([`a ${HUGE_STRING.toLocaleString("en-US")}-character string`, "z".repeat(HUGE_STRING)]);
    }
    for (const [what, value] of values) add(`body ${name}: ${what}`, url, bodyText({ ...base, [name]: value }), contentType);
    if (contentType !== "application/x-www-form-urlencoded") {
      add(`body ${name}: nested ${DEEP} deep`, url, withRaw(base, name, type === "object" ? deepObject : deepArray), contentType);
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------
// Sending, checking, fingerprinting
// ---------------------------------------------------------------------------
interface Outcome {
  fuzzCase: Case;
  status: number;
  problem?: string;
}

const describeCase = (c: Case) => `${c.operation.method} ${c.path.length > 160 ? `${c.path.slice(0, 160)}…` : c.path} [${c.description}]`;

function errorCode(text: string): string {
  try {
    return String(JSON.parse(text)?.error?.code ?? "");
  } catch {
    return "";
  }
}

async function send(fuzzCase: Case, key: string): Promise<Outcome> {
  const headers: Record<string, string> = {};
  if (!fuzzCase.operation.open) headers.authorization = `Bearer ${key}`;
  if (fuzzCase.contentType) headers["content-type"] = fuzzCase.contentType;
  let response: Response;
  try {
    response = await fetch(`${baseUrl()}${fuzzCase.path}`, {
      method: fuzzCase.operation.method, headers, body: fuzzCase.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    return { fuzzCase, status: 0, problem: `no answer: ${(err as Error).message}` };
  }
  const text = await response.text();
  if (response.status >= 500 && !(errorCode(text) in NOT_CONFIGURED)) {
    return { fuzzCase, status: response.status, problem: `answered ${response.status}: ${text.slice(0, 300)}` };
  }
  if (response.status >= 400 && (response.headers.get("content-type") ?? "").startsWith("application/json")) {
    let error: any;
    try {
      error = JSON.parse(text).error;
    } catch {
      return { fuzzCase, status: response.status, problem: `answered ${response.status} with JSON that does not parse` };
    }
    if (typeof error?.code !== "string" || !error.code || typeof error.hint !== "string" || !error.hint) {
      return { fuzzCase, status: response.status, problem: `answered ${response.status} without error.code and error.hint: ${text.slice(0, 300)}` };
    }
  }
  return { fuzzCase, status: response.status };
}

describe("fuzzing every operation of /openapi.json", () => {
  let sql: postgres.Sql;
  let workspace: Workspace;
  let doc: any;
  let fingerprintQuery: string;

  beforeAll(async () => {
    sql = postgres(inject("databaseUrl"), { max: 1, onnotice: () => {} });
    workspace = await signup();
    doc = await (await fetch(`${baseUrl()}/openapi.json`)).json();
    const tables = await sql<{ table: string }[]>`
      select c.table_name as table from information_schema.columns c
      join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
      where c.table_schema = 'app' and c.column_name = 'org_id' order by 1`;
    const parts = tables.map((t) => t.table).filter((table) => !isUnfingerprinted(table))
      .map((table) => `select '${table}' as t, count(*) as n, coalesce(sum(hashtext(x::text)), 0) as h from app.${table} x where org_id = $1`);
    parts.push(`select 'orgs', count(*), coalesce(sum(hashtext(x::text)), 0) from app.orgs x where id = $1`);
    fingerprintQuery = parts.join(" union all ");
  });

  afterAll(async () => {
    await sql?.end({ timeout: 2 });
  });

  const fingerprint = async () =>
    (await sql.unsafe<{ t: string; n: string; h: string }[]>(fingerprintQuery, [workspace.orgId])).map((r) => `${r.t}:${r.n}:${r.h}`).join(" ");

  it("answers every case without a 5xx, with the error envelope, and writes nothing on refusal", async () => {
    const started = Date.now();
    const leadId = await createLead(as(workspace));
    const random = prng(SEED);
    const operations = operationsOf(doc).filter((op) => !(`${op.method} ${op.path}` in SKIPPED));
    const cases = operations.flatMap((operation) => casesOf(doc, operation, leadId, random));

    const failures: string[] = [];
    const writes: string[] = [];
    let checkedBatches = 0;
    const statuses = new Map<number, number>();
    let before = await fingerprint();
    for (let start = 0; start < cases.length; start += CONCURRENCY) {
      const batch = cases.slice(start, start + CONCURRENCY);
      const outcomes = await Promise.all(batch.map((c) => send(c, workspace.apiKey)));
      for (const outcome of outcomes) {
        statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
        if (outcome.problem) failures.push(`${describeCase(outcome.fuzzCase)}: ${outcome.problem}`);
      }
      const after = await fingerprint();
      if (outcomes.every((o) => o.status >= 400)) {
        checkedBatches++;
        if (after !== before) writes.push(`one of: ${batch.map(describeCase).join("; ")}`);
      }
      before = after;
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`fuzz (seed ${SEED}): ${operations.length} operations, ${cases.length} cases in ${seconds.toFixed(1)} s; `
      + `statuses ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(" ")}; `
      + `${checkedBatches} all-refused batches fingerprinted; skipped: ${Object.keys(SKIPPED).join(", ")}`);

    expect(failures, `seed ${SEED}: ${failures.length} case(s) failed:\n${failures.slice(0, 40).join("\n")}`).toEqual([]);
    expect(writes, `seed ${SEED}: refused requests changed the workspace's rows:\n${writes.join("\n")}`).toEqual([]);
    expect(checkedBatches).toBeGreaterThan(cases.length / CONCURRENCY / 2);
  }, 180_000);
});
