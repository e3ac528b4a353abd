// DELETE /v1/authors/:oAuthorId/spread-info/cache: admin keys only; forgets every variant.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponseSchema, spreadParamsSchema } from './schemas.js';

const purgeRoute: FastifyPluginAsyncZod = async (app) => {
  app.delete(
    '/v1/authors/:oAuthorId/spread-info/cache',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Forget every cached variant of an author (admin)',
        description:
          "Deletes all 64 parameter variants of the author from Redis and from every instance's in-process copy. The next request calls the upstream.",
        tags: ['cache'],
        params: spreadParamsSchema,
        response: {
          200: z.object({ deleted: z.number().int().describe('How many cached variants existed.') }),
          '4xx': errorResponseSchema,
          '5xx': errorResponseSchema,
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
};

export default purgeRoute;
