/**
 * The HTTP request path: refuse what must not be forwarded, find the route, then redirect or forward.
 * Called with the raw Node request and response; Fastify has already hijacked the reply.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RouteDef } from '../config/model.js'
import type { TargetUrl } from '../config/values.js'
import { parseRequestHost, type RequestHost } from '../routing/host.js'
import { parseTarget } from '../routing/path.js'
import { rewriteLocation, upstreamPath } from '../routing/rewrite.js'
import type { Runtime } from '../server/runtime.js'
import { clientAddress } from '../server/runtime.js'
import type { Dispatchers } from '../upstreams/dispatchers.js'
import type { HealthMonitor } from '../upstreams/monitor.js'
import type { Pool, Target } from '../upstreams/registry.js'
import { BodyTooLarge, relayBody } from './body.js'
import { type ProxyProblem, problems } from './errors.js'
import { Exchange } from './exchange.js'
import { requestHeaders, requestIdFrom } from './headers.js'
import type { IdleWatch } from './idle.js'
import { sendProblem, sendRedirect } from './respond.js'

export interface RequestRecord {
  requestId: string
  method: string
  host: string
  path: string
  route: string | undefined
  upstream: string | undefined
  target: string | undefined
  status: number
  durationMs: number
  bytes: number
  error?: string | undefined
  proto?: string
}

export interface ProxyDeps {
  runtime(): Runtime
  dispatchers: Dispatchers
  idle: IdleWatch
  monitor: HealthMonitor
  /** "http" or "https" */
  proto: string
  log(record: RequestRecord): void
  /** Extra response headers for this listener (HSTS on TLS). */
  responseHeaders?: () => string[]
  /** TLS only: true when the certificate for `sni` does not cover `host` (answer 421). */
  misdirected?: ((sni: string, host: string) => boolean) | undefined
}

export interface Admission {
  requestId: string
  host: RequestHost
  path: string
  query: string
  route: RouteDef
}

/**
 * Checks shared by HTTP requests and WebSocket handshakes. Returns the problem to answer with, or the routed request.
 */
export function admit(req: IncomingMessage, runtime: Runtime, requestId: string): Admission | ProxyProblem {
  // HTTP/2 only as a real HTTP/2 stream; "GET / HTTP/2.0" typed on an HTTP/1 connection is refused.
  if (req.httpVersionMajor !== ('stream' in req ? 2 : 1))
    return problems.badRequest('Only HTTP/1.0 and HTTP/1.1 requests are accepted.')
  let hostCount = 0
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 4 && name.toLowerCase() === 'host') hostCount++
  }
  if (hostCount > 1) return problems.badRequest('More than one Host header.')
  const te = req.headers['transfer-encoding']
  if (te !== undefined && te.toLowerCase() !== 'chunked') return problems.unsupportedEncoding()
  const target = parseTarget(req.url ?? '')
  if (!target.ok) return problems.badRequest(`Bad request target: ${target.reason}.`)
  const hostHeader = target.authority ?? req.headers.host
  if (hostHeader === undefined && req.httpVersionMinor === 0 && target.authority === undefined) {
    // HTTP/1.0 without Host: only an any-host route can serve it.
    const route = runtime.table.match('', target.path)
    if (!route) return problems.noRoute('(none)')
    return { requestId, host: { name: '', port: undefined }, path: target.path, query: target.query, route }
  }
  const host = parseRequestHost(hostHeader)
  if (!host) return problems.badRequest('Missing or malformed Host header.')
  if (target.authority !== undefined && req.headers.host !== undefined) {
    // Absolute form: the authority picks the route (RFC 9112 3.2.2); a different Host would reach that upstream
    // claiming to be another site.
    const claimed = parseRequestHost(req.headers.host)
    const portsDiffer = claimed?.port !== undefined && host.port !== undefined && claimed.port !== host.port
    if (!claimed || claimed.name !== host.name || portsDiffer)
      return problems.badRequest('The request target and the Host header name different hosts.')
  }
  const route = runtime.table.match(host.name, target.path)
  if (!route) return problems.noRoute(host.name)
  return { requestId, host, path: target.path, query: target.query, route }
}

export function isProblem(x: Admission | ProxyProblem): x is ProxyProblem {
  return (x as ProxyProblem).status !== undefined
}

export function upstreamHostHeader(route: RouteDef, req: IncomingMessage, target: TargetUrl): string {
  if (route.preserveHost && req.headers.host !== undefined) return req.headers.host
  const defaultPort = target.protocol === 'https:' ? 443 : 80
  const name = target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname
  return target.port === defaultPort ? name : `${name}:${target.port}`
}

