// Campaigns, enrolment, send-sequence, unsubscribe and bounces over real HTTP. Events the
// API has no route for yet (a reply arriving) and the cron tick are done in SQL, the way
// the mail pipeline and pg_cron do them. First steps wait an hour so the real pg_cron tick
// (every minute) cannot change what a test reads; claiming and sending are the mail
// worker's (tests/mail-*.test.ts) and pgTAP's to test, since a claim here could take
// another test file's mail.
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { as, call, createLead, expectError, expectOk, signup, type Workspace } from "./support/api.ts";
import { startApp, type TestApp } from "./support/app.ts";
import { setOrgTier } from "./support/db.ts";

type Client = ReturnType<typeof as>;
let ws: Workspace;
let client: Client;
let other: Client;
let sql: postgres.Sql;

beforeAll(async () => {
  ws = await signup();
  client = as(ws);
  await setOrgTier(ws.orgId, "pro");
  other = as(await signup());
  sql = postgres(inject("databaseUrl"), { max: 2, onnotice: () => {} });
});
afterAll(() => sql.end({ timeout: 2 }));

const steps = [
  { delayMinutes: 60, subject: "Hi {{firstName}}", body: "Hello {{firstName}} from {{organizationName}} {{proposalUrl}}" },
  { delayMinutes: 60 * 24, subject: "Following up", body: "Any thoughts, {{firstName}}?", condition: { skipIf: "replied" } },
];
const newCampaign = async (fields: Record<string, unknown> = {}, c: Client = client) =>
  expectOk(await c.post("/campaigns", { name: "Welcome", steps, ...fields }), 201).campaign;
const enrollments = async (campaignId: string, query = "") =>
  expectOk(await client.get(`/campaigns/${campaignId}/enrollments${query}`)).enrollments;
const recordEvent = (leadId: string, type: string, data: Record<string, unknown> = {}) =>
  sql`insert into app.events (org_id, lead_id, type, data) values (${ws.orgId}, ${leadId}, ${type}, ${sql.json(data as never)})`;

describe("POST /campaigns", () => {
  it("creates an active sequence with its steps, trigger and AI settings", async () => {
    const res = await client.post("/campaigns", {
      name: "Quiz follow-up", steps, trigger: "quiz_completed", ai_enabled: true,
      ai_config: { model: "gpt-4o-mini", tone: "warm", maxRetries: 1 }, fromName: "Ada at Acme",
    });
    const body = expectOk(res, 201);
    expect(body.id).toMatch(/^cmp_[0-9a-f]{24}$/);
    expect(body.campaign).toMatchObject({
      id: body.id, name: "Quiz follow-up", kind: "sequence", status: "active", steps, trigger: "quiz_completed",
      triggerStage: null, ai_enabled: true, ai_config: { model: "gpt-4o-mini", tone: "warm", maxRetries: 1 },
      fromName: "Ada at Acme", enrollments: { active: 0, completed: 0, stopped: 0 },
    });
    expect(body.next_steps[0]).toContain(`/campaigns/${body.id}/enroll`);
  });

  it("refuses an unknown template variable, naming it and listing the valid ones", async () => {
    const err = expectError(await client.post("/campaigns", {
      name: "Bad", steps: [{ delayMinutes: 0, subject: "Hi {{first_name}}", body: "x {{company}}" }],
    }), 400, "unknown_template_variable");
    expect(err.message).toContain("{{first_name}}");
    expect(err.message).toContain("{{company}}");
    expect(err.hint).toContain("{{firstName}}");
    expect(err.hint).toContain("{{proposalUrl}}");
  });

  it("refuses more than 8 steps, no steps, an unknown trigger and a bad ai_config", async () => {
    const nine = Array.from({ length: 9 }, () => steps[0]);
    expect(expectError(await client.post("/campaigns", { name: "x", steps: nine }), 400).message).toContain("at most 8");
    expectError(await client.post("/campaigns", { name: "x", steps: [] }), 400, "invalid_request");
    expect(expectError(await client.post("/campaigns", { name: "x", steps, trigger: "opened" }), 400).hint).toContain("stage_changed");
    expectError(await client.post("/campaigns", { name: "x", steps, ai_config: { maxRetries: 9 } }), 400);
  });

  it("needs a known stage for trigger stage_changed", async () => {
    expectError(await client.post("/campaigns", { name: "x", steps, trigger: "stage_changed" }), 400, "trigger_stage_required");
    expect(expectError(await client.post("/campaigns", { name: "x", steps, trigger: "stage_changed", triggerStage: "Nope" }), 400, "unknown_stage").hint)
      .toContain("Engaged");
    const campaign = await newCampaign({ trigger: "stage_changed", triggerStage: "engaged" });
    expect(campaign.triggerStage).toEqual({ id: expect.stringMatching(/^stg_/), name: "Engaged" });
  });

  it("answers 402 at the free tier's limit of 3 campaigns", async () => {
    const free = as(await signup());
    for (let i = 0; i < 3; i++) await newCampaign({}, free);
    const err = expectError(await free.post("/campaigns", { name: "Fourth", steps }), 402, "campaign_limit_reached");
    expect(err.message).toContain("3");
  });
});

