// Rate limits over real HTTP: per API key (the plan's limit or the deployment's), per client IP
// on the routes open without a key, per quiz, and per email domain at signup; the RateLimit
// headers on every reply, 429 with Retry-After and a hint; buckets shared by every process (two
// app instances, one database). Each app here has limits of its own; the suite's server keeps
// generous ones. Requests name their client with X-Forwarded-For (TRUST_PROXY), a fresh address
// per test, so no two tests (nor the suite's signups from 127.0.0.1) share an IP's bucket.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { as, call, type ApiResponse, expectError, expectOk, lead, signup, uniqueEmail, type Workspace } from "./support/api.ts";
import { startApp, type TestApp } from "./support/app.ts";
import { setOrgTier } from "./support/db.ts";

const apps: TestApp[] = [];
async function app(settings: Record<string, string | undefined>): Promise<string> {
  const started = await startApp({ TRUST_PROXY: "true", ...settings });
  apps.push(started);
  return started.url;
}
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
});

/** A documentation-range address nobody else in the run uses. */
const freshIp = () => `198.51.${randomBytes(1)[0]}.${randomBytes(1)[0]! % 250 + 1}`;
const from = (ip: string) => ({ "x-forwarded-for": ip });
const uniqueDomain = () => `rl-${randomUUID().slice(0, 8)}.example.org`;

/** The parameters of one policy's item in a RateLimit or RateLimit-Policy field. */
function item(res: ApiResponse, field: "RateLimit" | "RateLimit-Policy", policy: string): Record<string, string> | undefined {
  const value = res.headers.get(field) ?? "";
  const found = value.split(/,\s*/).find((part) => part.startsWith(`"${policy}";`));
  if (!found) return undefined;
  return Object.fromEntries(found.split(";").slice(1).map((param) => param.split("=") as [string, string]));
}

