// Upstream governance: a global rate budget (GCRA), a daily quota and business-code back-off,
// shared by all instances through Redis (gatekeeper.ts decides where), and the callers' part of it:
// turns between callers (dispatcher.ts), a pending cap and daily shares (caller-shares.ts). This
// file is what the upstream client and the operations routes see: waiting, refusals, logs, gauges,
// readiness.
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { GatewayError, upstreamUnavailable } from '../errors.js';
import { type CallerRef, GATEWAY_CALLER } from '../limits/caller-ref.js';
import { callerRefusal } from '../limits/caller-refusal.js';
import { CallerShares, type Receipt } from '../limits/caller-shares.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ReadinessCheck } from '../readiness.js';
import type { RedisConnection } from '../redis/connection.js';
import type { UpstreamCallRecord, UpstreamGate } from '../upstream/client.js';
import { CREDENTIAL_CODES } from '../upstream/codes.js';
import { type BackoffPolicy, type CircuitPolicy, DEFAULT_BACKOFF, DEFAULT_CIRCUIT } from './backoff.js';
import { type Refusal, SlotDispatcher } from './dispatcher.js';
import { Gatekeeper } from './gatekeeper.js';
import type { DayClock } from './quota-day.js';
import { logEffect, refusalError, refusalMetricReason } from './refusals.js';
import type { CallEvent } from './types.js';

export interface GovernorTuning {
  backoff?: Partial<BackoffPolicy>;
  circuit?: Partial<CircuitPolicy>;
  /** Calls that may start at once after an idle spell. Default 1: an upstream that counts per
   *  rolling second answers 302 to any burst above its rate. */
  burst?: number;
  /** How often the shared state is re-read for /readyz and the gauges (default 1000 ms). */
  statusRefreshMs?: number;
  /** The upstream's day, when it is not midnight to midnight in UPSTREAM_QUOTA_TZ: the demo's is a
   *  few minutes, so its 303 author pauses the simulated upstream for minutes, not until midnight. */
  day?: DayClock;
}

export interface GovernorOptions extends GovernorTuning {
  config: Config;
  redis: RedisConnection | null;
  metrics: GatewayMetrics;
  log: FastifyBaseLogger;
  /** Prefix of every Redis key (config.REDIS_KEY_PREFIX, or a test's own). */
  keyPrefix: string;
}

function eventOf(code: number | null): CallEvent {
  if (code === null) return 'nocode';
  if (code === 0 || code === 201) return 'ok';
  if (code === 302 || code === 303) return code === 302 ? '302' : '303';
  return CREDENTIAL_CODES.has(code) ? 'credential' : 'other';
}

export class UpstreamGovernor implements UpstreamGate {
  private readonly keeper: Gatekeeper;
  /** Kept free at the end of a request's deadline: a call cut short may still be billed. */
  private readonly callReserveMs: number;
  private readonly pending = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private readonly dispatcher: SlotDispatcher;
  readonly shares: CallerShares;
  /** Calls per caller bucket between the pending-cap check and their slot (or refusal). */
  private readonly waiting = new Map<string, number>();
  private probeSince: number | null = null;

  constructor(readonly opts: GovernorOptions) {
    const burst = Math.max(1, Math.floor(opts.burst ?? 1));
    this.keeper = new Gatekeeper({
      ...opts,
      backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
      circuit: { ...DEFAULT_CIRCUIT, ...opts.circuit },
      burst,
    });
    this.callReserveMs = Math.min(opts.config.UPSTREAM_TIMEOUT_MS / 2, 5000);
    // One dispatcher per instance hands out slots in turn between callers (turns.ts).
    this.dispatcher = new SlotDispatcher({
      source: this.keeper,
      spacingMs: () => this.keeper.context(Date.now()).intervalMs,
      burst,
      // A probe nobody made would keep the circuit shut until the probe's lock expires: free it.
      unused: (probe) => {
        if (probe) void this.keeper.record('nocode', 0, true);
      },
    });
    this.shares = new CallerShares({
      shares: opts.config.CALLER_UPSTREAM_DAILY,
      redis: opts.redis,
      keyPrefix: opts.keyPrefix,
      tz: opts.config.UPSTREAM_QUOTA_TZ,
      instances: opts.config.EXPECTED_INSTANCES,
      metrics: opts.metrics,
    });
    let refreshing = false;
    const refresh = () => {
      if (refreshing) return; // a slow Redis must not pile refreshes up
      refreshing = true;
      void this.keeper.refresh().finally(() => {
        refreshing = false;
        this.updateGauges();
      });
    };
    this.timer = setInterval(refresh, opts.statusRefreshMs ?? 1000).unref();
    this.updateGauges();
  }

  /** A call made for no request (tests; the interface the upstream client knows). */
  beforeCall(deadline: number): Promise<void> {
    return this.admit(GATEWAY_CALLER, deadline);
  }

  /** Calls of a caller bucket waiting for budget on this instance (the pending cap counts these). */
  waitingCalls(bucket: string): number {
    return this.waiting.get(bucket) ?? 0;
  }

  /** The gate for one caller's calls: its share, its pending cap and its turns. */
  forCaller(ref: CallerRef): UpstreamGate {
    return {
      beforeCall: (deadline) => this.admit(ref, deadline),
      afterCall: (record) => this.afterCall(record),
    };
  }

