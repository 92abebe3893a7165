// The built-in "email" provider: what the address alone tells us (free-mail, role or
// disposable address, the company domain) plus whether the domain accepts mail (MX).
// Classification is pure and needs no key; only the MX lookup touches the network.
import type { EnrichmentProvider, ProviderFacts, ProviderResult, ResolveMx } from "./types.ts";

export type EmailType = NonNullable<ProviderFacts["emailType"]>;

/** Consumer mailbox providers: an address here says nothing about the person's employer. */
const FREE_MAIL = new Set([
  "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com",
  "yahoo.com", "ymail.com", "rocketmail.com", "icloud.com", "me.com", "mac.com", "aol.com", "aim.com",
  "protonmail.com", "protonmail.ch", "proton.me", "pm.me", "gmx.com", "gmx.net", "gmx.de", "gmx.at", "gmx.ch",
  "web.de", "t-online.de", "freenet.de", "posteo.de", "mailbox.org", "yandex.com", "yandex.ru", "ya.ru",
  "mail.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru", "zoho.com", "zohomail.com", "fastmail.com",
  "fastmail.fm", "hey.com", "tutanota.com", "tutanota.de", "tuta.io", "tuta.com", "mail.com", "email.com",
  "usa.com", "hushmail.com", "duck.com", "runbox.com", "inbox.com", "lycos.com", "juno.com", "earthlink.net",
  "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "charter.net",
  "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net", "orange.fr", "wanadoo.fr", "free.fr",
  "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it", "seznam.cz", "wp.pl", "o2.pl",
  "interia.pl", "onet.pl", "qq.com", "163.com", "126.com", "yeah.net", "sina.com", "naver.com", "daum.net",
  "hanmail.net", "rediffmail.com", "bigpond.com", "optusnet.com.au", "shaw.ca", "rogers.com", "sympatico.ca",
  "uol.com.br", "bol.com.br", "terra.com.br",
]);
/** Country variants of the big consumer providers (hotmail.co.uk, yahoo.fr, gmx.es …). */
const FREE_MAIL_FAMILIES = /^(hotmail|outlook|live|windowslive|yahoo|gmx|yandex|aol)\.([a-z]{2,3}|com?\.[a-z]{2})$/;

/** Throwaway inboxes: nobody reads them after a few minutes. */
const DISPOSABLE = new Set([
  "mailinator.com", "mailinator.net", "mailinator2.com", "10minutemail.com", "10minutemail.net", "10minutemail.co.uk",
  "20minutemail.com", "guerrillamail.com", "guerrillamail.net", "guerrillamail.org", "guerrillamail.biz",
  "guerrillamail.de", "guerrillamailblock.com", "sharklasers.com", "grr.la", "pokemail.net", "spam4.me",
  "tempmail.com", "tempmail.net", "temp-mail.org", "temp-mail.io", "tempmailo.com", "tempmail.plus", "tempr.email",
  "tempinbox.com", "tempail.com", "yopmail.com", "yopmail.fr", "yopmail.net", "trashmail.com", "trashmail.net",
  "trashmail.de", "trashmail.me", "throwawaymail.com", "getnada.com", "nada.email", "maildrop.cc",
  "dispostable.com", "mailnesia.com", "mintemail.com", "mohmal.com", "fakeinbox.com", "emailondeck.com",
  "spamgourmet.com", "mailcatch.com", "mytemp.email", "discard.email", "burnermail.io", "moakt.com",
  "mailpoof.com", "getairmail.com", "fakemail.net", "emailfake.com", "harakirimail.com", "inboxkitten.com",
  "mail.tm", "mail.gw", "dropmail.me", "1secmail.com", "1secmail.org", "1secmail.net", "mailsac.com",
  "spambox.us", "jetable.org", "mvrht.com", "anonaddy.me", "33mail.com", "mailforspam.com", "byom.de",
]);

/** Local parts that reach a function or a team, not a person (compared without . _ -). */
const ROLE = new Set([
  "info", "information", "sales", "admin", "administrator", "support", "help", "helpdesk", "hello", "hi",
  "contact", "contactus", "office", "team", "billing", "accounts", "accounting", "finance", "invoice",
  "invoices", "hr", "jobs", "careers", "recruiting", "recruitment", "talent", "noreply", "donotreply",
  "marketing", "press", "media", "pr", "webmaster", "postmaster", "hostmaster", "abuse", "security",
  "privacy", "legal", "compliance", "enquiries", "enquiry", "inquiries", "inquiry", "service",
  "customerservice", "customersupport", "customercare", "feedback", "partners", "partnerships", "orders",
  "shop", "store", "booking", "bookings", "reservations", "reception", "frontdesk", "newsletter", "news",
  "mail", "email", "all", "everyone", "staff", "dev", "developers", "it", "ops", "operations", "root",
  "system", "notifications", "alerts", "bounce", "bounces", "mailerdaemon", "community", "events",
  "investors", "ir", "purchasing", "procurement", "management", "general", "studio", "welcome",
]);

/** Mail-host labels stripped from the front of a domain to reach the company's own (mail.acme.com → acme.com). */
const MAIL_HOST_LABELS = new Set(["mail", "email", "e-mail", "mx", "smtp", "webmail", "post", "lists"]);
/** Second-level labels under which a two-label remainder is a public suffix (co.uk, com.au …), never a company. */
const PUBLIC_SECOND_LEVEL = new Set(["co", "com", "net", "org", "ac", "gov", "edu", "or", "ne", "go", "gob", "nic", "mil"]);

