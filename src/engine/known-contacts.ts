import { type EventOf, parseEvent, tags } from "../events/event-types.js";
import type { EventStore } from "../events/store.js";
import { identityOfResolution } from "./event-tags.js";

/** A resolution a job may take instead of sending the contact again. */
export type ResolvedContact = EventOf<"contact.resolved">;

/**
 * Contacts already resolved in the log, looked up by identity through the store's tag index (no
 * scan of the log): for each identity, its latest resolution that `usable` accepts.
 */
export class KnownContacts {
  constructor(private readonly store: EventStore) {}

  /** The latest usable resolution of each identity that has one. */
  async latest(
    identities: readonly string[],
    usable: (event: ResolvedContact) => boolean,
  ): Promise<Map<string, ResolvedContact>> {
    const found = new Map<string, ResolvedContact>();
    if (identities.length === 0) return found;
    const wanted = new Set(identities);
    const stored = await this.store.readByTags(identities.map(tags.identity), {
      types: ["contact.resolved"],
    });
    for (const raw of stored) {
      const event = parseEvent(raw);
      if (event.type !== "contact.resolved") continue;
      const identity = identityOfResolution(event);
      // In position order: a later usable resolution replaces an earlier one.
      if (identity !== undefined && wanted.has(identity) && usable(event)) found.set(identity, event);
    }
    return found;
  }

  /** The resolution of one contact of one enrichment, by its dedup key, if it is stored. */
  async resolution(dedupKey: string): Promise<ResolvedContact | undefined> {
    const raw = await this.store.findByDedupKey(dedupKey);
    if (!raw) return undefined;
    const event = parseEvent(raw);
    return event.type === "contact.resolved" ? event : undefined;
  }
}
