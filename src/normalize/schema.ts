// The normalised `metrics` object of `GET /v1/authors/:id/spread-info`. Plain zod: no transforms
// or refinements, so the same schema validates responses and becomes the OpenAPI/JSON Schema
// (descriptions included).
// The upstream documents no units; every unit below is inferred from its example, hence "appears".
import { z } from 'zod';

const num = (description: string) => z.number().nullable().describe(description);

/** A `{value, overtake, label}` block; a fresh instance per field so each carries its own description. */
const rankedMetric = (description: string, valueDescription: string) =>
  z
    .object({
      value: num(valueDescription),
      overtake: num(
        'Upstream `overtake`: share of comparable creators this author beats. Appears to be basis points ' +
          '(5973 = 59.73%), although values above 10000 occur (example 10800), so treat it as a score.',
      ),
      label: z
        .string()
        .nullable()
        .describe(
          'Upstream `label`: the comparison group (content category, e.g. "剧情搞笑"). Null when upstream sent "".',
        ),
    })
    .nullable()
    .describe(description);

/** Expected price per video-length tier. */
const tiers = (description: string, upstreamPrefix: string, unit: string) =>
  z
    .object({
      s1to20: num(
        `Upstream \`${upstreamPrefix}_1_20\`: videos of 1-20 s (tier appears to be seconds). ${unit}`,
      ),
      s21to60: num(`Upstream \`${upstreamPrefix}_21_60\`: videos of 21-60 s. ${unit}`),
      s60plus: num(`Upstream \`${upstreamPrefix}_60\`: videos longer than 60 s. ${unit}`),
    })
    .nullable()
    .describe(description);

const FEN = 'Appears to be fen (1/100 CNY): 5618 = 56.18 CNY.';
const BP_RATE = 'Appears to be basis points: 244 = 2.44%.';

export const spreadMetricsSchema = z
  .object({
    avgDuration: num(
      'Upstream `avg_duration`: average video duration. Unit undocumented: the example 2600 appears too ' +
        'large for seconds (43 min per short video); it may be milliseconds (2.6 s) or 1/100 s (26 s).',
    ),
    itemCount: num('Upstream `item_num`: number of videos in the selected range (a count).'),
    playMedian: num('Upstream `play_mid`: median plays per video (a play count).'),
    likeAvg: num('Upstream `like_avg`: average likes per video (a count).'),
    commentAvg: num('Upstream `comment_avg`: average comments per video (a count).'),
    shareAvg: num('Upstream `share_avg`: average shares per video (a count).'),
    interactRate: rankedMetric(
      'Upstream `interact_rate`: interaction rate versus peers. Null when missing or empty.',
      `Interaction rate. ${BP_RATE}`,
    ),
    playOverRate: rankedMetric(
      'Upstream `play_over_rate`: completion (watched-to-end) rate versus peers. Null when missing or empty.',
      `Completion rate. ${BP_RATE}`,
    ),
    playStability: rankedMetric(
      'Upstream `play_stability`: how steady plays are across videos. Null when missing or empty.',
      'Stability score. Scale undocumented: the example 540887 appears not to be basis points.',
    ),
    itemRate: z
      .object({
        interactRate: rankedMetric(
          'Upstream `item_rate.interact_rate`: per-video interaction rate. Null when upstream sent {}.',
          `Interaction rate. ${BP_RATE}`,
        ),
        itemCount: rankedMetric(
          'Upstream `item_rate.item_num`: video count versus peers.',
          'Number of videos (a count).',
        ),
        playMedian: rankedMetric(
          'Upstream `item_rate.play_mid`: median plays versus peers.',
          'Median plays per video (a play count).',
        ),
      })
      .nullable()
      .describe('Upstream `item_rate`: per-video rankings. Null when missing or empty.'),
    expectedCpm: tiers(
      'Upstream `expect_cpm`: expected cost per 1000 plays by video length. Null when missing or empty.',
      'cpm',
      FEN,
    ),
    expectedCpe: tiers(
      'Upstream `expect_cpe`: expected cost per engagement by video length. Null when missing or empty.',
      'cpe',
      'Appears to be fen (1/100 CNY): 253 = 2.53 CNY.',
    ),
    salesExpectedCpm: tiers(
      'Upstream `sales_expect_cpm`: expected CPM for sales (e-commerce) campaigns. Null when missing or empty.',
      'cpm',
      FEN,
    ),
    extra: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'Fields the upstream sent that this gateway does not know yet, numeric strings converted ' +
          '(integers beyond 2^53 stay strings). Nested unknown keys appear as "parent.key". Omitted when none.',
      ),
  })
  .describe('Xingtu distribution metrics, normalised; numbers keep the upstream scale.');

export type SpreadMetrics = z.infer<typeof spreadMetricsSchema>;
