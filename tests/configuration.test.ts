// The settings a deployment can make are documented in one table (README, Configuration) and
// listed with their defaults in one file (.env.example); both stay complete as settings are
// added, and the ports they name are the ones the code and scripts use.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DEFAULT_API_PORT } from "../functions/config.ts";
import { DEFAULT_CATCHER_HTTP_PORT, DEFAULT_CATCHER_SMTP_PORT } from "../functions/mail/config.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

/** Variable names in the first column of the README's Configuration table. */
function documented(): Set<string> {
  const readme = read("README.md");
  const section = readme.slice(readme.indexOf("\n## Configuration"), readme.indexOf("\n## ", readme.indexOf("\n## Configuration") + 1));
  const names = section.split("\n").filter((line) => line.startsWith("| `"))
    .flatMap((line) => [...line.split("|")[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!));
  return new Set(names);
}

/** NAME=default lines of .env.example (commented out or not). */
function example(): Map<string, string> {
  const entries = read(".env.example").split("\n")
    .map((line) => /^#? ?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!.replace(/^"(.*)"$/, "$1")] as const);
  return new Map(entries);
}

/** Every file under a folder whose name ends with `suffix`. */
function files(folder: string, suffix: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(suffix)).map((f) => join(folder, f));
}

describe("configuration", () => {
  it(".env.example lists exactly the variables the README's Configuration table documents", () => {
    expect([...example().keys()].sort()).toEqual([...documented()].sort());
  });

  it("documents every setting the config readers take", () => {
    const taken = files("functions", "config.ts").flatMap((f) => [...read(f).matchAll(/env\("([A-Z][A-Z0-9_]*)"\)/g)].map((m) => m[1]!));
    expect(taken.length).toBeGreaterThan(20);
    const missing = [...new Set(taken)].filter((name) => !documented().has(name));
    expect(missing).toEqual([]);
  });

  it("gives the defaults the code and the scripts use for every port", () => {
    const settings = read("scripts/settings.sh");
    const scriptDefault = (name: string) => settings.match(new RegExp(`readonly DEFAULT_${name}=(\\d+)`))?.[1];
    const env = example();
    expect(env.get("PORT")).toBe(String(DEFAULT_API_PORT));
    expect(env.get("MAIL_CATCHER_HTTP_PORT")).toBe(String(DEFAULT_CATCHER_HTTP_PORT));
    expect(env.get("MAIL_CATCHER_SMTP_PORT")).toBe(String(DEFAULT_CATCHER_SMTP_PORT));
    for (const name of ["PORT", "DEV_DB_PORT", "TEST_DB_PORT", "HOSTED_DB_PORT", "MAIL_CATCHER_HTTP_PORT", "MAIL_CATCHER_SMTP_PORT"]) {
      expect(scriptDefault(name === "PORT" ? "API_PORT" : name), name).toBe(env.get(name));
    }
  });

  it("keeps every default port clear of the ports `supabase start` uses (54320-54329)", () => {
    for (const [name, value] of example()) {
      if (!name.endsWith("PORT") || value === "") continue;
      expect(Number(value) >= 54320 && Number(value) <= 54329, `${name}=${value}`).toBe(false);
    }
  });
});
