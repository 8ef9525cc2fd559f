/** Answers for requests Node's HTTP parser rejected before any handler ran (bad framing, oversized headers...). */

import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { reasonPhrase } from '../proxy/errors.js'

function statusFor(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return 408
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413
    default:
      return 400
  }
}

const DETAIL: Record<number, string> = {
  400: 'The request could not be parsed.',
  408: 'The request headers did not arrive in time.',
  413: 'The request is too large.',
  431: 'The request headers are too large.',
}

export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // A TLS handshake that failed or timed out (the http2 secure server passes its tlsClientError here): there is no
  // HTTP to answer with, and a write before the handshake would wait forever, holding the connection open.
  const tls = err.code?.startsWith('ERR_TLS_') || err.code?.startsWith('ERR_SSL_')
  if (tls || err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  // A response already on the wire (a pipelined request went bad while the previous one was answered): writing a
  // status line now would splice it into that response. Close after what was written instead.
  if ((socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage?.headersSent) {
    socket.end()
    return
  }
  const status = statusFor(err.code)
  const body = `${status} ${reasonPhrase(status)}: ${DETAIL[status] ?? 'Bad request.'}\n`
  socket.end(
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${randomUUID()}\r\nconnection: close\r\n\r\n${body}`,
  )
}
