// GET /api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1: the drop-in route. Existing
// JustOneAPI client code changes only its base URL: same path, same query (its `token` is now the
// caller's gateway key), the upstream's own body for every outcome (errors: http/drop-in-codes.ts).
// It shares cache entries with the normalised route (same tuple, same key).

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { spreadInfoCall } from '../catalogue/call.js';
import { SPREAD_INFO } from '../catalogue/index.js';
import { UPSTREAM_PATH } from '../upstream/params.js';
import { upstreamEnvelopeSchema } from './drop-in-schema.js';
import { serveDropIn, takeUnknownParams } from './family.js';
import { dropInQuerySchema } from './schemas.js';

/** The upstream's own path, so existing client code changes only its base URL. */
export const DROP_IN_PATH = UPSTREAM_PATH;

const dropInRoute: FastifyPluginAsyncZod = async (app) => {
  app.get(
    DROP_IN_PATH,
    {
      config: {
        endpoint: SPREAD_INFO,
        auth: 'caller',
        keyQueryParam: 'token',
        errorEnvelope: 'upstream',
        cacheable: true,
        forceRefresh: true,
      },
      // An unknown parameter (older SDKs sent acceptCache) is accepted, never forwarded or keyed.
      preValidation: (request, reply, done) => {
        const ignored = takeUnknownParams(request.query);
        if (ignored !== undefined) reply.header('x-ignored-params', ignored);
        done();
      },
      schema: {
        // The upstream's own operationId, so code generated from its document keeps its names.
        operationId: 'getApiDouyinXingtuGwApiDataSpGetAuthorSpreadInfoV1',
        summary: "Distribution metrics in the upstream's own shape (drop-in)",
        description:
          'Same path and query as JustOneAPI, so client code changes only its base URL. Its `token` parameter ' +
          "carries the caller's **gateway** API key (a key header, when sent, wins); it is never forwarded. " +
          "Every outcome is HTTP 200 with a business `code` from the upstream's table, as the upstream answers: " +
          'see "Drop-in business codes" in the introduction.',
        tags: ['drop-in'],
        querystring: dropInQuerySchema,
        response: { 200: upstreamEnvelopeSchema },
      },
    },
    // Not async: a fresh hit in process is answered before this returns (no promise, no await).
    (request, reply) => {
      // Built field by field: the caller's token must never reach the cache key or the upstream.
      const { oAuthorId, platform, range, type, onlyAssign, flowType } = request.query;
      return serveDropIn(
        app,
        request,
        reply,
        spreadInfoCall({ oAuthorId, platform, range, type, onlyAssign, flowType }),
      );
    },
  );
};

export default dropInRoute;
