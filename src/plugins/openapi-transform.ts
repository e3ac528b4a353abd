// How a route becomes an OpenAPI operation: the zod schemas (as fastify-type-provider-zod converts
// them), plus what the route's answers carry beyond its schemas: the security requirement, the
// request and response headers, and the 304. Client generators and linters read all of it.
import { createJsonSchemaTransform } from 'fastify-type-provider-zod';
import type { ZodType } from 'zod';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answers carry x-cache, age, etag, cache-control and vary, and `if-none-match` may get 304. */
    cacheable?: boolean;
    /** An admin's `cache-control: no-cache` forces an upstream call. */
    forceRefresh?: boolean;
  }
}

/** Either header works; OpenAPI lists alternatives as separate requirement objects. */
export const CALLER_SECURITY: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }];

type Json = Record<string, unknown>;
type Override = NonNullable<
  NonNullable<Parameters<typeof createJsonSchemaTransform>[0]['zodToJsonConfig']>['override']
>;

const documented = new WeakMap<object, Json>();

/**
 * Documents `schema` as `json` instead of what zod would derive. For query parameters whose wire
 * form the validator handles itself: a query `onlyAssign` is a boolean in the document (OpenAPI
 * sends a boolean query parameter as "true"/"false", exactly what the route accepts), so every
 * route types it the same way.
 */
export function documentAs<T extends ZodType>(schema: T, json: Json): T {
  documented.set(schema, json);
  return schema;
}

/** Also drops zod's `int()` bounds of +-2^53 (Swagger UI showed -9007199254740991 as the example). */
export const documentOverride: Override = ({ zodSchema, jsonSchema }) => {
  const js = jsonSchema as Json;
  // What the library's own override does for OpenAPI 3.1: an `undefined` branch becomes {}; drop it.
  if (zodSchema._zod.def.type === 'union' && Array.isArray(js.anyOf))
    js.anyOf = (js.anyOf as Json[]).filter((b) => Object.keys(b).length > 0);
  if (js.minimum === Number.MIN_SAFE_INTEGER) delete js.minimum;
  if (js.maximum === Number.MAX_SAFE_INTEGER) delete js.maximum;
  const replacement = documented.get(zodSchema);
  if (replacement) {
    for (const k of Object.keys(js)) delete js[k];
    Object.assign(js, structuredClone(replacement));
  }
};

export const zodTransform = createJsonSchemaTransform({ zodToJsonConfig: { override: documentOverride } });

const int = (description: string) => ({ type: 'integer', minimum: 0, description });
const str = (description: string) => ({ type: 'string', description });

const H = {
  'x-request-id': str('The request id (taken from the request when valid, else made); also in error bodies.'),
  'x-cache': {
    type: 'string',
    enum: ['HIT', 'MISS', 'STALE', 'BYPASS'],
    description: 'Where the answer came from (as `meta.cache`).',
  },
  age: int('Seconds since the upstream produced the answer.'),
  etag: str('Weak validator of the answer; send it back as `if-none-match` for a 304.'),
  'cache-control': str(
    '`private, max-age=<seconds left fresh>` on answers (`max-age=0` when stale); `no-store` on drop-in errors.',
  ),
  vary: str('`x-api-key, authorization, origin` (with CORS, `Origin` first): answers depend on the caller.'),
  'ratelimit-limit': int(
    "The caller's request limit per window (absent on the 429 for too many failed credentials, answered before the caller is known).",
  ),
  'ratelimit-remaining': int('Requests left in the current window.'),
  'ratelimit-reset': int('Seconds until the window resets.'),
  'retry-after': int('Seconds to wait before trying again.'),
  'x-ignored-params': str(
    'Query parameters the endpoint does not take (e.g. `acceptCache`, which older SDKs sent), comma-separated: accepted, not forwarded, not part of the cache key.',
  ),
};

export const REQUEST_HEADERS = {
  'if-none-match': str('An `etag` from an earlier answer: 304 with no body while it is still current.'),
  'cache-control': str(
    '`no-cache` from an admin key forces an upstream call (`x-cache: BYPASS`); ignored for other callers.',
  ),
};

type RouteConfig = { auth?: string; cacheable?: boolean; forceRefresh?: boolean; errorEnvelope?: string };

/** The headers one response of a route carries. */
export function responseHeaders(status: string, c: RouteConfig): Json {
  const code = Number(status);
  const headers: Json = { 'x-request-id': H['x-request-id'] };
  const ok = code === 200 || code === 304;
  if (c.cacheable && ok) {
    for (const k of ['x-cache', 'age', 'etag', 'cache-control', 'vary'] as const) headers[k] = H[k];
  }
  if (c.auth && !ok) headers.vary = H.vary;
  // Answered before the limit counts (no caller to count against), so without its headers; so is
  // the failed-credential 429 (the header descriptions say so).
  if (c.auth && code !== 401 && code !== 403) {
    for (const k of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'] as const) headers[k] = H[k];
  }
  if (code === 429 || code === 503 || (c.errorEnvelope && code === 200))
    headers['retry-after'] = H['retry-after'];
  if (c.errorEnvelope && code === 200) headers['cache-control'] = H['cache-control'];
  if (c.errorEnvelope && code === 200) headers['x-ignored-params'] = H['x-ignored-params'];
  return headers;
}

type TransformInput = Parameters<typeof zodTransform>[0] & { route?: { config?: RouteConfig } };

/** The zod transform, plus security, headers and the 304 of every route that has them. */
export function documentRoute(input: TransformInput): ReturnType<typeof zodTransform> {
  const out = zodTransform(input);
  if (!out.schema || out.schema.hide) return out;
  const config = input.route?.config ?? {};
  const schema: Json = { ...out.schema };
  if (config.auth) schema.security = CALLER_SECURITY;
  const requestHeaders: Json = {};
  if (config.cacheable) requestHeaders['if-none-match'] = REQUEST_HEADERS['if-none-match'];
  if (config.forceRefresh) requestHeaders['cache-control'] = REQUEST_HEADERS['cache-control'];
  if (Object.keys(requestHeaders).length > 0) schema.headers = { type: 'object', properties: requestHeaders };
  const responses: Record<string, Json> = { ...((schema.response as Record<string, Json>) ?? {}) };
  if (config.cacheable)
    responses['304'] = {
      type: 'null',
      description: 'Not modified: the `if-none-match` etag is still current. No body.',
    };
  for (const [status, response] of Object.entries(responses))
    responses[status] = { ...response, headers: responseHeaders(status, config) };
  schema.response = responses;
  return { ...out, schema };
}
