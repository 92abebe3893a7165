// What every benchmark script reads the same way: integer settings from the environment,
// the database to run against, and latency percentiles.
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

/** This process's CPU since `before` (process.cpuUsage()), in cores over `seconds`. */
export function cpuCores(before: NodeJS.CpuUsage, seconds: number): number {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6 / seconds;
}
