// Members over HTTP: the signup email is the owner; an agent's key (which acts as an owner)
// invites by email, changes roles and removes members; browser sessions of admins and members
// are held to their role (only owners touch owners; members manage nobody); the last owner
// stays; another workspace's members are not found.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { as, expectError, expectOk, signup, uniqueEmail, type Workspace } from "./support/api.ts";
import { asSession, type Mailbox, openMailbox, signIn } from "./support/sessions.ts";

let mailbox: Mailbox;
beforeAll(async () => {
  mailbox = await openMailbox();
});
afterAll(async () => {
  await mailbox?.close();
});

const members = async (ws: Workspace) => expectOk(await as(ws).get("/members")).members as any[];

describe("GET /members", () => {
  it("lists the signup email as the workspace's owner", async () => {
    const ws = await signup();
    const list = await members(ws);
    expect(list).toEqual([expect.objectContaining({
      email: ws.email.toLowerCase(), role: "owner", status: "invited", invitedBy: null, joinedAt: null, you: false,
    })]);
  });
});

describe("POST, PATCH and DELETE /members with an API key", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await signup();
  });

  it("invites by email with a role (member by default) and records who invited", async () => {
    const email = uniqueEmail("colleague");
    const created = expectOk(await as(ws).post("/members", { email }), 201);
    expect(created.member).toMatchObject({ email, role: "member", status: "invited", invitedBy: expect.stringMatching(/^key_/) });
    expect(created.warnings[0]).toContain("invitation");
    const viewer = expectOk(await as(ws).post("/members", { email: uniqueEmail("viewer"), role: "viewer" }), 201);
    expect(viewer.member.role).toBe("viewer");
    const dup = expectError(await as(ws).post("/members", { email: email.toUpperCase() }), 409, "member_exists");
    expect(dup.existingId).toBe(created.id);
    expect(dup.hint).toContain(`PATCH /api/openclaw/members/${created.id}`);
    expectError(await as(ws).post("/members", { email, role: "boss" }), 400, "invalid_request");
    expectError(await as(ws).post("/members", { email: "nope" }), 400, "invalid_request");
    expect((await members(ws)).map((m) => m.role).sort()).toEqual(["member", "owner", "viewer"]);
  });

  it("changes a role and removes a member; another workspace's members are not found", async () => {
    const id = expectOk(await as(ws).post("/members", { email: uniqueEmail("temp") }), 201).id;
    const changed = expectOk(await as(ws).patch(`/members/${id}`, { role: "admin" }));
    expect(changed).toMatchObject({ changed: true, member: { role: "admin" } });
    expect(expectOk(await as(ws).patch(`/members/${id}`, { role: "admin" })).changed).toBe(false);
    const other = await signup();
    expectError(await as(other).patch(`/members/${id}`, { role: "viewer" }), 404, "not_found");
    expectError(await as(other).delete(`/members/${id}`), 404, "not_found");
    expect(expectOk(await as(ws).delete(`/members/${id}`))).toMatchObject({ id, removed: true });
    expectError(await as(ws).delete(`/members/${id}`), 404, "not_found");
  });

  it("keeps the last owner: not removed, not demoted, until another owner exists", async () => {
    const fresh = await signup();
    const owner = (await members(fresh))[0];
    const error = expectError(await as(fresh).delete(`/members/${owner.id}`), 409, "last_owner");
    expect(error.hint).toContain("\"role\": \"owner\"");
    expectError(await as(fresh).patch(`/members/${owner.id}`, { role: "admin" }), 409, "last_owner");
    // A key acts as an owner: it may make another owner; then the first can go.
    const second = expectOk(await as(fresh).post("/members", { email: uniqueEmail("second"), role: "owner" }), 201).id;
    expectOk(await as(fresh).patch(`/members/${owner.id}`, { role: "admin" }));
    expectError(await as(fresh).delete(`/members/${second}`), 409, "last_owner");
  });
});

describe("members with browser sessions are held to their role", () => {
  it("an admin manages members but not owners; a member manages nobody; the dashboard sees who it is", async () => {
    const ws = await signup();
    const owner = (await members(ws))[0];
    const adminEmail = uniqueEmail("admin");
    const memberEmail = uniqueEmail("member");
    expectOk(await as(ws).post("/members", { email: adminEmail, role: "admin" }), 201);
    const memberId = expectOk(await as(ws).post("/members", { email: memberEmail, role: "member" }), 201).id;

    const admin = asSession(await signIn(mailbox, adminEmail));
    const list = expectOk(await admin.get("/members")).members;
    expect(list.find((m: any) => m.email === adminEmail)).toMatchObject({ you: true, status: "active" });
    expectError(await admin.patch(`/members/${owner.id}`, { role: "member" }), 403, "owner_role_required");
    expectError(await admin.delete(`/members/${owner.id}`), 403, "owner_role_required");
    expectError(await admin.post("/members", { email: uniqueEmail("boss"), role: "owner" }), 403, "owner_role_required");
    const invited = expectOk(await admin.post("/members", { email: uniqueEmail("by-admin"), role: "viewer" }), 201);
    expect(invited.member.invitedBy).toMatch(/^mem_/);
    expectOk(await admin.patch(`/members/${memberId}`, { role: "viewer" }));
    expectOk(await admin.post("/keys", { name: "admin-made" }), 201);

    expectOk(await as(ws).patch(`/members/${memberId}`, { role: "member" }));
    const member = asSession(await signIn(mailbox, memberEmail));
    const refused = expectError(await member.post("/members", { email: uniqueEmail("nope") }), 403, "admin_role_required");
    expect(refused.hint).toContain("owner or admin");
    expectError(await member.patch(`/members/${memberId}`, { role: "admin" }), 403, "admin_role_required");
    expectError(await member.post("/keys", { name: "mine" }), 403, "admin_role_required");
    expect(expectOk(await member.get("/keys")).keys.length).toBeGreaterThan(0);
    expect(expectOk(await member.get("/auth/session"))).toMatchObject({ canWrite: true, canManageMembers: false, member: { role: "member" } });
  });
});
