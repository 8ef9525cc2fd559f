/**
 * Request smuggling and message parsing, client -> proxy (security notes, section 2 group A: cases 1, 2, 3, 4, 6, 7,
 * 9, 13; section 3 rows "1-3, 6-11, 14" (L), "4" (P), "5, 15, 16" (L+U), "13b"; section 0 findings 1 and 8).
 *
 * Raw bytes in; for each case we assert what the client saw (status, connection closed, no leak) and exactly what
 * the upstream received. The upstream is a raw TCP recorder that keeps every byte, so "nothing upstream" really means
 * no byte reached it, not just "no request the upstream's own parser accepted".
 *
 * Health checks (active TCP probes and passive ejection) are off in these configs: connection counts must be exact
 * and a failing upstream must keep answering with its fault, not with 503 after an ejection.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { startProxy } from '../helpers/proxy.js'
import { completeResponse, rawRequest, waitFor } from '../helpers/raw.js'
import {
  headerValues,
  leaks,
  quiet,
  responseBody,
  startRecordingUpstream,
  statuses,
} from '../helpers/security.js'
import { startUpstream } from '../helpers/upstream.js'

const H = 'Host: good.example\r\n'

const up = await startRecordingUpstream()
const proxy = await startProxy(`
upstreams:
  api: { targets: ["${up.url}/pub"], healthCheck: false, passive: false }
routes:
  - path: /api
    stripPrefix: true
    upstream: api
`)
t.teardown(async () => {
  await proxy.close()
  await up.close()
})

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/**
 * Sends `bytes`, expects one of `allowed` and a closed connection, and proves (within a short quiet window) that the
 * upstream got no byte and no new connection.
 */
async function rejectedBeforeUpstream(
  t: Test,
  name: string,
  bytes: string | Buffer,
  allowed: number[] = [400],
): Promise<void> {
  const before = { bytes: up.bytes().length, connections: up.raw.connections, requests: up.requests.length }
  const r = await rawRequest(proxy.port, bytes, { untilMs: 3000 })
  t.ok(allowed.includes(r.status), `${name}: status ${r.status} is one of ${allowed.join('/')}`)
  t.ok(r.closed, `${name}: connection closed`)
  t.same(statuses(r.text), [r.status], `${name}: exactly one response`)
  t.same(leaks(r.text, [up.port]), [], `${name}: error page leaks nothing`)
  await quiet()
  t.equal(up.bytes().slice(before.bytes), '', `${name}: upstream received no byte`)
  t.equal(up.raw.connections, before.connections, `${name}: upstream not dialled`)
  t.equal(up.requests.length, before.requests, `${name}: no request upstream`)
}

/**
 * For body-level errors a streaming proxy may already have dispatched the headers (section 2, case 7): the upstream
 * must then see an aborted request, never a complete one, and never the smuggled request that follows.
 */
async function rejectedMidBody(t: Test, name: string, bytes: string | Buffer): Promise<void> {
  const before = { bytes: up.bytes().length, requests: up.requests.length }
  const r = await rawRequest(proxy.port, bytes, { untilMs: 3000 })
  t.ok([400, 413].includes(r.status), `${name}: status ${r.status} is 400 (or 413 for chunk extensions)`)
  t.ok(r.closed, `${name}: connection closed`)
  t.same(statuses(r.text), [r.status], `${name}: exactly one response, nothing from upstream`)
  t.same(leaks(r.text, [up.port]), [], `${name}: error page leaks nothing`)
  await quiet()
  const seen = up.bytes().slice(before.bytes)
  t.equal(up.requests.length, before.requests, `${name}: no complete request upstream`)
  t.notMatch(seen, /SMUGGLED|\/smuggled|\/evil/, `${name}: smuggled bytes never reach the upstream`)
  t.notMatch(seen, /\r\n0\r\n\r\n/, `${name}: upstream never gets a last-chunk (a complete body)`)
}

t.test('control: a valid request is forwarded with canonical framing', async (t) => {
  const r = await rawRequest(proxy.port, `POST /api/x HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`, {
    done: completeResponse,
  })
  t.equal(r.status, 200)
  t.equal(responseBody(r.text), 'POST /pub/x hello')
  const got = up.requests.at(-1)!
  t.same(headerValues(got, 'content-length'), ['5'])
  t.same(headerValues(got, 'transfer-encoding'), [])
})

