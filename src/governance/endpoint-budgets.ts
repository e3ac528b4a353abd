// What governance knows of one endpoint from the configuration: its own rate under the account
// ceiling, its own daily quota, its cost in share units. Endpoints are named as the upstream's path
// names them (its last segment before the version, e.g. get_author_spread_info); an endpoint
// nobody configured has no rate of its own (the account ceiling alone), no quota and its catalogue cost (1 unless the catalogue says more).
import { CATALOGUE, SPREAD_INFO } from '../catalogue/index.js';
import type { Config } from '../config.js';

/** The endpoint a caller that names none calls (the /v1 routes and the batch). */
export const SPREAD_INFO_ENDPOINT = SPREAD_INFO;

export interface EndpointBudget {
  /** Calls per second of this endpoint over all instances; null: only the account ceiling. */
  rps: number | null;
  /** Calls per upstream day of this endpoint; 0: none. */
  dailyQuota: number;
  /** Share units one call costs (CALLER_UPSTREAM_DAILY counts these). */
  cost: number;
}

export function endpointBudget(config: Config, endpoint: string): EndpointBudget {
  const rps = config.UPSTREAM_ENDPOINT_MAX_RPS;
  return {
    rps: rps.byName.get(endpoint) ?? rps.others,
    dailyQuota: config.UPSTREAM_ENDPOINT_DAILY_QUOTA.byName.get(endpoint) ?? 0,
    cost: config.UPSTREAM_ENDPOINT_COST.byName.get(endpoint) ?? CATALOGUE.byName(endpoint)?.cost ?? 1,
  };
}

/** Every endpoint the configuration names (gauges and /readyz show these before any call). */
export function configuredEndpoints(config: Config): string[] {
  const names = new Set<string>();
  for (const p of [config.UPSTREAM_ENDPOINT_MAX_RPS, config.UPSTREAM_ENDPOINT_DAILY_QUOTA])
    for (const n of p.byName.keys()) names.add(n);
  return [...names].sort();
}
