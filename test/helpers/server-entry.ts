// How tests and the bench start the production entry as `npm start` would, but in an empty working
// directory: src/server.ts reads `.env` from its working directory, and a developer's own `.env` in
// the repository (the README's newcomer path) must not configure a test's or the bench's server.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `node` arguments that run src/server.ts from any working directory. */
export const SERVER_FROM_SOURCE = [
  '--import',
  pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href,
  join(ROOT, 'src/server.ts'),
];

/** tsx looks for tsconfig.json in the working directory: point it at the repository's. */
export const TSX_ENV = { TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json') };

let empty: string | undefined;

/** A working directory with no `.env`, made once per process. */
export function dirWithoutDotEnv(): string {
  empty ??= mkdtempSync(join(tmpdir(), 'xtg-cwd-'));
  return empty;
}
