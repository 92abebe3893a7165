// Lists: the limit/offset query every list route takes, the total/limit/offset it answers
// with, and what a page tells the agent (a capped limit, a page cut short by its byte
// budget, the call for the next page).
import { z } from "@hono/zod-openapi";
import { utf8Bytes } from "./caps.ts";
import { API_PREFIX } from "./prefixes.ts";

/** The largest page; a larger limit is capped, with a warning. */
export const MAX_LIMIT = 200;
const DEFAULT_LIMIT = 50;

/**
 * The most bytes of rows a page carries (JSON, UTF-8): rows past it wait for the next page,
 * so no list reply grows past about 1 MiB however large its rows are.
 */
export const PAGE_BYTE_BUDGET = 1_048_576;

/** limit and offset, for a list route's query schema. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).optional().openapi({ description: `Page size, default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT}.` }),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
};

/** total, limit and offset, for a list route's reply schema. */
export const pageFields = { total: z.number().int(), limit: z.number().int(), offset: z.number().int() };

export interface Page {
  /** The page size used: the limit asked for (at most MAX_LIMIT), or the default. */
  limit: number;
  offset: number;
  /** "limit capped at 200" when a larger limit was asked for, and what fit() cut; else none. */
  warnings: string[];
  /**
   * The leading rows that fit in PAGE_BYTE_BUDGET (always at least one). When some do not,
   * warnings says so; pass the rows kept to next() so the next page starts after them.
   * advice ends that warning (how to ask for lighter rows, where there is a way).
   */
  fit<T>(rows: T[], advice?: string): T[];
  /** total, limit and offset for the reply body. */
  fields(total: number): { total: number; limit: number; offset: number };
  /**
   * The call for the next page, or none when this page of `shown` rows ends the list of
   * `total`. filters that are set go into the query string first, in the order given.
   */
  next(path: string, shown: number, total: number, filters?: Record<string, string | undefined>): string[];
}

/** The page a list query asks for. */
export function pageOf(query: { limit?: number | undefined; offset?: number }): Page {
  const limit = Math.min(query.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  const offset = query.offset ?? 0;
  const warnings = query.limit !== undefined && query.limit > MAX_LIMIT ? [`limit capped at ${MAX_LIMIT}`] : [];
  return {
    limit,
    offset,
    warnings,
    fit(rows, advice) {
      let bytes = 0;
      let kept = 0;
      for (const row of rows) {
        const size = utf8Bytes(JSON.stringify(row)) + 1;
        if (kept > 0 && bytes + size > PAGE_BYTE_BUDGET) break;
        bytes += size;
        kept++;
      }
      if (kept === rows.length) return rows;
      warnings.push(`This page holds ${kept} of the ${rows.length} rows asked for: a page carries at most ${PAGE_BYTE_BUDGET.toLocaleString("en-US")} bytes of rows. `
        + `The next page (next_steps) starts after them${advice ? `; ${advice}` : ""}`);
      return rows.slice(0, kept);
    },
    fields: (total) => ({ total, limit, offset }),
    next(path, shown, total, filters = {}) {
      const nextOffset = offset + shown;
      if (nextOffset >= total) return [];
      const params = [
        ...Object.entries(filters).filter(([, value]) => value !== undefined).map(([name, value]) => `${name}=${value}`),
        `offset=${nextOffset}`, `limit=${limit}`,
      ];
      return [`GET ${API_PREFIX}${path}?${params.join("&")} for the next page`];
    },
  };
}
