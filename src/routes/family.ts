// GET <every catalogued path>: the rest of the Xingtu family, served like the spread-info drop-in
// route (its own route keeps the typed schema): same credential rules (`token` is the caller's
// gateway key), the upstream's envelope for every outcome, the same cache, coalescing and limits.
// Parameters are checked against the catalogue entry; unknown ones are accepted, never forwarded or
// keyed, and named in `x-ignored-params`. A path under /api/ that no entry names is never forwarded:
// HTTP 404 with the envelope and business code 404 (the router matches paths exactly, after one
// decoding: `..`, encoded slashes and dots, doubled slashes and case changes match nothing).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Answer } from '../cache/cache-service.js';
import { type EndpointCall, endpointCall } from '../catalogue/call.js';
import { CATALOGUE, SPREAD_INFO } from '../catalogue/index.js';
import { parseQuery } from '../catalogue/params.js';
import type { EndpointSpec, ParamSpec } from '../catalogue/types.js';
import { GatewayError } from '../errors.js';
import { withFastPath } from '../http/fast-validation.js';
import { wantsForcedRefresh } from '../http/forced-refresh.js';
import { applyCacheHeaders, dropInAnswer, sendJson } from '../http/present.js';
import { callerRefOf } from '../plugins/access.js';
import { documentAs } from '../plugins/openapi-transform.js';

/** Names echoed in x-ignored-params: at most this many, each shown only when it is a plain name. */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** The catalogue name of the endpoint a route serves (metrics, logs, usage). */
    endpoint?: string;
  }
}

const MAX_IGNORED_SHOWN = 20;
const PLAIN_NAME = /^[A-Za-z0-9_.[\]-]{1,64}$/;

const SPREAD_INFO_KNOWN = new Set([...CATALOGUE.get(SPREAD_INFO).params.map((p) => p.name), 'token']);

/** A name an SDK could send: a plain identifier, nothing an object's prototype answers to. */
const PLAIN_PARAM = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const PROTOTYPE_NAMES = new Set(['constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf']);

/**
 * For spread-info's own drop-in route (its schema is strict): takes unknown plain-named parameters
 * out of the query before validation and returns x-ignored-params; anything stranger stays for the
 * schema to refuse.
 */
export function takeUnknownParams(query: unknown): string | undefined {
  if (typeof query !== 'object' || query === null) return undefined;
  const q = query as Record<string, unknown>;
  const names: string[] = [];
  for (const k of Object.keys(q)) {
    if (SPREAD_INFO_KNOWN.has(k) || !PLAIN_PARAM.test(k) || PROTOTYPE_NAMES.has(k)) continue;
    names.push(k);
    delete q[k];
  }
  return names.length > 0 ? ignoredHeader(names) : undefined;
}

function ignoredHeader(names: string[]): string {
  const shown = names
    .slice(0, MAX_IGNORED_SHOWN)
    .map((n) => (PLAIN_NAME.test(n) ? n : encodeURIComponent(n).slice(0, 64)));
  if (names.length > MAX_IGNORED_SHOWN) shown.push(`(+${names.length - MAX_IGNORED_SHOWN} more)`);
  return shown.join(', ');
}

const JSON_TYPES: Record<ParamSpec['kind'], string> = {
  'author-id': 'string',
  id: 'string',
  enum: 'string',
  boolean: 'boolean',
  integer: 'integer',
  date: 'string',
  range: 'string',
  text: 'string',
};

/** Documents the entry's parameters; checking is parseQuery's (a fast path passes the query through). */
function querySchema(spec: EndpointSpec) {
  const fields: Record<string, z.ZodType> = {};
  for (const p of spec.params) {
    const doc: Record<string, unknown> = { type: JSON_TYPES[p.kind], description: p.description || p.name };
    if (p.values && !p.open) doc.enum = [...p.values, ...(p.aliases ?? [])];
    if (p.default !== undefined)
      doc.default =
        p.kind === 'boolean' ? p.default === 'true' : p.kind === 'integer' ? Number(p.default) : p.default;
    const field = z.union([z.string(), z.array(z.string())]);
    fields[p.name] = documentAs(p.required ? field : field.optional(), doc);
  }
  fields.token = documentAs(z.union([z.string(), z.array(z.string())]).optional(), {
    type: 'string',
    description:
      'Your **gateway** API key, where JustOneAPI clients put their token (a key header wins). Never forwarded.',
  });
  return withFastPath(z.looseObject(fields), (data) => data as object);
}

const envelopeSchema = z
  .looseObject({
    code: z.number().int().describe('Business code: 0 success; see "Drop-in business codes".'),
    message: z.string().nullable(),
    requestId: z.string(),
    recordTime: z.string(),
    data: z.unknown().describe("The upstream's `data`, as it sent it (null on errors)."),
  })
  .describe("JustOneAPI's own envelope for every outcome; decide on `code`.");

async function familyRoutes(app: FastifyInstance): Promise<void> {
  for (const spec of CATALOGUE.endpoints) {
    if (spec.name === SPREAD_INFO) continue; // its own drop-in route (routes/drop-in.ts)
    app.get(
      spec.upstreamPath,
      {
        config: {
          auth: 'caller',
          keyQueryParam: 'token',
          errorEnvelope: 'upstream',
          cacheable: true,
          forceRefresh: true,
          endpoint: spec.name,
        },
        schema: {
          operationId: spec.operationId,
          summary: `${spec.summary} (drop-in)`,
          description: `${spec.description}\n\nServed through the gateway's cache in the upstream's own shape.`,
          tags: ['drop-in'],
          // Hidden: the document's family operations are generated from the catalogue (one place for
          // 53 paths), not route by route.
          hide: true,
          ...(spec.deprecated ? { deprecated: true } : {}),
          querystring: querySchema(spec),
          response: { 200: envelopeSchema },
        },
      },
      (request, reply) => serve(app, spec, request, reply),
    );
  }
}

function serve(
  app: FastifyInstance,
  spec: EndpointSpec,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> | undefined {
  const parsed = parseQuery(spec, request.query as Record<string, unknown>);
  if (!parsed.ok) throw new GatewayError('INVALID_REQUEST', `${parsed.param}: ${parsed.problem}`);
  if (parsed.ignored.length > 0) reply.header('x-ignored-params', ignoredHeader(parsed.ignored));
  return serveDropIn(app, request, reply, endpointCall(spec, parsed.tuple));
}

/**
 * One drop-in answer for a call (spread-info's route and every family path): a fresh copy held in
 * process is answered before this returns (no promise); otherwise the cache service's answer, and
 * failures (201 "no content" included) go to the error handler, which answers the envelope.
 */
export function serveDropIn(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  call: EndpointCall,
): Promise<void> | undefined {
  const force = wantsForcedRefresh(request);
  const caller = callerRefOf(request);
  const respond = (answer: Answer): void => {
    const r = dropInAnswer(answer, app.spread.windowsFor(call), request.id);
    if (applyCacheHeaders(request, reply, answer, r, true)) sendJson(reply, 304);
    else sendJson(reply, 200, r.body);
  };
  const hit = force ? undefined : app.spread.peek(call, caller, 'drop-in');
  if (hit) {
    respond(hit);
    return;
  }
  const arrivedAt = Date.now() - reply.elapsedTime;
  return app.spread.get(call, { force, log: request.log, route: 'drop-in', caller, arrivedAt }).then(respond);
}

export default familyRoutes;
