import type { PollLeases } from "../../src/engine/poll-leases.js";

/** One lease table shared by several in-process engines (as Redis would be), on the (fake) clock. */
export class SharedLeaseTable {
  private readonly leases = new Map<string, { owner: string; until: number }>();
  /** Owners whose process "died": their calls hang up (no renewal, no release). */
  readonly dead = new Set<string>();

  /** The leases as one instance sees them. */
  view(): PollLeases {
    return {
      acquire: async (id, owner, ttlMs) => {
        if (this.dead.has(owner)) return false;
        const now = Date.now();
        const lease = this.leases.get(id);
        if (!lease || lease.until <= now || lease.owner === owner) {
          this.leases.set(id, { owner, until: now + ttlMs });
          return true;
        }
        return false;
      },
      release: async (id, owner) => {
        if (this.dead.has(owner)) return;
        if (this.leases.get(id)?.owner === owner) this.leases.delete(id);
      },
      close: async () => {},
    };
  }

  holder(id: string): string | undefined {
    const lease = this.leases.get(id);
    return lease && lease.until > Date.now() ? lease.owner : undefined;
  }
}
