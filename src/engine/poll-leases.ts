/**
 * Who polls an enrichment. With several engine instances on one log, each follows every outstanding
 * enrichment, but only the holder of an enrichment's lease polls it: polling is spread among the
 * live instances, no enrichment is polled twice as often, and a lease that is not renewed (its
 * holder died) expires, so another instance takes over.
 */
export interface PollLeases {
  /**
   * Takes the lease on `enrichmentId` for `ttlMs`, or renews it if `owner` holds it already.
   * Resolves with whether `owner` holds it now.
   */
  acquire(enrichmentId: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up (when the enrichment settled or the engine closes), if `owner` holds it. */
  release(enrichmentId: string, owner: string): Promise<void>;
  /** Releases what the leases hold (connections). */
  close(): Promise<void>;
}

/** Leases for a single instance: it always holds them. The default. */
export class LocalPollLeases implements PollLeases {
  /** Always true: nobody else polls. */
  async acquire(): Promise<boolean> {
    return true;
  }

  /** Nothing to give up. */
  async release(): Promise<void> {}

  /** Nothing to close. */
  async close(): Promise<void> {}
}