export interface EmailClassification {
  /** The address lower-cased, or null when it is not an address. */
  email: string | null;
  localPart: string;
  /** The domain after @, lower-cased. */
  domain: string;
  type: EmailType;
  freeMail: boolean;
  role: boolean;
  disposable: boolean;
  /** The employer's domain, or null for free-mail and disposable addresses. */
  companyDomain: string | null;
}

const EMAIL = /^[^\s@]+@([a-z0-9-]+\.)+[a-z0-9-]{2,}$/;

/**
 * Classifies an address. The type, most telling first: disposable, free (a consumer mailbox,
 * even info@gmail.com), role (info@, sales@ … at a company domain), company.
 */
export function classifyEmail(address: string): EmailClassification {
  const email = address.trim().toLowerCase().replace(/\.$/, "");
  const at = email.lastIndexOf("@");
  const localPart = at > 0 ? email.slice(0, at) : email;
  const domain = at > 0 ? email.slice(at + 1) : "";
  const valid = EMAIL.test(email);
  const freeMail = isFreeMailDomain(domain);
  const disposable = isDisposableDomain(domain);
  const role = isRoleLocalPart(localPart);
  const type: EmailType = disposable ? "disposable" : freeMail ? "free" : role ? "role" : "company";
  return {
    email: valid ? email : null,
    localPart,
    domain,
    type,
    freeMail,
    role,
    disposable,
    companyDomain: valid && !freeMail && !disposable ? companyDomainOf(domain) : null,
  };
}

/** The company domain behind an address (null for free-mail, disposable or malformed ones). */
export function companyDomain(email: string): string | null {
  return classifyEmail(email).companyDomain;
}

export function isFreeMailDomain(domain: string): boolean {
  return FREE_MAIL.has(domain) || FREE_MAIL_FAMILIES.test(domain);
}

/** Matches the domain and its parent domains, so eu.mailinator.com counts too. */
export function isDisposableDomain(domain: string): boolean {
  const labels = domain.split(".");
  for (let i = 0; i < labels.length - 1; i++) if (DISPOSABLE.has(labels.slice(i).join("."))) return true;
  return false;
}

export function isRoleLocalPart(localPart: string): boolean {
  const bare = localPart.replace(/\+.*$/, "").replace(/[._-]/g, "");
  return ROLE.has(bare);
}

/**
 * The company's own domain for a mail domain: lower-cased, with one leading mail-host label
 * (mail., email., mx., smtp., webmail., post., lists.) removed — only when what remains still
 * has two labels and is not a public suffix like co.uk. Other subdomains (uk.acme.com) stay.
 */
export function companyDomainOf(mailDomain: string): string {
  const domain = mailDomain.toLowerCase().replace(/\.$/, "");
  const labels = domain.split(".");
  if (labels.length >= 3 && MAIL_HOST_LABELS.has(labels[0]!)) {
    const rest = labels.slice(1);
    const publicSuffix = rest.length === 2 && PUBLIC_SECOND_LEVEL.has(rest[0]!) && rest[1]!.length === 2;
    if (!publicSuffix) return rest.join(".");
  }
  return domain;
}

/** The built-in email provider: classification plus an MX check; never cached (it is cheap). */
export function createEmailProvider(deps: { resolveMx: ResolveMx }): EnrichmentProvider {
  return {
    name: "email",
    cacheKey: () => null,
    async enrich(query, signal): Promise<ProviderResult> {
      const found = classifyEmail(query.email);
      if (!found.email) {
        return { source: "email", status: "not_found", facts: {}, confidence: 0, raw: { email: query.email, error: "not an email address" } };
      }
      const mx = await lookUpMx(deps.resolveMx, found.domain, signal);
      const facts: ProviderResult["facts"] = { emailType: found.type };
      if (found.companyDomain) facts.companyDomain = found.companyDomain;
      if (mx.hasMx !== undefined) facts.hasMx = mx.hasMx;
      return {
        source: "email",
        status: "found",
        facts,
        // The address itself is certain; the company behind a domain is a strong but not certain guess.
        confidence: found.companyDomain ? 0.9 : 1,
        raw: {
          email: found.email,
          domain: found.domain,
          type: found.type,
          freeMail: found.freeMail,
          role: found.role,
          disposable: found.disposable,
          mx: mx.exchanges,
          ...(mx.error ? { mxError: mx.error } : {}),
          ...(mx.warning ? { warning: mx.warning } : {}),
        },
      };
    },
  };
}

interface MxOutcome {
  hasMx?: boolean;
  exchanges: string[];
  error?: string;
  warning?: string;
}

async function lookUpMx(resolveMx: ResolveMx, domain: string, signal: AbortSignal): Promise<MxOutcome> {
  if (signal.aborted) return { exchanges: [], error: "the time budget ran out before the MX lookup" };
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const exchanges = await Promise.race([resolveMx(domain), aborted]);
    if (exchanges === "aborted") return { exchanges: [], error: "the time budget ran out during the MX lookup" };
    const real = exchanges.filter((exchange) => exchange !== "" && exchange !== ".");
    // A "null MX" (RFC 7505: a single "." record) says the domain takes no mail at all.
    if (real.length === 0) return { hasMx: false, exchanges: [], warning: `${domain} publishes no mail servers: mail to this address will bounce` };
    return { hasMx: true, exchanges: real };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    return {
      hasMx: false,
      exchanges: [],
      error: code ? `${code}: ${message}` : message,
      warning: `no mail servers found for ${domain}: mail to this address is likely to bounce`,
    };
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}
