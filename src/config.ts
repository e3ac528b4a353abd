// The only place that reads process.env (and `.env`). Parsed once with zod; bad values stop
// start-up with one line per variable, naming each.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { CATALOGUE } from './catalogue/index.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const UNITS = {
  ms: ' number of milliseconds, e.g. 60000 for 60 s',
  s: ' number of seconds, e.g. 3600 for 1 h',
  bytes: ' number of bytes, e.g. 134217728 for 128 MiB',
} as const;

/** Short values are quoted back ("60s"); a long one might be a secret put in the wrong variable. */
const shown = (v: string) => (v.length <= 20 ? `, got "${v}"` : '');

/** A whole number; the message names the unit and an example, so "60s" says what is wanted. */
const int = (min: number, max = Number.MAX_SAFE_INTEGER, unit?: keyof typeof UNITS) =>
  z.string().transform((v, ctx) => {
    const what = `an integer${unit ? UNITS[unit] : ''}`;
    const n = /^\s*-?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      ctx.addIssue({ code: 'custom', message: `expected ${what}${shown(v)}` });
      return z.NEVER;
    }
    if (n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `${min} to ${max}`;
      ctx.addIssue({ code: 'custom', message: `must be ${range}${shown(v)}` });
      return z.NEVER;
    }
    return n;
  });

/**
 * `name:key` pairs, comma-separated. Keys shorter than 16 characters are refused: they can be
 * guessed. A bad pair is named by its position (and its name when that cannot be a key), never by
 * its key.
 */
const keyPairs = z.string().transform((s, ctx) => {
  const out: Array<{ name: string; key: string }> = [];
  const bad: string[] = [];
  const parts = s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  parts.forEach((part, n) => {
    const i = part.indexOf(':');
    const name = i > 0 ? part.slice(0, i).trim() : '';
    const key = i > 0 ? part.slice(i + 1).trim() : '';
    const goodName = /^[A-Za-z0-9_.-]{1,64}$/.test(name);
    // Named only when shorter than any key could be: written the wrong way round (`key:name`),
    // the "name" is the key.
    const shownName = goodName && name.length < 16 ? ` ("${name}")` : '';
    const which = `pair ${n + 1} of ${parts.length}${shownName}`;
    if (i <= 0) bad.push(`${which}: no "name:" before the key`);
    else if (!goodName) bad.push(`${which}: the name before ":" must be 1-64 of A-Z a-z 0-9 _ . -`);
    else if (key.length < 16) bad.push(`${which}: the key has ${key.length} characters, 16+ needed`);
    else out.push({ name, key });
  });
  if (bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `expected name:key pairs; ${bad.join('; ')}` });
    return z.NEVER;
  }
  return out;
});

const list = z.string().transform((s) =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean),
);

/** "1 minute", "30 seconds", "2h", "500 ms" or a plain number of milliseconds. */
const duration = z.string().transform((s, ctx) => {
  const m = /^\s*(\d+)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?)?\s*$/i.exec(s);
  if (!m) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a duration such as "1 minute", "30 seconds" or milliseconds',
    });
    return z.NEVER;
  }
  const n = Number(m[1]);
  const unit = (m[2] ?? 'ms').toLowerCase();
  const factor =
    unit.startsWith('ms') || unit.startsWith('milli')
      ? 1
      : unit.startsWith('s')
        ? 1000
        : unit.startsWith('m')
          ? 60_000
          : 3_600_000;
  if (n * factor < 1000) {
    ctx.addIssue({ code: 'custom', message: 'must be at least 1 second' });
    return z.NEVER;
  }
  return n * factor;
});

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'unknown IANA time zone');

/** Per-caller upstream calls per day: `name=N` pairs, `*=N` for every caller not named. */
export interface CallerShares {
  byName: ReadonlyMap<string, number>;
  /** The share of every caller not named (`*=N`), or null: unlimited. */
  others: number | null;
}

const shares = z.string().transform((s, ctx): CallerShares => {
  const byName = new Map<string, number>();
  let others: number | null = null;
  for (const part of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([^\s=,]{1,128})\s*=\s*(\d{1,9})$/.exec(part);
    const name = m?.[1];
    if (!m || name === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected name=N pairs or *=N, got "${part.slice(0, 40)}"` });
      return z.NEVER;
    }
    if (name === '*' ? others !== null : byName.has(name)) {
      ctx.addIssue({ code: 'custom', message: `"${name}" is given twice` });
      return z.NEVER;
    }
    if (name === '*') others = Number(m[2]);
    else byName.set(name, Number(m[2]));
  }
  return { byName, others };
});

const hostPorts = list.pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1));

/** proxy-addr's named ranges, accepted by Fastify's trustProxy list. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrCidr(s: string): boolean {
  if (PROXY_RANGE_NAMES.has(s)) return true;
  const [ip, bits, ...rest] = s.split('/');
  const family = isIP(ip ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * Fastify's trustProxy forms: `true`/`false`, a hop count, or a comma-separated list of proxy
 * addresses, CIDRs and proxy-addr's names (`loopback`, `linklocal`, `uniquelocal`).
 */
const trustProxy = z.string().transform((v, ctx): boolean | number | string[] => {
  const s = v.trim();
  if (s === 'true' || s === 'false') return s === 'true';
  if (/^\d+$/.test(s)) {
    const hops = Number(s);
    if (hops < 1 || hops > 32) {
      ctx.addIssue({ code: 'custom', message: 'a hop count must be 1 to 32 (false trusts no proxy)' });
      return z.NEVER;
    }
    return hops;
  }
  const entries = s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const bad = entries.find((e) => !isAddressOrCidr(e));
  if (entries.length === 0 || bad !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected true, false, a hop count, or proxy addresses/CIDRs${bad === undefined ? '' : ` ("${bad.slice(0, 64)}" is none)`}`,
    });
    return z.NEVER;
  }
  return entries;
});

