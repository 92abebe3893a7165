// API keys over HTTP: list (prefix, name, times, never the key or its hash), create (shown
// once), revoke (never the last working key by accident), rotate (both keys work during the
// overlap, the old one is refused after it: time is simulated by backdating expires_at),
// tenancy, and recovery of a lost key: the mail reaches the mail catcher through the system
// mail outbox and the worker, its link issues a working key once, and nothing tells an
// unknown address from a registered one.
import { createHash, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, type Sql } from "../functions/db.ts";
import { createSmtpSender, type MailSender } from "../functions/mail/smtp.ts";
import { runSystemMailTick, type WorkerDeps } from "../functions/mail/worker.ts";
import { type CaughtMessage, type MailCatcher, startMailCatcher } from "../functions/node/mail-catcher.ts";
import { type ApiResponse, as, baseUrl, call, expectError, expectOk, signup, uniqueEmail, type Workspace } from "./support/api.ts";
import { mailConfig } from "./support/smtp.ts";

let sql: Sql;
let catcher: MailCatcher;
let sender: MailSender;

beforeAll(async () => {
  sql = connect(inject("databaseUrl"), { max: 2 });
  catcher = await startMailCatcher({ smtpPort: 0, httpPort: 0 });
  sender = createSmtpSender(catcher.smtpUrl, "OpenClaw CRM <crm@localhost>");
});
afterAll(async () => {
  sender?.close();
  await catcher?.close();
  await sql?.end({ timeout: 2 });
});

const keyWith = (ws: Workspace, apiKey: string): Workspace => ({ ...ws, apiKey });
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

async function listKeys(ws: Workspace) {
  return expectOk(await as(ws).get("/keys")).keys as any[];
}

describe("GET /keys", () => {
  it("lists prefix, name, created, last used and status, never the key or its hash", async () => {
    const ws = await signup();
    const res = await as(ws).get("/keys");
    const body = expectOk(res);
    expect(body.total).toBe(1);
    expect(body.keys[0]).toEqual({
      id: expect.stringMatching(/^key_/), name: "default", prefix: ws.apiKey.slice(0, 16), status: "active",
      createdAt: expect.any(String), lastUsedAt: expect.any(String), expiresAt: null, revokedAt: null, replacedBy: null, current: true,
    });
    const raw = JSON.stringify(res.body);
    expect(raw).not.toContain(ws.apiKey);
    expect(raw).not.toContain(sha256(ws.apiKey));
  });

  it("filters by status and refuses an unknown one", async () => {
    const ws = await signup();
    expect(expectOk(await as(ws).get("/keys?status=revoked")).keys).toEqual([]);
    expectError(await as(ws).get("/keys?status=lost"), 400, "invalid_request");
  });
});

