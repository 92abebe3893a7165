// Lists: the query every list route takes (limit, and where the page starts: a cursor or an
// offset), the fields it answers with (total, limit, offset, nextCursor), and what a page tells
// the agent (a capped limit, a page cut short by its byte budget, the call for the next page).
//
// Cursors. A list route pages by its own sort order (keyset pagination): a page asks for the
// rows after the last row of the page before, so rows inserted or deleted meanwhile never make
// a row appear twice or go missing, and a deep page costs what the first does. The cursor is
// opaque to the agent: base64url(JSON { l: the list, f: its filters, k: the last row's sort
// keys, n: rows before the next page }) "." base64url(HMAC-SHA256 of the org id and that text),
// keyed with CURSOR_SECRET (config.ts). A cursor that was changed, made for another list,
// other filters or another workspace is refused (400 invalid_cursor) before any query runs.
// offset stays for the contract; a page asked for by offset answers a nextCursor too.
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Tx } from "../db.ts";
import { utf8Bytes } from "./caps.ts";
import type { AppEnv } from "./context.ts";
import { hmacSha256, sameBytes } from "./digest.ts";
import { ApiError } from "./errors.ts";
import { API_PREFIX } from "./prefixes.ts";

/** The largest page; a larger limit is capped, with a warning. */
export const MAX_LIMIT = 200;
const DEFAULT_LIMIT = 50;

/**
 * The most bytes of rows a page carries (JSON, UTF-8): rows past it wait for the next page,
 * so no list reply grows past about 1 MiB however large its rows are.
 */
export const PAGE_BYTE_BUDGET = 1_048_576;

/** limit, offset and cursor, for a list route's query schema. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).optional().openapi({ description: `Page size, default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}.` }),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0).openapi({ description: "Rows to skip. Prefer cursor: a page after a cursor is stable under inserts and deletes." }),
  cursor: z.string().min(1).max(4096).optional().openapi({
    description: "Start after the page that returned this nextCursor (opaque; send it with the same filters). Takes the place of offset.",
  }),
};

/** total, limit, offset and nextCursor, for a list route's reply schema. */
export const pageFields = {
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int().openapi({ description: "How many rows come before this page." }),
  nextCursor: z.string().nullable().openapi({ description: "Pass as cursor for the next page; null on the last page." }),
};

/** A sort key of a list: an SQL expression of the list's query (trusted text, never input), its type and direction. */
export interface SortKey {
  sql: string;
  type: "text" | "timestamptz" | "integer" | "boolean" | "real";
  desc?: boolean;
}

/** What a list's page is made of: its path (binds the cursor), sort keys (the last ones unique), and its filters. */
export interface ListSpec {
  list: string;
  sort: SortKey[];
  filters?: Record<string, string | number | boolean | undefined | null>;
}

type Fragment = ReturnType<Tx["unsafe"]>;

/** The column a list's query selects the row's sort keys into; fit() takes it off again. */
export const CURSOR_COLUMN = "_cursor";

export interface Page {
  /** The page size used: the limit asked for (at most MAX_LIMIT), or the default. */
  limit: number;
  /** The rows skipped in the query: the offset asked for, or 0 after a cursor. */
  offset: number;
  /** The rows the query asks for: one more than limit, so fit() knows whether another page follows. */
  fetch: number;
  /** "limit capped at 200" when a larger limit was asked for, and what fit() cut; else none. */
  warnings: string[];
  /** The cursor's sort keys, for a list whose query pages itself (an SQL function taking them); undefined without a cursor. */
  afterKeys: unknown[] | undefined;
  /** The select expression of the row's sort keys (add it to the list's select list). */
  keys(db: Tx): Fragment;
  /** The condition "after the cursor's row" (true without a cursor), to and into the where clause. */
  after(db: Tx): Fragment;
  /** The list's order by. */
  order(db: Tx): Fragment;
  /**
   * The leading rows that fit in PAGE_BYTE_BUDGET (always at least one), without their sort
   * keys; every list passes its rows through it. When some do not fit, warnings says so; the
   * next cursor starts after the last row kept. advice ends that warning (how to ask for
   * lighter rows, where there is a way).
   */
  fit<T>(rows: T[], advice?: string): Promise<Omit<T, typeof CURSOR_COLUMN>[]>;
  /** total, limit, offset and nextCursor for the reply body (after fit()). */
  fields(total: number): { total: number; limit: number; offset: number; nextCursor: string | null };
  /**
   * The call for the next page (after fit()), or none on the last page: with cursor= when this
   * page was asked for after a cursor, else with offset=. filters that are set go into the query
   * string first.
   */
  next(path: string, filters?: Record<string, string | undefined>): string[];
}

