/**
 * Leaf-value parsers for routes.yaml: listen addresses, target URLs, host patterns, path prefixes, sizes, CIDRs.
 * Pure: each returns either a value or an error message written for the person editing the file.
 */
import { isIP } from 'node:net'

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string }
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value })
const fail = <T>(error: string): Parsed<T> => ({ ok: false, error })

export interface ListenAddress {
  host: string | undefined
  port: number
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined
  const n = Number(text)
  return n >= 1 && n <= 65535 ? n : undefined
}

/** `80`, `"8080"`, `"127.0.0.1:80"`, `"[::1]:80"`, `":80"` (all interfaces). Port 0 means "any free port". */
export function parseListen(input: number | string): Parsed<ListenAddress> {
  const text = String(input).trim()
  const bad = `invalid listen address "${text}": write a port (80) or "host:port" ("127.0.0.1:80", "[::1]:80")`
  if (/^\d+$/.test(text)) {
    if (text === '0') return ok({ host: undefined, port: 0 })
    const port = parsePort(text)
    return port === undefined ? fail(`port ${text} is out of range (1-65535)`) : ok({ host: undefined, port })
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d+)$/.exec(text)
  if (!m) return fail(bad)
  const host = m[1] ?? m[2] ?? ''
  const port = m[3] === '0' ? 0 : parsePort(m[3] as string)
  if (port === undefined) return fail(`port ${m[3]} is out of range (1-65535)`)
  if (m[1] !== undefined && isIP(host) !== 6) return fail(`"${host}" is not an IPv6 address`)
  if (host !== '' && m[1] === undefined && isIP(host) === 0 && !isHostName(host)) return fail(bad)
  return ok({ host: host === '' ? undefined : host, port })
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/

export function isHostName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false
  return host.split('.').every((label) => LABEL.test(label))
}

export interface TargetUrl {
  url: string
  protocol: 'http:' | 'https:'
  hostname: string
  port: number
  /** Base path prepended to every forwarded path, without a trailing slash ("" for none). */
  basePath: string
  origin: string
}

/** An upstream target: `http://host:port[/base]`, `https://...`, or a bare port meaning `http://127.0.0.1:PORT`. */
export function parseTarget(input: number | string): Parsed<TargetUrl> {
  if (typeof input === 'number' || /^\d+$/.test(String(input).trim())) {
    const port = parsePort(String(input).trim())
    if (port === undefined) return fail(`port ${input} is out of range (1-65535)`)
    return parseTarget(`http://127.0.0.1:${port}`)
  }
  const text = input.trim()
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    return fail(
      `invalid target "${text}": write a URL such as "http://127.0.0.1:3000" or a bare port such as 3000`,
    )
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return fail(`invalid target URL "${text}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return fail(`target "${text}" must use http:// or https://, not ${url.protocol}//`)
  }
  if (url.username !== '' || url.password !== '') return fail(`target "${text}" must not contain credentials`)
  if (url.search !== '' || url.hash !== '') return fail(`target "${text}" must not have a query or fragment`)
  if (url.hostname === '') return fail(`target "${text}" has no host`)
  const explicitPort = /^[a-z]+:\/\/(?:\[[^\]]*\]|[^/:]*):(\d+)/i.exec(text)
  if (explicitPort && parsePort(explicitPort[1] as string) === undefined) {
    return fail(`target "${text}": port ${explicitPort[1]} is out of range (1-65535)`)
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return ok({
    url: `${url.protocol}//${url.host}${basePath}`,
    protocol: url.protocol,
    hostname,
    port,
    basePath,
    origin: url.origin,
  })
}

export type HostPattern =
  | { kind: 'exact'; host: string }
  | { kind: 'wildcard'; suffix: string; labels: number }
  | { kind: 'any' }

/** `app.localhost`, `*.example.com`, `127.0.0.1`, `[::1]`, `*` (any host). Case-insensitive; trailing dot ignored. */
export function parseHostPattern(input: string): Parsed<HostPattern> {
  let host = input.trim().toLowerCase()
  if (host === '*' || host === '') return host === '*' ? ok({ kind: 'any' }) : fail('host must not be empty')
  if (host.startsWith('[') && host.endsWith(']')) {
    const inner = host.slice(1, -1)
    return isIP(inner) === 6
      ? ok({ kind: 'exact', host: `[${inner}]` })
      : fail(`"${input}" is not an IPv6 address`)
  }
  if (isIP(host) === 6) return ok({ kind: 'exact', host: `[${host}]` })
  if (/:\d*$/.test(host)) {
    return fail(`host "${input}" has a port: write the name only, routes match every listening port`)
  }
  if (host.endsWith('.')) host = host.slice(0, -1)
  if (host.includes('://') || host.includes('/')) {
    return fail(`host "${input}" must be a host name, not a URL (put the path in "path:")`)
  }
  if (host.startsWith('*.')) {
    const suffix = host.slice(2)
    if (suffix.includes('*'))
      return fail(`host "${input}": "*" is only allowed as the whole first label ("*.example.com")`)
    if (!isHostName(suffix)) return fail(`host "${input}" is not a valid wildcard host name`)
    return ok({ kind: 'wildcard', suffix, labels: suffix.split('.').length })
  }
  if (host.includes('*'))
    return fail(`host "${input}": "*" is only allowed as the whole first label ("*.example.com")`)
  if (isIP(host) === 4) return ok({ kind: 'exact', host })
  if (!isHostName(host)) return fail(`host "${input}" is not a valid host name`)
  return ok({ kind: 'exact', host })
}

