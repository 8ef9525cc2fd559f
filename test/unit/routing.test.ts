import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/model.js'
import { parseRequestHost } from '../../src/routing/host.js'
import { parseTarget, underPrefix } from '../../src/routing/path.js'
import { rewriteLocation, upstreamPath } from '../../src/routing/rewrite.js'
import { RouteTable } from '../../src/routing/table.js'

function config(yaml: string): Config {
  const r = parseConfig(yaml, 'test.yaml', {})
  if (!r.ok) throw new Error(r.error.message)
  return r.config
}

const table = new RouteTable(
  config(`
routes:
  - { host: app.localhost, to: 1 }
  - { host: app.localhost, path: /api, to: 2 }
  - { host: app.localhost, path: /api/v2, to: 3 }
  - { host: "*.example.com", to: 4 }
  - { host: "*.eu.example.com", to: 5 }
  - { host: "*.localhost", path: /only, to: 6 }
  - { to: 7 }
  - { path: /static, to: 8 }
  - { host: [a.test, b.test], to: 9 }
`).routes,
)

function dest(host: string, path: string): number | undefined {
  const r = table.match(host, path)
  return r === undefined ? undefined : r.index + 1
}

t.test('exact host, then longest path prefix on a segment boundary', async (t) => {
  t.equal(dest('app.localhost', '/'), 1)
  t.equal(dest('app.localhost', '/api'), 2)
  t.equal(dest('app.localhost', '/api/'), 2)
  t.equal(dest('app.localhost', '/api/x'), 2)
  t.equal(dest('app.localhost', '/apix'), 1, 'never /apix')
  t.equal(dest('app.localhost', '/api/v2/users'), 3)
  t.equal(dest('app.localhost', '/api/v20'), 2)
  t.equal(dest('app.localhost', '/API/x'), 1, 'paths are case-sensitive')
})

t.test('wildcards: one or more labels, more labels first, file order irrelevant', async (t) => {
  t.equal(dest('www.example.com', '/'), 4)
  t.equal(dest('a.b.example.com', '/'), 4, 'one or more labels')
  t.equal(dest('example.com', '/'), 7, 'the bare suffix is not matched by *.')
  t.equal(dest('x.eu.example.com', '/'), 5, 'more specific wildcard wins')
})

t.test('a tier whose paths do not cover the request falls through', async (t) => {
  t.equal(dest('dev.localhost', '/only/x'), 6)
  t.equal(dest('dev.localhost', '/other'), 7)
  t.equal(dest('dev.localhost', '/static/a.js'), 8)
  t.equal(dest('unknown', '/'), 7)
})

t.test('host lists', async (t) => {
  t.equal(dest('a.test', '/'), 9)
  t.equal(dest('b.test', '/'), 9)
})

t.test('no match without an any-host route', async (t) => {
  const only = new RouteTable(config('routes:\n  - { host: a.test, path: /x, to: 1 }\n').routes)
  t.equal(only.match('a.test', '/'), undefined)
  t.equal(only.match('b.test', '/x'), undefined)
  t.ok(only.match('a.test', '/x/y'))
})

t.test('request Host parsing', async (t) => {
  t.same(parseRequestHost('App.LocalHost.:8080'), { name: 'app.localhost', port: 8080 })
  t.same(parseRequestHost('127.0.0.1'), { name: '127.0.0.1', port: undefined })
  t.same(parseRequestHost('[::1]:80'), { name: '[::1]', port: 80 })
  for (const bad of [
    '',
    'a:99999',
    'a:80:80',
    'good.example@evil',
    'a b',
    'a/b',
    '[zz]',
    'a:',
    'x..y',
    '-a.b',
  ]) {
    t.equal(parseRequestHost(bad), undefined, `rejects ${JSON.stringify(bad)}`)
  }
})