/** `name=seconds` pairs: a fresh window per catalogued endpoint (a name not in the catalogue is refused). */
const endpointFreshSeconds = z
  .string()
  .default('')
  .transform((s, ctx): ReadonlyMap<string, number> => {
    const out = new Map<string, number>();
    for (const part of s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const m = /^([A-Za-z0-9_-]{1,128})\s*=\s*([1-9][0-9]{0,9})$/.exec(part);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `expected name=seconds pairs, got "${part.slice(0, 60)}"` });
        return z.NEVER;
      }
      if (!CATALOGUE.byName(m[1]!)) {
        ctx.addIssue({ code: 'custom', message: `"${m[1]}" is not a catalogued endpoint name` });
        return z.NEVER;
      }
      out.set(m[1]!, Number(m[2]));
    }
    return out;
  });

export const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  // Trimmed: a token read from a secrets file often ends in a newline.
  JUSTONEAPI_TOKEN: z.string().trim().min(1).optional(),
  JUSTONEAPI_BASE_URL: z.url({ protocol: /^https?$/ }).default('https://api.justoneapi.com'),
  UPSTREAM_TIMEOUT_MS: int(100, undefined, 'ms').default(60_000),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  REDIS_CLUSTER_NODES: hostPorts.optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,32}$/)
    .default('xtg:'),
  CACHE_FRESH_SECONDS: int(1, undefined, 's').default(43_200),
  CACHE_STALE_SECONDS: int(0, undefined, 's').default(604_800),
  CACHE_NOT_FOUND_SECONDS: int(0, undefined, 's').default(3600),
  ENDPOINT_FRESH_SECONDS: endpointFreshSeconds,
  CACHE_L1_SECONDS: int(0, 3600, 's').default(5),
  // The in-process copy, by bytes (see docs/scaling.md for how the default fits a 512 MiB container).
  CACHE_MEMORY_MAX_BYTES: int(1024 * 1024, undefined, 'bytes').default(128 * 1024 * 1024),
  // Optionally also by entries; unset: bytes alone bound it.
  CACHE_MEMORY_MAX_ENTRIES: int(1).optional(),
  UPSTREAM_MAX_RPS: z.coerce.number().positive().max(10_000).default(5),
  UPSTREAM_MAX_WAIT_MS: int(0, undefined, 'ms').default(15_000),
  UPSTREAM_DAILY_QUOTA: int(0).default(0),
  UPSTREAM_QUOTA_TZ: timeZone.default('Asia/Shanghai'),
  EXPECTED_INSTANCES: int(1, 1000).default(1),
  API_KEYS: keyPairs.optional(),
  ADMIN_API_KEYS: keyPairs.optional(),
  ALLOW_ANONYMOUS: bool.default(false),
  CALLER_RATE_LIMIT: int(1).default(600),
  CALLER_RATE_WINDOW: duration.default(60_000),
  CALLER_UPSTREAM_DAILY: shares.optional(),
  CALLER_MAX_PENDING_UPSTREAM: int(1).default(20),
  CORS_ORIGINS: list.optional(),
  // Behind a reverse proxy: which peers may set X-Forwarded-For (see trustProxy below).
  TRUST_PROXY: trustProxy.default(false),
  // IPv6 clients are limited per network of this prefix (one customer's allocation), not per address.
  CLIENT_IPV6_PREFIX: int(16, 128).default(56),
  AUTH_FAILURES_PER_MINUTE: int(0, 1_000_000).default(20),
  JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  JWT_ISSUER: z.string().trim().min(1).optional(),
  JWT_AUDIENCE: z.string().trim().min(1).optional(),
  JWT_CALLER_CLAIM: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'expected a claim name (printable, no spaces)')
    .default('sub'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_GRACE_MS: int(0, undefined, 'ms').default(10_000),
  // A client must send a whole request (headers and body) within this; past it: 408, socket closed.
  REQUEST_TIMEOUT_MS: int(100, 3_600_000, 'ms').default(30_000),
});

type Env = z.output<typeof envSchema>;

