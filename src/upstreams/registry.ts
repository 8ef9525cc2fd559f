/**
 * Targets and their per-target state. A Target belongs to the registry, keyed by its URL, not to a copy of the
 * config: a reload that keeps a target keeps its counters (and, with health checks, its health).
 */
import type { UpstreamDef } from '../config/model.js'
import type { TargetUrl } from '../config/values.js'

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

/** An upstream's targets and the balancing policy over them (round-robin for now). */
export class Pool {
  readonly def: UpstreamDef
  readonly targets: readonly Target[]
  private cursor = 0

  constructor(def: UpstreamDef, registry: TargetRegistry) {
    this.def = def
    this.targets = def.targets.map((t) => registry.get(t))
  }

  /** The next target, skipping any in `exclude` (targets already tried for this request). */
  pick(exclude?: ReadonlySet<Target>): Target | undefined {
    const n = this.targets.length
    for (let i = 0; i < n; i++) {
      const t = this.targets[(this.cursor + i) % n] as Target
      if (exclude?.has(t)) continue
      this.cursor = (this.cursor + i + 1) % n
      return t
    }
    return undefined
  }
}
