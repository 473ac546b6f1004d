import { randomBytes } from "node:crypto";
import { z } from "zod";

/** The one key of a probe delivery's JSON body: `{"fullenrich_rx_probe": "<nonce>"}`. */
export const PROBE_FIELD = "fullenrich_rx_probe";

const ProbeBodySchema = z.strictObject({ [PROBE_FIELD]: z.string().regex(/^[0-9a-f]{32}$/) });

/** A signed test delivery for a receiver's public URL (see `WebhookReceiver.createProbe`). */
export interface WebhookProbe {
  /** The random id in its body. */
  nonce: string;
  /** The bytes to POST. */
  body: Uint8Array;
  /** `content-type` and the signature header. */
  headers: Record<string, string>;
  /** Resolves once this receiver got it (and stored nothing). */
  arrived: Promise<void>;
  /** Stops waiting for it (a late arrival is then answered, and ignored). */
  cancel(): void;
}

/** A probe body is never longer than this: a longer one is not looked at as a probe. */
export const MAX_PROBE_BYTES = 200;

/** A new probe body with a random nonce. */
export function probeBody(): { nonce: string; text: string } {
  const nonce = randomBytes(16).toString("hex");
  return { nonce, text: JSON.stringify({ [PROBE_FIELD]: nonce }) };
}

/**
 * The nonce of a probe delivery, or null when the body is not one (anything else, a provider's
 * delivery included, goes on to be parsed and stored). A cheap look for the key first.
 */
export function probeNonce(text: string | undefined): string | null {
  if (text === undefined || text.length > MAX_PROBE_BYTES || !text.includes(PROBE_FIELD)) return null;
  try {
    const parsed = ProbeBodySchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data[PROBE_FIELD] as string) : null;
  } catch {
    return null;
  }
}