describe("GET, PUT, DELETE /campaigns/{campaignId}, pause and resume", () => {
  it("reads, lists, changes, pauses, resumes and archives a campaign", async () => {
    const campaign = await newCampaign({ name: "Lifecycle" });
    expect(expectOk(await client.get(`/campaigns/${campaign.id}`)).campaign).toEqual(campaign);
    const listed = expectOk(await client.get("/campaigns?status=active")).campaigns.map((c: { id: string }) => c.id);
    expect(listed).toContain(campaign.id);

    const changed = expectOk(await client.put(`/campaigns/${campaign.id}`, { name: "Renamed", steps: [steps[0]] })).campaign;
    expect(changed).toMatchObject({ name: "Renamed", steps: [steps[0]], status: "active" });
    expectError(await client.put(`/campaigns/${campaign.id}`, { steps: [{ delayMinutes: 0, subject: "{{nope}}", body: "x" }] }), 400, "unknown_template_variable");

    expect(expectOk(await client.post(`/campaigns/${campaign.id}/pause`)).campaign.status).toBe("paused");
    expect(expectOk(await client.post(`/campaigns/${campaign.id}/pause`)).warnings[0]).toContain("already paused");
    expect(expectOk(await client.post(`/campaigns/${campaign.id}/resume`)).campaign.status).toBe("active");

    expect(expectOk(await client.delete(`/campaigns/${campaign.id}`)).campaign.status).toBe("archived");
    expectError(await client.post(`/campaigns/${campaign.id}/resume`), 409, "campaign_archived");
    expectError(await client.put(`/campaigns/${campaign.id}`, { name: "Back" }), 409, "campaign_archived");
  });

  it("answers 404 for another workspace's campaign on every route", async () => {
    const campaign = await newCampaign();
    const leadId = await createLead(other);
    expectError(await other.get(`/campaigns/${campaign.id}`), 404, "not_found");
    expectError(await other.put(`/campaigns/${campaign.id}`, { name: "Hijack" }), 404, "not_found");
    expectError(await other.delete(`/campaigns/${campaign.id}`), 404, "not_found");
    expectError(await other.post(`/campaigns/${campaign.id}/pause`), 404, "not_found");
    expectError(await other.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 404, "not_found");
    expectError(await other.get(`/campaigns/${campaign.id}/enrollments`), 404, "not_found");
    expect(expectOk(await other.get("/campaigns")).campaigns).toEqual([]);
    expect(expectOk(await client.get(`/campaigns/${campaign.id}`)).campaign.name).toBe("Welcome");
  });

  it("answers 401 without a key", async () => {
    expectError(await call("GET", "/campaigns"), 401, "missing_api_key");
  });
});

