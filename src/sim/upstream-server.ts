// A stand-in for JustOneAPI's Douyin Xingtu family, on bare node:http so the demo, the integration
// tests and the benchmark measure the gateway rather than the fake. Spread-info answers its documented
// example's shape; every other catalogued path answers a plausible shape naming its endpoint and the
// parameters it received (family-data.ts); other paths get the 404 a web server gives.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CATALOGUE, SPREAD_INFO } from '../catalogue/index.js';
import {
  FLOW_TYPES,
  PLATFORMS,
  QUERY_DEFAULTS,
  RANGES,
  type SpreadParams,
  type SpreadQuery,
  UPSTREAM_PATH,
  VIDEO_TYPES,
} from '../upstream/params.js';
import { simFamilyData, subjectOf } from './family-data.js';
import { checkQuery, type SimEndpoint } from './family-params.js';
import { fnv1a, mulberry32 } from './random.js';

export interface SimUpstreamOptions {
  host?: string;
  port?: number;
  /** When set, only this token is accepted; otherwise any non-empty token is. */
  token?: string;
  /** Initial global delay per call; `reset()` returns to it. */
  delayMs?: number;
  /** More than this many accepted calls in any rolling second → code 302 (0/unset: no limit). */
  maxRps?: number;
  /** Calls past this many since start/reset → code 303 (0/unset: no limit). */
  dailyQuota?: number;
  /** Keep only the newest N call records, so a long-running demo does not grow without bound. */
  keepCalls?: number;
  /** Per endpoint name: its own 302 past `maxRps` calls a second and 303 past `dailyQuota` calls. */
  endpointLimits?: Record<string, { maxRps?: number; dailyQuota?: number }>;
  /** The paths served besides spread-info's (default: the catalogue's). */
  endpoints?: readonly SimEndpoint[];
}

export type Behaviour =
  /** `rawData`: the `data` member's JSON text as is (nesting JSON.stringify could not produce). */
  | { code: number; rawData?: string; httpStatus?: number }
  | { httpStatus: number; body?: string }
  | { malformed: true }
  | { hang: true }
  | { reset: true }
  | { delayMs: number };

type SimOutcome = 'json' | 'http' | 'malformed' | 'hang' | 'reset';

interface SimCall {
  at: number;
  /** The path as received (before any decoding). */
  path: string;
  /** The catalogue name of the endpoint that path is, or null for a path the upstream does not have. */
  endpoint: string | null;
  /** The query as received, minus `token`: the fake must not become a place secrets leak to. */
  query: Record<string, string>;
  tokenSeen: boolean;
  /** Business code of the envelope; -1 when no envelope was sent (see `outcome`). */
  code: number;
  billed: boolean;
  outcome: SimOutcome;
  latencyMs?: number;
}

export interface SimUpstream {
  readonly url: string;
  readonly port: number;
  readonly calls: SimCall[];
  readonly callCount: number;
  readonly billedCount: number;
  callsFor(oAuthorId: string): SimCall[];
  /** The calls to one endpoint (by catalogue name) whose query holds every pair of `params`. */
  callsTo(endpoint: string, params?: Record<string, string>): SimCall[];
  setDelay(ms: number): void;
  /** Behaviours for the next calls; with `endpoint`, for that endpoint's next calls only (first). */
  script(behaviours: Behaviour[], endpoint?: string): void;
  setBehaviour(b: Behaviour | null, endpoint?: string): void;
  reset(): void;
  close(): Promise<void>;
}

const MESSAGES: Record<number, string> = {
  0: 'success',
  100: 'Invalid or Inactive Token',
  201: 'No Content',
  301: 'Collection Failed. Please Retry.',
  302: 'Rate Limit Exceeded',
  303: 'Daily Quota Exceeded',
  400: 'Invalid Parameters',
  500: 'Internal Server Error',
  600: 'Permission Denied',
  601: 'Insufficient Balance',
};
const LABELS = '剧情搞笑 美食 旅行 美妆 游戏 萌宠 母婴亲子 时尚穿搭 科技数码 运动健身'.split(' ');
const REACH = [2_000, 8_000, 30_000, 120_000, 500_000, 2_000_000];
const ENUMS = {
  platform: PLATFORMS,
  range: RANGES,
  type: VIDEO_TYPES,
  onlyAssign: ['true', 'false'],
  flowType: FLOW_TYPES,
};

