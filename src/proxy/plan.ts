/**
 * The forwarding plan, shared by HTTP requests and WebSocket handshakes: from what arrived (`Inbound`) to a
 * Decision: refuse with a catalogue problem, redirect, or forward along a ForwardPlan (route -> pool -> target ->
 * upstream path and headers). No sockets, no timers: the HTTP exchange and the WebSocket tunnel carry a plan out.
 *
 * Order of checks: method, protocol version, Host count, Transfer-Encoding, the WebSocket handshake (upgrades),
 * request target, Host, the HTTP -> HTTPS redirect, route match, 421, redirect routes, body limit, target pick.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { RouteDef, UpstreamDef } from '../config/model.js'
import type { TargetUrl } from '../config/values.js'
import { parseRequestHost, type RequestHost } from '../routing/host.js'
import { parseTarget } from '../routing/path.js'
import { rewriteLocation, upstreamPath } from '../routing/rewrite.js'
import type { Pool, Target } from '../upstreams/registry.js'
import { type ProxyProblem, problems } from './errors.js'
import { requestHeaders } from './headers.js'
import type { Runtime } from './runtime.js'

/** What arrived, read once from the Node request (see `inbound.ts`). */
export interface Inbound {
  method: string
  /** The request target as sent. */
  url: string
  http2: boolean
  versionMajor: number
  versionMinor: number
  rawHeaders: readonly string[]
  headers: IncomingHttpHeaders
  /** The Host header, or HTTP/2's :authority. */
  host: string | undefined
  clientIp: string
  localPort: number
  proto: 'http' | 'https'
  /** TLS server name the connection was opened with. */
  sni: string | undefined
  requestId: string
  /** A WebSocket handshake (served by the tunnel, not the HTTP exchange). */
  upgrade: boolean
}

/** The running table and the questions only the listener can answer (ProxyDeps is one). */
export interface PlanContext {
  /** Read once per request: a reload during the request does not affect it. */
  runtime(): Runtime
  /** TLS only: true when the certificate for `sni` does not cover `host` (421). */
  misdirected?: ((sni: string, host: string) => boolean) | undefined
  /** Plain HTTP only: the HTTPS port to send `host` to, or undefined to serve it here. */
  secureRedirect?: ((host: string) => number | undefined) | undefined
}

export type Decision =
  | {
      kind: 'refuse'
      problem: ProxyProblem
      route?: string | undefined
      upstream?: string | undefined
      headers?: Record<string, string>
    }
  | { kind: 'redirect'; status: number; location: string; route?: string | undefined }
  | { kind: 'forward'; plan: ForwardPlan }

/** What changes with the target: where to send, which headers, how to rewrite a Location. */
export interface UpstreamRequest {
  path: string
  headers: string[]
  rewriteLocation: (location: string) => string
}

export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'
const SENDS_LENGTH = new Set(['POST', 'PUT', 'PATCH'])
const WS_KEY = /^[A-Za-z0-9+/]{22}==$/

export class ForwardPlan {
  readonly tried = new Set<Target>()
  target: Target
  /** Canonical Content-Length of the request body, if it has one. */
  readonly contentLength: string | undefined
  readonly hasBody: boolean

  constructor(
    readonly inbound: Inbound,
    readonly runtime: Runtime,
    readonly route: RouteDef,
    readonly pool: Pool,
    readonly host: RequestHost,
    readonly path: string,
    readonly query: string,
    first: Target,
  ) {
    this.target = first
    this.tried.add(first)
    const cl = inbound.headers['content-length']
    this.contentLength = cl === undefined ? undefined : String(Number(cl))
    this.hasBody =
      !inbound.upgrade &&
      (this.contentLength !== undefined
        ? this.contentLength !== '0'
        : inbound.headers['transfer-encoding'] !== undefined)
  }

  get upstream(): UpstreamDef {
    return this.pool.def
  }

  get bodyLimit(): number | undefined {
    return this.runtime.config.limits.maxRequestBody
  }

  /** Failover: the next available target not tried yet for this request (it becomes the current one). */
  next(): Target | undefined {
    const t = this.pool.pick(this.inbound.clientIp, this.tried)
    if (t) {
      this.tried.add(t)
      this.target = t
    }
    return t
  }

  /** The request for `target` (the current one by default). */
  request(target: Target = this.target): UpstreamRequest {
    const { inbound, route } = this
    const publicHost = inbound.host ?? this.host.name
    const method = inbound.method
    const publicOrigin = `${inbound.proto}://${publicHost}`
    return {
      path: upstreamPath(route, target.url, this.path, this.query),
      headers: requestHeaders(inbound.rawHeaders, {
        clientIp: inbound.clientIp,
        trusted: this.runtime.isTrusted(inbound.clientIp),
        proto: inbound.proto,
        publicHost,
        port: inbound.localPort,
        requestId: inbound.requestId,
        upstreamHost: upstreamHostHeader(route, inbound.host, target.url),
        contentLength: this.hasBody || SENDS_LENGTH.has(method) ? this.contentLength : undefined,
        prefix: route.stripPrefix && route.path !== '/' ? route.path : undefined,
        upgrade: inbound.upgrade,
      }),
      rewriteLocation: (location: string) => rewriteLocation(location, route, target.url, publicOrigin),
    }
  }
}

