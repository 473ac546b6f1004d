/** Default {@link BodyBudget} size: 32 MiB of bodies held at once. */
export const DEFAULT_MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

/**
 * The bytes of request bodies held in memory at once, across every request being read or stored:
 * a well-formed signature header costs an attacker nothing, and each such body must be read whole
 * before its HMAC can be checked, so without a shared bound memory grows with connections × body
 * limit. Each request takes a {@link BodyLease} and grows it as its bytes arrive; a chunk that would
 * take the total over the budget is refused (the adapter answers 503 and closes the connection).
 */
export class BodyBudget {
  private held = 0;

  constructor(readonly maxBytes: number = DEFAULT_MAX_BUFFERED_BYTES) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      throw new RangeError(`maxBufferedBytes must be a positive whole number, got ${String(maxBytes)}`);
    }
  }

  /** Bytes held now. */
  get bytesHeld(): number {
    return this.held;
  }

  /** A lease for one request's body, empty at first. */
  lease(): BodyLease {
    let leased = 0;
    return {
      grow: (bytes) => {
        if (this.held + bytes > this.maxBytes) return false;
        this.held += bytes;
        leased += bytes;
        return true;
      },
      release: () => {
        this.held -= leased;
        leased = 0;
      },
    };
  }
}

/** One request's share of the {@link BodyBudget}. */
export interface BodyLease {
  /** Takes `bytes` more; false, taking nothing, when that would go over the budget. */
  grow(bytes: number): boolean;
  /** Gives back everything taken (the body was stored, refused or dropped). Idempotent. */
  release(): void;
}
