// Bearer JWTs from the company's OpenID Connect provider, verified with jose against the provider's
// JWKS. Keys are fetched once, refreshed in the background, and refetched when a token names an
// unknown `kid` (at most once per cooldown), so a rotation is picked up without a restart and a
// flood of made-up `kid`s costs at most one fetch per cooldown. A JWKS that cannot be fetched is
// the provider's fault, not the token's: that is a 503 (AUTH_UNAVAILABLE), never a 401.
import type { FastifyBaseLogger } from 'fastify';
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ReadinessCheck } from '../plugins/observability.js';

/** Asymmetric only: `none` and HS* (a shared secret, or the public key misused as one) never verify. */
export const JWT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];

/** Three base64url segments; the last may be empty (`alg: none`), so such tokens are refused as JWTs. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The caller name `jwt:<value>` lands in logs and Redis keys: short, printable, no separators of ours. */
const CLAIM_VALUE = /^[A-Za-z0-9._@:|+=-]{1,128}$/;

export function looksLikeJwt(value: string): boolean {
  return value.length <= 16_384 && JWT_SHAPE.test(value);
}

export interface JwtTuning {
  /** Whole-fetch timeout of the JWKS. */
  fetchTimeoutMs?: number;
  /** Least time after a successful fetch before an unknown `kid` may trigger another. */
  cooldownMs?: number;
  /** Background refresh of the keys while healthy. */
  refreshMs?: number;
  /** Keys older than this (no successful fetch since) are no longer trusted: JWT callers get 503. */
  maxKeyAgeMs?: number;
  /** While fetching fails: least time between two attempts (requests in between fail at once). */
  retryMs?: number;
  /** Allowed clock skew for `exp` and `nbf`. */
  clockToleranceSeconds?: number;
}

export const DEFAULT_JWT_TUNING: Required<JwtTuning> = {
  fetchTimeoutMs: 5_000,
  cooldownMs: 30_000,
  refreshMs: 5 * 60_000,
  maxKeyAgeMs: 15 * 60_000,
  retryMs: 10_000,
  clockToleranceSeconds: 30,
};

export interface JwtVerifierOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  callerClaim: string;
  log: FastifyBaseLogger;
  tuning?: JwtTuning;
  /** Told on every change of the JWKS state (a gauge). */
  onState?: (up: boolean) => void;
}

export type JwtResult = { ok: true; subject: string } | { ok: false; reason: string };

export class JwtVerifier {
  private readonly tuning: Required<JwtTuning>;
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;
  private readonly resolveKey: JWTVerifyGetKey;
  /** null while the last fetch succeeded (or none was tried yet). */
  private problem: string | null = null;
  private lastFailureAt = 0;
  private forceNext = false;
  private fetchedOnce = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: JwtVerifierOptions) {
    this.tuning = { ...DEFAULT_JWT_TUNING, ...o.tuning };
    this.keys = createRemoteJWKSet(new URL(o.jwksUrl), {
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
        throw this.unavailable();
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

  /** Resolves with the caller's subject or why the token is refused; throws a 503 when keys are unavailable. */
  async verify(token: string): Promise<JwtResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.resolveKey, {
        algorithms: JWT_ALGORITHMS,
        issuer: this.o.issuer,
        audience: this.o.audience,
        requiredClaims: ['exp'],
        clockTolerance: this.tuning.clockToleranceSeconds,
      }));
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      return { ok: false, reason: describe(err) };
    }
    const value = payload[this.o.callerClaim];
    const subject = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
    if (typeof subject !== 'string' || !CLAIM_VALUE.test(subject)) {
      return {
        ok: false,
        reason: `token claim "${this.o.callerClaim}" is missing or not a usable caller name (1-128 of A-Z a-z 0-9 . _ @ : | + = -)`,
      };
    }
    return { ok: true, subject };
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

  get up(): boolean {
    return this.problem === null;
  }

  private unavailable(): GatewayError {
    return new GatewayError(
      503,
      'AUTH_UNAVAILABLE',
      "the identity provider's signing keys (JWKS) cannot be fetched, so tokens cannot be checked; try again later",
      { retryAfterSeconds: this.tuning.retryMs / 1000 },
    );
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

  /**
   * Every JWKS fetch goes through here: it records whether the set could be fetched (readiness,
   * the gauge, one log line per change), and while fetching fails it refuses at once for
   * `retryMs`, so a stream of requests cannot turn into a stream of fetches.
   */
  private async fetchJwks(url: string, init: RequestInit): Promise<Response> {
    const sinceFailure = Date.now() - this.lastFailureAt;
    if (this.problem !== null && !this.forceNext && sinceFailure < this.tuning.retryMs) {
      throw new Error(this.problem);
    }
    let body: string;
    try {
      const res = await fetch(url, init);
      body = await res.text();
      if (res.status !== 200) throw new Error(`the JWKS URL answered HTTP ${res.status}`);
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
      this.o.log.warn(
        { jwks: this.o.jwksUrl, reason: this.problem },
        'JWKS unreachable; JWT callers get 503',
      );
      this.o.onState?.(false);
      // A request's fetch failed: retry soon in the background, so readiness recovers without traffic.
      if (this.timer && !this.forceNext) this.schedule();
    }
  }

  private succeeded(): void {
    const was = this.problem;
    this.problem = null;
    if (was !== null || !this.fetchedOnce) {
      this.o.log.info({ jwks: this.o.jwksUrl }, 'JWKS fetched');
      this.o.onState?.(true);
    }
    this.fetchedOnce = true;
  }
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const cause = (err as { cause?: { code?: unknown } }).cause;
  if (typeof cause?.code === 'string') return `${err.message} (${cause.code})`;
  return err.message.slice(0, 200);
}

/** What a caller may be told about its token: the check that failed, never key material. */
function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid (nbf)';
    if (err.claim === 'iss') return 'token issuer (iss) is not the expected one';
    if (err.claim === 'aud') return 'token audience (aud) is not this gateway';
    if (err.reason === 'missing') return `token has no "${err.claim}" claim`;
    return `token claim "${err.claim}" is invalid`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return `token algorithm not accepted (only ${JWT_ALGORITHMS.join(', ')})`;
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
    return "token signed by a key the identity provider's JWKS does not hold (kid)";
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature does not verify';
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return 'malformed token';
  return 'invalid token';
}

/** The verifier JWT_* configure, or null without JWT_JWKS_URL. */
export function jwtVerifierFor(
  config: Pick<Config, 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_CALLER_CLAIM'>,
  log: FastifyBaseLogger,
  metrics: Pick<GatewayMetrics, 'jwksUp'>,
  tuning?: JwtTuning,
): JwtVerifier | null {
  const { JWT_JWKS_URL: jwksUrl, JWT_ISSUER: issuer, JWT_AUDIENCE: audience } = config;
  if (!jwksUrl) return null;
  // loadConfig refuses a JWKS URL without both; this keeps the types honest.
  if (!issuer || !audience) throw new Error('JWT_ISSUER and JWT_AUDIENCE are required with JWT_JWKS_URL');
  return new JwtVerifier({
    jwksUrl,
    issuer,
    audience,
    callerClaim: config.JWT_CALLER_CLAIM,
    log,
    tuning,
    onState: (up) => metrics.jwksUp.set(up ? 1 : 0),
  });
}
