// pino options: JSON in production, pretty on a TTY; secrets redacted by path, and the request URL
// logged with any `token` parameter masked (the drop-in route accepts and drops one).
import { createRequire } from 'node:module';
import { type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify';
import type { Config } from './config.js';

export const REDACT_PATHS = [
  'token',
  '*.token',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'apiKey',
  '*.apiKey',
  'key',
  '*.key',
  'config.JUSTONEAPI_TOKEN',
  'JUSTONEAPI_TOKEN',
];

/** Masks credentials in a request URL so it can be logged. */
export function safeUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  let changed = false;
  for (const name of [...params.keys()]) {
    if (/token|key|secret|password|authorization/i.test(name)) {
      params.set(name, '[REDACTED]');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, q)}?${params}` : url;
}

type LoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>;

export function loggerOptions(config: Config, destination?: NodeJS.WritableStream): LoggerOptions {
  const pretty = !destination && process.stdout.isTTY && config.NODE_ENV !== 'production' && hasPinoPretty();
  return {
    level: config.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    ...(destination ? { stream: destination } : {}),
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' },
          },
        }
      : {}),
    serializers: {
      req(req: {
        method: string;
        url: string;
        headers: Record<string, unknown>;
        ip?: string;
        socket?: { remoteAddress?: string };
      }) {
        return {
          method: req.method,
          url: safeUrl(req.url),
          remoteAddress: req.ip ?? req.socket?.remoteAddress,
          userAgent: req.headers['user-agent'],
        };
      },
    },
  };
}

/** pino-pretty is a dev dependency: a production image (npm ci --omit=dev) logs JSON even on a TTY. */
function hasPinoPretty(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * Fastify's request lines, with the caller's name (never its key) on the completion line. Cheaper
 * than binding it to a child logger per request, which showed in the cache-hit profile.
 * One line per request at `info`: the completion line carries the request too, and the arrival
 * line is `debug` (a flood of refused requests must not cost two lines each).
 */
export class GatewayLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    const fields = {
      req: request,
      res: reply,
      responseTime: reply.elapsedTime,
      caller: request.caller?.name,
    };
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.info(fields, 'request completed');
  }
}
