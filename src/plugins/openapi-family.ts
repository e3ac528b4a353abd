// The family's drop-in paths in the OpenAPI document, written from the catalogue: one GET per
// catalogued path with its parameters (kinds, defaults, accepted values, the SDK's operationId and
// deprecation), answering the upstream's envelope. The routes validate with the catalogue's own
// checks, not zod schemas, so swagger cannot derive these operations; spread-info's keeps the one
// its zod schemas give (its `data` is described field by field there).
import { z } from 'zod';
import { CATALOGUE } from '../catalogue/index.js';
import type { EndpointSpec, ParamSpec } from '../catalogue/types.js';
import { DROP_IN_ANSWER_CODES } from '../http/drop-in-codes.js';
import { errorObjectSchema } from '../routes/schemas.js';
import { AUTHOR_ID_PATTERN } from '../upstream/params.js';
import { CALLER_SECURITY, documentOverride, REQUEST_HEADERS, responseHeaders } from './openapi-transform.js';

type Json = Record<string, unknown>;

/**
 * A real calendar day (year 0001 on, 29 February in leap years only) with `sep` between its parts:
 * what the catalogue's date check accepts, written as a pattern for clients that validate.
 */
function calendarDay(sep: string): string {
  const year = '(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})';
  const leap = '(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)';
  const monthDay =
    `(?:(?:0[1-9]|1[0-2])${sep}(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])${sep}(?:29|30)` +
    `|(?:0[13578]|1[02])${sep}31)`;
  return `${year}${sep}${monthDay}|${leap}${sep}02${sep}29`;
}

/** The query forms the catalogue's checks accept (src/catalogue/params.ts), as JSON Schema patterns. */
const PATTERNS = {
  id: AUTHOR_ID_PATTERN.source,
  integer: '^(0|[1-9][0-9]{0,5})$',
  date: `^(?:${calendarDay('-')}|${calendarDay('')})$`,
  range: '^[0-9.:-]*$',
};

/** A parameter's schema: what a value must look like, its default and accepted values. */
function paramSchema(p: ParamSpec): Json {
  const def = p.default === undefined || p.default === '' ? {} : { default: p.default };
  switch (p.kind) {
    case 'author-id':
    case 'id':
      return { type: 'string', pattern: PATTERNS.id };
    case 'boolean':
      return { type: 'boolean', ...(p.default === undefined ? {} : { default: p.default === 'true' }) };
    case 'integer':
      return {
        type: 'integer',
        minimum: 0,
        maximum: 999_999,
        ...(p.default === undefined ? {} : { default: Number(p.default) }),
      };
    case 'date':
      return { type: 'string', pattern: PATTERNS.date };
    case 'range':
      return { type: 'string', pattern: PATTERNS.range, maxLength: p.maxLength ?? 64, ...def };
    case 'text':
      return { type: 'string', maxLength: p.maxLength ?? 200, ...def };
    case 'enum': {
      // The raw codes the SDK sends as defaults (liveType=1) are accepted as well as its names.
      const accepted = [
        ...new Set([...(p.values ?? []), ...(p.aliases ?? []), ...(p.default ? [p.default] : [])]),
      ];
      if (p.open)
        return {
          type: 'string',
          maxLength: p.maxLength ?? 200,
          examples: p.values?.slice(0, 3) ?? [],
          ...def,
        };
      return { type: 'string', enum: accepted, ...def };
    }
  }
}

