/**
 * The error catalogue: every answer Switchboard writes itself when it cannot (or must not) forward a request, with
 * its status, stable `SB_*` code, title, what it means and what to do. Pages (`error-page.ts`), the log, the docs
 * table (`docs/errors.md`, checked by test/unit/errors-catalogue.test.ts) all come from here. Pure.
 *
 * A Problem's `detail` is the sentence for this request: it names the route and upstream but never an address, a
 * library's error message or a stack trace.
 */
import type { Fault, FaultKind } from '../upstreams/faults.js'

export interface ErrorSpec {
  status: number
  /** Short title, shown as the page heading after the status. */
  title: string
  /** When it is sent, for the docs. */
  when: string
  /** What the person who sees it can do, for the docs. */
  fix: string
}

export const ERRORS = {
  SB_BAD_REQUEST: {
    status: 400,
    title: 'Bad Request',
    when: 'The request is malformed in a way Switchboard refuses to forward: a bad request target (dot-segments, backslashes, NUL), a missing or malformed Host, more than one Host, a request target and Host that disagree, an invalid WebSocket handshake, or a protocol-switch request with a body.',
    fix: 'Fix the client; the page says which rule the request broke.',
  },
  SB_MALFORMED_REQUEST: {
    status: 400,
    title: 'Bad Request',
    when: "Node's HTTP parser could not read the request (bad framing, invalid characters, conflicting lengths). The connection is closed.",
    fix: 'Fix the client. Request smuggling attempts end here.',
  },
  SB_NO_ROUTE: {
    status: 404,
    title: 'Not Found',
    when: 'No route matches the request host and path.',
    fix: 'Add a route, or check the host name; `switchboard routes` prints the table in matching order.',
  },
  SB_METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method Not Allowed',
    when: 'TRACE and CONNECT are never proxied.',
    fix: 'Use another method; Switchboard is not a forward proxy.',
  },
  SB_HEADER_TIMEOUT: {
    status: 408,
    title: 'Request Timeout',
    when: 'The request headers did not arrive within `timeouts.clientHeader` (slowloris).',
    fix: 'Raise `timeouts.clientHeader` if real clients are this slow.',
  },
  SB_CLIENT_TIMEOUT: {
    status: 408,
    title: 'Request Timeout',
    when: 'The request body stopped arriving for `timeouts.clientBody` (slow POST).',
    fix: 'Raise `timeouts.clientBody` if real clients pause this long mid-upload.',
  },
  SB_BODY_TOO_LARGE: {
    status: 413,
    title: 'Content Too Large',
    when: 'The request body is larger than `limits.maxRequestBody`, or its chunk extensions are too large.',
    fix: 'Raise `limits.maxRequestBody`, or send a smaller body.',
  },
  SB_MISDIRECTED: {
    status: 421,
    title: 'Misdirected Request',
    when: "An HTTPS request's Host is not covered by the certificate its connection was opened with (a browser reusing a connection for another host).",
    fix: 'Nothing: browsers retry on a new connection by themselves.',
  },
  SB_WEBSOCKET_VERSION: {
    status: 426,
    title: 'Upgrade Required',
    when: 'A WebSocket handshake asked for a version other than 13.',
    fix: 'Use a WebSocket client that speaks version 13 (RFC 6455).',
  },
  SB_HEADERS_TOO_LARGE: {
    status: 431,
    title: 'Request Header Fields Too Large',
    when: 'The request headers are larger than 16 KiB.',
    fix: 'Send fewer or smaller headers (large cookies are the usual cause).',
  },
  SB_INTERNAL: {
    status: 500,
    title: 'Internal Server Error',
    when: 'A bug in Switchboard; it is logged with its stack, never shown to the client.',
    fix: 'Report it with the request id from the page and the matching log line.',
  },
  SB_UNSUPPORTED_TRANSFER_ENCODING: {
    status: 501,
    title: 'Not Implemented',
    when: 'The request has a Transfer-Encoding other than `chunked`.',
    fix: 'Send the body with Content-Length or chunked.',
  },
  SB_UPSTREAM_REFUSED: {
    status: 502,
    title: 'Bad Gateway',
    when: 'The target refused the connection: nothing listens on its port.',
    fix: 'Start the backend, or correct its port in `routes.yaml`.',
  },
  SB_UPSTREAM_DNS: {
    status: 502,
    title: 'Bad Gateway',
    when: "The target's host name did not resolve.",
    fix: 'Check the target host name (in a compose stack: the service name).',
  },
  SB_UPSTREAM_UNREACHABLE: {
    status: 502,
    title: 'Bad Gateway',
    when: "The target's address cannot be reached (no route to host, network down).",
    fix: 'Check the network between Switchboard and the target.',
  },
  SB_UPSTREAM_RESET: {
    status: 502,
    title: 'Bad Gateway',
    when: 'The target closed or reset the connection before answering.',
    fix: "Look at the backend's own log: it crashed or dropped the request.",
  },
  SB_UPSTREAM_TLS: {
    status: 502,
    title: 'Bad Gateway',
    when: "An `https://` target's certificate was not accepted (unknown CA, wrong name, expired).",
    fix: 'Set `upstreams.<name>.tls.ca` or `upstreams.<name>.tls.serverName`, or fix the certificate.',
  },
  SB_UPSTREAM_BAD_RESPONSE: {
    status: 502,
    title: 'Bad Gateway',
    when: 'The target sent something that is not a valid HTTP response (or, for a WebSocket, an invalid handshake).',
    fix: 'Check that the target speaks HTTP on that port (not TLS, not another protocol).',
  },
  SB_NO_HEALTHY_TARGET: {
    status: 503,
    title: 'Service Unavailable',
    when: "Every target of the route's upstream is down (failed health checks, or ejected after failed requests). Sent at once, with `Retry-After`.",
    fix: 'Start the backend; the page and `/status` say why each target is out.',
  },
  SB_SHUTTING_DOWN: {
    status: 503,
    title: 'Service Unavailable',
    when: 'Switchboard is shutting down and accepts no new request on a connection that is still open.',
    fix: 'Retry: another replica, or this one after its restart, will answer.',
  },
  SB_UPSTREAM_CONNECT_TIMEOUT: {
    status: 504,
    title: 'Gateway Timeout',
    when: 'The target did not accept a connection within `upstreams.<name>.timeouts.connect`.',
    fix: 'Check that the target is up and reachable; raise `upstreams.<name>.timeouts.connect` for slow networks.',
  },
  SB_UPSTREAM_TIMEOUT: {
    status: 504,
    title: 'Gateway Timeout',
    when: 'The target accepted the request but sent no response headers within `upstreams.<name>.timeouts.response`.',
    fix: 'Raise `upstreams.<name>.timeouts.response` for slow endpoints, or find what the backend is waiting for.',
  },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

