// DELETE /v1/authors/:oAuthorId/spread-info/cache: admin keys only; forgets every variant.
// DELETE /v1/authors/:oAuthorId/cache: admin keys only; forgets the author on every endpoint.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses, spreadParamsSchema } from './schemas.js';

const purgeRoute: FastifyPluginAsyncZod = async (app) => {
  app.delete(
    '/v1/authors/:oAuthorId/spread-info/cache',
    {
      config: { auth: 'admin' },
      schema: {
        operationId: 'purgeSpreadInfoCache',
        summary: 'Forget every cached variant of an author (admin)',
        description:
          "Deletes all 64 parameter variants of the author from Redis and from every instance's in-process copy. The next request calls the upstream.",
        tags: ['cache'],
        params: spreadParamsSchema,
        response: {
          200: z
            .object({ deleted: z.number().int().min(0).describe('How many cached variants existed.') })
            .describe('The variants are forgotten on every instance.'),
          ...errorResponses([400, 401, 403, 429, 500]),
        },
      },
    },
    async (request) => {
      const deleted = await app.spread.purge(request.params.oAuthorId);
      request.log.info(
        { authorId: request.params.oAuthorId, deleted, caller: request.caller?.name },
        'cache purged',
      );
      return { deleted };
    },
  );
  app.delete(
    '/v1/authors/:oAuthorId/cache',
    {
      config: { auth: 'admin' },
      schema: {
        operationId: 'purgeAuthorCache',
        summary: 'Forget an author on every endpoint of the family (admin)',
        description:
          "Deletes every cached answer about the author (oAuthorId, kolId or starAuthorId) on every catalogued endpoint, from Redis and from every instance's in-process copy. The next request for any of them calls the upstream.",
        tags: ['cache'],
        params: spreadParamsSchema,
        response: {
          200: z
            .object({ deleted: z.number().int().min(0).describe('How many cached answers existed.') })
            .describe('The author is forgotten on every endpoint and every instance.'),
          ...errorResponses([400, 401, 403, 429, 500]),
        },
      },
    },
    async (request) => {
      const deleted = await app.spread.purgeAuthor(request.params.oAuthorId);
      request.log.info(
        { authorId: request.params.oAuthorId, deleted, caller: request.caller?.name },
        'author purged on every endpoint',
      );
      return { deleted };
    },
  );
};

export default purgeRoute;