export function formatHostPattern(p: HostPattern): string {
  return p.kind === 'any' ? '*' : p.kind === 'exact' ? p.host : `*.${p.suffix}`
}

/** A path prefix: starts with "/", no query, no dot-segments, no wildcard. Trailing slash dropped ("/api/" = "/api"). */
export function parsePathPrefix(input: string): Parsed<string> {
  const text = input.trim()
  if (!text.startsWith('/')) return fail(`path "${input}" must start with "/"`)
  if (text.includes('?') || text.includes('#'))
    return fail(`path "${input}" must not contain a query or fragment`)
  if (text.includes('*')) {
    return fail(
      `path "${input}": paths are prefixes, so "/api" already matches "/api/anything"; drop the "*"`,
    )
  }
  if (/[\s\\]/.test(text)) return fail(`path "${input}" must not contain spaces or backslashes`)
  if (text.split('/').some((s) => s === '.' || s === '..'))
    return fail(`path "${input}" must not contain "." or ".." segments`)
  if (/%(?![0-9A-Fa-f]{2})/.test(text)) return fail(`path "${input}" has a malformed %-escape`)
  const trimmed = decodeUnreserved(text).replace(/\/+$/, '')
  return ok(trimmed === '' ? '/' : trimmed)
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i
const SIZE_UNIT: Record<string, number> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
}

/** `1048576`, `"512KiB"`, `"10MB"`, `"1GiB"`. */
export function parseSize(input: number | string): Parsed<number> {
  if (typeof input === 'number')
    return Number.isSafeInteger(input) && input >= 0 ? ok(input) : fail(`invalid size ${input}`)
  const m = SIZE.exec(input.trim())
  if (!m) return fail(`invalid size "${input}": write bytes (1048576) or a unit: 512KiB, 10MB, 1GiB`)
  return ok(Math.floor(Number(m[1]) * (SIZE_UNIT[(m[2] ?? 'b').toLowerCase()] as number)))
}

export interface Cidr {
  address: string
  prefix: number
  family: 'ipv4' | 'ipv6'
}

/** `10.0.0.0/8`, `::1/128`, or a single address. */
export function parseCidr(input: string): Parsed<Cidr> {
  const [address = '', prefixText] = input.trim().split('/')
  const version = isIP(address)
  if (version === 0)
    return fail(`"${input}" is not an IP address or CIDR block (e.g. 10.0.0.0/8, 172.16.0.0/12)`)
  const max = version === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : Number(prefixText)
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  ) {
    return fail(`"${input}": prefix length must be 0-${max}`)
  }
  return ok({ address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' })
}

/** A redirect destination: an absolute http(s) URL without query or fragment; returned without trailing slash. */
export function parseRedirect(input: string): Parsed<string> {
  const text = input.trim()
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return fail(`invalid redirect "${text}": write an absolute URL such as "https://app.localhost"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return fail(`redirect "${text}" must be http:// or https://`)
  if (url.search !== '' || url.hash !== '') {
    return fail(`redirect "${text}" must not have a query or fragment (the request's own are kept)`)
  }
  return ok(`${url.origin}${url.pathname.replace(/\/+$/, '')}`)
}

const UNRESERVED_ESCAPE = /%(2[dDeE]|5[fF]|7[eE]|[46][1-9a-fA-F]|[57][0-9aA]|3[0-9])/g

/** Decodes %-escapes of unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~"); leaves every other escape alone. */
export function decodeUnreserved(path: string): string {
  return path.includes('%')
    ? path.replace(UNRESERVED_ESCAPE, (e) => String.fromCharCode(Number.parseInt(e.slice(1), 16)))
    : path
}

export type StatusRanges = readonly (readonly [number, number])[]

/** `200`, `"200-399"`, `[200, "300-302"]` -> [[200,200],[200,399]...]. */
export function parseStatusRanges(input: number | string | (number | string)[]): Parsed<StatusRanges> {
  const items = Array.isArray(input) ? input : [input]
  const out: [number, number][] = []
  for (const item of items) {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(String(item))
    const lo = m ? Number(m[1]) : Number.NaN
    const hi = m ? Number(m[2] ?? m[1]) : Number.NaN
    if (!m || lo < 100 || hi > 599 || lo > hi) {
      return fail(`invalid status "${item}": write a code (200), a range ("200-399") or a list of them`)
    }
    out.push([lo, hi])
  }
  return ok(out)
}

/** A health-check path: starts with "/", may carry a query. */
export function parseProbePath(input: string): Parsed<string> {
  const text = input.trim()
  if (!text.startsWith('/')) return fail(`health check path "${input}" must start with "/"`)
  if (/[\s#]/.test(text)) return fail(`health check path "${input}" must not contain spaces or "#"`)
  return ok(text)
}

/** A YAML map (not a list, not null): raw-document checks are defensive about wrong types. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
