/**
 * One listener ("front"): a Node server we configure ourselves (timeouts Fastify would otherwise disable), Fastify
 * on top of it for request dispatch, the proxy handler in a single onRequest hook, the WebSocket tunnel on
 * 'upgrade', and 405 for CONNECT. Plain HTTP uses node:http; TLS uses an http2 secure server that also speaks
 * HTTP/1.1 (ALPN), so HTTP/2 clients and WebSockets over HTTP/1.1 share port 443.
 */
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http'
import type { Http2SecureServer } from 'node:http2'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { Server as TlsServer } from 'node:tls'
import Fastify, { type FastifyInstance } from 'fastify'
import type { ServerTimeouts } from '../config/model.js'
import type { ListenAddress } from '../config/values.js'
import type { Logger } from '../log.js'
import { problems } from '../proxy/errors.js'
import { handleRequest, type ProxyDeps } from '../proxy/handler.js'
import { requestIdFrom } from '../proxy/headers.js'
import { ALLOWED_METHODS } from '../proxy/plan.js'
import { sendProblem, writeRawProblem } from '../proxy/respond.js'
import { handleUpgrade, isWebSocketUpgrade, type Tunnels } from '../proxy/websocket.js'
import { answerClientError } from './client-errors.js'
import { bindError } from './listen-errors.js'

type AnyServer = Server | Http2SecureServer

/**
 * Node's HTTP/1 timeouts, also honoured by an http2 secure server for its HTTP/1.1 connections, and on a TLS server
 * the handshake timeout. New connections get them. False when the handshake timeout could not be set.
 */
export function applyTimeouts(server: AnyServer, t: ServerTimeouts): boolean {
  const s = server as unknown as Record<string, number>
  s.headersTimeout = t.clientHeader
  s.requestTimeout = 0
  s.keepAliveTimeout = t.keepAlive
  return server instanceof TlsServer ? setHandshakeTimeout(server, t.tlsHandshake) : true
}

/**
 * Node (20, 22 and 24) keeps a TLS server's handshake timeout under a private symbol, read for each new connection;
 * the public `handshakeTimeout` option only sets it at construction (and turns 0 into 120s), and a plain
 * `server.handshakeTimeout` property is never read. So a reload sets that symbol. False when this Node has no such
 * property: the change then needs a restart.
 */
export function setHandshakeTimeout(server: TlsServer, ms: number): boolean {
  const s = server as unknown as Record<symbol, unknown>
  const key = Object.getOwnPropertySymbols(server).find((k) => k.description === 'handshake-timeout')
  if (key === undefined || typeof s[key] !== 'number') return false
  s[key] = ms
  return true
}

export function createHttpServer(t: ServerTimeouts): Server {
  return createServer({
    headersTimeout: t.clientHeader,
    requestTimeout: 0,
    keepAliveTimeout: t.keepAlive,
    connectionsCheckingInterval: Math.max(250, Math.min(1000, t.clientHeader || 1000)),
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    noDelay: true,
    maxHeaderSize: 16 * 1024,
  })
}

export class Front {
  readonly name: 'http' | 'https'
  readonly server: AnyServer
  private readonly app: FastifyInstance
  /** Set by close(): requests still arriving on open connections get SB_SHUTTING_DOWN. */
  private closing = false

