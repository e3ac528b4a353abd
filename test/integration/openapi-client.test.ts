// A typed client generated from the live OpenAPI document works against the real gateway: types
// from openapi-typescript, test/typed-client/client.ts type-checked against them with tsc, then run
// over loopback (simulated upstream, real Redis, keys required). Every body it receives is then
// checked field by field against the document's schema for its status (Ajv, JSON Schema 2020-12):
// no undocumented field, no missing required one.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, CALLER_KEY, type Gateway, startGateway } from '../helpers/gateway.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const clientDir = join(root, 'test/typed-client');
const run = promisify(execFile);

type Json = Record<string, unknown>;
/** test/typed-client/client.ts as this file sees it: that file needs the generated types, which the
 *  project's own type-check cannot have, so it is loaded by path and type-checked by the test. */
interface TypedClient {
  run(
    baseUrl: string,
    key: string,
  ): Promise<{
    single: unknown;
    notModified: number;
    missing: unknown;
    batch: unknown[];
    dropIn: unknown;
    dropInError: unknown;
    bodies: Array<{ operationId: string; status: number; body: unknown }>;
  }>;
}
interface Doc {
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, Json> }>>;
}

let gw: Gateway;
let doc: Doc;

beforeAll(async () => {
  gw = await startGateway({
    env: { NODE_ENV: 'production', API_KEYS: `svc:${CALLER_KEY}`, ADMIN_API_KEYS: `ops:${ADMIN_KEY}` },
  });
  doc = (await gw.get('/openapi.json')).json as Doc;
  const types = astToString(await openapiTS(doc as never));
  await mkdir(join(clientDir, 'generated'), { recursive: true });
  await writeFile(join(clientDir, 'generated/openapi.d.ts'), types);
});
afterAll(() => gw?.close());

describe('a client generated from the OpenAPI document', () => {
  it('type-checks against the generated types', async () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const out = await run(process.execPath, [tsc, '-p', join(clientDir, 'tsconfig.json')], {
      cwd: root,
      timeout: 120_000,
    }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout, stderr: err.stderr }));
    expect(`${out.stdout ?? ''}${out.stderr ?? ''}`.trim()).toBe('');
  }, 150_000);

  it('calls the normalised, batch and drop-in routes of a real gateway and narrows what it gets', async () => {
    const client = (await import(join(clientDir, 'client.ts'))) as TypedClient;
    const r = await client.run(gw.url, CALLER_KEY);
    expect(r.single).toEqual({ playMedian: expect.any(Number), onlyAssign: true, cache: 'MISS' });
    expect(r.notModified).toBe(304);
    expect(r.missing).toEqual({ status: 404, code: 'AUTHOR_NOT_FOUND' });
    expect(r.batch).toEqual([
      { status: 200, authorId: 'typed1' },
      { status: 404, code: 'AUTHOR_NOT_FOUND' },
      { status: 503, code: 'UPSTREAM_UNAVAILABLE' },
    ]);
    expect(r.dropIn).toEqual({ code: 0, playMid: expect.any(String), recordTime: expect.any(String) });
    expect(r.dropInError).toEqual({ code: 100, gatewayCode: 'UNAUTHORIZED' });

    // Field by field: each real body against the document's schema for its operation and status.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const schemaFor = (operationId: string, status: number) => {
      for (const methods of Object.values(doc.paths))
        for (const o of Object.values(methods))
          if (o.operationId === operationId) {
            const content = o.responses[String(status)]?.content as Record<string, { schema: Json }>;
            return content['application/json']?.schema;
          }
      throw new Error(`${operationId} ${status} is not documented`);
    };
    expect(r.bodies.length).toBe(5);
    for (const { operationId, status, body } of r.bodies) {
      const validate = ajv.compile(schemaFor(operationId, status) ?? {});
      expect(validate(body), `${operationId} ${status}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});
