/**
 * Two listeners on one address (listen.http, listen.https, admin.listen) would pass validation and then fail at bind.
 * This finds them in the raw document, defaults included (listen.http: 80, admin.listen: 127.0.0.1:9901). Pure.
 *
 * Bind semantics (Linux, as Node binds: dual-stack, no SO_REUSEPORT): a port alone, ":80" and "[::]:80" take the
 * port on every address, IPv4 and IPv6; "0.0.0.0:80" on every IPv4 address; a specific address only itself. Two
 * different specific addresses share a port fine. A host name is resolved when binding, so it is only known to clash
 * with the same name or with every address.
 */
import { isIP } from 'node:net'
import type { ConfigIssue, IssuePath } from './issues.js'
import { DEFAULT_ADMIN_LISTEN, DEFAULT_HTTP_PORT } from './model.js'
import { isRecord, type ListenAddress, parseListen } from './values.js'

type Scope =
  | { kind: 'all' }
  | { kind: 'ipv4-all' }
  | { kind: 'ip'; family: 4 | 6; address: string }
  | { kind: 'name'; name: string }

function scope(host: string | undefined): Scope {
  if (host === undefined) return { kind: 'all' }
  const family = isIP(host)
  if (family === 6) {
    const address = new URL(`http://[${host}]/`).hostname.slice(1, -1)
    return address === '::' ? { kind: 'all' } : { kind: 'ip', family: 6, address }
  }
  if (family === 4)
    return host === '0.0.0.0' ? { kind: 'ipv4-all' } : { kind: 'ip', family: 4, address: host }
  return { kind: 'name', name: host.toLowerCase() }
}

/** "same": both take exactly the same addresses; "overlap": one takes some of the other's; false: no clash known. */
export function addressesClash(a: ListenAddress, b: ListenAddress): 'same' | 'overlap' | false {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false
  const x = scope(a.host)
  const y = scope(b.host)
  if (x.kind === 'all' || y.kind === 'all') return x.kind === y.kind ? 'same' : 'overlap'
  if (x.kind === 'ipv4-all' || y.kind === 'ipv4-all') {
    if (x.kind === y.kind) return 'same'
    const other = x.kind === 'ipv4-all' ? y : x
    return other.kind === 'ip' && other.family === 4 ? 'overlap' : false
  }
  if (x.kind === 'ip' && y.kind === 'ip') return x.address === y.address ? 'same' : false
  if (x.kind === 'name' && y.kind === 'name') return x.name === y.name ? 'same' : false
  return false
}

/** `port 8080 on every address`, `0.0.0.0:8080, every IPv4 address`, `127.0.0.1:8080`, `[::1]:8080`. */
export function describeAddress(a: ListenAddress): string {
  const s = scope(a.host)
  if (a.host === undefined) return `port ${a.port} on every address`
  const hostPort = isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
  if (s.kind === 'all') return `${hostPort}, every address`
  if (s.kind === 'ipv4-all') return `${hostPort}, every IPv4 address`
  return hostPort
}

type Key = 'listen.http' | 'listen.https' | 'admin.listen'

interface Listener {
  key: Key
  path: IssuePath
  address: ListenAddress
  /** false for a default the file does not write. */
  written: boolean
}

function parsed(value: unknown): ListenAddress | undefined {
  if (typeof value !== 'number' && typeof value !== 'string') return undefined
  const r = parseListen(value)
  return r.ok ? r.value : undefined
}

/** The listeners the file turns on, in key order, with their defaults; invalid values are the schema's to report. */
function listeners(raw: Record<string, unknown>): Listener[] {
  const out: Listener[] = []
  const listen = isRecord(raw.listen) ? raw.listen : {}
  if (listen.http === undefined)
    out.push({
      key: 'listen.http',
      path: ['listen', 'http'],
      address: { host: undefined, port: DEFAULT_HTTP_PORT },
      written: false,
    })
  for (const name of ['http', 'https'] as const) {
    const address = parsed(listen[name])
    if (address) out.push({ key: `listen.${name}`, path: ['listen', name], address, written: true })
  }
  if (raw.admin !== false) {
    const written = isRecord(raw.admin) ? raw.admin.listen : undefined
    const address = written === undefined ? { ...DEFAULT_ADMIN_LISTEN } : parsed(written)
    if (address)
      out.push({ key: 'admin.listen', path: ['admin', 'listen'], address, written: written !== undefined })
  }
  return out
}

export type Position = (path: IssuePath) => { line?: number; col?: number } | undefined

function before(a: Listener, b: Listener, position: Position): boolean {
  const p = position(a.path)
  const q = position(b.path)
  if (p?.line === undefined || q?.line === undefined) return false
  return p.line < q.line || (p.line === q.line && (p.col ?? 0) < (q.col ?? 0))
}

/**
 * One issue per listener that shares an address with an earlier one: at the one written later in the file (by
 * `position`; key order when positions are unknown), or at the written one when the other is a default.
 */
export function checkListeners(raw: unknown, position: Position = () => undefined): ConfigIssue[] {
  if (!isRecord(raw)) return []
  const all = listeners(raw)
  const issues: ConfigIssue[] = []
  const reported = new Set<Listener>()
  for (const [i, a] of all.entries()) {
    for (const b of all.slice(i + 1)) {
      const clash = addressesClash(a.address, b.address)
      if (!clash || (!a.written && !b.written)) continue
      // `at` is reported, `other` is named
      const [at, other] = !b.written || (a.written && before(b, a, position)) ? [a, b] : [b, a]
      if (reported.has(at)) continue
      reported.add(at)
      issues.push({ path: at.path, message: message(at, other, clash) })
    }
  }
  return issues
}

const SHARE = 'two listeners cannot share one address'

function message(at: Listener, other: Listener, clash: 'same' | 'overlap'): string {
  const here = describeAddress(at.address)
  if (other.written) {
    return clash === 'same'
      ? `${here} is also ${other.key}; ${SHARE}`
      : `${here} overlaps ${other.key} (${describeAddress(other.address)}); ${SHARE}`
  }
  if (other.key === 'admin.listen') {
    const fix = 'set admin.listen to another address, or admin: false to turn the admin API off'
    const admin = describeAddress(other.address)
    return clash === 'same'
      ? `${here} is the admin API's default address; ${SHARE}: ${fix}`
      : `${here} overlaps ${admin}, the admin API's default address; ${SHARE}: ${fix}`
  }
  const fix = 'set listen.http to another port, or listen.http: false'
  return clash === 'same'
    ? `${here} is also listen.http's default; ${SHARE}: ${fix}`
    : `${here} overlaps listen.http's default (${describeAddress(other.address)}); ${SHARE}: ${fix}`
}
