/**
 * Switchboard: the running proxy. It owns what outlives a config (target registry, connection pools, health
 * monitor, tunnels) and up to two fronts (plain HTTP, TLS). The running table is a Runtime reference that a reload
 * swaps; requests in flight keep the Runtime they started with.
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import { createSecureServer, type Http2SecureServer } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { ProxyMetrics } from '../admin/proxy-metrics.js'
import type { Config } from '../config/model.js'
import type { Logger } from '../log.js'
import type { ProxyDeps, RequestRecord } from '../proxy/handler.js'
import { IdleWatch } from '../proxy/idle.js'
import { Tunnels } from '../proxy/websocket.js'
import { createTlsProvider, type TlsProvider } from '../tls/provider.js'
import { Dispatchers } from '../upstreams/dispatchers.js'
import { HealthMonitor } from '../upstreams/monitor.js'
import { TargetRegistry } from '../upstreams/registry.js'
import { snapshotPools, type UpstreamSnapshot } from '../upstreams/snapshot.js'
import { applyTimeouts, createHttpServer, Front } from './front.js'
import { httpsRedirect } from './redirect.js'
import { Runtime } from './runtime.js'

export interface Listening {
  http: AddressInfo | undefined
  https: AddressInfo | undefined
}

export interface SwitchboardOptions {
  /** Where the local CA and issued certificates live. */
  stateDir?: string
}

export class Switchboard {
  readonly registry = new TargetRegistry()
  readonly dispatchers = new Dispatchers()
  readonly idle = new IdleWatch()
  readonly tunnels = new Tunnels()
  readonly monitor: HealthMonitor
  tls: TlsProvider | undefined
  readonly metrics: ProxyMetrics
  ready = false
  private runtime: Runtime
  private readonly logger: Logger
  private readonly options: SwitchboardOptions
  private http: Front | undefined
  private https: Front | undefined

  constructor(config: Config, logger: Logger, options: SwitchboardOptions = {}) {
    this.logger = logger
    this.options = options
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
    this.metrics = new ProxyMetrics({
      upstreams: () => this.upstreams(),
      openConnections: () => this.openConnections(),
      openWebSockets: () => this.tunnels.size,
    })
    this.monitor.onProbe = (target, upstream, ok) => this.metrics.probe(upstream, target.key, ok)
  }

  openConnections(): number {
    return (this.http?.connections ?? 0) + (this.https?.connections ?? 0)
  }

  private deps(proto: 'http' | 'https'): ProxyDeps {
    return {
      runtime: () => this.runtime,
      dispatchers: this.dispatchers,
      idle: this.idle,
      monitor: this.monitor,
      proto,
      log: (r) => this.logRequest(r),
      responseHeaders: () => {
        const hsts = this.runtime.config.tls.hsts
        return proto === 'https' && hsts > 0
          ? ['strict-transport-security', `max-age=${Math.floor(hsts / 1000)}`]
          : []
      },
      misdirected: proto === 'https' ? (sni, host) => this.tls?.misdirected(sni, host) ?? false : undefined,
    }
  }

  /** Every upstream and target with its health and counters (for the admin API, metrics, tests). */
  upstreams(): UpstreamSnapshot[] {
    return snapshotPools(this.runtime.pools.values())
  }

  get config(): Config {
    return this.runtime.config
  }

  /**
   * Swaps in a new table. Requests in flight keep the Runtime they started with. Listener changes are applied too:
   * a moved port gets its new listener before the old one closes (gracefully); new certificates take effect for new
   * handshakes; timeouts apply to new requests. Returns what could not be applied (needs a restart).
   */
  async apply(config: Config): Promise<string[]> {
    const before = this.runtime.config
    this.runtime = new Runtime(config, this.registry)
    this.monitor.sync(this.runtime.pools.values())
    const used = new Set<string>()
    for (const pool of this.runtime.pools.values()) for (const t of pool.targets) used.add(t.key)
    this.registry.retainOnly(used)
    if (!this.ready) return []
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
    const notApplied: string[] = []
    // Certificate files are re-read on every reload: renewed files keep their names.
    if (config.listen.https && this.https && !(await this.reloadCertificates(config))) notApplied.push('tls')
    for (const name of ['http', 'https'] as const) {
      if (same(before.listen[name], config.listen[name])) continue
      try {
        await this.moveListener(name, config)
      } catch (err) {
        notApplied.push(`listen.${name}`)
        this.logger.error({ err: { message: (err as Error).message } }, `listen.${name} could not be changed`)
      }
    }
    const handshake = before.timeouts.tlsHandshake !== config.timeouts.tlsHandshake
    for (const front of [this.http, this.https])
      if (front && !applyTimeouts(front.server, config.timeouts) && handshake)
        notApplied.push('timeouts.tlsHandshake')
    if (!same(before.admin, config.admin)) notApplied.push('admin')
    return notApplied
  }

