import { errorMessage } from "../api/errors.js";
import { type DomainEvent, parseEvent, streams } from "../events/event-types.js";
import { EnrichmentsProjection } from "../events/projections/enrichments-projection.js";
import { PROJECTION_SNAPSHOT_VERSION } from "../events/projections/projection-snapshot.js";
import type { EventStore, StoredEvent } from "../events/store.js";
import type { Logger } from "../internal/logger.js";
import { tagsOf } from "./event-tags.js";

/** The name of the engine's projection snapshot in the store. */
export const PROJECTION_SNAPSHOT = "fullenrich-rx.projection";
/** The checkpoint up to which every event carries its tags (events appended since do on their own). */
const TAGGED = "fullenrich-rx.tagged";
/** A snapshot is saved every this many events (and at a clean shutdown). */
export const SNAPSHOT_EVERY = 5_000;
/** Tags written per `addTags` call while a log written before tags existed is backfilled. */
const BACKFILL_PAGE = 1_000;

/** What a {@link ProjectionKeeper} needs. */
export interface ProjectionKeeperDeps {
  store: EventStore;
  logger: Logger;
  /** Events between two snapshots. Default {@link SNAPSHOT_EVERY}. */
  snapshotEvery?: number;
  /** Reads only: no snapshot saved, no tags backfilled (for `status`). */
  readOnly?: boolean;
}

/**
 * Keeps the engine's projection proportional to open work, not to the log's length:
 * - at start, it restores the latest snapshot (a missing, unreadable or older-version one is
 *   ignored, logged, and the whole log replayed: a snapshot is an optimisation, never the truth);
 * - before an observation of an enrichment no longer in memory (settled and dropped), it reads
 *   back that enrichment's and its batch's events, up to the observation;
 * - after an event that ends work, it drops that work from memory;
 * - every so many events, and at a clean shutdown, it saves a snapshot with its log position;
 * - while the whole log is replayed from its first event, it tags the events of a log written
 *   before events carried tags (once: a checkpoint remembers how far).
 */
export class ProjectionKeeper {
  readonly projection: EnrichmentsProjection;
  private readonly every: number;
  private sinceSnapshot = 0;
  private savedAt: number;
  private saving: Promise<void> | null = null;
  private backfill: { upTo: number; pending: { position: number; tags: string[] }[] } | null = null;
  /** The settled enrichment brought back for the event being handled, to drop again after it. */
  private broughtBack: string | null = null;

  private constructor(
    private readonly deps: ProjectionKeeperDeps,
    projection: EnrichmentsProjection,
  ) {
    this.projection = projection;
    this.every = deps.snapshotEvery ?? SNAPSHOT_EVERY;
    this.savedAt = projection.position;
  }

  /** Restores the latest snapshot, or starts empty (then the whole log is replayed). */
  static async load(deps: ProjectionKeeperDeps): Promise<ProjectionKeeper> {
    const keeper = new ProjectionKeeper(deps, await restore(deps));
    if (keeper.projection.position === 0 && !deps.readOnly) {
      const [tagged, head] = await Promise.all([deps.store.getCheckpoint(TAGGED), deps.store.head()]);
      if (tagged < head) keeper.backfill = { upTo: head, pending: [] };
    }
    return keeper;
  }

  /** Where the replay starts: after the snapshot's position. */
  get from(): number {
    return this.projection.position;
  }

  /**
   * Folds the log after the snapshot into the projection, page by page, as the engine would
   * (without reconciling): for reading the projection without an engine (`status`).
   */
  async catchUp(pageSize = 1_000): Promise<void> {
    for (;;) {
      const page = await this.deps.store.read({ after: this.projection.position, limit: pageSize });
      if (page.length === 0) return;
      for (const stored of page) {
        const event = parseEvent(stored);
        await this.prepare(event);
        this.projection.evolve(event);
        this.settle(event);
      }
    }
  }

