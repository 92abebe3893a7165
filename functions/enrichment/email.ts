// The built-in "email" provider: what the address alone tells us (free-mail, role or
// disposable address, the company domain) plus whether the domain accepts mail (MX).
// Classification is pure and needs no key; whether the domain is a free-mail or throwaway
// one comes from the database (app.mail_domain_kind, see mail-domain-kind.ts) with the
// query; only the MX lookup touches the network.
import type { EnrichmentProvider, MailDomainKind, ProviderFacts, ProviderResult, ResolveMx } from "./types.ts";

export type EmailType = NonNullable<ProviderFacts["emailType"]>;

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

/** An address as it is compared: trimmed, lower case, no final dot, split at the last @. */
function splitAddress(address: string): { email: string; localPart: string; domain: string } {
  const email = address.trim().toLowerCase().replace(/\.$/, "");
  const at = email.lastIndexOf("@");
  return { email, localPart: at > 0 ? email.slice(0, at) : email, domain: at > 0 ? email.slice(at + 1) : "" };
}

/** The domain after the @ of an address, as classifyEmail reads it ("" when there is none). */
export function mailDomainOf(address: string): string {
  return splitAddress(address).domain;
}

/**
 * Classifies an address, given what the database says its domain is (app.mail_domain_kind).
 * The type, most telling first: disposable, free (a consumer mailbox, even info@gmail.com),
 * role (info@, sales@ … at a company domain), company.
 */
export function classifyEmail(address: string, domainKind: MailDomainKind): EmailClassification {
  const { email, localPart, domain } = splitAddress(address);
  const valid = EMAIL.test(email);
  const freeMail = domainKind === "free";
  const disposable = domainKind === "disposable";
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
export function companyDomain(email: string, domainKind: MailDomainKind): string | null {
  return classifyEmail(email, domainKind).companyDomain;
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
      const found = classifyEmail(query.email, query.mailDomainKind);
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
