/**
 * Path and host routing confusion (security notes, section 2 group B: cases 18, 19, 20, 25, 30, plus duplicate Host,
 * HTTP/0.9, absolute-form and `OPTIONS *`; section 3 rows "12", "18-21, 23, 25-29", "22, 24", "30, 31", "17").
 *
 * Routing as in the notes: good.example/api/* -> upstream "pub" at /pub/* (prefix stripped), good.example/admin ->
 * upstream "admin", web.example -> upstream "web". Every upstream is a raw recorder, so "never forwarded" means no
 * byte arrived, and "forwarded byte-for-byte" is checked on the request line the upstream really got.
 *
 * Health checks (active TCP probes and passive ejection) are off in these configs: connection counts must be exact
 * and a failing upstream must keep answering with its fault, not with 503 after an ejection.
 */
import t from 'tap'
import { startProxy } from '../helpers/proxy.js'
import { completeResponse, rawRequest } from '../helpers/raw.js'
import {
  headerValues,
  leaks,
  quiet,
  type RecordingUpstream,
  responseBody,
  startRecordingUpstream,
  statuses,
} from '../helpers/security.js'

const pub = await startRecordingUpstream()
const admin = await startRecordingUpstream()
const web = await startRecordingUpstream()
const all: RecordingUpstream[] = [pub, admin, web]
const ports = all.map((u) => u.port)
const proxy = await startProxy(`
upstreams:
  pub: { targets: ["${pub.url}/pub"], healthCheck: false, passive: false }
  admin: { targets: [${admin.url}], healthCheck: false, passive: false }
  web: { targets: [${web.url}], healthCheck: false, passive: false }
routes:
  - host: good.example
    path: /api
    stripPrefix: true
    upstream: pub
  - host: good.example
    path: /admin
    upstream: admin
  - host: web.example
    upstream: web
`)
t.teardown(async () => {
  await proxy.close()
  for (const u of all) await u.close()
})

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

const totalBytes = () => all.reduce((n, u) => n + u.bytes().length, 0)

/** Expects one of `allowed`, no leak, and (within a short quiet window) no byte at any upstream. */
async function refused(t: Test, name: string, bytes: string, allowed: number[] = [400]): Promise<string> {
  const before = totalBytes()
  const r = await rawRequest(proxy.port, bytes, { untilMs: 3000, done: completeResponse })
  t.ok(allowed.includes(r.status), `${name}: status ${r.status} is one of ${allowed.join('/')}`)
  t.same(statuses(r.text), [r.status], `${name}: exactly one response`)
  t.same(leaks(r.text, ports), [], `${name}: answer leaks nothing`)
  await quiet()
  t.equal(totalBytes(), before, `${name}: no upstream received a byte`)
  return r.text
}

/** Sends a GET and returns the request line the upstream received (or undefined) and the client's status. */
async function forwarded(
  path: string,
  host = 'good.example',
): Promise<{ status: number; upstream: RecordingUpstream | undefined; target: string | undefined }> {
  const counts = all.map((u) => u.requests.length)
  const r = await rawRequest(proxy.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, {
    done: completeResponse,
  })
  const i = all.findIndex((u, k) => u.requests.length > (counts[k] as number))
  const upstream = i < 0 ? undefined : all[i]
  return { status: r.status, upstream, target: upstream?.requests.at(-1)?.target }
}

t.test('control: /api/x reaches pub as /pub/x; /admin reaches admin', async (t) => {
  t.same(await forwarded('/api/x?q=1'), { status: 200, upstream: pub, target: '/pub/x?q=1' })
  t.same(await forwarded('/admin/panel'), { status: 200, upstream: admin, target: '/admin/panel' })
})

t.test('case 18: raw dot-segments are refused (400), never forwarded under /pub', async (t) => {
  for (const path of ['/api/../admin', '/api/./x', '/api/x/..', '/api/..', '/api/x/../../admin'])
    await refused(t, path, `GET ${path} HTTP/1.1\r\nHost: good.example\r\n\r\n`)
})