  /** Before an event is folded: brings back the settled enrichment it observes, if it left memory. */
  async prepare(event: DomainEvent): Promise<void> {
    if (this.backfill) await this.tag(event);
    if (event.type !== "webhook.received" && event.type !== "poll.observed") return;
    const { enrichmentId } = event.data;
    if (this.projection.enrichment(enrichmentId)) return;
    const own = before(await this.deps.store.readStream(streams.enrichment(enrichmentId)), event.position);
    const batchId = batchIdOf(own);
    const batch =
      batchId === null
        ? []
        : before(await this.deps.store.readStream(streams.batch(batchId)), event.position);
    for (const past of [...batch, ...own].sort((a, b) => a.position - b.position)) {
      this.projection.evolve(parseEvent(past));
    }
    if (own.length > 0) this.broughtBack = enrichmentId;
  }

  /** After an event was handled: drops the work it ended, saves a snapshot when it is time. */
  settle(event: DomainEvent): void {
    if (event.type === "enrichment.completed" || event.type === "enrichment.failed") {
      this.projection.compact({ enrichmentId: event.data.enrichmentId });
    } else if (event.type === "enrichment.rejected") {
      this.projection.compact({ batchId: event.data.batchId });
    }
    if (this.broughtBack !== null) {
      this.projection.compact({ enrichmentId: this.broughtBack });
      this.broughtBack = null;
    }
    if (++this.sinceSnapshot >= this.every && this.saving === null && !this.deps.readOnly) this.save();
  }

  /** Saves a snapshot now if the projection moved since the last one (a clean shutdown). */
  async flush(): Promise<void> {
    if (this.deps.readOnly) return;
    await this.saving;
    if (this.projection.position > this.savedAt) this.save();
    await this.saving;
  }

  /** Saves the projection as it is now, in the background (one save at a time). */
  private save(): void {
    const position = this.projection.position;
    const data = this.projection.snapshot();
    this.sinceSnapshot = 0;
    this.saving = this.deps.store
      .saveSnapshot(PROJECTION_SNAPSHOT, { position, version: PROJECTION_SNAPSHOT_VERSION, data })
      .then(
        () => {
          this.savedAt = Math.max(this.savedAt, position);
        },
        (error: unknown) => {
          this.deps.logger.warn("could not save the projection's snapshot; the next start replays more", {
            error: errorMessage(error),
          });
        },
      )
      .finally(() => {
        this.saving = null;
      });
  }

  private async tag(event: DomainEvent): Promise<void> {
    const backfill = this.backfill as NonNullable<typeof this.backfill>;
    const eventTags = tagsOf(event);
    if (event.position <= backfill.upTo && eventTags.length > 0) {
      backfill.pending.push({ position: event.position, tags: eventTags });
    }
    const last = event.position >= backfill.upTo;
    if (backfill.pending.length >= BACKFILL_PAGE || last) {
      await this.deps.store.addTags(backfill.pending.splice(0));
    }
    if (last) {
      await this.deps.store.setCheckpoint(TAGGED, backfill.upTo);
      this.backfill = null;
    }
  }
}

/** The latest snapshot's projection, or an empty one (saying why when one was there). */
async function restore(deps: ProjectionKeeperDeps): Promise<EnrichmentsProjection> {
  try {
    const snapshot = await deps.store.loadSnapshot(PROJECTION_SNAPSHOT);
    if (snapshot === null) return EnrichmentsProjection.empty();
    if (snapshot.version !== PROJECTION_SNAPSHOT_VERSION) {
      deps.logger.info("the projection's snapshot is of another version; replaying the log instead", {
        version: snapshot.version,
      });
      return EnrichmentsProjection.empty();
    }
    const projection = EnrichmentsProjection.restore(snapshot.data);
    if (projection.position !== snapshot.position) throw new Error("its position does not match its data");
    return projection;
  } catch (error) {
    deps.logger.warn("the projection's snapshot cannot be read; replaying the log instead", {
      error: errorMessage(error).slice(0, 300),
    });
    return EnrichmentsProjection.empty();
  }
}

function before(events: readonly StoredEvent[], position: number): StoredEvent[] {
  return events.filter((event) => event.position < position);
}

/** The batch an enrichment's own events name, if any. */
function batchIdOf(events: readonly StoredEvent[]): string | null {
  for (const event of events) {
    const batchId = (event.data as { batchId?: unknown }).batchId;
    if (typeof batchId === "string") return batchId;
  }
  return null;
}