  /** Re-reads certificate files and swaps the TLS provider; false (and the old one kept) when they are unusable. */
  async reloadCertificates(config: Config): Promise<boolean> {
    try {
      this.tls = await createTlsProvider(config, this.options.stateDir, this.logger)
      const options = this.tls.serverOptions()
      const secure = this.https?.server as Http2SecureServer | undefined
      secure?.setSecureContext({ cert: options.cert, key: options.key })
      return true
    } catch (err) {
      this.logger.error(
        { err: { message: (err as Error).message } },
        'new TLS settings refused; the previous ones stay',
      )
      return false
    }
  }

  private makeFront(name: 'http' | 'https', config: Config): Front {
    if (name === 'https') {
      const tls = this.tls as TlsProvider
      const server = createSecureServer({
        ...tls.serverOptions(),
        // always the current provider, so reloaded certificates apply to new handshakes
        SNICallback: (servername, cb) => (this.tls ?? tls).serverOptions().SNICallback(servername, cb),
        allowHTTP1: true,
        handshakeTimeout: config.timeouts.tlsHandshake,
      })
      applyTimeouts(server, config.timeouts)
      return new Front('https', server, this.deps('https'), this.tunnels, this.logger)
    }
    const intercept = (req: IncomingMessage, res: ServerResponse) =>
      httpsRedirect(req, res, this.runtime.config, this.tls, this.https?.listening ? this.https : undefined)
    return new Front(
      'http',
      createHttpServer(config.timeouts),
      this.deps('http'),
      this.tunnels,
      this.logger,
      intercept,
    )
  }

  /** Opens the listener at its new address first, then closes the old one gracefully. */
  private async moveListener(name: 'http' | 'https', config: Config): Promise<void> {
    const address = config.listen[name]
    const old = name === 'http' ? this.http : this.https
    let fresh: Front | undefined
    if (address) {
      if (name === 'https' && !this.tls)
        this.tls = await createTlsProvider(config, this.options.stateDir, this.logger)
      fresh = this.makeFront(name, config)
      const bound = await fresh.listen(address)
      fresh.server.on('error', (err: Error) =>
        this.logger.error({ err: { message: err.message } }, 'server error'),
      )
      this.logger.info({ [name]: `${bound.address}:${bound.port}` }, `listen.${name} moved`)
    }
    if (name === 'http') this.http = fresh
    else this.https = fresh
    void old?.close(config.timeouts.shutdown)
  }

  address(name: 'http' | 'https'): AddressInfo | undefined {
    const front = name === 'http' ? this.http : this.https
    return front?.listening ? (front.server.address() as AddressInfo) : undefined
  }

  async listen(): Promise<Listening> {
    const config = this.runtime.config
    const { http, https } = config.listen
    if (https) {
      this.tls = await createTlsProvider(config, this.options.stateDir, this.logger)
      this.https = this.makeFront('https', config)
    }
    if (http) this.http = this.makeFront('http', config)
    this.monitor.sync(this.runtime.pools.values())
    const result: Listening = { http: undefined, https: undefined }
    try {
      if (this.https && https) result.https = await this.https.listen(https)
      if (this.http && http) result.http = await this.http.listen(http)
    } catch (err) {
      await this.close(0)
      throw err
    }
    this.ready = true
    for (const front of [this.http, this.https]) {
      front?.server.on('error', (err: Error) =>
        this.logger.error({ err: { message: err.message } }, 'server error'),
      )
    }
    return result
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs`, then closes what is left. WebSocket tunnels
   * are closed at once.
   */
  async close(graceMs = this.runtime.config.timeouts.shutdown): Promise<void> {
    this.ready = false
    if (graceMs > 0) this.tunnels.closeAll()
    else this.tunnels.destroyAll()
    this.monitor.stop()
    await Promise.all([this.http?.close(graceMs), this.https?.close(graceMs)])
    this.idle.stop()
    await this.dispatchers.close()
  }

  private logRequest(r: RequestRecord): void {
    this.metrics.request(r)
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
        ...(r.proto === 'https' ? { tls: true } : {}),
        ...(r.error ? { error: r.error } : {}),
      },
      'request',
    )
  }
}