t.test('case 1 CL.TE: 400 + close, nothing upstream', async (t) => {
  await rejectedBeforeUpstream(
    t,
    'CL.TE',
    `POST /api/x HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`,
  )
  await rejectedBeforeUpstream(
    t,
    'CL.TE with GPOST',
    `POST /api/x HTTP/1.1\r\n${H}Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED`,
  )
})

t.test('case 2 TE.CL: 400 + close, nothing upstream', async (t) => {
  await rejectedBeforeUpstream(
    t,
    'TE.CL',
    `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`,
  )
})

t.test('case 3 TE.TE obfuscations: 400 (or 501) + close, nothing upstream', async (t) => {
  const body = '5\r\nhello\r\n0\r\n\r\n'
  const cases: [string, string | Buffer][] = [
    [
      '(a) xchunked + CL',
      `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nhello`,
    ],
    ['(b) space before colon', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n${body}`],
    ['(c) obs-fold', `POST /api/x HTTP/1.1\r\n${H}X-A: b\r\n Transfer-Encoding: chunked\r\n\r\n${body}`],
    ['(d) vertical tab', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding:\x0bchunked\r\n\r\n${body}`],
    [
      '(e) chunked, chunked',
      `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n${body}`,
    ],
    [
      '(f) two TE lines',
      `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    ],
    [
      '(g) identity,chunked + CL',
      `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: identity,chunked\r\nContent-Length: 5\r\n\r\n${body}`,
    ],
    ['(h) ,chunked', `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: ,chunked\r\n\r\n${body}`],
    [
      '(j) Unicode look-alike (UTF-8)',
      Buffer.concat([
        Buffer.from(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunk`),
        Buffer.from('\u0435d', 'utf8'),
        Buffer.from(`\r\n\r\n${body}`),
      ]),
    ],
    [
      '(j) Unicode look-alike (latin1)',
      Buffer.from(`POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunk\u00e9d\r\n\r\n${body}`, 'latin1'),
    ],
  ]
  for (const [name, bytes] of cases) await rejectedBeforeUpstream(t, name, bytes, [400, 501])
})

t.test('case 3(i): Transfer_Encoding is an unrelated header: framed by CL, never forwarded', async (t) => {
  const r = await rawRequest(
    proxy.port,
    `POST /api/x HTTP/1.1\r\n${H}Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello`,
    { done: completeResponse },
  )
  t.equal(r.status, 200)
  const got = up.requests.at(-1)!
  t.equal(got.body, 'hello')
  t.same(headerValues(got, 'transfer_encoding'), [], 'underscore alias stripped')
  t.same(headerValues(got, 'transfer-encoding'), [])
  t.same(headerValues(got, 'content-length'), ['5'])
})

t.test(
  'case 4: a Transfer-Encoding other than exactly "chunked" is refused (501), nothing upstream',
  async (t) => {
    const body = '5\r\nhello\r\n0\r\n\r\n'
    for (const te of ['gzip, chunked', 'deflate,chunked', 'chunked;q=1', 'identity']) {
      await rejectedBeforeUpstream(
        t,
        `TE: ${te}`,
        `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: ${te}\r\n\r\n${body}`,
        [400, 501],
      )
    }
  },
)

t.test('cases 5/15/16 (valid framing keeps working): chunked with extensions and trailers', async (t) => {
  const r = await rawRequest(
    proxy.port,
    `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: Chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n`,
    { done: completeResponse },
  )
  t.equal(r.status, 200)
  t.equal(responseBody(r.text), 'POST /pub/x hello world')
  const got = up.requests.at(-1)!
  t.equal(got.body, 'hello world', 'body intact')
  const te = headerValues(got, 'transfer-encoding')
  const cl = headerValues(got, 'content-length')
  t.ok(
    (te.length === 1 && te[0] === 'chunked' && cl.length === 0) || (te.length === 0 && cl.length === 1),
    'forwarded with exactly one canonical framing header',
  )
  t.notMatch(up.bytes(), /ext=1/, 'chunk extensions are not forwarded')
})

t.test('case 6: Content-Length malformations: 400 + close, nothing upstream', async (t) => {
  const cases: [string, string][] = [
    ['two identical', 'Content-Length: 5\r\nContent-Length: 5'],
    ['two different', 'Content-Length: 5\r\nContent-Length: 6'],
    ['list 5, 5', 'Content-Length: 5, 5'],
    ['plus sign', 'Content-Length: +5'],
    ['empty', 'Content-Length: '],
    ['negative', 'Content-Length: -1'],
    ['20-digit overflow', 'Content-Length: 99999999999999999999'],
    ['trailing comma', 'Content-Length: 0,'],
    ['hex', 'Content-Length: 0x5'],
    ['space before colon', 'Content-Length : 5'],
  ]
  for (const [name, line] of cases)
    await rejectedBeforeUpstream(t, name, `POST /api/x HTTP/1.1\r\n${H}${line}\r\n\r\nhello`)
})

