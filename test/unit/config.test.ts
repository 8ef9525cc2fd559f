import t from 'tap'
import { substituteEnv } from '../../src/config/env.js'
import { parseConfig } from '../../src/config/load.js'

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  const r = parseConfig(yaml, 'routes.yaml', env)
  if (r.ok) return []
  return r.error.lines()
}

t.test('the issue example is valid and resolves as documented', async (t) => {
  const r = parseConfig(
    `listen:
  http: 80
trustedProxies: []
upstreams:
  web:
    targets: [http://127.0.0.1:3000]
  api:
    targets: [http://127.0.0.1:8080, http://127.0.0.1:8081]
    timeouts: { connect: 5s, response: 60s }
routes:
  - host: app.localhost
    upstream: web
  - host: app.localhost
    path: /api
    stripPrefix: true
    upstream: api
  - host: docs.localhost
    to: 4000
  - host: old.localhost
    redirect: https://app.localhost
`,
    'routes.yaml',
    {},
  )
  if (!r.ok) throw new Error(r.error.message)
  const c = r.config
  t.same(c.listen.http, { host: undefined, port: 80 })
  t.same(c.upstreams.get('api')?.timeouts, { connect: 5000, response: 60000, idle: 60000 })
  t.equal(c.routes[1]?.stripPrefix, true)
  t.equal(c.routes[1]?.path, '/api')
  const docs = c.routes[2]
  t.equal(docs?.action.kind, 'proxy')
  const inline = docs?.action.kind === 'proxy' ? c.upstreams.get(docs.action.upstream) : undefined
  t.equal(inline?.targets[0]?.url, 'http://127.0.0.1:4000')
  t.same(c.routes[3]?.action, { kind: 'redirect', location: 'https://app.localhost', code: 308 })
  t.equal(c.routes[0]?.preserveHost, true)
})

t.test('every problem at once, each with line:col and path', async (t) => {
  const lines = problems(`listen:
  http: 99999
upstreams:
  api:
    targets: [http://127.0.0.1:8080, "ftp://x"]
    timeouts: { connect: 5, idel: 1s }
routes:
  - host: app.localhost
    upstream: web
  - host: app.localhost
    path: /api
    upstream: apii
  - host: docs.localhost
    to: 4000
    upstream: api
  - host: "app.*.com"
    redirect: https://app.localhost
  - host: APP.localhost.
    upstrem: api
  - path: /x
    redirect: "not a url"
`)
  t.same(lines, [
    'routes.yaml:2:9 listen.http: port 99999 is out of range (1-65535)',
    'routes.yaml:5:38 upstreams.api.targets[1]: target "ftp://x" must use http:// or https://, not ftp://',
    'routes.yaml:6:26 upstreams.api.timeouts.connect: expected a duration such as "500ms", "5s" or "2m", got number 5',
    'routes.yaml:6:29 upstreams.api.timeouts.idel: unknown key "idel" (did you mean "idle"?)',
    'routes.yaml:9:15 routes[0].upstream: unknown upstream "web"',
    'routes.yaml:12:15 routes[1].upstream: unknown upstream "apii" (did you mean "api"?)',
    'routes.yaml:14:5 routes[2].to: a route takes only one of "upstream", "to" and "redirect" (found "upstream" and "to")',
    'routes.yaml:16:11 routes[3].host: host "app.*.com": "*" is only allowed as the whole first label ("*.example.com")',
    'routes.yaml:18:5 routes[4]: a route needs one of "upstream", "to" or "redirect"',
    'routes.yaml:18:5 routes[4]: duplicate route: routes[0] already matches host "app.localhost" and path "/"',
    'routes.yaml:19:5 routes[4].upstrem: unknown key "upstrem" (did you mean "upstream"?)',
    'routes.yaml:21:15 routes[5].redirect: invalid redirect "not a url": write an absolute URL such as "https://app.localhost"',
  ])
})

