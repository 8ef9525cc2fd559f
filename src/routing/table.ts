/**
 * The compiled routing table: exact hosts, then wildcard hosts (more labels first), then any host; within a tier, the
 * longest path prefix on a segment boundary. A tier whose paths do not cover the request falls through to the next.
 * Pure and immutable: a reload builds a new table.
 */
import type { RouteDef } from '../config/model.js'
import type { HostPattern } from '../config/values.js'
import { underPrefix } from './path.js'

/** One (host pattern, route) pair of the table, in the order requests are matched. */
export interface TableRow {
  host: HostPattern
  route: RouteDef
}

interface PathList {
  /** Longest prefix first. */
  entries: { prefix: string; route: RouteDef; host: HostPattern }[]
}

interface WildcardTier {
  /** ".example.com" */
  dotSuffix: string
  labels: number
  paths: PathList
}

export class RouteTable {
  private readonly exact = new Map<string, PathList>()
  private readonly wildcards: WildcardTier[] = []
  private readonly any: PathList = { entries: [] }
  readonly routes: readonly RouteDef[]

  constructor(routes: readonly RouteDef[]) {
    this.routes = routes
    for (const route of routes) {
      for (const host of route.hosts) {
        if (host.kind === 'exact') {
          let list = this.exact.get(host.host)
          if (!list) {
            list = { entries: [] }
            this.exact.set(host.host, list)
          }
          list.entries.push({ prefix: route.path, route, host })
        } else if (host.kind === 'wildcard') {
          const dotSuffix = `.${host.suffix}`
          let tier = this.wildcards.find((w) => w.dotSuffix === dotSuffix)
          if (!tier) {
            tier = { dotSuffix, labels: host.labels, paths: { entries: [] } }
            this.wildcards.push(tier)
          }
          tier.paths.entries.push({ prefix: route.path, route, host })
        } else {
          this.any.entries.push({ prefix: route.path, route, host })
        }
      }
    }
    const byLength = (a: { prefix: string }, b: { prefix: string }) => b.prefix.length - a.prefix.length
    for (const list of this.exact.values()) list.entries.sort(byLength)
    for (const w of this.wildcards) w.paths.entries.sort(byLength)
    this.wildcards.sort((a, b) => b.labels - a.labels || b.dotSuffix.length - a.dotSuffix.length)
    this.any.entries.sort(byLength)
  }

  /**
   * Every (host, route) pair in the order `match` tries them: exact hosts (alphabetically: they never compete),
   * then wildcards from the most specific, then any host; longest path first within each. For `switchboard routes`.
   */
  ordered(): TableRow[] {
    const rows: TableRow[] = []
    const push = (list: PathList) => {
      for (const e of list.entries) rows.push({ host: e.host, route: e.route })
    }
    for (const name of [...this.exact.keys()].sort()) push(this.exact.get(name) as PathList)
    for (const w of this.wildcards) push(w.paths)
    push(this.any)
    return rows
  }

  /** `host` is normalised (lower case, no port, no trailing dot); `path` is the normalised request path. */
  match(host: string, path: string): RouteDef | undefined {
    const exact = this.exact.get(host)
    if (exact) {
      const hit = longest(exact, path)
      if (hit) return hit
    }
    for (const w of this.wildcards) {
      if (host.length > w.dotSuffix.length && host.endsWith(w.dotSuffix)) {
        const hit = longest(w.paths, path)
        if (hit) return hit
      }
    }
    return longest(this.any, path)
  }
}

function longest(list: PathList, path: string): RouteDef | undefined {
  for (const e of list.entries) if (underPrefix(path, e.prefix)) return e.route
  return undefined
}
