import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Lowercase hex SHA-256 of some bytes: the identity of a webhook delivery. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Lowercase hex HMAC-SHA1 of the raw body, keyed with the API key: FullEnrich's signature. */
export function hmacSha1Hex(key: string, body: Uint8Array | string): string {
  return createHmac("sha1", key).update(body).digest("hex");
}

/** Constant-time comparison of two hex strings of possibly different lengths. */
export function hexEquals(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  if (left.length !== right.length) {
    // Compare against itself so that the time spent does not depend on where they differ.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}
