/** The local CA with real TLS peers: Node's TLS client accepts what it issues when, and only when, it trusts the CA. */
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises'
import { createServer as createHttpsServer, request } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer, type Server, type TLSSocket } from 'node:tls'
import t from 'tap'
import { defaultStateDir, LocalCa } from '../../src/tls/local-ca.js'

const DAY = 24 * 60 * 60 * 1000

interface Teardown {
  teardown(fn: () => unknown): void
}

async function tempDir(t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-ca-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function tlsServer(t: Teardown, cert: string, key: string): Promise<number> {
  const server: Server = createServer({ cert, key }, (socket) => socket.end('hello'))
  server.on('tlsClientError', () => {}) // the rejecting clients below abort their handshakes
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return (server.address() as AddressInfo).port
}

interface Outcome {
  authorized: boolean
  error?: string
  data?: string
  peer?: X509Certificate
}

/** One real TLS handshake with certificate verification on. */
function handshake(port: number, opts: { ca?: string; servername?: string }): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, ...opts })
    let data = ''
    socket.on('secureConnect', () => {
      const peer = socket.getPeerX509Certificate()
      socket.setEncoding('utf8')
      socket.on('data', (c: string) => {
        data += c
      })
      socket.on('end', () => {
        resolve({ authorized: socket.authorized, data, ...(peer ? { peer } : {}) })
        socket.destroy()
      })
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ authorized: false, error: err.code ?? err.message })
      socket.destroy()
    })
  })
}

t.test('the CA: created once, owner-only files, CA extensions', async (t) => {
  const dir = await tempDir(t)
  const ca = await LocalCa.open(dir)
  t.ok(ca.created, 'created on first use')
  t.equal(ca.certPath, join(dir, 'ca', 'rootCA.pem'))
  t.equal(await readFile(ca.certPath, 'utf8'), ca.certPem)

  const caDir = await stat(join(dir, 'ca'))
  t.equal(caDir.mode & 0o777, 0o700, 'ca/ is 0700')
  const key = await stat(join(dir, 'ca', 'rootCA-key.pem'))
  t.equal(key.mode & 0o777, 0o600, 'the CA key is 0600')
  t.same((await readdir(join(dir, 'ca'))).sort(), ['rootCA-key.pem', 'rootCA.pem'])

  const cert = new X509Certificate(ca.certPem)
  t.ok(cert.ca)
  t.match(cert.subject, /CN=Switchboard Local CA \(.+@.+\)/)
  t.equal(cert.subject, cert.issuer, 'self-signed')
  const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365 * DAY)
  t.ok(years > 9.9 && years < 10.1, `valid 10 years (${years.toFixed(2)})`)

  // Extension criticality is not exposed by node:crypto; @peculiar/x509 is loaded by now.
  const x509 = await import('@peculiar/x509')
  const parsed = new x509.X509Certificate(ca.certPem)
  const bc = parsed.getExtension(x509.BasicConstraintsExtension)
  t.ok(bc?.ca && bc.critical, 'basicConstraints CA:true, critical')
  const ku = parsed.getExtension(x509.KeyUsagesExtension)
  t.ok(ku?.critical, 'keyUsage critical')
  t.equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, 'keyCertSign + cRLSign')

  t.notMatch(JSON.stringify(ca), /PRIVATE KEY/, 'the object exposes no key')
  t.notMatch(Object.keys(ca).join(','), /key/i)

  const again = await LocalCa.open(dir)
  t.notOk(again.created, 'loaded, not created, the second time')
  t.equal(again.certPem, ca.certPem, 'the same CA')
})

t.test('two opens racing on an empty directory end with one CA', async (t) => {
  const dir = await tempDir(t)
  const [a, b] = await Promise.all([LocalCa.open(dir), LocalCa.open(dir)])
  t.equal(a.certPem, b.certPem)
  t.equal([a.created, b.created].filter(Boolean).length, 1, 'exactly one of them created it')
  t.equal(await readFile(a.certPath, 'utf8'), a.certPem)
  t.same(
    (await readdir(dir)).filter((f) => f.startsWith('.ca-')),
    [],
    'no temporary directory left',
  )
})