function expectRateLimited(res: ApiResponse, policy: string): any {
  const error = expectError(res, 429, "rate_limited");
  expect(error.policy).toBe(policy);
  const retryAfter = Number(res.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(error.retryAfter).toBe(retryAfter);
  expect(error.hint).toContain(`Retry after ${retryAfter} s`);
  // Nothing left until then: the effective window ends no later than Retry-After.
  expect(item(res, "RateLimit", policy)).toEqual({ r: "0", t: String(retryAfter) });
  return error;
}

describe("per API key", () => {
  let url: string;
  let ws: Workspace;

  beforeAll(async () => {
    url = await app({ RATE_LIMIT_KEY_FREE: "5/1m" });
    ws = await signup();
  });

  it("announces the key's limit on every reply and refuses the request past the burst with 429, Retry-After and a hint", async () => {
    const client = as(ws, url);
    for (let i = 1; i <= 5; i++) {
      const res = await client.get("/leads");
      expectOk(res);
      expect(item(res, "RateLimit-Policy", "api-key")).toEqual({ q: "5", w: "60" });
      const limit = item(res, "RateLimit", "api-key")!;
      expect(Number(limit.r)).toBe(5 - i);
      expect(Number(limit.t)).toBeGreaterThan(0);
      expect(Number(limit.t)).toBeLessThanOrEqual(60);
    }
    const refused = await client.get("/leads");
    const error = expectRateLimited(refused, "api-key");
    expect(error.message).toBe("Too many requests for this API key: the free plan allows 5 per minute");
    expect(error.hint).toContain("GET /api/openclaw/org/tier");
    // One request's worth comes back every 12 seconds.
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(12);
  });

  it("counts failed requests too, and leaves another workspace's key alone", async () => {
    const mine = await signup();
    const theirs = await signup();
    const client = as(mine, url);
    for (let i = 0; i < 5; i++) expectError(await client.get("/leads/rp_000000000000000000000000"), 404, "not_found");
    expectRateLimited(await client.post("/leads", lead()), "api-key");
    const other = await as(theirs, url).get("/leads");
    expectOk(other);
    expect(item(other, "RateLimit", "api-key")!.r).toBe("4");
  });

  it("holds across processes: two servers on one database share the key's bucket", async () => {
    const second = await app({ RATE_LIMIT_KEY_FREE: "5/1m" });
    const key = await signup();
    for (let i = 0; i < 3; i++) expectOk(await as(key, url).get("/stages"));
    for (let i = 0; i < 2; i++) expectOk(await as(key, second).get("/stages"));
    expectRateLimited(await as(key, second).get("/stages"), "api-key");
    expectRateLimited(await as(key, url).get("/stages"), "api-key");
  });

  it("uses the plan's own limit (app.tiers) where the deployment sets none: free 120, pro 600, ultra 1200 per minute", async () => {
    const defaults = await app({ RATE_LIMIT_KEY_FREE: undefined, RATE_LIMIT_KEY_PRO: undefined, RATE_LIMIT_KEY_ULTRA: undefined });
    const key = await signup();
    expect(item(expectOkResponse(await as(key, defaults).get("/stages")), "RateLimit-Policy", "api-key")).toEqual({ q: "120", w: "60" });
    await setOrgTier(key.orgId, "pro");
    expect(item(expectOkResponse(await as(key, defaults).get("/stages")), "RateLimit-Policy", "api-key")).toEqual({ q: "600", w: "60" });
    await setOrgTier(key.orgId, "ultra");
    expect(item(expectOkResponse(await as(key, defaults).get("/stages")), "RateLimit-Policy", "api-key")).toEqual({ q: "1200", w: "60" });
  });
});

function expectOkResponse(res: ApiResponse): ApiResponse {
  expectOk(res);
  return res;
}

describe("POST /signup", () => {
  let url: string;

  beforeAll(async () => {
    // The real defaults: 5 per hour per client IP, 20 per hour per email domain.
    url = await app({ RATE_LIMIT_SIGNUP_IP: undefined, RATE_LIMIT_SIGNUP_DOMAIN: undefined });
  });

  const signUp = (email: string, ip: string, base = url) =>
    call("POST", "/signup", { email, workspace_name: "Limits" }, { base, headers: from(ip) });

  it("takes 5 workspaces an hour from one address, then answers 429; another address still signs up", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const res = await signUp(`owner@${uniqueDomain()}`, ip);
      expectOk(res, 201);
      expect(item(res, "RateLimit-Policy", "signup-ip")).toEqual({ q: "5", w: "3600" });
      expect(item(res, "RateLimit-Policy", "signup-domain")).toEqual({ q: "20", w: "3600" });
      expect(item(res, "RateLimit", "signup-ip")!.r).toBe(String(4 - i));
    }
    const error = expectRateLimited(await signUp(`owner@${uniqueDomain()}`, ip), "signup-ip");
    expect(error.message).toBe("Too many signups from your address: at most 5 per hour");
    expectOk(await signUp(`owner@${uniqueDomain()}`, freshIp()), 201);
  });

  it("limits one email domain whatever the address, but counts free-mail addresses one by one", async () => {
    const strict = await app({ RATE_LIMIT_SIGNUP_DOMAIN: "3/1h" });
    const domain = uniqueDomain();
    for (let i = 0; i < 3; i++) expectOk(await signUp(`person${i}@${domain}`, freshIp(), strict), 201);
    const error = expectRateLimited(await signUp(`person3@${domain}`, freshIp(), strict), "signup-domain");
    expect(error.message).toBe("Too many signups for this email domain: at most 3 per hour");
    // gmail.com is free mail (app.personal_mail_domains): each address is a bucket of its own.
    for (let i = 0; i < 4; i++) expectOk(await signUp(`rl.${randomUUID().slice(0, 12)}@gmail.com`, freshIp(), strict), 201);
  });
});

