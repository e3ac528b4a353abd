// OpenAPI 3.1 at /openapi.json and Swagger UI at /docs, generated from the same zod schemas that
// validate the routes (openapi-transform.ts adds headers, security and the 304). Registered before
// the routes: @fastify/swagger only sees routes added after it. CI lints the document with
// @redocly/cli and generates a typed client from it (test/integration/openapi-*.test.ts).
import { createRequire } from 'node:module';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ERROR_CODES, ERRORS } from '../errors.js';
import { DROP_IN_CODES } from '../http/drop-in-codes.js';
import { withFamily } from './openapi-family.js';
import { documentRoute } from './openapi-transform.js';

const { version, license } = createRequire(import.meta.url)('../../package.json') as {
  version: string;
  license?: string;
};

/** The error table, from the one in errors.ts. */
const ERROR_TABLE = [
  '| situation | status | `error.code` |',
  '| --- | --- | --- |',
  ...ERROR_CODES.map((c) => {
    const { status, when } = ERRORS[c];
    const retry = 'retryAfter' in ERRORS[c] ? ' + `retry-after`' : '';
    return `| ${when} | ${status}${retry} | \`${c}\` |`;
  }),
].join('\n');

const DROP_IN_TABLE = [
  '| situation | `code` |',
  '| --- | --- |',
  ...DROP_IN_CODES.map((r) => `| ${r.situation} | ${r.code} |`),
].join('\n');

const DESCRIPTION = `
A caching gateway in front of JustOneAPI's Douyin Creator Marketplace (Xingtu) distribution
metrics (V1). The gateway holds the upstream token: callers never send it.

**Authentication.** Send your API key as \`x-api-key: KEY\` or \`authorization: Bearer KEY\`
(on the drop-in route also as the \`token\` query parameter, where JustOneAPI clients put it), or,
from a browser app, the user's token from the company's identity provider as
\`authorization: Bearer <JWT>\` (when the deployment sets \`JWT_JWKS_URL\`). A deployment with
\`ALLOW_ANONYMOUS=true\` also lets requests without any credential in, limited per client address.

**Caching.** Answers are served from cache while fresh (\`x-cache: HIT\`), and from a stale entry
when the upstream cannot answer (\`x-cache: STALE\`, \`meta.stale: true\`). Responses carry \`etag\`;
a matching \`if-none-match\` gets 304.

**Units.** The upstream documents no units; the field descriptions say what each number *appears*
to be (basis points, fen, seconds), inferred from its examples.

**Errors.** Every error body is
\`{"error":{"code","message","requestId","upstreamCode"?,"retryAfterSeconds"?}}\`:

${ERROR_TABLE}

Whenever a cached answer for the same key is still within its stale window, every 502/503/504 case
above, and a 429 for the caller's spent daily share, answers that entry instead (200,
\`x-cache: STALE\`).

**Drop-in business codes.** The drop-in route answers every outcome as the upstream does: HTTP 200
and a business \`code\` from the upstream's table, with \`message\`, \`data: null\`, \`requestId\`,
\`recordTime\`, the gateway's \`error\` object and \`retry-after\` where one applies. A stale answer
replaces an error there too (code 0).

${DROP_IN_TABLE}
`.trim();

async function openapiPlugin(app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Xingtu metrics gateway',
        version,
        description: DESCRIPTION,
        // package.json's `license`; UNLICENSED (npm's word for "no licence granted") until one is chosen.
        license: { name: license ?? 'UNLICENSED' },
      },
      // Relative: the gateway that serves this document is the one to call, wherever it is deployed.
      servers: [{ url: '/', description: 'The gateway serving this document' }],
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
            description:
              'The same key as `authorization: Bearer KEY`, or a user JWT from the identity provider.',
          },
        },
      },
    },
    transform: documentRoute,
    // The family's paths come from the catalogue (openapi-family.ts), not from route schemas.
    transformObject: (d) => ('openapiObject' in d ? withFamily(d.openapiObject) : d.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export default fp(openapiPlugin, { name: 'openapi' });