export function handleRequest(req: IncomingMessage, res: ServerResponse, deps: ProxyDeps): void {
  const started = performance.now()
  if (req.httpVersionMajor === 2 && req.headers.host === undefined) {
    const authority = req.headers[':authority']
    if (typeof authority === 'string') req.headers.host = authority
  }
  const runtime = deps.runtime()
  const requestId = requestIdFrom(req.headers['x-request-id'] as string | undefined)
  const method = req.method ?? 'GET'
  const record: RequestRecord = {
    requestId,
    method,
    host: req.headers.host ?? '',
    path: req.url ?? '',
    route: undefined,
    upstream: undefined,
    target: undefined,
    status: 0,
    durationMs: 0,
    bytes: 0,
    proto: deps.proto,
  }
  let exchange: Exchange | undefined
  res.once('close', () => {
    // writableEnded, not writableFinished: an HTTP/2 response reports finished once its stream is reset.
    if (exchange && !exchange.finished && !res.writableEnded) exchange.clientClosed()
    record.status =
      res.writableEnded || exchange?.finished ? res.statusCode : exchange?.responded ? res.statusCode : 499
    if (exchange?.clientGone) record.error = 'client closed the connection'
    else if (exchange?.error && exchange.responded) record.error = 'upstream response truncated'
    record.durationMs = Math.round((performance.now() - started) * 100) / 100
    record.bytes = exchange?.bytes ?? 0
    deps.log(record)
  })

  if (method === 'TRACE' || method === 'CONNECT') {
    sendProblem(
      req,
      res,
      problems.methodNotAllowed(method),
      { requestId },
      { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' },
    )
    return
  }
  const admitted = admit(req, runtime, requestId)
  if (isProblem(admitted)) {
    sendProblem(req, res, admitted, { requestId })
    return
  }
  const { route, host, path, query } = admitted
  const sni = (req.socket as { servername?: unknown }).servername
  if (deps.misdirected && typeof sni === 'string' && sni !== host.name && deps.misdirected(sni, host.name)) {
    sendProblem(req, res, problems.misdirected(host.name), { requestId })
    return
  }
  record.route = route.name
  record.path = path
  if (route.action.kind === 'redirect') {
    sendRedirect(res, route.action.code, `${route.action.location}${path}${query}`, requestId)
    return
  }
  const pool = runtime.pools.get(route.action.upstream)
  if (!pool) throw new Error(`route ${route.name} has no pool`) // impossible: validated
  const upstream = pool.def
  record.upstream = upstream.name
  const clientIp = clientAddress(req.socket.remoteAddress)
  const target = pool.pick(clientIp)
  if (!target) {
    sendProblem(
      req,
      res,
      noTarget(pool),
      { requestId, route: route.name, upstream: upstream.name },
      {
        'retry-after': String(pool.retryAfter()),
      },
    )
    return
  }
  record.target = target.url.url

  const limit = runtime.config.limits.maxRequestBody
  const cl = req.headers['content-length']
  const contentLength = cl === undefined ? undefined : String(Number(cl))
  if (limit !== undefined && contentLength !== undefined && Number(contentLength) > limit) {
    sendProblem(req, res, problems.bodyTooLarge(limit), {
      requestId,
      route: route.name,
      upstream: upstream.name,
    })
    return
  }
  const hasBody =
    contentLength !== undefined ? contentLength !== '0' : req.headers['transfer-encoding'] !== undefined
  const body = hasBody ? relayBody(req, limit) : null
  if (!hasBody) req.resume()
  const publicHost = req.headers.host ?? host.name
  const trusted = runtime.isTrusted(clientIp)
  const publicOrigin = `${deps.proto}://${publicHost}`
  const forwardedLength =
    hasBody || method === 'POST' || method === 'PUT' || method === 'PATCH' ? contentLength : undefined
  const prepare = (t: Target) => ({
    path: upstreamPath(route, t.url, path, query),
    headers: requestHeaders(req.rawHeaders, {
      clientIp,
      trusted,
      proto: deps.proto,
      publicHost,
      port: req.socket.localPort ?? 0,
      requestId,
      upstreamHost: upstreamHostHeader(route, req, t.url),
      contentLength: forwardedLength,
      prefix: route.stripPrefix && route.path !== '/' ? route.path : undefined,
      upgrade: false,
    }),
    rewriteLocation: (location: string) => rewriteLocation(location, route, t.url, publicOrigin),
  })
  exchange = new Exchange({
    req,
    res,
    route,
    upstream,
    pool,
    monitor: deps.monitor,
    clientIp,
    target,
    dispatcher: deps.dispatchers.agentFor(upstream),
    prepare,
    body,
    requestId,
    idle: deps.idle,
    extraHeaders: deps.responseHeaders?.() ?? [],
    onRetarget: (t) => {
      record.target = t.url.url
    },
  })
  if (body) {
    const ex = exchange
    body.once('error', (err) => {
      if (err instanceof BodyTooLarge && limit !== undefined && !res.headersSent) {
        ex.clientClosed()
        sendProblem(req, res, problems.bodyTooLarge(limit), {
          requestId,
          route: route.name,
          upstream: upstream.name,
        })
      }
    })
    const idleMs = runtime.config.timeouts.clientBody
    if (idleMs > 0) {
      req.setTimeout(idleMs, () => {
        ex.clientClosed()
        if (!res.headersSent)
          sendProblem(req, res, problems.clientTimeout(), {
            requestId,
            route: route.name,
            upstream: upstream.name,
          })
        if (req.httpVersionMajor === 2) res.destroy()
        else req.socket.destroySoon()
      })
      req.once('end', () => req.setTimeout(0))
    }
  }
  exchange.start()
}

/** 503 at once, without dialling, when health checks say no target of the upstream can answer. */
export function noTarget(pool: Pool): ProxyProblem {
  const n = pool.targets.length
  return {
    status: 503,
    code: 'SB_NO_HEALTHY_TARGET',
    detail: `Upstream "${pool.def.name}" has no healthy target (${n === 1 ? 'its only target is' : `all ${n} targets are`} down: ${pool.whyDown()}).`,
  }
}

export type { ProxyProblem }
