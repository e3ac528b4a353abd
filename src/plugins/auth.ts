// Caller authentication: API keys as `x-api-key` or `authorization: Bearer`, found without
// key-dependent timing (KeyRing); user JWTs as `authorization: Bearer` (auth/jwt.ts, auth/jwks.ts); anonymous callers when
// allowed. Routes opt in with `config: { auth: 'caller' | 'admin' }`; the caller's name (never the
// key or token) is what logs, metrics and per-caller limits see. Every 401 counts against the
// client address's failed-credential limit (limits/auth-failures.ts), but one for a token signed by
// a key the JWKS does not hold yet: a key just published must not lock an office out behind its NAT. A route may also take the key
// from a query parameter (`keyQueryParam`): the drop-in route does, because JustOneAPI clients send
// their token as `?token=`.
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type JwtVerifier, looksLikeJwt } from '../auth/jwt.js';
import { KeyRing } from '../auth/key-ring.js';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import { normalizeIP } from '../http/address-bucket.js';
import type { AuthFailureLimiter } from '../limits/auth-failures.js';
import { callerRef } from '../limits/caller-ref.js';
import { CallerRefusal } from '../limits/caller-refusal.js';

export interface Caller {
  name: string;
  kind: 'key' | 'jwt' | 'anonymous';
  admin: boolean;
  anonymous: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    auth?: 'caller' | 'admin';
    /** A query parameter that carries the API key when no key header is sent. */
    keyQueryParam?: string;
  }
}

type KeyRequest = Pick<FastifyRequest, 'headers'> & Partial<Pick<FastifyRequest, 'query' | 'routeOptions'>>;

/**
 * The key a request presents: a key header, else (unless `fromQuery` is false) the route's key
 * query parameter. A parameter given twice is refused rather than guessed at (a proxy or client
 * that appends its own would otherwise decide who the caller is).
 */
function presentedKey(req: KeyRequest, fromQuery = true): string | undefined {
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x.length > 0) return x;
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const param = req.routeOptions?.config?.keyQueryParam;
  if (param === undefined || !fromQuery) return undefined;
  const v = (req.query as Record<string, unknown> | undefined)?.[param];
  if (typeof v === 'string') return v.length > 0 ? v : undefined;
  if (Array.isArray(v))
    throw new GatewayError('UNAUTHORIZED', `the "${param}" parameter was given more than once`);
  return undefined;
}

export const ANONYMOUS: Caller = { name: 'anonymous', kind: 'anonymous', admin: false, anonymous: true };

/** The value of `authorization: Bearer …`, the only place a JWT is accepted. */
function bearerToken(req: Pick<FastifyRequest, 'headers'>): string | undefined {
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m?.[1];
}

/**
 * The client's address as limits see it: the peer, or what a trusted proxy says (TRUST_PROXY); an
 * IPv6 address by its network of `ipv6Prefix` bits (CLIENT_IPV6_PREFIX), an IPv4-mapped one as IPv4.
 * A forwarded value that is not an address falls back to the peer.
 */
export function clientAddress(request: FastifyRequest, ipv6Prefix: number): string {
  const ip = request.ip;
  return normalizeIP(isIP(ip) ? ip : (request.socket.remoteAddress ?? 'unknown'), ipv6Prefix);
}

interface AuthOptions {
  config: Config;
  /** Set when JWT_JWKS_URL is. */
  jwt: JwtVerifier | null;
  failures: AuthFailureLimiter;
}

