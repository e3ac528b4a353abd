// Cache keys of a catalogued request: the endpoint's name and its keyed parameters after defaults.
// An author's keys carry the `{a:<author>}` hash tag, so all of them (every endpoint) share one Redis
// Cluster slot with their index (purge by author). Spread-info keeps the format it had before the
// catalogue, byte for byte, so entries already paid for keep hitting.
import { encodeAuthorId, tupleKey } from '../cache/keys.js';
import type { SpreadParams } from '../upstream/params.js';
import { SPREAD_INFO } from './index.js';
import type { Tuple } from './params.js';
import type { EndpointSpec } from './types.js';

const KEY_VERSION = 'v1';

/** The spread-info tuple in the shape its key and normaliser were written for. */
export function spreadParamsOf(tuple: Tuple): SpreadParams {
  return {
    oAuthorId: tuple.oAuthorId!,
    platform: tuple.platform as SpreadParams['platform'],
    range: tuple.range as SpreadParams['range'],
    type: tuple.type as SpreadParams['type'],
    onlyAssign: tuple.onlyAssign === 'true',
    flowType: tuple.flowType as SpreadParams['flowType'],
  };
}

/** `name=value&…` of the keyed parameters present, in catalogue order; values percent-encoded, so no
 *  value can end a field or a hash tag. */
function keyedQuery(spec: EndpointSpec, tuple: Tuple, skip?: string): string {
  const parts: string[] = [];
  for (const name of spec.cacheKey) {
    const v = tuple[name];
    if (name !== skip && v !== undefined) parts.push(`${name}=${encodeURIComponent(v)}`);
  }
  return parts.join('&');
}

/** The tuple part of a key, without the deployment prefix: stable across instances and restarts. */
export function cacheKey(spec: EndpointSpec, tuple: Tuple): string {
  if (spec.name === SPREAD_INFO) return tupleKey(spreadParamsOf(tuple));
  const author = spec.authorParam === undefined ? undefined : tuple[spec.authorParam];
  if (author !== undefined)
    return `${KEY_VERSION}:{a:${encodeAuthorId(author)}}:${spec.name}?${keyedQuery(spec, tuple, spec.authorParam)}`;
  return `${KEY_VERSION}:{${spec.name}?${keyedQuery(spec, tuple)}}`;
}

/** The set that lists an author's keys on every endpoint (same hash tag: same slot). */
export function authorIndexKey(oAuthorId: string): string {
  return `${KEY_VERSION}:{a:${encodeAuthorId(oAuthorId)}}:index`;
}
