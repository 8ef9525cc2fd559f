/**
 * The one classifier of transport errors: what an error from undici, node:net, node:tls or the proxy's own aborts
 * means for the request (may it go to another target? may it be resent?), for passive health (does it count
 * against the target?) and for logs and 503 pages (plain words). Every path that meets a transport error (HTTP
 * exchange, WebSocket tunnel, health probe) asks here; the catalogue (proxy/errors.ts) maps each kind to what the
 * client is told. Pure.
 */

export type FaultKind =
  | 'refused'
  | 'connect-timeout'
  | 'dns'
  | 'unreachable'
  | 'reset'
  | 'response-timeout'
  | 'idle-timeout'
  | 'tls'
  | 'bad-response'
  | 'client-abort'

export interface Fault {
  kind: FaultKind
  /** For logs and 503 pages: "connection refused", "response timeout"... never an address. */
  text: string
  /** Nothing reached the target: any request may go to another target. */
  beforeSend: boolean
  /** The request may have reached the target over a stale pooled connection: an idempotent bodyless one may be resent. */
  resendable: boolean
  /** Counts against the target for passive health checks. */
  targetFault: boolean
}

function fault(
  kind: FaultKind,
  text: string,
  opts: { beforeSend?: boolean; resendable?: boolean; targetFault?: boolean } = {},
): Fault {
  return {
    kind,
    text,
    beforeSend: opts.beforeSend ?? false,
    resendable: opts.resendable ?? false,
    targetFault: opts.targetFault ?? true,
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/

/** Our own abort reasons carry one of these codes. */
export const ABORT = {
  client: 'SB_CLIENT_ABORT',
  idle: 'SB_IDLE_TIMEOUT',
  badResponse: 'SB_BAD_RESPONSE',
  badHeaders: 'SB_BAD_HEADERS',
} as const

export class ProxyAbort extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
  }
}

export function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined
  const code = e?.code ?? e?.cause?.code
  return typeof code === 'string' ? code : ''
}

export function classify(err: unknown): Fault {
  const code = errorCode(err)
  switch (code) {
    case 'ECONNREFUSED':
      return fault('refused', 'connection refused', { beforeSend: true })
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return fault('connect-timeout', 'connect timeout', { beforeSend: true })
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fault('dns', 'host name did not resolve', { beforeSend: true })
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return fault('unreachable', 'host unreachable', { beforeSend: true })
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return fault('reset', 'connection reset', { resendable: true })
    case 'UND_ERR_HEADERS_TIMEOUT':
      return fault('response-timeout', 'response timeout')
    case ABORT.idle:
    case 'UND_ERR_BODY_TIMEOUT':
      // Only ever after the response started: the client sees a truncated body, never a page.
      return fault('idle-timeout', 'idle timeout')
    case ABORT.client:
      return fault('client-abort', 'client closed the connection', {
        targetFault: false,
      })
    case ABORT.badResponse:
    case ABORT.badHeaders:
      return fault('bad-response', 'invalid response', { targetFault: false })
    default:
      if (TLS_CODES.test(code)) return fault('tls', 'TLS certificate not accepted', { targetFault: false })
      return fault('bad-response', code ? `invalid response (${code})` : 'invalid response', {
        targetFault: false,
      })
  }
}
