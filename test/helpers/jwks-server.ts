// A stand-in for the company's identity provider: keys generated in the test, their public halves
// served as a JWKS over loopback (node:http), and tokens signed with them. The server counts its
// fetches and can be told to fail, so tests see refetch bounds and outages from the outside.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

export const ISSUER = 'https://id.test.example/';
export const AUDIENCE = 'xingtu-gateway';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(kid: string, alg = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

export interface SignOptions {
  /** Claims on top of the defaults (iss, aud, sub, iat, exp in 5 minutes); undefined removes one. */
  claims?: Record<string, unknown>;
  /** Override the header's kid (an unknown key, say). */
  kid?: string;
}

export async function signToken(key: TestKey, o: SignOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'user-1',
    iat: now,
    exp: now + 300,
    ...o.claims,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader({ alg: key.alg, kid: o.kid ?? key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

/**
 * `huge`: a key set of `hugeBytes` (default 300 MB), streamed chunked (no content-length);
 * `drip`: the real key set, one byte every 100 ms (headers at once).
 */
type JwksMode = 'serve' | 'http500' | 'reset' | 'huge' | 'drip';

export interface JwksServer {
  url: string;
  /** Requests answered so far (any mode). */
  readonly fetches: number;
  setKeys(keys: TestKey[]): void;
  setMode(mode: JwksMode): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: TestKey[], hugeBytes = 300e6): Promise<JwksServer> {
  let current = keys;
  let mode: JwksMode = 'serve';
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    fetches++;
    if (mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (mode === 'huge') {
      streamHugeKeySet(res, hugeBytes);
      return;
    }
    if (mode === 'drip') {
      const body = Buffer.from(JSON.stringify({ keys: current.map((k) => k.jwk) }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed || i >= body.length) return void clearInterval(timer);
        res.write(body.subarray(i, ++i));
      }, 100);
      res.once('close', () => clearInterval(timer));
      return;
    }
    if (mode === 'http500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('identity provider down');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ keys: current.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return fetches;
    },
    setKeys(next) {
      current = next;
    },
    setMode(next) {
      mode = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * `{"keys":[{"kid":"k","pad":"xxx…"},…]}` of about `bytes`, one shared 1 MB chunk written as the
 * socket drains (fast, and the server holds nothing more), stopping when the reader goes away.
 */
function streamHugeKeySet(res: ServerResponse, bytes: number): void {
  const item = `{"kty":"RSA","kid":"k","pad":"${'x'.repeat(1000)}"},`;
  const chunk = Buffer.from(item.repeat(Math.ceil(1e6 / item.length)));
  let sent = 0;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"keys":[');
  const more = () => {
    while (sent < bytes && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', more);
    }
    if (!res.destroyed) res.end(`${item.slice(0, -1)}]}`);
  };
  more();
}

/** The gateway settings that point at this server. */
export function jwtEnv(jwks: JwksServer): Record<string, string> {
  return { JWT_JWKS_URL: jwks.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
}
