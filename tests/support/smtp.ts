// Mail test support: a claimed outbox row as app.claim_outbox() returns it (for the
// renderer and the AI rewriter), and a scripted SMTP server on loopback (smtp-server) whose
// n-th DATA gets the n-th reply, to test 4xx/5xx handling; accepted messages are recorded.
import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { Claim } from "../../functions/mail/claim.ts";
import type { MailConfig } from "../../functions/mail/config.ts";

export function sampleClaim(overrides: Record<string, unknown> = {}): Claim {
  return Claim.parse({
    id: "msg_0123456789abcdef",
    orgId: "org_1",
    leadId: "rp_1",
    campaignId: "cmp_1",
    enrollmentId: "enr_1",
    stepIndex: 0,
    attempt: 1,
    to: "jane@acme.test",
    fromName: "Acme Growth",
    subject: "Hi {{firstName}}, a note for {{organizationName}}",
    body: "Hello {{firstName}} {{lastName}},\n\nYour proposal: {{proposalUrl}}\nCall me at {{phone}}.",
    variables: {
      firstName: "Jane", lastName: "Doe", organizationName: "Acme Clinic", businessType: "dental",
      proposalUrl: "https://example.test/p/1", email: "jane@acme.test", phone: "+1 555 0100",
    },
    ai: { enabled: false, model: null, tone: null, maxRetries: 2 },
    enrichment: null,
    unsubscribeToken: "tok_abc123",
    ...overrides,
  });
}

export function mailConfig(overrides: Partial<MailConfig> = {}): MailConfig {
  return {
    smtpUrl: "smtp://127.0.0.1:1",
    from: "OpenClaw CRM <crm@localhost>",
    publicUrl: "https://crm.example.test",
    messageIdDomain: "crm.example.test",
    worker: { intervalMs: 50, batch: 10, leaseSeconds: 120, enqueue: "never" },
    ai: { baseUrl: "http://127.0.0.1:1", model: "test-model", timeoutMs: 2_000, retryBaseMs: 5, configured: false },
    ...overrides,
  };
}

/** undefined accepts; { code, message } refuses the DATA with that SMTP reply. */
export type SmtpReply = undefined | { code: number; message: string };

export interface ScriptedSmtp {
  url: string;
  accepted: { messageId: string | undefined; to: string[]; subject: string | undefined }[];
  /** DATA commands seen, accepted or not. */
  attempts: number;
  close(): Promise<void>;
}

export async function startScriptedSmtp(replies: SmtpReply[]): Promise<ScriptedSmtp> {
  const state: ScriptedSmtp = { url: "", accepted: [], attempts: 0, close: async () => {} };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const reply = replies[Math.min(state.attempts, replies.length - 1)];
      state.attempts++;
      simpleParser(stream).then((parsed) => {
        if (reply) {
          const error = Object.assign(new Error(reply.message), { responseCode: reply.code });
          return callback(error);
        }
        state.accepted.push({ messageId: parsed.messageId, to: session.envelope.rcptTo.map((r) => r.address), subject: parsed.subject });
        callback();
      }, callback);
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  state.url = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
