/**
 * WebSocket / Upgrade / h2c and slow clients (security notes, section 2 groups D (41, 45, 46, 48) and E (49, 50);
 * section 3 rows "41, 45", "42-44, 46-48", "49, 51", "50"; section 0 findings 3, 5 and 9).
 *
 * The WebSocket upstream is a node:http server whose 'upgrade' handler is scripted per path, so we control exactly
 * what the upstream answers to the handshake and can see what it received. The client side is raw bytes.
 *
 * Health checks (active TCP probes and passive ejection) are off in these configs: connection counts must be exact
 * and a failing upstream must keep answering with its fault, not with 503 after an ejection.
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { type AddressInfo, connect, type Socket } from 'node:net'
import t from 'tap'
import { WebSocketServer } from 'ws'
import { startProxy } from '../helpers/proxy.js'
import { completeResponse, rawRequest, waitFor } from '../helpers/raw.js'
import {
  countConnections,
  headerValues,
  IMPOSTOR_CERT,
  IMPOSTOR_KEY,
  leaks,
  quiet,
  responseBody,
  responseHeaderMap,
  startRecordingUpstream,
  statuses,
} from '../helpers/security.js'
import { deadPort, startUpstream } from '../helpers/upstream.js'

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')

function handshake(path: string, extra = '', host = 'good.example'): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
}

/** A masked client text frame (RFC 6455 5.3). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  const mask = Buffer.from([0x11, 0x22, 0x33, 0x44])
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)))
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked])
}

/** An unmasked server text frame. */
function serverFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload])
}

interface WsUpstream {
  server: Server
  port: number
  url: string
  handshakes: { url: string; headers: IncomingMessage['headers']; at: number }[]
  connections: { count: number }
  close(): Promise<void>
}

