/**
 * A small seeded pseudo-random source (mulberry32), so that the simulator, jitter and
 * benchmarks are reproducible from a seed.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** A float in [min, max). */
  between(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** An integer in [0, n). */
  int(n: number): number;
}

/** A {@link Random} whose sequence is fixed by `seed` (same seed, same numbers). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    between: (min, max) => min + (max - min) * next(),
    chance: (p) => p > 0 && next() < p,
    int: (n) => Math.floor(next() * n),
  };
}

/** A Random backed by Math.random, for production jitter. */
export const systemRandom: Random = {
  next: () => Math.random(),
  between: (min, max) => min + (max - min) * Math.random(),
  chance: (p) => p > 0 && Math.random() < p,
  int: (n) => Math.floor(Math.random() * n),
};

/** Applies ±`ratio` jitter to a duration. */
export function jitter(ms: number, ratio: number, random: Random): number {
  if (ratio <= 0) return ms;
  return ms * (1 - ratio + 2 * ratio * random.next());
}
