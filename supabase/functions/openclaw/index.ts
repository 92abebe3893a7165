// Supabase Edge Function entry (Deno): the same app the Node entry serves.
// Supabase hands requests for /functions/v1/openclaw/… to this function as /openclaw/…,
// which the app answers as well as /api/openclaw/….
import { createApp } from "../../../functions/app.ts";
import { readConfig } from "../../../functions/config.ts";
import { connect } from "../../../functions/db.ts";
import type { ResolveHost } from "../../../functions/enrichment/http.ts";
import type { ResolveMx } from "../../../functions/enrichment/types.ts";
import { readMailConfig } from "../../../functions/mail/config.ts";
import { createSmtpSender } from "../../../functions/mail/smtp.ts";

const env = (name: string) => Deno.env.get(name) || undefined;
const databaseUrl = env("SUPABASE_DB_URL") ?? env("DATABASE_URL");
if (!databaseUrl) throw new Error("SUPABASE_DB_URL (or DATABASE_URL) is not set.");

// PORT is set only for local runs; on Supabase the platform decides where we listen.
const port = env("PORT") === undefined ? undefined : Number(env("PORT"));
// On Supabase the public address is the project URL plus the function's path.
const supabaseUrl = env("SUPABASE_URL")?.replace(/\/+$/, "");
const publicUrl = env("PUBLIC_URL") ?? (port === undefined && supabaseUrl ? `${supabaseUrl}/functions/v1/openclaw` : undefined);
const config = readConfig((name) => (name === "PUBLIC_URL" ? publicUrl : env(name)), port ?? 8000);

const sql = connect(databaseUrl, { max: Number(env("DB_POOL_SIZE") ?? 5) });
// MX lookups through Deno's resolver (optionally a given name server, as host:port).
const dnsServer = config.enrichment.dnsServer?.match(/^(.+):(\d+)$/);
const nameServer = dnsServer ? { nameServer: { ipAddr: dnsServer[1]!, port: Number(dnsServer[2]) } } : undefined;
const resolveMx: ResolveMx = async (domain) =>
  (await Deno.resolveDns(domain, "MX", nameServer))
    .sort((a, b) => a.preference - b.preference)
    .map((mx) => mx.exchange.replace(/\.$/, ""));
// Host lookups for the website fetcher's SSRF guard: every A and AAAA address (a name with
// only one kind answers NXDOMAIN/NoData for the other, which is not an error here).
const resolveHost: ResolveHost = async (host) => {
  if (host === "localhost") return ["127.0.0.1", "::1"];
  const [v4, v6] = await Promise.allSettled([Deno.resolveDns(host, "A"), Deno.resolveDns(host, "AAAA")]);
  const addresses = [v4, v6].flatMap((result) => (result.status === "fulfilled" ? result.value : []));
  if (addresses.length === 0 && v4.status === "rejected") throw v4.reason;
  return addresses;
};
// POST /internal/mail/run (pg_cron → pg_net → here), only when MAIL_WORKER_SECRET is set.
// Supabase blocks outbound SMTP on ports 25 and 587: use smtps://…:465 in SMTP_URL.
const mail = readMailConfig((name) => (name === "PUBLIC_URL" ? publicUrl : env(name)));
const mailWorker = mail.worker.secret === undefined ? undefined
  : { sender: createSmtpSender(mail.smtpUrl, mail.from), config: mail, name: `edge:${crypto.randomUUID().slice(0, 8)}` };
const app = createApp({ sql, config, resolveMx, resolveHost, mailWorker });

if (port === undefined) Deno.serve(app.fetch);
else Deno.serve({ port, hostname: env("HOST") ?? "127.0.0.1" }, app.fetch);
