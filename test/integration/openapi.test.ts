// The OpenAPI document is generated from the zod schemas the routes validate with: each documented
// parameter and body must be what those schemas accept, and every metric field must be explained.
// It must also be what client generators need: operationIds, declared headers, the 304, explicit
// statuses, enums, a batch result that narrows on `status` (see also openapi-lint.test.ts and
// openapi-client.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ZodType, z } from 'zod';
import { CATALOGUE } from '../../src/catalogue/index.js';
import { ERROR_CODES } from '../../src/errors.js';
import { DROP_IN_ANSWER_CODES } from '../../src/http/drop-in-codes.js';
import { documentOverride } from '../../src/plugins/openapi-transform.js';
import { BATCH_ITEM_ERROR_STATUSES, batchBodySchema } from '../../src/routes/batch.js';
import { DROP_IN_PATH } from '../../src/routes/drop-in.js';
import { dropInQuerySchema, spreadParamsSchema, spreadQuerySchema } from '../../src/routes/schemas.js';
import { USAGE_PATH, usageQuerySchema } from '../../src/routes/usage.js';
import { FLOW_TYPES, PLATFORMS, QUERY_DEFAULTS, RANGES, VIDEO_TYPES } from '../../src/upstream/params.js';
import { CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';

type Json = Record<string, unknown>;
interface Param {
  in: string;
  name: string;
  required: boolean;
  description?: string;
  example?: unknown;
  schema: Json;
}
interface Response {
  description: string;
  headers?: Record<string, { schema: Json; description?: string }>;
  content?: Record<string, { schema: Json; example?: unknown }>;
}
interface Operation {
  operationId?: string;
  parameters?: Param[];
  requestBody?: { content: Record<string, { schema: Json; example?: unknown }> };
  responses: Record<string, Response>;
  security?: Array<Record<string, string[]>>;
}

/**
 * What the route validates with, as JSON Schema 2020-12 (the dialect of OpenAPI 3.1), with the
 * document's adjustments (a query `onlyAssign` documented as a boolean, no +-2^53 bounds).
 */
function jsonSchemaOf(schema: ZodType): { properties: Record<string, Json>; required?: string[] } & Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
    override: documentOverride,
  }) as Json;
  return rest as { properties: Record<string, Json>; required?: string[] } & Json;
}

/** swagger lifts a property's description and its one example to the parameter; put them back to compare. */
function expectParamsMatch(op: Operation, location: 'query' | 'path', schema: ZodType) {
  const expected = jsonSchemaOf(schema);
  const params = (op.parameters ?? []).filter((p) => p.in === location);
  expect(params.map((p) => p.name).sort()).toEqual(Object.keys(expected.properties).sort());
  for (const p of params) {
    const documented = {
      ...p.schema,
      ...(p.description === undefined ? {} : { description: p.description }),
      ...(p.example === undefined ? {} : { examples: [p.example] }),
    };
    expect(documented, `${location} parameter ${p.name}`).toEqual(expected.properties[p.name]);
    expect(p.required, `${p.name} required`).toBe((expected.required ?? []).includes(p.name));
  }
}

/** Every schema object below `node`, wherever it sits. */
function* walk(node: unknown): Generator<Json> {
  if (Array.isArray(node)) for (const n of node) yield* walk(n);
  else if (node && typeof node === 'object') {
    yield node as Json;
    for (const v of Object.values(node)) yield* walk(v);
  }
}

/** Every property of every object below `schema` carries a description (nullable objects: on the wrapper). */
function undescribed(schema: Json, path: string): string[] {
  const missing: string[] = [];
  for (const branch of (schema.anyOf as Json[] | undefined) ?? [schema]) {
    const props = branch.properties as Record<string, Json> | undefined;
    for (const [name, child] of Object.entries(props ?? {})) {
      if (typeof child.description !== 'string' || child.description.length < 10)
        missing.push(`${path}.${name}`);
      missing.push(...undescribed(child, `${path}.${name}`));
    }
  }
  return missing;
}

