/** The access-log record of one request or WebSocket handshake, filled in as the request goes. */
import type { Decision, Inbound } from './plan.js'

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
  /** Body bytes sent to the client: the upstream's, or Switchboard's own page. */
  bytes: number
  /** The catalogue code of an answer Switchboard wrote itself. */
  code?: string | undefined
  /** What went wrong or was unusual, in words. */
  error?: string | undefined
  proto?: string
  websocket?: boolean
}

export function newRecord(inbound: Inbound): RequestRecord {
  // one shape for every record (no conditional spread): this runs once per request
  return {
    requestId: inbound.requestId,
    method: inbound.method,
    host: inbound.host ?? '',
    path: inbound.url,
    route: undefined,
    upstream: undefined,
    target: undefined,
    status: 0,
    durationMs: 0,
    bytes: 0,
    code: undefined,
    error: undefined,
    proto: inbound.proto,
    websocket: inbound.upgrade,
  }
}

/** What the decision tells the log: the route, upstream and first target, or the refusal's code. */
export function noteDecision(record: RequestRecord, decision: Decision): void {
  switch (decision.kind) {
    case 'refuse':
      record.route = decision.route
      record.upstream = decision.upstream
      record.code = decision.problem.code
      return
    case 'redirect':
      record.route = decision.route
      return
    case 'forward': {
      const { plan } = decision
      record.route = plan.route.name
      record.upstream = plan.upstream.name
      record.target = plan.target.url.url
      record.path = plan.path
    }
  }
}

export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100
}