t.test('wrong types, bad ports and hosts, unknown top-level keys', async (t) => {
  const lines = problems(`listen: { http: "localhost:http" }
trustedProxies: 10.0.0.0/8
route: []
routes:
  - host: 42
    to: 70000
  - host: "app.localhost:3000"
    to: 3000
  - host: "*.*.x"
    to: "localhost:3000"
  - path: api
    to: 3000
  - path: /api/*
    to: 3000
`)
  t.match(lines.join('\n'), /routes\.yaml:1:17 listen\.http: invalid listen address "localhost:http"/)
  t.match(
    lines.join('\n'),
    /routes\.yaml:2:17 trustedProxies: expected a list of CIDR blocks, got the text "10\.0\.0\.0\/8"/,
  )
  t.match(lines.join('\n'), /routes\.yaml:3:1 route: unknown key "route" \(did you mean "routes"\?\)/)
  t.match(lines.join('\n'), /routes\.yaml:5:11 routes\[0\]\.host: expected a host name/)
  t.match(lines.join('\n'), /routes\.yaml:6:9 routes\[0\]\.to: port 70000 is out of range/)
  t.match(lines.join('\n'), /routes\.yaml:7:11 routes\[1\]\.host: host "app\.localhost:3000" has a port/)
  t.match(lines.join('\n'), /routes\.yaml:9:11 routes\[2\]\.host: host "\*\.\*\.x"/)
  t.match(lines.join('\n'), /routes\.yaml:10:9 routes\[2\]\.to: invalid target "localhost:3000"/)
  t.match(lines.join('\n'), /routes\.yaml:11:11 routes\[3\]\.path: path "api" must start with "\/"/)
  t.match(lines.join('\n'), /routes\.yaml:13:11 routes\[4\]\.path: .*drop the "\*"/)
})

t.test('YAML syntax errors report line and column', async (t) => {
  const lines = problems('routes:\n  - host: a\n   to: 3000\n')
  t.equal(lines.length > 0, true)
  t.match(lines[0], /^routes\.yaml:3:\d+ YAML syntax error: /)
  const dup = problems('routes:\n  - to: 1\nroutes:\n  - to: 2\n')
  t.match(dup[0], /^routes\.yaml:3:1 YAML syntax error: .*[Uu]nique/)
  t.same(problems(''), ['routes.yaml:1:1 the file is empty: it needs at least a "routes:" list'])
  t.match(problems('routes: []\n')[0], /routes\.yaml:1:9 routes: there are no routes/)
})

t.test('environment substitution', async (t) => {
  const yaml = `listen:
  http: \${PORT:-8080}
routes:
  - host: \${HOST}
    to: "\${TARGET:-http://127.0.0.1:3000}"
`
  const r = parseConfig(yaml, 'routes.yaml', { HOST: 'app.localhost' })
  if (!r.ok) throw new Error(r.error.message)
  t.equal(r.config.listen.http?.port, 8080, 'plain scalars are re-typed after substitution')
  t.same(r.config.routes[0]?.hosts, [{ kind: 'exact', host: 'app.localhost' }])
  const missing = problems(yaml)
  t.same(
    missing[0],
    'routes.yaml:4:11 environment variable HOST is not set and has no default (write ${HOST:-value})',
  )
  t.same(substituteEnv('a${X}b${Y:-d}${Z-e}$${lit}', { X: '1', Y: '', Z: '' }), {
    value: 'a1bd${lit}',
    problems: [],
  })
  t.equal(substituteEnv('${bad name}', {}).problems.length, 1)
  t.equal(substituteEnv('${UNCLOSED', {}).problems.length, 1)
})