describe("routes open without a key, per client IP", () => {
  it("inbound webhooks: refused before the token is even looked up", async () => {
    const url = await app({ RATE_LIMIT_INBOUND_IP: "2/1m" });
    const ip = freshIp();
    const post = () => call("POST", `/inbound/${randomBytes(24).toString("hex")}`, { email: "x@example.com" }, { base: url, headers: from(ip) });
    expectError(await post(), 404, "not_found");
    const second = await post();
    expectError(second, 404, "not_found");
    expect(item(second, "RateLimit", "inbound-ip")!.r).toBe("0");
    expectRateLimited(await post(), "inbound-ip");
    expectError(await call("POST", `/inbound/${randomBytes(24).toString("hex")}`, {}, { base: url, headers: from(freshIp()) }), 404);
  });

  it("public pages answer a browser with an HTML page, the beacon and unsubscribe links with the envelope", async () => {
    const url = await app({ RATE_LIMIT_PAGE_IP: "1/1m", RATE_LIMIT_TRACKING_IP: "1/1m" });
    const ip = freshIp();
    const page = (path: string) => fetch(`${url}${path}`, { headers: { ...from(ip), accept: "text/html" } });
    expect((await page("/q/no-such-quiz")).status).toBe(404);
    const refused = await page("/p/no-such-proposal");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toMatch(/^text\/html/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused.text()).toContain("Too many page requests from your address");
    expectRateLimited(await call("POST", `/email/unsubscribe/${"0".repeat(64)}`, undefined, { base: url, headers: from(ip) }), "page-ip");

    const beacon = () => call("POST", "/api/tracking/events", undefined, {
      base: url, headers: { ...from(ip), "content-type": "text/plain" }, raw: JSON.stringify({ slug: "no-such-proposal", visitId: "v".repeat(16), kind: "view" }),
    });
    expectError(await beacon(), 404);
    expectRateLimited(await beacon(), "tracking-ip");
  });

  it("believes X-Forwarded-For only as far as TRUST_PROXY says, and counts an IPv6 /64 as one client", async () => {
    const direct = await startApp({ TRUST_PROXY: undefined, RATE_LIMIT_INBOUND_IP: "1/1m" });
    apps.push(direct);
    const oneHop = await app({ TRUST_PROXY: "1", RATE_LIMIT_INBOUND_IP: "1/1m" });
    const post = (base: string, forwarded: string) =>
      call("POST", `/inbound/${randomBytes(24).toString("hex")}`, {}, { base, headers: { "x-forwarded-for": forwarded } });
    // Without TRUST_PROXY the socket's address counts, whatever the header claims.
    expectError(await post(direct.url, freshIp()), 404);
    expectRateLimited(await post(direct.url, freshIp()), "inbound-ip");
    // With one trusted proxy, the address it appended counts; what the client wrote before it does not.
    const client = freshIp();
    expectError(await post(oneHop, `${freshIp()}, ${client}`), 404);
    expectRateLimited(await post(oneHop, `${freshIp()}, ${client}`), "inbound-ip");
    const network = `2001:db8:${randomBytes(2).toString("hex")}:1`;
    expectError(await post(oneHop, `${network}::1`), 404);
    expectRateLimited(await post(oneHop, `${network}:0:0:0:ffff`), "inbound-ip");
  });
});

