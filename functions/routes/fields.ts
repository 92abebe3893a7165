// Custom field definitions: list, define, change (by id or key), delete. The rules live in
// the database: app.custom_fields and its trigger (key format and uniqueness, options for
// the choice types, no change that live leads' values would break), and the check of every
// lead's customFields against the definitions. This file validates, calls and shapes the
// reply.
import { createRoute, z } from "@hono/zod-openapi";
import type { Tx } from "../db.ts";
import { jsonBody } from "../http/body.ts";
import { fieldTypes } from "../http/enums.ts";
import { ApiError, notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { ignoredFieldWarnings } from "../http/validation.ts";

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------
const FieldType = z.enum(fieldTypes, { error: `must be one of: ${fieldTypes.join(", ")}` });
const Key = z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/, "must start with a letter and hold only letters, digits and _ (at most 64)")
  .openapi({ description: "The key in a lead's customFields; unique per workspace (case-insensitive); cannot change.", example: "practiceSize" });
const Label = z.string().trim().min(1).max(200).openapi({ description: "Shown to humans; defaults to the key.", example: "Practice size" });
const Options = z.array(z.string().trim().min(1).max(200)).min(1).max(200)
  .openapi({ description: "The allowed values of a select or multiselect field (required for those, not allowed for others).", example: ["Solo", "Small", "Large"] });
const Order = z.number().int().min(0).max(10_000).openapi({ description: "Sort position of the definition; default last." });
const FieldRef = z.string().min(1).max(100);

const createFields = {
  key: Key,
  label: Label.optional(),
  fieldType: FieldType,
  options: Options.nullable().optional(),
  required: z.boolean().optional().openapi({ description: "Leads must carry a non-null value whenever their customFields are written. Default false." }),
  order: Order.optional(),
};
const CreateField = z.looseObject(createFields).openapi("CreateCustomFieldRequest");

const updateFields = {
  id: FieldRef.optional().openapi({ description: "The field to change (cf_…); or identify it by key." }),
  key: Key.optional().openapi({ description: "Identifies the field when id is left out; a key cannot be changed." }),
  label: Label.optional(),
  fieldType: FieldType.optional().openapi({ description: "Refused (409) while live leads hold values the new type rejects." }),
  options: Options.nullable().optional().openapi({ description: "Replaces the options; refused (409) while live leads hold a value that would no longer be allowed." }),
  required: z.boolean().optional(),
  order: Order.optional(),
};
const UpdateField = z.looseObject(updateFields).openapi("UpdateCustomFieldRequest");

const Field = z.object({
  id: z.string(),
  key: z.string(),
  label: z.string(),
  fieldType: z.enum(fieldTypes),
  options: z.array(z.string()).nullable(),
  required: z.boolean(),
  order: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
}).openapi("CustomField");
type FieldRow = z.infer<typeof Field>;

const FieldReply = envelope({ id: z.string(), field: Field }).openapi("CustomFieldReply");

const ListQuery = z.object(pageQuery);
const ListReply = envelope({
  fields: z.array(Field),
  ...pageFields,
}).openapi("CustomFieldListReply");

const DeleteQuery = z.object({
  id: FieldRef.optional().openapi({ description: "The field's id (cf_…); or pass key." }),
  key: FieldRef.optional(),
});
const DeletedReply = envelope({
  id: z.string(),
  key: z.string(),
  deleted: z.literal(true),
  leadsWithValues: z.number().int().openapi({ description: "Live leads that still hold a value under the key (left in place, now free-form)." }),
}).openapi("DeletedCustomFieldReply");

// ---------------------------------------------------------------------------
// Database access and guidance
// ---------------------------------------------------------------------------
const fieldSelect = `
  id, key, label, field_type as "fieldType", options, required, position as "order",
  created_at as "createdAt", updated_at as "updatedAt"`;

/** The field by id, or by key (case-insensitive) when no id is given. */
function whereField(db: Tx, ref: { id?: string; key?: string }) {
  return ref.id !== undefined ? db`id = ${ref.id}` : db`lower(key) = lower(${ref.key!})`;
}

const refusalWithoutRef = (usage: string) =>
  new ApiError(400, "invalid_request", "Say which field: send id or key", usage, {
    fields: [{ field: "id", message: "id or key is required" }],
  });

const ignoredFields = (body: Record<string, unknown>, known: string[]) =>
  ignoredFieldWarnings(body, known, "A custom field has key, label, fieldType, options, required and order.");

/** Live leads that lack a value for a required field: they need one at their next customFields write. */
async function missingRequiredWarnings(db: Tx, field: FieldRow): Promise<string[]> {
  if (!field.required) return [];
  const [row] = await db<{ missing: number }[]>`
    select count(*)::integer as missing from app.leads
    where deleted_at is null and coalesce(custom_fields -> ${field.key}, 'null'::jsonb) = 'null'::jsonb`;
  const missing = row!.missing;
  return missing === 0 ? [] : [
    `${missing} existing lead(s) have no ${field.key} yet; they are accepted as they are, but must get one the next time their customFields are written`,
  ];
}

