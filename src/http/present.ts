// Turns a cache answer into response bytes and headers. An entry's upstream data is held as bytes
// and its normalised metrics kept while it is hot (cache/held-entry.ts); a hot entry's whole answer
// (body, age, cache-control) is built once per second and outcome and reused for every request in
// between (the hot path of a cache hit).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Answer } from '../cache/cache-service.js';
import type { OkEntry, Windows } from '../cache/entry.js';
import { HeldOk, type Rendered } from '../cache/held-entry.js';
import type { SpreadParams } from '../upstream/params.js';

function ageSeconds(entry: OkEntry, now = Date.now()): number {
  return Math.max(0, Math.floor((now - entry.fetchedAt) / 1000));
}

function freshSecondsLeft(entry: OkEntry, windows: Windows, now: number): number {
  return Math.max(0, Math.floor((entry.fetchedAt + windows.freshMs - now) / 1000));
}

/** Everything of the contract's 200 body before the metrics. */
function spreadInfoHead(p: SpreadParams): string {
  const query = {
    platform: p.platform,
    range: p.range,
    type: p.type,
    onlyAssign: p.onlyAssign,
    flowType: p.flowType,
  };
  return `{"authorId":${JSON.stringify(p.oAuthorId)},"query":${JSON.stringify(query)},"metrics":`;
}

function spreadInfoTail(answer: Answer, age: number): string {
  const { entry, outcome } = answer;
  const meta = {
    cache: outcome,
    stale: outcome === 'STALE',
    fetchedAt: new Date(entry.fetchedAt).toISOString(),
    ageSeconds: age,
    upstreamRequestId: entry.requestId,
  };
  return `,"meta":${JSON.stringify(meta)}}`;
}

/** The contract's 200 body as text (the batch joins many). */
export function spreadInfoJson(p: SpreadParams, answer: Answer, now = Date.now()): string {
  const held = HeldOk.from(answer.entry);
  return spreadInfoHead(p) + held.metricsJson() + spreadInfoTail(answer, ageSeconds(held, now));
}

/**
 * `previous` while it still fits this moment (same outcome, age and fresh seconds left), else a new
 * answer with `body(age)`.
 */
function rendered(
  previous: Rendered | undefined,
  answer: Answer,
  windows: Windows,
  now: number,
  body: (age: number) => Buffer,
): Rendered {
  const outcome = answer.outcome;
  const age = ageSeconds(answer.entry, now);
  const freshLeft = freshSecondsLeft(answer.entry, windows, now);
  if (previous?.outcome === outcome && previous.ageSeconds === age && previous.freshLeft === freshLeft)
    return previous;
  return {
    outcome,
    ageSeconds: age,
    freshLeft,
    age: String(age),
    cacheControl: `private, max-age=${outcome === 'STALE' ? 0 : freshLeft}`,
    body: body(age),
  };
}

/** The normalised route's answer, built once per entry, outcome and second. */
export function spreadInfoAnswer(
  p: SpreadParams,
  answer: Answer,
  windows: Windows,
  now = Date.now(),
): Rendered {
  const held = HeldOk.from(answer.entry);
  const previous = held.rendered;
  const r = rendered(previous, answer, windows, now, (age) =>
    Buffer.from(spreadInfoHead(p) + held.metricsJson() + spreadInfoTail(answer, age)),
  );
  if (r !== previous) held.rendered = r;
  return r;
}

/** The upstream's time format (its published schema, its MCP server's examples): ISO 8601 UTC, to the second. */
export function upstreamTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function envelopeHead(entry: OkEntry, gatewayRequestId: string): string {
  const message = entry.message === undefined ? 'success' : entry.message;
  const recordTime = entry.recordTime ?? upstreamTime(entry.fetchedAt);
  return `{"code":0,"message":${JSON.stringify(message)},"requestId":${JSON.stringify(entry.requestId ?? gatewayRequestId)},"recordTime":${JSON.stringify(recordTime)},"data":`;
}

/**
 * The upstream's own envelope, values as the upstream sent them (drop-in route). Entries cached
 * before message and recordTime were kept answer "success" and the time the gateway fetched them;
 * `requestId` is the upstream's for this answer, or the gateway's own when the upstream sent none.
 */
export function upstreamEnvelopeJson(entry: OkEntry, gatewayRequestId: string): string {
  const held = HeldOk.from(entry);
  return `${envelopeHead(held, gatewayRequestId)}${held.dataBytes().toString()}}`;
}

/** The drop-in route's answer; its body names the request only when the upstream gave no id. */
export function dropInAnswer(
  answer: Answer,
  windows: Windows,
  gatewayRequestId: string,
  now = Date.now(),
): Rendered {
  const held = HeldOk.from(answer.entry);
  const body = () =>
    Buffer.concat([Buffer.from(envelopeHead(held, gatewayRequestId)), held.dataBytes(), CLOSE_BRACE]);
  if (held.requestId === null) return rendered(undefined, answer, windows, now, body);
  const previous = held.renderedDropIn;
  // The envelope does not change with age or outcome: only the headers are rebuilt.
  const r = rendered(previous, answer, windows, now, () => previous?.body ?? body());
  if (r !== previous) held.renderedDropIn = r;
  return r;
}

const CLOSE_BRACE = Buffer.from('}');

/**
 * The request headers that select the caller, and the CORS origin: a browser or shared cache must
 * not hand an answer fetched with one key to a request with another key, or with none.
 */
export const CALLER_VARY = ['x-api-key', 'authorization', 'origin'];

/** Adds names to `vary` once each (case-insensitive), keeping what CORS already put there. */
export function appendVary(reply: FastifyReply, names: readonly string[]): void {
  const current = reply.getHeader('vary');
  const text = Array.isArray(current) ? current.join(', ') : current === undefined ? '' : String(current);
  if (text.trim() === '*') return;
  const have = new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  const missing = names.filter((n) => !have.has(n.toLowerCase()));
  if (missing.length === 0) return;
  reply.header('vary', text.trim() ? `${text}, ${missing.join(', ')}` : missing.join(', '));
}

const CALLER_VARY_TEXT = CALLER_VARY.join(', ');

/**
 * Sets x-cache, age, etag, cache-control and vary from a built answer. Returns true when the
 * caller's `if-none-match` matches, in which case the route answers 304 with no body.
 */
export function applyCacheHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  answer: Answer,
  r: Rendered,
  dropIn = false,
): boolean {
  const held = HeldOk.from(answer.entry);
  const etag = dropIn ? held.dropInEtag : held.weakEtag;
  reply.header('x-cache', answer.outcome);
  reply.header('age', r.age);
  reply.header('etag', etag);
  reply.header('cache-control', r.cacheControl);
  if (reply.getHeader('vary') === undefined) reply.header('vary', CALLER_VARY_TEXT);
  else appendVary(reply, CALLER_VARY);
  const inm = request.headers['if-none-match'];
  return typeof inm === 'string' && etagMatches(inm, etag);
}

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

export const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Sends pre-serialised JSON as is (Fastify does not re-serialise a string with a JSON type). The
 * response schemas document these bodies; tests check the bodies against them.
 */
export function sendJson(reply: FastifyReply, status: number, json?: string | Buffer): FastifyReply {
  reply.code(status);
  if (json === undefined) return reply.send();
  return reply.type(JSON_TYPE).send(json);
}
