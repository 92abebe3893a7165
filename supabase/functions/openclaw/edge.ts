// The app as the Supabase Edge Function runs it (Deno): config from Deno.env, Deno's resolver
// for MX and host lookups, nodemailer for POST /internal/mail/run. This is the source of the
// function, not what is deployed: `npm run build:edge` bundles it, with the app in functions/
// and the npm packages from node_modules (postgres.js as patched at install), into
// dist/edge.js, which index.ts serves. Supabase's bundler only takes files under
// supabase/functions/, so the deployed entry imports the bundle, never this file.
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

// On Supabase the public address is the project URL plus the function's path; elsewhere
// (deno serve) PUBLIC_URL says it, else deno serve's default http://127.0.0.1:8000.
const supabaseUrl = env("SUPABASE_URL")?.replace(/\/+$/, "");
const publicUrl = env("PUBLIC_URL") ?? (supabaseUrl ? `${supabaseUrl}/functions/v1/openclaw` : undefined);
const readEnv = (name: string) => (name === "PUBLIC_URL" ? publicUrl : env(name));
const config = readConfig(readEnv, 8000);

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
const mail = readMailConfig(readEnv);
const mailWorker = mail.worker.secret === undefined ? undefined
  : { sender: createSmtpSender(mail.smtpUrl, mail.from), config: mail, name: `edge:${crypto.randomUUID().slice(0, 8)}` };
const app = createApp({ sql, config, resolveMx, resolveHost, mailWorker });

/** Answers one request: what `deno serve` and Supabase's Edge Runtime call. */
export const fetch = (request: Request): Response | Promise<Response> => app.fetch(request);
