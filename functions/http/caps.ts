// What a request may carry: the size and nesting of every free-form JSON field, the nesting
// of any body, and the characters a string may hold. The numbers are part of the contract
// (README, "Payload caps"); the columns' CHECK constraints in sql/ (app.json_fits) hold the
// same ones, so writers other than the API are bounded too. Everything here is measured
// iteratively: a value nested thousands deep is refused, never walked by recursion.

export interface JsonCap {
  /** The value as Postgres prints jsonb (`octet_length(value::text)`), in UTF-8 bytes. */
  maxBytes: number;
  /** Nested objects and arrays, the value itself counting 1 ({"a": {}} is 2). */
  maxDepth: number;
}

/** How deep any JSON body may nest, checked on the raw bytes before it is parsed. */
export const MAX_BODY_DEPTH = 32;

/** The free-form JSON the API stores, with the constraint that holds each column to its cap. */
export const jsonCaps = {
  crmData: { maxBytes: 16_384, maxDepth: 10 },
  customFields: { maxBytes: 65_536, maxDepth: 10 },
  touchpointMetadata: { maxBytes: 65_536, maxDepth: 10 },
  eventData: { maxBytes: 16_384, maxDepth: 10 },
  feedbackContext: { maxBytes: 8_192, maxDepth: 10 },
  automationConditions: { maxBytes: 4_096, maxDepth: 10 },
  eventStages: { maxBytes: 8_192, maxDepth: 10 },
  // The page's own rule (app.proposal_content_problem) is 50,000 characters of JSON; this
  // byte cap is set so that it never refuses what that rule allows.
  proposalContent: { maxBytes: 200_000, maxDepth: 10 },
} as const satisfies Record<string, JsonCap>;

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

/** UTF-8 length of a string (a lone surrogate counts as the 3 bytes of U+FFFD). */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * A number as Postgres prints it once stored in jsonb: JSON.stringify's exponent forms
 * (1e+21, 1.5e-7) come back written out in full (1000000000000000000000, 0.00000015).
 */
function numberText(value: number): string {
  const text = JSON.stringify(value);
  const parts = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!parts) return text;
  const [, sign, int, frac = "", exponent] = parts;
  const digits = int! + frac;
  const point = 1 + Number(exponent);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

const scalarBytes = (value: unknown): number => {
  if (typeof value === "string") return utf8Bytes(JSON.stringify(value));
  if (typeof value === "number") return numberText(value).length;
  if (typeof value === "boolean") return value ? 4 : 5;
  return 4; // null (and anything JSON.stringify would write as null)
};

export interface JsonSize {
  /** octet_length(value::jsonb::text): compact JSON plus a space after each `:` and `,`. */
  bytes: number;
  /** Nested objects and arrays; 0 for a scalar. */
  depth: number;
}

/**
 * The size of a parsed JSON value the way the database measures it (app.json_fits). With a
 * cap, it stops as soon as the value is over it (bytes or depth then only say so), so the
 * work is bounded by the cap rather than by what was sent.
 */
export function measureJson(value: unknown, cap?: JsonCap): JsonSize {
  let bytes = 0;
  let depth = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    if (cap && (bytes > cap.maxBytes || depth > cap.maxDepth)) break;
    const [item, level] = stack.pop()!;
    if (typeof item !== "object" || item === null) {
      bytes += scalarBytes(item);
      continue;
    }
    depth = Math.max(depth, level);
    if (Array.isArray(item)) {
      bytes += 2 + Math.max(0, item.length - 1) * 2;
      for (const element of item) stack.push([element === undefined ? null : element, level + 1]);
      continue;
    }
    let entries = 0;
    for (const key in item) {
      const v = (item as Record<string, unknown>)[key];
      if (v === undefined) continue;
      entries++;
      bytes += utf8Bytes(JSON.stringify(key)) + 2;
      stack.push([v, level + 1]);
    }
    bytes += 2 + Math.max(0, entries - 1) * 2;
  }
  return { bytes, depth };
}

