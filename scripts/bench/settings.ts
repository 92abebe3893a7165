// What every benchmark script does the same way: integer settings from the environment, the
// database to run against, latency percentiles, and the API bench's load generators' results.
import process from "node:process";

/** A positive integer from the environment variable `name`, or `fallback` when unset. */
export function setting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

/** DATABASE_URL, or exit with a message saying how to set it. */
export function databaseUrlOrExit(hint: string): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error(`DATABASE_URL is not set (${hint}).`);
    process.exit(1);
  }
  return url;
}

/** The p-th percentile (nearest rank) of ascending `sorted` values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** What a load generator of the API bench (load.ts, sql-load.ts) prints: one JSON line. */
export interface LoadResult {
  ops: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  statuses: Record<string, number>;
  /** The load generator's own CPU over the run, in cores (1 = one core busy throughout). */
  cpu: number;
}

/** A load run's result from its latencies (ms, in any order) over `seconds`, its CPU counted from `cpuBefore`. */
export function loadResult(latencies: number[], seconds: number, cpuBefore: NodeJS.CpuUsage, errors: number, statuses: Record<string, number>): LoadResult {
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length, seconds, rps: latencies.length / seconds,
    p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors, statuses, cpu: cpuCores(cpuBefore, seconds),
  };
}

/**
 * When the module at `moduleUrl` is the script being run (scripts/bench.ts runs each load
 * generator in a process of its own), runs `run` with the JSON spec of its first argument and
 * prints the result as one JSON line; a failure exits 1.
 */
export function runWithSpec<S>(moduleUrl: string, run: (spec: S) => Promise<unknown>): void {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  run(JSON.parse(process.argv[2] ?? "{}") as S).then((result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }, (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

/** This process's CPU since `before` (process.cpuUsage()), in cores over `seconds`. */
export function cpuCores(before: NodeJS.CpuUsage, seconds: number): number {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6 / seconds;
}
