/**
 * One proxied HTTP request, carried out along its ForwardPlan: dispatched to a target with undici's low-level
 * handler API, so the response streams straight into the client's ServerResponse with back-pressure in both
 * directions and nothing buffered.
 *
 * Invariants:
 * - the client never gets a complete-looking response for an incomplete upstream body (we destroy the socket);
 * - a 204 or 304 reaches the client without a body, whatever the upstream sent after its headers;
 * - a client that goes away aborts the upstream request;
 * - a fault before anything reached the target (refused, unreachable, connect timeout) moves the request to
 *   another available target, whatever the method; each target is tried at most once;
 * - a reset after the request was sent is retried only for idempotent methods without a body: on another target if
 *   there is one, else once on the same target (a stale pooled connection);
 * - response timeouts are not retried, so the worst case stays one response timeout;
 * - every outcome is reported to passive health (`Outcomes`), classified by `faults.ts`;
 * - errors before the response headers become a catalogue page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { ABORT, classify, ProxyAbort } from '../upstreams/faults.js'
import type { Target } from '../upstreams/registry.js'
import type { Outcomes } from '../upstreams/state.js'
import { problems } from './errors.js'
import { responseHeaders } from './headers.js'
import type { IdleWatch, Watched } from './idle.js'
import type { ForwardPlan, UpstreamRequest } from './plan.js'
import { sendProblem } from './respond.js'

type Controller = Dispatcher.DispatchController

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'PUT'])

export interface ExchangeInit {
  req: IncomingMessage
  res: ServerResponse
  plan: ForwardPlan
  outcomes: Outcomes
  dispatcher: Dispatcher
  body: Readable | null
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
  error: Error | undefined
  /** What the log should say about an answer that is not a plain success (set when it is known). */
  note: string | undefined
  /** Bytes the upstream sent after the headers of a 204 or 304 (never relayed). */
  stray = 0
  private bodiless = false
  private released = true
  private prepared: UpstreamRequest
  private readonly resumeBound = () => this.resume()

  constructor(init: ExchangeInit) {
    this.init = init
    this.prepared = init.plan.request()
    this.idleTimeout = init.plan.upstream.timeouts.idle
  }

  get target(): Target {
    return this.init.plan.target
  }

  start(): void {
    this.released = false
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
        headersTimeout: init.plan.upstream.timeouts.response,
        bodyTimeout: 0,
        reset: false,
      },
      this,
    )
  }

  /**
   * The client response closed (finished, or cut by either side): aborts the upstream request if it is still going,
   * and says what the access log should record.
   */
  closed(): { status: number; bytes: number; error: string | undefined } {
    const { res } = this.init
    // writableEnded, not writableFinished: an HTTP/2 response reports finished once its stream is reset.
    if (!this.finished && !res.writableEnded) this.clientClosed()
    return {
      status: res.writableEnded || this.finished || this.responded ? res.statusCode : 499,
      bytes: this.bytes,
      error: this.note ?? (this.clientGone ? 'client closed the connection' : undefined),
    }
  }

  /** The client closed its side before the response was complete. */
  clientClosed(): void {
    this.clientGone = true
    this.init.idle.untrack(this)
    this.controller?.abort(new ProxyAbort('client closed the connection', ABORT.client))
  }

  onIdle(): void {
    this.controller?.abort(new ProxyAbort('upstream idle', ABORT.idle))
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller
    if (this.clientGone) controller.abort(new ProxyAbort('client closed the connection', ABORT.client))
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
      controller.abort(new ProxyAbort('invalid upstream response', ABORT.badResponse))
      return
    }
    const { res, plan, idle, outcomes } = this.init
    const upstream = plan.upstream
    if (statusCode >= 500 && upstream.passive?.on5xx) {
      outcomes.failed(this.target, upstream, `status ${statusCode}`)
    } else {
      outcomes.succeeded(this.target)
    }
    if (this.clientGone || res.destroyed) {
      controller.abort(new ProxyAbort('client closed the connection', ABORT.client))
      return
    }
    // RFC 9110 6.4.1: a 204 or 304 ends at its headers. undici discards the connection when such an answer comes
    // with a Content-Length (whatever follows may be a body or the next response): the client must not wait.
    this.bodiless = statusCode === 204 || statusCode === 304
    const length = headers['content-length']
    if (this.bodiless && length !== undefined && length !== '0')
      this.note = `upstream sent Content-Length: ${length} with a ${statusCode}; answered without a body, upstream connection discarded`
    this.responded = true
    try {
      const out = responseHeaders(headers, plan.inbound.requestId, this.prepared.rewriteLocation)
      if (statusCode === 204) dropHeader(out, 'content-length') // RFC 9110 8.6: never on a 204
      if (this.init.extraHeaders.length > 0) out.push(...this.init.extraHeaders)
      res.writeHead(statusCode, out as unknown as Record<string, string>)
    } catch {
      this.responded = false
      this.bodiless = false
      controller.abort(new ProxyAbort('unusable response headers', ABORT.badHeaders))
      return
    }
    if (this.bodiless) {
      this.finished = true
      this.release()
      res.end()
      return
    }
    const type = headers['content-type']
    const streaming = typeof type === 'string' && type.startsWith('text/event-stream')
    // HTTP/2 sends headers at writeHead; HTTP/1 buffers them until the first body write unless flushed.
    if ((streaming || length === undefined) && typeof res.flushHeaders === 'function') res.flushHeaders()
    if (!streaming) idle.track(this)
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.bodiless) {
      this.stray += chunk.length
      return
    }
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
    if (this.bodiless) return
    this.finished = true
    this.release()
    this.init.res.end()
  }

  onResponseError(_controller: Controller | undefined, err: Error): void {
    this.release()
    if (this.bodiless) return // already answered in full; undici has dropped the connection
    this.error = err
    const { req, res, plan, outcomes } = this.init
    if (this.clientGone) return
    if (this.responded) {
      // Truncate: the client must see an incomplete response, never a complete one.
      this.note = 'upstream response truncated'
      res.destroy()
      return
    }
    const fault = classify(err)
    const upstream = plan.upstream
    if (fault.targetFault) outcomes.failed(this.target, upstream, fault.text)
    const resend = fault.resendable && this.init.body === null && IDEMPOTENT.has(req.method ?? '')
    if (fault.beforeSend || resend) {
      const next = plan.next()
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
    this.note = fault.text
    const problem = problems.fault(fault, upstream.name, upstream.timeouts)
    this.bytes = sendProblem(req, res, problem, {
      requestId: plan.inbound.requestId,
      route: plan.route.name,
      upstream: upstream.name,
    })
  }

  private retarget(next: Target): void {
    this.attempt++
    this.controller = undefined
    this.prepared = this.init.plan.request(next)
    this.init.onRetarget?.(next)
    this.start()
  }

  private release(): void {
    if (this.released) return
    this.released = true
    this.init.idle.untrack(this)
    this.target.inflight--
  }
}

function dropHeader(flat: string[], lower: string): void {
  for (let i = flat.length - 2; i >= 0; i -= 2)
    if ((flat[i] as string).toLowerCase() === lower) flat.splice(i, 2)
}
