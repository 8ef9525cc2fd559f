/**
 * bindError: the sentence a failed bind turns into names the routes.yaml key that sets the address (listen.http,
 * listen.https, admin.listen) and suggests a fix for that same key. EADDRINUSE comes from a real second bind;
 * EACCES is constructed (tests run as root here, and root may bind any port whatever
 * net.ipv4.ip_unprivileged_port_start says).
 */
import { createServer } from 'node:net'
import t from 'tap'
import { bindError } from '../../src/server/listen-errors.js'

const KEYS = { http: 'listen.http', https: 'listen.https', admin: 'admin.listen' } as const
type Listener = keyof typeof KEYS

function errno(code: string, port: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`listen ${code}: 0.0.0.0:${port}`), { code, syscall: 'listen', port })
}

/** Every `key: value` fix a message suggests, e.g. "listen.https: 8443" -> "listen.https". */
function suggestedKeys(message: string): string[] {
  return [...message.matchAll(/\b((?:listen|admin)(?:\.[a-z]+)?): [\w"[]/g)].map((m) => m[1] as string)
}

t.test(
  'a real EADDRINUSE, for each listener, names its key and suggests another port for that key',
  async (t) => {
    const first = createServer()
    await new Promise<void>((r) => first.listen(0, '127.0.0.1', r))
    t.teardown(() => first.close())
    const port = (first.address() as { port: number }).port
    const second = createServer()
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      second.once('error', resolve)
      second.listen(port, '127.0.0.1')
    })
    t.equal(err.code, 'EADDRINUSE')
    const alt = { http: '127.0.0.1:8080', https: '127.0.0.1:8443', admin: `127.0.0.1:${port + 1}` }
    for (const listener of ['http', 'https', 'admin'] as Listener[]) {
      const e = bindError(err, listener, '127.0.0.1', port)
      t.equal(e.code, 'EADDRINUSE')
      t.match(e.message, `cannot listen on 127.0.0.1:${port} (${KEYS[listener]}): the port is already in use`)
      t.match(e.message, `ss -ltnp 'sport = :${port}'`)
      t.match(e.message, `${KEYS[listener]}: ${alt[listener]}`, `${listener}: suggests another port`)
      t.notMatch(e.message, 'another Switchboard', 'not the default admin port')
      t.same(
        new Set(suggestedKeys(e.message)),
        new Set([KEYS[listener]]),
        `${listener}: no other key suggested`,
      )
    }
  },
)

t.test(
  'the default admin port in use: probably another Switchboard; admin: false or admin.listen',
  async (t) => {
    const e = bindError(errno('EADDRINUSE', 9901), 'admin', '127.0.0.1', 9901)
    t.match(e.message, 'cannot listen on 127.0.0.1:9901 (admin.listen): the port is already in use')
    t.match(e.message, 'another Switchboard is probably running')
    t.match(e.message, 'admin.listen: 127.0.0.1:9902')
    t.match(e.message, 'admin: false')
    t.notMatch(e.message, 'listen.admin')
    t.same(new Set(suggestedKeys(e.message)), new Set(['admin.listen', 'admin']))
    const elsewhere = bindError(errno('EADDRINUSE', 9901), 'http', '127.0.0.1', 9901)
    t.notMatch(elsewhere.message, 'another Switchboard', "only the admin listener's default")
  },
)

t.test('EACCES below 1024 suggests a high port for the same key', async (t) => {
  const https = bindError(errno('EACCES', 443), 'https', undefined, 443)
  t.match(
    https.message,
    'cannot listen on *:443 (listen.https): permission denied; ports below 1024 need privileges',
  )
  t.match(https.message, 'listen.https: 8443')
  t.notMatch(https.message, 'listen.http:', 'does not send an https listener to the http key')
  t.match(https.message, "setcap 'cap_net_bind_service=+ep'")
  t.match(https.message, 'sysctl net.ipv4.ip_unprivileged_port_start=80')
  const http = bindError(errno('EACCES', 80), 'http', '127.0.0.1', 80)
  t.match(http.message, '(listen.http): permission denied')
  t.match(http.message, 'listen.http: 127.0.0.1:8080')
  const low = bindError(errno('EACCES', 25), 'http', undefined, 25)
  t.match(low.message, 'ip_unprivileged_port_start=25', 'low enough for the port asked for')
  const admin = bindError(errno('EACCES', 901), 'admin', '127.0.0.1', 901)
  t.match(admin.message, '(admin.listen): permission denied')
  t.match(admin.message, 'admin.listen: 127.0.0.1:9901')
  const v6 = bindError(errno('EACCES', 443), 'https', '::1', 443)
  t.match(v6.message, 'cannot listen on [::1]:443 (listen.https)')
  t.match(
    v6.message,
    'listen.https: "[::1]:8443"',
    'an IPv6 address is quoted (unquoted, [ starts a YAML list)',
  )
  for (const e of [https, http, low, admin, v6]) t.equal(e.code, 'EACCES')
})

t.test('every code, every listener: the real key and nothing else', async (t) => {
  for (const code of ['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EMFILE']) {
    for (const port of [80, 8080]) {
      for (const listener of ['http', 'https', 'admin'] as Listener[]) {
        const e = bindError(errno(code, port), listener, 'somewhere.example', port)
        t.match(e.message, `somewhere.example:${port} (${KEYS[listener]})`, `${code} ${port} ${listener}`)
        t.notMatch(e.message, /listen\.admin/)
        for (const key of suggestedKeys(e.message))
          t.equal(key, KEYS[listener], `${code} ${port} ${listener}: suggests ${key}`)
      }
    }
  }
})
