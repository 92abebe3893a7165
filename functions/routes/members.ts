// Members: the people of a workspace and their roles. List, invite by email (the invitation
// mail carries a sign-in link), change a role, remove. The rules live in SQL (24_members.sql,
// 10_foundation.sql): app.invite_member, app.change_member_role and app.remove_member run as
// the caller under row-level security; only owners and admins (and API keys, which act as
// owners) manage members, only owners make, change or remove owners, and the last owner stays.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { jsonBody } from "../http/body.ts";
import type { AppEnv } from "../http/context.ts";
import { memberRoles } from "../http/enums.ts";
import { notFound } from "../http/errors.ts";
import { idempotency } from "../http/idempotency.ts";
import { pageFields, pageOf, pageQuery } from "../http/paging.ts";
import {
  bearerAuth, commonErrors, conflictError, envelope, errorResponse, idempotencyError, json, notFoundError, reply,
} from "../http/reply.ts";
import { createRouter } from "../http/router.ts";
import { tenantTransaction } from "../http/tenant.ts";
import { validationWithHints } from "../http/validation.ts";

const TAGS = ["Members"];
const statuses = ["invited", "active"] as const;
const roleHint = `role is one of: ${memberRoles.join(", ")} (owner: everything; admin: everything but owners; member: reads and writes the workspace's data; viewer: reads everything, changes nothing).`;

const MemberIdParam = z.object({
  id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" }, example: "mem_3f9c0a1b2c3d4e5f6a7b8c9d" }),
});

const Member = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(memberRoles),
  status: z.enum(statuses).openapi({ description: "invited until their first sign-in, then active." }),
  invitedBy: z.string().nullable().openapi({ description: "The member (mem_…) or API key (key_…) that added them; null for the workspace's first owner." }),
  invitedAt: z.string(),
  joinedAt: z.string().nullable().openapi({ description: "Their first sign-in (accepting the invitation)." }),
  lastSignInAt: z.string().nullable(),
  you: z.boolean().openapi({ description: "true for the member this request is signed in as (browser sessions)." }),
}).openapi("Member");
type MemberRow = z.infer<typeof Member>;

const ListQuery = z.object({
  role: z.enum(memberRoles, { error: `must be one of: ${memberRoles.join(", ")}` }).optional(),
  status: z.enum(statuses, { error: `must be one of: ${statuses.join(", ")}` }).optional(),
  ...pageQuery,
});
const ListReply = envelope({ members: z.array(Member), ...pageFields }).openapi("MemberListReply");

const InviteBody = z.object({
  email: z.email().max(320).openapi({ description: "The address to invite; the invitation (with a sign-in link) is mailed to it.", example: "colleague@example.com" }),
  role: z.enum(memberRoles).default("member").openapi({ description: "Default member. Only an owner (or an API key) makes owners." }),
}).openapi("InviteMemberRequest");
const MemberReply = envelope({ id: z.string(), member: Member }).openapi("MemberReply");

const PatchBody = z.object({
  role: z.enum(memberRoles).openapi({ description: "The new role." }),
}).openapi("UpdateMemberRequest");
const PatchReply = envelope({ id: z.string(), changed: z.boolean(), member: Member }).openapi("MemberUpdatedReply");

const RemoveReply = envelope({ id: z.string(), removed: z.literal(true), email: z.string() }).openapi("MemberRemovedReply");

// "you" is read from the request's claims in SQL: a handler's first statements go out before
// the credential's answer is back (http/tenant.ts), so c.var.identity is not set yet.
const memberSelect = (c: Context<AppEnv>) => c.var.db`
  id, email, role, status, invited_by as "invitedBy", invited_at as "invitedAt", joined_at as "joinedAt",
  last_sign_in_at as "lastSignInAt", (id = app.current_member_id()) is true as you`;

async function findMember(c: Context<AppEnv>, id: string): Promise<MemberRow> {
  const [row] = await c.var.db<MemberRow[]>`select ${memberSelect(c)} from app.member_details where id = ${id}`;
  if (!row) throw notFound("Member", id);
  return row;
}

