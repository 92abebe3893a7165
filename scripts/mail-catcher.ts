// `npm start` runs this when SMTP_URL is unset: the local mail catcher on loopback.
import "../functions/node/env.ts";
import process from "node:process";
import { positiveInt } from "../functions/env.ts";
import { DEFAULT_CATCHER_HTTP_PORT, DEFAULT_CATCHER_SMTP_PORT } from "../functions/mail/config.ts";
import { startMailCatcher } from "../functions/node/mail-catcher.ts";

const catcher = await startMailCatcher({
  smtpPort: positiveInt(process.env.MAIL_CATCHER_SMTP_PORT, DEFAULT_CATCHER_SMTP_PORT),
  httpPort: positiveInt(process.env.MAIL_CATCHER_HTTP_PORT, DEFAULT_CATCHER_HTTP_PORT),
});
console.log(`[mail] catcher: SMTP on ${catcher.smtpUrl}, inbox at ${catcher.httpUrl} (JSON: ${catcher.httpUrl}messages)`);

async function shutdown() {
  await catcher.close();
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
