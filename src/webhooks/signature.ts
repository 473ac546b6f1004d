import { hexEquals, hmacSha1Hex } from "../internal/crypto.js";

/** The header FullEnrich signs deliveries with. */
export const SIGNATURE_HEADER = "x-signature-sha1";

/** The signature of a body: lowercase hex HMAC-SHA1 of the raw bytes, keyed with the API key. */
export function signBody(apiKey: string, rawBody: Uint8Array | string): string {
  return hmacSha1Hex(apiKey, rawBody);
}

/**
 * Whether `signature` is the signature of `rawBody` under any of `keys` (several keys are
 * accepted during a key rotation). Every key is tried, and each comparison takes constant time.
 */
export function verifySignature(
  rawBody: Uint8Array,
  signature: string | undefined,
  keys: readonly string[],
): boolean {
  if (signature === undefined) return false;
  const given = signature.trim().toLowerCase();
  let valid = false;
  for (const key of keys) {
    if (hexEquals(signBody(key, rawBody), given)) valid = true;
  }
  return valid;
}
