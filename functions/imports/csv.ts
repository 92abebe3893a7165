// CSV files as imports read them: the bytes checked (size, UTF-8), the header mapped to lead
// fields (automatically, or as the request says), and each record turned into the row app.import_rows
// stores: the lead's fields as text, keyed by the contract's names. Parsing is csv-parse's
// (RFC 4180: quoted fields, embedded commas and newlines, "" escapes), streamed record by record.
// The rules of what a lead may hold stay in SQL: a row is only shaped here, and checked when
// applied (app._upsert_leads).
import { parse } from "csv-parse";
import { ApiError } from "../http/errors.ts";

/** The largest file an import takes, and the most rows. */
export const IMPORT_MAX_BYTES = 10 * 1024 * 1024;
export const IMPORT_MAX_ROWS = 50_000;

/** Lead fields a column can feed (fullName is split into firstName and lastName). */
export const importFields = [
  "firstName", "lastName", "fullName", "email", "organizationName", "businessType", "phone", "tier", "status", "stage",
  "title", "seniority", "companyName", "linkedinUrl", "companySize", "companyRevenue", "crmData", "customFields",
] as const;
type ImportField = (typeof importFields)[number];

/** A column's target: a lead field, customFields.<key>, or null (not imported). */
export type Target = ImportField | `customFields.${string}` | null;

const normal = (header: string) => header.toLowerCase().replace(/[^a-z0-9]/g, "");

/** Spellings a header may use for a field, normalised (lower case, letters and digits only). */
const aliases: Record<string, ImportField> = {
  firstname: "firstName", first: "firstName", givenname: "firstName", forename: "firstName", fname: "firstName",
  lastname: "lastName", last: "lastName", surname: "lastName", familyname: "lastName", lname: "lastName",
  name: "fullName", fullname: "fullName", contactname: "fullName", contact: "fullName",
  email: "email", emailaddress: "email", mail: "email", workemail: "email", businessemail: "email", email1: "email",
  organizationname: "organizationName", organization: "organizationName", organisation: "organizationName",
  organisationname: "organizationName", company: "organizationName", account: "organizationName", accountname: "organizationName",
  clinic: "organizationName", clinicname: "organizationName", business: "organizationName", businessname: "organizationName",
  businesstype: "businessType", practicetype: "businessType", industry: "businessType",
  phone: "phone", phonenumber: "phone", mobile: "phone", mobilephone: "phone", tel: "phone", telephone: "phone", cell: "phone",
  tier: "tier", status: "status", leadstatus: "status", stage: "stage", pipelinestage: "stage",
  title: "title", jobtitle: "title", position: "title", role: "title",
  seniority: "seniority", companyname: "companyName", employer: "companyName",
  linkedinurl: "linkedinUrl", linkedin: "linkedinUrl", linkedinprofile: "linkedinUrl",
  companysize: "companySize", employees: "companySize", headcount: "companySize",
  companyrevenue: "companyRevenue", revenue: "companyRevenue", annualrevenue: "companyRevenue",
  crmdata: "crmData", customfields: "customFields",
};

/** Columns an export writes that the database keeps itself: read back, they are not imported. */
const readOnly = new Set(["id", "stageid", "enrichmentstatus", "enrichedat", "lasttouchat", "score", "scorelabel", "source",
  "createdby", "createdat", "updatedat", "deletedat", "mergedinto", "proposalid", "enrichment"]);

export interface CustomFieldRef {
  key: string;
  label: string;
}

export interface Mapping {
  /** The target of each column, in the header's order. */
  targets: Target[];
  /** What the agent should know: columns left out and why. */
  warnings: string[];
}

const invalidMapping = (message: string, hint: string) => new ApiError(400, "invalid_mapping", message, hint);

/**
 * The target of each column: mapping's entries (header → target) first, then the header's own
 * name (a field's name or alias, customFields.<key>, a custom field's key or label).
 */
