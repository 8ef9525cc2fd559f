/**
 * The container stack for real: scripts/container-e2e.sh builds the image with podman, brings docker-compose.yml
 * up and checks it through the published ports. It runs when CI is set or podman is installed (as root, since
 * podman runs rootful here); otherwise it is skipped, and says so. It takes one to three minutes.
 */
import { spawn, spawnSync } from 'node:child_process'
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

t.test(
  `container stack end to end (${wanted || 'skipped'})`,
  { skip, timeout: (LIMIT_S + 30) * 1000 },
  async (t) => {
    const output: string[] = []
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('bash', [SCRIPT], {
        env: { ...process.env, E2E_TIMEOUT: String(LIMIT_S) },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child.stdout.on('data', (d: Buffer) => output.push(d.toString()))
      child.stderr.on('data', (d: Buffer) => output.push(d.toString()))
      child.on('close', (c) => resolve(c))
    })
    const text = output.join('')
    const failure = text.split('\n').find((l) => l.includes('FAIL:'))
    t.equal(code, 0, failure ?? `scripts/container-e2e.sh exited ${code}`)
    if (code !== 0) t.comment(text)
    t.match(text, /ok: app\.localhost\/api\/users -> 200/, 'routes by host and path')
    t.match(text, /ok: WebSocket/, 'a WebSocket connects')
    t.match(text, /-> 503 SB_NO_HEALTHY_TARGET/, '503 while an app is stopped')
    t.match(text, /200 from web again/, 'recovers when it starts again')
    t.match(text, /switchboard_1 is healthy/, 'the container reports healthy')
    t.match(text, /down -v left no container, network or volume/, 'down leaves nothing behind')
    const size = /image size (\d+ MB)/.exec(text)
    if (size) t.comment(`image size ${size[1]}`)
  },
)
