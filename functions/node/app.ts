// The app as Node runs it: config from an env reader, Node's DNS for MX and host lookups,
// and (when MAIL_WORKER_SECRET is set) nodemailer for POST /internal/mail/run.
import { hostname } from "node:os";
import process from "node:process";
import { createApp } from "../app.ts";
import { readConfig } from "../config.ts";
import type { EnvReader } from "../env.ts";
import type { Sql } from "../db.ts";
import { readMailConfig } from "../mail/config.ts";
import { createSmtpSender } from "../mail/smtp.ts";
import { nodeResolveHost, nodeResolveMx } from "./dns.ts";

export function createNodeApp(sql: Sql, env: EnvReader, port: number) {
  const config = readConfig(env, port);
  const mail = readMailConfig(env);
  const mailWorker = mail.worker.secret === undefined ? undefined
    : { sender: createSmtpSender(mail.smtpUrl, mail.from), config: mail, name: `http:${hostname()}:${process.pid}` };
  return createApp({ sql, config, resolveMx: nodeResolveMx(config.enrichment.dnsServer), resolveHost: nodeResolveHost(), mailWorker });
}