describe("POST /keys", () => {
  it("creates a named key, shows it once, and the key works", async () => {
    const ws = await signup();
    const created = expectOk(await as(ws).post("/keys", { name: "sdr-agent" }), 201);
    expect(created.apiKey).toMatch(/^rcm_live_[0-9a-f]{64}$/);
    expect(created.key).toMatchObject({ id: created.id, name: "sdr-agent", prefix: created.apiKey.slice(0, 16), status: "active", current: false });
    expect(created.warnings.join(" ")).toContain("shown only once");
    expectOk(await as(keyWith(ws, created.apiKey)).get("/org/tier"));

    const listed = await listKeys(ws);
    expect(listed.map((k) => k.name).sort()).toEqual(["default", "sdr-agent"]);
    expect(JSON.stringify(listed)).not.toContain(created.apiKey);
  });

  it("names a key after the time when no name is given, and says so", async () => {
    const ws = await signup();
    const created = expectOk(await as(ws).post("/keys", {}), 201);
    expect(created.key.name).toMatch(/^key \d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    expect(created.warnings.join(" ")).toContain("No name was given");
    expectOk(await as(ws).post("/keys"), 201);
  });

  it("refuses a name over 100 characters", async () => {
    const ws = await signup();
    expectError(await as(ws).post("/keys", { name: "x".repeat(101) }), 400);
  });
});

describe("DELETE /keys/{id}", () => {
  it("revokes a key: it answers 401 revoked_api_key from then on, the others keep working", async () => {
    const ws = await signup();
    const spare = expectOk(await as(ws).post("/keys", { name: "spare" }), 201);
    const revoked = expectOk(await as(ws).delete(`/keys/${spare.id}`));
    expect(revoked).toMatchObject({ id: spare.id, revoked: true, alreadyRevoked: false, liveKeys: 1, key: { status: "revoked" } });
    expectError(await as(keyWith(ws, spare.apiKey)).get("/org/tier"), 401, "revoked_api_key");
    expectOk(await as(ws).get("/org/tier"));
    expect(expectOk(await as(ws).delete(`/keys/${spare.id}`)).alreadyRevoked).toBe(true);
  });

  it("refuses to revoke the last working key without ?confirm=last-key", async () => {
    const ws = await signup();
    const [only] = await listKeys(ws);
    const error = expectError(await as(ws).delete(`/keys/${only.id}`), 409, "last_api_key");
    expect(error.hint).toContain("confirm=last-key");
    expectOk(await as(ws).get("/org/tier"));

    expectError(await as(ws).delete(`/keys/${only.id}?confirm=yes`), 400);
    const body = expectOk(await as(ws).delete(`/keys/${only.id}?confirm=last-key`));
    expect(body).toMatchObject({ revoked: true, liveKeys: 0 });
    expect(body.warnings.join(" ")).toContain("no working key left");
    expect(body.next_steps.join(" ")).toContain("/keys/recover");
    expectError(await as(ws).get("/org/tier"), 401, "revoked_api_key");
  });

  it("answers 404 for an unknown key", async () => {
    const ws = await signup();
    expectError(await as(ws).delete("/keys/key_000000000000000000000000"), 404, "not_found");
  });
});

describe("POST /keys/{id}/rotate", () => {
  it("issues a new key; both work during the overlap, the old one is refused after it", async () => {
    const ws = await signup();
    const [old] = await listKeys(ws);
    const started = Date.now();
    const rotated = expectOk(await as(ws).post(`/keys/${old.id}/rotate`, { overlapHours: 24 }), 201);
    expect(rotated.apiKey).toMatch(/^rcm_live_[0-9a-f]{64}$/);
    expect(rotated.key).toMatchObject({ name: "default", status: "active" });
    expect(rotated.previousKey).toMatchObject({ id: old.id, status: "expiring", replacedBy: rotated.id, current: true });
    const expiresAt = Date.parse(rotated.previousKey.expiresAt);
    expect(expiresAt - started).toBeGreaterThan(24 * 3_600_000 - 60_000);
    expect(expiresAt - started).toBeLessThan(24 * 3_600_000 + 60_000);

    const renewed = keyWith(ws, rotated.apiKey);
    expectOk(await as(ws).get("/org/tier"));
    expectOk(await as(renewed).get("/org/tier"));

    // The overlap ends: backdate it rather than wait a day.
    await sql`update app.api_keys set expires_at = now() - interval '1 second' where id = ${old.id}`;
    const error = expectError(await as(ws).get("/org/tier"), 401, "expired_api_key");
    expect(error.message).toContain("rotated");
    expect(error.hint).toContain("GET /api/openclaw/keys");
    expectOk(await as(renewed).get("/org/tier"));
    expect((await listKeys(renewed)).find((k) => k.id === old.id)).toMatchObject({ status: "expired" });
  });

  it("keeps the old key 24 hours by default, refuses a longer overlap than 7 days and a second rotation", async () => {
    const ws = await signup();
    const [old] = await listKeys(ws);
    expectError(await as(ws).post(`/keys/${old.id}/rotate`, { overlapHours: 169 }), 400);
    const rotated = expectOk(await as(ws).post(`/keys/${old.id}/rotate`), 201);
    expect(Date.parse(rotated.previousKey.expiresAt) - Date.now()).toBeGreaterThan(23.9 * 3_600_000);
    expectError(await as(ws).post(`/keys/${old.id}/rotate`, {}), 409, "api_key_already_rotated");
  });

  it("with overlapHours 0 stops the old key at once", async () => {
    const ws = await signup();
    const [old] = await listKeys(ws);
    const rotated = expectOk(await as(ws).post(`/keys/${old.id}/rotate`, { overlapHours: 0 }), 201);
    expect(rotated.previousKey.status).toBe("expired");
    expectError(await as(ws).get("/org/tier"), 401, "expired_api_key");
    expectOk(await as(keyWith(ws, rotated.apiKey)).get("/org/tier"));
  });
});

describe("tenancy", () => {
  it("org B can neither list, revoke nor rotate org A's keys", async () => {
    const a = await signup();
    const b = await signup();
    const [keyA] = await listKeys(a);
    const listedByB = await listKeys(b);
    expect(listedByB.map((k) => k.id)).not.toContain(keyA.id);
    expect(listedByB).toHaveLength(1);
    expectError(await as(b).delete(`/keys/${keyA.id}?confirm=last-key`), 404, "not_found");
    expectError(await as(b).post(`/keys/${keyA.id}/rotate`, { overlapHours: 0 }), 404, "not_found");
    expectOk(await as(a).get("/org/tier"));
    expect((await listKeys(a))[0]).toMatchObject({ id: keyA.id, status: "active" });
  });
});

// ---------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------
function worker(): WorkerDeps {
  return {
    sql, sender, name: `keys-test-${randomUUID().slice(0, 8)}`,
    config: mailConfig({ publicUrl: baseUrl(), messageIdDomain: "mail.test" }),
  };
}

const recover = (email: string) => call("POST", "/keys/recover", { email });

/**
 * Asks for a recovery and runs the system mail half of a worker tick; returns the mail.
 * Workers of other test files share the database and may take the mail first (it then lands
 * in their catcher): the request is then made again, its rate-limit count cleared.
 */
async function recoveryMail(email: string): Promise<CaughtMessage> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await recover(email);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await runSystemMailTick(worker());
    // The owner's welcome mail (signup) goes to the same address.
    const mail = catcher.messages.find((m) => m.envelope.to.includes(email.toLowerCase()) && m.subject.startsWith("Your new API key"));
    if (mail) return mail;
    await sql`delete from app.key_recovery_requests where email_hash = ${sha256(email.toLowerCase())}`;
  }
  throw new Error(`no recovery mail for ${email} reached this file's mail catcher`);
}