t.test('durations, sizes, trusted proxies and timeouts', async (t) => {
  const r = parseConfig(
    `trustedProxies: [10.0.0.0/8, "::1"]
timeouts: { clientHeader: 2s, clientBody: 1.5m, keepAlive: 500ms }
limits: { maxRequestBody: 10MiB }
upstreams:
  u: { targets: [3000], timeouts: { idle: 1h } }
routes:
  - upstream: u
`,
    'routes.yaml',
    {},
  )
  if (!r.ok) throw new Error(r.error.message)
  t.same(r.config.timeouts, {
    clientHeader: 2000,
    clientBody: 90000,
    keepAlive: 500,
    shutdown: 10000,
    tlsHandshake: 10000,
  })
  t.equal(r.config.limits.maxRequestBody, 10 * 1024 * 1024)
  t.equal(r.config.upstreams.get('u')?.timeouts.idle, 3_600_000)
  t.equal(r.config.trustedProxies.length, 2)
  t.match(problems('timeouts: { clientHeader: 10 }\nroutes: [ { to: 1 } ]\n')[0], /expected a duration/)
  t.match(problems('timeouts: { clientHeader: 10x }\nroutes: [ { to: 1 } ]\n')[0], /invalid duration "10x"/)
})

t.test('an unquoted wildcard host is explained, not a crash', async (t) => {
  t.same(problems('routes:\n  - host: *.example.com\n    to: 3000\n'), [
    'routes.yaml:2:11 YAML reads *.example.com as an alias (a reference to an anchor "&.example.com"); quote it: "*.example.com"',
  ])
  t.same(problems('routes:\n  - host: ""\n    to: 1\n'), [
    'routes.yaml:2:11 routes[0].host: host must not be empty',
  ])
})

t.test('route paths are normalised like request paths', async (t) => {
  const r = parseConfig('routes:\n  - { path: /%61pi/, to: 1 }\n', 'routes.yaml', {})
  if (!r.ok) throw new Error(r.error.message)
  t.equal(r.config.routes[0]?.path, '/api')
})

t.test('upstream pools: weighted targets, balance, health checks, passive checks', async (t) => {
  const r = parseConfig(
    `upstreams:
  api:
    targets:
      - http://127.0.0.1:8080
      - url: http://127.0.0.1:8081
        weight: 2
    balance: least-connections
    healthCheck:
      path: /health
      interval: 5s
      timeout: 2s
      expectStatus: 200-399
      rise: 2
      fall: 3
    passive:
      failures: 3
      ejectFor: 30s
  quiet:
    targets: [9000]
    healthCheck: false
    passive: false
routes:
  - upstream: api
  - { host: q.test, upstream: quiet }
  - { host: inline.test, to: 4000 }
`,
    'routes.yaml',
    {},
  )
  if (!r.ok) throw new Error(r.error.message)
  const api = r.config.upstreams.get('api')
  t.same(
    api?.targets.map((x) => [x.url, x.weight]),
    [
      ['http://127.0.0.1:8080', 1],
      ['http://127.0.0.1:8081', 2],
    ],
  )
  t.equal(api?.balance, 'least-connections')
  t.same(api?.healthCheck, {
    kind: 'http',
    path: '/health',
    interval: 5000,
    timeout: 2000,
    expectStatus: [[200, 399]],
    rise: 2,
    fall: 3,
  })
  t.same(api?.passive, { failures: 3, ejectFor: 30000, on5xx: false })
  t.equal(r.config.upstreams.get('quiet')?.healthCheck, null)
  t.equal(r.config.upstreams.get('quiet')?.passive, null)
  const inline = [...r.config.upstreams.values()].find((u) => u.inline)
  t.equal(inline?.healthCheck?.kind, 'tcp', 'an inline upstream gets the same defaults: a TCP check')
  t.equal(inline?.passive?.failures, 3)

  const bad = problems(`upstreams:
  api:
    targets: [{ url: 8080, weight: -1 }, { url: 8081, wieght: 2 }]
    balance: fastest
    healthCheck: { path: health, interval: 1s, timeout: 2s, expectStatus: "200-99", rise: 0 }
    passive: { failures: 0 }
routes:
  - upstream: api
`)
  t.same(bad, [
    'routes.yaml:3:36 upstreams.api.targets[0].weight: weight must be 0 or more',
    'routes.yaml:3:55 upstreams.api.targets[1].wieght: unknown key "wieght" (did you mean "weight"?)',
    'routes.yaml:4:14 upstreams.api.balance: expected one of round-robin, least-connections, random, ip-hash, got the text "fastest"',
    'routes.yaml:5:26 upstreams.api.healthCheck.path: health check path "health" must start with "/"',
    'routes.yaml:5:57 upstreams.api.healthCheck.timeout: a probe timeout (2s) longer than the interval (1s) is refused: a probe could still be running when the next one is due',
    'routes.yaml:5:75 upstreams.api.healthCheck.expectStatus: invalid status "200-99": write a code (200), a range ("200-399") or a list of them',
    'routes.yaml:5:91 upstreams.api.healthCheck.rise: passes must be at least 1',
    'routes.yaml:6:26 upstreams.api.passive.failures: failures must be at least 1',
  ])
})

