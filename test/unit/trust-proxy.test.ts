// TRUST_PROXY as Fastify sees it: which address a request gets for each form, given the peer and
// the X-Forwarded-For it sent.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { trustProxyOption } from '../../src/http/trust-proxy.js';

async function clientIp(trust: string, peer: string, xff?: string): Promise<string> {
  const app = Fastify({ trustProxy: trustProxyOption(loadConfig({ TRUST_PROXY: trust }).TRUST_PROXY) });
  app.get('/', async (request) => request.ip);
  const res = await app.inject({
    url: '/',
    remoteAddress: peer,
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  });
  await app.close();
  return res.body;
}

describe('TRUST_PROXY', () => {
  it('false: the peer, whatever the header says', async () => {
    expect(await clientIp('false', '10.0.0.5', '1.2.3.4')).toBe('10.0.0.5');
  });

  it('a hop count: that many proxies nearest the gateway, then the client', async () => {
    // nginx (10.0.0.5) set the header to the address it saw.
    expect(await clientIp('1', '10.0.0.5', '198.51.100.7')).toBe('198.51.100.7');
    // A proxy that appends: only the entry the proxy wrote counts, not what the client wrote before it.
    expect(await clientIp('1', '10.0.0.5', '6.6.6.6, 198.51.100.7')).toBe('198.51.100.7');
    expect(await clientIp('2', '10.0.0.5', '6.6.6.6, 198.51.100.7, 10.0.0.9')).toBe('198.51.100.7');
    // Fastify 5.12 alone ignores a number (every client would be the proxy): the gateway does not.
    expect(await clientIp('1', '10.0.0.5')).toBe('10.0.0.5');
  });

  it('an address list: only a listed peer is believed, and the first unlisted address is the client', async () => {
    expect(await clientIp('10.0.0.0/24', '10.0.0.5', '198.51.100.7')).toBe('198.51.100.7');
    expect(await clientIp('10.0.0.0/24', '203.0.113.9', '198.51.100.7')).toBe('203.0.113.9');
    expect(await clientIp('uniquelocal', '172.18.0.4', '6.6.6.6, 198.51.100.7')).toBe('198.51.100.7');
    expect(await clientIp('loopback', '127.0.0.1', '127.0.0.2')).toBe('127.0.0.2');
  });

  it('true: the left-most address of the header (only safe when a proxy overwrites it)', async () => {
    expect(await clientIp('true', '10.0.0.5', '6.6.6.6, 198.51.100.7')).toBe('6.6.6.6');
  });
});