const tupleKey = (p: SpreadParams) =>
  JSON.stringify([p.oAuthorId, p.platform, p.range, p.type, p.onlyAssign, p.flowType]);

/**
 * The `data` of a code-0 answer. Only exactly-rounded arithmetic (no Math.log/exp), so the bytes are
 * the same on every machine. The author's own seed fixes niche, reach and price level so variants of
 * one author look like the same creator; the tuple's seed varies the rest.
 */
export function simSpreadData(p: SpreadParams): Record<string, unknown> {
  const author = mulberry32(fnv1a(p.oAuthorId));
  const r = mulberry32(fnv1a(tupleKey(p)));
  const int = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const label = LABELS[int(author, 0, LABELS.length - 1)] ?? '美食';
  const reach = REACH[int(author, 0, REACH.length - 1)] ?? 30_000;
  const price = 0.5 + author() * 2.5;
  const days = p.range === 'DAY_90' ? 3 : 1;
  const itemNum = p.onlyAssign ? int(r, 1, 2 * days) : int(r, 2, 12 * days);
  const playMid = Math.floor(reach * (0.6 + r() * 2.4) * (p.flowType === 'INCLUDE' ? 1.3 : 1));
  const like = Math.floor(playMid * (0.004 + r() * 0.04));
  const comment = Math.floor(like * (0.02 + r() * 0.06));
  const share = Math.floor(like * (0.02 + r() * 0.12));
  const interact = Math.round(((like + comment + share) * 10_000) / Math.max(playMid, 1));
  const avgDuration = p.platform === 'LIVE_STREAMING' ? int(r, 6_000, 40_000) : int(r, 600, 9_000);
  const metric = (lbl: string, max: number, value: number) => ({
    label: lbl,
    overtake: int(r, 0, max),
    value,
  });
  const tiers = (prefix: string, base: number) => {
    const t1 = Math.round(base);
    const t2 = Math.round(t1 * (2.2 + r() * 0.6));
    const t3 = r() < 0.5 ? t2 : Math.round(t2 * (1 + r() * 0.3));
    return { [`${prefix}_1_20`]: String(t1), [`${prefix}_21_60`]: String(t2), [`${prefix}_60`]: String(t3) };
  };
  const cpmBase = 2_000 * price * (0.8 + r() * 0.4);
  const expectCpe = tiers('cpe', 90 * price * (0.8 + r() * 0.4));
  const expectCpm = tiers('cpm', cpmBase);
  const salesCpm = tiers('cpm', cpmBase * (1.1 + r() * 0.2));
  const interactRate = metric(label, 10_000, interact);
  const itemRate = {
    // The real API sends {} here for some authors; the gateway must cope.
    interact_rate: r() < 0.4 ? {} : metric('', 11_000, interact),
    item_num: metric('', 11_000, itemNum),
    play_mid: metric('', 11_000, playMid),
  };
  const playOverRate = metric(label, 10_000, int(r, 300, 6_000));
  const playStability = metric(label, 10_000, int(r, 100_000, 990_000));
  return {
    avg_duration: String(avgDuration),
    base_resp: { status_code: 0, status_message: '' },
    comment_avg: String(comment),
    expect_cpe: expectCpe,
    expect_cpm: expectCpm,
    interact_rate: interactRate,
    item_num: String(itemNum),
    item_rate: itemRate,
    like_avg: String(like),
    play_mid: String(playMid),
    play_over_rate: playOverRate,
    play_stability: playStability,
    sales_expect_cpm: salesCpm,
    share_avg: String(share),
  };
}

function parseParams(sp: URLSearchParams): SpreadParams | { invalid: string } {
  const oAuthorId = sp.get('oAuthorId');
  if (!oAuthorId) return { invalid: 'oAuthorId' };
  const q: Record<string, string> = {};
  for (const [name, allowed] of Object.entries(ENUMS)) {
    const v = sp.get(name) ?? String(QUERY_DEFAULTS[name as keyof SpreadQuery]);
    if (!(allowed as readonly string[]).includes(v)) return { invalid: name };
    q[name] = v;
  }
  return { ...(q as unknown as SpreadQuery), oAuthorId, onlyAssign: q['onlyAssign'] === 'true' };
}

