// Request and response schemas: the single source for validation, types and the OpenAPI document.
import { z } from 'zod';
import { ERROR_CODES, ERRORS } from '../errors.js';
import { matching, oneOf, strictFields, withFastPath } from '../http/fast-validation.js';
import { spreadMetricsSchema } from '../normalize/schema.js';
import { documentAs } from '../plugins/openapi-transform.js';
import {
  AUTHOR_ID_PATTERN,
  FLOW_TYPES,
  PLATFORMS,
  QUERY_DEFAULTS,
  RANGES,
  VIDEO_TYPES,
} from '../upstream/params.js';
import { EXAMPLE_AUTHOR_ID, SPREAD_INFO_EXAMPLE } from './examples.js';

const authorIdSchema = z
  .string()
  .regex(AUTHOR_ID_PATTERN, 'must be 1 to 64 characters of 0-9 A-Z a-z _ -')
  .meta({
    description: "The creator's Xingtu author id (upstream `oAuthorId`).",
    examples: [EXAMPLE_AUTHOR_ID],
  });

/**
 * `onlyAssign` in a query: the strings "true" and "false", as OpenAPI serialises a boolean query
 * parameter. Documented as a boolean, as in the batch body, so every route types it the same way.
 */
const onlyAssignQuerySchema = documentAs(
  z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  { type: 'boolean', default: false, description: 'Only include assigned videos.' },
);

const queryFields = {
  platform: z.enum(PLATFORMS).default(QUERY_DEFAULTS.platform).describe('Platform type.'),
  range: z.enum(RANGES).default(QUERY_DEFAULTS.range).describe('Time range: the last 30 or 90 days.'),
  type: z
    .enum(VIDEO_TYPES)
    .default(QUERY_DEFAULTS.type)
    .describe('Video type: personal or Xingtu (commissioned) videos.'),
  onlyAssign: onlyAssignQuerySchema,
  flowType: z.enum(FLOW_TYPES).default(QUERY_DEFAULTS.flowType).describe('Flow type filter.'),
};

/** The cache-hit path's shapes, read without zod (http/fast-validation.ts; zod decides the rest). */
const fastFields = {
  platform: oneOf(PLATFORMS),
  range: oneOf(RANGES),
  type: oneOf(VIDEO_TYPES),
  onlyAssign: (raw: string) => (raw === 'true' ? true : raw === 'false' ? false : undefined),
  flowType: oneOf(FLOW_TYPES),
};

export const spreadParamsSchema = withFastPath(
  z.strictObject({ oAuthorId: authorIdSchema }),
  strictFields({ oAuthorId: matching(AUTHOR_ID_PATTERN) }, {}, ['oAuthorId']),
);

/** Strict: an unknown parameter (including `token`) is a 400 that names it. */
export const spreadQuerySchema = withFastPath(
  z.strictObject(queryFields),
  strictFields(fastFields, QUERY_DEFAULTS),
);

/** The drop-in route takes the upstream's own query: oAuthorId in it, and `token` as the caller's key. */
export const dropInQuerySchema = withFastPath(
  z.strictObject({
    oAuthorId: authorIdSchema,
    ...queryFields,
    // Read by the auth hook before validation; repeated (an array), it is refused there unless a key
    // header was sent, in which case it is ignored.
    // Documented as the one string a client should send.
    token: documentAs(z.union([z.string(), z.array(z.string())]).optional(), {
      type: 'string',
      description:
        "Your **gateway** API key, where JustOneAPI clients put their token. A key header (x-api-key, authorization: Bearer), when sent, wins, and `token` is then ignored; without one, a repeated `token` is refused (code 100). Never forwarded, and masked in the gateway's logs.",
      examples: ['YOUR_GATEWAY_KEY'],
    }),
  }),
  strictFields(
    { ...fastFields, oAuthorId: matching(AUTHOR_ID_PATTERN), token: (raw: string) => raw },
    QUERY_DEFAULTS,
    ['oAuthorId'],
  ),
);

export const batchItemSchema = z.strictObject({
  oAuthorId: authorIdSchema,
  platform: queryFields.platform,
  range: queryFields.range,
  type: queryFields.type,
  onlyAssign: z.boolean().default(false).describe('Only include assigned videos.'),
  flowType: queryFields.flowType,
});

const querySchemaOut = z.object({
  platform: z.enum(PLATFORMS),
  range: z.enum(RANGES),
  type: z.enum(VIDEO_TYPES),
  onlyAssign: z.boolean(),
  flowType: z.enum(FLOW_TYPES),
});

const metaSchema = z
  .object({
    cache: z
      .enum(['HIT', 'MISS', 'STALE', 'REVALIDATED', 'BYPASS'])
      .describe('Where the answer came from (same as `x-cache`).'),
    stale: z
      .boolean()
      .describe(
        'True when served past its fresh window (upstream could not answer, or a refresh is under way).',
      ),
    fetchedAt: z.string().describe('When the upstream produced this answer (ISO 8601, UTC).'),
    ageSeconds: z.number().int().min(0).describe('Seconds since fetchedAt.'),
    upstreamRequestId: z
      .string()
      .nullable()
      .describe("The upstream's request id for the answer, when it sent one."),
  })
  .describe('How the answer was obtained.');

export const spreadInfoResponseSchema = z
  .object({
    authorId: z.string().describe('The author id asked for.'),
    query: querySchemaOut.describe('The parameters, with defaults applied.'),
    metrics: spreadMetricsSchema,
    meta: metaSchema,
  })
  .meta({
    description: 'Normalised distribution metrics for one author and parameter tuple.',
    examples: [SPREAD_INFO_EXAMPLE],
  });

export const errorObjectSchema = z.object({
  code: z.enum(ERROR_CODES).describe('Stable machine-readable code (see the error table).'),
  message: z.string().describe('Human-readable explanation; never contains secrets or internals.'),
  requestId: z.string().describe('The request id (also in `x-request-id`).'),
  upstreamCode: z
    .number()
    .int()
    .optional()
    .describe('The upstream business code behind this error, when there is one.'),
  retryAfterSeconds: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('When to try again (also in `retry-after`).'),
});

export const errorResponseSchema = z.object({ error: errorObjectSchema }).describe('Error envelope.');

/**
 * What an error status means on a route: each code of the error table with that status, and when.
 * NOT_FOUND is left out: it answers paths no route matches, so no documented route produces it.
 */
function statusMeaning(status: number): string {
  const codes = ERROR_CODES.filter((c) => c !== 'NOT_FOUND' && ERRORS[c].status === status);
  return codes.map((c) => `\`${c}\`: ${ERRORS[c].when}.`).join(' ') || 'Error.';
}

/** The error responses of a route, one per status it can produce, each with its meaning. */
export function errorResponses<S extends number>(
  statuses: readonly S[],
): Record<S, typeof errorResponseSchema> {
  return Object.fromEntries(
    statuses.map((s) => [s, errorResponseSchema.describe(statusMeaning(s))]),
  ) as Record<S, typeof errorResponseSchema>;
}
