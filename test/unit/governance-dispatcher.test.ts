// The per-instance dispatcher over a scripted slot source (what the Redis or in-process gate
// answers): whose turn, refusals at once or at the waiter's limit, shutdown. Orders of events are
// asserted, not durations.
import { afterEach, describe, expect, it } from 'vitest';
import { type Grant, SlotDispatcher, type SlotSource } from '../../src/governance/dispatcher.js';
import { gcraReserve } from '../../src/governance/gcra.js';
import type { Verdict } from '../../src/governance/types.js';

interface Timeline extends SlotSource {
  pause: Verdict | null;
  /** Answer after this long (a slow Redis). */
  latencyMs: number;
  calls: string[];
  /** Slots taken on the timeline. */
  reserved: number;
  /** Most round trips under way at once. */
  mostAtOnce: number;
}

/** A shared timeline like the Redis gate's: slots `intervalMs` apart, pauses on demand. */
function timeline(intervalMs: number): Timeline {
  let tat = 0;
  let atOnce = 0;
  const src: Timeline = {
    pause: null,
    latencyMs: 0,
    calls: [],
    reserved: 0,
    mostAtOnce: 0,
    knownRefusal: () => src.pause,
    async decide(mode, maxWaitMs) {
      src.calls.push(mode);
      atOnce++;
      src.mostAtOnce = Math.max(src.mostAtOnce, atOnce);
      if (src.latencyMs) await new Promise((r) => setTimeout(r, src.latencyMs));
      atOnce--;
      if (src.pause) return src.pause;
      if (mode === 'admit') return { kind: 'go', probe: false, quotaUsed: 0 };
      const v = gcraReserve(tat, Date.now(), { intervalMs, burst: 1 }, maxWaitMs);
      if (!v.ok) return { kind: 'refuse', reason: 'rate', retryMs: v.waitMs, code: 0 };
      tat = v.tat;
      src.reserved++;
      return v.waitMs > 0
        ? { kind: 'wait', waitMs: v.waitMs, next: 'admit', quotaUsed: 0 }
        : { kind: 'go', probe: false, quotaUsed: 0 };
    },
  };
  return src;
}

let open: SlotDispatcher[] = [];
afterEach(() => {
  for (const d of open) d.close();
  open = [];
});

function dispatcher(src: SlotSource, spacingMs = 20) {
  const d = new SlotDispatcher({ source: src, spacingMs: () => spacingMs, burst: 1 });
  open.push(d);
  return d;
}

