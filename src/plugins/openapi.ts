// OpenAPI 3.1 at /openapi.json and Swagger UI at /docs, generated from the route schemas.
// STUB until issue "Operations and integration surface" lands.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

async function openapiPlugin(_app: FastifyInstance) {}

export default fp(openapiPlugin, { name: 'openapi' });
