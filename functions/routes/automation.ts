// Stage automation rules: list (with the triggers and condition keys the database knows),
// create, change, delete, and the log of the moves they made. The rules live in the
// database: app.automation_rules' trigger validates a rule and resolves stage names
// (unknown trigger, condition or stage answers 400 with the valid ones), rules fire in
// Postgres when an event is recorded or from pg_cron, and row-level security keeps
// another org's rules invisible (404). This file validates shapes, calls and replies.
import { createRoute, z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";
import { boundedJson, jsonBody } from "../http/body.ts";
import { jsonCaps } from "../http/caps.ts";
import { notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings, validationWithHints } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const RuleId = z.string({ error: "is required" }).min(1).max(100).openapi({ example: "rule_3f9c0a1b2c3d4e5f6a7b8c9d" });
const StageRef = z.string().trim().min(1).max(100).openapi({ description: "A stage id (stg_…) or name.", example: "Negotiated" });
const Conditions = (when: string) => boundedJson(jsonCaps.automationConditions, {
  description: `fromStage (stage id or name), tier, viewCount { gte }, confidenceScore { gte }, and for no_touch noTouchDays { gte } (default 7). GET /automation/rules lists them as conditionKeys. ${when}`,
  hint: "Send only the condition keys GET /api/openclaw/automation/rules lists (conditionKeys), with short values.",
  example: { fromStage: "Contacted", viewCount: { gte: 2 } },
});

const createFields = {
  name: z.string({ error: "is required" }).trim().min(1).max(200).openapi({ example: "Meeting booked → Negotiated" }),
  triggerEvent: z.string({ error: "is required" }).trim().min(1).max(100)
    .openapi({ description: "meeting_booked, proposal_viewed, cta_clicked, quiz_completed or no_touch (availableTriggers).", example: "meeting_booked" }),
  conditions: Conditions("Default {} (every lead matches).").optional(),
  targetStage: StageRef.openapi({ description: "The stage (id or name) matching leads move to." }),
  priority: z.number().int().min(-1_000_000).max(1_000_000).optional()
    .openapi({ description: "Higher wins when several rules match; ties go to the older rule. Default 0." }),
  enabled: z.boolean().optional().openapi({ description: "Default true." }),
};
const CreateRule = z.looseObject(createFields).openapi("CreateAutomationRuleRequest");

const updateFields = {
  id: RuleId,
  name: createFields.name.optional(),
  triggerEvent: createFields.triggerEvent.optional(),
  conditions: Conditions("Replaces the rule's conditions as a whole.").optional(),
  targetStage: StageRef.optional(),
  priority: createFields.priority,
  enabled: createFields.enabled,
};
const UpdateRule = z.looseObject(updateFields).openapi("UpdateAutomationRuleRequest");

const StageLink = z.object({ id: z.string(), name: z.string() });
const Rule = z.object({
  id: z.string(),
  name: z.string(),
  triggerEvent: z.string(),
  conditions: z.record(z.string(), z.unknown()).openapi({ description: "As stored: fromStage is a stage id; defaults filled in." }),
  fromStage: StageLink.nullable().openapi({ description: "conditions.fromStage with its name; null when the rule matches any stage." }),
  targetStage: StageLink,
  priority: z.number().int(),
  enabled: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("AutomationRule");
type RuleRow = z.infer<typeof Rule>;

const Trigger = z.object({ name: z.string(), description: z.string() }).openapi("AutomationTrigger");
const ConditionKey = z.object({
  key: z.string(),
  example: z.unknown(),
  description: z.string(),
  min: z.number().nullable().openapi({ description: "Lowest gte allowed, for { gte } conditions." }),
  max: z.number().nullable(),
  default: z.unknown().openapi({ description: "Filled in when a rule of these triggers leaves the key out (null: none)." }),
  triggers: z.array(z.string()).openapi({ description: "The triggers whose rules take this key." }),
}).openapi("AutomationConditionKey");

const ListReply = envelope({
  rules: z.array(Rule).openapi({ description: "In the order they are tried: priority (highest first), then oldest first." }),
  availableTriggers: z.array(Trigger),
  conditionKeys: z.array(ConditionKey),
  ...pageFields,
}).openapi("AutomationRuleListReply");
const RuleReply = envelope({ id: z.string(), rule: Rule }).openapi("AutomationRuleReply");
const DeletedReply = envelope({ id: z.string(), name: z.string(), deleted: z.literal(true) }).openapi("DeletedAutomationRuleReply");

const Run = z.object({
  id: z.string(),
  ruleId: z.string().nullable().openapi({ description: "Null once the rule has been deleted." }),
  ruleName: z.string(),
  leadId: z.string(),
  triggerEvent: z.string(),
  eventId: z.string().nullable().openapi({ description: "The event that fired the rule; null for no_touch." }),
  fromStage: StageLink.extend({ id: z.string().nullable(), name: z.string().nullable() }),
  toStage: StageLink.extend({ id: z.string().nullable(), name: z.string().nullable() }),
  ranAt: z.string(),
}).openapi("AutomationRun");
const RunsQuery = z.object({
  leadId: z.string().min(1).max(100).optional().openapi({ description: "Only this lead's moves." }),
  ruleId: z.string().min(1).max(100).optional().openapi({ description: "Only this rule's moves." }),
  ...pageQuery,
});
const RunsReply = envelope({
  runs: z.array(Run).openapi({ description: "Newest first." }),
  ...pageFields,
}).openapi("AutomationRunListReply");

const hints = {
  name: "Send a name of 1-200 characters, e.g. \"Meeting booked → Negotiated\".",
  triggerEvent: "triggerEvent is required: GET /api/openclaw/automation/rules lists availableTriggers.",
  targetStage: "Send targetStage: the id or name of the stage matching leads move to (GET /api/openclaw/stages lists them).",
  conditions: "Send conditions as an object such as { \"fromStage\": \"Contacted\", \"viewCount\": { \"gte\": 2 } } (GET /api/openclaw/automation/rules lists conditionKeys).",
  priority: "Send priority as a whole number; higher wins.",
  id: "Send the rule's id (rule_…): GET /api/openclaw/automation/rules lists them.",
};

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const ruleSelect = `
  id, name, trigger_event as "triggerEvent", conditions,
  case when from_stage_id is not null then json_build_object('id', from_stage_id, 'name', from_stage_name) end as "fromStage",
  json_build_object('id', target_stage_id, 'name', target_stage_name) as "targetStage",
  priority, enabled, created_at as "createdAt", updated_at as "updatedAt"`;

async function readRule(db: Tx, id: string): Promise<RuleRow> {
  const [rule] = await db<RuleRow[]>`select ${db.unsafe(ruleSelect)} from app.automation_rule_details where id = ${id}`;
  if (!rule) throw notFound("Automation rule", id);
  return rule;
}

/** The columns a request writes: stage names are resolved by the table's trigger. */
function ruleValues(db: Tx, input: Partial<z.infer<typeof CreateRule>>) {
  return {
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.triggerEvent !== undefined ? { trigger_event: input.triggerEvent } : {}),
    ...(input.conditions !== undefined ? { conditions: db.json(input.conditions as never) } : {}),
    ...(input.targetStage !== undefined ? { target_stage_id: input.targetStage } : {}),
    ...(input.priority !== undefined ? { priority: input.priority } : {}),
    ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
  };
}

function ruleWarnings(rule: RuleRow, input: Record<string, unknown>, known: string[]): string[] {
  const sentConditions = input.conditions as Record<string, unknown> | undefined;
  return [
    ...ignoredFieldWarnings(input, known, `A rule has ${known.join(", ")}.`),
    ...(!rule.enabled ? [`The rule is disabled: PUT /api/openclaw/automation/rules { "id": "${rule.id}", "enabled": true } turns it on`] : []),
    ...(rule.triggerEvent === "no_touch" && sentConditions !== undefined && !("noTouchDays" in sentConditions)
      ? [`conditions.noTouchDays defaulted to ${JSON.stringify(rule.conditions.noTouchDays)}`] : []),
  ];
}

const listStep = "GET /api/openclaw/automation/rules lists the rules in the order they are tried";
const firedStep = (rule: RuleRow) => rule.triggerEvent === "no_touch"
  ? "no_touch rules run every 15 minutes; GET /api/openclaw/automation/runs shows the moves they made"
  : `The rule fires when a ${rule.triggerEvent} event is recorded for a matching lead; GET /api/openclaw/automation/runs shows the moves`;

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  operationId: "listAutomationRules",
  method: "get", path: "/automation/rules", tags: ["Automation"],
  summary: "The org's automation rules (in the order they are tried), the available triggers and condition keys",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: z.object(pageQuery) },
  responses: { 200: json(ListReply, "Rules, triggers and condition keys."), ...commonErrors },
});
const createRuleRoute = createRoute({
  operationId: "createAutomationRule",
  method: "post", path: "/automation/rules", tags: ["Automation"], summary: "Create an automation rule",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(CreateRule),
  responses: { 201: json(RuleReply, "Rule created."), ...idempotencyError, ...commonErrors },
});
const updateRoute = createRoute({
  operationId: "updateAutomationRule",
  method: "put", path: "/automation/rules", tags: ["Automation"],
  summary: "Change a rule (id in body; only the fields sent change; conditions are replaced whole)",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(UpdateRule),
  responses: { 200: json(RuleReply, "Rule updated."), ...notFoundError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "deleteAutomationRule",
  method: "delete", path: "/automation/rules", tags: ["Automation"], summary: "Delete a rule (its past moves stay in the log)",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: z.object({ id: RuleId }) },
  responses: { 200: json(DeletedReply, "Rule deleted."), ...notFoundError, ...commonErrors },
});
const runsRoute = createRoute({
  operationId: "listAutomationRuns",
  method: "get", path: "/automation/runs", tags: ["Automation"], summary: "The moves automation rules made, newest first",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: RunsQuery },
  responses: { 200: json(RunsReply, "A page of the firing log."), ...notFoundError, ...commonErrors },
});

