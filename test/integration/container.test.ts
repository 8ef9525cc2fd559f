/**
 * The container stack for real: scripts/container-e2e.sh builds the image with podman, brings docker-compose.yml
 * up and checks it through the published ports. It runs when CI is set or podman is installed (as root, since
 * podman runs rootful here); otherwise it is skipped, and says so. It takes one to three minutes.
 * Its host ports are picked free unless E2E_*_PORT say otherwise; the ports it once used by default (18080, 18443,
 * 19901) are held by this test meanwhile, so a run that still depended on them would fail.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import t from 'tap'

const SCRIPT = join(import.meta.dirname, '../../scripts/container-e2e.sh')
const LIMIT_S = 900

const hasPodman = spawnSync('podman', ['--version'], { stdio: 'ignore' }).status === 0
const isRoot = process.getuid?.() === 0
const wanted =
  process.env.CI !== undefined && process.env.CI !== '' ? 'CI is set' : hasPodman ? 'podman is installed' : ''
const skip =
  process.env.SWITCHBOARD_SKIP_CONTAINER_E2E === '1'
    ? 'SWITCHBOARD_SKIP_CONTAINER_E2E=1'
    : wanted === ''
      ? 'neither CI is set nor podman installed (run scripts/container-e2e.sh as root to test the stack)'
      : !isRoot
        ? 'not root: scripts/container-e2e.sh runs podman rootful (run it with sudo)'
        : false

t.setTimeout((LIMIT_S + 60) * 1000)

/** Listens on 0.0.0.0:port (0: any free port); resolves to the server, or undefined when the port is taken. */
function occupy(port: number): Promise<Server | undefined> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined))
    server.listen(port, '0.0.0.0', () => resolve(server))
  })
}

/** Runs the script in its own process group; the whole group gets SIGTERM (the script cleans up) at teardown. */
const running = new Set<ChildProcess>()
function runScript(env: NodeJS.ProcessEnv): Promise<{ code: number | null; text: string; seconds: number }> {
  const started = Date.now()
  const output: string[] = []
  const child = spawn('bash', [SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  running.add(child)
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()))
  return new Promise((resolve) =>
    child.on('close', (code) => {
      running.delete(child)
      resolve({ code, text: output.join(''), seconds: (Date.now() - started) / 1000 })
    }),
  )
}
function stopAll(): void {
  for (const child of running) if (child.pid) process.kill(-child.pid, 'SIGTERM')
}
t.teardown(stopAll)
process.once('SIGTERM', () => {
  stopAll()
  process.exit(143)
})

t.test('a port set in E2E_*_PORT that is taken stops the script at once, naming the variable', async (t) => {
  const taken = await occupy(0)
  if (!taken) throw new Error('no free port')
  t.teardown(() => taken.close())
  const port = (taken.address() as { port: number }).port
  const { E2E_HTTP_PORT: _, E2E_HTTPS_PORT: __, E2E_ADMIN_PORT: ___, ...env } = process.env
  // E2E_TIMEOUT bounds the script even if it went on: it must not build anything here.
  const run = runScript({ ...env, E2E_HTTPS_PORT: String(port), E2E_TIMEOUT: '20' })
  const deadline = setTimeout(stopAll, 30_000)
  const r = await run
  clearTimeout(deadline)
  t.equal(r.code, 1, r.text)
  t.match(r.text, `FAIL: port ${port} is already in use`)
  t.match(r.text, 'set E2E_HTTPS_PORT to a free port', 'names the variable to change')
  t.ok(r.seconds < 15, `stopped at once (${r.seconds}s)`)
  t.notMatch(r.text, /building|debootstrap|docker-compose up/, 'before any work')
})

t.test(
  `container stack end to end (${wanted || 'skipped'})`,
  { skip, timeout: (LIMIT_S + 30) * 1000 },
  async (t) => {
    // The old fixed defaults, held by real listeners where the environment does not ask for them explicitly.
    for (const [variable, port] of [
      ['E2E_HTTP_PORT', 18080],
      ['E2E_HTTPS_PORT', 18443],
      ['E2E_ADMIN_PORT', 19901],
    ] as const) {
      if (process.env[variable]) continue
      const held = await occupy(port)
      if (held) t.teardown(() => held.close())
    }
    const { code, text } = await runScript({ ...process.env, E2E_TIMEOUT: String(LIMIT_S) })
    const failure = text.split('\n').find((l) => l.includes('FAIL:'))
    t.equal(code, 0, failure ?? `scripts/container-e2e.sh exited ${code}`)
    if (code !== 0) t.comment(text)
    t.match(text, /ok: app\.localhost\/api\/users -> 200/, 'routes by host and path')
    t.match(text, /ok: WebSocket/, 'a WebSocket connects')
    t.match(text, /-> 503 SB_NO_HEALTHY_TARGET/, '503 while an app is stopped')
    t.match(text, /200 from web again/, 'recovers when it starts again')
    t.match(text, /switchboard_1 is healthy/, 'the container reports healthy')
    t.match(text, /ok: the image has none of the \d+ dev-only packages/, 'production dependencies only')
    t.match(text, /down -v left no container, network or volume/, 'down leaves nothing behind')
    const size = /image size (\d+ MB)/.exec(text)
    if (size) t.comment(`image size ${size[1]}`)
  },
)
