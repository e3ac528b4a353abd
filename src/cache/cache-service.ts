// The request path for one parameter tuple: cache, stale rules and single flight in front of the
// upstream. Every route (normalised, drop-in, batch) goes through get(), so all share one cache.
import type { FastifyBaseLogger } from 'fastify';
import type { EndpointCall } from '../catalogue/call.js';
import { SPREAD_INFO, subjectOf } from '../catalogue/index.js';
import { authorIndexKey } from '../catalogue/keys.js';
import { authorNotFound, errorSummary, GatewayError, type SerializedGatewayError } from '../errors.js';
import type { CallerRef } from '../limits/caller-ref.js';
import { CallerRefusal, type CallerRefusalReason, isCallerRefusal } from '../limits/caller-refusal.js';
import type { UpstreamResult } from '../upstream/client.js';
import { upstreamTimeout } from '../upstream/codes.js';
import { FLOW_TYPES, PLATFORMS, RANGES, type SpreadParams, VIDEO_TYPES } from '../upstream/params.js';
import { type CacheEntry, freshness, type OkEntry, ttlSeconds, type Windows } from './entry.js';
import { hold } from './held-entry.js';
import { authorKeyPrefix, tupleKey } from './keys.js';
import type { CacheStore, Coordinator, Lease } from './store.js';

export type CacheOutcome = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED' | 'BYPASS';

export interface Answer {
  entry: OkEntry;
  outcome: CacheOutcome;
}

/**
 * Whose request it is, and whether an upstream call was made for it. A coalesced follower's ticket
 * stays uncalled: the call is charged to the caller of the request that made it.
 */
export interface Ticket {
  caller: CallerRef;
  called: boolean;
}

type UpstreamFetcher = (
  call: EndpointCall,
  log: FastifyBaseLogger,
  deadline: number,
  ticket: Ticket,
) => Promise<UpstreamResult>;

export interface GetOptions {
  force?: boolean;
  log: FastifyBaseLogger;
  route?: string;
  caller: CallerRef;
  /** The request's own ticket (the batch reads `called` at its deadline); made here when absent. */
  ticket?: Ticket;
  /** Give up on upstream budget and the call by then (the batch's overall deadline). */
  deadline?: number;
  /**
   * When the request arrived (this service's clock). A request that arrived while a call for its
   * key was under way takes that call's failure even if it reaches the cache after the call ended
   * (a call that fails fast would otherwise be made again for requests of the same burst).
   */
  arrivedAt?: number;
}

export interface ServiceEvents {
  /** `endpoint`: the catalogue name. */
  outcome?(outcome: CacheOutcome | 'NOT_FOUND' | 'ERROR', route: string, endpoint: string): void;
  coalesced?(scope: 'local' | 'remote'): void;
  revalidated?(ok: boolean, endpoint: string): void;
  /** Once per get(): `hit` when it was answered without an upstream call made for it. */
  served?(caller: CallerRef, hit: boolean, endpoint: string): void;
  /** A get() that ended in the caller's own 429 (pending cap, daily share). */
  refused?(caller: CallerRef, reason: CallerRefusalReason): void;
}

export interface CacheServiceOptions {
  store: CacheStore;
  coordinator: Coordinator;
  fetch: UpstreamFetcher;
  windows: Windows;
  keyPrefix: string;
  /** Longest a fetch may take: budget wait plus the upstream timeout. Followers wait no longer. */
  fetchDeadlineMs: number;
  /**
   * Longest a caller waits for a miss (CALLER_DEADLINE_MS), from its arrival. Past it the caller
   * gets 504 (or a stale answer) while the fetch goes on and fills the cache for its retry.
   */
  callerDeadlineMs?: number;
  events?: ServiceEvents;
  /** The clock every freshness rule reads (tests step it instead of sleeping). */
  now?: () => number;
  /** The windows of one endpoint's answers (its freshness class); `windows` when absent. */
  windowsFor?: (call: EndpointCall) => Windows;
}

