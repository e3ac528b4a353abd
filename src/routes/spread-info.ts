// GET /v1/authors/:oAuthorId/spread-info: the normalised route.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { wantsForcedRefresh } from '../http/forced-refresh.js';
import { applyCacheHeaders, sendJson, spreadInfoJson } from '../http/present.js';
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
      config: { auth: 'caller', cacheable: true, forceRefresh: true },
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
    async (request, reply) => {
      const params: SpreadParams = { oAuthorId: request.params.oAuthorId, ...request.query };
      const force = wantsForcedRefresh(request);
      const answer = await app.spread.get(params, { force, log: request.log, caller: callerRefOf(request) });
      if (applyCacheHeaders(request, reply, answer, app.spread.windows)) return sendJson(reply, 304);
      return sendJson(reply, 200, spreadInfoJson(params, answer));
    },
  );
};

export default spreadInfoRoute;
