/**
 * Header handling in both directions (security notes, section 2 group C: cases 32, 33, 35, 36, 37, 40; section 3
 * rows "32", "33, 34", "35, 36", "37", "39"; section 0 findings 6, 7 and 8).
 *
 * The upstream is a raw recorder, so header names are checked exactly as they arrived on the wire.
 *
 * Health checks (active TCP probes and passive ejection) are off in these configs: connection counts must be exact
 * and a failing upstream must keep answering with its fault, not with 503 after an ejection.
 */
import { connect } from 'node:net'
import t from 'tap'
import { startProxy } from '../helpers/proxy.js'
import { completeResponse, rawRequest, waitFor } from '../helpers/raw.js'
import {
  headerValues,
  leaks,
  quiet,
  type RecordedRequest,
  responseBody,
  responseHeaderMap,
  startRecordingUpstream,
  statuses,
} from '../helpers/security.js'
import { deadPort, startRawUpstream } from '../helpers/upstream.js'

const H = 'Host: good.example\r\n'

const up = await startRecordingUpstream()
const proxy = await startProxy(`
upstreams:
  api: { targets: ["${up.url}/pub"], healthCheck: false, passive: false }
routes:
  - host: good.example
    path: /api
    stripPrefix: true
    upstream: api
`)
t.teardown(async () => {
  await proxy.close()
  await up.close()
})

/** Sends raw bytes and returns the client's answer and the request the upstream recorded for it. */
async function send(bytes: string): Promise<{ status: number; text: string; got: RecordedRequest }> {
  const before = up.requests.length
  const r = await rawRequest(proxy.port, bytes, { done: completeResponse })
  await waitFor(() => up.requests.length > before, 2000, 'the upstream request')
  return { status: r.status, text: r.text, got: up.requests.at(-1) as RecordedRequest }
}

const names = (r: RecordedRequest) => r.headers.map(([k]) => k.toLowerCase())

t.test('case 32: Connection-nominated headers cannot strip the proxy-set ones', async (t) => {
  const { status, got } = await send(
    `POST /api/x HTTP/1.1\r\n${H}Connection: close, X-Forwarded-For, X-Real-IP, x-forwarded-host, X-FORWARDED-PROTO, X-Request-Id, X-Custom\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Custom: secret\r\nContent-Length: 5\r\n\r\nhello`,
  )
  t.equal(status, 200)
  t.same(headerValues(got, 'x-forwarded-for'), ['127.0.0.1'], 'proxy value, client value gone')
  t.same(headerValues(got, 'x-forwarded-host'), ['good.example'])
  t.same(headerValues(got, 'x-forwarded-proto'), ['http'])
  t.equal(headerValues(got, 'x-request-id').length, 1, 'x-request-id still set by the proxy')
  t.same(headerValues(got, 'x-real-ip'), [], 'client X-Real-IP gone')
  t.same(headerValues(got, 'x-custom'), [], 'a Connection-listed header is dropped')
  t.same(headerValues(got, 'content-length'), ['5'])
  t.equal(got.body, 'hello', 'framing stays valid')
})

