// The upstream's own response envelope, as the drop-in route passes it through. Documentation only:
// the route sends the cached upstream bytes' values unchanged, so nothing here reshapes them.
import { z } from 'zod';

const scalar = (upstream: string, normalised: string) =>
  z
    .union([z.string(), z.number()])
    .optional()
    .describe(
      `Upstream \`${upstream}\`, usually a numeric string. Normalised route: \`metrics.${normalised}\` (unit there).`,
    );

const block = (upstream: string, normalised: string) =>
  z
    .looseObject({})
    .optional()
    .describe(
      `Upstream \`${upstream}\`, an object as sent (may be {}). Normalised route: \`metrics.${normalised}\`.`,
    );

export const upstreamDataSchema = z
  .looseObject({
    avg_duration: scalar('avg_duration', 'avgDuration'),
    item_num: scalar('item_num', 'itemCount'),
    play_mid: scalar('play_mid', 'playMedian'),
    like_avg: scalar('like_avg', 'likeAvg'),
    comment_avg: scalar('comment_avg', 'commentAvg'),
    share_avg: scalar('share_avg', 'shareAvg'),
    interact_rate: block('interact_rate', 'interactRate'),
    play_over_rate: block('play_over_rate', 'playOverRate'),
    play_stability: block('play_stability', 'playStability'),
    item_rate: block('item_rate', 'itemRate'),
    expect_cpm: block('expect_cpm', 'expectedCpm'),
    expect_cpe: block('expect_cpe', 'expectedCpe'),
    sales_expect_cpm: block('sales_expect_cpm', 'salesExpectedCpm'),
    base_resp: z.looseObject({}).optional().describe("Upstream's internal status block, passed through."),
  })
  .describe('The upstream `data` object exactly as the upstream sent it; fields it adds later pass through.');

export const upstreamEnvelopeSchema = z
  .object({
    code: z
      .number()
      .int()
      .describe(
        'Upstream business code: 0 success; 201 no content for this author and parameters (`data` is null).',
      ),
    message: z.string().describe('Upstream message for the code.'),
    requestId: z
      .string()
      .nullable()
      .describe("The upstream's request id of the cached answer, when it sent one."),
    data: upstreamDataSchema.nullable(),
  })
  .describe("JustOneAPI's own envelope, so existing client code works by changing only its base URL.");
