import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, environment, loadConfig } from '../../src/config.js';
import { dirWithoutDotEnv, SERVER_FROM_SOURCE, TSX_ENV } from '../helpers/server-entry.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = 'k'.repeat(16);

/** The ConfigError a bad environment gives; fails the test when loading succeeds. */
function configError(env: Record<string, string | undefined>, opts: { requireToken?: boolean } = {}): string {
  try {
    loadConfig(env, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('defaults', () => {
  it('gives every variable of the contract its default', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 3000,
      HOST: '0.0.0.0',
      JUSTONEAPI_BASE_URL: 'https://api.justoneapi.com',
      UPSTREAM_TIMEOUT_MS: 60_000,
      CACHE_FRESH_SECONDS: 43_200,
      CACHE_STALE_SECONDS: 604_800,
      CACHE_NOT_FOUND_SECONDS: 3600,
      UPSTREAM_MAX_RPS: 5,
      UPSTREAM_MAX_WAIT_MS: 15_000,
      UPSTREAM_DAILY_QUOTA: 0,
      UPSTREAM_QUOTA_TZ: 'Asia/Shanghai',
      API_KEYS: [],
      ADMIN_API_KEYS: [],
      ALLOW_ANONYMOUS: false,
      CALLER_RATE_LIMIT: 600,
      CALLER_RATE_WINDOW: 60_000,
      CORS_ORIGINS: [],
      LOG_LEVEL: 'info',
    });
    expect(c.JUSTONEAPI_TOKEN).toBeUndefined();
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.REDIS_CLUSTER_NODES).toBeUndefined();
  });

  it('treats empty strings as unset (a blank line in .env)', () => {
    const c = loadConfig({
      PORT: '',
      UPSTREAM_TIMEOUT_MS: '',
      REDIS_URL: '',
      API_KEYS: '',
      JUSTONEAPI_TOKEN: '',
    });
    expect(c.PORT).toBe(3000);
    expect(c.UPSTREAM_TIMEOUT_MS).toBe(60_000);
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.API_KEYS).toEqual([]);
    expect(configError({ JUSTONEAPI_TOKEN: '' }, { requireToken: true })).toContain('JUSTONEAPI_TOKEN');
  });

  it('parses the values it is given', () => {
    const c = loadConfig({
      PORT: '8080',
      UPSTREAM_MAX_RPS: '2.5',
      ALLOW_ANONYMOUS: 'true',
      REDIS_CLUSTER_NODES: 'a:7000, b:7001',
      CORS_ORIGINS: 'https://a.example, https://b.example,',
      UPSTREAM_QUOTA_TZ: 'Europe/Paris',
    });
    expect(c.PORT).toBe(8080);
    expect(c.UPSTREAM_MAX_RPS).toBe(2.5);
    expect(c.ALLOW_ANONYMOUS).toBe(true);
    expect(c.REDIS_CLUSTER_NODES).toEqual(['a:7000', 'b:7001']);
    expect(c.CORS_ORIGINS).toEqual(['https://a.example', 'https://b.example']);
    expect(c.UPSTREAM_QUOTA_TZ).toBe('Europe/Paris');
  });
});

describe('CALLER_UPSTREAM_DAILY', () => {
  it('reads name=N pairs and *=N; unset is no share for anyone', () => {
    const c = loadConfig({ CALLER_UPSTREAM_DAILY: 'etl=2000, jwt:alice=5 ,*=200' });
    expect([...c.CALLER_UPSTREAM_DAILY.byName]).toEqual([
      ['etl', 2000],
      ['jwt:alice', 5],
    ]);
    expect(c.CALLER_UPSTREAM_DAILY.others).toBe(200);
    const none = loadConfig({});
    expect(none.CALLER_UPSTREAM_DAILY.byName.size).toBe(0);
    expect(none.CALLER_UPSTREAM_DAILY.others).toBeNull();
    expect(none.CALLER_MAX_PENDING_UPSTREAM).toBe(20);
  });

  it('takes "__proto__" as a caller name like any other', () => {
    const c = loadConfig({ CALLER_UPSTREAM_DAILY: '__proto__=3' });
    expect(c.CALLER_UPSTREAM_DAILY.byName.get('__proto__')).toBe(3);
    expect(c.CALLER_UPSTREAM_DAILY.byName.size).toBe(1);
  });
});

