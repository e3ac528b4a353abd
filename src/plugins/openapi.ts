// OpenAPI 3.1 at /openapi.json and Swagger UI at /docs, generated from the same zod schemas that
// validate the routes. Registered before the routes: @fastify/swagger only sees routes added after it.
import { createRequire } from 'node:module';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Either header works; OpenAPI lists alternatives as separate requirement objects. */
export const CALLER_SECURITY: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }];

export const ERROR_TABLE = `
| situation | status | \`error.code\` |
| --- | --- | --- |
| bad path/query/body | 400 | \`INVALID_REQUEST\` |
| no or unknown key (when keys are configured) | 401 | \`UNAUTHORIZED\` |
| admin route with a non-admin key | 403 | \`FORBIDDEN\` |
| request body over the route's limit | 413 | \`PAYLOAD_TOO_LARGE\` |
| caller over its limit | 429 + \`retry-after\` | \`RATE_LIMITED\` |
| upstream 201 "no content" | 404 | \`AUTHOR_NOT_FOUND\` |
| upstream 301 after retries, 500, non-200 HTTP, malformed body, unknown code | 502 | \`UPSTREAM_ERROR\` |
| upstream 302, 303, local upstream budget or daily quota spent, circuit open | 503 + \`retry-after\` | \`UPSTREAM_UNAVAILABLE\` |
| upstream 100, 600, 601, 602 (the gateway's own token or balance) | 503 | \`UPSTREAM_CREDENTIALS\` |
| no upstream answer within \`UPSTREAM_TIMEOUT_MS\` | 504 | \`UPSTREAM_TIMEOUT\` |
`.trim();

const DESCRIPTION = `
A caching gateway in front of JustOneAPI's Douyin Creator Marketplace (Xingtu) distribution
metrics (V1). The gateway holds the upstream token: callers never send it.

**Authentication.** Send your API key as \`x-api-key: KEY\` or \`authorization: Bearer KEY\`.
A deployment with no keys configured (development only) lets anyone call.

**Caching.** Answers are served from cache while fresh (\`x-cache: HIT\`), and from a stale entry
when the upstream cannot answer (\`x-cache: STALE\`, \`meta.stale: true\`). Responses carry \`etag\`;
a matching \`if-none-match\` gets 304.

**Units.** The upstream documents no units; the field descriptions say what each number *appears*
to be (basis points, fen, seconds), inferred from its examples.

**Errors.** Every error body is
\`{"error":{"code","message","requestId","upstreamCode"?,"retryAfterSeconds"?}}\`:

${ERROR_TABLE}

Whenever a cached answer for the same key is still within its stale window, every 502/503/504 case
above answers that entry instead (200, \`x-cache: STALE\`).
`.trim();

type TransformInput = Parameters<typeof jsonSchemaTransform>[0] & { route?: { config?: { auth?: string } } };

/** The zod transform, plus the security requirement on every route that checks caller keys. */
export function documentRoute(input: TransformInput): ReturnType<typeof jsonSchemaTransform> {
  const out = jsonSchemaTransform(input);
  if (out.schema && !out.schema.hide && input.route?.config?.auth) {
    return { ...out, schema: { ...out.schema, security: CALLER_SECURITY } };
  }
  return out;
}

async function openapiPlugin(app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Xingtu metrics gateway', version, description: DESCRIPTION },
      tags: [
        { name: 'metrics', description: 'Creator distribution metrics, normalised' },
        {
          name: 'drop-in',
          description: "The upstream's own route and body shape, for existing JustOneAPI clients",
        },
        { name: 'cache', description: 'Cache management (admin keys only)' },
        { name: 'usage', description: 'Upstream usage per caller (admin keys only)' },
      ],
      components: {
        securitySchemes: {
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'x-api-key',
            description: 'A key from API_KEYS or ADMIN_API_KEYS.',
          },
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'The same key as `authorization: Bearer KEY`.',
          },
        },
      },
    },
    transform: documentRoute,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () =>
    app.swagger(),
  );
}

export default fp(openapiPlugin, { name: 'openapi' });