describe('OpenAPI document', () => {
  let gw: Gateway;
  let doc: {
    openapi: string;
    info: Json;
    paths: Record<string, Record<string, Operation>>;
    components: Json;
  };
  const op = (path: string, method: string) => {
    const found = doc.paths[path]?.[method];
    if (!found) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
    return found;
  };
  const SPREAD = '/v1/authors/{oAuthorId}/spread-info';
  const BATCH = '/v1/authors/spread-info/batch';

  beforeAll(async () => {
    // Keys configured: the document and the UI must still be readable without one.
    gw = await startGateway({ redis: 'none', env: { API_KEYS: `svc:${CALLER_KEY}` } });
    const res = await gw.get('/openapi.json');
    expect(res.status).toBe(200);
    doc = res.json as typeof doc;
  });
  afterAll(() => gw.close());

  it('is OpenAPI 3.1 with every public route and none of the operational ones', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({
      title: expect.any(String),
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    expect(Object.keys(doc.paths).sort()).toEqual(
      // The rest of the family's drop-in paths: openapi-family.test.ts.
      [
        BATCH,
        SPREAD,
        `${SPREAD}/cache`,
        '/v1/authors/{oAuthorId}/cache',
        USAGE_PATH,
        ...CATALOGUE.endpoints.map((e) => e.upstreamPath),
      ].sort(),
    );
    expect(Object.keys(doc.paths[SPREAD] ?? {})).toEqual(['get']);
    expect(Object.keys(doc.paths[BATCH] ?? {})).toEqual(['post']);
  });

  it('documents the query and path parameters the routes validate with', () => {
    expectParamsMatch(op(SPREAD, 'get'), 'query', spreadQuerySchema);
    expectParamsMatch(op(SPREAD, 'get'), 'path', spreadParamsSchema);
    expectParamsMatch(op(`${SPREAD}/cache`, 'delete'), 'path', spreadParamsSchema);
    expectParamsMatch(op(DROP_IN_PATH, 'get'), 'query', dropInQuerySchema);
    expectParamsMatch(op(USAGE_PATH, 'get'), 'query', usageQuerySchema);
  });

  it('documents the batch body the route validates with, and an example of it', () => {
    const media = op(BATCH, 'post').requestBody?.content['application/json'];
    const { examples, ...expected } = jsonSchemaOf(batchBodySchema);
    expect(media?.schema).toEqual(expected);
    expect(media?.example).toEqual((examples as unknown[])[0]);
  });

  it("states the upstream's allowed values and defaults (upstream doc, Parameters)", () => {
    const byName = Object.fromEntries((op(DROP_IN_PATH, 'get').parameters ?? []).map((p) => [p.name, p]));
    expect(byName['platform']?.schema).toMatchObject({
      enum: [...PLATFORMS],
      default: QUERY_DEFAULTS.platform,
    });
    expect(byName['range']?.schema).toMatchObject({ enum: [...RANGES], default: QUERY_DEFAULTS.range });
    expect(byName['type']?.schema).toMatchObject({ enum: [...VIDEO_TYPES], default: QUERY_DEFAULTS.type });
    expect(byName['flowType']?.schema).toMatchObject({
      enum: [...FLOW_TYPES],
      default: QUERY_DEFAULTS.flowType,
    });
    expect(byName['onlyAssign']?.schema).toEqual({ type: 'boolean', default: false });
    expect(byName['oAuthorId']?.required).toBe(true);
    expect(byName['oAuthorId']?.example).toBe('7012345678901234567');
    expect(byName['token']?.required).toBe(false);
    expect(byName['token']?.schema).toEqual({ type: 'string' });
    expect(byName['token']?.description).toMatch(/gateway\*\* API key/);
  });

  it('types onlyAssign as a boolean on every route, in requests and answers', () => {
    const found = [...walk(doc.paths)].flatMap((node) => {
      const props = node.properties as Record<string, Json> | undefined;
      const param = node.name === 'onlyAssign' && node.in ? [node.schema as Json] : [];
      return [...param, ...(props?.onlyAssign ? [props.onlyAssign] : [])];
    });
    // GET query, drop-in query, batch item, and the `query` echoed in answers (normalised and batch).
    expect(found.length).toBeGreaterThanOrEqual(5);
    for (const schema of found) expect(schema.type).toBe('boolean');
  });

  it('has an operationId per operation, a server, a license, and no +-2^53 placeholders', () => {
    const ids = Object.values(doc.paths).flatMap((methods) =>
      Object.values(methods).map((o) => o.operationId),
    );
    expect(ids.every((id) => typeof id === 'string' && /^[A-Za-z][A-Za-z0-9]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(op(DROP_IN_PATH, 'get').operationId).toBe('getApiDouyinXingtuGwApiDataSpGetAuthorSpreadInfoV1');
    expect((doc as unknown as { servers: unknown[] }).servers).toEqual([
      expect.objectContaining({ url: '/' }),
    ]);
    expect(doc.info['license']).toEqual({ name: expect.any(String) });
    const text = JSON.stringify(doc);
    expect(text).not.toContain(String(Number.MAX_SAFE_INTEGER));
    expect(text).not.toContain('Infinity');
  });

  it('describes every metric field, with the apparent unit where there is one', () => {
    const body = op(SPREAD, 'get').responses['200']?.content?.['application/json']?.schema as Json;
    const metrics = (body.properties as Record<string, Json>)['metrics'] as Json;
    expect(Object.keys(metrics.properties as Json)).toContain('expectedCpm');
    expect(undescribed(metrics, 'metrics')).toEqual([]);
    const text = JSON.stringify(metrics);
    for (const unit of ['basis points', 'fen', 'seconds']) expect(text).toContain(unit);
    expect(text).toContain('appear');
  });

  it("documents the error table, and each route's error statuses explicitly, with the codes as an enum", () => {
    const description = String(doc.info['description']);
    for (const code of ERROR_CODES.filter((c) => c !== 'NOT_FOUND' && c !== 'INTERNAL')) {
      expect(description).toContain(code);
    }
    // The drop-in mapping is in the introduction, one row per business code.
    for (const code of DROP_IN_ANSWER_CODES.filter((c) => c !== 0))
      expect(description).toContain(`| ${code} |`);
    const statuses = (path: string, method: string) => Object.keys(op(path, method).responses).sort();
    expect(statuses(SPREAD, 'get')).toEqual([
      '200',
      '304',
      '400',
      '401',
      '404',
      '429',
      '500',
      '502',
      '503',
      '504',
    ]);
    expect(statuses(BATCH, 'post')).toEqual(['200', '400', '401', '413', '415', '429', '500']);
    expect(statuses(`${SPREAD}/cache`, 'delete')).toEqual(['200', '400', '401', '403', '429', '500']);
    // Every outcome of the drop-in route is HTTP 200, as the upstream answers.
    expect(statuses(DROP_IN_PATH, 'get')).toEqual(['200', '304']);
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(methods)) {
        for (const [status, r] of Object.entries(o.responses)) {
          expect(status, `${method} ${path}`).toMatch(/^\d{3}$/);
          expect(r.description.length, `${method} ${path} ${status}`).toBeGreaterThan(10);
          if (Number(status) < 400) continue;
          const body = r.content?.['application/json']?.schema.properties as Record<string, Json>;
          const code = (body.error?.properties as Record<string, Json> | undefined)?.code;
          expect(code?.enum, `${method} ${path} ${status}`).toEqual([...ERROR_CODES]);
        }
      }
    }
  });

  it('declares the response headers, the 304 and if-none-match', () => {
    const headersOf = (path: string, method: string, status: string) =>
      Object.keys(op(path, method).responses[status]?.headers ?? {}).sort();
    const cache = ['age', 'cache-control', 'etag', 'vary', 'x-cache'];
    const limit = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'];
    for (const path of [SPREAD, DROP_IN_PATH]) {
      for (const status of ['200', '304'])
        expect(headersOf(path, 'get', status)).toEqual(
          expect.arrayContaining([...cache, ...limit, 'x-request-id']),
        );
      expect(op(path, 'get').responses['304']?.content).toBeUndefined();
      const headerParams = (op(path, 'get').parameters ?? [])
        .filter((p) => p.in === 'header')
        .map((p) => p.name);
      expect(headerParams.sort()).toEqual(['cache-control', 'if-none-match']);
    }
    expect(headersOf(DROP_IN_PATH, 'get', '200')).toContain('retry-after');
    expect(headersOf(SPREAD, 'get', '429')).toEqual(expect.arrayContaining(['retry-after', ...limit]));
    expect(headersOf(SPREAD, 'get', '503')).toContain('retry-after');
    // Answered before the limit counts: no limit headers on a 401.
    expect(headersOf(SPREAD, 'get', '401')).not.toContain('ratelimit-limit');
    for (const methods of Object.values(doc.paths))
      for (const o of Object.values(methods))
        for (const r of Object.values(o.responses))
          expect(Object.keys(r.headers ?? {})).toContain('x-request-id');
  });

  it('makes the batch result a union that narrows on status', () => {
    const body = op(BATCH, 'post').responses['200']?.content?.['application/json']?.schema as Json;
    const items = ((body.properties as Record<string, Json>).results as Json).items as Json;
    const branches = items.oneOf as Json[];
    expect(branches).toHaveLength(2);
    const status = (b: Json) => (b.properties as Record<string, Json>).status;
    expect(status(branches[0]!)).toMatchObject({ enum: [200] });
    expect(branches[0]!.required).toEqual(['status', 'body']);
    expect(status(branches[1]!)).toMatchObject({ enum: [...BATCH_ITEM_ERROR_STATUSES] });
    expect(branches[1]!.required).toEqual(['status', 'error']);
  });

  it("describes the drop-in answer: the upstream's envelope, and its data field by field", () => {
    const media = op(DROP_IN_PATH, 'get').responses['200']?.content?.['application/json'];
    const [success, failure] = (media?.schema.anyOf ?? []) as Json[];
    const props = (b: Json | undefined) => (b?.properties ?? {}) as Record<string, Json>;
    expect(props(success).code).toMatchObject({ enum: [0] });
    expect(props(failure).code?.enum).toEqual(DROP_IN_ANSWER_CODES.filter((c) => c !== 0));
    for (const b of [success, failure])
      expect(b?.required).toEqual(
        expect.arrayContaining(['code', 'message', 'requestId', 'recordTime', 'data']),
      );
    const data = props(success).data as Json;
    expect(Object.keys(data.properties as Json)).toEqual(
      expect.arrayContaining(['avg_duration', 'interact_rate', 'item_rate', 'expect_cpm', 'base_resp']),
    );
    expect(undescribed(data, 'data')).toEqual([]);
    expect(media?.example).toMatchObject({ code: 0, data: { play_mid: '3642403' } });
  });

  it('gives the normalised answer a real example, computed from the upstream doc example', () => {
    const media = op(SPREAD, 'get').responses['200']?.content?.['application/json'];
    expect(media?.example).toMatchObject({
      authorId: '7012345678901234567',
      metrics: { playMedian: 3642403, expectedCpm: { s1to20: 5618 }, itemRate: { interactRate: null } },
    });
  });

  it('declares both key schemes and applies them to every keyed route', () => {
    expect(doc.components['securitySchemes']).toEqual({
      apiKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'x-api-key' }),
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    });
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(methods)) {
        expect(o.security, `${method} ${path}`).toEqual([{ apiKey: [] }, { bearer: [] }]);
      }
    }
  });

  it('serves Swagger UI at /docs without a key', async () => {
    const res = await gw.get('/docs/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.body).toContain('swagger');
  });
});
