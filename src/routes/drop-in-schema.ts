// The upstream's own response envelope, as the drop-in route answers it. Documentation (and the
// typed clients generated from it): the route sends the cached upstream values unchanged, so
// nothing here reshapes them. Every field is optional and every object open, because the upstream
// leaves fields out, sends {} for some blocks, and may add fields later; all of them pass through.
import { z } from 'zod';
import { DROP_IN_ANSWER_CODES } from '../http/drop-in-codes.js';
import { UPSTREAM_EXAMPLE_DATA } from './examples.js';
import { errorObjectSchema } from './schemas.js';

const numeric = (what: string) =>
  z.union([z.string(), z.number()]).optional().describe(`${what} Usually a numeric string.`);

const see = (upstream: string, normalised: string) =>
  `Upstream \`${upstream}\`; on the normalised route \`metrics.${normalised}\`, where its unit is described.`;

/** `{label, overtake, value}`; {} for some authors. */
const ranked = (upstream: string, normalised: string) =>
  z
    .looseObject({
      label: z.string().optional().describe('Comparison group (content category); "" when none.'),
      overtake: numeric('Share of comparable creators this author beats (appears to be basis points).'),
      value: numeric('The metric itself.'),
    })
    .optional()
    .describe(`${see(upstream, normalised)} May be {}.`);

const tiers = (upstream: string, prefix: string, normalised: string) =>
  z
    .looseObject({
      [`${prefix}_1_20`]: numeric('Videos of 1-20 s (appears to be fen).'),
      [`${prefix}_21_60`]: numeric('Videos of 21-60 s (appears to be fen).'),
      [`${prefix}_60`]: numeric('Videos longer than 60 s (appears to be fen).'),
    })
    .optional()
    .describe(`${see(upstream, normalised)} May be {}.`);

const upstreamDataSchema = z
  .looseObject({
    avg_duration: numeric(`${see('avg_duration', 'avgDuration')}`),
    item_num: numeric(`${see('item_num', 'itemCount')}`),
    play_mid: numeric(`${see('play_mid', 'playMedian')}`),
    like_avg: numeric(`${see('like_avg', 'likeAvg')}`),
    comment_avg: numeric(`${see('comment_avg', 'commentAvg')}`),
    share_avg: numeric(`${see('share_avg', 'shareAvg')}`),
    interact_rate: ranked('interact_rate', 'interactRate'),
    play_over_rate: ranked('play_over_rate', 'playOverRate'),
    play_stability: ranked('play_stability', 'playStability'),
    item_rate: z
      .looseObject({
        interact_rate: ranked('item_rate.interact_rate', 'itemRate.interactRate'),
        item_num: ranked('item_rate.item_num', 'itemRate.itemCount'),
        play_mid: ranked('item_rate.play_mid', 'itemRate.playMedian'),
      })
      .optional()
      .describe(`${see('item_rate', 'itemRate')} May be {}.`),
    expect_cpm: tiers('expect_cpm', 'cpm', 'expectedCpm'),
    expect_cpe: tiers('expect_cpe', 'cpe', 'expectedCpe'),
    sales_expect_cpm: tiers('sales_expect_cpm', 'cpm', 'salesExpectedCpm'),
    base_resp: z
      .looseObject({
        status_code: z
          .number()
          .optional()
          .describe("The upstream's internal status (0 in every answer seen)."),
        status_message: z.string().optional().describe("The upstream's internal status text."),
      })
      .optional()
      .describe("The upstream's internal status block, passed through."),
  })
  .describe('The upstream `data` object exactly as the upstream sent it; fields it adds later pass through.');

const requestId = z
  .string()
  .describe(
    "The upstream's request id for this answer (an answer from cache keeps the one it was fetched with); " +
      "the gateway's own request id (`x-request-id`) on errors and when the upstream sent none.",
  );

const successEnvelope = z
  .object({
    code: z.literal(0).describe('0: success.'),
    message: z.string().nullable().describe('As the upstream sent it with this answer (usually "success").'),
    requestId,
    recordTime: z
      .string()
      .describe(
        'When the upstream produced this answer, as it sent it (ISO 8601 UTC, e.g. "2026-11-29T03:00:00Z"); ' +
          'for answers cached before it was kept, when the gateway fetched it. An answer from cache keeps it.',
      ),
    data: upstreamDataSchema,
  })
  .describe('Success: the cached or freshly fetched upstream answer.');

const errorEnvelope = z
  .object({
    code: z
      .literal(DROP_IN_ANSWER_CODES.filter((c) => c !== 0) as [number, ...number[]])
      .describe(
        'Business code from the upstream\'s table: see "Drop-in business codes" in the introduction.',
      ),
    message: z.string().describe("The gateway's explanation (the same as `error.message`)."),
    requestId,
    recordTime: z.string().describe('When the gateway answered (ISO 8601 UTC, to the second).'),
    data: z.null().describe('Always null on errors, as the upstream sends it.'),
    error: errorObjectSchema.describe(
      "The gateway's own error, as the other routes send it: the precise `code`, and `retryAfterSeconds` (also in " +
        '`retry-after`) when one applies.',
    ),
  })
  .describe('Any other outcome, including 201 "no content": HTTP 200 all the same, as the upstream answers.');

export const upstreamEnvelopeSchema = z
  .union([successEnvelope, errorEnvelope])
  .describe(
    "JustOneAPI's own envelope for every outcome, so existing client code works by changing only its base URL. " +
      'Decide on `code` (0: success), as the upstream doc says.',
  )
  .meta({
    examples: [
      {
        code: 0,
        message: 'success',
        requestId: '5d2e4c0a-8f0b-4a59-9b1e-3f0e2a6c7d11',
        recordTime: '2026-11-29T03:00:00Z',
        data: UPSTREAM_EXAMPLE_DATA,
      },
    ],
  });
