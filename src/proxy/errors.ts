/**
 * What went wrong, as told to the client: a status, a stable code, and a sentence that names the route and
 * upstream but never an address, an error message from a library, or a stack trace. Pure.
 */
export interface ProxyProblem {
  status: number
  code: string
  detail: string
}

export const problems = {
  badRequest: (detail: string): ProxyProblem => ({ status: 400, code: 'SB_BAD_REQUEST', detail }),
  noRoute: (host: string): ProxyProblem => ({
    status: 404,
    code: 'SB_NO_ROUTE',
    detail: `No route matches host "${host}" and this path. Check the routes in routes.yaml (switchboard routes).`,
  }),
  methodNotAllowed: (method: string): ProxyProblem => ({
    status: 405,
    code: 'SB_METHOD_NOT_ALLOWED',
    detail: `${method} is not proxied.`,
  }),
  misdirected: (host: string): ProxyProblem => ({
    status: 421,
    code: 'SB_MISDIRECTED',
    detail: `This connection's TLS certificate does not cover "${host}"; open a new connection for that host.`,
  }),
  clientTimeout: (): ProxyProblem => ({
    status: 408,
    code: 'SB_CLIENT_TIMEOUT',
    detail: 'The request body did not arrive in time.',
  }),
  bodyTooLarge: (limit: number): ProxyProblem => ({
    status: 413,
    code: 'SB_BODY_TOO_LARGE',
    detail: `The request body is larger than the ${limit}-byte limit (limits.maxRequestBody).`,
  }),
  internal: (): ProxyProblem => ({
    status: 500,
    code: 'SB_INTERNAL',
    detail: 'Switchboard hit an internal error; it has been logged.',
  }),
  unsupportedEncoding: (): ProxyProblem => ({
    status: 501,
    code: 'SB_UNSUPPORTED_TRANSFER_ENCODING',
    detail: 'Only "Transfer-Encoding: chunked" is supported.',
  }),
} as const

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/

/** Maps an error from undici or node:net to what the client is told. */
export function upstreamProblem(
  err: unknown,
  upstream: string,
  timeouts: { connect: number; response: number; idle: number },
): ProxyProblem {
  const e = err as { code?: string; cause?: { code?: string } }
  const code = e?.code ?? e?.cause?.code ?? ''
  const u = `upstream "${upstream}"`
  switch (code) {
    case 'ECONNREFUSED':
      return {
        status: 502,
        code: 'SB_UPSTREAM_REFUSED',
        detail: `The ${u} refused the connection: is it running?`,
      }
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return {
        status: 504,
        code: 'SB_UPSTREAM_CONNECT_TIMEOUT',
        detail: `The ${u} did not accept a connection within ${seconds(timeouts.connect)}.`,
      }
    case 'UND_ERR_HEADERS_TIMEOUT':
      return {
        status: 504,
        code: 'SB_UPSTREAM_TIMEOUT',
        detail: `The ${u} did not answer within ${seconds(timeouts.response)} (timeouts.response).`,
      }
    case 'SB_IDLE_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return {
        status: 504,
        code: 'SB_UPSTREAM_IDLE_TIMEOUT',
        detail: `The ${u} stopped sending for ${seconds(timeouts.idle)} (timeouts.idle).`,
      }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { status: 502, code: 'SB_UPSTREAM_DNS', detail: `The ${u} host name did not resolve.` }
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return { status: 502, code: 'SB_UPSTREAM_UNREACHABLE', detail: `The ${u} is unreachable.` }
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return {
        status: 502,
        code: 'SB_UPSTREAM_RESET',
        detail: `The ${u} closed the connection before answering.`,
      }
    default:
      if (TLS_CODES.test(code)) {
        return { status: 502, code: 'SB_UPSTREAM_TLS', detail: `The ${u} TLS certificate was not accepted.` }
      }
      return { status: 502, code: 'SB_UPSTREAM_BAD_RESPONSE', detail: `The ${u} sent an invalid response.` }
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

const REASONS: Record<number, string> = {
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

export interface ErrorContext {
  requestId: string
  route?: string | undefined
  upstream?: string | undefined
}

export interface RenderedError {
  contentType: string
  body: string
}

/** JSON when the client asks for it, HTML for a browser, plain text otherwise. */
export function renderProblem(
  problem: ProxyProblem,
  ctx: ErrorContext,
  accept: string | undefined,
): RenderedError {
  const title = `${problem.status} ${REASONS[problem.status] ?? 'Error'}`
  const a = accept ?? ''
  if (/\bapplication\/(?:[\w.+-]*\+)?json\b/i.test(a) && !/\btext\/html\b/i.test(a.split(',')[0] ?? '')) {
    const body = {
      error: { status: problem.status, code: problem.code, message: problem.detail },
      route: ctx.route ?? null,
      upstream: ctx.upstream ?? null,
      requestId: ctx.requestId,
    }
    return { contentType: 'application/json; charset=utf-8', body: `${JSON.stringify(body)}\n` }
  }
  if (/\btext\/html\b/i.test(a)) {
    const rows = [
      ctx.route !== undefined ? `<dt>Route</dt><dd>${esc(ctx.route)}</dd>` : '',
      ctx.upstream !== undefined ? `<dt>Upstream</dt><dd>${esc(ctx.upstream)}</dd>` : '',
      `<dt>Code</dt><dd>${esc(problem.code)}</dd>`,
      `<dt>Request ID</dt><dd>${esc(ctx.requestId)}</dd>`,
    ].join('')
    const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.5rem}dt{font-weight:600;float:left;clear:left;width:8rem}dd{margin-left:8rem}footer{margin-top:2rem;color:#777;font-size:.85rem}</style></head><body><h1>${title}</h1><p>${esc(problem.detail)}</p><dl>${rows}</dl><footer>Switchboard</footer></body></html>\n`
    return { contentType: 'text/html; charset=utf-8', body }
  }
  const lines = [`${title}: ${problem.detail}`]
  if (ctx.route !== undefined) lines.push(`route: ${ctx.route}`)
  if (ctx.upstream !== undefined) lines.push(`upstream: ${ctx.upstream}`)
  lines.push(`code: ${problem.code}`, `request-id: ${ctx.requestId}`)
  return { contentType: 'text/plain; charset=utf-8', body: `${lines.join('\n')}\n` }
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error'
}
