// The fake `data` of the Xingtu family's other endpoints. Only spread-info's answer is public
// (simSpreadData copies its documented example); for the rest the shapes are plausible stand-ins per
// kind, and every answer names its endpoint and the parameters it received, so a test can tell that
// the gateway asked the right path with the right query. Deterministic like simSpreadData.
import { fnv1a, mulberry32 } from './random.js';

/** How an endpoint's answer looks here: the kinds the family's 53 paths fall into. */
export type SimKind = 'profile' | 'distribution' | 'list' | 'search' | 'daily-fans' | 'video';

/** What the sim needs to know of a catalogue entry (an EndpointSpec) to answer for it. */
export interface SimEndpointInfo {
  readonly name: string;
  readonly upstreamPath: string;
  readonly params: readonly { readonly name: string }[];
}

/** The parameter that names what an answer is about: an author, a video or a search. */
const SUBJECT_PARAMS = ['oAuthorId', 'kolId', 'starAuthorId', 'itemId', 'detailId', 'keyword'] as const;

export function subjectOf(query: Record<string, string>): string {
  for (const p of SUBJECT_PARAMS) if (query[p] !== undefined) return query[p];
  return '';
}

/** The kind of an endpoint, from its name and parameters (the catalogue says nothing of shapes). */
export function kindOf(e: SimEndpointInfo): SimKind {
  const has = (n: string) => e.params.some((p) => p.name === n);
  if (e.name.includes('search')) return 'search';
  if (e.name.includes('daily_fans') || e.name.includes('daily-fans')) return 'daily-fans';
  if (has('itemId') || has('detailId')) return 'video';
  if (has('page') || /videos|show[_-]items/.test(e.name)) return 'list';
  if (e.name.includes('distribution')) return 'distribution';
  return 'profile';
}

const DAY_MS = 86_400_000;
/** At most this many days in a daily-fans answer; a longer range is a 400 here. */
export const MAX_RANGE_DAYS = 366;

/** A real calendar day written yyyy-MM-dd or yyyyMMdd (the SDK's two spellings), as yyyy-MM-dd. */
export function isoDay(v: string): string | undefined {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(v);
  if (!m) return undefined;
  const day = `${m[1]}-${m[2]}-${m[3]}`;
  const t = Date.parse(`${day}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().startsWith(day) ? day : undefined;
}

/** The days from start to end inclusive, or why the range is refused. */
export function dayRange(start = '', end = ''): string[] | { invalid: string } {
  const parse = (s: string) => Date.parse(`${isoDay(s) ?? 'x'}T00:00:00Z`);
  const a = parse(start);
  const b = parse(end);
  if (Number.isNaN(a)) return { invalid: 'startDate' };
  if (Number.isNaN(b) || b < a) return { invalid: 'endDate' };
  const days = (b - a) / DAY_MS + 1;
  if (days > MAX_RANGE_DAYS) return { invalid: 'endDate' };
  return Array.from({ length: days }, (_, i) => new Date(a + i * DAY_MS).toISOString().slice(0, 10));
}

const NICKS = '小鹿 阿星 橙子 大叔 木木 安妮 老王 糖糖 小七 团子'.split(' ');
const TAGS = '剧情搞笑 美食 旅行 美妆 游戏 萌宠 母婴亲子 时尚穿搭 科技数码 运动健身'.split(' ');
const CITIES = '北京 上海 广州 深圳 杭州 成都 武汉 西安'.split(' ');
const PAGE_SIZE = 10;
// A fixed clock for made-up timestamps: the bytes must not depend on when the test runs.
const EPOCH_S = 1_733_011_200; // 2024-12-01T00:00:00Z

type Rand = () => number;
const between = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[between(r, 0, xs.length - 1)] as T;

function author(r: Rand, id: string) {
  const follower = between(r, 1_000, 9_000_000);
  return {
    id,
    nick_name: `${pick(r, NICKS)}${between(r, 1, 999)}`,
    city: pick(r, CITIES),
    follower,
    tags: [pick(r, TAGS), pick(r, TAGS)],
    price_1_20: between(r, 500, 200_000),
  };
}

function video(r: Rand, id: string) {
  const play = between(r, 1_000, 5_000_000);
  const like = Math.floor(play * (0.01 + r() * 0.05));
  return {
    item_id: id,
    title: `${pick(r, TAGS)}日常 #${between(r, 1, 500)}`,
    create_time: EPOCH_S - between(r, 0, 180) * 86_400,
    duration: between(r, 8, 300),
    play,
    like,
    comment: Math.floor(like * (0.02 + r() * 0.08)),
    share: Math.floor(like * (0.02 + r() * 0.1)),
  };
}