describe("public quiz submissions", () => {
  let url: string;
  let ws: Workspace;
  let client: ReturnType<typeof as>;

  const quiz = async () => expectOk(await client.post("/quizzes", {
    title: "Flood check", status: "published",
    questions: [{ id: "q", text: "Ready?", options: [{ id: "yes", label: "Yes", points: 1 }, { id: "no", label: "No", points: 0 }] }],
    resultBands: [{ min: 0, max: 100, label: "Thanks", message: "We'll be in touch." }],
  }), 201).quiz as { id: string; slug: string };
  const submit = (slug: string, ip: string) => call("POST", `/public/quizzes/${slug}/submissions`,
    { email: uniqueEmail("taker"), answers: { q: "yes" } }, { base: url, headers: from(ip) });

  beforeAll(async () => {
    // The real defaults: 10 a minute per client IP, 30 a minute per quiz.
    url = await app({ RATE_LIMIT_QUIZ_IP: undefined, RATE_LIMIT_QUIZ: undefined });
    ws = await signup();
    client = as(ws);
  });

  it("takes 10 submissions a minute from one address", async () => {
    const { slug } = await quiz();
    const ip = freshIp();
    for (let i = 0; i < 10; i++) expectOk(await submit(slug, ip), 201);
    const refused = await submit(slug, ip);
    expectRateLimited(refused, "quiz-ip");
    expect(item(refused, "RateLimit-Policy", "quiz-ip")).toEqual({ q: "10", w: "60" });
    expectOk(await submit(slug, freshIp()), 201);
  });

  it("stops a flood from many addresses at 30 a minute per quiz: the owner can still add leads, see the quiz's and delete them", async () => {
    const flooded = await quiz();
    const replies = await Promise.all(Array.from({ length: 110 }, () => submit(flooded.slug, freshIp())));
    const created = replies.filter((r) => r.status === 201);
    const refused = replies.filter((r) => r.status === 429);
    expect(created).toHaveLength(30);
    expect(refused).toHaveLength(80);
    expectRateLimited(refused[0]!, "quiz");
    expect(refused[0]!.body.error.message).toBe("This quiz is taking too many submissions: at most 30 per minute");

    // The workspace (free: 100 leads) still takes its owner's leads.
    const own = expectOk(await client.post("/leads", lead()), 201).lead;
    expect(own).toMatchObject({ source: "api", createdBy: expect.stringMatching(/^key_/) });

    // The leads the quiz made, and only those, by source and by creator.
    const listed = expectOk(await client.get(`/leads?source=quiz&createdBy=quiz:${flooded.id}&limit=100`));
    expect(listed.total).toBe(30);
    expect(new Set(listed.leads.map((l: any) => `${l.source} ${l.createdBy}`))).toEqual(new Set([`quiz quiz:${flooded.id}`]));

    const dry = expectOk(await client.post("/leads/bulk-delete", { source: "quiz", createdBy: `quiz:${flooded.id}`, dryRun: true }));
    expect(dry).toMatchObject({ deleted: 30, dryRun: true, permanent: false });
    expect(expectOk(await client.get(`/leads?source=quiz&createdBy=quiz:${flooded.id}`)).total).toBe(30);

    const usage = async () => expectOk(await client.get("/org/tier")).usage as { leads: number; activeLeads: number; deletedLeads: number };
    const before = await usage();
    const soft = expectOk(await client.post("/leads/bulk-delete", { source: "quiz", createdBy: `quiz:${flooded.id}` }));
    expect(soft).toMatchObject({ deleted: 30, permanent: false, dryRun: false, source: "quiz" });
    expect(soft.next_steps.join(" ")).toContain("permanent");
    expect(expectOk(await client.get(`/leads?source=quiz&createdBy=quiz:${flooded.id}`)).total).toBe(0);
    expect(expectOk(await client.get(`/leads?deletedOnly=true&source=quiz&createdBy=quiz:${flooded.id}`)).total).toBe(30);
    // Soft-deleted leads still count against the plan ...
    expect(await usage()).toMatchObject({ leads: before.leads, activeLeads: before.activeLeads - 30, deletedLeads: before.deletedLeads + 30 });

    // ... until they are deleted for good.
    const hard = expectOk(await client.post("/leads/bulk-delete", { source: "quiz", createdBy: `quiz:${flooded.id}`, permanent: true }));
    expect(hard).toMatchObject({ deleted: 30, permanent: true });
    expect(expectOk(await client.get(`/leads?deletedOnly=true&source=quiz&createdBy=quiz:${flooded.id}`)).total).toBe(0);
    expect(await usage()).toMatchObject({ leads: before.leads - 30, deletedLeads: before.deletedLeads });
    expect(expectOk(await client.get(`/leads/${own.id}`)).lead.deletedAt).toBeNull();
  });
});
