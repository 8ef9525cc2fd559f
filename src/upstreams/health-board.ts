/**
 * What is known about the health of each target, by target key (its URL), behind two small interfaces:
 *
 * - `HealthSink`: who knows something reports it. The probe loop reports probe results, the data path reports
 *   request outcomes, the ejection timer reports an expired ejection; later, another process (workers) or a process
 *   supervisor (apps) can report through the same call.
 * - `HealthView`: who decides reads it. Balancing asks `available(key, now)`; 503 pages, `/status` and metrics read
 *   the per-target state.
 *
 * The board is pure: no timers, no sockets; time comes in with each call. Every change of routable state is
 * returned once and passed to the listeners (the log line, the ejection timer), so each transition is seen once.
 */
import {
  type ActivePolicy,
  type Change,
  type PassivePolicy,
  type ProbeRecord,
  TargetHealth,
} from './health.js'

export type Observation =
  /** An active probe finished. */
  | { kind: 'probe'; record: ProbeRecord; policy: ActivePolicy }
  /** A real request failed against the target (connect error, reset, timeout, 5xx with on5xx). */
  | { kind: 'failure'; reason: string; at: number; policy: PassivePolicy | null }
  /** A real request got a response. */
  | { kind: 'success' }
  /** An ejection's cool-down may be over. */
  | { kind: 'expire'; at: number }

export interface HealthSink {
  report(key: string, upstream: string, observation: Observation): Change | undefined
}

/** The read side: routable or not, and why. */
export interface HealthView {
  available(key: string, now: number): boolean
  /** "healthy", "unknown", "unhealthy" or "ejected". */
  view(key: string, now: number): string
  /** Why a target is out (empty when it is not). */
  whyDown(key: string, now: number): string
  /** When a passive ejection ends (0 when not ejected). */
  ejectedUntil(key: string): number
  /** The state machine of one target, read-only (for snapshots). */
  of(key: string): Readonly<TargetHealth>
}

export type ChangeListener = (key: string, change: Change, upstream: string) => void

export class HealthBoard implements HealthSink, HealthView {
  private readonly states = new Map<string, TargetHealth>()
  private readonly listeners: ChangeListener[] = []

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener)
  }

  private state(key: string): TargetHealth {
    let s = this.states.get(key)
    if (!s) {
      s = new TargetHealth()
      this.states.set(key, s)
    }
    return s
  }

  report(key: string, upstream: string, o: Observation): Change | undefined {
    const s = this.state(key)
    let change: Change | undefined
    switch (o.kind) {
      case 'probe':
        change = s.recordProbe(o.record, o.policy)
        break
      case 'failure':
        change = o.policy ? s.recordFailure(o.reason, o.at, o.policy) : undefined
        break
      case 'success':
        s.recordSuccess()
        break
      case 'expire':
        change = s.expireEjection(o.at)
        break
    }
    if (change) for (const l of this.listeners) l(key, change, upstream)
    return change
  }

  available(key: string, now: number): boolean {
    const s = this.states.get(key)
    return s === undefined || s.isAvailable(now)
  }

  view(key: string, now: number): string {
    return this.states.get(key)?.view(now) ?? 'unknown'
  }

  whyDown(key: string, now: number): string {
    return this.states.get(key)?.whyDown(now) ?? ''
  }

  ejectedUntil(key: string): number {
    return this.states.get(key)?.ejectedUntil ?? 0
  }

  of(key: string): Readonly<TargetHealth> {
    return this.state(key)
  }

  /** Forgets targets no longer in any upstream (after a reload). */
  retainOnly(keys: ReadonlySet<string>): void {
    for (const key of this.states.keys()) if (!keys.has(key)) this.states.delete(key)
  }
}
