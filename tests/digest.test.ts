// functions/http/digest.ts hashes short texts with @noble/hashes and long ones with WebCrypto:
// both must give what node:crypto gives, or stored key hashes, session hashes and cursors would
// stop matching at the size where one hands over to the other.
import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hmacSha256, sameBytes, sha256Hex, sha256Of } from "../functions/http/digest.ts";

const texts = ["", "abc", `rcm_live_${"0123456789abcdef".repeat(4)}`, "é😀 ünïcödé", "x".repeat(4096), "y".repeat(4097), "z".repeat(1 << 20)];

describe("digest", () => {
  it("sha256Hex is SHA-256 of the UTF-8 in hex, below and above the inline size", async () => {
    for (const text of texts) expect(await sha256Hex(text)).toBe(createHash("sha256").update(text, "utf8").digest("hex"));
    expect(Buffer.from(sha256Of("abc")).toString("hex")).toBe(createHash("sha256").update("abc").digest("hex"));
  });

  it("hmacSha256 is HMAC-SHA-256", () => {
    const key = new TextEncoder().encode("a cursor secret");
    for (const text of texts.slice(0, 4)) {
      expect(Buffer.from(hmacSha256(key, new TextEncoder().encode(text))).toString("hex"))
        .toBe(createHmac("sha256", "a cursor secret").update(text, "utf8").digest("hex"));
    }
  });

  it("sameBytes tells equal from different, and different lengths apart", () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    expect(sameBytes(bytes("token"), bytes("token"))).toBe(true);
    expect(sameBytes(bytes("token"), bytes("tokeN"))).toBe(false);
    expect(sameBytes(bytes("token"), bytes("token2"))).toBe(false);
    expect(sameBytes(bytes(""), bytes(""))).toBe(true);
  });
});
