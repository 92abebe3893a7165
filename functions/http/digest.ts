// Hashes and MACs on the request path, in one place: SHA-256 of API keys, session tokens and
// links (they are stored and looked up by it), HMAC-SHA-256 of list cursors, and comparing
// secrets in constant time.
//
// Short inputs are hashed on the spot by @noble/hashes (pure JavaScript, audited, the same on
// Node and Deno): a key's hash takes about 3 µs. WebCrypto (crypto.subtle) costs some 40 µs of
// the request's own CPU per call in Node whatever the size, which every request paid for its
// key and every list page for its cursor. Long texts (a request body hashed for its
// Idempotency-Key) still go to WebCrypto, which hashes them natively, off the event loop.
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** Texts up to this many bytes are hashed inline; longer ones by WebCrypto. */
const INLINE_MAX_BYTES = 4096;
const utf8 = new TextEncoder();

/** SHA-256 of the text's UTF-8, in hex: how keys, session tokens and links are stored and looked up. */
export async function sha256Hex(text: string): Promise<string> {
  const bytes = utf8.encode(text);
  return bytesToHex(bytes.length <= INLINE_MAX_BYTES ? sha256(bytes) : new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** SHA-256 of a short text's UTF-8 (a key to compare). */
export const sha256Of = (text: string): Uint8Array => sha256(utf8.encode(text));

/** HMAC-SHA-256 of data under key. */
export const hmacSha256 = (key: Uint8Array, data: Uint8Array): Uint8Array => hmac(sha256, key, data);

/** Whether two byte strings are equal, in time that depends only on their length. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}
