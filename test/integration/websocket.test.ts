import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { startProxy } from '../helpers/proxy.js'
import { completeResponse, rawRequest, waitFor } from '../helpers/raw.js'
import { startUpstream } from '../helpers/upstream.js'

interface SeenHandshake {
  url: string
  headers: Record<string, string | string[] | undefined>
}

async function startWsUpstream(opts: { requireToken?: boolean; allowedOrigin?: string } = {}) {
  const seen: SeenHandshake[] = []
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate: true,
    handleProtocols: (protocols) => (protocols.has('vite-hmr') ? 'vite-hmr' : false),
    verifyClient: (info, done) => {
      seen.push({ url: info.req.url ?? '', headers: info.req.headers })
      if (opts.requireToken && !(info.req.url ?? '').includes('token=abc'))
        return done(false, 400, 'missing token')
      if (opts.allowedOrigin && info.origin !== opts.allowedOrigin) return done(false, 403, 'foreign origin')
      done(true)
    },
  })
  wss.on('headers', (headers) => headers.push('X-Upstream-Says: hello'))
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) =>
      socket.send(isBinary ? data : `echo: ${data.toString()}`, { binary: isBinary }),
    )
  })
  await new Promise<void>((r) => wss.once('listening', () => r()))
  const port = (wss.address() as AddressInfo).port
  return {
    wss,
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate()
        wss.close(() => r())
      }),
  }
}

function open(url: string, protocols: string[], headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers, perMessageDeflate: true })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)))
  })
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data, binary) => resolve({ data: data as Buffer, binary })),
  )
}

t.test(
  'Vite-style HMR socket: query, subprotocols, Origin, Cookie, extensions pass; messages both ways',
  async (t) => {
    const up = await startWsUpstream({ requireToken: true, allowedOrigin: 'http://app.localhost' })
    const proxy = await startProxy(`
upstreams:
  vite: { targets: [${up.url}], timeouts: { idle: 1s } }
routes:
  - { host: app.localhost, upstream: vite }
`)
    t.teardown(async () => {
      await proxy.close()
      await up.close()
    })
    const ws = await open(`ws://127.0.0.1:${proxy.port}/?token=abc`, ['vite-hmr', 'vite-ping'], {
      host: 'app.localhost',
      origin: 'http://app.localhost',
      cookie: 'session=s1',
    })
    t.equal(ws.protocol, 'vite-hmr', 'upstream-chosen subprotocol relayed')
    t.match(ws.extensions, /permessage-deflate/, 'extension negotiated end to end')
    const hs = up.seen[0]
    t.equal(hs?.url, '/?token=abc')
    t.equal(
      hs?.headers['sec-websocket-protocol'],
      'vite-hmr,vite-ping',
      'both subprotocols, as the client wrote them',
    )
    t.equal(hs?.headers.origin, 'http://app.localhost')
    t.equal(hs?.headers.cookie, 'session=s1')
    t.equal(hs?.headers.host, 'app.localhost')
    t.match(hs?.headers['sec-websocket-extensions'], /permessage-deflate/)
    ws.send('hi')
    t.equal((await nextMessage(ws)).data.toString(), 'echo: hi')
    const big = Buffer.alloc(2 * 1024 * 1024, 7)
    ws.send(big)
    const back = await nextMessage(ws)
    t.equal(back.binary, true)
    t.equal(back.data.length, big.length, '2 MiB binary frame intact')
    // idle for longer than the upstream idle timeout (1s): a tunnel has no idle timeout of its own
    const until = Date.now() + 2200
    await waitFor(() => Date.now() > until, 3000, 'idle period')
    t.equal(ws.readyState, WebSocket.OPEN, 'still open after idling')
    ws.send('after idle')
    t.equal((await nextMessage(ws)).data.toString(), 'echo: after idle')
    ws.close()
  },
)