/** Where a cap is exceeded, in words for the agent; undefined when the value fits. */
export function capProblem(value: unknown, cap: JsonCap): { kind: "too_deep" | "value_too_large"; message: string } | undefined {
  const size = measureJson(value, cap);
  if (size.depth > cap.maxDepth) {
    return { kind: "too_deep", message: `is nested more than ${cap.maxDepth} levels deep, the most allowed` };
  }
  if (size.bytes > cap.maxBytes) {
    return { kind: "value_too_large", message: `is over ${cap.maxBytes.toLocaleString("en-US")} bytes as JSON, the most allowed` };
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Nesting of a raw body, before parsing
// ---------------------------------------------------------------------------
const OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a;
// JSON whitespace, and a byte order mark (as bytes or as the decoded character).
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d, 0xef, 0xbb, 0xbf, 0xfeff]);

/**
 * Where a JSON text nests deeper than maxDepth: the top-level key it happens under ("" when
 * the body itself is an array), or undefined when it does not (or does not start with { or
 * [, so is not JSON to nest). Counts brackets outside strings, over bytes or UTF-16 code
 * units alike (UTF-8 never puts an ASCII byte inside a multi-byte character), so it costs
 * one pass and allocates nothing; malformed JSON is left to the parser.
 */
export function tooDeepAt(body: Uint8Array | string, maxDepth: number): string | undefined {
  const code = typeof body === "string" ? (i: number) => body.charCodeAt(i) : (i: number) => body[i]!;
  let start = 0;
  while (start < body.length && WHITESPACE.has(code(start))) start++;
  if (code(start) !== OPEN_OBJECT && code(start) !== OPEN_ARRAY) return undefined;
  let depth = 0;
  let inString = false;
  let stringStart = -1;
  let lastTopString: [number, number] | undefined;
  let topKey = "";
  for (let i = start; i < body.length; i++) {
    const byte = code(i);
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) {
        inString = false;
        if (depth === 1) lastTopString = [stringStart, i + 1];
      }
      continue;
    }
    if (byte === QUOTE) {
      inString = true;
      stringStart = i;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (++depth > maxDepth) return topKey;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
      if (depth <= 1) lastTopString = undefined;
    } else if (byte === COLON && depth === 1 && lastTopString) {
      topKey = decodeKey(body.slice(lastTopString[0], lastTopString[1]));
      lastTopString = undefined;
    }
  }
  return undefined;
}

function decodeKey(quoted: Uint8Array | string): string {
  try {
    const key: unknown = JSON.parse(typeof quoted === "string" ? quoted : new TextDecoder().decode(quoted));
    return typeof key === "string" ? key : "";
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------------------
// Characters
// ---------------------------------------------------------------------------

/** NUL, which no Postgres text can hold, and UTF-16 halves without their other half. */
const BAD_CHARACTER = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const characterProblem = (text: string): string | undefined => {
  const match = BAD_CHARACTER.exec(text);
  if (!match) return undefined;
  return match[0] === "\u0000"
    ? "contains a NUL character (\\u0000), which cannot be stored"
    : `contains an unpaired UTF-16 surrogate (\\u${match[0].charCodeAt(0).toString(16)}), which is not valid Unicode`;
};

export interface CharacterProblem {
  /** Dot-separated path of the string (or key) in the value, e.g. crmData.notes.0. */
  field: string;
  message: string;
}

/** The first string or object key in value holding a character no text column can take. */
export function findBadCharacters(value: unknown, path: string[] = []): CharacterProblem | undefined {
  // Almost every request holds none: look without keeping paths, then find where.
  if (!holdsBadCharacter(value)) return undefined;
  const stack: [unknown, string[]][] = [[value, path]];
  while (stack.length > 0) {
    const [item, at] = stack.pop()!;
    if (typeof item === "string") {
      const problem = characterProblem(item);
      if (problem) return { field: at.join(".") || "(root)", message: problem };
    } else if (Array.isArray(item)) {
      item.forEach((element, index) => stack.push([element, [...at, String(index)]]));
    } else if (typeof item === "object" && item !== null) {
      for (const [key, v] of Object.entries(item)) {
        const keyProblem = characterProblem(key);
        if (keyProblem) return { field: at.join(".") || "(root)", message: `has a key that ${keyProblem}` };
        stack.push([v, [...at, key]]);
      }
    }
  }
  return undefined;
}

function holdsBadCharacter(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === "string") {
      if (BAD_CHARACTER.test(item)) return true;
    } else if (Array.isArray(item)) {
      for (const element of item) stack.push(element);
    } else if (typeof item === "object" && item !== null) {
      for (const key in item) {
        if (BAD_CHARACTER.test(key)) return true;
        stack.push((item as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}
