import { dirname, resolve } from 'node:path'
/** Turns the schema's output into the defaulted, immutable Config the proxy runs on. Pure. */
import {
  type Config,
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_HEALTH_CHECK,
  DEFAULT_HTTP_PORT,
  DEFAULT_PASSIVE,
  DEFAULT_REDIRECT_CODE,
  DEFAULT_SERVER_TIMEOUTS,
  DEFAULT_UPSTREAM_TIMEOUTS,
  type HealthCheckDef,
  type RouteDef,
  type UpstreamDef,
} from './model.js'
import type { RawConfig, RawUpstream } from './schema.js'
import { formatHostPattern, type HostPattern } from './values.js'

export function buildConfig(source: string, raw: RawConfig): Config {
  const upstreams = new Map<string, UpstreamDef>()
  for (const [name, u] of Object.entries(raw.upstreams ?? {})) {
    upstreams.set(name, {
      name,
      targets: u.targets.map((t) =>
        'origin' in t ? { ...t, weight: 1 } : { ...t.url, weight: t.weight ?? 1 },
      ),
      balance: u.balance ?? 'round-robin',
      healthCheck: healthCheck(u.healthCheck),
      passive: u.passive === false ? null : { ...DEFAULT_PASSIVE, ...stripUndefined(u.passive ?? {}) },
      tls: {
        ca: u.tls?.ca === undefined ? undefined : resolve(dirname(source), u.tls.ca),
        insecureSkipVerify: u.tls?.insecureSkipVerify ?? false,
        serverName: u.tls?.serverName,
      },
      timeouts: { ...DEFAULT_UPSTREAM_TIMEOUTS, ...stripUndefined(u.timeouts ?? {}) },
      inline: false,
    })
  }
  const routes: RouteDef[] = raw.routes.map((r, index) => {
    const hosts: HostPattern[] =
      r.host === undefined ? [{ kind: 'any' }] : Array.isArray(r.host) ? r.host : [r.host]
    const path = r.path ?? '/'
    const name = `${hosts.map(formatHostPattern).join(',')}${path === '/' ? '/' : path}`
    let action: RouteDef['action']
    if (r.redirect !== undefined) {
      action = { kind: 'redirect', location: r.redirect, code: r.redirectCode ?? DEFAULT_REDIRECT_CODE }
    } else if (r.to !== undefined) {
      const upstreamName = `${name} (inline)`
      upstreams.set(upstreamName, {
        name: upstreamName,
        targets: [{ ...r.to, weight: 1 }],
        balance: 'round-robin',
        healthCheck: { ...DEFAULT_HEALTH_CHECK },
        passive: { ...DEFAULT_PASSIVE },
        tls: { ca: undefined, insecureSkipVerify: false, serverName: undefined },
        timeouts: { ...DEFAULT_UPSTREAM_TIMEOUTS },
        inline: true,
      })
      action = { kind: 'proxy', upstream: upstreamName }
    } else {
      action = { kind: 'proxy', upstream: r.upstream as string }
    }
    return {
      index,
      name,
      hosts,
      path,
      stripPrefix: r.stripPrefix ?? false,
      preserveHost: r.preserveHost ?? true,
      action,
    }
  })
  return {
    source,
    listen: {
      http:
        raw.listen?.http === false
          ? null
          : (raw.listen?.http ?? { host: undefined, port: DEFAULT_HTTP_PORT }),
      https: raw.listen?.https === false ? null : (raw.listen?.https ?? null),
    },
    admin:
      raw.admin === false
        ? null
        : {
            listen: raw.admin?.listen ?? { ...DEFAULT_ADMIN_LISTEN },
            token: raw.admin?.token,
            allowRemote: raw.admin?.allowRemote ?? false,
          },
    tls: {
      certificates: (raw.tls?.certificates ?? []).map((c) => ({
        cert: resolve(dirname(source), c.cert),
        key: resolve(dirname(source), c.key),
        hosts: c.hosts,
      })),
      local: raw.tls?.local ?? true,
      redirectHttp: raw.tls?.redirectHttp ?? true,
      hsts: raw.tls?.hsts === false || raw.tls?.hsts === undefined ? 0 : raw.tls.hsts,
    },
    trustedProxies: raw.trustedProxies ?? [],
    timeouts: { ...DEFAULT_SERVER_TIMEOUTS, ...stripUndefined(raw.timeouts ?? {}) },
    limits: { maxRequestBody: raw.limits?.maxRequestBody },
    upstreams,
    routes,
  }
}

function stripUndefined<T extends object>(o: T): Partial<{ [K in keyof T]: Exclude<T[K], undefined> }> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<{
    [K in keyof T]: Exclude<T[K], undefined>
  }>
}

function healthCheck(raw: RawUpstream['healthCheck']): HealthCheckDef | null {
  if (raw === false) return null
  const given = stripUndefined(raw ?? {})
  const merged = {
    ...DEFAULT_HEALTH_CHECK,
    ...given,
    kind: given.path === undefined ? ('tcp' as const) : ('http' as const),
  }
  // Without a written timeout: the default (2s), or half the interval when that is shorter, so a probe that hangs
  // still leaves a pause before the next one (never 0ms, which would fail every probe).
  if (given.timeout === undefined)
    merged.timeout = Math.max(1, Math.min(DEFAULT_HEALTH_CHECK.timeout, Math.floor(merged.interval / 2)))
  return merged
}
