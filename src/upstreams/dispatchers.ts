/**
 * Pooled keep-alive connections to targets: one undici Agent per distinct (connect timeout, TLS settings), since
 * undici sets both per Agent. https:// targets are verified against the system CAs unless the upstream names a CA
 * file or sets insecureSkipVerify.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { Agent, buildConnector } from 'undici'
import type { UpstreamDef } from '../config/model.js'

export class Dispatchers {
  private readonly agents = new Map<string, Agent>()

  agentFor(upstream: UpstreamDef): Agent {
    const { ca, insecureSkipVerify, serverName } = upstream.tls
    const connectTimeout = upstream.timeouts.connect
    const key = `${connectTimeout}|${ca ?? ''}|${insecureSkipVerify}|${serverName ?? ''}`
    let a = this.agents.get(key)
    if (!a) {
      const base = buildConnector({
        timeout: connectTimeout,
        rejectUnauthorized: !insecureSkipVerify,
        ...(ca ? { ca: readFileSync(ca, 'utf8') } : {}),
      })
      a = new Agent({
        // undici would take the TLS server name from the Host header, which is the public name when Host is
        // preserved: verify the target's own name (or tls.serverName) instead.
        connect: (opts, cb) =>
          base({ ...opts, servername: serverName ?? (isIP(opts.hostname) ? '' : opts.hostname) }, cb),
        // Below Node's default server keep-alive (5s) so we rarely reuse a socket the target is closing.
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 600_000,
        pipelining: 1,
        // The proxy applies its own response timeouts per request.
        headersTimeout: 0,
        bodyTimeout: 0,
        maxHeaderSize: 64 * 1024,
      })
      this.agents.set(key, a)
    }
    return a
  }

  async close(): Promise<void> {
    // Called after the listeners' grace period: whatever is still in flight upstream is cut.
    await Promise.all([...this.agents.values()].map((a) => a.destroy().catch(() => undefined)))
    this.agents.clear()
  }
}

/** TLS options for one-off connections (WebSocket handshakes, health probes) to an upstream's targets. */
export function tlsOptions(
  upstream: UpstreamDef,
  hostname: string,
): {
  rejectUnauthorized: boolean
  ca?: string
  servername: string
} {
  const { ca, insecureSkipVerify, serverName } = upstream.tls
  return {
    rejectUnauthorized: !insecureSkipVerify,
    ...(ca ? { ca: readFileSync(ca, 'utf8') } : {}),
    servername: serverName ?? hostname,
  }
}
