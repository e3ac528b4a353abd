// pino options: JSON in production, pretty on a TTY; secrets redacted by path, and the request URL
// logged with credentials masked wherever they are in it (the drop-in route accepts a `token`).
import { createRequire } from 'node:module';
import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import pino, {
  type Bindings,
  type ChildLoggerOptions,
  type Level,
  type LevelWithSilent,
  type Logger,
} from 'pino';
import type { Config } from './config.js';
import { LogDestination } from './log-destination.js';

const REDACT_PATHS = [
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

// Parameter names whose values are credentials, wherever they appear in a URL: the query, matrix
// parameters (`/path;token=…`) and `name=value` path segments. A name that ends in a credential
// word (token, access_token, apiKey, client_secret…), not one that merely contains it: a search
// `keyword` is a parameter and is logged as sent.
const SECRET_NAME = /(token|key|secret|passw(or)?d|pwd|authorization|credentials?|signature|jwt)$/i;
// A JWT anywhere in the URL (a path parameter, an unnamed value) is a credential too.
const JWT_LIKE = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;
const MASK = '%5BREDACTED%5D';

/**
 * Masks credentials in a request URL so it can be logged: values of parameters named like a secret
 * (query, matrix and path `name=value`), JWT-shaped pieces, and any piece that contains one of
 * `secrets` (the gateway's token and keys) even percent-encoded.
 */
export function safeUrl(url: string, secrets: readonly string[] = []): string {
  // Most URLs have nothing to mask: no `=`, `;`, `%` or `+`, no known secret, no JWT's dots.
  if (!/[=;%+.]/.test(url) && !secrets.some((s) => url.includes(s))) return url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const masked = path
    .split('/')
    .map((segment) => maskPieces(segment, /([;&,])/, secrets))
    .join('/');
  return q < 0 ? masked : `${masked}?${maskPieces(url.slice(q + 1), /([&;])/, secrets, true)}`;
}

function maskPieces(text: string, separators: RegExp, secrets: readonly string[], form = false): string {
  // split with a capturing group keeps the separators, so the URL is rebuilt as it came.
  return text
    .split(separators)
    .map((piece, i) => (i % 2 === 1 ? piece : maskPiece(piece, secrets, form)))
    .join('');
}

function maskPiece(piece: string, secrets: readonly string[], form: boolean): string {
  if (piece === '') return piece;
  const eq = piece.indexOf('=');
  const name = eq < 0 ? '' : piece.slice(0, eq);
  if (eq >= 0 && SECRET_NAME.test(decode(name, form))) return `${name}=${MASK}`;
  const decoded = decode(piece, form);
  const value = eq < 0 ? decoded : decode(piece.slice(eq + 1), form);
  if (JWT_LIKE.test(value) || secrets.some((s) => decoded.includes(s))) {
    return eq < 0 ? MASK : `${name}=${MASK}`;
  }
  return piece;
}

function decode(s: string, form: boolean): string {
  const text = form ? s.replaceAll('+', ' ') : s;
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** What must never be logged in clear: the upstream token and every caller's key. */
function configSecrets(config: Config): string[] {
  const all = [config.JUSTONEAPI_TOKEN, ...config.API_KEYS.map((k) => k.key)];
  for (const k of config.ADMIN_API_KEYS) all.push(k.key);
  return all.filter((s): s is string => typeof s === 'string' && s.length >= 8);
}

type LoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>;

export function loggerOptions(config: Config, destination?: NodeJS.WritableStream): LoggerOptions {
  const secrets = configSecrets(config);
  const pretty = !destination && process.stdout.isTTY && config.NODE_ENV !== 'production' && hasPinoPretty();
  return {
    level: config.LOG_LEVEL,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    // Never pino's default (fd 1 from the thread pool, flushed synchronously at exit): a stalled or
    // broken stdout must not keep SIGTERM from ending the process (log-destination.ts).
    ...(pretty ? {} : { stream: destination ?? new LogDestination() }),
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
          url: safeUrl(req.url, secrets),
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
 * line is `debug` (a flood of refused requests must not cost two lines each). A successful
 * request's line is written without redaction (completionLine): every field of it is built here
 * from values that are safe to log (the URL masked by the req serializer, the caller's name, the
 * status), so the redaction paths, whose wildcards cost a walk of every field, have nothing to find
 * in it. Every other line keeps them.
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
    if (error) {
      reply.log.error({ ...completionFields(request, reply), err: error }, 'request errored');
      return;
    }
    // The request's level: a route may be quieter than the app (logLevel on /healthz and the like).
    if (!(request.log as unknown as Pick<Logger, 'isLevelEnabled'>).isLevelEnabled('info')) return;
    writeCompletionLine(request.server.log as Logger, request, reply);
  }

  /** Fastify's own line names the raw URL; this one goes through the masking req serializer. */
  override routeNotFound(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.info({ req: request }, 'route not found');
  }
}

/** The fields of a request's last line, for pino (completionLine writes the same ones as text). */
export function completionFields(request: FastifyRequest, reply: FastifyReply) {
  return {
    req: request,
    res: reply,
    responseTime: roundedMs(reply.elapsedTime),
    caller: request.caller?.name,
    cache: reply.getHeader('x-cache'),
    refused: request.refused ?? undefined,
  };
}

/** A duration for a log line, to 0.1 ms: the float's other digits are noise, not precision. */
function roundedMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

const sym = pino.symbols;
type PinoInternals = Record<symbol, unknown>;

/**
 * The completion line of a request, exactly as pino writes `log.child({ reqId }).info(
 * completionFields(request, reply), 'request completed')` with the app's serializers (the same
 * prefix, time, bindings and serializers, taken from the logger), assembled as text: ~0.7 us instead of
 * ~5.5 us with the redaction walk. test/unit/completion-line.test.ts compares the two.
 */
export function completionLine(log: Logger, request: FastifyRequest, reply: FastifyReply): string {
  const l = log as unknown as PinoInternals;
  const serializers = l[sym.serializersSym] as Record<string, (v: unknown) => unknown>;
  const req = serializers['req'] ? serializers['req'](request) : request;
  const caller = request.caller?.name;
  const cache = reply.getHeader('x-cache');
  const refused = request.refused;
  return (
    `${(l[sym.lsCacheSym] as Record<number, string>)[30]}${(l[sym.timeSym] as () => string)()}` +
    `${l[sym.chindingsSym] as string},"reqId":${JSON.stringify(request.id)},"req":${JSON.stringify(req)}` +
    `,"res":{"statusCode":${reply.statusCode}},"responseTime":${roundedMs(reply.elapsedTime)}` +
    (caller === undefined ? '' : `,"caller":${JSON.stringify(caller)}`) +
    (cache === undefined ? '' : `,"cache":${JSON.stringify(cache)}`) +
    (refused === null || refused === undefined ? '' : `,"refused":${JSON.stringify(refused)}`) +
    ',"msg":"request completed"}\n'
  );
}

function writeCompletionLine(log: Logger, request: FastifyRequest, reply: FastifyReply): void {
  const stream = (log as unknown as PinoInternals)[sym.streamSym] as NodeJS.WritableStream & PinoInternals;
  // A multistream wants pino's per-line metadata: let pino write it (never the case here today).
  if (stream[sym.needsMetadataGsym]) {
    log
      .child({}, { redact: [] })
      .info({ reqId: request.id, ...completionFields(request, reply) }, 'request completed');
    return;
  }
  stream.write(completionLine(log, request, reply));
}

type LogMethod = (...args: unknown[]) => void;

/**
 * A request's logger (Fastify's `childLoggerFactory`): it becomes a pino child only when something
 * logs through it at an enabled level. Most requests log nothing but their completion line, which
 * GatewayLogController writes without it; a child per request was a few percent of a cache hit.
 */
class LazyRequestLogger {
  private real: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly childBindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private logger(): Logger {
    this.real ??= this.parent.child(this.childBindings, this.options);
    return this.real;
  }

  get level(): LevelWithSilent {
    return (this.real?.level ?? this.options.level ?? this.parent.level) as LevelWithSilent;
  }

  set level(level: LevelWithSilent) {
    this.logger().level = level;
  }

  isLevelEnabled(level: string): boolean {
    const values = this.parent.levels.values;
    return (values[level] ?? 0) >= (values[this.level] ?? Number.POSITIVE_INFINITY);
  }

  private at(level: Level, args: unknown[]): void {
    if (this.isLevelEnabled(level)) (this.logger()[level] as LogMethod)(...args);
  }

  fatal(...args: unknown[]): void {
    this.at('fatal', args);
  }
  error(...args: unknown[]): void {
    this.at('error', args);
  }
  warn(...args: unknown[]): void {
    this.at('warn', args);
  }
  info(...args: unknown[]): void {
    this.at('info', args);
  }
  debug(...args: unknown[]): void {
    this.at('debug', args);
  }
  trace(...args: unknown[]): void {
    this.at('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger().child(bindings, options);
  }

  bindings(): Bindings {
    return this.logger().bindings();
  }

  flush(cb?: (err?: Error) => void): void {
    this.logger().flush(cb);
  }
}

export function lazyChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyRequestLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger;
}