t.test('a leaf for app.localhost verifies with the CA, and only with it', async (t) => {
  const dir = await tempDir(t)
  const ca = await LocalCa.open(dir)
  const leaf = await ca.issue('app.localhost')

  const cert = new X509Certificate(leaf.cert)
  t.equal(cert.subjectAltName, 'DNS:app.localhost', 'exactly that name')
  t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extendedKeyUsage serverAuth')
  t.notOk(cert.ca)
  t.ok(cert.checkIssued(new X509Certificate(ca.certPem)))
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY
  t.ok(days > 89.9 && days < 90.1, `about 90 days (${days.toFixed(3)})`)
  t.equal((await stat(join(dir, 'certs', 'app.localhost-key.pem'))).mode & 0o777, 0o600, 'leaf key 0600')
  t.notOk(
    (await readdir(join(dir, 'certs'))).some((f) => f.startsWith('rootCA')),
    'the CA key never leaves ca/',
  )

  const port = await tlsServer(t, leaf.cert, leaf.key)
  const trusted = await handshake(port, { ca: ca.certPem, servername: 'app.localhost' })
  t.equal(trusted.error, undefined)
  t.ok(trusted.authorized, 'authorized with the CA')
  t.equal(trusted.data, 'hello', 'data flows')
  t.equal(trusted.peer?.fingerprint256, cert.fingerprint256, 'the server sent the issued certificate')

  const untrusted = await handshake(port, { servername: 'app.localhost' })
  t.notOk(untrusted.authorized)
  t.equal(untrusted.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'rejected without the CA')

  const otherName = await handshake(port, { ca: ca.certPem, servername: 'api.localhost' })
  t.notOk(otherName.authorized)
  t.equal(otherName.error, 'ERR_TLS_CERT_ALTNAME_INVALID', 'no other name is covered')

  const wrongCa = await LocalCa.open(await tempDir(t))
  const stranger = await handshake(port, { ca: wrongCa.certPem, servername: 'app.localhost' })
  t.equal(stranger.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'another CA does not vouch for it')
})

t.test('an HTTPS request to an IP literal and a host name', async (t) => {
  const dir = await tempDir(t)
  const ca = await LocalCa.open(dir)
  const ip = await ca.issue('127.0.0.1')
  t.equal(new X509Certificate(ip.cert).subjectAltName, 'IP Address:127.0.0.1')
  const ipPort = await tlsServer(t, ip.cert, ip.key)
  const byIp = await handshake(ipPort, { ca: ca.certPem })
  t.ok(byIp.authorized, 'IP SAN verified against the address (no SNI)')

  const leaf = await ca.issue('App.Localhost.')
  const server = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (req, res) =>
    res.end(`host ${req.headers.host}`),
  )
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const port = (server.address() as AddressInfo).port
  const body = await new Promise<string>((resolve, reject) => {
    const r = request(
      {
        host: '127.0.0.1',
        port,
        servername: 'app.localhost',
        headers: { host: 'app.localhost' },
        ca: ca.certPem,
        agent: false,
      },
      (res) => {
        let s = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          s += c
        })
        res.on('end', () => resolve(s))
      },
    )
    r.on('error', reject)
    r.end()
  })
  t.equal(body, 'host app.localhost', 'an https request with verification on')
  t.equal(new X509Certificate(leaf.cert).subjectAltName, 'DNS:app.localhost', 'name normalised')
})

t.test('leaves are cached in memory and on disk, and reused by the next open', async (t) => {
  const dir = await tempDir(t)
  const ca = await LocalCa.open(dir)
  const first = await ca.issue('app.localhost')
  t.same(await ca.issue('APP.localhost'), first, 'memory cache')
  t.equal(await readFile(join(dir, 'certs', 'app.localhost.pem'), 'utf8'), first.cert)
  t.equal(await readFile(join(dir, 'certs', 'app.localhost-key.pem'), 'utf8'), first.key)

  const reopened = await LocalCa.open(dir)
  t.same(await reopened.issue('app.localhost'), first, 'disk cache')

  // A damaged cache entry is replaced, not served.
  await unlink(join(dir, 'certs', 'app.localhost-key.pem'))
  const third = await (await LocalCa.open(dir)).issue('app.localhost')
  t.not(third.cert, first.cert, 'reissued when the key is missing')
})

t.test('concurrent issue() calls for one name share one issuance', async (t) => {
  const dir = await tempDir(t)
  const ca = await LocalCa.open(dir)
  const all = await Promise.all([1, 2, 3, 4, 5].map(() => ca.issue('shared.localhost')))
  for (const r of all) t.equal(r.cert, all[0]!.cert)
  t.equal(await readFile(join(dir, 'certs', 'shared.localhost.pem'), 'utf8'), all[0]!.cert)
  const [a, b] = await Promise.all([ca.issue('a.localhost'), ca.issue('b.localhost')])
  t.not(a.cert, b.cert, 'different names are issued separately')
})

