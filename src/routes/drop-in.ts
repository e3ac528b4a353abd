// GET /api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1: the drop-in route. Existing
// JustOneAPI client code changes only its base URL: same path, same query (its `token` is now the
// caller's gateway key), the upstream's own body for every outcome (errors: http/drop-in-codes.ts).
// It shares cache entries with the normalised route (same tuple, same key).

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Answer } from '../cache/cache-service.js';
import { spreadInfoCall } from '../catalogue/call.js';
import { SPREAD_INFO } from '../catalogue/index.js';
import { wantsForcedRefresh } from '../http/forced-refresh.js';
import { applyCacheHeaders, dropInAnswer, sendJson } from '../http/present.js';
import { callerRefOf } from '../plugins/access.js';
import { UPSTREAM_PATH } from '../upstream/params.js';
import { upstreamEnvelopeSchema } from './drop-in-schema.js';
import { takeUnknownParams } from './family.js';
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
      const call = spreadInfoCall({ oAuthorId, platform, range, type, onlyAssign, flowType });
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
      // Failures (201 "no content" included) go to the error handler, which answers the envelope.
      const arrivedAt = Date.now() - reply.elapsedTime;
      return app.spread
        .get(call, { force, log: request.log, route: 'drop-in', caller, arrivedAt })
        .then(respond);
    },
  );
};

export default dropInRoute;
