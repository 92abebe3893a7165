// The API's closed sets of values (functions/http/enums.ts) against the database's own rules.
// Every check constraint in schema app of the form `column = any (array[…])` is either
// mirrored by one list there, holding the same values, or named below as one whose column
// no route validates or documents as a closed set; the lists taken from rows (plans,
// playbook channels) hold what those rows hold. A value added to or dropped from the schema
// therefore fails here until the API's list follows.
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import * as enums from "../functions/http/enums.ts";

/** The constraints the API mirrors, with the list that mirrors each. */
const mirrored: { constraint: string; list: keyof typeof enums }[] = [
  { constraint: "leads_enrichment_status_check", list: "enrichmentStatuses" },
  { constraint: "lead_scores_label_check", list: "scoreLabels" },
  { constraint: "playbooks_score_label_check", list: "scoreLabels" },
  { constraint: "score_weights_factor_check", list: "scoreFactors" },
  { constraint: "stages_outcome_check", list: "stageOutcomes" },
  { constraint: "touchpoints_type_check", list: "touchpointTypes" },
  { constraint: "touchpoints_direction_check", list: "touchpointDirections" },
  { constraint: "notes_type_check", list: "noteTypes" },
  { constraint: "custom_fields_field_type_check", list: "fieldTypes" },
  { constraint: "sync_sources_type_check", list: "syncSourceTypes" },
  { constraint: "sync_events_outcome_check", list: "syncEventOutcomes" },
  { constraint: "feedback_type_check", list: "feedbackTypes" },
  { constraint: "feedback_priority_check", list: "feedbackPriorities" },
  { constraint: "feedback_status_check", list: "feedbackStatuses" },
  { constraint: "campaigns_kind_check", list: "campaignKinds" },
  { constraint: "campaigns_status_check", list: "campaignStatuses" },
  { constraint: "campaigns_trigger_event_check", list: "campaignTriggers" },
  { constraint: "enrollments_status_check", list: "enrollmentStatuses" },
  { constraint: "enrollments_source_check", list: "enrollmentSources" },
  { constraint: "outbox_status_check", list: "outboxStatuses" },
  { constraint: "meetings_bot_status_check", list: "meetingBotStatuses" },
  { constraint: "quizzes_status_check", list: "quizStatuses" },
  { constraint: "webhook_deliveries_status_check", list: "webhookDeliveryStatuses" },
  { constraint: "org_members_role_check", list: "memberRoles" },
  { constraint: "import_rows_result_check", list: "upsertResults" },
];

/** Enum-like constraints on columns the API shows as plain text, or not at all. */
const notMirrored = [
  "personal_mail_domains_kind_check",
  "lead_facts_kind_check",
  "automation_condition_keys_kind_check",
  "enrollment_history_kind_check",
  "email_suppressions_reason_check",
  "calendly_events_event_check",
  "meetings_status_check",
  "system_mail_status_check",
  "system_mail_kind_check",
  "email_links_purpose_check",
  // GET /imports/{id} adds "interrupted", which no row stores (an applying import that stopped moving).
  "imports_status_check",
];

let sql: postgres.Sql;
/** Constraint name -> the values its `= any (array[…])` allows. */
let allowed: Map<string, string[]>;

const sorted = (values: readonly string[]) => [...values].sort();

beforeAll(async () => {
  sql = postgres(inject("databaseUrl"), { max: 1, onnotice: () => {} });
  const rows = await sql<{ name: string; definition: string }[]>`
    select conname as name, pg_get_constraintdef(oid) as definition
    from pg_constraint
    where connamespace = 'app'::regnamespace and contype = 'c'`;
  allowed = new Map();
  for (const { name, definition } of rows) {
    const list = definition.match(/^CHECK \(\(\w+ = ANY \(ARRAY\[(.*)\]\)\)\)$/)?.[1];
    if (list === undefined) continue;
    allowed.set(name, [...list.matchAll(/'((?:[^']|'')*)'::text/g)].map((m) => m[1]!.replaceAll("''", "'")));
  }
});

afterAll(async () => {
  await sql?.end({ timeout: 2 });
});

describe("the API's value lists and the database's check constraints", () => {
  it("every enum-like check constraint in app is mirrored by a list in functions/http/enums.ts or named as not mirrored", () => {
    const known = new Set([...mirrored.map((m) => m.constraint), ...notMirrored]);
    expect([...allowed.keys()].filter((name) => !known.has(name)).sort()).toEqual([]);
  });

  it("every constraint named here still exists as an enum-like check", () => {
    const named = [...mirrored.map((m) => m.constraint), ...notMirrored];
    expect(named.filter((name) => !allowed.has(name))).toEqual([]);
  });

  it.each(mirrored)("$constraint allows exactly the values of $list", ({ constraint, list }) => {
    expect(sorted(enums[list] as readonly string[])).toEqual(sorted(allowed.get(constraint) ?? []));
  });
});

describe("the API's value lists and the database's lookup rows", () => {
  it("tiers lists the plans in app.tiers", async () => {
    const rows = await sql<{ tier: string }[]>`select tier from app.tiers`;
    expect(sorted(enums.tiers)).toEqual(sorted(rows.map((r) => r.tier)));
  });

  it("playbookChannels lists what app.playbook_channels() allows", async () => {
    const [row] = await sql<{ channels: string[] }[]>`select app.playbook_channels() as channels`;
    expect(sorted(enums.playbookChannels)).toEqual(sorted(row!.channels));
  });
});
