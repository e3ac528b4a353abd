// The OpenAPI document is generated from the zod schemas the routes validate with: each documented
// parameter and body must be what those schemas accept, and every metric field must be explained.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ZodType, z } from 'zod';
import { batchBodySchema } from '../../src/routes/batch.js';
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
  schema: Json;
}
interface Operation {
  parameters?: Param[];
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<string, { content?: Record<string, { schema: Json }> }>;
  security?: Array<Record<string, string[]>>;
}

/** What the route validates with, as JSON Schema 2020-12 (the dialect of OpenAPI 3.1). */
function jsonSchemaOf(schema: ZodType): { properties: Record<string, Json>; required?: string[] } & Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Json;
  return rest as { properties: Record<string, Json>; required?: string[] } & Json;
}

/** swagger lifts a property's description to the parameter; put it back to compare. */
function expectParamsMatch(op: Operation, location: 'query' | 'path', schema: ZodType) {
  const expected = jsonSchemaOf(schema);
  const params = (op.parameters ?? []).filter((p) => p.in === location);
  expect(params.map((p) => p.name).sort()).toEqual(Object.keys(expected.properties).sort());
  for (const p of params) {
    const documented = p.description === undefined ? p.schema : { ...p.schema, description: p.description };
    expect(documented, `${location} parameter ${p.name}`).toEqual(expected.properties[p.name]);
    expect(p.required, `${p.name} required`).toBe((expected.required ?? []).includes(p.name));
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
      [DROP_IN_PATH, BATCH, SPREAD, `${SPREAD}/cache`, USAGE_PATH].sort(),
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

  it('documents the batch body the route validates with', () => {
    const body = op(BATCH, 'post').requestBody?.content['application/json']?.schema;
    expect(body).toEqual(jsonSchemaOf(batchBodySchema));
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
    expect(byName['onlyAssign']?.schema).toMatchObject({ enum: ['true', 'false'], default: 'false' });
    expect(byName['oAuthorId']?.required).toBe(true);
    expect(byName['token']?.required).toBe(false);
    expect(byName['token']?.description).toMatch(/ignored/i);
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

  it('documents the error table and error body on every route', () => {
    const description = String(doc.info['description']);
    for (const code of [
      'INVALID_REQUEST',
      'UNAUTHORIZED',
      'RATE_LIMITED',
      'AUTHOR_NOT_FOUND',
      'UPSTREAM_ERROR',
    ]) {
      expect(description).toContain(code);
    }
    for (const code of [
      'UPSTREAM_UNAVAILABLE',
      'UPSTREAM_CREDENTIALS',
      'UPSTREAM_TIMEOUT',
      'PAYLOAD_TOO_LARGE',
    ]) {
      expect(description).toContain(code);
    }
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, o] of Object.entries(methods)) {
        expect(Object.keys(o.responses), `${method} ${path}`).toEqual(
          expect.arrayContaining(['200', '4XX', '5XX']),
        );
      }
    }
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
