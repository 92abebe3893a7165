// Secrets at rest for integrations (a Calendly personal access token): AES-256-GCM through
// Web Crypto, so Node and Deno alike. The key comes from INTEGRATIONS_ENCRYPTION_KEY (32 bytes
// as base64 or 64 hex digits) and never reaches the database; what is stored is
// base64(iv || ciphertext || tag), useless without it. `npm start` generates a key once under
// .local/ when none is set; a deployment without one refuses to connect (503).
import { ApiError } from "../http/errors.ts";

const IV_BYTES = 12;

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The 32 key bytes of INTEGRATIONS_ENCRYPTION_KEY, or undefined when it is unset or malformed. */
export function parseEncryptionKey(value: string | undefined): Uint8Array<ArrayBuffer> | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Uint8Array.from(text.match(/../g)!, (h) => parseInt(h, 16));
  try {
    const bytes = fromBase64(text);
    return bytes.length === 32 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

const noKey = () =>
  new ApiError(503, "encryption_key_missing", "Integrations are not available: this server has no encryption key for stored tokens",
    "The operator sets INTEGRATIONS_ENCRYPTION_KEY to 32 random bytes (base64 or 64 hex digits, e.g. `openssl rand -base64 32`) and restarts; `npm start` generates one under .local/ automatically.");

async function aesKey(raw: Uint8Array<ArrayBuffer> | undefined): Promise<CryptoKey> {
  if (!raw) throw noKey();
  return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
}

export async function encryptSecret(raw: Uint8Array<ArrayBuffer> | undefined, plaintext: string): Promise<string> {
  const key = await aesKey(raw);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(plaintext)));
  const out = new Uint8Array(IV_BYTES + sealed.length);
  out.set(iv);
  out.set(sealed, IV_BYTES);
  return toBase64(out);
}

/** The plaintext, or undefined when the ciphertext was sealed with another key (or altered). */
export async function decryptSecret(raw: Uint8Array<ArrayBuffer> | undefined, stored: string): Promise<string | undefined> {
  const key = await aesKey(raw);
  try {
    const bytes = fromBase64(stored);
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, IV_BYTES) }, key, bytes.slice(IV_BYTES));
    return new TextDecoder().decode(plain);
  } catch {
    return undefined;
  }
}

const encoder = new TextEncoder();

/** HMAC-SHA256 under key bytes of `${prefix}${body}` (the body as received, byte for byte). */
export async function hmacSha256(key: Uint8Array<ArrayBuffer>, prefix: string, body: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const head = encoder.encode(prefix);
  const signed = new Uint8Array(head.length + body.length);
  signed.set(head);
  signed.set(body, head.length);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, signed));
}

export function hexBytes(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return undefined;
  return Uint8Array.from(hex.match(/../g)!, (byte) => parseInt(byte, 16));
}

/** Equal byte strings, compared in time that depends only on the length. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export const utf8 = (text: string): Uint8Array<ArrayBuffer> => encoder.encode(text);
