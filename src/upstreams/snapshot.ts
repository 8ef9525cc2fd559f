/**
 * A plain, JSON-ready view of every upstream and target: the read-only interface for the admin API, metrics and the
 * status page. Pure: reads state, changes nothing.
 */
import type { ProbeRecord } from './health.js'
import type { HealthView } from './health-board.js'
import type { Pool } from './registry.js'

export interface TargetSnapshot {
  url: string
  weight: number
  /** "unknown", "healthy", "unhealthy" or "ejected". */
  state: string
  reason: string
  inflight: number
  requests: number
  failures: number
  lastProbe: ProbeRecord | null
  recentProbes: ProbeRecord[]
}

export interface UpstreamSnapshot {
  name: string
  balance: string
  healthCheck: string
  available: number
  targets: TargetSnapshot[]
}

export function snapshotPools(
  pools: Iterable<Pool>,
  health: HealthView,
  now = Date.now(),
): UpstreamSnapshot[] {
  const out: UpstreamSnapshot[] = []
  for (const pool of pools) {
    const h = pool.def.healthCheck
    const targets = pool.targets.map((t, i) => {
      const h = health.of(t.key)
      return {
        url: t.key,
        weight: pool.def.targets[i]?.weight ?? 1,
        state: h.view(now),
        reason: h.whyDown(now) || h.reason,
        inflight: t.inflight,
        requests: t.requests,
        failures: t.failures,
        lastProbe: h.lastProbe ?? null,
        recentProbes: [...h.history],
      }
    })
    out.push({
      name: pool.def.name,
      balance: pool.def.balance,
      healthCheck: h
        ? h.kind === 'tcp'
          ? `tcp every ${h.interval}ms`
          : `GET ${h.path} every ${h.interval}ms`
        : 'off',
      available: pool.available(now),
      targets,
    })
  }
  return out
}
