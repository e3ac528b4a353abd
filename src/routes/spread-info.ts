// GET /v1/authors/:oAuthorId/spread-info: the normalised route.

import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Answer } from '../cache/cache-service.js';
import { spreadInfoCall } from '../catalogue/call.js';
import { SPREAD_INFO } from '../catalogue/index.js';
import { wantsForcedRefresh } from '../http/forced-refresh.js';
import { applyCacheHeaders, sendJson, spreadInfoAnswer } from '../http/present.js';
import { callerRefOf } from '../plugins/access.js';
import type { SpreadParams } from '../upstream/params.js';
import {
  errorResponses,
  spreadInfoResponseSchema,
  spreadParamsSchema,
  spreadQuerySchema,
} from './schemas.js';

const spreadInfoRoute: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/authors/:oAuthorId/spread-info',
    {
      config: { endpoint: SPREAD_INFO, auth: 'caller', cacheable: true, forceRefresh: true },
      schema: {
        operationId: 'getSpreadInfo',
        summary: 'Distribution metrics of one creator, normalised',
        description:
          'Exposure and spread metrics for one Xingtu creator, as numbers. Served from cache when fresh; from a stale entry when the upstream cannot answer.',
        tags: ['metrics'],
        params: spreadParamsSchema,
        querystring: spreadQuerySchema,
        response: {
          200: spreadInfoResponseSchema,
          ...errorResponses([400, 401, 404, 429, 500, 502, 503, 504]),
        },
      },
    },
    // Not async: a fresh hit in process is answered before this returns (no promise, no await).
    (request, reply) => {
      const params: SpreadParams = { oAuthorId: request.params.oAuthorId, ...request.query };
      const call = spreadInfoCall(params);
      const force = wantsForcedRefresh(request);
      const caller = callerRefOf(request);
      const respond = (answer: Answer): void => {
        const r = spreadInfoAnswer(params, answer, app.spread.windowsFor(call));
        if (applyCacheHeaders(request, reply, answer, r)) sendJson(reply, 304);
        else sendJson(reply, 200, r.body);
      };
      const hit = force ? undefined : app.spread.peek(call, caller);
      if (hit) {
        respond(hit);
        return;
      }
      const arrivedAt = Date.now() - reply.elapsedTime;
      return app.spread.get(call, { force, log: request.log, caller, arrivedAt }).then(respond);
    },
  );
};

export default spreadInfoRoute;
