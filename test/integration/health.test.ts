/** Upstream pools with real targets on port 0: active and passive health checks, failover, 503 when all are down. */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { req } from '../helpers/client.js'
import { startProxy } from '../helpers/proxy.js'
import { waitFor } from '../helpers/raw.js'
import { deadPort, startRawUpstream, startUpstream } from '../helpers/upstream.js'

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}

function stop(server: Server): Promise<void> {
  return new Promise((r) => {
    server.closeAllConnections()
    server.close(() => r())
  })
}

const named = (name: string) => (_r: unknown, res: { end(s: string): void }) => res.end(name)

t.test(
  'a stopped target is taken out within fall intervals and back within rise; changes logged once',
  async (t) => {
    const a = createServer(named('a'))
    const b = createServer(named('b'))
    const portA = await listen(a)
    const portB = await listen(b)
    const proxy = await startProxy(`
upstreams:
  api:
    targets: [http://127.0.0.1:${portA}, http://127.0.0.1:${portB}]
    healthCheck: { interval: 200ms, timeout: 100ms, rise: 2, fall: 2 }
routes:
  - upstream: api
`)
    t.teardown(async () => {
      await proxy.close()
      await stop(a).catch(() => undefined)
      await stop(b)
    })
    const targetA = [...proxy.sb.state.registry.all()].find((x) => x.url.port === portA)
    if (!targetA) throw new Error('no target')
    await waitFor(() => proxy.sb.state.health.view(targetA.key, Date.now()) === 'healthy', 2000, 'a healthy')
    await stop(a)
    const stoppedAt = Date.now()
    await waitFor(
      () => proxy.sb.state.health.view(targetA.key, Date.now()) === 'unhealthy',
      2000,
      'a unhealthy',
    )
    const tookOut = Date.now() - stoppedAt
    t.ok(tookOut <= 2 * 200 * 1.1 + 300, `marked down in ${tookOut} ms (fall 2 x 200ms)`)
    t.match(proxy.sb.state.health.of(targetA.key).reason, /connection refused/)
    const bodies = new Set<string>()
    for (let i = 0; i < 6; i++) bodies.add((await req(proxy.port, '/')).body)
    t.same([...bodies], ['b'], 'traffic only to the healthy target')
    await listen(a, portA)
    const restartedAt = Date.now()
    await waitFor(
      () => proxy.sb.state.health.view(targetA.key, Date.now()) === 'healthy',
      2000,
      'a healthy again',
    )
    t.ok(Date.now() - restartedAt <= 2 * 200 * 1.1 + 300, 'back within rise 2 x 200ms')
    await waitFor(
      () => proxy.logs.some((l) => l.to === 'healthy' && l.from === 'unhealthy'),
      1000,
      'recovery logged',
    )
    const downs = proxy.logs.filter((l) => l.target === `http://127.0.0.1:${portA}` && l.to === 'unhealthy')
    t.equal(downs.length, 1, 'the down transition is logged once, not once per probe')
    t.match(downs[0], { upstream: 'api', from: 'healthy', reason: /probe failed: connection refused/ })
    const snap = proxy.sb.upstreams()
    t.match(snap, [
      {
        name: 'api',
        balance: 'round-robin',
        available: 2,
        targets: [{ state: 'healthy' }, { state: 'healthy' }],
      },
    ])
    t.ok((snap[0]?.targets[0]?.recentProbes.length ?? 0) >= 4, 'recent probes kept for the status page')
  },
)

