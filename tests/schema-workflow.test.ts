// The schema workflow itself: sql/ is the schema, supabase/migrations/ its history, and
// scripts/schema.sh keeps the two honest. These tests change a copy of sql/ the way an
// engineer would and check that the drift check catches what was not migrated, and that the
// migration `npm run db:diff` writes closes the gap.
import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const root = join(import.meta.dirname, "..");
let work: string;

interface Run { code: number; output: string }

function schema(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile("bash", [join(root, "scripts/schema.sh"), ...args], {
      cwd: root,
      env: { ...process.env, SCHEMA_SERVER_URL: inject("databaseUrl") },
      maxBuffer: 64 * 1024 * 1024,
    }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }));
  });
}

/** A copy of sql/ (and of the Supabase project, whose migrations db:diff may add to), changed by `edit`. */
async function changedCopy(name: string, edit: (sqlDir: string) => Promise<void>) {
  const sqlDir = join(work, name, "sql");
  const project = join(work, name, "project");
  await cp(join(root, "sql"), sqlDir, { recursive: true });
  await cp(join(root, "supabase/config.toml"), join(project, "supabase/config.toml"));
  await cp(join(root, "supabase/migrations"), join(project, "supabase/migrations"), { recursive: true });
  await edit(sqlDir);
  return { sqlDir, project };
}

async function replaceIn(file: string, from: string | RegExp, to: string) {
  const text = await readFile(file, "utf8");
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${file}: nothing to replace for ${from}`);
  await writeFile(file, changed);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "schema-workflow-"));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("the drift check (npm run db:drift, run by npm test)", () => {
  it("passes when sql/ and the migrations build the same database", async () => {
    const run = await schema("drift");
    expect(run.output).toContain("build the same database");
    expect(run.code).toBe(0);
  }, 120_000);

  it("fails on a function changed in sql/ without a migration, and prints the change", async () => {
    const { sqlDir, project } = await changedCopy("function", async (dir) => {
      // ids of 20 hex digits instead of 24
      await replaceIn(join(dir, "10_foundation.sql"), "replace(pg_catalog.gen_random_uuid()::text, '-', ''), 1, 24)",
        "replace(pg_catalog.gen_random_uuid()::text, '-', ''), 1, 20)");
    });
    const run = await schema("drift", "--sql", sqlDir, "--project", project);
    expect(run.code).toBe(1);
    expect(run.output).toContain("DRIFT");
    // As pg_dump prints the body: a SQL-standard body comes back with its casts written out.
    expect(run.output).toMatch(/^-.*'-'(::text)?, ''(::text)?\), 1, 24\)/m);
    expect(run.output).toMatch(/^\+.*'-'(::text)?, ''(::text)?\), 1, 20\)/m);
  }, 120_000);

  it("fails on changed reference data (a tier's lead limit)", async () => {
    const { sqlDir, project } = await changedCopy("data", async (dir) => {
      await replaceIn(join(dir, "20_orgs_keys.sql"), "('free', 100, 3, 0, 120)", "('free', 150, 3, 0, 120)");
    });
    const run = await schema("drift", "--sql", sqlDir, "--project", project);
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/^-free\t100\t3/m);
    expect(run.output).toMatch(/^\+free\t150\t3/m);
  }, 120_000);

  it("fails on a changed function comment or privilege", async () => {
    const { sqlDir, project } = await changedCopy("grant", async (dir) => {
      await replaceIn(join(dir, "10_foundation.sql"),
        "grant execute on function app.jsonb_merge_patch(jsonb, jsonb) to authenticated, service_role;",
        "grant execute on function app.jsonb_merge_patch(jsonb, jsonb) to anon, authenticated, service_role;");
    });
    const run = await schema("drift", "--sql", sqlDir, "--project", project);
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/^\+GRANT ALL ON FUNCTION app\.jsonb_merge_patch\(.*\) TO anon;/m);
  }, 120_000);
});

describe("npm run db:diff -- <name>", () => {
  it("writes a migration (functions, columns, comments, privileges) after which the drift check passes", async () => {
    const { sqlDir, project } = await changedCopy("diff", async (dir) => {
      await writeFile(join(dir, "40_leads.sql"), `${await readFile(join(dir, "40_leads.sql"), "utf8")}
create function app.lead_initials(p_first text, p_last text) returns text
  language sql immutable
  set search_path = ''
  as $$ select upper(left(p_first, 1) || coalesce(left(p_last, 1), '')) $$;
comment on function app.lead_initials(text, text) is 'The initials of a lead''s name.';
revoke execute on function app.lead_initials(text, text) from public;
grant execute on function app.lead_initials(text, text) to authenticated, service_role;
`);
      await replaceIn(join(dir, "30_stages.sql"), /(\n\s*is_default boolean not null default false,)/, "$1\n  description text,");
    });
    expect((await schema("drift", "--sql", sqlDir, "--project", project)).code).toBe(1);

    const diff = await schema("diff", "lead_initials", "--sql", sqlDir, "--project", project);
    expect(diff.code).toBe(0);
    const written = (await readdir(join(project, "supabase/migrations"))).filter((f) => f.endsWith("_lead_initials.sql"));
    expect(written).toHaveLength(1);
    const migration = await readFile(join(project, "supabase/migrations", written[0]!), "utf8");
    expect(migration).toMatch(/FUNCTION app\.lead_initials/);
    expect(migration).toMatch(/add column "description" text/);
    expect(migration).toContain("comment on function app.lead_initials(text,text) is 'The initials of a lead''s name.';");
    expect(migration).toContain("grant execute on function app.lead_initials(text,text) to authenticated;");

    // A column added in the middle of a table lands at its end in a migration: sql/ must put
    // new columns last, as the drift check compares column order too.
    const atTheEnd = await schema("drift", "--sql", sqlDir, "--project", project);
    expect(atTheEnd.code).toBe(1);
    expect(atTheEnd.output).toMatch(/description text/);
    await replaceIn(join(sqlDir, "30_stages.sql"), "\n  description text,", "");
    await replaceIn(join(sqlDir, "30_stages.sql"), /(\n\s*stall_after_days integer default 7\n[^\n]*\n)/, "$1  description text,\n");
    const after = await schema("drift", "--sql", sqlDir, "--project", project);
    expect(after.output).toContain("build the same database");
    expect(after.code).toBe(0);
    // Two builds, migra over the whole schema, then two builds again: over 90 s on a busy
    // two-core machine while the rest of the suite runs beside it.
  }, 240_000);
});
