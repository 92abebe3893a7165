// Standard Webhooks signatures (https://www.standardwebhooks.com), written with Web Crypto so
// the same code signs on Node and on Deno (the Edge Function): the signed content is
// `${webhook-id}.${webhook-timestamp}.${body}`, the key is the base64 part of the whsec_
// secret, and webhook-signature lists one `v1,<base64 HMAC-SHA256>` per secret, separated by
// spaces (two for 24 hours after a rotation). tests/webhooks.test.ts verifies what is sent
// with the standardwebhooks package itself.
import { fromBase64, hmacSha256, toBase64, utf8 } from "../integrations/crypto.ts";

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** The three Standard Webhooks headers for one attempt: timestamp in Unix seconds, one v1 signature per secret. */
export async function signatureHeaders(secrets: string[], id: string, timestampSeconds: number, body: string): Promise<SignedHeaders> {
  const bytes = utf8(body);
  const signatures = await Promise.all(secrets.map(async (secret) => {
    const key = fromBase64(secret.replace(/^whsec_/, ""));
    return `v1,${toBase64(await hmacSha256(key, `${id}.${timestampSeconds}.`, bytes))}`;
  }));
  return { "webhook-id": id, "webhook-timestamp": String(timestampSeconds), "webhook-signature": signatures.join(" ") };
}
