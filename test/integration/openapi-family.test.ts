// The OpenAPI document lists every catalogued path of the Xingtu family with its parameters, as the
// catalogue says them (written from it by src/plugins/openapi-family.ts), and nothing else under the
// family's prefix. The documented value forms must be the ones the gateway accepts: each pattern is
// checked against the catalogue's own check on sample values.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE, FAMILY_PREFIX } from '../../src/catalogue/index.js';
import { checkValue } from '../../src/catalogue/params.js';
import type { ParamSpec } from '../../src/catalogue/types.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';

type Json = Record<string, unknown>;
interface Param {
  in: string;
  name: string;
  required: boolean;
  description?: string;
  schema: Json;
}
interface Operation {
  operationId?: string;
  deprecated?: boolean;
  parameters?: Param[];
  responses: Record<string, { headers?: Json; content?: Record<string, { schema: Json }> }>;
  security?: unknown[];
}

let gw: Gateway;
let doc: { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json> } };
beforeAll(async () => {
  gw = await startGateway({ redis: 'none' });
  doc = (await gw.get('/openapi.json')).json as typeof doc;
});
afterAll(() => gw?.close());

const queryParams = (op: Operation) => (op.parameters ?? []).filter((p) => p.in === 'query');

/** Values a caller might send, good and bad, for each kind's documented form. */
const SAMPLES = [
  '',
  '0',
  '7',
  '999999',
  '1000000',
  '-1',
  '01',
  '1.5',
  '2024-11-30',
  '20241130',
  '2024/11/30',
  '1000-5000',
  '2024-02-29',
  '20240229',
  '2026-02-29',
  '1900-02-29',
  '2000-02-29',
  '2026-04-31',
  '2026-13-01',
  '0000-01-01',
  '2026-1001',
  '30:8-',
  '1000-',
  'abc',
  'AUTHOR_1-x',
  'a b',
  'x'.repeat(65),
  '美食',
  'true',
];

/** Whether the documented schema admits `v` as a query value (integers and booleans by their text). */
function admits(schema: Json, v: string): boolean {
  if (schema.type === 'boolean') return v === 'true' || v === 'false';
  if (schema.type === 'integer') {
    if (!/^-?\d+$/.test(v)) return false;
    const n = Number(v);
    // A leading zero is not how an integer is written; the catalogue refuses it too.
    return String(n) === v && n >= (schema.minimum as number) && n <= (schema.maximum as number);
  }
  if (Array.isArray(schema.enum)) return schema.enum.includes(v);
  if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(v)) return false;
  return typeof schema.maxLength !== 'number' || [...v].length <= schema.maxLength;
}

describe('the family in the OpenAPI document', () => {
  it('lists every catalogued path, with its operationId and deprecation, and no other family path', () => {
    const family = Object.keys(doc.paths).filter((p) => p.startsWith(FAMILY_PREFIX));
    expect(family.sort()).toEqual(CATALOGUE.endpoints.map((e) => e.upstreamPath).sort());
    expect(family).toHaveLength(53);
    for (const e of CATALOGUE.endpoints) {
      const op = doc.paths[e.upstreamPath]?.['get'];
      expect(op?.operationId, e.name).toBe(e.operationId);
      expect(op?.deprecated ?? false, e.name).toBe(e.deprecated);
      expect(op?.security, e.name).toEqual([{ apiKey: [] }, { bearer: [] }]);
    }
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("documents each endpoint's parameters: names, required, defaults, accepted values, token", () => {
    for (const e of CATALOGUE.endpoints) {
      if (e.name === 'get_author_spread_info') continue; // its zod schema documents it (openapi.test.ts)
      const params = queryParams(doc.paths[e.upstreamPath]?.['get'] as Operation);
      expect(params.map((p) => p.name).sort(), e.name).toEqual(
        [...e.params.map((p) => p.name), 'token'].sort(),
      );
      expect(params.find((p) => p.name === 'token')?.required).toBe(false);
      for (const spec of e.params) {
        const p = params.find((x) => x.name === spec.name) as Param;
        expect(p.required, `${e.name} ${spec.name}`).toBe(spec.required);
        expect(p.description, `${e.name} ${spec.name}`).toContain(spec.description);
        if (spec.default !== undefined && spec.default !== '') {
          const documented = p.schema.default;
          expect(String(documented), `${e.name} ${spec.name} default`).toBe(spec.default);
        }
        if (spec.kind === 'enum' && !spec.open)
          expect(p.schema.enum, `${e.name} ${spec.name}`).toEqual(
            expect.arrayContaining([...(spec.values ?? []), ...(spec.aliases ?? [])]),
          );
      }
    }
  });

  it('shows the SDK’s raw-code defaults as accepted (live statistics: liveType=1, period=30)', () => {
    const op = doc.paths['/api/douyin-xingtu/gw/api/aggregator/get_author_live_statistics/v1']?.['get'];
    const schema = (name: string) => queryParams(op as Operation).find((p) => p.name === name)?.schema;
    expect(schema('liveType')).toMatchObject({ default: '1', enum: expect.arrayContaining(['1', 'ALL']) });
    expect(schema('period')).toMatchObject({ default: '30', enum: expect.arrayContaining(['30', 'DAY_30']) });
  });

  it('admits exactly the values the catalogue accepts, for every parameter', () => {
    const disagreements: string[] = [];
    for (const e of CATALOGUE.endpoints) {
      if (e.name === 'get_author_spread_info') continue;
      const params = queryParams(doc.paths[e.upstreamPath]?.['get'] as Operation);
      for (const spec of e.params as ParamSpec[]) {
        const schema = params.find((p) => p.name === spec.name)?.schema as Json;
        const open = spec.kind === 'enum' && spec.open;
        for (const v of [...SAMPLES, ...(spec.values ?? []), ...(spec.aliases ?? [])]) {
          // An empty value is "absent" to a client; an open enum's documented values are examples.
          if (v === '' || open) continue;
          const accepted = checkValue(spec, v) === undefined;
          if (admits(schema, v) !== accepted)
            disagreements.push(`${e.name} ${spec.name}=${JSON.stringify(v)}: catalogue ${accepted}`);
        }
      }
    }
    expect(disagreements).toEqual([]);
  });

  it('answers with the upstream envelope, cache headers, x-ignored-params and the 304', () => {
    const op = doc.paths['/api/douyin-xingtu/gw/api/author/get_author_base_info/v1']?.['get'] as Operation;
    expect(Object.keys(op.responses).sort()).toEqual(['200', '304']);
    const ok = op.responses['200'];
    expect(Object.keys(ok?.headers ?? {})).toEqual(
      expect.arrayContaining(['x-cache', 'etag', 'age', 'ratelimit-limit', 'x-ignored-params']),
    );
    const ref = ok?.content?.['application/json']?.schema.$ref as string;
    const envelope = doc.components.schemas[ref.split('/').at(-1) as string] as { anyOf: Json[] };
    expect(envelope.anyOf).toHaveLength(2);
    expect(JSON.stringify(envelope)).toContain('"requestId"');
  });

  it("names x-ignored-params on every drop-in path, spread-info's included", () => {
    for (const e of CATALOGUE.endpoints) {
      const headers = doc.paths[e.upstreamPath]?.['get']?.responses['200']?.headers ?? {};
      expect(Object.keys(headers), e.name).toContain('x-ignored-params');
    }
  });
});
