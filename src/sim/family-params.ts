// How the simulated upstream checks a family endpoint's query, from the catalogue's parameter specs:
// what the real one answers with code 400 ("Invalid Parameters") when a gateway forwards something
// it should have refused or dropped. Written apart from the gateway's own validation on purpose: a
// fake that shared the gateway's checks could not catch the gateway's mistakes.
import { dayRange, isoDay, type SimEndpointInfo } from './family-data.js';

interface SimParamSpec {
  readonly name: string;
  readonly kind: string;
  readonly required: boolean;
  readonly default?: string;
  readonly values?: readonly string[];
  readonly aliases?: readonly string[];
  readonly open?: boolean;
  readonly maxLength?: number;
}

export interface SimEndpoint extends SimEndpointInfo {
  readonly params: readonly SimParamSpec[];
}

function valid(p: SimParamSpec, v: string): boolean {
  switch (p.kind) {
    case 'enum':
      return p.open === true || v === p.default || !!p.values?.includes(v) || !!p.aliases?.includes(v);
    case 'boolean':
      return v === 'true' || v === 'false';
    case 'integer':
      return /^\d{1,9}$/.test(v);
    case 'date':
      return isoDay(v) !== undefined;
    default:
      return v.length <= (p.maxLength ?? 1_000);
  }
}

/**
 * The query with defaults filled (what the answer is computed from), or the first parameter that
 * is missing or wrong. Parameters the endpoint does not take are kept: the real upstream ignores them
 * and the answer echoes them, so a test sees what the gateway forwarded.
 */
export function checkQuery(
  e: SimEndpoint,
  query: Record<string, string>,
): { filled: Record<string, string> } | { invalid: string } {
  const filled = { ...query };
  for (const p of e.params) {
    const v = query[p.name];
    if (v === undefined || v === '') {
      if (p.required) return { invalid: p.name };
      if (p.default !== undefined) filled[p.name] = p.default;
      continue;
    }
    if (!valid(p, v)) return { invalid: p.name };
  }
  const days = e.params.some((p) => p.name === 'startDate' && p.required)
    ? dayRange(filled['startDate'], filled['endDate'])
    : [];
  return 'invalid' in days ? days : { filled };
}
