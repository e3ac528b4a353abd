// `npm run demo`: the gateway on the in-memory store, wired to the built-in simulated upstream.
// No token, no network, no Redis: a newcomer can curl it at once.
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { FixedLengthDays } from './governance/quota-day.js';
import { drainOnClose } from './http/drain.js';
import { startSimUpstream } from './sim/upstream-server.js';

/**
 * The demo's upstream day. A `code303…` author answers "today's quota is spent", which stops every
 * upstream call until the day ends; with real days that is the upstream's midnight, up to 24 h.
 */
const DEMO_DAY_MS = 60_000;

const sim = await startSimUpstream({ delayMs: 150 });
const config = loadConfig({
  ...process.env,
  NODE_ENV: 'development',
  REDIS_URL: undefined,
  REDIS_CLUSTER_NODES: undefined,
  API_KEYS: undefined,
  ADMIN_API_KEYS: undefined,
  JUSTONEAPI_TOKEN: 'demo-token-not-secret',
  JUSTONEAPI_BASE_URL: sim.url,
  HOST: process.env.HOST ?? '127.0.0.1',
});
const app = await buildApp(config, { governor: { day: new FixedLengthDays(DEMO_DAY_MS) } });
const drain = drainOnClose(app.server);
closeWithGrace({ delay: 5000 }, async () => {
  drain();
  await app.close();
  await sim.close();
});
await app.listen({ port: config.PORT, host: config.HOST });
const base = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
process.stdout.write(
  [
    '',
    `Gateway demo on ${base} (simulated upstream at ${sim.url}, in-memory cache).`,
    'Try:',
    `  curl -s ${base}/v1/authors/7012345678901234567/spread-info`,
    `  curl -s '${base}/v1/authors/7012345678901234567/spread-info?platform=LIVE_STREAMING&range=DAY_90'`,
    `  curl -s ${base}/v1/authors/notfound1/spread-info      # upstream "no content": 404`,
    `  curl -s ${base}/v1/authors/code302x/spread-info       # upstream rate limit: 503, a pause of seconds`,
    `  curl -s ${base}/v1/authors/code303x/spread-info       # upstream quota spent: 503 until the demo's day ends (${DEMO_DAY_MS / 1000} s days)`,
    `  curl -s '${base}/api/douyin-xingtu/gw/api/data_sp/get_author_spread_info/v1?oAuthorId=7012345678901234567'  # drop-in: the upstream's envelope`,
    `  curl -s '${base}/api/douyin-xingtu/gw/api/author/get_author_base_info/v1?oAuthorId=7012345678901234567'  # any of the family's 53 paths`,
    `  curl -si '${base}/api/douyin-xingtu/gw/api/gsearch/search_for_author_square/v1?keyword=%E7%BE%8E%E9%A3%9F&acceptCache=true'  # x-ignored-params: acceptCache`,
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);
