/**
 * Switchboard: the running proxy, composed of owners that each outlive a config:
 * - `UpstreamState` (targets, health, probe loops, pooled connections),
 * - `Listeners` (the HTTP and TLS fronts and the TLS provider),
 * - `ProxyMetrics` (fed by the access log and read by the admin API),
 * - the data path's own state: open WebSocket tunnels and the idle sweeper.
 * The running table is a Runtime reference that a reload swaps; requests in flight keep the Runtime they started
 * with. Dependencies point one way: cli -> server -> proxy -> upstreams / routing -> config.
 */
import type { AddressInfo } from 'node:net'
import type { Config } from '../config/model.js'
import type { Logger } from '../log.js'
import { ProxyMetrics } from '../metrics/proxy-metrics.js'
import type { ProxyDeps } from '../proxy/handler.js'
import { IdleWatch } from '../proxy/idle.js'
import { Runtime } from '../proxy/runtime.js'
import { Tunnels } from '../proxy/websocket.js'
import type { UpstreamSnapshot } from '../upstreams/snapshot.js'
import { UpstreamState } from '../upstreams/state.js'
import { accessLog } from './access-log.js'
import { type ListenerName, Listeners, type Listening } from './listeners.js'
import type { TlsProvider } from './tls-provider.js'

export type { Listening }

export interface SwitchboardOptions {
  /** Where the local CA and issued certificates live. */
  stateDir?: string
}

export class Switchboard {
  readonly state: UpstreamState
  readonly listeners: Listeners
  readonly metrics: ProxyMetrics
  readonly idle = new IdleWatch()
  readonly tunnels = new Tunnels()
  ready = false
  private runtime: Runtime
  private readonly log: ReturnType<typeof accessLog>

  constructor(config: Config, logger: Logger, options: SwitchboardOptions = {}) {
    this.state = new UpstreamState(logger)
    this.runtime = new Runtime(config, this.state.pools(config))
    this.metrics = new ProxyMetrics({
      upstreams: () => this.upstreams(),
      openConnections: () => this.openConnections(),
      openWebSockets: () => this.tunnels.size,
    })
    this.state.monitor.onProbe = (target, upstream, ok) => this.metrics.probe(upstream, target.key, ok)
    this.log = accessLog(logger, this.metrics)
    this.listeners = new Listeners((proto) => this.deps(proto), this.tunnels, logger, options.stateDir)
  }

  get config(): Config {
    return this.runtime.config
  }

  get tls(): TlsProvider | undefined {
    return this.listeners.tls
  }

  openConnections(): number {
    return this.listeners.connections
  }

  /** Every upstream and target with its health and counters (for the admin API, metrics, tests). */
  upstreams(): UpstreamSnapshot[] {
    return this.state.snapshot()
  }

  address(name: ListenerName): AddressInfo | undefined {
    return this.listeners.address(name)
  }

  private deps(proto: ListenerName): ProxyDeps {
    return {
      runtime: () => this.runtime,
      dispatchers: this.state.dispatchers,
      outcomes: this.state,
      idle: this.idle,
      proto,
      log: this.log,
      responseHeaders: () => {
        const hsts = this.runtime.config.tls.hsts
        return proto === 'https' && hsts > 0
          ? ['strict-transport-security', `max-age=${Math.floor(hsts / 1000)}`]
          : []
      },
      misdirected: proto === 'https' ? (sni, host) => this.listeners.misdirected(sni, host) : undefined,
      secureRedirect: proto === 'http' ? this.listeners.secureRedirect(() => this.runtime.config) : undefined,
    }
  }

  async listen(): Promise<Listening> {
    this.state.sync(this.runtime.pools.values())
    try {
      const result = await this.listeners.listen(this.runtime.config)
      this.ready = true
      return result
    } catch (err) {
      await this.close(0)
      throw err
    }
  }

  /**
   * Swaps in a new table. Requests in flight keep the Runtime they started with. Listener changes are applied too:
   * a moved port gets its new listener before the old one closes (gracefully); new certificates take effect for new
   * handshakes; timeouts apply to new requests. Returns what could not be applied (needs a restart).
   */
  async apply(config: Config): Promise<string[]> {
    const before = this.runtime.config
    this.runtime = new Runtime(config, this.state.pools(config))
    this.state.sync(this.runtime.pools.values())
    if (!this.ready) return []
    const notApplied = await this.listeners.apply(before, config)
    if (JSON.stringify(before.admin) !== JSON.stringify(config.admin)) notApplied.push('admin')
    return notApplied
  }

  /** Re-reads certificate files (see Listeners.reloadCertificates). */
  reloadCertificates(config: Config): Promise<boolean> {
    return this.listeners.reloadCertificates(config)
  }

  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs`, then closes what is left. WebSocket tunnels
   * are closed at once.
   */
  async close(graceMs = this.runtime.config.timeouts.shutdown): Promise<void> {
    this.ready = false
    if (graceMs > 0) this.tunnels.closeAll()
    else this.tunnels.destroyAll()
    this.state.monitor.stop()
    await this.listeners.close(graceMs)
    this.idle.stop()
    await this.state.close()
  }
}
