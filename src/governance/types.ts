// What the Redis and the in-process gates answer: one vocabulary, so the governor does not care
// which of the two decided.

export type RefusalReason = 'circuit' | 'dayover' | 'backoff' | 'quota' | 'rate';

export type Verdict =
  /** `tatAheadMs` (shared gate, after a reservation): how far ahead of now its schedule runs. */
  | { kind: 'go'; probe: boolean; quotaUsed: number; tatAheadMs?: number }
  | { kind: 'wait'; waitMs: number; quotaUsed: number; tatAheadMs?: number }
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

/** The shared state as Redis holds it, for readiness and gauges on instances that saw no call. */
export interface Snapshot {
  /** null: closed; 0: cool-down over, waiting for a probe; > 0: ms of cool-down left. */
  circuitLeftMs: number | null;
  circuitCode: number;
  dayoverMs: number;
  pauseMs: number;
  quotaUsed: number;
  /** How far ahead of now the shared rate schedule has handed out slots (0: none). */
  rateAheadMs: number;
}

/** Per-call inputs both gates need. */
export interface GateContext {
  dayId: string;
  dayLeftMs: number;
  intervalMs: number;
  burst: number;
  /** 0: no daily quota. */
  quota: number;
  probeTtlMs: number;
}
