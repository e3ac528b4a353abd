// GET /api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1: the drop-in route. Existing
// JustOneAPI client code changes only its base URL: same path, same query, the upstream's own body.
// It shares cache entries with the normalised route (same tuple, same key).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { GatewayError } from '../errors.js';
import { applyCacheHeaders, sendJson, upstreamEnvelopeJson } from '../http/present.js';
import { callerRefOf } from '../plugins/access.js';
import type { SpreadParams } from '../upstream/params.js';
import { upstreamEnvelopeSchema } from './drop-in-schema.js';
import { dropInQuerySchema, errorResponseSchema } from './schemas.js';
import { wantsForcedRefresh } from './spread-info.js';

export const DROP_IN_PATH = '/api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1';

/** Its own etag space: the bytes differ from the normalised route's for the same entry. */
const ETAG_SUFFIX = '-u';

/**
 * The upstream answers "no content" as HTTP 200 with code 201, and client code written against it
 * branches on `code`; a 404 with the gateway's error body would break exactly those clients.
 */
const NO_CONTENT_JSON = '{"code":201,"message":"No Content","requestId":null,"data":null}';

const dropInRoute: FastifyPluginAsyncZod = async (app) => {
  app.get(
    DROP_IN_PATH,
    {
      config: { auth: 'caller' },
      schema: {
        summary: "Distribution metrics in the upstream's own shape (drop-in)",
        description:
          'Same path and query as JustOneAPI, so client code changes only its base URL. A `token` parameter is ' +
          'accepted and ignored: the gateway holds the upstream token. Code 0 and code 201 ("no content") are ' +
          'answered with HTTP 200 as the upstream does; every other failure uses the gateway error body.',
        tags: ['drop-in'],
        querystring: dropInQuerySchema,
        response: {
          200: upstreamEnvelopeSchema,
          '4xx': errorResponseSchema,
          '5xx': errorResponseSchema,
        },
      },
    },
    async (request, reply) => {
      // Built field by field: the caller's token must never reach the cache key or the upstream.
      const { oAuthorId, platform, range, type, onlyAssign, flowType } = request.query;
      const params: SpreadParams = { oAuthorId, platform, range, type, onlyAssign, flowType };
      const force = wantsForcedRefresh(request.headers['cache-control'], request.caller?.admin);
      try {
        const answer = await app.spread.get(params, {
          force,
          log: request.log,
          route: 'drop-in',
          caller: callerRefOf(request),
        });
        if (applyCacheHeaders(request, reply, answer, app.spread.windows, ETAG_SUFFIX))
          return sendJson(reply, 304);
        return sendJson(reply, 200, upstreamEnvelopeJson(answer.entry));
      } catch (err) {
        if (err instanceof GatewayError && err.code === 'AUTHOR_NOT_FOUND')
          return sendJson(reply, 200, NO_CONTENT_JSON);
        throw err;
      }
    },
  );
};

export default dropInRoute;
