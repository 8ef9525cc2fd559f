/**
 * Regressions from the hardening review (issue 10, section 1): a 204/304 that carries a Content-Length (and stray
 * bytes) reaches the client without a body and its upstream connection is never reused; error answers log the bytes
 * of the page they sent; WebSocket refusals are counted under the upstream they were meant for; a WebSocket
 * handshake fails over to another target like an HTTP request does.
 */
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { type RunningProxy, startProxy } from '../helpers/proxy.js'
import { completeResponse, rawRequest, waitFor } from '../helpers/raw.js'
import { deadPort, type RawUpstream, startRawUpstream } from '../helpers/upstream.js'

/** Answers every request head on a connection with `bytes`. */
const answer = (bytes: string) => (s: Socket) => {
  let seen = ''
  s.on('data', (c: Buffer) => {
    seen += c.toString('latin1')
    while (seen.includes('\r\n\r\n')) {
      seen = seen.slice(seen.indexOf('\r\n\r\n') + 4)
      s.write(bytes)
    }
  })
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/** A proxy in front of one upstream, checks off (connection counts must be exact); both closed with the test. */
async function proxyFor(t: Test, upstream: RawUpstream): Promise<RunningProxy> {
  const proxy = await startProxy(`
upstreams:
  api: { targets: [${upstream.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await upstream.close()
  })
  return proxy
}

/** The access-log lines written so far. */
const requestLines = (proxy: RunningProxy) => proxy.logs.filter((l) => l.msg === 'request')

/** Two requests on one keep-alive client connection; resolves with each full response text. */
function twoOnOneConnection(port: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const replies: string[] = []
    let buffer = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`timed out; got ${JSON.stringify([...replies, buffer])}`))
    }, 5000)
    const send = () => socket.write('GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n')
    socket.on('connect', send)
    socket.on('data', (c: Buffer) => {
      buffer += c.toString('latin1')
      const end = buffer.indexOf('\r\n\r\n')
      if (end < 0) return
      // a 204/304 ends at its headers whatever Content-Length says
      replies.push(buffer.slice(0, end + 4))
      buffer = buffer.slice(end + 4)
      if (replies.length === 2) {
        clearTimeout(timer)
        // nothing may follow the second head: wait briefly for stray bytes on the wire
        setImmediate(() => {
          socket.destroy()
          resolve(buffer === '' ? replies : [...replies, `STRAY: ${buffer}`])
        })
      } else send()
    })
    socket.on('error', reject)
  })
}

for (const status of [204, 304]) {
  const reason = status === 204 ? 'No Content' : 'Not Modified'
  t.test(`a ${status} with Content-Length: 8 and eight bytes of body`, async (t) => {
    const upstream = await startRawUpstream(
      answer(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 8\r\nX-Up: 1\r\n\r\n12345678`),
    )
    const proxy = await proxyFor(t, upstream)
    const replies = await twoOnOneConnection(proxy.port)
    t.equal(replies.length, 2, 'two answers, nothing stray after them')
    for (const r of replies) {
      t.match(r, new RegExp(`^HTTP/1\\.1 ${status} `), `the client gets the ${status}`)
      t.match(r, /\r\nx-up: 1\r\n/i, "with the upstream's headers")
      if (status === 204) t.notMatch(r, /content-length/i, 'no Content-Length on a 204')
    }
    t.equal(upstream.connections, 2, 'the upstream connection that carried stray bytes was not reused')
    await waitFor(() => requestLines(proxy).length === 2, 2000, 'two log lines')
    for (const line of requestLines(proxy)) {
      t.equal(line.status, status)
      t.notMatch(String(line.error), /client closed/, 'the log does not blame the client')
      t.match(
        String(line.error),
        new RegExp(`Content-Length: 8 with a ${status}.*discarded`),
        'it names what happened',
      )
    }
  })
}

t.test('a 204 without a length keeps its upstream connection for the next request', async (t) => {
  const upstream = await startRawUpstream(answer('HTTP/1.1 204 No Content\r\n\r\n'))
  const proxy = await proxyFor(t, upstream)
  const replies = await twoOnOneConnection(proxy.port)
  t.equal(replies.length, 2)
  t.equal(upstream.connections, 1, 'reused')
  await waitFor(() => requestLines(proxy).length === 2, 2000, 'two log lines')
  t.same(
    requestLines(proxy).map((l) => l.error),
    [undefined, undefined],
  )
})