function linkIn(mail: CaughtMessage): { url: string; token: string } {
  const match = mail.text.match(/(https?:\/\/\S+\/api\/openclaw\/keys\/recover\?token=([0-9a-f]{64}))/);
  if (!match) throw new Error(`no recovery link in: ${mail.text}`);
  return { url: match[1]!, token: match[2]! };
}

const confirm = (token: string) => call("POST", "/keys/recover/confirm", { token });

describe("POST /keys/recover", () => {
  it("answers the same 202 for a registered and an unknown address", async () => {
    const ws = await signup();
    const known = await recover(ws.email);
    const unknown = await recover(uniqueEmail("nobody"));
    expectOk(known, 202);
    expect(unknown.status).toBe(202);
    expect(unknown.body).toEqual(known.body);
  });

  it("mails the owner a link that issues a working key once", async () => {
    const ws = await signup({ workspace_name: "Recovered Co" });
    const mail = await recoveryMail(ws.email);
    expect(mail.subject).toBe("Your new API key for Recovered Co");
    const { url, token } = linkIn(mail);
    expect(url).toBe(`${baseUrl()}/api/openclaw/keys/recover?token=${token}`);
    expect(mail.html).toContain(`href="${url}"`);
    // Only the token's hash is kept.
    const [row] = await sql<{ count: number }[]>`
      select count(*)::integer as count from app.email_links where org_id = ${ws.orgId} and purpose = 'key_recovery' and token_hash = ${sha256(token)}`;
    expect(row!.count).toBe(1);

    const issued = expectOk(await confirm(token), 201);
    expect(issued).toMatchObject({ orgId: ws.orgId, keyId: expect.stringMatching(/^key_/), apiKey: expect.stringMatching(/^rcm_live_[0-9a-f]{64}$/) });
    const recovered = keyWith(ws, issued.apiKey);
    expect(expectOk(await as(recovered).get("/org/tier")).orgId).toBe(ws.orgId);
    expect((await listKeys(recovered)).map((k) => k.name).sort()).toEqual(["default", "recovered"]);

    const reused = expectError(await confirm(token), 410, "recovery_link_used");
    expect(reused.hint).toContain("/keys/recover");
  });

  it("the link's page changes nothing; its button issues the key on an HTML page", async () => {
    const ws = await signup();
    const { url, token } = linkIn(await recoveryMail(ws.email));
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("referrer-policy")).toBe("same-origin");
    expect(page.headers.get("cache-control")).toBe("no-store");
    const html = await page.text();
    expect(html).toContain('action="recover/confirm"');
    expect(html).toContain(`name="token" value="${token}"`);

    const form = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token }).toString() };
    const action = new URL("recover/confirm", url).href;
    expect(action).toBe(`${baseUrl()}/api/openclaw/keys/recover/confirm`);
    const issued = await fetch(action, form);
    expect(issued.status).toBe(201);
    const apiKey = (await issued.text()).match(/rcm_live_[0-9a-f]{64}/)?.[0];
    expect(apiKey).toBeDefined();
    expectOk(await as(keyWith(ws, apiKey!)).get("/org/tier"));

    const again = await fetch(action, form);
    expect(again.status).toBe(410);
    expect(await again.text()).toContain("already used");
    expect((await fetch(url.replace(/token=.*/, "token=nope"))).status).toBe(400);
  });

  it("refuses an expired link with 410 and an unknown one with 400", async () => {
    const ws = await signup();
    const { token } = linkIn(await recoveryMail(ws.email));
    await sql`update app.email_links set token_expires_at = now() - interval '1 second' where org_id = ${ws.orgId}`;
    const error = expectError(await confirm(token), 410, "recovery_link_expired");
    expect(error.hint).toContain("15 minutes");
    expectError(await confirm("0".repeat(64)), 400, "invalid_recovery_token");
    expectError(await confirm("not-a-token"), 400, "invalid_recovery_token");
  });

  it("allows 3 requests per address an hour, registered or not, then 429 with Retry-After", async () => {
    const ws = await signup();
    for (const email of [ws.email, uniqueEmail("nobody")]) {
      for (let i = 0; i < 3; i++) expect((await recover(email.toUpperCase())).status).toBe(202);
      const res: ApiResponse = await recover(email);
      const error = expectError(res, 429, "rate_limited");
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(3000);
      expect(error.retryAfter).toBe(Number(res.headers.get("retry-after")));
    }
  });

  it("refuses something that is not an email address with 400", async () => {
    expectError(await recover("not an address"), 400);
  });
});