t.test('case 6: Content-Length 005 is forwarded as 5, never verbatim', async (t) => {
  const r = await rawRequest(proxy.port, `POST /api/x HTTP/1.1\r\n${H}Content-Length: 005\r\n\r\nhello`, {
    done: completeResponse,
  })
  t.equal(r.status, 200)
  const got = up.requests.at(-1)!
  t.same(headerValues(got, 'content-length'), ['5'])
  t.equal(got.body, 'hello')
})

t.test(
  'case 7: chunk-size and chunk-line tricks: 400 + close, upstream never sees a complete request',
  async (t) => {
    const smuggled = 'GET /api/smuggled HTTP/1.1\r\nHost: good.example\r\n\r\n'
    const head = `POST /api/x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`
    const cases: [string, string][] = [
      ['0x5', `0x5\r\nhello\r\n0\r\n\r\n${smuggled}`],
      ['trailing space', `5 \r\nhello\r\n0\r\n\r\n${smuggled}`],
      ['Garden #31 (\\r in chunk line)', `5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n${smuggled}`],
      ['empty size', `\r\nhello\r\n0\r\n\r\n${smuggled}`],
      ['data not followed by CRLF', `5\r\nABCDE0\r\n\r\n${smuggled}`],
      ['bare LF chunk lines', `5\nhello\n0\n\n${smuggled}`],
      ['size overflow', `FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n${smuggled}`],
      ['malformed trailer', `5\r\nhello\r\n0\r\nbadtrailer\r\n\r\n${smuggled}`],
      ['bare CR in chunk extension', `5;a\rb\r\nhello\r\n0\r\n\r\n${smuggled}`],
      ['huge chunk extension (CVE-2024-22019)', `5;${'a'.repeat(20_000)}\r\nhello\r\n0\r\n\r\n`],
    ]
    for (const [name, body] of cases) await rejectedMidBody(t, name, head + body)
  },
)

t.test('case 9: line-ending and control-byte anomalies: 400 + close, nothing upstream', async (t) => {
  const cases: [string, string][] = [
    ['bare LF (CVE-2022-32214)', 'GET /api/x HTTP/1.1\nHost: good.example\n\n'],
    ['bare CR (CVE-2023-30589)', `GET /api/x HTTP/1.1\r\n${H}X-A: 1\rX-B: 2\r\n\r\n`],
    ['\\r\\n\\rX (CVE-2025-23167)', `GET /api/x HTTP/1.1\r\n${H}\rZGET /evil: HTTP/1.1\r\n\r\n`],
    ['empty header name (Garden #18)', `GET /api/x HTTP/1.1\r\n${H}: ignored\r\n\r\n`],
    ['NUL in a header value', `GET /api/x HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`],
    ['space in a header name', `GET /api/x HTTP/1.1\r\n${H}X A: b\r\n\r\n`],
    ['NUL in the request target', `GET /api/x\x00y HTTP/1.1\r\n${H}\r\n`],
    ['invalid version HTTP/1.01', `GET /api/x HTTP/1.01\r\n${H}\r\n`],
    ['HTTP/2.0 on an HTTP/1 port', `GET /api/x HTTP/2.0\r\n${H}\r\n`],
    ['missing header delimiter', `GET /api/x HTTP/1.1\r\n${H}X-A\r\n\r\n`],
  ]
  for (const [name, bytes] of cases) await rejectedBeforeUpstream(t, name, bytes, [400, 505])
})

t.test('case 13a: two pipelined GETs get two responses, in order', async (t) => {
  const before = up.requests.length
  const r = await rawRequest(
    proxy.port,
    `GET /api/a HTTP/1.1\r\n${H}\r\nPOST /api/b HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nxyzGET /api/c HTTP/1.1\r\n${H}\r\n`,
    { done: (text) => text.includes('GET /pub/c') },
  )
  t.same(statuses(r.text), [200, 200, 200])
  const a = r.text.indexOf('GET /pub/a ')
  const b = r.text.indexOf('POST /pub/b xyz')
  const c = r.text.indexOf('GET /pub/c ')
  t.ok(a > 0 && b > a && c > b, 'responses in request order')
  t.same(
    up.requests.slice(before).map((x) => `${x.method} ${x.target} ${x.body}`),
    ['GET /pub/a ', 'POST /pub/b xyz', 'GET /pub/c '],
    'upstream saw the three requests, body boundaries intact',
  )
})