async function startWsUpstream(): Promise<WsUpstream> {
  const handshakes: WsUpstream['handshakes'] = []
  const server = createServer((_req, res) => {
    res.statusCode = 426
    res.end('upgrade required')
  })
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo ${m.toString()}`)))
  const sockets = new Set<Socket>()
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    handshakes.push({ url: req.url ?? '', headers: req.headers, at: Date.now() })
    socket.on('error', () => undefined)
    const path = (req.url ?? '').split('?')[0]
    switch (path) {
      case '/echo':
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
        return
      case '/slow':
        setTimeout(() => {
          handshakes.push({ url: 'answered', headers: {}, at: Date.now() })
          wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
        }, 200)
        return
      case '/greet':
        // 101 and the first frame in one write: the proxy must relay both.
        socket.write(
          Buffer.concat([
            Buffer.from(
              `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`,
            ),
            serverFrame('greetings'),
          ]),
        )
        return
      case '/deny':
        socket.end(
          'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close, X-Internal\r\nX-Internal: secret\r\n\r\ndenied',
        )
        return
      case '/old':
        socket.end(
          'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 8\r\nContent-Length: 3\r\n\r\nold',
        )
        return
      case '/plain':
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain')
        return
      case '/badaccept':
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n',
        )
        return
      case '/noaccept':
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
        return
      case '/hang':
        return
      default:
        socket.destroy()
    }
  })
  const connections = countConnections(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    handshakes,
    connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        for (const c of wss.clients) c.terminate()
        server.close(() => r())
      }),
  }
}

const ws = await startWsUpstream()
const dead = await deadPort()
const plain = await startRecordingUpstream()
const proxy = await startProxy(`
upstreams:
  ws: { targets: [${ws.url}], healthCheck: false, passive: false, timeouts: { response: 700ms } }
  dead: { targets: ["http://127.0.0.1:${dead}"], healthCheck: false, passive: false }
  plain: { targets: [${plain.url}], healthCheck: false, passive: false }
routes:
  - host: good.example
    path: /ws
    stripPrefix: true
    upstream: ws
  - host: good.example
    path: /dead
    upstream: dead
  - host: good.example
    path: /plain
    upstream: plain
`)
t.teardown(async () => {
  await proxy.close()
  await ws.close()
  await plain.close()
})

const upstreamPorts = [ws.port, dead, plain.port]
const headEnd = (text: string) => text.includes('\r\n\r\n')

/** Opens a raw connection, sends `bytes`, and collects what comes back. */
function rawSocket(bytes: string | Buffer) {
  const socket = connect(proxy.port, '127.0.0.1')
  const state = { text: '', closed: false, firstByteAt: 0 }
  socket.on('data', (c: Buffer) => {
    if (state.firstByteAt === 0) state.firstByteAt = Date.now()
    state.text += c.toString('latin1')
  })
  socket.on('close', () => {
    state.closed = true
  })
  socket.on('error', () => undefined)
  socket.write(bytes)
  return { socket, state }
}

t.test('case 41: h2c upgrade is never honoured and never reaches the upstream', async (t) => {
  const before = plain.requests.length
  const r = await rawRequest(
    proxy.port,
    `GET /plain/x HTTP/1.1\r\nHost: good.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
    { done: completeResponse, untilMs: 3000 },
  )
  t.ok([200, 400, 426].includes(r.status), `status ${r.status}`)
  t.notOk(statuses(r.text).includes(101), 'never 101 Switching Protocols')
  for (const req of plain.requests.slice(before)) {
    t.same(headerValues(req, 'upgrade'), [], 'no Upgrade upstream')
    t.same(headerValues(req, 'http2-settings'), [], 'no HTTP2-Settings upstream')
  }
  t.notMatch(plain.bytes(), /h2c|HTTP2-Settings/i, 'not a byte of the h2c upgrade upstream')

  const bytesBefore = plain.bytes().length
  const preface = await rawRequest(
    proxy.port,
    `GET /plain/x HTTP/1.1\r\nHost: good.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
    { untilMs: 3000 },
  )
  t.ok([400, 426].includes(preface.status), `h2c with a pipelined HTTP/2 preface: ${preface.status}`)
  const direct = await rawRequest(proxy.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', { untilMs: 3000 })
  t.ok(direct.status === 400 || (direct.status === 0 && direct.closed), 'a bare HTTP/2 preface: 400 or close')
  await quiet()
  t.equal(plain.bytes().length, bytesBefore, 'no h2 preface or smuggled bytes upstream')
})

t.test('case 45: bad client handshakes get 400/426 and never reach the upstream', async (t) => {
  const connectionsBefore = ws.connections.count
  const cases: [string, string, number[]][] = [
    [
      'missing key',
      'GET /ws/echo HTTP/1.1\r\nHost: good.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n',
      [400],
    ],
    ['malformed key', handshake('/ws/echo').replace(KEY, 'short'), [400]],
    ['version 1337', handshake('/ws/echo').replace('Version: 13', 'Version: 1337'), [400, 426]],
    [
      'list + second Upgrade',
      handshake('/ws/echo', 'Upgrade: websocket\r\n').replace(
        'Upgrade: websocket',
        'Upgrade: proto1, websocket, proto2',
      ),
      [400],
    ],
    ['POST handshake', handshake('/ws/echo').replace('GET', 'POST'), [400, 405]],
    ['dot-segments in the path', handshake('/ws/../admin'), [400]],
    ['encoded dot-segments', handshake('/ws/%2e%2e/admin'), [400]],
    ['duplicate Host', handshake('/ws/echo', 'Host: evil.example\r\n'), [400]],
  ]
  for (const [name, bytes, allowed] of cases) {
    const r = await rawRequest(proxy.port, bytes, { untilMs: 3000 })
    t.ok(allowed.includes(r.status), `${name}: ${r.status}`)
    t.ok(r.closed, `${name}: connection closed`)
    t.notOk(statuses(r.text).includes(101), `${name}: no 101`)
    t.same(leaks(r.text, upstreamPorts), [], `${name}: nothing internal`)
    if (r.status === 426) {
      t.match(r.text, /^HTTP\/1\.1 426 Upgrade Required\r\n/, `${name}: a proper 426 status line`)
      t.same(responseHeaderMap(r.text).get('sec-websocket-version'), ['13'], `${name}: says which version`)
    }
  }
  await quiet()
  t.equal(ws.connections.count, connectionsBefore, 'the upstream was never dialled')
})

t.test('the upstream is dialled first: no 101 reaches the client before the upstream agreed', async (t) => {
  const started = Date.now()
  const { socket, state } = rawSocket(handshake('/ws/slow'))
  t.teardown(() => {
    socket.destroy()
  })
  await waitFor(() => headEnd(state.text), 3000, 'the handshake answer')
  const answered = ws.handshakes.find((h) => h.url === 'answered' && h.at >= started)
  t.ok(answered, 'the upstream answered the handshake')
  t.ok(state.firstByteAt >= (answered?.at ?? Number.POSITIVE_INFINITY), 'the client heard nothing before')
  t.same(statuses(state.text), [101])
  t.same(responseHeaderMap(state.text).get('sec-websocket-accept'), [ACCEPT])
})

t.test('cases 42-44: pipelined frames in both directions survive the handshake', async (t) => {
  const { socket, state } = rawSocket(
    Buffer.concat([Buffer.from(handshake('/ws/echo')), clientFrame('early')]),
  )
  t.teardown(() => {
    socket.destroy()
  })
  await waitFor(
    () => state.text.includes('echo early'),
    3000,
    'the echo of the frame sent with the handshake',
  )
  t.same(statuses(state.text), [101])
  socket.write(clientFrame('later'))
  await waitFor(() => state.text.includes('echo later'), 3000, 'a later echo')

  const greet = rawSocket(handshake('/ws/greet'))
  t.teardown(() => {
    greet.socket.destroy()
  })
  await waitFor(() => greet.state.text.includes('greetings'), 3000, 'the frame sent with the 101')
  t.same(statuses(greet.state.text), [101])
})

t.test('the client gets the upstream real non-101 answer, never a 101', async (t) => {
  const cases: [string, number, string][] = [
    ['/ws/deny', 403, 'denied'],
    ['/ws/old', 426, 'old'],
    ['/ws/plain', 200, 'plain'],
  ]
  for (const [path, status, body] of cases) {
    const r = await rawRequest(proxy.port, handshake(path), { untilMs: 3000 })
    t.same(statuses(r.text), [status], `${path}: the upstream's ${status}, no 101`)
    t.equal(responseBody(r.text), body, `${path}: the upstream's body`)
    t.ok(r.closed, `${path}: connection closed`)
  }
  const deny = await rawRequest(proxy.port, handshake('/ws/deny'), { untilMs: 3000 })
  t.notOk(responseHeaderMap(deny.text).has('x-internal'), 'Connection-listed response headers are dropped')
})