t.test('admin: on by default on loopback; beyond loopback only with a token or allowRemote', async (t) => {
  const base = 'routes:\n  - { to: 1 }\n'
  const r = parseConfig(base, 'routes.yaml', {})
  if (!r.ok) throw new Error(r.error.message)
  t.same(r.config.admin, { listen: { host: '127.0.0.1', port: 9901 }, token: undefined, allowRemote: false })
  t.same(problems(`admin: { listen: "0.0.0.0:9901" }\n${base}`), [
    'routes.yaml:1:18 admin.listen: the admin API would listen beyond loopback without a token: set admin.token (e.g. "${ADMIN_TOKEN}") or admin.allowRemote: true',
  ])
  t.same(problems(`admin: { listen: 9901 }\n${base}`).length, 1, 'a bare port is every interface')
  t.same(problems(`admin: { listen: "0.0.0.0:9901", token: "0123456789abcdef" }\n${base}`), [])
  t.same(problems(`admin: { listen: "0.0.0.0:9901", allowRemote: true }\n${base}`), [])
  t.same(problems(`admin: { listen: "[::1]:9901" }\n${base}`), [])
  t.match(problems(`admin: { token: short }\n${base}`)[0], /at least 16 characters/)
  const off = parseConfig(`admin: false\n${base}`, 'routes.yaml', {})
  t.equal(off.ok && off.config.admin, null)
})

t.test(
  'healthCheck: a timeout may equal the interval; only a longer one is refused, with the reason',
  async (t) => {
    const upstream = (hc: string) =>
      `upstreams:\n  api:\n    targets: [8080]\n    healthCheck: ${hc}\nroutes:\n  - upstream: api\n`
    // Docker's own HEALTHCHECK defaults: interval 30s, timeout 30s.
    const docker = parseConfig(upstream('{ interval: 30s, timeout: 30s }'), 'routes.yaml', {})
    if (!docker.ok) throw new Error(docker.error.message)
    t.match(docker.config.upstreams.get('api')?.healthCheck, { interval: 30_000, timeout: 30_000 })
    t.same(problems(upstream('{ interval: 30s, timeout: 31s }')), [
      'routes.yaml:4:44 upstreams.api.healthCheck.timeout: a probe timeout (31s) longer than the interval (30s) is refused: a probe could still be running when the next one is due',
    ])
    t.same(
      problems(upstream('{ timeout: 6s }')),
      [
        'routes.yaml:4:29 upstreams.api.healthCheck.timeout: a probe timeout (6s) longer than the interval (5s, the default) is refused: a probe could still be running when the next one is due',
      ],
      'the default interval counts too',
    )
    t.same(problems(upstream('{ timeout: 5s }')), [], 'equal to the default interval')
    t.same(problems(upstream('{ interval: 0s }')), [
      'routes.yaml:4:30 upstreams.api.healthCheck.interval: an interval of 0s would probe without a pause; write a positive duration such as "5s"',
    ])
    t.same(problems(upstream('{ timeout: 0ms }')), [
      'routes.yaml:4:29 upstreams.api.healthCheck.timeout: a probe timeout of 0ms would fail every probe; write a positive duration such as "2s"',
    ])
    // Without a written timeout: 2s, or half the interval when that is shorter (never 0).
    const timeoutFor = (interval: string) => {
      const r = parseConfig(upstream(`{ interval: ${interval} }`), 'routes.yaml', {})
      if (!r.ok) throw new Error(r.error.message)
      return r.config.upstreams.get('api')?.healthCheck?.timeout
    }
    t.equal(timeoutFor('30s'), 2000)
    t.equal(timeoutFor('4s'), 2000)
    t.equal(timeoutFor('3s'), 1500)
    t.equal(timeoutFor('1s'), 500)
    t.equal(timeoutFor('1ms'), 1, 'a 1ms interval still gets a timeout that can be met')
  },
)

