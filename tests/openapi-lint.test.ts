// The OpenAPI document as the running API serves it passes a standard linter (Redocly CLI,
// its recommended rules plus redocly.yaml's decisions) with no errors, and every operation
// can be named and grouped by a generated client: a unique operationId, and tags the
// document declares. The exact operationIds are pinned in openapi.test.ts.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { call } from "./support/api.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const redocly = path.join(path.dirname(createRequire(import.meta.url).resolve("@redocly/cli/package.json")), "bin", "cli.js");
const HTTP_METHODS = new Set(["get", "post", "put", "patch", "delete", "head", "options", "trace"]);
/** Warnings redocly.yaml keeps on purpose (its comments say why); any other rule's warning fails. */
const KEPT_WARNINGS = new Set(["operation-4xx-response", "info-license"]);

interface Problem {
  ruleId: string;
  severity: "error" | "warn";
  message: string;
  location: { pointer?: string }[];
}
interface Operation {
  label: string;
  operationId?: string;
  tags?: string[];
}

/** Lints the document with the repository's redocly.yaml, offline: no usage data, no update check. */
async function lint(doc: unknown): Promise<Problem[]> {
  const dir = await mkdtemp(path.join(tmpdir(), "openapi-lint-"));
  try {
    const file = path.join(dir, "openapi.json");
    await writeFile(file, JSON.stringify(doc, null, 2));
    const args = [redocly, "lint", file, "--config", path.join(root, "redocly.yaml"), "--format=json", "--max-problems=10000"];
    const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" };
    // The linter exits 1 when it finds errors; its JSON report on stdout says which.
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 })
      .catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? "", stderr: err.stderr ?? String(err) }));
    if (!stdout.trim().startsWith("{")) throw new Error(`redocly lint printed no report:\n${stderr}`);
    return (JSON.parse(stdout) as { problems: Problem[] }).problems;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const where = (problem: Problem) =>
  `${problem.ruleId} at ${problem.location.map((l) => l.pointer).join(", ")}: ${problem.message}`;

let doc: { tags?: { name: string; description?: string }[]; paths: Record<string, Record<string, Omit<Operation, "label">>> };
let problems: Problem[];
let operations: Operation[];

beforeAll(async () => {
  const res = await call("GET", "/openapi.json");
  expect(res.status).toBe(200);
  doc = res.body;
  operations = Object.entries(doc.paths).flatMap(([route, item]) =>
    Object.entries(item).filter(([method]) => HTTP_METHODS.has(method)).map(([method, op]) => ({ label: `${method.toUpperCase()} ${route}`, ...op })));
  problems = await lint(doc);
});

describe("the OpenAPI document under redocly lint (recommended + redocly.yaml)", () => {
  it("has no errors", () => {
    expect(problems.filter((p) => p.severity === "error").map(where)).toEqual([]);
  });

  it("has only the warnings redocly.yaml keeps on purpose", () => {
    expect(problems.filter((p) => p.severity === "warn" && !KEPT_WARNINGS.has(p.ruleId)).map(where)).toEqual([]);
  });
});

describe("operations, for generated clients", () => {
  it("each have a camelCase operationId, none shared", () => {
    expect(operations.length).toBeGreaterThan(0);
    expect(operations.filter((op) => !/^[a-z][A-Za-z0-9]*$/.test(op.operationId ?? "")).map((op) => op.label)).toEqual([]);
    const seen = new Map<string, string>();
    const shared = operations.flatMap((op) => {
      const first = seen.get(op.operationId!);
      seen.set(op.operationId!, first ?? op.label);
      return first ? [`${op.operationId}: ${first} and ${op.label}`] : [];
    });
    expect(shared).toEqual([]);
  });

  it("each have at least one tag, and every tag is declared at the top level with a description", () => {
    const declared = new Set((doc.tags ?? []).map((tag) => tag.name));
    expect(operations.filter((op) => !op.tags?.length).map((op) => op.label)).toEqual([]);
    expect(operations.flatMap((op) => (op.tags ?? []).filter((tag) => !declared.has(tag)).map((tag) => `${op.label}: ${tag}`))).toEqual([]);
    expect((doc.tags ?? []).filter((tag) => !tag.description?.trim()).map((tag) => tag.name)).toEqual([]);
  });

  it("declares no tag that no operation uses", () => {
    const used = new Set(operations.flatMap((op) => op.tags ?? []));
    expect((doc.tags ?? []).map((tag) => tag.name).filter((name) => !used.has(name))).toEqual([]);
  });
});
