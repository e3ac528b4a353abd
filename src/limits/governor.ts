// Upstream governance: a global rate budget (GCRA), a daily quota and business-code back-off,
// shared by all instances through Redis (gatekeeper.ts decides where). This file is what the
// upstream client and the operations routes see: waiting, refusals, logs, gauges, readiness.
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { upstreamUnavailable } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ReadinessCheck } from '../plugins/observability.js';
import type { RedisConnection } from '../redis/connection.js';
import type { UpstreamCallRecord, UpstreamGate } from '../upstream/client.js';
import { CREDENTIAL_CODES } from '../upstream/codes.js';
import { type BackoffPolicy, type CircuitPolicy, DEFAULT_BACKOFF, DEFAULT_CIRCUIT } from './backoff.js';
import { Gatekeeper } from './gatekeeper.js';
import { logEffect, refusalError, refusalMetricReason } from './refusals.js';
import { Sleepers } from './sleepers.js';
import type { CallEvent } from './types.js';

export interface GovernorTuning {
  backoff?: Partial<BackoffPolicy>;
  circuit?: Partial<CircuitPolicy>;
  /** Calls that may start at once after an idle spell. Default 1: an upstream that counts per
   *  rolling second answers 302 to any burst above its rate. */
  burst?: number;
  /** How often the shared state is re-read for /readyz and the gauges (default 1000 ms). */
  statusRefreshMs?: number;
}

export interface GovernorOptions extends GovernorTuning {
  config: Config;
  redis: RedisConnection | null;
  metrics: GatewayMetrics;
  log: FastifyBaseLogger;
  /** Prefix of every Redis key (config.REDIS_KEY_PREFIX, or a test's own). */
  keyPrefix: string;
}

export function eventOf(code: number | null): CallEvent {
  if (code === null) return 'nocode';
  if (code === 0 || code === 201) return 'ok';
  if (code === 302 || code === 303) return code === 302 ? '302' : '303';
  return CREDENTIAL_CODES.has(code) ? 'credential' : 'other';
}

export class UpstreamGovernor implements UpstreamGate {
  private readonly keeper: Gatekeeper;
  /** Kept free at the end of a request's deadline: a call cut short may still be billed. */
  private readonly callReserveMs: number;
  /** Budget waits; close() ends them (no listener per waiter on a shared signal: sleepers.ts). */
  private readonly sleepers = new Sleepers();
  private readonly pending = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private probeSince: number | null = null;

  constructor(readonly opts: GovernorOptions) {
    this.keeper = new Gatekeeper({
      ...opts,
      backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
      circuit: { ...DEFAULT_CIRCUIT, ...opts.circuit },
      burst: Math.max(1, Math.floor(opts.burst ?? 1)),
    });
    this.callReserveMs = Math.min(opts.config.UPSTREAM_TIMEOUT_MS / 2, 5000);
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

  async beforeCall(deadline: number): Promise<void> {
    const started = Date.now();
    const left = deadline - started - this.callReserveMs;
    const maxWaitMs = Math.max(0, Math.min(this.opts.config.UPSTREAM_MAX_WAIT_MS, left));
    let v = this.keeper.knownRefusal() ?? (await this.keeper.decide('reserve', maxWaitMs));
    if (v.kind === 'wait') {
      this.opts.metrics.budgetWaits.inc();
      try {
        await this.sleepers.sleep(v.waitMs);
      } catch {
        throw upstreamUnavailable('the gateway is shutting down', 1);
      }
      // Pauses may have begun while this call waited for its slot.
      v = this.keeper.knownRefusal() ?? (await this.keeper.decide('admit', 0));
    }
    this.updateGauges();
    if (v.kind === 'refuse') {
      this.opts.metrics.budgetRefusals.inc({ reason: refusalMetricReason(v.reason) });
      throw refusalError(v.reason, v.retryMs, v.code);
    }
    if (v.kind === 'wait') throw new Error('admission answered wait'); // the scripts never do
    this.opts.metrics.budgetWaitSeconds.observe((Date.now() - started) / 1000);
    if (v.probe) this.probeSince = started;
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

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.sleepers.close(new Error('closing'));
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
