// A stand-in for JustOneAPI's distribution-metrics endpoint, on bare node:http so the demo, the
// integration tests and the benchmark measure the gateway rather than the fake.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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
}

export type Behaviour =
  /** `rawData`: the `data` member's JSON text as is (nesting JSON.stringify could not produce). */
  | { code: number; rawData?: string }
  | { httpStatus: number; body?: string }
  | { malformed: true }
  | { hang: true }
  | { reset: true }
  | { delayMs: number };

type SimOutcome = 'json' | 'http' | 'malformed' | 'hang' | 'reset';

interface SimCall {
  at: number;
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
  setDelay(ms: number): void;
  script(behaviours: Behaviour[]): void;
  setBehaviour(b: Behaviour | null): void;
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

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(s, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
  | { code: number; message?: string; data?: unknown; rawData?: string; requestId?: string }
  | Exclude<Behaviour, { code: number } | { delayMs: number }>;

// The transport-failure variants are single-key objects whose key is the outcome's name.
const outcomeOf = (r: Reply): SimOutcome =>
  'code' in r ? 'json' : 'httpStatus' in r ? 'http' : (Object.keys(r)[0] as SimOutcome);

const htmlError = (s: number) =>
  `<html><head><title>${s}</title></head><body><center><h1>${s}</h1></center><hr><center>nginx</center></body></html>`;

export async function startSimUpstream(opts: SimUpstreamOptions = {}): Promise<SimUpstream> {
  const calls: SimCall[] = [];
  const queue: Behaviour[] = [];
  const seenTuples = new Set<string>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let window: number[] = [];
  let quotaUsed = 0;
  let billed = 0;
  let delay = opts.delayMs ?? 0;
  let persistent: Behaviour | null = null;

  // Token, then limits, then parameters, then the special author ids.
  const decide = (sp: URLSearchParams): Reply => {
    const token = sp.get('token');
    if (!token || (opts.token !== undefined && token !== opts.token)) return { code: 100 };
    const now = Date.now();
    if (opts.maxRps) {
      window = window.filter((t) => t > now - 1000);
      if (window.length >= opts.maxRps) return { code: 302 };
      window.push(now);
    }
    if (opts.dailyQuota) {
      if (quotaUsed >= opts.dailyQuota) return { code: 303 };
      quotaUsed++;
    }
    const p = parseParams(sp);
    if ('invalid' in p) return { code: 400, message: `Invalid Parameters: ${p.invalid}` };
    const id = p.oAuthorId;
    const httpStatus = prefixNumber(id, 'http');
    const code = prefixNumber(id, 'code');
    if (id.startsWith('notfound')) return { code: 201 };
    if (id.startsWith('malformed')) return { malformed: true };
    if (id.startsWith('hang')) return { hang: true };
    if (id.startsWith('reset')) return { reset: true };
    if (httpStatus !== undefined && httpStatus >= 200 && httpStatus <= 599) return { httpStatus };
    if (code) return { code };
    if (id.startsWith('echotoken')) return echoToken(p, token, sp.toString());
    const depth = prefixNumber(id, 'deep');
    if (depth !== undefined) return { code: 0, rawData: nestedDataJson(p, depth) };
    if (id.startsWith('flaky301') && !seenTuples.has(tupleKey(p))) {
      seenTuples.add(tupleKey(p));
      return { code: 301 };
    }
    return { code: 0, data: simSpreadData(p) };
  };

  const send = (req: IncomingMessage, res: ServerResponse, reply: Reply): boolean => {
    if ('hang' in reply) return false;
    if ('reset' in reply) {
      req.socket.resetAndDestroy(); // an RST, like a load balancer dropping the connection
      return false;
    }
    if ('httpStatus' in reply) {
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
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body);
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
    if (url.pathname !== UPSTREAM_PATH || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":404,"message":"Not Found"}');
      return;
    }
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (k !== 'token') query[k] = v;
    const tokenSeen = !!url.searchParams.get('token');
    const call: SimCall = { at: Date.now(), query, tokenSeen, code: -1, billed: false, outcome: 'json' };
    calls.push(call);
    if (opts.keepCalls && calls.length > 2 * opts.keepCalls) calls.splice(0, calls.length - opts.keepCalls);
    const b = queue.shift() ?? persistent;
    const reply = b && !('delayMs' in b) ? b : decide(url.searchParams);
    let wait = delay + (b && 'delayMs' in b ? b.delayMs : 0);
    call.outcome = outcomeOf(reply);
    if ('code' in reply) {
      call.code = reply.code;
      // Billed when the upstream decides, not when the caller reads: a caller that gives up on a slow
      // answer has still paid for it (why the upstream asks for a 60 s timeout).
      call.billed = reply.code === 0 || reply.code === 201;
      if (call.billed) billed++;
      if (reply.code === 0) wait += prefixNumber(query['oAuthorId'] ?? '', 'slow') ?? 0;
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
    callsFor: (id) => calls.filter((c) => c.query['oAuthorId'] === id),
    setDelay: (ms) => {
      delay = ms;
    },
    script: (bs) => void queue.push(...bs),
    setBehaviour: (b) => {
      persistent = b;
    },
    reset: () => {
      calls.length = 0;
      queue.length = 0;
      quotaUsed = 0;
      billed = 0;
      seenTuples.clear();
      window = [];
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
  const usual = JSON.stringify(simSpreadData(p));
  return `${usual.slice(0, -1)},"nested":${'['.repeat(depth)}1${']'.repeat(depth)}}`;
}

function prefixNumber(id: string, prefix: string): number | undefined {
  const m = new RegExp(`^${prefix}(\\d+)`).exec(id);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
