/**
 * WebSocket tunnel, carried out along the same ForwardPlan as HTTP requests. The upstream is dialled first; the
 * client gets the upstream's real answer: its 101 with its headers (after we check Sec-WebSocket-Accept), or its
 * error status and body. A fault before anything reached the target moves the handshake to another target, as for
 * HTTP. After a 101 the two sockets are piped byte for byte, with no idle timeout (HMR sockets sit idle for
 * minutes); TCP keep-alive detects dead peers.
 */
import { createHash } from 'node:crypto'
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { tlsOptions } from '../upstreams/dispatchers.js'
import { classify } from '../upstreams/faults.js'
import type { Target } from '../upstreams/registry.js'
import { type ProxyProblem, problems } from './errors.js'
import type { ProxyDeps } from './handler.js'
import { filterRawResponseHeaders } from './headers.js'
import { readInbound } from './inbound.js'
import { decide, type ForwardPlan } from './plan.js'
import { elapsedMs, newRecord, noteDecision, type RequestRecord } from './record.js'
import { writeRawProblem, writeRawRedirect } from './respond.js'

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64')
}

/** Registry of open tunnels, for shutdown and for connection counting. */
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
  const inbound = readInbound(req, deps.proto, true)
  const record = newRecord(inbound)
  let logged = false
  const finish = (status: number, error?: string) => {
    if (logged) return
    logged = true
    record.status = status
    record.error = error
    record.durationMs = elapsedMs(started)
    deps.log(record)
  }
  socket.on('error', () => socket.destroy())
  if (deps.closing?.()) {
    const problem = problems.shuttingDown()
    record.code = problem.code
    record.bytes = writeRawProblem(socket, req.headers.accept, problem, { requestId: inbound.requestId })
    finish(problem.status)
    return
  }
  const decision = decide(inbound, deps)
  noteDecision(record, decision)
  switch (decision.kind) {
    case 'refuse': {
      const { problem, route, upstream } = decision
      record.bytes = writeRawProblem(
        socket,
        req.headers.accept,
        problem,
        { requestId: inbound.requestId, route, upstream },
        decision.headers,
      )
      finish(problem.status)
      return
    }
    case 'redirect':
      writeRawRedirect(socket, decision.status, decision.location, inbound.requestId)
      finish(decision.status)
      return
    case 'forward':
      new Handshake(req, socket, head, decision.plan, deps, tunnels, record, finish).dial()
  }
}

/** One WebSocket handshake to the upstream, with failover of connect faults, then the tunnel. */
class Handshake {
  /** The client has its answer (or is gone): nothing more is written to it by the handshake. */
  private settled = false
  private current: ClientRequest | undefined
  private releaseCurrent: (() => void) | undefined

  constructor(
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
    private readonly plan: ForwardPlan,
    private readonly deps: ProxyDeps,
    private readonly tunnels: Tunnels,
    private readonly record: RequestRecord,
    private readonly finish: (status: number, error?: string) => void,
  ) {
    socket.once('close', () => {
      if (this.settled) return
      this.settled = true
      this.current?.destroy()
      this.releaseCurrent?.()
      finish(499, 'client closed the connection')
    })
  }

  private fail(problem: ProxyProblem, error: string): void {
    this.settled = true
    this.record.code = problem.code
    this.record.bytes = writeRawProblem(this.socket, this.req.headers.accept, problem, {
      requestId: this.plan.inbound.requestId,
      route: this.plan.route.name,
      upstream: this.plan.upstream.name,
    })
    this.finish(problem.status, error)
  }

