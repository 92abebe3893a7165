// `npm run worker` (and `npm start`): the delivery loops as a Node process next to the API
// or a Supabase project: campaign mail (functions/mail/worker.ts) and outbound webhooks
// (functions/webhooks/worker.ts). Needs DATABASE_URL (the database owner or service role:
// the outbox functions are granted to service_role only) and SMTP_URL (default: the local
// mail catcher). MAIL_WORKER=off or WEBHOOKS_WORKER=off leaves that loop out.
import "../functions/node/env.ts";
import { hostname } from "node:os";
import process from "node:process";
import { connect } from "../functions/db.ts";
import { readMailConfig } from "../functions/mail/config.ts";
import { createSmtpSender } from "../functions/mail/smtp.ts";
import { type RunningWorker, shouldEnqueue, startWorker } from "../functions/mail/worker.ts";
import { nodeResolveHost } from "../functions/node/dns.ts";
import { readWebhooksConfig } from "../functions/webhooks/config.ts";
import { startWebhookWorker } from "../functions/webhooks/worker.ts";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("DATABASE_URL is not set (npm start sets it to the local cluster).");
  process.exit(1);
}
const env = (name: string) => process.env[name];
const config = readMailConfig(env);
const webhooks = readWebhooksConfig(env);
const sql = connect(databaseUrl, { max: 2 });
const name = process.env.MAIL_WORKER_NAME?.trim() || `${hostname()}:${process.pid}`;
const log = (line: string) => console.log(line);

const sender = config.worker.enabled === false ? undefined : createSmtpSender(config.smtpUrl, config.from);
let mail: RunningWorker | undefined;
if (sender) {
  const enqueue = await shouldEnqueue(sql, config.worker.enqueue);
  mail = startWorker({ sql, sender, config, name, log }, enqueue);
  console.log(`[mail] worker ${name}: every ${config.worker.intervalMs} ms, batch ${config.worker.batch}, `
    + `SMTP ${new URL(config.smtpUrl).host}, ${enqueue ? "enqueues due steps itself" : "due steps enqueued by pg_cron"}`);
} else {
  console.log(`[mail] worker ${name}: off (MAIL_WORKER=off)`);
}
const hooks = webhooks.worker.enabled
  ? startWebhookWorker({ sql, config: webhooks, resolveHost: nodeResolveHost(), name, log })
  : undefined;
console.log(hooks
  ? `[webhooks] worker ${name}: every ${webhooks.worker.intervalMs} ms, batch ${webhooks.worker.batch}, `
    + `time-out ${webhooks.timeoutMs} ms, lease ${webhooks.worker.leaseSeconds} s`
  : `[webhooks] worker ${name}: off (WEBHOOKS_WORKER=off)`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await Promise.all([mail?.stop(), hooks?.stop()]);
  sender?.close();
  await sql.end({ timeout: 2 });
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
