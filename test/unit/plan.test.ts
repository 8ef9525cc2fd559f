/**
 * The forwarding plan without sockets or timers: one decision for HTTP requests and WebSocket handshakes, from a
 * plain Inbound and a Runtime built from YAML.
 */
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { decide, type Inbound, type PlanContext } from '../../src/proxy/plan.js'
import { Runtime } from '../../src/proxy/runtime.js'
import { HealthBoard } from '../../src/upstreams/health-board.js'
import { Pool, TargetRegistry } from '../../src/upstreams/registry.js'

/** The running table as the plan reads it: a function, read once per request. */
function runtime(yaml: string, health = new HealthBoard()): () => Runtime {
  const loaded = parseConfig(`listen:\n  http: 8080\n${yaml}`, 'plan.yaml', {})
  if (!loaded.ok) throw new Error(loaded.error.message)
  const registry = new TargetRegistry()
  const pools = new Map([...loaded.config.upstreams].map(([n, d]) => [n, new Pool(d, registry, health)]))
  const rt = new Runtime(loaded.config, pools)
  return () => rt
}

function inbound(over: Partial<Inbound> = {}, headers: Record<string, string> = {}): Inbound {
  const all: Record<string, string> = { host: 'app.test', ...headers }
  return {
    method: 'GET',
    url: '/api/users?x=1',
    http2: false,
    versionMajor: 1,
    versionMinor: 1,
    rawHeaders: Object.entries(all).flat(),
    headers: all,
    host: all.host,
    clientIp: '10.0.0.9',
    localPort: 8080,
    proto: 'http',
    sni: undefined,
    requestId: 'req-1',
    upgrade: false,
    ...over,
  }
}

const WS = {
  upgrade: 'websocket',
  connection: 'Upgrade',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
}

const TABLE = `
upstreams:
  api:
    targets: [http://127.0.0.1:9001, http://127.0.0.1:9002]
routes:
  - host: app.test
    path: /api
    stripPrefix: true
    upstream: api
  - host: old.test
    redirect: https://new.test
limits:
  maxRequestBody: 100
`

t.test('HTTP and WebSocket take the same route, pool, target and path', async (t) => {
  const ctx: PlanContext = { runtime: runtime(TABLE) }
  const http = decide(inbound(), ctx)
  const ws = decide(inbound({ upgrade: true }, WS), ctx)
  if (http.kind !== 'forward' || ws.kind !== 'forward') throw new Error('not forwarded')
  t.equal(http.plan.route, ws.plan.route)
  t.equal(http.plan.pool, ws.plan.pool)
  t.not(http.plan.target, ws.plan.target, 'round-robin moved on: the pick is the pool’s, shared')
  const h = http.plan.request(http.plan.target)
  const w = ws.plan.request(http.plan.target)
  t.equal(h.path, '/users?x=1', 'prefix stripped, query kept')
  t.equal(w.path, h.path)
  const header = (list: string[], name: string) => list[list.indexOf(name) + 1]
  t.equal(header(h.headers, 'host'), 'app.test', 'Host preserved by default')
  t.equal(header(h.headers, 'x-forwarded-prefix'), '/api')
  t.equal(header(w.headers, 'upgrade'), 'websocket', 'the handshake keeps Upgrade')
  t.notOk(h.headers.includes('upgrade'), 'a plain request does not')
})

t.test('failover: next() never returns a target already tried', async (t) => {
  const d = decide(inbound(), { runtime: runtime(TABLE) })
  if (d.kind !== 'forward') throw new Error('not forwarded')
  const first = d.plan.target
  const second = d.plan.next()
  t.ok(second)
  t.not(second, first)
  t.equal(d.plan.next(), undefined, 'two targets, both tried')
})

t.test('refusals come from the catalogue, with their headers', async (t) => {
  const ctx: PlanContext = { runtime: runtime(TABLE) }
  const trace = decide(inbound({ method: 'TRACE' }), ctx)
  t.match(trace, { kind: 'refuse', problem: { status: 405, code: 'SB_METHOD_NOT_ALLOWED' } })
  t.match(trace.kind === 'refuse' && trace.headers, { allow: /GET/ })
  const v12 = decide(inbound({ upgrade: true }, { ...WS, 'sec-websocket-version': '12' }), ctx)
  t.match(v12, { kind: 'refuse', problem: { status: 426 }, headers: { 'sec-websocket-version': '13' } })
  t.match(decide(inbound({}, { host: 'nowhere.test' }), ctx), { problem: { code: 'SB_NO_ROUTE' } })
  t.match(decide(inbound({ url: '/a/../b' }), ctx), { problem: { code: 'SB_BAD_REQUEST' } })
  t.match(decide(inbound({}, { 'transfer-encoding': 'gzip' }), ctx), {
    problem: { code: 'SB_UNSUPPORTED_TRANSFER_ENCODING' },
  })
  t.match(decide(inbound({ method: 'POST' }, { 'content-length': '101' }), ctx), {
    problem: { status: 413 },
    route: 'app.test/api',
    upstream: 'api',
  })
})

t.test('no available target: 503 with Retry-After and the names, for both paths', async (t) => {
  const health = new HealthBoard()
  const rt = runtime(TABLE, health)
  for (const port of [9001, 9002])
    health.report(`http://127.0.0.1:${port}`, 'api', {
      kind: 'probe',
      record: { at: Date.now(), ok: false, latencyMs: 1, detail: 'connection refused' },
      policy: { rise: 1, fall: 1 },
    })
  for (const d of [
    decide(inbound(), { runtime: rt }),
    decide(inbound({ upgrade: true }, WS), { runtime: rt }),
  ]) {
    t.match(d, {
      kind: 'refuse',
      problem: {
        status: 503,
        code: 'SB_NO_HEALTHY_TARGET',
        detail: /all 2 targets are down: .*connection refused/,
      },
      route: 'app.test/api',
      upstream: 'api',
      headers: { 'retry-after': /^\d+$/ },
    })
  }
})

t.test('redirects: a redirect route, and HTTP -> HTTPS for hosts TLS serves', async (t) => {
  const rt = runtime(TABLE)
  t.match(decide(inbound({ url: '/p?q' }, { host: 'old.test' }), { runtime: rt }), {
    kind: 'redirect',
    status: 308,
    location: 'https://new.test/p?q',
  })
  const ctx: PlanContext = { runtime: rt, secureRedirect: (host) => (host === 'app.test' ? 8443 : undefined) }
  t.match(decide(inbound(), ctx), { kind: 'redirect', location: 'https://app.test:8443/api/users?x=1' })
  t.match(
    decide(inbound({ url: '/.well-known/acme-challenge/x' }), ctx),
    { kind: 'refuse' },
    'ACME paths stay',
  )
  t.match(decide(inbound({ upgrade: true }, WS), ctx), { kind: 'forward' }, 'handshakes are not redirected')
})

t.test('HTTP/2 requests and 421 for a Host the connection certificate does not cover', async (t) => {
  const rt = runtime(TABLE)
  const h2 = inbound({ http2: true, versionMajor: 2, versionMinor: 0, proto: 'https', sni: 'other.test' })
  t.match(decide(h2, { runtime: rt, misdirected: () => true }), { problem: { status: 421 } })
  t.match(decide(h2, { runtime: rt, misdirected: () => false }), { kind: 'forward' })
  t.match(
    decide(inbound({ versionMajor: 2 }), { runtime: rt }),
    { problem: { status: 400 } },
    'HTTP/2.0 on h1',
  )
})
