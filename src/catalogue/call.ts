// One request to one catalogued endpoint, as the cache sees it: the entry, the tuple (known
// parameters after defaults: the upstream query is built from it) and the cache key derived from both.
import { tupleKey } from '../cache/keys.js';
import type { SpreadParams } from '../upstream/params.js';
import { CATALOGUE, SPREAD_INFO } from './index.js';
import { cacheKey } from './keys.js';
import type { Tuple } from './params.js';
import type { EndpointSpec } from './types.js';

export interface EndpointCall {
  readonly spec: EndpointSpec;
  readonly tuple: Tuple;
  /** The cache key without the deployment prefix. */
  readonly key: string;
}

export function endpointCall(spec: EndpointSpec, tuple: Tuple): EndpointCall {
  return { spec, tuple, key: cacheKey(spec, tuple) };
}

const SPREAD_SPEC = CATALOGUE.get(SPREAD_INFO);

/** A spread-info request from the normalised routes' typed parameters (same key as the drop-in's). */
export function spreadInfoCall(p: SpreadParams): EndpointCall {
  return {
    spec: SPREAD_SPEC,
    tuple: {
      oAuthorId: p.oAuthorId,
      platform: p.platform,
      range: p.range,
      type: p.type,
      onlyAssign: p.onlyAssign ? 'true' : 'false',
      flowType: p.flowType,
    },
    key: tupleKey(p),
  };
}