describe('bad values', () => {
  const cases: Array<[string, string]> = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['UPSTREAM_TIMEOUT_MS', 'abc'],
    ['UPSTREAM_TIMEOUT_MS', '1.5'],
    ['CACHE_FRESH_SECONDS', '0'],
    ['CACHE_STALE_SECONDS', '-1'],
    ['UPSTREAM_MAX_RPS', '0'],
    ['UPSTREAM_DAILY_QUOTA', 'lots'],
    ['JUSTONEAPI_BASE_URL', 'not a url'],
    ['JUSTONEAPI_BASE_URL', 'ftp://api.example'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['REDIS_CLUSTER_NODES', 'localhost'],
    ['ALLOW_ANONYMOUS', 'maybe'],
    ['UPSTREAM_QUOTA_TZ', 'Mars/Olympus_Mons'],
    ['LOG_LEVEL', 'loud'],
    ['CALLER_RATE_WINDOW', 'soon'],
    ['API_KEYS', 'no-colon-here-at-all'],
    ['ADMIN_API_KEYS', 'ops:short'],
    ['CALLER_UPSTREAM_DAILY', 'etl'],
    ['CALLER_UPSTREAM_DAILY', 'etl=-1'],
    ['CALLER_UPSTREAM_DAILY', 'etl=10,etl=20'],
    ['CALLER_UPSTREAM_DAILY', '*=1,*=2'],
    ['CALLER_MAX_PENDING_UPSTREAM', '0'],
  ];

  it.each(cases)('%s=%s stops start-up with one line naming it', (name, value) => {
    const msg = configError({ [name]: value });
    expect(msg).toMatch(new RegExp(`^invalid configuration: ${name}: \\S`));
    expect(msg).not.toContain('\n');
  });

  it('does not echo a refused key back', () => {
    const secret = 'sekrit-but-short';
    const msg = configError({ API_KEYS: `ok:${KEY},bad name:${secret}` });
    expect(msg).toContain('API_KEYS');
    expect(msg).not.toContain(secret);
  });

  it('names JUSTONEAPI_TOKEN when the token is required and missing', () => {
    const msg = configError({}, { requireToken: true });
    expect(msg).toMatch(/^invalid configuration: JUSTONEAPI_TOKEN: /);
    expect(loadConfig({ JUSTONEAPI_TOKEN: 't' }, { requireToken: true }).JUSTONEAPI_TOKEN).toBe('t');
    expect(loadConfig({}).JUSTONEAPI_TOKEN).toBeUndefined();
  });

  it('refuses production without keys unless ALLOW_ANONYMOUS', () => {
    expect(configError({ NODE_ENV: 'production' })).toMatch(/^invalid configuration: API_KEYS: /);
    expect(loadConfig({ NODE_ENV: 'production', ALLOW_ANONYMOUS: 'true' }).ALLOW_ANONYMOUS).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', API_KEYS: `app:${KEY}` }).API_KEYS).toHaveLength(1);
    expect(loadConfig({ NODE_ENV: 'production', ADMIN_API_KEYS: `ops:${KEY}` }).ADMIN_API_KEYS).toHaveLength(
      1,
    );
  });
});

describe('key pairs', () => {
  it('parses name:key pairs, trimming spaces and keeping colons inside keys', () => {
    const c = loadConfig({
      API_KEYS: ` app-1:${KEY} , svc.b:${KEY}:x ,`,
      ADMIN_API_KEYS: `ops_team:${KEY}2`,
    });
    expect(c.API_KEYS).toEqual([
      { name: 'app-1', key: KEY },
      { name: 'svc.b', key: `${KEY}:x` },
    ]);
    expect(c.ADMIN_API_KEYS).toEqual([{ name: 'ops_team', key: `${KEY}2` }]);
  });

  it('refuses short keys, missing names and a name used twice', () => {
    expect(configError({ API_KEYS: 'app:123456789012345' })).toContain('API_KEYS');
    expect(configError({ API_KEYS: `:${KEY}` })).toContain('API_KEYS');
    expect(configError({ API_KEYS: `app:${KEY}`, ADMIN_API_KEYS: `app:${KEY}x` })).toMatch(/used twice/);
  });
});