t.test('case 19: encoded dot-segments are refused (400)', async (t) => {
  for (const path of [
    '/api/%2e%2e/admin',
    '/api/%2e%2e%2fadmin',
    '/api/.%2e/admin',
    '/api/%2E%2E/admin',
    '/api/%2e./admin',
    '/api/%2e/x',
    '/api/..%2fadmin',
    '/api/..%2Fadmin',
  ])
    await refused(t, path, `GET ${path} HTTP/1.1\r\nHost: good.example\r\n\r\n`)
})

t.test('cases 22/24: backslashes and "..;" after decoding are refused (400)', async (t) => {
  for (const path of [
    '/api\\..\\admin',
    '/api/..\\admin',
    '/api\\x',
    '/api/..%5cadmin',
    '/api/%5c..%5cadmin',
    '/api/a%5cb',
    '/api/%5C',
    '/api/..;/admin',
    '/api/..;x=1/admin',
    '/api/.%2e;/admin',
    '/api/..%3b/admin',
    '/api/..%3B/admin',
    '/api/%2e%2e%3b/admin',
    '/api/x%00',
  ])
    await refused(t, path, `GET ${path} HTTP/1.1\r\nHost: good.example\r\n\r\n`)
})

t.test('case 20: double encoding is forwarded byte-for-byte, never decoded twice', async (t) => {
  t.same(await forwarded('/api/%252e%252e/admin'), {
    status: 200,
    upstream: pub,
    target: '/pub/%252e%252e/admin',
  })
  t.same(await forwarded('/api/a%2Fb'), { status: 200, upstream: pub, target: '/pub/a%2Fb' })
  const q = await forwarded('/api/x?next=/../admin')
  t.same(q, { status: 200, upstream: pub, target: '/pub/x?next=/../admin' }, 'query is not a path')
})

t.test('cases 21/23 (//): an empty segment never changes the destination', async (t) => {
  t.same(await forwarded('/api//evil.example/x'), {
    status: 200,
    upstream: pub,
    target: '/pub//evil.example/x',
  })
})

t.test('case 25: prefix boundary and case: 404, not proxied', async (t) => {
  for (const path of ['/apiadmin', '/api-internal', '/API/x', '/Api', '/adminx'])
    await refused(t, path, `GET ${path} HTTP/1.1\r\nHost: good.example\r\n\r\n`, [404])
})

t.test('case 30: Host validation', async (t) => {
  await refused(t, 'missing Host in HTTP/1.1', 'GET /api/x HTTP/1.1\r\n\r\n')
  await refused(t, 'empty Host', 'GET /api/x HTTP/1.1\r\nHost:\r\n\r\n')
  await refused(t, 'Host with userinfo', 'GET /api/x HTTP/1.1\r\nHost: good.example@evil\r\n\r\n')
  await refused(t, 'port out of range', 'GET /api/x HTTP/1.1\r\nHost: good.example:99999\r\n\r\n')
  await refused(t, 'two ports', 'GET /api/x HTTP/1.1\r\nHost: good.example:80:80\r\n\r\n')
  await refused(t, 'space in Host', 'GET /api/x HTTP/1.1\r\nHost: good .example\r\n\r\n')
  await refused(t, 'path in Host', 'GET /api/x HTTP/1.1\r\nHost: good.example/api\r\n\r\n')
  await refused(t, 'suffix host', 'GET /api/x HTTP/1.1\r\nHost: good.example.evil\r\n\r\n', [404])
  await refused(t, 'prefix host', 'GET /api/x HTTP/1.1\r\nHost: evilgood.example\r\n\r\n', [404])
  t.same(await forwarded('/api/x', 'good.example.'), { status: 200, upstream: pub, target: '/pub/x' })
  t.same(await forwarded('/api/x', 'GOOD.Example'), { status: 200, upstream: pub, target: '/pub/x' })
  t.same(await forwarded('/api/x', 'good.example:8080'), { status: 200, upstream: pub, target: '/pub/x' })
})

