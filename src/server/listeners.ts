/**
 * The front-door listeners: plain HTTP and TLS (each a Front), and the TLS provider behind the secure one. Opens
 * them, moves one whose address changed (new one bound before the old one closes), re-reads certificates, applies
 * client timeouts, and closes them gracefully.
 */
import { createSecureServer, type Http2SecureServer } from 'node:http2'
import type { AddressInfo } from 'node:net'
import type { Config } from '../config/model.js'
import type { Logger } from '../log.js'
import type { ProxyDeps } from '../proxy/handler.js'
import type { Tunnels } from '../proxy/websocket.js'
import { applyTimeouts, createHttpServer, Front } from './front.js'
import { createTlsProvider, type TlsProvider } from './tls-provider.js'

export type ListenerName = 'http' | 'https'

export interface Listening {
  http: AddressInfo | undefined
  https: AddressInfo | undefined
}

/** The proxy dependencies of one listener (built by the owner, which knows the runtime, upstreams and log). */
export type DepsFactory = (proto: ListenerName) => ProxyDeps

export class Listeners {
  tls: TlsProvider | undefined
  private http: Front | undefined
  private https: Front | undefined
  /** The addresses actually listened on (a move that failed leaves the old one, so the next reload retries). */
  private readonly boundTo: Record<ListenerName, Config['listen']['http']> = { http: null, https: null }

  constructor(
    private readonly deps: DepsFactory,
    private readonly tunnels: Tunnels,
    private readonly logger: Logger,
    private readonly stateDir: string | undefined,
  ) {}

  get connections(): number {
    return (this.http?.connections ?? 0) + (this.https?.connections ?? 0)
  }

  address(name: ListenerName): AddressInfo | undefined {
    const front = name === 'http' ? this.http : this.https
    return front?.listening ? (front.server.address() as AddressInfo) : undefined
  }

  /** Plain HTTP: the HTTPS port to redirect `host` to, when `tls.redirectHttp` is on and TLS serves that host. */
  secureRedirect(config: () => Config): (host: string) => number | undefined {
    return (host) => {
      const https = this.https
      if (!https?.listening || !this.tls || !config().tls.redirectHttp || !this.tls.covers(host))
        return undefined
      const address = https.server.address()
      return typeof address === 'object' && address ? address.port : 443
    }
  }

  misdirected(sni: string, host: string): boolean {
    return this.tls?.misdirected(sni, host) ?? false
  }

  async listen(config: Config): Promise<Listening> {
    const { http, https } = config.listen
    if (https) {
      this.tls = await createTlsProvider(config, this.stateDir, this.logger)
      this.https = this.make('https', config)
    }
    if (http) this.http = this.make('http', config)
    const result: Listening = { http: undefined, https: undefined }
    if (this.https && https) result.https = await this.https.listen(https)
    if (this.http && http) result.http = await this.http.listen(http)
    this.boundTo.http = http
    this.boundTo.https = https
    for (const front of [this.http, this.https])
      front?.server.on('error', (err: Error) => this.serverError(err))
    return result
  }

  /**
   * Applies a new config's listener settings: certificates re-read, moved listeners moved, timeouts set. Returns
   * the keys that could not be applied.
   */
  async apply(before: Config, config: Config): Promise<string[]> {
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
    const notApplied: string[] = []
    // Certificate files are re-read on every reload: renewed files keep their names.
    if (config.listen.https && this.https && !(await this.reloadCertificates(config))) notApplied.push('tls')
    for (const name of ['http', 'https'] as const) {
      if (same(this.boundTo[name], config.listen[name])) continue
      try {
        await this.move(name, config)
      } catch (err) {
        notApplied.push(`listen.${name}`)
        this.logger.error({ err: { message: (err as Error).message } }, `listen.${name} could not be changed`)
      }
    }
    const handshake = before.timeouts.tlsHandshake !== config.timeouts.tlsHandshake
    for (const front of [this.http, this.https])
      if (front && !applyTimeouts(front.server, config.timeouts) && handshake)
        notApplied.push('timeouts.tlsHandshake')
    return notApplied
  }

  /** Re-reads certificate files and swaps the TLS provider; false (and the old one kept) when they are unusable. */
  async reloadCertificates(config: Config): Promise<boolean> {
    try {
      this.tls = await createTlsProvider(config, this.stateDir, this.logger)
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

  async close(graceMs: number): Promise<void> {
    await Promise.all([this.http?.close(graceMs), this.https?.close(graceMs)])
  }

  private make(name: ListenerName, config: Config): Front {
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
    return new Front('http', createHttpServer(config.timeouts), this.deps('http'), this.tunnels, this.logger)
  }

  /** Opens the listener at its new address first, then closes the old one gracefully. */
  private async move(name: ListenerName, config: Config): Promise<void> {
    const address = config.listen[name]
    const old = name === 'http' ? this.http : this.https
    let fresh: Front | undefined
    if (address) {
      // a TLS listener turned on (again) gets a provider for this config, never one left from an earlier one
      if (name === 'https') this.tls = await createTlsProvider(config, this.stateDir, this.logger)
      fresh = this.make(name, config)
      const bound = await fresh.listen(address)
      fresh.server.on('error', (err: Error) => this.serverError(err))
      this.logger.info({ [name]: `${bound.address}:${bound.port}` }, `listen.${name} moved`)
    }
    this.boundTo[name] = address
    if (name === 'http') this.http = fresh
    else this.https = fresh
    void old?.close(config.timeouts.shutdown)
  }

  private serverError(err: Error): void {
    this.logger.error({ err: { message: err.message } }, 'server error')
  }
}
