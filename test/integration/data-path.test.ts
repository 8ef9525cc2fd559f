import { createHash, randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import t from 'tap'
import { req } from '../helpers/client.js'
import { startProxy } from '../helpers/proxy.js'
import { completeResponse, rawRequest, waitFor } from '../helpers/raw.js'
import { deadPort, startRawUpstream, startUpstream } from '../helpers/upstream.js'

t.test('every method but CONNECT and TRACE; bodies of any content type stream through', async (t) => {
  const up = await startUpstream((r, res, body) => {
    const h = createHash('sha256').update(body).digest('hex')
    res.end(`${r.method} ${body.length} ${h}`)
  })
  const proxy = await startProxy(`routes:\n  - to: ${up.url}\n`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const payload = randomBytes(300_000)
  const sha = createHash('sha256').update(payload).digest('hex')
  for (const [method, type] of [
    ['POST', 'application/json'],
    ['PUT', 'application/octet-stream'],
    ['PATCH', 'multipart/form-data; boundary=x'],
    ['DELETE', 'text/plain'],
    ['PROPFIND', 'application/xml'],
  ] as const) {
    const r = await req(proxy.port, '/', { method, headers: { 'content-type': type }, body: payload })
    t.equal(r.body, `${method} ${payload.length} ${sha}`, `${method} ${type}`)
  }
  const head = await req(proxy.port, '/', { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.body, '')
  const opts = await req(proxy.port, '/', { method: 'OPTIONS' })
  t.equal(opts.body.startsWith('OPTIONS 0'), true)
  const trace = await req(proxy.port, '/', { method: 'TRACE' })
  t.equal(trace.status, 405)
  t.equal(up.seen.filter((s) => s.method === 'TRACE').length, 0, 'TRACE never reaches the upstream')
})

t.test('Expect: 100-continue uploads work and Expect is not forwarded', async (t) => {
  const up = await startUpstream((_r, res, body) => res.end(`got ${body.toString()}`))
  const proxy = await startProxy(`routes:\n  - to: ${up.url}\n`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  // raw: send headers, wait for the interim 100, then the body
  const result = await new Promise<string>((resolve, reject) => {
    const r = httpRequest({
      port: proxy.port,
      host: '127.0.0.1',
      method: 'POST',
      path: '/upload',
      headers: { host: 'x.test', expect: '100-continue', 'content-length': 5 },
      agent: false,
    })
    let sawContinue = false
    r.on('continue', () => {
      sawContinue = true
      r.end('hello')
    })
    r.on('response', (res) => {
      let b = ''
      res.on('data', (c: Buffer) => {
        b += c.toString()
      })
      res.on('end', () => resolve(`${sawContinue} ${res.statusCode} ${b}`))
    })
    r.on('error', reject)
    r.flushHeaders()
  })
  t.equal(result, 'true 200 got hello')
  t.equal(up.seen[0]?.headers.expect, undefined)
  const bytes = await rawRequest(
    proxy.port,
    'POST / HTTP/1.1\r\nHost: x.test\r\nExpect: foo\r\nContent-Length: 0\r\n\r\n',
    {
      done: completeResponse,
    },
  )
  t.equal(bytes.status, 417, 'an unknown expectation is refused')
})

t.test('Server-Sent Events: headers and each event arrive as sent; an idle stream is not cut', async (t) => {
  let send: ((s: string) => void) | undefined
  const up = await startUpstream(
    (_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.flushHeaders()
      send = (s) => res.write(s)
    },
    { stream: true },
  )
  const proxy = await startProxy(`
upstreams:
  sse: { targets: [${up.url}], timeouts: { idle: 1s } }
routes:
  - upstream: sse
`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const events: string[] = []
  let headersAt = 0
  const r = httpRequest({
    port: proxy.port,
    host: '127.0.0.1',
    path: '/events',
    headers: { host: 'x' },
    agent: false,
  })
  r.on('response', (res) => {
    headersAt = Date.now()
    t.equal(res.headers['content-type'], 'text/event-stream')
    res.on('data', (c: Buffer) => events.push(c.toString()))
  })
  r.end()
  await waitFor(() => headersAt > 0, 3000, 'SSE headers before any event')
  send?.('data: one\n\n')
  await waitFor(() => events.join('').includes('data: one'), 3000, 'first event')
  // silence longer than the upstream idle timeout (1s): SSE is exempt
  const quietUntil = Date.now() + 2500
  await waitFor(() => Date.now() > quietUntil, 4000, 'quiet period')
  send?.('data: two\n\n')
  await waitFor(() => events.join('').includes('data: two'), 3000, 'event after idle period')
  r.destroy()
})

t.test('a non-SSE response that stalls is cut at the idle timeout and shows as truncated', async (t) => {
  const up = await startRawUpstream((s) => {
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'))
  })
  const proxy = await startProxy(`
upstreams:
  slow: { targets: [${up.url}], timeouts: { idle: 1s } }
routes:
  - upstream: slow
`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const started = Date.now()
  const r = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { untilMs: 6000 })
  t.equal(r.closed, true, 'connection closed')
  t.equal(r.status, 200)
  t.equal(r.text.endsWith('0123456789'), true, 'nothing padded')
  t.ok(Date.now() - started < 5000, 'cut near the idle timeout')
})

t.test('truncated upstream bodies are never completed', async (t) => {
  const cases = {
    cl: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!',
    chunked: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
  }
  for (const [name, bytes] of Object.entries(cases)) {
    const up = await startRawUpstream((s) => s.once('data', () => s.end(bytes)))
    const proxy = await startProxy(`routes:\n  - to: ${up.url}\n`)
    const r = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { untilMs: 4000 })
    t.equal(r.closed, true, `${name}: connection closed`)
    if (name === 'cl') {
      t.match(r.text, /content-length: 100/i)
      t.equal(r.text.split('\r\n\r\n')[1], 'only ten!!', 'cl: short body, nothing padded')
    } else {
      t.match(r.text, /hello/)
      t.notMatch(r.text, /\r\n0\r\n\r\n$/, 'chunked: no last-chunk sent')
    }
    await proxy.close()
    await up.close()
  }
})

t.test('a client abort aborts the upstream request (download and upload)', async (t) => {
  let upstreamClosed = 0
  const up = await startUpstream(
    (r, res) => {
      r.on('close', () => upstreamClosed++)
      res.on('close', () => upstreamClosed++)
      if (r.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        res.write(Buffer.alloc(1024))
      } else r.resume()
    },
    { stream: true },
  )
  const proxy = await startProxy(`routes:\n  - to: ${up.url}\n`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const dl = httpRequest({
    port: proxy.port,
    host: '127.0.0.1',
    path: '/dl',
    headers: { host: 'x' },
    agent: false,
  })
  dl.on('response', (res) => res.once('data', () => dl.destroy()))
  dl.on('error', () => undefined)
  dl.end()
  await waitFor(() => upstreamClosed >= 1, 3000, 'upstream download request closed')
  const before = upstreamClosed
  const ul = httpRequest({
    port: proxy.port,
    host: '127.0.0.1',
    method: 'POST',
    path: '/ul',
    headers: { host: 'x', 'transfer-encoding': 'chunked' },
    agent: false,
  })
  ul.on('error', () => undefined)
  ul.write(Buffer.alloc(4096))
  await waitFor(() => up.seen.some((s) => s.url === '/ul'), 3000, 'upload reached upstream')
  ul.destroy()
  await waitFor(() => upstreamClosed > before, 3000, 'upstream upload request closed')
  await waitFor(
    () => proxy.logs.some((l) => l.path === '/ul' && l.error === 'client closed the connection'),
    3000,
    'logged',
  )
  t.pass('both aborts propagated')
})

t.test('upstream refused is 502, too slow is 504; pages name route and upstream, no internals', async (t) => {
  const dead = await deadPort()
  const hang = await startRawUpstream(() => undefined)
  const proxy = await startProxy(`
upstreams:
  gone: { targets: [http://127.0.0.1:${dead}] }
  hung: { targets: [${hang.url}], timeouts: { response: 500ms } }
routes:
  - { host: gone.test, upstream: gone }
  - { host: hung.test, upstream: hung }
`)
  t.teardown(async () => {
    await proxy.close()
    await hang.close()
  })
  const refusedJson = await req(proxy.port, '/', {
    host: 'gone.test',
    headers: { accept: 'application/json' },
  })
  t.equal(refusedJson.status, 502)
  const j = JSON.parse(refusedJson.body) as {
    error: { code: string }
    route: string
    upstream: string
    requestId: string
  }
  t.equal(j.error.code, 'SB_UPSTREAM_REFUSED')
  t.equal(j.route, 'gone.test/')
  t.equal(j.upstream, 'gone')
  t.equal(j.requestId, refusedJson.headers['x-request-id'])
  const refusedHtml = await req(proxy.port, '/', { host: 'gone.test', headers: { accept: 'text/html,*/*' } })
  t.match(refusedHtml.headers['content-type'], /text\/html/)
  t.match(refusedHtml.body, /<h1>502 Bad Gateway<\/h1>/)
  t.match(refusedHtml.body, /gone/)
  const slow = await req(proxy.port, '/', { host: 'hung.test' })
  t.equal(slow.status, 504)
  t.match(slow.body, /SB_UPSTREAM_TIMEOUT/)
  for (const body of [refusedJson.body, refusedHtml.body, slow.body]) {
    t.notMatch(body, /127\.0\.0\.1|ECONNREFUSED|UND_ERR|at .*\.js/, 'no address, error code or stack')
  }
})

t.test('a stale pooled connection is retried once for idempotent requests, never for POST', async (t) => {
  // Each connection answers its first request with keep-alive and resets on the next; POST /never is always reset.
  let postAttempts = 0
  const up = await startRawUpstream((s) => {
    let n = 0
    let buffered = ''
    s.on('data', (c: Buffer) => {
      buffered += c.toString()
      if (!buffered.includes('\r\n\r\n')) return
      const request = buffered
      buffered = ''
      if (request.startsWith('POST /never')) {
        postAttempts++
        s.resetAndDestroy()
        return
      }
      n++
      if (n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=60\r\n\r\nok')
      else s.resetAndDestroy()
    })
  })
  const proxy = await startProxy(
    `upstreams:\n  u: { targets: [${up.url}], healthCheck: false }\nroutes:\n  - upstream: u\n`,
  )
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  t.equal((await req(proxy.port, '/1')).body, 'ok')
  const second = await req(proxy.port, '/2')
  t.equal(second.status, 200, 'GET on a dead pooled connection retried on a fresh one')
  t.equal(up.connections, 2)
  const post = await req(proxy.port, '/never', { method: 'POST', body: 'x' })
  t.equal(post.status, 502, 'POST not retried')
  t.equal(postAttempts, 1, 'the upstream saw the POST exactly once')
})

t.test('redirect routes keep path and query; Location from the target is rewritten', async (t) => {
  const up = await startUpstream((r, res) => {
    if (r.url === '/login')
      res.writeHead(302, { location: `http://127.0.0.1:${r.socket.localPort as number}/home?x=1` }).end()
    else res.writeHead(302, { location: '/rel' }).end()
  })
  const proxy = await startProxy(`
routes:
  - { host: old.test, redirect: "https://new.test/base" }
  - { host: old2.test, redirect: "https://new.test", redirectCode: 301 }
  - { host: app.test, path: /app, stripPrefix: true, to: ${up.url} }
`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const r = await req(proxy.port, '/a/b?c=d', { host: 'old.test' })
  t.equal(r.status, 308)
  t.equal(r.headers.location, 'https://new.test/base/a/b?c=d')
  const r2 = await req(proxy.port, '/', { host: 'old2.test' })
  t.equal(r2.status, 301)
  t.equal(r2.headers.location, 'https://new.test/')
  const l = await req(proxy.port, '/app/login', { host: 'app.test:8443' })
  t.equal(l.headers.location, 'http://app.test:8443/app/home?x=1')
  const rel = await req(proxy.port, '/app/other', { host: 'app.test' })
  t.equal(rel.headers.location, '/app/rel')
})

t.test(
  'Host preserved by default; preserveHost false sends the target host; X-Forwarded-* and X-Request-Id',
  async (t) => {
    const up = await startUpstream((_r, res) => res.end('ok'))
    const proxy = await startProxy(`
routes:
  - { host: keep.test, to: ${up.url} }
  - { host: swap.test, to: ${up.url}, preserveHost: false }
`)
    t.teardown(async () => {
      await proxy.close()
      await up.close()
    })
    const a = await req(proxy.port, '/', {
      host: 'keep.test',
      headers: { 'x-request-id': 'client-id-1', 'x-forwarded-for': '6.6.6.6' },
    })
    t.equal(a.headers['x-request-id'], 'client-id-1', 'a sane id is kept and echoed')
    const seenA = up.seen[0]
    t.equal(seenA?.headers.host, 'keep.test')
    t.equal(seenA?.headers['x-forwarded-for'], '127.0.0.1', 'untrusted client list replaced')
    t.equal(seenA?.headers['x-forwarded-proto'], 'http')
    t.equal(seenA?.headers['x-forwarded-host'], 'keep.test')
    t.equal(seenA?.headers['x-forwarded-port'], String(proxy.port))
    t.equal(seenA?.headers['x-request-id'], 'client-id-1')
    const b = await req(proxy.port, '/', { host: 'swap.test', headers: { 'x-request-id': 'bad id!' } })
    t.match(b.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an insane id is replaced')
    t.equal(up.seen[1]?.headers.host, `127.0.0.1:${up.port}`)
    t.equal(up.seen[1]?.headers['x-request-id'], b.headers['x-request-id'])
  },
)

t.test('trustedProxies: a trusted peer’s X-Forwarded-For is appended to', async (t) => {
  const up = await startUpstream((_r, res) => res.end('ok'))
  const proxy = await startProxy(`trustedProxies: [127.0.0.0/8]\nroutes:\n  - to: ${up.url}\n`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  await req(proxy.port, '/', { headers: { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https' } })
  t.equal(up.seen[0]?.headers['x-forwarded-for'], '198.51.100.7, 127.0.0.1')
  t.equal(up.seen[0]?.headers['x-forwarded-proto'], 'https')
})

t.test('connections to upstreams are pooled and kept alive', async (t) => {
  const up = await startUpstream((_r, res) => res.end('ok'))
  let connections = 0
  up.server.on('connection', () => connections++)
  const proxy = await startProxy(
    `upstreams:\n  u: { targets: [${up.url}], healthCheck: false }\nroutes:\n  - upstream: u\n`,
  )
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  for (let i = 0; i < 20; i++) await req(proxy.port, `/${i}`)
  t.equal(connections, 1, '20 sequential requests, one upstream connection')
})