function pageOf(query: Record<string, string>): number {
  const n = Number(query['page'] ?? 1);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/** The shape-specific members of a kind's `data`. */
function body(
  kind: SimKind,
  query: Record<string, string>,
  r: Rand,
  subject: string,
): Record<string, unknown> {
  switch (kind) {
    case 'search': {
      const page = pageOf(query);
      const total = between(r, 0, 95);
      const count = Math.max(0, Math.min(PAGE_SIZE, total - (page - 1) * PAGE_SIZE));
      return {
        authors: Array.from({ length: count }, (_, i) =>
          author(r, `${7_000_000 + between(r, 0, 999_999)}${i}`),
        ),
        pagination: { page, limit: PAGE_SIZE, total_count: total, has_more: page * PAGE_SIZE < total },
      };
    }
    case 'list': {
      const page = pageOf(query);
      const total = between(r, 0, 60);
      const count = Math.max(0, Math.min(PAGE_SIZE, total - (page - 1) * PAGE_SIZE));
      return {
        list: Array.from({ length: count }, (_, i) => video(r, `${subject}-${page}-${i}`)),
        page,
        page_size: PAGE_SIZE,
        total,
        has_more: page * PAGE_SIZE < total,
      };
    }
    case 'daily-fans': {
      const days = dayRange(query['startDate'], query['endDate']);
      let fans = between(r, 1_000, 5_000_000);
      const daily = (Array.isArray(days) ? days : []).map((date) => {
        const incr = between(r, -200, 2_000);
        fans += incr;
        return { date, fans_cnt: fans, fans_incr: incr };
      });
      return { daily };
    }
    case 'video': {
      const v = video(r, subject);
      const trend = Array.from({ length: 7 }, (_, i) => ({
        date: new Date((EPOCH_S + i * 86_400) * 1000).toISOString().slice(0, 10),
        play: Math.floor((v.play * (i + 1)) / 7),
      }));
      return { ...v, trend };
    }
    case 'distribution': {
      const weights = TAGS.slice(0, 5).map(() => between(r, 1, 100));
      const sum = weights.reduce((a, b) => a + b, 0);
      return {
        distributions: [
          {
            type: 'tag',
            distribution_list: TAGS.slice(0, 5).map((t, i) => ({
              distribution_key: t,
              // Basis points, as the spread-info answer's rates are.
              distribution_value: Math.round(((weights[i] ?? 0) * 10_000) / sum),
            })),
          },
        ],
      };
    }
    case 'profile':
      return {
        ...author(r, subject),
        grade: between(r, 1, 5),
        avatar_uri: `tos-cn-i-0813/${fnv1a(subject)}`,
      };
  }
}

/**
 * The `data` of a code-0 answer of `e`: computed from the query with defaults filled (the same bytes
 * for the same endpoint and filled query, different ones when either changes), and naming the
 * endpoint, its path and the parameters as received (without the token).
 */
export function simFamilyData(
  e: SimEndpointInfo,
  query: Record<string, string>,
  received: Record<string, string> = query,
): Record<string, unknown> {
  const subject = subjectOf(query);
  const sorted = Object.keys(query)
    .sort()
    .map((k) => [k, query[k]]);
  const r = mulberry32(fnv1a(JSON.stringify([e.name, subject, sorted])));
  return {
    endpoint: e.name,
    path: e.upstreamPath,
    params: { ...received },
    base_resp: { status_code: 0, status_message: '' },
    ...body(kindOf(e), query, r, subject),
  };
}