t.test('case 32: Connection: host / content-length / transfer-encoding keep framing and Host', async (t) => {
  const a = await send(
    `POST /api/x HTTP/1.1\r\n${H}Connection: host, content-length\r\nContent-Length: 5\r\n\r\nhello`,
  )
  t.equal(a.status, 200)
  t.same(headerValues(a.got, 'host'), ['good.example'])
  t.same(headerValues(a.got, 'content-length'), ['5'])
  t.equal(a.got.body, 'hello')
  const b = await send(
    `POST /api/x HTTP/1.1\r\n${H}Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  )
  t.equal(b.status, 200)
  t.equal(b.got.body, 'hello', 'chunked body intact')
  t.equal(
    headerValues(b.got, 'transfer-encoding').length + headerValues(b.got, 'content-length').length,
    1,
    'exactly one framing header',
  )
})

t.test('case 33: spoofed forwarding headers from an untrusted peer are replaced', async (t) => {
  const { status, got } = await send(
    `GET /api/x HTTP/1.1\r\n${H}X-Forwarded-For: 127.0.0.2\r\nX-Real-IP: 10.0.0.1\r\nForwarded: for=10.0.0.1;host=evil\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Prefix: /evil\r\n\r\n`,
  )
  t.equal(status, 200)
  t.same(headerValues(got, 'x-forwarded-for'), ['127.0.0.1'])
  t.same(headerValues(got, 'x-real-ip'), [])
  t.same(headerValues(got, 'forwarded'), [])
  t.same(headerValues(got, 'x-forwarded-host'), ['good.example'])
  t.same(headerValues(got, 'x-forwarded-proto'), ['http'])
  t.same(headerValues(got, 'x-forwarded-port'), [String(proxy.port)])
  t.same(headerValues(got, 'x-forwarded-prefix'), ['/api'], "the route's prefix, not the client's")
  t.notMatch(
    JSON.stringify(got.headers),
    /evil|10\.0\.0\.1|127\.0\.0\.2|https|443/,
    'no client value survives',
  )
})

t.test('case 33: a trusted peer keeps its chain and this hop is appended', async (t) => {
  const trusting = await startProxy(`
trustedProxies: [127.0.0.1/32]
upstreams:
  api: { targets: ["${up.url}/pub"], healthCheck: false, passive: false }
routes:
  - { host: good.example, path: /api, stripPrefix: true, upstream: api }
`)
  t.teardown(() => trusting.close())
  const before = up.requests.length
  const r = await rawRequest(
    trusting.port,
    `GET /api/x HTTP/1.1\r\n${H}X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\r\n`,
    { done: completeResponse },
  )
  t.equal(r.status, 200)
  await waitFor(() => up.requests.length > before, 2000, 'the upstream request')
  const got = up.requests.at(-1) as RecordedRequest
  t.same(headerValues(got, 'x-forwarded-for'), ['203.0.113.7, 127.0.0.1'])
  t.same(headerValues(got, 'x-forwarded-proto'), ['https'])
})

t.test('case 34: underscore and dot alias names of forwarding headers are dropped', async (t) => {
  const { status, got } = await send(
    `GET /api/x HTTP/1.1\r\n${H}X_Forwarded_For: 1.1.1.1\r\nX-Real_IP: 2.2.2.2\r\nX.Forwarded.For: 3.3.3.3\r\nX-Forwarded.Host: evil.example\r\nContent_Length: 99\r\nClient_IP: 4.4.4.4\r\n\r\n`,
  )
  t.equal(status, 200)
  const aliases = names(got).filter((n) => n.includes('_') || n.includes('.'))
  t.same(aliases, [], 'no "_" or "." header names reach the upstream')
  t.notMatch(JSON.stringify(got.headers), /1\.1\.1\.1|2\.2\.2\.2|3\.3\.3\.3|4\.4\.4\.4|evil/)
  t.same(headerValues(got, 'x-forwarded-for'), ['127.0.0.1'])
})

t.test('case 35: hop-by-hop request headers are stripped and the request still succeeds', async (t) => {
  const cases: [string, string][] = [
    ['Keep-Alive without Connection', 'Keep-Alive: timeout=5'],
    ['Upgrade without Connection', 'Upgrade: websocket'],
    ['Proxy-Connection', 'Proxy-Connection: keep-alive'],
    ['Proxy-Authorization', 'Proxy-Authorization: Basic Zm9vOmJhcg=='],
    ['TE: gzip', 'TE: gzip'],
    ['HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'],
    ['Trailer', 'Trailer: X-T'],
  ]
  const hop = [
    'keep-alive',
    'upgrade',
    'proxy-connection',
    'proxy-authorization',
    'te',
    'http2-settings',
    'trailer',
  ]
  for (const [name, line] of cases) {
    const { status, got } = await send(`GET /api/x HTTP/1.1\r\n${H}${line}\r\n\r\n`)
    t.equal(status, 200, `${name}: a normal response`)
    t.same(
      names(got).filter((n) => hop.includes(n)),
      [],
      `${name}: not forwarded`,
    )
  }
  const all = await send(`GET /api/x HTTP/1.1\r\n${H}${cases.map(([, l]) => `${l}\r\n`).join('')}\r\n`)
  t.equal(all.status, 200, 'all at once: a normal response')
  t.same(
    names(all.got).filter((n) => hop.includes(n)),
    [],
  )
  const tr = await send(`GET /api/x HTTP/1.1\r\n${H}TE: trailers\r\nConnection: TE\r\n\r\n`)
  t.equal(tr.status, 200)
  t.same(headerValues(tr.got, 'te'), ['trailers'], 'TE is forwarded only as "trailers"')
})

t.test(
  'case 36: Expect: 100-continue gets 100, then the upstream answer; Expect never forwarded',
  async (t) => {
    const before = up.requests.length
    const s = connect(proxy.port, '127.0.0.1')
    let text = ''
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1')
    })
    s.on('error', () => undefined)
    t.teardown(() => {
      s.destroy()
    })
    s.write(`POST /api/x HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`)
    await waitFor(() => text.includes('100 Continue'), 2000, 'the interim 100')
    t.equal(up.requests.length, before, 'nothing complete upstream before the body')
    s.write('hello')
    await waitFor(
      () => completeResponse(text.slice(text.indexOf('\r\n\r\n') + 4)),
      2000,
      'the final response',
    )
    t.same(statuses(text), [100, 200])
    const got = up.requests.at(-1) as RecordedRequest
    t.equal(got.body, 'hello', 'the body reached the upstream')
    t.same(headerValues(got, 'expect'), [], 'Expect was not forwarded')
  },
)

t.test('case 36: an unknown expectation is answered 417 by the proxy, nothing upstream', async (t) => {
  const before = up.bytes().length
  const r = await rawRequest(
    proxy.port,
    `POST /api/x HTTP/1.1\r\n${H}Expect: foo\r\nContent-Length: 5\r\n\r\nhello`,
    { done: (x) => x.includes('\r\n\r\n') },
  )
  t.equal(r.status, 417)
  await quiet()
  t.equal(up.bytes().length, before, 'upstream received nothing')
})

t.test('case 37: hop-by-hop response headers never reach the client', async (t) => {
  const scripted = await startRawUpstream((socket) => {
    socket.once('data', () =>
      socket.write(
        'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret, x-lower\r\nX-Secret: leak\r\nX-Lower: leak\r\nKeep-Alive: timeout=1\r\nProxy-Connection: x\r\nUpgrade: h2c\r\nTE: trailers\r\nTrailer: X-T\r\nProxy-Authenticate: Basic\r\nHTTP2-Settings: AAAA\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok',
      ),
    )
  })
  const p = await startProxy(`
upstreams:
  api: { targets: [${scripted.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await p.close()
    await scripted.close()
  })
  const r = await rawRequest(p.port, `GET / HTTP/1.1\r\n${H}\r\n`, { done: completeResponse })
  t.equal(r.status, 200)
  const h = responseHeaderMap(r.text)
  for (const name of [
    'x-secret',
    'x-lower',
    'proxy-connection',
    'upgrade',
    'te',
    'trailer',
    'proxy-authenticate',
    'http2-settings',
  ])
    t.notOk(h.has(name), `${name} not relayed`)
  t.same(h.get('x-kept'), ['yes'], 'end-to-end headers are relayed')
  t.same(h.get('connection'), ['keep-alive'], "the proxy's own Connection, once")
  t.not(h.get('keep-alive')?.[0], 'timeout=1', "the proxy's own Keep-Alive, not the upstream's")
  t.equal(responseBody(r.text), 'ok')
})

t.test('case 39: __proto__ and other prototype names as headers, both directions', async (t) => {
  const a = await send(
    `GET /api/x HTTP/1.1\r\n${H}__proto__: x\r\nconstructor: y\r\nhasOwnProperty: z\r\ntoString: w\r\nConnection: __proto__, constructor\r\n\r\n`,
  )
  t.equal(a.status, 200, 'no crash on prototype names in the request')
  const b = await send(`GET /api/x HTTP/1.1\r\n${H}\r\n`)
  t.equal(b.status, 200, 'the proxy still serves')
  const scripted = await startRawUpstream((socket) => {
    socket.once('data', () =>
      socket.write(
        'HTTP/1.1 200 OK\r\n__proto__: x\r\nconstructor: y\r\nConnection: __proto__\r\nContent-Length: 2\r\n\r\nok',
      ),
    )
  })
  const p = await startProxy(`
upstreams:
  api: { targets: [${scripted.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await p.close()
    await scripted.close()
  })
  const r = await rawRequest(p.port, `GET / HTTP/1.1\r\n${H}\r\n`, { done: completeResponse })
  t.equal(r.status, 200, 'no crash on prototype names in the response')
  t.equal(responseBody(r.text), 'ok')
  t.notOk(responseHeaderMap(r.text).has('__proto__'), 'a Connection-listed __proto__ is dropped')
})

t.test('case 40: every upstream fault gets a generic body, in text, JSON and HTML', async (t) => {
  const dead = await deadPort()
  const faults: Record<string, (s: import('node:net').Socket) => void> = {
    reset: (s) => s.once('data', () => s.resetAndDestroy()),
    close: (s) => s.once('data', () => s.end()),
    garbage: (s) => s.once('data', () => s.end('GARBAGE\r\n\r\n')),
    overflow: (s) =>
      s.once('data', () =>
        s.end(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\nContent-Length: 2\r\n\r\nok`),
      ),
    'duplicate CL': (s) =>
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!')),
    hang: () => undefined,
  }
  const raws = await Promise.all(Object.values(faults).map((f) => startRawUpstream(f)))
  const names = Object.keys(faults)
  const upstreams = [
    `refused: { targets: ["http://127.0.0.1:${dead}"], healthCheck: false, passive: false }`,
    'dns: { targets: ["http://no-such-host.invalid:81"], healthCheck: false, passive: false }',
    ...raws.map(
      (u, i) =>
        `f${i}: { targets: [${u.url}], healthCheck: false, passive: false, timeouts: { response: 300ms } }`,
    ),
  ]
  const p = await startProxy(`
upstreams:
${upstreams.map((u) => `  ${u}`).join('\n')}
routes:
  - { path: /refused, upstream: refused }
  - { path: /dns, upstream: dns }
${raws.map((_, i) => `  - { path: /f${i}, upstream: f${i} }`).join('\n')}
`)
  t.teardown(async () => {
    await p.close()
    for (const u of raws) await u.close()
  })
  const ports = [dead, ...raws.map((u) => u.port)]
  const paths: [string, string][] = [
    ['refused', '/refused'],
    ['dns', '/dns'],
    ...names.map((n, i): [string, string] => [n, `/f${i}`]),
  ]
  for (const [name, path] of paths) {
    for (const accept of ['*/*', 'application/json', 'text/html']) {
      const r = await rawRequest(p.port, `GET ${path} HTTP/1.1\r\n${H}Accept: ${accept}\r\n\r\n`, {
        done: completeResponse,
        untilMs: 5000,
      })
      t.ok([502, 504].includes(r.status), `${name} (${accept}): ${r.status}`)
      t.same(leaks(r.text, ports), [], `${name} (${accept}): nothing internal in the answer`)
      t.notMatch(r.text, /no-such-host/, `${name} (${accept}): no upstream host name`)
    }
  }
})
