// GET /v1/usage?day=YYYY-MM-DD (admin): per caller, one upstream day, all instances together:
// requests, cache hits, upstream calls (billed or not), refusals by reason, and the daily share.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import { quotaDayId } from '../governance/quota-day.js';
import type { CallerShares } from '../limits/caller-shares.js';
import { CALLER_REFUSAL_REASONS, USAGE_RETENTION_DAYS } from '../limits/usage.js';
import { errorResponses } from './schemas.js';

export const USAGE_PATH = '/v1/usage';

const isCalendarDay = (d: string) => {
  const t = Date.parse(`${d}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === d;
};

export const usageQuerySchema = z.strictObject({
  day: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
    .refine(isCalendarDay, 'not a calendar day')
    .optional()
    .describe(
      `Upstream day (midnight to midnight in UPSTREAM_QUOTA_TZ); default today. Kept ${USAGE_RETENTION_DAYS} days.`,
    ),
});

const count = (what: string) => z.number().int().describe(what);

const callerUsageSchema = z.object({
  caller: z
    .string()
    .describe("The key's name, `jwt:<claim>` for JWT callers, or `anonymous` (all addresses together)."),
  requests: count('Requests on the metrics routes (a batch item counts one), refused ones included.'),
  cacheHits: count('Requests answered without an upstream call made for them: hits, stale, coalesced.'),
  upstreamCalls: count('Upstream calls (attempts) charged to this caller: its requests made them.'),
  billedCalls: count('Of those, the ones the upstream bills (codes 0 and 201).'),
  refused: z
    .object(
      Object.fromEntries(
        CALLER_REFUSAL_REASONS.map((r) => [r, count(`Requests refused with 429 for reason "${r}".`)]),
      ) as Record<(typeof CALLER_REFUSAL_REASONS)[number], z.ZodNumber>,
    )
    .describe('429 answers by reason: rate (CALLER_RATE_LIMIT), daily_share, pending, credentials.'),
  endpoints: z
    .record(
      z.string(),
      z.object({
        requests: count('Requests for this endpoint.'),
        cacheHits: count('Of those, answered without an upstream call made for them.'),
        upstreamCalls: count('Upstream calls (attempts) on this endpoint charged to this caller.'),
        billedCalls: count('Of those, the ones the upstream bills.'),
      }),
    )
    .describe('The same figures per endpoint (catalogue name), for the endpoints this caller used that day.'),
  share: z
    .object({
      limit: count(
        "The caller's CALLER_UPSTREAM_DAILY share (for anonymous callers: all addresses together).",
      ),
      used: count('Upstream calls charged against it that day (anonymous: all addresses together).'),
      left: z
        .number()
        .int()
        .nullable()
        .describe(
          'What is left of it (never null since anonymous callers share one share; nullable for older clients).',
        ),
    })
    .nullable()
    .describe('null when the caller has no share.'),
});

const usageResponseSchema = z.object({
  day: z.string().describe('The upstream day reported.'),
  callers: z.array(callerUsageSchema).describe('One entry per caller seen that day, by name.'),
});

type CallerUsageRow = z.infer<typeof callerUsageSchema>;

/** Joins the usage counters and the share counters (by limit bucket) into one row per caller. */
export function usageRows(
  counts: Map<string, Map<string, number>>,
  sharesUsed: Map<string, number>,
  shareOf: CallerShares['shareOf'],
): CallerUsageRow[] {
  const usedByName = new Map<string, number>();
  for (const [bucket, n] of sharesUsed) {
    const name = bucket.startsWith('caller:') ? bucket.slice('caller:'.length) : 'anonymous';
    usedByName.set(name, (usedByName.get(name) ?? 0) + n);
  }
  const names = [...new Set([...counts.keys(), ...usedByName.keys()])].sort();
  return names.map((caller) => {
    const c = counts.get(caller) ?? new Map<string, number>();
    const n = (k: string) => c.get(k) ?? 0;
    const anonymous = caller === 'anonymous';
    const limit = shareOf(caller, anonymous);
    const used = usedByName.get(caller) ?? 0;
    const endpoints: CallerUsageRow['endpoints'] = {};
    for (const [field, value] of c) {
      const at = field.indexOf('@');
      if (at <= 0) continue;
      const name = field.slice(at + 1);
      const row = endpoints[name] ?? { requests: 0, cacheHits: 0, upstreamCalls: 0, billedCalls: 0 };
      endpoints[name] = row;
      const counter = field.slice(0, at);
      if (counter in row) row[counter as keyof typeof row] += value;
    }
    return {
      caller,
      requests: n('requests'),
      cacheHits: n('cacheHits'),
      upstreamCalls: n('upstreamCalls'),
      billedCalls: n('billedCalls'),
      refused: Object.fromEntries(
        CALLER_REFUSAL_REASONS.map((r) => [r, n(`refused.${r}`)]),
      ) as CallerUsageRow['refused'],
      endpoints,
      share: limit === null ? null : { limit, used, left: Math.max(0, limit - used) },
    };
  });
}

const usageRoute: FastifyPluginAsyncZod<{ tz: string }> = async (app, opts) => {
  app.get(
    USAGE_PATH,
    {
      config: { auth: 'admin' },
      schema: {
        operationId: 'getUsage',
        summary: 'Usage per caller for one upstream day (admin)',
        description:
          'Shared by all instances (each writes its counts to Redis about once a second; this one first). ' +
          'What a crashed instance counted in its last second is not included.',
        tags: ['usage'],
        querystring: usageQuerySchema,
        response: {
          200: usageResponseSchema,
          ...errorResponses([400, 401, 403, 429, 500, 503]),
        },
      },
    },
    async (request) => {
      const day = request.query.day ?? quotaDayId(Date.now(), opts.tz);
      try {
        const [counts, used] = await Promise.all([app.usage.counts(day), app.governor.shares.usedOn(day)]);
        return { day, callers: usageRows(counts, used, (n, a) => app.governor.shares.shareOf(n, a)) };
      } catch (err) {
        request.log.warn({ err: String(err) }, 'usage not readable from Redis');
        throw new GatewayError(
          'UPSTREAM_UNAVAILABLE',
          'usage figures are kept in Redis, which does not answer; try again shortly',
          { retryAfterSeconds: 5 },
        );
      }
    },
  );
};

export default usageRoute;