t.test('an invalid upstream 101 (wrong or missing accept key) is 502, not relayed', async (t) => {
  for (const path of ['/ws/badaccept', '/ws/noaccept']) {
    const r = await rawRequest(proxy.port, handshake(path), { untilMs: 3000 })
    t.same(statuses(r.text), [502], `${path}: 502 only`)
    t.same(leaks(r.text, upstreamPorts), [], `${path}: generic body`)
  }
})

t.test('case 46: upstream down during an upgrade: 502 before any 101, no address leaked', async (t) => {
  for (const accept of ['*/*', 'application/json', 'text/html']) {
    const started = Date.now()
    const r = await rawRequest(proxy.port, handshake('/dead/x', `Accept: ${accept}\r\n`), { untilMs: 3000 })
    t.same(statuses(r.text), [502], `${accept}: 502, no 101`)
    t.ok(r.closed, `${accept}: closed`)
    t.ok(Date.now() - started < 1000, `${accept}: fast`)
    t.same(leaks(r.text, upstreamPorts), [], `${accept}: no address, no ECONNREFUSED`)
  }
  const r = await rawRequest(proxy.port, handshake('/ws/hang'), { untilMs: 3000 })
  t.same(statuses(r.text), [504], 'an upstream that never answers the handshake: 504')
  t.same(leaks(r.text, upstreamPorts), [])
})

