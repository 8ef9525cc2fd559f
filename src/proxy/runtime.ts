/**
 * Everything a request needs, built from one validated Config: the route table, the trust list, the pools.
 * Immutable once built; a reload builds a new Runtime and swaps the reference, so a request in flight finishes on
 * the Runtime it started with.
 */
import { BlockList } from 'node:net'
import type { Config } from '../config/model.js'
import { RouteTable } from '../routing/table.js'
import type { Pool } from '../upstreams/registry.js'

export class Runtime {
  readonly config: Config
  readonly table: RouteTable
  readonly pools: ReadonlyMap<string, Pool>
  private readonly trusted: BlockList | undefined

  constructor(config: Config, pools: ReadonlyMap<string, Pool>) {
    this.config = config
    this.table = new RouteTable(config.routes)
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
