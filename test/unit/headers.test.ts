import t from 'tap'
import {
  type ForwardContext,
  requestHeaders,
  requestIdFrom,
  responseHeaders,
} from '../../src/proxy/headers.js'

const base: ForwardContext = {
  clientIp: '203.0.113.9',
  trusted: false,
  proto: 'http',
  publicHost: 'app.localhost:8000',
  port: 8000,
  requestId: 'rid-1',
  upstreamHost: 'app.localhost:8000',
  contentLength: undefined,
  prefix: undefined,
  upgrade: false,
}

function asMap(flat: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (let i = 0; i < flat.length; i += 2) {
    const k = (flat[i] as string).toLowerCase()
    m.set(k, [...(m.get(k) ?? []), flat[i + 1] as string])
  }
  return m
}

t.test('request: hop-by-hop and Connection-listed headers are dropped, end-to-end kept', async (t) => {
  const out = asMap(
    requestHeaders(
      [
        'Host',
        'client.example',
        'Connection',
        'keep-alive, X-Secret, Host, Content-Length',
        'X-Secret',
        'drop me',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Connection',
        'keep-alive',
        'Proxy-Authorization',
        'Basic eA==',
        'TE',
        'gzip',
        'Trailer',
        'X-T',
        'Transfer-Encoding',
        'chunked',
        'Upgrade',
        'h2c',
        'HTTP2-Settings',
        'AAA',
        'Expect',
        '100-continue',
        'Content-Length',
        '005',
        'Cookie',
        'a=1',
        'Cookie',
        'b=2',
        'Origin',
        'http://app.localhost',
        'Accept',
        '*/*',
      ],
      { ...base, contentLength: '5' },
    ),
  )
  for (const gone of [
    'x-secret',
    'keep-alive',
    'proxy-connection',
    'proxy-authorization',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
    'http2-settings',
    'expect',
    'connection',
  ]) {
    t.notOk(out.has(gone), `${gone} dropped`)
  }
  t.same(out.get('host'), ['app.localhost:8000'], 'one Host, the chosen one')
  t.same(out.get('content-length'), ['5'], 'canonical Content-Length, never verbatim')
  t.same(out.get('cookie'), ['a=1', 'b=2'])
  t.same(out.get('origin'), ['http://app.localhost'])
  t.same(out.get('accept'), ['*/*'])
})

t.test('request: TE survives only as trailers', async (t) => {
  t.same(asMap(requestHeaders(['TE', 'trailers'], base)).get('te'), ['trailers'])
  t.notOk(asMap(requestHeaders(['TE', 'trailers, gzip'], base)).has('te'))
})

t.test('request: spoofed forwarding headers are replaced for untrusted peers', async (t) => {
  const raw = [
    'X-Forwarded-For',
    '127.0.0.1',
    'X-Forwarded-Host',
    'evil.example',
    'X-Forwarded-Proto',
    'https',
    'X-Forwarded-Port',
    '443',
    'Forwarded',
    'for=127.0.0.1',
    'X-Real-IP',
    '127.0.0.1',
    'X_Forwarded_For',
    '127.0.0.1',
    'X-Request-Id',
    'spoof',
  ]
  const out = asMap(requestHeaders(raw, base))
  t.same(out.get('x-forwarded-for'), ['203.0.113.9'])
  t.same(out.get('x-forwarded-host'), ['app.localhost:8000'])
  t.same(out.get('x-forwarded-proto'), ['http'])
  t.same(out.get('x-forwarded-port'), ['8000'])
  t.same(out.get('x-request-id'), ['rid-1'])
  t.notOk(out.has('forwarded'))
  t.notOk(out.has('x-real-ip'))
  t.notOk(out.has('x_forwarded_for'), 'underscore aliases dropped')
})

t.test('request: a trusted peer’s chain is appended to', async (t) => {
  const out = asMap(
    requestHeaders(
      [
        'X-Forwarded-For',
        '198.51.100.1',
        'X-Forwarded-For',
        '10.0.0.2',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'public.example',
      ],
      { ...base, trusted: true, clientIp: '10.0.0.3' },
    ),
  )
  t.same(out.get('x-forwarded-for'), ['198.51.100.1, 10.0.0.2, 10.0.0.3'])
  t.same(out.get('x-forwarded-proto'), ['https'])
  t.same(out.get('x-forwarded-host'), ['public.example'])
})

t.test('request: Connection cannot strip the proxy’s own forwarding headers', async (t) => {
  const out = asMap(
    requestHeaders(['Connection', 'close, X-Forwarded-For, X-Real-IP', 'X-Forwarded-For', '1.1.1.1'], base),
  )
  t.same(out.get('x-forwarded-for'), ['203.0.113.9'])
})

t.test('request: WebSocket handshakes keep Upgrade', async (t) => {
  const out = asMap(
    requestHeaders(['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Protocol', 'a, b'], {
      ...base,
      upgrade: true,
    }),
  )
  t.same(out.get('upgrade'), ['websocket'])
  t.same(out.get('connection'), ['Upgrade'])
  t.same(out.get('sec-websocket-protocol'), ['a, b'])
})

t.test('response: hop-by-hop and Connection-listed headers are dropped; Location rewritten', async (t) => {
  const out = asMap(
    responseHeaders(
      {
        connection: 'keep-alive, X-Secret',
        'x-secret': 'leak',
        'keep-alive': 'timeout=1',
        'proxy-connection': 'x',
        upgrade: 'h2c',
        'transfer-encoding': 'chunked',
        trailer: 'x',
        'set-cookie': ['a=1', 'b=2'],
        location: 'http://up/x',
        'content-length': '10',
        'x-request-id': 'upstream-id',
      },
      'rid-1',
      (l) => l.replace('http://up', 'https://pub'),
    ),
  )
  for (const gone of [
    'connection',
    'x-secret',
    'keep-alive',
    'proxy-connection',
    'upgrade',
    'transfer-encoding',
    'trailer',
  ])
    t.notOk(out.has(gone), `${gone} dropped`)
  t.same(out.get('set-cookie'), ['a=1', 'b=2'])
  t.same(out.get('location'), ['https://pub/x'])
  t.same(out.get('content-length'), ['10'])
  t.same(out.get('x-request-id'), ['rid-1'])
})

t.test('request ids', async (t) => {
  t.equal(requestIdFrom('abc-123_x.y:z'), 'abc-123_x.y:z')
  t.match(requestIdFrom('bad id with spaces'), /^[0-9a-f-]{36}$/)
  t.match(requestIdFrom('x'.repeat(200)), /^[0-9a-f-]{36}$/)
  t.match(requestIdFrom(undefined), /^[0-9a-f-]{36}$/)
})
