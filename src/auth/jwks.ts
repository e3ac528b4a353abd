// The identity provider's signing keys, for verifying user JWTs: jose's remote JWKS (cached keys,
// refetched when a token names an unknown `kid`, at most once per cooldown, concurrent misses
// sharing one fetch), refreshed in the
// background, with its health kept here: every fetch goes through `fetchJwks`, which records
// whether the set could be fetched (readiness, gauge, one log line per change) and, while fetching
// fails, refuses at once for `retryMs`, so a stream of requests never becomes a stream of fetches.
// The body is read up to JWKS_MAX_BYTES and within the fetch timeout: a provider (or anything in
// its place) sending hundreds of megabytes costs the gateway one small buffer, not its memory.
import type { FastifyBaseLogger } from 'fastify';
import { createRemoteJWKSet, customFetch, errors, type JWTVerifyGetKey } from 'jose';
import { GatewayError } from '../errors.js';
import type { ReadinessCheck } from '../readiness.js';

export interface JwksTuning {
  /** Whole-fetch timeout of the JWKS. */
  fetchTimeoutMs?: number;
  /**
   * Least time after a successful fetch before an unknown `kid` may trigger another: how long a
   * newly published key is refused (jose's cooldownDuration; its default of 30 s is long for that).
   */
  cooldownMs?: number;
  /** Background refresh of the keys while healthy. */
  refreshMs?: number;
  /** Keys older than this (no successful fetch since) are no longer trusted: JWT callers get 503. */
  maxKeyAgeMs?: number;
  /** While fetching fails: least time between two attempts (requests in between fail at once). */
  retryMs?: number;
}

/**
 * The most a key set may weigh. Real ones are a few kB (a handful of RSA keys at ~0.5 kB each);
 * 1 MiB is a thousand keys, and a larger body is refused unread.
 */
export const JWKS_MAX_BYTES = 1024 * 1024;

const DEFAULTS: Required<JwksTuning> = {
  fetchTimeoutMs: 5_000,
  cooldownMs: 5_000,
  refreshMs: 5 * 60_000,
  maxKeyAgeMs: 15 * 60_000,
  retryMs: 10_000,
};

export interface JwksOptions {
  url: string;
  log: FastifyBaseLogger;
  tuning?: JwksTuning;
  /** Told on every change of state (a gauge). */
  onState?: (up: boolean) => void;
}

export class JwksSource {
  /** For jose's jwtVerify. Throws a 503 GatewayError when the keys cannot be fetched. */
  readonly resolveKey: JWTVerifyGetKey;
  private readonly tuning: Required<JwksTuning>;
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;
  /** null while the last fetch succeeded (or none was tried yet). */
  private problem: string | null = null;
  private lastFailureAt = 0;
  private forceNext = false;
  private fetchedOnce = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: JwksOptions) {
    this.tuning = { ...DEFAULTS, ...o.tuning };
    this.keys = createRemoteJWKSet(new URL(o.url), {
      timeoutDuration: this.tuning.fetchTimeoutMs,
      cooldownDuration: this.tuning.cooldownMs,
      cacheMaxAge: this.tuning.maxKeyAgeMs,
      [customFetch]: (url, init) => this.fetchJwks(url, init),
    });
    this.resolveKey = async (header, token) => {
      try {
        return await this.keys(header, token);
      } catch (err) {
        // The token's fault: no key of the set matches its kid/alg, or its alg is not one a JWKS holds.
        if (
          err instanceof errors.JWKSNoMatchingKey ||
          err instanceof errors.JWKSMultipleMatchingKeys ||
          err instanceof errors.JOSENotSupported
        )
          throw err;
        // Anything else came from fetching the set: the provider's fault, and not known to be the token's.
        throw new GatewayError(
          'AUTH_UNAVAILABLE',
          "the identity provider's signing keys (JWKS) cannot be fetched, so tokens cannot be checked; try again later",
          { retryAfterSeconds: this.tuning.retryMs / 1000 },
        );
      }
    };
  }

  /**
   * Fetches the keys and keeps them fresh in the background. Waits for the first fetch at most
   * `waitMs`: a slow provider must not hold up start-up (JWT requests then wait for it themselves).
   */
  async start(waitMs: number): Promise<void> {
    const first = this.refresh().then(() => this.schedule());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  readiness(): ReadinessCheck {
    return {
      name: 'jwks',
      // JWT callers fail while this is set, key and anonymous callers do not: not a reason to take
      // the instance out of its load balancer (every instance shares the same provider).
      critical: false,
      check: () => this.problem,
    };
  }

  private async refresh(): Promise<void> {
    this.forceNext = true;
    try {
      await this.keys.reload();
    } catch {
      // Recorded by fetchJwks; the timer tries again.
    } finally {
      this.forceNext = false;
    }
  }

  /** The next background fetch: `refreshMs` while healthy, `retryMs` while failing. */
  private schedule(): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    const delay = this.problem === null ? this.tuning.refreshMs : this.tuning.retryMs;
    this.timer = setTimeout(() => {
      void this.refresh().then(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private async fetchJwks(url: string, init: RequestInit): Promise<Response> {
    const sinceFailure = Date.now() - this.lastFailureAt;
    if (this.problem !== null && !this.forceNext && sinceFailure < this.tuning.retryMs) {
      throw new Error(this.problem);
    }
    let body: string;
    try {
      const res = await fetch(url, init);
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`the JWKS URL answered HTTP ${res.status}`);
      }
      body = await readCapped(res, JWKS_MAX_BYTES);
      const parsed: unknown = JSON.parse(body);
      const keys = (parsed as { keys?: unknown } | null)?.keys;
      const isObject = (k: unknown) => typeof k === 'object' && k !== null && !Array.isArray(k);
      if (!Array.isArray(keys) || !keys.every(isObject))
        throw new Error('the JWKS URL answered something that is not a key set');
    } catch (err) {
      this.failed(err);
      throw err;
    }
    this.succeeded();
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
  }

  private failed(err: unknown): void {
    this.lastFailureAt = Date.now();
    const was = this.problem;
    this.problem = `JWKS not fetched: ${describeFetchError(err)}`;
    if (was === null) {
      this.o.log.warn({ jwks: this.o.url, reason: this.problem }, 'JWKS unreachable; JWT callers get 503');
      this.o.onState?.(false);
      // A request's fetch failed: retry soon in the background, so readiness recovers without traffic.
      if (this.timer && !this.forceNext) this.schedule();
    }
  }

  private succeeded(): void {
    const was = this.problem;
    this.problem = null;
    if (was !== null || !this.fetchedOnce) {
      this.o.log.info({ jwks: this.o.url }, 'JWKS fetched');
      this.o.onState?.(true);
    }
    this.fetchedOnce = true;
  }
}

/** The body as text, or an error past `max` bytes (announced or read): never more than `max` held. */
async function readCapped(res: Response, max: number): Promise<string> {
  const tooLarge = () => new Error(`the JWKS URL answered more than ${max} bytes`);
  const announced = Number(res.headers.get('content-length') ?? 0);
  if (announced > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) {
      // Leaving the loop early cancels the stream (and with it the connection).
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const cause = (err as { cause?: { code?: unknown } }).cause;
  if (typeof cause?.code === 'string') return `${err.message} (${cause.code})`;
  return err.message.slice(0, 200);
}
