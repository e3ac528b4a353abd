// The cache rules of CacheService on a stepped clock: hit, stale-while-revalidate, stale-if-error,
// not found, single flight (in process and across instances), forced refresh, purge and expiry.
// No Redis and no sleeping: the store is the in-process one, the coordinator an in-memory twin of
// the Redis lease, the upstream a fetch whose answers the test releases.
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { type CacheOutcome, CacheService } from '../../src/cache/cache-service.js';
import type { Windows } from '../../src/cache/entry.js';
import { MemoryStore } from '../../src/cache/memory-store.js';
import { type Coordinator, localCoordinator, type SharedOutcome } from '../../src/cache/store.js';
import { type EndpointCall, spreadInfoCall } from '../../src/catalogue/call.js';
import { spreadParamsOf } from '../../src/catalogue/keys.js';
import { GatewayError } from '../../src/errors.js';
import { callerRef } from '../../src/limits/caller-ref.js';
import { callerRefusal } from '../../src/limits/caller-refusal.js';
import type { UpstreamResult } from '../../src/upstream/client.js';
import { upstreamError } from '../../src/upstream/codes.js';
import { QUERY_DEFAULTS, type SpreadParams } from '../../src/upstream/params.js';

const log = pino({ level: 'silent' });
const W: Windows = { freshMs: 60_000, staleMs: 600_000, notFoundMs: 30_000 };
const params = (oAuthorId = 'a1', extra: Partial<SpreadParams> = {}): SpreadParams => ({
  ...QUERY_DEFAULTS,
  oAuthorId,
  ...extra,
});
const ok = (n: number): UpstreamResult => ({ kind: 'ok', data: { play_mid: String(n) }, requestId: `r${n}` });

/** A fetch whose calls wait until the test settles them, so concurrency is explicit. */
class FakeUpstream {
  readonly calls: Array<{
    params: SpreadParams;
    resolve: (r: UpstreamResult) => void;
    reject: (e: unknown) => void;
  }> = [];
  /** When set, calls settle at once with this. */
  auto: (() => UpstreamResult) | null = null;

  fetch = (c: EndpointCall): Promise<UpstreamResult> => {
    const p = spreadParamsOf(c.tuple);
    if (this.auto) {
      const auto = this.auto;
      this.calls.push({ params: p, resolve: () => {}, reject: () => {} });
      return Promise.resolve().then(auto);
    }
    return new Promise((resolve, reject) => this.calls.push({ params: p, resolve, reject }));
  };

  /** Waits until `n` calls have started (they start after a few awaited store reads). */
  async started(n: number): Promise<void> {
    for (let i = 0; i < 100 && this.calls.length < n; i++) await new Promise((r) => setImmediate(r));
    expect(this.calls.length).toBe(n);
  }
}

/** The Redis lease's contract in memory: one holder per key; waiters get its outcome. */
class SharedLeases implements Coordinator {
  private readonly held = new Map<string, Array<(o: SharedOutcome | 'timeout') => void>>();

  async acquire(key: string) {
    if (this.held.has(key)) return null;
    this.held.set(key, []);
    return {
      release: async (o: SharedOutcome) => this.end(key, o),
    };
  }

  /** A holder that died: its lease lapses and its waiters time out. */
  lapse(key: string): void {
    this.end(key, 'timeout');
  }

  wait(key: string): Promise<SharedOutcome | 'timeout'> {
    const waiters = this.held.get(key);
    if (!waiters) return Promise.resolve({ ok: true });
    return new Promise((resolve) => waiters.push(resolve));
  }

  private end(key: string, o: SharedOutcome | 'timeout') {
    const waiters = this.held.get(key) ?? [];
    this.held.delete(key);
    for (const w of waiters) w(o);
  }
}

let clock: number;
const now = () => clock;

function service(o: { store?: MemoryStore; coordinator?: Coordinator; upstream: FakeUpstream }) {
  const outcomes: string[] = [];
  const coalesced: string[] = [];
  const revalidated: boolean[] = [];
  const svc = new CacheService({
    store: o.store ?? new MemoryStore(100, now),
    coordinator: o.coordinator ?? localCoordinator,
    fetch: o.upstream.fetch,
    windows: W,
    keyPrefix: 't:',
    fetchDeadlineMs: 5_000,
    now,
    events: {
      outcome: (outcome) => outcomes.push(outcome),
      coalesced: (scope) => coalesced.push(scope),
      revalidated: (r) => revalidated.push(r),
    },
  });
  return { svc, outcomes, coalesced, revalidated };
}

