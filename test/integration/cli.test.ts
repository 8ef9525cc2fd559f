/** The CLI as a user runs it: a real child process on the built dist/ (npm test builds first). */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { type AddressInfo, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { req } from '../helpers/client.js'
import { waitFor } from '../helpers/raw.js'
import { startUpstream } from '../helpers/upstream.js'

const MAIN = join(import.meta.dirname, '../../dist/src/cli/main.js')
const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'))
/** A line of a JavaScript stack trace. */
const STACK = /^\s+at .+[(:]/m

function file(name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 20_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('--help, --version, unknown command', async (t) => {
  const help = run(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /switchboard check/)
  const v = run(['--version'])
  t.match(v.stdout, /^switchboard \d+\.\d+\.\d+/)
  const bad = run(['frobnicate'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /unknown command "frobnicate"/)
})

t.test('check: exit 0 and the route table, or exit 1 and every problem with line:col', async (t) => {
  const good = file(
    'good.yaml',
    'upstreams:\n  api: { targets: [8080] }\nroutes:\n  - { host: app.localhost, upstream: api }\n  - { host: "*.localhost", to: 3000 }\n',
  )
  const ok = run(['check', '-c', good])
  t.equal(ok.code, 0)
  t.match(ok.stdout, /OK, 2 routes/)
  t.match(ok.stdout, /app\.localhost\s+\/\s+api -> http:\/\/127\.0\.0\.1:8080/)
  const bad = file(
    'bad.yaml',
    'upstreams:\n  api: { targets: [8080] }\nroutes:\n  - host: app.localhost\n    upstream: apii\n  - host: x\n',
  )
  const r = run(['check', '--config', bad])
  t.equal(r.code, 1)
  t.match(r.stderr, `${bad}:5:15 routes[0].upstream: unknown upstream "apii" (did you mean "api"?)`)
  t.match(r.stderr, `${bad}:6:5 routes[1]: a route needs one of "upstream", "to" or "redirect"`)
  t.match(r.stderr, /2 problems, nothing started/)
  const missing = run(['check', '-c', join(dir, 'nope.yaml')])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /nope\.yaml:1:1 file not found/)
})

t.test('routes prints the table in matching order', async (t) => {
  const f = file(
    'order.yaml',
    'routes:\n  - { to: 1 }\n  - { host: "*.b.test", to: 2 }\n  - { host: a.test, to: 3 }\n  - { host: a.test, path: /x, to: 4 }\n',
  )
  const r = run(['routes', '-c', f])
  t.equal(r.code, 0)
  const hosts = r.stdout
    .split('\n')
    .slice(1, 5)
    .map((l) => l.split(/\s+/).slice(0, 2).join(' '))
  t.same(hosts, ['a.test /x', 'a.test /', '*.b.test /', '* (any)'])
})

t.test('start on an invalid file exits 1 without listening', async (t) => {
  const bad = file('bad2.yaml', 'listen: { http: "127.0.0.1:0" }\nroutes:\n  - { to: nope }\n')
  const r = run(['start', '-c', bad])
  t.equal(r.code, 1)
  t.match(r.stderr, /bad2\.yaml:3:11 routes\[0\]\.to: invalid target "nope"/)
  t.notMatch(r.stdout, /listening/)
})

t.test('a port it cannot bind says which and why', async (t) => {
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
  const port = (blocker.address() as AddressInfo).port
  t.teardown(() => blocker.close())
  const f = file('busy.yaml', `listen: { http: "127.0.0.1:${port}" }\nroutes:\n  - { to: 3000 }\n`)
  const r = run(['start', '-c', f])
  t.equal(r.code, 1)
  t.match(r.stderr, `cannot listen on 127.0.0.1:${port} (listen.http): the port is already in use`)
  t.match(r.stderr, 'listen.http: 127.0.0.1:8080', 'suggests another port for the same key')
  t.notMatch(r.stderr, STACK, 'no stack trace')
})

/**
 * A real EACCES: an unprivileged process binding 443. Root may bind any port (CAP_NET_BIND_SERVICE, whatever
 * net.ipv4.ip_unprivileged_port_start says), so as root the CLI runs as nobody through setpriv.
 */
const NOBODY = 65534
function eaccesSkip(): string | false {
  let start = 1024
  try {
    start = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'))
  } catch {}
  if (start <= 443) return `net.ipv4.ip_unprivileged_port_start is ${start}: anyone may bind 443 here`
  if (process.getuid?.() !== 0) return false
  if (spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status !== 0) return 'root without setpriv'
  const readable = spawnSync('setpriv', [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    '--clear-groups',
    'test',
    '-r',
    MAIN,
  ])
  return readable.status === 0 ? false : `${MAIN} is not readable by uid ${NOBODY}`
}

t.test('a refused low https port (EACCES) suggests an https port', { skip: eaccesSkip() }, async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'sb-cli-eacces-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  chmodSync(d, 0o755)
  const state = join(d, 'state')
  mkdirSync(state)
  const f = join(d, 'low.yaml')
  writeFileSync(
    f,
    'listen: { http: false, https: "127.0.0.1:443" }\nadmin: false\nroutes:\n  - { to: 3000 }\n',
  )
  // As nobody when root. `env -u NODE_OPTIONS`: without the hooks tap adds to child processes, which would write
  // into .tap/, where nobody may not.
  const root = process.getuid?.() === 0
  if (root) chownSync(state, NOBODY, NOBODY)
  const drop = root ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'] : []
  const command = [...drop, 'env', '-u', 'NODE_OPTIONS', process.execPath, MAIN, 'start', '-c', f]
  const r = spawnSync(command[0] as string, [...command.slice(1), '--state-dir', state], {
    encoding: 'utf8',
    timeout: 20_000,
  })
  const stderr = String(r.stderr)
  t.equal(r.status, 1, stderr)
  t.match(
    stderr,
    'cannot listen on 127.0.0.1:443 (listen.https): permission denied; ports below 1024 need privileges',
  )
  t.match(stderr, 'listen.https: 127.0.0.1:8443', 'an https port for the https key')
  t.notMatch(stderr, 'listen.http:', 'not the http key')
  t.notMatch(stderr, STACK, 'no stack trace')
})

/** Listens on 127.0.0.1:port (0: any free port) and resolves to the port, or to the bind error. */
function occupy(port: number): Promise<{ server: Server; port: number } | NodeJS.ErrnoException> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', resolve)
    server.listen(port, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port }))
  })
}