t.test(
  'an HTTP check that hangs marks the target down at the probe timeout; expectStatus is honoured',
  async (t) => {
    const hang = await startRawUpstream(() => undefined)
    const sick = await startUpstream((r, res) => res.writeHead(r.url === '/health' ? 500 : 200).end('x'))
    const proxy = await startProxy(`
upstreams:
  hung:
    targets: [${hang.url}]
    healthCheck: { path: /health, interval: 300ms, timeout: 150ms, fall: 1 }
  sick:
    targets: [${sick.url}]
    healthCheck: { path: /health, interval: 300ms, timeout: 150ms, fall: 1, expectStatus: [200, "204-299"] }
routes:
  - { host: hung.test, upstream: hung }
  - { host: sick.test, upstream: sick }
`)
    t.teardown(async () => {
      await proxy.close()
      await hang.close()
      await sick.close()
    })
    const all = [...proxy.sb.state.registry.all()]
    const hungTarget = all.find((x) => x.key === hang.url)
    const sickTarget = all.find((x) => x.key === sick.url)
    await waitFor(
      () => proxy.sb.state.health.view(hungTarget?.key ?? '', Date.now()) === 'unhealthy',
      2000,
      'hung target down',
    )
    t.equal(proxy.sb.state.health.of(hungTarget?.key ?? '').reason, 'timeout after 150ms')
    await waitFor(
      () => proxy.sb.state.health.view(sickTarget?.key ?? '', Date.now()) === 'unhealthy',
      2000,
      'sick target down',
    )
    t.equal(proxy.sb.state.health.of(sickTarget?.key ?? '').reason, 'status 500')
    t.equal(sick.seen[0]?.headers['user-agent'], 'switchboard-health-check')
    const r = await req(proxy.port, '/', { host: 'sick.test', headers: { accept: 'application/json' } })
    t.equal(r.status, 503)
    t.match(JSON.parse(r.body), { error: { code: 'SB_NO_HEALTHY_TARGET' }, upstream: 'sick' })
    t.match(r.body, /status 500/)
  },
)

t.test(
  'all targets down: 503 at once, Retry-After, the reason, no address, no connect attempt',
  async (t) => {
    const p1 = await deadPort()
    const p2 = await deadPort()
    const proxy = await startProxy(`
upstreams:
  api:
    targets: [http://127.0.0.1:${p1}, http://127.0.0.1:${p2}]
    healthCheck: { interval: 100ms, timeout: 50ms, fall: 1 }
routes:
  - upstream: api
`)
    t.teardown(() => proxy.close())
    const targets = [...proxy.sb.state.registry.all()]
    await waitFor(
      () => targets.every((x) => !proxy.sb.state.health.available(x.key, Date.now())),
      2000,
      'both down',
    )
    const before = targets.map((x) => x.requests)
    const started = performance.now()
    const r = await req(proxy.port, '/', { headers: { accept: 'text/html' } })
    const ms = performance.now() - started
    t.equal(r.status, 503)
    t.equal(r.headers['retry-after'], '1')
    t.match(
      r.body,
      /Upstream &#34;api&#34; has no healthy target \(all 2 targets are down: target 1: unhealthy \(connection refused\)/,
    )
    t.notMatch(r.body, /127\.0\.0\.1/)
    t.same(
      targets.map((x) => x.requests),
      before,
      'no request was sent to any target',
    )
    t.comment(`503 answered in ${ms.toFixed(1)} ms`)
  },
)

t.test(
  'passive checks without active ones: resets eject a target, requests fail over, cool-down re-admits',
  async (t) => {
    const flaky = await startRawUpstream((s) => s.once('data', () => s.resetAndDestroy()))
    const good = await startUpstream(named('good'))
    const proxy = await startProxy(`
upstreams:
  api:
    targets: [${flaky.url}, ${good.url}]
    healthCheck: false
    passive: { failures: 2, ejectFor: 600ms }
routes:
  - upstream: api
`)
    t.teardown(async () => {
      await proxy.close()
      await flaky.close()
      await good.close()
    })
    for (let i = 0; i < 6; i++) t.equal((await req(proxy.port, `/${i}`)).body, 'good', `GET ${i} answered`)
    t.equal(flaky.connections, 2, 'ejected after 2 failures: no more traffic to it')
    await waitFor(() => proxy.logs.some((l) => l.to === 'ejected'), 1000, 'ejection logged')
    await waitFor(
      () => proxy.logs.some((l) => l.from === 'ejected' && l.reason === 'ejection cool-down over'),
      2000,
      're-admitted',
    )
    await req(proxy.port, '/again')
    await req(proxy.port, '/again2')
    t.ok(flaky.connections > 2, 'tried again after the cool-down')
    const post = await req(proxy.port, '/post', { method: 'POST', body: 'x' })
    t.ok(post.status === 200 || post.status === 502, 'a POST that reached a target is never resent')
  },
)

