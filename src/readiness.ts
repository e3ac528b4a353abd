// What /readyz asks of the parts that can make an instance unfit to serve (Redis, the upstream
// credential circuit, the identity provider's keys). A plain interface, so those parts need not
// know about the plugin that serves /readyz.

export interface ReadinessCheck {
  name: string;
  /** null when fine, else why not ready. */
  check(): string | null;
  /**
   * false: a failure is reported (status `degraded`) but keeps the instance ready, because only
   * some callers are affected and taking every instance out would fail the others too.
   */
  critical?: boolean;
}