describe('TRUST_PROXY', () => {
  it.each([
    ['false', false],
    ['true', true],
    ['1', 1],
    ['2', 2],
    ['10.0.0.7', ['10.0.0.7']],
    ['172.18.0.0/16, 10.1.2.3', ['172.18.0.0/16', '10.1.2.3']],
    ['uniquelocal,loopback', ['uniquelocal', 'loopback']],
    ['fd00::/8,::1', ['fd00::/8', '::1']],
  ] as const)('%s is %j', (text, value) => {
    expect(loadConfig({ TRUST_PROXY: text }).TRUST_PROXY).toEqual(value);
  });

  it('defaults to trusting no proxy', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
  });

  it.each(['0', '33', 'yes', 'nginx', '10.0.0.0/33', '10.0.0.1/8/9', '::1/129', ','])(
    '%s stops start-up naming TRUST_PROXY',
    (text) => {
      expect(configError({ TRUST_PROXY: text })).toMatch(/^invalid configuration: TRUST_PROXY: \S/);
    },
  );
});

describe('JWT and anonymous callers', () => {
  const jwt = {
    JWT_JWKS_URL: 'https://id.example/.well-known/jwks.json',
    JWT_ISSUER: 'https://id.example/',
    JWT_AUDIENCE: 'xingtu-gateway',
  };

  it('parses the JWT settings, with sub naming the caller by default', () => {
    const c = loadConfig(jwt);
    expect(c).toMatchObject({ ...jwt, JWT_CALLER_CLAIM: 'sub', AUTH_FAILURES_PER_MINUTE: 20 });
    expect(loadConfig({ ...jwt, JWT_CALLER_CLAIM: 'email' }).JWT_CALLER_CLAIM).toBe('email');
    expect(
      loadConfig({ JWT_JWKS_URL: 'http://127.0.0.1:8080/jwks', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }),
    ).toBeTruthy();
  });

  it('needs issuer and audience with a JWKS, and a JWKS with either', () => {
    expect(configError({ ...jwt, JWT_ISSUER: undefined })).toMatch(
      /^invalid configuration: JWT_ISSUER: required/,
    );
    expect(configError({ ...jwt, JWT_AUDIENCE: '' })).toMatch(
      /^invalid configuration: JWT_AUDIENCE: required/,
    );
    expect(configError({ JWT_ISSUER: 'https://id.example/' })).toMatch(
      /^invalid configuration: JWT_ISSUER: /,
    );
    expect(configError({ JWT_AUDIENCE: 'x' })).toMatch(/^invalid configuration: JWT_AUDIENCE: /);
  });

  it('refuses a JWKS over plain http except on loopback, and odd claim names', () => {
    expect(configError({ ...jwt, JWT_JWKS_URL: 'http://id.example/jwks' })).toMatch(
      /^invalid configuration: JWT_JWKS_URL: must be https/,
    );
    expect(configError({ ...jwt, JWT_JWKS_URL: 'ftp://id.example/jwks' })).toMatch(
      /^invalid configuration: JWT_JWKS_URL: /,
    );
    expect(configError({ ...jwt, JWT_CALLER_CLAIM: 'has space' })).toMatch(
      /^invalid configuration: JWT_CALLER_CLAIM: /,
    );
  });

  it('takes 0 failed credentials per minute as "no limit" and refuses negatives', () => {
    expect(loadConfig({ AUTH_FAILURES_PER_MINUTE: '0' }).AUTH_FAILURES_PER_MINUTE).toBe(0);
    expect(configError({ AUTH_FAILURES_PER_MINUTE: '-1' })).toMatch(
      /^invalid configuration: AUTH_FAILURES_PER_MINUTE: /,
    );
  });

  it('starts in production with a JWKS alone, or anonymous next to keys', () => {
    expect(loadConfig({ NODE_ENV: 'production', ...jwt }).JWT_JWKS_URL).toBe(jwt.JWT_JWKS_URL);
    const both = loadConfig({ NODE_ENV: 'production', API_KEYS: `app:${KEY}`, ALLOW_ANONYMOUS: 'true' });
    expect(both.ALLOW_ANONYMOUS).toBe(true);
    expect(both.API_KEYS).toHaveLength(1);
    expect(configError({ NODE_ENV: 'production' })).toMatch(/JWT_JWKS_URL/);
  });
});

