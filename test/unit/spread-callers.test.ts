// Who pays for a call in the cache's single flight, over the in-memory store, the local coordinator
// and a scripted fetch: a follower costs nothing, and a 429 of the holder's own caller is not
// passed on to requests of other callers that waited on it.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CacheService, type Ticket } from '../../src/cache/cache-service.js';
import { MemoryStore } from '../../src/cache/memory-store.js';
import { localCoordinator } from '../../src/cache/store.js';
import { spreadInfoCall } from '../../src/catalogue/call.js';
import { callerRef } from '../../src/limits/caller-ref.js';
import { callerRefusal } from '../../src/limits/caller-refusal.js';
import type { SpreadParams } from '../../src/upstream/params.js';

const log = pino({ level: 'silent' });
const A = callerRef({ name: 'A', anonymous: false }, 'caller:A');
const B = callerRef({ name: 'B', anonymous: false }, 'caller:B');
const params: SpreadParams = {
  oAuthorId: 'x1',
  platform: 'SHORT_VIDEO',
  range: 'DAY_30',
  type: 'PERSONAL_VIDEO',
  onlyAssign: false,
  flowType: 'EXCLUDE',
};

function service(refuse: Set<string>) {
  const fetched: string[] = [];
  const served: Array<[string, boolean]> = [];
  const refused: string[] = [];
  const store = new MemoryStore(100);
  const spread = new CacheService({
    store,
    coordinator: localCoordinator,
    windows: { freshMs: 60_000, staleMs: 60_000, notFoundMs: 60_000 },
    keyPrefix: 't:',
    fetchDeadlineMs: 5000,
    fetch: async (_p, _log, _deadline, ticket: Ticket) => {
      await new Promise((r) => setTimeout(r, 30)); // others join the flight meanwhile
      if (refuse.has(ticket.caller.name)) throw callerRefusal('daily_share', 'share spent', 1000);
      ticket.called = true;
      fetched.push(ticket.caller.name);
      return { kind: 'ok', data: { avg_duration: '1' }, requestId: null };
    },
    events: {
      served: (c, hit) => served.push([c.name, hit]),
      refused: (c, reason) => refused.push(`${c.name}:${reason}`),
    },
  });
  return { spread, store, fetched, served, refused };
}

describe('single flight and who pays', () => {
  it('charges the call to the request that made it; a follower of another caller is a hit', async () => {
    const s = service(new Set());
    const [a, b] = await Promise.all([
      s.spread.get(spreadInfoCall(params), { log, caller: A }),
      s.spread.get(spreadInfoCall(params), { log, caller: B }),
    ]);
    expect([a.outcome, b.outcome]).toEqual(['MISS', 'MISS']);
    expect(s.fetched).toEqual(['A']);
    expect(s.served.sort()).toEqual([
      ['A', false],
      ['B', true],
    ]);
  });

  it("does not pass the holder's own 429 to another caller that waited on it: that one calls for itself", async () => {
    const s = service(new Set(['A']));
    const [a, b] = await Promise.allSettled([
      s.spread.get(spreadInfoCall(params), { log, caller: A }),
      s.spread.get(spreadInfoCall(params), { log, caller: B }),
    ]);
    expect(a.status).toBe('rejected');
    expect(a.status === 'rejected' && a.reason).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
    expect(b.status).toBe('fulfilled');
    expect(s.fetched).toEqual(['B']);
    expect(s.refused).toEqual(['A:daily_share']);
    expect(s.served.sort()).toEqual([
      ['A', false],
      ['B', false],
    ]);
  });

  it("answers a stale entry instead of the caller's own 429", async () => {
    const s = service(new Set(['A']));
    const key = s.spread.keyFor(spreadInfoCall(params));
    // @ts-expect-error the store is private; the test plants an entry past its fresh window
    await s.spread.o.store.set(
      key,
      { kind: 'ok', data: {}, fetchedAt: Date.now() - 90_000, requestId: null },
      60,
    );
    const a = await s.spread.get(spreadInfoCall(params), { log, caller: A, force: true });
    expect(a.outcome).toBe('STALE');
    expect(s.refused).toEqual([]);
  });
});