t.test('finding 3 for WebSocket: an upstream with an untrusted certificate gets no handshake', async (t) => {
  let upgrades = 0
  const impostor = createHttpsServer({ key: IMPOSTOR_KEY, cert: IMPOSTOR_CERT })
  impostor.on('upgrade', (_req, socket: Socket) => {
    upgrades++
    socket.destroy()
  })
  await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r))
  const port = (impostor.address() as AddressInfo).port
  const p = await startProxy(`
upstreams:
  tls: { targets: ["https://127.0.0.1:${port}"], healthCheck: false, passive: false }
routes:
  - upstream: tls
`)
  t.teardown(async () => {
    await p.close()
    impostor.closeAllConnections()
    await new Promise<void>((r) => impostor.close(() => r()))
  })
  const r = await rawRequest(p.port, handshake('/x'), { untilMs: 3000 })
  t.same(statuses(r.text), [502])
  t.equal(upgrades, 0, 'the impostor never got the handshake')
  t.same(leaks(r.text, [port]), [])
})

t.test(
  'case 48: the client Origin reaches the upstream handshake; forwarding headers are the proxy ones',
  async (t) => {
    const before = ws.handshakes.length
    const { socket, state } = rawSocket(
      handshake(
        '/ws/echo',
        'Origin: https://evil.example\r\nX-Forwarded-For: 6.6.6.6\r\nX.Forwarded.For: 7.7.7.7\r\n',
      ),
    )
    t.teardown(() => {
      socket.destroy()
    })
    await waitFor(() => headEnd(state.text), 3000, 'the 101')
    t.same(statuses(state.text), [101])
    const seen = ws.handshakes.slice(before).find((h) => h.url === '/echo')
    t.equal(seen?.headers.origin, 'https://evil.example', 'Origin forwarded verbatim')
    t.equal(seen?.headers['x-forwarded-for'], '127.0.0.1', 'spoofed X-Forwarded-For replaced')
    t.notOk(seen && 'x.forwarded.for' in seen.headers, 'dot alias dropped')
  },
)

