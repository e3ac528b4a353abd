// An admin may make the gateway ask the upstream even when a fresh answer is cached, with
// `cache-control: no-cache` (the contract's forced refresh); from anyone else the header is
// ignored, so a caller cannot spend the paid upstream by asking not to be served from cache.
import type { FastifyRequest } from 'fastify';

export function wantsForcedRefresh(request: Pick<FastifyRequest, 'headers' | 'caller'>): boolean {
  const cc = request.headers['cache-control'];
  return request.caller?.admin === true && typeof cc === 'string' && /(^|[\s,])no-cache($|[\s,])/i.test(cc);
}