  /**
   * Resolves when `ref` may make one upstream call. Throws 503 (a pause, no budget in time,
   * shutdown) or 429 (the caller's pending cap or daily share); nothing is charged then.
   */
  private async admit(ref: CallerRef, deadline: number): Promise<void> {
    const started = Date.now();
    const left = deadline - started - this.callReserveMs;
    const maxWaitMs = Math.max(0, Math.min(this.opts.config.UPSTREAM_MAX_WAIT_MS, left));
    const known = this.keeper.knownRefusal();
    if (known?.kind === 'refuse') throw this.refused(known);
    // Too little time left for a call that would not be cut short (and maybe billed for nothing).
    if (left < 0) throw this.refused({ kind: 'refuse', reason: 'rate', retryMs: 1000, code: 0 });
    const cap = this.opts.config.CALLER_MAX_PENDING_UPSTREAM;
    const pending = this.waiting.get(ref.bucket) ?? 0;
    if (pending >= cap) {
      throw callerRefusal(
        'pending',
        `${pending} upstream calls of this caller are already waiting for budget on this instance (CALLER_MAX_PENDING_UPSTREAM=${cap}); retry when some are answered`,
        Math.max(1000, this.dispatcher.earliestMs(ref.bucket, started)),
      );
    }
    this.waiting.set(ref.bucket, pending + 1);
    let receipt: Receipt | undefined;
    try {
      const earliest = this.dispatcher.earliestMs(ref.bucket, started);
      if (earliest > maxWaitMs)
        throw this.refused({ kind: 'refuse', reason: 'rate', retryMs: earliest, code: 0 });
      const charge = await this.shares.charge(ref, started);
      if (charge && !charge.ok) {
        throw callerRefusal(
          'daily_share',
          `this caller's daily share of ${charge.share} upstream calls (CALLER_UPSTREAM_DAILY) is spent until the upstream's day ends`,
          charge.retryMs,
        );
      }
      receipt = charge?.receipt;
      const g = await this.dispatcher.acquire(ref.bucket, maxWaitMs);
      if (g.kind === 'closing') throw upstreamUnavailable('the gateway is shutting down', 1);
      if (g.kind === 'refuse') throw this.refused(g);
      receipt = undefined; // spent: the call goes now
      if (g.waited) this.opts.metrics.budgetWaits.inc();
      this.opts.metrics.budgetWaitSeconds.observe((Date.now() - started) / 1000);
      if (g.probe) this.probeSince = Date.now();
    } finally {
      if (receipt) this.shares.refund(receipt);
      const n = (this.waiting.get(ref.bucket) ?? 1) - 1;
      if (n > 0) this.waiting.set(ref.bucket, n);
      else this.waiting.delete(ref.bucket);
      this.updateGauges();
    }
  }

  private refused(v: Refusal): GatewayError {
    this.opts.metrics.budgetRefusals.inc({ reason: refusalMetricReason(v.reason) });
    return refusalError(v.reason, v.retryMs, v.code);
  }

  afterCall(record: UpstreamCallRecord): void {
    const event = eventOf(record.code);
    const isProbe = this.isProbe(record);
    if ((event === 'other' || event === 'nocode') && !isProbe) return;
    const code = record.code ?? 0;
    // Redis orders this write before any later gate call from this instance; others see it at once.
    const p = this.keeper.record(event, code, isProbe).then((r) => {
      logEffect(this.opts.log, r, code);
      this.updateGauges();
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /**
   * A failed call's error as its caller should see it. The upstream's 303 means no call until the
   * upstream's day ends, so its retry-after runs to midnight in UPSTREAM_QUOTA_TZ: the client that
   * read the code cannot know that calendar; the governor keeps it.
   */
  explain(err: unknown): unknown {
    if (!(err instanceof GatewayError) || err.upstreamCode !== 303) return err;
    const seconds = this.keeper.context(Date.now()).dayLeftMs / 1000;
    return upstreamUnavailable(err.message, seconds, 303);
  }

  /** For /readyz: not ready while the credential circuit cools down. Ready again when the probe
   *  may go, or no traffic would come to send it. */
  readiness(): ReadinessCheck {
    return {
      name: 'upstream-credentials',
      check: () => {
        const c = this.keeper.local.coolingDown(Date.now());
        if (!c) return null;
        const s = Math.ceil(c.leftMs / 1000);
        return `the upstream refused the gateway's credentials (code ${c.code}); next attempt in ${s} s`;
      },
    };
  }

  /** Resolves when what afterCall reported has been applied (tests; shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  /** Shutdown begins: calls waiting for budget get 503 now, so in-flight requests end quickly. */
  stopWaiting(): void {
    this.dispatcher.close();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.dispatcher.close();
    await this.idle();
  }

  /** The probe is the first answer to a call that began after the probe was granted. */
  private isProbe(record: UpstreamCallRecord): boolean {
    if (this.probeSince === null || Date.now() - record.latencyMs + 50 < this.probeSince) return false;
    this.probeSince = null;
    return true;
  }

  private updateGauges(): void {
    const { state, quotaLeft } = this.keeper.gauges(Date.now());
    this.opts.metrics.circuitOpen.set(state);
    if (quotaLeft !== null) this.opts.metrics.quotaRemaining.set(quotaLeft);
  }
}