t.test('a busy admin port names admin.listen, the key that sets it', async (t) => {
  const busy = await occupy(0)
  if (busy instanceof Error) throw busy
  t.teardown(() => busy.server.close())
  const f = file(
    'admin-busy.yaml',
    `listen: { http: "127.0.0.1:0" }\nadmin: { listen: "127.0.0.1:${busy.port}" }\nroutes:\n  - { to: 3000 }\n`,
  )
  const r = run(['start', '-c', f])
  t.equal(r.code, 1)
  t.match(r.stderr, `cannot listen on 127.0.0.1:${busy.port} (admin.listen): the port is already in use`)
  t.match(r.stderr, `admin.listen: 127.0.0.1:${busy.port + 1}`)
  t.notMatch(r.stderr, 'listen.admin')
  t.notMatch(r.stderr, 'another Switchboard', 'not the default port')
  t.notMatch(r.stderr, STACK, 'no stack trace')
  t.notMatch(r.stdout, 'listening on', 'never announced as listening before it gave up')
})

t.test('the default admin port busy: another Switchboard is probably running', async (t) => {
  // The admin API's default address is fixed (127.0.0.1:9901); this test holds it for a moment.
  const busy = await occupy(9901)
  if (busy instanceof Error) {
    t.plan(0, `127.0.0.1:9901 is already taken by another process (${busy.code}): cannot stage this test`)
    return
  }
  t.teardown(() => busy.server.close())
  const f = file('admin-default.yaml', 'listen: { http: "127.0.0.1:0" }\nroutes:\n  - { to: 3000 }\n')
  const r = run(['start', '-c', f])
  t.equal(r.code, 1)
  t.match(r.stderr, 'cannot listen on 127.0.0.1:9901 (admin.listen): the port is already in use')
  t.match(r.stderr, 'another Switchboard is probably running')
  t.match(r.stderr, 'admin: false')
  t.match(r.stderr, 'admin.listen: 127.0.0.1:9902')
  t.notMatch(r.stderr, 'listen.admin')
  t.notMatch(r.stderr, STACK, 'no stack trace')
})

t.test('a busy https port names listen.https and suggests an https port', async (t) => {
  const busy = await occupy(0)
  if (busy instanceof Error) throw busy
  t.teardown(() => busy.server.close())
  const f = file(
    'https-busy.yaml',
    `listen: { http: false, https: "127.0.0.1:${busy.port}" }\nadmin: false\nroutes:\n  - { to: 3000 }\n`,
  )
  const r = run(['start', '-c', f, '--state-dir', join(dir, 'state')])
  t.equal(r.code, 1)
  t.match(r.stderr, `cannot listen on 127.0.0.1:${busy.port} (listen.https): the port is already in use`)
  t.match(r.stderr, 'listen.https: 127.0.0.1:8443')
  t.notMatch(r.stderr, 'listen.http:', 'not the http key')
  t.notMatch(r.stderr, STACK, 'no stack trace')
})

t.test('start routes, logs one JSON line per request, and stops on SIGTERM', async (t) => {
  const up = await startUpstream((_r, res) => res.end('hello'))
  t.teardown(() => up.close())
  const f = file(
    'run.yaml',
    'listen: { http: "127.0.0.1:${PORT:-0}" }\nadmin: false\nroutes:\n  - { host: app.localhost, to: "${TARGET}" }\n',
  )
  const probe = createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
  const port = (probe.address() as AddressInfo).port
  await new Promise<void>((r) => probe.close(() => r()))
  const child: ChildProcess = spawn(process.execPath, [MAIN, 'start', '-c', f, '--log-level', 'info'], {
    env: { ...process.env, PORT: String(port), TARGET: up.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString()
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  await waitFor(() => out.includes('listening'), 10_000, 'listening line')
  const r = await req(port, '/x?y=1', { host: 'app.localhost' })
  t.equal(r.body, 'hello')
  await waitFor(() => out.includes('"path":"/x"'), 5000, 'request log line')
  const line = JSON.parse(out.split('\n').find((l) => l.includes('"path":"/x"')) as string) as Record<
    string,
    unknown
  >
  for (const key of [
    'reqId',
    'method',
    'host',
    'path',
    'route',
    'upstream',
    'target',
    'status',
    'ms',
    'bytes',
  ]) {
    t.ok(key in line, `log line has ${key}`)
  }
  t.equal(line.status, 200)
  t.equal(line.reqId, r.headers['x-request-id'])
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exit 0 after SIGTERM')
})

t.test('check validates TLS certificate files and points at the key that names them', async (t) => {
  const f = file(
    'tls.yaml',
    'listen: { https: 8443 }\ntls:\n  certificates:\n    - cert: ./missing.pem\n      key: ./missing-key.pem\nroutes:\n  - { to: 3000 }\n',
  )
  const r = run(['check', '-c', f])
  t.equal(r.code, 1)
  t.match(r.stderr, /tls\.yaml:4:13 tls\.certificates\[0\]\.cert: .*missing\.pem/)
})
