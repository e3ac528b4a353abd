import { describe, expect, it } from 'vitest';
import { backoffMs, cooldownMs, DEFAULT_BACKOFF, DEFAULT_CIRCUIT } from '../../src/governance/backoff.js';
import { LocalGate } from '../../src/governance/local-gate.js';
import type { GateContext } from '../../src/governance/types.js';

describe('302 back-off', () => {
  it('doubles on each repeat from 1 s up to the 60 s cap', () => {
    const pauses = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffMs(n, DEFAULT_BACKOFF, 0));
    expect(pauses).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('jitter only lengthens a pause, by at most half', () => {
    expect(backoffMs(1, DEFAULT_BACKOFF, 0.5)).toBe(1250);
    expect(backoffMs(1, DEFAULT_BACKOFF, 0)).toBe(1000);
    expect(backoffMs(3, DEFAULT_BACKOFF, 1)).toBe(6000);
    expect(backoffMs(9, DEFAULT_BACKOFF, 1)).toBe(90_000);
  });
});

describe('credential circuit cool-down', () => {
  it('grows from 60 s to a 10 min cap on failed probes', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => cooldownMs(n, DEFAULT_CIRCUIT))).toEqual([
      60_000, 120_000, 240_000, 480_000, 600_000, 600_000,
    ]);
  });
});

describe('in-process governance (Redis away)', () => {
  const ctx: GateContext = {
    dayId: 'd1',
    dayLeftMs: 50_000,
    intervalMs: 100,
    epIntervalMs: 0,
    burst: 1,
    quota: 0,
    epQuota: 0,
    probeTtlMs: 5000,
  };
  const gate = () =>
    new LocalGate({
      backoff: { baseMs: 1000, capMs: 8000 },
      circuit: { cooldownMs: 1000, cooldownCapMs: 4000 },
      strikesTtlMs: 80_000,
    });

  it('counts a burst of 302s once, grows on a repeat after the pause and resets on success', () => {
    const g = gate();
    expect(g.record('ep', 0, '302', 302, false, ctx, 0)).toMatchObject({
      effect: 'backoff',
      ms: 1000,
      strikes: 1,
    });
    expect(g.record('ep', 10, '302', 302, false, ctx, 0)).toMatchObject({ effect: 'paused', strikes: 1 });
    expect(g.gate('ep', 'reserve', 500, ctx, 1000, 0)).toMatchObject({
      kind: 'refuse',
      reason: 'backoff',
      retryMs: 500,
    });
    expect(g.record('ep', 1200, '302', 302, false, ctx, 0)).toMatchObject({
      effect: 'backoff',
      ms: 2000,
      strikes: 2,
    });
    g.record('ep', 3300, 'ok', 0, false, ctx, 0);
    expect(g.record('ep', 3400, '302', 302, false, ctx, 0)).toMatchObject({
      effect: 'backoff',
      ms: 1000,
      strikes: 1,
    });
  });

  it('after a 303 refuses until the day ends, and not the next day', () => {
    const g = gate();
    g.record('ep', 0, '303', 303, false, ctx, 0);
    expect(g.gate('ep', 'reserve', 10, ctx, 1000, 0)).toMatchObject({
      reason: 'dayover',
      retryMs: 50_000,
      code: 303,
    });
    expect(g.gate('ep', 'reserve', 10, { ...ctx, dayId: 'd2' }, 1000, 0)).toMatchObject({ kind: 'go' });
  });

  it('opens the circuit once, lets exactly one probe through after the cool-down, reopens longer on failure', () => {
    const g = gate();
    expect(g.record('ep', 0, 'credential', 601, false, ctx, 0)).toMatchObject({ effect: 'opened', ms: 1000 });
    expect(g.record('ep', 5, 'credential', 601, false, ctx, 0)).toMatchObject({ effect: 'already' });
    expect(g.gate('ep', 'reserve', 500, ctx, 1000, 0)).toMatchObject({ reason: 'circuit', code: 601 });
    expect(g.gate('ep', 'reserve', 1000, ctx, 1000, 0)).toEqual({ kind: 'go', probe: true, quotaUsed: 0 });
    expect(g.gate('ep', 'reserve', 1100, ctx, 1000, 0)).toMatchObject({ reason: 'circuit' });
    expect(g.record('ep', 1150, 'credential', 601, true, ctx, 0)).toMatchObject({
      effect: 'reopened',
      ms: 2000,
      strikes: 2,
    });
    expect(g.gate('ep', 'reserve', 3100, ctx, 1000, 0)).toMatchObject({ reason: 'circuit' });
    expect(g.gate('ep', 'reserve', 3150, ctx, 1000, 0)).toMatchObject({ kind: 'go', probe: true });
    expect(g.record('ep', 3170, 'ok', 0, true, ctx, 0).closed).toBe(true);
    expect(g.gate('ep', 'reserve', 3300, ctx, 1000, 0)).toMatchObject({ kind: 'go', probe: false });
  });

  it('spends only its share of the quota', () => {
    const g = gate();
    const q = { ...ctx, quota: 10, intervalMs: 1 };
    const verdicts = [0, 10, 20, 30].map((t) => g.gate('ep', 'reserve', t, q, 0, 3).kind);
    expect(verdicts).toEqual(['go', 'go', 'go', 'refuse']);
  });
});