async function authPlugin(app: FastifyInstance, opts: AuthOptions) {
  const { config, jwt, failures } = opts;
  if (jwt) {
    app.addHook('onClose', async () => jwt.keys.close());
    await jwt.keys.start(2000);
  }
  const ring = new KeyRing(config);
  // Without any way to name a caller (development), everyone is anonymous; production refuses that
  // at start-up unless ALLOW_ANONYMOUS says so.
  const anonymousAllowed = config.ALLOW_ANONYMOUS || (ring.size === 0 && !jwt);
  if (anonymousAllowed) {
    app.log.warn(
      config.ALLOW_ANONYMOUS
        ? 'ALLOW_ANONYMOUS=true: requests without a credential are let in as anonymous (limited per IP)'
        : 'no API keys or JWKS configured: anyone may call (not allowed with NODE_ENV=production)',
    );
  }
  const needed = jwt
    ? 'an API key (x-api-key or authorization: Bearer) or a bearer token from the identity provider is required'
    : 'an API key is required (x-api-key or authorization: Bearer)';

  /** A 401, or a 429 when this failure (if `counted`) takes the address over its limit. */
  async function refuse(
    request: FastifyRequest,
    reply: FastifyReply,
    message: string,
    challenge = 'Bearer',
    counted = true,
  ): Promise<GatewayError> {
    const wait = counted ? await failures.fail(clientAddress(request, config.CLIENT_IPV6_PREFIX)) : 0;
    if (wait > 0) return tooManyFailures(wait);
    // RFC 6750: a 401 names the scheme, and `invalid_token` when a token was refused.
    if (jwt) reply.header('www-authenticate', challenge);
    return new GatewayError('UNAUTHORIZED', message);
  }

  // No caller was established: counted under `anonymous` (its metric and its usage row), as a
  // request refused, like a rate refusal.
  const unknownCaller = callerRef(ANONYMOUS, 'credentials');
  function tooManyFailures(seconds: number): GatewayError {
    app.usage.refused(unknownCaller, 'credentials', 1, true);
    return new CallerRefusal(
      'credentials',
      `too many failed credentials from this address (limit ${config.AUTH_FAILURES_PER_MINUTE} per minute); retry later`,
      seconds,
    );
  }

  async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<Caller> {
    // With no keys configured, a drop-in client's `token` cannot be a gateway key: it is what the
    // client always sends (the official SDK will not start without one), so it is ignored.
    const key = presentedKey(request, ring.size > 0);
    if (key === undefined) {
      // An authorization header we cannot read (another scheme, no value) is a credential that
      // failed, not its absence: never let it in as anonymous.
      if (request.headers.authorization) {
        throw await refuse(
          request,
          reply,
          'unsupported authorization header: use authorization: Bearer <key or token>',
        );
      }
      if (anonymousAllowed) return ANONYMOUS;
      const param = request.routeOptions.config?.keyQueryParam;
      throw await refuse(request, reply, param ? `${needed}, or the ${param} parameter` : needed);
    }
    // Checked before the credential, so an address over its limit learns nothing from guessing.
    const wait = failures.retryAfter(clientAddress(request, config.CLIENT_IPV6_PREFIX));
    if (wait > 0) throw tooManyFailures(wait);
    const byKey = ring.lookup(key);
    if (byKey) return byKey;
    if (jwt && looksLikeJwt(key) && key === bearerToken(request)) {
      const result = await jwt.verify(key);
      if (result.ok) return { name: `jwt:${result.subject}`, kind: 'jwt', admin: false, anonymous: false };
      throw await refuse(request, reply, result.reason, 'Bearer error="invalid_token"', !result.unknownKey);
    }
    const misplaced = jwt && looksLikeJwt(key) && key !== bearerToken(request);
    throw await refuse(
      request,
      reply,
      misplaced
        ? 'unknown API key (a token from the identity provider goes in authorization: Bearer)'
        : 'unknown API key',
    );
  }

  /**
   * A known API key in a header, decided without an await (the cache-hit path): undefined sends the
   * request through `authenticate` (no credential, a JWT, an unknown key, a blocked address).
   */
  function knownKey(request: FastifyRequest): Caller | undefined {
    const key = presentedKey(request, ring.size > 0);
    if (
      key === undefined ||
      (failures.blocking && failures.retryAfter(clientAddress(request, config.CLIENT_IPV6_PREFIX)) > 0)
    )
      return undefined;
    return ring.lookup(key);
  }

  function admit(
    request: FastifyRequest,
    need: 'caller' | 'admin',
    caller: Caller,
    done: (err?: Error) => void,
  ): void {
    request.caller = caller;
    // JWT callers are never admins: purges and forced refreshes stay with ADMIN_API_KEYS.
    if (need === 'admin' && !caller.admin)
      done(new GatewayError('FORBIDDEN', 'this route needs an admin API key'));
    else done();
  }

  app.decorateRequest('caller', null);
  app.addHook('onRequest', (request, reply, done) => {
    const need = request.routeOptions.config?.auth;
    if (!need) return done();
    let caller: Caller | undefined;
    try {
      caller = knownKey(request);
    } catch (err) {
      return done(err as Error);
    }
    if (caller) return admit(request, need, caller, done);
    authenticate(request, reply).then((c) => admit(request, need, c, done), done);
  });
}

export default fp(authPlugin, { name: 'auth' });
