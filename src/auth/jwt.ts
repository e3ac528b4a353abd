// Bearer JWTs from the company's OpenID Connect provider, verified with jose against the
// provider's JWKS (auth/jwks.ts): signature by an asymmetric key of the set, `iss`, `aud`, `exp`
// (required) and `nbf` with a small clock tolerance, and a claim usable as the caller's name.
// A refused token is a reason for a 401; keys that cannot be fetched are a 503 (thrown).
import type { FastifyBaseLogger } from 'fastify';
import { errors, type JWTPayload, jwtVerify } from 'jose';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import { JwksSource, type JwksTuning } from './jwks.js';

/** Asymmetric only: `none` and HS* (a shared secret, or the public key misused as one) never verify. */
const ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];

/** Three base64url segments; the last may be empty (`alg: none`), so such tokens are refused as JWTs. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The caller name `jwt:<value>` lands in logs and Redis keys: short, printable, no separators of ours. */
const CLAIM_VALUE = /^[A-Za-z0-9._@:|+=-]{1,128}$/;

export function looksLikeJwt(value: string): boolean {
  return value.length <= 16_384 && JWT_SHAPE.test(value);
}

export interface JwtTuning extends JwksTuning {
  /** Allowed clock skew for `exp` and `nbf` (default 30). */
  clockToleranceSeconds?: number;
}

/**
 * `unknownKey`: the token names a key the set does not hold (yet): a key just published, which the
 * next refetch brings in, not a guess at a credential.
 */
export type JwtResult = { ok: true; subject: string } | { ok: false; reason: string; unknownKey: boolean };

export class JwtVerifier {
  constructor(
    readonly keys: JwksSource,
    private readonly o: {
      issuer: string;
      audience: string;
      callerClaim: string;
      clockToleranceSeconds: number;
    },
  ) {}

  /** The caller's subject, or why the token is refused; throws a 503 GatewayError when keys are unavailable. */
  async verify(token: string): Promise<JwtResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys.resolveKey, {
        algorithms: ALGORITHMS,
        issuer: this.o.issuer,
        audience: this.o.audience,
        requiredClaims: ['exp'],
        clockTolerance: this.o.clockToleranceSeconds,
      }));
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      return { ok: false, reason: refusalReason(err), unknownKey: err instanceof errors.JWKSNoMatchingKey };
    }
    const value = payload[this.o.callerClaim];
    const subject = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
    if (typeof subject !== 'string' || !CLAIM_VALUE.test(subject)) {
      return {
        ok: false,
        unknownKey: false,
        reason: `token claim "${this.o.callerClaim}" is missing or not a usable caller name (1-128 of A-Z a-z 0-9 . _ @ : | + = -)`,
      };
    }
    return { ok: true, subject };
  }
}

/** What a caller may be told about its token: the check that failed, never key material. */
function refusalReason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid (nbf)';
    if (err.claim === 'iss') return 'token issuer (iss) is not the expected one';
    if (err.claim === 'aud') return 'token audience (aud) is not this gateway';
    if (err.reason === 'missing') return `token has no "${err.claim}" claim`;
    return `token claim "${err.claim}" is invalid`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return `token algorithm not accepted (only ${ALGORITHMS.join(', ')})`;
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
  tuning: JwtTuning = {},
): JwtVerifier | null {
  const { JWT_JWKS_URL: url, JWT_ISSUER: issuer, JWT_AUDIENCE: audience } = config;
  if (!url) return null;
  // loadConfig refuses a JWKS URL without both; this keeps the types honest.
  if (!issuer || !audience) throw new Error('JWT_ISSUER and JWT_AUDIENCE are required with JWT_JWKS_URL');
  const { clockToleranceSeconds = 30, ...jwksTuning } = tuning;
  const keys = new JwksSource({
    url,
    log,
    tuning: jwksTuning,
    onState: (up) => metrics.jwksUp.set(up ? 1 : 0),
  });
  return new JwtVerifier(keys, {
    issuer,
    audience,
    callerClaim: config.JWT_CALLER_CLAIM,
    clockToleranceSeconds,
  });
}