  constructor(
    name: 'http' | 'https',
    server: AnyServer,
    proxyDeps: ProxyDeps,
    tunnels: Tunnels,
    logger: Logger,
  ) {
    this.name = name
    this.server = server
    const deps: ProxyDeps = { ...proxyDeps, closing: () => this.closing }
    const http2 = name === 'https'
    const options = {
      serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
        server.on('request', handler)
        return server as Server
      },
      http2,
      logger: false,
      // our handler answers SB_SHUTTING_DOWN itself (Fastify still adds Connection: close while closing)
      return503OnClosing: false,
      forceCloseConnections: 'idle' as const,
      clientErrorHandler: (err: Error, socket: Duplex) => answerClientError(err, socket),
      frameworkErrors: (
        _err: Error,
        request: { raw: IncomingMessage; id: string },
        reply: { hijack(): void; raw: ServerResponse },
      ) => {
        reply.hijack()
        sendProblem(request.raw, reply.raw, problems.badRequest('Malformed request target.'), {
          requestId: String(request.id),
        })
      },
    }
    // biome-ignore lint/suspicious/noExplicitAny: Fastify's overloads split on http2 at compile time; one code path here
    this.app = Fastify(options as any) as unknown as FastifyInstance
    this.app.removeAllContentTypeParsers()
    this.app.addContentTypeParser('*', (_req, _payload, done) => done(null))
    // The proxy runs in onRequest: no body parsing, no later hooks; the raw request streams straight upstream.
    this.app.addHook('onRequest', (request, reply, _done) => {
      reply.hijack()
      try {
        handleRequest(request.raw, reply.raw, deps)
      } catch (err) {
        // A bug, not bad input: answer and log it rather than leave the client hanging.
        logger.error(
          { err: { message: (err as Error).message, stack: (err as Error).stack } },
          'internal error',
        )
        sendProblem(request.raw, reply.raw, problems.internal(), { requestId: String(request.id) })
      }
    })
    const methods = this.app.supportedMethods.filter((m) => m !== 'CONNECT')
    this.app.route({ method: methods, url: '*', handler: async () => undefined })
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (isWebSocketUpgrade(req)) handleUpgrade(req, socket, head, deps, tunnels)
      else serveWithoutUpgrade(server, req, socket, head)
    })
    server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      // HTTP/1.1 CONNECT arrives here; an HTTP/2 CONNECT stream arrives as a request and gets 405 in the handler.
      if (!('on' in socket)) return
      socket.on('error', () => socket.destroy())
      writeRawProblem(
        socket,
        req.headers.accept,
        problems.methodNotAllowed('CONNECT'),
        { requestId: requestIdFrom(req.headers['x-request-id'] as string | undefined) },
        { allow: ALLOWED_METHODS },
      )
    })
  }

  /** Every open client socket, so a forced close can end HTTP/2 sessions and upgraded sockets too. */
  private readonly sockets = new Set<Duplex>()

  get connections(): number {
    return this.sockets.size
  }

  private track(): void {
    const event = this.name === 'https' ? 'secureConnection' : 'connection'
    this.server.on(event, (socket: Duplex) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
  }

  async listen(address: ListenAddress): Promise<AddressInfo> {
    this.track()
    await this.app.ready()
    const { host, port } = address
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(bindError(err, this.name, host, port))
      this.server.once('error', onError)
      this.server.listen({ host, port, ipv6Only: false }, () => {
        this.server.off('error', onError)
        resolve()
      })
    })
    return this.server.address() as AddressInfo
  }

  get listening(): boolean {
    return this.server.listening
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true
    const server = this.server as Server
    if (server.listening) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.closeAllConnections?.()
          for (const socket of this.sockets) socket.destroy()
          resolve()
        }, graceMs)
        force.unref()
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        server.closeIdleConnections?.()
      })
    }
    await this.app.close()
  }
}

/**
 * A non-WebSocket Upgrade (h2c, TLS/1.0...) is served as an ordinary request on a connection that then closes; the
 * Upgrade and HTTP2-Settings headers are hop-by-hop and never reach the upstream.
 */
function serveWithoutUpgrade(server: AnyServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => socket.destroy())
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0'
  if (hasBody || req.headers['transfer-encoding'] !== undefined || head.length > 0) {
    writeRawProblem(
      socket,
      req.headers.accept,
      problems.badRequest('A request that asks to switch protocols cannot carry a body.'),
      { requestId: requestIdFrom(req.headers['x-request-id'] as string | undefined) },
    )
    return
  }
  const res = new ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket as Socket)
  res.once('finish', () => {
    res.detachSocket(socket as Socket)
    socket.end()
  })
  server.emit('request', req, res)
}