describe('slot dispatcher', () => {
  it("gives the next slot to a caller that joins behind another caller's queue", async () => {
    const src = timeline(20);
    const d = dispatcher(src);
    const order: string[] = [];
    const ask = (caller: string, tag: string) =>
      d.acquire(caller, 10_000).then((g) => {
        order.push(tag);
        return g;
      });
    const a = Array.from({ length: 10 }, (_, i) => ask('A', `A${i}`));
    await a[0];
    const b = ask('B', 'B0');
    await Promise.all([...a, b]);
    expect(order.indexOf('B0')).toBeLessThanOrEqual(2);
    expect(order.filter((x) => x.startsWith('A'))).toEqual(Array.from({ length: 10 }, (_, i) => `A${i}`));
    expect(d.waiting('A')).toBe(0);
  });

  it('hands out one slot per reservation: never more grants than slots reserved', async () => {
    const src = timeline(10);
    const d = dispatcher(src);
    const grants = await Promise.all(Array.from({ length: 6 }, () => d.acquire('A', 10_000)));
    expect(grants.every((g) => g.kind === 'go')).toBe(true);
    expect(src.reserved).toBe(6);
    // The first took the free slot; each other one's slot was slept for (not a matter of the clock).
    expect(grants.map((g) => g.kind === 'go' && g.waited)).toEqual([false, true, true, true, true, true]);
  });

  it('while the budget is idle, hands out a burst in parallel, yet never more than one future slot', async () => {
    const src = timeline(0.01); // 100,000 calls/s: every slot is free at once
    src.latencyMs = 20;
    const d = dispatcher(src, 0.01);
    const grants = await Promise.all(Array.from({ length: 40 }, (_, i) => d.acquire(`C${i % 4}`, 60_000)));
    expect(grants.every((g) => g.kind === 'go')).toBe(true);
    expect(src.mostAtOnce).toBe(9); // the main round trip and 8 extra
    expect(src.reserved).toBe(40);
  });

  it('refuses a waiter at its own limit, before the slot it could not wait for', async () => {
    const src = timeline(300);
    const d = dispatcher(src, 300);
    const first = await d.acquire('A', 10_000); // takes the free slot; the next is 300 ms away
    expect(first.kind).toBe('go');
    const events: string[] = [];
    const patient = d.acquire('B', 10_000).then((g) => events.push(`B:${g.kind}`));
    const hasty = d.acquire('C', 50).then((g: Grant) => {
      events.push(`C:${g.kind}:${g.kind === 'refuse' ? g.reason : ''}`);
    });
    await Promise.all([patient, hasty]);
    expect(events).toEqual(['C:refuse:rate', 'B:go']);
  });

  it('refuses at once a call whose own queue alone is longer than its wait limit', () => {
    const d = dispatcher(timeline(1000), 1000);
    void d.acquire('A', 60_000);
    void d.acquire('A', 60_000);
    expect(d.earliestMs('A')).toBeGreaterThanOrEqual(2000);
    expect(d.earliestMs('B')).toBe(0);
  });

  it('a refusal by the shared timeline refuses at once the waiters that cannot wait that long', async () => {
    const src = timeline(400);
    const d = dispatcher(src, 400);
    await d.acquire('A', 10_000);
    const [b, c] = await Promise.all([d.acquire('B', 100), d.acquire('C', 150)]);
    // Refused by the timeline's answer (its own retry figure, under 400 ms), not by their timers.
    for (const g of [b, c]) {
      expect(g).toMatchObject({ kind: 'refuse', reason: 'rate' });
      expect(g.kind === 'refuse' && g.retryMs).toBeLessThanOrEqual(400);
    }
    expect(src.calls).toEqual(['reserve', 'reserve']);
    // The next caller with a longer limit still gets the slot the others could not wait for.
    expect(await d.acquire('D', 10_000)).toMatchObject({ kind: 'go' });
  });

  it('a pause refuses every waiter with its reason and upstream code', async () => {
    const src = timeline(1);
    src.pause = { kind: 'refuse', reason: 'backoff', retryMs: 2000, code: 302 };
    const d = dispatcher(src);
    const gs = await Promise.all([d.acquire('A', 5000), d.acquire('B', 5000)]);
    for (const g of gs) expect(g).toMatchObject({ kind: 'refuse', reason: 'backoff', code: 302 });
  });

  it('lets a round trip already under way serve a waiter whose limit passed meanwhile', async () => {
    const src = timeline(1);
    src.latencyMs = 80;
    const d = dispatcher(src);
    expect(await d.acquire('A', 5)).toMatchObject({ kind: 'go' });
  });

  it('takes no future slot beside the one it sleeps on: parallel round trips only take free ones', async () => {
    const src = timeline(100);
    const d = dispatcher(src, 100);
    const grants = Array.from({ length: 5 }, () => d.acquire('A', 10_000));
    await grants[0];
    await new Promise((r) => setTimeout(r, 30));
    // One slot used, one reserved ahead; nothing else is held on the shared timeline.
    expect(src.reserved).toBe(2);
    await Promise.all(grants);
    expect(src.reserved).toBe(5);
  });

  it('refuses rather than leaving waiters hanging if the source ever throws', async () => {
    const d = dispatcher({
      knownRefusal: () => null,
      decide: async () => {
        throw new Error('bug');
      },
    });
    expect(await d.acquire('A', 60_000)).toMatchObject({ kind: 'refuse', reason: 'rate' });
  });

  it('answers every waiter on close, and every later call at once', async () => {
    const src = timeline(10_000);
    const d = dispatcher(src, 10_000);
    await d.acquire('A', 60_000);
    const waiting = [d.acquire('A', 60_000), d.acquire('B', 60_000)];
    await new Promise((r) => setTimeout(r, 20));
    d.close();
    expect(await Promise.all(waiting)).toEqual([{ kind: 'closing' }, { kind: 'closing' }]);
    expect(await d.acquire('C', 60_000)).toEqual({ kind: 'closing' });
  });
});