t.test('two listeners on one address are refused at the later one, naming both', async (t) => {
  const routes = 'routes:\n  - to: 3000\n'
  t.same(problems(`listen:\n  http: "127.0.0.1:8080"\nadmin:\n  listen: "127.0.0.1:8080"\n${routes}`), [
    'routes.yaml:4:11 admin.listen: 127.0.0.1:8080 is also listen.http; two listeners cannot share one address',
  ])
  t.same(problems(`listen:\n  http: 8443\n  https: 8443\n${routes}`), [
    'routes.yaml:3:10 listen.https: port 8443 on every address is also listen.http; two listeners cannot share one address',
  ])
  t.same(
    problems(
      `listen:\n  http: 8080\n  https: "127.0.0.1:8443"\nadmin: { listen: "127.0.0.1:8443" }\n${routes}`,
    ),
    [
      'routes.yaml:4:18 admin.listen: 127.0.0.1:8443 is also listen.https; two listeners cannot share one address',
    ],
  )
  t.same(
    problems(`admin: { listen: "127.0.0.1:8080" }\nlisten: { http: 8080 }\n${routes}`),
    [
      'routes.yaml:2:17 listen.http: port 8080 on every address overlaps admin.listen (127.0.0.1:8080); two listeners cannot share one address',
    ],
    'reported where the later one is written; a port alone means every address',
  )
  t.same(problems(`listen: { http: "0.0.0.0:8080" }\nadmin: { listen: "127.0.0.1:8080" }\n${routes}`), [
    'routes.yaml:2:18 admin.listen: 127.0.0.1:8080 overlaps listen.http (0.0.0.0:8080, every IPv4 address); two listeners cannot share one address',
  ])
  t.same(problems(`listen: { http: "[::]:8080" }\nadmin: { listen: "[::1]:8080" }\n${routes}`), [
    'routes.yaml:2:18 admin.listen: [::1]:8080 overlaps listen.http ([::]:8080, every address); two listeners cannot share one address',
  ])
  t.same(problems(`listen: { http: "localhost:8080", https: "localhost:8080" }\n${routes}`), [
    'routes.yaml:1:42 listen.https: localhost:8080 is also listen.http; two listeners cannot share one address',
  ])
  t.same(problems(`listen: { http: 8080 }\nadmin: { listen: "localhost:8080" }\n${routes}`), [
    'routes.yaml:2:18 admin.listen: localhost:8080 overlaps listen.http (port 8080 on every address); two listeners cannot share one address',
  ])
  t.same(
    problems(`listen: { http: 8080, https: 8080 }\nadmin: { listen: 8080, allowRemote: true }\n${routes}`),
    [
      'routes.yaml:1:30 listen.https: port 8080 on every address is also listen.http; two listeners cannot share one address',
      'routes.yaml:2:18 admin.listen: port 8080 on every address is also listen.http; two listeners cannot share one address',
    ],
    'three on one address: each later one once',
  )
  // Different specific addresses on one port, other ports, port 0, and names that may resolve elsewhere are fine.
  for (const ok of [
    `listen: { http: "127.0.0.1:8080" }\nadmin: { listen: "127.0.0.2:8080" }\n`,
    `listen: { http: "127.0.0.1:8080" }\nadmin: { listen: "[::1]:8080" }\n`,
    `listen: { http: "0.0.0.0:8080" }\nadmin: { listen: "[::1]:8080" }\n`,
    `listen: { http: "127.0.0.1:0", https: "127.0.0.1:0" }\nadmin: { listen: "127.0.0.1:0" }\n`,
    `listen: { http: "localhost:8080" }\nadmin: { listen: "127.0.0.1:8080" }\n`,
    `listen: { http: 8080, https: false }\nadmin: false\n`,
    `listen: { http: false, https: 80 }\n`,
  ])
    t.same(problems(`${ok}${routes}`), [], ok)
})

