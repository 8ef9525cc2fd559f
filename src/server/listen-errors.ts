/**
 * Turns a failed bind into a sentence that says which port, which routes.yaml key sets it, and what to do, with
 * fixes written for that same key.
 */
import { isIP } from 'node:net'
import { DEFAULT_ADMIN_LISTEN } from '../config/model.js'

export class BindError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message)
    this.name = 'BindError'
  }
}

export type Listener = 'http' | 'https' | 'admin'

/** The routes.yaml key that sets each listener's address. */
export const LISTEN_KEYS: Readonly<Record<Listener, string>> = {
  http: 'listen.http',
  https: 'listen.https',
  admin: 'admin.listen',
}

function hostPort(host: string | undefined, port: number): string {
  return `${host === undefined ? '*' : isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

/** An address as routes.yaml takes it: a bare port, or host:port (quoted for IPv6: a bare [ starts a YAML list). */
function yamlAddress(host: string | undefined, port: number): string {
  if (host === undefined) return String(port)
  return isIP(host) === 6 ? `"[${host}]:${port}"` : `${host}:${port}`
}

/** Another port to suggest for the listener: the usual unprivileged one, or a neighbour of the busy one. */
function otherPort(listener: Listener, port: number, code: 'EADDRINUSE' | 'EACCES'): number {
  if (listener === 'admin') {
    if (code === 'EACCES') return DEFAULT_ADMIN_LISTEN.port
    return port < 65535 ? port + 1 : port - 1
  }
  const usual = listener === 'https' ? 8443 : 8080
  return port === usual ? usual + 1 : usual
}

function isDefaultAdmin(listener: Listener, host: string | undefined, port: number): boolean {
  return listener === 'admin' && host === DEFAULT_ADMIN_LISTEN.host && port === DEFAULT_ADMIN_LISTEN.port
}

export function bindError(
  err: NodeJS.ErrnoException,
  listener: Listener,
  host: string | undefined,
  port: number,
): BindError {
  const key = LISTEN_KEYS[listener]
  const where = `${hostPort(host, port)} (${key})`
  const fix = (code: 'EADDRINUSE' | 'EACCES') =>
    `${key}: ${yamlAddress(host, otherPort(listener, port, code))}`
  const find = `"ss -ltnp 'sport = :${port}'" or "lsof -i :${port}"`
  switch (err.code) {
    case 'EADDRINUSE':
      return new BindError(
        isDefaultAdmin(listener, host, port)
          ? `cannot listen on ${where}: the port is already in use; another Switchboard is probably running (its admin API listens there by default; find it with ${find}). Stop that one, or give this one's admin API another port (${fix('EADDRINUSE')}) or turn it off (admin: false)`
          : `cannot listen on ${where}: the port is already in use by another process (find it with ${find}); stop it or choose another port (e.g. ${fix('EADDRINUSE')})`,
        err.code,
      )
    case 'EACCES':
      return new BindError(
        port < 1024
          ? `cannot listen on ${where}: permission denied; ports below 1024 need privileges. Either run "sudo setcap 'cap_net_bind_service=+ep' $(readlink -f $(which node))", or allow unprivileged low ports with "sudo sysctl net.ipv4.ip_unprivileged_port_start=${Math.min(port, 80)}", or use a port from 1024 up (e.g. ${fix('EACCES')})`
          : `cannot listen on ${where}: permission denied`,
        err.code,
      )
    case 'EADDRNOTAVAIL':
      return new BindError(
        `cannot listen on ${where}: the address ${host ?? ''} is not on this machine (e.g. ${key}: ${yamlAddress('127.0.0.1', port)} for the loopback only)`,
        err.code,
      )
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new BindError(
        `cannot listen on ${where}: the host name ${host ?? ''} does not resolve`,
        err.code,
      )
    default:
      return new BindError(`cannot listen on ${where}: ${err.code ?? err.message}`, err.code)
  }
}