describe("ai_enabled and the AI API", () => {
  // The suite's server has no AI API configured; withAi is the same app with one (never called here).
  const noAi = /^ai_enabled is on but no AI API is configured: each email will be sent as its template is written, without AI personalisation; set AI_API_KEY \(OpenAI\) or AI_BASE_URL/;
  const aiCampaign = { name: "AI follow-up", steps, trigger: "quiz_completed", ai_enabled: true, ai_config: { model: "gpt-4o-mini", tone: "warm", maxRetries: 1 } };
  let withAi: TestApp;
  beforeAll(async () => {
    withAi = await startApp({ AI_API_KEY: "sk-test", AI_BASE_URL: "http://127.0.0.1:9/v1" });
  });
  afterAll(() => withAi?.close());

  it("warns on POST /campaigns with ai_enabled when no AI API is configured: the templates are sent as written", async () => {
    const body = expectOk(await client.post("/campaigns", aiCampaign), 201);
    expect(body.campaign).toMatchObject({ ai_enabled: true, ai_config: aiCampaign.ai_config, status: "active" });
    expect(body.warnings).toEqual([expect.stringMatching(noAi)]);
    expect(body.warnings[0]).toContain("AI_MODEL");
  });

  it("does not warn about AI for a campaign without ai_enabled", async () => {
    expect(expectOk(await client.post("/campaigns", { name: "Plain", steps, ai_enabled: false }), 201).warnings).toEqual([]);
  });

  it("warns when PUT turns ai_enabled on and when an ai_enabled campaign is resumed, not on other changes", async () => {
    const campaign = await newCampaign({ name: "Later AI" });
    const enabled = expectOk(await client.put(`/campaigns/${campaign.id}`, { ai_enabled: true, ai_config: { tone: "warm" } }));
    expect(enabled.campaign.ai_enabled).toBe(true);
    expect(enabled.warnings).toEqual([expect.stringMatching(noAi)]);
    expect(expectOk(await client.put(`/campaigns/${campaign.id}`, { name: "Later AI, renamed" })).warnings).toEqual([]);
    expect(expectOk(await client.post(`/campaigns/${campaign.id}/pause`)).warnings).toEqual([]);
    const resumed = expectOk(await client.post(`/campaigns/${campaign.id}/resume`));
    expect(resumed.campaign.status).toBe("active");
    expect(resumed.warnings).toEqual([expect.stringMatching(noAi)]);
  });

  it("does not warn on create, PUT or resume when an AI API is configured", async () => {
    const ai = as(ws, withAi.url);
    const created = expectOk(await ai.post("/campaigns", aiCampaign), 201);
    expect(created.warnings).toEqual([]);
    expect(expectOk(await ai.put(`/campaigns/${created.id}`, { ai_enabled: true })).warnings).toEqual([]);
    expectOk(await ai.post(`/campaigns/${created.id}/pause`));
    expect(expectOk(await ai.post(`/campaigns/${created.id}/resume`)).warnings).toEqual([]);
  });
});