t.test("a listener on the admin API's default address says so and how to move either", async (t) => {
  const routes = 'routes:\n  - to: 3000\n'
  const fix = 'set admin.listen to another address, or admin: false to turn the admin API off'
  t.same(problems(`listen:\n  http: 9901\n${routes}`), [
    `routes.yaml:2:9 listen.http: port 9901 on every address overlaps 127.0.0.1:9901, the admin API's default address; two listeners cannot share one address: ${fix}`,
  ])
  t.same(problems(`listen:\n  https: "127.0.0.1:9901"\nadmin: { token: "0123456789abcdef" }\n${routes}`), [
    `routes.yaml:2:10 listen.https: 127.0.0.1:9901 is the admin API's default address; two listeners cannot share one address: ${fix}`,
  ])
  t.same(problems(`listen:\n  http: 9901\nadmin: false\n${routes}`), [])
  t.same(problems(`listen:\n  http: 9901\nadmin: { listen: "127.0.0.1:9902" }\n${routes}`), [])
  t.same(problems(`listen:\n  http: "127.0.0.2:9901"\n${routes}`), [], 'another loopback address')
})

t.test("a listener on listen.http's default port 80 says so", async (t) => {
  const routes = 'routes:\n  - to: 3000\n'
  t.same(problems(`listen:\n  https: 80\n${routes}`), [
    "routes.yaml:2:10 listen.https: port 80 on every address is also listen.http's default; two listeners cannot share one address: set listen.http to another port, or listen.http: false",
  ])
  t.same(problems(`admin:\n  listen: "127.0.0.1:80"\n${routes}`), [
    "routes.yaml:2:11 admin.listen: 127.0.0.1:80 overlaps listen.http's default (port 80 on every address); two listeners cannot share one address: set listen.http to another port, or listen.http: false",
  ])
})

t.test('timeouts.tlsHandshake: a duration, 10s by default, never 0', async (t) => {
  const r = parseConfig('timeouts: { tlsHandshake: 300ms }\nroutes: [ { to: 1 } ]\n', 'routes.yaml', {})
  if (!r.ok) throw new Error(r.error.message)
  t.equal(r.config.timeouts.tlsHandshake, 300)
  t.same(problems('timeouts: { tlsHandshake: 0s }\nroutes: [ { to: 1 } ]\n'), [
    'routes.yaml:1:27 timeouts.tlsHandshake: 0s would leave TLS handshakes without a limit; write a positive duration such as "10s"',
  ])
  t.same(problems('timeouts: { tlsHandshake: 10 }\nroutes: [ { to: 1 } ]\n'), [
    'routes.yaml:1:27 timeouts.tlsHandshake: expected a duration such as "500ms", "5s" or "2m", got number 10',
  ])
})