t.test(
  'cases 49/51: slowloris and silent connections get 408 at clientHeader; others are served',
  async (t) => {
    const up = await startUpstream((req, res) => res.end(`ok ${req.url}`))
    const p = await startProxy(`
timeouts: { clientHeader: 1s, clientBody: 1s, keepAlive: 1s }
upstreams:
  api: { targets: [${up.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
    t.teardown(async () => {
      await p.close()
      await up.close()
    })
    const open = (first: string, drip: boolean) => {
      const started = Date.now()
      const s = connect(p.port, '127.0.0.1')
      const state = { text: '', closedAfter: 0 }
      let timer: NodeJS.Timeout | undefined
      s.on('connect', () => {
        if (first) s.write(first)
        if (drip) timer = setInterval(() => s.writable && s.write('a'), 150)
      })
      s.on('data', (c: Buffer) => {
        state.text += c.toString('latin1')
      })
      s.on('error', () => undefined)
      s.on('close', () => {
        clearInterval(timer)
        state.closedAfter = Date.now() - started
      })
      t.teardown(() => {
        clearInterval(timer)
        s.destroy()
      })
      return state
    }
    const slowloris = open('GET /x HTTP/1.1\r\nHost: good.example\r\nX-Slow: ', true)
    const silent = open('', false)
    // Other clients are served while both are stalling.
    for (let i = 0; i < 3; i++) {
      const started = Date.now()
      const r = await rawRequest(p.port, `GET /other${i} HTTP/1.1\r\nHost: good.example\r\n\r\n`, {
        done: completeResponse,
      })
      t.equal(responseBody(r.text), `ok /other${i}`)
      t.ok(Date.now() - started < 500, 'served promptly')
      await quiet(150)
    }
    await waitFor(() => slowloris.closedAfter > 0 && silent.closedAfter > 0, 4000, 'both closed')
    for (const [name, s] of [
      ['slowloris', slowloris],
      ['silent', silent],
    ] as const) {
      t.ok(
        s.closedAfter >= 900 && s.closedAfter < 2600,
        `${name}: closed after ${s.closedAfter}ms (1s + check)`,
      )
      t.ok(s.text === '' || /^HTTP\/1\.1 408 /.test(s.text), `${name}: 408 or a silent close`)
      t.same(leaks(s.text), [])
    }
    t.match(slowloris.text, /^HTTP\/1\.1 408 /, 'the slowloris client is told 408')
    t.equal(up.seen.filter((x) => x.url === '/x').length, 0, 'the slow request never reached the upstream')

    // keepAlive 1s: an idle keep-alive connection is closed deliberately, not after fastify's 72s default.
    const started = Date.now()
    const idle = await rawRequest(p.port, 'GET /ka HTTP/1.1\r\nHost: good.example\r\n\r\n', { untilMs: 4000 })
    t.equal(idle.status, 200)
    t.ok(idle.closed && Date.now() - started < 3000, `idle keep-alive closed after ${Date.now() - started}ms`)
  },
)

t.test('case 50: slow POST body: 408 at clientBody, upstream request aborted', async (t) => {
  const events: string[] = []
  const up = await startUpstream(
    (req, res) => {
      req.on('data', (c: Buffer) => events.push(`data ${c}`))
      req.on('close', () => events.push(`close complete=${req.complete}`))
      req.on('end', () => res.end('done'))
    },
    { stream: true },
  )
  const p = await startProxy(`
timeouts: { clientHeader: 1s, clientBody: 1s }
upstreams:
  api: { targets: [${up.url}], healthCheck: false, passive: false }
routes:
  - upstream: api
`)
  t.teardown(async () => {
    await p.close()
    await up.close()
  })
  const started = Date.now()
  const r = await rawRequest(
    p.port,
    'POST /upload HTTP/1.1\r\nHost: good.example\r\nContent-Length: 10\r\n\r\nA',
    { untilMs: 4000 },
  )
  const ms = Date.now() - started
  t.equal(r.status, 408, 'the client is told 408')
  t.ok(r.closed, 'and the connection is closed')
  t.ok(ms >= 900 && ms < 2500, `after ${ms}ms (clientBody 1s)`)
  t.same(leaks(r.text, [up.port]), [])
  await waitFor(() => events.includes('close complete=false'), 2000, 'the upstream request to be aborted')
  t.same(
    events,
    ['data A', 'close complete=false'],
    'the upstream got the byte, then an abort, never a full body',
  )
})

t.test('case 54: close() lets a request in flight finish, ends tunnels and stops accepting', async (t) => {
  let release: (() => void) | undefined
  const up = await startUpstream(
    (_req, res) => {
      res.writeHead(200, { 'content-length': '9' })
      res.write('in-')
      release = () => res.end('flight')
    },
    { stream: true },
  )
  const p = await startProxy(`
upstreams:
  api: { targets: [${up.url}], healthCheck: false, passive: false }
  ws: { targets: [${ws.url}], healthCheck: false, passive: false }
routes:
  - { path: /ws, stripPrefix: true, upstream: ws }
  - upstream: api
`)
  t.teardown(async () => {
    await p.close()
    await up.close()
  })
  const tunnel = connect(p.port, '127.0.0.1')
  let tunnelText = ''
  let tunnelClosed = false
  tunnel.on('data', (c: Buffer) => {
    tunnelText += c.toString('latin1')
  })
  tunnel.on('close', () => {
    tunnelClosed = true
  })
  tunnel.on('error', () => undefined)
  tunnel.write(handshake('/ws/echo'))
  await waitFor(() => headEnd(tunnelText), 3000, 'the tunnel to open')
  const inflight = rawRequest(p.port, 'GET /long HTTP/1.1\r\nHost: good.example\r\n\r\n', {
    done: completeResponse,
  })
  await waitFor(() => release !== undefined, 3000, 'the request to reach the upstream')
  const closing = p.close()
  await waitFor(() => tunnelClosed, 2000, 'the tunnel to be closed')
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect(p.port, '127.0.0.1')
    s.on('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.on('error', () => resolve(true))
  })
  t.ok(refused, 'no new connections once closing')
  release?.()
  const r = await inflight
  t.equal(r.status, 200)
  t.equal(responseBody(r.text), 'in-flight', 'the request in flight completed in full')
  await closing
})
