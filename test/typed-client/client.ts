// A client of the gateway written only from its OpenAPI document: types from openapi-typescript
// (generated/openapi.d.ts), calls through openapi-fetch. Each typed access below is a check: if the
// document stopped declaring it (a batch result that narrows on `status`, `error.code` as an enum,
// a boolean `onlyAssign`, the `if-none-match` header, the drop-in envelope), tsc fails on this file.
import createClient from 'openapi-fetch';
import type { ErrorCode } from '../../src/errors.js';
import type { operations, paths } from './generated/openapi.js';

const SPREAD = '/v1/authors/{oAuthorId}/spread-info';
const BATCH = '/v1/authors/spread-info/batch';
const DROP_IN = '/api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1';

type SpreadAnswer = operations['getSpreadInfo']['responses'][200]['content']['application/json'];
type DropInQuery = operations['getApiDouyinXingtuGwApiDataSpGetAuthorSpreadInfoV1']['parameters']['query'];

/** What the run saw: typed summaries for the test's assertions, and the raw bodies to validate. */
export interface Run {
  single: { playMedian: number | null; onlyAssign: boolean; cache: SpreadAnswer['meta']['cache'] };
  notModified: number;
  missing: { status: number; code: ErrorCode };
  batch: Array<{ status: 200; authorId: string } | { status: number; code: ErrorCode }>;
  dropIn: { code: 0; playMid: unknown; recordTime: string };
  dropInError: { code: number; gatewayCode: ErrorCode };
  bodies: Array<{ operationId: keyof operations; status: number; body: unknown }>;
}

export async function run(baseUrl: string, key: string): Promise<Run> {
  const gateway = createClient<paths>({ baseUrl, headers: { 'x-api-key': key } });
  const bodies: Run['bodies'] = [];

  const one = await gateway.GET(SPREAD, {
    params: { path: { oAuthorId: 'typed1' }, query: { onlyAssign: true, range: 'DAY_90' } },
  });
  if (!one.data) throw new Error(`spread-info answered ${one.response.status}`);
  bodies.push({ operationId: 'getSpreadInfo', status: one.response.status, body: one.data });
  const answer: SpreadAnswer = one.data;
  const single = {
    playMedian: answer.metrics.playMedian,
    onlyAssign: answer.query.onlyAssign,
    cache: answer.meta.cache,
  };

  const etag = one.response.headers.get('etag') ?? '';
  const again = await gateway.GET(SPREAD, {
    params: {
      path: { oAuthorId: 'typed1' },
      query: { onlyAssign: true, range: 'DAY_90' },
      header: { 'if-none-match': etag },
    },
  });

  const notFound = await gateway.GET(SPREAD, { params: { path: { oAuthorId: 'notfound1' } } });
  if (!notFound.error) throw new Error('expected an error');
  bodies.push({ operationId: 'getSpreadInfo', status: notFound.response.status, body: notFound.error });
  const missing = { status: notFound.response.status, code: notFound.error.error.code };

  const many = await gateway.POST(BATCH, {
    body: {
      items: [
        { oAuthorId: 'typed1', range: 'DAY_90', onlyAssign: true },
        { oAuthorId: 'notfound1' },
        { oAuthorId: 'code302typed' },
      ],
    },
  });
  if (!many.data) throw new Error(`batch answered ${many.response.status}`);
  bodies.push({ operationId: 'getSpreadInfoBatch', status: many.response.status, body: many.data });
  const batch = many.data.results.map((r) =>
    r.status === 200
      ? { status: r.status, authorId: r.body.authorId }
      : { status: r.status, code: r.error.code },
  );

  // The drop-in route, as JustOneAPI client code calls it: the key as `token`, no header.
  const upstreamStyle = createClient<paths>({ baseUrl });
  const query: DropInQuery = { oAuthorId: 'typed1', range: 'DAY_90', onlyAssign: true, token: key };
  const di = await upstreamStyle.GET(DROP_IN, { params: { query } });
  if (!di.data) throw new Error(`drop-in answered ${di.response.status}`);
  bodies.push({
    operationId: 'getApiDouyinXingtuGwApiDataSpGetAuthorSpreadInfoV1',
    status: di.response.status,
    body: di.data,
  });
  const envelope = di.data;
  if (envelope.code !== 0) throw new Error(`drop-in answered code ${envelope.code}`);
  const dropIn = { code: envelope.code, playMid: envelope.data.play_mid, recordTime: envelope.recordTime };

  const refused = await upstreamStyle.GET(DROP_IN, {
    params: { query: { oAuthorId: 'typed1', platform: 'SHORT_VIDEO', token: 'not-a-key' } },
  });
  if (!refused.data) throw new Error(`drop-in answered ${refused.response.status}`);
  bodies.push({
    operationId: 'getApiDouyinXingtuGwApiDataSpGetAuthorSpreadInfoV1',
    status: refused.response.status,
    body: refused.data,
  });
  if (refused.data.code === 0) throw new Error('an unknown key was let in');
  const dropInError = { code: refused.data.code, gatewayCode: refused.data.error.code };

  return { single, notModified: again.response.status, missing, batch, dropIn, dropInError, bodies };
}
