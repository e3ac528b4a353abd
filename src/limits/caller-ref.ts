// Who an upstream call is for: the caller's limit bucket (shares, pending cap, turns), its display
// name (usage, logs) and its Prometheus label. Pure, so the request plugins and the governor agree.

export interface CallerRef {
  /** The limit bucket, `callerKey(request)`: `caller:<name>`, or `ip:<addr>` when anonymous. */
  bucket: string;
  /** What usage and logs show: the key's name, `jwt:<claim>`, or `anonymous` (all addresses together). */
  name: string;
  /** The `caller` label: the key's name, `jwt` or `anonymous`; never one value per user or address. */
  label: string;
  anonymous: boolean;
}

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
