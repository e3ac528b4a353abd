// What the server does with a connection outside a route's handler: how long a client may take to
// send its request, what an unparsable or timed-out request is answered, and closing a socket whose
// body is still arriving after the answer was sent (a 401 before the body: nobody will read the rest)
// without resetting it: a socket closed with unread bytes sends a reset, and a client still writing
// its body then sees EPIPE instead of the answer. So, like nginx's lingering close, the answer is
// followed by a half-close and a bounded drain (LINGER_MS, LINGER_MAX_BYTES) before the socket goes.
// Without these a client trickling a body one byte at a time holds a socket and a file descriptor for
// as long as it likes (Fastify's default requestTimeout is 0: none).
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, maxHeaderSize, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError } from '../errors.js';
import { errorBody } from '../plugins/error-handler.js';

/**
 * After an early answer, how long and how much the gateway reads and discards before destroying the
 * socket: enough for a client to finish writing a body of several MB over a slow link and read the
 * answer, not enough to hold a socket or burn CPU for long (nginx: 30 s, with 5 s between reads).
 */
const LINGER_MS = 5000;
const LINGER_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Node's own timers for one request: headers and the whole request (body included) within
 * `requestTimeoutMs`. Node checks them every `connectionsCheckingInterval` (30 s by default, which
 * would let a 1 s timeout run 31 s), so the check runs ten times per timeout, 0.1 to 5 s apart.
 */
export function httpServerOptions(requestTimeoutMs: number): ServerOptions {
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs,
    connectionsCheckingInterval: Math.min(5000, Math.max(100, Math.floor(requestTimeoutMs / 10))),
  };
}

/** Parser and timeout errors Node reports before a request exists, as the contract's bodies. */
const CLIENT_ERRORS: Record<string, GatewayError> = {
  ERR_HTTP_REQUEST_TIMEOUT: new GatewayError(
    'REQUEST_TIMEOUT',
    'the request was not received in time (headers and body)',
  ),
  // Node's parser refuses headers over --max-http-header-size (16 KiB by default).
  HPE_HEADER_OVERFLOW: new GatewayError(
    'HEADERS_TOO_LARGE',
    `the request headers are too large (at most ${maxHeaderSize} bytes in all)`,
  ),
};
const BAD_REQUEST = new GatewayError('INVALID_REQUEST', 'the request could not be parsed as HTTP');

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/**
 * Fastify's `clientErrorHandler`. Fastify's default writes a body of its own shape without
 * `x-request-id`; there is no request yet, so the id is made here. The raw packet Node attaches to
 * the error holds the request's headers (keys): never logged.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const gw = CLIENT_ERRORS[err.code ?? ''] ?? BAD_REQUEST;
  // An answer already under way (a timeout after its headers went out) cannot get a second one.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  const answering = socket.writable && !inFlight?.headersSent;
  // The id the answer carries, so a caller quoting its x-request-id finds this line; the address is
  // the socket's (no request was parsed, so TRUST_PROXY's forwarded address is not known).
  const id = answering ? randomUUID() : undefined;
  this.log.info(
    {
      reqId: id,
      remoteAddress: socket.remoteAddress,
      clientError: { code: err.code, status: gw.statusCode },
    },
    'client error',
  );
  if (id !== undefined) {
    const body = JSON.stringify(errorBody(id, gw));
    socket.write(
      `HTTP/1.1 ${gw.statusCode} ${REASONS[gw.statusCode] ?? 'Error'}\r\n` +
        'connection: close\r\n' +
        'content-type: application/json; charset=utf-8\r\n' +
        `x-request-id: ${id}\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // The client may still be writing (a body, headers past the limit): let it read this answer.
    if (!socket.readableEnded) {
      lingeringClose(socket);
      return;
    }
  }
  socket.destroy();
}

/** Half-closes after what is written, reads and discards what still arrives, within bounds. */
function lingeringClose(socket: Socket): void {
  // The parser has let go of the socket: what still arrives comes here.
  socket.on('data', () => {});
  socket.end();
  linger(socket);
}

/**
 * Destroys a half-closed socket once the client has sent LINGER_MAX_BYTES more or LINGER_MS have
 * passed, whichever is first (a client that reads its answer and closes ends it sooner).
 */
function linger(socket: Socket): void {
  if (socket.destroyed) return;
  const from = socket.bytesRead;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  // bytesRead counts what Node's parser reads straight from the handle too (no 'data' events then).
  const meter = setInterval(() => {
    if (socket.bytesRead - from > LINGER_MAX_BYTES) socket.destroy();
  }, 50).unref();
  // The client is done sending (it has read the answer, or given up): nothing left to drain.
  socket.once('end', () => socket.destroy());
  socket.once('close', () => {
    clearTimeout(timer);
    clearInterval(meter);
  });
}

/**
 * An answer sent before the request's body arrived (401, 403, 429, 413 come from hooks that run
 * before the body is read) says `connection: close`, so the client will not send another request
 * and Node does not read and discard the rest of the body for as long as the client trickles it.
 * Node would then destroy the socket as soon as the answer is written (`destroySoon`), resetting a
 * client that is still writing; here it half-closes instead and lingers (the parser goes on
 * discarding the body), and the socket is destroyed when the client closes or the bounds are met.
 */
async function earlyAnswerClose(app: FastifyInstance) {
  // `complete` is false until Node's parser has the whole body (undefined on app.inject requests).
  // Callback hooks: they run on every answer, and never wait.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (bodyStillArriving(request.raw)) {
      reply.header('connection', 'close');
      const socket = request.raw.socket as Socket & { destroySoon?: () => void };
      // Node calls this once a `connection: close` answer is written (http server, resOnFinish).
      socket.destroySoon = () => {
        socket.end();
        linger(socket);
      };
    }
    done(null, payload);
  });
}

/**
 * A request declared a body that Node's parser has not finished. A request without one (a GET) is
 * not complete either while it is answered in the same tick as it arrived (a cache hit answered
 * without an await): the parser marks it complete only after its handlers return.
 */
function bodyStillArriving(raw: IncomingMessage): boolean {
  if (raw.complete !== false) return false;
  const length = raw.headers['content-length'];
  return (length !== undefined && length !== '0') || raw.headers['transfer-encoding'] !== undefined;
}

export const earlyAnswerClosePlugin = fp(earlyAnswerClose, { name: 'early-answer-close' });
