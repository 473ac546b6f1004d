/** Text for HTML (element content and attribute values). */
export function esc(value: unknown): string {
  return String(value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** A duration, precise below a second (a run at a small time scale lasts seconds): `340 ms`, `2.3 s`, `1 min 05 s`. */
export function formatSpan(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${Math.round(ms)} ms`;
  if (abs < 10_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (abs < 60_000) return `${Math.round(ms / 1_000)} s`;
  const seconds = Math.round(abs / 1_000);
  const sign = ms < 0 ? "-" : "";
  if (seconds < 3_600)
    return `${sign}${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
  const minutes = Math.round(seconds / 60);
  return `${sign}${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** A short label for an axis tick or a bin edge: `500ms`, `2s`, `1m`, `1m30s`, `2h`. */
export function shortSpan(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1_000).toFixed(1)}s`;
  if (ms < 3_600_000) {
    const minutes = Math.floor(ms / 60_000);
    const seconds = Math.round((ms % 60_000) / 1_000);
    return seconds === 0 ? `${minutes}m` : `${minutes}m${seconds}s`;
  }
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.round((ms % 3_600_000) / 60_000);
  return minutes === 0 ? `${hours}h` : `${hours}h${minutes}m`;
}

const STEPS: readonly number[] = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
  600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/** Round instants for an axis of `spanMs`: multiples of a step giving at most `most` ticks. */
export function ticks(spanMs: number, most = 8): number[] {
  const step = STEPS.find((candidate) => spanMs / candidate <= most) ?? Math.ceil(spanMs / most);
  const out: number[] = [];
  for (let at = 0; at <= spanMs + 1e-9; at += step) out.push(at);
  return out;
}

/** Round counts for a count axis up to `max`: 0 and at most `most` steps of 1, 2, 5, 10, 20… */
export function countTicks(max: number, most = 5): number[] {
  let step = 1;
  for (let scale = 1; ; scale *= 10) {
    const found = [1, 2, 5].map((m) => m * scale).find((candidate) => max / candidate <= most);
    if (found !== undefined) {
      step = found;
      break;
    }
  }
  const out: number[] = [];
  for (let value = 0; value <= max; value += step) out.push(value);
  return out;
}

/** An instant as UTC text: `2026-05-02 14:03:07 UTC`. */
export function utc(at: number): string {
  return `${new Date(at).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A share as a whole percentage of `total` (0 when the total is 0). */
export function percent(part: number, total: number): number {
  return total === 0 ? 0 : Math.round((part / total) * 100);
}