export const automationRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const page = await pageOf(c, c.req.valid("query"), {
      list: "/automation/rules",
      sort: [{ sql: "priority", type: "integer", desc: true }, { sql: "created_at", type: "timestamptz" }, { sql: "id", type: "text" }],
    });
    const db = c.var.db;
    const [fetched, [count], availableTriggers, conditionKeys] = await Promise.all([
      db<RuleRow[]>`select ${db.unsafe(ruleSelect)}, ${page.keys(db)} from app.automation_rule_details where ${page.after(db)}
                    order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.automation_rules`,
      db<z.infer<typeof Trigger>[]>`select name, description from app.automation_triggers order by position`,
      db<z.infer<typeof ConditionKey>[]>`
        select key, example, description, min_value::float8 as min, max_value::float8 as max, default_value as default, triggers
        from app.automation_condition_keys order by position`,
    ]);
    const total = count!.total;
    const rules = await page.fit(fetched);
    return reply(c, { rules, availableTriggers, conditionKeys, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: [
        ...page.next("/automation/rules"),
        ...(total === 0 ? ["POST /api/openclaw/automation/rules { \"name\": \"Meeting booked\", \"triggerEvent\": \"meeting_booked\", \"targetStage\": \"Negotiated\" } creates one"] : []),
      ],
    });
  })
  .openapi(createRuleRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const [row] = await db<{ id: string }[]>`insert into app.automation_rules ${db(ruleValues(db, input))} returning id`;
    const rule = await readRule(db, row!.id);
    return reply(c, { id: rule.id, rule }, {
      warnings: ruleWarnings(rule, input, Object.keys(createFields)),
      next_steps: [firedStep(rule), listStep],
    }, 201);
  }, validationWithHints(hints))
  .openapi(updateRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = ruleValues(db, input);
    const changing = Object.keys(values).length > 0;
    if (changing) {
      const [row] = await db<{ id: string }[]>`update app.automation_rules set ${db(values)} where id = ${input.id} returning id`;
      if (!row) throw notFound("Automation rule", input.id);
    }
    const rule = await readRule(db, input.id);
    const warnings = ruleWarnings(rule, input, Object.keys(updateFields));
    if (!changing) warnings.push("Nothing to change: send name, triggerEvent, conditions, targetStage, priority and/or enabled");
    return reply(c, { id: rule.id, rule }, { warnings, next_steps: [listStep] });
  }, validationWithHints(hints))
  .openapi(deleteRoute, async (c) => {
    const { id } = c.req.valid("query");
    const [row] = await c.var.db<{ name: string }[]>`delete from app.automation_rules where id = ${id} returning name`;
    if (!row) throw notFound("Automation rule", id);
    return reply(c, { id, name: row.name, deleted: true as const }, {
      warnings: ["Rule deleted; the moves it made stay in GET /api/openclaw/automation/runs"],
      next_steps: [listStep],
    });
  }, validationWithHints(hints))
  .openapi(runsRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/automation/runs",
      sort: [{ sql: "ran_at", type: "timestamptz", desc: true }, { sql: "id", type: "text", desc: true }],
      filters: { leadId: query.leadId, ruleId: query.ruleId },
    });
    const filters = [
      db`true`,
      ...(query.leadId !== undefined ? [db`lead_id = ${query.leadId}`] : []),
      ...(query.ruleId !== undefined ? [db`rule_id = ${query.ruleId}`] : []),
    ];
    const where = filters.reduce((all, f) => db`${all} and ${f}`);
    const [leads, fetched, [count]] = await Promise.all([
      query.leadId !== undefined ? db`select 1 from app.leads where id = ${query.leadId}` : Promise.resolve([1]),
      db<z.infer<typeof Run>[]>`
        select id, rule_id as "ruleId", rule_name as "ruleName", lead_id as "leadId", trigger_event as "triggerEvent",
               event_id as "eventId", json_build_object('id', from_stage_id, 'name', from_stage_name) as "fromStage",
               json_build_object('id', to_stage_id, 'name', to_stage_name) as "toStage", ran_at as "ranAt", ${page.keys(db)}
        from app.automation_runs where ${where} and ${page.after(db)}
        order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.automation_runs where ${where}`,
    ]);
    if (leads.length === 0) throw notFound("Lead", query.leadId!);
    const total = count!.total;
    const runs = await page.fit(fetched);
    return reply(c, { runs, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: page.next("/automation/runs", { leadId: query.leadId, ruleId: query.ruleId }),
    });
  });
