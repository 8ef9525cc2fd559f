/**
 * Everything a request needs, built from one validated Config: the route table, the trust list, the pools.
 * Immutable once built; a reload builds a new Runtime and swaps the reference, so a request in flight finishes on
 * the Runtime it started with.
 */
import { BlockList } from 'node:net'
import type { Config } from '../config/model.js'
import { RouteTable } from '../routing/table.js'
import { Pool, type TargetRegistry } from '../upstreams/registry.js'

export class Runtime {
  readonly config: Config
  readonly table: RouteTable
  readonly pools: ReadonlyMap<string, Pool>
  private readonly trusted: BlockList | undefined

  constructor(config: Config, registry: TargetRegistry) {
    this.config = config
    this.table = new RouteTable(config.routes)
    const pools = new Map<string, Pool>()
    for (const [name, def] of config.upstreams) pools.set(name, new Pool(def, registry))
    this.pools = pools
    if (config.trustedProxies.length > 0) {
      const list = new BlockList()
      for (const c of config.trustedProxies) list.addSubnet(c.address, c.prefix, c.family)
      this.trusted = list
    }
  }

  isTrusted(ip: string): boolean {
    if (!this.trusted) return false
    return this.trusted.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4')
  }
}

/** `::ffff:127.0.0.1` -> `127.0.0.1`. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return 'unknown'
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote
}
