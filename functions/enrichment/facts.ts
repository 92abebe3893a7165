// How providers word the facts they find, so every source reads the same: seniority labels,
// company-size buckets, title-cased names, URLs and "A, B and C" listings.

/** The seniority labels every provider reports, most senior first. */
export const SENIORITY_LABELS = ["C-Suite", "Owner", "Founder", "Partner", "VP", "Head", "Director", "Manager", "Senior", "Entry", "Intern", "Unpaid"] as const;

/** Employee count as the usual range buckets (the ones PDL reports as job_company_size). */
export function sizeRange(employees: number): string {
  const buckets: Array<[number, string]> = [[10, "1-10"], [50, "11-50"], [200, "51-200"], [500, "201-500"], [1000, "501-1000"], [5000, "1001-5000"], [10000, "5001-10000"]];
  return buckets.find(([max]) => employees <= max)?.[1] ?? "10001+";
}

const SMALL_WORDS = new Set(["of", "at", "and", "the", "for", "in", "on", "de", "la", "du", "und", "a", "an", "to"]);

/** "university of texas at austin" → "University of Texas at Austin" (providers often answer in lower case). */
export function titleCase(value: string): string {
  return value.trim().split(/\s+/).map((word, index) =>
    index > 0 && SMALL_WORDS.has(word.toLowerCase()) ? word.toLowerCase() : word.charAt(0).toUpperCase() + word.slice(1)).join(" ");
}

/** A trimmed string, or undefined for null, undefined and blank values. */
export function clean(value: string | null | undefined): string | undefined {
  const trimmed = typeof value === "string" ? value.trim() : undefined;
  return trimmed ? trimmed : undefined;
}

/** A profile URL in one form: "linkedin.com/in/jane" and "http://www.linkedin.com/in/jane/" → "https://www.linkedin.com/in/jane". */
export function httpsUrl(url: string | null | undefined): string | undefined {
  const value = clean(url);
  return value ? value.replace(/^(https?:\/\/)?(www\.)?/i, "https://www.").replace(/\/+$/, "") : undefined;
}

/** A bare host: "https://www.acme.com/" → "acme.com". */
export function bareDomain(url: string | null | undefined): string | undefined {
  const value = clean(url);
  return value ? value.toLowerCase().replace(/^https?:\/\//, "").replace(/^www\./, "").replace(/[/?#].*$/, "") || undefined : undefined;
}

/** Case-insensitive de-duplication, first spelling kept. */
export function unique(values: string[]): string[] {
  const seen = new Set<string>();
  return values.filter((value) => {
    const key = value.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** "A", "A and B", "A, B and C". */
export function listing(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** "2021-03-01" or "2021-03" → "Mar 2021". */
export function monthYear(date: string): string {
  const parsed = new Date(`${date.slice(0, 10)}${date.length <= 7 ? "-01" : ""}T00:00:00Z`);
  return Number.isNaN(parsed.getTime()) ? date : parsed.toLocaleString("en-US", { month: "short", year: "numeric", timeZone: "UTC" });
}

export function clip(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 1).trimEnd()}…`;
}
