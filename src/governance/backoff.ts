// How long the gateway stays away from the upstream after it pushed back. Pure, and mirrored line
// for line by the Lua in redis-scripts.ts (which cannot import this).

export interface BackoffPolicy {
  /** First pause after a 302. */
  baseMs: number;
  /** Longest pause, however many 302s in a row. */
  capMs: number;
}

export interface CircuitPolicy {
  /** First cool-down after a credential code (100/600/601/602). */
  cooldownMs: number;
  /** Longest cool-down after failed probes. */
  cooldownCapMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, capMs: 60_000 };
export const DEFAULT_CIRCUIT: CircuitPolicy = { cooldownMs: 60_000, cooldownCapMs: 600_000 };

/** Doubling from `base` on each repeat, capped. `strikes` counts from 1. */
function doubling(strikes: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, strikes - 1));
}

/**
 * The pause after the `strikes`-th 302 in a row. Jitter only lengthens (by up to half): instances
 * that resume together would meet the upstream's limit together, and a pause shorter than asked
 * for would invite the next 302.
 */
export function backoffMs(strikes: number, policy: BackoffPolicy, jitter01: number): number {
  return Math.round(doubling(strikes, policy.baseMs, policy.capMs) * (1 + 0.5 * jitter01));
}

/** The cool-down after the `strikes`-th credential refusal in a row (a failed probe adds one). */
export function cooldownMs(strikes: number, policy: CircuitPolicy): number {
  return doubling(strikes, policy.cooldownMs, policy.cooldownCapMs);
}
