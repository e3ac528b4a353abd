// The one error handler: every failure becomes the contract's error body, or, on a route that
// speaks the upstream's protocol (the drop-in route), the upstream's envelope with HTTP 200 and a
// business code (http/drop-in-codes.ts). 5xx bodies never carry internals; validation errors name
// the parameter.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { ERROR_CODES, ERRORS, type ErrorCode, type ErrorReason, GatewayError } from '../errors.js';
import { dropInErrorJson } from '../http/drop-in-codes.js';
import { appendVary, CALLER_VARY, JSON_TYPE } from '../http/present.js';
import { CallerRefusal } from '../limits/caller-refusal.js';
import type { errorResponseSchema } from '../routes/schemas.js';
import { callerRefOf } from './access.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Why the request was refused (its completion line says so), or null: the caller's own limits
     * (rate, daily_share, pending, credentials) or the gateway's upstream governance (backoff,
     * circuit, dayover, quota, endpoint_quota, rate).
     */
    refused: ErrorReason | null;
  }
  interface FastifyContextConfig {
    /** 'upstream': errors are answered in the upstream's envelope (HTTP 200, business code). */
    errorEnvelope?: 'upstream';
  }
}

/** The contract's error body, as the response schema (the one source) describes it. */
export type ErrorBody = z.infer<typeof errorResponseSchema>;

export function errorBody(requestId: string, err: GatewayError): ErrorBody {
  return {
    error: {
      code: err.code,
      message: err.message,
      requestId,
      ...(err.upstreamCode === undefined ? {} : { upstreamCode: err.upstreamCode }),
      ...(err.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: err.retryAfterSeconds }),
    },
  };
}

/** Fastify's own 4xx errors by status: the first code of the table with that status (404 is NOT_FOUND). */
const CODE_OF_STATUS = new Map<number, ErrorCode>();
for (const code of ERROR_CODES) {
  const { status } = ERRORS[code];
  if (!CODE_OF_STATUS.has(status)) CODE_OF_STATUS.set(status, code);
}

const UNSUPPORTED_MEDIA_TYPE_MESSAGE =
  'the body must be JSON sent as content-type: application/json (a string body from fetch() is sent as text/plain)';

/** Turns any thrown value into a GatewayError the caller may see. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (hasZodFastifySchemaValidationErrors(err)) {
    return new GatewayError('INVALID_REQUEST', describeValidation(err.validation, err.validationContext));
  }
  // `throw undefined` / `throw null` reach here too: reading a property of them would crash the handler.
  const fe = (typeof err === 'object' && err !== null ? err : {}) as Partial<FastifyError>;
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    // Any other 4xx of Fastify's is a bad request; its messages (bad JSON, body too large,
    // unsupported media type) are safe to show.
    const code = CODE_OF_STATUS.get(status) ?? 'INVALID_REQUEST';
    // Fastify's own text ("Unsupported Media Type") does not say what would do.
    if (code === 'UNSUPPORTED_MEDIA_TYPE') return new GatewayError(code, UNSUPPORTED_MEDIA_TYPE_MESSAGE);
    return new GatewayError(code, fe.message || 'invalid request');
  }
  return new GatewayError('INTERNAL', 'internal error');
}

/** Unknown keys named in one validation message; the rest are counted. */
const MAX_NAMED_KEYS = 5;

type Issue = { instancePath: string; message?: string; keyword: string; params: Record<string, unknown> };

