// Examples for the OpenAPI document: the upstream doc's own published answer, and what the
// normalised route makes of it (computed, so the two can never disagree).
import { normalizeSpreadInfo } from '../normalize/spread-info.js';

export const EXAMPLE_AUTHOR_ID = '7012345678901234567';

/** The upstream doc's response example (its `data`), as published. */
export const UPSTREAM_EXAMPLE_DATA = {
  avg_duration: '2600',
  base_resp: { status_code: 0, status_message: '' },
  comment_avg: '4192',
  expect_cpe: { cpe_1_20: '253', cpe_21_60: '633', cpe_60: '633' },
  expect_cpm: { cpm_1_20: '5618', cpm_21_60: '14043', cpm_60: '14043' },
  interact_rate: { label: '剧情搞笑', overtake: 5973, value: 244 },
  item_num: '3',
  item_rate: {
    interact_rate: {},
    item_num: { label: '', overtake: 10800, value: 3 },
    play_mid: { label: '', overtake: 9993, value: 3642403 },
  },
  like_avg: '95028',
  play_mid: '3642403',
  play_over_rate: { label: '剧情搞笑', overtake: 6400, value: 1113 },
  play_stability: { label: '剧情搞笑', overtake: 8865, value: 540887 },
  sales_expect_cpm: { cpm_1_20: '6619', cpm_21_60: '16543', cpm_60: '16543' },
  share_avg: '9637',
};

const EXAMPLE_FETCHED_AT = '2026-11-29T03:00:00.000Z';

/** The contract's example body of `GET /v1/authors/{oAuthorId}/spread-info`. */
export const SPREAD_INFO_EXAMPLE = {
  authorId: EXAMPLE_AUTHOR_ID,
  query: {
    platform: 'SHORT_VIDEO',
    range: 'DAY_30',
    type: 'PERSONAL_VIDEO',
    onlyAssign: false,
    flowType: 'EXCLUDE',
  },
  metrics: normalizeSpreadInfo(UPSTREAM_EXAMPLE_DATA),
  meta: {
    cache: 'MISS',
    stale: false,
    fetchedAt: EXAMPLE_FETCHED_AT,
    ageSeconds: 0,
    upstreamRequestId: null,
  },
};
