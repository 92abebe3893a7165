// End to end: campaigns and enrolments over HTTP, the SQL outbox, and the worker sending
// through real SMTP servers on loopback (the mail catcher, or a scripted smtp-server).
// Workers claim from the whole database, so mail of other test files may pass through
// these servers too: every assertion is about this file's own leads.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { connect, type Sql } from "../functions/db.ts";
import { createSmtpSender, type MailSender } from "../functions/mail/smtp.ts";
import { runTick, type WorkerDeps } from "../functions/mail/worker.ts";
import { type MailCatcher, startMailCatcher } from "../functions/node/mail-catcher.ts";
import { as, baseUrl, createLead, expectOk, signup, type Workspace } from "./support/api.ts";
import { setOrgTier } from "./support/db.ts";
import { mailConfig, startScriptedSmtp } from "./support/smtp.ts";

const MINUTE = 60_000;
let sql: Sql;
let catcher: MailCatcher;
let catcherSender: MailSender;
let workspace: Workspace;
let client: ReturnType<typeof as>;

beforeAll(async () => {
  sql = connect(inject("databaseUrl"), { max: 4 });
  catcher = await startMailCatcher({ smtpPort: 0, httpPort: 0 });
  catcherSender = createSmtpSender(catcher.smtpUrl, "OpenClaw CRM <crm@localhost>");
  workspace = await signup({ workspace_name: "Acme Growth" });
  await setOrgTier(workspace.orgId, "ultra");
  client = as(workspace);
});
afterAll(async () => {
  catcherSender?.close();
  await catcher?.close();
  await sql?.end({ timeout: 2 });
});

function worker(sender: MailSender, overrides: Partial<WorkerDeps> = {}, batch = 50): WorkerDeps {
  return {
    sql, sender, name: `test-${randomUUID().slice(0, 8)}`,
    config: mailConfig({ publicUrl: baseUrl(), messageIdDomain: "mail.test", worker: { intervalMs: 50, batch, leaseSeconds: 120, enqueue: "always" } }),
    ...overrides,
  };
}
const at = (offsetMs: number) => () => new Date(Date.now() + offsetMs);

type Step = { delayMinutes: number; subject: string; body: string };
async function campaign(steps: Step[]): Promise<string> {
  return expectOk(await client.post("/campaigns", { name: `Sequence ${randomUUID()}`, steps }), 201).id;
}
async function enrolledLead(campaignId: string, overrides: Record<string, unknown> = {}): Promise<{ leadId: string; email: string }> {
  const fields = { email: `lead-${randomUUID()}@example.test`, ...overrides };
  const leadId = await createLead(client, fields);
  expectOk(await client.post(`/campaigns/${campaignId}/enroll`, { leadId }), 201);
  return { leadId, email: String(fields.email) };
}
async function enrollment(campaignId: string, leadId: string) {
  const body = expectOk(await client.get(`/campaigns/${campaignId}/enrollments?leadId=${leadId}`));
  return body.enrollments[0];
}
const caughtFor = (email: string) => catcher.messages.filter((m) => m.envelope.to.includes(email));
const oneStep = (subject = "Hello {{firstName}}") => [{ delayMinutes: 0, subject, body: "Hi {{firstName}}, this is one email." }];

