/**
 * The front door: a Node http.Server we configure ourselves (timeouts Fastify would otherwise disable), Fastify on
 * top of it for request dispatch, our proxy handler behind one catch-all route, and the WebSocket tunnel on
 * 'upgrade'. The running table is a Runtime reference that a reload swaps.
 */
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Config } from '../config/model.js'
import type { Logger } from '../log.js'
import { problems } from '../proxy/errors.js'
import { handleRequest, type ProxyDeps, type RequestRecord } from '../proxy/handler.js'
import { IdleWatch } from '../proxy/idle.js'
import { sendProblem } from '../proxy/respond.js'
import { handleUpgrade, isWebSocketUpgrade, Tunnels } from '../proxy/websocket.js'
import { Dispatchers } from '../upstreams/dispatchers.js'
import { HealthMonitor } from '../upstreams/monitor.js'
import { TargetRegistry } from '../upstreams/registry.js'
import { snapshotPools, type UpstreamSnapshot } from '../upstreams/snapshot.js'
import { answerClientError } from './client-errors.js'
import { bindError } from './listen-errors.js'
import { Runtime } from './runtime.js'

export class Switchboard {
  readonly registry = new TargetRegistry()
  readonly dispatchers = new Dispatchers()
  readonly idle = new IdleWatch()
  readonly tunnels = new Tunnels()
  readonly monitor: HealthMonitor
  private runtime: Runtime
  private readonly server: Server
  private readonly app: FastifyInstance
  private readonly logger: Logger

  constructor(config: Config, logger: Logger) {
    this.logger = logger
    this.monitor = new HealthMonitor((target, change, upstream) =>
      this.logger[change.to === 'healthy' || change.to === 'unknown' ? 'info' : 'warn'](
        {
          upstream,
          target: target.key,
          from: change.from,
          to: change.to,
          reason: change.reason,
          lastProbe: change.lastProbe,
        },
        `target ${target.key} of upstream ${upstream} is now ${change.to}`,
      ),
    )
    this.runtime = new Runtime(config, this.registry)
    const t = config.timeouts
    this.server = createServer({
      headersTimeout: t.clientHeader,
      requestTimeout: 0,
      keepAliveTimeout: t.keepAlive,
      connectionsCheckingInterval: Math.max(250, Math.min(1000, t.clientHeader || 1000)),
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      noDelay: true,
      maxHeaderSize: 16 * 1024,
    })
    const deps: ProxyDeps = {
      runtime: () => this.runtime,
      dispatchers: this.dispatchers,
      idle: this.idle,
      monitor: this.monitor,
      proto: 'http',
      log: (r) => this.logRequest(r),
    }
    const server = this.server
    this.app = Fastify({
      serverFactory: (handler) => {
        server.on('request', handler)
        return server
      },
      logger: false,
      return503OnClosing: true,
      forceCloseConnections: 'idle',
      clientErrorHandler: (err, socket) => answerClientError(err, socket),
      frameworkErrors: (_err, request, reply) => {
        reply.hijack()
        sendProblem(request.raw, reply.raw, problems.badRequest('Malformed request target.'), {
          requestId: String(request.id),
        })
      },
    })
    this.app.removeAllContentTypeParsers()
    this.app.addContentTypeParser('*', (_req, _payload, done) => done(null))
    // The proxy runs in onRequest: no body parsing, no later hooks; the raw request streams straight upstream.
    this.app.addHook('onRequest', (request, reply, _done) => {
      reply.hijack()
      try {
        handleRequest(request.raw, reply.raw, deps)
      } catch (err) {
        // A bug, not bad input: answer and log it rather than leave the client hanging.
        this.logger.error(
          { err: { message: (err as Error).message, stack: (err as Error).stack } },
          'internal error',
        )
        sendProblem(request.raw, reply.raw, problems.internal(), { requestId: String(request.id) })
      }
    })
    const methods = this.app.supportedMethods.filter((m) => m !== 'CONNECT')
    this.app.route({ method: methods, url: '*', handler: async () => undefined })
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (isWebSocketUpgrade(req)) handleUpgrade(req, socket, head, deps, this.tunnels)
      else serveWithoutUpgrade(server, req, socket, head)
    })
    this.server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => socket.destroy())
      const body = '405 Method Not Allowed: CONNECT is not proxied.\n'
      socket.end(
        `HTTP/1.1 405 Method Not Allowed\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      )
    })
  }

  /** Every upstream and target with its health and counters (for the admin API, metrics, tests). */
  upstreams(): UpstreamSnapshot[] {
    return snapshotPools(this.runtime.pools.values())
  }

  get config(): Config {
    return this.runtime.config
  }

  /** Swaps in a new table. Requests in flight keep the Runtime they started with. */
  apply(config: Config): void {
    this.runtime = new Runtime(config, this.registry)
    this.monitor.sync(this.runtime.pools.values())
    const used = new Set<string>()
    for (const pool of this.runtime.pools.values()) for (const t of pool.targets) used.add(t.key)
    this.registry.retainOnly(used)
  }

  async listen(): Promise<AddressInfo> {
    const { host, port } = this.runtime.config.listen.http
    await this.app.ready()
    this.monitor.sync(this.runtime.pools.values())
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(bindError(err, 'http', host, port))
      this.server.once('error', onError)
      this.server.listen({ host, port, ipv6Only: false }, () => {
        this.server.off('error', onError)
        resolve()
      })
    })
    this.server.on('error', (err) => this.logger.error({ err: { message: err.message } }, 'server error'))
    return this.server.address() as AddressInfo
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs`, then closes what is left. WebSocket tunnels
   * are closed at once.
   */
  async close(graceMs = 10_000): Promise<void> {
    this.tunnels.destroyAll()
    if (this.server.listening) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => this.server.closeAllConnections(), graceMs)
        force.unref()
        this.server.close(() => {
          clearTimeout(force)
          resolve()
        })
        this.server.closeIdleConnections()
      })
    }
    this.monitor.stop()
    await this.app.close()
    this.idle.stop()
    await this.dispatchers.close()
  }

  private logRequest(r: RequestRecord): void {
    const level = r.status >= 500 || r.status === 0 ? 'warn' : 'info'
    this.logger[level](
      {
        reqId: r.requestId,
        method: r.method,
        host: r.host,
        path: r.path,
        route: r.route,
        upstream: r.upstream,
        target: r.target,
        status: r.status,
        ms: r.durationMs,
        bytes: r.bytes,
        ...(r.error ? { error: r.error } : {}),
      },
      'request',
    )
  }
}

/**
 * A non-WebSocket Upgrade (h2c, TLS/1.0...) is served as an ordinary request on a connection that then closes; the
 * Upgrade and HTTP2-Settings headers are hop-by-hop and never reach the upstream.
 */
function serveWithoutUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => socket.destroy())
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0'
  if (hasBody || req.headers['transfer-encoding'] !== undefined || head.length > 0) {
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
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
