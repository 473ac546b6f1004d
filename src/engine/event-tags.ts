import { contactIdentity } from "../events/contact-identity.js";
import { DEFAULT_CORRELATION_KEY } from "../events/contact-key.js";
import { type EventBody, type EventOf, tags } from "../events/event-types.js";

/**
 * The identity of a resolved contact: recorded with it, or (in logs written before identities
 * existed) computed from the contact as it was submitted.
 */
export function identityOfResolution(event: Pick<EventOf<"contact.resolved">, "data">): string | undefined {
  const { data } = event;
  if (data.identity !== undefined) return data.identity;
  return data.input === null ? undefined : contactIdentity(data.kind, data.input, DEFAULT_CORRELATION_KEY);
}

/**
 * The index keys an event is found by (see `EventStore.readByTags`): a job's events by `job:<id>`,
 * a resolved contact by its identity. One definition for the events appended now and for the
 * backfill of a log written before events carried tags.
 */
export function tagsOf(event: EventBody): string[] {
  switch (event.type) {
    case "enrichment.requested":
    case "job.planned":
      return [tags.job(event.data.jobId)];
    case "contact.resolved": {
      const identity = identityOfResolution(event);
      return [
        ...(identity === undefined ? [] : [tags.identity(identity)]),
        ...(event.data.jobId === null ? [] : [tags.job(event.data.jobId)]),
      ];
    }
    default:
      return [];
  }
}
