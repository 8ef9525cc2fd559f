/**
 * Upstream faults, request limits and non-proxyable methods (security notes, section 2 groups F (56, 58, 59, 60),
 * G (66, 67), case 17, case 69; section 3 rows "38, 61-63, 56-59", "52, 53, 60, 64", "66", "67", "17", "69";
 * section 0 findings 2, 3 and 4).
 *
 * The misbehaving upstreams are raw TCP servers scripted byte by byte. For each fault we check the status the client
 * gets, that the answer names no address or library error, that an incomplete upstream body is never made to look
 * complete, and what the upstream saw (how many connections, how many requests).
 *
 * Health checks (active TCP probes and passive ejection) are off in these configs: connection counts must be exact
 * and a failing upstream must keep answering with its fault, not with 503 after an ejection.
 */
import { createServer as createHttpsServer } from 'node:https'
import { type AddressInfo, connect, type Socket } from 'node:net'
import t from 'tap'
import { startProxy } from '../helpers/proxy.js'
import { completeResponse, rawRequest, waitFor } from '../helpers/raw.js'
import {
  countConnections,
  IMPOSTOR_CERT,
  IMPOSTOR_KEY,
  leaks,
  quiet,
  responseBody,
  responseHeaderMap,
  startRecordingUpstream,
  statuses,
} from '../helpers/security.js'
import { deadPort, startRawUpstream, startUpstream } from '../helpers/upstream.js'