  dial(target: Target = this.plan.target): void {
    const { plan, deps } = this
    const upstream = plan.upstream
    const request = plan.request(target)
    this.record.target = target.url.url
    const options = {
      host: target.url.hostname,
      port: target.url.port,
      method: 'GET',
      path: request.path,
      // node:http accepts a flat [name, value, ...] header list at runtime; its types only admit objects.
      headers: request.headers as unknown as Record<string, string>,
      setHost: false,
      agent: false as const,
      timeout: upstream.timeouts.connect,
    }
    const upReq: ClientRequest =
      target.url.protocol === 'https:'
        ? httpsRequest({ ...options, ...tlsOptions(upstream, target.url.hostname) })
        : httpRequest(options)
    this.current = upReq
    target.inflight++
    target.requests++
    let released = false
    const release = () => {
      if (released) return
      released = true
      target.inflight--
    }
    this.releaseCurrent = release
    let over = false // this attempt has an outcome
    // timeouts.response 0 = no limit
    const responseTimer =
      upstream.timeouts.response > 0
        ? setTimeout(
            () => fault(coded('response timeout', 'UND_ERR_HEADERS_TIMEOUT')),
            upstream.timeouts.response,
          )
        : undefined
    const fault = (err: unknown) => {
      if (over) return
      over = true
      clearTimeout(responseTimer)
      upReq.destroy()
      release()
      if (this.settled) return
      const f = classify(err)
      if (f.targetFault) deps.outcomes.failed(target, upstream, f.text)
      if (f.beforeSend) {
        const next = plan.next()
        if (next) {
          this.dial(next)
          return
        }
      }
      this.fail(problems.fault(f, upstream.name, upstream.timeouts), f.text)
    }
    upReq.once('socket', (s) => {
      s.once('connect', () => upReq.setTimeout(0))
    })
    upReq.on('timeout', () => fault(coded('connect timeout', 'UND_ERR_CONNECT_TIMEOUT')))
    upReq.on('error', fault)
    upReq.on('upgrade', (upRes: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
      clearTimeout(responseTimer)
      if (over || this.settled) {
        upSocket.destroy()
        return
      }
      over = true
      deps.outcomes.succeeded(target)
      const expected = acceptKey((this.req.headers['sec-websocket-key'] as string).trim())
      if (upRes.statusCode !== 101 || upRes.headers['sec-websocket-accept'] !== expected) {
        upSocket.destroy()
        release()
        this.fail(
          problems.upstream('SB_UPSTREAM_BAD_RESPONSE', upstream.name, upstream.timeouts),
          'invalid upstream handshake',
        )
        return
      }
      this.settled = true
      this.pipe(upRes, upSocket, upHead, release)
    })
    upReq.on('response', (upRes: IncomingMessage) => {
      clearTimeout(responseTimer)
      if (over || this.settled) {
        upRes.destroy()
        return
      }
      over = true
      this.settled = true
      deps.outcomes.succeeded(target)
      // The upstream refused the upgrade: relay its answer as it is, then close.
      const raw = filterRawResponseHeaders(upRes.rawHeaders, false)
      let head = `HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage ?? ''}\r\n`
      for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`
      head += `x-request-id: ${plan.inbound.requestId}\r\nconnection: close\r\n\r\n`
      this.socket.write(head)
      upRes.on('data', (c: Buffer) => {
        this.record.bytes += c.length
      })
      upRes.pipe(this.socket)
      upRes.on('error', () => this.socket.destroy())
      upRes.once('close', () => {
        release()
        this.finish(upRes.statusCode ?? 502)
      })
    })
    upReq.end()
  }

  private pipe(upRes: IncomingMessage, upSocket: Socket, upHead: Buffer, release: () => void): void {
    const { socket, head } = this
    const raw = filterRawResponseHeaders(upRes.rawHeaders, true)
    let head101 = `HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}\r\n`
    for (let i = 0; i < raw.length; i += 2) head101 += `${raw[i]}: ${raw[i + 1]}\r\n`
    socket.write(`${head101}\r\n`)
    this.finish(101)
    if (upHead.length > 0) socket.write(upHead)
    if (head.length > 0) upSocket.write(head)
    const clientSocket = socket as Socket
    for (const s of [clientSocket, upSocket]) {
      s.setTimeout(0)
      s.setNoDelay(true)
      s.setKeepAlive(true, 30_000)
    }
    this.tunnels.open.set(socket, upSocket)
    upSocket.on('error', () => socket.destroy())
    socket.on('error', () => upSocket.destroy())
    upSocket.on('close', () => socket.end())
    socket.on('close', () => {
      upSocket.destroy()
      this.tunnels.open.delete(socket)
      release()
    })
    upSocket.on('end', () => socket.end())
    socket.on('end', () => upSocket.end())
    upSocket.pipe(socket, { end: false })
    socket.pipe(upSocket, { end: false })
  }
}

function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code })
}
