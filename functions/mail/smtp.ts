// SMTP sending (Node only: nodemailer). Any provider by URL (smtp://user:pass@host:587 with
// STARTTLS when offered, smtps://…:465 for implicit TLS). Failures are classified for
// app.fail_send: an SMTP reply 5xx is permanent (the server refuses this message for good);
// 4xx replies, network errors, timeouts and authentication trouble are transient and retried
// with backoff (authentication is the deployment's problem, not the recipient's).
import nodemailer from "nodemailer";
import type { Email } from "./render.ts";

export interface SentMail {
  messageId: string;
  /** The server's last reply, e.g. "250 2.0.0 Ok: queued as 4F2…". */
  response: string;
}

export interface MailSender {
  send(email: Email): Promise<SentMail>;
  /** What a failed send means: permanent (do not retry) or transient. */
  classify(error: unknown): SendFailure;
  close(): void;
}

export interface SendFailure {
  permanent: boolean;
  message: string;
}

/** A sender over one pooled SMTP connection set; `from` is "Name <address>" or an address. */
export function createSmtpSender(smtpUrl: string, from: string): MailSender {
  const transport = nodemailer.createTransport(smtpUrl.includes("pool=") ? smtpUrl : withParam(smtpUrl, "pool", "true"));
  const sender = parseFrom(from);
  return {
    async send(email) {
      const info = await transport.sendMail({
        from: { name: email.fromName || sender.name, address: sender.address },
        to: email.to,
        subject: email.subject,
        text: email.text,
        html: email.html,
        messageId: email.messageId,
        headers: email.headers,
      });
      return { messageId: info.messageId || email.messageId, response: String(info.response ?? "") };
    },
    classify: classifySmtpError,
    close: () => transport.close(),
  };
}

/** SMTP 5xx → permanent; everything else (4xx, network, timeout, auth) → transient. */
export function classifySmtpError(error: unknown): SendFailure {
  const details = (error ?? {}) as { responseCode?: unknown; code?: unknown; response?: unknown; message?: unknown };
  const responseCode = typeof details.responseCode === "number" ? details.responseCode : undefined;
  const reply = typeof details.response === "string" && details.response ? details.response : undefined;
  const message = (reply ?? (typeof details.message === "string" ? details.message : String(error))).slice(0, 1_000);
  const code = typeof details.code === "string" ? `${details.code}: ` : "";
  if (responseCode !== undefined && responseCode >= 500 && responseCode < 600 && details.code !== "EAUTH") {
    return { permanent: true, message: `${code}${message}` };
  }
  return { permanent: false, message: `${code}${message}` };
}

function parseFrom(from: string): { name: string; address: string } {
  const match = from.match(/^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/);
  return match ? { name: match[1]!.trim(), address: match[2]!.trim() } : { name: "", address: from.trim() };
}

function withParam(url: string, name: string, value: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}${name}=${value}`;
}
