// The API bench's direct-SQL path (scripts/bench.ts runs it in a process of its own): the same
// work as the API's routes, done the way a client of the database would do it with postgres.js,
// one transaction per operation, one round trip per statement:
//   BEGIN; select set_config('role', 'authenticated', true), set_config('request.jwt.claims', …, true);
//   <the route's statements>; COMMIT
// as the authenticator role (DATABASE_URL given here), so row-level security applies as for the
// API. A read is four round trips; a create (app.create_lead, then the lead read back) five.
// Takes a JSON spec as its argument and prints one JSON result line, as load.ts does.
import { randomUUID } from "node:crypto";
import process from "node:process";
import postgres from "postgres";
import { leadSelect } from "../../functions/routes/leads.ts";
import { type LoadResult, loadResult, runWithSpec } from "./settings.ts";

export interface SqlLoadSpec {
  url: string;
  orgId: string;
  operation: "get" | "list" | "create";
  connections: number;
  seconds?: number;
  amount?: number;
  ids?: string[];
  pages?: number;
  pageSize?: number;
  label?: string;
}

async function sqlLoad(spec: SqlLoadSpec): Promise<LoadResult> {
  const sql = postgres(spec.url, { max: spec.connections, onnotice: () => {}, connection: { application_name: "openclaw-crm bench sql" } });
  const claims = JSON.stringify({ role: "authenticated", org_id: spec.orgId });
  const ids = spec.ids ?? [];
  const pages = spec.pages ?? 1;
  const size = spec.pageSize ?? 50;
  const asOrg = (work: (tx: postgres.TransactionSql) => Promise<unknown>) =>
    sql.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`;
      return work(tx);
    });
  const operations = {
    get: (i: number) => asOrg(async (tx) => {
      const [lead] = await tx`select ${tx.unsafe(leadSelect)} from app.lead_details where id = ${ids[i % ids.length]!}`;
      if (!lead) throw new Error("lead not found");
    }),
    list: (i: number) => asOrg(async (tx) => {
      const [rows] = await Promise.all([
        tx`select ${tx.unsafe(leadSelect)} from app.lead_details where deleted_at is null
           order by created_at desc, id desc limit ${size} offset ${(i % pages) * size}`,
        tx`select count(*)::integer as total from app.leads where deleted_at is null`,
      ]);
      if (rows.length === 0) throw new Error("empty page");
    }),
    create: (i: number) => asOrg(async (tx) => {
      const lead = {
        firstName: `Bench${i}`, lastName: spec.label ?? "bench", email: `bench-${randomUUID()}@example.com`,
        organizationName: `Bench Clinic ${i % 97}`,
      };
      const [row] = await tx<{ id: string }[]>`select app.create_lead(${tx.json(lead)}) as id`;
      const [read] = await tx`select ${tx.unsafe(leadSelect)} from app.lead_details where id = ${row!.id}`;
      if (!read) throw new Error("lead not readable after insert");
    }),
  };
  const operation = operations[spec.operation];

  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + (spec.seconds ?? 10) * 1000;
  const more = () => (spec.amount !== undefined ? next < spec.amount : performance.now() < deadline);
  const worker = async () => {
    while (more()) {
      const i = next++;
      const t0 = performance.now();
      try {
        await operation(i);
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  await sql.end({ timeout: 5 });
  return loadResult(latencies, seconds, cpuBefore, errors, {});
}

runWithSpec(import.meta.url, sqlLoad);
