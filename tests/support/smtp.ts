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

export interface SmtpAttempt {
  messageId: string | undefined;
  to: string;
  subject: string | undefined;
  accepted: boolean;
}

export interface ScriptedSmtp {
  url: string;
  /** Every DATA seen, accepted or refused, in order. */
  attempts: SmtpAttempt[];
  close(): Promise<void>;
}

/**
 * A loopback SMTP server that answers each message's DATA as `script` says, given its first
 * recipient and how many messages to that recipient came before (0-based). Deciding per
 * recipient keeps a test's refusals off other files' mail when workers share the database.
 */
export async function startScriptedSmtp(script: (to: string, call: number) => SmtpReply): Promise<ScriptedSmtp> {
  const state: ScriptedSmtp = { url: "", attempts: [], close: async () => {} };
  const server = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const to = session.envelope.rcptTo[0]?.address ?? "";
      const reply = script(to, state.attempts.filter((a) => a.to === to).length);
      simpleParser(stream).then((parsed) => {
        state.attempts.push({ messageId: parsed.messageId, to, subject: parsed.subject, accepted: !reply });
        if (reply) return callback(Object.assign(new Error(reply.message), { responseCode: reply.code }));
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
