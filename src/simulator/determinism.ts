import { type Random, seededRandom } from "../internal/random.js";

/**
 * Seed derivation for the simulator. Every decision the simulator makes (what is found for a
 * contact, how long it takes, whether a fault hits a delivery) is drawn from a generator seeded
 * with a hash of the simulator seed and the decision's own key, so it depends on *what* is
 * decided and never on the order in which things happen.
 */

/** 32-bit FNV-1a hash of a string. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** A generator dedicated to one decision key (the seed plus any number of parts). */
export function randomFor(seed: number, ...parts: ReadonlyArray<string | number>): Random {
  const random = seededRandom(hashString(`${seed}\u0000${parts.join("\u0000")}`));
  // Discard one draw: the first output of neighbouring seeds is the least scrambled.
  random.next();
  return random;
}

/** One uniform float in [0, 1) for a decision key. */
export function unitFor(seed: number, ...parts: ReadonlyArray<string | number>): number {
  return randomFor(seed, ...parts).next();
}

/** A UUID in version-4 format whose bits come from `random`. */
export function uuidFrom(random: Random): string {
  const bytes = Array.from({ length: 16 }, () => random.int(256));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