const H = 'Host: good.example\r\n'
const GET = `GET /x HTTP/1.1\r\n${H}\r\n`

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/** A proxy in front of one scripted raw upstream; torn down with the test. */
async function scripted(
  t: Test,
  onConnection: (socket: Socket, index: number) => void,
  timeouts = '{ connect: 1s, response: 600ms, idle: 1s }',
) {
  const upstream = await startRawUpstream(onConnection)
  const proxy = await startProxy(`
upstreams:
  api: { targets: [${upstream.url}], healthCheck: false, passive: false, timeouts: ${timeouts} }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await upstream.close()
  })
  return { upstream, proxy }
}

/** Answers `bytes` once the request head has arrived. */
const answer = (bytes: string) => (s: Socket) => {
  let seen = ''
  s.on('data', (c: Buffer) => {
    seen += c.toString('latin1')
    if (seen.includes('\r\n\r\n')) {
      seen = ''
      s.write(bytes)
    }
  })
}

t.test('case 56: upstream refused: 502 in milliseconds, generic body', async (t) => {
  const dead = await deadPort()
  const proxy = await startProxy(`
upstreams:
  api: { targets: ["http://127.0.0.1:${dead}"], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(() => proxy.close())
  const started = Date.now()
  const r = await rawRequest(proxy.port, GET, { done: completeResponse })
  t.equal(r.status, 502)
  t.ok(Date.now() - started < 1000, `answered in ${Date.now() - started}ms`)
  t.same(leaks(r.text, [dead]), [])
})

t.test(
  'case 56 with default health checks: a dead upstream gets 502, then 503 once ejected; never a leak',
  async (t) => {
    const dead = await deadPort()
    const proxy = await startProxy(`
upstreams:
  api: { targets: ["http://127.0.0.1:${dead}"] }
routes:
  - upstream: api
`)
    t.teardown(() => proxy.close())
    const seen: number[] = []
    for (let i = 0; i < 6; i++) {
      const r = await rawRequest(proxy.port, GET, { done: completeResponse })
      seen.push(r.status)
      t.same(leaks(r.text, [dead]), [], `request ${i + 1} (${r.status}): generic body`)
    }
    t.ok(
      seen.every((s) => s === 502 || s === 503),
      `only 502 (refused) or 503 (no healthy target): ${seen}`,
    )
    t.equal(seen[0], 502, 'the first failure is reported as refused')
  },
)

t.test('case 56: DNS failure: 502 (not 503), generic body', async (t) => {
  const proxy = await startProxy(`
upstreams:
  api: { targets: ["http://no-such-host.invalid:8080"], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(() => proxy.close())
  const r = await rawRequest(proxy.port, GET, { done: completeResponse })
  t.equal(r.status, 502)
  t.same(leaks(r.text, [8080]), [])
  t.notMatch(r.text, /no-such-host|ENOTFOUND|EAI_AGAIN|getaddrinfo/)
})

t.test('case 58: upstream accepts but never answers: 504 at the configured response timeout', async (t) => {
  const { upstream, proxy } = await scripted(t, () => undefined)
  const started = Date.now()
  const r = await rawRequest(proxy.port, GET, { done: completeResponse, untilMs: 5000 })
  const ms = Date.now() - started
  t.equal(r.status, 504)
  t.ok(ms >= 550 && ms < 2000, `answered after ${ms}ms (timeouts.response 600ms)`)
  t.same(leaks(r.text, [upstream.port]), [])
  t.equal(upstream.connections, 1, 'not retried')
})

t.test('case 59: upstream resets or closes before the status line: 502', async (t) => {
  for (const [name, fn] of [
    ['RST', (s: Socket) => s.once('data', () => s.resetAndDestroy())],
    ['FIN', (s: Socket) => s.once('data', () => s.end())],
    ['FIN after a partial status line', (s: Socket) => s.once('data', () => s.end('HTTP/1.1 20'))],
  ] as const) {
    const { upstream, proxy } = await scripted(t, fn)
    const r = await rawRequest(proxy.port, GET, { done: completeResponse })
    t.equal(r.status, 502, `${name}: 502`)
    t.same(leaks(r.text, [upstream.port]), [], `${name}: generic body`)
    t.ok(
      upstream.connections <= 2,
      `${name}: a GET is retried at most once (${upstream.connections} attempts)`,
    )
  }
})

t.test('case 59: a POST is never retried once sent', async (t) => {
  for (const [name, body] of [
    ['with a body', 'Content-Length: 5\r\n\r\nhello'],
    ['without a body', 'Content-Length: 0\r\n\r\n'],
  ] as const) {
    const { upstream, proxy } = await scripted(t, (s) => {
      let seen = ''
      s.on('data', (c: Buffer) => {
        seen += c.toString('latin1')
        if (seen.includes('\r\n\r\n')) s.resetAndDestroy()
      })
    })
    const r = await rawRequest(proxy.port, `POST /x HTTP/1.1\r\n${H}${body}`, { done: completeResponse })
    t.equal(r.status, 502, `POST ${name}: 502`)
    await quiet()
    t.equal(upstream.connections, 1, `POST ${name}: exactly one attempt`)
  }
})

t.test('case 60: truncated upstream bodies stay visibly incomplete', async (t) => {
  await t.test('(a) Content-Length 100, 10 bytes, FIN', async (t) => {
    const { proxy } = await scripted(t, answer('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'))
    const r = await rawRequest(proxy.port, GET, { untilMs: 3000 })
    t.equal(r.status, 200)
    t.ok(r.closed, 'connection closed')
    t.equal(responseBody(r.text), '0123456789', 'the 10 bytes, nothing padded')
    t.same(responseHeaderMap(r.text).get('content-length'), ['100'], 'the declared length, so the gap shows')
  })
  await t.test('(b) chunked without the last-chunk, FIN', async (t) => {
    const { proxy } = await scripted(
      t,
      answer('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'),
    )
    const r = await rawRequest(proxy.port, GET, { untilMs: 3000 })
    t.equal(r.status, 200)
    t.ok(r.closed, 'connection closed')
    t.match(responseBody(r.text), /hello/)
    t.notMatch(responseBody(r.text), /(^|\r\n)0\r\n\r\n/, 'no last-chunk is invented')
  })
  await t.test('(c) stall mid-body: closed at the idle timeout', async (t) => {
    const { proxy } = await scripted(t, answer('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'))
    // keep the upstream socket open (answer() writes without ending)
    const started = Date.now()
    const r = await rawRequest(proxy.port, GET, { untilMs: 5000 })
    const ms = Date.now() - started
    t.equal(r.status, 200)
    t.ok(r.closed, `connection closed after ${ms}ms (timeouts.idle 1s)`)
    t.ok(ms >= 900 && ms < 3500, 'closed at the idle timeout, not before, not never')
    t.equal(responseBody(r.text), '0123456789')
  })
})

t.test('malformed upstream responses: 502, never relayed', async (t) => {
  const cases: [string, string][] = [
    ['garbage status line', 'GARBAGE\r\n\r\n'],
    ['HTTP/0.9-style body only', 'hello world\r\n'],
    ['status code 999', 'HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\nok'],
    ['status code 600', 'HTTP/1.1 600 Weird\r\nContent-Length: 2\r\n\r\nok'],
    [
      'header overflow (70 KB)',
      `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\nContent-Length: 2\r\n\r\nok`,
    ],
    ['duplicate Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['invalid Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello'],
    [
      'Content-Length and Transfer-Encoding',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ],
    ['unknown Transfer-Encoding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello'],
    ['bare LF in headers', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok'],
    ['NUL in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok'],
  ]
  for (const [name, bytes] of cases) {
    const { upstream, proxy } = await scripted(t, (s) => s.once('data', () => s.end(bytes)))
    const r = await rawRequest(proxy.port, GET, { done: completeResponse, untilMs: 3000 })
    t.equal(r.status, 502, `${name}: 502`)
    t.same(statuses(r.text), [502], `${name}: nothing of the upstream's answer relayed`)
    t.notMatch(responseBody(r.text), /hello|aaaa/, `${name}: no upstream body bytes`)
    t.same(leaks(r.text, [upstream.port]), [], `${name}: generic body`)
  }
})

t.test(
  'extra upstream bytes after Content-Length are dropped, never served to a later request',
  async (t) => {
    const { proxy } = await scripted(
      t,
      answer(
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil',
      ),
    )
    const first = await rawRequest(proxy.port, GET, { done: completeResponse })
    t.equal(first.status, 200)
    t.equal(responseBody(first.text), 'hello', 'exactly Content-Length bytes')
    await quiet(50)
    const second = await rawRequest(proxy.port, GET, { done: completeResponse })
    t.equal(second.status, 200)
    t.equal(responseBody(second.text), 'hello', 'the next request gets its own answer, not the stray "evil"')
    t.notMatch(first.text + second.text, /evil/)
  },
)

t.test(
  '1xx from the upstream: 103 is not mistaken for the answer; an unsolicited 100 does not crash',
  async (t) => {
    const a = await scripted(
      t,
      answer(
        'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      ),
    )
    const r1 = await rawRequest(a.proxy.port, GET, { done: completeResponse })
    t.equal(statuses(r1.text).at(-1), 200, '103 then the final 200')
    t.equal(responseBody(r1.text.slice(r1.text.lastIndexOf('HTTP/1.1 200'))), 'ok')
    // Section 3 row "38, 61-63": an unsolicited 100 is an undici limitation: accept 502, assert no crash.
    const b = await scripted(
      t,
      answer('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    )
    const r2 = await rawRequest(b.proxy.port, GET, { done: completeResponse })
    t.ok([200, 502].includes(statuses(r2.text).at(-1) ?? 0), `final status ${statuses(r2.text).at(-1)}`)
    t.same(leaks(r2.text, [b.upstream.port]), [])
    const again = await rawRequest(b.proxy.port, GET, { done: completeResponse })
    t.ok(again.status > 0, 'the proxy is still alive')
  },
)

t.test(
  'case 69 / finding 3: an upstream with a self-signed, wrong-name certificate: 502, nothing relayed',
  async (t) => {
    let served = 0
    const impostor = createHttpsServer({ key: IMPOSTOR_KEY, cert: IMPOSTOR_CERT }, (_req, res) => {
      served++
      res.end('secret-from-impostor')
    })
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r))
    const port = (impostor.address() as AddressInfo).port
    const proxy = await startProxy(`
upstreams:
  api: { targets: ["https://127.0.0.1:${port}"], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
    t.teardown(async () => {
      await proxy.close()
      impostor.closeAllConnections()
      await new Promise<void>((r) => impostor.close(() => r()))
    })
    const r = await rawRequest(proxy.port, GET, { done: completeResponse })
    t.equal(r.status, 502)
    t.notMatch(r.text, /secret-from-impostor/)
    t.equal(served, 0, 'no request was handed to the impostor')
    t.same(leaks(r.text, [port]), [], 'no TLS error text, no address')
  },
)

t.test('case 17: CONNECT and TRACE get 405, never a tunnel, nothing upstream', async (t) => {
  const up = await startRecordingUpstream()
  const proxy = await startProxy(`
upstreams:
  api: { targets: [${up.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const connectReq = `CONNECT 127.0.0.1:${up.port} HTTP/1.1\r\nHost: 127.0.0.1:${up.port}\r\n\r\nGET /tunnelled HTTP/1.1\r\nHost: x\r\n\r\n`
  const c = await rawRequest(proxy.port, connectReq, { untilMs: 3000 })
  t.equal(c.status, 405, 'CONNECT: 405')
  t.ok(c.closed, 'CONNECT: connection closed')
  t.same(statuses(c.text), [405], 'CONNECT: no tunnel, no second answer')
  t.same(leaks(c.text, [up.port]), [])
  for (const trace of [
    `TRACE /x HTTP/1.1\r\n${H}Max-Forwards: 0\r\n\r\n`,
    `TRACE /x HTTP/1.1\r\n${H}Cookie: secret=1\r\n\r\n`,
    `TRACK /x HTTP/1.1\r\n${H}\r\n`,
  ]) {
    const r = await rawRequest(proxy.port, trace, { done: completeResponse })
    t.ok([400, 405, 501].includes(r.status), `${trace.split(' ')[0]}: ${r.status}`)
    t.notMatch(responseBody(r.text), /secret=1/, 'the request is not echoed')
  }
  await quiet()
  t.equal(up.raw.connections, 0, 'the upstream was never dialled')
  // CVE-2026-71324: a CONNECT must not poison the shared upstream pool.
  const ok = await rawRequest(proxy.port, `GET /after HTTP/1.1\r\n${H}\r\n`, { done: completeResponse })
  t.equal(responseBody(ok.text), 'GET /after ')
  t.same(
    up.requests.map((x) => x.target),
    ['/after'],
    'the upstream only ever saw the ordinary request',
  )
})

t.test('case 66: oversized headers, URL and header count: 431/414 + close, nothing upstream', async (t) => {
  const up = await startRecordingUpstream()
  const proxy = await startProxy(`
upstreams:
  api: { targets: [${up.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const many = Array.from({ length: 2500 }, (_, i) => `X-H${i}: 1\r\n`).join('')
  const cases: [string, string][] = [
    ['20 KiB header', `GET /x HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`],
    ['20 KiB URL', `GET /${'a'.repeat(20 * 1024)} HTTP/1.1\r\n${H}\r\n`],
    ['2500 headers', `GET /x HTTP/1.1\r\n${H}${many}\r\n`],
  ]
  for (const [name, bytes] of cases) {
    const r = await rawRequest(proxy.port, bytes, { untilMs: 3000 })
    t.ok([414, 431].includes(r.status), `${name}: ${r.status}`)
    t.ok(r.closed, `${name}: connection closed`)
    t.same(leaks(r.text, [up.port]), [], `${name}: generic body`)
  }
  await quiet()
  t.equal(up.bytes(), '', 'nothing reached the upstream')
  const ok = await rawRequest(proxy.port, `GET /x HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(8 * 1024)}\r\n\r\n`, {
    done: completeResponse,
  })
  t.equal(ok.status, 200, 'an 8 KiB header is still fine')
})

t.test('case 67: request body limit (limits.maxRequestBody)', async (t) => {
  const up = await startRecordingUpstream()
  const proxy = await startProxy(`
limits: { maxRequestBody: 16 }
upstreams:
  api: { targets: [${up.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const big = await rawRequest(
    proxy.port,
    `POST /x HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n${'a'.repeat(100)}`,
    {
      untilMs: 3000,
    },
  )
  t.equal(big.status, 413, 'Content-Length over the limit: 413')
  t.same(leaks(big.text, [up.port]), [])
  await quiet()
  t.equal(up.bytes(), '', 'answered before dialling')
  const chunk = `10\r\n${'b'.repeat(16)}\r\n`
  const r = await rawRequest(
    proxy.port,
    `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk}${chunk}${chunk}0\r\n\r\n`,
    { untilMs: 3000 },
  )
  t.ok(r.status === 413 || (r.status === 0 && r.closed), `chunked over the limit: 413 or close (${r.status})`)
  await quiet()
  t.same(up.requests, [], 'the upstream never got a complete request')
  t.notMatch(up.bytes(), /b{17}/, 'never more than the limit upstream')
  const ok = await rawRequest(
    proxy.port,
    `POST /x HTTP/1.1\r\n${H}Content-Length: 16\r\n\r\n${'c'.repeat(16)}`,
    {
      done: completeResponse,
    },
  )
  t.equal(ok.status, 200, 'a body at the limit passes')
})

t.test('case 53: a client abort reaches the upstream within a second', async (t) => {
  const events: string[] = []
  const up = await startUpstream(
    (req, res) => {
      if (req.url === '/download') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        res.write('first-chunk')
        res.on('close', () => events.push('download closed'))
      } else {
        req.on('data', () => events.push('upload data'))
        req.on('close', () => events.push(`upload closed complete=${req.complete}`))
      }
    },
    { stream: true },
  )
  const conns = countConnections(up.server)
  const proxy = await startProxy(`
upstreams:
  api: { targets: [${up.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const started = Date.now()
  await rawRequest(proxy.port, `GET /download HTTP/1.1\r\n${H}\r\n`, {
    done: (x) => x.includes('first-chunk'),
  })
  await waitFor(() => events.includes('download closed'), 1000, 'the upstream response to close')
  t.ok(Date.now() - started < 1000, 'download abort propagated')
  const client = connect(proxy.port, '127.0.0.1')
  client.on('error', () => undefined)
  client.write(`POST /upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`)
  await waitFor(() => events.includes('upload data'), 2000, 'the first chunk upstream')
  const aborted = Date.now()
  client.destroy()
  await waitFor(() => events.includes('upload closed complete=false'), 1000, 'the upstream request to abort')
  t.ok(Date.now() - aborted < 1000, 'upload abort propagated')
  t.ok(conns.count >= 1)
})
