/**
 * Everything about upstreams that outlives one config: the targets and their counters (TargetRegistry), what is
 * known of their health (HealthBoard), the probe and ejection timers (HealthMonitor) and the pooled connections
 * (Dispatchers). A reload calls `pools(config)` for the new table's pools, then `sync` with them: unchanged
 * targets keep their counters, health and probe loop.
 *
 * The data path sees it through `Outcomes` (what happened to a request) and each Pool (which target to use).
 */
import type { Config, PassiveDef, UpstreamDef } from '../config/model.js'
import type { Logger } from '../log.js'
import { Dispatchers } from './dispatchers.js'
import type { Change } from './health.js'
import { HealthBoard, type Observation } from './health-board.js'
import { HealthMonitor, type ProbeFn } from './monitor.js'
import { Pool, type Target, TargetRegistry } from './registry.js'
import { snapshotPools, type UpstreamSnapshot } from './snapshot.js'

/** What the data path tells about each request it sent to a target (passive health checks). */
export interface Outcomes {
  /** A connect error, reset or timeout (or a 5xx with `passive.on5xx`). */
  failed(target: Target, upstream: UpstreamDef, reason: string): void
  /** A response arrived. */
  succeeded(target: Target): void
}

/** One object for the most frequent report (every response): nothing allocated per request. */
const SUCCESS: Observation = { kind: 'success' }

export class UpstreamState implements Outcomes {
  readonly registry = new TargetRegistry()
  readonly health = new HealthBoard()
  readonly dispatchers = new Dispatchers()
  readonly monitor: HealthMonitor
  private current: readonly Pool[] = []

  constructor(logger: Logger, probeFn?: ProbeFn) {
    this.monitor = new HealthMonitor(this.health, probeFn)
    this.health.onChange((key, change, upstream) => {
      logChange(logger, key, change, upstream)
      if (change.to === 'ejected') this.monitor.ejected(key, upstream, this.health.ejectedUntil(key))
    })
  }

  /** The pools for a config's upstreams, bound to the shared targets and health. */
  pools(config: Config): Map<string, Pool> {
    const pools = new Map<string, Pool>()
    for (const [name, def] of config.upstreams) pools.set(name, new Pool(def, this.registry, this.health))
    return pools
  }

  /** Makes these pools the live ones: probe loops follow them, targets no longer used are forgotten. */
  sync(pools: Iterable<Pool>): void {
    this.current = [...pools]
    this.monitor.sync(this.current)
    const used = new Set<string>()
    for (const pool of this.current) for (const t of pool.targets) used.add(t.key)
    this.registry.retainOnly(used)
    this.health.retainOnly(used)
  }

  failed(target: Target, upstream: UpstreamDef, reason: string): void {
    target.failures++
    const policy: PassiveDef | null = upstream.passive
    this.health.report(target.key, upstream.name, { kind: 'failure', reason, at: Date.now(), policy })
  }

  succeeded(target: Target): void {
    this.health.report(target.key, '', SUCCESS)
  }

  /** Every live upstream and target with its health and counters (admin API, metrics, tests). */
  snapshot(): UpstreamSnapshot[] {
    return snapshotPools(this.current, this.health)
  }

  async close(): Promise<void> {
    this.monitor.stop()
    await this.dispatchers.close()
  }
}

function logChange(logger: Logger, key: string, change: Change, upstream: string): void {
  logger[change.to === 'healthy' || change.to === 'unknown' ? 'info' : 'warn'](
    {
      upstream,
      target: key,
      from: change.from,
      to: change.to,
      reason: change.reason,
      lastProbe: change.lastProbe,
    },
    `target ${key} of upstream ${upstream} is now ${change.to}`,
  )
}