t.test('a connect failure moves any request, POST included, to another target', async (t) => {
  const dead = await deadPort()
  const good = await startUpstream((_r, res, body) => res.end(`got ${body.toString()}`))
  const proxy = await startProxy(`
upstreams:
  api:
    targets: [http://127.0.0.1:${dead}, ${good.url}]
    healthCheck: false
    passive: false
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await good.close()
  })
  for (let i = 0; i < 4; i++) {
    const r = await req(proxy.port, '/', { method: 'POST', body: `n${i}` })
    t.equal(r.body, `got n${i}`)
  }
})

t.test('two targets, one killed mid-run under bounded load: zero failed GETs', async (t) => {
  const a = createServer(named('a'))
  const b = createServer(named('b'))
  const portA = await listen(a)
  const portB = await listen(b)
  const proxy = await startProxy(`
upstreams:
  api:
    targets: [http://127.0.0.1:${portA}, http://127.0.0.1:${portB}]
    healthCheck: { interval: 250ms, timeout: 100ms, fall: 2 }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await stop(b)
  })
  // Bounded by count, not time: 200 requests before the kill, 400 after it (a deadline only stops a hang).
  const WANTED = 600
  let ok = 0
  let sent = 0
  const failures: string[] = []
  let killed = false
  const deadline = Date.now() + 30_000
  const worker = async () => {
    while (sent < WANTED && Date.now() < deadline) {
      sent++
      try {
        const r = await req(proxy.port, '/')
        if (r.status === 200) ok++
        else failures.push(`status ${r.status} ${r.body.slice(0, 80)}`)
      } catch (err) {
        failures.push((err as Error).message)
      }
      if (!killed && ok >= 200) {
        killed = true
        void stop(a)
      }
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  t.ok(killed, 'a target was killed mid-run')
  t.same(failures, [], `zero failed requests out of ${sent}`)
  t.equal(ok, WANTED, `all ${WANTED} requests served`)
})

t.test('a reload that keeps a target keeps its health state, counters and probe loop', async (t) => {
  const { parseConfig } = await import('../../src/config/load.js')
  const dead = await deadPort()
  const yaml = (extra: string) => `
listen: { http: "127.0.0.1:0" }
upstreams:
  api:
    targets: [http://127.0.0.1:${dead}]
    healthCheck: { interval: 100ms, timeout: 50ms, fall: 1 }
${extra}
routes:
  - upstream: api
`
  const proxy = await startProxy(yaml(''))
  t.teardown(() => proxy.close())
  const target = [...proxy.sb.state.registry.all()][0]
  if (!target) throw new Error('no target')
  await waitFor(() => proxy.sb.state.health.view(target.key, Date.now()) === 'unhealthy', 2000, 'target down')
  const lastProbeBefore = proxy.sb.state.health.of(target.key).lastProbe?.at ?? 0
  const next = parseConfig(yaml('  other:\n    targets: [9]\n    healthCheck: false'), 'test.yaml', {})
  if (!next.ok) throw new Error(next.error.message)
  await proxy.sb.apply(next.config)
  const same = [...proxy.sb.state.registry.all()].find((x) => x.key === target.key)
  t.equal(same, target, 'the same Target object after the reload')
  t.equal(proxy.sb.state.health.view(same?.key ?? '', Date.now()), 'unhealthy', 'health state kept')
  t.equal(proxy.sb.state.monitor.size, 1, 'one probe loop, not two')
  await waitFor(
    () => (proxy.sb.state.health.of(target.key).lastProbe?.at ?? 0) > lastProbeBefore,
    2000,
    'probing continues',
  )
  t.equal((await req(proxy.port, '/')).status, 503)
})