t.test('error answers log the bytes of the page they sent, and their code', async (t) => {
  const dead = await deadPort()
  const proxy = await startProxy(`
upstreams:
  api: { targets: ["http://127.0.0.1:${dead}"], healthCheck: false, passive: false }
routes:
  - host: a.test
    upstream: api
`)
  t.teardown(() => proxy.close())
  const missing = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n', {
    done: completeResponse,
  })
  const refused = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n', {
    done: completeResponse,
  })
  t.equal(missing.status, 404)
  t.equal(refused.status, 502)
  await waitFor(() => requestLines(proxy).length === 2, 2000, 'two log lines')
  const [l404, l502] = requestLines(proxy)
  const bodyLength = (text: string) => Buffer.byteLength(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1')
  t.equal(l404?.bytes, bodyLength(missing.text), '404: the page length')
  t.equal(l404?.code, 'SB_NO_ROUTE')
  t.equal(l502?.bytes, bodyLength(refused.text), '502: the page length')
  t.equal(l502?.error, 'connection refused')
  t.ok((l502?.bytes as number) > 0)
})

t.test('WebSocket and HTTP 503s on the same route are counted under the same upstream', async (t) => {
  const dead = await deadPort()
  const proxy = await startProxy(`
upstreams:
  api:
    targets: ["http://127.0.0.1:${dead}"]
    healthCheck: { interval: 100ms, timeout: 50ms, fall: 1 }
routes:
  - upstream: api
`)
  t.teardown(() => proxy.close())
  await waitFor(() => proxy.sb.upstreams()[0]?.available === 0, 3000, 'target down')
  const ws = await rawRequest(
    proxy.port,
    'GET /hmr HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    { done: completeResponse },
  )
  const http = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n', {
    done: completeResponse,
  })
  t.equal(ws.status, 503)
  t.equal(http.status, 503)
  t.match(ws.text, /\r\nretry-after: \d+\r\n/i)
  await waitFor(() => requestLines(proxy).length === 2, 2000, 'two log lines')
  const metrics = proxy.sb.metrics.render()
  t.match(
    metrics,
    /switchboard_requests_total\{code="5xx",route="\*\/",upstream="api"\} 2\b/,
    'both under "api"',
  )
  t.notMatch(metrics, /upstream="\(none\)"/)
  const wsLine = proxy.logs.find((l) => l.msg === 'request' && l.websocket === true)
  t.equal(wsLine?.upstream, 'api')
  t.equal(wsLine?.code, 'SB_NO_HEALTHY_TARGET')
})

t.test(
  'a WebSocket handshake fails over to another target when the first refuses the connection',
  async (t) => {
    const dead = await deadPort()
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    wss.on('connection', (s) => s.on('message', (d) => s.send(`echo: ${d.toString()}`)))
    await new Promise<void>((r) => wss.once('listening', () => r()))
    const live = (wss.address() as { port: number }).port
    const proxy = await startProxy(`
upstreams:
  api:
    targets: ["http://127.0.0.1:${dead}", "http://127.0.0.1:${live}"]
    balance: round-robin
    healthCheck: false
    passive: false
routes:
  - upstream: api
`)
    t.teardown(async () => {
      await proxy.close()
      for (const c of wss.clients) c.terminate()
      await new Promise<void>((r) => wss.close(() => r()))
    })
    for (let i = 0; i < 2; i++) {
      // round-robin: one of the two handshakes starts on the dead target
      const client = new WebSocket(`ws://127.0.0.1:${proxy.port}/hmr`, { headers: { host: 'a.test' } })
      const reply = await new Promise<string>((resolve, reject) => {
        client.once('open', () => client.send(`hello ${i}`))
        client.once('message', (d) => resolve(d.toString()))
        client.once('error', reject)
        client.once('unexpected-response', (_q, res) => reject(new Error(`status ${res.statusCode}`)))
      })
      t.equal(reply, `echo: hello ${i}`)
      client.terminate()
    }
  },
)

t.test('answers written outside the proxy path carry a catalogue code', async (t) => {
  const proxy = await startProxy(`
routes:
  - redirect: https://example.test
`)
  t.teardown(() => proxy.close())
  const cases: [string, string, number, string][] = [
    [
      'a request the parser refuses',
      'GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
      'SB_MALFORMED_REQUEST',
    ],
    [
      'headers over 16 KiB',
      `GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'SB_HEADERS_TOO_LARGE',
    ],
    ['CONNECT', 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n', 405, 'SB_METHOD_NOT_ALLOWED'],
    [
      'a non-WebSocket upgrade with a body',
      'POST / HTTP/1.1\r\nHost: a.test\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 3\r\n\r\nabc',
      400,
      'SB_BAD_REQUEST',
    ],
  ]
  for (const [name, bytes, status, code] of cases) {
    const r = await rawRequest(proxy.port, bytes, { done: completeResponse })
    t.equal(r.status, status, name)
    t.match(r.text, `code: ${code}`, `${name}: ${code}`)
    t.match(r.text, /\r\nx-request-id: /i, `${name}: a request id`)
  }
})
