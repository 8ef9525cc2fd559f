/**
 * The timers of health checking: one active probe loop per target in use, and the end of each passive ejection.
 * It decides nothing: probe results and expiries go to a HealthSink (the HealthBoard), which holds the state.
 * Loops are keyed by target URL, so a reload that keeps a target keeps its loop; they are spread with jitter, never
 * overlap, use unref'd timers and stop on shutdown.
 */
import type { HealthCheckDef, UpstreamDef } from '../config/model.js'
import type { ProbeRecord } from './health.js'
import type { HealthSink } from './health-board.js'
import { probe as realProbe } from './probe.js'
import type { Pool, Target } from './registry.js'

export type ProbeFn = (target: Target, check: HealthCheckDef, upstream: UpstreamDef) => Promise<ProbeRecord>

interface Loop {
  target: Target
  check: HealthCheckDef
  upstream: string
  def: UpstreamDef
  timer: NodeJS.Timeout | undefined
  running: boolean
  stopped: boolean
}

export class HealthMonitor {
  private readonly loops = new Map<string, Loop>()
  private readonly ejectionTimers = new Map<string, NodeJS.Timeout>()
  private stopped = false

  /** Every probe result (for metrics). */
  onProbe: ((target: Target, upstream: string, ok: boolean) => void) | undefined

  constructor(
    private readonly sink: HealthSink,
    private readonly probeFn: ProbeFn = (t, c, u) => realProbe({ ...t.url, weight: 1 }, c, u),
    private readonly random: () => number = Math.random,
  ) {}

  /** Starts loops for targets that need one, stops loops for targets no longer checked. */
  sync(pools: Iterable<Pool>): void {
    const wanted = new Map<
      string,
      { target: Target; check: HealthCheckDef; upstream: string; def: UpstreamDef }
    >()
    for (const pool of pools) {
      if (!pool.def.healthCheck) continue
      for (const target of pool.targets) {
        // A target shared by several upstreams is probed once, with the first upstream's settings.
        if (!wanted.has(target.key))
          wanted.set(target.key, {
            target,
            check: pool.def.healthCheck,
            upstream: pool.def.name,
            def: pool.def,
          })
      }
    }
    for (const [key, loop] of this.loops) {
      if (!wanted.has(key)) {
        loop.stopped = true
        clearTimeout(loop.timer)
        this.loops.delete(key)
      }
    }
    for (const [key, w] of wanted) {
      const loop = this.loops.get(key)
      if (loop) {
        loop.check = w.check
        loop.upstream = w.upstream
        loop.def = w.def
        continue
      }
      const fresh: Loop = { ...w, timer: undefined, running: false, stopped: false }
      this.loops.set(key, fresh)
      // first probe soon, spread over a quarter second so a big pool does not probe in one burst
      this.schedule(fresh, this.random() * Math.min(250, w.check.interval))
    }
  }

  private schedule(loop: Loop, delay: number): void {
    if (loop.stopped || this.stopped) return
    loop.timer = setTimeout(() => void this.tick(loop), delay)
    loop.timer.unref()
  }

  private async tick(loop: Loop): Promise<void> {
    if (loop.running || loop.stopped) return
    loop.running = true
    let record: ProbeRecord
    try {
      record = await this.probeFn(loop.target, loop.check, loop.def)
    } catch (err) {
      record = { at: Date.now(), ok: false, latencyMs: 0, detail: `probe error: ${(err as Error).message}` }
    }
    loop.running = false
    if (loop.stopped || this.stopped) return
    this.onProbe?.(loop.target, loop.upstream, record.ok)
    this.sink.report(loop.target.key, loop.upstream, { kind: 'probe', record, policy: loop.check })
    // +-10% jitter keeps probes of many targets from lining up
    this.schedule(loop, loop.check.interval * (0.9 + 0.2 * this.random()))
  }

  /** Runs one probe round for every loop now (used by tests and by a manual "check now"). */
  async probeAll(): Promise<void> {
    await Promise.all([...this.loops.values()].map((l) => this.tick(l)))
  }

  /** An ejection started: report its end when the cool-down is over (the log line for re-admission). */
  ejected(key: string, upstream: string, until: number): void {
    if (this.stopped) return
    clearTimeout(this.ejectionTimers.get(key))
    const timer = setTimeout(
      () => {
        this.ejectionTimers.delete(key)
        this.sink.report(key, upstream, { kind: 'expire', at: Date.now() })
      },
      Math.max(0, until - Date.now()) + 5,
    )
    timer.unref()
    this.ejectionTimers.set(key, timer)
  }

  get size(): number {
    return this.loops.size
  }

  stop(): void {
    this.stopped = true
    for (const loop of this.loops.values()) {
      loop.stopped = true
      clearTimeout(loop.timer)
    }
    this.loops.clear()
    for (const t of this.ejectionTimers.values()) clearTimeout(t)
    this.ejectionTimers.clear()
  }
}