export function mapColumns(header: string[], fields: CustomFieldRef[], mapping: Record<string, unknown> = {}): Mapping {
  const byKey = new Map(fields.map((field) => [field.key.toLowerCase(), field.key]));
  const byName = new Map<string, string>();
  for (const field of fields) {
    byName.set(normal(field.label), field.key);
    byName.set(normal(field.key), field.key);
  }
  const known = new Map(header.map((name) => [name, true]));
  for (const name of Object.keys(mapping)) {
    if (!known.has(name)) {
      throw invalidMapping(`mapping names the column "${name}", which the file's header does not have`,
        `The header's columns are: ${header.map((h) => JSON.stringify(h)).join(", ")}. Map them by their exact names.`);
    }
  }
  const customTarget = (key: string): Target => `customFields.${byKey.get(key.toLowerCase()) ?? key}`;
  const warnings: string[] = [];
  const ignored: string[] = [];
  const readOnlyColumns: string[] = [];
  const targets = header.map((name): Target => {
    if (Object.hasOwn(mapping, name)) {
      const wanted = mapping[name];
      if (wanted === null) return null;
      if (typeof wanted !== "string") throw invalidMapping(`mapping["${name}"] must be a field name or null`, "Map each column to a lead field (firstName, email, …), customFields.<key>, or null to leave it out.");
      if ((importFields as readonly string[]).includes(wanted)) return wanted as ImportField;
      const custom = wanted.match(/^customFields\.([a-zA-Z][a-zA-Z0-9_]{0,63})$/);
      if (custom) return customTarget(custom[1]!);
      throw invalidMapping(`mapping["${name}"] is "${wanted}", which is not a lead field`,
        `Map columns to one of: ${importFields.join(", ")}, or customFields.<key> (GET /api/openclaw/fields lists the keys), or null to leave a column out.`);
    }
    const custom = name.match(/^\s*(?:customFields|custom|cf)[.:]\s*([a-zA-Z][a-zA-Z0-9_]{0,63})\s*$/i);
    if (custom) return customTarget(custom[1]!);
    const n = normal(name);
    const field = aliases[n];
    if (field) return field;
    const definition = byName.get(n);
    if (definition) return `customFields.${definition}`;
    if (readOnly.has(n)) readOnlyColumns.push(name);
    else if (n !== "") ignored.push(name);
    return null;
  });

  const seen = new Map<string, string>();
  targets.forEach((target, i) => {
    if (target === null) return;
    const other = seen.get(target);
    if (other !== undefined) {
      throw invalidMapping(`Columns "${other}" and "${header[i]}" both feed ${target}`,
        `Send mapping with one of them set to null, e.g. { "${header[i]}": null }.`);
    }
    seen.set(target, header[i]!);
  });
  if (!seen.has("email")) {
    throw new ApiError(400, "missing_email_column", "No column holds the leads' emails",
      `Leads are matched by email. The header's columns are: ${header.map((h) => JSON.stringify(h)).join(", ")}. Name one "email", or send mapping, e.g. { "${header[0] ?? "E-mail"}": "email" }.`);
  }
  if (readOnlyColumns.length > 0) warnings.push(`Not imported (the database keeps them): ${readOnlyColumns.join(", ")}`);
  if (ignored.length > 0) {
    warnings.push(`Not imported (no lead field by that name): ${ignored.join(", ")}. Send mapping to import them, e.g. { "${ignored[0]}": "customFields.<key>" } (GET /api/openclaw/fields lists the keys).`);
  }
  return { targets, warnings };
}

/** The file's text: at most IMPORT_MAX_BYTES, UTF-8 (a byte order mark is dropped), no NUL. */
export function decodeCsv(bytes: Uint8Array): string {
  if (bytes.byteLength > IMPORT_MAX_BYTES) throw fileTooLarge(bytes.byteLength);
  if (bytes.byteLength === 0) {
    throw new ApiError(400, "empty_file", "The file is empty", "Send a CSV file with a header row (email, firstName, …) and one lead per row.");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_encoding", "The file is not UTF-8 text",
      "Save the file as UTF-8 (in Excel: Save As → CSV UTF-8; in Google Sheets: File → Download → CSV) and send it again. Nothing was imported.");
  }
  const nul = text.indexOf("\u0000");
  if (nul >= 0) {
    throw new ApiError(400, "invalid_characters", "The file holds a NUL character, which no text field can store",
      "Send a text CSV file (a spreadsheet's CSV export), not a binary one. Nothing was imported.");
  }
  return text;
}

