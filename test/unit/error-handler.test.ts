import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import errorHandler, {
  describeValidation,
  errorBody,
  frameworkErrorHandler,
  toGatewayError,
} from '../../src/plugins/error-handler.js';

describe('toGatewayError', () => {
  it('passes a GatewayError through untouched', () => {
    const e = new GatewayError('UPSTREAM_UNAVAILABLE', 'busy', {
      upstreamCode: 302,
      retryAfterSeconds: 4.2,
    });
    expect(toGatewayError(e)).toBe(e);
    expect(e.retryAfterSeconds).toBe(5);
  });

  it('hides everything about an unexpected error', () => {
    const err = new Error('connect ECONNREFUSED 10.0.0.7:6379 token=abc');
    for (const thrown of [err, 'a string', { statusCode: 503, message: 'internal detail' }, undefined]) {
      const gw = toGatewayError(thrown);
      expect([gw.statusCode, gw.code, gw.message]).toEqual([500, 'INTERNAL', 'internal error']);
    }
  });

  it("keeps Fastify's own 4xx status and names a code for it", () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), { statusCode: 413 });
    expect(toGatewayError(tooLarge)).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
    const unsupported = Object.assign(new Error('Unsupported Media Type'), { statusCode: 415 });
    expect(toGatewayError(unsupported)).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(toGatewayError(unsupported).message).toContain('content-type: application/json');
  });
});

describe('errorBody', () => {
  it('includes upstreamCode and retryAfterSeconds only when known', () => {
    expect(errorBody('r1', new GatewayError('INVALID_REQUEST', 'bad'))).toEqual({
      error: { code: 'INVALID_REQUEST', message: 'bad', requestId: 'r1' },
    });
    const busy = new GatewayError('UPSTREAM_UNAVAILABLE', 'busy', {
      upstreamCode: 302,
      retryAfterSeconds: 5,
    });
    expect(errorBody('r2', busy)).toEqual({
      error: {
        code: 'UPSTREAM_UNAVAILABLE',
        message: 'busy',
        requestId: 'r2',
        upstreamCode: 302,
        retryAfterSeconds: 5,
      },
    });
  });
});

describe('describeValidation', () => {
  const issue = (
    keyword: string,
    instancePath: string,
    params: Record<string, unknown> = {},
    message = 'Invalid',
  ) => ({
    keyword,
    instancePath,
    params,
    message,
  });

  it('names the parameter and where it was', () => {
    expect(describeValidation([issue('invalid_value', '/platform')], 'querystring')).toBe(
      'query parameter "platform": Invalid',
    );
    expect(describeValidation([issue('invalid_format', '/oAuthorId')], 'params')).toBe(
      'path parameter "oAuthorId": Invalid',
    );
    expect(describeValidation([issue('too_big', '/items/3/oAuthorId')], 'body')).toBe(
      'field "items.3.oAuthorId": Invalid',
    );
  });

  it('names unknown parameters, and refuses a token with its own message', () => {
    expect(
      describeValidation([issue('unrecognized_keys', '', { keys: ['foo', 'bar'] })], 'querystring'),
    ).toBe('unknown query parameters "foo", "bar"');
    expect(describeValidation([issue('unrecognized_keys', '', { keys: ['token'] })], 'querystring')).toMatch(
      /^query parameter "token" is not accepted/,
    );
  });

  it('names at most five unknown keys and counts the rest, so the message stays short', () => {
    const keys = Array.from({ length: 6000 }, (_, i) => `k${i}`);
    const msg = describeValidation([issue('unrecognized_keys', '/items/0', { keys })], 'body');
    expect(msg).toBe(
      'unknown fields "items.0.k0", "items.0.k1", "items.0.k2", "items.0.k3", "items.0.k4" and 5995 more',
    );
  });

  it('keeps caller-chosen names short and printable', () => {
    const long = `${'x'.repeat(500)}\u0000\u202e`;
    const msg = describeValidation([issue('unrecognized_keys', '', { keys: [long] })], 'querystring');
    expect(msg.length).toBeLessThan(120);
    expect(msg).toMatch(/^[\x20-\x7e]+$/);
  });
});

describe('frameworkErrorHandler', () => {
  it("answers the router's own errors in the error shape, with the request id, without echoing the URL", async () => {
    const app = Fastify({
      frameworkErrors: frameworkErrorHandler,
      routerOptions: { maxParamLength: 20 },
      genReqId: () => 'fw-1',
    });
    await app.register(errorHandler);
    app.get('/x/:id', async () => ({ ok: true }));
    try {
      for (const url of ['/x/%E0%A4%A?token=caller-secret', `/x/${'a'.repeat(30)}?token=caller-secret`]) {
        const res = await app.inject({ url });
        expect(res.statusCode).toBe(400);
        expect(res.headers['x-request-id']).toBe('fw-1');
        expect(res.json()).toMatchObject({ error: { code: 'INVALID_REQUEST', requestId: 'fw-1' } });
        expect(res.body).not.toContain('caller-secret');
        expect(res.body).not.toContain('/x/');
      }
      expect((await app.inject({ url: '/x/fine' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
