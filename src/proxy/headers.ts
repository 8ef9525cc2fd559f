/**
 * Header rules for both directions. Pure: inputs are raw header lists, outputs flat [name, value, ...] arrays.
 *
 * Request: hop-by-hop headers and every name the client's Connection lists are dropped (never Host or
 * Content-Length, which are set by the proxy); `TE` survives only as `trailers`; `Expect` is dropped (Node already
 * answered 100 Continue); headers with "_" or "." in the name are dropped (nginx drops "_" by default: both alias
 * dashes in CGI-style apps); client X-Forwarded-*, Forwarded and X-Real-IP are dropped unless the peer is trusted;
 * the proxy then sets X-Forwarded-For/-Proto/-Host/-Port and X-Request-Id.
 *
 * Response: hop-by-hop headers and every name the upstream's Connection lists are dropped; Location is rewritten by
 * the caller.
 */
import { randomUUID } from 'node:crypto'

const REQUEST_HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'expect',
  'host',
  'content-length',
])

const FORWARDING = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'forwarded',
  'x-real-ip',
  'x-forwarded-prefix',
])

const RESPONSE_HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
])

/** Names listed in Connection headers, lower-cased; Host, Content-Length and Transfer-Encoding are never honoured. */
export function connectionListed(values: readonly string[]): Set<string> {
  const out = new Set<string>()
  for (const value of values) {
    for (const token of value.split(',')) {
      const name = token.trim().toLowerCase()
      if (name !== '' && name !== 'host' && name !== 'content-length' && name !== 'transfer-encoding')
        out.add(name)
    }
  }
  return out
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@+=/-]{1,128}$/

export function requestIdFrom(value: string | undefined): string {
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : randomUUID()
}

export interface ForwardContext {
  clientIp: string
  trusted: boolean
  /** "http" or "https": how the request reached Switchboard. */
  proto: string
  /** The Host header as the client sent it (with port). */
  publicHost: string
  /** The listener's port. */
  port: number
  requestId: string
  /** Host header for the upstream. */
  upstreamHost: string
  /** Canonical Content-Length, when the request has one. */
  contentLength: string | undefined
  /** Stripped route prefix, sent as X-Forwarded-Prefix. */
  prefix: string | undefined
  /** Keep Upgrade/Connection (a WebSocket handshake). */
  upgrade: boolean
}

/** Builds the upstream request headers from the client's raw headers. */
export function requestHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  const connection: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length === 10 && (raw[i] as string).toLowerCase() === 'connection')
      connection.push(raw[i + 1] as string)
  }
  const listed = connection.length > 0 ? connectionListed(connection) : undefined
  const out: string[] = ['host', ctx.upstreamHost]
  const kept: Record<string, string> = Object.create(null)
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    if (name.charCodeAt(0) === 58) continue // HTTP/2 pseudo-headers (:authority, :path...)
    const lower = name.toLowerCase()
    if (REQUEST_HOP_BY_HOP.has(lower)) {
      if (lower === 'te' && value.trim().toLowerCase() === 'trailers') out.push('te', 'trailers')
      continue
    }
    if (listed?.has(lower) || lower.includes('_') || lower.includes('.') || lower === 'x-request-id') continue
    if (FORWARDING.has(lower)) {
      if (!ctx.trusted || lower === 'x-forwarded-prefix') continue
      if (lower === 'forwarded' || lower === 'x-real-ip') out.push(name, value)
      else kept[lower] = kept[lower] === undefined ? value : `${kept[lower]}, ${value}`
      continue
    }
    out.push(name, value)
  }
  if (ctx.contentLength !== undefined) out.push('content-length', ctx.contentLength)
  if (ctx.upgrade) out.push('connection', 'Upgrade', 'upgrade', 'websocket')
  const xff = kept['x-forwarded-for']
  out.push('x-forwarded-for', xff === undefined ? ctx.clientIp : `${xff}, ${ctx.clientIp}`)
  out.push('x-forwarded-proto', kept['x-forwarded-proto'] ?? ctx.proto)
  out.push('x-forwarded-host', kept['x-forwarded-host'] ?? ctx.publicHost)
  out.push('x-forwarded-port', kept['x-forwarded-port'] ?? String(ctx.port))
  if (ctx.prefix !== undefined) out.push('x-forwarded-prefix', ctx.prefix)
  out.push('x-request-id', ctx.requestId)
  return out
}

/**
 * Filters upstream response headers (as parsed by undici: lower-case names, arrays for repeats) into a flat list for
 * `res.writeHead`. `location` is passed through `rewriteLocation`.
 */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  requestId: string,
  rewriteLocation: ((location: string) => string) | undefined,
): string[] {
  const conn = headers.connection
  const listed = conn === undefined ? undefined : connectionListed(Array.isArray(conn) ? conn : [conn])
  const out: string[] = []
  for (const name in headers) {
    if (RESPONSE_HOP_BY_HOP.has(name) || listed?.has(name) || name === 'x-request-id') continue
    const value = headers[name]
    if (value === undefined) continue
    if (Array.isArray(value)) {
      for (const v of value) out.push(name, v)
    } else if (name === 'location' && rewriteLocation) {
      out.push(name, rewriteLocation(value))
    } else {
      out.push(name, value)
    }
  }
  out.push('x-request-id', requestId)
  return out
}

/** Same filter for raw header arrays (WebSocket handshake answers from node:http). */
export function filterRawResponseHeaders(raw: readonly string[], keepUpgrade: boolean): string[] {
  const connection: string[] = []
  for (let i = 0; i < raw.length; i += 2)
    if ((raw[i] as string).toLowerCase() === 'connection') connection.push(raw[i + 1] as string)
  const listed = connectionListed(connection)
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase()
    if (keepUpgrade && (lower === 'connection' || lower === 'upgrade')) {
      out.push(raw[i] as string, raw[i + 1] as string)
      continue
    }
    if (RESPONSE_HOP_BY_HOP.has(lower) || listed.has(lower)) continue
    out.push(raw[i] as string, raw[i + 1] as string)
  }
  return out
}

export function isForwardingHeader(lower: string): boolean {
  return FORWARDING.has(lower)
}