function describeParam(p: ParamSpec): string {
  const extra =
    p.kind !== 'enum'
      ? ''
      : p.open
        ? ' Any name, id or label is accepted; the listed values are examples.'
        : p.aliases?.length
          ? ` Also accepted: ${p.aliases.map((a) => `\`${a}\``).join(', ')} (codes the SDK sends).`
          : '';
  return `${p.description}${extra}`;
}

const requestId = z
  .string()
  .describe("The upstream's request id for this answer (kept from cache); the gateway's own on errors.");
const recordTime = z
  .string()
  .describe('When the upstream produced this answer (ISO 8601 UTC, to the second).');

/** The envelope every family path answers, its `data` passed through as the upstream sent it. */
const familyEnvelopeSchema = z
  .union([
    z
      .object({
        code: z.literal(0).describe('0: success.'),
        message: z
          .string()
          .nullable()
          .describe('As the upstream sent it with this answer (usually "success").'),
        requestId,
        recordTime,
        data: z
          .looseObject({})
          .describe(
            "The upstream's `data` exactly as it sent it. Only spread-info's shape is published; the gateway " +
              'passes every member through unread.',
          ),
      })
      .describe('Success: the cached or freshly fetched upstream answer.'),
    z
      .object({
        code: z
          .literal(DROP_IN_ANSWER_CODES.filter((c) => c !== 0) as [number, ...number[]])
          .describe(
            'Business code from the upstream\'s table: see "Drop-in business codes" in the introduction.',
          ),
        message: z.string().describe("The gateway's explanation (the same as `error.message`)."),
        requestId,
        recordTime,
        data: z.null().describe('Always null on errors, as the upstream sends it.'),
        error: errorObjectSchema.describe("The gateway's own error, as the other routes send it."),
      })
      .describe(
        'Any other outcome, including 201 "no content": HTTP 200 all the same, as the upstream answers.',
      ),
  ])
  .describe("JustOneAPI's own envelope for every outcome. Decide on `code` (0: success).");

const ENVELOPE_REF = '#/components/schemas/UpstreamFamilyEnvelope';

const FRESHNESS: Record<EndpointSpec['freshness'], string> = {
  profile: 'author profile and metrics (`CACHE_FRESH_SECONDS`)',
  search: 'search results (short)',
  'date-range': 'a date range (long once the range lies wholly in the past)',
  'per-video': 'per-video reports',
};

/** Header schemas as a response object lists them (the description beside the schema, as swagger does). */
const asHeaders = (headers: Json): Json =>
  Object.fromEntries(
    Object.entries(headers).map(([k, v]) => {
      const { description, ...schema } = v as Json;
      return [k, { schema, description }];
    }),
  );

function operation(e: EndpointSpec, token: Json | undefined): Json {
  const config = { auth: 'caller', cacheable: true, forceRefresh: true, errorEnvelope: 'upstream' };
  const ok = responseHeaders('200', config);
  return {
    operationId: e.operationId,
    summary: e.summary,
    description:
      `${e.description}\n\nServed like the spread-info drop-in route: \`token\` is your **gateway** key, the ` +
      `answer is the upstream's envelope for every outcome, cached as ${FRESHNESS[e.freshness]}. Cache key: ` +
      `${e.cacheKey.map((k) => `\`${k}\``).join(', ') || 'none'}.${e.deprecated ? ' Deprecated by the upstream (the SDK marks it so).' : ''}`,
    tags: ['drop-in'],
    ...(e.deprecated ? { deprecated: true } : {}),
    security: CALLER_SECURITY,
    parameters: [
      ...e.params.map((p) => ({
        name: p.name,
        in: 'query',
        required: p.required,
        description: describeParam(p),
        schema: paramSchema(p),
      })),
      ...(token ? [token] : []),
      { name: 'if-none-match', in: 'header', required: false, ...REQUEST_HEADERS['if-none-match'] },
      { name: 'cache-control', in: 'header', required: false, ...REQUEST_HEADERS['cache-control'] },
    ].map(({ type, ...p }: Json) => (type === undefined ? p : { ...p, schema: { type } })),
    responses: {
      '200': {
        description: 'The upstream envelope: see "Drop-in business codes" in the introduction.',
        headers: asHeaders(ok),
        content: { 'application/json': { schema: { $ref: ENVELOPE_REF } } },
      },
      '304': {
        description: 'Not modified: the `if-none-match` etag is still current. No body.',
        headers: asHeaders(responseHeaders('304', config)),
      },
    },
  };
}

interface Doc {
  paths?: Record<string, Record<string, Json>>;
  components?: { schemas?: Record<string, unknown> };
}

/**
 * The document with every catalogued path but spread-info's written from the catalogue (replacing
 * whatever swagger made of the route serving it). Spread-info's drop-in `token` parameter is reused,
 * so both say the same.
 */
export function withFamily<T extends object>(
  document: T,
  endpoints: readonly EndpointSpec[] = CATALOGUE.endpoints,
): T {
  // swagger's document types do not index by path and method; this reads and writes plain JSON.
  const doc = document as Doc;
  const paths = { ...(doc.paths ?? {}) };
  const spreadGet = Object.values(paths).find(
    (item) => (item['get'] as Json | undefined)?.['operationId'] === SPREAD_OPERATION,
  )?.['get'] as { parameters?: Json[] } | undefined;
  const token = spreadGet?.parameters?.find((p) => p['name'] === 'token' && p['in'] === 'query');
  for (const e of endpoints) {
    if (e.operationId === SPREAD_OPERATION) continue;
    paths[e.upstreamPath] = { get: operation(e, token) };
  }
  const { $schema: _, ...envelope } = z.toJSONSchema(familyEnvelopeSchema, {
    target: 'draft-2020-12',
    override: documentOverride,
  });
  const schemas = { ...(doc.components?.schemas ?? {}), UpstreamFamilyEnvelope: envelope };
  return { ...doc, paths, components: { ...doc.components, schemas } } as T;
}

const SPREAD_OPERATION = 'getApiDouyinXingtuGwApiDataSpGetAuthorSpreadInfoV1';
