// Turns a cache answer into response bytes and headers. The normalised metrics of an entry are
// serialised once and reused for every answer from that entry (the hot path of a cache hit).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { entryEtag, type OkEntry, type Windows } from '../cache/entry.js';
import type { Answer } from '../cache/spread-service.js';
import { normalizeSpreadInfo } from '../normalize/spread-info.js';
import type { SpreadParams } from '../upstream/params.js';

const metricsJson = new WeakMap<OkEntry, string>();

function metricsOf(entry: OkEntry): string {
  let json = metricsJson.get(entry);
  if (json === undefined) {
    json = JSON.stringify(normalizeSpreadInfo(entry.data));
    metricsJson.set(entry, json);
  }
  return json;
}

function ageSeconds(entry: OkEntry, now = Date.now()): number {
  return Math.max(0, Math.floor((now - entry.fetchedAt) / 1000));
}

/** The contract's 200 body, assembled from pre-serialised parts. */
export function spreadInfoJson(p: SpreadParams, answer: Answer, now = Date.now()): string {
  const { entry, outcome } = answer;
  const query = {
    platform: p.platform,
    range: p.range,
    type: p.type,
    onlyAssign: p.onlyAssign,
    flowType: p.flowType,
  };
  const meta = {
    cache: outcome,
    stale: outcome === 'STALE',
    fetchedAt: new Date(entry.fetchedAt).toISOString(),
    ageSeconds: ageSeconds(entry, now),
    upstreamRequestId: entry.requestId,
  };
  return `{"authorId":${JSON.stringify(p.oAuthorId)},"query":${JSON.stringify(query)},"metrics":${metricsOf(entry)},"meta":${JSON.stringify(meta)}}`;
}

/** The upstream's time format (its published schema, its MCP server's examples): ISO 8601 UTC, to the second. */
export function upstreamTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const dataJson = new WeakMap<OkEntry, string>();

/**
 * The upstream's own envelope, values as the upstream sent them (drop-in route). Entries cached
 * before message and recordTime were kept answer "success" and the time the gateway fetched them;
 * `requestId` is the upstream's for this answer, or the gateway's own when the upstream sent none.
 */
export function upstreamEnvelopeJson(entry: OkEntry, gatewayRequestId: string): string {
  let data = dataJson.get(entry);
  if (data === undefined) {
    data = JSON.stringify(entry.data);
    dataJson.set(entry, data);
  }
  const message = entry.message === undefined ? 'success' : entry.message;
  const recordTime = entry.recordTime ?? upstreamTime(entry.fetchedAt);
  return `{"code":0,"message":${JSON.stringify(message)},"requestId":${JSON.stringify(entry.requestId ?? gatewayRequestId)},"recordTime":${JSON.stringify(recordTime)},"data":${data}}`;
}

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

/**
 * Sets x-cache, age, etag, cache-control and vary. Returns true when the caller's `if-none-match`
 * matches, in which case the route answers 304 with no body.
 */
export function applyCacheHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  answer: Answer,
  windows: Windows,
  etagSuffix = '',
  now = Date.now(),
): boolean {
  const { entry, outcome } = answer;
  const age = ageSeconds(entry, now);
  const freshLeft = Math.max(0, Math.floor((entry.fetchedAt + windows.freshMs - now) / 1000));
  // Weak: the body's `meta` differs between answers from one entry; the metrics do not.
  const etag = `W/${entryEtag(entry).slice(0, -1)}${etagSuffix}"`;
  reply.header('x-cache', outcome);
  reply.header('age', String(age));
  reply.header('etag', etag);
  reply.header('cache-control', `private, max-age=${outcome === 'STALE' ? 0 : freshLeft}`);
  appendVary(reply, CALLER_VARY);
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
export function sendJson(reply: FastifyReply, status: number, json?: string): FastifyReply {
  reply.code(status);
  if (json === undefined) return reply.send();
  return reply.type(JSON_TYPE).send(json);
}
