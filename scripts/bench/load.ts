// The API bench's load generator (scripts/bench.ts runs it in a process of its own): autocannon
// against the API over HTTP, keep-alive connections, one request in flight per connection.
// Takes a JSON spec as its argument and prints one JSON result line:
//   { ops, seconds, rps, p50, p99, errors, statuses }
// Latencies are each response's own (autocannon's 'response' event, in fractional ms), so
// percentiles below a millisecond are not rounded away.
//
// Operations: get (GET /leads/{id}, ids round robin), list (GET /leads?limit=50&offset=…,
// pages round robin), create (POST /leads, a unique email each), health (GET /health).
import autocannon from "autocannon";
import { randomUUID } from "node:crypto";
import process from "node:process";
import { type LoadResult, loadResult, runWithSpec } from "./settings.ts";

export interface LoadSpec {
  base: string;
  operation: "get" | "list" | "create" | "health";
  connections: number;
  /** Seconds to run; or amount: requests to send. */
  seconds?: number;
  amount?: number;
  key?: string;
  ids?: string[];
  pages?: number;
  pageSize?: number;
  /** Marks the leads a create run makes (their lastName), so they can be cleared. */
  label?: string;
}

type Request = autocannon.Request;

function requests(spec: LoadSpec): Request[] {
  const headers: Record<string, string> = spec.key ? { authorization: `Bearer ${spec.key}` } : {};
  let n = 0;
  switch (spec.operation) {
    case "get": {
      const ids = spec.ids ?? [];
      return [{ method: "GET", headers, setupRequest: (req) => ({ ...req, path: `/api/openclaw/leads/${ids[n++ % ids.length]}` }) }];
    }
    case "list": {
      const pages = spec.pages ?? 1;
      const size = spec.pageSize ?? 50;
      return [{ method: "GET", headers, setupRequest: (req) => ({ ...req, path: `/api/openclaw/leads?limit=${size}&offset=${(n++ % pages) * size}` }) }];
    }
    case "create":
      return [{
        method: "POST", path: "/api/openclaw/leads", headers: { ...headers, "content-type": "application/json" },
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({
            firstName: `Bench${n}`, lastName: spec.label ?? "bench", email: `bench-${randomUUID()}@example.com`,
            organizationName: `Bench Clinic ${n++ % 97}`,
          }),
        }),
      }];
    case "health":
      return [{ method: "GET", path: "/api/openclaw/health", headers }];
  }
}

export async function load(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    // With a callback, autocannon returns the instance, whose events carry each response.
    const instance = autocannon({
      url: spec.base,
      connections: spec.connections,
      pipelining: 1,
      ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.seconds ?? 10 }),
      requests: requests(spec),
    }, (err, done) => (err ? reject(err) : resolve(done)));
    instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime);
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  });
  return loadResult(latencies, (performance.now() - started) / 1000, cpuBefore, result.errors + result.timeouts, statuses);
}

runWithSpec(import.meta.url, load);
