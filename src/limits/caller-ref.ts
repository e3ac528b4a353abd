// Who an upstream call is for: the caller's limit bucket (shares, pending cap, turns), its display
// name (usage, logs) and its Prometheus label. Pure, so the request plugins and the governor agree.
// Anonymous callers share one bucket: limited one by one, any number of addresses (a /48 of IPv6
// is 65,536 networks) would add up to any number of upstream calls, pending calls and turns.

export interface CallerRef {
  /** The limit bucket: `caller:<name>`, or ANONYMOUS_BUCKET for every anonymous caller together. */
  bucket: string;
  /** What usage and logs show: the key's name, `jwt:<claim>`, or `anonymous` (all addresses together). */
  name: string;
  /** The `caller` label: the key's name, `jwt` or `anonymous`; never one value per user or address. */
  label: string;
  anonymous: boolean;
}

/** The one upstream bucket of all anonymous callers (their request rate stays per address). */
export const ANONYMOUS_BUCKET = 'anonymous';

/** Calls made for no request (tests that call the governor directly). Never has a share. */
export const GATEWAY_CALLER: CallerRef = {
  bucket: 'gateway',
  name: '(gateway)',
  label: '(gateway)',
  anonymous: false,
};

/** JWT callers are named `jwt:<claim>` (their kind may also say so): one label for all of them. */
function callerLabel(c: { name: string; anonymous: boolean; kind?: string }): string {
  if (c.anonymous) return 'anonymous';
  if (c.kind === 'jwt' || c.name.startsWith('jwt:')) return 'jwt';
  return c.name;
}

export function callerRef(c: { name: string; anonymous: boolean; kind?: string }, bucket: string): CallerRef {
  return {
    bucket,
    name: c.anonymous ? 'anonymous' : c.name,
    label: callerLabel(c),
    anonymous: c.anonymous,
  };
}