describe("POST /campaigns/{campaignId}/enroll and GET …/enrollments", () => {
  it("enrols a lead, refuses a second active enrolment with 409, and shows status and history", async () => {
    const campaign = await newCampaign();
    const leadId = await createLead(client);
    const body = expectOk(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 201);
    expect(body.enrollment).toMatchObject({
      id: expect.stringMatching(/^enr_/), campaignId: campaign.id, leadId, status: "active", currentStep: 0, totalSteps: 2,
      source: "manual", cooldownUntil: null, history: [{ event: "enrolled", detail: "manual" }], messages: [],
    });
    const again = expectError(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 409, "already_enrolled");
    expect(again.message).toContain(body.id);
    const [listed] = await enrollments(campaign.id, `?leadId=${leadId}`);
    expect(listed).toMatchObject({ id: body.id, status: "active" });
  });

  it("answers 404 for an unknown or foreign lead and 400 without leadId", async () => {
    const campaign = await newCampaign();
    expectError(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId: await createLead(other) }), 404, "not_found");
    expectError(await client.post(`/campaigns/${campaign.id}/enroll`, {}), 400, "invalid_request");
  });

  it("moves a due first step into the outbox on the cron tick, as the enrolment's history and messages show", async () => {
    const campaign = await newCampaign({ steps: [{ ...steps[0], delayMinutes: 0 }] });
    const leadId = await createLead(client);
    expectOk(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 201);
    await sql`select app.enqueue_due_steps()`;
    const [enrollment] = await enrollments(campaign.id, `?leadId=${leadId}`);
    expect(enrollment.history.map((h: { event: string }) => h.event).slice(0, 2)).toEqual(["enrolled", "queued"]);
    expect(enrollment.nextStepAt).toBeNull();
    // A running mail worker may already have taken it further.
    expect(enrollment.messages).toEqual([expect.objectContaining({ step: 0, to: expect.stringContaining("@example.com") })]);
    expect(["queued", "claimed", "sending", "sent"]).toContain(enrollment.messages[0].status);
  });

  it("enrols automatically when the trigger event is recorded (a move into the trigger stage)", async () => {
    const campaign = await newCampaign({ trigger: "stage_changed", triggerStage: "Contacted" });
    const leadId = await createLead(client);
    expect(await enrollments(campaign.id)).toEqual([]);
    expectOk(await client.patch(`/leads/${leadId}`, { stage: "Contacted" }));
    const [enrollment] = await enrollments(campaign.id);
    expect(enrollment).toMatchObject({ leadId, status: "active", source: "trigger" });
  });

  it("stops on a reply, on a won or lost stage, and when the campaign is archived, with the reason", async () => {
    const campaign = await newCampaign();
    const [replied, won] = [await createLead(client), await createLead(client)];
    for (const leadId of [replied, won]) expectOk(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 201);
    await recordEvent(replied, "email_replied");
    expectOk(await client.patch(`/leads/${won}`, { stage: "Closed Won" }));
    const byLead = Object.fromEntries((await enrollments(campaign.id)).map((e: { leadId: string }) => [e.leadId, e]));
    expect(byLead[replied]).toMatchObject({ status: "stopped", stopReason: "email_replied" });
    expect(byLead[won]).toMatchObject({ status: "stopped", stopReason: "stage_won" });

    const second = await newCampaign();
    const leadId = await createLead(client);
    expectOk(await client.post(`/campaigns/${second.id}/enroll`, { leadId }), 201);
    expect(expectOk(await client.delete(`/campaigns/${second.id}`)).warnings[0]).toContain("1 active enrolment(s) stopped");
    expect((await enrollments(second.id))[0]).toMatchObject({ status: "stopped", stopReason: "campaign archived" });
  });

  it("restarts a finished enrolment, its first email waiting out the 48 h cooldown", async () => {
    const campaign = await newCampaign();
    const leadId = await createLead(client);
    expectOk(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 201);
    await recordEvent(leadId, "email_replied");
    const body = expectOk(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 201);
    expect(body.enrollment.cooldownUntil).not.toBeNull();
    expect(body.warnings.join(" ")).toContain("48 h cooldown");
  });
});

describe("POST /email/send-sequence", () => {
  it("creates an ad-hoc campaign that does not count against the plan and enrols the lead", async () => {
    const free = as(await signup());
    const leadId = await createLead(free);
    for (let i = 0; i < 3; i++) await newCampaign({}, free);
    const body = expectOk(await free.post("/email/send-sequence", { leadId, sequence: [steps[0]] }), 201);
    expect(body.enrollment).toMatchObject({ leadId, status: "active", campaignId: body.campaignId, totalSteps: 1 });
    const adhoc = expectOk(await free.get("/campaigns?kind=adhoc")).campaigns;
    expect(adhoc).toEqual([expect.objectContaining({ id: body.campaignId, kind: "adhoc", name: "Sequence for Jane" })]);
    expect(expectOk(await free.get("/campaigns")).campaigns).toHaveLength(3);
    expect(expectOk(await free.get("/org/tier")).usage.campaigns).toBe(3);
  });

  it("validates templates and the lead", async () => {
    const leadId = await createLead(client);
    expectError(await client.post("/email/send-sequence", { leadId, sequence: [{ delayMinutes: 0, subject: "{{x}}", body: "b" }] }), 400, "unknown_template_variable");
    expectError(await client.post("/email/send-sequence", { leadId: await createLead(other), sequence: [steps[0]] }), 404, "not_found");
    expectError(await client.post("/email/send-sequence", { leadId }), 400, "invalid_request");
  });
});

