/**
 * Answers Switchboard writes itself: catalogue problems and redirects, on a ServerResponse (HTTP/1 and HTTP/2) or
 * straight on a socket (WebSocket handshakes, CONNECT, requests Node's parser refused). Each returns the number of
 * body bytes sent, for the access log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { type ErrorContext, renderProblem } from './error-page.js'
import { closesConnection, type ProxyProblem, reasonPhrase } from './errors.js'

/** The headers of every page Switchboard writes, on a ServerResponse or a raw socket alike. */
function pageHeaders(
  contentType: string,
  length: number,
  ctx: ErrorContext,
): Record<string, string | number> {
  return {
    'content-type': contentType,
    'content-length': length,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-request-id': ctx.requestId,
  }
}

export function sendProblem(
  req: IncomingMessage,
  res: ServerResponse,
  problem: ProxyProblem,
  ctx: ErrorContext,
  extra?: Record<string, string>,
): number {
  if (res.headersSent) {
    res.destroy()
    return 0
  }
  const page = renderProblem(problem, ctx, req.headers.accept)
  const length = Buffer.byteLength(page.body)
  const headers: Record<string, string | number> = { ...pageHeaders(page.contentType, length, ctx), ...extra }
  // After a framing or parsing problem the connection cannot be trusted for another request.
  if (closesConnection(problem) && req.httpVersionMajor === 1) {
    headers.connection = 'close'
    res.shouldKeepAlive = false
  }
  res.writeHead(problem.status, headers)
  const head = req.method === 'HEAD'
  res.end(head ? undefined : page.body)
  return head ? 0 : length
}

export function sendRedirect(res: ServerResponse, code: number, location: string, requestId: string): void {
  res.writeHead(code, { location, 'content-length': 0, 'x-request-id': requestId })
  res.end()
}

/** A whole HTTP/1.1 answer written on a socket that is then closed. */
export function writeRawProblem(
  socket: Duplex,
  accept: string | undefined,
  problem: ProxyProblem,
  ctx: ErrorContext,
  extra: Record<string, string> = {},
): number {
  if (!socket.writable) {
    socket.destroy()
    return 0
  }
  const page = renderProblem(problem, ctx, accept)
  const length = Buffer.byteLength(page.body)
  let head = `HTTP/1.1 ${problem.status} ${reasonPhrase(problem.status)}\r\n`
  for (const [name, value] of Object.entries({ ...pageHeaders(page.contentType, length, ctx), ...extra }))
    head += `${name}: ${value}\r\n`
  socket.end(`${head}connection: close\r\n\r\n${page.body}`)
  return length
}

export function writeRawRedirect(socket: Duplex, code: number, location: string, requestId: string): void {
  socket.end(
    `HTTP/1.1 ${code} ${reasonPhrase(code)}\r\nlocation: ${location}\r\ncontent-length: 0\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n`,
  )
}
