// The local mail catcher (Node only), like the one Supabase's local stack ships: an SMTP
// server on loopback that accepts every message (no auth, no TLS) and keeps the last few
// hundred in memory, parsed; and a small HTTP server to read them back:
//   GET /                the inbox as an HTML page (everything escaped)
//   GET /messages        JSON list, newest first
//   GET /messages/{id}   one message: headers, text, html
//   DELETE /messages     empties the inbox
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { type ParsedMail, simpleParser } from "mailparser";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { escapeHtml } from "../http/page.ts";

export interface CaughtMessage {
  id: string;
  receivedAt: string;
  envelope: { from: string | null; to: string[] };
  messageId: string | null;
  from: string;
  to: string;
  subject: string;
  /** Header names in lower case; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
  text: string;
  html: string | null;
}

export interface CatcherOptions {
  host?: string;
  /** 0 picks a free port. */
  smtpPort?: number;
  httpPort?: number;
  /** Messages kept (oldest dropped first). */
  cap?: number;
}

export interface MailCatcher {
  smtpPort: number;
  httpPort: number;
  /** smtp://host:port, for SMTP_URL. */
  smtpUrl: string;
  /** The inbox page. */
  httpUrl: string;
  /** Newest first. */
  messages: CaughtMessage[];
  close(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

export async function startMailCatcher(options: CatcherOptions = {}): Promise<MailCatcher> {
  const host = options.host ?? "127.0.0.1";
  const cap = options.cap ?? 500;
  const messages: CaughtMessage[] = [];

  const smtp = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    disabledCommands: ["STARTTLS"],
    size: MAX_MESSAGE_BYTES,
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          messages.unshift(toMessage(parsed, session.envelope));
          messages.splice(cap);
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });
  smtp.on("error", () => {}); // a client dropping its connection is not the catcher's problem
  await new Promise<void>((resolve, reject) => {
    smtp.once("error", reject);
    smtp.listen(options.smtpPort ?? 0, host, () => resolve());
  });
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  const app = new Hono();
  app.get("/", (c) => c.html(inboxPage(messages)));
  app.get("/messages", (c) => c.json({ messages: messages.map(({ headers: _headers, html: _html, ...summary }) => summary) }));
  app.get("/messages/:id", (c) => {
    const message = messages.find((m) => m.id === c.req.param("id"));
    return message ? c.json(message) : c.json({ error: "no such message" }, 404);
  });
  app.delete("/messages", (c) => {
    messages.splice(0);
    return c.json({ deleted: true });
  });
  const http = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: options.httpPort ?? 0, hostname: host }, () => resolve(server));
    server.once("error", reject);
  });
  const httpPort = (http.address() as AddressInfo).port;

  return {
    smtpPort,
    httpPort,
    smtpUrl: `smtp://${host}:${smtpPort}`,
    httpUrl: `http://${host}:${httpPort}/`,
    messages,
    close: async () => {
      await Promise.all([
        new Promise<void>((resolve) => smtp.close(() => resolve())),
        new Promise<void>((resolve) => {
          if ("closeAllConnections" in http) http.closeAllConnections();
          http.close(() => resolve());
        }),
      ]);
    },
  };
}

function toMessage(parsed: ParsedMail, envelope: { mailFrom: false | { address: string }; rcptTo: { address: string }[] }): CaughtMessage {
  const headers: Record<string, string> = {};
  for (const { key, line } of parsed.headerLines) {
    const value = line.slice(line.indexOf(":") + 1).replace(/\r?\n[ \t]+/g, " ").trim();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  return {
    id: randomUUID(),
    receivedAt: new Date().toISOString(),
    envelope: { from: envelope.mailFrom ? envelope.mailFrom.address : null, to: envelope.rcptTo.map((r) => r.address) },
    messageId: parsed.messageId ?? null,
    from: parsed.from?.text ?? "",
    to: (Array.isArray(parsed.to) ? parsed.to : parsed.to ? [parsed.to] : []).map((a) => a.text).join(", "),
    subject: parsed.subject ?? "",
    headers,
    text: parsed.text ?? "",
    html: typeof parsed.html === "string" ? parsed.html : null,
  };
}

function inboxPage(messages: CaughtMessage[]): string {
  const rows = messages.map((m) => `
    <details>
      <summary><b>${escapeHtml(m.subject || "(no subject)")}</b> — to ${escapeHtml(m.to)} from ${escapeHtml(m.from)}
        <small>${escapeHtml(m.receivedAt)}</small> <a href="messages/${escapeHtml(m.id)}">json</a></summary>
      <pre>${escapeHtml(Object.entries(m.headers).map(([k, v]) => `${k}: ${v}`).join("\n"))}</pre>
      <pre>${escapeHtml(m.text)}</pre>
    </details>`).join("");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Mail catcher (${messages.length})</title>
    <style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}details{border-bottom:1px solid #ddd;padding:.5rem 0}
    pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}</style></head>
    <body><h1>Mail catcher</h1><p>${messages.length} message${messages.length === 1 ? "" : "s"}, newest first. Nothing here leaves this machine.</p>
    ${rows || "<p>No mail yet.</p>"}</body></html>`;
}
