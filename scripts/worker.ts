// `npm run worker` (and `npm start`): the mail delivery loop as a Node process next to the API
// or a Supabase project. Needs DATABASE_URL (the database owner or service role: the outbox
// functions are granted to service_role only) and SMTP_URL (default: the local mail catcher).
import "../functions/node/env.ts";
import { hostname } from "node:os";
import process from "node:process";
import { connect } from "../functions/db.ts";
import { readMailConfig } from "../functions/mail/config.ts";
import { createSmtpSender } from "../functions/mail/smtp.ts";
import { shouldEnqueue, startWorker } from "../functions/mail/worker.ts";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error("DATABASE_URL is not set (npm start sets it to the local cluster).");
  process.exit(1);
}
const config = readMailConfig((name) => process.env[name]);
const sql = connect(databaseUrl, { max: 2 });
const sender = createSmtpSender(config.smtpUrl, config.from);
const enqueue = await shouldEnqueue(sql, config.worker.enqueue);
const name = process.env.MAIL_WORKER_NAME?.trim() || `${hostname()}:${process.pid}`;
const worker = startWorker({ sql, sender, config, name, log: (line) => console.log(line) }, enqueue);
console.log(`[mail] worker ${name}: every ${config.worker.intervalMs} ms, batch ${config.worker.batch}, `
  + `SMTP ${new URL(config.smtpUrl).host}, ${enqueue ? "enqueues due steps itself" : "due steps enqueued by pg_cron"}`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await worker.stop();
  sender.close();
  await sql.end({ timeout: 2 });
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
