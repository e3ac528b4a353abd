// What the Redis and the in-process gates answer: one vocabulary, so the governor does not care
// which of the two decided. State comes in two parts: the account's (the ceiling over all endpoints,
// the account-wide daily quota, the credentials/balance circuit) and each endpoint's (its own rate,
// its 302 pause, its 303 day-over, its own daily quota).

export type RefusalReason = 'circuit' | 'dayover' | 'backoff' | 'quota' | 'endpoint_quota' | 'rate';

/**
 * Three steps for one call: 'reserve' takes the endpoint's slot and, when that slot is now, the
 * account's; 'account' (after sleeping until the endpoint's slot) takes the account's; 'admit'
 * (after sleeping until the account's) only checks for pauses that began meanwhile. A call waiting
 * for its endpoint's budget holds no account slot, so it never holds back another endpoint.
 */
export type GateMode = 'reserve' | 'account' | 'admit';

export type Verdict =
  /**
   * `tatAheadMs` / `epTatAheadMs` (shared gate): how far ahead of now the schedules run after it;
   * `epQuotaUsed` (shared gate, with an endpoint quota): the endpoint's count today.
   */
  | {
      kind: 'go';
      probe: boolean;
      quotaUsed: number;
      tatAheadMs?: number;
      epTatAheadMs?: number;
      epQuotaUsed?: number;
    }
  /** `next`: the mode to ask with after the wait. */
  | {
      kind: 'wait';
      waitMs: number;
      next: 'account' | 'admit';
      quotaUsed: number;
      tatAheadMs?: number;
      epTatAheadMs?: number;
      epQuotaUsed?: number;
    }
  /** `code`: the upstream code behind the pause (302, 303, the credential code), else 0. */
  | {
      kind: 'refuse';
      reason: RefusalReason;
      retryMs: number;
      code: number;
      quotaUsed?: number;
      probing?: boolean;
    };

/** How an answer bears on governance (see eventOf in governor.ts). */
export type CallEvent = 'ok' | '302' | '303' | 'credential' | 'other' | 'nocode';

export interface EventResult {
  effect: 'none' | 'backoff' | 'paused' | 'dayover' | 'opened' | 'reopened' | 'already';
  ms: number;
  strikes: number;
  /** A probe's answer closed the credential circuit. */
  closed: boolean;
}

/** The account's shared state as Redis holds it. */
export interface AccountSnapshot {
  /** null: closed; 0: cool-down over, waiting for a probe; > 0: ms of cool-down left. */
  circuitLeftMs: number | null;
  circuitCode: number;
  quotaUsed: number;
  /** How far ahead of now the shared ceiling schedule has handed out slots (0: none). */
  rateAheadMs: number;
}

/** One endpoint's shared state as Redis holds it. */
export interface EndpointSnapshot {
  dayoverMs: number;
  pauseMs: number;
  quotaUsed: number;
  rateAheadMs: number;
}

/** Per-call inputs both gates need. */
export interface GateContext {
  dayId: string;
  dayLeftMs: number;
  /** Spacing of the account ceiling. */
  intervalMs: number;
  /** Spacing of the endpoint's own budget; 0: none (the ceiling alone). */
  epIntervalMs: number;
  burst: number;
  /** Account-wide daily quota; 0: none. */
  quota: number;
  /** The endpoint's daily quota; 0: none. */
  epQuota: number;
  probeTtlMs: number;
}
