// Which peers may tell the gateway a client's address (X-Forwarded-For), from TRUST_PROXY.
// Fastify 5.12 takes true/false and address/CIDR lists as they are, but no longer honours a hop
// count (it trusts nothing then, so every client would share the proxy's address). The hop count
// is built here as the trust function proxy-addr defines for it: the nearest `hops` addresses of
// the chain (the socket's peer first) are proxies, the next one is the client. That trusts any
// peer that connects, so it is only right where nothing but the proxy can reach the gateway; an
// address list also checks who the peer is (README, "Client addresses behind proxies").
import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config.js';

export type TrustProxyOption = NonNullable<FastifyServerOptions['trustProxy']>;

export function trustProxyOption(value: Config['TRUST_PROXY']): TrustProxyOption {
  if (typeof value !== 'number') return value;
  const hops = value;
  return (_address: string, hop: number) => hop < hops;
}
