// Whether a mail domain is a free-mail or throwaway one is asked of the database: the lists
// live only in app.personal_mail_domains, and app.mail_domain_kind applies the country
// variants (hotmail.co.uk) and sub-domain (eu.mailinator.com) rules the spider web uses too.
import type { Sql, Tx } from "../db.ts";
import type { MailDomainKind } from "./types.ts";

/** app.mail_domain_kind of a domain: "free", "disposable" or null. One query. */
export async function readMailDomainKind(sql: Sql | Tx, domain: string): Promise<MailDomainKind> {
  const [row] = await sql<{ kind: MailDomainKind }[]>`select app.mail_domain_kind(${domain}) as kind`;
  return row?.kind ?? null;
}