export function describeValidation(issues: Issue[], context: string | undefined): string {
  const where =
    context === 'querystring' ? 'query parameter' : context === 'params' ? 'path parameter' : 'field';
  const parts = issues.slice(0, 5).map((i) => {
    const keys = Array.isArray(i.params.keys) ? (i.params.keys as string[]) : [];
    if (i.keyword === 'unrecognized_keys' && keys.length > 0) {
      // Nested (a batch item): name the key with its path, `items.3.foo`, as other issues are named.
      const at = i.instancePath.replace(/^\//, '').replaceAll('/', '.');
      // A hostile body can carry thousands of unknown keys: name a few, count the rest.
      const named = keys
        .slice(0, MAX_NAMED_KEYS)
        .map((k) => `"${truncate(at ? `${at}.${k}` : k)}"`)
        .join(', ');
      const more = keys.length > MAX_NAMED_KEYS ? ` and ${keys.length - MAX_NAMED_KEYS} more` : '';
      if (keys.includes('token') && context === 'querystring') {
        return `${where} "token" is not accepted: the gateway holds the upstream token`;
      }
      return `unknown ${where}${keys.length > 1 ? 's' : ''} ${named}${more}`;
    }
    const name = i.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    return `${where} "${truncate(name)}": ${i.message ?? 'invalid'}`;
  });
  return parts.join('; ');
}

function truncate(s: string): string {
  // Names come from the caller: keep them short and printable in the message.
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}

const FRAMEWORK_MESSAGES: Record<string, string> = {
  FST_ERR_BAD_URL: 'the URL is not valid (bad percent-encoding)',
  // The router gives up on long path parameters before validation can name them.
  FST_ERR_MAX_PARAM_LENGTH: 'path parameter too long',
};

/**
 * For Fastify's `frameworkErrors` option: errors the router raises before any hook or handler runs.
 * Fastify's default answer has another body shape, no x-request-id, and echoes the raw URL (with
 * its query, so a caller's `token`) in the message.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message = FRAMEWORK_MESSAGES[err.code];
  const gw = message
    ? new GatewayError('INVALID_REQUEST', message)
    : toGatewayError(new Error('framework error'));
  if (gw.statusCode >= 500) request.log.error({ err: { code: err.code } }, 'framework error');
  reply
    .header('x-request-id', request.id)
    .code(gw.statusCode)
    .type(JSON_TYPE)
    .send(errorBody(request.id, gw));
}

async function errorHandlerPlugin(app: FastifyInstance) {
  app.decorateRequest('refused', null);
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const gw = toGatewayError(err);
    if (err instanceof CallerRefusal) request.refused = err.reason;
    else if (err instanceof GatewayError && err.reason !== undefined) request.refused = err.reason;
    if (gw.statusCode >= 500 && !(err instanceof GatewayError)) {
      request.log.error({ err }, 'unhandled error');
    }
    if (gw.retryAfterSeconds !== undefined) reply.header('retry-after', String(gw.retryAfterSeconds));
    const config = request.routeOptions.config;
    // A bad parameter on an endpoint's route never reaches the cache (which counts every request it
    // answers): counted here, so /v1/usage has every request of the caller on that endpoint.
    if (
      gw.code === 'INVALID_REQUEST' &&
      gw.upstreamCode === undefined &&
      config?.cacheable &&
      config.endpoint
    )
      app.usage?.served(callerRefOf(request), false, config.endpoint);
    // The answer depends on the credential: no cache may give it to a request with another one.
    if (config?.auth) appendVary(reply, CALLER_VARY);
    if (config?.errorEnvelope === 'upstream') {
      // HTTP 200, so nothing between here and the client may keep it as if it were data.
      reply.header('cache-control', 'no-store');
      return reply
        .code(200)
        .type(JSON_TYPE)
        .send(dropInErrorJson(gw, errorBody(request.id, gw)));
    }
    return reply.code(gw.statusCode).type(JSON_TYPE).send(errorBody(request.id, gw));
  });

  // The path is not echoed: it is the caller's text, and may hold a credential (`/x;token=…`).
  app.setNotFoundHandler((request, reply) => {
    // Under /api/ (any case) the callers are JustOneAPI clients: the upstream's envelope, code 404.
    if (/^\/api\//i.test(request.url)) {
      const err = new GatewayError(
        'NOT_FOUND',
        'no catalogued endpoint at this path (paths match exactly; the list is at /openapi.json); nothing was forwarded',
      );
      return reply
        .code(404)
        .type(JSON_TYPE)
        .send(dropInErrorJson(err, errorBody(request.id, err)));
    }
    const message = `no route for ${request.method} at this path (the routes are listed at /openapi.json)`;
    reply.code(404).send(errorBody(request.id, new GatewayError('NOT_FOUND', message)));
  });
}

export default fp(errorHandlerPlugin, { name: 'error-handler' });