/** What one call answers: an envelope, or one of the transport failures a Behaviour can ask for. */
type Reply =
  /** `httpStatus`: the envelope under another status (the upstream's OpenAPI: 429 + code 302). */
  | {
      code: number;
      message?: string;
      data?: unknown;
      rawData?: string;
      requestId?: string;
      httpStatus?: number;
    }
  | Exclude<Behaviour, { code: number } | { delayMs: number }>;

// The transport-failure variants are single-key objects whose key is the outcome's name.
const outcomeOf = (r: Reply): SimOutcome =>
  'code' in r ? 'json' : 'httpStatus' in r ? 'http' : (Object.keys(r)[0] as SimOutcome);

const htmlError = (s: number) =>
  `<html><head><title>${s}</title></head><body><center><h1>${s}</h1></center><hr><center>nginx</center></body></html>`;

export async function startSimUpstream(opts: SimUpstreamOptions = {}): Promise<SimUpstream> {
  const calls: SimCall[] = [];
  const queue: Behaviour[] = [];
  const queues = new Map<string, Behaviour[]>();
  const persistentFor = new Map<string, Behaviour>();
  const seenTuples = new Set<string>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  // Rolling-second windows and quota counts: '' for the account, else per endpoint name.
  const windows = new Map<string, number[]>();
  const quotas = new Map<string, number>();
  let billed = 0;
  let delay = opts.delayMs ?? 0;
  let persistent: Behaviour | null = null;
  const endpoints = opts.endpoints ?? CATALOGUE.endpoints;
  const spreadName = endpoints.find((e) => e.upstreamPath === UPSTREAM_PATH)?.name ?? SPREAD_INFO;
  const family = new Map(
    endpoints.filter((e) => e.upstreamPath !== UPSTREAM_PATH).map((e) => [e.upstreamPath, e]),
  );

  const limited = (key: string, maxRps = 0, dailyQuota = 0): Reply | undefined => {
    const now = Date.now();
    if (maxRps) {
      const w = (windows.get(key) ?? []).filter((t) => t > now - 1000);
      windows.set(key, w);
      if (w.length >= maxRps) return { code: 302 };
      w.push(now);
    }
    if (dailyQuota) {
      const used = quotas.get(key) ?? 0;
      if (used >= dailyQuota) return { code: 303 };
      quotas.set(key, used + 1);
    }
    return undefined;
  };

  // The special subject ids shared by every path; `tuple` tells flaky301's first call from its retry.
  const failure = (id: string, tuple: string): Reply | undefined => {
    const httpStatus = prefixNumber(id, 'http');
    const code = prefixNumber(id, 'code');
    if (id.startsWith('notfound')) return { code: 201 };
    if (id.startsWith('malformed')) return { malformed: true };
    if (id.startsWith('hang')) return { hang: true };
    if (id.startsWith('reset')) return { reset: true };
    if (httpStatus !== undefined && httpStatus >= 200 && httpStatus <= 599) return { httpStatus };
    if (code) return { code };
    if (id.startsWith('flaky301') && !seenTuples.has(tuple)) {
      seenTuples.add(tuple);
      return { code: 301 };
    }
    return undefined;
  };

  const spreadReply = (sp: URLSearchParams, token: string): Reply => {
    const p = parseParams(sp);
    if ('invalid' in p) return { code: 400, message: `Invalid Parameters: ${p.invalid}` };
    const id = p.oAuthorId;
    if (id.startsWith('echotoken')) return echoToken(p, token, sp.toString());
    const depth = prefixNumber(id, 'deep');
    if (depth !== undefined) return { code: 0, rawData: nestedDataJson(p, depth) };
    if (id.startsWith('listdata')) return { code: 0, data: [simSpreadData(p)] };
    return failure(id, tupleKey(p)) ?? { code: 0, data: simSpreadData(p) };
  };

  const familyReply = (e: SimEndpoint, query: Record<string, string>, sp: URLSearchParams): Reply => {
    const token = sp.get('token') ?? '';
    const checked = checkQuery(e, query);
    if ('invalid' in checked) return { code: 400, message: `Invalid Parameters: ${checked.invalid}` };
    const { filled } = checked;
    const id = subjectOf(filled);
    const tuple = JSON.stringify([e.name, Object.entries(filled).sort()]);
    const data = () => simFamilyData(e, filled, query);
    if (id.startsWith('echotoken')) return echoTokenData(data(), e.upstreamPath, id, token, sp.toString());
    const depth = prefixNumber(id, 'deep');
    if (depth !== undefined) return { code: 0, rawData: deepJson(data(), depth) };
    // A list as `data` (the real shapes of most family endpoints are not public; some may be lists).
    if (id.startsWith('listdata')) return { code: 0, data: [data()] };
    return failure(id, tuple) ?? { code: 0, data: data() };
  };

  // Token, then the account's limits, then the endpoint's, then parameters, then the special ids.
  const decide = (sp: URLSearchParams, e: SimEndpoint | null, query: Record<string, string>): Reply => {
    const token = sp.get('token');
    if (!token || (opts.token !== undefined && token !== opts.token)) return { code: 100 };
    const name = e?.name ?? spreadName;
    const own = opts.endpointLimits?.[name];
    const refused = limited('', opts.maxRps, opts.dailyQuota) ?? limited(name, own?.maxRps, own?.dailyQuota);
    if (refused) return refused;
    return e ? familyReply(e, query, sp) : spreadReply(sp, token);
  };

  const send = (req: IncomingMessage, res: ServerResponse, reply: Reply): boolean => {
    if ('hang' in reply) return false;
    if ('reset' in reply) {
      req.socket.resetAndDestroy(); // an RST, like a load balancer dropping the connection
      return false;
    }
    if ('httpStatus' in reply && !('code' in reply)) {
      const body = reply.body ?? htmlError(reply.httpStatus);
      res.writeHead(reply.httpStatus, { 'content-type': 'text/html' }).end(body);
      return true;
    }
    const envelope = (r: Extract<Reply, { code: number }>) =>
      JSON.stringify({
        code: r.code,
        message: r.message ?? MESSAGES[r.code] ?? 'error',
        requestId: r.requestId ?? randomUUID(),
        // The real upstream's published schema: an ISO time, to the second, in UTC.
        recordTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        data: r.code === 0 && r.rawData === undefined ? (r.data ?? null) : null,
      });
    const body =
      'malformed' in reply
        ? '{"code":0,"message":"success","data":{"avg_duration":"26'
        : reply.rawData === undefined
          ? envelope(reply)
          : `${envelope(reply).slice(0, -'null}'.length)}${reply.rawData}}`;
    const status = 'code' in reply ? (reply.httpStatus ?? 200) : 200;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(body);
    return true;
  };

  const later = (res: ServerResponse, ms: number, fn: () => void) => {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      timers.delete(t);
      if (!res.socket?.destroyed) fn();
    }, ms);
    timers.add(t);
    res.once('close', () => {
      clearTimeout(t);
      timers.delete(t);
    });
  };

  const server = createServer((req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://sim');
    const spread = url.pathname === UPSTREAM_PATH;
    const e = family.get(url.pathname) ?? null;
    const known = req.method === 'GET' && (spread || e !== null);
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (k !== 'token') query[k] = v;
    const tokenSeen = !!url.searchParams.get('token');
    const call: SimCall = {
      at: Date.now(),
      path: (req.url ?? '/').split('?')[0] ?? '/',
      endpoint: known ? (e?.name ?? spreadName) : null,
      query,
      tokenSeen,
      code: -1,
      billed: false,
      outcome: 'json',
    };
    calls.push(call);
    if (opts.keepCalls && calls.length > 2 * opts.keepCalls) calls.splice(0, calls.length - opts.keepCalls);
    if (!known) {
      // What a web server in front of the API answers for a path it does not route: no envelope
      // the SDK would call a business answer, nothing billed, no behaviour consumed.
      Object.assign(call, { code: 404, outcome: 'http' });
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":404,"message":"Not Found"}');
      return;
    }
    const name = call.endpoint ?? spreadName;
    const b = queues.get(name)?.shift() ?? queue.shift() ?? persistentFor.get(name) ?? persistent;
    const reply = b && !('delayMs' in b) ? b : decide(url.searchParams, e, query);
    let wait = delay + (b && 'delayMs' in b ? b.delayMs : 0);
    call.outcome = outcomeOf(reply);
    if ('code' in reply) {
      call.code = reply.code;
      // Billed when the upstream decides, not when the caller reads: a caller that gives up on a slow
      // answer has still paid for it (why the upstream asks for a 60 s timeout).
      call.billed = reply.code === 0 || reply.code === 201;
      if (call.billed) billed++;
      if (reply.code === 0) wait += prefixNumber(subjectOf(query), 'slow') ?? 0;
    }
    later(res, wait, () => {
      if (send(req, res, reply)) call.latencyMs = performance.now() - started;
    });
  });
  // Above the client pool's idle timeout, as a real upstream behind a load balancer would be.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${shown}:${port}`,
    port,
    calls,
    get callCount() {
      return calls.length;
    },
    get billedCount() {
      return billed;
    },
    callsFor: (id) => calls.filter((c) => subjectOf(c.query) === id),
    callsTo: (endpoint, params = {}) =>
      calls.filter(
        (c) => c.endpoint === endpoint && Object.entries(params).every(([k, v]) => c.query[k] === v),
      ),
    setDelay: (ms) => {
      delay = ms;
    },
    script: (bs, endpoint) => {
      if (endpoint === undefined) queue.push(...bs);
      else queues.set(endpoint, [...(queues.get(endpoint) ?? []), ...bs]);
    },
    setBehaviour: (b, endpoint) => {
      if (endpoint === undefined) persistent = b;
      else if (b) persistentFor.set(endpoint, b);
      else persistentFor.delete(endpoint);
    },
    reset: () => {
      calls.length = 0;
      queue.length = 0;
      queues.clear();
      persistentFor.clear();
      windows.clear();
      quotas.clear();
      billed = 0;
      seenTuples.clear();
      delay = opts.delayMs ?? 0;
      persistent = null;
    },
    close: () => {
      // Hanging and delayed calls must not hold the process (or a test's afterAll) open.
      closing ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

/**
 * An upstream (or a proxy) that echoes the request back: the token in the request id, in values
 * (plain, URL-encoded, inside a URL, and the query as received) and in keys, at the top and nested
 * (author ids `echotoken…`).
 */
function echoToken(p: SpreadParams, token: string, query: string): Reply {
  const data = simSpreadData(p);
  const url = `https://api.justoneapi.com${UPSTREAM_PATH}?oAuthorId=${p.oAuthorId}&token=${encodeURIComponent(token)}`;
  return {
    code: 0,
    requestId: `req-${token}`,
    data: {
      ...data,
      echo_url: url,
      echo_query: query,
      [`echo_${token}`]: token,
      item_rate: { ...(data['item_rate'] as object), [token]: { nested: [token, { url }] } },
    },
  };
}

/**
 * The usual data plus a member nested `depth` arrays deep (author ids `deep<N>…`), as JSON text:
 * what a broken or hostile upstream could send, deeper than recursive serialisers survive.
 */
export function nestedDataJson(p: SpreadParams, depth: number): string {
  return deepJson(simSpreadData(p), depth);
}

/** The family's echo: the token in the request id, a value, a key and nested (subjects `echotoken…`). */
function echoTokenData(
  data: Record<string, unknown>,
  path: string,
  id: string,
  token: string,
  query: string,
): Reply {
  const url = `https://api.justoneapi.com${path}?id=${id}&token=${encodeURIComponent(token)}`;
  return {
    code: 0,
    requestId: `req-${token}`,
    data: {
      ...data,
      echo_url: url,
      echo_query: query,
      [`echo_${token}`]: token,
      nested: { [token]: [token, { url }] },
    },
  };
}

/** `data` plus a member nested `depth` arrays deep, as JSON text (subjects `deep<N>…`). */
function deepJson(data: Record<string, unknown>, depth: number): string {
  return `${JSON.stringify(data).slice(0, -1)},"nested":${'['.repeat(depth)}1${']'.repeat(depth)}}`;
}

function prefixNumber(id: string, prefix: string): number | undefined {
  const m = new RegExp(`^${prefix}(\\d+)`).exec(id);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
