/**
 * The HTTP request path: read the request, decide (plan.ts), then answer, redirect or forward. Called with the raw
 * Node request and response; Fastify has already hijacked the reply.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatchers } from '../upstreams/dispatchers.js'
import type { Outcomes } from '../upstreams/state.js'
import { BodyTooLarge, relayBody } from './body.js'
import { type ProxyProblem, problems } from './errors.js'
import { Exchange } from './exchange.js'
import type { IdleWatch } from './idle.js'
import { readInbound } from './inbound.js'
import { decide, type ForwardPlan, type PlanContext } from './plan.js'
import { elapsedMs, newRecord, noteDecision, type RequestRecord } from './record.js'
import { sendProblem, sendRedirect } from './respond.js'

/** What the proxy needs from the listener that calls it. */
export interface ProxyDeps extends PlanContext {
  dispatchers: Dispatchers
  outcomes: Outcomes
  idle: IdleWatch
  proto: 'http' | 'https'
  log(record: RequestRecord): void
  /** Extra response headers for this listener (HSTS on TLS). */
  responseHeaders?: () => string[]
  /** True once the listener is shutting down: new requests on open connections get 503. */
  closing?: () => boolean
}

export function handleRequest(req: IncomingMessage, res: ServerResponse, deps: ProxyDeps): void {
  const started = performance.now()
  const inbound = readInbound(req, deps.proto, false)
  const record = newRecord(inbound)
  let exchange: Exchange | undefined
  res.once('close', () => {
    if (exchange) Object.assign(record, exchange.closed())
    else record.status = res.writableEnded ? res.statusCode : 499
    record.durationMs = elapsedMs(started)
    deps.log(record)
  })
  if (deps.closing?.()) {
    record.code = 'SB_SHUTTING_DOWN'
    record.bytes = sendProblem(
      req,
      res,
      problems.shuttingDown(),
      { requestId: inbound.requestId },
      { connection: 'close' },
    )
    return
  }
  const decision = decide(inbound, deps)
  noteDecision(record, decision)
  switch (decision.kind) {
    case 'refuse':
      record.bytes = sendProblem(
        req,
        res,
        decision.problem,
        { requestId: inbound.requestId, route: decision.route, upstream: decision.upstream },
        decision.headers,
      )
      return
    case 'redirect':
      sendRedirect(res, decision.status, decision.location, inbound.requestId)
      return
    case 'forward':
      exchange = forward(req, res, decision.plan, deps, record)
  }
}

/** Streams the body (within the limit and the client body timeout) and starts the exchange. */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  plan: ForwardPlan,
  deps: ProxyDeps,
  record: RequestRecord,
): Exchange {
  const limit = plan.bodyLimit
  const body = plan.hasBody ? relayBody(req, limit) : null
  if (!body) req.resume()
  const exchange = new Exchange({
    req,
    res,
    plan,
    outcomes: deps.outcomes,
    dispatcher: deps.dispatchers.agentFor(plan.upstream),
    body,
    idle: deps.idle,
    extraHeaders: deps.responseHeaders?.() ?? [],
    onRetarget: (t) => {
      record.target = t.url.url
    },
  })
  if (body) {
    const ctx = { requestId: plan.inbound.requestId, route: plan.route.name, upstream: plan.upstream.name }
    const refuse = (problem: ProxyProblem, note: string) => {
      exchange.clientClosed()
      exchange.note = note
      record.code = problem.code
      if (!res.headersSent) exchange.bytes = sendProblem(req, res, problem, ctx)
    }
    body.once('error', (err) => {
      if (err instanceof BodyTooLarge && limit !== undefined && !res.headersSent)
        refuse(problems.bodyTooLarge(limit), 'request body over limits.maxRequestBody')
    })
    const idleMs = plan.runtime.config.timeouts.clientBody
    if (idleMs > 0) {
      req.setTimeout(idleMs, () => {
        refuse(problems.clientTimeout(), 'request body stalled (timeouts.clientBody)')
        if (req.httpVersionMajor === 2) res.destroy()
        else req.socket.destroySoon()
      })
      req.once('end', () => req.setTimeout(0))
    }
  }
  exchange.start()
  return exchange
}