describe("mail delivery", () => {
  it("enrol → cron tick → the mail arrives rendered, with List-Unsubscribe headers, and is recorded", async () => {
    const campaignId = await campaign([
      { delayMinutes: 0, subject: "{{firstName}}, an idea for {{organizationName}}", body: "Hi {{firstName}} {{lastName}} ({{businessType}}),\n\nYour proposal: {{proposalUrl}}\nWe will call {{phone}} or write to {{email}}." },
      { delayMinutes: 3 * 24 * 60, subject: "Following up", body: "Hi again {{firstName}}" },
    ]);
    const { leadId, email } = await enrolledLead(campaignId, {
      firstName: "Jane", lastName: "O'Neil", organizationName: "Acme <Clinic>", businessType: "dental", phone: "+1 555 0100",
      crmData: { proposalUrl: "https://proposals.example.test/p/42" },
    });
    const result = await runTick(worker(catcherSender), true);
    expect(result.sent).toBeGreaterThanOrEqual(1);

    const [mail] = caughtFor(email);
    expect(mail).toBeDefined();
    expect(mail!.subject).toBe("Jane, an idea for Acme <Clinic>");
    expect(mail!.from).toBe('"Acme Growth" <crm@localhost>');
    expect(mail!.text).toContain("Hi Jane O'Neil (dental),\n\nYour proposal: https://proposals.example.test/p/42\nWe will call +1 555 0100 or write to " + email);
    expect(mail!.html).toContain("<p>Hi Jane O&#39;Neil (dental),</p>");
    expect(mail!.html).toContain(`<a href="https://proposals.example.test/p/42">`);
    const unsubscribe = mail!.headers["list-unsubscribe"]!.match(/^<(.+)>$/)![1]!;
    expect(unsubscribe).toMatch(new RegExp(`^${baseUrl()}/api/openclaw/email/unsubscribe/[A-Za-z0-9]{20,}$`));
    expect(mail!.headers["list-unsubscribe-post"]).toBe("List-Unsubscribe=One-Click");
    expect(mail!.text).toContain(`Unsubscribe: ${unsubscribe}`);
    expect(mail!.html).toContain(`href="${unsubscribe}"`);
    expect(mail!.messageId).toMatch(/^<msg_[^@]+@mail\.test>$/);

    const state = await enrollment(campaignId, leadId);
    expect(state.messages[0]).toMatchObject({ step: 0, status: "sent", messageId: mail!.messageId, subject: mail!.subject, attempts: 1 });
    expect(state).toMatchObject({ status: "active", currentStep: 1 });
    const touchpoints = expectOk(await client.get(`/touchpoints?leadId=${leadId}`));
    expect(JSON.stringify(touchpoints)).toContain(mail!.messageId!);
  });

  it("a worker that dies after the SMTP server accepted sends no second copy on restart; the row is unconfirmed", async () => {
    const campaignId = await campaign(oneStep());
    const { leadId, email } = await enrolledLead(campaignId);
    const crashing = worker(catcherSender, {
      afterSmtpAccept: (claim) => {
        if (claim.to === email) throw new Error("simulated crash between SMTP accept and record");
      },
    });
    await expect(runTick(crashing, true)).rejects.toThrow(/simulated crash/);
    expect(caughtFor(email)).toHaveLength(1);
    expect((await enrollment(campaignId, leadId)).messages[0].status).toBe("sending");

    // Restarted (a new worker name) once the dead worker's sending lease has run out.
    await sql`update app.outbox set lease_until = now() - interval '1 second' where lead_id = ${leadId}`;
    await runTick(worker(catcherSender), true);
    await runTick(worker(catcherSender), true);
    expect(caughtFor(email)).toHaveLength(1);
    const state = await enrollment(campaignId, leadId);
    expect(state.messages[0].status).toBe("unconfirmed");
    expect(state.messages[0].reason).toMatch(/never resent automatically/);
  });

  it("two workers running side by side never send the same row", async () => {
    const campaignId = await campaign(oneStep("Side by side {{firstName}}"));
    const leads = await Promise.all(Array.from({ length: 8 }, () => enrolledLead(campaignId)));
    const deps = [worker(catcherSender, {}, 3), worker(catcherSender, {}, 3)];
    for (let round = 0; round < 10; round++) {
      await Promise.all(deps.map((d) => runTick(d, true)));
      if (leads.every(({ email }) => caughtFor(email).length > 0)) break;
    }
    for (const { email } of leads) expect(caughtFor(email), email).toHaveLength(1);
    expect(new Set(leads.map(({ email }) => caughtFor(email)[0]!.messageId)).size).toBe(8);
    const states = await Promise.all(leads.map(({ leadId }) => enrollment(campaignId, leadId)));
    for (const state of states) expect(state.messages).toEqual([expect.objectContaining({ status: "sent", attempts: 1 })]);
  });

  it("an SMTP 451 is retried after the backoff with the same Message-ID; a 550 fails for good and stops the enrolment", async () => {
    const campaignId = await campaign(oneStep());
    const deferred = await enrolledLead(campaignId);
    const refused = await enrolledLead(campaignId);
    const smtp = await startScriptedSmtp((to, call) =>
      to === deferred.email && call === 0 ? { code: 451, message: "4.7.1 Try again later" }
      : to === refused.email ? { code: 550, message: "5.1.1 No such user" } : undefined);
    const sender = createSmtpSender(smtp.url, "OpenClaw CRM <crm@localhost>");
    try {
      await runTick(worker(sender), true);
      let state = await enrollment(campaignId, deferred.leadId);
      expect(state.messages[0]).toMatchObject({ status: "queued", attempts: 1, lastError: expect.stringContaining("451") });
      expect(new Date(state.messages[0].nextAttemptAt).getTime()).toBeGreaterThan(Date.now() + 30_000);

      const failed = await enrollment(campaignId, refused.leadId);
      expect(failed.messages[0]).toMatchObject({ status: "failed", lastError: expect.stringContaining("550") });
      expect(failed).toMatchObject({ status: "stopped", stopReason: expect.stringContaining("send failed") });

      await runTick(worker(sender), true); // before the backoff: nothing
      expect(smtp.attempts.filter((a) => a.to === deferred.email)).toHaveLength(1);
      await runTick(worker(sender, { now: at(2 * MINUTE) }), true);
      const tries = smtp.attempts.filter((a) => a.to === deferred.email);
      expect(tries.map((a) => a.accepted)).toEqual([false, true]);
      expect(tries[0]!.messageId).toBe(tries[1]!.messageId);
      state = await enrollment(campaignId, deferred.leadId);
      expect(state.messages[0]).toMatchObject({ status: "sent", attempts: 2, messageId: tries[0]!.messageId });
      expect(smtp.attempts.filter((a) => a.to === refused.email)).toHaveLength(1);
    } finally {
      sender.close();
      await smtp.close();
    }
  });

  it("unsubscribing through the List-Unsubscribe URL (one-click POST) stops further sends", async () => {
    const campaignId = await campaign([
      { delayMinutes: 0, subject: "First", body: "One" },
      { delayMinutes: 60, subject: "Second", body: "Two" },
    ]);
    const leaving = await enrolledLead(campaignId);
    const staying = await enrolledLead(campaignId);
    await runTick(worker(catcherSender), true);
    const url = caughtFor(leaving.email)[0]!.headers["list-unsubscribe"]!.slice(1, -1);
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "List-Unsubscribe=One-Click" });
    expect(res.status).toBe(200);

    await passTime([leaving.leadId, staying.leadId], "2 hours");
    await runTick(worker(catcherSender), true);
    expect(caughtFor(staying.email).map((m) => m.subject)).toEqual(["Second", "First"]);
    expect(caughtFor(leaving.email).map((m) => m.subject)).toEqual(["First"]);
    expect(await enrollment(campaignId, leaving.leadId)).toMatchObject({ status: "stopped", stopReason: "unsubscribed" });
  });
});

/**
 * Moves these leads' sequences into the past instead of moving the worker's clock into the
 * future: complete_send logs a touchpoint at the worker's time, and touchpoints from the
 * future are refused, so a clock far ahead would fail other files' rows the worker claims.
 */
async function passTime(leadIds: string[], by: string) {
  await sql`update app.outbox set claimed_at = claimed_at - ${by}::interval, sent_at = sent_at - ${by}::interval
            where lead_id in ${sql(leadIds)}`;
  await sql`update app.enrollments set next_step_at = next_step_at - ${by}::interval
            where lead_id in ${sql(leadIds)} and status = 'active'`;
}
