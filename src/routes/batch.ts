// POST /v1/authors/spread-info/batch.
// STUB until issue "Operations and integration surface" lands.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

const batchRoute: FastifyPluginAsyncZod = async () => {};

export default batchRoute;
