/**
 * One proxied HTTP request: dispatched to a target with undici's low-level handler API, so the response streams
 * straight into the client's ServerResponse with back-pressure in both directions and nothing buffered.
 *
 * Invariants:
 * - the client never gets a complete-looking response for an incomplete upstream body (we destroy the socket);
 * - a client that goes away aborts the upstream request;
 * - a request is retried at most once, only when nothing came back, it has no body and its method is idempotent
 *   (a stale pooled connection);
 * - errors before the response headers become a generic error page (see errors.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { RouteDef, UpstreamDef } from '../config/model.js'
import type { Target } from '../upstreams/registry.js'
import { upstreamProblem } from './errors.js'
import { responseHeaders } from './headers.js'
import type { IdleWatch, Watched } from './idle.js'
import { sendProblem } from './respond.js'

type Controller = Dispatcher.DispatchController

const RETRYABLE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED'])
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'PUT'])

class ProxyAbort extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
  }
}

export interface ExchangeInit {
  req: IncomingMessage
  res: ServerResponse
  route: RouteDef
  upstream: UpstreamDef
  target: Target
  dispatcher: Dispatcher
  path: string
  headers: string[]
  body: Readable | null
  requestId: string
  idle: IdleWatch
  rewriteLocation: ((location: string) => string) | undefined
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
  private readonly resumeBound = () => this.resume()

  constructor(init: ExchangeInit) {
    this.init = init
    this.idleTimeout = init.upstream.timeouts.idle
  }

  start(): void {
    const { init } = this
    init.target.inflight++
    init.target.requests++
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
        origin: init.target.url.origin,
        path: init.path,
        method: init.req.method as Dispatcher.HttpMethod,
        headers: init.headers,
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
    const { res, requestId, rewriteLocation, idle } = this.init
    if (this.clientGone || res.destroyed) {
      controller.abort(new ProxyAbort('client closed the connection', 'SB_CLIENT_ABORT'))
      return
    }
    this.responded = true
    try {
      res.writeHead(
        statusCode,
        responseHeaders(headers, requestId, rewriteLocation) as unknown as Record<string, string>,
      )
    } catch {
      this.responded = false
      controller.abort(new ProxyAbort('unusable response headers', 'SB_BAD_HEADERS'))
      return
    }
    const type = headers['content-type']
    const streaming = typeof type === 'string' && type.startsWith('text/event-stream')
    if (streaming || headers['content-length'] === undefined) res.flushHeaders()
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
    if (
      this.attempt === 0 &&
      RETRYABLE.has(code) &&
      this.init.body === null &&
      IDEMPOTENT.has(req.method ?? '')
    ) {
      this.attempt++
      this.controller = undefined
      this.init.target.requests-- // counted again by start()
      this.start()
      return
    }
    this.init.target.failures++
    const problem = upstreamProblem(err, this.init.upstream.name, this.init.upstream.timeouts)
    sendProblem(req, res, problem, {
      requestId: this.init.requestId,
      route: this.init.route.name,
      upstream: this.init.upstream.name,
    })
  }

  private release(): void {
    this.init.idle.untrack(this)
    this.init.target.inflight--
  }
}