describe('durations', () => {
  it.each([
    ['1 minute', 60_000],
    ['2 minutes', 120_000],
    ['30 seconds', 30_000],
    ['30s', 30_000],
    ['2h', 7_200_000],
    ['1500', 1500],
    ['1000 ms', 1000],
  ])('%s is %i ms', (text, ms) => {
    expect(loadConfig({ CALLER_RATE_WINDOW: text }).CALLER_RATE_WINDOW).toBe(ms);
  });

  it.each(['500', '999 ms', '0 seconds'])('%s is refused (under a second)', (text) => {
    expect(configError({ CALLER_RATE_WINDOW: text })).toMatch(
      /^invalid configuration: CALLER_RATE_WINDOW: .*second/,
    );
  });
});

/** Runs the production entry as `npm start` would (from source, so no build is needed), in `cwd`
 *  (default one without a .env) until it exits, or until `until` matches its stdout (then killed). */
function runServer(
  env: Record<string, string>,
  opts: { cwd?: string; until?: RegExp } = {},
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, SERVER_FROM_SOURCE, {
      cwd: opts.cwd ?? dirWithoutDotEnv(),
      env: {
        PATH: process.env.PATH ?? '',
        ...TSX_ENV,
        HOME: process.env.HOME ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (opts.until?.test(stdout)) child.kill('SIGKILL');
    });
    // A config that wrongly passes would leave a listening server: kill it rather than hang.
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr, stdout });
    });
  });
}

/** A temporary working directory holding `.env` with these lines. */
function dirWithDotEnv(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'xtg-env-'));
  writeFileSync(join(dir, '.env'), `${lines.join('\n')}\n`);
  return dir;
}

describe('npm start', () => {
  it('exits non-zero with one line naming JUSTONEAPI_TOKEN when it is missing', async () => {
    const r = await runServer({});
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/JUSTONEAPI_TOKEN/);
    expect(r.stdout).toBe('');
  }, 30_000);

  it('exits non-zero with one line naming UPSTREAM_TIMEOUT_MS=abc', async () => {
    const r = await runServer({ JUSTONEAPI_TOKEN: 'x-token-for-start-up-test', UPSTREAM_TIMEOUT_MS: 'abc' });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^invalid configuration: UPSTREAM_TIMEOUT_MS: /);
    expect(r.stderr).not.toContain('x-token-for-start-up-test');
  }, 30_000);

  it('names every bad variable, one line each', async () => {
    const r = await runServer({
      JUSTONEAPI_TOKEN: 'x-token-for-start-up-test',
      UPSTREAM_TIMEOUT_MS: '60s',
      LOG_LEVEL: 'loud',
      API_KEYS: 'app:short',
    });
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines.map((l) => /^invalid configuration: (\w+): /.exec(l)?.[1])).toEqual([
      'UPSTREAM_TIMEOUT_MS',
      'API_KEYS',
      'LOG_LEVEL',
    ]);
  }, 30_000);

  it('reads .env from its working directory; the environment wins over it', async () => {
    const dir = dirWithDotEnv([
      '# as copied from .env.example, with the token filled in',
      'JUSTONEAPI_TOKEN=x-token-from-dot-env-file',
      'CALLER_RATE_WINDOW="1 minute"',
      'UPSTREAM_TIMEOUT_MS=not-a-number',
      'LOG_LEVEL=info',
    ]);
    const r = await runServer({ UPSTREAM_TIMEOUT_MS: '60000' }, { cwd: dir, until: /Server listening/ });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/"msg":"Server listening at http:\/\/127\.0\.0\.1:\d+"/);
    expect(r.stdout).toContain('"envFile":".env"');
    expect(r.stdout).not.toContain('x-token-from-dot-env-file');

    // The environment's bad value wins over the file's good one, and is named.
    const bad = dirWithDotEnv(['JUSTONEAPI_TOKEN=x-token-from-dot-env-file', 'UPSTREAM_TIMEOUT_MS=60000']);
    const r2 = await runServer({ UPSTREAM_TIMEOUT_MS: '60s' }, { cwd: bad });
    expect(r2.code).toBe(1);
    expect(r2.stderr.trim()).toMatch(/^invalid configuration: UPSTREAM_TIMEOUT_MS: .*milliseconds/);
  }, 30_000);

  it('logs a port in use as one JSON line and exits 1', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await runServer({ JUSTONEAPI_TOKEN: 'x-token-for-start-up-test', PORT: String(port) });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('');
      const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
      const fatal = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['level'] === 60);
      expect(fatal?.['msg']).toBe(`cannot listen on 127.0.0.1:${port}`);
      expect(JSON.stringify(fatal?.['err'])).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  }, 30_000);
});

