/**
 * WebSocket tunnel. The upstream is dialled first; the client gets the upstream's real answer: its 101 with its
 * headers (after we check Sec-WebSocket-Accept), or its error status and body. After a 101 the two sockets are
 * piped byte for byte, with no idle timeout (HMR sockets sit idle for minutes); TCP keep-alive detects dead peers.
 */
import { createHash } from 'node:crypto'
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { upstreamPath } from '../routing/rewrite.js'
import { clientAddress } from '../server/runtime.js'
import { tlsOptions } from '../upstreams/dispatchers.js'
import { type ProxyProblem, problems, reasonPhrase, renderProblem, upstreamProblem } from './errors.js'
import {
  admit,
  isProblem,
  noTarget,
  type ProxyDeps,
  type RequestRecord,
  upstreamHostHeader,
} from './handler.js'
import { filterRawResponseHeaders, requestHeaders, requestIdFrom } from './headers.js'

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64')
}

/** Registry of open tunnels, for shutdown and for least-connections counting. */
/** Registry of open tunnels, for shutdown and for least-connections counting. */
export class Tunnels {
  /** client socket -> upstream socket */
  readonly open = new Map<Duplex, Duplex>()
  get size(): number {
    return this.open.size
  }

  /**
   * Shutdown: both sides get a WebSocket close frame with status 1001 ("going away") and the sockets are ended.
   * Relaying stops first; a frame cut in the middle cannot be completed anyway.
   */
  closeAll(): void {
    for (const [client, upstream] of this.open) {
      client.unpipe(upstream)
      upstream.unpipe(client)
      // server -> client frames are unmasked; client -> server frames must be masked
      client.end(Buffer.from([0x88, 0x02, 0x03, 0xe9]))
      const mask = [0x5b, 0x1d, 0x77, 0x2c]
      upstream.end(Buffer.from([0x88, 0x82, ...mask, 0x03 ^ (mask[0] as number), 0xe9 ^ (mask[1] as number)]))
      setTimeout(() => {
        client.destroy()
        upstream.destroy()
      }, 1000).unref()
    }
  }

  destroyAll(): void {
    for (const [client, upstream] of this.open) {
      client.destroy()
      upstream.destroy()
    }
  }
}

function writeProblem(
  socket: Duplex,
  req: IncomingMessage,
  problem: ProxyProblem,
  ctx: { requestId: string; route?: string; upstream?: string },
  extra = '',
): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const page = renderProblem(problem, ctx, req.headers.accept)
  const len = Buffer.byteLength(page.body)
  socket.end(
    `HTTP/1.1 ${problem.status} ${reasonPhrase(problem.status)}\r\ncontent-type: ${page.contentType}\r\ncontent-length: ${len}\r\nx-request-id: ${ctx.requestId}\r\n${extra}connection: close\r\n\r\n${page.body}`,
  )
}

function validHandshake(req: IncomingMessage): ProxyProblem | undefined {
  if (req.method !== 'GET') return problems.badRequest('A WebSocket handshake must use GET.')
  let upgrades = 0
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    if ((req.rawHeaders[i] as string).toLowerCase() === 'upgrade') upgrades++
  if (upgrades !== 1) return problems.badRequest('Exactly one Upgrade header is allowed.')
  const key = req.headers['sec-websocket-key']
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) {
    return problems.badRequest('Missing or invalid Sec-WebSocket-Key.')
  }
  if (req.headers['sec-websocket-version'] !== '13') {
    return { status: 426, code: 'SB_WEBSOCKET_VERSION', detail: 'Only WebSocket version 13 is supported.' }
  }
  return undefined
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade
  return typeof upgrade === 'string' && upgrade.split(',').some((p) => p.trim().toLowerCase() === 'websocket')
}