const CALLER = callerRef({ name: 'svc', anonymous: false }, 'caller:svc');
const get = (svc: CacheService, p = params(), force = false) =>
  svc.get(spreadInfoCall(p), { log, force, caller: CALLER });
const outcomeOf = async (p: Promise<{ outcome: CacheOutcome }>) => (await p).outcome;
const settle = () => new Promise((r) => setImmediate(r));

describe('CacheService cache rules', () => {
  let up: FakeUpstream;
  beforeEach(() => {
    clock = 1_700_000_000_000;
    up = new FakeUpstream();
  });

  it('answers a miss from the upstream, then hits without a call until the fresh window ends', async () => {
    up.auto = () => ok(1);
    const { svc, outcomes } = service({ upstream: up });
    const first = await get(svc);
    expect(first.outcome).toBe('MISS');
    expect(first.entry).toMatchObject({ data: { play_mid: '1' }, fetchedAt: clock, requestId: 'r1' });
    clock += W.freshMs - 1;
    expect(await outcomeOf(get(svc))).toBe('HIT');
    expect(up.calls).toHaveLength(1);
    expect(outcomes).toEqual(['MISS', 'HIT']);
  });

  it('keys on the whole tuple: another parameter is another entry', async () => {
    up.auto = () => ok(1);
    const { svc } = service({ upstream: up });
    await get(svc);
    expect(await outcomeOf(get(svc, params('a1', { range: 'DAY_90' })))).toBe('MISS');
    expect(await outcomeOf(get(svc, params('a1', { range: 'DAY_90' })))).toBe('HIT');
    expect(up.calls).toHaveLength(2);
  });

  it('past fresh, answers STALE at once and refreshes once in the background (SWR)', async () => {
    up.auto = () => ok(1);
    const { svc, revalidated } = service({ upstream: up });
    await get(svc);
    up.auto = null;
    clock += W.freshMs;
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(svc)));
    expect(answers.map((a) => a.outcome)).toEqual(Array(5).fill('STALE'));
    expect(answers[0]?.entry.requestId).toBe('r1');
    await up.started(2); // one background refresh for five stale answers
    up.calls[1]?.resolve(ok(2));
    await settle();
    expect(revalidated).toEqual([true]);
    const after = await get(svc);
    expect(after).toMatchObject({ outcome: 'HIT', entry: { requestId: 'r2', fetchedAt: clock } });
    expect(up.calls).toHaveLength(2);
  });

  it('keeps the stale entry when the background refresh fails, and tries again on the next request', async () => {
    up.auto = () => ok(1);
    const { svc, revalidated } = service({ upstream: up });
    await get(svc);
    clock += W.freshMs + 1;
    up.auto = () => {
      throw upstreamError('boom', 500);
    };
    expect(await outcomeOf(get(svc))).toBe('STALE');
    await settle();
    expect(revalidated).toEqual([false]);
    expect(await outcomeOf(get(svc))).toBe('STALE');
    await settle();
    expect(up.calls).toHaveLength(3);
  });

  it.each([
    ['502', upstreamError('bad gateway', 500)],
    ['503', new GatewayError('UPSTREAM_UNAVAILABLE', 'paused', { retryAfterSeconds: 5 })],
    ['504', new GatewayError('UPSTREAM_TIMEOUT', 'slow')],
  ])('answers the cached entry instead of a %s while it is younger than fresh + stale', async (_s, err) => {
    up.auto = () => ok(1);
    const { svc } = service({ upstream: up });
    await get(svc);
    up.auto = () => {
      throw err;
    };
    clock += W.freshMs + W.staleMs - 1;
    // A forced refresh waits for the upstream, so the failure decides.
    const a = await get(svc, params(), true);
    expect(a).toMatchObject({ outcome: 'STALE', entry: { requestId: 'r1' } });
  });

  it('gives the error once the entry is past fresh + stale', async () => {
    up.auto = () => ok(1);
    const { svc, outcomes } = service({ upstream: up });
    await get(svc);
    clock += W.freshMs + W.staleMs;
    up.auto = () => {
      throw upstreamError('bad gateway', 500);
    };
    await expect(get(svc)).rejects.toMatchObject({ statusCode: 502, code: 'UPSTREAM_ERROR' });
    expect(outcomes.at(-1)).toBe('ERROR');
  });

  it("answers the stale entry instead of the caller's daily-share refusal", async () => {
    up.auto = () => ok(1);
    const { svc } = service({ upstream: up });
    await get(svc);
    clock += W.freshMs + 1;
    up.auto = () => {
      throw callerRefusal('daily_share', 'share spent', 60_000);
    };
    expect(await get(svc, params(), true)).toMatchObject({ outcome: 'STALE', entry: { requestId: 'r1' } });
  });

  it('lets an upstream "no content" replace a stale entry: 404, not the old answer', async () => {
    up.auto = () => ok(1);
    const { svc } = service({ upstream: up });
    await get(svc);
    clock += W.freshMs + 1;
    up.auto = () => ({ kind: 'not_found', requestId: 'nf' });
    await expect(get(svc, params(), true)).rejects.toMatchObject({ statusCode: 404 });
    await expect(get(svc)).rejects.toMatchObject({ code: 'AUTHOR_NOT_FOUND' });
    expect(up.calls).toHaveLength(2);
  });

  it('remembers "no content" for the not-found window, then asks again', async () => {
    up.auto = () => ({ kind: 'not_found', requestId: 'nf' });
    const { svc, outcomes } = service({ upstream: up });
    await expect(get(svc)).rejects.toMatchObject({ statusCode: 404, code: 'AUTHOR_NOT_FOUND' });
    clock += W.notFoundMs - 1;
    await expect(get(svc)).rejects.toMatchObject({ code: 'AUTHOR_NOT_FOUND' });
    expect(up.calls).toHaveLength(1);
    clock += 1;
    await expect(get(svc)).rejects.toMatchObject({ code: 'AUTHOR_NOT_FOUND' });
    expect(up.calls).toHaveLength(2);
    expect(outcomes).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
  });

  it('makes one upstream call for concurrent identical misses in one process', async () => {
    const { svc, coalesced } = service({ upstream: up });
    const answers = Promise.all(Array.from({ length: 10 }, () => get(svc)));
    await up.started(1);
    up.calls[0]?.resolve(ok(1));
    expect((await answers).map((a) => a.outcome)).toEqual(Array(10).fill('MISS'));
    expect(coalesced).toEqual(Array(9).fill('local'));
  });

  it('shares the upstream error with every coalesced request, and calls again afterwards', async () => {
    const { svc } = service({ upstream: up });
    const answers = Promise.allSettled(Array.from({ length: 4 }, () => get(svc)));
    await up.started(1);
    up.calls[0]?.reject(upstreamError('bad gateway', 500));
    const settled = await answers;
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    up.auto = () => ok(2);
    expect(await outcomeOf(get(svc))).toBe('MISS');
    expect(up.calls).toHaveLength(2);
  });

  it('gives a failed call to requests that arrived while it ran but reach the cache after it ended', async () => {
    const { svc, coalesced } = service({ upstream: up });
    const arrived = clock;
    const first = get(svc).catch((e: unknown) => e);
    await up.started(1);
    clock += 5;
    up.calls[0]?.reject(upstreamError('bad gateway', 500));
    const err = await first;
    // A request of the same burst, slow to get here: the call it arrived during is over.
    const late = svc
      .get(spreadInfoCall(params()), { log, caller: CALLER, arrivedAt: arrived + 1 })
      .catch((e: unknown) => e);
    expect(await late).toBe(err);
    expect(up.calls).toHaveLength(1);
    expect(coalesced).toEqual(['local']);
    // A request that arrived after the failure asks again.
    up.auto = () => ok(2);
    const after = await svc.get(spreadInfoCall(params()), { log, caller: CALLER, arrivedAt: clock + 1 });
    expect(after.outcome).toBe('MISS');
    expect(up.calls).toHaveLength(2);
  });

  it("does not give one caller's own refusal to requests that arrived during it", async () => {
    const { svc } = service({ upstream: up });
    const arrived = clock;
    const first = get(svc).catch((e: unknown) => e);
    await up.started(1);
    up.calls[0]?.reject(callerRefusal('daily_share', 'share spent', 60_000));
    await first;
    up.auto = () => ok(3);
    const other = await svc.get(spreadInfoCall(params()), { log, caller: CALLER, arrivedAt: arrived });
    expect(other.outcome).toBe('MISS');
    expect(up.calls).toHaveLength(2);
  });

  describe('across instances (a shared tier and a shared lease)', () => {
    it('a follower waits for the holder and reads its answer: one call for both', async () => {
      const shared = new MemoryStore(100, now);
      const leases = new SharedLeases();
      const a = service({ store: shared, coordinator: leases, upstream: up });
      const b = service({ store: shared, coordinator: leases, upstream: up });
      const pa = get(a.svc);
      await up.started(1);
      const pb = get(b.svc);
      await settle();
      up.calls[0]?.resolve(ok(1));
      expect(await outcomeOf(pa)).toBe('MISS');
      expect(await outcomeOf(pb)).toBe('MISS');
      expect(b.coalesced).toEqual(['remote']);
      expect(up.calls).toHaveLength(1);
    });

    it("a follower gets the holder's error without calling the upstream itself", async () => {
      const shared = new MemoryStore(100, now);
      const leases = new SharedLeases();
      const a = service({ store: shared, coordinator: leases, upstream: up });
      const b = service({ store: shared, coordinator: leases, upstream: up });
      const pa = get(a.svc);
      await up.started(1);
      const pb = get(b.svc);
      await settle();
      up.calls[0]?.reject(new GatewayError('UPSTREAM_UNAVAILABLE', 'paused', { upstreamCode: 302 }));
      await expect(pa).rejects.toMatchObject({ statusCode: 503, upstreamCode: 302 });
      await expect(pb).rejects.toMatchObject({ statusCode: 503, upstreamCode: 302 });
      expect(up.calls).toHaveLength(1);
    });

    it('a follower whose holder died takes the lease over and calls once', async () => {
      const shared = new MemoryStore(100, now);
      const leases = new SharedLeases();
      const a = service({ store: shared, coordinator: leases, upstream: up });
      const key = a.svc.keyFor(spreadInfoCall(params()));
      await leases.acquire(key); // held by an instance that then dies
      const pa = get(a.svc);
      await settle();
      expect(up.calls).toHaveLength(0);
      leases.lapse(key);
      await up.started(1);
      up.calls[0]?.resolve(ok(1));
      expect(await outcomeOf(pa)).toBe('MISS');
    });

    it('the holder re-reads the shared tier first: a key stored meanwhile costs no call', async () => {
      up.auto = () => ok(9);
      const shared = new MemoryStore(100, now);
      const leases = new SharedLeases();
      const b = service({ store: shared, coordinator: leases, upstream: up });
      const key = b.svc.keyFor(spreadInfoCall(params()));
      // Another instance stores the answer between b's read (a miss) and b's lease.
      const acquire = leases.acquire.bind(leases);
      leases.acquire = async (k: string) => {
        await shared.set(key, { kind: 'ok', data: {}, fetchedAt: clock, requestId: 'other' }, 60);
        return acquire(k);
      };
      expect(await get(b.svc)).toMatchObject({ outcome: 'MISS', entry: { requestId: 'other' } });
      expect(up.calls).toHaveLength(0);
    });
  });

  it('an admin forced refresh calls the upstream even when fresh, and answers BYPASS', async () => {
    up.auto = () => ok(1);
    const { svc } = service({ upstream: up });
    await get(svc);
    up.auto = () => ok(2);
    const forced = await get(svc, params(), true);
    expect(forced).toMatchObject({ outcome: 'BYPASS', entry: { requestId: 'r2' } });
    expect(await get(svc)).toMatchObject({ outcome: 'HIT', entry: { requestId: 'r2' } });
    expect(up.calls).toHaveLength(2);
  });

  it('purge forgets every variant of the author, and only that author', async () => {
    up.auto = () => ok(1);
    const { svc } = service({ upstream: up });
    await get(svc, params('a1'));
    await get(svc, params('a1', { platform: 'LIVE_STREAMING', onlyAssign: true }));
    await get(svc, params('a2'));
    expect(await svc.purge('a1')).toBe(2);
    expect(await outcomeOf(get(svc, params('a1')))).toBe('MISS');
    expect(await outcomeOf(get(svc, params('a2')))).toBe('HIT');
    expect(await svc.purge('a1-never-seen')).toBe(0);
  });

  it('the in-process store forgets an entry once fresh + stale has passed', async () => {
    up.auto = () => ok(1);
    const store = new MemoryStore(100, now);
    const { svc } = service({ store, upstream: up });
    await get(svc);
    const key = svc.keyFor(spreadInfoCall(params()));
    clock += W.freshMs + W.staleMs - 1000;
    expect(await store.get(key)).toBeDefined();
    clock += 1001;
    expect(await store.get(key)).toBeUndefined();
    expect(await outcomeOf(get(svc))).toBe('MISS');
  });
});
