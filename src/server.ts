// Production entry: config from the environment (over `.env`), listen, shut down gracefully on
// SIGTERM/SIGINT.
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, environment, loadConfig } from './config.js';
import { drainOnClose } from './http/drain.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  const { env, file } = environment();
  try {
    config = loadConfig(env, { requireToken: true });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const app = await buildApp(config);
  const drain = drainOnClose(app.server);
  // On a signal: stop accepting (new connections are refused, requests on kept-alive ones get 503),
  // let in-flight requests finish and close their connections, then the onClose hooks close Redis
  // and the upstream pool.
  // Past SHUTDOWN_GRACE_MS the process exits 1 anyway: an orchestrator's own kill deadline must be
  // longer than that, or it kills us mid-answer instead.
  closeWithGrace(
    {
      delay: config.SHUTDOWN_GRACE_MS,
      logger: {
        error: (msg: unknown) => app.log.error(msg instanceof Error ? { err: msg } : { msg: String(msg) }),
      },
      onTimeout: (ms) =>
        app.log.error({ graceMs: ms }, 'in-flight requests outlived the shutdown grace; exiting'),
    },
    async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'shutting down after an error');
      else app.log.info({ signal }, 'shutting down: refusing new connections, finishing in-flight requests');
      const started = Date.now();
      drain();
      await app.close();
      app.log.info({ ms: Date.now() - started }, 'shut down cleanly');
    },
  );
  if (file)
    app.log.info({ envFile: file }, 'configuration: the environment, then .env for what it does not set');
  try {
    await app.listen({ port: config.PORT, host: config.HOST });
  } catch (err) {
    // A log line like every other (a port in use is the usual one), then out: nothing listens.
    app.log.fatal(
      { err, host: config.HOST, port: config.PORT },
      `cannot listen on ${config.HOST}:${config.PORT}`,
    );
    await app.close();
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
