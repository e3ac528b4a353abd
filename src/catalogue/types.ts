// What an endpoint of the upstream family is, as data: the one place routes, cache keys, freshness,
// the OpenAPI document, metric labels and usage rows ask. The rows themselves are generated from the
// official SDK's catalogue (scripts/catalogue-from-sdk.ts writes xingtu.ts).

/**
 * How a parameter's value is checked. `author-id`: an author (oAuthorId, kolId, starAuthorId; purge
 * by author reads it); `id`: another opaque id (a video's); `enum`: one of `values`, `aliases` or the
 * default; `range`: "min-max" filters of numbers; `text`: free text of at most `maxLength` characters.
 */
export type ParamKind = 'author-id' | 'id' | 'enum' | 'boolean' | 'integer' | 'date' | 'range' | 'text';

export interface ParamSpec {
  readonly name: string;
  readonly kind: ParamKind;
  readonly required: boolean;
  /** As sent in a query string (booleans "true"/"false", integers as digits). Filled when absent. */
  readonly default?: string;
  /** The SDK's enum (documented values). */
  readonly values?: readonly string[];
  /** Other spellings the SDK documents as accepted (numeric codes, Chinese labels). */
  readonly aliases?: readonly string[];
  /** An enum whose description says any name, id or label is accepted: `values` only document it. */
  readonly open?: boolean;
  /** Longest value accepted (text and range kinds). */
  readonly maxLength?: number;
  readonly description: string;
}

/**
 * How long an answer stays fresh: `profile` (author metrics: CACHE_FRESH_SECONDS), `search` (short),
 * `date-range` (long once its range lies wholly in the past), `per-video` (video reports).
 */
export type FreshnessClass = 'profile' | 'search' | 'date-range' | 'per-video';

export interface EndpointSpec {
  /** The path's last segment before its version (`get_author_base_info`, `get-kol-info`): unique. */
  readonly name: string;
  readonly upstreamPath: string;
  /** The SDK's operationId, so code generated from either document keeps its names. */
  readonly operationId: string;
  readonly summary: string;
  readonly description: string;
  /** Every query parameter the upstream takes, except `token`. */
  readonly params: readonly ParamSpec[];
  /** The parameters that form the cache key (after defaults are filled). */
  readonly cacheKey: readonly string[];
  /** The parameter naming the author, when there is one (purge by author). */
  readonly authorParam?: string;
  readonly freshness: FreshnessClass;
  /** Cost units of one call (default 1; UPSTREAM_ENDPOINT_COST overrides). */
  readonly cost: number;
  readonly deprecated: boolean;
}