/** Slack for a follower on another instance: the holder's write and notice arrive just after its deadline. */
const FOLLOWER_MARGIN_MS = 1000;

/** How long a failed call's end is remembered for requests that arrived before it. */
const FAILED_CALL_MEMORY_MS = 10_000;

export class CacheService {
  private readonly inflight = new Map<string, Promise<CacheEntry>>();
  /** Calls that failed lately, by key: when they ended and with what. */
  private readonly failed = new Map<string, { at: number; error: unknown }>();
  private readonly events: ServiceEvents;
  private readonly now: () => number;

  constructor(private readonly o: CacheServiceOptions) {
    this.events = o.events ?? {};
    this.now = o.now ?? Date.now;
  }

  /** The windows of this endpoint's answers. */
  windowsFor(call: EndpointCall): Windows {
    return this.o.windowsFor?.(call) ?? this.o.windows;
  }

  keyFor(call: EndpointCall): string {
    return this.o.keyPrefix + call.key;
  }

  /**
   * A fresh answer this process holds, without any I/O (no promise: the cache-hit path), or
   * undefined when get() must decide (absent, stale, not found, or only Redis knows).
   */
  peek(call: EndpointCall, caller: CallerRef, route = 'spread-info'): Answer | undefined {
    const entry = this.o.store.peek(this.keyFor(call));
    if (entry?.kind !== 'ok' || freshness(entry, this.windowsFor(call), this.now()) !== 'fresh')
      return undefined;
    this.events.served?.(caller, true, call.spec.name);
    return this.answer(entry, 'HIT', route, call);
  }

  async get(call: EndpointCall, opts: GetOptions): Promise<Answer> {
    const ticket = opts.ticket ?? { caller: opts.caller, called: false };
    let answered = false;
    try {
      const a = await this.resolve(call, opts, ticket);
      answered = true;
      return a;
    } catch (err) {
      answered = err instanceof GatewayError && err.code === 'AUTHOR_NOT_FOUND';
      if (err instanceof CallerRefusal) this.events.refused?.(opts.caller, err.reason);
      throw err;
    } finally {
      this.events.served?.(opts.caller, answered && !ticket.called, call.spec.name);
    }
  }

  private async resolve(call: EndpointCall, opts: GetOptions, ticket: Ticket): Promise<Answer> {
    const { log } = opts;
    const route = opts.route ?? 'spread-info';
    const key = this.keyFor(call);
    const windows = this.windowsFor(call);
    let cached: CacheEntry | undefined;
    let lease: Lease | null | undefined;
    if (!opts.force) {
      ({ entry: cached, lease } = await this.read(key, this.leaseMs(opts.deadline), opts.arrivedAt));
      const f = cached && freshness(cached, windows, this.now());
      // A lease taken with the read (the shared tier had nothing) but an answer after all (a copy
      // put back into a restarted Redis): nobody will call the upstream under it.
      if (lease && cached && f !== 'expired') void lease.release({ ok: true });
      if (cached && f === 'fresh') {
        if (cached.kind === 'not_found') return this.fail(authorNotFound(subjectOf(call.spec)), route, call);
        return this.answer(cached, 'HIT', route, call);
      }
      if (cached?.kind === 'ok' && f === 'stale') {
        // Charged to the caller whose request found the entry stale.
        this.revalidate(key, call, log, opts.caller);
        return this.answer(cached, 'STALE', route, call);
      }
    }
    try {
      const first = lease === undefined ? undefined : { lease };
      const loading = this.load(key, call, log, ticket, opts.force, opts.deadline, first, opts.arrivedAt);
      const entry = await this.withinCallerDeadline(loading, opts.arrivedAt);
      if (entry.kind === 'not_found') return this.fail(authorNotFound(subjectOf(call.spec)), route, call);
      return this.answer(entry, opts.force ? 'BYPASS' : 'MISS', route, call);
    } catch (err) {
      // The caller's own share or pending cap: a stale answer serves as for upstream failures.
      if (err instanceof GatewayError && (err.staleable || isCallerRefusal(err))) {
        const stale = cached ?? (await this.o.store.get(key));
        if (stale?.kind === 'ok' && freshness(stale, windows, this.now()) !== 'expired') {
          log.warn(
            { error: errorSummary(err), endpoint: call.spec.name, author: authorOf(call), cacheKey: key },
            'upstream failed; answering stale',
          );
          return this.answer(stale, 'STALE', route, call);
        }
      }
      if (!(err instanceof GatewayError && err.code === 'AUTHOR_NOT_FOUND'))
        this.events.outcome?.('ERROR', route, call.spec.name);
      throw err;
    }
  }

