/** Answers the proxy writes itself: error pages and redirects. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { type ErrorContext, type ProxyProblem, renderProblem } from './errors.js'

export function sendProblem(
  req: IncomingMessage,
  res: ServerResponse,
  problem: ProxyProblem,
  ctx: ErrorContext,
  extra?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const page = renderProblem(problem, ctx, req.headers.accept)
  const headers: Record<string, string | number> = {
    'content-type': page.contentType,
    'content-length': Buffer.byteLength(page.body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-request-id': ctx.requestId,
    ...extra,
  }
  // After a framing or parsing problem the connection cannot be trusted for another request.
  const closing =
    problem.status === 400 || problem.status === 408 || problem.status === 413 || problem.status === 501
  if (closing && req.httpVersionMajor === 1) {
    headers.connection = 'close'
    res.shouldKeepAlive = false
  }
  res.writeHead(problem.status, headers)
  res.end(req.method === 'HEAD' ? undefined : page.body)
}

export function sendRedirect(res: ServerResponse, code: number, location: string, requestId: string): void {
  res.writeHead(code, { location, 'content-length': 0, 'x-request-id': requestId })
  res.end()
}
