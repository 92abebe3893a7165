import { beforeAll, describe, expect, it } from "vitest";
import { as, call, createLeads, expectError, expectOk, signup, type Workspace } from "./support/api.ts";

const STAGES = ["Prospects", "Leads", "Engaged", "Contacted", "Negotiated", "Re-engage later", "Closed Won", "Closed Lost"];

let ws: Workspace;
let client: ReturnType<typeof as>;
let leadIds: string[];

// Four leads through the API: one won, one lost, one moved to Engaged, one left in Prospects.
beforeAll(async () => {
  ws = await signup();
  client = as(ws);
  leadIds = await createLeads(client, 4);
  const [won, lost, engaged] = leadIds;
  for (const [id, stage] of [[engaged, "Engaged"], [won, "Negotiated"], [won, "Closed Won"], [lost, "Closed Lost"]] as const) {
    expectOk(await client.patch(`/leads/${id}`, { stage }));
  }
});

const analytics = async (query = "") => expectOk(await client.get(`/analytics${query}`));

describe("GET /analytics", () => {
  it("answers the org's pipeline metrics for the last 30 days by default", async () => {
    const body = await analytics();
    expect(body.period.days).toBe(30);
    expect(new Date(body.period.to).getTime() - new Date(body.period.from).getTime()).toBe(30 * 86_400_000);
    expect(Math.abs(new Date(body.period.to).getTime() - Date.now())).toBeLessThan(60_000);
    expect(body).toMatchObject({
      totalLeads: 4, leadsInPeriod: 4, quizCompletions: 0, proposalsViewed: 0, proposalViews: 0, meetingsBooked: 0,
      leadsWon: 1, leadsLost: 1, conversionRate: 0.5,
      pipeline: { Prospects: 1, Leads: 0, Engaged: 1, Contacted: 0, Negotiated: 0, "Re-engage later": 0, "Closed Won": 1, "Closed Lost": 1 },
      // Every new lead is scored on creation; four fresh, untouched leads are cold.
      scoreDistribution: { hot: 0, warm: 0, cool: 0, cold: 4, unscored: 0 },
      bySource: { api: 4 },
    });
  });

  it("reports stage-to-stage conversion in pipeline order and the days leads spent in each stage", async () => {
    const body = await analytics();
    expect(body.stageConversion.map((s: { stage: string }) => s.stage)).toEqual(STAGES);
    const prospects = body.stageConversion[0];
    expect(prospects).toMatchObject({ stage: "Prospects", outcome: "open", entered: 4, movedOn: 2, won: 1, movedOnRate: 0.5, winRate: 0.25 });
    expect(prospects.stageId).toMatch(/^stg_/);
    expect(body.stageConversion.find((s: { stage: string }) => s.stage === "Negotiated"))
      .toMatchObject({ entered: 1, movedOn: 1, won: 1, movedOnRate: 1, winRate: 1 });
    expect(body.stageConversion.find((s: { stage: string }) => s.stage === "Closed Lost"))
      .toMatchObject({ outcome: "lost", entered: 1, movedOn: 0, won: 0 });
    expect(Object.keys(body.averageDaysInStage).sort()).toEqual([...STAGES].sort());
    expect(body.averageDaysInStage.Prospects).toBeGreaterThanOrEqual(0);
    expect(body.averageDaysInStage.Prospects).toBeLessThan(0.01);
    expect(body.averageDaysInStage.Leads).toBeNull();
  });

  it("points at the stalled list (every lead is already scored)", async () => {
    const body = await analytics();
    expect(body.warnings).toEqual([]);
    expect(body.next_steps).toEqual([
      "GET /api/openclaw/leads/stalled for leads overdue for follow-up",
    ]);
  });

  it("accepts any window from 1 to 365 days", async () => {
    for (const days of [1, 7, 365]) {
      const body = await analytics(`?days=${days}`);
      expect(body.period.days).toBe(days);
      expect(body.totalLeads).toBe(4);
    }
  });

  it.each(["0", "366", "-1", "1.5", "abc", ""])("refuses days=%s with 400 and a hint naming the valid range", async (days) => {
    const error = expectError(await client.get(`/analytics?days=${days}`), 400, "invalid_request");
    expect(error.fields).toEqual([expect.objectContaining({ field: "days" })]);
    expect(error.hint).toContain("whole number from 1 to 365");
  });

  it("needs an API key", async () => {
    expectError(await call("GET", "/analytics"), 401, "missing_api_key");
  });
});

describe("GET /analytics across workspaces", () => {
  it("counts nothing of another workspace's leads", async () => {
    const other = as(await signup());
    const body = expectOk(await other.get("/analytics"));
    expect(body).toMatchObject({ totalLeads: 0, leadsInPeriod: 0, leadsWon: 0, leadsLost: 0, bySource: {} });
    // And the first workspace's numbers are unchanged by the other's activity.
    await createLeads(other, 2, () => ({ stage: "Closed Won" }));
    expect(expectOk(await other.get("/analytics"))).toMatchObject({ totalLeads: 2, leadsWon: 2, conversionRate: 1 });
    expect(await analytics()).toMatchObject({ totalLeads: 4, leadsWon: 1, leadsLost: 1 });
  });

  it("answers an empty workspace with zeros, a null conversion rate and a first step", async () => {
    const empty = as(await signup());
    const body = expectOk(await empty.get("/analytics?days=90"));
    expect(body).toMatchObject({
      period: { days: 90 }, totalLeads: 0, leadsInPeriod: 0, leadsWon: 0, leadsLost: 0, conversionRate: null,
      scoreDistribution: { hot: 0, warm: 0, cool: 0, cold: 0, unscored: 0 }, bySource: {},
    });
    expect(Object.values(body.pipeline)).toEqual(STAGES.map(() => 0));
    expect(body.stageConversion.every((s: { entered: number; movedOnRate: number | null }) => s.entered === 0 && s.movedOnRate === null)).toBe(true);
    expect(body.next_steps).toEqual(["POST /api/openclaw/leads to add your first lead"]);
  });

  it("warns that conversionRate is null when no lead closed in the window", async () => {
    const fresh = as(await signup());
    await createLeads(fresh, 1);
    const body = expectOk(await fresh.get("/analytics"));
    expect(body.conversionRate).toBeNull();
    expect(body.warnings).toEqual(["No lead was won or lost in the last 30 days, so conversionRate is null"]);
  });
});
