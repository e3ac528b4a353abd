// The JustOneAPI client: one keep-alive undici pool, the token added here and nowhere else,
// a whole-call deadline, 301 retried (it is not billed), a timeout never retried (it may be).
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { EndpointCall } from '../catalogue/call.js';
import { upstreamQuery } from '../catalogue/params.js';
import type { GatewayError } from '../errors.js';
import { classifyBusinessCode, isBilled, retriesExhausted, upstreamError, upstreamTimeout } from './codes.js';
import { OUT_OF_BOUNDS, type Scrub, scrubJson, secretScrubber } from './untrusted.js';

const MAX_BODY_BYTES = 1024 * 1024;

export type UpstreamResult =
  | {
      kind: 'ok';
      /** The upstream's `data` as it sent it: an object, a list or another JSON value, never null. */
      data: unknown;
      requestId: string | null;
      /**
       * As the upstream sent them (the drop-in route answers them again); null when absent or not a
       * short string. Optional so that fakes of the upstream need not invent them.
       */
      message?: string | null;
      recordTime?: string | null;
    }
  | { kind: 'not_found'; requestId: string | null };

/** One line per upstream call: what the logs and metrics need, and never the token or query. */
export interface UpstreamCallRecord {
  /** The catalogue name of the endpoint called. */
  endpoint: string;
  /** The author asked about, when the endpoint takes one. */
  authorId: string | null;
  attempt: number;
  /** Business code, or null when no envelope was read (timeout, HTTP error, bad body, network). */
  code: number | null;
  httpStatus: number | null;
  outcome: 'ok' | 'not_found' | 'retry' | 'error' | 'timeout' | 'network' | 'malformed' | 'http_error';
  billed: boolean;
  latencyMs: number;
  requestId: string | null;
}

/** Budget and back-off, consulted before every attempt and told of every answer (governance/). */
export interface UpstreamGate {
  /** Resolves when a call may be made; throws a GatewayError (503) when none may be made before `deadline`. */
  beforeCall(deadline: number): Promise<void>;
  afterCall(record: UpstreamCallRecord): void;
}

export interface UpstreamClientOptions {
  baseUrl: string;
  token: string;
  timeoutMs: number;
  /** Base for the jittered backoff between 301 retries. */
  retryBaseMs?: number;
  maxRetries301?: number;
  connections?: number;
}

export class UpstreamClient {
  private readonly pool: Pool;
  private readonly retryBaseMs: number;
  private readonly maxRetries301: number;
  /** Takes the token out of whatever the upstream echoes back (untrusted.ts). */
  private readonly scrub: Scrub;