describe('environment(): .env under the environment', () => {
  it('fills what the environment does not set; a set variable wins, even empty', () => {
    const dir = dirWithDotEnv(['A=from-file', 'B="two words"', 'C=from-file', '# a comment', 'D=from-file']);
    const { env, file } = environment(join(dir, '.env'), { A: 'from-env', C: '' });
    expect(file).toBe(join(dir, '.env'));
    expect(env).toEqual({ A: 'from-env', B: 'two words', C: '', D: 'from-file' });
  });

  it('is the environment alone when there is no file', () => {
    const env = { A: '1' };
    expect(environment(join(tmpdir(), 'no-such-dir-xtg', '.env'), env)).toEqual({ env, file: null });
  });
});

describe('messages that say what is wanted', () => {
  it('names milliseconds and an example for UPSTREAM_TIMEOUT_MS=60s', () => {
    expect(configError({ UPSTREAM_TIMEOUT_MS: '60s' })).toBe(
      'invalid configuration: UPSTREAM_TIMEOUT_MS: expected an integer number of milliseconds, e.g. 60000 for 60 s, got "60s"',
    );
    expect(configError({ CACHE_FRESH_SECONDS: '12h' })).toMatch(/number of seconds, e\.g\. 3600/);
    expect(configError({ PORT: '70000' })).toBe(
      'invalid configuration: PORT: must be 0 to 65535, got "70000"',
    );
  });

  it('names every bad variable in one error, one line each', () => {
    const err = (() => {
      try {
        loadConfig({ PORT: 'abc', LOG_LEVEL: 'loud', NODE_ENV: 'production' }, { requireToken: true });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err.lines.map((l) => l.split(':')[1]?.trim())).toEqual([
      'PORT',
      'LOG_LEVEL',
      'JUSTONEAPI_TOKEN',
      'API_KEYS',
    ]);
    expect(err.message.split('\n')).toEqual(err.lines);
  });

  it('names the bad API_KEYS pairs by position and name, never by key', () => {
    const shortKey = 'tooShortKey1';
    const reversed = 'k3y-pasted-where-the-name-goes';
    const msg = configError({
      API_KEYS: `good:${KEY}, app:${shortKey}, ${reversed}:svc,${'n'.repeat(20)}`,
    });
    expect(msg).toContain('pair 2 of 4 ("app"): the key has 12 characters, 16+ needed');
    expect(msg).toContain('pair 3 of 4: the key has 3 characters, 16+ needed');
    expect(msg).toContain('pair 4 of 4: no "name:" before the key');
    expect(msg).not.toContain('pair 1');
    for (const secret of [KEY, shortKey, reversed, 'n'.repeat(20)]) expect(msg).not.toContain(secret);
    expect(msg).not.toContain('\n');
  });
});

describe('.env.example', () => {
  const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');

  it('can be sourced by a shell, which reads every value as the gateway does', async () => {
    const names = Object.keys(parseEnv(text));
    const script = `set -a; . ./.env.example; for v in ${names.join(' ')}; do printf '%s=%s\\0' "$v" "\${!v-}"; done`;
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn('bash', ['--norc', '--noprofile', '-c', script], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.once('exit', (code) => resolve({ code, out, err }));
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const fromShell = Object.fromEntries(
      r.out
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    expect(fromShell).toEqual(parseEnv(text));
    expect(parseEnv(text)['CALLER_RATE_WINDOW']).toBe('1 minute');
  });

  it('keeps to values that Compose, a shell and Node read alike', () => {
    // Bare values of plain characters, or double quotes around no $, backslash, backtick or quote:
    // the forms on which Compose's dotenv rules, POSIX sh and util.parseEnv agree.
    for (const line of text.split('\n').filter((l) => /^[A-Z]/.test(l))) {
      expect(line).toMatch(/^[A-Z][A-Z0-9_]*=([A-Za-z0-9_.:/@,*=+-]*|"[^"$\\`]*")$/);
    }
  });

  it('lists every variable the gateway reads, and nothing else', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const listed = [...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]).sort();
    const { envSchema } = await import('../../src/config.js');
    expect(listed).toEqual(Object.keys(envSchema.shape).sort());
  });
});