export function handleUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  deps: ProxyDeps,
  tunnels: Tunnels,
): void {
  const started = performance.now()
  const requestId = requestIdFrom(req.headers['x-request-id'] as string | undefined)
  const record: RequestRecord = {
    requestId,
    method: 'GET',
    host: req.headers.host ?? '',
    path: req.url ?? '',
    route: undefined,
    upstream: undefined,
    target: undefined,
    status: 0,
    durationMs: 0,
    bytes: 0,
  }
  let logged = false
  const finish = (status: number, error?: string) => {
    if (logged) return
    logged = true
    record.status = status
    record.error = error
    record.durationMs = Math.round((performance.now() - started) * 100) / 100
    deps.log(record)
  }
  socket.on('error', () => socket.destroy())
  const invalid = validHandshake(req)
  const runtime = deps.runtime()
  const admitted = invalid ?? admit(req, runtime, requestId)
  if (isProblem(admitted)) {
    writeProblem(
      socket,
      req,
      admitted,
      { requestId },
      admitted.status === 426 ? 'sec-websocket-version: 13\r\n' : '',
    )
    finish(admitted.status)
    return
  }
  const { route, path, query } = admitted
  record.route = route.name
  if (route.action.kind === 'redirect') {
    const location = `${route.action.location}${path}${query}`
    socket.end(
      `HTTP/1.1 ${route.action.code} ${reasonPhrase(route.action.code)}\r\nlocation: ${location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    )
    finish(route.action.code)
    return
  }
  const pool = runtime.pools.get(route.action.upstream)
  if (!pool) {
    socket.destroy()
    return
  }
  const clientIp = clientAddress((socket as Socket).remoteAddress)
  const target = pool.pick(clientIp)
  if (!target) {
    const problem = noTarget(pool)
    writeProblem(
      socket,
      req,
      problem,
      { requestId, route: route.name, upstream: pool.def.name },
      `retry-after: ${pool.retryAfter()}\r\n`,
    )
    finish(503, problem.code)
    return
  }
  const upstream = pool.def
  record.upstream = upstream.name
  record.target = target.url.url
  const headers = requestHeaders(req.rawHeaders, {
    clientIp,
    trusted: runtime.isTrusted(clientIp),
    proto: deps.proto,
    publicHost: req.headers.host ?? admitted.host.name,
    port: (socket as Socket).localPort ?? 0,
    requestId,
    upstreamHost: upstreamHostHeader(route, req, target.url),
    contentLength: undefined,
    prefix: route.stripPrefix && route.path !== '/' ? route.path : undefined,
    upgrade: true,
  })
  const outgoing: string[] = headers
  const options = {
    host: target.url.hostname,
    port: target.url.port,
    method: 'GET',
    path: upstreamPath(route, target.url, path, query),
    headers: outgoing,
    setHost: false,
    agent: false as const,
    timeout: upstream.timeouts.connect,
  }
  const ctx = { requestId, route: route.name, upstream: upstream.name }
  let settled = false
  const fail = (err: unknown) => {
    if (settled) return
    settled = true
    upReq.destroy()
    const code = (err as { code?: string }).code ?? ''
    deps.monitor.passiveFailure(
      target,
      upstream.passive,
      code === 'ECONNREFUSED' ? 'connection refused' : code || 'error',
      upstream.name,
    )
    const problem = upstreamProblem(err, upstream.name, upstream.timeouts)
    writeProblem(socket, req, problem, ctx)
    finish(problem.status, problem.code)
  }
  // node:http accepts a flat [name, value, ...] header list at runtime; its types only admit objects.
  const upReq: ClientRequest =
    target.url.protocol === 'https:'
      ? httpsRequest({
          ...options,
          ...tlsOptions(upstream, target.url.hostname),
          headers: outgoing as unknown as Record<string, string>,
          servername: target.url.hostname,
        })
      : httpRequest({ ...options, headers: outgoing as unknown as Record<string, string> })
  target.inflight++
  let released = false
  const release = () => {
    if (!released) {
      released = true
      target.inflight--
    }
  }
  // timeouts.response 0 = no limit
  const responseTimer =
    upstream.timeouts.response > 0
      ? setTimeout(() => {
          const e = new Error('response timeout') as Error & { code: string }
          e.code = 'UND_ERR_HEADERS_TIMEOUT'
          fail(e)
          release()
        }, upstream.timeouts.response)
      : undefined
  upReq.once('socket', (s) => {
    s.once('connect', () => upReq.setTimeout(0))
  })
  upReq.on('timeout', () => {
    const e = new Error('connect timeout') as Error & { code: string }
    e.code = 'UND_ERR_CONNECT_TIMEOUT'
    fail(e)
  })
  upReq.on('error', (err) => {
    clearTimeout(responseTimer)
    fail(err)
    release()
  })
  socket.once('close', () => {
    if (!settled) {
      settled = true
      clearTimeout(responseTimer)
      upReq.destroy()
      release()
      finish(499)
    }
  })
  upReq.on('upgrade', (upRes: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
    clearTimeout(responseTimer)
    if (settled) {
      upSocket.destroy()
      return
    }
    const expected = acceptKey((req.headers['sec-websocket-key'] as string).trim())
    if (upRes.statusCode !== 101 || upRes.headers['sec-websocket-accept'] !== expected) {
      settled = true
      upSocket.destroy()
      release()
      const problem = upstreamProblem(new Error('bad handshake'), upstream.name, upstream.timeouts)
      writeProblem(socket, req, problem, ctx)
      finish(problem.status, 'invalid upstream handshake')
      return
    }
    settled = true
    const raw = filterRawResponseHeaders(upRes.rawHeaders, true)
    let head101 = `HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}\r\n`
    for (let i = 0; i < raw.length; i += 2) head101 += `${raw[i]}: ${raw[i + 1]}\r\n`
    socket.write(`${head101}\r\n`)
    finish(101)
    if (upHead.length > 0) socket.write(upHead)
    if (head.length > 0) upSocket.write(head)
    const clientSocket = socket as Socket
    for (const s of [clientSocket, upSocket]) {
      s.setTimeout(0)
      s.setNoDelay(true)
      s.setKeepAlive(true, 30_000)
    }
    tunnels.open.set(socket, upSocket)
    upSocket.on('error', () => socket.destroy())
    socket.on('error', () => upSocket.destroy())
    upSocket.on('close', () => socket.end())
    socket.on('close', () => {
      upSocket.destroy()
      tunnels.open.delete(socket)
      release()
    })
    upSocket.on('end', () => socket.end())
    socket.on('end', () => upSocket.end())
    upSocket.pipe(socket, { end: false })
    socket.pipe(upSocket, { end: false })
  })
  upReq.on('response', (upRes: IncomingMessage) => {
    clearTimeout(responseTimer)
    if (settled) {
      upRes.destroy()
      return
    }
    settled = true
    // The upstream refused the upgrade: relay its answer as it is, then close.
    const raw = filterRawResponseHeaders(upRes.rawHeaders, false)
    let head = `HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage ?? ''}\r\n`
    let length = false
    for (let i = 0; i < raw.length; i += 2) {
      if ((raw[i] as string).toLowerCase() === 'content-length') length = true
      head += `${raw[i]}: ${raw[i + 1]}\r\n`
    }
    head += `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n`
    void length
    socket.write(head)
    upRes.pipe(socket)
    upRes.on('error', () => socket.destroy())
    upRes.on('end', release)
    finish(upRes.statusCode ?? 502)
  })
  upReq.end()
}