t.test('renewal: less than 30 days left, or a clock before the certificate', async (t) => {
  const dir = await tempDir(t)
  const start = Date.now()
  let now = start
  const ca = await LocalCa.open(dir, { now: () => new Date(now) })
  const first = await ca.issue('app.localhost')

  now = start + 59 * DAY
  t.same(await ca.issue('app.localhost'), first, '31 days left: kept')
  t.same(
    await (await LocalCa.open(dir, { now: () => new Date(now) })).issue('app.localhost'),
    first,
    'kept from disk too',
  )

  now = start + 61 * DAY
  const renewed = await ca.issue('app.localhost')
  t.not(renewed.cert, first.cert, '29 days left: renewed')
  const cert = new X509Certificate(renewed.cert)
  t.ok(Math.abs(Date.parse(cert.validTo) - (now + 90 * DAY)) < 2000, 'a fresh 90 days from the new now')
  t.equal(await readFile(join(dir, 'certs', 'app.localhost.pem'), 'utf8'), renewed.cert, 'written to disk')

  now = start - 10 * DAY
  const back = await (await LocalCa.open(dir, { now: () => new Date(now) })).issue('app.localhost')
  t.not(back.cert, renewed.cert, 'not yet valid at the current time: issued again')
})

t.test('a new CA makes cached leaves stale', async (t) => {
  const dir = await tempDir(t)
  const oldCa = await LocalCa.open(dir)
  const old = await oldCa.issue('app.localhost')
  await rename(join(dir, 'ca'), join(dir, 'ca.bak'))

  const ca = await LocalCa.open(dir)
  t.ok(ca.created)
  t.not(ca.certPem, oldCa.certPem)
  const leaf = await ca.issue('app.localhost')
  t.not(leaf.cert, old.cert, 'the leaf signed by the old CA is not served')
  t.ok(new X509Certificate(leaf.cert).checkIssued(new X509Certificate(ca.certPem)))
  const port = await tlsServer(t, leaf.cert, leaf.key)
  t.ok((await handshake(port, { ca: ca.certPem, servername: 'app.localhost' })).authorized)
})

t.test('a CA that expires within a leaf lifetime is replaced, the old one kept aside', async (t) => {
  const dir = await tempDir(t)
  let now = Date.now()
  const old = await LocalCa.open(dir, { now: () => new Date(now) })
  now += 3650 * DAY - 30 * DAY
  const ca = await LocalCa.open(dir, { now: () => new Date(now) })
  t.ok(ca.created)
  t.not(ca.certPem, old.certPem)
  t.ok((await readdir(dir)).some((f) => f.startsWith('ca.expired-')))
})

t.test('refused names and broken CA directories', async (t) => {
  const dir = await tempDir(t)
  const ca = await LocalCa.open(dir)
  await t.rejects(ca.issue('*.localhost'), /wildcard/)
  await t.rejects(ca.issue('bad name.localhost'), /not a valid host name/)
  await t.rejects(ca.issue(''), /not a valid host name/)
  await t.rejects(ca.issue('a..localhost'), /not a valid host name/)
  const v6 = await ca.issue('[::1]')
  t.equal(new X509Certificate(v6.cert).subjectAltName, 'IP Address:0:0:0:0:0:0:0:1')

  await unlink(join(dir, 'ca', 'rootCA-key.pem'))
  await t.rejects(
    LocalCa.open(dir),
    /a certificate but no key/,
    'never silently replaces a CA without its key',
  )
})

t.test('defaultStateDir', async (t) => {
  t.equal(defaultStateDir({ SWITCHBOARD_STATE_DIR: '/srv/sb', XDG_STATE_HOME: '/x', HOME: '/h' }), '/srv/sb')
  t.equal(defaultStateDir({ XDG_STATE_HOME: '/x/state', HOME: '/h' }), '/x/state/switchboard')
  t.equal(defaultStateDir({ XDG_STATE_HOME: 'relative', HOME: '/h' }), '/h/.local/state/switchboard')
  t.equal(defaultStateDir({ SWITCHBOARD_STATE_DIR: '', HOME: '/h' }), '/h/.local/state/switchboard')
  t.equal(defaultStateDir({ SWITCHBOARD_STATE_DIR: 'rel' }), join(process.cwd(), 'rel'))
})
