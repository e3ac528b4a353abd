// Per-caller rate limits (@fastify/rate-limit, Redis store shared by all instances) and CORS.
// STUB until issue "Upstream governance and caller access" lands.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';

export interface AccessOptions {
  config: Config;
  keyPrefix: string;
}

async function accessPlugin(_app: FastifyInstance, _opts: AccessOptions) {}

export default fp(accessPlugin, { name: 'access', dependencies: ['auth'] });
