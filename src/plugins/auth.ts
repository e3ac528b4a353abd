// Caller authentication: API keys as `x-api-key` or `authorization: Bearer`, compared in constant
// time. Routes opt in with `config: { auth: 'caller' | 'admin' }`; the caller's name (never the
// key) is what logs, metrics and per-caller limits see. A route may also take the key from a query
// parameter (`keyQueryParam`): the drop-in route does, because JustOneAPI clients send their token
// as `?token=`.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';

export interface Caller {
  name: string;
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

interface KeyRecord {
  digest: Buffer;
  caller: Caller;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

type KeyRequest = Pick<FastifyRequest, 'headers'> & Partial<Pick<FastifyRequest, 'query' | 'routeOptions'>>;

/**
 * The key a request presents: a key header, else (unless `fromQuery` is false) the route's key
 * query parameter. A parameter given twice is refused rather than guessed at (a proxy or client
 * that appends its own would otherwise decide who the caller is).
 */
export function presentedKey(req: KeyRequest, fromQuery = true): string | undefined {
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
    throw new GatewayError(401, 'UNAUTHORIZED', `the "${param}" parameter was given more than once`);
  return undefined;
}

export class KeyRing {
  private readonly records: KeyRecord[];

  constructor(config: Pick<Config, 'API_KEYS' | 'ADMIN_API_KEYS'>) {
    this.records = [
      ...config.API_KEYS.map(({ name, key }) => ({
        digest: digest(key),
        caller: { name, admin: false, anonymous: false },
      })),
      ...config.ADMIN_API_KEYS.map(({ name, key }) => ({
        digest: digest(key),
        caller: { name, admin: true, anonymous: false },
      })),
    ];
  }

  get size(): number {
    return this.records.length;
  }

  /** Compares against every key, with no early exit, so timing does not tell which one matched. */
  lookup(key: string): Caller | undefined {
    const d = digest(key);
    let found: Caller | undefined;
    for (const r of this.records) {
      if (timingSafeEqual(r.digest, d) && !found) found = r.caller;
    }
    return found;
  }
}

export const ANONYMOUS: Caller = { name: 'anonymous', admin: false, anonymous: true };

async function authPlugin(app: FastifyInstance, opts: { config: Config }) {
  const ring = new KeyRing(opts.config);
  const anonymousAllowed = ring.size === 0;
  if (anonymousAllowed) {
    app.log.warn(
      opts.config.ALLOW_ANONYMOUS
        ? 'no API keys configured and ALLOW_ANONYMOUS=true: anyone may call (limited per IP)'
        : 'no API keys configured: anyone may call (not allowed with NODE_ENV=production)',
    );
  }
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request) => {
    const need = request.routeOptions.config?.auth;
    if (!need) return;
    // With no keys configured, a drop-in client's `token` cannot be a gateway key: it is what the
    // client always sends (the official SDK will not start without one), so it is ignored.
    const key = presentedKey(request, ring.size > 0);
    let caller: Caller | undefined;
    if (key !== undefined) {
      caller = ring.lookup(key);
      if (!caller) throw new GatewayError(401, 'UNAUTHORIZED', 'unknown API key');
    } else if (anonymousAllowed) {
      caller = ANONYMOUS;
    } else {
      const param = request.routeOptions.config?.keyQueryParam;
      throw new GatewayError(
        401,
        'UNAUTHORIZED',
        `an API key is required (x-api-key or authorization: Bearer${param ? `, or the ${param} parameter` : ''})`,
      );
    }
    request.caller = caller;
    if (need === 'admin' && !caller.admin)
      throw new GatewayError(403, 'FORBIDDEN', 'this route needs an admin API key');
  });
}

export default fp(authPlugin, { name: 'auth' });
