// A client that behaves as JustOneAPI's official Python SDK does (its justoneapi/_transport.py, read,
// not copied; PyPI is out of reach here, so the SDK itself cannot run): the token in the `token`
// query parameter and no other credential, None parameters dropped, booleans sent lower-case, and
// the outcome read from the body's `code` whatever the HTTP status. What it reports is what an SDK
// user sees: `code`, `message`, `data`.
export interface ApiResponse {
  success: boolean;
  code: unknown;
  message: string;
  data: unknown;
  raw: Record<string, unknown>;
  /** Not part of the SDK's answer; for the tests' own checks. */
  http: { status: number; headers: Headers };
}

type Param = string | number | boolean | null | undefined;

export class JustOneApiLikeClient {
  constructor(
    private readonly token: string,
    private readonly baseUrl: string,
  ) {
    if (!token) throw new Error('Token is required.'); // as the SDK's constructor
  }

  async get(path: string, params: Record<string, Param>): Promise<ApiResponse> {
    const query = new URLSearchParams({ token: this.token });
    for (const [k, v] of Object.entries(params)) {
      if (v === null || v === undefined) continue;
      query.set(k, typeof v === 'boolean' ? String(v).toLowerCase() : String(v));
    }
    const res = await fetch(`${this.baseUrl.replace(/\/$/, '')}${path}?${query}`);
    const payload = (await res.json()) as unknown;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
      throw new Error('Server returned a non-object JSON payload');
    const raw = payload as Record<string, unknown>;
    return {
      success: raw.code === 0,
      code: raw.code,
      message: String(raw.message || ''),
      data: raw.data,
      raw,
      http: { status: res.status, headers: res.headers },
    };
  }
}
