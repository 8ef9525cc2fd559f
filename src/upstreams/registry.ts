/**
 * Targets and their counters. A Target belongs to the registry, keyed by its URL, not to a copy of the config: a
 * reload that keeps a target keeps its counters (and, in the HealthBoard, its health).
 */
import type { UpstreamDef } from '../config/model.js'
import type { TargetUrl } from '../config/values.js'
import { type Balancer, type Candidate, createBalancer } from './balance.js'
import type { HealthView } from './health-board.js'

export class Target {
  readonly key: string
  readonly url: TargetUrl
  /** Requests and WebSocket tunnels currently open to this target. */
  inflight = 0
  requests = 0
  failures = 0

  constructor(url: TargetUrl) {
    this.key = url.url
    this.url = url
  }
}

export class TargetRegistry {
  private readonly targets = new Map<string, Target>()

  get(url: TargetUrl): Target {
    let t = this.targets.get(url.url)
    if (!t) {
      t = new Target(url)
      this.targets.set(url.url, t)
    }
    return t
  }

  /** Drops targets no longer referenced by any upstream (after a reload). */
  retainOnly(keys: ReadonlySet<string>): void {
    for (const key of this.targets.keys()) if (!keys.has(key)) this.targets.delete(key)
  }

  all(): IterableIterator<Target> {
    return this.targets.values()
  }
}

class Slot implements Candidate {
  /** Set from the health view at each pick, so balancers see one consistent instant. */
  available = true
  constructor(
    readonly target: Target,
    readonly weight: number,
  ) {}
  get key(): string {
    return this.target.key
  }
  get inflight(): number {
    return this.target.inflight
  }
}

/** An upstream's targets and the balancing policy over those that are available. */
export class Pool {
  readonly def: UpstreamDef
  readonly targets: readonly Target[]
  private readonly slots: readonly Slot[]
  private readonly balancer: Balancer

  constructor(
    def: UpstreamDef,
    registry: TargetRegistry,
    private readonly health: HealthView,
  ) {
    this.def = def
    this.slots = def.targets.map((t) => new Slot(registry.get(t), t.weight))
    this.targets = this.slots.map((s) => s.target)
    this.balancer = createBalancer(def.balance)
  }

  /** The next available target, skipping any in `exclude` (targets already tried for this request). */
  pick(clientIp = '', exclude?: ReadonlySet<Target>, now = Date.now()): Target | undefined {
    for (const slot of this.slots) slot.available = this.health.available(slot.key, now)
    let skip: Set<number> | undefined
    if (exclude && exclude.size > 0) {
      skip = new Set()
      this.targets.forEach((t, i) => {
        if (exclude.has(t)) skip?.add(i)
      })
    }
    const i = this.balancer.pick(this.slots, { clientIp, exclude: skip })
    return i === undefined ? undefined : this.targets[i]
  }

  /** Why no target is available, without addresses: "target 1: connection refused; target 2: ejected (reset)". */
  whyDown(now = Date.now()): string {
    return this.targets
      .map((t, i) => {
        const why = this.health.whyDown(t.key, now)
        const view = this.health.view(t.key, now)
        return `target ${i + 1}: ${view}${why ? ` (${why})` : ''}`
      })
      .join('; ')
  }

  /** How many targets are routable now. */
  available(now = Date.now()): number {
    return this.targets.filter((t) => this.health.available(t.key, now)).length
  }

  /** Seconds until a target may be back: the probe interval, or the nearest end of an ejection. */
  retryAfter(now = Date.now()): number {
    const ejections = this.targets.map((t) => this.health.ejectedUntil(t.key)).filter((u) => u > now)
    const interval = this.def.healthCheck?.interval ?? 5_000
    const soonest = ejections.length > 0 ? Math.min(...ejections) - now : interval
    return Math.max(1, Math.ceil(Math.min(soonest, interval) / 1000))
  }
}
