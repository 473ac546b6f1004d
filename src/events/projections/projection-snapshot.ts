import { z } from "zod";
import { EVENT_SCHEMAS, KeyingSchema } from "../event-types.js";
import type { BatchState, EnrichmentState } from "./enrichment-state.js";
import { emptyProjection, type ProjectionState } from "./projection-state.js";

/**
 * The projection's state as JSON, to be saved with the log position it reflects (a snapshot) and
 * read back at start instead of replaying the whole log. Versioned: a snapshot of another version
 * is not read (the log is replayed instead), so changing the shape means bumping this number.
 */
export const PROJECTION_SNAPSHOT_VERSION = 2;

const JsonObject = z.record(z.string(), z.unknown());
const LookupKind = z.enum(["enrich", "reverse"]);

const BatchSchema = z.object({
  batchId: z.string(),
  jobId: z.string(),
  batchIndex: z.number(),
  contactsDigest: z.string(),
  kind: LookupKind,
  name: z.string(),
  keying: KeyingSchema,
  /** [key, submitted contact, identity] in submission order. */
  contacts: z.array(z.tuple([z.string(), JsonObject, z.string()])),
  mode: z.enum(["webhook", "polling", "both"]),
  webhookUrl: z.string().nullable(),
  requestedAt: z.number(),
  position: z.number(),
  enrichmentId: z.string().nullable(),
  acceptedAt: z.number().nullable(),
  rejected: EVENT_SCHEMAS["enrichment.rejected"].nullable(),
  abandoned: EVENT_SCHEMAS["enrichment.abandoned"].nullable(),
});

const EnrichmentSchema = z.object({
  enrichmentId: z.string(),
  kind: LookupKind,
  batchId: z.string().nullable(),
  resolved: z.array(z.string()),
  completed: EVENT_SCHEMAS["enrichment.completed"].nullable(),
  failed: EVENT_SCHEMAS["enrichment.failed"].nullable(),
  fallback: EVENT_SCHEMAS["fallback.activated"].nullable(),
  lastObservedAt: z.number().nullable(),
  webhookSeen: z.boolean(),
  lastPendingAt: z.number().nullable(),
});

/** The JSON of a projection's state. */
export const ProjectionSnapshotSchema = z.object({
  batches: z.array(BatchSchema),
  enrichments: z.array(EnrichmentSchema),
  openIdentities: z.array(z.tuple([z.string(), z.string(), z.string()])),
  recentCalls: z.array(z.number()),
  totals: z.object({
    batches: z.number(),
    contactsSent: z.number(),
    resolved: z.object({ webhook: z.number(), poll: z.number() }),
    reused: z.number(),
    credits: z.number(),
    completed: z.number(),
    failed: z.number(),
  }),
  settled: z.array(
    z.object({
      batchId: z.string(),
      jobId: z.string(),
      name: z.string(),
      enrichmentId: z.string().nullable(),
      mode: z.enum(["webhook", "polling", "both"]),
      contacts: z.number(),
      resolved: z.number(),
      state: z.string(),
      detail: z.string().nullable(),
    }),
  ),
  quarantined: z.array(z.object({ position: z.number(), digest: z.string(), reason: z.string() })),
  /** [size class, observed durations oldest first] (version 2 on). */
  completionTimes: z.array(z.tuple([z.number().int().nonnegative(), z.array(z.number().nonnegative())])),
  position: z.number(),
});
/** The JSON of a projection's state (see {@link ProjectionSnapshotSchema}). */
export type ProjectionSnapshot = z.infer<typeof ProjectionSnapshotSchema>;

/** The state as JSON (nothing shared with the live state). */
export function toSnapshot(state: ProjectionState): ProjectionSnapshot {
  return structuredClone({
    batches: [...state.batches.values()].map(({ keys, inputs, identities, ...batch }) => ({
      ...batch,
      contacts: keys.map(
        (key) =>
          [key, inputs.get(key) ?? {}, identities.get(key) ?? ""] as [
            string,
            Record<string, unknown>,
            string,
          ],
      ),
    })),
    enrichments: [...state.enrichments.values()].map((enrichment) => ({
      ...enrichment,
      resolved: [...enrichment.resolved],
    })),
    openIdentities: [...state.openIdentities].map(
      ([identity, open]) => [identity, open.batchId, open.key] as [string, string, string],
    ),
    recentCalls: [...state.recentCalls],
    totals: state.totals,
    settled: state.settled,
    quarantined: state.quarantined,
    completionTimes: [...state.completionTimes].map(
      ([size, durations]) => [size, [...durations]] as [number, number[]],
    ),
    position: state.position,
  });
}

/**
 * The state a snapshot holds. Throws (a zod error saying where) when the JSON is not a snapshot of
 * this version's shape.
 */
export function fromSnapshot(data: unknown): ProjectionState {
  const snapshot = ProjectionSnapshotSchema.parse(data);
  const state = emptyProjection();
  for (const { contacts, ...batch } of snapshot.batches) {
    const restored: BatchState = {
      ...batch,
      keys: contacts.map(([key]) => key),
      inputs: new Map(contacts.map(([key, contact]) => [key, contact])),
      identities: new Map(contacts.map(([key, , identity]) => [key, identity])),
    };
    state.batches.set(batch.batchId, restored);
  }
  for (const enrichment of snapshot.enrichments) {
    const restored: EnrichmentState = { ...enrichment, resolved: new Set(enrichment.resolved) };
    state.enrichments.set(enrichment.enrichmentId, restored);
  }
  for (const [identity, batchId, key] of snapshot.openIdentities)
    state.openIdentities.set(identity, { batchId, key });
  state.recentCalls.push(...snapshot.recentCalls);
  Object.assign(state.totals, snapshot.totals);
  state.settled.push(...snapshot.settled);
  state.quarantined.push(...snapshot.quarantined);
  for (const [size, durations] of snapshot.completionTimes) state.completionTimes.set(size, durations);
  state.position = snapshot.position;
  return state;
}