  /**
   * The load, or a 504 once the caller has waited CALLER_DEADLINE_MS: the load goes on (the
   * upstream call may already be billed) and caches its answer, so the caller's retry is a hit.
   */
  private async withinCallerDeadline(loading: Promise<CacheEntry>, arrivedAt?: number): Promise<CacheEntry> {
    const limitMs = this.o.callerDeadlineMs;
    if (limitMs === undefined) return loading;
    const leftMs = (arrivedAt ?? this.now()) + limitMs - this.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new GatewayError(
              'UPSTREAM_TIMEOUT',
              `no upstream answer within this caller's deadline of ${limitMs} ms (CALLER_DEADLINE_MS); the call goes on and its answer will be cached, so retry`,
            ),
          ),
        Math.max(0, leftMs),
      );
    });
    try {
      return await Promise.race([loading, late]);
    } finally {
      clearTimeout(timer);
      loading.catch(() => {}); // its failure, after the caller's 504, is the load's own business
    }
  }

  /**
   * The entry as this process can have it: its copy, or the shared tier's value read together with
   * the lease when there is none (one round trip for a miss), unless a call for the key is already
   * under way here (then the lease is that call's).
   */
  private async read(
    key: string,
    leaseMs: number,
    arrivedAt?: number,
  ): Promise<{ entry?: CacheEntry; lease?: Lease | null }> {
    const { store, coordinator } = this.o;
    const copy = store.peek(key);
    const readOrAcquire = coordinator.readOrAcquire?.bind(coordinator);
    const adopt = store.adopt?.bind(store);
    // A plain read when a miss is unlikely (a copy held here, past its L1 window) or the lease is
    // not to be taken: only a key this process knows nothing of is read together with its lease.
    const plain =
      copy !== undefined ||
      store.holds?.(key) === true ||
      this.inflight.has(key) ||
      this.failedSince(key, arrivedAt) !== undefined;
    if (plain || !readOrAcquire || !adopt) return { entry: copy ?? (await store.get(key)) };
    const r = await readOrAcquire(key, leaseMs);
    if (r === undefined) return { entry: await store.get(key) };
    return { entry: adopt(key, r.raw), lease: r.raw === null ? r.lease : undefined };
  }

  /** How long a lease taken now must last: the fetch's deadline, and a follower's slack. */
  private leaseMs(until = Number.POSITIVE_INFINITY): number {
    const now = this.now();
    const deadline = Math.min(now + this.o.fetchDeadlineMs, until);
    return Math.max(1000, deadline - now) + FOLLOWER_MARGIN_MS;
  }

  /** Forgets every variant of an author (there are only 64, so no KEYS or SCAN is needed). */
  purge(oAuthorId: string): Promise<number> {
    return this.o.store.delete(allVariants(oAuthorId).map((p) => this.o.keyPrefix + tupleKey(p)));
  }

  /**
   * Forgets an author on every endpoint and every instance: spread-info's variants, the keys its
   * index lists (free-form parameters cannot be listed as variants), and any copy held here.
   */
  async purgeAuthor(oAuthorId: string): Promise<number> {
    const { store, keyPrefix } = this.o;
    const indexKey = keyPrefix + authorIndexKey(oAuthorId);
    const keys = new Set(allVariants(oAuthorId).map((p) => keyPrefix + tupleKey(p)));
    for (const k of (await store.indexed?.(indexKey)) ?? []) keys.add(k);
    for (const k of store.keysWithPrefix(keyPrefix + authorKeyPrefix(oAuthorId))) keys.add(k);
    keys.delete(indexKey);
    const deleted = await store.delete([...keys]);
    if (store.indexed) await store.delete([indexKey]);
    return deleted;
  }

  /** Spread-info's keys are not indexed: its purge lists its 64 variants (no write on its misses). */
  private async indexByAuthor(call: EndpointCall, key: string, ttl: number): Promise<void> {
    if (call.spec.name === SPREAD_INFO) return;
    const param = call.spec.authorParam;
    const author = param === undefined ? undefined : call.tuple[param];
    if (author !== undefined) await this.o.store.index?.(this.o.keyPrefix + authorIndexKey(author), key, ttl);
  }

  /** In-process single flight: one promise per key, however many requests ask. */
  private async load(
    key: string,
    call: EndpointCall,
    log: FastifyBaseLogger,
    ticket: Ticket,
    force = false,
    until?: number,
    first?: { lease: Lease | null },
    arrivedAt?: number,
  ): Promise<CacheEntry> {
    for (let turn = 0; ; turn++) {
      const running = this.inflight.get(key);
      if (!running) break;
      // Joining the call under way: a lease taken with the read is not needed (nor is it likely).
      if (turn === 0 && first?.lease) void first.lease.release({ ok: true });
      first = undefined;
      this.events.coalesced?.('local');
      if (turn === 2) return running;
      try {
        return await running;
      } catch (err) {
        // The request that made the call was refused for its caller's own limits: not ours.
        if (!isCallerRefusal(err)) throw err;
      }
    }
    // Arrived while the last call for the key was under way: that call's failure is this request's.
    const failure = force ? undefined : this.failedSince(key, arrivedAt);
    if (failure !== undefined) {
      if (first?.lease) void first.lease.release({ ok: true });
      this.events.coalesced?.('local');
      throw failure;
    }
    const p = this.loadShared(key, call, log, ticket, force, until, first).then(
      (entry) => {
        this.inflight.delete(key);
        this.failed.delete(key);
        return entry;
      },
      (err: unknown) => {
        this.inflight.delete(key);
        // The caller's own refusal is not the key's: another caller's request tries itself.
        if (!isCallerRefusal(err)) this.remember(key, err);
        throw err;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  /** Cross-instance single flight: the lease holder calls the upstream, the others wait for it. */
  private async loadShared(
    key: string,
    call: EndpointCall,
    log: FastifyBaseLogger,
    ticket: Ticket,
    force: boolean,
    until = Number.POSITIVE_INFINITY,
    first?: { lease: Lease | null },
  ): Promise<CacheEntry> {
    const deadline = Math.min(this.now() + this.o.fetchDeadlineMs, until);
    const windows = this.windowsFor(call);
    // A holder that dies leaves its lease to expire; then one waiter takes over. Bounded turns.
    for (let turn = 0; turn < 3; turn++) {
      // Another instance may have refreshed the key between our read and our lease: the lease and
      // a fresh read go out together (one round trip; Redis runs them in this order). A lease
      // taken with the read itself needs no second look.
      const [lease, done] =
        turn === 0 && first
          ? [first.lease, undefined]
          : await Promise.all([
              this.o.coordinator.acquire(key, Math.max(1000, deadline - this.now()) + FOLLOWER_MARGIN_MS),
              force ? undefined : this.o.store.get(key, { skipL1: true }),
            ]);
      if (lease) {
        try {
          if (done && freshness(done, windows, this.now()) === 'fresh') {
            await lease.release({ ok: true });
            return done;
          }
          const res = await this.o.fetch(call, log, deadline, ticket);
          const entry: CacheEntry =
            res.kind === 'ok'
              ? {
                  kind: 'ok',
                  data: res.data,
                  fetchedAt: this.now(),
                  requestId: res.requestId,
                  message: res.message,
                  recordTime: res.recordTime,
                }
              : { kind: 'not_found', fetchedAt: this.now(), requestId: res.requestId };
          // Together too, the entry first: a waiter woken by the release reads it.
          const held = hold(entry);
          const ttl = ttlSeconds(held, windows);
          await Promise.all([
            this.o.store.set(key, held, ttl),
            lease.release({ ok: true }),
            this.indexByAuthor(call, key, ttl),
          ]);
          return held;
        } catch (err) {
          await lease.release({ ok: false, error: serialize(err) });
          throw err;
        }
      }
      this.events.coalesced?.('remote');
      const outcome = await this.o.coordinator.wait(
        key,
        Math.max(0, deadline - this.now()) + FOLLOWER_MARGIN_MS,
      );
      if (outcome !== 'timeout') {
        // A holder refused for its own caller's limits made no call: take a turn at the lease.
        if (!outcome.ok && outcome.error.code === 'RATE_LIMITED') continue;
        if (!outcome.ok) throw GatewayError.fromJSON(outcome.error);
        const entry = await this.o.store.get(key, { skipL1: true });
        if (entry && freshness(entry, windows, this.now()) === 'fresh') return entry;
      }
      if (this.now() >= deadline) break;
    }
    throw upstreamTimeout(this.o.fetchDeadlineMs);
  }

  /** The failure of the last call for `key` when it ended after `arrivedAt`. */
  private failedSince(key: string, arrivedAt: number | undefined): unknown {
    const f = this.failed.get(key);
    if (f === undefined || arrivedAt === undefined) return undefined;
    if (this.now() - f.at > FAILED_CALL_MEMORY_MS) {
      this.failed.delete(key);
      return undefined;
    }
    return arrivedAt < f.at ? f.error : undefined;
  }

  private remember(key: string, error: unknown): void {
    // Bounded: a storm of failing keys keeps the most recent ones.
    if (this.failed.size >= 10_000) this.failed.clear();
    this.failed.set(key, { at: this.now(), error });
  }

  /** Stale-while-revalidate: one background refresh per key (the lease makes it one across instances). */
  private revalidate(key: string, call: EndpointCall, log: FastifyBaseLogger, caller: CallerRef): void {
    if (this.inflight.has(key)) return;
    this.load(key, call, log, { caller, called: false }).then(
      () => this.events.revalidated?.(true, call.spec.name),
      (err: unknown) => {
        this.events.revalidated?.(false, call.spec.name);
        log.warn(
          { error: errorSummary(err), endpoint: call.spec.name, author: authorOf(call), cacheKey: key },
          'background refresh failed',
        );
      },
    );
  }

  private answer(entry: OkEntry, outcome: CacheOutcome, route: string, call: EndpointCall): Answer {
    this.events.outcome?.(outcome, route, call.spec.name);
    return { entry, outcome };
  }

  private fail(err: GatewayError, route: string, call: EndpointCall): never {
    this.events.outcome?.('NOT_FOUND', route, call.spec.name);
    throw err;
  }
}

/** The author a call asks about, for log lines (none for search and per-video endpoints). */
function authorOf(call: EndpointCall): string | undefined {
  const param = call.spec.authorParam;
  return param === undefined ? undefined : call.tuple[param];
}

function serialize(err: unknown): SerializedGatewayError {
  if (err instanceof GatewayError) return err.toJSON();
  return { statusCode: 502, code: 'UPSTREAM_ERROR', message: 'the upstream call failed' };
}

export function allVariants(oAuthorId: string): SpreadParams[] {
  const out: SpreadParams[] = [];
  for (const platform of PLATFORMS)
    for (const range of RANGES)
      for (const type of VIDEO_TYPES)
        for (const onlyAssign of [false, true])
          for (const flowType of FLOW_TYPES)
            out.push({ oAuthorId, platform, range, type, onlyAssign, flowType });
  return out;
}