const usageStep = (key: string) => `POST /api/openclaw/leads { "firstName": …, "email": …, "customFields": { "${key}": … } }`;

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  operationId: "listCustomFields",
  method: "get", path: "/fields", tags: ["Custom fields"], summary: "The workspace's custom field definitions",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "Definitions in order."), ...commonErrors },
});
const createFieldRoute = createRoute({
  operationId: "createCustomField",
  method: "post", path: "/fields", tags: ["Custom fields"], summary: "Define a custom field (text | number | date | select | multiselect | boolean)",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(CreateField),
  responses: { 201: json(FieldReply, "Field defined."), ...conflictError, ...idempotencyError, ...commonErrors },
});
const updateRoute = createRoute({
  operationId: "updateCustomField",
  method: "put", path: "/fields", tags: ["Custom fields"], summary: "Change a field (by id or key): label, type, options, required, order",
  security: bearerAuth, middleware: [tenantTransaction], request: jsonBody(UpdateField),
  responses: { 200: json(FieldReply, "Field changed."), ...notFoundError, ...conflictError, ...commonErrors },
});
const deleteRoute = createRoute({
  operationId: "deleteCustomField",
  method: "delete", path: "/fields", tags: ["Custom fields"], summary: "Delete a definition (?id= or ?key=); leads keep their values",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: DeleteQuery },
  responses: { 200: json(DeletedReply, "Definition deleted."), ...notFoundError, ...commonErrors },
});

export const fieldsRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const page = await pageOf(c, c.req.valid("query"), {
      list: "/fields",
      sort: [{ sql: "position", type: "integer" }, { sql: "lower(key)", type: "text" }],
    });
    const db = c.var.db;
    const [fetched, [count]] = await Promise.all([
      db<FieldRow[]>`select ${db.unsafe(fieldSelect)}, ${page.keys(db)} from app.custom_fields where ${page.after(db)}
                     order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.custom_fields`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { fields: rows, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: [
        ...page.next("/fields"),
        ...(total === 0 ? ["POST /api/openclaw/fields { \"key\": \"practiceSize\", \"fieldType\": \"select\", \"options\": [\"Solo\", \"Small\", \"Large\"] } defines one"] : []),
      ],
    });
  })
  .openapi(createFieldRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    const values = {
      key: input.key,
      label: input.label ?? input.key,
      field_type: input.fieldType,
      options: input.options ? db.array(input.options) : null,
      ...(input.required !== undefined ? { required: input.required } : {}),
      ...(input.order !== undefined ? { position: input.order } : {}),
    };
    const [field] = await db<FieldRow[]>`insert into app.custom_fields ${db(values)} returning ${db.unsafe(fieldSelect)}`;
    return reply(c, { id: field!.id, field: field! }, {
      warnings: [...await missingRequiredWarnings(db, field!), ...ignoredFields(input, Object.keys(createFields))],
      next_steps: [usageStep(field!.key)],
    }, 201);
  })
  .openapi(updateRoute, async (c) => {
    const input = c.req.valid("json");
    const db = c.var.db;
    if (input.id === undefined && input.key === undefined) {
      throw refusalWithoutRef("PUT /api/openclaw/fields { \"id\": \"cf_…\" (or \"key\": \"…\"), \"label\"?, \"fieldType\"?, \"options\"?, \"required\"?, \"order\"? }.");
    }
    const values = {
      // With an id, a key that differs is a rename, which the database refuses with a hint.
      ...(input.id !== undefined && input.key !== undefined ? { key: input.key } : {}),
      ...(input.label !== undefined ? { label: input.label } : {}),
      ...(input.fieldType !== undefined ? { field_type: input.fieldType } : {}),
      ...(input.options !== undefined ? { options: input.options ? db.array(input.options) : null } : {}),
      ...(input.required !== undefined ? { required: input.required } : {}),
      ...(input.order !== undefined ? { position: input.order } : {}),
    };
    const warnings = ignoredFields(input, Object.keys(updateFields));
    const changing = Object.keys(values).length > 0;
    if (!changing) warnings.push("Nothing to change: send label, fieldType, options, required and/or order");
    const [field] = changing
      ? await db<FieldRow[]>`update app.custom_fields set ${db(values)} where ${whereField(db, input)} returning ${db.unsafe(fieldSelect)}`
      : await db<FieldRow[]>`select ${db.unsafe(fieldSelect)} from app.custom_fields where ${whereField(db, input)}`;
    if (!field) throw notFound("Custom field", input.id ?? input.key!);
    if (input.required === true) warnings.push(...await missingRequiredWarnings(db, field));
    return reply(c, { id: field.id, field }, { warnings });
  })
  .openapi(deleteRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    if (query.id === undefined && query.key === undefined) {
      throw refusalWithoutRef("DELETE /api/openclaw/fields?id=cf_… or ?key=<key>; GET /api/openclaw/fields lists them.");
    }
    const [row] = await db<{ id: string; key: string; leadsWithValues: number }[]>`
      with deleted as (delete from app.custom_fields where ${whereField(db, query)} returning id, key)
      select d.id, d.key,
        (select count(*)::integer from app.leads l
         where l.deleted_at is null and coalesce(l.custom_fields -> d.key, 'null'::jsonb) <> 'null'::jsonb) as "leadsWithValues"
      from deleted d`;
    if (!row) throw notFound("Custom field", query.id ?? query.key!);
    return reply(c, { id: row.id, key: row.key, deleted: true as const, leadsWithValues: row.leadsWithValues }, {
      warnings: row.leadsWithValues > 0
        ? [`${row.leadsWithValues} lead(s) keep their customFields.${row.key} values; they are no longer checked (free-form)`]
        : [],
    });
  });
