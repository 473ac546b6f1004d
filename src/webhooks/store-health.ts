import type { EventStore } from "../events/store.js";
import { answer, type ReceiveAnswer } from "./http-answer.js";

/** Options of the health probe ({@link WebhookReceiver.health}). */
export interface HealthOptions {
  /**
   * How long a failed delivery append keeps the probe at 503 when no append succeeded since.
   * Default 60 s: the provider retries a delivery every minute, so a retry that succeeds clears it
   * within that time, and a store that stays broken fails again.
   */
  failureHoldMs?: number;
  /** How long the probe waits for the store to answer a read of its head. Default 2 s. */
  probeTimeoutMs?: number;
}

/** Default {@link HealthOptions.failureHoldMs}. */
export const DEFAULT_HEALTH_FAILURE_HOLD_MS = 60_000;
/** Default {@link HealthOptions.probeTimeoutMs}. */
export const DEFAULT_HEALTH_PROBE_TIMEOUT_MS = 2_000;

/** The store's state as the probe reports it. */
export type StoreState = "ready" | "append-failing" | "unreachable" | "stopped";

/**
 * Whether the receiver can append, known without writing anything on a probe: the outcome of the
 * last delivery append, and a read of the store's head (which fails once the store is closed, and
 * for PostgreSQL when the server cannot be reached). The probe is 503 while the last append failed
 * (for at most {@link HealthOptions.failureHoldMs}, unless one succeeds first: `append-failing`),
 * when the read fails or takes longer than {@link HealthOptions.probeTimeoutMs} (`unreachable`),
 * and once the receiver is closed (`stopped`); 200 (`ready`) otherwise.
 */
export class StoreHealth {
  private lastAppend: { ok: boolean; at: number } | undefined;
  private readonly failureHoldMs: number;
  private readonly probeTimeoutMs: number;

  constructor(
    private readonly store: EventStore,
    private readonly now: () => number,
    options: HealthOptions = {},
  ) {
    this.failureHoldMs = options.failureHoldMs ?? DEFAULT_HEALTH_FAILURE_HOLD_MS;
    this.probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_HEALTH_PROBE_TIMEOUT_MS;
  }

  /** Records the outcome of a delivery append. */
  record(ok: boolean): void {
    this.lastAppend = { ok, at: this.now() };
  }

  /** The probe's answer: 200 when the store can append, 503 with the reason otherwise. */
  async check(closed: boolean): Promise<ReceiveAnswer> {
    const last = this.lastAppend;
    const lastAppend = last ? { ok: last.ok, at: new Date(last.at).toISOString() } : { ok: null, at: null };
    const state = closed ? "stopped" : await this.state(last);
    return state === "ready"
      ? answer(200, { status: "ok", store: state, lastAppend }, { "cache-control": "no-store" })
      : answer(503, { status: "unavailable", store: state, lastAppend }, { "cache-control": "no-store" });
  }

  private async state(last: { ok: boolean; at: number } | undefined): Promise<StoreState> {
    if (last && !last.ok && this.now() - last.at < this.failureHoldMs) return "append-failing";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.probeTimeoutMs);
      timer.unref?.();
    });
    try {
      const outcome = await Promise.race([this.store.head().then(() => "read" as const), timeout]);
      return outcome === "read" ? "ready" : "unreachable";
    } catch {
      return "unreachable";
    } finally {
      clearTimeout(timer);
    }
  }
}
