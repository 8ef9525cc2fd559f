/**
 * One proxied HTTP request: dispatched to a target with undici's low-level handler API, so the response streams
 * straight into the client's ServerResponse with back-pressure in both directions and nothing buffered.
 *
 * Invariants:
 * - the client never gets a complete-looking response for an incomplete upstream body (we destroy the socket);
 * - a client that goes away aborts the upstream request;
 * - a connect failure (refused, unreachable, connect timeout: nothing reached the target) moves the request to
 *   another available target, whatever the method; each target is tried at most once;
 * - a failure after the request was sent (reset, closed) is retried only for idempotent methods without a body: on
 *   another target if there is one, else once on the same target (a stale pooled connection);
 * - response timeouts are not retried, so the worst case stays one response timeout;
 * - connect errors, resets and timeouts (and 5xx with passive.on5xx) are reported to passive health checks;
 * - errors before the response headers become a generic error page (see errors.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { RouteDef, UpstreamDef } from '../config/model.js'
import type { HealthMonitor } from '../upstreams/monitor.js'
import type { Pool, Target } from '../upstreams/registry.js'
import { upstreamProblem } from './errors.js'
import { responseHeaders } from './headers.js'
import type { IdleWatch, Watched } from './idle.js'
import { sendProblem } from './respond.js'

type Controller = Dispatcher.DispatchController

const RETRYABLE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED'])
/** Nothing reached the target: safe to try another one whatever the method. */
const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
])
/** What passive health checks count against a target. */
const TARGET_FAULTS = new Set([
  ...RETRYABLE,
  ...CONNECT_FAILURES,
  'UND_ERR_HEADERS_TIMEOUT',
  'SB_IDLE_TIMEOUT',
])

function faultText(code: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect timeout'
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'response timeout'
    case 'SB_IDLE_TIMEOUT':
      return 'idle timeout'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name did not resolve'
    default:
      return RETRYABLE.has(code) ? 'connection reset' : code
  }
}
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'PUT'])

class ProxyAbort extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
  }
}

/** What changes with the target: the path (base path), the headers (Host), the Location rewrite. */
export interface Prepared {
  path: string
  headers: string[]
  rewriteLocation: ((location: string) => string) | undefined
}

export interface ExchangeInit {
  req: IncomingMessage
  res: ServerResponse
  route: RouteDef
  upstream: UpstreamDef
  pool: Pool
  monitor: HealthMonitor
  clientIp: string
  target: Target
  dispatcher: Dispatcher
  prepare(target: Target): Prepared
  body: Readable | null
  requestId: string
  idle: IdleWatch
  /** Added to every relayed response (HSTS on TLS). */
  extraHeaders: string[]
  /** Called when the request moves to another target. */
  onRetarget?: ((target: Target) => void) | undefined
}

export class Exchange implements Dispatcher.DispatchHandler, Watched {
  readonly init: ExchangeInit
  controller: Controller | undefined
  attempt = 0
  bytes = 0
  lastActivity = 0
  idleTimeout: number
  paused = false
  responded = false
  finished = false
  clientGone = false
  error: ProxyAbort | Error | undefined
  target: Target
  private prepared: Prepared
  private readonly tried = new Set<Target>()
  private readonly resumeBound = () => this.resume()

  constructor(init: ExchangeInit) {
    this.init = init
    this.target = init.target
    this.prepared = init.prepare(init.target)
    this.idleTimeout = init.upstream.timeouts.idle
  }

  start(): void {
    this.tried.add(this.target)
    this.target.inflight++
    this.target.requests++
    try {
      this.dispatch()
    } catch (err) {
      // undici refuses some requests synchronously (e.g. a header value it will not send)
      this.onResponseError(undefined, err as Error)
    }
  }

  private dispatch(): void {
    const { init } = this
    init.dispatcher.dispatch(
      {
        origin: this.target.url.origin,
        path: this.prepared.path,
        method: init.req.method as Dispatcher.HttpMethod,
        headers: this.prepared.headers,
        body: init.body,
        headersTimeout: init.upstream.timeouts.response,
        bodyTimeout: 0,
        reset: false,
      },
      this,
    )
  }

