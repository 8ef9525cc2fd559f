/**
 * Cross-reference checks that a per-field schema cannot express. They run on the raw document (after env
 * substitution) so they report alongside schema errors, and they are defensive about wrong types.
 */
import { formatDuration, parseDuration } from './duration.js'
import type { ConfigIssue, IssuePath } from './issues.js'
import { checkListeners, type Position } from './listeners.js'
import { DEFAULT_HEALTH_CHECK } from './model.js'
import { didYouMean } from './suggest.js'
import { formatHostPattern, isRecord, parseHostPattern, parsePathPrefix } from './values.js'

const UPSTREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const ACTIONS = ['upstream', 'to', 'redirect'] as const

/** `position` tells where a path is written (for reporting the later of two clashing listeners). */
export function checkSemantics(raw: unknown, position?: Position): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  if (!isRecord(raw)) return issues
  issues.push(...checkListeners(raw, position))
  const upstreams = isRecord(raw.upstreams) ? Object.keys(raw.upstreams) : []
  for (const name of upstreams) {
    const u = (raw.upstreams as Record<string, unknown>)[name]
    const hc = isRecord(u) && isRecord(u.healthCheck) ? u.healthCheck : undefined
    if (hc) issues.push(...checkProbeTiming(['upstreams', name, 'healthCheck'], hc))
    if (!UPSTREAM_NAME.test(name)) {
      issues.push({
        path: ['upstreams', name],
        atKey: true,
        message: `invalid upstream name "${name}": use letters, digits, ".", "_" and "-"`,
      })
    }
  }
  if (isRecord(raw.admin) && raw.admin.token === undefined && raw.admin.allowRemote !== true) {
    const listen = raw.admin.listen
    const host =
      typeof listen === 'string' && listen.includes(':')
        ? listen.slice(0, listen.lastIndexOf(':'))
        : undefined
    const loopback = host !== undefined && /^(127\.|localhost$|\[::1\]$|::1$)/.test(host)
    if (listen !== undefined && !loopback) {
      issues.push({
        path: ['admin', 'listen'],
        message:
          'the admin API would listen beyond loopback without a token: set admin.token (e.g. "${ADMIN_TOKEN}") or admin.allowRemote: true',
      })
    }
  }
  if (!Array.isArray(raw.routes)) return issues
  const seen = new Map<string, number>()
  raw.routes.forEach((route: unknown, index: number) => {
    if (!isRecord(route)) return
    const present = ACTIONS.filter((k) => route[k] !== undefined)
    if (present.length === 0) {
      issues.push({ path: ['routes', index], message: 'a route needs one of "upstream", "to" or "redirect"' })
    } else if (present.length > 1) {
      issues.push({
        path: ['routes', index, present[1] as string],
        atKey: true,
        message: `a route takes only one of "upstream", "to" and "redirect" (found ${present.map((p) => `"${p}"`).join(' and ')})`,
      })
    }
    if (typeof route.upstream === 'string' && !upstreams.includes(route.upstream)) {
      const hint =
        upstreams.length === 0 ? ' (there is no "upstreams:" section)' : didYouMean(route.upstream, upstreams)
      issues.push({
        path: ['routes', index, 'upstream'],
        message: `unknown upstream "${route.upstream}"${hint}`,
      })
    }
    if (route.stripPrefix === true && route.redirect !== undefined) {
      issues.push({
        path: ['routes', index, 'stripPrefix'],
        atKey: true,
        message: 'stripPrefix has no effect on a redirect route; remove it',
      })
    }
    if (route.redirectCode !== undefined && route.redirect === undefined) {
      issues.push({
        path: ['routes', index, 'redirectCode'],
        atKey: true,
        message: 'redirectCode is only valid on a route with "redirect"',
      })
    }
    for (const key of routeKeys(route)) {
      const first = seen.get(key)
      if (first === undefined) seen.set(key, index)
      else {
        const [host, path] = key.split('\u0000') as [string, string]
        issues.push({
          path: ['routes', index],
          message: `duplicate route: routes[${first}] already matches host "${host}" and path "${path}"`,
        })
      }
    }
  })
  return issues
}

/**
 * A probe timeout may equal the interval (Docker's own HEALTHCHECK defaults are 30s and 30s): probes of one target
 * run one after another, so they never overlap. A longer timeout is refused: a probe could still be running when the
 * next one is due. A zero interval would probe in a busy loop, a zero timeout would fail every probe.
 */
function checkProbeTiming(at: IssuePath, hc: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const interval = typeof hc.interval === 'string' ? parseDuration(hc.interval) : undefined
  const timeout = typeof hc.timeout === 'string' ? parseDuration(hc.timeout) : undefined
  if (interval === 0)
    issues.push({
      path: [...at, 'interval'],
      message: `an interval of ${hc.interval} would probe without a pause; write a positive duration such as "5s"`,
    })
  if (timeout === 0)
    issues.push({
      path: [...at, 'timeout'],
      message: `a probe timeout of ${hc.timeout} would fail every probe; write a positive duration such as "2s"`,
    })
  if (timeout === undefined || interval === 0) return issues
  if (hc.interval !== undefined && interval === undefined) return issues // an invalid interval is reported by the schema
  const effective = interval ?? DEFAULT_HEALTH_CHECK.interval
  if (timeout > effective) {
    const shown = interval === undefined ? `${formatDuration(effective)}, the default` : String(hc.interval)
    issues.push({
      path: [...at, 'timeout'],
      message: `a probe timeout (${hc.timeout}) longer than the interval (${shown}) is refused: a probe could still be running when the next one is due`,
    })
  }
  return issues
}

function routeKeys(route: Record<string, unknown>): string[] {
  const path =
    typeof route.path === 'string' ? parsePathPrefix(route.path) : { ok: true as const, value: '/' }
  if (route.path !== undefined && (typeof route.path !== 'string' || !path.ok)) return []
  if (!path.ok) return []
  const hosts = route.host === undefined ? ['*'] : Array.isArray(route.host) ? route.host : [route.host]
  const keys: string[] = []
  for (const host of hosts) {
    if (typeof host !== 'string') continue
    const pattern = parseHostPattern(host)
    if (pattern.ok) keys.push(`${formatHostPattern(pattern.value)}\u0000${path.value}`)
  }
  return [...new Set(keys)]
}
