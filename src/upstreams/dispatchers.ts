/** Pooled keep-alive connections to targets: one undici Agent per connect timeout (undici sets it per Agent). */
import { Agent } from 'undici'

export class Dispatchers {
  private readonly agents = new Map<number, Agent>()

  agent(connectTimeout: number): Agent {
    let a = this.agents.get(connectTimeout)
    if (!a) {
      a = new Agent({
        connect: { timeout: connectTimeout, rejectUnauthorized: true },
        // Below Node's default server keep-alive (5s) so we rarely reuse a socket the target is closing.
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 600_000,
        pipelining: 1,
        // The proxy applies its own response timeouts per request.
        headersTimeout: 0,
        bodyTimeout: 0,
        maxHeaderSize: 64 * 1024,
      })
      this.agents.set(connectTimeout, a)
    }
    return a
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close().catch(() => a.destroy())))
    this.agents.clear()
  }
}