t.test('case 13b: a valid GET followed by a pipelined malformed request', async (t) => {
  // Node core behaviour (documented, not fixable in Node 20): llhttp parses the pipelined second request while the
  // first is still being proxied and emits 'clientError' at once. Switchboard answers that error with 400 and closes
  // the connection, so the first request *is* executed upstream but its response is lost; the client sees only the
  // 400. What matters for security: the malformed request never reaches the upstream, and nothing from one request
  // ends up in another's response (no cross-talk).
  const before = up.requests.length
  const beforeBytes = up.bytes().length
  const r = await rawRequest(
    proxy.port,
    `GET /api/a HTTP/1.1\r\n${H}\r\nPOST /api/b HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`,
    { untilMs: 3000 },
  )
  t.ok(r.closed, 'connection closed')
  const got = statuses(r.text)
  t.ok(
    (got.length === 1 && got[0] === 400) || (got.length === 2 && got[0] === 200 && got[1] === 400),
    `client sees 400 (or the first 200, then 400); got ${got.join(',')}`,
  )
  t.notMatch(r.text, /\/pub\/b/, 'no response for the malformed request')
  await quiet()
  const seen = up.requests.slice(before).map((x) => x.target)
  t.ok(seen.length <= 1 && seen.every((x) => x === '/pub/a'), `upstream saw at most /pub/a: ${seen}`)
  t.notMatch(
    up.bytes().slice(beforeBytes),
    /\/pub\/b|\/api\/b/,
    'the malformed request never reaches the upstream',
  )
})

t.test('case 13b: a malformed pipelined request never injects bytes into a response in flight', async (t) => {
  // The first response is streaming (headers and half the body sent) when the malformed second request arrives.
  // Writing a 400 into the socket then would splice "HTTP/1.1 400 ..." into the first response's body.
  let release: (() => void) | undefined
  const streaming = await startUpstream(
    (_req, res) => {
      res.writeHead(200, { 'content-length': '10' })
      res.write('part1')
      release = () => res.end('part2')
    },
    { stream: true },
  )
  const p2 = await startProxy(`
upstreams:
  api: { targets: [${streaming.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await p2.close()
    await streaming.close()
  })
  const s = connect(p2.port, '127.0.0.1')
  let text = ''
  let closed = false
  s.on('data', (c: Buffer) => {
    text += c.toString('latin1')
  })
  s.on('close', () => {
    closed = true
  })
  s.on('error', () => undefined)
  s.write(`GET /a HTTP/1.1\r\n${H}\r\n`)
  await waitFor(() => text.includes('part1'), 3000, 'first half of the first response')
  s.write(`POST /b HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`)
  await quiet(150) // bounded: let the proxy react to the malformed request before the first response ends
  release?.()
  await waitFor(() => closed, 3000, 'connection closed')
  t.same(statuses(text), [200], 'only the first response status line, nothing injected')
  const body = responseBody(text)
  t.ok(
    body === 'part1' || body === 'part1part2',
    `first response body is intact or visibly truncated: ${body}`,
  )
  t.equal(streaming.seen.length, 1, 'upstream saw only the first request')
})

t.test(
  'section 0 findings 1 and 8: Node >= 20.20.2, engines pinned, no lenient parser anywhere',
  async (t) => {
    const [major = 0, minor = 0, patch = 0] = process.versions.node.split('.').map(Number)
    t.ok(
      major > 20 || (major === 20 && (minor > 20 || (minor === 20 && patch >= 2))),
      `running on Node ${process.versions.node} (needs >= 20.20.2 for CVE-2025-23167, CVE-2026-21710...)`,
    )
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      engines?: { node?: string }
    }
    t.equal(pkg.engines?.node, '>=20.20.2', 'package.json pins engines.node >=20.20.2')
    const src = new URL('../../src', import.meta.url).pathname
    const files = readdirSync(src, { recursive: true }).filter((f) => String(f).endsWith('.ts'))
    t.ok(files.length > 0)
    for (const f of files) {
      const text = readFileSync(join(src, String(f)), 'utf8')
      t.notMatch(
        text,
        /insecureHTTPParser|insecure-http-parser|lenient/i,
        `${String(f)}: no lenient parser flags`,
      )
    }
  },
)
