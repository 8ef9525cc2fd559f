/**
 * A plain, JSON-ready view of every upstream and target: the read-only interface for the admin API, metrics and the
 * status page. Pure: reads state, changes nothing.
 */
import type { ProbeRecord } from './health.js'
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

export function snapshotPools(pools: Iterable<Pool>, now = Date.now()): UpstreamSnapshot[] {
  const out: UpstreamSnapshot[] = []
  for (const pool of pools) {
    const h = pool.def.healthCheck
    const targets = pool.targets.map((t, i) => ({
      url: t.key,
      weight: pool.def.targets[i]?.weight ?? 1,
      state: t.health.view(now),
      reason: t.health.whyDown(now) || t.health.reason,
      inflight: t.inflight,
      requests: t.requests,
      failures: t.failures,
      lastProbe: t.health.lastProbe ?? null,
      recentProbes: [...t.health.history],
    }))
    out.push({
      name: pool.def.name,
      balance: pool.def.balance,
      healthCheck: h
        ? h.kind === 'tcp'
          ? `tcp every ${h.interval}ms`
          : `GET ${h.path} every ${h.interval}ms`
        : 'off',
      available: pool.targets.filter((t) => t.health.isAvailable(now)).length,
      targets,
    })
  }
  return out
}