t.test('request-target checks', async (t) => {
  t.same(parseTarget('/a/b?x=1'), { ok: true, path: '/a/b', query: '?x=1', authority: undefined })
  t.same(parseTarget('http://h.test:8/p?q'), { ok: true, path: '/p', query: '?q', authority: 'h.test:8' })
  t.same(parseTarget('http://h.test'), { ok: true, path: '/', query: '', authority: 'h.test' })
  t.equal((parseTarget('/%61pi/x') as { path: string }).path, '/api/x', 'unreserved escapes decoded')
  t.equal((parseTarget('/a%2Fb') as { path: string }).path, '/a%2Fb', 'reserved escapes kept')
  t.equal(
    (parseTarget('/api/%252e%252e/x') as { path: string }).path,
    '/api/%252e%252e/x',
    'never decoded twice',
  )
  for (const bad of [
    '/api/../admin',
    '/api/./x',
    '/api/%2e%2e/admin',
    '/api/%2E%2E/admin',
    '/api/.%2e/admin',
    '/api/%2e%2e%2fadmin',
    '/api/..%5cadmin',
    '/api\\..\\admin',
    '/api/..;/admin',
    '/a%00b',
    '/a%zz',
    '*',
    'evil.example:443',
  ]) {
    t.equal(parseTarget(bad).ok, false, `rejects ${bad}`)
  }
})

t.test('segment-boundary prefixes', async (t) => {
  t.ok(underPrefix('/api', '/api'))
  t.ok(underPrefix('/api/', '/api'))
  t.notOk(underPrefix('/apix', '/api'))
  t.ok(underPrefix('/anything', '/'))
})

t.test('upstream path and Location rewriting', async (t) => {
  const c = config(`
routes:
  - { host: a.test, path: /api, stripPrefix: true, to: "http://10.0.0.1:8080/base" }
  - { host: b.test, to: 9000 }
`)
  const [strip, plain] = c.routes as [Config['routes'][number], Config['routes'][number]]
  const target = c.upstreams.get(`${strip.name} (inline)`)?.targets[0]
  const target2 = c.upstreams.get(`${plain.name} (inline)`)?.targets[0]
  if (!target || !target2) throw new Error('no target')
  t.equal(upstreamPath(strip, target, '/api/x', '?q=1'), '/base/x?q=1')
  t.equal(upstreamPath(strip, target, '/api', ''), '/base/')
  t.equal(upstreamPath(plain, target2, '/api/x', '?q'), '/api/x?q')
  const pub = 'https://a.test'
  t.equal(
    rewriteLocation('http://10.0.0.1:8080/base/login?n=1', strip, target, pub),
    'https://a.test/api/login?n=1',
  )
  t.equal(rewriteLocation('/base/login', strip, target, pub), '/api/login')
  t.equal(rewriteLocation('/login', strip, target, pub), '/api/login')
  t.equal(rewriteLocation('https://elsewhere.test/x', strip, target, pub), 'https://elsewhere.test/x')
  t.equal(
    rewriteLocation('http://10.0.0.1:80800/x', strip, target, pub),
    'http://10.0.0.1:80800/x',
    'origin prefix only on a boundary',
  )
  t.equal(
    rewriteLocation('http://127.0.0.1:9000/next', plain, target2, 'http://b.test'),
    'http://b.test/next',
  )
  t.equal(rewriteLocation('/next', plain, target2, 'http://b.test'), '/next')
  t.equal(rewriteLocation('//cdn.test/x', plain, target2, 'http://b.test'), '//cdn.test/x')
})

t.test(
  'ordered(): the rows in the order match() tries them (what `switchboard routes` prints)',
  async (t) => {
    const c = config(`
routes:
  - { path: /, to: 1 }
  - { host: "*.example.com", to: 2 }
  - { host: "*.a.example.com", to: 3 }
  - { host: b.example.com, path: /api, to: 4 }
  - { host: b.example.com, to: 5 }
  - { host: a.example.com, to: 6 }
`)
    const rows = new RouteTable(c.routes).ordered()
    t.same(
      rows.map((r) => r.route.name),
      ['a.example.com/', 'b.example.com/api', 'b.example.com/', '*.a.example.com/', '*.example.com/', '*/'],
    )
    // each row wins for a request made for it
    const tbl = new RouteTable(c.routes)
    t.equal(tbl.match('b.example.com', '/api/x'), rows[1]?.route)
    t.equal(tbl.match('x.a.example.com', '/'), rows[3]?.route)
    t.equal(tbl.match('x.example.com', '/'), rows[4]?.route)
  },
)