/** Only the limit a list query asks for (for routes that take a limit but do not page). */
export function limitOf(query: { limit?: number | undefined }): { limit: number; warnings: string[] } {
  const limit = Math.min(query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  return { limit, warnings: query.limit !== undefined && query.limit > MAX_LIMIT ? [`limit capped at ${MAX_LIMIT}`] : [] };
}

// ---------------------------------------------------------------------------
// The cursor's envelope
// ---------------------------------------------------------------------------
interface CursorBody {
  l: string;
  f: string;
  k: unknown[];
  n: number;
}

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const signed = (orgId: string, body: string) => encoder.encode(`${orgId}.${body}`);

function sign(secret: string, orgId: string, body: CursorBody): string {
  const text = base64url(encoder.encode(JSON.stringify(body)));
  return `${text}.${base64url(hmacSha256(encoder.encode(secret), signed(orgId, text)))}`;
}

const invalidCursor = (why: string) =>
  new ApiError(400, "invalid_cursor", `The cursor is not valid: ${why}`,
    "Send nextCursor exactly as the page before returned it, with the same filters (limit may change); leave cursor out to start from the first page.",
    { fields: [{ field: "cursor", message: why }] });

async function open(secret: string, orgId: string, cursor: string, list: string, filters: string, sortKeys: number): Promise<CursorBody> {
  const [text, mac, extra] = cursor.split(".");
  const macBytes = mac === undefined ? undefined : fromBase64url(mac);
  if (!text || !macBytes || extra !== undefined) throw invalidCursor("it is not one this API made");
  if (!sameBytes(macBytes, hmacSha256(encoder.encode(secret), signed(orgId, text)))) throw invalidCursor("it was changed, or made for another workspace");
  let body: CursorBody;
  try {
    body = JSON.parse(new TextDecoder().decode(fromBase64url(text))) as CursorBody;
  } catch {
    throw invalidCursor("it is not one this API made");
  }
  if (body.l !== list) throw invalidCursor(`it belongs to another list (${body.l})`);
  if (body.f !== filters) throw invalidCursor("it was made for other filters: send the same filters as for the page before");
  if (!Array.isArray(body.k) || body.k.length !== sortKeys || !Number.isInteger(body.n)) throw invalidCursor("it is not one this API made");
  return body;
}

/** The filters as the cursor carries them: set ones only, in a fixed order. */
const canonicalFilters = (filters: ListSpec["filters"] = {}) =>
  JSON.stringify(Object.keys(filters).sort().filter((name) => filters[name] !== undefined && filters[name] !== null)
    .map((name) => [name, filters[name]]));

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------
/**
 * The page a list query asks for, by the list's sort order: after the cursor when one is sent
 * (400 invalid_cursor when it does not hold), else at the offset.
 */
export async function pageOf(
  c: Context<AppEnv>,
  query: { limit?: number | undefined; offset?: number; cursor?: string | undefined },
  spec: ListSpec,
): Promise<Page> {
  const { limit, warnings } = limitOf(query);
  const secret = c.var.config.cursorSecret;
  // The operator's requests (feedback) act for no one org.
  const orgOf = () => c.var.orgId ?? "*";
  const filters = canonicalFilters(spec.filters);
  if (query.cursor !== undefined && (query.offset ?? 0) > 0) {
    throw new ApiError(400, "invalid_request", "Send either cursor or offset, not both", "Follow nextCursor with cursor alone (offset is for jumping to a position).",
      { fields: [{ field: "offset", message: "not with cursor" }] });
  }
  // A cursor is checked against the request's org before its page is read, so a page that
  // follows a cursor waits for the credential's answer (tenant.ts); a first page needs the org
  // only to sign its nextCursor, once its rows (answered after the credential) are back.
  if (query.cursor !== undefined) await c.var.identified;
  const from = query.cursor === undefined ? undefined : await open(secret, orgOf(), query.cursor, spec.list, filters, spec.sort.length);
  const before = from?.n ?? query.offset ?? 0;
  let nextCursor: string | null = null;
  let shown = 0;

  const column = (key: SortKey) => key.sql;
  return {
    limit,
    offset: from ? 0 : before,
    fetch: limit + 1,
    warnings,
    afterKeys: from?.k,
    keys: (db) => db.unsafe(`jsonb_build_array(${spec.sort.map(column).join(", ")}) as "${CURSOR_COLUMN}"`),
    after(db) {
      if (!from) return db`true`;
      // Sent as text and cast by the server: typed as a timestamp, postgres.js would pass the
      // value through a JS Date and lose its microseconds.
      const value = (i: number) => db`${String(from.k[i])}::text::${db.unsafe(spec.sort[i]!.type)}`;
      const uniform = spec.sort.every((key) => Boolean(key.desc) === Boolean(spec.sort[0]!.desc));
      if (uniform) {
        const left = db.unsafe(`(${spec.sort.map(column).join(", ")})`);
        const right = spec.sort.map((_, i) => value(i)).reduce((all, part) => db`${all}, ${part}`);
        return spec.sort[0]!.desc ? db`${left} < (${right})` : db`${left} > (${right})`;
      }
      // Mixed directions: (a > x) or (a = x and b < y) or …
      const branches = spec.sort.map((key, i) => {
        const equal = spec.sort.slice(0, i).map((earlier, j) => db`${db.unsafe(earlier.sql)} = ${value(j)}`);
        const beyond = key.desc ? db`${db.unsafe(key.sql)} < ${value(i)}` : db`${db.unsafe(key.sql)} > ${value(i)}`;
        return [...equal, beyond].reduce((all, part) => db`${all} and ${part}`);
      });
      return branches.map((branch) => db`(${branch})`).reduce((all, part) => db`${all} or ${part}`);
    },
    order: (db) => db.unsafe(spec.sort.map((key) => `${key.sql}${key.desc ? " desc" : ""}`).join(", ")),
    async fit<T>(fetchedRows: T[], advice?: string) {
      const rows = fetchedRows.slice(0, limit);
      let bytes = 0;
      let lastKeys: unknown[] | undefined;
      const out: Omit<T, typeof CURSOR_COLUMN>[] = [];
      for (const row of rows) {
        const { [CURSOR_COLUMN]: sortKeys, ...rest } = row as T & { [CURSOR_COLUMN]?: unknown[] };
        const size = utf8Bytes(JSON.stringify(rest)) + 1;
        if (out.length > 0 && bytes + size > PAGE_BYTE_BUDGET) break;
        bytes += size;
        out.push(rest as Omit<T, typeof CURSOR_COLUMN>);
        lastKeys = sortKeys;
      }
      if (out.length < rows.length) {
        warnings.push(`This page holds ${out.length} of the ${rows.length} rows asked for: a page carries at most ${PAGE_BYTE_BUDGET.toLocaleString("en-US")} bytes of rows. `
          + `The next page (next_steps) starts after them${advice ? `; ${advice}` : ""}`);
      }
      shown = out.length;
      // Another page follows when the query found more rows than the page shows.
      const more = out.length > 0 && fetchedRows.length > out.length;
      nextCursor = more && lastKeys ? sign(secret, orgOf(), { l: spec.list, f: filters, k: lastKeys, n: before + out.length }) : null;
      return out;
    },
    fields: (total) => ({ total, limit, offset: before, nextCursor }),
    next(path, filters = {}) {
      if (!nextCursor) return [];
      // The next call pages the way this one did: after the cursor, or by offset.
      const params = [
        ...Object.entries(filters).filter(([, value]) => value !== undefined).map(([name, value]) => `${name}=${value}`),
        from ? `cursor=${nextCursor}` : `offset=${before + shown}`, `limit=${limit}`,
      ];
      return [`GET ${API_PREFIX}${path}?${params.join("&")} for the next page`];
    },
  };
}
