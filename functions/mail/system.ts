// System mail: what the system itself sends a workspace's owner (today: the key recovery
// link), from app.system_mail. A claim (app.claim_system_mail) names the mail; its content
// (the link's one-time token) is only made by app.begin_system_mail right before SMTP, so
// it exists in plaintext nowhere but in the email. Parsed, not trusted: a row that does not
// fit is failed rather than half-sent.
// Web-standard only: the same code could render on Deno.
import { z } from "zod";
import { escapeHtml, messageId, type Email, type RenderOptions } from "./render.ts";

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
