/** The validated, defaulted routing table that the rest of Switchboard runs on. Immutable once built. */
import type { Cidr, HostPattern, ListenAddress, StatusRanges, TargetUrl } from './values.js'

export interface UpstreamTimeouts {
  connect: number
  response: number
  idle: number
}

export interface TargetDef extends TargetUrl {
  weight: number
}

export interface HealthCheckDef {
  /** "tcp" connects and closes; "http" sends GET path and checks the status. */
  kind: 'tcp' | 'http'
  path: string | undefined
  interval: number
  timeout: number
  expectStatus: StatusRanges
  rise: number
  fall: number
}

export interface PassiveDef {
  failures: number
  ejectFor: number
  on5xx: boolean
}

export interface UpstreamTls {
  /** Absolute path of a PEM CA file to trust for https:// targets. */
  ca: string | undefined
  insecureSkipVerify: boolean
  serverName: string | undefined
}

export interface UpstreamDef {
  name: string
  tls: UpstreamTls
  targets: readonly TargetDef[]
  balance: BalancePolicy
  /** null when `healthCheck: false`. */
  healthCheck: HealthCheckDef | null
  /** null when `passive: false`. */
  passive: PassiveDef | null
  timeouts: UpstreamTimeouts
  /** Declared by a route's `to:` rather than under `upstreams:`. */
  inline: boolean
}

export type RouteAction =
  | { kind: 'proxy'; upstream: string }
  | { kind: 'redirect'; location: string; code: number }

export interface RouteDef {
  /** Position in routes.yaml (0-based), for messages. */
  index: number
  /** Human name: host pattern(s) + path, e.g. "app.localhost/api". */
  name: string
  hosts: readonly HostPattern[]
  path: string
  stripPrefix: boolean
  preserveHost: boolean
  action: RouteAction
}

export interface ServerTimeouts {
  clientHeader: number
  clientBody: number
  keepAlive: number
  /** Grace period for requests in flight on SIGTERM/SIGINT. */
  shutdown: number
  /** Time a client has to complete the TLS handshake on the HTTPS listener; always more than 0. */
  tlsHandshake: number
}

export interface CertificateFiles {
  /** Absolute paths (relative ones in routes.yaml are resolved against the file's directory). */
  cert: string
  key: string
  hosts: readonly HostPattern[] | undefined
}

export interface TlsDef {
  certificates: readonly CertificateFiles[]
  local: boolean
  redirectHttp: boolean
  /** HSTS max-age in ms; 0 = off. */
  hsts: number
}

export interface AdminDef {
  listen: ListenAddress
  token: string | undefined
  allowRemote: boolean
}

export interface Config {
  /** The file it came from, as given on the command line. */
  source: string
  /** null = that listener is off. */
  listen: { http: ListenAddress | null; https: ListenAddress | null }
  tls: TlsDef
  /** null when `admin: false`. */
  admin: AdminDef | null
  trustedProxies: readonly Cidr[]
  timeouts: ServerTimeouts
  limits: { maxRequestBody: number | undefined }
  upstreams: ReadonlyMap<string, UpstreamDef>
  routes: readonly RouteDef[]
}

export const DEFAULT_UPSTREAM_TIMEOUTS: UpstreamTimeouts = { connect: 5_000, response: 100_000, idle: 60_000 }
export const DEFAULT_SERVER_TIMEOUTS: ServerTimeouts = {
  clientHeader: 10_000,
  clientBody: 30_000,
  keepAlive: 75_000,
  shutdown: 10_000,
  tlsHandshake: 10_000,
}
export const DEFAULT_HEALTH_CHECK: HealthCheckDef = {
  kind: 'tcp',
  path: undefined,
  interval: 5_000,
  timeout: 2_000,
  expectStatus: [[200, 399]],
  rise: 2,
  fall: 3,
}
export const DEFAULT_PASSIVE: PassiveDef = { failures: 3, ejectFor: 30_000, on5xx: false }
export const DEFAULT_HTTP_PORT = 80
/** Where the admin API listens unless admin.listen says otherwise. */
export const DEFAULT_ADMIN_LISTEN: ListenAddress = { host: '127.0.0.1', port: 9901 }
export const DEFAULT_REDIRECT_CODE = 308

export type BalancePolicy = 'round-robin' | 'least-connections' | 'random' | 'ip-hash'
export const BALANCE_POLICIES: readonly BalancePolicy[] = [
  'round-robin',
  'least-connections',
  'random',
  'ip-hash',
]
