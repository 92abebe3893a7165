// The smoke test of a deploy: an agent's first minutes against the API (sign up, create a lead,
// enrich it, create a campaign and enrol the lead) and the pg_cron jobs the migrations registered.
// It holds on any database, so the main suite runs it too; `npm test` runs it once more on the
// hosted-Supabase emulation (scripts/test-hosted.sh, EXPECT_HOSTED_SUPABASE=1), where the
// migrations, the API and this file's SQL all run as a `postgres` that is not a superuser, and
// where it first checks that the database really is set up that way.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { as, expectOk, lead, signup } from "./support/api.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

let sql: postgres.Sql;
beforeAll(() => {
  sql = postgres(inject("databaseUrl"), { max: 1, onnotice: () => {} });
});
afterAll(() => sql.end({ timeout: 2 }));

describe.runIf(process.env.EXPECT_HOSTED_SUPABASE === "1")("the database is set up like a hosted Supabase project", () => {
  it("connects as postgres, which is not a superuser but has Supabase's attributes and owns the database", async () => {
    const [me] = await sql`
      select r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
             pg_catalog.pg_get_userbyid(d.datdba) as database_owner
      from pg_catalog.pg_roles r, pg_catalog.pg_database d
      where r.rolname = current_user and d.datname = current_database()`;
    expect(me).toEqual({
      rolname: "postgres", rolsuper: false, rolcreaterole: true, rolcreatedb: true, rolreplication: true,
      rolbypassrls: true, database_owner: "postgres",
    });
  });

  it("has another superuser, which created the API roles, auth, extensions and pg_cron before the migrations", async () => {
    const superusers = await sql`select rolname from pg_catalog.pg_roles where rolsuper order by 1`;
    expect(superusers.map((r) => r.rolname)).toEqual(["supabase_admin"]);
    const roles = await sql`
      select rolname, rolcanlogin, rolinherit, rolbypassrls from pg_catalog.pg_roles
      where rolname in ('anon', 'authenticated', 'service_role', 'authenticator') order by 1`;
    expect(roles).toEqual([
      { rolname: "anon", rolcanlogin: false, rolinherit: false, rolbypassrls: false },
      { rolname: "authenticated", rolcanlogin: false, rolinherit: false, rolbypassrls: false },
      { rolname: "authenticator", rolcanlogin: true, rolinherit: false, rolbypassrls: false },
      { rolname: "service_role", rolcanlogin: false, rolinherit: false, rolbypassrls: true },
    ]);
    const owners = await sql`
      select n.nspname as name, pg_catalog.pg_get_userbyid(n.nspowner) as owner from pg_catalog.pg_namespace n
      where n.nspname in ('auth', 'extensions', 'cron') order by 1`;
    expect(owners).toEqual([
      { name: "auth", owner: "supabase_auth_admin" },
      { name: "cron", owner: "supabase_admin" },
      { name: "extensions", owner: "supabase_admin" },
    ]);
    const [cron] = await sql`
      select e.extnamespace::regnamespace::text as schema, pg_catalog.pg_get_userbyid(e.extowner) as owner
      from pg_catalog.pg_extension e where e.extname = 'pg_cron'`;
    expect(cron).toEqual({ schema: "pg_catalog", owner: "supabase_admin" });
  });

  it("lets postgres read cron.job but not write it, as on Supabase", async () => {
    const [privileges] = await sql`
      select pg_catalog.has_table_privilege('cron.job', 'select') as can_read,
             pg_catalog.has_table_privilege('cron.job', 'insert, update, delete') as can_write`;
    expect(privileges).toEqual({ can_read: true, can_write: false });
  });
});

describe("a deploy's first minutes", () => {
  it("has applied every migration in supabase/migrations/ with supabase db push", async () => {
    const files = readdirSync(join(root, "supabase/migrations")).filter((f) => f.endsWith(".sql")).map((f) => f.split("_")[0]).sort();
    const applied = await sql`select version from supabase_migrations.schema_migrations order by version`;
    expect(applied.map((r) => r.version)).toEqual(files);
  });

  it("signs up, creates a lead, enriches it, creates a campaign and enrols the lead", async () => {
    const ws = await signup();
    const client = as(ws);

    const created = expectOk(await client.post("/leads", lead({ email: `jane-${ws.orgId}@acme-clinic.example` })), 201);
    const leadId: string = created.id;
    expect(leadId).toMatch(/^rp_/);

    const enriched = expectOk(await client.post("/enrich", { leadId }));
    expect(enriched).toMatchObject({ leadId, status: "complete" });
    expect(enriched.sources).toContain("email");
    expect(enriched.enrichment.sourceDetails.map((s: { name: string }) => s.name)).toContain("email");
    expect(expectOk(await client.get(`/leads/${leadId}`)).lead.enrichmentStatus).toBe("complete");

    const campaign = expectOk(await client.post("/campaigns", {
      name: "Welcome", steps: [{ delayMinutes: 60, subject: "Hi {{firstName}}", body: "Hello {{firstName}}" }],
    }), 201).campaign;
    expect(campaign).toMatchObject({ name: "Welcome", status: "active" });
    const enrolled = expectOk(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 201);
    expect(enrolled.enrollment).toMatchObject({ leadId, status: "active" });
  });

  it("has every scheduled job registered with pg_cron, with its schedule and command", async () => {
    const jobs = await sql`select name from app.scheduled_jobs`;
    expect(jobs.length).toBeGreaterThan(0);
    const missing = await sql`
      select j.name from app.scheduled_jobs j
      where not exists (select from cron.job c where c.jobname = j.name and c.schedule = j.schedule and c.command = j.command)`;
    expect(missing).toEqual([]);
  });
});
