// Upstream governance (issue "Upstream governance and caller access"): global rate budget, daily
// quota and business-code back-off, shared by all instances through Redis.
// STUB: lets every call through until that issue lands.
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ReadinessCheck } from '../plugins/observability.js';
import type { RedisConnection } from '../redis/connection.js';
import type { UpstreamCallRecord, UpstreamGate } from '../upstream/client.js';

export interface GovernorOptions {
  config: Config;
  redis: RedisConnection | null;
  metrics: GatewayMetrics;
  log: FastifyBaseLogger;
  /** Prefix of every Redis key (config.REDIS_KEY_PREFIX, or a test's own). */
  keyPrefix: string;
}

export class UpstreamGovernor implements UpstreamGate {
  constructor(readonly opts: GovernorOptions) {}

  async beforeCall(_deadline: number): Promise<void> {}

  afterCall(_record: UpstreamCallRecord): void {}

  /** For /readyz: not ready while the credential circuit is open. */
  readiness(): ReadinessCheck {
    return { name: 'upstream-credentials', check: () => null };
  }

  async close(): Promise<void> {}
}
