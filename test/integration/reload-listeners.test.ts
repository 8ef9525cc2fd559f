/** Reloads that need new sockets: a moved port opens before the old one closes; new certificates without a restart. */
import type { X509Certificate } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { pino } from 'pino'
import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { Switchboard } from '../../src/server/switchboard.js'
import { LocalCa } from '../../src/tls/local-ca.js'
import { req } from '../helpers/client.js'
import { deadPort, startUpstream } from '../helpers/upstream.js'

t.test(
  'a changed port: the new listener opens, then the old one closes; keep-alive traffic is not dropped',
  async (t) => {
    const up = await startUpstream((_r, res) => res.end('ok'))
    const [p1, p2] = [await deadPort(), await deadPort()]
    const yaml = (port: number) => `listen: { http: "127.0.0.1:${port}" }\nroutes:\n  - { to: "${up.url}" }\n`
    const first = parseConfig(yaml(p1), 'test.yaml', {})
    const second = parseConfig(yaml(p2), 'test.yaml', {})
    if (!first.ok || !second.ok) throw new Error('bad test config')
    const sb = new Switchboard(first.config, pino({ level: 'silent' }))
    await sb.listen()
    t.teardown(async () => {
      await sb.close(0)
      await up.close()
    })
    t.equal((await req(p1, '/')).body, 'ok')
    const notApplied = await sb.apply(second.config)
    t.same(notApplied, [])
    t.equal((await req(p2, '/')).body, 'ok', 'the new port answers')
    t.equal(sb.address('http')?.port, p2)
    await t.rejects(req(p1, '/'), 'the old port is closed')
  },
)

t.test('new certificate files take effect for new handshakes without a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-certreload-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const ca = await LocalCa.open(join(dir, 'ca'))
  const cert = join(dir, 'site.pem')
  const key = join(dir, 'site-key.pem')
  const put = async (name: string) => {
    const pem = await ca.issue(name)
    await writeFile(cert, pem.cert)
    await writeFile(key, pem.key)
  }
  await put('one.test')
  const port = await deadPort()
  const yaml = (extra: string) =>
    `listen: { http: false, https: "127.0.0.1:${port}" }\ntls: { local: false, certificates: [ { cert: ${cert}, key: ${key} } ] }\nroutes:\n  - { to: 9 }\n${extra}`
  const a = parseConfig(yaml(''), join(dir, 'routes.yaml'), {})
  if (!a.ok) throw new Error(a.error.message)
  const sb = new Switchboard(a.config, pino({ level: 'silent' }))
  await sb.listen()
  t.teardown(() => sb.close(0))
  const names = () =>
    new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'one.test', rejectUnauthorized: false })
      s.once('secureConnect', () => {
        resolve((s.getPeerX509Certificate() as X509Certificate).subjectAltName ?? '')
        s.end()
      })
      s.once('error', reject)
    })
  t.match(await names(), /DNS:one\.test/)
  await put('two.test')
  // the file names did not change: the reload re-reads them because the admin asked (SIGHUP, POST /reload)
  const b = parseConfig(yaml('# touched\n'), join(dir, 'routes.yaml'), {})
  if (!b.ok) throw new Error(b.error.message)
  await sb.reloadCertificates(b.config)
  t.match(await names(), /DNS:two\.test/, 'the new certificate is served without a restart')
})

t.test(
  'listen.https turned off, then on again with other hosts: the TLS settings are the new ones',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-tls-onoff-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const [http, https] = [await deadPort(), await deadPort()]
    const yaml = (tlsOn: boolean, host: string) =>
      `listen: { http: "127.0.0.1:${http}", https: ${tlsOn ? `"127.0.0.1:${https}"` : 'false'} }\nroutes:\n  - { host: ${host}, to: 9 }\n`
    const load = (tlsOn: boolean, host: string) => {
      const r = parseConfig(yaml(tlsOn, host), join(dir, 'routes.yaml'), {})
      if (!r.ok) throw new Error(r.error.message)
      return r.config
    }
    const sb = new Switchboard(load(true, 'one.test'), pino({ level: 'silent' }), {
      stateDir: join(dir, 'state'),
    })
    await sb.listen()
    t.teardown(() => sb.close(0))
    t.equal(sb.tls?.covers('one.test'), true)
    t.same(await sb.apply(load(false, 'one.test')), [])
    t.equal(sb.address('https'), undefined, 'TLS listener off')
    t.same(await sb.apply(load(true, 'two.test')), [])
    t.ok(sb.address('https'), 'TLS listener on again')
    t.equal(sb.tls?.covers('two.test'), true, 'the new routed host is served over TLS')
    t.equal(sb.tls?.covers('one.test'), false, 'the old one is not')
  },
)

t.test('a listener move that fails is retried by the next reload of the same file', async (t) => {
  const up = await startUpstream((_r, res) => res.end('ok'))
  const [p1, p2] = [await deadPort(), await deadPort()]
  const yaml = (port: number) => `listen: { http: "127.0.0.1:${port}" }\nroutes:\n  - { to: "${up.url}" }\n`
  const first = parseConfig(yaml(p1), 'test.yaml', {})
  const second = parseConfig(yaml(p2), 'test.yaml', {})
  if (!first.ok || !second.ok) throw new Error('bad test config')
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(p2, '127.0.0.1', r))
  const sb = new Switchboard(first.config, pino({ level: 'silent' }))
  await sb.listen()
  t.teardown(async () => {
    await sb.close(0)
    await up.close()
  })
  t.same(await sb.apply(second.config), ['listen.http'], 'the port is taken: not applied')
  t.equal((await req(p1, '/')).body, 'ok', 'the old port still answers')
  await new Promise<void>((r) => blocker.close(() => r()))
  t.same(await sb.apply(second.config), [], 'the same file again: the move is retried')
  t.equal((await req(p2, '/')).body, 'ok', 'now on the new port')
})
