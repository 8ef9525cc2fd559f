/**
 * Reads what a plan needs from a Node request, once: the one place where HTTP/2's `:authority` stands in for Host,
 * the client address is normalised and the request id is chosen.
 */
import type { IncomingMessage } from 'node:http'
import { requestIdFrom } from './headers.js'
import type { Inbound } from './plan.js'

/** `::ffff:127.0.0.1` -> `127.0.0.1`. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return 'unknown'
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote
}

/** The Host header, or HTTP/2's :authority when there is none. */
export function requestHostHeader(req: IncomingMessage): string | undefined {
  const host = req.headers.host
  if (host !== undefined || req.httpVersionMajor !== 2) return host
  const authority = req.headers[':authority']
  return typeof authority === 'string' ? authority : undefined
}

export function readInbound(req: IncomingMessage, proto: 'http' | 'https', upgrade: boolean): Inbound {
  const socket = req.socket as (typeof req.socket & { servername?: unknown }) | undefined
  const sni = socket?.servername
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '',
    http2: 'stream' in req,
    versionMajor: req.httpVersionMajor,
    versionMinor: req.httpVersionMinor,
    rawHeaders: req.rawHeaders,
    headers: req.headers,
    host: requestHostHeader(req),
    clientIp: clientAddress(socket?.remoteAddress),
    localPort: socket?.localPort ?? 0,
    proto,
    sni: typeof sni === 'string' ? sni : undefined,
    requestId: requestIdFrom(req.headers['x-request-id'] as string | undefined),
    upgrade,
  }
}
