/**
 * The HTTPS front door with real TLS peers: SNI selection among several certificates, the default for clients
 * without SNI, local-CA certificates for routed dev hosts, the HTTP->HTTPS redirect, h2 and http/1.1 by ALPN, SSE
 * over h2, wss, HSTS, 421, and verification of https:// upstreams.
 */
import type { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { connect as h2connect } from 'node:http2'
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { pino } from 'pino'
import t from 'tap'
import { type ClientOptions, WebSocket, WebSocketServer } from 'ws'
import { parseConfig } from '../../src/config/load.js'
import { Switchboard } from '../../src/server/switchboard.js'
import { LocalCa } from '../../src/tls/local-ca.js'
import { waitFor } from '../helpers/raw.js'
import { startUpstream } from '../helpers/upstream.js'

const dir = await mkdtemp(join(tmpdir(), 'sb-tls-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
// A "team" CA that signs the certificates users bring, and the local CA's own state directory.
const team = await LocalCa.open(join(dir, 'team'))
async function teamCert(name: string): Promise<{ cert: string; key: string }> {
  const pem = await team.issue(name)
  const cert = join(dir, `${name}.pem`)
  const key = join(dir, `${name}-key.pem`)
  await writeFile(cert, pem.cert)
  await writeFile(key, pem.key, { mode: 0o600 })
  return { cert, key }
}
const a = await teamCert('a.test')
const c = await teamCert('c.test')
const ip = await teamCert('127.0.0.1')
const wrongName = await teamCert('other.test')
const stateDir = join(dir, 'state')

let eventsClosed = 0
const web = await startUpstream((req, res) => {
  if (req.url === '/events') {
    res.on('close', () => eventsClosed++)
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: first\n\n')
    return
  }
  res.end(`web ${req.headers['x-forwarded-proto']} ${req.url}`)
})
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
wss.on('connection', (s) => s.on('message', (m) => s.send(`echo ${m.toString()}`)))
await once(wss, 'listening')
const wsPort = (wss.address() as AddressInfo).port

async function httpsUpstream(files: { cert: string; key: string }) {
  const { readFile } = await import('node:fs/promises')
  const server = createHttpsServer(
    { cert: await readFile(files.cert), key: await readFile(files.key) },
    (_r, res) => res.end('secret from https upstream'),
  )
  server.on('tlsClientError', () => undefined)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as AddressInfo).port }
}
const goodUp = await httpsUpstream(ip)
const impostor = await httpsUpstream(wrongName)
const teamCaFile = team.certPath

const yaml = `
listen: { http: "127.0.0.1:0", https: "127.0.0.1:0" }
tls:
  certificates:
    - { cert: ${a.cert}, key: ${a.key} }
    - { cert: ${c.cert}, key: ${c.key} }
  local: true
  hsts: 180d
upstreams:
  verified: { targets: ["https://127.0.0.1:${goodUp.port}"], tls: { ca: ${teamCaFile} }, healthCheck: false }
  untrusted: { targets: ["https://127.0.0.1:${goodUp.port}"], healthCheck: false }
  skip: { targets: ["https://127.0.0.1:${goodUp.port}"], tls: { insecureSkipVerify: true }, healthCheck: false }
  impostor: { targets: ["https://127.0.0.1:${impostor.port}"], tls: { ca: ${teamCaFile} }, healthCheck: false }
routes:
  - { host: [a.test, c.test, app.localhost], to: ${web.url} }
  - { host: ws.localhost, to: ${wsPort} }
  - { host: verified.localhost, upstream: verified }
  - { host: untrusted.localhost, upstream: untrusted }
  - { host: skip.localhost, upstream: skip }
  - { host: impostor.localhost, upstream: impostor }
`
const loaded = parseConfig(yaml, join(dir, 'routes.yaml'), {})
if (!loaded.ok) throw new Error(loaded.error.message)
const sb = new Switchboard(loaded.config, pino({ level: 'silent' }), { stateDir })
const listening = await sb.listen()
const httpsPort = listening.https?.port as number
const httpPort = listening.http?.port as number
const localCa = (await LocalCa.open(stateDir)).certPem
const trust = [team.certPem, localCa]
t.teardown(async () => {
  await sb.close(0)
  await web.close()
  for (const client of wss.clients) client.terminate()
  wss.close()
  for (const up of [goodUp, impostor]) {
    up.server.closeAllConnections()
    up.server.close()
  }
})

function peerCert(
  servername: string | undefined,
): Promise<{ names: string; authorized: boolean; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: httpsPort,
      ...(servername ? { servername } : {}),
      ca: trust,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2', 'http/1.1'],
    })
    s.once('secureConnect', () => {
      const raw = s.getPeerX509Certificate() as X509Certificate
      resolve({ names: raw.subjectAltName ?? '', authorized: s.authorized, alpn: s.alpnProtocol ?? false })
      s.end()
    })
    s.once('error', reject)
  })
}