t.test('the client sees the upstream’s real answer: its 101 headers, or its error status', async (t) => {
  const up = await startWsUpstream({ requireToken: true, allowedOrigin: 'http://app.localhost' })
  const proxy = await startProxy(`routes:\n  - to: ${up.url}\n`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const key = 'dGhlIHNhbXBsZSBub25jZQ=='
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
  const hello = Buffer.from([
    0x81,
    0x85,
    1,
    2,
    3,
    4,
    ...Buffer.from('hello').map((b, i) => b ^ [1, 2, 3, 4][i % 4]!),
  ])
  const ok = await rawRequest(
    proxy.port,
    [
      Buffer.concat([
        Buffer.from(
          `GET /?token=abc HTTP/1.1\r\nHost: app.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: vite-hmr, other\r\nOrigin: http://app.localhost\r\n\r\n`,
        ),
        hello, // a frame pipelined right behind the handshake
      ]),
    ],
    { done: (s) => s.includes('echo: hello'), untilMs: 4000 },
  )
  t.match(ok.text, /^HTTP\/1\.1 101 Switching Protocols\r\n/)
  t.match(ok.text, new RegExp(`Sec-WebSocket-Accept: ${accept.replace(/[+/=]/g, '\\$&')}`, 'i'))
  t.match(ok.text, /X-Upstream-Says: hello/, 'upstream headers relayed')
  t.match(ok.text, /Sec-WebSocket-Protocol: vite-hmr/i)
  t.match(ok.text, /echo: hello/, 'bytes pipelined behind the handshake were delivered')

  const noToken = await rawRequest(
    proxy.port,
    `GET / HTTP/1.1\r\nHost: app.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://app.localhost\r\n\r\n`,
    { done: completeResponse },
  )
  t.equal(noToken.status, 400, 'upstream rejection relayed, not a made-up 101')
  const foreign = await rawRequest(
    proxy.port,
    `GET /?token=abc HTTP/1.1\r\nHost: app.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://evil.example\r\n\r\n`,
    { done: completeResponse },
  )
  t.equal(foreign.status, 403, 'the upstream saw the foreign Origin and refused')
  t.notMatch(foreign.text, /101/)
})

t.test('an upstream that does not speak WebSocket: its answer is relayed', async (t) => {
  const plain = await startUpstream((_r, res) =>
    res.writeHead(426, { 'content-type': 'text/plain' }).end('upgrade required'),
  )
  const proxy = await startProxy(`routes:\n  - to: ${plain.url}\n`)
  t.teardown(async () => {
    await proxy.close()
    await plain.close()
  })
  const r = await rawRequest(
    proxy.port,
    'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    { untilMs: 3000 },
  )
  t.equal(r.status, 426)
  t.match(r.text, /upgrade required$/)
  t.equal(r.closed, true)
})

t.test('closing either side closes the other', async (t) => {
  const up = await startWsUpstream()
  const proxy = await startProxy(`routes:\n  - to: ${up.url}\n`)
  t.teardown(async () => {
    await proxy.close()
    await up.close()
  })
  const ws = await open(`ws://127.0.0.1:${proxy.port}/`, [], { host: 'x' })
  await waitFor(() => up.wss.clients.size === 1, 2000, 'upstream connection')
  await waitFor(() => proxy.sb.tunnels.size === 1, 2000, 'tunnel registered')
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)))
  for (const c of up.wss.clients) c.close(4001, 'bye')
  t.equal(await closed, 4001, 'upstream close code relayed byte for byte')
  await waitFor(() => proxy.sb.tunnels.size === 0, 2000, 'tunnel released')
  const ws2 = await open(`ws://127.0.0.1:${proxy.port}/`, [], { host: 'x' })
  await waitFor(() => up.wss.clients.size === 1, 2000, 'second upstream connection')
  ws2.terminate()
  await waitFor(() => up.wss.clients.size === 0, 2000, 'upstream side closed after client vanished')
  await waitFor(() => proxy.sb.tunnels.size === 0, 2000, 'tunnel released')
})