  constructor(private readonly opts: UpstreamClientOptions) {
    this.scrub = secretScrubber(opts.token);
    this.pool = new Pool(new URL(opts.baseUrl).origin, {
      connections: opts.connections ?? 64,
      keepAliveTimeout: 30_000,
      // The whole-call deadline below governs; these only stop undici cutting a slow answer short.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.retryBaseMs = opts.retryBaseMs ?? 250;
    this.maxRetries301 = opts.maxRetries301 ?? 2;
  }

  /**
   * Fetches one endpoint's tuple. Throws GatewayError for every failure. `onCall` receives one record per
   * attempt; `gate` is consulted before each attempt (retries spend budget too).
   */
  async fetch(
    call: EndpointCall,
    gate: UpstreamGate | undefined,
    onCall: (r: UpstreamCallRecord) => void,
    deadline: number = Date.now() + this.opts.timeoutMs,
  ): Promise<UpstreamResult> {
    for (let attempt = 1; ; attempt++) {
      await gate?.beforeCall(deadline);
      const { record, result, error } = await this.attempt(call, attempt, deadline);
      gate?.afterCall(record);
      onCall(record);
      if (result) return result;
      if (record.outcome !== 'retry') throw error;
      if (attempt > this.maxRetries301) throw retriesExhausted();
      // Full jitter: spreads retries of many keys so they don't hit the upstream in step.
      const backoff = Math.random() * this.retryBaseMs * 2 ** (attempt - 1);
      if (Date.now() + backoff >= deadline) throw retriesExhausted();
      await sleep(backoff);
    }
  }

  private async attempt(
    call: EndpointCall,
    attempt: number,
    deadline: number,
  ): Promise<{ record: UpstreamCallRecord; result?: UpstreamResult; error?: GatewayError }> {
    const { spec, tuple } = call;
    // Built from catalogued parameters only: nothing the caller added reaches the upstream.
    const query = upstreamQuery(spec, tuple);
    query.set('token', this.opts.token);
    const started = performance.now();
    let httpStatus: number | null = null;
    const done = (
      outcome: UpstreamCallRecord['outcome'],
      extra: { code?: number; requestId?: string | null; result?: UpstreamResult; error?: GatewayError } = {},
    ) => ({
      record: {
        endpoint: spec.name,
        authorId: spec.authorParam === undefined ? null : (tuple[spec.authorParam] ?? null),
        attempt,
        code: extra.code ?? null,
        httpStatus,
        outcome,
        billed: extra.code !== undefined && isBilled(extra.code),
        latencyMs: Math.round((performance.now() - started) * 10) / 10,
        requestId: extra.requestId ?? null,
      },
      result: extra.result,
      error: extra.error,
    });
    const timeoutMs = Math.max(1, Math.min(this.opts.timeoutMs, deadline - Date.now()));
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    let text: string;
    try {
      const res = await this.pool.request({
        path: `${spec.upstreamPath}?${query}`,
        method: 'GET',
        signal: ac.signal,
      });
      httpStatus = res.statusCode;
      text = await readLimited(res.body, MAX_BODY_BYTES);
    } catch (err) {
      // Never pass undici's error on: its message could one day include the request path (and token).
      if (ac.signal.aborted) return done('timeout', { error: upstreamTimeout(timeoutMs) });
      if (err instanceof BodyTooLarge)
        return done('malformed', { error: upstreamError('the upstream answered a body over 1 MiB') });
      return done('network', { error: upstreamError('the upstream connection failed') });
    } finally {
      clearTimeout(timer);
    }
    const envelope = parseEnvelope(text, this.scrub);
    // The business code decides whatever the HTTP status: the upstream's published OpenAPI declares
    // HTTP 429 with the same envelope (429 + 302 is a 302, 401 + 100 a 100). A success code under an
    // error status is not believed (nothing of it is cached), nor is a body that is not an envelope.
    if (httpStatus !== 200 && (!envelope || isBilled(envelope.code)))
      return done('http_error', { error: upstreamError(`the upstream answered HTTP ${httpStatus}`) });
    if (!envelope)
      return done('malformed', { error: upstreamError('the upstream answered a malformed body') });
    const { code, requestId } = envelope;
    const verdict = classifyBusinessCode(code);
    switch (verdict.kind) {
      case 'ok':
        if (envelope.data === OUT_OF_BOUNDS) {
          return done('malformed', {
            code,
            requestId,
            error: upstreamError(
              'the upstream answered data nested or sized beyond what the gateway accepts',
              0,
            ),
          });
        }
        // Any JSON value is an answer (most family endpoints' shapes are not public; some answer lists).
        // Null or absent data under code 0 is not: nothing to cache or answer, so an error.
        if (envelope.data === null || envelope.data === undefined) {
          return done('malformed', {
            code,
            requestId,
            error: upstreamError('the upstream answered success without data', 0),
          });
        }
        return done('ok', {
          code,
          requestId,
          result: {
            kind: 'ok',
            data: envelope.data,
            requestId,
            message: envelope.message,
            recordTime: envelope.recordTime,
          },
        });
      case 'not_found':
        return done('not_found', { code, requestId, result: { kind: 'not_found', requestId } });
      case 'retry':
        return done('retry', { code, requestId });
      default:
        return done('error', { code, requestId, error: verdict.error });
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Envelope {
  code: number;
  data: unknown;
  requestId: string | null;
  message: string | null;
  recordTime: string | null;
}

/** A short string field, or null: the envelope's metadata is echoed to callers, so it is bounded. */
const shortString = (v: unknown, max: number): string | null =>
  typeof v === 'string' && v.length <= max ? v : null;

/** The envelope, with every string the gateway keeps from it scrubbed of the token; `data` is
 *  OUT_OF_BOUNDS when deeper or larger than UPSTREAM_DATA_BOUNDS. */
function parseEnvelope(text: string, scrub: Scrub): Envelope | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isPlainObject(body)) return null;
  const code = typeof body.code === 'string' && /^\d+$/.test(body.code) ? Number(body.code) : body.code;
  if (typeof code !== 'number' || !Number.isInteger(code)) return null;
  const short = (v: unknown, max: number) => {
    const s = shortString(v, max);
    return s === null ? null : scrub(s);
  };
  return {
    code,
    data: scrubJson(body.data, scrub),
    requestId: short(body.requestId ?? body.request_id, 128),
    message: short(body.message, 512),
    recordTime: short(body.recordTime, 64),
  };
}

class BodyTooLarge extends Error {}

async function readLimited(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge('upstream body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
