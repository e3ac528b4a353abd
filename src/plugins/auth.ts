// Caller authentication: API keys as `x-api-key` or `authorization: Bearer`, compared in constant
// time. Routes opt in with `config: { auth: 'caller' | 'admin' }`; the caller's name (never the
// key) is what logs, metrics and per-caller limits see.
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
  }
}

interface KeyRecord {
  digest: Buffer;
  caller: Caller;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function presentedKey(req: Pick<FastifyRequest, 'headers'>): string | undefined {
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x.length > 0) return x;
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
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
    const key = presentedKey(request);
    let caller: Caller | undefined;
    if (key !== undefined) {
      caller = ring.lookup(key);
      if (!caller) throw new GatewayError(401, 'UNAUTHORIZED', 'unknown API key');
    } else if (anonymousAllowed) {
      caller = ANONYMOUS;
    } else {
      throw new GatewayError(
        401,
        'UNAUTHORIZED',
        'an API key is required (x-api-key or authorization: Bearer)',
      );
    }
    request.caller = caller;
    if (need === 'admin' && !caller.admin)
      throw new GatewayError(403, 'FORBIDDEN', 'this route needs an admin API key');
  });
}

export default fp(authPlugin, { name: 'auth' });
