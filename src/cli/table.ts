/** The resolved routing table as text, in the order requests are matched. Pure. */

import { formatDuration } from '../config/duration.js'
import type { Config } from '../config/model.js'
import { formatHostPattern } from '../config/values.js'
import { RouteTable } from '../routing/table.js'

export function renderRoutes(config: Config): string {
  const header = ['HOST', 'PATH', 'GOES TO', 'OPTIONS']
  const rows = new RouteTable(config.routes).ordered().map(({ host, route }) => {
    const opts: string[] = []
    if (route.stripPrefix && route.path !== '/') opts.push('stripPrefix')
    if (!route.preserveHost) opts.push('preserveHost: false')
    let to: string
    if (route.action.kind === 'redirect') {
      to = `redirect ${route.action.code} ${route.action.location}`
    } else {
      const u = config.upstreams.get(route.action.upstream)
      const targets = u ? u.targets.map((t) => t.url).join(', ') : '?'
      to = u?.inline ? targets : `${route.action.upstream} -> ${targets}`
    }
    return [
      formatHostPattern(host) === '*' ? '* (any)' : formatHostPattern(host),
      route.path,
      to,
      opts.join(', '),
    ]
  })
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] as string).length)))
  const lines = all.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd(),
  )
  lines.push('', ...renderUpstreams(config))
  const t = config.timeouts
  const listen = (['http', 'https'] as const)
    .map((k) => {
      const l = config.listen[k]
      return l ? `${k} ${l.host ?? '*'}:${l.port}` : ''
    })
    .filter(Boolean)
    .join(', ')
  lines.push(
    '',
    `listen ${listen || 'nothing'}; client timeouts: header ${formatDuration(t.clientHeader)}, body idle ${formatDuration(t.clientBody)}, keep-alive ${formatDuration(t.keepAlive)}${config.listen.https ? `, TLS handshake ${formatDuration(t.tlsHandshake)}` : ''}`,
  )
  return lines.join('\n')
}

function table(rows: string[][]): string[] {
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)))
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd(),
  )
}

export function renderUpstreams(config: Config): string[] {
  const rows = [['UPSTREAM', 'BALANCE', 'HEALTH CHECK', 'PASSIVE', 'TARGETS']]
  for (const u of config.upstreams.values()) {
    const h = u.healthCheck
    const check = h
      ? `${h.kind === 'tcp' ? 'tcp' : `GET ${h.path}`} every ${formatDuration(h.interval)}, rise ${h.rise}/fall ${h.fall}`
      : 'off'
    const passive = u.passive
      ? `${u.passive.failures} fails -> out ${formatDuration(u.passive.ejectFor)}`
      : 'off'
    const targets = u.targets
      .map((x) => (x.weight === 1 ? x.url : `${x.url} (weight ${x.weight})`))
      .join(', ')
    rows.push([u.name, u.balance, check, passive, targets])
  }
  return table(rows)
}
