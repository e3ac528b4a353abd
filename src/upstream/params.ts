// The upstream's query parameters, their allowed values and defaults (upstream doc, "Parameters").
// One normalised tuple per request: the cache key, the coalescing key and the upstream query all
// derive from it, so `?platform=SHORT_VIDEO` and no `platform` at all are the same request.

/** The upstream route: the one the gateway calls, and the one its drop-in route answers on. */
export const UPSTREAM_PATH = '/api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1';

export const PLATFORMS = ['SHORT_VIDEO', 'LIVE_STREAMING', 'PICTURE_TEXT', 'SHORT_DRAMA'] as const;
export const RANGES = ['DAY_30', 'DAY_90'] as const;
export const VIDEO_TYPES = ['PERSONAL_VIDEO', 'XINTU_VIDEO'] as const;
export const FLOW_TYPES = ['EXCLUDE', 'INCLUDE'] as const;

type Platform = (typeof PLATFORMS)[number];
type Range = (typeof RANGES)[number];
type VideoType = (typeof VIDEO_TYPES)[number];
type FlowType = (typeof FLOW_TYPES)[number];

export interface SpreadQuery {
  platform: Platform;
  range: Range;
  type: VideoType;
  onlyAssign: boolean;
  flowType: FlowType;
}

export interface SpreadParams extends SpreadQuery {
  oAuthorId: string;
}

export const QUERY_DEFAULTS: SpreadQuery = {
  platform: 'SHORT_VIDEO',
  range: 'DAY_30',
  type: 'PERSONAL_VIDEO',
  onlyAssign: false,
  flowType: 'EXCLUDE',
};

/** 1 to 64 characters of 0-9 A-Z a-z _ -: what author ids look like, and nothing a key or log must escape. */
export const AUTHOR_ID_PATTERN = /^[0-9A-Za-z_-]{1,64}$/;

/** The query the upstream receives, without the token (added by the client only). Fixed order. */
export function upstreamSearchParams(p: SpreadParams): URLSearchParams {
  return new URLSearchParams([
    ['oAuthorId', p.oAuthorId],
    ['platform', p.platform],
    ['range', p.range],
    ['type', p.type],
    ['onlyAssign', String(p.onlyAssign)],
    ['flowType', p.flowType],
  ]);
}