function h1(
  path: string,
  host: string,
  servername = host,
): Promise<{ status: number; headers: Record<string, unknown>; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const r = httpsRequest(
      {
        host: '127.0.0.1',
        port: httpsPort,
        path,
        servername,
        headers: { host },
        ca: trust,
        agent: false,
        ...({ ALPNProtocols: ['http/1.1'] } as object),
      },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => {
          body += d.toString()
        })
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            alpn: (res.socket as unknown as { alpnProtocol: string | false | null }).alpnProtocol ?? false,
          }),
        )
      },
    )
    r.on('error', reject)
    r.end()
  })
}

t.test('SNI picks the right certificate among several; no SNI gets the default', async (t) => {
  const forA = await peerCert('a.test')
  t.match(forA.names, /DNS:a\.test/)
  t.equal(forA.authorized, true)
  t.match((await peerCert('c.test')).names, /DNS:c\.test/)
  t.match((await peerCert(undefined)).names, /DNS:a\.test/, 'the first certificate is the default')
})

t.test(
  'the local CA issues a certificate for a routed dev host that Node accepts given the CA',
  async (t) => {
    const local = await peerCert('app.localhost')
    t.match(local.names, /DNS:app\.localhost/)
    t.equal(local.authorized, true)
    const r = await h1('/x', 'app.localhost')
    t.equal(r.status, 200)
    t.equal(r.body, 'web https /x', 'X-Forwarded-Proto is https')
    t.equal(r.alpn, 'http/1.1')
    t.equal(r.headers['strict-transport-security'], `max-age=${180 * 86400}`)
  },
)

t.test('HTTP/2 is negotiated by ALPN; SSE streams over h2', async (t) => {
  t.equal((await peerCert('a.test')).alpn, 'h2')
  const session = h2connect(`https://127.0.0.1:${httpsPort}`, { ca: trust, servername: 'a.test' })
  t.teardown(() => session.close())
  const body = await new Promise<string>((resolve, reject) => {
    const s = session.request({ ':path': '/h2', ':authority': 'a.test' })
    let b = ''
    s.on('data', (d: Buffer) => {
      b += d.toString()
    })
    s.on('end', () => resolve(b))
    s.on('error', reject)
  })
  t.equal(body, 'web https /h2')
  const first = await new Promise<{ type: unknown; chunk: string }>((resolve, reject) => {
    const s = session.request({ ':path': '/events', ':authority': 'a.test' })
    let type: unknown
    s.on('response', (h) => {
      type = h['content-type']
    })
    s.once('data', (d: Buffer) => {
      resolve({ type, chunk: d.toString() })
      s.close()
    })
    s.on('error', reject)
  })
  t.equal(first.type, 'text/event-stream')
  t.equal(first.chunk, 'data: first\n\n', 'the event arrives while the stream stays open')
  await waitFor(
    () => eventsClosed === 1,
    3000,
    'the upstream SSE request aborted when the h2 stream was cancelled',
  )
})

t.test(
  'plain HTTP for a TLS host gets 308 to https with path and query; /.well-known/ is not redirected',
  async (t) => {
    const get = (path: string) =>
      new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
        const r = httpRequest(
          { host: '127.0.0.1', port: httpPort, path, headers: { host: 'a.test' }, agent: false },
          (res) => {
            res.resume()
            resolve({ status: res.statusCode ?? 0, location: res.headers.location })
          },
        )
        r.on('error', reject)
        r.end()
      })
    const r = await get('/p/q?x=1')
    t.equal(r.status, 308)
    t.equal(r.location, `https://a.test:${httpsPort}/p/q?x=1`)
    const acme = await get('/.well-known/acme-challenge/token')
    t.equal(acme.status, 200, 'ACME-style paths are served over plain HTTP')
  },
)

t.test('wss through the proxy', async (t) => {
  const options = { ca: trust, servername: 'ws.localhost', headers: { host: 'ws.localhost' } }
  const ws = new WebSocket(`wss://127.0.0.1:${httpsPort}/`, options as unknown as ClientOptions)
  await once(ws, 'open')
  ws.send('hi')
  const [msg] = await once(ws, 'message')
  t.equal(String(msg), 'echo hi')
  ws.close()
})

t.test('a Host the connection’s certificate does not cover gets 421', async (t) => {
  const r = await h1('/', 'c.test', 'a.test')
  t.equal(r.status, 421)
  t.match(r.body, /SB_MISDIRECTED/)
})

t.test(
  'https upstreams are verified: trusted CA ok, unknown CA 502, wrong name 502, insecureSkipVerify ok',
  async (t) => {
    const ok = await h1('/', 'verified.localhost')
    t.equal(ok.body, 'secret from https upstream')
    const untrusted = await h1('/', 'untrusted.localhost')
    t.equal(untrusted.status, 502)
    t.match(untrusted.body, /SB_UPSTREAM_TLS/)
    t.notMatch(untrusted.body, /secret|self-signed|certificate chain|127\.0\.0\.1/)
    const imp = await h1('/', 'impostor.localhost')
    t.equal(imp.status, 502)
    t.notMatch(imp.body, /secret/)
    const skip = await h1('/', 'skip.localhost')
    t.equal(skip.body, 'secret from https upstream')
    await waitFor(() => true, 10)
  },
)