export interface ProxyProblem {
  status: number
  code: ErrorCode
  /** The sentence for this request. */
  detail: string
}

function problem(code: ErrorCode, detail: string): ProxyProblem {
  return { status: ERRORS[code].status, code, detail }
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/** What a transport fault becomes for the client (see `upstreams/faults.ts` for the kinds). */
export type UpstreamFaultCode =
  | 'SB_UPSTREAM_REFUSED'
  | 'SB_UPSTREAM_DNS'
  | 'SB_UPSTREAM_UNREACHABLE'
  | 'SB_UPSTREAM_RESET'
  | 'SB_UPSTREAM_TLS'
  | 'SB_UPSTREAM_BAD_RESPONSE'
  | 'SB_UPSTREAM_CONNECT_TIMEOUT'
  | 'SB_UPSTREAM_TIMEOUT'

/** The catalogue code for each kind of transport fault. */
export const FAULT_CODES: Record<FaultKind, UpstreamFaultCode> = {
  refused: 'SB_UPSTREAM_REFUSED',
  'connect-timeout': 'SB_UPSTREAM_CONNECT_TIMEOUT',
  dns: 'SB_UPSTREAM_DNS',
  unreachable: 'SB_UPSTREAM_UNREACHABLE',
  reset: 'SB_UPSTREAM_RESET',
  'response-timeout': 'SB_UPSTREAM_TIMEOUT',
  // only ever after the response started: the client sees a truncated body, never this page
  'idle-timeout': 'SB_UPSTREAM_TIMEOUT',
  tls: 'SB_UPSTREAM_TLS',
  'bad-response': 'SB_UPSTREAM_BAD_RESPONSE',
  'client-abort': 'SB_UPSTREAM_RESET',
}

export const problems = {
  badRequest: (detail: string) => problem('SB_BAD_REQUEST', detail),
  malformed: () => problem('SB_MALFORMED_REQUEST', 'The request could not be parsed.'),
  noRoute: (host: string) =>
    problem(
      'SB_NO_ROUTE',
      `No route matches host "${host}" and this path. Check the routes in routes.yaml (switchboard routes).`,
    ),
  methodNotAllowed: (method: string) => problem('SB_METHOD_NOT_ALLOWED', `${method} is not proxied.`),
  headerTimeout: () => problem('SB_HEADER_TIMEOUT', 'The request headers did not arrive in time.'),
  clientTimeout: () => problem('SB_CLIENT_TIMEOUT', 'The request body did not arrive in time.'),
  bodyTooLarge: (limit: number) =>
    problem(
      'SB_BODY_TOO_LARGE',
      `The request body is larger than the ${limit}-byte limit (limits.maxRequestBody).`,
    ),
  requestTooLarge: () => problem('SB_BODY_TOO_LARGE', 'The request is too large.'),
  misdirected: (host: string) =>
    problem(
      'SB_MISDIRECTED',
      `This connection's TLS certificate does not cover "${host}"; open a new connection for that host.`,
    ),
  webSocketVersion: () => problem('SB_WEBSOCKET_VERSION', 'Only WebSocket version 13 is supported.'),
  headersTooLarge: () => problem('SB_HEADERS_TOO_LARGE', 'The request headers are too large.'),
  internal: () => problem('SB_INTERNAL', 'Switchboard hit an internal error; it has been logged.'),
  unsupportedEncoding: () =>
    problem('SB_UNSUPPORTED_TRANSFER_ENCODING', 'Only "Transfer-Encoding: chunked" is supported.'),
  noHealthyTarget: (upstream: string, targets: number, why: string) =>
    problem(
      'SB_NO_HEALTHY_TARGET',
      `Upstream "${upstream}" has no healthy target (${targets === 1 ? 'its only target is' : `all ${targets} targets are`} down: ${why}).`,
    ),
  shuttingDown: () => problem('SB_SHUTTING_DOWN', 'Switchboard is shutting down; retry in a moment.'),
  fault: (fault: Fault, upstream: string, timeouts: { connect: number; response: number }): ProxyProblem =>
    problems.upstream(FAULT_CODES[fault.kind], upstream, timeouts),
  upstream: (
    code: UpstreamFaultCode,
    upstream: string,
    timeouts: { connect: number; response: number },
  ): ProxyProblem => {
    const u = `upstream "${upstream}"`
    switch (code) {
      case 'SB_UPSTREAM_REFUSED':
        return problem(code, `The ${u} refused the connection: is it running?`)
      case 'SB_UPSTREAM_CONNECT_TIMEOUT':
        return problem(code, `The ${u} did not accept a connection within ${seconds(timeouts.connect)}.`)
      case 'SB_UPSTREAM_TIMEOUT':
        return problem(
          code,
          `The ${u} did not answer within ${seconds(timeouts.response)} (timeouts.response).`,
        )
      case 'SB_UPSTREAM_DNS':
        return problem(code, `The ${u} host name did not resolve.`)
      case 'SB_UPSTREAM_UNREACHABLE':
        return problem(code, `The ${u} is unreachable.`)
      case 'SB_UPSTREAM_RESET':
        return problem(code, `The ${u} closed the connection before answering.`)
      case 'SB_UPSTREAM_TLS':
        return problem(code, `The ${u} TLS certificate was not accepted.`)
      case 'SB_UPSTREAM_BAD_RESPONSE':
        return problem(code, `The ${u} sent an invalid response.`)
    }
  },
} as const

/** Whether the connection must close after this answer (the request's framing cannot be trusted). */
export function closesConnection(p: ProxyProblem): boolean {
  return p.status === 400 || p.status === 408 || p.status === 413 || p.status === 501 || p.status === 431
}

const REASONS: Record<number, string> = {
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  421: 'Misdirected Request',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error'
}

/** The docs table of every code, in status order (docs/errors.md embeds it; a test keeps the two equal). */
export function errorTable(): string {
  const rows = Object.entries(ERRORS)
    .sort(([a, x], [b, y]) => x.status - y.status || a.localeCompare(b))
    .map(([code, e]) => `| ${e.status} | \`${code}\` | ${e.when} | ${e.fix} |`)
  return ['| Status | Code | When | What to do |', '|---:|---|---|---|', ...rows].join('\n')
}