const signInStep = (email: string) => `They sign in with the link in the mail; later links: POST /api/openclaw/auth/sign-in { "email": "${email}" }`;

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------
const listRoute = createRoute({
  method: "get", path: "/members", tags: TAGS, operationId: "listMembers",
  summary: "The workspace's members: address, role, invited or active, last sign-in",
  security: bearerAuth, middleware: [tenantTransaction], request: { query: ListQuery },
  responses: { 200: json(ListReply, "A page of members, owners first, then by address."), ...commonErrors },
});
const inviteRoute = createRoute({
  method: "post", path: "/members", tags: TAGS, operationId: "inviteMember",
  summary: "Invite someone by email with a role (owners and admins); the invitation mail carries a sign-in link",
  security: bearerAuth, middleware: [tenantTransaction, idempotency], request: jsonBody(InviteBody),
  responses: {
    201: json(MemberReply, "Member added (status invited) and the invitation queued."),
    ...conflictError,
    ...idempotencyError,
    ...commonErrors,
  },
});
const patchRoute = createRoute({
  method: "patch", path: "/members/{id}", tags: TAGS, operationId: "updateMember",
  summary: "Change a member's role (owners and admins; owners only by an owner; never the last owner)",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: MemberIdParam, ...jsonBody(PatchBody) },
  responses: {
    200: json(PatchReply, "The member, with its role."),
    ...notFoundError,
    409: errorResponse("The member is the workspace's last owner."),
    ...commonErrors,
  },
});
const removeRoute = createRoute({
  method: "delete", path: "/members/{id}", tags: TAGS, operationId: "removeMember",
  summary: "Remove a member, ending their sessions (owners and admins; owners only by an owner; never the last owner)",
  security: bearerAuth, middleware: [tenantTransaction], request: { params: MemberIdParam },
  responses: {
    200: json(RemoveReply, "Member removed."),
    ...notFoundError,
    409: errorResponse("The member is the workspace's last owner."),
    ...commonErrors,
  },
});

export const membersRoutes = createRouter()
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const db = c.var.db;
    const page = await pageOf(c, query, {
      list: "/members",
      // Owners first, then by address.
      sort: [{ sql: "(role = 'owner')", type: "boolean", desc: true }, { sql: "email", type: "text" }, { sql: "id", type: "text" }],
      filters: { role: query.role, status: query.status },
    });
    const where = db`${query.role !== undefined ? db`role = ${query.role}` : db`true`}
      and ${query.status !== undefined ? db`status = ${query.status}` : db`true`}`;
    const [fetched, [count]] = await Promise.all([
      db<MemberRow[]>`select ${memberSelect(c)}, ${page.keys(db)} from app.member_details where ${where} and ${page.after(db)}
                      order by ${page.order(db)} limit ${page.fetch} offset ${page.offset}`,
      db<{ total: number }[]>`select count(*)::integer as total from app.member_details where ${where}`,
    ]);
    const total = count!.total;
    const rows = await page.fit(fetched);
    return reply(c, { members: rows, ...page.fields(total) }, {
      warnings: page.warnings,
      next_steps: [
        ...page.next("/members", { role: query.role, status: query.status }),
        "POST /api/openclaw/members { \"email\": \"…\", \"role\": \"member\" } invites someone; PATCH /api/openclaw/members/{id} { \"role\": \"…\" } changes a role; DELETE /api/openclaw/members/{id} removes a member",
      ],
    });
  }, validationWithHints({ role: roleHint, status: `status is one of: ${statuses.join(", ")}.` }))
  .openapi(inviteRoute, async (c) => {
    const { email, role } = c.req.valid("json");
    const [created] = await c.var.db<{ id: string }[]>`select app.invite_member(${email}, ${role}) as id`;
    const member = await findMember(c, created!.id);
    return reply(c, { id: member.id, member }, {
      warnings: [`An invitation with a sign-in link is on its way to ${member.email}; the link works for 15 minutes after it is sent`],
      next_steps: [signInStep(member.email), "GET /api/openclaw/members shows when they joined (status active)"],
    }, 201);
  }, validationWithHints({ email: "Send the address to invite: { \"email\": \"colleague@example.com\", \"role\": \"member\" }.", role: roleHint }))
  .openapi(patchRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { role } = c.req.valid("json");
    const [result] = await c.var.db<{ changed: boolean }[]>`select app.change_member_role(${id}, ${role}) as changed`;
    const member = await findMember(c, id);
    return reply(c, { id, changed: result!.changed, member }, {
      warnings: result!.changed ? [`${member.email} now acts as ${role} from their next request on`] : [`${member.email} already had the role ${role}: nothing changed`],
      next_steps: ["GET /api/openclaw/members lists the members and their roles"],
    }, 200);
  }, validationWithHints({ role: roleHint }))
  .openapi(removeRoute, async (c) => {
    const { id } = c.req.valid("param");
    const [removed] = await c.var.db<{ email: string }[]>`select app.remove_member(${id}) as email`;
    const self = c.var.identity.kind === "session" && c.var.identity.memberId === id;
    return reply(c, { id, removed: true as const, email: removed!.email }, {
      warnings: [
        `${removed!.email} was removed; their browser sessions ended`,
        ...(self ? ["You removed yourself: this browser session has ended"] : []),
      ],
      next_steps: ["POST /api/openclaw/members { \"email\": \"…\" } invites them again, should that be needed"],
    }, 200);
  });