export interface Config
  extends Omit<Env, 'API_KEYS' | 'ADMIN_API_KEYS' | 'CORS_ORIGINS' | 'CALLER_UPSTREAM_DAILY'> {
  API_KEYS: Array<{ name: string; key: string }>;
  CALLER_UPSTREAM_DAILY: CallerShares;
  ADMIN_API_KEYS: Array<{ name: string; key: string }>;
  CORS_ORIGINS: string[];
}

/** Every problem found, one line per variable, each starting `invalid configuration: NAME: `. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
  }
}

/**
 * What `npm start` reads: the environment over the variables of a `.env` file in the working
 * directory, when there is one (Node's own dotenv parser, `util.parseEnv`, as `--env-file` uses).
 * A variable set in the environment wins over the file, even when set empty, as with Node's
 * `--env-file` and Compose. Returns `file: null` when there is no such file.
 */
export function environment(
  file = '.env',
  env: Record<string, string | undefined> = process.env,
): { env: Record<string, string | undefined>; file: string | null } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { env, file: null };
    throw err;
  }
  return { env: { ...parseEnv(text), ...env }, file };
}

/**
 * Parses the environment. `requireToken` is true for `npm start`; the demo and tests pass their own.
 * Throws ConfigError naming every bad variable, one line each (not only the first).
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  opts: { requireToken?: boolean } = {},
): Config {
  // Empty strings (a blank line in .env) mean "unset", as in most deployment tools.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  // Each variable alone, so one bad value does not hide the next.
  const problems = new Map<string, string>();
  const e: Partial<Env> = {};
  for (const [name, schema] of Object.entries(envSchema.shape)) {
    const r = (schema as z.ZodType).safeParse(cleaned[name]);
    if (r.success) (e as Record<string, unknown>)[name] = r.data;
    else problems.set(name, r.error.issues[0]?.message ?? 'invalid');
  }
  const fail = (name: string, why: string) => {
    if (!problems.has(name)) problems.set(name, why);
  };
  if (opts.requireToken && !e.JUSTONEAPI_TOKEN) {
    fail('JUSTONEAPI_TOKEN', 'required (the upstream token; it never leaves the server)');
  }
  checkJwt(e, problems, fail);
  const keys = [...(e.API_KEYS ?? []), ...(e.ADMIN_API_KEYS ?? [])];
  const keysBad = problems.has('API_KEYS') || problems.has('ADMIN_API_KEYS');
  if (
    e.NODE_ENV === 'production' &&
    !keysBad &&
    keys.length === 0 &&
    !e.JWT_JWKS_URL &&
    !problems.has('JWT_JWKS_URL') &&
    !e.ALLOW_ANONYMOUS &&
    !problems.has('ALLOW_ANONYMOUS')
  ) {
    fail(
      'API_KEYS',
      'required with NODE_ENV=production (or JWT_JWKS_URL for user tokens, or ALLOW_ANONYMOUS=true to let anyone call)',
    );
  }
  const names = new Set<string>();
  for (const { name } of keys) {
    if (names.has(name)) fail('API_KEYS', `caller name "${name}" is used twice`);
    names.add(name);
  }
  if (problems.size > 0) {
    throw new ConfigError([...problems].map(([name, why]) => `invalid configuration: ${name}: ${why}`));
  }
  const ok = e as Env;
  return {
    ...ok,
    API_KEYS: ok.API_KEYS ?? [],
    ADMIN_API_KEYS: ok.ADMIN_API_KEYS ?? [],
    CORS_ORIGINS: ok.CORS_ORIGINS ?? [],
    CALLER_UPSTREAM_DAILY: ok.CALLER_UPSTREAM_DAILY ?? { byName: new Map(), others: null },
  };
}

/** JWT settings come as a set; keys fetched over plain HTTP could be swapped on the way. */
function checkJwt(
  e: Partial<Env>,
  problems: ReadonlyMap<string, string>,
  fail: (name: string, why: string) => void,
): void {
  // A JWKS URL that did not parse is named already; what follows would only add noise.
  if (problems.has('JWT_JWKS_URL')) return;
  if (!e.JWT_JWKS_URL) {
    if (e.JWT_ISSUER) fail('JWT_ISSUER', 'set without JWT_JWKS_URL');
    if (e.JWT_AUDIENCE) fail('JWT_AUDIENCE', 'set without JWT_JWKS_URL');
    return;
  }
  if (!e.JWT_ISSUER) fail('JWT_ISSUER', 'required with JWT_JWKS_URL (the iss tokens must carry)');
  if (!e.JWT_AUDIENCE) fail('JWT_AUDIENCE', 'required with JWT_JWKS_URL (the aud tokens must carry)');
  const url = new URL(e.JWT_JWKS_URL);
  const loopback = ['localhost', '[::1]'].includes(url.hostname) || /^127\./.test(url.hostname);
  if (url.protocol !== 'https:' && !loopback)
    fail('JWT_JWKS_URL', 'must be https:// (plain http only on a loopback address)');
}