  /** The client closed its side before the response was complete. */
  clientClosed(): void {
    this.clientGone = true
    this.init.idle.untrack(this)
    this.controller?.abort(new ProxyAbort('client closed the connection', 'SB_CLIENT_ABORT'))
  }

  onIdle(): void {
    this.controller?.abort(new ProxyAbort('upstream idle', 'SB_IDLE_TIMEOUT'))
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller
    if (this.clientGone) controller.abort(new ProxyAbort('client closed the connection', 'SB_CLIENT_ABORT'))
  }

  onResponseStart(
    controller: Controller,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return
    // RFC 9110 15: codes above 599 are invalid. A transfer coding other than chunked would be relayed still coded
    // while the Transfer-Encoding header (hop-by-hop) is dropped: the client could not decode it.
    const te = headers['transfer-encoding']
    if (statusCode > 599 || (te !== undefined && String(te).trim().toLowerCase() !== 'chunked')) {
      controller.abort(new ProxyAbort('invalid upstream response', 'SB_BAD_RESPONSE'))
      return
    }
    const { res, requestId, idle, monitor, upstream } = this.init
    const { rewriteLocation } = this.prepared
    if (statusCode >= 500 && upstream.passive?.on5xx) {
      monitor.passiveFailure(this.target, upstream.passive, `status ${statusCode}`, upstream.name)
    } else {
      monitor.passiveSuccess(this.target)
    }
    if (this.clientGone || res.destroyed) {
      controller.abort(new ProxyAbort('client closed the connection', 'SB_CLIENT_ABORT'))
      return
    }
    this.responded = true
    try {
      const out = responseHeaders(headers, requestId, rewriteLocation)
      if (this.init.extraHeaders.length > 0) out.push(...this.init.extraHeaders)
      res.writeHead(statusCode, out as unknown as Record<string, string>)
    } catch {
      this.responded = false
      controller.abort(new ProxyAbort('unusable response headers', 'SB_BAD_HEADERS'))
      return
    }
    const type = headers['content-type']
    const streaming = typeof type === 'string' && type.startsWith('text/event-stream')
    // HTTP/2 sends headers at writeHead; HTTP/1 buffers them until the first body write unless flushed.
    if ((streaming || headers['content-length'] === undefined) && typeof res.flushHeaders === 'function') {
      res.flushHeaders()
    }
    if (!streaming) idle.track(this)
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.bytes += chunk.length
    this.lastActivity = this.init.idle.now
    if (!this.init.res.write(chunk)) {
      this.paused = true
      controller.pause()
      this.init.res.once('drain', this.resumeBound)
    }
  }

  private resume(): void {
    this.paused = false
    this.controller?.resume()
  }

  onResponseEnd(): void {
    this.finished = true
    this.release()
    this.init.res.end()
  }

  onResponseError(_controller: Controller | undefined, err: Error): void {
    this.release()
    this.error = err
    const { req, res } = this.init
    if (this.clientGone) return
    if (this.responded) {
      // Truncate: the client must see an incomplete response, never a complete one.
      res.destroy()
      return
    }
    const code = (err as { code?: string }).code ?? ''
    const { monitor, upstream, pool } = this.init
    if (TARGET_FAULTS.has(code))
      monitor.passiveFailure(this.target, upstream.passive, faultText(code), upstream.name)
    const resend = RETRYABLE.has(code) && this.init.body === null && IDEMPOTENT.has(req.method ?? '')
    if (CONNECT_FAILURES.has(code) || resend) {
      const next = pool.pick(this.init.clientIp, this.tried)
      if (next) {
        this.retarget(next)
        return
      }
      if (resend && this.attempt === 0) {
        // one target (or all tried): a stale pooled connection is retried once on the same target
        this.attempt++
        this.controller = undefined
        this.target.requests-- // counted again by start()
        this.start()
        return
      }
    }
    const problem = upstreamProblem(err, this.init.upstream.name, this.init.upstream.timeouts)
    sendProblem(req, res, problem, {
      requestId: this.init.requestId,
      route: this.init.route.name,
      upstream: this.init.upstream.name,
    })
  }

  private retarget(next: Target): void {
    this.attempt++
    this.controller = undefined
    this.target = next
    this.prepared = this.init.prepare(next)
    this.init.onRetarget?.(next)
    this.start()
  }

  private release(): void {
    this.init.idle.untrack(this)
    this.target.inflight--
  }
}
