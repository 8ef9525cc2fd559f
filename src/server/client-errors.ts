/** Answers for requests Node's HTTP parser rejected before any handler ran (bad framing, oversized headers...). */

import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { type ProxyProblem, problems } from '../proxy/errors.js'
import { writeRawProblem } from '../proxy/respond.js'

export function parserProblem(code: string | undefined): ProxyProblem {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return problems.headersTooLarge()
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return problems.headerTimeout()
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return problems.requestTooLarge()
    default:
      return problems.malformed()
  }
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
  // Plain text: the parser gave up before the headers (Accept included) could be trusted.
  writeRawProblem(socket, undefined, parserProblem(err.code), { requestId: randomUUID() })
}
