/**
 * Health of one target: a pure state machine fed by active probe results and passive observations from real
 * traffic. It returns a Change when the routable state changes, so the caller logs each transition once.
 *
 * - A target starts "unknown", which is routable: a proxy that refuses traffic until the first probe would turn a
 *   restart into an outage.
 * - `fall` consecutive probe failures make it unhealthy; `rise` consecutive passes make an unhealthy target healthy.
 *   From unknown, one pass confirms it healthy.
 * - Passive: `failures` consecutive request failures eject it for `ejectFor`; a passing probe re-admits it early.
 */
export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy'

export interface ActivePolicy {
  rise: number
  fall: number
}

export interface PassivePolicy {
  failures: number
  ejectFor: number
}

export interface ProbeRecord {
  at: number
  ok: boolean
  latencyMs: number
  /** "connected", "status 200", or why it failed: "refused", "timeout after 2s", "status 500"... */
  detail: string
}

export interface Change {
  from: string
  to: string
  reason: string
  lastProbe: ProbeRecord | undefined
}

const HISTORY = 20

export class TargetHealth {
  status: HealthStatus = 'unknown'
  reason = 'not probed yet'
  private passes = 0
  private fails = 0
  private passiveFailures = 0
  ejectedUntil = 0
  ejectReason = ''
  readonly history: ProbeRecord[] = []

  /** What routing and the status page see: "healthy", "unknown", "unhealthy" or "ejected". */
  view(now: number): string {
    if (this.status === 'unhealthy') return 'unhealthy'
    if (this.ejectedUntil > now) return 'ejected'
    return this.status
  }

  isAvailable(now: number): boolean {
    return this.status !== 'unhealthy' && this.ejectedUntil <= now
  }

  get lastProbe(): ProbeRecord | undefined {
    return this.history[this.history.length - 1]
  }

  recordProbe(probe: ProbeRecord, policy: ActivePolicy): Change | undefined {
    this.history.push(probe)
    if (this.history.length > HISTORY) this.history.shift()
    const before = this.view(probe.at)
    if (probe.ok) {
      this.fails = 0
      this.passes++
      if (this.status === 'unknown' || (this.status === 'unhealthy' && this.passes >= policy.rise)) {
        this.status = 'healthy'
        this.reason = probe.detail
      }
      if (this.ejectedUntil > probe.at && this.status === 'healthy') {
        this.ejectedUntil = 0
        this.passiveFailures = 0
      }
    } else {
      this.passes = 0
      this.fails++
      if (this.status !== 'unhealthy' && this.fails >= policy.fall) {
        this.status = 'unhealthy'
        this.reason = probe.detail
      } else if (this.status === 'unhealthy') {
        this.reason = probe.detail
      }
    }
    return this.change(
      before,
      this.view(probe.at),
      probe.ok ? `probe passed: ${probe.detail}` : `probe failed: ${probe.detail}`,
    )
  }

  /** A real request failed to connect, was reset, timed out (or got a 5xx when configured). */
  recordFailure(reason: string, now: number, policy: PassivePolicy): Change | undefined {
    const before = this.view(now)
    this.passiveFailures++
    if (
      policy.failures > 0 &&
      this.passiveFailures >= policy.failures &&
      this.ejectedUntil <= now &&
      this.status !== 'unhealthy'
    ) {
      this.ejectedUntil = now + policy.ejectFor
      this.ejectReason = reason
      this.passiveFailures = 0
      return this.change(
        before,
        this.view(now),
        `${policy.failures} consecutive request failures, last: ${reason}`,
      )
    }
    return undefined
  }

  recordSuccess(): void {
    this.passiveFailures = 0
  }

  /** Called when an ejection's cool-down has passed, so the re-admission is logged. */
  expireEjection(now: number): Change | undefined {
    if (this.ejectedUntil === 0 || this.ejectedUntil > now) return undefined
    this.ejectedUntil = 0
    return this.change('ejected', this.view(now), 'ejection cool-down over')
  }

  /** Why it is not available, for 503 pages and logs. */
  whyDown(now: number): string {
    if (this.status === 'unhealthy') return this.reason
    if (this.ejectedUntil > now) return this.ejectReason
    return ''
  }

  private change(from: string, to: string, reason: string): Change | undefined {
    const routable = (s: string) => s === 'healthy' || s === 'unknown'
    if (from === to || (routable(from) && routable(to))) return undefined
    return { from, to, reason, lastProbe: this.lastProbe }
  }
}
