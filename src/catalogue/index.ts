// The catalogue of the upstream family: every endpoint by name and by path, checked once at load
// (unique names and paths, every cache-key parameter and default known), so a bad row stops the
// process at start rather than answering wrongly later.
import type { EndpointSpec } from './types.js';
import { XINGTU_ENDPOINTS } from './xingtu.js';

/** The endpoint the normalised /v1 route and the batch serve. */
export const SPREAD_INFO = 'get_author_spread_info';

/** Where the family's paths start: anything else under it that is not catalogued is refused. */
export const FAMILY_PREFIX = '/api/douyin-xingtu/';

export class Catalogue {
  private readonly names = new Map<string, EndpointSpec>();
  private readonly paths = new Map<string, EndpointSpec>();

  constructor(readonly endpoints: readonly EndpointSpec[]) {
    for (const e of endpoints) {
      if (this.names.has(e.name)) throw new Error(`catalogue: endpoint name ${e.name} appears twice`);
      if (this.paths.has(e.upstreamPath)) throw new Error(`catalogue: path ${e.upstreamPath} appears twice`);
      if (!e.upstreamPath.startsWith(FAMILY_PREFIX))
        throw new Error(`catalogue: ${e.name}'s path is outside ${FAMILY_PREFIX}`);
      checkEntry(e);
      this.names.set(e.name, e);
      this.paths.set(e.upstreamPath, e);
    }
  }

  byName(name: string): EndpointSpec | undefined {
    return this.names.get(name);
  }

  /** Exact match only: the caller decodes the path once before asking. */
  byPath(path: string): EndpointSpec | undefined {
    return this.paths.get(path);
  }

  /** The entry by name; throws for a name that is not catalogued (a programming error). */
  get(name: string): EndpointSpec {
    const e = this.names.get(name);
    if (!e) throw new Error(`catalogue: no endpoint named ${name}`);
    return e;
  }

  get size(): number {
    return this.endpoints.length;
  }
}

function checkEntry(e: EndpointSpec): void {
  const params = new Set<string>();
  for (const p of e.params) {
    if (params.has(p.name)) throw new Error(`catalogue: ${e.name} lists parameter ${p.name} twice`);
    if (p.name === 'token') throw new Error(`catalogue: ${e.name} lists token as a parameter`);
    params.add(p.name);
  }
  for (const k of e.cacheKey)
    if (!params.has(k)) throw new Error(`catalogue: ${e.name}'s cache key names unknown parameter ${k}`);
  if (e.authorParam !== undefined && !e.cacheKey.includes(e.authorParam))
    throw new Error(`catalogue: ${e.name}'s author parameter is not in its cache key`);
  if (!(Number.isInteger(e.cost) && e.cost >= 1)) throw new Error(`catalogue: ${e.name}'s cost must be >= 1`);
}

/**
 * What an endpoint's answer is about, as its "no content" message names it: `author` when it takes
 * one, else its id parameter (`itemId`, `detailId`), else `keyword` (the searches), else `request`.
 */
export function subjectOf(e: EndpointSpec): string {
  if (e.authorParam !== undefined) return 'author';
  const p = e.params.find((q) => q.kind === 'id') ?? e.params.find((q) => q.name === 'keyword');
  return p?.name ?? 'request';
}

/** The Douyin Xingtu family, as the SDK lists it. */
export const CATALOGUE = new Catalogue(XINGTU_ENDPOINTS);
