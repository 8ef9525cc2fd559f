/**
 * The admin API, on its own listener (default 127.0.0.1:9901): GET /healthz (the process is alive), GET /readyz
 * (config loaded, listeners bound), GET /status (JSON: config, last reload, routes, upstreams and targets),
 * POST /reload, GET /metrics (Prometheus). With admin.token, every endpoint but /healthz and /readyz needs
 * "Authorization: Bearer <token>".
 */
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { AdminDef, Config } from '../config/model.js'
import { bindError } from '../server/listen-errors.js'
import type { ReloadOutcome } from '../server/reload.js'
import type { UpstreamSnapshot } from '../upstreams/snapshot.js'
import { statusPage } from './page.js'

export interface AdminSources {
  version: string
  configFile: string
  startedAt: Date
  config(): Config
  ready(): boolean
  upstreams(): UpstreamSnapshot[]
  openConnections(): number
  openWebSockets(): number
  lastReload(): ReloadOutcome | undefined
  reload(): Promise<ReloadOutcome>
  metrics(): string
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  type = 'application/json; charset=utf-8',
): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

export function statusDocument(s: AdminSources): unknown {
  const config = s.config()
  const last = s.lastReload()
  return {
    version: s.version,
    configFile: s.configFile,
    startedAt: s.startedAt.toISOString(),
    ready: s.ready(),
    lastReload: last
      ? { at: last.at.toISOString(), ok: last.ok, errors: last.errors, needsRestart: last.needsRestart }
      : null,
    listen: config.listen,
    openConnections: s.openConnections(),
    openWebSockets: s.openWebSockets(),
    routes: config.routes.map((r) => ({
      name: r.name,
      path: r.path,
      stripPrefix: r.stripPrefix,
      ...(r.action.kind === 'redirect'
        ? { redirect: r.action.location, code: r.action.code }
        : { upstream: r.action.upstream }),
    })),
    upstreams: s.upstreams(),
  }
}

export class AdminServer {
  private readonly server: Server

  constructor(
    private readonly def: AdminDef,
    private readonly sources: AdminSources,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res))
    this.server.headersTimeout = 10_000
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    const s = this.sources
    try {
      if (path === '/healthz' && req.method === 'GET') return send(res, 200, { status: 'ok' })
      // The page itself holds no data; it asks /status (with the token from the URL fragment when one is set).
      if (path === '/' && req.method === 'GET')
        return send(res, 200, statusPage(), 'text/html; charset=utf-8')
      if (path === '/readyz' && req.method === 'GET') {
        return s.ready() ? send(res, 200, { status: 'ready' }) : send(res, 503, { status: 'starting' })
      }
      if (!authorized(req, this.def.token)) {
        res.setHeader('www-authenticate', 'Bearer realm="switchboard-admin"')
        return send(res, 401, { error: 'a valid "Authorization: Bearer <token>" header is required' })
      }
      if (path === '/status' && req.method === 'GET') return send(res, 200, statusDocument(s))
      if (path === '/metrics' && req.method === 'GET')
        return send(res, 200, s.metrics(), 'text/plain; version=0.0.4; charset=utf-8')
      if (path === '/reload') {
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST')
          return send(res, 405, { error: 'use POST /reload' })
        }
        const outcome = await s.reload()
        return send(res, outcome.ok ? 200 : 422, {
          ok: outcome.ok,
          errors: outcome.errors,
          needsRestart: outcome.needsRestart,
        })
      }
      return send(res, 404, {
        error: 'not found',
        endpoints: ['/healthz', '/readyz', '/status', '/metrics', 'POST /reload'],
      })
    } catch {
      send(res, 500, { error: 'internal error' })
    }
  }

  async listen(): Promise<AddressInfo> {
    const { host, port } = this.def.listen
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(bindError(err, 'admin', host, port))
      this.server.once('error', onError)
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError)
        resolve()
      })
    })
    return this.server.address() as AddressInfo
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections()
      this.server.close(() => resolve())
    })
  }
}