export function upstreamHostHeader(
  route: RouteDef,
  publicHost: string | undefined,
  target: TargetUrl,
): string {
  if (route.preserveHost && publicHost !== undefined) return publicHost
  const defaultPort = target.protocol === 'https:' ? 443 : 80
  const name = target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname
  return target.port === defaultPort ? name : `${name}:${target.port}`
}

const refuse = (
  problem: ProxyProblem,
  extra: Partial<Extract<Decision, { kind: 'refuse' }>> = {},
): Decision => ({
  kind: 'refuse',
  problem,
  ...extra,
})

export function decide(inbound: Inbound, ctx: PlanContext): Decision {
  const { method } = inbound
  if (method === 'TRACE' || method === 'CONNECT')
    return refuse(problems.methodNotAllowed(method), { headers: { allow: ALLOWED_METHODS } })
  // HTTP/2 only as a real HTTP/2 stream; "GET / HTTP/2.0" typed on an HTTP/1 connection is refused.
  if (inbound.versionMajor !== (inbound.http2 ? 2 : 1))
    return refuse(problems.badRequest('Only HTTP/1.0 and HTTP/1.1 requests are accepted.'))
  if (countHeader(inbound.rawHeaders, 'host') > 1)
    return refuse(problems.badRequest('More than one Host header.'))
  const te = inbound.headers['transfer-encoding']
  if (te !== undefined && te.toLowerCase() !== 'chunked') return refuse(problems.unsupportedEncoding())
  if (inbound.upgrade) {
    const bad = badHandshake(inbound)
    if (bad) return refuse(bad, bad.status === 426 ? { headers: { 'sec-websocket-version': '13' } } : {})
  }
  const target = parseTarget(inbound.url)
  if (!target.ok) return refuse(problems.badRequest(`Bad request target: ${target.reason}.`))
  const runtime = ctx.runtime()
  let host: RequestHost
  const hostHeader = target.authority ?? inbound.host
  if (hostHeader === undefined && inbound.versionMinor === 0 && !inbound.http2) {
    // HTTP/1.0 without Host: only an any-host route can serve it.
    host = { name: '', port: undefined }
  } else {
    const parsed = parseRequestHost(hostHeader)
    if (!parsed) return refuse(problems.badRequest('Missing or malformed Host header.'))
    if (target.authority !== undefined && inbound.host !== undefined) {
      // Absolute form: the authority picks the route (RFC 9112 3.2.2); a different Host would reach that upstream
      // claiming to be another site.
      const claimed = parseRequestHost(inbound.host)
      const portsDiffer =
        claimed?.port !== undefined && parsed.port !== undefined && claimed.port !== parsed.port
      if (!claimed || claimed.name !== parsed.name || portsDiffer)
        return refuse(problems.badRequest('The request target and the Host header name different hosts.'))
    }
    host = parsed
  }
  if (!inbound.upgrade && ctx.secureRedirect && host.name !== '' && inbound.url.startsWith('/')) {
    const port = inbound.url.startsWith('/.well-known/') ? undefined : ctx.secureRedirect(host.name)
    if (port !== undefined) {
      const authority = port === 443 ? host.name : `${host.name}:${port}`
      return { kind: 'redirect', status: 308, location: `https://${authority}${inbound.url}` }
    }
  }
  const route = runtime.table.match(host.name, target.path)
  if (!route) return refuse(problems.noRoute(host.name === '' ? '(none)' : host.name))
  if (
    ctx.misdirected &&
    inbound.sni !== undefined &&
    inbound.sni !== host.name &&
    ctx.misdirected(inbound.sni, host.name)
  )
    return refuse(problems.misdirected(host.name))
  if (route.action.kind === 'redirect')
    return {
      kind: 'redirect',
      status: route.action.code,
      location: `${route.action.location}${target.path}${target.query}`,
      route: route.name,
    }
  const pool = runtime.pools.get(route.action.upstream)
  if (!pool) throw new Error(`route ${route.name} has no pool`) // impossible: validated
  const names = { route: route.name, upstream: pool.def.name }
  const limit = runtime.config.limits.maxRequestBody
  const cl = inbound.headers['content-length']
  if (limit !== undefined && cl !== undefined && Number(cl) > limit)
    return refuse(problems.bodyTooLarge(limit), names)
  const first = pool.pick(inbound.clientIp)
  if (!first)
    return refuse(problems.noHealthyTarget(pool.def.name, pool.targets.length, pool.whyDown()), {
      ...names,
      headers: { 'retry-after': String(pool.retryAfter()) },
    })
  return {
    kind: 'forward',
    plan: new ForwardPlan(inbound, runtime, route, pool, host, target.path, target.query, first),
  }
}

function countHeader(raw: readonly string[], lower: string): number {
  let n = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === lower.length && name.toLowerCase() === lower) n++
  }
  return n
}

function badHandshake(inbound: Inbound): ProxyProblem | undefined {
  if (inbound.method !== 'GET') return problems.badRequest('A WebSocket handshake must use GET.')
  if (countHeader(inbound.rawHeaders, 'upgrade') !== 1)
    return problems.badRequest('Exactly one Upgrade header is allowed.')
  const key = inbound.headers['sec-websocket-key']
  if (typeof key !== 'string' || !WS_KEY.test(key.trim()))
    return problems.badRequest('Missing or invalid Sec-WebSocket-Key.')
  if (inbound.headers['sec-websocket-version'] !== '13') return problems.webSocketVersion()
  return undefined
}
