// The completion line assembled as text (logger.ts, completionLine) against the line pino itself
// writes for the same request through a child with the request id and the app's serializers: the
// same fields and values, so the fast path never changes what operators read.
import { Writable } from 'node:stream';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { completionFields, completionLine, loggerOptions } from '../../src/logger.js';

const KEY = 'caller-key-0123456789abcdef';

describe('completionLine', () => {
  it.each([
    ['a cache hit', '/v1/authors/a1/spread-info?platform=SHORT_VIDEO', { 'user-agent': 'ua/1' }, 'HIT', null],
    ['a URL with a credential, no user agent', `/x?token=${KEY}&a=%20"q"`, {}, undefined, null],
    [
      'odd characters',
      '/v1/authors/%E6%B8%B8/spread-info',
      { 'user-agent': 'a "quoted"\\ agent' },
      'MISS',
      null,
    ],
    ['a request refused by the caller limits', '/v1/authors/a1/spread-info', {}, undefined, 'rate'],
  ] as const)('writes what pino writes: %s', async (_name, url, headers, cache, refused) => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const config = loadConfig({ LOG_LEVEL: 'info', API_KEYS: `svc:${KEY}` });
    const app = Fastify({ logger: loggerOptions(config, stream) });
    let captured: { request: FastifyRequest; reply: FastifyReply } | undefined;
    app.get('/*', (request, reply) => {
      request.caller = { name: 'svc', kind: 'key', admin: false, anonymous: false };
      if (cache) reply.header('x-cache', cache);
      request.refused = refused;
      reply.send('ok');
    });
    app.addHook('onResponse', async (request, reply) => {
      captured = { request, reply };
    });
    await app.inject({ url, headers });
    const { request, reply } = captured!;
    const log = app.log as Logger;
    const fast = JSON.parse(completionLine(log, request, reply));
    lines.length = 0;
    log.child({ reqId: request.id }).info(completionFields(request, reply), 'request completed');
    const byPino = JSON.parse(lines[0]!);
    expect({ ...fast, time: 0 }).toEqual({ ...byPino, time: 0 });
    expect(Object.keys(fast)).toEqual(Object.keys(byPino));
    expect(JSON.stringify(fast)).not.toContain(KEY);
    expect(fast.refused).toBe(refused ?? undefined);
    // Milliseconds to 0.1 ms: not a float's seventeen digits.
    expect(String(fast.responseTime)).toMatch(/^\d+(\.\d)?$/);
    await app.close();
  });
});