describe("unsubscribe and bounces", () => {
  // The token the mail worker puts in the lead's unsubscribe link (made at claim time).
  async function unsubscribeToken(leadId: string): Promise<string> {
    const campaign = await newCampaign();
    expectOk(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 201);
    const [row] = await sql<{ token: string }[]>`
      insert into app.unsubscribe_tokens (org_id, lead_id) values (${ws.orgId}, ${leadId}) returning token`;
    return row!.token;
  }

  it("shows a confirmation page, then unsubscribes with one click, stops enrolments and refuses to enrol again", async () => {
    const leadId = await createLead(client);
    const token = await unsubscribeToken(leadId);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const pageRes = await call("GET", `/email/unsubscribe/${token}`);
    expect(pageRes.status).toBe(200);
    expect(pageRes.headers.get("content-type")).toMatch(/^text\/html/);
    expect(pageRes.body).toContain("List-Unsubscribe");

    const res = await call("POST", `/email/unsubscribe/${token}`, undefined, {
      raw: "List-Unsubscribe=One-Click", headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    const body = expectOk(res);
    expect(body).toMatchObject({ unsubscribed: true, alreadyUnsubscribed: false, stoppedEnrollments: 1 });
    expect(expectOk(await call("POST", `/email/unsubscribe/${token}`)).alreadyUnsubscribed).toBe(true);

    const campaign = await newCampaign();
    expectError(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 409, "email_suppressed");
    expect(await call("GET", "/email/unsubscribe/not-a-token").then((r) => r.status)).toBe(404);
    expectError(await call("POST", "/email/unsubscribe/not-a-token"), 404, "unknown_unsubscribe_token");
  });

  it("a hard bounce suppresses the address and stops enrolments; a soft one is only recorded", async () => {
    const email = `bounce-${Date.now()}@example.com`;
    const leadId = await createLead(client, { email });
    const campaign = await newCampaign();
    expectOk(await client.post(`/campaigns/${campaign.id}/enroll`, { leadId }), 201);

    const soft = expectOk(await client.post("/email/bounces", { email, type: "soft", reason: "mailbox full" }));
    expect(soft).toMatchObject({ suppressed: false, leadIds: [leadId], stoppedEnrollments: 0 });
    const hard = expectOk(await client.post("/email/bounces", { email: email.toUpperCase(), type: "hard", reason: "550 user unknown" }));
    expect(hard).toMatchObject({ email, suppressed: true, leadIds: [leadId], stoppedEnrollments: 1 });
    expect((await enrollments(campaign.id))[0]).toMatchObject({ status: "stopped", stopReason: "email_bounced" });
    expectError(await client.post("/email/bounces", { email, type: "bogus" }), 400, "invalid_request");
    expectError(await other.post("/email/bounces", { email, type: "soft" }), 404, "not_found");
  });
});

describe("GET/PUT /campaigns/settings", () => {
  it("reads the defaults and changes the cap and send window", async () => {
    const fresh = as(await signup());
    expect(expectOk(await fresh.get("/campaigns/settings")).settings).toEqual({ dailyCap: 500, timeZone: "UTC", sendWindow: null });
    const changed = expectOk(await fresh.put("/campaigns/settings", {
      dailyCap: 50, sendWindow: { start: "09:00", end: "17:00", timeZone: "Europe/Berlin", weekdaysOnly: true },
    })).settings;
    expect(changed).toEqual({ dailyCap: 50, timeZone: "Europe/Berlin", sendWindow: { start: "09:00", end: "17:00", weekdaysOnly: true } });
    expectError(await fresh.put("/campaigns/settings", { timeZone: "Mars/Olympus" }), 400, "invalid_time_zone");
    expectError(await fresh.put("/campaigns/settings", { sendWindow: { start: "18:00", end: "09:00" } }), 400, "invalid_send_window");
    expect(expectOk(await fresh.put("/campaigns/settings", { sendWindow: null })).settings.sendWindow).toBeNull();
  });
});
