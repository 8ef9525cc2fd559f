/** Starts the admin API for a running Switchboard and its Reloader. */
import type { AddressInfo } from 'node:net'
import type { Reloader } from '../server/reload.js'
import type { Switchboard } from '../server/switchboard.js'
import { AdminServer } from './server.js'

export async function startAdmin(
  sb: Switchboard,
  reloader: Reloader,
  meta: { version: string; configFile: string },
): Promise<{ server: AdminServer; address: AddressInfo } | undefined> {
  const def = sb.config.admin
  if (!def) return undefined
  reloader.onOutcome = (o) => sb.metrics.reload(o.ok)
  const server = new AdminServer(def, {
    version: meta.version,
    configFile: meta.configFile,
    startedAt: new Date(),
    config: () => sb.config,
    ready: () => sb.ready,
    upstreams: () => sb.upstreams(),
    openConnections: () => sb.openConnections(),
    openWebSockets: () => sb.tunnels.size,
    lastReload: () => reloader.last,
    reload: () => reloader.reload('admin API'),
    metrics: () => sb.metrics.render(),
  })
  const address = await server.listen()
  return { server, address }
}