export const fileTooLarge = (bytes?: number) =>
  new ApiError(413, "file_too_large",
    `The file is larger than an import takes (${(IMPORT_MAX_BYTES / 1024 / 1024).toFixed(0)} MiB${bytes ? `; it has ${(bytes / 1024 / 1024).toFixed(1)} MiB` : ""})`,
    `Split it into files of at most ${(IMPORT_MAX_BYTES / 1024 / 1024).toFixed(0)} MiB and ${IMPORT_MAX_ROWS.toLocaleString("en-US")} rows and import them one after another. Nothing was imported.`);

/** A csv-parse error as the agent's refusal: what is wrong, on which line. */
function malformed(error: unknown): ApiError {
  const err = error as { code?: string; message?: string; lines?: number };
  const line = err.lines ? ` (line ${err.lines})` : "";
  const what = err.code === "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH" ? `A row has a different number of columns than the header${line}`
    : err.code === "CSV_QUOTE_NOT_CLOSED" ? `A quoted field is never closed${line}`
    : err.code === "CSV_INVALID_CLOSING_QUOTE" || err.code === "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE" ? `A quote inside a field is not doubled${line}`
    : `The file is not valid CSV${line}: ${err.message ?? "unreadable"}`;
  return new ApiError(400, "malformed_csv", what,
    "Send comma-separated values with a header row; quote fields holding commas, quotes or line breaks with \" and double the quotes inside (\"\"). Every row needs as many columns as the header. Nothing was imported.");
}

/**
 * The file's records, parsed as a stream: the header first, then each row. Refuses (400
 * malformed_csv) as soon as csv-parse finds the file is not CSV.
 */
export async function* csvRecords(text: string): AsyncGenerator<string[]> {
  const parser = parse({ bom: true, skip_empty_lines: true, relax_column_count: false, max_record_size: 1_048_576 });
  const chunkSize = 64 * 1024;
  // Fed in chunks while records are read, so parsing keeps pace with the database.
  const feed = (async () => {
    for (let at = 0; at < text.length; at += chunkSize) {
      if (!parser.write(text.slice(at, at + chunkSize))) await new Promise((ok) => parser.once("drain", ok));
    }
    parser.end();
  })();
  feed.catch(() => {});
  try {
    for await (const record of parser) yield record as string[];
  } catch (error) {
    throw malformed(error);
  } finally {
    parser.destroy();
  }
}

/**
 * One record as the fields app.import_rows stores: each mapped, non-empty cell under its field
 * (text, trimmed), customFields.<key> cells gathered in customFields, a fullName split into
 * firstName and lastName where those have no column of their own, crmData and customFields
 * columns parsed as JSON objects (left as text otherwise, for the row to fail with a hint).
 */
export function rowFields(targets: Target[], record: string[]): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const custom: Record<string, unknown> = {};
  let fullName: string | undefined;
  targets.forEach((target, i) => {
    const cell = record[i]?.trim();
    if (target === null || cell === undefined || cell === "") return;
    if (target === "fullName") fullName = cell;
    else if (target.startsWith("customFields.")) custom[target.slice("customFields.".length)] = cell;
    else if (target === "crmData" || target === "customFields") {
      let value: unknown = cell;
      try {
        const parsed: unknown = JSON.parse(cell);
        if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) value = parsed;
      } catch {
        // left as text: the row fails with "must be a JSON object"
      }
      fields[target] = value;
    } else fields[target] = cell;
  });
  if (fullName !== undefined) {
    const [first, ...rest] = fullName.split(/\s+/);
    if (fields.firstName === undefined) fields.firstName = first;
    if (fields.lastName === undefined && rest.length > 0) fields.lastName = rest.join(" ");
  }
  if (Object.keys(custom).length > 0) {
    const given = fields.customFields;
    fields.customFields = typeof given === "object" && given !== null ? { ...given, ...custom } : custom;
  }
  return fields;
}

/** A row for COPY … FROM STDIN (text format): tab-separated, backslashes doubled; JSON has no raw tabs or newlines. */
export const copyLine = (rowNumber: number, fields: Record<string, unknown>) =>
  `${rowNumber}\t${JSON.stringify(fields).replace(/\\/g, "\\\\")}\n`;
