// Fastify's validator compiler: zod for every schema, with a fast path registered for the few
// schemas every cache hit goes through (path and query of the metrics routes). A fast path accepts
// only the common shape (known keys, allowed values, no arrays) and builds exactly what zod would;
// anything else, valid or not, goes to zod, so every 400 still names the parameter as zod does. A
// property test runs the same inputs through both (test/unit/fast-validation.test.ts).
import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import type { ZodType } from 'zod';

/** What zod would output for `data`, or undefined to let zod decide. */
export type FastPath = (data: unknown) => object | undefined;

const fastPaths = new WeakMap<ZodType, FastPath>();

/** Registers `fast` for `schema` (the schema stays the single source: fast paths never reject). */
export function withFastPath<T extends ZodType>(schema: T, fast: FastPath): T {
  fastPaths.set(schema, fast);
  return schema;
}

/** The fast path registered for `schema`, if any (tests check it agrees with zod). */
export function fastPathOf(schema: ZodType): FastPath | undefined {
  return fastPaths.get(schema);
}

export const fastValidatorCompiler: FastifySchemaCompiler<ZodType> = (route) => {
  const zod = validatorCompiler(route);
  const fast = fastPaths.get(route.schema);
  if (fast === undefined) return zod;
  return (data: unknown) => {
    const value = fast(data);
    return value === undefined ? zod(data) : { value };
  };
};

/** A fast path for a strict object of string enums (and the like) with defaults. */
export type FieldReader = (raw: string) => unknown;

/**
 * Reads a query or params object whose every key is in `fields` and every value a string the
 * field's reader accepts (undefined from a reader: let zod decide); `defaults` fill the rest.
 * `required` keys must be present.
 */
export function strictFields(
  fields: Record<string, FieldReader>,
  defaults: object,
  required: readonly string[] = [],
): FastPath {
  return (data) => {
    if (typeof data !== 'object' || data === null) return undefined;
    const out: Record<string, unknown> = { ...defaults };
    let found = 0;
    const input = data as Record<string, unknown>;
    for (const key in input) {
      if (!Object.hasOwn(input, key)) return undefined;
      const read = Object.hasOwn(fields, key) ? fields[key] : undefined;
      const raw = input[key];
      if (read === undefined || typeof raw !== 'string') return undefined;
      const v = read(raw);
      if (v === undefined) return undefined;
      out[key] = v;
      if (required.includes(key)) found++;
    }
    return found === required.length ? out : undefined;
  };
}

/** Accepts exactly the given strings. */
export function oneOf(values: readonly string[]): FieldReader {
  const allowed = new Set(values);
  return (raw) => (allowed.has(raw) ? raw : undefined);
}

/** Accepts strings matching `pattern` as they are. */
export function matching(pattern: RegExp): FieldReader {
  return (raw) => (pattern.test(raw) ? raw : undefined);
}