t.test('case 30: two upstreams chosen by Host never cross, even alternating on one connection', async (t) => {
  const before = { pub: pub.requests.length, web: web.requests.length }
  let bytes = ''
  for (let i = 0; i < 10; i++) {
    bytes += `GET /api/same HTTP/1.1\r\nHost: good.example\r\n\r\n`
    bytes += `GET /api/same HTTP/1.1\r\nHost: web.example\r\n\r\n`
  }
  const r = await rawRequest(proxy.port, bytes, {
    done: (text) => (text.match(/GET \/(?:pub|api)\/same /g) ?? []).length === 20,
  })
  t.same(statuses(r.text), Array(20).fill(200))
  const bodies = r.text.match(/GET \/(?:pub|api)\/same /g) ?? []
  t.same(
    bodies,
    Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'GET /pub/same ' : 'GET /api/same ')),
    'each answer came from the upstream its Host chose',
  )
  t.equal(pub.requests.length - before.pub, 10)
  t.equal(web.requests.length - before.web, 10)
  t.ok(
    pub.requests.slice(before.pub).every((x) => headerValues(x, 'host')[0] === 'good.example'),
    'pub only ever saw Host good.example',
  )
  t.ok(
    web.requests.slice(before.web).every((x) => headerValues(x, 'host')[0] === 'web.example'),
    'web only ever saw Host web.example',
  )
})

t.test('duplicate Host is refused (400), whichever comes first', async (t) => {
  await refused(t, 'good then web', 'GET /api/x HTTP/1.1\r\nHost: good.example\r\nHost: web.example\r\n\r\n')
  await refused(t, 'web then good', 'GET /api/x HTTP/1.1\r\nHost: web.example\r\nHost: good.example\r\n\r\n')
  await refused(t, 'same twice', 'GET /api/x HTTP/1.1\r\nHost: good.example\r\nhost: good.example\r\n\r\n')
  await refused(t, 'comma list', 'GET /api/x HTTP/1.1\r\nHost: good.example, web.example\r\n\r\n')
})

t.test('case 12: HTTP/0.9 is refused with a real HTTP/1.1 status line, nothing upstream', async (t) => {
  const text = await refused(t, 'HTTP/0.9 GET', 'GET /api/x\r\n\r\n', [400, 505])
  t.match(text, /^HTTP\/1\.1 /, 'answered as HTTP/1.1, not as a bare 0.9 body')
})

t.test('HTTP/1.0 without Host: only an any-host route could serve it (none here: 404)', async (t) => {
  await refused(t, 'HTTP/1.0 no Host', 'GET /api/x HTTP/1.0\r\n\r\n', [400, 404])
})

t.test('case 27: absolute-form request targets', async (t) => {
  const same = await rawRequest(
    proxy.port,
    'GET http://good.example/api/x HTTP/1.1\r\nHost: good.example\r\n\r\n',
    { done: completeResponse },
  )
  t.equal(same.status, 200, 'same-host absolute form is normalised and served')
  t.equal(responseBody(same.text), 'GET /pub/x ')
  t.same(headerValues(pub.requests.at(-1)!, 'host'), ['good.example'])

  // The authority picks the route (RFC 9112 3.2.2), so a different Host would reach that upstream claiming to be
  // another site (HAProxy h1_host_normalization.vtc answers 400).
  await refused(
    t,
    'authority web.example, Host good.example',
    'GET http://web.example/api/x HTTP/1.1\r\nHost: good.example\r\n\r\n',
  )
  await refused(
    t,
    'authority good.example, Host web.example',
    'GET http://good.example/admin HTTP/1.1\r\nHost: web.example\r\n\r\n',
  )
  await refused(t, 'unknown scheme', 'GET ftp://good.example/api/x HTTP/1.1\r\nHost: good.example\r\n\r\n')
  await refused(
    t,
    'userinfo in authority',
    'GET http://good.example@web.example/api/x HTTP/1.1\r\nHost: good.example\r\n\r\n',
  )
  await refused(
    t,
    'authority-form on GET',
    'GET good.example:80 HTTP/1.1\r\nHost: good.example\r\n\r\n',
    [400, 404],
  )
})

t.test('case 17: OPTIONS * is answered by the proxy (400/405), never forwarded', async (t) => {
  await refused(t, 'OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: good.example\r\n\r\n', [400, 405])
})
