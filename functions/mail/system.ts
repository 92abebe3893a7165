// System mail: what the system itself sends people (the key recovery link, sign-in links,
// invitations, the owner's welcome), from app.system_mail. A claim (app.claim_system_mail)
// names the mail; its content (the link's one-time token) is only made by
// app.begin_system_mail right before SMTP, so it exists in plaintext nowhere but in the email.
// Parsed, not trusted: a row that does not fit is failed rather than half-sent.
// Web-standard only: the same code could render on Deno.
import { z } from "zod";
import { escapeHtml } from "../http/page.ts";
import { messageId, type Email, type RenderOptions } from "./render.ts";

export const SystemClaim = z.object({
  id: z.string().min(1),
  kind: z.string(),
  to: z.string().min(3),
  attempt: z.number().int().positive(),
});
export type SystemClaim = z.infer<typeof SystemClaim>;

/** What app.begin_system_mail returns for a key recovery mail. */
export const KeyRecoveryMail = z.object({
  id: z.string().min(1),
  kind: z.literal("key_recovery"),
  to: z.string().min(3),
  workspaceName: z.string(),
  token: z.string().regex(/^[0-9a-f]{64}$/),
  expiresAt: z.string(),
});
export type KeyRecoveryMail = z.infer<typeof KeyRecoveryMail>;

/** The page the recovery link opens (GET /keys/recover?token=…, routes/keys.ts). */
export function recoveryUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/api/openclaw/keys/recover?token=${token}`;
}

export function composeKeyRecoveryEmail(mail: KeyRecoveryMail, options: RenderOptions): Email {
  const url = recoveryUrl(options.publicUrl, mail.token);
  const api = `${options.publicUrl.replace(/\/+$/, "")}/api/openclaw/keys/recover/confirm`;
  const subject = `Your new API key for ${mail.workspaceName.replace(/[\r\n]+/g, " ")}`;
  const lines = [
    `Someone (hopefully you) asked for a new API key for the workspace "${mail.workspaceName}".`,
    `Open this link to issue one. It works once, for 15 minutes (until ${mail.expiresAt}):`,
    url,
    `An agent can use it too: POST ${api} with the JSON body { "token": "${mail.token}" }.`,
    "The key is shown once. Your existing keys keep working: revoke the lost one with DELETE /api/openclaw/keys/{id} (GET /api/openclaw/keys lists them).",
    "Did not ask for this? Ignore this email: without the link nobody gets a key.",
  ];
  return {
    messageId: messageId(mail.id, options.messageIdDomain),
    to: mail.to,
    fromName: "OpenClaw CRM",
    subject,
    text: `${lines.join("\n\n")}\n`,
    html: `<!doctype html><html><body>`
      + `<p>${escapeHtml(lines[0]!)}</p><p>${escapeHtml(lines[1]!)}</p>`
      + `<p><a href="${escapeHtml(url)}">Issue a new API key</a></p>`
      + lines.slice(3).map((line) => `<p>${escapeHtml(line)}</p>`).join("")
      + `</body></html>`,
    headers: { "Auto-Submitted": "auto-generated" },
  };
}

/** What app.begin_system_mail returns for a mail that signs a member in (sign-in, invitation, welcome). */
export const SignInMail = z.object({
  id: z.string().min(1),
  kind: z.enum(["sign_in", "invitation", "welcome"]),
  to: z.string().min(3),
  workspaceName: z.string(),
  token: z.string().regex(/^[0-9a-f]{64}$/),
  expiresAt: z.string(),
  role: z.enum(["owner", "admin", "member", "viewer"]),
  /** Invitations: the inviting member's address, or the API key that did it. */
  invitedBy: z.string().optional(),
});
export type SignInMail = z.infer<typeof SignInMail>;

/** Any mail app.begin_system_mail makes. */
export const SystemMail = z.discriminatedUnion("kind", [KeyRecoveryMail, SignInMail]);
export type SystemMail = z.infer<typeof SystemMail>;

/** The page a sign-in link opens (GET /auth/callback?token=…, routes/auth.ts); its button signs in. */
export function signInUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/api/openclaw/auth/callback?token=${token}`;
}

const roleWords: Record<SignInMail["role"], string> = {
  owner: "an owner (everything, including the other owners)",
  admin: "an admin (everything, including members and API keys)",
  member: "a member (you can read and change the workspace's leads, pipeline and campaigns)",
  viewer: "a viewer (you can read everything; changes are up to the others)",
};

export function composeSignInEmail(mail: SignInMail, options: RenderOptions): Email {
  const base = options.publicUrl.replace(/\/+$/, "");
  const url = signInUrl(base, mail.token);
  const workspace = mail.workspaceName.replace(/[\r\n]+/g, " ");
  const again = `The link works once, for 15 minutes (until ${mail.expiresAt}). Later, ask for a new one with this address at ${base}/api/openclaw/auth/sign-in.`;
  const { subject, intro, button } = {
    sign_in: {
      subject: `Sign in to ${workspace}`,
      intro: `Someone (hopefully you) asked to sign in to the workspace "${mail.workspaceName}" with this address.`,
      button: "Sign in",
    },
    invitation: {
      subject: `You are invited to ${workspace}`,
      intro: `${mail.invitedBy ?? "Someone"} invited you to the workspace "${mail.workspaceName}" on OpenClaw CRM, as ${roleWords[mail.role]}.`,
      button: "Accept and sign in",
    },
    welcome: {
      subject: `Your workspace ${workspace} is ready`,
      intro: `Your workspace "${mail.workspaceName}" was created on OpenClaw CRM, with you as its owner. Your agent works with its API key; you can sign in to see everything it does.`,
      button: "Sign in",
    },
  }[mail.kind];
  const lines = [
    intro,
    `Open this link to sign in. ${again}`,
    url,
    mail.kind === "sign_in"
      ? "Did not ask for this? Ignore this email: without the link nobody signs in."
      : "No password is needed: every sign-in is a link like this one, mailed to you.",
  ];
  return {
    messageId: messageId(mail.id, options.messageIdDomain),
    to: mail.to,
    fromName: "OpenClaw CRM",
    subject,
    text: `${lines.join("\n\n")}\n`,
    html: `<!doctype html><html><body>`
      + `<p>${escapeHtml(lines[0]!)}</p><p>${escapeHtml(lines[1]!)}</p>`
      + `<p><a href="${escapeHtml(url)}">${escapeHtml(button)}</a></p>`
      + `<p>${escapeHtml(lines[3]!)}</p>`
      + `</body></html>`,
    headers: { "Auto-Submitted": "auto-generated" },
  };
}

/** The email for any system mail. */
export function composeSystemEmail(mail: SystemMail, options: RenderOptions): Email {
  return mail.kind === "key_recovery" ? composeKeyRecoveryEmail(mail, options) : composeSignInEmail(mail, options);
}
