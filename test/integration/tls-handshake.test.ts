/**
 * timeouts.tlsHandshake on the real HTTPS listener: raw TCP clients that never finish a TLS handshake (nothing sent,
 * or half a ClientHello) are disconnected after the configured time; 200 of them open at once do not keep a real
 * HTTPS client from its page; and a reload applies a new value to new connections.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/model.js'
import { Switchboard } from '../../src/server/switchboard.js'
import { LocalCa } from '../../src/tls/local-ca.js'
import { startUpstream } from '../helpers/upstream.js'

const dir = await mkdtemp(join(tmpdir(), 'sb-handshake-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const team = await LocalCa.open(join(dir, 'team'))
const pem = await team.issue('a.test')
const certFile = join(dir, 'a.test.pem')
const keyFile = join(dir, 'a.test-key.pem')
await writeFile(certFile, pem.cert)
await writeFile(keyFile, pem.key, { mode: 0o600 })

const web = await startUpstream((_req, res) => res.end('the page'))
t.teardown(() => web.close())

function config(tlsHandshake: string): Config {
  const loaded = parseConfig(
    `listen: { http: false, https: "127.0.0.1:0" }
admin: false
timeouts: { tlsHandshake: ${tlsHandshake} }
tls:
  certificates: [ { cert: ${certFile}, key: ${keyFile} } ]
  local: false
routes:
  - { host: a.test, to: ${web.url} }
`,
    join(dir, 'routes.yaml'),
    {},
  )
  if (!loaded.ok) throw new Error(loaded.error.message)
  return loaded.config
}

const sb = new Switchboard(config('300ms'), pino({ level: 'silent' }), { stateDir: join(dir, 'state') })
const port = (await sb.listen()).https?.port as number
t.teardown(() => sb.close(0))

/** The first bytes of a TLS ClientHello: a record header announcing 512 bytes, and a few of them. */
const HALF_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])

interface Peer {
  socket: Socket
  /** Resolves with the milliseconds from connect to close, or rejects when the deadline passes first. */
  closed: Promise<number>
  isOpen(): boolean
}

/** A raw TCP client that sends `bytes` (maybe nothing) and never completes a handshake. */
function halfOpen(bytes?: Buffer, deadlineMs = 5000): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let open = false
    let connectedAt = 0
    const closed = new Promise<number>((done, fail) => {
      const deadline = setTimeout(() => {
        socket.destroy()
        fail(new Error(`still open after ${deadlineMs}ms`))
      }, deadlineMs)
      socket.once('close', () => {
        open = false
        clearTimeout(deadline)
        done(Date.now() - connectedAt)
      })
    })
    closed.catch(() => undefined)
    socket.on('error', () => undefined)
    socket.once('error', reject)
    socket.once('connect', () => {
      open = true
      connectedAt = Date.now()
      socket.off('error', reject)
      if (bytes) socket.write(bytes)
      resolve({ socket, closed, isOpen: () => open })
    })
  })
}

function getPage(): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        servername: 'a.test',
        headers: { host: 'a.test' },
        ca: team.certPem,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => {
          body += d.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    r.on('timeout', () => r.destroy(new Error('no answer within 10s')))
    r.on('error', reject)
    r.end()
  })
}

t.test(
  'a client that never completes its TLS handshake is disconnected after timeouts.tlsHandshake',
  async (t) => {
    const silent = await halfOpen()
    const half = await halfOpen(HALF_CLIENT_HELLO)
    // Node's own default would keep both for 120s; the 5s deadline fails the test then.
    const [silentMs, halfMs] = await Promise.all([silent.closed, half.closed])
    t.ok(silentMs >= 250, `a silent client is not cut before the timeout (${silentMs}ms)`)
    t.ok(halfMs >= 250, `half a ClientHello is not cut before the timeout (${halfMs}ms)`)
  },
)

t.test(
  '200 half-open handshakes do not keep a real client out; a reload applies to new connections',
  async (t) => {
    t.same(await sb.apply(config('30s')), [], 'the reload applied everything')
    const peers = await Promise.all(Array.from({ length: 200 }, () => halfOpen(HALF_CLIENT_HELLO, 60_000)))
    t.teardown(() => {
      for (const p of peers) p.socket.destroy()
    })
    t.equal(peers.filter((p) => p.isOpen()).length, 200, 'all 200 are open')
    const page = await getPage()
    t.equal(page.status, 200)
    t.equal(page.body, 'the page')
    t.equal(peers.filter((p) => p.isOpen()).length, 200, 'and still open after the page was served')

    t.same(await sb.apply(config('300ms')), [])
    const late = await halfOpen(HALF_CLIENT_HELLO)
    const lateMs = await late.closed
    t.ok(lateMs >= 250, `a connection after the reload gets the new timeout (${lateMs}ms)`)
    t.equal(
      peers.filter((p) => p.isOpen()).length,
      200,
      'connections opened before the reload keep the timeout they started with',
    )
  },
)
